//! Introspection response bodies: only a JSON object with `"active": true` can be active.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if oauth_filter::__internal::introspection_response(data) {
        let doc: serde_json::Value = serde_json::from_slice(data).expect("active implies valid JSON");
        assert_eq!(doc["active"], serde_json::Value::Bool(true), "active without \"active\": true");
    }
});
