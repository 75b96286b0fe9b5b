//! Every applicable Project Wycheproof vector (C2SP/wycheproof, Apache-2.0), read from
//! `../shared/vectors/wycheproof` (or `$WYCHEPROOF_DIR`) at test time.
//!
//! JOSE vectors go through the same path as tokens: strict compact parsing, key rules, key
//! selection by `kid`, signature check. Raw signature vectors go through `VerifyingKey` built from
//! the vector's JWK. The only deviations are listed in `JOSE_DEVIATIONS` with their reason, and
//! the test fails if the list and reality differ in either direction.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use oauth_filter::__internal::jose::{self, Algorithm, VerifyingKey, base64url};
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::path::PathBuf;

fn vectors_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("WYCHEPROOF_DIR") {
        return PathBuf::from(dir);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors/wycheproof")
}

fn load(name: &str) -> Value {
    let path = vectors_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Vectors whose expected result contradicts strict parsing, with the reason.
const JOSE_DEVIATIONS: &[(&str, u64, &str)] = &[
    (
        "json_web_signature_test.json",
        346,
        "RFC 7520 Figure 20: the JWK says alg PS256, the token PS384; a key is bound to its JWK alg (RFC 7517 §4.4, our one-algorithm-per-key invariant)",
    ),
    (
        "json_web_signature_test.json",
        350,
        "same as 346, with key_ops",
    ),
    (
        "json_web_signature_test.json",
        347,
        "RFC 7520 Figure 27: the JWK says alg ES521, which is not a registered algorithm (ES512 is); a key with an unknown alg is unusable",
    ),
    (
        "json_web_signature_test.json",
        351,
        "same as 347, with key_ops",
    ),
    (
        "json_web_signature_test.json",
        367,
        "the vector's JWS is byte-identical to tcId 357, which is valid; the padding its comment names is absent, so both results cannot hold",
    ),
    (
        "json_web_signature_test.json",
        370,
        "byte-identical to tcId 357 (valid), as 367",
    ),
    (
        "json_web_signature_test.json",
        372,
        "expects a MAC over a header with an invalid base64url character stripped; strict base64url refuses the character",
    ),
    (
        "json_web_signature_test.json",
        373,
        "expects a MAC over a payload with an invalid base64url character stripped; strict base64url refuses the character",
    ),
];

const ALL_ALGS: [Algorithm; 13] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::ES512,
    Algorithm::EdDSA,
    Algorithm::HS256,
    Algorithm::HS384,
    Algorithm::HS512,
];

/// Keys from a group, mapped the way our configuration API takes them:
/// - only symmetric keys: the operator's configured shared secrets (`dangerous_hmac_secret`), the
///   only way HMAC is ever enabled. A secret that is not valid base64url, too short, or whose kid
///   repeats makes the configuration invalid, so nothing verifies.
/// - otherwise: a JWK set. Symmetric keys in it are skipped (never taken from a JWKS), as is any
///   key failing the JWK rules.
fn group_keys(group: &Map<String, Value>) -> Vec<VerifyingKey> {
    let source = group
        .get("public")
        .or_else(|| group.get("private"))
        .expect("group has keys");
    let jwks: Vec<&Map<String, Value>> = match source.get("keys") {
        Some(Value::Array(keys)) => keys.iter().map(|k| k.as_object().unwrap()).collect(),
        _ => vec![source.as_object().unwrap()],
    };
    let is_oct = |jwk: &Map<String, Value>| jwk.get("kty").and_then(Value::as_str) == Some("oct");
    if jwks.iter().all(|j| is_oct(j)) {
        let mut kids = BTreeSet::new();
        let configured: Option<Vec<VerifyingKey>> = jwks
            .iter()
            .map(|jwk| {
                let alg = Algorithm::from_name(jwk.get("alg")?.as_str()?)?;
                let secret = base64url::decode(jwk.get("k")?.as_str()?).ok()?;
                let kid = jwk.get("kid").and_then(Value::as_str).map(str::to_owned);
                if !kids.insert((alg, kid.clone())) {
                    return None;
                }
                VerifyingKey::from_shared_secret(alg, &secret, kid).ok()
            })
            .collect();
        configured.unwrap_or_default()
    } else {
        jwks.into_iter()
            .filter_map(|jwk| VerifyingKey::from_jwk(jwk, &ALL_ALGS).ok())
            .collect()
    }
}

fn jose_accepts(jws: &Value, keys: &[VerifyingKey]) -> bool {
    // JSON serialization is never accepted: only compact JWS strings are tokens.
    let Some(compact) = jws.as_str() else {
        return false;
    };
    let Ok(parsed) = jose::parse_compact(compact) else {
        return false;
    };
    parsed.verify_with_any(keys).is_ok() && parsed.payload().is_ok()
}

fn run_jose_file(name: &str) -> (usize, BTreeSet<(String, u64)>) {
    let doc = load(name);
    let mut checked = 0;
    let mut mismatches = BTreeSet::new();
    for group in doc["testGroups"].as_array().unwrap() {
        let group = group.as_object().unwrap();
        let tests = group["tests"].as_array().unwrap();
        // JWE groups are out of scope: this filter refuses every JWE.
        if tests.iter().any(|t| t.get("jwe").is_some()) {
            for t in tests {
                if let Some(Value::String(jwe)) = t.get("jwe") {
                    assert!(
                        jose::parse_compact(jwe).is_err(),
                        "{name} tcId {} JWE parsed as JWS",
                        t["tcId"]
                    );
                }
            }
            continue;
        }
        let keys = group_keys(group);
        for t in tests {
            let expected = t["result"].as_str().unwrap() == "valid";
            let got = jose_accepts(&t["jws"], &keys);
            checked += 1;
            if got != expected {
                mismatches.insert((name.to_owned(), t["tcId"].as_u64().unwrap()));
            }
        }
    }
    (checked, mismatches)
}

#[test]
fn jose_vectors() {
    let mut total = 0;
    let mut mismatches = BTreeSet::new();
    for file in [
        "json_web_signature_test.json",
        "json_web_key_test.json",
        "json_web_crypto_test.json",
    ] {
        let (n, m) = run_jose_file(file);
        println!("{file}: {n} JWS vectors checked");
        total += n;
        mismatches.extend(m);
    }
    let expected: BTreeSet<(String, u64)> = JOSE_DEVIATIONS
        .iter()
        .map(|(f, id, _)| ((*f).to_owned(), *id))
        .collect();
    assert_eq!(
        mismatches, expected,
        "Wycheproof JOSE results differ from the listed deviations"
    );
    assert!(total > 450, "too few JOSE vectors: {total}");
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Raw signature vectors: (file, algorithm). Every group's key comes from its JWK.
const SIGNATURE_FILES: &[(&str, Algorithm)] = &[
    ("ecdsa_secp256r1_sha256_p1363_test.json", Algorithm::ES256),
    ("ecdsa_secp384r1_sha384_p1363_test.json", Algorithm::ES384),
    ("ecdsa_secp521r1_sha512_p1363_test.json", Algorithm::ES512),
    ("rsa_signature_2048_sha256_test.json", Algorithm::RS256),
    ("rsa_signature_2048_sha384_test.json", Algorithm::RS384),
    ("rsa_signature_2048_sha512_test.json", Algorithm::RS512),
    ("rsa_signature_3072_sha256_test.json", Algorithm::RS256),
    ("rsa_pss_2048_sha256_mgf1_32_test.json", Algorithm::PS256),
    ("rsa_pss_2048_sha384_mgf1_48_test.json", Algorithm::PS384),
    ("rsa_pss_4096_sha512_mgf1_64_test.json", Algorithm::PS512),
    ("ed25519_test.json", Algorithm::EdDSA),
];

/// A few ECDSA groups carry only hex coordinates (`wx`, `wy`); build the JWK (RFC 7518 §6.2.1.2:
/// each coordinate zero-padded to the full field length).
fn ec_jwk_from_coordinates(public: &Value, alg: Algorithm) -> Map<String, Value> {
    let (crv, len) = match alg {
        Algorithm::ES256 => ("P-256", 32),
        Algorithm::ES384 => ("P-384", 48),
        _ => ("P-521", 66),
    };
    let coord = |name: &str| {
        let raw = hex(public[name].as_str().unwrap());
        let trimmed: Vec<u8> = raw.iter().copied().skip_while(|b| *b == 0).collect();
        let mut padded = vec![0u8; len - trimmed.len()];
        padded.extend(trimmed);
        base64url::encode(&padded)
    };
    let jwk = serde_json::json!({"kty": "EC", "crv": crv, "x": coord("wx"), "y": coord("wy")});
    jwk.as_object().unwrap().clone()
}

#[test]
fn signature_vectors() {
    for (file, alg) in SIGNATURE_FILES {
        let doc = load(file);
        let (mut valid, mut invalid, mut acceptable) = (0, 0, 0);
        let mut failures = Vec::new();
        for group in doc["testGroups"].as_array().unwrap() {
            let mut jwk = match group.get("publicKeyJwk").or_else(|| group.get("keyJwk")) {
                Some(jwk) => jwk.as_object().unwrap().clone(),
                None => ec_jwk_from_coordinates(&group["publicKey"], *alg),
            };
            // The vector's JWK names the algorithm family; bind it to the one under test.
            jwk.insert("alg".into(), Value::from(alg.name()));
            let key = VerifyingKey::from_jwk(&jwk, &[*alg])
                .unwrap_or_else(|e| panic!("{file}: key rejected: {e}"));
            for t in group["tests"].as_array().unwrap() {
                let ok = key.verify(
                    *alg,
                    &hex(t["msg"].as_str().unwrap()),
                    &hex(t["sig"].as_str().unwrap()),
                );
                match t["result"].as_str().unwrap() {
                    "valid" => {
                        valid += 1;
                        if !ok {
                            failures.push(t["tcId"].as_u64().unwrap());
                        }
                    }
                    "invalid" => {
                        invalid += 1;
                        if ok {
                            failures.push(t["tcId"].as_u64().unwrap());
                        }
                    }
                    _ => acceptable += 1,
                }
            }
        }
        println!(
            "{file}: {valid} valid, {invalid} invalid, {acceptable} acceptable (either result allowed)"
        );
        assert!(failures.is_empty(), "{file}: vectors failed: {failures:?}");
        assert!(valid > 0 && invalid > 0, "{file}: vectors missing");
    }
}

#[test]
fn rsa_jwk_components_match_the_vectors_der() {
    // The JWK → key path must read n and e exactly as the DER the vectors also give.
    let doc = load("rsa_signature_2048_sha256_test.json");
    let group = &doc["testGroups"][0];
    let jwk = group["keyJwk"].as_object().unwrap();
    let n = base64url::decode(jwk["n"].as_str().unwrap()).unwrap();
    let asn = hex(group["publicKeyAsn"].as_str().unwrap());
    assert!(
        asn.windows(n.len()).any(|w| w == n.as_slice()),
        "modulus not found in the DER"
    );
}
