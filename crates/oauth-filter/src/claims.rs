//! Claim rules shared by every verification path: numeric dates, audiences, the time window.
//!
//! ```
//! use oauth_filter::claims::{MAX_NUMERIC_DATE, TimeWindow};
//! use oauth_filter::AuthError;
//! let window = TimeWindow { exp: Some(1_000.0), nbf: None, iat: Some(900.0) };
//! assert_eq!(window.check(950.0, 60.0), Ok(()));
//! assert_eq!(window.check(1_060.0, 60.0), Err(AuthError::Expired));
//! assert!(MAX_NUMERIC_DATE < 2f64.powi(38)); // year 9999, far from SystemTime's limits
//! ```
//!
//! JWT claims (RFC 7519 §4.1) and introspection members (RFC 7662 §2.2) share these rules, so a
//! date or an audience means the same thing whichever way a token was verified.

use crate::error::AuthError;
use serde_json::Value;

/// The last second of the year 9999 (UTC): later numeric dates are refused. No real token lives
/// that long, and refusing them keeps every later conversion (to `SystemTime`, to a cache
/// lifetime) far from overflow.
pub const MAX_NUMERIC_DATE: f64 = 253_402_300_799.0;

/// Why a claim value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadValue;

/// A NumericDate (RFC 7519 §2): a finite JSON number, never a string, at most year 9999.
pub(crate) fn numeric_date(value: Option<&Value>) -> Result<Option<f64>, BadValue> {
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
pub(crate) fn audiences(value: Option<&Value>) -> Result<Vec<String>, BadValue> {
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
