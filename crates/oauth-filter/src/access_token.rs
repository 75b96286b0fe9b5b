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
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A set of scope tokens (RFC 6749 §3.3): exact, case-sensitive, order-free.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Scopes(Vec<String>);

impl Scopes {
    /// Splits a space-separated `scope` value. Empty tokens are dropped.
    pub fn from_space_separated(s: &str) -> Self {
        Self::from_iter(s.split(' ').filter(|t| !t.is_empty()).map(str::to_owned))
    }

    /// True if `scope` is in the set.
    pub fn contains(&self, scope: &str) -> bool {
        self.0.binary_search_by(|s| s.as_str().cmp(scope)).is_ok()
    }

    /// The scopes, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
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
        let mut v: Vec<String> = iter.into_iter().collect();
        v.sort();
        v.dedup();
        Self(v)
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
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
    pub(crate) issuer: String,
    pub(crate) subject: Option<String>,
    pub(crate) client_id: Option<String>,
    pub(crate) scopes: Scopes,
    pub(crate) audiences: Vec<String>,
    /// `exp`, `nbf`, `iat`: checked when the facts were made, and again on every cache hit.
    pub(crate) window: TimeWindow,
    pub(crate) jwt_id: Option<String>,
    pub(crate) claims: Map<String, Value>,
    /// Identity of the filter that verified it, so a layer never trusts another filter's work.
    pub(crate) verified_by: usize,
    /// Whether the token is bound to a key, and whether that binding is proven.
    pub(crate) binding: Binding,
    /// The signed introspection response (RFC 9701), when one was requested.
    pub(crate) introspection_jwt: Option<Arc<str>>,
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
    pub fn claims(&self) -> &Map<String, Value> {
        &self.0.claims
    }
    /// The authorization server's signed introspection response for this token (RFC 9701),
    /// when [`crate::Introspection::jwt_response`] is on: a JWT the filter has verified, to hand
    /// to an upstream as its bearer token (the phantom-token pattern). `None` otherwise.
    pub fn introspection_jwt(&self) -> Option<&str> {
        self.0.introspection_jwt.as_deref()
    }

    /// One claim (or introspection member) by name.
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.0.claims.get(name)
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
