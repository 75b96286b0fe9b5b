//! TLS to the authorization server: certificates are verified (rustls on aws-lc-rs); a custom CA
//! bundle is honoured; the explicitly dangerous opt-out accepts an unknown certificate.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use bytes::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use oauth_filter::{AuthError, HttpClientConfig, JwtIssuer, OAuthFilter};
use oauth_filter_testkit::TestIssuer;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use std::convert::Infallible;
use std::sync::Arc;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::{TlsAcceptor, rustls};

struct Pki {
    ca_pem: String,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

fn pki(name: &str) -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, name);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    Pki {
        ca_pem: ca.pem(),
        chain: vec![leaf.der().clone()],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
    }
}

/// Serves `jwks` over HTTPS on a free loopback port; returns the JWKS URL.
async fn https_jwks(pki: &Pki, jwks: serde_json::Value) -> String {
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(pki.chain.clone(), pki.key.clone_key())
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let body = Bytes::from(jwks.to_string());
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            let body = body.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = service_fn(move |_req| {
                    let body = body.clone();
                    async move {
                        Ok::<_, Infallible>(hyper::Response::new(http_body_util::Full::new(body)))
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    format!("https://localhost:{port}/jwks")
}

fn filter(issuer: &TestIssuer, jwks_url: &str, http: HttpClientConfig) -> OAuthFilter {
    OAuthFilter::builder()
        .http(http)
        .jwt_issuer(
            JwtIssuer::new(issuer.issuer())
                .audience("api")
                .jwks_url(jwks_url),
        )
        .build()
        .unwrap()
}

#[tokio::test]
async fn certificates_are_verified() {
    let issuer = TestIssuer::start().await;
    let ours = pki("our test CA");
    let url = https_jwks(&ours, issuer.jwks()).await;
    let token = issuer.mint().sign();

    // Unknown CA (system roots only): refused, fail closed.
    let default = filter(&issuer, &url, HttpClientConfig::default());
    assert_eq!(
        default.verify(&token).await.unwrap_err(),
        AuthError::KeysUnavailable
    );

    // Our CA bundle: accepted.
    let trusted = filter(
        &issuer,
        &url,
        HttpClientConfig::default().ca_certificates_pem(ours.ca_pem.clone()),
    );
    assert!(trusted.verify(&token).await.is_ok());

    // Another CA's bundle: refused.
    let other = pki("another CA");
    let wrong = filter(
        &issuer,
        &url,
        HttpClientConfig::default().ca_certificates_pem(other.ca_pem),
    );
    assert_eq!(
        wrong.verify(&token).await.unwrap_err(),
        AuthError::KeysUnavailable
    );

    // The dangerous opt-out: any certificate.
    let dangerous = filter(
        &issuer,
        &url,
        HttpClientConfig::default().dangerous_accept_invalid_certs(true),
    );
    assert!(dangerous.verify(&token).await.is_ok());
}
