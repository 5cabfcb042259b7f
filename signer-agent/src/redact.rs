//! Endpoint credentials never reach a log line, an error or an output: every URL the agent shows
//! is [`url`] (scheme, host and port only), and every secret it reads for an endpoint (an API
//! key, a URL with a key in its path or query, a password in the URL) is [`register`]ed so that
//! [`scrub`] replaces it wherever it appears — in the messages of errors from the HTTP stack
//! (which quote the full URL), in every log line ([`Stderr`], the writer of the tracing
//! subscriber) and in the one-line error `main` prints.

use std::borrow::Cow;
use std::io::Write;
use std::sync::{OnceLock, RwLock};

/// What a scrubbed secret is replaced with.
pub const REDACTED: &str = "[redacted]";

fn registry() -> &'static RwLock<Vec<String>> {
    static R: OnceLock<RwLock<Vec<String>>> = OnceLock::new();
    R.get_or_init(|| RwLock::new(Vec::new()))
}

/// Adds `secret` to what [`scrub`] removes (ignored when empty). Longer secrets are scrubbed
/// first, so a URL is replaced as a whole before the key inside it.
pub fn register(secret: &str) {
    let s = secret.trim();
    if s.is_empty() {
        return;
    }
    let mut r = registry().write().unwrap_or_else(|p| p.into_inner());
    if !r.iter().any(|x| x == s) {
        r.push(s.to_owned());
        r.sort_by_key(|x| std::cmp::Reverse(x.len()));
    }
}

/// `text` with every registered secret replaced by [`REDACTED`].
pub fn scrub(text: &str) -> Cow<'_, str> {
    let r = registry().read().unwrap_or_else(|p| p.into_inner());
    if !r.iter().any(|s| text.contains(s.as_str())) {
        return Cow::Borrowed(text);
    }
    let mut out = text.to_owned();
    for s in r.iter() {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), REDACTED);
        }
    }
    Cow::Owned(out)
}

/// How a URL is shown: `scheme://host[:port]`, with `/…` when it has a path or query (which may
/// hold a credential); user info is never shown. Not a URL: `(invalid url)`.
pub fn url(raw: &str) -> String {
    match reqwest::Url::parse(raw) {
        Ok(u) => {
            let host = u.host_str().unwrap_or_default();
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            let more = if u.path() != "/" && !u.path().is_empty() || u.query().is_some() {
                "/…"
            } else {
                ""
            };
            format!("{}://{host}{port}{more}", u.scheme())
        }
        Err(_) => "(invalid url)".into(),
    }
}

/// Registers the parts of an endpoint URL that may carry a credential: the whole URL, its path
/// and query, and a password.
pub fn register_url(raw: &str) {
    register(raw);
    if let Ok(u) = reqwest::Url::parse(raw) {
        register(u.as_str());
        if let Some(p) = u.password() {
            register(p);
        }
        let pq = match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_owned(),
        };
        if pq.len() > 1 {
            register(&pq);
        }
        if let Some(q) = u.query() {
            register(q);
        }
    }
}

/// The tracing writer: stderr, every line scrubbed. `tracing_subscriber::fmt` writes one whole
/// event per `write` call, so a secret is never split between two writes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stderr;

/// One scrubbing write to stderr.
#[derive(Debug)]
pub struct StderrWriter;

impl Write for StderrWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().write_all(scrub(&text).as_bytes())?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Stderr {
    type Writer = StderrWriter;
    fn make_writer(&'a self) -> Self::Writer {
        StderrWriter
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_show_scheme_host_and_port_only() {
        assert_eq!(url("https://rpc.example/v3/KEY"), "https://rpc.example/…");
        assert_eq!(
            url("https://user:pw@rpc.example:8443/"),
            "https://rpc.example:8443"
        );
        assert_eq!(url("http://127.0.0.1:8545"), "http://127.0.0.1:8545");
        assert_eq!(url("https://h/?apikey=x"), "https://h/…");
        assert_eq!(url("http://[::1]:1/x"), "http://[::1]:1/…");
        assert_eq!(url("not a url"), "(invalid url)");
    }

    #[test]
    fn registered_secrets_are_scrubbed_longest_first() {
        register_url("https://u:pass-canary-1@rpc.example/v3/key-canary-1?x=query-canary-1");
        register("hdr-canary-1");
        let msg = "error sending request for url (https://u:pass-canary-1@rpc.example/v3/key-canary-1?x=query-canary-1): hdr-canary-1 and /v3/key-canary-1?x=query-canary-1";
        let s = scrub(msg);
        for c in [
            "pass-canary-1",
            "key-canary-1",
            "query-canary-1",
            "hdr-canary-1",
        ] {
            assert!(!s.contains(c), "{s}");
        }
        assert!(s.contains(REDACTED));
        assert!(matches!(scrub("nothing secret"), Cow::Borrowed(_)));
    }
}
