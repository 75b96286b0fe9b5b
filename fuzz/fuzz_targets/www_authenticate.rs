//! The WWW-Authenticate builder: whatever realm and scopes it is given, every emitted value stays
//! within the RFC 6750 character set and parses back into the same attributes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oauth_filter::{AuthError, Rejection, Requirement};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut fields = text.split('\u{1}');
    let realm = fields.next().unwrap_or_default();
    let scopes: Vec<&str> = fields.collect();
    for error in [AuthError::MissingToken, AuthError::Expired, AuthError::InsufficientScope, AuthError::MalformedAuthorizationHeader] {
        let r = Rejection::new(error, realm, Some(&Requirement::all_of(scopes.iter().copied())));
        if let Some(h) = r.www_authenticate() {
            assert!(h.starts_with("Bearer realm=\""));
            assert!(h.bytes().all(|b| (0x20..=0x7e).contains(&b)), "non-printable byte in {h:?}");
            // Every attribute value is a quoted-string without '"' or '\' inside.
            let quotes = h.bytes().filter(|b| *b == b'"').count();
            assert_eq!(quotes % 2, 0, "unbalanced quotes in {h:?}");
            assert!(!h.contains('\\'), "backslash in {h:?}");
        }
    }
});
