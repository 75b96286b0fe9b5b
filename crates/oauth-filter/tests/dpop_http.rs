//! DPoP-bound tokens (RFC 9449 §7) through the tower layer over real HTTP on loopback: a proof
//! made by the test kit's client is accepted once; every refusal has its status, challenge and
//! reason code, and never reaches the handler.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use axum::Router;
use axum::routing::{get, post};
use common::{jwt_issuer, serve};
use http::Response;
use oauth_filter::{AccessToken, Dpop, OAuthFilter, Rejection};
use oauth_filter_testkit::{DpopClient, SigningAlg, TestIssuer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The URL clients call (a proxy in front forwards to the loopback server).
const BASE: &str = "https://api.example";
const ALGS: &str = r#"DPoP algs="ES256 PS256 EdDSA""#;

struct Served {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    http: reqwest::Client,
}

/// An API at [`BASE`] requiring `read`, answering refusals with their reason code.
async fn served(dpop: Option<Dpop>, issuer: &TestIssuer) -> Served {
    let mut builder = OAuthFilter::builder().jwt_issuer(jwt_issuer(issuer));
    if let Some(d) = dpop {
        builder = builder.dpop(d);
    }
    served_by(builder.build().unwrap()).await
}

async fn served_by(filter: OAuthFilter) -> Served {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let handler = move |token: AccessToken| {
        let h = h.clone();
        async move {
            h.fetch_add(1, Ordering::SeqCst);
            format!("hello {}", token.subject().unwrap_or("?"))
        }
    };
    let layer = filter.require(["read"]).with_responder(|r: &Rejection| {
        let mut b = Response::builder().status(r.status());
        for (name, value) in r.challenge_headers() {
            b = b.header(name, value);
        }
        b.body(axum::body::Body::from(r.error().reason_code()))
            .unwrap()
    });
    let app = Router::new()
        .route("/orders", get(handler.clone()).route_layer(layer.clone()))
        .route("/orders/new", post(handler).route_layer(layer));
    Served {
        addr: serve(app).await,
        hits,
        http: reqwest::Client::new(),
    }
}

/// What is sent, the headers, the reason code and a part of the challenge.
type Case<'a> = (&'a str, Vec<(&'a str, String)>, &'a str, &'a str);

struct Answer {
    status: u16,
    challenge: String,
    body: String,
    nonce: Option<String>,
}

impl Served {
    async fn send(&self, method: &str, path: &str, headers: &[(&str, String)]) -> Answer {
        let url = format!("http://{}{path}", self.addr);
        let mut req = self
            .http
            .request(method.parse().unwrap(), url)
            .header("content-length", "0");
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        let r = req.send().await.unwrap();
        let challenge = r
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let nonce = r
            .headers()
            .get("dpop-nonce")
            .map(|v| v.to_str().unwrap().to_owned());
        Answer {
            nonce,
            status: r.status().as_u16(),
            challenge,
            body: r.text().await.unwrap(),
        }
    }

    async fn get(&self, headers: &[(&str, String)]) -> Answer {
        self.send("GET", "/orders", headers).await
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn dpop(token: &str, proof: String) -> Vec<(&'static str, String)> {
    vec![("authorization", format!("DPoP {token}")), ("dpop", proof)]
}

fn bound_token(issuer: &TestIssuer, client: &DpopClient) -> String {
    issuer
        .mint()
        .scope("read")
        .subject("alice")
        .claim("cnf", client.cnf())
        .sign()
}

#[tokio::test]
async fn a_fresh_proof_by_the_tokens_key_is_accepted_once() {
    let issuer = TestIssuer::start().await;
    let api = served(Some(Dpop::new(BASE)), &issuer).await;
    let client = DpopClient::generate(SigningAlg::ES256).unwrap();
    let token = bound_token(&issuer, &client);
    let proof = client.proof("GET", &format!("{BASE}/orders"), &token);

    let ok = api.get(&dpop(&token, proof.clone())).await;
    assert_eq!((ok.status, ok.body.as_str()), (200, "hello alice"));
    // Another fresh proof is fine; the same proof again is a replay.
    let again = client.proof("GET", &format!("{BASE}/orders"), &token);
    assert_eq!(api.get(&dpop(&token, again)).await.status, 200);
    let replayed = api.get(&dpop(&token, proof)).await;
    assert_eq!(
        (replayed.status, replayed.body.as_str()),
        (401, "dpop_replayed")
    );
    assert!(
        replayed.challenge.starts_with(&format!(
            r#"Bearer realm="api", {ALGS}, error="invalid_dpop_proof""#
        )),
        "{}",
        replayed.challenge
    );
    // POST with a proof for POST and the other path: its own htm and htu.
    let post = client.proof("POST", &format!("{BASE}/orders/new"), &token);
    let created = api.send("POST", "/orders/new", &dpop(&token, post)).await;
    assert_eq!(created.status, 200);
    assert_eq!(api.hits(), 3);
}

#[tokio::test]
async fn every_refusal_has_its_reason_and_never_reaches_the_handler() {
    let issuer = TestIssuer::start().await;
    let api = served(Some(Dpop::new(BASE)), &issuer).await;
    let client = DpopClient::generate(SigningAlg::ES256).unwrap();
    let other_key = DpopClient::generate(SigningAlg::ES256).unwrap();
    let token = bound_token(&issuer, &client);
    let unbound = issuer.mint().scope("read").sign();
    let uri = format!("{BASE}/orders");
    let local = format!("http://{}/orders", api.addr);

    let cases: Vec<Case> = vec![
        (
            "a bound token with the Bearer scheme",
            vec![("authorization", format!("Bearer {token}"))],
            "sender_constrained_token",
            r#"Bearer realm="api", error="invalid_token""#,
        ),
        (
            "no DPoP header",
            vec![("authorization", format!("DPoP {token}"))],
            "dpop_missing",
            r#"error="invalid_dpop_proof""#,
        ),
        (
            "two DPoP headers",
            vec![
                ("authorization", format!("DPoP {token}")),
                ("dpop", client.proof("GET", &uri, &token)),
                ("dpop", client.proof("GET", &uri, &token)),
            ],
            "dpop_multiple",
            r#"error="invalid_dpop_proof""#,
        ),
        (
            "a proof for another method",
            dpop(&token, client.proof("POST", &uri, &token)),
            "dpop_htm_mismatch",
            r#"error="invalid_dpop_proof""#,
        ),
        (
            "a proof for another URI",
            dpop(
                &token,
                client.proof("GET", &format!("{BASE}/other"), &token),
            ),
            "dpop_htu_mismatch",
            r#"error="invalid_dpop_proof""#,
        ),
        (
            // The Host header names the loopback server: never what the proof is checked with.
            "a proof for the URL of the Host header",
            dpop(&token, client.proof("GET", &local, &token)),
            "dpop_htu_mismatch",
            r#"error="invalid_dpop_proof""#,
        ),
        (
            "a proof for another access token",
            dpop(&token, client.proof("GET", &uri, &unbound)),
            "dpop_ath_mismatch",
            r#"error="invalid_dpop_proof""#,
        ),
        (
            "a proof by another key",
            dpop(&token, other_key.proof("GET", &uri, &token)),
            "dpop_jkt_mismatch",
            r#"DPoP algs="ES256 PS256 EdDSA", error="invalid_token""#,
        ),
        (
            "a stale proof",
            dpop(
                &token,
                client
                    .proof_builder("GET", &uri, &token)
                    .claim(
                        "iat",
                        serde_json::json!(oauth_filter_testkit::now_secs() - 600),
                    )
                    .sign(),
            ),
            "dpop_stale",
            r#"error="invalid_dpop_proof""#,
        ),
        (
            "an unbound token with the DPoP scheme",
            dpop(&unbound, client.proof("GET", &uri, &unbound)),
            "dpop_unbound_token",
            r#"DPoP algs="ES256 PS256 EdDSA", error="invalid_token""#,
        ),
        (
            "garbage as the proof",
            dpop(&token, "not.a.jws".to_owned()),
            "dpop_malformed",
            r#"error="invalid_dpop_proof""#,
        ),
    ];
    for (what, headers, reason, challenge) in cases {
        let a = api.get(&headers).await;
        assert_eq!((a.status, a.body.as_str()), (401, reason), "{what}");
        assert!(a.challenge.contains(challenge), "{what}: {}", a.challenge);
        assert!(a.challenge.contains(ALGS), "{what}: {}", a.challenge);
    }
    // No credentials: both schemes offered, bare.
    let none = api.get(&[]).await;
    assert_eq!(none.status, 401);
    assert_eq!(none.challenge, format!(r#"Bearer realm="api", {ALGS}"#));
    assert_eq!(api.hits(), 0);
    // A plain bearer token is still fine by default.
    let plain = api
        .get(&[("authorization", format!("Bearer {unbound}"))])
        .await;
    assert_eq!(plain.status, 200);
}

#[tokio::test]
async fn bearer_tokens_can_be_refused() {
    let issuer = TestIssuer::start().await;
    let api = served(Some(Dpop::new(BASE).accept_bearer(false)), &issuer).await;
    let unbound = issuer.mint().scope("read").sign();
    let a = api
        .get(&[("authorization", format!("Bearer {unbound}"))])
        .await;
    assert_eq!((a.status, a.body.as_str()), (401, "dpop_required"));
    // Only the DPoP scheme is offered, with the error.
    assert!(
        a.challenge
            .starts_with(&format!(r#"{ALGS}, error="invalid_token""#)),
        "{}",
        a.challenge
    );
    assert_eq!(api.get(&[]).await.challenge, ALGS);
    // DPoP-bound tokens still work.
    let client = DpopClient::generate(SigningAlg::EdDSA).unwrap();
    let token = bound_token(&issuer, &client);
    let proof = client.proof("GET", &format!("{BASE}/orders"), &token);
    assert_eq!(api.get(&dpop(&token, proof)).await.status, 200);
    assert_eq!(api.hits(), 1);
}

#[tokio::test]
async fn without_dpop_configured_bound_tokens_are_refused() {
    let issuer = TestIssuer::start().await;
    let api = served(None, &issuer).await;
    let client = DpopClient::generate(SigningAlg::ES256).unwrap();
    let token = bound_token(&issuer, &client);
    let proof = client.proof("GET", &format!("{BASE}/orders"), &token);
    // The DPoP scheme is not one this filter reads: no credentials, a bare Bearer challenge.
    let a = api.get(&dpop(&token, proof)).await;
    assert_eq!((a.status, a.body.as_str()), (401, "missing_token"));
    assert_eq!(a.challenge, r#"Bearer realm="api""#);
    let b = api
        .get(&[("authorization", format!("Bearer {token}"))])
        .await;
    assert_eq!(
        (b.status, b.body.as_str()),
        (401, "sender_constrained_token")
    );
    assert_eq!(api.hits(), 0);
}

#[test]
fn the_base_url_is_checked_when_the_filter_is_built() {
    let issuer = oauth_filter::JwtIssuer::new("https://idp.example")
        .audience("api")
        .jwks_url("https://idp.example/jwks");
    for (base, key) in [
        ("api.example", "dpop.base_url"),
        ("ftp://api.example", "dpop.base_url"),
        ("https://user@api.example", "dpop.base_url"),
        ("https://api.example/?q=1", "dpop.base_url"),
    ] {
        let e = OAuthFilter::builder()
            .jwt_issuer(issuer.clone())
            .dpop(Dpop::new(base))
            .build()
            .unwrap_err();
        assert_eq!(e.key(), key, "{base}");
    }
    let e = OAuthFilter::builder()
        .jwt_issuer(issuer.clone())
        .dpop(Dpop::new(BASE).replay_capacity(0))
        .build()
        .unwrap_err();
    assert_eq!(e.key(), "dpop.replay_capacity");
    assert!(
        OAuthFilter::builder()
            .jwt_issuer(issuer)
            .dpop(Dpop::new("https://example.com/api/"))
            .build()
            .is_ok()
    );
}

/// A clock the test moves.
#[derive(Debug)]
struct Movable(std::sync::Mutex<std::time::SystemTime>);

impl oauth_filter::Clock for Movable {
    fn now(&self) -> std::time::SystemTime {
        *self.0.lock().unwrap()
    }
}

impl Movable {
    fn advance(&self, secs: u64) {
        *self.0.lock().unwrap() += std::time::Duration::from_secs(secs);
    }
}

#[tokio::test]
async fn server_nonces_are_handed_out_required_and_renewed() {
    let issuer = TestIssuer::start().await;
    let clock = Arc::new(Movable(std::sync::Mutex::new(std::time::SystemTime::now())));
    let window = 10;
    let nonces = Dpop::new(BASE).nonces([7u8; 32], std::time::Duration::from_secs(window));
    let filter = OAuthFilter::builder()
        .jwt_issuer(jwt_issuer(&issuer))
        .dpop(nonces)
        .clock(clock.clone())
        .build()
        .unwrap();
    let api = served_by(filter).await;
    let client = DpopClient::generate(SigningAlg::ES256).unwrap();
    let token = bound_token(&issuer, &client);
    let uri = format!("{BASE}/orders");
    let with_nonce = |nonce: &str| {
        client
            .proof_builder("GET", &uri, &token)
            .claim("nonce", nonce)
            .sign()
    };

    // No nonce: 401 use_dpop_nonce, with one to use.
    let first = api
        .get(&dpop(&token, client.proof("GET", &uri, &token)))
        .await;
    assert_eq!(
        (first.status, first.body.as_str()),
        (401, "dpop_nonce_missing")
    );
    assert!(
        first.challenge.contains(r#"error="use_dpop_nonce""#),
        "{}",
        first.challenge
    );
    let n0 = first.nonce.expect("a DPoP-Nonce on the 401");
    // Every 401 hands one out, the no-token one too.
    assert_eq!(api.get(&[]).await.nonce.as_deref(), Some(n0.as_str()));
    // With it: accepted, and no new nonce while the window lasts.
    let ok = api.get(&dpop(&token, with_nonce(&n0))).await;
    assert_eq!((ok.status, ok.nonce.as_deref()), (200, None));
    // A nonce this server never made.
    let forged = api.get(&dpop(&token, with_nonce("made-up"))).await;
    assert_eq!(
        (forged.status, forged.body.as_str()),
        (401, "dpop_nonce_expired")
    );
    // The window rolls: the old nonce is still good once more, and the answer renews it.
    clock.advance(window);
    let rolled = api.get(&dpop(&token, with_nonce(&n0))).await;
    assert_eq!(rolled.status, 200);
    let n1 = rolled.nonce.expect("a fresh DPoP-Nonce on the 200");
    assert_ne!(n1, n0);
    assert_eq!(api.get(&dpop(&token, with_nonce(&n1))).await.status, 200);
    // Two windows on, the first nonce is expired; the 401 carries the current one.
    clock.advance(window);
    let expired = api.get(&dpop(&token, with_nonce(&n0))).await;
    assert_eq!(
        (expired.status, expired.body.as_str()),
        (401, "dpop_nonce_expired")
    );
    assert!(expired.nonce.is_some_and(|n| n != n0 && n != n1));
    assert_eq!(api.hits(), 3);
}

#[test]
fn a_short_nonce_secret_is_refused() {
    let issuer = oauth_filter::JwtIssuer::new("https://idp.example")
        .audience("api")
        .jwks_url("https://idp.example/jwks");
    let short = Dpop::new(BASE).nonces([1u8; 16], std::time::Duration::from_secs(60));
    let e = OAuthFilter::builder()
        .jwt_issuer(issuer.clone())
        .dpop(short)
        .build()
        .unwrap_err();
    assert_eq!(e.key(), "dpop.nonce_secret");
    let zero = Dpop::new(BASE).nonces([1u8; 32], std::time::Duration::ZERO);
    let e = OAuthFilter::builder()
        .jwt_issuer(issuer)
        .dpop(zero)
        .build()
        .unwrap_err();
    assert_eq!(e.key(), "dpop.nonce_window_secs");
}
