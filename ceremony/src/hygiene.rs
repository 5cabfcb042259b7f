//! Process hygiene for the ceremony: no core dumps, no ptrace by other users, memory locked.
//!
//! Called first thing by every subcommand that handles secrets. Core dumps are disabled twice
//! (`RLIMIT_CORE = 0` and `PR_SET_DUMPABLE = 0`, which also bars ptrace from non-root processes
//! of the same user); all current and future pages are locked (`mlockall`) so that secrets never
//! reach swap. Failure to lock memory stops the ceremony unless the operator explicitly allows
//! unlocked memory (development machines without `CAP_IPC_LOCK` and a low `RLIMIT_MEMLOCK`).

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// What [`harden`] achieved, recorded in the transcript.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Hygiene {
    pub core_dumps_disabled: bool,
    pub not_dumpable: bool,
    pub memory_locked: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum HygieneError {
    #[error("cannot disable core dumps: setrlimit(RLIMIT_CORE, 0) failed: {0}")]
    CoreLimit(rustix::io::Errno),
    #[error("cannot mark the process non-dumpable: prctl(PR_SET_DUMPABLE, 0) failed: {0}")]
    Dumpable(rustix::io::Errno),
    #[error(
        "cannot lock memory: mlockall(MCL_CURRENT|MCL_FUTURE) failed: {0} (RLIMIT_MEMLOCK is {1}); \
         run as a user with CAP_IPC_LOCK or raise the limit, or pass --allow-unlocked-memory on a development machine"
    )]
    Mlock(rustix::io::Errno, String),
}

/// Disables core dumps and locks memory. With `allow_unlocked`, a failed `mlockall` is
/// reported in the result instead of stopping.
pub fn harden(allow_unlocked: bool) -> Result<Hygiene, HygieneError> {
    setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    )
    .map_err(HygieneError::CoreLimit)?;
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .map_err(HygieneError::Dumpable)?;
    let locked = rustix::mm::mlockall(
        rustix::mm::MlockAllFlags::CURRENT | rustix::mm::MlockAllFlags::FUTURE,
    );
    let memory_locked = match locked {
        Ok(()) => true,
        Err(_) if allow_unlocked => false,
        Err(e) => {
            let lim = getrlimit(Resource::Memlock);
            let shown = match lim.current {
                Some(v) => format!("{v} bytes"),
                None => "unlimited".to_owned(),
            };
            return Err(HygieneError::Mlock(e, shown));
        }
    };
    let core = getrlimit(Resource::Core);
    Ok(Hygiene {
        core_dumps_disabled: core.current == Some(0),
        not_dumpable: true,
        memory_locked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn harden_disables_core_dumps() {
        let h = harden(true).unwrap();
        assert!(h.core_dumps_disabled);
        assert_eq!(getrlimit(Resource::Core).current, Some(0));
        assert_eq!(
            rustix::process::dumpable_behavior().unwrap(),
            rustix::process::DumpableBehavior::NotDumpable
        );
    }
}
