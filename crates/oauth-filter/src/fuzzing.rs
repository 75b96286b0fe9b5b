//! Entry points for the fuzz targets in `fuzz/` (feature `__internal`, not part of the API).
//!
//! ```
//! # #[cfg(feature = "__internal")] {
//! assert!(oauth_filter::__internal::jwks(br#"{"keys":[]}"#).is_empty());
//! # }
//! ```

use crate::discovery;
use crate::http::HttpClientConfig;
use crate::introspection::{Introspection, Introspector};
use crate::jose::{Algorithm, json};
use std::sync::OnceLock;

/// Parses a JWKS document the way a remote key set does, with every algorithm allowed (HMAC
/// included); returns the algorithms each usable key may verify, in document order.
pub fn jwks(bytes: &[u8]) -> Vec<Vec<Algorithm>> {
    let Ok(doc) = json::parse_object(bytes) else {
        return Vec::new();
    };
    let mut all = Algorithm::DEFAULT_ASYMMETRIC.to_vec();
    all.extend([Algorithm::HS256, Algorithm::HS384, Algorithm::HS512]);
    crate::keys::parse_jwks(&doc, &all)
        .map(|p| {
            p.keys
                .iter()
                .map(crate::jose::VerifyingKey::algorithms)
                .collect()
        })
        .unwrap_or_default()
}

fn introspector() -> Option<&'static Introspector> {
    static I: OnceLock<Option<Introspector>> = OnceLock::new();
    I.get_or_init(|| {
        let http = HttpClientConfig::default();
        let fetcher = http.build().ok()?;
        Introspection::new("https://as.example/introspect", "rs", "secret")
            .issuer("https://as.example")
            .audience("api")
            .build(
                &http,
                &fetcher,
                60.0,
                std::sync::Arc::new(crate::SystemClock),
                0,
                &std::collections::HashMap::new(),
            )
            .ok()
    })
    .as_ref()
}

/// Judges an introspection response body (as if it came with HTTP 200). True when active.
pub fn introspection_response(bytes: &[u8]) -> bool {
    let Ok(doc) = json::parse_object(bytes) else {
        return false;
    };
    let Some(i) = introspector() else {
        return false;
    };
    i.judge(Some(&doc), 1_800_000_000.0, None)
        .is_ok_and(|e| e.is_active())
}

/// Validates a discovery metadata document for the issuer `https://as.example`.
pub fn discovery_metadata(bytes: &[u8]) -> bool {
    let Ok(doc) = json::parse_object(bytes) else {
        return false;
    };
    discovery::validate_metadata(&doc, "https://as.example", &HttpClientConfig::default()).is_ok()
}

/// An extraction policy with the query-token door set as asked (for property tests).
pub fn extraction_policy(max_token_len: usize, allow_query_token: bool) -> crate::ExtractionPolicy {
    crate::ExtractionPolicy {
        max_token_len,
        allow_query_token,
        dpop: false,
    }
}
