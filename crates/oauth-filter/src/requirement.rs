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
