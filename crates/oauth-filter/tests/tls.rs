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
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::{TlsAcceptor, rustls};

struct Pki {
    ca_pem: String,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    /// A client certificate from the same CA, with its key, as one PEM.
    client_pem: String,
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
    let client_key = KeyPair::generate().unwrap();
    let client = CertificateParams::new(vec!["resource-server".to_owned()])
        .unwrap()
        .signed_by(&client_key, &ca)
        .unwrap();
    Pki {
        ca_pem: ca.pem(),
        chain: vec![leaf.der().clone()],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        client_pem: format!("{}{}", client.pem(), client_key.serialize_pem()),
    }
}

/// Serves `jwks` over HTTPS on a free loopback port; returns the JWKS URL.
async fn https_jwks(pki: &Pki, jwks: serde_json::Value) -> String {
    serve_jwks(pki, jwks, false).await
}

/// Like [`https_jwks`]; with `mutual`, clients must present a certificate from `pki`'s CA.
async fn serve_jwks(pki: &Pki, jwks: serde_json::Value, mutual: bool) -> String {
    let builder = rustls::ServerConfig::builder();
    let builder = if mutual {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(pki.ca_pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
            .build()
            .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let config = builder
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
        HttpClientConfig::default()
            .dangerous()
            .accept_invalid_certs(true),
    );
    assert!(dangerous.verify(&token).await.is_ok());
}

/// Mutual TLS: a key server that demands a client certificate gets one from
/// `client_identity_pem`; without it, or with a certificate from another CA, keys are unavailable.
#[tokio::test]
async fn client_certificates_for_mutual_tls() {
    let issuer = TestIssuer::start().await;
    let ours = pki("mutual TLS CA");
    let url = serve_jwks(&ours, issuer.jwks(), true).await;
    let token = issuer.mint().sign();
    let trusting = || HttpClientConfig::default().ca_certificates_pem(ours.ca_pem.clone());

    let without = filter(&issuer, &url, trusting());
    assert_eq!(
        without.verify(&token).await.unwrap_err(),
        AuthError::KeysUnavailable
    );
    let with = filter(
        &issuer,
        &url,
        trusting().client_identity_pem(ours.client_pem.clone()),
    );
    assert!(with.verify(&token).await.is_ok());
    let stranger = pki("a CA the server does not trust");
    let foreign = filter(
        &issuer,
        &url,
        trusting().client_identity_pem(stranger.client_pem),
    );
    assert_eq!(
        foreign.verify(&token).await.unwrap_err(),
        AuthError::KeysUnavailable
    );

    // Not an identity: a configuration error naming the setting.
    let e = OAuthFilter::builder()
        .http(HttpClientConfig::default().client_identity_pem("no PEM here"))
        .jwt_issuer(JwtIssuer::new(issuer.issuer()).audience("api"))
        .build()
        .unwrap_err();
    assert_eq!(e.key(), "http.client_identity_pem");
    // The identity never shows in Debug output.
    let debug = format!(
        "{:?}",
        trusting().client_identity_pem(ours.client_pem.clone())
    );
    assert!(
        !debug.contains("PRIVATE KEY") && debug.contains("client_certificate: true"),
        "{debug}"
    );
}
