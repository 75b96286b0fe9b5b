//! Requirements chosen by method and path: one route model for tonic, plain tower services and
//! the `oauth-filter` gateway.
//!
//! ```
//! use oauth_filter::{AuthError, PathRequirements, Requirement, Route};
//! let rules = PathRequirements::builder(Requirement::Authenticated)
//!     .exact("/grpc.health.v1.Health/Check", ["health:read"])
//!     .route(Route::prefix("/admin").methods(["GET", "POST"]).require(["admin"]))
//!     .route(Route::prefix("/public").public())
//!     .build()?;
//! let admin = rules.select("GET", "/%61dmin/users")?;
//! assert_eq!(admin.requirement(), Some(&Requirement::all_of(["admin"])));
//! assert_eq!(rules.select("HEAD", "/admin")?.requirement(), Some(&Requirement::all_of(["admin"])));
//! assert_eq!(rules.select("DELETE", "/admin").unwrap_err(), AuthError::MethodNotAllowed);
//! assert_eq!(rules.select("GET", "/public/x")?.requirement(), None); // public
//! assert_eq!(rules.select("GET", "/administrators")?.requirement(), Some(&Requirement::Authenticated));
//! assert_eq!(rules.select("GET", "/public/../admin").unwrap_err(), AuthError::InvalidPath);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! - A route matches an exact path, or a prefix on segment boundaries (`/public` covers
//!   `/public` and `/public/x`, never `/public-admin`), with optional methods; GET covers HEAD.
//! - The most specific path wins: exact before prefix, longer prefixes first. If none of its
//!   routes allows the method, the answer is 405 with `Allow`: a method never falls through to
//!   a less specific route.
//! - Every path has an answer: the mandatory default (a requirement, or 404 with
//!   [`PathRequirements::not_found_builder`]), so nothing is unprotected by omission.
//! - Paths are read as [`crate::path::check`] reads them: a path not in normal form is refused
//!   (400), others are decoded once and matched decoded.
//! - [`PathRequirementsBuilder::build`] refuses overlapping routes, paths not in normal form,
//!   empty method lists and unknown methods, naming the route (`routes[2]`).

use crate::authorize::Requirement;
use crate::error::{AuthError, ConfigError};
use crate::extract::TokenSchemes;
use std::sync::Arc;

/// What a route demands.
#[derive(Debug, Clone, PartialEq)]
enum Access {
    Public,
    Require(Arc<Requirement>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PathMatch {
    Exact(String),
    Prefix(String),
}

impl PathMatch {
    fn matches(&self, path: &str) -> bool {
        match self {
            Self::Exact(p) => path == p,
            Self::Prefix(p) => crate::path::prefix_matches(p, path),
        }
    }
    /// Exact routes first, then longer prefixes.
    fn specificity(&self) -> (u8, usize) {
        match self {
            Self::Exact(p) => (1, p.len()),
            Self::Prefix(p) => (0, p.len()),
        }
    }
}

/// One route: a path or prefix, optional methods, and its access.
#[derive(Debug, Clone)]
pub struct Route {
    name: Option<String>,
    path: PathMatch,
    methods: Option<Vec<String>>,
    access: Access,
    schemes: Option<TokenSchemes>,
}

impl Route {
    /// `path` exactly.
    pub fn exact(path: impl Into<String>) -> Self {
        Self::new(PathMatch::Exact(path.into()))
    }
    /// `prefix` and every path below it, on segment boundaries. A trailing `/` makes no
    /// difference.
    pub fn prefix(prefix: impl Into<String>) -> Self {
        Self::new(PathMatch::Prefix(prefix.into()))
    }
    fn new(path: PathMatch) -> Self {
        Self {
            name: None,
            path,
            methods: None,
            access: Access::Require(Arc::new(Requirement::Authenticated)),
            schemes: None,
        }
    }
    /// The authentication schemes this route takes (default: the filter's).
    pub fn schemes(mut self, schemes: TokenSchemes) -> Self {
        self.schemes = Some(schemes);
        self
    }
    /// Only these methods (case-insensitive; GET also covers HEAD). Default: every method.
    pub fn methods<I, S>(mut self, methods: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.methods = Some(
            methods
                .into_iter()
                .map(|m| m.into().to_ascii_uppercase())
                .collect(),
        );
        self
    }
    /// A valid token meeting `requirement` (the default: any valid token).
    pub fn require(mut self, requirement: impl Into<Requirement>) -> Self {
        self.access = Access::Require(Arc::new(requirement.into()));
        self
    }
    /// No token needed.
    pub fn public(mut self) -> Self {
        self.access = Access::Public;
        self
    }
    /// The name used in errors, logs and traces (default `routes[i]`, by position).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    fn allows(&self, method: &str) -> bool {
        self.methods.as_ref().is_none_or(|ms| {
            ms.iter()
                .any(|m| m == method || (method == "HEAD" && m == "GET"))
        })
    }
    fn overlaps(&self, other: &Self) -> bool {
        self.path == other.path
            && match (&self.methods, &other.methods) {
                (Some(a), Some(b)) => a.iter().any(|m| b.contains(m)),
                _ => true,
            }
    }
    /// The route's name.
    fn label(&self) -> &str {
        self.name.as_deref().unwrap_or("route")
    }
}

/// The rules for every path, from [`PathRequirements::builder`].
#[derive(Debug, Clone)]
pub struct PathRequirements {
    /// Most specific first; equal specificity keeps declaration order.
    routes: Vec<Route>,
    /// `None`: unmatched paths get 404.
    default: Option<Arc<Requirement>>,
}

/// Builds [`PathRequirements`].
#[derive(Debug, Clone)]
pub struct PathRequirementsBuilder {
    routes: Vec<Route>,
    default: Option<Arc<Requirement>>,
}

/// The route chosen for a request.
#[derive(Debug, Clone, Copy)]
pub struct Selected<'r> {
    pub(crate) name: &'r str,
    pub(crate) requirement: Option<&'r Requirement>,
    pub(crate) schemes: Option<TokenSchemes>,
}

impl<'r> Selected<'r> {
    /// The requirement, or `None` for a public route.
    pub fn requirement(&self) -> Option<&'r Requirement> {
        self.requirement
    }
    /// The schemes the route takes, when it sets them ([`Route::schemes`]).
    pub fn schemes(&self) -> Option<TokenSchemes> {
        self.schemes
    }
    /// The route's name (`routes[2]`, `default`).
    pub fn name(&self) -> &'r str {
        self.name
    }
}

impl PathRequirements {
    /// Rules whose unmatched paths need `default`.
    pub fn builder(default: impl Into<Requirement>) -> PathRequirementsBuilder {
        PathRequirementsBuilder {
            routes: Vec::new(),
            default: Some(Arc::new(default.into())),
        }
    }

    /// Rules whose unmatched paths get 404 ([`AuthError::NoRoute`]), as in the gateway.
    pub fn not_found_builder() -> PathRequirementsBuilder {
        PathRequirementsBuilder {
            routes: Vec::new(),
            default: None,
        }
    }

    /// The route for `method` and the raw (still percent-encoded) `path`. Errors:
    /// [`AuthError::InvalidPath`] (400), [`AuthError::MethodNotAllowed`] (405, see
    /// [`PathRequirements::allowed_methods`]), [`AuthError::NoRoute`] (404).
    pub fn select(&self, method: &str, path: &str) -> Result<Selected<'_>, AuthError> {
        let path = crate::path::check(path).map_err(|_| AuthError::InvalidPath)?;
        self.select_normalized(method, &path)
    }

    /// [`PathRequirements::select`] for a path that already went through
    /// [`crate::path::check`] (its `Ok` value), so that a proxy which needs the decoded path
    /// anyway reads it once.
    pub fn select_normalized(&self, method: &str, path: &str) -> Result<Selected<'_>, AuthError> {
        let Some(mut candidates) = self.most_specific(path) else {
            return match &self.default {
                Some(r) => Ok(Selected {
                    name: "default",
                    requirement: Some(r),
                    schemes: None,
                }),
                None => Err(AuthError::NoRoute),
            };
        };
        candidates
            .find(|r| r.allows(method))
            .map(|r| Selected {
                name: r.label(),
                requirement: match &r.access {
                    Access::Public => None,
                    Access::Require(req) => Some(req),
                },
                schemes: r.schemes,
            })
            .ok_or(AuthError::MethodNotAllowed)
    }

    /// The routes of the most specific path that matches the decoded `path` (one per method
    /// set), or `None` when no route matches.
    fn most_specific<'r>(&'r self, path: &str) -> Option<impl Iterator<Item = &'r Route>> {
        let first = self.routes.iter().find(|r| r.path.matches(path))?;
        Some(self.routes.iter().filter(move |r| r.path == first.path))
    }

    /// The methods the most specific routes for `path` allow, for a 405's `Allow` header
    /// (sorted, HEAD wherever GET is); empty when no route matches or one allows every method.
    pub fn allowed_methods(&self, path: &str) -> Vec<String> {
        let Some(candidates) = crate::path::check(path)
            .ok()
            .and_then(|p| self.most_specific(&p).map(Iterator::collect::<Vec<_>>))
        else {
            return Vec::new();
        };
        let mut allowed: Vec<String> = Vec::new();
        for r in candidates {
            for m in r.methods.iter().flatten() {
                allowed.push(m.clone());
                if m == "GET" {
                    allowed.push(String::from("HEAD"));
                }
            }
        }
        allowed.sort_unstable();
        allowed.dedup();
        allowed
    }

    /// Every scope the routes (and the default) name, sorted: the `scopes_supported` of RFC
    /// 9728 metadata.
    pub fn scopes(&self) -> Vec<String> {
        let mut out = Vec::new();
        for r in &self.routes {
            if let Access::Require(req) = &r.access {
                req.collect_scopes(&mut out);
            }
        }
        if let Some(d) = &self.default {
            d.collect_scopes(&mut out);
        }
        out.sort_unstable();
        out
    }

    /// The routes, most specific first: (name, `path`/`prefix` text, methods text, access text).
    pub fn describe(&self) -> Vec<(String, String, String, String)> {
        self.routes
            .iter()
            .map(|r| {
                (
                    r.label().to_owned(),
                    match &r.path {
                        PathMatch::Exact(p) => format!("path {p}"),
                        PathMatch::Prefix(p) => format!("prefix {p}"),
                    },
                    r.methods
                        .as_ref()
                        .map_or_else(|| String::from("any method"), |m| m.join(",")),
                    match (&r.access, r.schemes) {
                        (Access::Public, _) => String::from("public"),
                        (Access::Require(req), None) => req.to_string(),
                        (Access::Require(req), Some(s)) => {
                            format!("{req} (schemes: {})", s.names().join(" or "))
                        }
                    },
                )
            })
            .collect()
    }
}

impl PathRequirementsBuilder {
    /// A route for `path` exactly, every method.
    pub fn exact(self, path: impl Into<String>, requirement: impl Into<Requirement>) -> Self {
        self.route(Route::exact(path).require(requirement))
    }
    /// A route for `prefix` and below, every method.
    pub fn prefix(self, prefix: impl Into<String>, requirement: impl Into<Requirement>) -> Self {
        self.route(Route::prefix(prefix).require(requirement))
    }
    /// Adds a route.
    pub fn route(mut self, route: Route) -> Self {
        self.routes.push(route);
        self
    }

    /// Checks every route and orders them most specific first.
    pub fn build(self) -> Result<PathRequirements, ConfigError> {
        let mut routes: Vec<Route> = Vec::with_capacity(self.routes.len());
        for (i, mut r) in self.routes.into_iter().enumerate() {
            let name = r.name.clone().unwrap_or_else(|| format!("routes[{i}]"));
            let key = |k: &str| format!("{name}.{k}");
            r.path = match r.path {
                PathMatch::Exact(p) => PathMatch::Exact(check_route_path(&key("path"), p)?),
                PathMatch::Prefix(p) => {
                    let p = check_route_path(&key("prefix"), p)?;
                    PathMatch::Prefix(if p == "/" {
                        p
                    } else {
                        p.trim_end_matches('/').to_owned()
                    })
                }
            };
            match &r.methods {
                Some(m) if m.is_empty() => {
                    return Err(ConfigError::new(
                        key("methods"),
                        "empty: leave it out to match every method",
                    ));
                }
                Some(m) => {
                    if let Some(k) = m
                        .iter()
                        .position(|m| http::Method::from_bytes(m.as_bytes()).is_err())
                    {
                        return Err(ConfigError::new(
                            format!("{name}.methods[{k}]"),
                            "not an HTTP method",
                        ));
                    }
                }
                None => {}
            }
            if let Access::Require(req) = &r.access {
                check_requirement(&name, req)?;
            }
            r.name = Some(name);
            if let Some(earlier) = routes.iter().find(|e| e.overlaps(&r)) {
                return Err(ConfigError::new(
                    r.label().to_owned(),
                    format!(
                        "contradictory: matches the same path and methods as {}",
                        earlier.label()
                    ),
                ));
            }
            routes.push(r);
        }
        if let Some(d) = &self.default {
            check_requirement("default", d)?;
        }
        // Stable: equal specificity keeps declaration order (and overlaps are refused above).
        routes.sort_by_key(|r| std::cmp::Reverse(r.path.specificity()));
        Ok(PathRequirements {
            routes,
            default: self.default,
        })
    }
}

/// A requirement that names values no token could carry in a challenge (a scope that is not
/// a scope-token, an `acr` value with a space or quote) is a configuration error.
pub(crate) fn check_requirement(name: &str, r: &Requirement) -> Result<(), ConfigError> {
    match r {
        Requirement::AllOf(s) | Requirement::AnyOf(s) => {
            let key = if matches!(r, Requirement::AnyOf(_)) {
                "any_scopes"
            } else {
                "scopes"
            };
            if let Some(bad) = s.iter().find(|s| !crate::challenge::is_scope_token(s)) {
                return Err(ConfigError::new(
                    format!("{name}.{key}"),
                    format!(
                        "{:?} is not an RFC 6749 scope-token (printable ASCII without space, '\"' or '\\')",
                        bad
                    ),
                ));
            }
            Ok(())
        }
        Requirement::StepUp { acr_values, .. } => {
            if acr_values
                .iter()
                .any(|a| !crate::challenge::is_scope_token(a))
            {
                return Err(ConfigError::new(
                    format!("{name}.acr_values"),
                    "each value must be printable ASCII without space, '\"' or '\\'",
                ));
            }
            Ok(())
        }
        Requirement::ClientIds(ids) if ids.is_empty() => Err(ConfigError::new(
            format!("{name}.client_ids"),
            "empty: leave it out to accept any client",
        )),
        Requirement::Any(parts) if parts.is_empty() => Err(ConfigError::new(
            name.to_owned(),
            "can never be met: an empty any-of, or a claim path that does not parse \
             (dotted names, or a JSON Pointer starting with '/')",
        )),
        Requirement::All(parts) | Requirement::Any(parts) => {
            parts.iter().try_for_each(|p| check_requirement(name, p))
        }
        _ => Ok(()),
    }
}

fn check_route_path(key: &str, path: String) -> Result<String, ConfigError> {
    if !path.starts_with('/') {
        return Err(ConfigError::new(key, "must start with '/'"));
    }
    if crate::path::check(&path).is_err() || path.contains('%') {
        return Err(ConfigError::new(
            key,
            "must be a normalized path: no '.', '..' or empty segments, no percent-encoding, \
             no backslash",
        ));
    }
    Ok(path)
}
