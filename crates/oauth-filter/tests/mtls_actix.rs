//! Certificate-bound tokens (RFC 8705) through actix-web over real TLS on loopback: its rustls
//! listener, [`client_certificate_on_connect`] keeping the client certificate, the middleware
//! checking the binding.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::jwt_issuer;
use oauth_filter::actix::{OAuthMiddleware, client_certificate_on_connect};
use oauth_filter::mtls::AnyClientCertificate;
use oauth_filter::{AccessToken, AuthError, OAuthFilter};
use oauth_filter_testkit::{MtlsClient, TestIssuer};
use std::net::SocketAddr;

fn actix_tls_app(filter: OAuthFilter) -> (SocketAddr, reqwest::Certificate) {
    use actix_web::{App, HttpServer, web};
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let config = rustls::ServerConfig::builder()
        .with_client_cert_verifier(AnyClientCertificate::optional())
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(move || {
                App::new().service(
                    web::resource("/orders")
                        .wrap(OAuthMiddleware::require(&filter, ["read"]))
                        .to(|t: AccessToken| async move {
                            format!("hello {}", t.subject().unwrap_or("?"))
                        }),
                )
            })
            .workers(1)
            .on_connect(client_certificate_on_connect)
            .bind_rustls_0_23(("127.0.0.1", 0), config)
            .unwrap();
            tx.send(server.addrs()[0]).unwrap();
            server.run().await.unwrap();
        });
    });
    (
        rx.recv().unwrap(),
        reqwest::Certificate::from_der(cert.der()).unwrap(),
    )
}

#[tokio::test]
async fn the_actix_middleware_checks_the_connections_certificate() {
    let issuer = TestIssuer::start().await;
    let filter = OAuthFilter::builder()
        .jwt_issuer(jwt_issuer(&issuer))
        .build()
        .unwrap();
    let (addr, server_cert) = actix_tls_app(filter);
    let alice = MtlsClient::generate("alice").unwrap();
    let mallory = MtlsClient::generate("mallory").unwrap();
    let token = issuer
        .mint()
        .scope("read")
        .subject("alice")
        .claim("cnf", alice.cnf())
        .sign();
    let get = |identity: Option<&MtlsClient>| {
        let mut b = reqwest::Client::builder()
            .tls_certs_only([server_cert.clone()])
            .resolve("localhost", addr);
        if let Some(id) = identity {
            b = b.identity(reqwest::Identity::from_pem(id.identity_pem().as_bytes()).unwrap());
        }
        let req = b
            .build()
            .unwrap()
            .get(format!("https://localhost:{}/orders", addr.port()))
            .bearer_auth(&token);
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    assert_eq!(get(Some(&alice)).await, (200, "hello alice".to_owned()));
    for (identity, refusal) in [
        (Some(&mallory), AuthError::CertificateMismatch),
        (None, AuthError::CertificateMissing),
    ] {
        let (status, body) = get(identity).await;
        assert_eq!(status, 401);
        assert!(body.contains(refusal.description()), "{body}");
    }
}
