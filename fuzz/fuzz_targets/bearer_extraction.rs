//! Bearer extraction from raw header bytes: one or two Authorization values and a query.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oauth_filter::{ExtractionPolicy, RequestParts};

fuzz_target!(|data: &[u8]| {
    // Byte 0xff splits the input into header values; a query is taken from the last part.
    let mut parts = data.split(|b| *b == 0xff);
    let first = parts.next().unwrap_or_default();
    let second = parts.next();
    let query = parts.next().and_then(|q| std::str::from_utf8(q).ok());
    let mut req = RequestParts::new().authorization(first).query(query);
    if let Some(s) = second {
        req = req.authorization(s);
    }
    for policy in [ExtractionPolicy::default(), oauth_filter::__internal::extraction_policy(64, true)] {
        if let Ok(Some(token)) = req.bearer_token(&policy) {
            // Whatever is extracted is a non-empty b64token within the cap.
            assert!(!token.is_empty() && token.len() <= policy.max_token_len);
            assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b)));
        }
    }
});
