//! Test-only fault injection (feature `fault-injection`): the process exits at named points
//! (`SIGNER_AGENT_CRASH_AT`) so that tests can check crash safety.

/// Test-only fault injection (feature `fault-injection`): exit the process at a named point.
#[cfg(feature = "fault-injection")]
pub fn crash_point(name: &str) {
    if std::env::var("SIGNER_AGENT_CRASH_AT").ok().as_deref() == Some(name) {
        eprintln!("fault injection: exiting at {name}");
        std::process::exit(86);
    }
}

/// Test-only fault injection: a no-op without the `fault-injection` feature.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn crash_point(_name: &str) {}
