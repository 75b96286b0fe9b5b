//! The verified access token a handler receives.
//!
//! ```
//! use oauth_filter::Scopes;
//! let scopes = Scopes::from_space_separated("read write");
//! assert!(scopes.contains("read"));
//! assert!(!scopes.contains("READ")); // exact, case-sensitive
//! ```

use crate::claims::TimeWindow;
use serde_json::{Map, Value};
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A set of scope tokens (RFC 6749 §3.3): exact, case-sensitive, order-free.
///
/// Boxed slices of boxed strings rather than `Vec<String>`: every cached token holds one, and
/// neither the set nor its items ever grow.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Scopes(Box<[Box<str>]>);

impl Scopes {
    /// Splits a space-separated `scope` value. Empty tokens are dropped.
    pub fn from_space_separated(s: &str) -> Self {
        Self::from_iter(s.split(' ').filter(|t| !t.is_empty()).map(str::to_owned))
    }

    /// True if `scope` is in the set.
    pub fn contains(&self, scope: &str) -> bool {
        self.0.binary_search_by(|s| (**s).cmp(scope)).is_ok()
    }

    /// The scopes, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|s| &**s)
    }

    /// Number of scopes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<String> for Scopes {
    fn from_iter<I: IntoIterator<Item = String>>(iter: I) -> Self {
        let mut v: Vec<Box<str>> = iter.into_iter().map(String::into_boxed_str).collect();
        v.sort();
        v.dedup();
        Self(v.into_boxed_slice())
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, scope) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(scope)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.iter()).finish()
    }
}

/// How the token was verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenKind {
    /// A JWT verified locally with the issuer's keys.
    Jwt,
    /// A token resolved through RFC 7662 introspection.
    Introspected,
}

/// The facts of a verified access token. Cheap to clone. The raw token is not kept.
#[derive(Clone)]
pub struct AccessToken(Arc<TokenFacts>);

/// A token's key binding (RFC 9449 DPoP, RFC 8705 mTLS), as the `bind` step sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Binding {
    /// A plain bearer token.
    None,
    /// Bound, and the configuration accepts it as a bearer token (the binding is enforced in
    /// front of this filter).
    AcceptedAsBearer,
    /// Bound to a DPoP key (`cnf.jkt`, RFC 9449 §6): good only with a proof by that key.
    Dpop,
    /// Bound to a client certificate (`cnf.x5t#S256`, RFC 8705 §3): good only on a connection
    /// with that certificate.
    Mtls,
    /// Bound, and its proof of possession is not verified: refused by `bind`.
    Unproven,
}

/// What a verified token says; made only by [`crate::claims::facts`].
pub(crate) struct TokenFacts {
    pub(crate) kind: TokenKind,
    /// Shared with the issuer's configuration (JWTs) rather than copied into every entry.
    pub(crate) issuer: Arc<str>,
    pub(crate) subject: Option<Box<str>>,
    pub(crate) client_id: Option<Box<str>>,
    pub(crate) scopes: Scopes,
    pub(crate) audiences: Box<[String]>,
    /// `exp`, `nbf`, `iat`: checked when the facts were made, and again on every cache hit.
    pub(crate) window: TimeWindow,
    pub(crate) jwt_id: Option<Box<str>>,
    pub(crate) claims: Claims,
    /// Identity of the filter that verified it, so a layer never trusts another filter's work.
    pub(crate) verified_by: usize,
    /// Whether the token is bound to a key, and whether that binding is proven.
    pub(crate) binding: Binding,
    /// The signed introspection response (RFC 9701), when one was requested.
    pub(crate) introspection_jwt: Option<Arc<str>>,
}

/// A token's claims as the JSON text they were verified in, parsed on first use and kept
/// parsed from then on. Most requests read only the facts beside them (subject, scopes,
/// audiences, times), and the text is a fraction of the parsed map's size: the verified-token
/// cache holds thousands of these, and the map was almost half of each entry
/// (`examples/memory_flood.rs`: 2.14 KiB per entry with the map, 1.20 KiB with the text; the
/// steps are in BENCHMARKS.md, "Memory").
pub(crate) struct Claims {
    /// Strict JSON (an object, no duplicate names) that parsed once already.
    json: Box<[u8]>,
    parsed: OnceLock<Map<String, Value>>,
}

impl Claims {
    /// `json` must be the text `parsed` came from (or its serialization): a verified JWT's
    /// payload, or an introspection document written out again.
    pub(crate) fn new(json: Vec<u8>) -> Self {
        Self {
            json: json.into_boxed_slice(),
            parsed: OnceLock::new(),
        }
    }

    /// The map, parsed now if nothing asked before. The text parsed strictly when it was
    /// verified, so parsing it again succeeds; were it ever to fail, the claims read as none,
    /// which every claim requirement refuses (fail closed).
    pub(crate) fn map(&self) -> &Map<String, Value> {
        self.parsed
            .get_or_init(|| crate::jose::json::parse_object(&self.json).unwrap_or_default())
    }
}

/// A NumericDate as a `SystemTime`, with checked arithmetic: `UNIX_EPOCH + d` panics when the
/// sum does not fit (from 2^63 seconds on Linux). Validation refuses dates after year 9999, so
/// `None` here only guards against a future path that forgets to.
fn to_system_time(secs: f64) -> Option<SystemTime> {
    if secs <= 0.0 {
        return Some(UNIX_EPOCH);
    }
    UNIX_EPOCH.checked_add(Duration::try_from_secs_f64(secs).ok()?)
}

impl AccessToken {
    pub(crate) fn new(facts: TokenFacts) -> Self {
        Self(Arc::new(facts))
    }
    pub(crate) fn verified_by(&self) -> usize {
        self.0.verified_by
    }
    pub(crate) fn binding(&self) -> Binding {
        self.0.binding
    }
    /// Whether `a` and `b` are one verified token, not merely equal facts: the verified-token
    /// cache hands out the same `AccessToken` to every request that presents the same
    /// credentials, so an adapter can keep what it derives from a token (header values, say)
    /// for the next request that brings it. A constant-time pointer comparison.
    ///
    /// ```
    /// # use oauth_filter::AccessToken;
    /// fn same(a: &AccessToken, b: &AccessToken) -> bool {
    ///     AccessToken::ptr_eq(a, b)
    /// }
    /// ```
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }

    /// How the token was verified.
    pub fn kind(&self) -> TokenKind {
        self.0.kind
    }
    /// The issuer (`iss`).
    pub fn issuer(&self) -> &str {
        &self.0.issuer
    }
    /// The subject (`sub`): the user, or the client for client-credentials tokens.
    pub fn subject(&self) -> Option<&str> {
        self.0.subject.as_deref()
    }
    /// The client the token was issued to (`client_id`, else `azp`).
    pub fn client_id(&self) -> Option<&str> {
        self.0.client_id.as_deref()
    }
    /// The granted scopes (`scope`, else `scp`).
    pub fn scopes(&self) -> &Scopes {
        &self.0.scopes
    }
    /// The audiences (`aud`).
    pub fn audiences(&self) -> &[String] {
        &self.0.audiences
    }
    /// When the token expires (`exp`): always set for JWTs; for introspected tokens, when the
    /// introspection response states it.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.0.window.exp.and_then(to_system_time)
    }

    /// The time claims, in seconds.
    pub(crate) fn window(&self) -> &TimeWindow {
        &self.0.window
    }
    /// When the token was issued (`iat`), if stated.
    pub fn issued_at(&self) -> Option<SystemTime> {
        self.0.window.iat.and_then(to_system_time)
    }
    /// The token id (`jti`), if stated.
    pub fn jwt_id(&self) -> Option<&str> {
        self.0.jwt_id.as_deref()
    }
    /// Every claim of the token; for introspected tokens, every member of the introspection
    /// response.
    ///
    /// The first call on a token parses its claims (they are kept as text until something
    /// needs them, to keep cached tokens small), later calls return the same map.
    pub fn claims(&self) -> &Map<String, Value> {
        self.0.claims.map()
    }
    /// The authorization server's signed introspection response for this token (RFC 9701),
    /// when [`crate::Introspection::jwt_response`] is on: a JWT the filter has verified, to hand
    /// to an upstream as its bearer token (the phantom-token pattern). `None` otherwise.
    pub fn introspection_jwt(&self) -> Option<&str> {
        self.0.introspection_jwt.as_deref()
    }

    /// One claim (or introspection member) by name.
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.0.claims.map().get(name)
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("kind", &self.0.kind)
            .field("issuer", &self.0.issuer)
            .field("subject", &self.0.subject)
            .field("client_id", &self.0.client_id)
            .field("scopes", &self.0.scopes)
            .field("audiences", &self.0.audiences)
            .field("expires_at", &self.0.window.exp)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_never_panic_when_converted() {
        // 2^63 and just below 2^64 seconds: `UNIX_EPOCH + Duration` panicked on these.
        for huge in [9.223_372_036_854_776e18, 1.8e19, f64::MAX] {
            assert_eq!(to_system_time(huge), None, "{huge}");
        }
        assert_eq!(to_system_time(-5.0), Some(UNIX_EPOCH));
        assert_eq!(
            to_system_time(1.5),
            Some(UNIX_EPOCH + Duration::from_millis(1500))
        );
    }
}
