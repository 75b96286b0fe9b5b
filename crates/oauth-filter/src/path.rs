//! Request paths: refused unless in normal form, decoded once, and matched on whole segments.
//! The one reading of a path that [`crate::PathRequirements`] and the gateway both use.
//!
//! ```
//! use oauth_filter::path::{check, prefix_matches};
//! assert_eq!(check("/orders/42").unwrap(), "/orders/42"); // borrowed: nothing to decode
//! assert_eq!(check("/%6Frders/42").unwrap(), "/orders/42"); // the upstream decodes it too
//! assert!(check("/public/../admin").is_err()); // the upstream might resolve it to /admin
//! assert!(check("/admin;jsessionid=1").is_err()); // some servers strip path parameters
//! assert!(prefix_matches("/public", "/public/a"));
//! assert!(!prefix_matches("/public", "/public-admin/users")); // whole segments only
//! ```
//!
//! A proxy that matches routes on one reading of a path while the upstream acts on another can be
//! walked around: `/public/..%2fadmin` matches a public prefix here and serves `/admin` there.
//! The gateway therefore refuses, with 400, every path two servers could read differently: dot
//! segments (also percent-encoded), empty segments, encoded `/` or `\`, `;`, control bytes,
//! bad percent-escapes and non-UTF-8. Everything else is decoded once and matched decoded, so
//! `/%61dmin` meets the `/admin` route. Matching is case-sensitive: an upstream that treats
//! paths case-insensitively needs its routes written for every spelling, or a catch-all rule.

use std::borrow::Cow;

/// The decoded path, or why it is refused (a fixed text).
///
/// One pass over the segments; a segment without `%` is checked where it is. A path without
/// any `%` (nearly every one) is its own decoding and is returned borrowed, without an
/// allocation; the gateway calls this on every request.
pub fn check(raw: &str) -> Result<Cow<'_, str>, &'static str> {
    let Some(rest) = raw.strip_prefix('/') else {
        return Err("the path is not absolute");
    };
    let mut decoded = raw.contains('%').then(|| String::with_capacity(raw.len()));
    let mut segments = rest.split('/').peekable();
    while let Some(segment) = segments.next() {
        if segment.is_empty() && segments.peek().is_some() {
            return Err("the path has an empty segment");
        }
        if !segment.contains('%') {
            check_segment(segment)?;
            if let Some(d) = decoded.as_mut() {
                d.push('/');
                d.push_str(segment);
            }
            continue;
        }
        if !valid_escapes(segment) {
            return Err("the path has a malformed percent-escape");
        }
        let bytes: Cow<'_, [u8]> = percent_encoding::percent_decode_str(segment).into();
        let text = std::str::from_utf8(&bytes).map_err(|_| "the path is not UTF-8")?;
        check_segment(text)?;
        if let Some(d) = decoded.as_mut() {
            d.push('/');
            d.push_str(text);
        }
    }
    Ok(decoded.map_or(Cow::Borrowed(raw), Cow::Owned))
}

/// A decoded segment is refused if two servers could read it differently.
fn check_segment(text: &str) -> Result<(), &'static str> {
    if text == "." || text == ".." {
        return Err("the path has a dot segment");
    }
    if text
        .chars()
        .any(|c| c == '/' || c == '\\' || c == ';' || c.is_control())
    {
        return Err("the path has an encoded separator, ';' or a control character");
    }
    Ok(())
}

/// Whether `prefix` covers the (checked, decoded) `path`: equal, or followed by a `/` boundary.
/// A prefix that ends in `/` covers what is below it; `/` covers everything.
pub fn prefix_matches(prefix: &str, path: &str) -> bool {
    if prefix == "/" {
        return true;
    }
    let prefix_trimmed = prefix.strip_suffix('/').unwrap_or(prefix);
    path.strip_prefix(prefix_trimmed)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

fn valid_escapes(segment: &str) -> bool {
    let b = segment.as_bytes();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = |j: usize| b.get(j).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i + 1) && hex(i + 2)) {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::{check, prefix_matches};
    use proptest::prelude::*;
    use std::borrow::Cow;

    #[test]
    fn a_path_with_nothing_to_decode_is_not_copied() {
        assert!(matches!(
            check("/orders/42"),
            Ok(Cow::Borrowed("/orders/42"))
        ));
        assert!(matches!(check("/%6Frders/42"), Ok(Cow::Owned(p)) if p == "/orders/42"));
    }

    /// Pieces that make paths ambiguous, and ordinary ones.
    fn piece() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "/", "/", "/", "a", "b", "admin", ".", "..", "%2e", "%2E", "%2f", "%2F", "%5c", "\\",
            ";", "%3b", "%41", "%", "%zz", "%00", "%25", "~", "-", "_",
        ])
    }

    /// The first implementation of `check` (a Vec of segments, each decoded into a Vec), kept
    /// as the reference that the one-pass version must agree with.
    fn reference_check(raw: &str) -> Result<String, &'static str> {
        let Some(rest) = raw.strip_prefix('/') else {
            return Err("the path is not absolute");
        };
        let mut decoded = String::with_capacity(raw.len());
        let segments: Vec<&str> = rest.split('/').collect();
        let last = segments.len().saturating_sub(1);
        for (i, segment) in segments.iter().enumerate() {
            if segment.is_empty() && i != last {
                return Err("the path has an empty segment");
            }
            let bytes: Vec<u8> = percent_encoding::percent_decode_str(segment).collect();
            if segment.contains('%') && !super::valid_escapes(segment) {
                return Err("the path has a malformed percent-escape");
            }
            let text = std::str::from_utf8(&bytes).map_err(|_| "the path is not UTF-8")?;
            if text == "." || text == ".." {
                return Err("the path has a dot segment");
            }
            if text
                .chars()
                .any(|c| c == '/' || c == '\\' || c == ';' || c.is_control())
            {
                return Err("the path has an encoded separator, ';' or a control character");
            }
            decoded.push('/');
            decoded.push_str(text);
        }
        Ok(decoded)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]
        /// The one-pass `check` gives the reference's answer (the same path, or the same
        /// refusal) for paths built of ambiguous and ordinary pieces, and for any string.
        #[test]
        fn check_agrees_with_the_reference(pieces in prop::collection::vec(piece(), 0..12), any in ".{0,24}") {
            let raw = format!("/{}", pieces.concat());
            prop_assert_eq!(check(&raw).map(Cow::into_owned), reference_check(&raw));
            prop_assert_eq!(check(&any).map(Cow::into_owned), reference_check(&any));
            let slashed = format!("/{any}");
            prop_assert_eq!(check(&slashed).map(Cow::into_owned), reference_check(&slashed));
        }

        /// Whatever the gateway accepts, a URL normaliser (WHATWG, as browsers and many servers
        /// do it) leaves alone: no dot segments to resolve, no backslash to turn into '/'. So the
        /// path the gateway routes on is the path the upstream serves.
        #[test]
        fn accepted_paths_are_already_normal(pieces in prop::collection::vec(piece(), 0..12)) {
            let raw = format!("/{}", pieces.concat());
            if let Ok(decoded) = check(&raw) {
                let url = url::Url::parse(&format!("http://h{raw}")).unwrap();
                prop_assert_eq!(url.path(), raw.as_str());
                let segments: Vec<&str> = decoded[1..].split('/').collect();
                for (i, seg) in segments.iter().enumerate() {
                    prop_assert!(i + 1 == segments.len() || !seg.is_empty(), "empty segment in {:?}", decoded);
                    prop_assert!(*seg != "." && *seg != "..", "dot segment in {:?}", decoded);
                    prop_assert!(!seg.contains('\\') && !seg.contains(';'), "{:?}", decoded);
                }
            }
        }
    }

    #[test]
    fn normal_paths_pass_and_are_decoded_once() {
        assert_eq!(check("/").unwrap(), "/");
        assert_eq!(check("/orders/42").unwrap(), "/orders/42");
        assert_eq!(check("/orders/").unwrap(), "/orders/");
        assert_eq!(check("/%6Frders").unwrap(), "/orders");
        assert_eq!(check("/a%20b").unwrap(), "/a b");
        assert_eq!(check("/caf%C3%A9").unwrap(), "/café");
        // Decoded once: %2561 is "%61", not "a".
        assert_eq!(check("/%2561").unwrap(), "/%61");
    }

    #[test]
    fn prefixes_match_whole_segments() {
        assert!(prefix_matches("/a", "/a"));
        assert!(prefix_matches("/a", "/a/"));
        assert!(prefix_matches("/a", "/a/b"));
        assert!(prefix_matches("/a/", "/a/b"));
        assert!(prefix_matches("/a/", "/a"));
        assert!(!prefix_matches("/a", "/ab"));
        assert!(!prefix_matches("/public", "/public-admin/users"));
        assert!(prefix_matches("/", "/anything"));
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        for bad in [
            "",
            "*",
            "/..",
            "/a/../b",
            "/a/./b",
            "/a/%2e%2e/b",
            "/a/%2E/b",
            "/a/.%2e/b",
            "//a",
            "/a//b",
            "/a%2fb",
            "/a%2Fb",
            "/a%5cb",
            "/a\\b",
            "/admin;x=1",
            "/admin%3bx",
            "/a%00",
            "/a%0a",
            "/a%zz",
            "/a%4",
            "/%ff",
        ] {
            assert!(check(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
