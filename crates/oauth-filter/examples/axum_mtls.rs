//! axum over TLS with client certificates, for certificate-bound tokens (RFC 8705).
//!
//! ```text
//! cargo run -p oauth-filter --features rustls --example axum_mtls
//! ```
//!
//! The server asks every client for a certificate ([`AnyClientCertificate`]: any certificate,
//! self-signed ones too; only its thumbprint binds a token) and hands the connection's
//! certificate to the filter as a request extension ([`ClientCertificate`]). A token whose
//! `cnf` holds `x5t#S256` passes only on a connection with that certificate; bearer tokens
//! pass as usual. Without `OAUTH_ISSUER`, a development issuer mints a token bound to a
//! generated client certificate, and the example prints a `curl` command that uses both.
//!
//! To verify client chains instead, build the rustls config with a `WebPkiClientVerifier`.

mod support;

use axum::{Router, routing::get};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use oauth_filter::mtls::AnyClientCertificate;
use oauth_filter::{AccessToken, ClientCertificate};
use std::sync::Arc;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::{TlsAcceptor, rustls};
use tower::ServiceExt;

async fn whoami(token: AccessToken) -> String {
    format!("subject={:?}\n", token.subject())
}

/// Serves `app` over TLS: each connection's client certificate goes into every request's
/// extensions, where the OAuth layer finds it.
async fn serve_tls(
    listener: tokio::net::TcpListener,
    acceptor: TlsAcceptor,
    app: Router,
) -> std::io::Result<()> {
    loop {
        let (tcp, _) = listener.accept().await?;
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return; // a failed handshake: nothing to serve
            };
            let cert = ClientCertificate::from_connection(tls.get_ref().1);
            let service = app.map_request(move |mut req: hyper::Request<hyper::body::Incoming>| {
                if let Some(cert) = &cert {
                    req.extensions_mut().insert(cert.clone());
                }
                req
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), TowerToHyperService::new(service))
                .await;
        });
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let setup = support::from_env().await?;
    let app = Router::new()
        .route("/whoami", get(whoami))
        .layer(setup.filter.layer());

    // A server certificate for localhost (use your own in production).
    let server_key = rcgen::KeyPair::generate()?;
    let server_cert =
        rcgen::CertificateParams::new(vec!["localhost".to_owned()])?.self_signed(&server_key)?;
    let mut config = rustls::ServerConfig::builder()
        .with_client_cert_verifier(AnyClientCertificate::optional())
        .with_single_cert(
            vec![CertificateDer::from(server_cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
        )?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];

    if let Some(dev) = &setup._dev_issuer {
        let client = oauth_filter_testkit::MtlsClient::generate("example-client")?;
        let dir = std::env::temp_dir();
        let (cert, key) = (dir.join("mtls-client.pem"), dir.join("mtls-client-key.pem"));
        std::fs::write(&cert, client.cert_pem())?;
        std::fs::write(&key, client.key_pem())?;
        let token = dev
            .mint()
            .claim("cnf", client.cnf())
            .expires_in_secs(3600)
            .sign();
        eprintln!(
            "curl -k --cert {} --key {} -H 'Authorization: Bearer {token}' https://{}/whoami",
            cert.display(),
            key.display(),
            setup.listen
        );
    }
    let listener = tokio::net::TcpListener::bind(&setup.listen).await?;
    eprintln!("listening on https://{}", listener.local_addr()?);
    serve_tls(listener, TlsAcceptor::from(Arc::new(config)), app).await?;
    Ok(())
}
