//! Where the agent keeps its state, and the leadership lease of two agents sharing it.
//!
//! - `state_dir`: the embedded SQLite store (the default; one agent, one host).
//! - `state_url = "postgres://user@host:port/db"`: a PostgreSQL store two agents share, one of
//!   them leading (holding the lease) at a time. The URL never carries the password: it comes
//!   from `state_password_file` (its first line) or [`STATE_PASSWORD_ENV`], and is registered
//!   with [`crate::redact`] so that no message shows it. A server that is not on this host is
//!   reached over TLS (the `[tls]` roots and `ca_file`, certificate and host name verified)
//!   unless `state_allow_plaintext = true`; `?sslmode=require` in the URL asks for TLS to a
//!   server on this host too.
//! - `lease_timeout_secs` (default [`DEFAULT_LEASE_TIMEOUT_SECS`]): how long a lease lasts
//!   without renewal; the leader renews it every third of it, and the standby takes over when it
//!   has run out. `instance` (default: the host name) names this agent in the lease and in
//!   `status`.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::error::{Error, Result};

/// Environment variable that carries the PostgreSQL password (when no password file is given).
pub const STATE_PASSWORD_ENV: &str = "SIGNER_AGENT_STATE_PASSWORD";

/// Default `lease_timeout_secs`.
pub const DEFAULT_LEASE_TIMEOUT_SECS: u64 = 30;

/// The shortest lease: renewal (every third of it) must fit a database round trip with room.
pub const MIN_LEASE_TIMEOUT_SECS: u64 = 3;

/// The state keys of the file and of the flags, before resolution.
#[derive(Debug, Default, Clone)]
pub struct StateKeys {
    pub state_url: Option<String>,
    pub state_password_file: Option<PathBuf>,
    pub state_allow_plaintext: Option<bool>,
    pub lease_timeout_secs: Option<u64>,
    pub instance: Option<String>,
}

pub use crate::store::pg_settings::{PgSettings, PgTransport};

use crate::store::db::local_only;

/// Whether `s` is reached without TLS on this host (loopback or a Unix socket).
pub fn local_plain(s: &PgSettings) -> bool {
    matches!(s.transport, PgTransport::Plain)
        && tokio_postgres::Config::from_str(s.url()).is_ok_and(|c| local_only(&c))
}

/// The host name of this machine (the default `instance`).
fn host_name() -> Option<String> {
    for p in ["/proc/sys/kernel/hostname", "/etc/hostname"] {
        if let Ok(s) = std::fs::read_to_string(p) {
            let s = s.trim();
            if !s.is_empty() {
                return Some(s.to_owned());
            }
        }
    }
    std::env::var("HOSTNAME")
        .ok()
        .filter(|s| !s.trim().is_empty())
}

/// Checks an instance name: printable, short, without the `#` that separates it from the run's
/// random part in the lease row.
fn check_instance(name: &str) -> Result<String> {
    let n = name.trim();
    if n.is_empty() || n.len() > 64 {
        return Err(Error::config(
            "instance",
            format!("{n:?}: give 1 to 64 characters"),
        ));
    }
    if !n
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(Error::config(
            "instance",
            format!("{n:?}: letters, digits, '-', '_' and '.' only"),
        ));
    }
    Ok(n.to_owned())
}

/// Reads the password: the first line of `file`, else [`STATE_PASSWORD_ENV`], else none (a
/// server that trusts the local user, or a client certificate).
fn read_password(file: Option<&Path>) -> Result<Option<SecretString>> {
    if let Some(p) = file {
        let text = zeroize::Zeroizing::new(
            std::fs::read_to_string(p)
                .map_err(|e| Error::io(p, "read the state password file", e))?,
        );
        let line = text.lines().next().unwrap_or("");
        if line.is_empty() {
            return Err(Error::config(
                "state_password_file",
                format!("{}: the first line is empty", p.display()),
            ));
        }
        return Ok(Some(SecretString::from(line.to_owned())));
    }
    match std::env::var(STATE_PASSWORD_ENV) {
        Ok(v) if !v.is_empty() => Ok(Some(SecretString::from(v))),
        _ => Ok(None),
    }
}

/// Resolves the PostgreSQL keys (`None`: no `state_url`, the SQLite store). `base` resolves a
/// relative password file; `tls` is the `[tls]` section.
pub fn resolve(
    keys: &StateKeys,
    base: Option<&Path>,
    tls: &crate::tls::TlsSettings,
) -> Result<Option<PgSettings>> {
    let Some(url) = keys.state_url.as_deref().map(str::trim) else {
        for (set, field) in [
            (keys.state_password_file.is_some(), "state_password_file"),
            (
                keys.state_allow_plaintext.is_some(),
                "state_allow_plaintext",
            ),
            (keys.lease_timeout_secs.is_some(), "lease_timeout_secs"),
        ] {
            if set {
                return Err(Error::config(
                    field,
                    "applies to a PostgreSQL store only: give state_url too",
                ));
            }
        }
        return Ok(None);
    };
    // Whatever goes wrong below, the URL (and a password in it) is never shown whole.
    crate::redact::register_url(url);
    let (parsed, shown) = crate::store::db::parse_url(url)?;
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(Error::config(
            "state_url",
            format!("{shown}: give a postgres:// URL"),
        ));
    }
    if parsed.get_password().is_some() {
        return Err(Error::config(
            "state_url",
            format!("{shown}: the URL holds a password: put it in state_password_file or {STATE_PASSWORD_ENV} instead (the URL is shown in logs and status)"),
        ));
    }
    // `sslmode=require` in the URL asks for TLS on loopback too (verified all the same); off this host
    // TLS is the rule whatever the URL says, unless state_allow_plaintext.
    let asked_tls = parsed.get_ssl_mode() == tokio_postgres::config::SslMode::Require;
    let transport = if asked_tls {
        PgTransport::Tls(tls.clone())
    } else if local_only(&parsed) {
        PgTransport::Plain
    } else if keys.state_allow_plaintext.unwrap_or(false) {
        tracing::warn!(url = %shown, "state_allow_plaintext: the state store is reached without TLS");
        PgTransport::Plain
    } else {
        PgTransport::Tls(tls.clone())
    };
    let password_file = keys.state_password_file.clone().map(|p| match base {
        Some(b) if p.is_relative() => b.join(p),
        _ => p,
    });
    let password = read_password(password_file.as_deref())?;
    if let Some(p) = &password {
        crate::redact::register(p.expose_secret());
    }
    let secs = keys
        .lease_timeout_secs
        .unwrap_or(DEFAULT_LEASE_TIMEOUT_SECS);
    if !(MIN_LEASE_TIMEOUT_SECS..=3600).contains(&secs) {
        return Err(Error::config(
            "lease_timeout_secs",
            format!("{secs}: give {MIN_LEASE_TIMEOUT_SECS} to 3600 seconds"),
        ));
    }
    let instance = match keys.instance.as_deref() {
        Some(n) => check_instance(n)?,
        None => check_instance(&host_name().ok_or_else(|| {
            Error::config(
                "instance",
                "this host has no name to default to: give instance (or SIGNER_AGENT_INSTANCE)",
            )
        })?)?,
    };
    Ok(Some(PgSettings {
        url: url.to_owned(),
        shown,
        password,
        transport,
        lease_timeout: Duration::from_secs(secs),
        instance,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(url: &str) -> StateKeys {
        StateKeys {
            state_url: Some(url.into()),
            instance: Some("a".into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_state_url_with_a_password_is_refused_without_showing_it() {
        let e = resolve(
            &keys("postgres://kc:s3cr3t-pw@db.example.org/state"),
            None,
            &Default::default(),
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(
            matches!(&e, Error::Config { field, .. } if field == "state_url"),
            "{e}"
        );
        assert!(!text.contains("s3cr3t-pw"), "{text}");
        assert!(text.contains("state_password_file"), "{text}");
    }

    #[test]
    fn a_remote_server_needs_tls_unless_plaintext_is_allowed() {
        let tls = crate::tls::TlsSettings::default();
        let local = resolve(&keys("postgres://kc@127.0.0.1:5432/state"), None, &tls)
            .unwrap()
            .unwrap();
        assert!(matches!(local.transport, PgTransport::Plain));
        let remote = resolve(&keys("postgres://kc@db.example.org/state"), None, &tls)
            .unwrap()
            .unwrap();
        assert!(matches!(remote.transport, PgTransport::Tls(_)));
        let mut k = keys("postgres://kc@db.example.org/state");
        k.state_allow_plaintext = Some(true);
        let plain = resolve(&k, None, &tls).unwrap().unwrap();
        assert!(matches!(plain.transport, PgTransport::Plain));
        let asked = resolve(
            &keys("postgres://kc@localhost/state?sslmode=require"),
            None,
            &tls,
        )
        .unwrap()
        .unwrap();
        assert!(matches!(asked.transport, PgTransport::Tls(_)));
        assert_eq!(plain.lease_timeout, Duration::from_secs(30));
        assert_eq!(plain.renew_every(), Duration::from_secs(10));
    }

    #[test]
    fn the_password_comes_from_its_file_and_lease_keys_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "hunter2-pg\n").unwrap();
        let mut k = keys("postgres://kc@localhost/state");
        k.state_password_file = Some("pw".into());
        let s = resolve(&k, Some(dir.path()), &Default::default())
            .unwrap()
            .unwrap();
        assert_eq!(s.password().unwrap().expose_secret(), "hunter2-pg");
        assert!(!format!("{s:?}").contains("hunter2-pg"));
        k.lease_timeout_secs = Some(1);
        let e = resolve(&k, Some(dir.path()), &Default::default()).unwrap_err();
        assert!(
            matches!(&e, Error::Config { field, .. } if field == "lease_timeout_secs"),
            "{e}"
        );
        let mut k = keys("postgres://kc@localhost/state");
        k.instance = Some("a#b".into());
        let e = resolve(&k, None, &Default::default()).unwrap_err();
        assert!(
            matches!(&e, Error::Config { field, .. } if field == "instance"),
            "{e}"
        );
        // Lease keys without a PostgreSQL store are a mistake, named.
        let e = resolve(
            &StateKeys {
                lease_timeout_secs: Some(30),
                ..Default::default()
            },
            None,
            &Default::default(),
        )
        .unwrap_err();
        assert!(
            matches!(&e, Error::Config { field, .. } if field == "lease_timeout_secs"),
            "{e}"
        );
        assert!(resolve(&StateKeys::default(), None, &Default::default())
            .unwrap()
            .is_none());
    }
}
