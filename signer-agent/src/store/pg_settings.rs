//! How this agent reaches a PostgreSQL state store, as the configuration resolved it
//! (`crate::config::state` builds it): the URL, the password kept apart from it, the transport
//! (TLS or plain) and this agent's place in the lease. The store's and the lease's connections
//! take it; the store never reads the configuration itself.

use std::time::Duration;

use secrecy::SecretString;

/// How the agent reaches PostgreSQL.
#[derive(Debug, Clone)]
pub enum PgTransport {
    /// No TLS: a server on loopback or a Unix socket, or `state_allow_plaintext = true`.
    Plain,
    /// TLS with these roots; the server's certificate and host name are verified.
    Tls(crate::tls::TlsSettings),
}

/// A resolved PostgreSQL state store and this agent's place in its lease.
#[derive(Clone)]
pub struct PgSettings {
    /// `state_url` as written (no password in it: refused at resolution).
    pub(crate) url: String,
    /// The URL as [`crate::redact::url`] shows it.
    pub shown: String,
    pub(crate) password: Option<SecretString>,
    pub transport: PgTransport,
    /// `lease_timeout_secs`.
    pub lease_timeout: Duration,
    /// `instance`: this agent's name in the lease.
    pub instance: String,
}

impl std::fmt::Debug for PgSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSettings")
            .field("url", &self.shown)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("transport", &self.transport)
            .field("lease_timeout", &self.lease_timeout)
            .field("instance", &self.instance)
            .finish()
    }
}

impl PgSettings {
    /// The URL (no password in it).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The password from the file or the environment, if any.
    pub fn password(&self) -> Option<&SecretString> {
        self.password.as_ref()
    }

    /// How often the leader renews its lease: a third of the timeout, so that two renewals may
    /// fail before it runs out.
    pub fn renew_every(&self) -> Duration {
        self.lease_timeout / 3
    }
}
