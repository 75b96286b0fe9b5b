//! OAuth 2.0 Protected Resource Metadata (RFC 9728): the document that tells clients (MCP
//! clients, SPAs) which authorization servers issue tokens for this API, and the
//! `resource_metadata` attribute of every 401 and 403 challenge that points to it.
//!
//! ```
//! use oauth_filter::{JwtIssuer, OAuthFilter, ResourceMetadata};
//! let filter = OAuthFilter::builder()
//!     .jwt_issuer(JwtIssuer::new("https://idp.example").audience("https://api.example/mcp")
//!         .jwks_url("https://idp.example/jwks"))
//!     .resource_metadata(ResourceMetadata::new("https://api.example/mcp")
//!         .scopes_supported(["read", "write"])
//!         .resource_name("Orders MCP server"))
//!     .build()?;
//! let m = filter.resource_metadata().unwrap();
//! // RFC 9728 §3.1: the well-known path goes between the host and the resource's path.
//! assert_eq!(m.url(), "https://api.example/.well-known/oauth-protected-resource/mcp");
//! assert_eq!(m.path(), "/.well-known/oauth-protected-resource/mcp");
//! let doc: serde_json::Value = serde_json::from_slice(m.document()).unwrap();
//! assert_eq!(doc["resource"], "https://api.example/mcp");
//! assert_eq!(doc["authorization_servers"][0], "https://idp.example");
//! let r = filter.reject(oauth_filter::AuthError::MissingToken, None);
//! assert_eq!(
//!     r.www_authenticate().as_deref(),
//!     Some(r#"Bearer realm="api", resource_metadata="https://api.example/.well-known/oauth-protected-resource/mcp""#)
//! );
//! # Ok::<(), oauth_filter::ConfigError>(())
//! ```
//!
//! The resource identifier and therefore the metadata URL come from configuration, never from a
//! request's `Host` header: behind TLS termination the request says `http://` and another host,
//! and clients refuse metadata whose `resource` is not the URL they called (RFC 9728 §3.3).
//!
//! Serving it: [`crate::OAuthFilter::resource_metadata_service`] is a tower service for the
//! path ([`ResourceMetadataDocument::path`]); with axum, `Router::route_service(path, service)`.
//! The gateway serves it itself (`[resource_metadata]`).

use crate::error::ConfigError;
use bytes::Bytes;
use serde_json::{Map, Value, json};

/// The well-known path segment of RFC 9728 §3.
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// What the metadata says besides what the filter knows (issuers, DPoP, query tokens).
#[derive(Debug, Clone)]
pub struct ResourceMetadata {
    resource: String,
    authorization_servers: Option<Vec<String>>,
    scopes_supported: Vec<String>,
    jwks_uri: Option<String>,
    resource_name: Option<String>,
    resource_documentation: Option<String>,
    certificate_bound: bool,
}

impl ResourceMetadata {
    /// Metadata for the protected resource `resource`: its identifier, the URL clients call
    /// (`https://api.example.com`, `https://api.example.com/mcp`), the audience tokens are
    /// issued for (RFC 8707).
    pub fn new(resource: impl Into<String>) -> Self {
        Self {
            resource: resource.into(),
            authorization_servers: None,
            scopes_supported: Vec::new(),
            jwks_uri: None,
            resource_name: None,
            resource_documentation: None,
            certificate_bound: false,
        }
    }
    /// `authorization_servers` (default: the configured JWT issuers, then the introspection
    /// issuer).
    pub fn authorization_servers<I, S>(mut self, issuers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.authorization_servers = Some(issuers.into_iter().map(Into::into).collect());
        self
    }
    /// `scopes_supported`: the scopes this resource's routes use (see
    /// [`crate::PathRequirements::scopes`]); left out when empty.
    pub fn scopes_supported<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes_supported = scopes.into_iter().map(Into::into).collect();
        self
    }
    /// `jwks_uri`: the resource's own signing keys, if it signs anything.
    pub fn jwks_uri(mut self, uri: impl Into<String>) -> Self {
        self.jwks_uri = Some(uri.into());
        self
    }
    /// `resource_name`: a human-readable name.
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }
    /// `resource_documentation`: a URL of the API's documentation.
    pub fn resource_documentation(mut self, url: impl Into<String>) -> Self {
        self.resource_documentation = Some(url.into());
        self
    }
    /// `tls_client_certificate_bound_access_tokens`: say that certificate-bound tokens (RFC
    /// 8705) are supported (where the client certificate reaches the filter).
    pub fn certificate_bound_tokens(mut self, supported: bool) -> Self {
        self.certificate_bound = supported;
        self
    }

    /// Checks the settings and makes the document, with what the filter knows.
    pub(crate) fn build(
        self,
        filter: &FilterFacts,
    ) -> Result<ResourceMetadataDocument, ConfigError> {
        let url = checked_url("resource_metadata.resource", &self.resource)?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(ConfigError::new(
                "resource_metadata.resource",
                "a resource identifier has no query or fragment (RFC 9728 §1.2)",
            ));
        }
        for (key, v) in [
            ("resource_metadata.jwks_uri", &self.jwks_uri),
            (
                "resource_metadata.resource_documentation",
                &self.resource_documentation,
            ),
        ] {
            if let Some(v) = v {
                checked_url(key, v)?;
            }
        }
        let servers = self
            .authorization_servers
            .unwrap_or_else(|| filter.issuers.clone());
        if servers.is_empty() {
            return Err(ConfigError::new(
                "resource_metadata.authorization_servers",
                "no authorization server to name: configure issuers, or list them here",
            ));
        }
        for (i, s) in servers.iter().enumerate() {
            checked_url(&format!("resource_metadata.authorization_servers[{i}]"), s)?;
        }
        if let Some(bad) = self
            .scopes_supported
            .iter()
            .position(|s| !crate::challenge::is_scope_token(s))
        {
            return Err(ConfigError::new(
                format!("resource_metadata.scopes_supported[{bad}]"),
                "not an RFC 6749 scope-token",
            ));
        }
        // The URL of §3.1: the well-known segment between the host and the resource's path.
        let path = match url.path().trim_end_matches('/') {
            "" => WELL_KNOWN.to_owned(),
            p => format!("{WELL_KNOWN}{p}"),
        };
        let mut origin = url.clone();
        origin.set_path(&path);
        let metadata_url = origin.to_string();
        if !crate::challenge::is_attribute_text(&metadata_url) {
            return Err(ConfigError::new(
                "resource_metadata.resource",
                "the metadata URL cannot be put in a challenge",
            ));
        }
        let mut doc = Map::new();
        doc.insert("resource".into(), json!(&self.resource));
        doc.insert("authorization_servers".into(), json!(servers));
        if let Some(j) = self.jwks_uri {
            doc.insert("jwks_uri".into(), json!(j));
        }
        if !self.scopes_supported.is_empty() {
            doc.insert("scopes_supported".into(), json!(self.scopes_supported));
        }
        let mut methods = vec!["header"];
        if filter.query_tokens {
            methods.push("query");
        }
        doc.insert("bearer_methods_supported".into(), json!(methods));
        if let Some(n) = self.resource_name {
            doc.insert("resource_name".into(), json!(n));
        }
        if let Some(d) = self.resource_documentation {
            doc.insert("resource_documentation".into(), json!(d));
        }
        if self.certificate_bound {
            doc.insert(
                "tls_client_certificate_bound_access_tokens".into(),
                json!(true),
            );
        }
        if let Some(algs) = &filter.dpop_algs {
            doc.insert("dpop_signing_alg_values_supported".into(), json!(algs));
            doc.insert(
                "dpop_bound_access_tokens_required".into(),
                json!(filter.dpop_required),
            );
        }
        Ok(ResourceMetadataDocument {
            resource: self.resource,
            url: metadata_url.into(),
            path,
            document: Bytes::from(Value::Object(doc).to_string()),
        })
    }
}

fn checked_url(key: &str, s: &str) -> Result<url::Url, ConfigError> {
    let url = url::Url::parse(s).map_err(|_| ConfigError::new(key, "not an absolute URL"))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if crate::http::is_loopback(&url) => Ok(url),
        _ => Err(ConfigError::new(
            key,
            "must be an https URL (http only for loopback hosts)",
        )),
    }
}

/// What the filter contributes to the document.
pub(crate) struct FilterFacts {
    pub(crate) issuers: Vec<String>,
    pub(crate) query_tokens: bool,
    pub(crate) dpop_algs: Option<Vec<String>>,
    pub(crate) dpop_required: bool,
}

/// The built metadata: its URL, its path, and the JSON document.
#[derive(Debug, Clone)]
pub struct ResourceMetadataDocument {
    resource: String,
    url: std::sync::Arc<str>,
    path: String,
    document: Bytes,
}

impl ResourceMetadataDocument {
    /// The resource identifier.
    pub fn resource(&self) -> &str {
        &self.resource
    }
    /// The metadata URL (the challenges' `resource_metadata`).
    pub fn url(&self) -> &str {
        &self.url
    }
    /// The URL, shared (for challenges).
    pub(crate) fn shared_url(&self) -> &std::sync::Arc<str> {
        &self.url
    }
    /// The path it is served at (`/.well-known/oauth-protected-resource[/<resource path>]`).
    pub fn path(&self) -> &str {
        &self.path
    }
    /// The JSON document.
    pub fn document(&self) -> &[u8] {
        &self.document
    }
    /// The answer to a `GET` of [`ResourceMetadataDocument::path`]: 200 with the document,
    /// `Content-Type: application/json` and a day of caching.
    pub fn response<B: From<Bytes>>(&self) -> http::Response<B> {
        let mut r = http::Response::new(B::from(self.document.clone()));
        let h = r.headers_mut();
        h.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        h.insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("public, max-age=86400"),
        );
        r
    }
}

/// The tower service that answers with the metadata document, from
/// [`crate::OAuthFilter::resource_metadata_service`]: `GET`/`HEAD` get the document, other
/// methods 405. `B` is the response body (default `http_body_util::Full<Bytes>`; axum's `Body`
/// too).
pub struct ResourceMetadataService<B = http_body_util::Full<Bytes>> {
    doc: std::sync::Arc<ResourceMetadataDocument>,
    body: std::marker::PhantomData<fn() -> B>,
}

impl<B> Clone for ResourceMetadataService<B> {
    fn clone(&self) -> Self {
        Self {
            doc: self.doc.clone(),
            body: std::marker::PhantomData,
        }
    }
}

impl<B> std::fmt::Debug for ResourceMetadataService<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourceMetadataService")
            .field("url", &self.doc.url)
            .finish()
    }
}

impl<B> ResourceMetadataService<B> {
    pub(crate) fn new(doc: ResourceMetadataDocument) -> Self {
        Self {
            doc: std::sync::Arc::new(doc),
            body: std::marker::PhantomData,
        }
    }
}

impl<ReqBody, B: From<Bytes>> tower_service::Service<http::Request<ReqBody>>
    for ResourceMetadataService<B>
{
    type Response = http::Response<B>;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let response = if matches!(*req.method(), http::Method::GET | http::Method::HEAD) {
            self.doc.response()
        } else {
            let mut r = http::Response::new(B::from(Bytes::new()));
            *r.status_mut() = http::StatusCode::METHOD_NOT_ALLOWED;
            r.headers_mut().insert(
                http::header::ALLOW,
                http::HeaderValue::from_static("GET, HEAD"),
            );
            r
        };
        std::future::ready(Ok(response))
    }
}
