//! What a route requires of a valid token.
//!
//! ```
//! use oauth_filter::{Requirement, Scopes};
//! let granted = Scopes::from_space_separated("read profile");
//! assert!(Requirement::all_of(["read"]).is_met_by(&granted));
//! assert!(!Requirement::all_of(["read", "write"]).is_met_by(&granted));
//! assert!(Requirement::any_of(["write", "profile"]).is_met_by(&granted));
//! // The seed's `protect([])`: a valid token, no scope needed.
//! assert_eq!(Requirement::from([] as [&str; 0]), Requirement::Authenticated);
//! ```

use crate::access_token::Scopes;
use crate::error::AuthError;
use std::sync::Arc;

/// A route's requirement. An empty scope list means "a valid token, no scope needed".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// Any valid token.
    Authenticated,
    /// Every listed scope must be granted.
    AllOf(Vec<String>),
    /// At least one listed scope must be granted.
    AnyOf(Vec<String>),
}

impl std::fmt::Display for Requirement {
    /// `any valid token`, `all of: a b`, `any of: a b`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Authenticated => f.write_str("any valid token"),
            Self::AllOf(s) => write!(f, "all of: {}", s.join(" ")),
            Self::AnyOf(s) => write!(f, "any of: {}", s.join(" ")),
        }
    }
}

impl Requirement {
    /// Every scope must be granted. An empty list is [`Requirement::Authenticated`].
    pub fn all_of<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let v: Vec<String> = scopes.into_iter().map(Into::into).collect();
        if v.is_empty() {
            Self::Authenticated
        } else {
            Self::AllOf(v)
        }
    }

    /// At least one scope must be granted. An empty list is [`Requirement::Authenticated`].
    pub fn any_of<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let v: Vec<String> = scopes.into_iter().map(Into::into).collect();
        if v.is_empty() {
            Self::Authenticated
        } else {
            Self::AnyOf(v)
        }
    }

    /// True when `granted` satisfies this requirement (exact, case-sensitive matches).
    pub fn is_met_by(&self, granted: &Scopes) -> bool {
        match self {
            Self::Authenticated => true,
            Self::AllOf(v) => v.iter().all(|s| granted.contains(s)),
            Self::AnyOf(v) => v.iter().any(|s| granted.contains(s)),
        }
    }

    /// The scopes named, for the `scope` attribute of a 403 challenge.
    pub fn scopes(&self) -> &[String] {
        match self {
            Self::Authenticated => &[],
            Self::AllOf(v) | Self::AnyOf(v) => v,
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

/// Requirements chosen by request path: exact paths first, then the longest matching prefix,
/// then the default. Every path has a requirement, so nothing is unprotected by omission.
///
/// Paths are read as the gateway reads them ([`crate::path`]): a path that is not in normal
/// form (dot or empty segments, encoded `/` or `\`, `;`, bad escapes) is refused with 400
/// ([`AuthError::InvalidPath`]), because the application behind might resolve `/public/../admin`
/// to `/admin`; others are decoded once and matched decoded. A prefix matches on whole
/// segments: `/public` covers `/public` and `/public/x`, never `/public-admin`.
///
/// ```
/// use oauth_filter::{AuthError, PathRequirements, Requirement};
/// let rules = PathRequirements::new(Requirement::Authenticated)
///     .exact("/grpc.health.v1.Health/Check", ["health:read"])
///     .prefix("/admin/", ["admin"]);
/// assert_eq!(rules.for_path("/grpc.health.v1.Health/Check"), Ok(&Requirement::all_of(["health:read"])));
/// assert_eq!(rules.for_path("/admin/users"), Ok(&Requirement::all_of(["admin"])));
/// assert_eq!(rules.for_path("/%61dmin/users"), Ok(&Requirement::all_of(["admin"])));
/// assert_eq!(rules.for_path("/administrators"), Ok(&Requirement::Authenticated));
/// assert_eq!(rules.for_path("/other/../admin/users"), Err(AuthError::InvalidPath));
/// ```
#[derive(Debug, Clone)]
pub struct PathRequirements {
    default: Arc<Requirement>,
    exact: std::collections::HashMap<String, Arc<Requirement>>,
    prefixes: Vec<(String, Arc<Requirement>)>,
}

impl PathRequirements {
    /// Rules whose unmatched paths need `default`.
    pub fn new(default: impl Into<Requirement>) -> Self {
        Self {
            default: Arc::new(default.into()),
            exact: std::collections::HashMap::new(),
            prefixes: Vec::new(),
        }
    }
    /// `path` exactly (e.g. a gRPC method, `/package.Service/Method`).
    pub fn exact(mut self, path: impl Into<String>, requirement: impl Into<Requirement>) -> Self {
        self.exact.insert(path.into(), Arc::new(requirement.into()));
        self
    }
    /// `prefix` and every path below it, on segment boundaries (e.g. a gRPC service,
    /// `/package.Service/`). A trailing `/` makes no difference.
    pub fn prefix(
        mut self,
        prefix: impl Into<String>,
        requirement: impl Into<Requirement>,
    ) -> Self {
        self.prefixes
            .push((prefix.into(), Arc::new(requirement.into())));
        // Longest first, so the most specific prefix wins.
        self.prefixes
            .sort_by_key(|p| std::cmp::Reverse(p.0.trim_end_matches('/').len()));
        self
    }
    /// The requirement for the raw (still percent-encoded) request `path`, or
    /// [`AuthError::InvalidPath`] when it is not in normal form.
    pub fn for_path(&self, path: &str) -> Result<&Requirement, AuthError> {
        self.shared_for_path(path).map(|r| &**r)
    }

    pub(crate) fn shared_for_path(&self, raw: &str) -> Result<&Arc<Requirement>, AuthError> {
        let path = crate::path::check(raw).map_err(|_| AuthError::InvalidPath)?;
        if let Some(r) = self.exact.get(&path) {
            return Ok(r);
        }
        Ok(self
            .prefixes
            .iter()
            .find(|(p, _)| crate::path::prefix_matches(p, &path))
            .map_or(&self.default, |(_, r)| r))
    }
}
