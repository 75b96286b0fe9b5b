//! Compact JWS parsing and full verification (keys, signature, claims) against a key set made at
//! start-up. The keys are generated here (RS256, ES256, EdDSA): no private half exists anywhere
//! else, so nothing the fuzzer writes can carry a valid signature, and any token accepted is a
//! forgery. (Example keys from the RFCs would not do: their private halves are published, and a
//! corpus could hold a genuinely signed token.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use oauth_filter::__internal::jose::{self, Algorithm, VerifyingKey};
use oauth_filter::{JwtIssuer, OAuthFilter};
use oauth_filter_testkit::{SigningAlg, SigningKey};
use std::sync::OnceLock;

fn filter() -> &'static (tokio::runtime::Runtime, OAuthFilter, Vec<VerifyingKey>) {
    static F: OnceLock<(tokio::runtime::Runtime, OAuthFilter, Vec<VerifyingKey>)> = OnceLock::new();
    F.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let jwks: Vec<serde_json::Value> = [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA]
            .into_iter()
            .map(|alg| SigningKey::generate(alg).unwrap().public_jwk().clone())
            .collect();
        let jwks = serde_json::json!({ "keys": jwks });
        let filter = OAuthFilter::builder()
            .jwt_issuer(
                JwtIssuer::new("https://as.example")
                    .audience("api")
                    .jwks_json(jwks.to_string())
                    .dangerous().hmac_secret(Algorithm::HS256, Some("hs"), random_secret()),
            )
            .build()
            .unwrap();
        let keys = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|k| VerifyingKey::from_jwk(k.as_object().unwrap(), &Algorithm::DEFAULT_ASYMMETRIC).ok())
            .collect();
        (rt, filter, keys)
    })
}

/// An HMAC secret the fuzzer cannot know: random per run.
fn random_secret() -> Vec<u8> {
    let k = SigningKey::generate(SigningAlg::EdDSA).unwrap();
    k.sign(b"hmac secret seed")
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else { return };
    let (rt, filter, keys) = filter();
    if let Ok(jws) = jose::parse_compact(token) {
        let _ = jws.payload();
        // No key set here has a private key: nothing the fuzzer writes may verify.
        assert!(jws.verify_with_any(keys).is_err(), "forged signature accepted");
    }
    // A static key set and an HMAC secret the fuzzer cannot know: every token is refused.
    assert!(rt.block_on(filter.verify(token)).is_err(), "fuzzer-made token accepted");
});
