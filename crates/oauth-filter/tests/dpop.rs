//! DPoP proofs made by the test kit's client (its own thumbprint and `ath`, computed apart from
//! the core) against the core's proof checks: every algorithm the policy allows, the binding to
//! a token's `cnf.jkt`, and replay across two policies sharing one cache.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use oauth_filter::__internal::dpop::{DpopError, DpopPolicy, ProofRequest, ReplayCache};
use oauth_filter::Algorithm;
use oauth_filter_testkit::{DpopClient, SigningAlg, now_secs};
use serde_json::json;

const URI: &str = "https://api.example/orders";
const TOKEN: &str = "eyJhbGciOiJFUzI1NiJ9.e30.c2ln";

fn request() -> ProofRequest<'static> {
    ProofRequest {
        method: "POST",
        uri: URI,
        access_token: TOKEN,
    }
}

fn now() -> f64 {
    now_secs() as f64
}

#[test]
fn the_kit_and_the_core_agree_on_every_algorithm_and_thumbprint() {
    let all = [
        (SigningAlg::ES256, Algorithm::ES256),
        (SigningAlg::ES384, Algorithm::ES384),
        (SigningAlg::ES512, Algorithm::ES512),
        (SigningAlg::PS256, Algorithm::PS256),
        (SigningAlg::RS256, Algorithm::RS256),
        (SigningAlg::EdDSA, Algorithm::EdDSA),
    ];
    let policy = DpopPolicy::new(&all.map(|(_, a)| a), 60, 5).unwrap();
    for (alg, _) in all {
        let client = DpopClient::generate(alg).unwrap();
        let proof = policy
            .verify(&client.proof("POST", URI, TOKEN), &request(), now())
            .unwrap_or_else(|e| panic!("{alg:?}: {e:?}"));
        assert_eq!(proof.thumbprint(), client.thumbprint(), "{alg:?}");
        assert!(proof.binds(client.cnf()["jkt"].as_str().unwrap()));
    }
}

#[test]
fn the_default_policy_takes_es256_ps256_and_eddsa_only() {
    let policy = DpopPolicy::default();
    assert_eq!(
        policy.algorithms(),
        [Algorithm::ES256, Algorithm::PS256, Algorithm::EdDSA]
    );
    let rs256 = DpopClient::generate(SigningAlg::RS256).unwrap();
    assert_eq!(
        policy
            .verify(&rs256.proof("POST", URI, TOKEN), &request(), now())
            .unwrap_err(),
        DpopError::UnsupportedAlgorithm
    );
}

#[test]
fn a_proof_binds_only_its_own_key() {
    let client = DpopClient::generate(SigningAlg::ES256).unwrap();
    let other = DpopClient::generate(SigningAlg::ES256).unwrap();
    let proof = DpopPolicy::default()
        .verify(&client.proof("POST", URI, TOKEN), &request(), now())
        .unwrap();
    assert!(!proof.binds(other.thumbprint()));
    // The other client's key named in a proof this client signed.
    let swapped = client
        .proof_builder("POST", URI, TOKEN)
        .header("jwk", other.public_jwk())
        .sign();
    assert_eq!(
        DpopPolicy::default()
            .verify(&swapped, &request(), now())
            .unwrap_err(),
        DpopError::BadSignature
    );
}

#[test]
fn the_kits_builder_reaches_every_claim_check() {
    let client = DpopClient::generate(SigningAlg::EdDSA).unwrap();
    let policy = DpopPolicy::default();
    let cases = [
        ("htm", json!("GET"), DpopError::MethodMismatch),
        (
            "htu",
            json!("https://api.example/other"),
            DpopError::UriMismatch,
        ),
        ("iat", json!(now_secs() - 3600), DpopError::Stale),
        (
            "iat",
            json!(now_secs() + 3600),
            DpopError::IssuedInTheFuture,
        ),
        ("ath", json!("AAAA"), DpopError::AccessTokenHashMismatch),
        ("jti", json!(""), DpopError::InvalidJti),
    ];
    for (claim, value, want) in cases {
        let proof = client
            .proof_builder("POST", URI, TOKEN)
            .claim(claim, value.clone())
            .sign();
        assert_eq!(
            policy.verify(&proof, &request(), now()).unwrap_err(),
            want,
            "{claim}={value}"
        );
    }
}

#[test]
fn one_cache_accepts_a_proof_once_whichever_policy_checked_it() {
    let client = DpopClient::generate(SigningAlg::ES256).unwrap();
    let cache = ReplayCache::new(10_000);
    let (a, b) = (DpopPolicy::default(), DpopPolicy::default());
    let proof = client.proof("POST", URI, TOKEN);
    let first = a.verify(&proof, &request(), now()).unwrap();
    assert_eq!(cache.first_use(&first, now()), Ok(()));
    let again = b.verify(&proof, &request(), now()).unwrap();
    assert_eq!(cache.first_use(&again, now()), Err(DpopError::Replayed));
    // A fresh proof from the same client is another proof.
    let fresh = b
        .verify(&client.proof("POST", URI, TOKEN), &request(), now())
        .unwrap();
    assert_eq!(cache.first_use(&fresh, now()), Ok(()));
}
