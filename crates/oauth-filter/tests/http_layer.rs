//! The tower layer and axum extractors over real HTTP on loopback: every answer's status,
//! `WWW-Authenticate`, body, and proof that a rejected request never reached the handler.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use axum::Router;
use axum::routing::get;
use common::{closed_port, filter_for, serve};
use http::{Response, StatusCode};
use oauth_filter::{AccessToken, OAuthFilter, Rejection, Requirement};
use oauth_filter_testkit::TestIssuer;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Clone, Default)]
struct Hits(Arc<AtomicUsize>);

impl Hits {
    fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

fn app(filter: &OAuthFilter, hits: &Hits) -> Router {
    let h = hits.clone();
    let who = move |token: AccessToken| {
        let h = h.clone();
        async move {
            h.0.fetch_add(1, Ordering::SeqCst);
            axum::Json(json!({
                "sub": token.subject(), "client_id": token.client_id(), "iss": token.issuer(),
                "aud": token.audiences(), "scopes": token.scopes().iter().collect::<Vec<_>>(),
                "custom": token.claim("custom"),
                "exp": token.expires_at().unwrap().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(),
            }))
        }
    };
    let h2 = hits.clone();
    let maybe = move |token: Option<AccessToken>| {
        let h = h2.clone();
        async move {
            h.0.fetch_add(1, Ordering::SeqCst);
            match token {
                Some(t) => format!("hello {}", t.subject().unwrap_or("?")),
                None => String::from("hello stranger"),
            }
        }
    };
    let custom = filter.require(["read"]).with_responder(|r: &Rejection| {
        Response::builder()
            .status(r.status())
            .header("x-custom", "yes")
            .body(axum::body::Body::from(format!(
                "custom {}",
                r.error().reason_code()
            )))
            .unwrap()
    });
    Router::new()
        .route(
            "/hello_world",
            get(who.clone()).route_layer(filter.require(["read"])),
        )
        .route(
            "/any",
            get(who.clone()).route_layer(filter.require([] as [&str; 0])),
        )
        .route(
            "/either",
            get(who.clone()).route_layer(filter.require(Requirement::any_of(["admin", "write"]))),
        )
        .route(
            "/both",
            get(who.clone()).route_layer(filter.require(["read", "write"])),
        )
        .route("/custom", get(who.clone()).route_layer(custom))
        .route("/optional", get(maybe).route_layer(filter.optional()))
        .route("/unprotected", get(who))
}

struct Setup {
    issuer: TestIssuer,
    addr: SocketAddr,
    hits: Hits,
    http: reqwest::Client,
}

async fn setup() -> Setup {
    let issuer = TestIssuer::start().await;
    let filter = filter_for(&issuer);
    let hits = Hits::default();
    let addr = serve(app(&filter, &hits)).await;
    Setup {
        issuer,
        addr,
        hits,
        http: reqwest::Client::new(),
    }
}

impl Setup {
    async fn get(
        &self,
        path: &str,
        auth: &[&str],
    ) -> (
        StatusCode,
        Option<String>,
        reqwest::header::HeaderMap,
        String,
    ) {
        let mut req = self.http.get(format!("http://{}{path}", self.addr));
        for a in auth {
            req = req.header("authorization", *a);
        }
        let resp = req.send().await.unwrap();
        let status = StatusCode::from_u16(resp.status().as_u16()).unwrap();
        let www = resp
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        let headers = resp.headers().clone();
        (status, www, headers, resp.text().await.unwrap())
    }

    /// Asserts a rejection and that the handler did not run.
    async fn rejected(
        &self,
        path: &str,
        auth: &[&str],
        status: u16,
        www: Option<&str>,
        error: &str,
    ) {
        let before = self.hits.get();
        let (s, w, headers, body) = self.get(path, auth).await;
        assert_eq!(s.as_u16(), status, "{path} {auth:?}: {body}");
        assert_eq!(w.as_deref(), www, "{path} {auth:?}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"], error);
        assert!(body["error_description"].is_string());
        assert_eq!(headers.get("cache-control").unwrap(), "no-store");
        assert_eq!(headers.get("content-type").unwrap(), "application/json");
        assert_eq!(
            self.hits.get(),
            before,
            "handler ran for a rejected request"
        );
    }
}

const INVALID: &str = r#"Bearer realm="api", error="invalid_token", error_description="#;

#[tokio::test]
async fn the_seed_hello_world_answers() {
    let s = setup().await;
    let good = format!(
        "Bearer {}",
        s.issuer.mint().scope("read").claim("custom", 7).sign()
    );
    let (status, www, _, body) = s.get("/hello_world", &[&good]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(www, None);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["sub"], "user-1");
    assert_eq!(body["client_id"], "test-client");
    assert_eq!(body["iss"], s.issuer.issuer());
    assert_eq!(body["aud"], json!(["api"]));
    assert_eq!(body["scopes"], json!(["read"]));
    assert_eq!(body["custom"], 7);
    assert!(body["exp"].as_u64().unwrap() > 0);
    assert_eq!(s.hits.get(), 1);

    s.rejected(
        "/hello_world",
        &[],
        401,
        Some(r#"Bearer realm="api""#),
        "unauthorized",
    )
    .await;
    let no_scope = format!("Bearer {}", s.issuer.mint().scope("write").sign());
    s.rejected(
        "/hello_world",
        &[&no_scope],
        403,
        Some(r#"Bearer realm="api", error="insufficient_scope", error_description="the token lacks the required scope", scope="read""#),
        "insufficient_scope",
    )
    .await;
    let expired = format!(
        "Bearer {}",
        s.issuer.mint().scope("read").expires_in_secs(-3600).sign()
    );
    s.rejected(
        "/hello_world",
        &[&expired],
        401,
        Some(&format!("{INVALID}\"the token has expired\"")),
        "invalid_token",
    )
    .await;
}

#[tokio::test]
async fn bad_requests_and_bad_tokens() {
    let s = setup().await;
    let good = format!("Bearer {}", s.issuer.mint().scope("read").sign());
    let bad_req = Some(
        r#"Bearer realm="api", error="invalid_request", error_description="more than one Authorization header""#,
    );
    s.rejected(
        "/hello_world",
        &[&good, &good],
        400,
        bad_req,
        "invalid_request",
    )
    .await;
    // A present credential that is not a b64token is a malformed token (401, so clients
    // refresh); a scheme with no credentials is a malformed request (400).
    for not_b64token in [
        "Bearer a b",
        "Bearer h. p.s",
        "Bearer h==.p.s",
        "Bearer a,b",
    ] {
        s.rejected(
            "/hello_world",
            &[not_b64token],
            401,
            Some(&format!("{INVALID}\"the token is malformed\"")),
            "invalid_token",
        )
        .await;
    }
    s.rejected("/hello_world", &["Bearer"], 400, Some(r#"Bearer realm="api", error="invalid_request", error_description="the Bearer authorization header has no credentials""#), "invalid_request").await;
    s.rejected(
        "/hello_world",
        &["Basic dXNlcjpwYXNz"],
        401,
        Some(r#"Bearer realm="api""#),
        "unauthorized",
    )
    .await;
    s.rejected(
        "/hello_world",
        &["Bearer garbage"],
        401,
        Some(&format!("{INVALID}\"the token is malformed\"")),
        "invalid_token",
    )
    .await;
    let huge = format!("Bearer {}", "a".repeat(20 * 1024));
    s.rejected(
        "/hello_world",
        &[&huge],
        401,
        Some(&format!("{INVALID}\"the token is too large\"")),
        "invalid_token",
    )
    .await;
    // Query tokens are off by default: the request has no credentials.
    let token = s.issuer.mint().scope("read").sign();
    s.rejected(
        &format!("/hello_world?access_token={token}"),
        &[],
        401,
        Some(r#"Bearer realm="api""#),
        "unauthorized",
    )
    .await;
    // Descriptions never echo the token.
    let marker = s
        .issuer
        .mint()
        .scope("read")
        .claim("sub", "SECRET-MARKER")
        .expires_in_secs(-999)
        .sign();
    let (_, www, _, body) = s.get("/hello_world", &[&format!("Bearer {marker}")]).await;
    assert!(
        !www.unwrap().contains("SECRET")
            && !body.contains("SECRET")
            && !body.contains(&marker[..20])
    );
}

#[tokio::test]
async fn requirement_shapes() {
    let s = setup().await;
    let t = |scope: &str| format!("Bearer {}", s.issuer.mint().scope(scope).sign());
    assert_eq!(s.get("/any", &[&t("")]).await.0, 200);
    assert_eq!(s.get("/either", &[&t("write")]).await.0, 200);
    assert_eq!(s.get("/either", &[&t("admin other")]).await.0, 200);
    s.rejected("/either", &[&t("read")], 403, Some(r#"Bearer realm="api", error="insufficient_scope", error_description="the token lacks the required scope", scope="admin write""#), "insufficient_scope").await;
    assert_eq!(s.get("/both", &[&t("write read")]).await.0, 200);
    s.rejected("/both", &[&t("read")], 403, Some(r#"Bearer realm="api", error="insufficient_scope", error_description="the token lacks the required scope", scope="read write""#), "insufficient_scope").await;
    s.rejected(
        "/any",
        &[],
        401,
        Some(r#"Bearer realm="api""#),
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn optional_authentication() {
    let s = setup().await;
    let (status, _, _, body) = s.get("/optional", &[]).await;
    assert_eq!((status.as_u16(), body.as_str()), (200, "hello stranger"));
    let good = format!("Bearer {}", s.issuer.mint().subject("alice").sign());
    let (status, _, _, body) = s.get("/optional", &[&good]).await;
    assert_eq!((status.as_u16(), body.as_str()), (200, "hello alice"));
    // A token that is present must be valid.
    let bad = format!("Bearer {}", s.issuer.mint().expires_in_secs(-3600).sign());
    s.rejected(
        "/optional",
        &[&bad],
        401,
        Some(&format!("{INVALID}\"the token has expired\"")),
        "invalid_token",
    )
    .await;
}

#[tokio::test]
async fn custom_responder_and_unprotected_extractor() {
    let s = setup().await;
    let before = s.hits.get();
    let (status, www, headers, body) = s.get("/custom", &[]).await;
    assert_eq!(
        (status.as_u16(), body.as_str()),
        (401, "custom missing_token")
    );
    assert_eq!(headers.get("x-custom").unwrap(), "yes");
    assert_eq!(www, None, "a custom responder owns the whole response");
    let good = format!("Bearer {}", s.issuer.mint().scope("read").sign());
    assert_eq!(s.get("/custom", &[&good]).await.0, 200);
    // AccessToken on a route no layer protects: fail closed, handler does not run.
    let (status, _, _, body) = s.get("/unprotected", &[&good]).await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(s.hits.get(), before + 1);
}

#[tokio::test]
async fn keys_unavailable_is_503_and_fail_closed() {
    let issuer = TestIssuer::start().await;
    let port = closed_port().await;
    let filter = OAuthFilter::with_jwks(
        &format!("http://127.0.0.1:{port}/jwks"),
        issuer.issuer(),
        "api",
    )
    .unwrap();
    let hits = Hits::default();
    let addr = serve(app(&filter, &hits)).await;
    let s = Setup {
        issuer,
        addr,
        hits,
        http: reqwest::Client::new(),
    };
    let good = format!("Bearer {}", s.issuer.mint().scope("read").sign());
    let before = s.hits.get();
    let (status, www, headers, body) = s.get("/hello_world", &[&good]).await;
    assert_eq!(status, 503);
    assert_eq!(www, None);
    assert_eq!(headers.get("retry-after").unwrap(), "5");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"],
        "temporarily_unavailable"
    );
    assert_eq!(s.hits.get(), before);
    // Optional routes fail closed too when a token is present.
    assert_eq!(s.get("/optional", &[&good]).await.0, 503);
    assert_eq!(s.hits.get(), before);
}

#[tokio::test]
async fn nested_layers_and_a_foreign_filter() {
    let issuer = TestIssuer::start().await;
    let filter = filter_for(&issuer);
    let other_issuer = TestIssuer::start().await;
    let other = filter_for(&other_issuer);
    let app = Router::new()
        .route(
            "/inner",
            get(|t: AccessToken| async move { t.subject().unwrap_or("").to_owned() })
                .route_layer(filter.require(["read"])),
        )
        .layer(filter.layer());
    let foreign = Router::new()
        .route("/x", get(|| async { "ok" }).route_layer(other.layer()))
        .layer(filter.layer());
    let addr = serve(app).await;
    let faddr = serve(foreign).await;
    let http = reqwest::Client::new();
    let get = |a: SocketAddr, p: &'static str, tok: String| {
        let http = http.clone();
        async move {
            http.get(format!("http://{a}{p}"))
                .bearer_auth(tok)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        get(addr, "/inner", issuer.mint().scope("read").sign()).await,
        200
    );
    assert_eq!(
        get(addr, "/inner", issuer.mint().scope("other").sign()).await,
        403
    );
    // A token verified by one filter is not trusted by another filter's layer.
    assert_eq!(get(faddr, "/x", issuer.mint().sign()).await, 401);
}
