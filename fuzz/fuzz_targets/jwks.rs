//! JWKS documents: any bytes, parsed and every key checked. Never a panic, and whatever is
//! accepted obeys the key rules: one algorithm per key (RFC 8725 §3.1), never an HMAC algorithm
//! (symmetric keys never come from a JWKS), never more keys than the document lists, and the
//! same answer every time.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let keys = oauth_filter::__internal::jwks(data);
    for algs in &keys {
        assert_eq!(algs.len(), 1, "a key usable with several algorithms: {algs:?}");
        assert!(algs.iter().all(|a| !a.is_hmac()), "an HMAC key taken from a JWKS");
    }
    if !keys.is_empty() {
        let listed = serde_json::from_slice::<serde_json::Value>(data)
            .ok()
            .and_then(|d| d.get("keys").and_then(|k| k.as_array()).map(Vec::len))
            .unwrap_or(0);
        assert!(keys.len() <= listed, "{} keys from {listed} entries", keys.len());
    }
    assert_eq!(oauth_filter::__internal::jwks(data), keys, "parsing is not deterministic");
});
