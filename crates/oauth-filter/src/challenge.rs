//! Turning an [`AuthError`] into the RFC 6750 answer: status, `WWW-Authenticate`, JSON body.
//!
//! ```
//! use oauth_filter::{AuthError, Rejection, Requirement};
//! let r = Rejection::new(AuthError::InsufficientScope, "api", Some(&Requirement::all_of(["read"])));
//! assert_eq!(r.status(), 403);
//! assert_eq!(
//!     r.www_authenticate().as_deref(),
//!     Some(r#"Bearer realm="api", error="insufficient_scope", error_description="the token lacks the required scope", scope="read""#)
//! );
//! ```
//!
//! Every value placed in the header is checked against the RFC 6750 §3 character sets: the realm
//! and descriptions are ours; a scope that is not a valid RFC 6749 §3.3 `scope-token` is left out of
//! the `scope` attribute rather than letting it break the header. Nothing from the token appears.

use crate::authorize::{Requirement, Unmet};
use crate::error::AuthError;
use bytes::Bytes;

/// Whether `s` is an RFC 6749 §3.3 scope-token: one or more `NQCHAR` (%x21 / %x23-5B /
/// %x5D-7E), so no space, `"` or `\`. A requirement naming anything else can never be met.
pub fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

/// RFC 6750 §3: realm and error_description use %x20-21 / %x23-5B / %x5D-7E (no `"` or `\`).
pub(crate) fn is_attribute_text(s: &str) -> bool {
    s.bytes()
        .all(|b| b == 0x20 || b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

/// A rejected request: the error and everything needed to answer it.
#[derive(Debug, Clone)]
pub struct Rejection {
    error: AuthError,
    realm: String,
    scope: Option<String>,
    acr_values: Option<String>,
    max_age: Option<u64>,
    allow: Option<String>,
    dpop: Option<DpopChallenge>,
    /// RFC 9728 §5.1: the metadata URL, on 401 and 403 challenges.
    resource_metadata: Option<std::sync::Arc<str>>,
}

/// The `DPoP` challenge (RFC 9449 §7.1) of a filter that accepts DPoP.
#[derive(Debug, Clone)]
struct DpopChallenge {
    /// The `algs` value: the proof algorithms accepted, space-separated.
    algs: String,
    /// Plain bearer tokens are accepted too: the `Bearer` challenge stays.
    bearer: bool,
    /// The refused request used the `DPoP` scheme: the error belongs to its challenge.
    used: bool,
    /// A server nonce to hand out (`DPoP-Nonce`, RFC 9449 §8.1).
    nonce: Option<String>,
}

/// `values` joined by spaces when every one is safe in a header attribute, else `None`.
fn attribute_list(values: &[String]) -> Option<String> {
    (!values.is_empty() && values.iter().all(|s| is_scope_token(s))).then(|| values.join(" "))
}

impl Rejection {
    /// Builds the answer for `error`. `requirement` supplies the `scope` attribute of a 403.
    pub fn new(error: AuthError, realm: &str, requirement: Option<&Requirement>) -> Self {
        let realm = if is_attribute_text(realm) {
            realm.to_owned()
        } else {
            String::from("api")
        };
        let scope = match (&error, requirement) {
            (AuthError::InsufficientScope, Some(req)) => attribute_list(req.scopes()),
            _ => None,
        };
        Self {
            error,
            realm,
            scope,
            acr_values: None,
            max_age: None,
            allow: None,
            dpop: None,
            resource_metadata: None,
        }
    }

    /// Points 401 and 403 challenges to the RFC 9728 metadata at `url` (§5.1).
    pub(crate) fn with_resource_metadata(mut self, url: &std::sync::Arc<str>) -> Self {
        self.resource_metadata = Some(url.clone());
        self
    }

    /// Offers the `DPoP` scheme too: `algs` the proof algorithms, `bearer` whether plain bearer
    /// tokens are still accepted (else only `DPoP` is offered), `used` whether the refused
    /// request came with the `DPoP` scheme. The error attributes go to the `DPoP` challenge
    /// when the request used it, when the error is about DPoP, or when `Bearer` is not offered.
    pub(crate) fn with_dpop(
        mut self,
        algs: &str,
        bearer: bool,
        used: bool,
        nonce: Option<String>,
    ) -> Self {
        self.dpop = Some(DpopChallenge {
            algs: algs.to_owned(),
            bearer,
            used,
            nonce,
        });
        self
    }

    /// The `DPoP-Nonce` value of the answer, when the filter hands out nonces.
    pub fn dpop_nonce(&self) -> Option<&str> {
        self.dpop.as_ref().and_then(|d| d.nonce.as_deref())
    }

    /// The answer for a requirement that is not met: the failing part decides the attributes.
    pub(crate) fn unmet(unmet: &Unmet, realm: &str) -> Self {
        let mut r = Self::new(unmet.error(), realm, None);
        match unmet {
            Unmet::Scope(scopes) => r.scope = attribute_list(scopes),
            Unmet::Privilege => {}
            Unmet::StepUp {
                acr_values,
                max_age,
            } => {
                r.acr_values = attribute_list(acr_values);
                r.max_age = *max_age;
            }
        }
        r
    }

    /// The answer for a method the route does not allow, with the methods it does.
    pub(crate) fn method_not_allowed(realm: &str, allow: &[String]) -> Self {
        let mut r = Self::new(AuthError::MethodNotAllowed, realm, None);
        r.allow = Some(allow.join(", "));
        r
    }

    /// The error.
    pub fn error(&self) -> &AuthError {
        &self.error
    }

    /// The HTTP status: 400, 401, 403, 500 or 503.
    pub fn status(&self) -> u16 {
        self.error.status()
    }

    /// The `WWW-Authenticate` value for 400/401/403 (RFC 6750 §3), none for 404, 405 and 5xx.
    pub fn www_authenticate(&self) -> Option<String> {
        if !matches!(self.status(), 400 | 401 | 403) {
            return None;
        }
        let mut v = String::new();
        let attributes = self.attributes();
        let rm = match &self.resource_metadata {
            Some(url) if matches!(self.status(), 401 | 403) => {
                format!(", resource_metadata=\"{url}\"")
            }
            _ => String::new(),
        };
        match &self.dpop {
            None => v.push_str(&format!("Bearer realm=\"{}\"{rm}{attributes}", self.realm)),
            Some(d) => {
                let on_dpop = d.used
                    || !d.bearer
                    || matches!(
                        self.error,
                        AuthError::Dpop(_) | AuthError::NotDpopBound | AuthError::DpopRequired
                    );
                if d.bearer {
                    let bearer_attrs = if on_dpop { "" } else { attributes.as_str() };
                    v.push_str(&format!(
                        "Bearer realm=\"{}\"{rm}{bearer_attrs}, ",
                        self.realm
                    ));
                }
                let dpop_attrs = if on_dpop { attributes.as_str() } else { "" };
                v.push_str(&format!("DPoP algs=\"{}\"{rm}{dpop_attrs}", d.algs));
            }
        }
        Some(v)
    }

    /// The error's attributes of a challenge, each led by `, `.
    fn attributes(&self) -> String {
        let mut v = String::new();
        if let Some(code) = self.error.error_code() {
            v.push_str(&format!(
                ", error=\"{code}\", error_description=\"{}\"",
                self.error.description()
            ));
        }
        if let Some(scope) = &self.scope {
            v.push_str(&format!(", scope=\"{scope}\""));
        }
        if let Some(acr) = &self.acr_values {
            v.push_str(&format!(", acr_values=\"{acr}\""));
        }
        if let Some(age) = self.max_age {
            v.push_str(&format!(", max_age=\"{age}\""));
        }
        v
    }

    /// The `error` member of the JSON body.
    pub fn body_error(&self) -> &'static str {
        match self.status() {
            503 => "temporarily_unavailable",
            500 => "server_error",
            404 => "not_found",
            405 => "method_not_allowed",
            _ => self.error.error_code().unwrap_or("unauthorized"),
        }
    }

    /// The default JSON body: `{"error": ..., "error_description": ...}`.
    pub fn json_body(&self) -> Bytes {
        let body = serde_json::json!({
            "error": self.body_error(),
            "error_description": self.error.description(),
        });
        Bytes::from(body.to_string())
    }

    /// The `Allow` value of a 405.
    pub fn allow(&self) -> Option<&str> {
        self.allow.as_deref()
    }

    /// The headers every adapter sets on a rejection (lower-case names): `www-authenticate`
    /// (400/401/403), `allow` (405), `retry-after` (503), `dpop-nonce` (a 401 of a filter
    /// with DPoP nonces) and `cache-control: no-store`.
    pub fn challenge_headers(&self) -> Vec<(&'static str, String)> {
        let mut h = Vec::with_capacity(3);
        if let Some(v) = self.www_authenticate() {
            h.push(("www-authenticate", v));
        }
        if let Some(v) = &self.allow {
            h.push(("allow", v.clone()));
        }
        if let Some(secs) = self.retry_after() {
            h.push(("retry-after", secs.to_string()));
        }
        if let Some(nonce) = self.dpop_nonce() {
            h.push(("dpop-nonce", nonce.to_owned()));
        }
        h.push(("cache-control", String::from("no-store")));
        h
    }

    /// Seconds a client should wait before retrying a 503.
    pub fn retry_after(&self) -> Option<u32> {
        (self.status() == 503).then_some(5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_challenge_for_missing_token() {
        let r = Rejection::new(AuthError::MissingToken, "my api", None);
        assert_eq!(r.status(), 401);
        assert_eq!(r.www_authenticate().unwrap(), "Bearer realm=\"my api\"");
    }

    #[test]
    fn hostile_realm_and_scopes_never_reach_the_header() {
        let r = Rejection::new(
            AuthError::InsufficientScope,
            "a\"b\r\nX: y",
            Some(&Requirement::all_of(["ok", "bad\"scope"])),
        );
        let h = r.www_authenticate().unwrap();
        assert_eq!(
            h,
            "Bearer realm=\"api\", error=\"insufficient_scope\", error_description=\"the token lacks the required scope\""
        );
    }

    #[test]
    fn every_error_renders_within_the_rfc_6750_charset() {
        let all = [
            AuthError::MissingToken,
            AuthError::MultipleAuthorizationHeaders,
            AuthError::MultipleTokens,
            AuthError::MalformedAuthorizationHeader,
            AuthError::TokenTooLarge,
            AuthError::MalformedToken,
            AuthError::EncryptedToken,
            AuthError::UnsupportedAlgorithm,
            AuthError::CriticalHeader,
            AuthError::UnknownIssuer,
            AuthError::UnknownKey,
            AuthError::AmbiguousKey,
            AuthError::BadSignature,
            AuthError::Expired,
            AuthError::NotYetValid,
            AuthError::IssuedInFuture,
            AuthError::AudienceMismatch,
            AuthError::WrongTokenType,
            AuthError::MissingClaim("sub"),
            AuthError::InvalidClaim("exp"),
            AuthError::InsufficientScope,
            AuthError::RequirementNotMet,
            AuthError::InsufficientUserAuthentication,
            AuthError::NoRoute,
            AuthError::MethodNotAllowed,
            AuthError::SenderConstrainedToken,
            AuthError::InvalidPath,
            AuthError::KeysUnavailable,
            AuthError::NotProtected,
            AuthError::InactiveToken,
            AuthError::IntrospectionUnavailable,
        ];
        for e in all {
            assert!(is_attribute_text(e.description()), "{e:?}");
            let r = Rejection::new(e.clone(), "api", Some(&Requirement::all_of(["read"])));
            if let Some(h) = r.www_authenticate() {
                assert!(h.bytes().all(|b| (0x20..=0x7e).contains(&b)), "{h}");
            }
            let body: serde_json::Value = serde_json::from_slice(&r.json_body()).unwrap();
            assert!(body["error"].is_string() && body["error_description"].is_string());
        }
    }
}
