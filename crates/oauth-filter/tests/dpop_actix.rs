//! DPoP through the actix-web middleware over real HTTP on loopback: the middleware reads the
//! `DPoP` header as the tower layer does (accepted once, two headers refused).

#![cfg(feature = "actix")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::jwt_issuer;
use oauth_filter::actix::OAuthMiddleware;
use oauth_filter::{AccessToken, Dpop, OAuthFilter};
use oauth_filter_testkit::{DpopClient, SigningAlg, TestIssuer};
use std::net::SocketAddr;

const BASE: &str = "https://api.example";

fn actix_app(filter: OAuthFilter) -> SocketAddr {
    use actix_web::{App, HttpServer, web};
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
            .bind(("127.0.0.1", 0))
            .unwrap();
            tx.send(server.addrs()[0]).unwrap();
            server.run().await.unwrap();
        });
    });
    rx.recv().unwrap()
}

#[tokio::test]
async fn the_actix_middleware_checks_dpop_proofs() {
    let issuer = TestIssuer::start().await;
    let filter = OAuthFilter::builder()
        .jwt_issuer(jwt_issuer(&issuer))
        .dpop(Dpop::new(BASE))
        .build()
        .unwrap();
    let addr = actix_app(filter);
    let client = DpopClient::generate(SigningAlg::ES256).unwrap();
    let token = issuer
        .mint()
        .scope("read")
        .subject("alice")
        .claim("cnf", client.cnf())
        .sign();
    let http = reqwest::Client::new();
    let send = |proofs: Vec<String>| {
        let mut req = http
            .get(format!("http://{addr}/orders"))
            .header("authorization", format!("DPoP {token}"));
        for p in proofs {
            req = req.header("dpop", p);
        }
        async move {
            let r = req.send().await.unwrap();
            let challenge = r
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_owned());
            (r.status().as_u16(), challenge, r.text().await.unwrap())
        }
    };
    let proof = client.proof("GET", &format!("{BASE}/orders"), &token);
    let (status, _, body) = send(vec![proof.clone()]).await;
    assert_eq!((status, body.as_str()), (200, "hello alice"));
    let (status, challenge, _) = send(vec![proof]).await;
    assert_eq!(status, 401);
    let challenge = challenge.unwrap();
    assert!(
        challenge.contains(r#"DPoP algs="ES256 PS256 EdDSA", error="invalid_dpop_proof", error_description="the DPoP proof was already used""#),
        "{challenge}"
    );
    let two = vec![
        client.proof("GET", &format!("{BASE}/orders"), &token),
        client.proof("GET", &format!("{BASE}/orders"), &token),
    ];
    let (status, challenge, _) = send(two).await;
    assert_eq!(status, 401);
    assert!(challenge.unwrap().contains("more than one DPoP proof"));
}

#[derive(Debug)]
struct Movable(std::sync::Mutex<std::time::SystemTime>);

impl oauth_filter::Clock for Movable {
    fn now(&self) -> std::time::SystemTime {
        *self.0.lock().unwrap()
    }
}

#[tokio::test]
async fn the_actix_middleware_renews_nonces_on_allowed_answers() {
    let issuer = TestIssuer::start().await;
    let clock = std::sync::Arc::new(Movable(std::sync::Mutex::new(std::time::SystemTime::now())));
    let filter = OAuthFilter::builder()
        .jwt_issuer(jwt_issuer(&issuer))
        .dpop(Dpop::new(BASE).nonces([9u8; 32], std::time::Duration::from_secs(10)))
        .clock(clock.clone())
        .build()
        .unwrap();
    let addr = actix_app(filter);
    let client = DpopClient::generate(SigningAlg::ES256).unwrap();
    let token = issuer
        .mint()
        .scope("read")
        .claim("cnf", client.cnf())
        .sign();
    let http = reqwest::Client::new();
    let uri = format!("{BASE}/orders");
    let send = |proof: String| {
        http.get(format!("http://{addr}/orders"))
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", proof)
            .send()
    };
    let first = send(client.proof("GET", &uri, &token)).await.unwrap();
    assert_eq!(first.status(), 401);
    let n0 = first.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    let with = |n: &str| {
        client
            .proof_builder("GET", &uri, &token)
            .claim("nonce", n)
            .sign()
    };
    let ok = send(with(&n0)).await.unwrap();
    assert_eq!(ok.status(), 200);
    assert!(ok.headers().get("dpop-nonce").is_none());
    *clock.0.lock().unwrap() += std::time::Duration::from_secs(10);
    let rolled = send(with(&n0)).await.unwrap();
    assert_eq!(rolled.status(), 200);
    let n1 = rolled.headers()["dpop-nonce"].to_str().unwrap();
    assert_ne!(n1, n0);
}
