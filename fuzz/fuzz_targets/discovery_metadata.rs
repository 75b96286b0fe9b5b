//! Discovery metadata: only a document naming exactly our issuer is accepted.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if oauth_filter::__internal::discovery_metadata(data) {
        let doc: serde_json::Value = serde_json::from_slice(data).expect("accepted implies valid JSON");
        assert_eq!(doc["issuer"], "https://as.example", "metadata of another issuer accepted");
    }
});
