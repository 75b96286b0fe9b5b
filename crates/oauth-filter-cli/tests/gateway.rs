//! The gateway end to end, through real processes on loopback: the `oauth-filter` binary, an
//! upstream HTTP server, and the test kit's issuer (JWKS and introspection).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::{Gateway, metric, raw_status, upstream};
use oauth_filter_testkit::{INTROSPECTION_CLIENT_ID, INTROSPECTION_CLIENT_SECRET, TestIssuer};
use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn config(upstream: &str, issuer: &TestIssuer, extra: &str) -> String {
    format!(
        r#"
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
shutdown_grace_secs = 10
{extra}

[upstream]
url = "{upstream}"
timeout_secs = 1

[[issuers]]
issuer = "{iss}"
audience = "api"
jwks_url = "{jwks}"

[introspection]
endpoint = "{intro}"
client_id = "{id}"
client_secret = "from the environment"
max_cache_ttl = 1

[[routes]]
path = "/public"
public = true

[[routes]]
prefix = "/orders"
methods = ["GET"]
scopes = ["orders:read"]

[[routes]]
prefix = "/orders"
methods = ["POST"]
scopes = ["orders:write"]

[[routes]]
prefix = "/either"
any_scopes = ["a", "b"]

[[routes]]
prefix = "/upstream"
public = true
"#,
        iss = issuer.issuer(),
        jwks = issuer.jwks_url(),
        intro = issuer.introspection_url(),
        id = INTROSPECTION_CLIENT_ID,
    )
}

const SECRET_ENV: (&str, &str) = (
    "OAUTH_FILTER__INTROSPECTION__CLIENT_SECRET",
    INTROSPECTION_CLIENT_SECRET,
);

async fn echo(resp: reqwest::Response) -> Value {
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn routes_tokens_identity_headers_and_metrics() {
    let issuer = TestIssuer::start().await;
    let (up, state) = upstream().await;
    let upstream_requests = || state.requests.load(std::sync::atomic::Ordering::SeqCst);
    let gw = Gateway::start(&config(&format!("http://{up}"), &issuer, ""), &[SECRET_ENV]).await;
    let http = reqwest::Client::new();

    // Public route: no token needed; spoofed identity and forwarding headers are stripped.
    let body = echo(
        http.get(gw.url("/public?x=1"))
            .header("x-auth-subject", "admin")
            .header("x-auth-scope", "orders:write")
            .header("x-forwarded-for", "10.9.9.9")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(body["path"], "/public?x=1");
    let h = &body["headers"];
    assert!(h.get("x-auth-subject").is_none(), "{h}");
    assert!(h.get("x-auth-scope").is_none(), "{h}");
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-forwarded-host"], gw.addr.to_string());
    assert_eq!(h["host"], up.to_string());

    // Scoped route with a JWT: identity headers arrive, spoofed ones replaced, token removed.
    let jwt = issuer
        .mint()
        .scope("orders:read profile")
        .subject("alice")
        .sign();
    let body = echo(
        http.get(gw.url("/orders/42"))
            .bearer_auth(&jwt)
            .header("x-auth-subject", "admin")
            .header("X-Auth-Client-Id", "spoofed")
            .header("connection", "x-hop")
            .header("x-hop", "1")
            .send()
            .await
            .unwrap(),
    )
    .await;
    let h = &body["headers"];
    assert_eq!(h["x-auth-subject"], "alice");
    assert_eq!(h["x-auth-client-id"], "test-client");
    assert_eq!(h["x-auth-scope"], "orders:read profile");
    assert!(h.get("authorization").is_none(), "token forwarded: {h}");
    assert!(h.get("x-hop").is_none(), "hop-by-hop header forwarded: {h}");

    // From here to the 404s every request is refused except one (`any_scopes`, below): the
    // upstream must see exactly that one.
    let seen = upstream_requests();
    // Percent-encoded path: matched decoded (so /%6Frders needs the /orders scopes).
    let resp = http.get(gw.url("/%6Frders/1")).send().await.unwrap();
    assert_eq!(resp.status(), 401);

    // Wrong method's scopes: 403 with the scope the route needs.
    let resp = http
        .post(gw.url("/orders"))
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let www = resp.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        www.contains("error=\"insufficient_scope\"") && www.contains("scope=\"orders:write\""),
        "{www}"
    );
    // any_scopes.
    let b_only = issuer.mint().scope("b").sign();
    assert_eq!(
        http.get(gw.url("/either"))
            .bearer_auth(&b_only)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        http.get(gw.url("/either"))
            .bearer_auth(&jwt)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );

    // No token: bare challenge. Bad signature: invalid_token. Malformed header: 400.
    let resp = http.get(gw.url("/orders/1")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["www-authenticate"], "Bearer realm=\"api\"");
    // One changed character in the middle of the signature (the last one may be padding bits).
    let at = jwt.rfind('.').unwrap() + 10;
    let mut forged = jwt.clone();
    let swap = if &jwt[at..=at] == "A" { "B" } else { "A" };
    forged.replace_range(at..=at, swap);
    let resp = http
        .get(gw.url("/orders/1"))
        .bearer_auth(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(
        resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    // A credential that is not a b64token is a malformed token (401 invalid_token)...
    let resp = http
        .get(gw.url("/orders/1"))
        .header("authorization", "Bearer two tokens")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(
        resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\"")
    );
    // ...while two Authorization headers are a malformed request (400 invalid_request).
    let resp = http
        .get(gw.url("/orders/1"))
        .header("authorization", format!("Bearer {jwt}"))
        .header("authorization", format!("Bearer {jwt}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(
        resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_request\"")
    );

    // Paths two servers could read differently: 400, and the upstream never sees them.
    for path in [
        "/public/../orders/1",
        "/public/%2e%2e/orders",
        "/orders;x=1",
        "/a//b",
    ] {
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assert_eq!(raw_status(gw.addr, &req).await, 400, "{path}");
    }
    // No route: 404.
    assert_eq!(
        http.get(gw.url("/nothing-here"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    // A path that matches with another method: 405 with Allow (GET covers HEAD).
    let resp = http
        .delete(gw.url("/orders/1"))
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "GET, HEAD, POST");
    assert_eq!(
        upstream_requests() - seen,
        1,
        "a refused request reached the upstream"
    );

    // Opaque token through introspection, with the secret from the environment.
    let opaque = issuer.opaque().scope("orders:read").subject("bob").issue();
    let body = echo(
        http.get(gw.url("/orders/7"))
            .bearer_auth(&opaque)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(body["headers"]["x-auth-subject"], "bob");
    let revoked = issuer.opaque().scope("orders:read").issue();
    issuer.revoke(&revoked);
    assert_eq!(
        http.get(gw.url("/orders/7"))
            .bearer_auth(&revoked)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    // Admin: health, readiness (keys loaded, introspection answers), metrics moved.
    let admin = |p: &str| format!("http://{}{p}", gw.admin);
    assert_eq!(reqwest::get(admin("/healthz")).await.unwrap().status(), 200);
    let ready = reqwest::get(admin("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["ready"], true, "{ready}");
    assert_eq!(ready["checks"].as_array().unwrap().len(), 2, "{ready}");
    let m = gw.metrics().await;
    let requests = "oauth_filter_gateway_requests_total";
    assert!(
        metric(
            &m,
            &format!("{requests}{{outcome=\"forwarded\",reason=\"ok\"}}")
        ) >= 4.0,
        "{m}"
    );
    assert_eq!(
        metric(
            &m,
            &format!("{requests}{{outcome=\"rejected\",reason=\"insufficient_scope\"}}")
        ),
        2.0,
        "{m}"
    );
    assert_eq!(
        metric(
            &m,
            &format!("{requests}{{outcome=\"rejected\",reason=\"bad_signature\"}}")
        ),
        1.0,
        "{m}"
    );
    assert_eq!(
        metric(
            &m,
            &format!("{requests}{{outcome=\"rejected\",reason=\"missing_token\"}}")
        ),
        2.0,
        "{m}"
    );
    assert_eq!(
        metric(
            &m,
            &format!("{requests}{{outcome=\"rejected\",reason=\"inactive_token\"}}")
        ),
        1.0,
        "{m}"
    );
    assert_eq!(
        metric(
            &m,
            &format!("{requests}{{outcome=\"refused\",reason=\"invalid_path\"}}")
        ),
        4.0,
        "{m}"
    );
    assert_eq!(
        metric(
            &m,
            &format!("{requests}{{outcome=\"refused\",reason=\"no_route\"}}")
        ),
        1.0,
        "{m}"
    );
    assert_eq!(
        metric(
            &m,
            &format!("{requests}{{outcome=\"refused\",reason=\"method_not_allowed\"}}")
        ),
        1.0,
        "{m}"
    );
    assert!(
        metric(&m, "oauth_filter_jwks_fetches_total{outcome=\"ok\"}") >= 1.0,
        "{m}"
    );
    assert!(
        metric(
            &m,
            "oauth_filter_introspection_calls_total{outcome=\"active\"}"
        ) >= 1.0,
        "{m}"
    );
    assert!(
        metric(
            &m,
            "oauth_filter_introspection_calls_total{outcome=\"inactive\"}"
        ) >= 1.0,
        "{m}"
    );
    assert!(
        metric(
            &m,
            "oauth_filter_cache_lookups_total{cache=\"jwt\",result=\"hit\"}"
        ) >= 1.0,
        "{m}"
    );
    assert!(
        metric(
            &m,
            "oauth_filter_cache_lookups_total{cache=\"jwt\",result=\"miss\"}"
        ) >= 1.0,
        "{m}"
    );
    assert!(
        m.contains("oauth_filter_gateway_request_duration_seconds_bucket"),
        "{m}"
    );

    // One log line per rejection, with the reason code and never a token.
    let logs = gw.logs();
    assert!(
        logs.contains("reason=\"bad_signature\"") || logs.contains("reason=bad_signature"),
        "{logs}"
    );
    for secret in [&jwt, &forged, &opaque, &revoked] {
        let sig = secret.rsplit('.').next().unwrap();
        assert!(!logs.contains(sig), "a token reached the logs");
    }
    assert!(!logs.contains(INTROSPECTION_CLIENT_SECRET));
}

#[tokio::test(flavor = "multi_thread")]
async fn authorization_can_be_kept_and_json_logs() {
    let issuer = TestIssuer::start().await;
    let (up, _state) = upstream().await;
    let extra = "[forwarding]\nauthorization = \"keep\"\nsubject_header = \"x-user\"\n\n[log]\nformat = \"json\"";
    let gw = Gateway::start(
        &config(&format!("http://{up}"), &issuer, extra),
        &[SECRET_ENV],
    )
    .await;
    let http = reqwest::Client::new();
    let jwt = issuer.mint().scope("orders:read").subject("carol").sign();
    let body = echo(
        http.get(gw.url("/orders"))
            .bearer_auth(&jwt)
            .header("x-user", "mallory")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(body["headers"]["authorization"], format!("Bearer {jwt}"));
    assert_eq!(body["headers"]["x-user"], "carol");
    // The spoofed header is gone on public routes too.
    let body = echo(
        http.get(gw.url("/public"))
            .header("x-user", "mallory")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(body["headers"].get("x-user").is_none());
    let resp = http
        .get(gw.url("/orders"))
        .bearer_auth("not-a-jwt-and-unknown")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let line = gw
        .logs()
        .lines()
        .find(|l| l.contains("request rejected"))
        .map(str::to_owned)
        .expect("a rejection log line");
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["reason"], "inactive_token", "{v}");
    assert_eq!(v["status"], 401);
    assert!(!line.contains("not-a-jwt-and-unknown"));
}

#[tokio::test]
async fn a_closed_port_refuses_connections_and_is_taken_while_held() {
    let closed = common::closed_port().await;
    let addr = format!("127.0.0.1:{}", closed.port);
    let refused = tokio::net::TcpStream::connect(&addr).await.unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    // Nothing else gets the port while the test holds it.
    assert!(std::net::TcpListener::bind(&addr).is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_failures_and_unavailable_authorization_server() {
    let issuer = TestIssuer::start().await;
    let (up, _state) = upstream().await;
    let http = reqwest::Client::new();
    // Slow upstream: 504 after the 1 s timeout.
    let gw = Gateway::start(&config(&format!("http://{up}"), &issuer, ""), &[SECRET_ENV]).await;
    let started = std::time::Instant::now();
    let resp = http.get(gw.url("/upstream/slow")).send().await.unwrap();
    assert_eq!(resp.status(), 504);
    assert!(started.elapsed() < Duration::from_millis(2_500));
    drop(gw);

    // Upstream down: 502. Introspection endpoint down: 503 with Retry-After; readyz 503.
    let closed = common::closed_port().await;
    let port = closed.port;
    let text = config(&format!("http://127.0.0.1:{port}"), &issuer, "").replace(
        &issuer.introspection_url(),
        &format!("http://127.0.0.1:{port}/introspect"),
    );
    let gw = Gateway::start(&text, &[SECRET_ENV]).await;
    assert_eq!(
        http.get(gw.url("/public")).send().await.unwrap().status(),
        502
    );
    let opaque = issuer.opaque().scope("orders:read").issue();
    let resp = http
        .get(gw.url("/orders"))
        .bearer_auth(&opaque)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().contains_key("retry-after"));
    let ready = reqwest::get(format!("http://{}/readyz", gw.admin))
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let ready: Value = ready.json().await.unwrap();
    let intro = ready["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["component"] == "introspection")
        .unwrap();
    assert_eq!(intro["ready"], false, "{ready}");
    let m = gw.metrics().await;
    assert_eq!(
        metric(
            &m,
            "oauth_filter_gateway_requests_total{outcome=\"upstream_error\",reason=\"upstream_unavailable\"}"
        ),
        1.0,
        "{m}"
    );
    assert_eq!(
        metric(
            &m,
            "oauth_filter_gateway_requests_total{outcome=\"rejected\",reason=\"introspection_unavailable\"}"
        ),
        1.0,
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bodies_stream_in_both_directions() {
    let issuer = TestIssuer::start().await;
    let (up, state) = upstream().await;
    let gw = Gateway::start(&config(&format!("http://{up}"), &issuer, ""), &[SECRET_ENV]).await;

    // Response: the first chunk arrives while the upstream still holds back the last.
    let mut resp = reqwest::get(gw.url("/upstream/stream-down")).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), resp.chunk())
        .await
        .expect("the first chunk was held back: the response is buffered")
        .unwrap()
        .unwrap();
    assert_eq!(first, "first;");
    state.next_chunk.notify_one();
    let rest = resp.chunk().await.unwrap().unwrap();
    assert_eq!(rest, "last");

    // Request: the upstream sees the first bytes before the client has sent the rest.
    let mut s = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(b"POST /upstream/stream-up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n").await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), state.got_first_bytes.notified())
        .await
        .expect("the upstream got nothing before the body ended: the request is buffered");
    s.write_all(b"6\r\n world\r\n0\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("11"), "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn h2c_upstream() {
    let issuer = TestIssuer::start().await;
    let (up, _state) = upstream().await;
    let text = config(&format!("http://{up}"), &issuer, "")
        .replace("timeout_secs = 1", "timeout_secs = 1\nprotocol = \"h2c\"");
    let gw = Gateway::start(&text, &[SECRET_ENV]).await;
    let body = echo(reqwest::get(gw.url("/public")).await.unwrap()).await;
    assert_eq!(body["version"], "HTTP/2.0");
    let http1 = Gateway::start(&config(&format!("http://{up}"), &issuer, ""), &[SECRET_ENV]).await;
    let body = echo(reqwest::get(http1.url("/public")).await.unwrap()).await;
    assert_eq!(body["version"], "HTTP/1.1");
}

#[tokio::test(flavor = "multi_thread")]
async fn graceful_shutdown_finishes_the_request_in_flight() {
    let issuer = TestIssuer::start().await;
    let (up, state) = upstream().await;
    let mut gw = Gateway::start(&config(&format!("http://{up}"), &issuer, ""), &[SECRET_ENV]).await;
    let url = gw.url("/upstream/hold");
    let in_flight = tokio::spawn(async move {
        let resp = reqwest::get(url).await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    });
    tokio::time::timeout(Duration::from_secs(5), state.holding.notified())
        .await
        .unwrap();
    gw.terminate();
    // Draining: readiness fails, new connections are refused, the held request is still open.
    let admin = gw.admin;
    let mut drained = false;
    for _ in 0..50 {
        if let Ok(r) = reqwest::get(format!("http://{admin}/readyz")).await {
            if r.status() == 503 {
                drained = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(drained, "readyz did not turn 503 during shutdown");
    assert!(
        tokio::net::TcpStream::connect(gw.addr).await.is_err(),
        "still accepting"
    );
    assert!(!in_flight.is_finished());
    state.release.notify_one();
    let (status, body) = tokio::time::timeout(Duration::from_secs(5), in_flight)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((status, body.as_str()), (200, "held"));
    let exit = tokio::time::timeout(Duration::from_secs(5), gw.child.wait())
        .await
        .expect("the gateway did not exit")
        .unwrap();
    assert!(exit.success(), "{exit:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn phantom_tokens_reach_the_upstream_as_signed_jwts() {
    let issuer = TestIssuer::start().await;
    let (up, state) = upstream().await;
    let text = config(&format!("http://{up}"), &issuer, "").replace(
        "max_cache_ttl = 1",
        &format!(
            "max_cache_ttl = 1\nissuer = \"{}\"\njwt_response = true",
            issuer.issuer()
        ),
    );
    let gw = Gateway::start(&text, &[SECRET_ENV]).await;
    let http = reqwest::Client::new();
    let opaque = issuer.opaque().scope("orders:read").subject("dave").issue();
    let body = echo(
        http.get(gw.url("/orders/1"))
            .bearer_auth(&opaque)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let auth = body["headers"]["authorization"].as_str().unwrap();
    let jwt = auth.strip_prefix("Bearer ").unwrap();
    assert_ne!(jwt, opaque, "the opaque token must not reach the upstream");
    // The upstream can verify it with the issuer's keys: check it with the core.
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, parts[1])
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["token_introspection"]["sub"], "dave");
    assert_eq!(claims["iss"], issuer.issuer());
    assert_eq!(body["headers"]["x-auth-subject"], "dave");
    // A JWT access token verified locally is forwarded per the policy (removed by default).
    let local = issuer.mint().scope("orders:read").sign();
    let body = echo(
        http.get(gw.url("/orders/1"))
            .bearer_auth(&local)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(body["headers"].get("authorization").is_none());
    // A server that answers plain JSON in phantom mode gets 503, not a fallback.
    issuer.set_introspection_response(Some(oauth_filter_testkit::RawResponse::json(
        r#"{"active": true, "scope": "orders:read"}"#,
    )));
    let seen = state.requests.load(std::sync::atomic::Ordering::SeqCst);
    let resp = http
        .get(gw.url("/orders/1"))
        .bearer_auth("another-opaque")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().contains_key("retry-after"));
    assert_eq!(
        state.requests.load(std::sync::atomic::Ordering::SeqCst),
        seen
    );
}

/// Request smuggling: with both Content-Length and Transfer-Encoding, chunked framing wins (RFC
/// 9112 §6.3), the upstream gets one consistently framed request, the connection is closed, and
/// a request smuggled after the body never reaches the upstream.
#[tokio::test(flavor = "multi_thread")]
async fn ambiguous_framing_cannot_smuggle_a_request() {
    let issuer = TestIssuer::start().await;
    let (up, state) = upstream().await;
    let gw = Gateway::start(&config(&format!("http://{up}"), &issuer, ""), &[SECRET_ENV]).await;
    let exchange = |request: String| async move {
        let mut s = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        let mut got = String::new();
        tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut got))
            .await
            .expect("the connection must be closed after an ambiguous request")
            .unwrap();
        got
    };
    let smuggled = "GET /orders/1 HTTP/1.1\r\nHost: x\r\n\r\n";
    let ambiguous = |path: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n{smuggled}"
        )
    };
    let count = || state.requests.load(std::sync::atomic::Ordering::SeqCst);

    let before = count();
    let got = exchange(ambiguous("/upstream/stream-up")).await;
    assert_eq!(count() - before, 1, "{got}");
    assert_eq!(got.matches("HTTP/1.1 ").count(), 1, "{got}");
    assert!(
        got.starts_with("HTTP/1.1 200") && got.ends_with("\r\n\r\n5"),
        "{got}"
    );

    // What the upstream was told: chunked, no stale Content-Length.
    let got = exchange(ambiguous("/public")).await;
    let body: Value = serde_json::from_str(&got[got.find("\r\n\r\n").unwrap() + 4..]).unwrap();
    let h = &body["headers"];
    assert!(h.get("content-length").is_none_or(|v| v == "5"), "{h}");
    assert_eq!(count() - before, 2);
}

/// An HTTP/1.1 upstream that counts its connections. `/upstream/close` answers with
/// `Connection: close`, `/upstream/empty` 204, `/upstream/chunked` a body of two chunks.
async fn counting_upstream() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use hyper::service::service_fn;
    use std::sync::atomic::Ordering;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let svc = service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                    type Chunk = Result<hyper::body::Frame<bytes::Bytes>, std::convert::Infallible>;
                    let mut resp = match req.uri().path() {
                        "/upstream/chunked" => {
                            let frames: Vec<Chunk> = ["one;", "two"]
                                .into_iter()
                                .map(|s| Ok(hyper::body::Frame::data(bytes::Bytes::from(s))))
                                .collect();
                            let body =
                                http_body_util::StreamBody::new(futures_util::stream::iter(frames));
                            hyper::Response::new(http_body_util::BodyExt::boxed(body))
                        }
                        path => hyper::Response::new(http_body_util::BodyExt::boxed(
                            http_body_util::Full::new(bytes::Bytes::from(path.to_owned())),
                        )),
                    };
                    match req.uri().path() {
                        "/upstream/close" => {
                            resp.headers_mut().insert(
                                "connection",
                                hyper::header::HeaderValue::from_static("close"),
                            );
                        }
                        "/upstream/empty" => {
                            *resp.status_mut() = hyper::StatusCode::NO_CONTENT;
                            *resp.body_mut() =
                                http_body_util::BodyExt::boxed(http_body_util::Empty::new());
                        }
                        _ => {}
                    }
                    Ok::<_, std::convert::Infallible>(resp)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    (addr, connections)
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_connections_are_reused_and_closed_ones_replaced() {
    use std::sync::atomic::Ordering;
    let issuer = TestIssuer::start().await;
    let (up, connections) = counting_upstream().await;
    let gw = Gateway::start(&config(&format!("http://{up}"), &issuer, ""), &[SECRET_ENV]).await;
    let client = reqwest::Client::new();
    // Sequential requests of every body shape (sized, chunked, none, HEAD): one connection.
    for i in 0..5 {
        let r = client.get(gw.url("/upstream/a")).send().await.unwrap();
        assert_eq!(r.status(), 200, "request {i}");
        assert_eq!(r.text().await.unwrap(), "/upstream/a");
        let r = client
            .get(gw.url("/upstream/chunked"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.text().await.unwrap(), "one;two");
        let r = client.get(gw.url("/upstream/empty")).send().await.unwrap();
        assert_eq!(r.status(), 204);
        let r = client.head(gw.url("/upstream/a")).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    assert_eq!(
        connections.load(Ordering::SeqCst),
        1,
        "the upstream connection was not reused"
    );
    // A connection the upstream closes is never used again: each request after one gets a new
    // connection, none fails.
    for i in 0..4 {
        let r = client.get(gw.url("/upstream/close")).send().await.unwrap();
        assert_eq!(r.status(), 200, "request {i} after a closed connection");
    }
    let r = client.get(gw.url("/upstream/a")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // The first /close reused connection 1; each later request needed a new one.
    assert_eq!(connections.load(Ordering::SeqCst), 5);
    // Concurrent requests open connections of their own (at most one each); read to their
    // ends, they are back in the pool, and later requests open none.
    let burst = futures_util::future::join_all((0..8).map(|_| async {
        let r = client.get(gw.url("/upstream/a")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.text().await.unwrap()
    }));
    burst.await;
    let after_burst = connections.load(Ordering::SeqCst);
    assert!((5..=12).contains(&after_burst), "{after_burst}");
    for _ in 0..10 {
        let r = client.get(gw.url("/upstream/a")).send().await.unwrap();
        assert_eq!(r.text().await.unwrap(), "/upstream/a");
    }
    assert_eq!(connections.load(Ordering::SeqCst), after_burst);
}
