//! The `authorize` step: what a route requires of a valid token, and the check.
//!
//! ```
//! use oauth_filter::Requirement;
//! use std::time::Duration;
//! // "scope read AND role admin"
//! let admin = Requirement::all_of(["read"])
//!     .and(Requirement::claim_contains("realm_access.roles", "admin"));
//! // "scope a OR scope b" (also `Requirement::any_of(["a", "b"])`)
//! let either = Requirement::all_of(["a"]).or(Requirement::all_of(["b"]));
//! // RFC 9470 step-up: a silver-level login at most five minutes old.
//! let step_up = Requirement::step_up(["urn:mace:incommon:iap:silver"], Some(Duration::from_secs(300)));
//! // The seed's `protect([])`: a valid token, no scope needed.
//! assert_eq!(Requirement::from([] as [&str; 0]), Requirement::Authenticated);
//! # let _ = (admin, either, step_up);
//! ```
//!
//! Scopes are read from `scope`, else `scp`, each a space-separated string or an array of
//! strings. A failed step-up ([`Requirement::StepUp`]) is 401 `insufficient_user_authentication`
//! with `acr_values` and/or `max_age` in the challenge (RFC 9470 §3); every other failure is 403
//! `insufficient_scope` with a fixed description, and a `scope` attribute only when the failing
//! part names scopes. Claim values never appear in an answer.

use crate::access_token::AccessToken;
use crate::error::AuthError;
use crate::explain::Trace;
use serde_json::Value;
use std::fmt;
use std::time::Duration;

/// A route's requirement, composable with [`Requirement::and`] / [`Requirement::or`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Requirement {
    /// Any valid token.
    Authenticated,
    /// Every listed scope must be granted.
    AllOf(Vec<String>),
    /// At least one listed scope must be granted.
    AnyOf(Vec<String>),
    /// A claim test.
    Claim(ClaimRule),
    /// The token was issued to one of these clients (`client_id`, else `azp`).
    ClientIds(Vec<String>),
    /// The token was issued (`iat`) at most this long ago; a token without `iat` fails.
    MaxTokenAge(Duration),
    /// RFC 9470 step-up: `acr` in the set (when not empty) and `auth_time` at most `max_age`
    /// ago (when set).
    StepUp {
        /// Accepted authentication context classes; empty: any.
        acr_values: Vec<String>,
        /// Longest accepted time since the user authenticated.
        max_age: Option<Duration>,
    },
    /// Every requirement must hold.
    All(Vec<Self>),
    /// At least one requirement must hold.
    Any(Vec<Self>),
}

/// A test on one claim.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimRule {
    path: ClaimPath,
    test: ClaimTest,
}

/// What a claim must be.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClaimTest {
    /// Present, with any value (`null` included).
    Present,
    /// Equal to this JSON value (numbers compare by value: `1` equals `1.0`).
    Equals(Value),
    /// An array holding this value, or a space-separated string holding this (string) value
    /// as one of its words.
    Contains(Value),
}

/// Where a claim is: a top-level name, or a path into nested objects.
///
/// [`ClaimPath::parse`] reads `realm_access.roles` as two segments; a name that itself holds a
/// dot (`https://example.com/roles`) is written as an RFC 6901 JSON Pointer,
/// `/https:~1~1example.com~1roles`, or built with [`ClaimPath::segments`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPath(Vec<String>);

impl ClaimPath {
    /// A dotted path (`resource_access.billing.roles`), or a JSON Pointer when it starts with
    /// `/`. `None` when a segment is empty or a pointer escape is bad.
    pub fn parse(text: &str) -> Option<Self> {
        let segments: Vec<String> = match text.strip_prefix('/') {
            Some(pointer) => pointer
                .split('/')
                .map(|s| {
                    // RFC 6901 §4: `~1` is `/`, `~0` is `~`, no other escape.
                    let unescaped = s.replace("~1", "/").replace("~0", "~");
                    let stray = s.replace("~1", "").replace("~0", "").contains('~');
                    (!stray).then_some(unescaped)
                })
                .collect::<Option<_>>()?,
            None => text.split('.').map(str::to_owned).collect(),
        };
        Self::segments(segments)
    }

    /// A path from its segments, none empty.
    pub fn segments<I, S>(segments: I) -> Option<Self>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let v: Vec<String> = segments.into_iter().map(Into::into).collect();
        (!v.is_empty() && v.iter().all(|s| !s.is_empty())).then_some(Self(v))
    }

    /// The value at this path in the token's claims (objects only; arrays are not indexed).
    fn find<'t>(&self, token: &'t AccessToken) -> Option<&'t Value> {
        let (first, rest) = self.0.split_first()?;
        rest.iter()
            .try_fold(token.claim(first)?, |v, seg| v.as_object()?.get(seg))
    }
}

impl fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

impl ClaimTest {
    fn holds(&self, value: Option<&Value>) -> bool {
        match (self, value) {
            (_, None) => false,
            (Self::Present, Some(_)) => true,
            (Self::Equals(want), Some(v)) => same(want, v),
            (Self::Contains(want), Some(Value::Array(items))) => {
                items.iter().any(|i| same(want, i))
            }
            (Self::Contains(Value::String(want)), Some(Value::String(words))) => {
                words.split(' ').any(|w| w == want)
            }
            (Self::Contains(_), Some(_)) => false,
        }
    }
}

/// Why a requirement is not met: decides the answer's status and challenge attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unmet {
    /// Scopes are missing: 403 with these in `scope`.
    Scope(Vec<String>),
    /// Another privilege is missing: 403 without attributes.
    Privilege,
    /// The authentication is too weak or too old: 401 with `acr_values` / `max_age`.
    StepUp {
        acr_values: Vec<String>,
        max_age: Option<u64>,
    },
}

impl Unmet {
    /// The error the request gets.
    pub(crate) fn error(&self) -> AuthError {
        match self {
            Self::Scope(_) => AuthError::InsufficientScope,
            Self::Privilege => AuthError::RequirementNotMet,
            Self::StepUp { .. } => AuthError::InsufficientUserAuthentication,
        }
    }
}

fn strings<I, S>(items: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    items.into_iter().map(Into::into).collect()
}

impl Requirement {
    /// Every scope must be granted. An empty list is [`Requirement::Authenticated`].
    pub fn all_of<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::scope_rule(strings(scopes), Self::AllOf)
    }

    /// At least one scope must be granted. An empty list is [`Requirement::Authenticated`].
    pub fn any_of<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::scope_rule(strings(scopes), Self::AnyOf)
    }

    /// The seed's rule: no scopes listed means a valid token, no scope needed.
    fn scope_rule(scopes: Vec<String>, rule: fn(Vec<String>) -> Self) -> Self {
        if scopes.is_empty() {
            Self::Authenticated
        } else {
            rule(scopes)
        }
    }

    /// The claim at `path` ([`ClaimPath::parse`]) passes `test`. A path that does not parse
    /// can never be met.
    pub fn claim(path: &str, test: ClaimTest) -> Self {
        match ClaimPath::parse(path) {
            Some(path) => Self::Claim(ClaimRule { path, test }),
            // Fail closed: an impossible rule, never a silently dropped one.
            None => Self::Any(Vec::new()),
        }
    }

    /// The claim at `path` is present.
    pub fn claim_present(path: &str) -> Self {
        Self::claim(path, ClaimTest::Present)
    }

    /// The claim at `path` equals `value`.
    pub fn claim_equals(path: &str, value: impl Into<Value>) -> Self {
        Self::claim(path, ClaimTest::Equals(value.into()))
    }

    /// The claim at `path` (an array, or a space-separated string) contains `value`.
    pub fn claim_contains(path: &str, value: impl Into<Value>) -> Self {
        Self::claim(path, ClaimTest::Contains(value.into()))
    }

    /// The token was issued to one of `clients` (`client_id`, else `azp`).
    pub fn client_ids<I, S>(clients: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::ClientIds(strings(clients))
    }

    /// The token is at most `age` old (from `iat`).
    pub fn max_token_age(age: Duration) -> Self {
        Self::MaxTokenAge(age)
    }

    /// RFC 9470 step-up: `acr` one of `acr_values` (any, when empty), and `auth_time` at most
    /// `max_age` ago (when set).
    pub fn step_up<I, S>(acr_values: I, max_age: Option<Duration>) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::StepUp {
            acr_values: strings(acr_values),
            max_age,
        }
    }

    /// Both this and `other`.
    pub fn and(self, other: Self) -> Self {
        match (self, other) {
            (Self::Authenticated, r) | (r, Self::Authenticated) => r,
            (Self::All(mut a), r) => {
                a.push(r);
                Self::All(a)
            }
            (l, r) => Self::All(vec![l, r]),
        }
    }

    /// This or `other`.
    pub fn or(self, other: Self) -> Self {
        match (self, other) {
            (Self::Any(mut a), r) => {
                a.push(r);
                Self::Any(a)
            }
            (l, r) => Self::Any(vec![l, r]),
        }
    }

    /// Every requirement.
    pub fn all(requirements: impl IntoIterator<Item = Self>) -> Self {
        requirements
            .into_iter()
            .fold(Self::Authenticated, Self::and)
    }

    /// True when `granted` satisfies the scope part of this requirement (for scope-only
    /// requirements, the whole of it); other parts need the token: use
    /// [`crate::OAuthFilter::authorize`].
    pub fn is_met_by(&self, granted: &crate::Scopes) -> bool {
        match self {
            Self::Authenticated => true,
            Self::AllOf(v) => v.iter().all(|s| granted.contains(s)),
            Self::AnyOf(v) => v.iter().any(|s| granted.contains(s)),
            Self::All(parts) => parts.iter().all(|p| p.is_met_by(granted)),
            Self::Any(parts) => parts.iter().any(|p| p.is_met_by(granted)),
            _ => false,
        }
    }

    /// The scopes named, for the `scope` attribute of a 403 challenge (scope requirements only).
    pub fn scopes(&self) -> &[String] {
        match self {
            Self::AllOf(v) | Self::AnyOf(v) => v,
            _ => &[],
        }
    }

    /// Every scope named anywhere in this requirement, sorted (for RFC 9728's
    /// `scopes_supported`).
    pub fn named_scopes(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.collect_scopes(&mut out);
        out.sort_unstable();
        out
    }

    /// Every scope named anywhere in this requirement, for `scopes_supported` (RFC 9728).
    pub(crate) fn collect_scopes(&self, out: &mut Vec<String>) {
        match self {
            Self::AllOf(v) | Self::AnyOf(v) => {
                for s in v {
                    if !out.contains(s) {
                        out.push(s.clone());
                    }
                }
            }
            Self::All(parts) | Self::Any(parts) => {
                for p in parts {
                    p.collect_scopes(out);
                }
            }
            _ => {}
        }
    }

    /// Checks a verified token at `now` (seconds since the epoch).
    pub(crate) fn evaluate(
        &self,
        token: &AccessToken,
        now: f64,
        trace: &mut Trace,
    ) -> Result<(), Unmet> {
        let result = self.check(token, now, trace);
        match &result {
            Ok(()) => trace.pass("requirement", || format!("{self}: met")),
            Err(u) => trace.fail("requirement", || format!("{self}: not met ({u:?})")),
        }
        result
    }

    fn check(&self, token: &AccessToken, now: f64, trace: &mut Trace) -> Result<(), Unmet> {
        let age_ok = |claim: &str, max: &Duration| {
            token
                .claim(claim)
                .and_then(Value::as_f64)
                .is_some_and(|t| now - t <= max.as_secs_f64())
        };
        // What is unmet is made only when it is: a met requirement allocates nothing (this runs
        // on every request, the verified-token cache's hits included).
        fn leaf(met: bool, unmet: impl FnOnce() -> Unmet) -> Result<(), Unmet> {
            if met { Ok(()) } else { Err(unmet()) }
        }
        match self {
            Self::Authenticated => Ok(()),
            Self::AllOf(_) | Self::AnyOf(_) => leaf(self.is_met_by(token.scopes()), || {
                Unmet::Scope(self.scopes().to_vec())
            }),
            Self::Claim(rule) => leaf(rule.test.holds(rule.path.find(token)), || Unmet::Privilege),
            Self::ClientIds(ids) => leaf(
                token
                    .client_id()
                    .is_some_and(|c| ids.iter().any(|i| i == c)),
                || Unmet::Privilege,
            ),
            Self::MaxTokenAge(max) => leaf(age_ok("iat", max), || Unmet::Privilege),
            Self::StepUp {
                acr_values,
                max_age,
            } => {
                let acr_ok = acr_values.is_empty()
                    || token
                        .claim("acr")
                        .and_then(Value::as_str)
                        .is_some_and(|a| acr_values.iter().any(|v| v == a));
                let time_ok = max_age.as_ref().is_none_or(|m| age_ok("auth_time", m));
                leaf(acr_ok && time_ok, || Unmet::StepUp {
                    acr_values: acr_values.clone(),
                    max_age: max_age.map(|d| d.as_secs()),
                })
            }
            Self::All(parts) => parts
                .iter()
                .try_for_each(|p| p.check_part(token, now, trace)),
            Self::Any(parts) => any(parts, token, now, trace),
        }
    }

    /// [`Requirement::check`] for a part of a composite, recorded as it is judged (the rule,
    /// never the claim's value); the whole requirement is recorded by `evaluate`.
    fn check_part(&self, token: &AccessToken, now: f64, trace: &mut Trace) -> Result<(), Unmet> {
        let result = self.check(token, now, trace);
        match &result {
            Ok(()) => trace.note("requirement", || format!("{self}: met")),
            Err(u) => trace.note("requirement", || format!("{self}: not met ({u:?})")),
        }
        result
    }
}

/// `Any`: met when one part is; otherwise the most actionable failure: a step-up if any part
/// asked for one, else the scopes the failing scope parts name, else a missing privilege.
fn any(
    parts: &[Requirement],
    token: &AccessToken,
    now: f64,
    trace: &mut Trace,
) -> Result<(), Unmet> {
    let mut failures = Vec::with_capacity(parts.len());
    for p in parts {
        match p.check_part(token, now, trace) {
            Ok(()) => return Ok(()),
            Err(u) => failures.push(u),
        }
    }
    let mut acr = Vec::new();
    let mut max_age: Option<u64> = None;
    let mut step_up = false;
    let mut scopes = Vec::new();
    for f in failures {
        match f {
            Unmet::StepUp {
                acr_values,
                max_age: m,
            } => {
                step_up = true;
                acr.extend(acr_values);
                max_age = match (max_age, m) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            Unmet::Scope(s) => scopes.extend(s),
            Unmet::Privilege => {}
        }
    }
    acr.dedup();
    scopes.dedup();
    Err(if step_up {
        Unmet::StepUp {
            acr_values: acr,
            max_age,
        }
    } else if !scopes.is_empty() {
        Unmet::Scope(scopes)
    } else {
        Unmet::Privilege
    })
}

impl fmt::Display for Requirement {
    /// `any valid token`, `all of: a b`, `claim realm_access.roles contains "admin"`, …
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |f: &mut fmt::Formatter<'_>, parts: &[Self], sep: &str| {
            f.write_str("(")?;
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    f.write_str(sep)?;
                }
                write!(f, "{p}")?;
            }
            f.write_str(")")
        };
        match self {
            Self::Authenticated => f.write_str("any valid token"),
            Self::AllOf(s) => write!(f, "all of: {}", s.join(" ")),
            Self::AnyOf(s) => write!(f, "any of: {}", s.join(" ")),
            Self::Claim(ClaimRule { path, test }) => match test {
                ClaimTest::Present => write!(f, "claim {path} present"),
                ClaimTest::Equals(v) => write!(f, "claim {path} equals {v}"),
                ClaimTest::Contains(v) => write!(f, "claim {path} contains {v}"),
            },
            Self::ClientIds(ids) => write!(f, "client one of: {}", ids.join(" ")),
            Self::MaxTokenAge(d) => write!(f, "token at most {} s old", d.as_secs()),
            Self::StepUp {
                acr_values,
                max_age,
            } => {
                write!(f, "step-up")?;
                if !acr_values.is_empty() {
                    write!(f, " acr one of: {}", acr_values.join(" "))?;
                }
                if let Some(m) = max_age {
                    write!(f, " auth_time at most {} s ago", m.as_secs())?;
                }
                Ok(())
            }
            Self::All(parts) => join(f, parts, " and "),
            Self::Any(parts) => join(f, parts, " or "),
        }
    }
}

impl<const N: usize> From<[&str; N]> for Requirement {
    fn from(scopes: [&str; N]) -> Self {
        Self::all_of(scopes)
    }
}

impl From<&[&str]> for Requirement {
    fn from(scopes: &[&str]) -> Self {
        Self::all_of(scopes.iter().copied())
    }
}

impl From<Vec<String>> for Requirement {
    fn from(scopes: Vec<String>) -> Self {
        Self::all_of(scopes)
    }
}

impl From<Vec<&str>> for Requirement {
    fn from(scopes: Vec<&str>) -> Self {
        Self::all_of(scopes)
    }
}
