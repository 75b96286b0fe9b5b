//! What can go wrong with a request's credentials, and configuration errors.
//!
//! ```
//! use oauth_filter::AuthError;
//! assert_eq!(AuthError::Expired.status(), 401);
//! assert_eq!(AuthError::Expired.error_code(), Some("invalid_token"));
//! assert_eq!(AuthError::KeysUnavailable.status(), 503);
//! ```
//!
//! Every variant has a fixed description: nothing a caller sends is ever echoed back.

use crate::jose::JoseError;
use std::fmt;

/// Why a request was not let through. Precise variants for logs and metrics
/// ([`AuthError::reason_code`]); the client sees only the RFC 6750 error code and a fixed text.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// No bearer credentials: 401 with a bare challenge (RFC 6750 §3.1).
    MissingToken,
    /// More than one `Authorization` header: 400 `invalid_request`.
    MultipleAuthorizationHeaders,
    /// A token in more than one place (header and query): 400 `invalid_request` (RFC 6750 §2).
    MultipleTokens,
    /// A `Bearer` scheme with no credentials after it: 400 `invalid_request`. (A credential that
    /// is present but not a `b64token` is a malformed token: [`AuthError::MalformedToken`].)
    MalformedAuthorizationHeader,
    /// The token is longer than the configured cap; refused before any parsing.
    TokenTooLarge,
    /// Not a well-formed token: a bearer credential that is not an RFC 6750 `b64token`, or a JWT
    /// that is not a strict compact JWS with JSON claims.
    MalformedToken,
    /// A JWE; encrypted tokens are not accepted.
    EncryptedToken,
    /// `alg` unknown, `none`, or not in the issuer's allow-list.
    UnsupportedAlgorithm,
    /// The header carries `crit`.
    CriticalHeader,
    /// `iss` names no configured issuer.
    UnknownIssuer,
    /// No key of the issuer has the token's `kid` (after at most one refresh per cooldown).
    UnknownKey,
    /// Several keys match the token's `kid` and algorithm.
    AmbiguousKey,
    /// The signature does not verify.
    BadSignature,
    /// `exp` is past (beyond the leeway).
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    IssuedInFuture,
    /// `aud` does not contain the configured audience, or is missing.
    AudienceMismatch,
    /// `typ` marks another kind of token, or (strict RFC 9068 mode) is not `at+jwt`.
    WrongTokenType,
    /// The token is bound to a key (`cnf`, or an introspection `token_type` of `DPoP`) and came
    /// without the proof of possession it needs: a DPoP-bound token with the `Bearer` scheme, a
    /// DPoP-bound token where DPoP is not configured, or a binding this filter does not verify
    /// (a `cnf` with several or unknown members). Never accepted as a plain bearer token.
    SenderConstrainedToken,
    /// A token bound to no key where sender-constrained tokens are required (the FAPI 2.0
    /// profile): 401 `invalid_token`.
    SenderConstraintRequired,
    /// A certificate-bound token (`cnf.x5t#S256`, RFC 8705) on a request whose connection has
    /// no client certificate: 401 `invalid_token`.
    CertificateMissing,
    /// A certificate-bound token on a connection whose client certificate has another
    /// thumbprint: 401 `invalid_token`.
    CertificateMismatch,
    /// A DPoP proof that fails (RFC 9449 §4.3, §7.1): 401 `invalid_dpop_proof`, or
    /// `invalid_token` when the proof's key is not the token's.
    Dpop(crate::dpop::DpopError),
    /// The `DPoP` scheme with a token that is not DPoP-bound: 401 `invalid_token`.
    NotDpopBound,
    /// A plain bearer token where the configuration requires DPoP-bound tokens: 401
    /// `invalid_token`.
    DpopRequired,
    /// The request path is not in normal form (dot or empty segments, encoded separators,
    /// bad escapes): two servers could read it differently. 400 `invalid_request`.
    InvalidPath,
    /// A required claim is missing.
    MissingClaim(&'static str),
    /// A claim has the wrong type (for example a date given as a string).
    InvalidClaim(&'static str),
    /// The introspection endpoint says the token is not active (or answered 204).
    InactiveToken,
    /// The token is valid but lacks the scopes the route requires: 403 `insufficient_scope`.
    InsufficientScope,
    /// The token is valid but fails another part of the route's requirement (a claim, the
    /// client, its age): 403 `insufficient_scope` (RFC 6750 §3.1, "higher privileges than
    /// provided by the access token"), with a fixed description.
    RequirementNotMet,
    /// The user's authentication is too weak (`acr`) or too old (`auth_time`) for the route:
    /// 401 `insufficient_user_authentication` with `acr_values` / `max_age` (RFC 9470 §3).
    InsufficientUserAuthentication,
    /// No route matches the request path (rules without a default): 404.
    NoRoute,
    /// The most specific route for the path does not allow the method: 405 with `Allow`.
    MethodNotAllowed,
    /// The issuer's keys could not be obtained and none are cached: 503, fail closed.
    KeysUnavailable,
    /// The introspection endpoint could not be reached or answered something other than a
    /// JSON introspection response: 503, fail closed.
    IntrospectionUnavailable,
    /// A handler asked for an [`AccessToken`](crate::AccessToken) on a route that no OAuth
    /// layer protects: 500, the handler does not run.
    NotProtected,
}

impl AuthError {
    /// The HTTP status for this error.
    pub fn status(&self) -> u16 {
        match self {
            Self::MissingToken => 401,
            Self::MultipleAuthorizationHeaders
            | Self::MultipleTokens
            | Self::MalformedAuthorizationHeader
            | Self::InvalidPath => 400,
            Self::InsufficientScope | Self::RequirementNotMet => 403,
            Self::NoRoute => 404,
            Self::MethodNotAllowed => 405,
            Self::KeysUnavailable
            | Self::IntrospectionUnavailable
            | Self::Dpop(
                crate::dpop::DpopError::ReplayCacheFull | crate::dpop::DpopError::ReplayUnavailable,
            ) => 503,
            Self::NotProtected => 500,
            _ => 401,
        }
    }

    /// The RFC 6750 §3.1 error code, if any.
    pub fn error_code(&self) -> Option<&'static str> {
        match self.status() {
            400 => Some("invalid_request"),
            401 if *self == Self::InsufficientUserAuthentication => {
                Some("insufficient_user_authentication")
            }
            401 if matches!(
                self,
                Self::Dpop(
                    crate::dpop::DpopError::NonceMissing | crate::dpop::DpopError::NonceExpired
                )
            ) =>
            {
                Some("use_dpop_nonce")
            }
            401 if matches!(self, Self::Dpop(e) if *e != crate::dpop::DpopError::KeyMismatch) => {
                Some("invalid_dpop_proof")
            }
            401 if *self != Self::MissingToken => Some("invalid_token"),
            403 => Some("insufficient_scope"),
            _ => None,
        }
    }

    /// A short, fixed description safe to send to clients and to log.
    pub fn description(&self) -> &'static str {
        match self {
            Self::MissingToken => "an access token is required",
            Self::MultipleAuthorizationHeaders => "more than one Authorization header",
            Self::MultipleTokens => "more than one access token in the request",
            Self::MalformedAuthorizationHeader => {
                "the Bearer authorization header has no credentials"
            }
            Self::TokenTooLarge => "the token is too large",
            Self::MalformedToken => JoseError::Malformed.description(),
            Self::EncryptedToken => JoseError::Encrypted.description(),
            Self::UnsupportedAlgorithm => JoseError::UnsupportedAlgorithm.description(),
            Self::CriticalHeader => JoseError::CriticalHeader.description(),
            Self::UnknownIssuer => "the token's issuer is not trusted",
            Self::UnknownKey => JoseError::UnknownKey.description(),
            Self::AmbiguousKey => JoseError::AmbiguousKey.description(),
            Self::BadSignature => JoseError::BadSignature.description(),
            Self::Expired => "the token has expired",
            Self::NotYetValid => "the token is not valid yet",
            Self::IssuedInFuture => "the token is issued in the future",
            Self::AudienceMismatch => "the token is not meant for this audience",
            Self::WrongTokenType => "the token is not an access token",
            Self::SenderConstrainedToken => {
                "the token is bound to a key and cannot be used as a bearer token"
            }
            Self::SenderConstraintRequired => {
                "the token must be bound to a key (DPoP or a client certificate)"
            }
            Self::CertificateMissing => {
                "the token is bound to a client certificate and the connection has none"
            }
            Self::CertificateMismatch => {
                "the token is bound to another client certificate than the connection's"
            }
            Self::Dpop(e) => e.description(),
            Self::NotDpopBound => "the token is not bound to a DPoP key",
            Self::DpopRequired => "a DPoP-bound token is required",
            Self::InvalidPath => "the request path is not in normal form",
            Self::MissingClaim(_) => "the token lacks a required claim",
            Self::InvalidClaim(_) => "the token has an invalid claim",
            Self::InactiveToken => "the token is not active",
            Self::InsufficientScope => "the token lacks the required scope",
            Self::RequirementNotMet => "the token does not grant the privileges the route requires",
            Self::InsufficientUserAuthentication => {
                "a stronger or more recent user authentication is required"
            }
            Self::NoRoute => "no route matches this request",
            Self::MethodNotAllowed => "the route does not allow this method",
            Self::KeysUnavailable => "the authorization server's keys are unavailable",
            Self::IntrospectionUnavailable => "the token introspection service is unavailable",
            Self::NotProtected => "the route is not protected by an OAuth layer",
        }
    }

    /// A stable machine-readable reason for logs and metrics (`expired`, `bad_signature`, …).
    pub fn reason_code(&self) -> &'static str {
        match self {
            Self::MissingToken => "missing_token",
            Self::MultipleAuthorizationHeaders => "multiple_authorization_headers",
            Self::MultipleTokens => "multiple_tokens",
            Self::MalformedAuthorizationHeader => "malformed_authorization_header",
            Self::TokenTooLarge => "token_too_large",
            Self::MalformedToken => "malformed_token",
            Self::EncryptedToken => "encrypted_token",
            Self::UnsupportedAlgorithm => "unsupported_algorithm",
            Self::CriticalHeader => "critical_header",
            Self::UnknownIssuer => "unknown_issuer",
            Self::UnknownKey => "unknown_key",
            Self::AmbiguousKey => "ambiguous_key",
            Self::BadSignature => "bad_signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::IssuedInFuture => "issued_in_future",
            Self::AudienceMismatch => "audience_mismatch",
            Self::WrongTokenType => "wrong_token_type",
            Self::SenderConstrainedToken => "sender_constrained_token",
            Self::SenderConstraintRequired => "sender_constraint_required",
            Self::CertificateMissing => "mtls_certificate_missing",
            Self::CertificateMismatch => "mtls_certificate_mismatch",
            Self::Dpop(e) => e.reason_code(),
            Self::NotDpopBound => "dpop_unbound_token",
            Self::DpopRequired => "dpop_required",
            Self::InvalidPath => "invalid_path",
            Self::MissingClaim(_) => "missing_claim",
            Self::InvalidClaim(_) => "invalid_claim",
            Self::InactiveToken => "inactive_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::RequirementNotMet => "requirement_not_met",
            Self::InsufficientUserAuthentication => "insufficient_user_authentication",
            Self::NoRoute => "no_route",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::KeysUnavailable => "keys_unavailable",
            Self::IntrospectionUnavailable => "introspection_unavailable",
            Self::NotProtected => "not_protected",
        }
    }
}

impl From<JoseError> for AuthError {
    fn from(e: JoseError) -> Self {
        match e {
            JoseError::Malformed => Self::MalformedToken,
            JoseError::Encrypted => Self::EncryptedToken,
            JoseError::UnsupportedAlgorithm => Self::UnsupportedAlgorithm,
            JoseError::CriticalHeader => Self::CriticalHeader,
            JoseError::UnknownKey => Self::UnknownKey,
            JoseError::AmbiguousKey => Self::AmbiguousKey,
            JoseError::BadSignature => Self::BadSignature,
        }
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingClaim(c) | Self::InvalidClaim(c) => {
                write!(f, "{} ({c})", self.description())
            }
            _ => f.write_str(self.description()),
        }
    }
}

impl std::error::Error for AuthError {}

/// A configuration mistake, naming the setting and why it is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    key: String,
    reason: String,
}

impl ConfigError {
    /// An error for the setting `key` (as the user spells it, e.g. `routes[2].scopes`).
    pub fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            reason: reason.into(),
        }
    }
    /// The same error for a setting under `prefix` (`routes[0]` → `gateway.routes[0]`).
    pub fn within(self, prefix: &str) -> Self {
        Self {
            key: format!("{prefix}.{}", self.key),
            reason: self.reason,
        }
    }
    /// The setting at fault, e.g. `issuers[0].jwks_url`.
    pub fn key(&self) -> &str {
        &self.key
    }
    /// Why it is wrong.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration `{}`: {}", self.key, self.reason)
    }
}

impl std::error::Error for ConfigError {}
