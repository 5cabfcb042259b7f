//! HTTP(S) to the execution node and the Beacon API: rustls with its `ring` provider (no
//! aws-lc, no OpenSSL), trust roots from the system store or the bundled web-PKI roots
//! (`webpki-roots`) plus an optional `ca_file`; `http://` only to a loopback host unless
//! `allow_insecure_http`; endpoint credentials (an API key in the URL or in a header, read from
//! a file or the environment) registered with [`crate::redact`] so that no log line, error or
//! output shows them.
//!
//! The JSON-RPC transport ([`Transport`]) is the agent's own alloy transport over hyper and
//! hyper-rustls: reqwest's rustls backends need aws-lc or a process-wide crypto provider.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use alloy::rpc::json_rpc::{RequestPacket, ResponsePacket};
use alloy::transports::{TransportError, TransportErrorKind, TransportFut};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper_util::client::legacy::connect::HttpConnector;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::error::{Error, Result};

/// Where the trust anchors come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Roots {
    /// The operating system's store (`/etc/ssl/certs` on Debian, via rustls-native-certs).
    System,
    /// The Mozilla roots compiled into the agent (`webpki-roots`).
    Bundled,
    /// Only `ca_file` (a private PKI).
    None,
}

/// `[tls]`.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    pub roots: Roots,
    /// Extra trust anchors (PEM).
    pub ca_file: Option<PathBuf>,
    /// Allow `http://` to a host that is not loopback (credentials and answers in clear text).
    pub allow_insecure_http: bool,
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            roots: Roots::System,
            ca_file: None,
            allow_insecure_http: false,
        }
    }
}

/// `[rpc]` / `[beacon]`: the endpoint's API key, if it needs one.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialsFile {
    /// A file whose first line is the API key.
    pub api_key_file: Option<PathBuf>,
    /// An environment variable that holds the API key.
    pub api_key_env: Option<String>,
    /// Send the key in this header (e.g. `x-api-key`); without it the key replaces `{api_key}`
    /// in the URL.
    pub api_key_header: Option<String>,
}

/// The placeholder in an endpoint URL that the API key replaces.
pub const API_KEY_PLACEHOLDER: &str = "{api_key}";

/// An endpoint: its full URL (credential included), how it is shown, the header with its key.
#[derive(Clone)]
pub struct Endpoint {
    /// The config field it comes from (`rpc_url`, `beacon_url`).
    pub field: &'static str,
    url: SecretString,
    shown: String,
    header: Option<(HeaderName, SecretString)>,
    loopback: bool,
    https: bool,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("field", &self.field)
            .field("url", &self.shown)
            .field("header", &self.header.as_ref().map(|(n, _)| n.as_str()))
            .finish()
    }
}

/// Whether `host` (as in a URL) is the loopback interface.
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if h.eq_ignore_ascii_case("localhost") || h.to_ascii_lowercase().ends_with(".localhost") {
        return true;
    }
    h.parse::<std::net::IpAddr>()
        .map(|ip| ip.is_loopback())
        .unwrap_or(false)
}

fn read_key(field: &str, base: Option<&Path>, c: &CredentialsFile) -> Result<Option<SecretString>> {
    let key = match (&c.api_key_file, &c.api_key_env) {
        (Some(_), Some(_)) => {
            return Err(Error::config(
                format!("{field}.api_key_file"),
                "give api_key_file or api_key_env, not both",
            ))
        }
        (Some(p), None) => {
            let p = match base {
                Some(b) if p.is_relative() => b.join(p),
                _ => p.clone(),
            };
            let text = zeroize::Zeroizing::new(
                std::fs::read_to_string(&p)
                    .map_err(|e| Error::io(&p, "read the API key file", e))?,
            );
            let k = text.lines().next().unwrap_or("").trim().to_owned();
            if k.is_empty() {
                return Err(Error::config(
                    format!("{field}.api_key_file"),
                    format!("{} is empty", p.display()),
                ));
            }
            k
        }
        (None, Some(var)) => match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => v.trim().to_owned(),
            _ => {
                return Err(Error::config(
                    format!("{field}.api_key_env"),
                    format!("the environment variable {var} is not set"),
                ))
            }
        },
        (None, None) => return Ok(None),
    };
    crate::redact::register(&key);
    Ok(Some(SecretString::from(key)))
}

impl Endpoint {
    /// Resolves `raw` (the configured URL) with its credentials: the key goes into the header
    /// `api_key_header`, or replaces `{api_key}` in the URL. Refuses a URL that is not
    /// `http(s)`, `http://` to a host that is not loopback (unless allowed), a key with nowhere
    /// to go, and a placeholder without a key.
    pub fn resolve(
        field: &'static str,
        section: &str,
        raw: &str,
        creds: &CredentialsFile,
        base: Option<&Path>,
        tls: &TlsSettings,
    ) -> Result<Endpoint> {
        let key = read_key(section, base, creds)?;
        let has_placeholder = raw.contains(API_KEY_PLACEHOLDER);
        let (full, header) = match (&key, &creds.api_key_header) {
            (Some(k), Some(h)) => {
                let name = HeaderName::from_bytes(h.trim().as_bytes()).map_err(|_| {
                    Error::config(
                        format!("{section}.api_key_header"),
                        format!("{h:?} is not a header name"),
                    )
                })?;
                if has_placeholder {
                    return Err(Error::config(
                        field,
                        format!("has {API_KEY_PLACEHOLDER} but {section}.api_key_header sends the key in a header: use one"),
                    ));
                }
                (raw.to_owned(), Some((name, k.clone())))
            }
            (Some(k), None) => {
                if !has_placeholder {
                    return Err(Error::config(
                        field,
                        format!("{section} has an API key but the URL has no {API_KEY_PLACEHOLDER} and no {section}.api_key_header is set: say where the key goes"),
                    ));
                }
                (raw.replace(API_KEY_PLACEHOLDER, k.expose_secret()), None)
            }
            (None, Some(_)) => {
                return Err(Error::config(
                    format!("{section}.api_key_header"),
                    "is set but no api_key_file or api_key_env gives the key",
                ))
            }
            (None, None) => {
                if has_placeholder {
                    return Err(Error::config(
                        field,
                        format!("has {API_KEY_PLACEHOLDER} but no {section}.api_key_file or {section}.api_key_env gives the key"),
                    ));
                }
                (raw.to_owned(), None)
            }
        };
        crate::redact::register_url(&full);
        let shown = crate::redact::url(raw);
        let url = reqwest::Url::parse(&full)
            .map_err(|e| Error::config(field, format!("{shown} is not a URL: {e}")))?;
        let host = url.host_str().unwrap_or_default().to_owned();
        if host.is_empty() {
            return Err(Error::config(field, format!("{shown} has no host")));
        }
        let loopback = is_loopback_host(&host);
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            other => {
                return Err(Error::config(
                    field,
                    format!("{shown}: scheme {other:?}; give an http(s) URL"),
                ))
            }
        };
        if !https && !loopback && !tls.allow_insecure_http {
            return Err(Error::InsecureEndpoint {
                field: field.to_owned(),
                url: shown,
            });
        }
        Ok(Endpoint {
            field,
            url: SecretString::from(url.to_string()),
            shown,
            header,
            loopback,
            https,
        })
    }

    /// How the endpoint is shown in logs, errors and outputs (no credential).
    pub fn shown(&self) -> &str {
        &self.shown
    }

    pub fn is_https(&self) -> bool {
        self.https
    }

    pub fn is_loopback(&self) -> bool {
        self.loopback
    }

    fn url(&self) -> reqwest::Url {
        // Parsed once in `resolve`.
        reqwest::Url::parse(self.url.expose_secret()).unwrap_or_else(|_| {
            reqwest::Url::parse("http://invalid.invalid/").expect("a literal URL")
        })
    }

    fn headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some((name, key)) = &self.header {
            if let Ok(mut v) = HeaderValue::from_str(key.expose_secret()) {
                v.set_sensitive(true);
                h.insert(name.clone(), v);
            }
        }
        h
    }
}

/// The rustls client configuration of `tls` (ring provider, TLS 1.2 and 1.3).
pub fn client_config(tls: &TlsSettings) -> Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    match tls.roots {
        Roots::System => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                let why = found
                    .errors
                    .first()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default();
                return Err(Error::config(
                    "tls.roots",
                    format!("\"system\": no trusted root certificate found on this system{why}; install the CA certificates or set tls.roots = \"bundled\""),
                ));
            }
        }
        Roots::Bundled => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Roots::None => {}
    }
    if let Some(p) = &tls.ca_file {
        use rustls_pki_types::pem::PemObject;
        let mut n = 0;
        let iter = rustls_pki_types::CertificateDer::pem_file_iter(p).map_err(|e| {
            Error::config("tls.ca_file", format!("{}: cannot read: {e}", p.display()))
        })?;
        for cert in iter {
            let cert = cert.map_err(|e| {
                Error::config("tls.ca_file", format!("{}: not PEM: {e}", p.display()))
            })?;
            roots.add(cert).map_err(|e| {
                Error::config(
                    "tls.ca_file",
                    format!("{}: not a CA certificate: {e}", p.display()),
                )
            })?;
            n += 1;
        }
        if n == 0 {
            return Err(Error::config(
                "tls.ca_file",
                format!("{}: no CERTIFICATE in it", p.display()),
            ));
        }
    }
    if roots.is_empty() {
        return Err(Error::config(
            "tls.roots",
            "\"none\" needs tls.ca_file: there is nothing to trust",
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::config("tls", format!("rustls: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

type HyperClient =
    hyper_util::client::legacy::Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// An HTTP(S) client for one endpoint (its TLS roots and its credential).
#[derive(Clone)]
pub struct Client {
    inner: HyperClient,
    endpoint: Arc<Endpoint>,
    timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

/// How long one request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

impl Client {
    /// A client for `endpoint`. An `https` endpoint gets the configured roots; a plain-HTTP
    /// (loopback, or allowed) endpoint needs none.
    pub fn new(endpoint: &Endpoint, tls: &TlsSettings) -> Result<Client> {
        let config = if endpoint.is_https() {
            client_config(tls)?
        } else {
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::config("tls", format!("rustls: {e}")))?
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth()
        };
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(Duration::from_secs(15)));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let inner =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(connector);
        Ok(Client {
            inner,
            endpoint: Arc::new(endpoint.clone()),
            timeout: REQUEST_TIMEOUT,
        })
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Sends one request to `path` under the endpoint's URL (`None`: the URL itself) and reads
    /// the whole answer: (status, body).
    pub async fn request(
        &self,
        method: hyper::Method,
        path_and_query: Option<&str>,
        extra: HeaderMap,
        body: Option<Vec<u8>>,
    ) -> std::result::Result<(u16, Bytes), HttpFailure> {
        let mut url = self.endpoint.url();
        if let Some(p) = path_and_query {
            let (path, query) = match p.split_once('?') {
                Some((a, b)) => (a, Some(b)),
                None => (p, None),
            };
            let base = url.path().trim_end_matches('/').to_owned();
            url.set_path(&format!("{base}{path}"));
            url.set_query(query);
        }
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(url.as_str())
            .header(hyper::header::ACCEPT, "application/json");
        if body.is_some() {
            req = req.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let mut req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| HttpFailure::Other(e.to_string()))?;
        req.headers_mut().extend(self.endpoint.headers());
        req.headers_mut().extend(extra);
        let fut = async {
            let resp = self
                .inner
                .request(req)
                .await
                .map_err(|e| HttpFailure::from_hyper(&self.endpoint, e))?;
            let status = resp.status().as_u16();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| HttpFailure::Other(format!("reading the answer: {e}")))?
                .to_bytes();
            Ok((status, body))
        };
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(HttpFailure::Timeout(self.timeout)),
        }
    }
}

/// Why an HTTP request got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpFailure {
    /// The TLS handshake failed (the server's certificate is not trusted, or not for this name).
    #[error("tls: {endpoint}: {failure}")]
    Tls {
        /// The endpoint as shown (no credential).
        endpoint: String,
        failure: TlsFailure,
    },
    /// No connection (refused, unreachable, DNS).
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Other(String),
}

/// A TLS handshake failure, by kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum TlsFailure {
    /// The certificate chain does not lead to a trusted root (add its CA as `tls.ca_file`).
    #[error("the server's certificate is not issued by a trusted CA (unknown issuer); trust its CA with tls.ca_file")]
    UnknownIssuer,
    /// The certificate is not valid for the host name in the URL.
    #[error("the server's certificate is not valid for this host name")]
    WrongHostName,
    /// Expired or not yet valid.
    #[error("the server's certificate is expired or not yet valid")]
    Expired,
    #[error("{0}")]
    Other(String),
}

impl HttpFailure {
    fn from_hyper(endpoint: &Endpoint, e: hyper_util::client::legacy::Error) -> HttpFailure {
        if let Some(failure) = tls_failure(&e) {
            return HttpFailure::Tls {
                endpoint: endpoint.shown().to_owned(),
                failure,
            };
        }
        if e.is_connect() {
            return HttpFailure::Connect(chain_text(&e));
        }
        HttpFailure::Other(chain_text(&e))
    }
}

/// The error and its causes, one line.
fn chain_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    crate::redact::scrub(&s).into_owned()
}

/// The rustls error somewhere in `e`'s causes. An `io::Error` hides the error it wraps from
/// `source()` (it returns that error's source instead), and hyper-rustls wraps the handshake's
/// `io::Error` in another one, so each `io::Error` is opened as well.
pub fn tls_failure(e: &(dyn std::error::Error + 'static)) -> Option<TlsFailure> {
    if let Some(r) = e.downcast_ref::<rustls::Error>() {
        return Some(classify(r));
    }
    if let Some(io) = e.downcast_ref::<std::io::Error>() {
        if let Some(inner) = io.get_ref() {
            if let Some(t) = tls_failure(inner) {
                return Some(t);
            }
        }
    }
    e.source().and_then(tls_failure)
}

fn classify(e: &rustls::Error) -> TlsFailure {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer => TlsFailure::UnknownIssuer,
            C::NotValidForName | C::NotValidForNameContext { .. } => TlsFailure::WrongHostName,
            C::Expired
            | C::ExpiredContext { .. }
            | C::NotValidYet
            | C::NotValidYetContext { .. } => TlsFailure::Expired,
            other => TlsFailure::Other(format!("invalid certificate: {other:?}")),
        },
        other => TlsFailure::Other(other.to_string()),
    }
}

/// The agent's alloy transport: JSON-RPC over [`Client`].
#[derive(Clone, Debug)]
pub struct Transport {
    client: Client,
}

impl Transport {
    pub fn new(client: Client) -> Self {
        Transport { client }
    }

    async fn send(self, req: RequestPacket) -> std::result::Result<ResponsePacket, TransportError> {
        let body = serde_json::to_vec(&req).map_err(TransportError::ser_err)?;
        let (status, bytes) = self
            .client
            .request(hyper::Method::POST, None, req.headers(), Some(body))
            .await
            .map_err(TransportErrorKind::custom)?;
        if !(200..300).contains(&status) {
            // A JSON-RPC error in the body of an HTTP error is still the node's answer.
            if let Ok(r) = serde_json::from_slice::<ResponsePacket>(&bytes) {
                if r.is_error() {
                    return Ok(r);
                }
            }
            return Err(TransportErrorKind::http_error(
                status,
                crate::redact::scrub(&String::from_utf8_lossy(&bytes)).into_owned(),
            ));
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| TransportError::deser_err(e, String::from_utf8_lossy(&bytes)))
    }
}

impl tower::Service<RequestPacket> for Transport {
    type Response = ResponsePacket;
    type Error = TransportError;
    type Future = TransportFut<'static>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::result::Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: RequestPacket) -> Self::Future {
        Box::pin(self.clone().send(req))
    }
}

/// The TLS failure inside an RPC error, if any: (endpoint as shown, failure).
pub fn transport_tls_failure(e: &TransportError) -> Option<(String, TlsFailure)> {
    match e {
        alloy::transports::RpcError::Transport(TransportErrorKind::Custom(b)) => {
            match b.downcast_ref::<HttpFailure>() {
                Some(HttpFailure::Tls { endpoint, failure }) => {
                    Some((endpoint.clone(), failure.clone()))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls() -> TlsSettings {
        TlsSettings::default()
    }

    #[test]
    fn plain_http_only_to_loopback_unless_allowed() {
        let none = CredentialsFile::default();
        for ok in [
            "http://127.0.0.1:8545",
            "http://localhost:8545",
            "http://[::1]:8545/",
            "https://rpc.example/",
        ] {
            Endpoint::resolve("rpc_url", "rpc", ok, &none, None, &tls()).unwrap();
        }
        for bad in [
            "http://10.0.0.5:8545",
            "http://rpc.example/",
            "http://[2001:db8::1]/",
        ] {
            let e = Endpoint::resolve("rpc_url", "rpc", bad, &none, None, &tls()).unwrap_err();
            assert!(
                matches!(e, Error::InsecureEndpoint { ref field, .. } if field == "rpc_url"),
                "{e}"
            );
        }
        let allow = TlsSettings {
            allow_insecure_http: true,
            ..tls()
        };
        Endpoint::resolve(
            "rpc_url",
            "rpc",
            "http://10.0.0.5:8545",
            &none,
            None,
            &allow,
        )
        .unwrap();
        let e = Endpoint::resolve("rpc_url", "rpc", "ftp://x/", &none, None, &tls()).unwrap_err();
        assert!(matches!(e, Error::Config { .. }), "{e}");
    }

    #[test]
    fn the_key_goes_where_the_config_says_and_is_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k"), "key-canary-tls-1\n").unwrap();
        let in_url = CredentialsFile {
            api_key_file: Some("k".into()),
            ..Default::default()
        };
        let ep = Endpoint::resolve(
            "rpc_url",
            "rpc",
            "https://rpc.example/v3/{api_key}",
            &in_url,
            Some(dir.path()),
            &tls(),
        )
        .unwrap();
        assert_eq!(ep.shown(), "https://rpc.example/…");
        assert!(ep.url().path().ends_with("key-canary-tls-1"));
        assert!(!format!("{ep:?}").contains("key-canary-tls-1"));
        assert!(!crate::redact::scrub(ep.url().as_str()).contains("key-canary-tls-1"));
        let in_header = CredentialsFile {
            api_key_header: Some("x-api-key".into()),
            ..in_url.clone()
        };
        let ep = Endpoint::resolve(
            "rpc_url",
            "rpc",
            "https://rpc.example/",
            &in_header,
            Some(dir.path()),
            &tls(),
        )
        .unwrap();
        let h = ep.headers();
        assert!(h["x-api-key"].is_sensitive());
        assert!(!format!("{ep:?}").contains("key-canary-tls-1"));
        // Nowhere to put it; a placeholder without a key; both sources.
        for (url, c) in [
            ("https://rpc.example/", in_url.clone()),
            ("https://rpc.example/{api_key}", CredentialsFile::default()),
            ("https://rpc.example/{api_key}", in_header),
        ] {
            let e =
                Endpoint::resolve("rpc_url", "rpc", url, &c, Some(dir.path()), &tls()).unwrap_err();
            assert!(matches!(e, Error::Config { .. }), "{e}");
        }
        let both = CredentialsFile {
            api_key_env: Some("X".into()),
            ..in_url
        };
        assert!(Endpoint::resolve(
            "rpc_url",
            "rpc",
            "https://h/{api_key}",
            &both,
            Some(dir.path()),
            &tls()
        )
        .is_err());
    }

    #[test]
    fn ca_file_errors_name_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ca.pem");
        std::fs::write(&p, "not pem").unwrap();
        let t = TlsSettings {
            roots: Roots::None,
            ca_file: Some(p),
            allow_insecure_http: false,
        };
        let e = client_config(&t).unwrap_err();
        assert!(e.to_string().contains("tls.ca_file"), "{e}");
        let t = TlsSettings {
            roots: Roots::None,
            ca_file: None,
            allow_insecure_http: false,
        };
        assert!(client_config(&t)
            .unwrap_err()
            .to_string()
            .contains("tls.roots"));
        let t = TlsSettings {
            roots: Roots::Bundled,
            ..Default::default()
        };
        client_config(&t).unwrap();
    }
}
