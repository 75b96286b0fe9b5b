//! One suite, two frameworks: the same requests against an axum app (tower layer) and an
//! actix-web app (middleware), asserting identical answers: status, `WWW-Authenticate`,
//! `Content-Type`, `Cache-Control`, `Retry-After` and body.

#![cfg(feature = "actix")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::{closed_port, filter_for};
use oauth_filter::actix::OAuthMiddleware;
use oauth_filter::{AccessToken, OAuthFilter, PathRequirements, Rejection, Requirement, Route};
use oauth_filter_testkit::TestIssuer;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Handler runs per framework: a refused request must leave its counter where it was.
static AXUM_RUNS: AtomicUsize = AtomicUsize::new(0);
static ACTIX_RUNS: AtomicUsize = AtomicUsize::new(0);

fn greet(token: &AccessToken) -> String {
    count();
    format!(
        "hello {} [{}]",
        token.subject().unwrap_or("?"),
        token.scopes()
    )
}

fn greet_optional(token: Option<&AccessToken>) -> String {
    match token {
        Some(t) => greet(t),
        None => {
            count();
            String::from("hello stranger")
        }
    }
}

/// Counts a handler run for the framework whose thread runs it (actix runs on its own thread,
/// named by `actix_app`).
fn count() {
    let on_actix = std::thread::current()
        .name()
        .is_some_and(|n| n.starts_with("actix"));
    if on_actix { &ACTIX_RUNS } else { &AXUM_RUNS }.fetch_add(1, Ordering::SeqCst);
}

/// The policy routes (issue 12), the same in both apps.
fn policy_routes() -> Vec<(&'static str, Requirement)> {
    vec![
        (
            "/admin",
            Requirement::all_of(["read"])
                .and(Requirement::claim_contains("realm_access.roles", "admin")),
        ),
        (
            "/either",
            Requirement::all_of(["a"]).or(Requirement::claim_equals("tenant", "acme")),
        ),
        (
            "/stepup",
            Requirement::step_up(
                ["urn:mace:incommon:iap:silver"],
                Some(std::time::Duration::from_secs(300)),
            ),
        ),
        ("/client", Requirement::client_ids(["billing-ui"])),
        (
            "/fresh",
            Requirement::max_token_age(std::time::Duration::from_secs(60)),
        ),
    ]
}

/// Per-route rules (the one route model), the same in both apps, under `/routes`.
fn route_rules() -> PathRequirements {
    PathRequirements::builder(["read"])
        .route(
            Route::prefix("/routes/admin")
                .methods(["GET"])
                .require(["admin"]),
        )
        .route(Route::exact("/routes/health").public())
        .build()
        .unwrap()
}

fn custom_text(r: &Rejection) -> (u16, String) {
    (r.status(), format!("custom {}", r.error().reason_code()))
}

async fn axum_app(filter: OAuthFilter, down: OAuthFilter) -> SocketAddr {
    use axum::routing::get;
    let custom = filter.require(["read"]).with_responder(|r: &Rejection| {
        let (status, body) = custom_text(r);
        http::Response::builder()
            .status(status)
            .body(axum::body::Body::from(body))
            .unwrap()
    });
    let mut app = axum::Router::new();
    for (path, requirement) in policy_routes() {
        app = app.route(
            path,
            get(|t: AccessToken| async move { greet(&t) }).route_layer(filter.require(requirement)),
        );
    }
    let app = app
        .route(
            "/routes/{*rest}",
            axum::routing::any(|t: Option<AccessToken>| async move { greet_optional(t.as_ref()) })
                .layer(filter.require_per_path(route_rules())),
        )
        .route(
            "/hello_world",
            get(|t: AccessToken| async move { greet(&t) }).route_layer(filter.require(["read"])),
        )
        .route(
            "/any",
            get(|t: AccessToken| async move { greet(&t) })
                .route_layer(filter.require([] as [&str; 0])),
        )
        .route(
            "/optional",
            get(|t: Option<AccessToken>| async move { greet_optional(t.as_ref()) })
                .route_layer(filter.optional()),
        )
        .route(
            "/custom",
            get(|t: AccessToken| async move { greet(&t) }).route_layer(custom),
        )
        .route(
            "/down",
            get(|t: AccessToken| async move { greet(&t) }).route_layer(down.require(["read"])),
        )
        .route(
            "/unprotected",
            get(|t: AccessToken| async move { greet(&t) }),
        );
    common::serve(app).await
}

fn actix_app(filter: OAuthFilter, down: OAuthFilter) -> SocketAddr {
    use actix_web::{App, HttpResponse, HttpServer, web};
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new().name(String::from("actix-app"));
    thread
        .spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    let custom = OAuthMiddleware::require(&filter, ["read"]).with_responder(
                        |r: &Rejection| {
                            let (status, body) = custom_text(r);
                            HttpResponse::build(
                                actix_web::http::StatusCode::from_u16(status).unwrap(),
                            )
                            .body(body)
                        },
                    );
                    let mut app = App::new();
                    for (path, requirement) in policy_routes() {
                        app = app.service(
                            web::resource(path)
                                .wrap(OAuthMiddleware::require(&filter, requirement))
                                .to(|t: AccessToken| async move { greet(&t) }),
                        );
                    }
                    app.service(
                        web::resource("/routes/{tail:.*}")
                            .wrap(OAuthMiddleware::require_per_path(&filter, route_rules()))
                            .to(|t: Option<AccessToken>| async move { greet_optional(t.as_ref()) }),
                    )
                    .service(
                        web::resource("/hello_world")
                            .wrap(OAuthMiddleware::require(&filter, ["read"]))
                            .to(|t: AccessToken| async move { greet(&t) }),
                    )
                    .service(
                        web::resource("/any")
                            .wrap(OAuthMiddleware::require(&filter, [] as [&str; 0]))
                            .to(|t: AccessToken| async move { greet(&t) }),
                    )
                    .service(
                        web::resource("/optional")
                            .wrap(OAuthMiddleware::optional(&filter))
                            .to(|t: Option<AccessToken>| async move { greet_optional(t.as_ref()) }),
                    )
                    .service(
                        web::resource("/custom")
                            .wrap(custom)
                            .to(|t: AccessToken| async move { greet(&t) }),
                    )
                    .service(
                        web::resource("/down")
                            .wrap(OAuthMiddleware::require(&down, ["read"]))
                            .to(|t: AccessToken| async move { greet(&t) }),
                    )
                    .service(
                        web::resource("/unprotected").to(|t: AccessToken| async move { greet(&t) }),
                    )
                })
                .workers(1)
                .bind(("127.0.0.1", 0))
                .unwrap();
                tx.send(server.addrs()[0]).unwrap();
                server.run().await.unwrap();
            });
        })
        .unwrap();
    rx.recv().unwrap()
}

#[derive(Debug, PartialEq, Eq)]
struct Answer {
    status: u16,
    www_authenticate: Option<String>,
    content_type: Option<String>,
    cache_control: Option<String>,
    retry_after: Option<String>,
    allow: Option<String>,
    body: String,
}

async fn ask(http: &reqwest::Client, addr: SocketAddr, path: &str, auth: &[String]) -> Answer {
    // "DELETE /x" asks with that method; a bare path is a GET.
    let (method, path) = path.split_once(' ').unwrap_or(("GET", path));
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = http.request(method, format!("http://{addr}{path}"));
    for a in auth {
        req = req.header("authorization", a);
    }
    let resp = req.send().await.unwrap();
    let h = |n: &str| {
        resp.headers()
            .get(n)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let (www_authenticate, content_type, cache_control, retry_after, allow) = (
        h("www-authenticate"),
        h("content-type"),
        h("cache-control"),
        h("retry-after"),
        h("allow"),
    );
    Answer {
        status: resp.status().as_u16(),
        www_authenticate,
        content_type,
        cache_control,
        retry_after,
        allow,
        body: resp.text().await.unwrap(),
    }
}

#[tokio::test]
async fn axum_and_actix_answer_identically() {
    let issuer = TestIssuer::start().await;
    let filter = filter_for(&issuer);
    let port = closed_port().await;
    let down = OAuthFilter::with_jwks(
        &format!("http://127.0.0.1:{port}/jwks"),
        issuer.issuer(),
        "api",
    )
    .unwrap();
    let axum_addr = axum_app(filter.clone(), down.clone()).await;
    let actix_addr = actix_app(filter, down);
    let http = reqwest::Client::new();

    let bearer = |t: String| format!("Bearer {t}");
    let good = bearer(issuer.mint().scope("read").subject("alice").sign());
    let no_scope = bearer(issuer.mint().scope("write").sign());
    let expired = bearer(issuer.mint().scope("read").expires_in_secs(-3600).sign());
    // Refused since the hardening round: a key-bound token and an ID token, both as bearer.
    let bound = bearer(
        issuer
            .mint()
            .scope("read")
            .claim("cnf", serde_json::json!({"jkt": "x"}))
            .sign(),
    );
    let id_token = bearer(issuer.mint().scope("read").claim("nonce", "n").sign());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let roles = |r: serde_json::Value| serde_json::json!({ "roles": r });
    let admin = bearer(
        issuer
            .mint()
            .scope("read")
            .claim("realm_access", roles(serde_json::json!(["admin", "x"])))
            .sign(),
    );
    let reader = bearer(
        issuer
            .mint()
            .scope("read")
            .claim("realm_access", roles(serde_json::json!(["user"])))
            .sign(),
    );
    let role_no_scope = bearer(
        issuer
            .mint()
            .claim("realm_access", roles(serde_json::json!(["admin"])))
            .sign(),
    );
    let acme = bearer(issuer.mint().claim("tenant", "acme").sign());
    let other_tenant = bearer(issuer.mint().claim("tenant", "other").sign());
    let silver = |age: u64| {
        bearer(
            issuer
                .mint()
                .claim("acr", "urn:mace:incommon:iap:silver")
                .claim("auth_time", now - age)
                .sign(),
        )
    };
    let bronze = bearer(
        issuer
            .mint()
            .claim("acr", "urn:mace:incommon:iap:bronze")
            .claim("auth_time", now)
            .sign(),
    );
    let billing = bearer(issuer.mint().claim("client_id", "billing-ui").sign());
    let other_client = bearer(issuer.mint().claim("client_id", "mobile").sign());
    let old = bearer(issuer.mint().claim("iat", now - 600).sign());
    let cases: Vec<(&str, Vec<String>, u16)> = vec![
        ("/hello_world", vec![], 401),
        ("/hello_world", vec![String::from("Bearer not-a-jwt")], 401),
        ("/hello_world", vec![expired.clone()], 401),
        ("/hello_world", vec![no_scope.clone()], 403),
        ("/hello_world", vec![good.clone()], 200),
        ("/hello_world", vec![good.clone(), good.clone()], 400),
        // A credential that is not a b64token is a malformed token (401), a scheme with no
        // credentials a malformed request (400).
        ("/hello_world", vec![String::from("Bearer a b")], 401),
        ("/hello_world", vec![String::from("Bearer h==.p.s")], 401),
        ("/hello_world", vec![String::from("Bearer")], 400),
        ("/hello_world", vec![bound.clone()], 401),
        ("/hello_world", vec![id_token.clone()], 401),
        (
            "/hello_world",
            vec![String::from("Basic dXNlcjpwYXNz")],
            401,
        ),
        ("/any", vec![no_scope.clone()], 200),
        // The route model: public routes, 405 with Allow, the default, invalid paths.
        ("/routes/health", vec![], 200),
        ("/routes/admin/x", vec![good.clone()], 403),
        ("/routes/admin/x", vec![], 401),
        ("DELETE /routes/admin/x", vec![good.clone()], 405),
        ("/routes/other", vec![good.clone()], 200),
        ("/routes/other", vec![no_scope.clone()], 403),
        // Policy beyond scopes: claims, composition, step-up, clients, token age.
        ("/admin", vec![admin.clone()], 200),
        ("/admin", vec![reader.clone()], 403),
        ("/admin", vec![role_no_scope.clone()], 403),
        ("/either", vec![acme.clone()], 200),
        (
            "/either",
            vec![bearer(issuer.mint().scope("a").sign())],
            200,
        ),
        ("/either", vec![other_tenant.clone()], 403),
        ("/stepup", vec![silver(10)], 200),
        ("/stepup", vec![silver(3600)], 401),
        ("/stepup", vec![bronze.clone()], 401),
        ("/client", vec![billing.clone()], 200),
        ("/client", vec![other_client.clone()], 403),
        ("/fresh", vec![good.clone()], 200),
        ("/fresh", vec![old.clone()], 403),
        ("/optional", vec![], 200),
        ("/optional", vec![good.clone()], 200),
        ("/optional", vec![expired.clone()], 401),
        ("/custom", vec![], 401),
        ("/custom", vec![no_scope.clone()], 403),
        ("/custom", vec![good.clone()], 200),
        ("/down", vec![good.clone()], 503),
        // A forgotten middleware fails closed in both.
        ("/unprotected", vec![good.clone()], 500),
    ];
    let challenge = |description: &str| {
        format!(r#"Bearer realm="api", error="invalid_token", error_description="{description}""#)
    };
    let expected_challenge = [
        (
            bound,
            challenge("the token is bound to a key and cannot be used as a bearer token"),
        ),
        (id_token, challenge("the token is not an access token")),
        (
            reader,
            String::from(
                r#"Bearer realm="api", error="insufficient_scope", error_description="the token does not grant the privileges the route requires""#,
            ),
        ),
        (
            role_no_scope,
            String::from(
                r#"Bearer realm="api", error="insufficient_scope", error_description="the token lacks the required scope", scope="read""#,
            ),
        ),
        (
            other_tenant,
            String::from(
                r#"Bearer realm="api", error="insufficient_scope", error_description="the token lacks the required scope", scope="a""#,
            ),
        ),
        (
            bronze,
            String::from(
                r#"Bearer realm="api", error="insufficient_user_authentication", error_description="a stronger or more recent user authentication is required", acr_values="urn:mace:incommon:iap:silver", max_age="300""#,
            ),
        ),
        (
            old,
            String::from(
                r#"Bearer realm="api", error="insufficient_scope", error_description="the token does not grant the privileges the route requires""#,
            ),
        ),
    ];
    for (path, auth, status) in cases {
        let runs = (
            AXUM_RUNS.load(Ordering::SeqCst),
            ACTIX_RUNS.load(Ordering::SeqCst),
        );
        let a = ask(&http, axum_addr, path, &auth).await;
        let b = ask(&http, actix_addr, path, &auth).await;
        assert_eq!(a.status, status, "axum {path} {auth:?}: {a:?}");
        assert_eq!(b.status, status, "actix {path} {auth:?}: {b:?}");
        // The handler ran exactly once per framework when let through, never when refused.
        let ran = usize::from(status == 200);
        assert_eq!(
            (
                AXUM_RUNS.load(Ordering::SeqCst),
                ACTIX_RUNS.load(Ordering::SeqCst)
            ),
            (runs.0 + ran, runs.1 + ran),
            "handler runs for {path} {auth:?}"
        );
        // Handler answers and custom responders: each framework sets its own Content-Type for a
        // String body, so compare status and body; filter answers must match in every header.
        if let Some((_, www)) = expected_challenge.iter().find(|(t, _)| auth.contains(t)) {
            assert_eq!(a.www_authenticate.as_ref(), Some(www), "{path} {auth:?}");
        }
        if a.status == 200 || path == "/custom" {
            assert_eq!((a.status, &a.body), (b.status, &b.body), "{path}");
        } else {
            assert_eq!(a, b, "{path} {auth:?}");
        }
    }
}
