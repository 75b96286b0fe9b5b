//! The HTTP benchmark's server (`scripts/bench-http.sh`): the same handler open and protected.
//!
//! ```text
//! TOKENS_DIR=/tmp/t LISTEN=127.0.0.1:3901 cargo run --release -p oauth-filter --example bench_server
//! ```
//!
//! Routes: `/open` (no filter), `/cached` (filter, verified-token cache on), `/uncached` (filter,
//! cache off: every request is a full verification), `/floor` (no filter: the handler checks
//! only an RS256 token's signature, as aws-lc-rs's one call does with the key parsed at start,
//! and answers 401 if it fails: what any verifier pays at least), all answering "ok"; every other path
//! answers like `/open` (the upstream of `scripts/bench-gateway.sh`). Writes token files to
//! `TOKENS_DIR`: `rs256`, `es256`, `eddsa` (one token each, scope `read`), `noscope` (RS256,
//! scope `write`), `rotating` (`ROTATING`, 100,000 by default, distinct ES256 tokens), `forged` (a bad signature from a
//! known kid). With `DPOP_ROUNDS` set, `/dpop` (DPoP required, cache off: the token and a proof
//! verified per request) and the files `dpop-token` (a DPoP-bound ES256 token) and
//! `dpop-proofs-<round>` (`DPOP_PROOFS` fresh ES256 proofs for `GET /dpop` each, one file per
//! round since each proof is accepted once).

use aws_lc_rs::signature::{self, ParsedPublicKey};
use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::get;
use base64::Engine;
use oauth_filter::Algorithm;
use oauth_filter::dpop::DpopPolicy;
use oauth_filter::{Dpop, JwtIssuer, OAuthFilter};
use oauth_filter_testkit::{DpopClient, SigningAlg, TestIssuer};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| String::from("127.0.0.1:3901"));
    let dir = std::path::PathBuf::from(std::env::var("TOKENS_DIR")?);
    let issuer = TestIssuer::builder()
        .algorithms(&[SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA])
        .try_start()
        .await?;
    let jwks = issuer.jwks().to_string();
    // For the peers (benches/peers): where the keys are.
    std::fs::write(dir.join("issuer"), issuer.issuer())?;
    std::fs::write(dir.join("jwks.json"), &jwks)?;
    let builder = |cache: u64| {
        OAuthFilter::builder()
            .verified_token_cache(cache)
            .jwt_issuer(
                JwtIssuer::new(issuer.issuer())
                    .audience("api")
                    .jwks_json(jwks.clone()),
            )
    };
    let make = |cache: u64| builder(cache).build();
    // The default cache capacity (10,000): 100,000 rotating tokens then measure the miss path.
    let (cached, uncached) = (make(10_000)?, make(0)?);
    let day = 24 * 3600;
    for (name, alg) in [
        ("rs256", SigningAlg::RS256),
        ("es256", SigningAlg::ES256),
        ("eddsa", SigningAlg::EdDSA),
    ] {
        let key = issuer.key_for(alg).ok_or("no key")?;
        std::fs::write(
            dir.join(name),
            issuer
                .mint()
                .key(key)
                .scope("read")
                .expires_in_secs(day)
                .sign()
                + "\n",
        )?;
    }
    // For the scope checks' 403 (scripts/bench-gateway.sh checks every variant refuses it).
    let rs = issuer.key_for(SigningAlg::RS256).ok_or("no key")?;
    std::fs::write(
        dir.join("noscope"),
        issuer
            .mint()
            .key(rs.clone())
            .scope("write")
            .expires_in_secs(day)
            .sign()
            + "\n",
    )?;
    // The floor route's key: the RS256 public key, parsed once.
    let floor_key = Arc::new(ParsedPublicKey::new(
        &signature::RSA_PKCS1_2048_8192_SHA256,
        rs.public_key_der(),
    )?);
    let es = issuer.key_for(SigningAlg::ES256).ok_or("no key")?;
    // ROTATING: how many (default 100,000; fewer under valgrind, which signs slowly).
    let rotating: usize = std::env::var("ROTATING").map_or(Ok(100_000), |n| n.parse())?;
    let rotating: Vec<String> = (0..rotating)
        .map(|_| {
            issuer
                .mint()
                .key(es.clone())
                .scope("read")
                .expires_in_secs(day)
                .sign()
        })
        .collect();
    std::fs::write(dir.join("rotating"), rotating.join("\n") + "\n")?;
    let good = issuer
        .mint()
        .key(es)
        .scope("read")
        .expires_in_secs(day)
        .sign();
    let forged = format!(
        "{}.{}",
        good.rsplit_once('.').map_or("", |p| p.0),
        "A".repeat(86)
    );

    // DPoP: proofs made now and used within the run (an hour's window, a replay cache for all).
    let rounds: usize = std::env::var("DPOP_ROUNDS").map_or(Ok(0), |r| r.parse())?;
    let per_round: usize = std::env::var("DPOP_PROOFS").map_or(Ok(120_000), |r| r.parse())?;
    let policy = DpopPolicy::new(&[Algorithm::ES256], 3600, 5).ok_or("policy")?;
    let dpop = builder(0)
        .dpop(
            Dpop::new(format!("http://{listen}"))
                .policy(policy)
                .replay_capacity((rounds * per_round).max(1) * 2),
        )
        .build()?;
    if rounds > 0 {
        let client = DpopClient::generate(SigningAlg::ES256).map_err(|_| "DPoP key")?;
        let es = issuer.key_for(SigningAlg::ES256).ok_or("no key")?;
        let bound = issuer
            .mint()
            .key(es)
            .scope("read")
            .claim("cnf", client.cnf())
            .expires_in_secs(day)
            .sign();
        let uri = format!("http://{listen}/dpop");
        for round in 1..=rounds {
            let proofs: Vec<String> = (0..per_round)
                .map(|_| client.proof("GET", &uri, &bound))
                .collect();
            std::fs::write(
                dir.join(format!("dpop-proofs-{round}")),
                proofs.join("\n") + "\n",
            )?;
        }
        std::fs::write(dir.join("dpop-token"), bound + "\n")?;
    }
    // Written last: the script waits for it.
    std::fs::write(dir.join("forged"), forged + "\n")?;

    let app = Router::new()
        .route("/open", get(|| async { "ok" }))
        // Any other path answers like /open: the upstream of the gateway benchmark.
        .fallback(|| async { "ok" })
        .route(
            "/cached",
            get(|| async { "ok" }).route_layer(cached.require(["read"])),
        )
        .route(
            "/uncached",
            get(|| async { "ok" }).route_layer(uncached.require(["read"])),
        )
        .route(
            "/dpop",
            get(|| async { "ok" }).route_layer(dpop.require(["read"])),
        )
        .route(
            "/floor",
            get(move |headers: HeaderMap| {
                let key = floor_key.clone();
                async move {
                    if signature_holds(&key, &headers) {
                        Ok("ok")
                    } else {
                        Err(StatusCode::UNAUTHORIZED)
                    }
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    eprintln!("bench server on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

/// The floor route's check: the bearer token's signature over its signing input, and nothing
/// else (no header, no claims). Not a verifier: a baseline for the benchmark.
fn signature_holds(key: &ParsedPublicKey, headers: &HeaderMap) -> bool {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let Some((input, sig)) = token.rsplit_once('.') else {
        return false;
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sig)
        .is_ok_and(|sig| key.verify_sig(input.as_bytes(), &sig).is_ok())
}
