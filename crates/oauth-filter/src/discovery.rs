//! Authorization server metadata: RFC 8414 and OpenID Connect Discovery, with the issuer check.
//!
//! ```
//! # #[cfg(feature = "__internal")] {
//! # use oauth_filter::__internal::discovery::metadata_urls;
//! let urls = metadata_urls(&"https://idp.example/tenant1".parse().unwrap());
//! assert_eq!(urls[0].as_str(), "https://idp.example/tenant1/.well-known/openid-configuration");
//! assert_eq!(urls[1].as_str(), "https://idp.example/.well-known/oauth-authorization-server/tenant1");
//! # }
//! ```
//!
//! The metadata's `issuer` must equal the configured issuer exactly (RFC 8414 §3.3), otherwise the
//! document is refused: that is what stops an attacker-controlled document, or a mix-up between
//! tenants, from pointing the filter at someone else's keys.

use crate::http::{FetchError, HttpClientConfig, HttpFetcher};
use serde_json::Value;
use std::fmt;
use url::Url;

/// The metadata the filter uses.
#[derive(Debug, Clone)]
pub struct Metadata {
    /// `jwks_uri`.
    pub jwks_uri: Url,
    /// `introspection_endpoint`, if published.
    pub introspection_endpoint: Option<Url>,
}

/// Why discovery failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscoveryError {
    /// Neither well-known location answered with a JSON document.
    Unreachable(String),
    /// The document's `issuer` is not the configured issuer.
    IssuerMismatch,
    /// `jwks_uri` missing, not a string, or not an allowed URL.
    InvalidJwksUri,
}

impl fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreachable(e) => write!(f, "metadata unavailable: {e}"),
            Self::IssuerMismatch => {
                f.write_str("metadata issuer does not equal the configured issuer; refused")
            }
            Self::InvalidJwksUri => {
                f.write_str("metadata jwks_uri is missing or not an allowed URL")
            }
        }
    }
}

impl std::error::Error for DiscoveryError {}

/// The two well-known metadata locations for `issuer`: OpenID Connect first, then RFC 8414.
pub fn metadata_urls(issuer: &Url) -> [Url; 2] {
    let path = issuer.path().trim_end_matches('/');
    let mut oidc = issuer.clone();
    oidc.set_path(&format!("{path}/.well-known/openid-configuration"));
    oidc.set_query(None);
    let mut rfc8414 = issuer.clone();
    rfc8414.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
    rfc8414.set_query(None);
    [oidc, rfc8414]
}

/// Checks a metadata document: `issuer` must equal `issuer` exactly (RFC 8414 §3.3), `jwks_uri`
/// must be an allowed URL; `introspection_endpoint` is kept when it is one.
pub fn validate_metadata(
    doc: &serde_json::Map<String, Value>,
    issuer: &str,
    http: &HttpClientConfig,
) -> Result<Metadata, DiscoveryError> {
    if doc.get("issuer").and_then(Value::as_str) != Some(issuer) {
        return Err(DiscoveryError::IssuerMismatch);
    }
    let jwks_uri = doc
        .get("jwks_uri")
        .and_then(Value::as_str)
        .and_then(|u| http.check_url("jwks_uri", u).ok())
        .ok_or(DiscoveryError::InvalidJwksUri)?;
    let introspection_endpoint = doc
        .get("introspection_endpoint")
        .and_then(Value::as_str)
        .and_then(|u| http.check_url("introspection_endpoint", u).ok());
    Ok(Metadata {
        jwks_uri,
        introspection_endpoint,
    })
}

pub(crate) async fn discover(
    fetcher: &HttpFetcher,
    http: &HttpClientConfig,
    issuer: &str,
    issuer_url: &Url,
) -> Result<Metadata, DiscoveryError> {
    let mut last_error = String::new();
    for url in metadata_urls(issuer_url) {
        let doc = match fetcher.get_json(&url).await {
            Ok(doc) => doc.body,
            Err(e @ (FetchError::Status(_) | FetchError::NotJson)) => {
                last_error = format!("{url}: {e}");
                continue;
            }
            Err(e) => return Err(DiscoveryError::Unreachable(format!("{url}: {e}"))),
        };
        return validate_metadata(&doc, issuer, http);
    }
    Err(DiscoveryError::Unreachable(last_error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_locations() {
        let u = metadata_urls(&"https://idp.example".parse().unwrap());
        assert_eq!(
            u[0].as_str(),
            "https://idp.example/.well-known/openid-configuration"
        );
        assert_eq!(
            u[1].as_str(),
            "https://idp.example/.well-known/oauth-authorization-server"
        );
        let u = metadata_urls(&"https://idp.example/realms/a/".parse().unwrap());
        assert_eq!(
            u[0].as_str(),
            "https://idp.example/realms/a/.well-known/openid-configuration"
        );
        assert_eq!(
            u[1].as_str(),
            "https://idp.example/.well-known/oauth-authorization-server/realms/a"
        );
    }
}
