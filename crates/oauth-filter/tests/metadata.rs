//! RFC 9728 protected-resource metadata from the library over real HTTP on loopback: the
//! document (checked against the RFC's member list), the `resource_metadata` attribute of 401
//! and 403 challenges, configuration errors; and CORS with tower-http's `CorsLayer` outside the
//! filter (preflights pass without a token, refusals expose `WWW-Authenticate`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use axum::Router;
use axum::routing::get;
use common::{jwt_issuer, serve};
use oauth_filter::{Dpop, JwtIssuer, OAuthFilter, PathRequirements, ResourceMetadata, Route};
use oauth_filter_testkit::TestIssuer;
use serde_json::Value;
use std::net::SocketAddr;

const RESOURCE: &str = "https://api.example/mcp";
const METADATA_URL: &str = "https://api.example/.well-known/oauth-protected-resource/mcp";

/// RFC 9728 §2 members and their JSON types ("string", "array", "bool").
const MEMBERS: [(&str, &str); 15] = [
    ("resource", "string"),
    ("authorization_servers", "array"),
    ("jwks_uri", "string"),
    ("scopes_supported", "array"),
    ("bearer_methods_supported", "array"),
    ("resource_signing_alg_values_supported", "array"),
    ("resource_name", "string"),
    ("resource_documentation", "string"),
    ("resource_policy_uri", "string"),
    ("resource_tos_uri", "string"),
    ("tls_client_certificate_bound_access_tokens", "bool"),
    ("authorization_details_types_supported", "array"),
    ("dpop_signing_alg_values_supported", "array"),
    ("dpop_bound_access_tokens_required", "bool"),
    ("signed_metadata", "string"),
];

/// Every member is one of RFC 9728's, of its type; `resource` is required.
fn check_members(doc: &Value) {
    let obj = doc.as_object().expect("a JSON object");
    assert!(obj.contains_key("resource"), "{doc}");
    for (name, value) in obj {
        let (_, kind) = MEMBERS
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("`{name}` is not an RFC 9728 member"));
        let ok = match *kind {
            "string" => value.is_string(),
            "bool" => value.is_boolean(),
            _ => value
                .as_array()
                .is_some_and(|a| a.iter().all(Value::is_string)),
        };
        assert!(ok, "`{name}` should be a {kind}: {value}");
    }
}

fn rules() -> PathRequirements {
    PathRequirements::not_found_builder()
        .route(Route::prefix("/mcp").require(["mcp:read"]))
        .route(
            Route::prefix("/admin")
                .require(oauth_filter::Requirement::any_of(["admin", "mcp:write"])),
        )
        .build()
        .unwrap()
}

async fn app(filter: &OAuthFilter, cors_outside: bool) -> SocketAddr {
    let m = filter.resource_metadata().unwrap();
    let protected = Router::new()
        .route(
            "/mcp",
            get(|| async { "tools" }).post(|| async { "called" }),
        )
        .layer(filter.require_per_path(rules()));
    let cors = tower_http::cors::CorsLayer::new()
        .allow_origin(http::HeaderValue::from_static("https://app.example"))
        .allow_methods([http::Method::GET, http::Method::POST])
        .allow_headers([http::header::AUTHORIZATION, http::header::CONTENT_TYPE])
        .expose_headers([http::header::WWW_AUTHENTICATE]);
    let app = if cors_outside {
        // CORS outside the filter: preflights never meet it.
        protected.layer(cors)
    } else {
        Router::new()
            .route(
                "/mcp",
                get(|| async { "tools" }).post(|| async { "called" }),
            )
            .layer(cors)
            .layer(filter.require_per_path(rules()))
    };
    let app = app.route_service(
        m.path(),
        filter
            .resource_metadata_service::<axum::body::Body>()
            .unwrap(),
    );
    serve(app).await
}

fn filter(issuer: &TestIssuer, metadata: ResourceMetadata) -> OAuthFilter {
    OAuthFilter::builder()
        .jwt_issuer(jwt_issuer(issuer))
        .dpop(Dpop::new("https://api.example"))
        .resource_metadata(metadata)
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_metadata_document_and_the_challenges_that_point_to_it() {
    let issuer = TestIssuer::start().await;
    let rules = rules();
    let f = filter(
        &issuer,
        ResourceMetadata::new(RESOURCE)
            .scopes_supported(rules.scopes())
            .resource_name("Orders MCP")
            .resource_documentation("https://api.example/docs"),
    );
    let addr = app(&f, true).await;
    let http = reqwest::Client::new();

    let r = http
        .get(format!(
            "http://{addr}/.well-known/oauth-protected-resource/mcp"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let doc: Value = r.json().await.unwrap();
    check_members(&doc);
    assert_eq!(doc["resource"], RESOURCE);
    assert_eq!(
        doc["authorization_servers"],
        serde_json::json!([issuer.issuer()])
    );
    assert_eq!(
        doc["scopes_supported"],
        serde_json::json!(["admin", "mcp:read", "mcp:write"])
    );
    assert_eq!(
        doc["bearer_methods_supported"],
        serde_json::json!(["header"])
    );
    assert_eq!(
        doc["dpop_signing_alg_values_supported"],
        serde_json::json!(["ES256", "PS256", "EdDSA"])
    );
    assert_eq!(doc["dpop_bound_access_tokens_required"], false);
    assert_eq!(doc["resource_name"], "Orders MCP");
    let other = http
        .post(format!(
            "http://{addr}/.well-known/oauth-protected-resource/mcp"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 405);

    // 401 and 403 point to the metadata; 403 names exactly the route's scopes.
    let r = http.get(format!("http://{addr}/mcp")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(
        challenge.starts_with(&format!(
            r#"Bearer realm="api", resource_metadata="{METADATA_URL}""#
        )),
        "{challenge}"
    );
    assert!(
        challenge.contains(&format!(
            r#"DPoP algs="ES256 PS256 EdDSA", resource_metadata="{METADATA_URL}""#
        )),
        "{challenge}"
    );
    let weak = issuer.mint().scope("other").sign();
    let r = http
        .get(format!("http://{addr}/mcp"))
        .bearer_auth(&weak)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.contains(r#"scope="mcp:read""#), "{challenge}");
    assert!(
        challenge.contains(&format!(r#"resource_metadata="{METADATA_URL}""#)),
        "{challenge}"
    );
    let ok = issuer.mint().scope("mcp:read").sign();
    let r = http
        .get(format!("http://{addr}/mcp"))
        .bearer_auth(&ok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn cors_outside_the_filter_lets_preflights_through_and_exposes_the_challenge() {
    let issuer = TestIssuer::start().await;
    let f = filter(&issuer, ResourceMetadata::new(RESOURCE));
    let http = reqwest::Client::new();
    let preflight = |addr: SocketAddr| {
        http.request(reqwest::Method::OPTIONS, format!("http://{addr}/mcp"))
            .header("origin", "https://app.example")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization")
            .send()
    };

    let good = app(&f, true).await;
    let r = preflight(good).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let r = http
        .post(format!("http://{good}/mcp"))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(
        r.headers()["access-control-expose-headers"],
        "www-authenticate"
    );
    assert!(r.headers().contains_key("www-authenticate"));

    // The other order: the filter meets the preflight, which carries no token.
    let wrong = app(&f, false).await;
    assert_eq!(preflight(wrong).await.unwrap().status(), 401);
}

#[test]
fn the_metadata_url_follows_the_resource_and_bad_settings_are_named() {
    let base = || {
        OAuthFilter::builder().jwt_issuer(
            JwtIssuer::new("https://idp.example")
                .audience("api")
                .jwks_url("https://idp.example/jwks"),
        )
    };
    let url = |resource: &str| {
        base()
            .resource_metadata(ResourceMetadata::new(resource))
            .build()
            .unwrap()
            .resource_metadata()
            .unwrap()
            .url()
            .to_owned()
    };
    assert_eq!(
        url("https://api.example"),
        "https://api.example/.well-known/oauth-protected-resource"
    );
    assert_eq!(
        url("https://api.example/"),
        "https://api.example/.well-known/oauth-protected-resource"
    );
    assert_eq!(
        url("https://api.example:8443/a/b"),
        "https://api.example:8443/.well-known/oauth-protected-resource/a/b"
    );
    assert_eq!(
        url("http://127.0.0.1:8080/mcp"),
        "http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp"
    );
    for (m, key, why) in [
        (
            ResourceMetadata::new("http://api.example"),
            "resource_metadata.resource",
            "https",
        ),
        (
            ResourceMetadata::new("api.example"),
            "resource_metadata.resource",
            "absolute URL",
        ),
        (
            ResourceMetadata::new("https://api.example/?a=1"),
            "resource_metadata.resource",
            "no query",
        ),
        (
            ResourceMetadata::new("https://api.example/#x"),
            "resource_metadata.resource",
            "no query or fragment",
        ),
        (
            ResourceMetadata::new("https://api.example").scopes_supported(["a b"]),
            "resource_metadata.scopes_supported[0]",
            "scope-token",
        ),
        (
            ResourceMetadata::new("https://api.example")
                .authorization_servers(Vec::<String>::new()),
            "resource_metadata.authorization_servers",
            "no authorization server",
        ),
        (
            ResourceMetadata::new("https://api.example").jwks_uri("ftp://x"),
            "resource_metadata.jwks_uri",
            "https",
        ),
    ] {
        let e = base().resource_metadata(m).build().unwrap_err();
        assert_eq!(e.key(), key, "{e}");
        assert!(e.reason().contains(why), "{e}");
    }
}
