//! TLS from the gateway to an `https` upstream: the certificate is verified; `tls.ca_file`
//! trusts a private CA; a certificate from another CA gives 502.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::{Gateway, scratch_dir};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use std::convert::Infallible;
use std::sync::Arc;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::{TlsAcceptor, rustls};

/// A CA (PEM) and a `localhost` certificate it signed.
fn pki(name: &str) -> (String, CertificateDer<'static>, PrivateKeyDer<'static>) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, name);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    (
        ca.pem(),
        leaf.der().clone(),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
    )
}

/// An HTTPS upstream answering "tls-ok"; returns its port.
async fn https_upstream(cert: CertificateDer<'static>, key: PrivateKeyDer<'static>) -> u16 {
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = service_fn(|_req| async {
                    Ok::<_, Infallible>(hyper::Response::new(http_body_util::Full::new(
                        bytes::Bytes::from("tls-ok"),
                    )))
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    port
}

fn config(port: u16, ca_file: Option<&std::path::Path>) -> String {
    let tls = ca_file.map_or_else(String::new, |p| {
        format!("[tls]\nca_file = \"{}\"\n", p.display())
    });
    format!(
        "listen = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n\
         [upstream]\nurl = \"https://localhost:{port}\"\n\
         [[issuers]]\nissuer = \"https://idp.example\"\naudience = \"api\"\n\
         [[routes]]\nprefix = \"/\"\npublic = true\n{tls}"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn https_upstream_is_verified_against_the_configured_ca() {
    let (ca_pem, cert, key) = pki("upstream test CA");
    let (other_ca_pem, _, _) = pki("another CA");
    let port = https_upstream(cert, key).await;
    let dir = scratch_dir();
    let ours = dir.join("ca.pem");
    std::fs::write(&ours, ca_pem).unwrap();
    let theirs = dir.join("other.pem");
    std::fs::write(&theirs, other_ca_pem).unwrap();

    let gw = Gateway::start(&config(port, Some(&ours)), &[]).await;
    let resp = reqwest::get(gw.url("/x")).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "tls-ok");

    for ca in [None, Some(theirs.as_path())] {
        let gw = Gateway::start(&config(port, ca), &[]).await;
        let resp = reqwest::get(gw.url("/x")).await.unwrap();
        assert_eq!(
            resp.status(),
            502,
            "untrusted certificate accepted (ca {ca:?})"
        );
    }
}
