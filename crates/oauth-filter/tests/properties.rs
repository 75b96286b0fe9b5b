//! Property tests: no input makes a parser panic; every challenge stays within RFC 6750's
//! character set; mint → verify holds for every algorithm and claim shape, and any single-bit
//! change to a token is refused.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use oauth_filter::__internal::jose::{self, Algorithm, VerifyingKey, base64url, json};
use oauth_filter::is_scope_token;
use oauth_filter::{
    AuthError, JwtIssuer, OAuthFilter, Rejection, RequestParts, Requirement, Scopes,
};
use oauth_filter_testkit::{SigningAlg, TestIssuer};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use std::sync::OnceLock;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = jose::parse_compact(&text).map(|j| j.payload());
        let _ = json::parse_value(&bytes);
        let _ = base64url::decode(&text);
        let _ = Scopes::from_space_separated(&text);
        let policy = oauth_filter::__internal::extraction_policy(100, true);
        let _ = RequestParts::new().authorization(&bytes).query(Some(&text)).bearer_token(&policy);
        if let Ok(Value::Object(map)) = json::parse_value(&bytes) {
            let _ = VerifyingKey::from_jwk(&map, &Algorithm::DEFAULT_ASYMMETRIC);
        }
    }

    #[test]
    fn jwk_parsing_never_panics_on_structured_garbage(
        kty in prop_oneof![Just(String::from("RSA")), Just(String::from("EC")), Just(String::from("OKP")), Just(String::from("oct")), ".*"],
        crv in prop_oneof![Just(String::from("P-256")), Just(String::from("P-384")), Just(String::from("P-521")), Just(String::from("Ed25519")), ".*"],
        alg in prop_oneof![Just(String::from("RS256")), Just(String::from("ES256")), Just(String::from("EdDSA")), Just(String::from("PS512")), ".*"],
        a in proptest::collection::vec(any::<u8>(), 0..600),
        b in proptest::collection::vec(any::<u8>(), 0..80),
    ) {
        let jwk = json!({"kty": kty, "crv": crv, "alg": alg, "n": base64url::encode(&a), "e": base64url::encode(&b),
                         "x": base64url::encode(&a), "y": base64url::encode(&b)});
        let _ = VerifyingKey::from_jwk(jwk.as_object().unwrap(), &Algorithm::DEFAULT_ASYMMETRIC);
    }

    #[test]
    fn challenges_stay_within_the_rfc_6750_charset(realm in prop_oneof![".*", "[ -!#-\\[\\]-~]{0,12}"],
        scopes in prop_oneof![proptest::collection::vec(".*", 0..5), proptest::collection::vec("[!#-\\[\\]-~]{1,8}", 1..4)],
        pick in 0usize..6) {
        let error = [AuthError::MissingToken, AuthError::Expired, AuthError::InsufficientScope,
                     AuthError::MultipleTokens, AuthError::KeysUnavailable, AuthError::InactiveToken][pick].clone();
        let r = Rejection::new(error, &realm, Some(&Requirement::all_of(scopes.iter().cloned())));
        for (_, value) in r.challenge_headers() {
            prop_assert!(value.bytes().all(|b| (0x20..=0x7e).contains(&b)), "{value:?}");
        }
        if let Some(h) = r.www_authenticate() {
            // It parses back, strictly, into exactly the attributes meant.
            let attrs = oauth_filter_testkit::parse_bearer_challenge(&h);
            prop_assert!(attrs.is_some(), "does not parse back: {h:?}");
            let attrs = attrs.unwrap();
            let get = |n: &str| attrs.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
            // The realm is ours when it is valid attribute text, else the default.
            let realm_ok = realm.bytes().all(|b| b == 0x20 || b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
            prop_assert_eq!(get("realm"), Some(if realm_ok { realm.as_str() } else { "api" }));
            prop_assert_eq!(get("error"), r.error().error_code());
            // The scope attribute: exactly the required scopes when every one is a scope-token,
            // absent otherwise (never a partial or altered list, never dropped when valid).
            let all_valid = !scopes.is_empty() && scopes.iter().all(|s| is_scope_token(s));
            let expected = scopes.join(" ");
            let want = (matches!(r.error(), AuthError::InsufficientScope) && all_valid).then_some(expected.as_str());
            prop_assert_eq!(get("scope"), want);
        }
        let body: Value = serde_json::from_slice(&r.json_body()).unwrap();
        prop_assert!(body["error"].is_string());
    }
}

struct World {
    rt: tokio::runtime::Runtime,
    issuer: TestIssuer,
    filter: OAuthFilter,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let issuer = rt.block_on(
            TestIssuer::builder()
                .algorithms(&[
                    SigningAlg::RS256,
                    SigningAlg::PS256,
                    SigningAlg::ES256,
                    SigningAlg::ES384,
                    SigningAlg::ES512,
                    SigningAlg::EdDSA,
                ])
                .start(),
        );
        let filter = OAuthFilter::builder()
            .jwt_issuer(
                JwtIssuer::new(issuer.issuer())
                    .audience("api")
                    .jwks_json(issuer.jwks().to_string()),
            )
            .build()
            .unwrap();
        World { rt, issuer, filter }
    })
}

fn alg() -> impl Strategy<Value = SigningAlg> {
    prop_oneof![
        Just(SigningAlg::RS256),
        Just(SigningAlg::PS256),
        Just(SigningAlg::ES256),
        Just(SigningAlg::ES384),
        Just(SigningAlg::ES512),
        Just(SigningAlg::EdDSA)
    ]
}

fn extra_claim() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        ".*".prop_map(Value::from)
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn mint_verify_round_trip_and_bit_flips(
        alg in alg(),
        scopes in proptest::collection::vec("[!#-\\[\\]-~]{1,12}", 0..5),
        aud_as_array in any::<bool>(),
        extra in proptest::collection::btree_map("x_[a-z]{1,8}", extra_claim(), 0..4),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let w = world();
        let key = w.issuer.key_for(alg).unwrap();
        let mut b = w.issuer.mint().key(key).scope(&scopes.join(" "));
        if aud_as_array {
            b = b.claim("aud", json!(["other", "api"]));
        }
        for (k, v) in &extra {
            b = b.claim(k, v.clone());
        }
        let token = b.sign();
        let t = w.rt.block_on(w.filter.verify(&token)).unwrap();
        for s in &scopes {
            prop_assert!(t.scopes().contains(s));
        }
        let claims: &Map<String, Value> = t.claims();
        for (k, v) in &extra {
            prop_assert_eq!(claims.get(k), Some(v));
        }
        // Any single-bit change is refused.
        let mut bytes = token.into_bytes();
        let i = flip.index(bytes.len());
        bytes[i] ^= 1 << bit;
        if let Ok(changed) = String::from_utf8(bytes) {
            prop_assert!(w.rt.block_on(w.filter.verify(&changed)).is_err(), "bit {bit} of byte {i} flipped and accepted");
        }
    }
}
