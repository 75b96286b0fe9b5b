//! Compact JWS parsing and full verification (keys, signature, claims) against a fixed key set.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oauth_filter::jose::{self, Algorithm, VerifyingKey};
use oauth_filter::{JwtIssuer, OAuthFilter};
use std::sync::OnceLock;

const JWKS: &str = r#"{"keys":[
 {"kty":"EC","crv":"P-256","kid":"ec","alg":"ES256","x":"04N0xi21hshyvBp7I167sbE_bXqyqkAPfefdklMO7wY","y":"UI8exy-C06a7DUnjIdENkxeFtHM4-l_41LqEw9nVgmw"},
 {"kty":"OKP","crv":"Ed25519","kid":"ed","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
 {"kty":"RSA","kid":"rsa","alg":"RS256","e":"AQAB","n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"}
]}"#;

fn filter() -> &'static (tokio::runtime::Runtime, OAuthFilter, Vec<VerifyingKey>) {
    static F: OnceLock<(tokio::runtime::Runtime, OAuthFilter, Vec<VerifyingKey>)> = OnceLock::new();
    F.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let filter = OAuthFilter::builder()
            .jwt_issuer(
                JwtIssuer::new("https://as.example")
                    .audience("api")
                    .jwks_json(JWKS)
                    .dangerous_hmac_secret(Algorithm::HS256, Some("hs"), b"0123456789abcdef0123456789abcdef".to_vec()),
            )
            .build()
            .unwrap();
        let doc: serde_json::Value = serde_json::from_str(JWKS).unwrap();
        let keys = doc["keys"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|k| VerifyingKey::from_jwk(k.as_object().unwrap(), &Algorithm::DEFAULT_ASYMMETRIC).ok())
            .collect();
        (rt, filter, keys)
    })
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
