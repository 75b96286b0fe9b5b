//! TLS from the gateway to an `https` upstream: the certificate is verified; `tls.ca_file`
//! trusts a private CA; a certificate from another CA gives 502; a client certificate
//! (`tls.client_cert_file` / `client_key_file`) opens a mutual-TLS upstream.

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
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::{TlsAcceptor, rustls};

struct Pki {
    ca_pem: String,
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
    client_cert_pem: String,
    client_key_pem: String,
}

/// A CA (PEM), a `localhost` server certificate and a client certificate it signed.
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
    let client = CertificateParams::new(vec!["gateway".to_owned()])
        .unwrap()
        .signed_by(&client_key, &ca)
        .unwrap();
    Pki {
        ca_pem: ca.pem(),
        cert: leaf.der().clone(),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        client_cert_pem: client.pem(),
        client_key_pem: client_key.serialize_pem(),
    }
}

/// An HTTPS upstream answering "tls-ok" (its HTTP version in `x-version`); returns its port.
/// With `mutual`, clients must present a certificate from `pki`'s CA; with `h2`, ALPN offers
/// HTTP/2 first.
async fn https_upstream(pki: &Pki, mutual: bool) -> u16 {
    https_upstream_with(pki, mutual, false).await
}

async fn https_upstream_with(pki: &Pki, mutual: bool, h2: bool) -> u16 {
    let builder = rustls::ServerConfig::builder();
    let builder = if mutual {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pki.ca_pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        builder.with_client_cert_verifier(
            rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
                .build()
                .unwrap(),
        )
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder
        .with_single_cert(vec![pki.cert.clone()], pki.key.clone_key())
        .unwrap();
    if h2 {
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    }
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
                let svc = service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                    let mut resp = hyper::Response::new(http_body_util::Full::new(
                        bytes::Bytes::from("tls-ok"),
                    ));
                    let version = format!("{:?}", req.version());
                    resp.headers_mut()
                        .insert("x-version", version.parse().unwrap());
                    Ok::<_, Infallible>(resp)
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
    config_with(port, ca_file, "")
}

fn config_with(port: u16, ca_file: Option<&std::path::Path>, more_tls: &str) -> String {
    let tls = ca_file.map_or_else(String::new, |p| {
        format!("[tls]\nca_file = \"{}\"\n{more_tls}", p.display())
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
    let ours_pki = pki("upstream test CA");
    let port = https_upstream(&ours_pki, false).await;
    let dir = scratch_dir();
    let ours = dir.join("ca.pem");
    std::fs::write(&ours, &ours_pki.ca_pem).unwrap();
    let theirs = dir.join("other.pem");
    std::fs::write(&theirs, pki("another CA").ca_pem).unwrap();

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

#[tokio::test(flavor = "multi_thread")]
async fn client_certificate_for_a_mutual_tls_upstream() {
    let p = pki("mutual TLS CA");
    let port = https_upstream(&p, true).await;
    let dir = scratch_dir();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &p.ca_pem).unwrap();
    let (cert, key) = (dir.join("client.pem"), dir.join("client.key"));
    std::fs::write(&cert, &p.client_cert_pem).unwrap();
    std::fs::write(&key, &p.client_key_pem).unwrap();
    let identity = format!(
        "client_cert_file = \"{}\"\nclient_key_file = \"{}\"\n",
        cert.display(),
        key.display()
    );

    let gw = Gateway::start(&config_with(port, Some(&ca), &identity), &[]).await;
    let resp = reqwest::get(gw.url("/x")).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "tls-ok");
    // Without the certificate the upstream refuses the handshake: 502.
    let gw = Gateway::start(&config(port, Some(&ca)), &[]).await;
    assert_eq!(reqwest::get(gw.url("/x")).await.unwrap().status(), 502);

    // Half an identity, or files that are not PEM, are configuration errors naming the key.
    for (more, key_name) in [
        (
            format!("client_cert_file = \"{}\"\n", cert.display()),
            "tls.client_key_file",
        ),
        (
            format!(
                "client_cert_file = \"{}\"\nclient_key_file = \"{}\"\n",
                key.display(),
                key.display()
            ),
            "tls.client_cert_file",
        ),
        (
            format!(
                "client_cert_file = \"{}\"\nclient_key_file = \"{}\"\n",
                cert.display(),
                cert.display()
            ),
            "tls.client_key_file",
        ),
    ] {
        let path = dir.join("bad.toml");
        std::fs::write(&path, config_with(port, Some(&ca), &more)).unwrap();
        let out = std::process::Command::new(common::BIN)
            .args(["check-config", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("configuration error: {key_name}")),
            "{err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn https_upstream_speaks_http2_when_alpn_chooses_it() {
    let p = pki("upstream test CA");
    let dir = scratch_dir();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &p.ca_pem).unwrap();
    for (h2, version) in [(true, "HTTP/2.0"), (false, "HTTP/1.1")] {
        let port = https_upstream_with(&p, false, h2).await;
        let gw = Gateway::start(&config(port, Some(&ca)), &[]).await;
        // Several requests, concurrent and one after another, on what ALPN chose.
        let client = reqwest::Client::new();
        for _ in 0..3 {
            let answers =
                futures_util::future::join_all((0..4).map(|_| client.get(gw.url("/x")).send()))
                    .await;
            for r in answers {
                let r = r.unwrap();
                assert_eq!(r.status(), 200);
                assert_eq!(r.headers()["x-version"], version, "h2 offered: {h2}");
                assert_eq!(r.text().await.unwrap(), "tls-ok");
            }
        }
    }
}
