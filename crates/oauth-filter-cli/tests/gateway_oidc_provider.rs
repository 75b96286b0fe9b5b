//! The gateway in front of an upstream, trusting a real authorization server: oidc-provider 8
//! (npm), started by this test. JWT access tokens (discovery, strict RFC 9068) and opaque tokens
//! (introspection endpoint by discovery, the API's own client credentials, signed RFC 9701
//! responses forwarded to the upstream as phantom tokens).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::{Gateway, provider_token, start_provider, upstream};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn real_authorization_server_through_the_gateway() {
    let provider = start_provider().await;
    let (up, state) = upstream().await;
    let upstream_calls = || state.requests.load(std::sync::atomic::Ordering::SeqCst);
    let iss = &provider.issuer;
    let config = format!(
        r#"
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
[upstream]
url = "http://{up}"
[[issuers]]
issuer = "{iss}"
audience = "https://api.example/rs256"
strict_rfc9068 = true
[introspection]
issuer = "{iss}"
audience = "https://api.example/opaque"
client_id = "resource-server"
client_secret = "resource-server-secret"
jwt_response = true
[[routes]]
prefix = "/reports"
methods = ["GET"]
scopes = ["read"]
[[routes]]
prefix = "/reports"
methods = ["POST"]
scopes = ["write"]
"#
    );
    let gw = Gateway::start(&config, &[]).await;
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, token: String| {
        let http = http.clone();
        let url = gw.url("/reports/1");
        async move {
            let r = http
                .request(method, url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body = r.text().await.unwrap();
            (status, body)
        }
    };

    let jwt = provider_token(iss, "https://api.example/rs256", "read").await;
    assert_eq!(jwt.split('.').count(), 3);
    let (status, body) = call(reqwest::Method::GET, jwt.clone()).await;
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["headers"]["x-auth-client-id"], "interop-client");
    assert_eq!(body["headers"]["x-auth-scope"], "read");
    assert_eq!(upstream_calls(), 1);
    assert_eq!(call(reqwest::Method::POST, jwt).await.0, 403);
    // A token for another resource server: wrong audience.
    let other = provider_token(iss, "https://api.example/other", "read").await;
    assert_eq!(call(reqwest::Method::GET, other).await.0, 401);
    assert_eq!(
        upstream_calls(),
        1,
        "a refused request reached the upstream"
    );

    let opaque = provider_token(iss, "https://api.example/opaque", "read write").await;
    assert_eq!(opaque.split('.').count(), 1, "an opaque token");
    let (status, body) = call(reqwest::Method::POST, opaque.clone()).await;
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["headers"]["x-auth-client-id"], "interop-client");
    assert_eq!(upstream_calls(), 2);
    assert_eq!(
        call(reqwest::Method::GET, "made-up-opaque-token".into())
            .await
            .0,
        401
    );
    assert_eq!(
        upstream_calls(),
        2,
        "a refused request reached the upstream"
    );

    let ready = reqwest::get(format!("http://{}/readyz", gw.admin))
        .await
        .unwrap();
    let status = ready.status();
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(status, 200, "{ready}");
    let m = gw.metrics().await;
    assert!(
        common::metric(
            &m,
            "oauth_filter_introspection_calls_total{outcome=\"active\"}"
        ) >= 1.0,
        "{m}"
    );
}
