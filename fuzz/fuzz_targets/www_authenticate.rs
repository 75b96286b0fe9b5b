//! The WWW-Authenticate builder: whatever realm and scopes it is given, every emitted value stays
//! within the RFC 6750 character set and parses back (strictly, with the test kit's parser) into
//! exactly the attributes meant: our realm or the default, the error's code, and the required
//! scopes exactly when each is a scope-token.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oauth_filter::is_scope_token;
use oauth_filter::{AuthError, Rejection, Requirement};
use oauth_filter_testkit::parse_bearer_challenge;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut fields = text.split('\u{1}');
    let realm = fields.next().unwrap_or_default();
    let scopes: Vec<&str> = fields.collect();
    let realm_ok = realm
        .bytes()
        .all(|b| b == 0x20 || b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
    for error in [
        AuthError::MissingToken,
        AuthError::Expired,
        AuthError::InsufficientScope,
        AuthError::MalformedAuthorizationHeader,
    ] {
        let r = Rejection::new(error.clone(), realm, Some(&Requirement::all_of(scopes.iter().copied())));
        let Some(h) = r.www_authenticate() else { continue };
        assert!(h.bytes().all(|b| (0x20..=0x7e).contains(&b)), "non-printable byte in {h:?}");
        let attrs = parse_bearer_challenge(&h).unwrap_or_else(|| panic!("does not parse back: {h:?}"));
        let get = |n: &str| attrs.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        assert_eq!(get("realm"), Some(if realm_ok { realm } else { "api" }), "{h:?}");
        assert_eq!(get("error"), error.error_code(), "{h:?}");
        let joined = scopes.join(" ");
        let want = (error == AuthError::InsufficientScope
            && !scopes.is_empty()
            && scopes.iter().all(|s| is_scope_token(s)))
        .then_some(joined.as_str());
        assert_eq!(get("scope"), want, "{h:?}");
    }
});
