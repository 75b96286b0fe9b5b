//! Token verification, per algorithm, in one run: our filter (full verification and cache hit),
//! raw aws-lc-rs signature verification with a pre-parsed key (the floor), and
//! `jsonwebtoken::decode` (the common alternative), on the same tokens. Plus the rejection paths:
//! a bad signature from a known key, and garbage that must be refused before any cryptography.
//! And an introspected token's cache hit beside a JWT cache hit.
//!
//! `cargo bench -p oauth-filter --bench verify`; BENCHMARKS.md has the ratios.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::FutureExt;
use oauth_filter::__internal::jose::{Algorithm, VerifyingKey, base64url};
use oauth_filter::{JwtIssuer, OAuthFilter};
use oauth_filter_testkit::{SigningAlg, TestIssuer};
use std::hint::black_box;

fn filter(issuer: &TestIssuer, cache: u64) -> OAuthFilter {
    OAuthFilter::builder()
        .verified_token_cache(cache)
        .jwt_issuer(
            JwtIssuer::new(issuer.issuer())
                .audience("api")
                .jwks_json(issuer.jwks().to_string()),
        )
        .build()
        .unwrap()
}

fn verify(f: &OAuthFilter, token: &str) -> bool {
    // A fixed key set never waits: one poll completes the future.
    f.verify(token).now_or_never().expect("ready").is_ok()
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Claims {
    sub: String,
    exp: u64,
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let issuer = rt.block_on(
        TestIssuer::builder()
            .algorithms(&[SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA])
            .start(),
    );
    let uncached = filter(&issuer, 0);
    let cached = filter(&issuer, 10_000);

    for alg in [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA] {
        let key = issuer.key_for(alg).unwrap();
        let token = issuer
            .mint()
            .key(key.clone())
            .scope("read")
            .expires_in_secs(3600)
            .sign();
        assert!(verify(&uncached, &token) && verify(&cached, &token));
        let mut g = c.benchmark_group(format!("verify/{}", alg.name()));

        g.bench_function("oauth-filter", |b| {
            b.iter(|| verify(&uncached, black_box(&token)))
        });
        g.bench_function("oauth-filter cache hit", |b| {
            b.iter(|| verify(&cached, black_box(&token)))
        });

        // The floor: the signature check alone, key parsed beforehand, input already split.
        let jwk = key.public_jwk().as_object().unwrap().clone();
        let our_alg = Algorithm::from_name(alg.name()).unwrap();
        let parsed = VerifyingKey::from_jwk(&jwk, &[our_alg]).unwrap();
        let (input, sig) = token.rsplit_once('.').unwrap();
        let sig = base64url::decode(sig).unwrap();
        assert!(parsed.verify(our_alg, input.as_bytes(), &sig));
        g.bench_function("raw aws-lc-rs verify", |b| {
            b.iter(|| parsed.verify(our_alg, black_box(input.as_bytes()), black_box(&sig)))
        });

        let jwt_jwk: jsonwebtoken::jwk::Jwk =
            serde_json::from_value(key.public_jwk().clone()).unwrap();
        let decoding = jsonwebtoken::DecodingKey::from_jwk(&jwt_jwk).unwrap();
        let jwt_alg = match alg {
            SigningAlg::RS256 => jsonwebtoken::Algorithm::RS256,
            SigningAlg::ES256 => jsonwebtoken::Algorithm::ES256,
            _ => jsonwebtoken::Algorithm::EdDSA,
        };
        let mut validation = jsonwebtoken::Validation::new(jwt_alg);
        validation.set_audience(&["api"]);
        validation.set_issuer(&[issuer.issuer()]);
        assert!(jsonwebtoken::decode::<Claims>(&token, &decoding, &validation).is_ok());
        g.bench_function("jsonwebtoken::decode", |b| {
            b.iter(|| {
                jsonwebtoken::decode::<Claims>(black_box(&token), &decoding, &validation).is_ok()
            })
        });

        // A bad signature from a known kid costs one signature check, like a good one.
        let (head, _) = token.rsplit_once('.').unwrap();
        let forged = format!("{head}.{}", base64url::encode(&vec![7u8; sig.len()]));
        assert!(!verify(&uncached, &forged));
        g.bench_function("oauth-filter bad signature", |b| {
            b.iter(|| verify(&uncached, black_box(&forged)))
        });
        g.finish();
    }

    // Introspection: a cache hit (the token was introspected once), against a JWT cache hit.
    let mut g = c.benchmark_group("introspection");
    let intro = OAuthFilter::builder()
        .introspection(
            oauth_filter::Introspection::new(
                issuer.introspection_url(),
                oauth_filter_testkit::INTROSPECTION_CLIENT_ID,
                oauth_filter_testkit::INTROSPECTION_CLIENT_SECRET,
            )
            .max_cache_ttl(std::time::Duration::from_secs(3600)),
        )
        .build()
        .unwrap();
    let opaque = issuer.opaque().scope("read").expires_in_secs(7200).issue();
    assert!(rt.block_on(intro.verify(&opaque)).is_ok());
    let calls = issuer.introspection_requests();
    assert!(verify(&intro, &opaque));
    g.bench_function("opaque token, cache hit", |b| {
        b.iter(|| verify(&intro, black_box(&opaque)))
    });
    let jwt = issuer.mint().scope("read").expires_in_secs(3600).sign();
    assert!(verify(&cached, &jwt));
    g.bench_function("JWT, cache hit (same run)", |b| {
        b.iter(|| verify(&cached, black_box(&jwt)))
    });
    assert_eq!(
        issuer.introspection_requests(),
        calls,
        "the hits made calls"
    );
    g.finish();

    dpop(c, &issuer);

    // Garbage: refused before any cryptography.
    let mut g = c.benchmark_group("reject");
    let stranger = rt.block_on(
        TestIssuer::builder()
            .algorithms(&[SigningAlg::ES256])
            .start(),
    );
    let unknown_issuer = stranger.mint().sign();
    let not_a_jws = "this is not a token at all";
    let oversize = "a".repeat(17 * 1024);
    let jwe = "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d";
    for (name, t) in [
        ("not a JWS", not_a_jws),
        ("JWE", jwe),
        ("unknown issuer", unknown_issuer.as_str()),
        ("oversize", oversize.as_str()),
    ] {
        assert!(!verify(&uncached, t));
        g.bench_function(name, |b| b.iter(|| verify(&uncached, black_box(t))));
    }
    g.finish();
}

/// DPoP (RFC 9449): a request with a DPoP-bound ES256 token and a fresh ES256 proof against a
/// bearer request with the same kind of token, with and without the verified-token cache, and
/// the proof's signature check alone. Proofs are made before the timed loop (each is used once).
fn dpop(c: &mut Criterion, issuer: &TestIssuer) {
    use oauth_filter::{Decision, Dpop, RequestParts, Requirement};
    use oauth_filter_testkit::DpopClient;
    let make = |cache: u64, dpop: bool| {
        let mut b = OAuthFilter::builder()
            .verified_token_cache(cache)
            .jwt_issuer(
                JwtIssuer::new(issuer.issuer())
                    .audience("api")
                    .jwks_json(issuer.jwks().to_string()),
            );
        if dpop {
            // Large enough for every proof of the run (each is kept a minute).
            b = b.dpop(Dpop::new("https://api.example").replay_capacity(4_000_000));
        }
        b.build().unwrap()
    };
    let requirement = Requirement::all_of(["read"]);
    let es256 = issuer.key_for(SigningAlg::ES256).unwrap();
    let client = DpopClient::generate(SigningAlg::ES256).unwrap();
    let bound = issuer
        .mint()
        .key(es256.clone())
        .scope("read")
        .claim("cnf", client.cnf())
        .expires_in_secs(3600)
        .sign();
    let bearer = issuer
        .mint()
        .key(es256)
        .scope("read")
        .expires_in_secs(3600)
        .sign();
    let uri = "https://api.example/orders";
    let allowed = |f: &OAuthFilter, auth: &str, proof: Option<&str>| {
        let mut parts = RequestParts::new()
            .authorization(auth.as_bytes())
            .method("GET")
            .path("/orders");
        if let Some(p) = proof {
            parts = parts.dpop(p.as_bytes());
        }
        matches!(f.decide_now(&parts, &requirement), Some(Decision::Allow(_)))
    };
    let bearer_auth = format!("Bearer {bearer}");
    let dpop_auth = format!("DPoP {bound}");
    let mut g = c.benchmark_group("dpop");
    for (cache, label) in [(0, "full verification"), (10_000, "token cached")] {
        let plain = make(cache, false);
        let with_dpop = make(cache, true);
        assert!(allowed(&plain, &bearer_auth, None));
        assert!(allowed(
            &with_dpop,
            &dpop_auth,
            Some(&client.proof("GET", uri, &bound))
        ));
        g.bench_function(format!("bearer ES256, {label}"), |b| {
            b.iter(|| allowed(&plain, black_box(&bearer_auth), None))
        });
        g.bench_function(format!("DPoP ES256 + ES256 proof, {label}"), |b| {
            // Every proof is made before the clock starts, as a client would have made it.
            b.iter_custom(|iters| {
                let proofs: Vec<String> = (0..iters)
                    .map(|_| client.proof("GET", uri, &bound))
                    .collect();
                let start = std::time::Instant::now();
                for proof in &proofs {
                    assert!(allowed(&with_dpop, &dpop_auth, Some(black_box(proof))));
                }
                start.elapsed()
            })
        });
    }
    // The proof's own signature check, key parsed beforehand (the floor of what DPoP adds).
    let proof = client.proof("GET", uri, &bound);
    let jwk = client.public_jwk().as_object().unwrap().clone();
    let key = VerifyingKey::from_jwk(&jwk, &[Algorithm::ES256]).unwrap();
    let (input, sig) = proof.rsplit_once('.').unwrap();
    let sig = base64url::decode(sig).unwrap();
    assert!(key.verify(Algorithm::ES256, input.as_bytes(), &sig));
    g.bench_function("proof key from its jwk", |b| {
        b.iter(|| VerifyingKey::from_jwk(black_box(&jwk), &[Algorithm::ES256]).is_ok())
    });
    let policy = oauth_filter::DpopPolicy::default();
    let request = oauth_filter::dpop::ProofRequest {
        method: "GET",
        uri,
        access_token: &bound,
    };
    let now = oauth_filter_testkit::now_secs() as f64;
    assert!(policy.verify(&proof, &request, now).is_ok());
    g.bench_function("proof checks (DpopPolicy::verify)", |b| {
        b.iter(|| policy.verify(black_box(&proof), &request, now).is_ok())
    });
    g.bench_function("raw aws-lc-rs verify of the proof", |b| {
        b.iter(|| {
            key.verify(
                Algorithm::ES256,
                black_box(input.as_bytes()),
                black_box(&sig),
            )
        })
    });
    // The same check over fresh proofs, one each, as the DPoP rows see them (a signature seen
    // once costs more than one verified again and again: the CPU learns the latter's branches).
    g.bench_function("raw aws-lc-rs verify of fresh proofs", |b| {
        b.iter_custom(|iters| {
            let signed: Vec<(String, Vec<u8>)> = (0..iters)
                .map(|_| {
                    let proof = client.proof("GET", uri, &bound);
                    let (input, sig) = proof.rsplit_once('.').unwrap();
                    (input.to_owned(), base64url::decode(sig).unwrap())
                })
                .collect();
            let start = std::time::Instant::now();
            for (input, sig) in &signed {
                assert!(key.verify(
                    Algorithm::ES256,
                    black_box(input.as_bytes()),
                    black_box(sig)
                ));
            }
            start.elapsed()
        })
    });
    g.finish();
}

criterion_group!(verify_benches, benches);
criterion_main!(verify_benches);
