//! Claim rules shared by every verification path: numeric dates, audiences, the time window.
//!
//! ```
//! # #[cfg(feature = "__internal")] {
//! use oauth_filter::__internal::claims::{MAX_NUMERIC_DATE, TimeWindow};
//! use oauth_filter::AuthError;
//! let window = TimeWindow { exp: Some(1_000.0), nbf: None, iat: Some(900.0) };
//! assert_eq!(window.check(950.0, 60.0), Ok(()));
//! assert_eq!(window.check(1_060.0, 60.0), Err(AuthError::Expired));
//! assert!(MAX_NUMERIC_DATE < 2f64.powi(38)); // year 9999, far from SystemTime's limits
//! # }
//! ```
//!
//! JWT claims (RFC 7519 §4.1) and introspection members (RFC 7662 §2.2) share these rules, so a
//! date, an audience or a scope means the same thing whichever way a token was verified, and
//! `facts` is the one constructor of a token's facts: the JWT path and introspection build
//! them here, and both caches keep what it built.

use crate::access_token::{Binding, Claims, Scopes, TokenFacts, TokenKind};
use crate::error::AuthError;
use serde_json::{Map, Value};
use std::sync::Arc;

/// The last second of the year 9999 (UTC): later numeric dates are refused. No real token lives
/// that long, and refusing them keeps every later conversion (to `SystemTime`, to a cache
/// lifetime) far from overflow.
pub const MAX_NUMERIC_DATE: f64 = 253_402_300_799.0;

/// Why a claim value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadValue;

/// A NumericDate (RFC 7519 §2): a finite JSON number, never a string, at most year 9999.
pub fn numeric_date(value: Option<&Value>) -> Result<Option<f64>, BadValue> {
    match value {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|f| f.is_finite() && f.abs() <= MAX_NUMERIC_DATE)
            .map(Some)
            .ok_or(BadValue),
        Some(_) => Err(BadValue),
    }
}

/// `aud`: a string or an array of strings (RFC 7519 §4.1.3). Absent is an empty list.
pub fn audiences(value: Option<&Value>) -> Result<Vec<String>, BadValue> {
    match value {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or(BadValue))
            .collect(),
        Some(_) => Err(BadValue),
    }
}

/// Scopes from `scope`, else `scp` (Azure, Okta): each a space-separated string or a JSON
/// array of strings. `Err` names the member with the wrong type.
pub fn scopes(claims: &Map<String, Value>) -> Result<Scopes, &'static str> {
    let read = |name: &'static str, value: &Value| match value {
        Value::String(s) => Ok(Scopes::from_space_separated(s)),
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or(name))
            .collect(),
        _ => Err(name),
    };
    match (claims.get("scope"), claims.get("scp")) {
        (Some(v), _) => read("scope", v),
        (None, Some(v)) => read("scp", v),
        (None, None) => Ok(Scopes::default()),
    }
}

/// A string member; `Err(name)` when present with another type.
pub(crate) fn string(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<String>, &'static str> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(name),
    }
}

/// What the verifying path already established about a token, for [`facts`].
#[derive(Debug)]
pub(crate) struct Established {
    /// JWT or introspection.
    pub(crate) kind: TokenKind,
    /// The issuer the token was verified for.
    pub(crate) issuer: Arc<str>,
    /// `aud`, read with [`audiences`].
    pub(crate) audiences: Vec<String>,
    /// The checked time window.
    pub(crate) window: TimeWindow,
    /// Whether `azp` stands in for a missing `client_id` (not in strict RFC 9068 mode).
    pub(crate) azp_is_client_id: bool,
    /// The token is bound to a key (`cnf`, or an introspection `token_type` of `DPoP`).
    pub(crate) key_bound: bool,
    /// The configuration accepts bound tokens as bearer tokens (the `dangerous()` opt-out).
    pub(crate) accept_bound_as_bearer: bool,
    /// Which filter verified it.
    pub(crate) verified_by: usize,
    /// The signed introspection response (RFC 9701), if any.
    pub(crate) introspection_jwt: Option<Arc<str>>,
}

/// The single constructor of a token's facts, from its verified claims (or introspection
/// members) and what the verifying path established. `Err` names a member of the wrong type.
///
/// `json` is the text of `claims` (a JWT's payload, or the introspection document written
/// out): the facts keep it, not the map (see [`crate::access_token::Claims`]).
pub(crate) fn facts(
    claims: &Map<String, Value>,
    json: Vec<u8>,
    e: Established,
) -> Result<TokenFacts, &'static str> {
    let client_id = match string(claims, "client_id")? {
        Some(c) => Some(c),
        None if e.azp_is_client_id => string(claims, "azp")?,
        None => None,
    };
    Ok(TokenFacts {
        kind: e.kind,
        issuer: e.issuer,
        subject: string(claims, "sub")?.map(String::into_boxed_str),
        client_id: client_id.map(String::into_boxed_str),
        scopes: scopes(claims)?,
        audiences: e.audiences.into_boxed_slice(),
        window: e.window,
        jwt_id: string(claims, "jti")?.map(String::into_boxed_str),
        binding: match (e.key_bound, e.accept_bound_as_bearer) {
            (false, _) => Binding::None,
            (true, true) => Binding::AcceptedAsBearer,
            (true, false) if dpop_jkt(claims).is_some() => Binding::Dpop,
            (true, false) if crate::mtls::bound_thumbprint(claims).is_some() => Binding::Mtls,
            (true, false) => Binding::Unproven,
        },
        claims: Claims::new(json),
        verified_by: e.verified_by,
        introspection_jwt: e.introspection_jwt,
    })
}

/// The DPoP key thumbprint a token is bound to: `cnf.jkt` when `cnf` holds exactly that (a
/// `cnf` with other members as well asks for several proofs at once, which this filter does
/// not verify together, so it is no DPoP binding; the token stays unproven and is refused).
pub(crate) fn dpop_jkt(claims: &Map<String, Value>) -> Option<&str> {
    let cnf = claims.get("cnf")?.as_object()?;
    if cnf.len() != 1 {
        return None;
    }
    cnf.get("jkt")?.as_str().filter(|j| !j.is_empty())
}

/// A token's time claims, in seconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TimeWindow {
    /// `exp`: not valid at or after this instant.
    pub exp: Option<f64>,
    /// `nbf`: not valid before this instant.
    pub nbf: Option<f64>,
    /// `iat`: when it was issued; a token issued in the future is refused.
    pub iat: Option<f64>,
}

impl TimeWindow {
    /// Checks the window at `now`, with `leeway` seconds of clock skew either way. The one
    /// place this check is written: the JWT path, introspection answers and both caches use it.
    pub fn check(&self, now: f64, leeway: f64) -> Result<(), AuthError> {
        if self.exp.is_some_and(|exp| now >= exp + leeway) {
            return Err(AuthError::Expired);
        }
        if self.nbf.is_some_and(|nbf| nbf > now + leeway) {
            return Err(AuthError::NotYetValid);
        }
        if self.iat.is_some_and(|iat| iat > now + leeway) {
            return Err(AuthError::IssuedInFuture);
        }
        Ok(())
    }

    /// The window and the clock, for a trace (never for a client).
    pub fn describe(&self, now: f64, leeway: f64) -> String {
        let rel = |t: f64| {
            let d = t - now;
            if d >= 0.0 {
                format!("{t} (in {d:.0} s)")
            } else {
                format!("{t} ({:.0} s ago)", -d)
            }
        };
        let mut parts = vec![format!("now {now:.0}, leeway {leeway:.0} s")];
        for (name, v) in [("exp", self.exp), ("nbf", self.nbf), ("iat", self.iat)] {
            if let Some(t) = v {
                parts.push(format!("{name} {}", rel(t)));
            }
        }
        parts.join(", ")
    }

    /// Why [`TimeWindow::check`] failed, with the claim and the clock (for logs and traces).
    pub fn explain(&self, now: f64, leeway: f64, error: &AuthError) -> String {
        let which = match error {
            AuthError::Expired => "exp is past",
            AuthError::NotYetValid => "nbf is in the future",
            AuthError::IssuedInFuture => "iat is in the future",
            _ => "the window does not hold",
        };
        format!("{which}: {}", self.describe(now, leeway))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dates_after_year_9999_and_non_numbers_are_refused() {
        assert_eq!(
            numeric_date(Some(&json!(MAX_NUMERIC_DATE))),
            Ok(Some(MAX_NUMERIC_DATE))
        );
        for bad in [
            json!(MAX_NUMERIC_DATE + 1.0),
            json!(9_223_372_036_854_775_808u64), // 2^63: overflowed SystemTime before
            json!(u64::MAX),
            json!(-MAX_NUMERIC_DATE - 1.0),
            json!("1700000000"),
            json!(null),
        ] {
            assert_eq!(numeric_date(Some(&bad)), Err(BadValue), "{bad}");
        }
        assert_eq!(numeric_date(None), Ok(None));
    }

    #[test]
    fn audiences_are_a_string_or_strings() {
        assert_eq!(audiences(Some(&json!("a"))), Ok(vec!["a".to_owned()]));
        assert_eq!(audiences(Some(&json!(["a", "b"]))).map(|v| v.len()), Ok(2));
        assert_eq!(audiences(Some(&json!(["a", 1]))), Err(BadValue));
        assert_eq!(audiences(Some(&json!({"a": 1}))), Err(BadValue));
    }

    #[test]
    fn the_window_and_its_leeway() {
        let w = TimeWindow {
            exp: Some(100.0),
            nbf: Some(50.0),
            iat: Some(40.0),
        };
        assert_eq!(w.check(75.0, 0.0), Ok(()));
        assert_eq!(w.check(100.0, 0.0), Err(AuthError::Expired));
        assert_eq!(w.check(109.0, 10.0), Ok(()));
        assert_eq!(w.check(39.0, 0.0), Err(AuthError::NotYetValid));
        assert_eq!(w.check(45.0, 5.0), Ok(()));
        let future = TimeWindow {
            iat: Some(200.0),
            ..TimeWindow::default()
        };
        assert_eq!(future.check(100.0, 60.0), Err(AuthError::IssuedInFuture));
    }
}
