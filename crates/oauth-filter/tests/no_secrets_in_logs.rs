//! No token, signature or shared secret ever reaches the logs, at any level, across every
//! rejection path and the happy path.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::{closed_port, serve};
use oauth_filter::{Algorithm, Introspection, OAuthFilter};
use oauth_filter_testkit::{
    Fault, INTROSPECTION_CLIENT_ID, INTROSPECTION_CLIENT_SECRET, TestIssuer,
};
use std::io::Write;
use std::sync::{Arc, Mutex};
use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Self;
    fn make_writer(&'a self) -> Self {
        self.clone()
    }
}

#[tokio::test]
async fn logs_never_contain_tokens_or_secrets() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(captured.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let issuer = TestIssuer::start().await;
    let secret = b"SHARED-SECRET-0123456789abcdefghijklmnop".to_vec();
    let filter = OAuthFilter::builder()
        .jwt_issuer(common::jwt_issuer(&issuer).dangerous().hmac_secret(
            Algorithm::HS256,
            Some("hs"),
            secret.clone(),
        ))
        .build()
        .unwrap();
    let down = OAuthFilter::with_jwks(
        &format!("http://127.0.0.1:{}/jwks", closed_port().await),
        issuer.issuer(),
        "api",
    )
    .unwrap();
    let app = axum::Router::new()
        .route(
            "/r",
            axum::routing::get(|| async { "ok" }).route_layer(filter.require(["read"])),
        )
        .route(
            "/d",
            axum::routing::get(|| async { "ok" }).route_layer(down.require(["read"])),
        );
    let addr = serve(app).await;

    let tokens = vec![
        issuer.mint().scope("read").sign(),
        issuer.mint().scope("nothing").sign(),
        issuer.mint().expires_in_secs(-999).sign(),
        issuer.mint().audience("other").sign(),
        issuer.mint().header("kid", "unknown").sign(),
        issuer
            .mint()
            .header("alg", "none")
            .sign_with(|_| vec![1, 2, 3]),
        issuer
            .mint()
            .header("alg", "HS256")
            .header("kid", "hs")
            .sign_hmac(&secret),
        issuer
            .mint()
            .header("alg", "HS256")
            .header("kid", "hs")
            .sign_hmac(b"wrong-secret-wrong-secret-wrong-secret"),
        issuer.mint().claim("exp", "soon").sign(),
        format!("{}x", issuer.mint().sign()),
    ];
    // Opaque tokens through introspection, authenticated with the client secret.
    let opaque = OAuthFilter::builder()
        .introspection(Introspection::new(
            issuer.introspection_url(),
            INTROSPECTION_CLIENT_ID,
            INTROSPECTION_CLIENT_SECRET,
        ))
        .build()
        .unwrap();
    let active = issuer.opaque().scope("read").issue();
    let revoked = issuer.opaque().issue();
    issuer.revoke(&revoked);
    assert!(opaque.verify(&active).await.is_ok());
    assert!(opaque.verify(&revoked).await.is_err());
    issuer.set_fault(Fault::Status(500));
    assert!(opaque.verify(&issuer.opaque().issue()).await.is_err());
    issuer.set_fault(Fault::None);
    let http = reqwest::Client::new();
    for t in &tokens {
        for path in ["/r", "/d"] {
            let _ = http
                .get(format!("http://{addr}{path}"))
                .bearer_auth(t)
                .send()
                .await
                .unwrap();
        }
    }
    issuer.set_fault(Fault::Garbage);
    let _ = http
        .get(format!("http://{addr}/r"))
        .bearer_auth(&tokens[4])
        .send()
        .await
        .unwrap();

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("request rejected"),
        "the test must see the rejection logs: {logs}"
    );
    for t in &tokens {
        for part in t.split('.').filter(|p| p.len() >= 16) {
            assert!(!logs.contains(part), "a token segment reached the logs");
        }
    }
    assert!(!logs.contains("SHARED-SECRET"));
    for t in [&active, &revoked] {
        assert!(
            !logs.contains(t.as_str()),
            "an opaque token reached the logs"
        );
    }
    use base64::Engine;
    let form_encoded: String =
        url::form_urlencoded::byte_serialize(INTROSPECTION_CLIENT_SECRET.as_bytes()).collect();
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{INTROSPECTION_CLIENT_ID}:{form_encoded}"));
    for secret in [
        INTROSPECTION_CLIENT_SECRET,
        form_encoded.as_str(),
        basic.as_str(),
    ] {
        assert!(!logs.contains(secret), "the client secret reached the logs");
    }
    assert!(
        logs.contains("introspection endpoint answered with an error status"),
        "the test must see introspection logs"
    );
}
