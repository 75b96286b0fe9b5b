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

/// A gateway trusting `iss` for `audience` on `/orders` (scope `read`), with `more` appended.
fn gateway_config(up: std::net::SocketAddr, iss: &str, audience: &str, more: &str) -> String {
    format!(
        r#"
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
[upstream]
url = "http://{up}"
[[issuers]]
issuer = "{iss}"
audience = "{audience}"
[[routes]]
prefix = "/orders"
scopes = ["read"]
{more}
"#
    )
}

/// RFC 8705 end to end: oidc-provider binds a token to the client certificate of the token
/// request's TLS connection (it computes `cnf.x5t#S256` itself); the gateway, over TLS, lets
/// it through on a connection with the same certificate and refuses it with another or none.
#[tokio::test(flavor = "multi_thread")]
async fn certificate_bound_tokens_from_the_real_authorization_server() {
    use oauth_filter_testkit::MtlsClient;
    let dir = common::scratch_dir();
    // One localhost certificate for the provider's and the gateway's TLS listeners.
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (cert_file, key_file) = (dir.join("server.pem"), dir.join("server-key.pem"));
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    let trust = reqwest::Certificate::from_der(cert.der()).unwrap();
    let provider = common::start_provider_with(&[
        ("MTLS_CERT_FILE", &cert_file),
        ("MTLS_KEY_FILE", &key_file),
    ])
    .await;
    let origin = provider.mtls.clone().expect("the provider's mTLS listener");
    let port: u16 = origin.rsplit(':').next().unwrap().parse().unwrap();
    let client = |id: Option<&MtlsClient>, port: u16| {
        let mut b = reqwest::Client::builder()
            .tls_certs_only([trust.clone()])
            .resolve("localhost", ([127, 0, 0, 1], port).into());
        if let Some(id) = id {
            b = b.identity(reqwest::Identity::from_pem(id.identity_pem().as_bytes()).unwrap());
        }
        b.build().unwrap()
    };
    let alice = MtlsClient::generate("alice").unwrap();
    let answer: Value = client(Some(&alice), port)
        .post(format!("{origin}/token"))
        .basic_auth("mtls-client", Some("mtls-client-secret"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "read"),
            ("resource", "https://api.example/mtls"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = answer["access_token"].as_str().expect("a token").to_owned();
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["cnf"]["x5t#S256"], alice.thumbprint(), "{claims}");

    let (up, state) = upstream().await;
    let tls = format!(
        "[server.tls]\ncert_file = {cert_file:?}\nkey_file = {key_file:?}\nclient_certificates = \"optional\"\n"
    );
    let gw = Gateway::start(
        &gateway_config(up, &provider.issuer, "https://api.example/mtls", &tls),
        &[],
    )
    .await;
    let call = |id: Option<&MtlsClient>| {
        let req = client(id, gw.addr.port())
            .get(format!("https://localhost:{}/orders/1", gw.addr.port()))
            .bearer_auth(&token);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(call(Some(&alice)).await, 200);
    let mallory = MtlsClient::generate("mallory").unwrap();
    assert_eq!(call(Some(&mallory)).await, 401);
    assert_eq!(call(None).await, 401);
    assert_eq!(state.requests.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// RFC 9449 end to end through the gateway: a DPoP-bound token from oidc-provider's token
/// endpoint, then the gateway with a fresh proof (200), the same proof again (401) and the
/// Bearer scheme (401).
#[tokio::test(flavor = "multi_thread")]
async fn dpop_bound_tokens_from_the_real_authorization_server_through_the_gateway() {
    use oauth_filter_testkit::{DpopClient, SigningAlg};
    let provider = start_provider().await;
    let http = reqwest::Client::new();
    let client = DpopClient::generate(SigningAlg::ES256).unwrap();
    let token_url = format!("{}/token", provider.issuer);
    let proof = client
        .proof_builder("POST", &token_url, "")
        .without_claim("ath")
        .sign();
    let answer: Value = http
        .post(&token_url)
        .basic_auth("interop-client", Some("interop-client-secret"))
        .header("dpop", proof)
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "read"),
            ("resource", "https://api.example/dpop"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["token_type"], "DPoP", "{answer}");
    let token = answer["access_token"].as_str().unwrap().to_owned();
    let (up, state) = upstream().await;
    let gw = Gateway::start(
        &gateway_config(
            up,
            &provider.issuer,
            "https://api.example/dpop",
            "[dpop]\nbase_url = \"https://api.example\"\n",
        ),
        &[],
    )
    .await;
    let send = |scheme: &str, proof: Option<String>| {
        let mut req = http
            .get(gw.url("/orders/1"))
            .header("authorization", format!("{scheme} {token}"));
        if let Some(p) = proof {
            req = req.header("dpop", p);
        }
        async move { req.send().await.unwrap().status().as_u16() }
    };
    let fresh = client.proof("GET", "https://api.example/orders/1", &token);
    assert_eq!(send("DPoP", Some(fresh.clone())).await, 200);
    assert_eq!(send("DPoP", Some(fresh)).await, 401, "replayed");
    assert_eq!(send("Bearer", None).await, 401);
    assert_eq!(state.requests.load(std::sync::atomic::Ordering::SeqCst), 1);
}
