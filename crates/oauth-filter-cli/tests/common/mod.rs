//! Shared by the gateway tests: the gateway binary as a child process, an upstream that echoes
//! what it receives, raw HTTP for requests a client library would tidy up.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    dead_code,
    unreachable_pub
)]

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::routing::any;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Notify;

pub const BIN: &str = env!("CARGO_BIN_EXE_oauth-filter");

/// A unique scratch directory under the system temp dir.
pub fn scratch_dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "oauth-filter-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `oauth-filter check-config` on `text` (written to a scratch file): whether it passed, its
/// stdout and its stderr.
pub fn check_config(text: &str) -> (bool, String, String) {
    let path = scratch_dir().join("gateway.toml");
    std::fs::write(&path, text).unwrap();
    let out = std::process::Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A blocking child process (a subcommand a developer runs by hand), killed when dropped.
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running `oauth-filter gateway`.
pub struct Gateway {
    pub child: Child,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub log: PathBuf,
}

impl Gateway {
    /// Starts the binary with this configuration and extra environment; waits for READY.
    pub async fn start(config: &str, env: &[(&str, &str)]) -> Self {
        Self::start_as("gateway", config, env).await
    }

    /// [`Gateway::start`] for another subcommand with the same READY line (`authz`).
    pub async fn start_as(command: &str, config: &str, env: &[(&str, &str)]) -> Self {
        let dir = scratch_dir();
        let path = dir.join("gateway.toml");
        std::fs::write(&path, config).unwrap();
        let log = dir.join("gateway.log");
        let mut cmd = Command::new(BIN);
        cmd.arg(command)
            .arg("--config")
            .arg(&path)
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = tokio::time::timeout(Duration::from_secs(20), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(rest) = line.strip_prefix("READY ") {
                    return rest.to_owned();
                }
            }
            panic!(
                "the gateway exited before READY: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        })
        .await
        .expect("gateway did not start");
        let field = |name: &str| -> SocketAddr {
            ready
                .split_whitespace()
                .find_map(|f| f.strip_prefix(name))
                .unwrap()
                .parse()
                .unwrap()
        };
        // Keep stdout drained so the child never blocks on it.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            addr: field("listen="),
            admin: field("admin="),
            child,
            log,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub async fn metrics(&self) -> String {
        reqwest::get(format!("http://{}/metrics", self.admin))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Sends SIGTERM (graceful shutdown).
    pub fn terminate(&self) {
        let pid = self.child.id().unwrap();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

/// The value of one series in Prometheus text, 0 when absent.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}

/// Switches the test upstream's special endpoints use.
#[derive(Default)]
pub struct UpstreamState {
    /// `/upstream/hold` waits for this.
    pub release: Notify,
    /// Notified when `/upstream/hold` has started.
    pub holding: Notify,
    /// `/upstream/stream-down` sends its last chunk after this.
    pub next_chunk: Notify,
    /// Notified when `/upstream/stream-up` has received its first body bytes.
    pub got_first_bytes: Notify,
    pub requests: AtomicUsize,
}

/// An upstream on loopback: echoes method, path, version and headers as JSON, plus
/// `/upstream/slow` (3 s), `/upstream/hold`, `/upstream/stream-down`, `/upstream/stream-up`.
pub async fn upstream() -> (SocketAddr, Arc<UpstreamState>) {
    let state = Arc::new(UpstreamState::default());
    let app = Router::new().fallback(any(echo)).with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, state)
}

async fn echo(State(state): State<Arc<UpstreamState>>, req: Request) -> axum::response::Response {
    state.requests.fetch_add(1, Ordering::SeqCst);
    let path = req.uri().path().to_owned();
    match path.as_str() {
        "/upstream/slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            return axum::response::Response::new(Body::from("slow"));
        }
        "/upstream/hold" => {
            state.holding.notify_one();
            state.release.notified().await;
            return axum::response::Response::new(Body::from("held"));
        }
        "/upstream/stream-down" => {
            let st = state.clone();
            let stream = futures_util::stream::unfold(0u8, move |n| {
                let st = st.clone();
                async move {
                    match n {
                        0 => Some((Ok::<_, std::io::Error>(bytes::Bytes::from("first;")), 1)),
                        1 => {
                            st.next_chunk.notified().await;
                            Some((Ok(bytes::Bytes::from("last")), 2))
                        }
                        _ => None,
                    }
                }
            });
            return axum::response::Response::new(Body::from_stream(stream));
        }
        "/upstream/stream-up" => {
            let mut body = req.into_body().into_data_stream();
            let mut total = 0usize;
            let mut first = true;
            while let Some(chunk) = body.next().await {
                total += chunk.unwrap().len();
                if first {
                    first = false;
                    state.got_first_bytes.notify_one();
                }
            }
            return axum::response::Response::new(Body::from(total.to_string()));
        }
        _ => {}
    }
    let headers: serde_json::Map<String, Value> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                json!(String::from_utf8_lossy(v.as_bytes())),
            )
        })
        .collect();
    let body = json!({
        "method": req.method().as_str(),
        "path": req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/"),
        "version": format!("{:?}", req.version()),
        "headers": headers,
    });
    axum::response::Response::new(Body::from(body.to_string()))
}

/// Writes raw bytes and reads the status line's code (for paths a client library normalises).
pub async fn raw_status(addr: SocketAddr, request: &str) -> u16 {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let head = String::from_utf8_lossy(&buf[..n]).to_string();
    head.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A loopback port that refuses connections for as long as this value lives: bound, never
/// listening, so the kernel gives it to nothing else. A port found free and then released could
/// go to the next `bind(0)` (the gateway's own listener included, which then proxies to itself
/// until the upstream timeout: a 504 where the test expects 502).
pub struct ClosedPort {
    _socket: tokio::net::TcpSocket,
    pub port: u16,
}

/// A port nothing listens on, held (see [`ClosedPort`]).
pub async fn closed_port() -> ClosedPort {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = socket.local_addr().unwrap().port();
    ClosedPort {
        _socket: socket,
        port,
    }
}

/// oidc-provider 8 (npm) from `interop/oidc-provider`, on a free loopback port.
pub struct Provider {
    pub issuer: String,
    /// The HTTPS origin asking for client certificates (with `MTLS_CERT_FILE` / `MTLS_KEY_FILE`).
    pub mtls: Option<String>,
    _child: Child,
}

pub async fn start_provider() -> Provider {
    start_provider_with(&[]).await
}

/// [`start_provider`] with extra environment (see `interop/oidc-provider/server.mjs`).
pub async fn start_provider_with(env: &[(&str, &std::path::Path)]) -> Provider {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop/oidc-provider");
    assert!(
        dir.join("node_modules/oidc-provider").exists(),
        "oidc-provider is not installed: run `npm ci --prefix interop/oidc-provider` (scripts/test.sh does)"
    );
    let mut child = Command::new("node")
        .arg("server.mjs")
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .envs(env.iter().map(|(k, v)| (*k, *v)))
        .kill_on_drop(true)
        .spawn()
        .expect("node must be installed");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut mtls = None;
    let issuer = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(origin) = line.strip_prefix("MTLS ") {
                mtls = Some(origin.to_owned());
            }
            if let Some(issuer) = line.strip_prefix("READY ") {
                return issuer.to_owned();
            }
        }
        panic!("oidc-provider exited before it was ready");
    })
    .await
    .expect("oidc-provider did not start in 30 s");
    Provider {
        issuer,
        mtls,
        _child: child,
    }
}

/// A client-credentials token for `resource` with `scope`.
pub async fn provider_token(issuer: &str, resource: &str, scope: &str) -> String {
    let resp: Value = reqwest::Client::new()
        .post(format!("{issuer}/token"))
        .basic_auth("interop-client", Some("interop-client-secret"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", scope),
            ("resource", resource),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    resp["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {resp}"))
        .to_owned()
}
