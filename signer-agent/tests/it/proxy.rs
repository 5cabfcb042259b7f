//! Test infrastructure between the agent and anvil: a JSON-RPC proxy that behaves like a hosted
//! provider (refuses `eth_getLogs` spans over a limit, requires an API key in the path or a
//! header, counts what it served), a TLS-terminating proxy in front of any TCP backend, and a
//! test PKI made in the test (rcgen: a CA, server certificates for chosen names).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// How the RPC proxy behaves.
#[derive(Debug, Clone, Default)]
pub struct ProxyOptions {
    /// Refuse `eth_getLogs` spanning more blocks (JSON-RPC error -32005, as hosted providers).
    pub max_log_span: Option<u64>,
    /// Answer 401 unless the request path is this.
    pub require_path: Option<String>,
    /// Answer 401 unless this header has this value.
    pub require_header: Option<(String, String)>,
}

/// What the proxy saw.
#[derive(Debug, Default)]
pub struct ProxyStats {
    pub requests: AtomicU64,
    pub unauthorized: AtomicU64,
    pub get_logs: AtomicU64,
    pub get_logs_refused: AtomicU64,
    /// The largest span of an `eth_getLogs` it answered.
    pub max_span_served: AtomicU64,
    /// Blocks covered by the `eth_getLogs` it answered.
    pub blocks_served: AtomicU64,
}

/// A JSON-RPC proxy on a loopback port, in front of `upstream` (plain HTTP).
pub struct RpcProxy {
    pub addr: SocketAddr,
    pub stats: Arc<ProxyStats>,
    _rt: tokio::runtime::Runtime,
}

impl RpcProxy {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn start(upstream: String, opts: ProxyOptions) -> RpcProxy {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let stats = Arc::new(ProxyStats::default());
        let state = Arc::new(State {
            upstream,
            opts,
            stats: stats.clone(),
            client: reqwest::Client::new(),
        });
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let s = state.clone();
            async move { s.handle(uri, headers, body).await }
        });
        rt.spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        RpcProxy {
            addr,
            stats,
            _rt: rt,
        }
    }
}

struct State {
    upstream: String,
    opts: ProxyOptions,
    stats: Arc<ProxyStats>,
    client: reqwest::Client,
}

fn hex_u64(v: &serde_json::Value) -> Option<u64> {
    u64::from_str_radix(v.as_str()?.trim_start_matches("0x"), 16).ok()
}

impl State {
    async fn head(&self) -> u64 {
        let r: serde_json::Value = self
            .client
            .post(&self.upstream)
            .json(
                &serde_json::json!({"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        hex_u64(&r["result"]).unwrap()
    }

    /// The span of an `eth_getLogs` filter (tags resolved against the head).
    async fn span(&self, filter: &serde_json::Value) -> u64 {
        if filter.get("blockHash").is_some() {
            return 1;
        }
        let block = |k: &str| {
            filter
                .get(k)
                .cloned()
                .unwrap_or(serde_json::json!("latest"))
        };
        let (from, to) = (block("fromBlock"), block("toBlock"));
        let resolve = |v: &serde_json::Value, head: u64| match v.as_str() {
            Some("earliest") => 0,
            Some("latest") | Some("pending") | Some("safe") | Some("finalized") => head,
            _ => hex_u64(v).unwrap_or(head),
        };
        let head = self.head().await;
        let (f, t) = (resolve(&from, head), resolve(&to, head));
        t.saturating_sub(f) + 1
    }

    async fn handle(&self, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let authorized = self
            .opts
            .require_path
            .as_ref()
            .is_none_or(|p| uri.path() == p)
            && self
                .opts
                .require_header
                .as_ref()
                .is_none_or(|(k, v)| headers.get(k).and_then(|h| h.to_str().ok()) == Some(v));
        if !authorized {
            self.stats.unauthorized.fetch_add(1, Ordering::Relaxed);
            // Like many providers, the answer quotes what it refused (the key included).
            let key = headers
                .get("x-api-key")
                .and_then(|h| h.to_str().ok())
                .unwrap_or("-");
            let body = format!(
                "{{\"error\": \"invalid API key: path {}, x-api-key {key}\"}}",
                uri.path()
            );
            return (StatusCode::UNAUTHORIZED, body).into_response();
        }
        let req: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if req["method"] == "eth_getLogs" {
            self.stats.get_logs.fetch_add(1, Ordering::Relaxed);
            let span = self.span(&req["params"][0]).await;
            if self.opts.max_log_span.is_some_and(|m| span > m) {
                self.stats.get_logs_refused.fetch_add(1, Ordering::Relaxed);
                let err = serde_json::json!({
                    "jsonrpc": "2.0",
                    "id": req["id"],
                    "error": {"code": -32005, "message": format!("query exceeds max block range {}", self.opts.max_log_span.unwrap())}
                });
                return (
                    StatusCode::OK,
                    [("content-type", "application/json")],
                    err.to_string(),
                )
                    .into_response();
            }
            self.stats
                .max_span_served
                .fetch_max(span, Ordering::Relaxed);
            self.stats.blocks_served.fetch_add(span, Ordering::Relaxed);
        }
        match self
            .client
            .post(&self.upstream)
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await
        {
            Ok(r) => {
                let status = StatusCode::from_u16(r.status().as_u16()).unwrap();
                let bytes = r.bytes().await.unwrap_or_default();
                (
                    status,
                    [("content-type", "application/json")],
                    bytes.to_vec(),
                )
                    .into_response()
            }
            Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
        }
    }
}

/// A test PKI: a CA made now, and server certificates it signs.
pub struct TestPki {
    pub ca_pem: String,
    ca: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl TestPki {
    pub fn new(name: &str) -> TestPki {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca = rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap())
            .unwrap();
        TestPki {
            ca_pem: ca.pem(),
            ca,
        }
    }

    /// A server certificate for `names` (DNS names or IPs) and its key, both PEM.
    pub fn server_pem(&self, names: &[&str]) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let params =
            rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// A rustls server configuration with a certificate for `names` (DNS names or IPs).
    pub fn server_config(&self, names: &[&str]) -> rustls::ServerConfig {
        let key = rcgen::KeyPair::generate().unwrap();
        let params =
            rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        let der = rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone(), self.ca.der().clone()], der)
        .unwrap()
    }
}

/// A TLS-terminating proxy on a loopback port: TLS with `config` in front, the plain TCP
/// `backend` behind. Counts the handshakes that failed.
pub struct TlsProxy {
    pub port: u16,
    pub failed_handshakes: Arc<AtomicU64>,
    pub handshakes: Arc<Mutex<u64>>,
    _rt: tokio::runtime::Runtime,
}

impl TlsProxy {
    pub fn start(config: rustls::ServerConfig, backend: SocketAddr) -> TlsProxy {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let failed = Arc::new(AtomicU64::new(0));
        let ok = Arc::new(Mutex::new(0));
        let (f, o) = (failed.clone(), ok.clone());
        rt.spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                let (f, o) = (f.clone(), o.clone());
                tokio::spawn(async move {
                    let mut tls = match acceptor.accept(tcp).await {
                        Ok(t) => t,
                        Err(_) => {
                            f.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                    };
                    *o.lock().unwrap() += 1;
                    let Ok(mut up) = tokio::net::TcpStream::connect(backend).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                });
            }
        });
        TlsProxy {
            port,
            failed_handshakes: failed,
            handshakes: ok,
            _rt: rt,
        }
    }
}
