//! Certificate-bound tokens (RFC 8705) over real TLS on loopback: axum behind a rustls
//! acceptor that puts the connection's client certificate in the request extensions, as the
//! `axum_mtls` example does; reqwest clients with and without certificates.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use axum::Router;
use axum::http::Response;
use axum::routing::get;
use common::{introspection_for, jwt_issuer};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use oauth_filter::mtls::AnyClientCertificate;
use oauth_filter::{AccessToken, ClientCertificate, Dpop, OAuthFilter, Rejection};
use oauth_filter_testkit::{MtlsClient, TestCa, TestIssuer};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::server::danger::ClientCertVerifier;
use tokio_rustls::{TlsAcceptor, rustls};
use tower::ServiceExt;

struct Api {
    addr: SocketAddr,
    server_cert: reqwest::Certificate,
}

/// `filter` requiring `read` over TLS with `verifier`, answering refusals with their reason.
async fn serve(filter: OAuthFilter, verifier: Arc<dyn ClientCertVerifier>) -> Api {
    let layer = filter.require(["read"]).with_responder(|r: &Rejection| {
        let mut b = Response::builder().status(r.status());
        for (name, value) in r.challenge_headers() {
            b = b.header(name, value);
        }
        b.body(axum::body::Body::from(r.error().reason_code()))
            .unwrap()
    });
    let app = Router::new().route(
        "/orders",
        get(|t: AccessToken| async move { format!("hello {}", t.subject().unwrap_or("?")) })
            .route_layer(layer),
    );
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let config = rustls::ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![CertificateDer::from(cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let cert = ClientCertificate::from_connection(tls.get_ref().1);
                let service =
                    app.map_request(move |mut req: hyper::Request<hyper::body::Incoming>| {
                        if let Some(c) = &cert {
                            req.extensions_mut().insert(c.clone());
                        }
                        req
                    });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), TowerToHyperService::new(service))
                    .await;
            });
        }
    });
    Api {
        addr,
        server_cert: reqwest::Certificate::from_der(cert.der()).unwrap(),
    }
}

impl Api {
    fn client(&self, identity: Option<&MtlsClient>) -> reqwest::Client {
        let mut b = reqwest::Client::builder()
            .tls_certs_only([self.server_cert.clone()])
            .resolve("localhost", self.addr);
        if let Some(id) = identity {
            b = b.identity(reqwest::Identity::from_pem(id.identity_pem().as_bytes()).unwrap());
        }
        b.build().unwrap()
    }

    /// Status, reason (the body of a refusal) and challenge.
    async fn get(
        &self,
        identity: Option<&MtlsClient>,
        headers: &[(&str, &str)],
    ) -> (u16, String, String) {
        let mut req = self
            .client(identity)
            .get(format!("https://localhost:{}/orders", self.addr.port()));
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        let r = req.send().await.unwrap();
        let challenge = r
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (r.status().as_u16(), r.text().await.unwrap(), challenge)
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn a_certificate_bound_token_passes_only_with_its_certificate() {
    let issuer = TestIssuer::start().await;
    let filter = OAuthFilter::builder()
        .jwt_issuer(jwt_issuer(&issuer))
        .dpop(Dpop::new("https://localhost"))
        .build()
        .unwrap();
    let api = serve(filter, AnyClientCertificate::optional()).await;
    // Self-signed client certificates (RFC 8705 §2.2).
    let alice = MtlsClient::generate("alice").unwrap();
    let mallory = MtlsClient::generate("mallory").unwrap();
    let token = issuer
        .mint()
        .scope("read")
        .subject("alice")
        .claim("cnf", alice.cnf())
        .sign();
    let auth = bearer(&token);
    let auth = [("authorization", auth.as_str())];

    let (status, body, _) = api.get(Some(&alice), &auth).await;
    assert_eq!((status, body.as_str()), (200, "hello alice"));
    // Again (the token now comes from the cache): the binding is checked on every request.
    let (status, body, challenge) = api.get(Some(&mallory), &auth).await;
    assert_eq!((status, body.as_str()), (401, "mtls_certificate_mismatch"));
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    let (status, body, _) = api.get(None, &auth).await;
    assert_eq!((status, body.as_str()), (401, "mtls_certificate_missing"));
    // A forwarded header from the client itself is no certificate.
    let forged = alice.client_cert_header();
    let (status, body, _) = api
        .get(None, &[auth[0], ("client-cert", forged.as_str())])
        .await;
    assert_eq!((status, body.as_str()), (401, "mtls_certificate_missing"));
    // The DPoP scheme is for DPoP-bound tokens.
    let dpop = format!("DPoP {token}");
    let (status, body, _) = api
        .get(Some(&alice), &[("authorization", dpop.as_str())])
        .await;
    assert_eq!((status, body.as_str()), (401, "dpop_unbound_token"));
    assert_eq!(api.get(Some(&alice), &auth).await.0, 200);

    // A plain bearer token on a connection with a certificate is a bearer token.
    let plain = bearer(&issuer.mint().scope("read").subject("bob").sign());
    let (status, body, _) = api
        .get(Some(&mallory), &[("authorization", plain.as_str())])
        .await;
    assert_eq!((status, body.as_str()), (200, "hello bob"));

    // A `cnf` naming a certificate and a DPoP key at once is not verified: refused.
    let both = issuer
        .mint()
        .scope("read")
        .claim(
            "cnf",
            serde_json::json!({"x5t#S256": alice.thumbprint(), "jkt": "x"}),
        )
        .sign();
    let (status, body, _) = api
        .get(Some(&alice), &[("authorization", bearer(&both).as_str())])
        .await;
    assert_eq!((status, body.as_str()), (401, "sender_constrained_token"));
}

#[tokio::test]
async fn introspection_answers_bind_tokens_to_certificates_too() {
    let issuer = TestIssuer::start().await;
    let filter = OAuthFilter::builder()
        .introspection(introspection_for(&issuer))
        .build()
        .unwrap();
    let api = serve(filter, AnyClientCertificate::optional()).await;
    let alice = MtlsClient::generate("alice").unwrap();
    let mallory = MtlsClient::generate("mallory").unwrap();
    let token = issuer
        .opaque()
        .scope("read")
        .subject("alice")
        .member("cnf", alice.cnf())
        .issue();
    let auth = bearer(&token);
    let auth = [("authorization", auth.as_str())];
    assert_eq!(api.get(Some(&alice), &auth).await.0, 200);
    let (status, body, _) = api.get(Some(&mallory), &auth).await;
    assert_eq!((status, body.as_str()), (401, "mtls_certificate_mismatch"));
    let (status, body, _) = api.get(None, &auth).await;
    assert_eq!((status, body.as_str()), (401, "mtls_certificate_missing"));
}

#[tokio::test]
async fn with_a_ca_only_its_certificates_connect_and_the_binding_still_holds() {
    let issuer = TestIssuer::start().await;
    let filter = OAuthFilter::builder()
        .jwt_issuer(jwt_issuer(&issuer))
        .build()
        .unwrap();
    let ca = TestCa::generate("client CA").unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca.cert_pem().as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
        .build()
        .unwrap();
    let api = serve(filter, verifier).await;
    let alice = ca.issue("alice").unwrap();
    let bob = ca.issue("bob").unwrap();
    let token = issuer.mint().scope("read").claim("cnf", alice.cnf()).sign();
    let auth = bearer(&token);
    let auth = [("authorization", auth.as_str())];
    assert_eq!(api.get(Some(&alice), &auth).await.0, 200);
    // Another certificate of the same CA connects, and the token is not bound to it.
    let (status, body, _) = api.get(Some(&bob), &auth).await;
    assert_eq!((status, body.as_str()), (401, "mtls_certificate_mismatch"));
    // A self-signed certificate does not even connect.
    let stranger = MtlsClient::generate("alice").unwrap();
    let refused = api
        .client(Some(&stranger))
        .get(format!("https://localhost:{}/orders", api.addr.port()))
        .header("authorization", auth[0].1)
        .send()
        .await;
    assert!(refused.is_err(), "{refused:?}");
}
