//! The HTTP client used to reach the authorization server (JWKS, discovery): bounded in time and
//! size, no redirects, TLS verified by rustls on aws-lc-rs.
//!
//! ```
//! use oauth_filter::HttpClientConfig;
//! use std::time::Duration;
//! let config = HttpClientConfig::default().timeout(Duration::from_secs(2)).max_response_bytes(64 * 1024);
//! # let _ = config;
//! ```

use crate::error::ConfigError;
use crate::jose::json;
use serde_json::{Map, Value};
use std::fmt;
use std::time::Duration;
use url::Url;

/// Settings for requests to the authorization server.
#[derive(Clone)]
pub struct HttpClientConfig {
    pub(crate) timeout: Duration,
    pub(crate) max_response_bytes: usize,
    pub(crate) ca_pem: Option<Vec<u8>>,
    /// Certificate chain and private key, PEM: a secret, never printed.
    pub(crate) client_identity_pem: Option<Vec<u8>>,
    pub(crate) dangerous_accept_invalid_certs: bool,
    pub(crate) dangerous_allow_insecure_http: bool,
}

impl fmt::Debug for HttpClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClientConfig")
            .field("timeout", &self.timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("custom_ca", &self.ca_pem.is_some())
            .field("client_certificate", &self.client_identity_pem.is_some())
            .field(
                "dangerous_accept_invalid_certs",
                &self.dangerous_accept_invalid_certs,
            )
            .field(
                "dangerous_allow_insecure_http",
                &self.dangerous_allow_insecure_http,
            )
            .finish()
    }
}

/// [`HttpClientConfig`]'s dangerous settings, from [`HttpClientConfig::dangerous`].
#[derive(Debug, Clone)]
pub struct DangerousHttpClientConfig(HttpClientConfig);

impl DangerousHttpClientConfig {
    /// Accept any TLS certificate. For local development only; anyone on the path can then
    /// serve keys that the filter will trust.
    pub fn accept_invalid_certs(self, accept: bool) -> HttpClientConfig {
        let mut c = self.0;
        c.dangerous_accept_invalid_certs = accept;
        c
    }
    /// Allow plain `http://` URLs for non-loopback hosts. Loopback hosts (127.0.0.0/8,
    /// `[::1]`, `localhost`) are always allowed, for tests and sidecars.
    pub fn allow_insecure_http(self, allow: bool) -> HttpClientConfig {
        let mut c = self.0;
        c.dangerous_allow_insecure_http = allow;
        c
    }
}

impl Default for HttpClientConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            max_response_bytes: 512 * 1024,
            ca_pem: None,
            client_identity_pem: None,
            dangerous_accept_invalid_certs: false,
            dangerous_allow_insecure_http: false,
        }
    }
}

impl HttpClientConfig {
    /// Total time allowed for one request, connection included (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    /// Largest response body read (default 512 KiB); larger bodies are refused.
    pub fn max_response_bytes(mut self, max: usize) -> Self {
        self.max_response_bytes = max;
        self
    }
    /// Trust only the CA certificates in this PEM bundle instead of the system roots.
    pub fn ca_certificates_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pem = Some(pem.into());
        self
    }
    /// Present this client certificate in TLS handshakes (mutual TLS, e.g. RFC 8705 client
    /// authentication at the introspection endpoint): one PEM holding the certificate chain,
    /// leaf first, and its private key (PKCS#8, PKCS#1 or SEC1).
    pub fn client_identity_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.client_identity_pem = Some(pem.into());
        self
    }
    /// The settings that weaken security, each explained where it is set.
    pub fn dangerous(self) -> DangerousHttpClientConfig {
        DangerousHttpClientConfig(self)
    }

    /// Checks that `raw` is an absolute URL this client may fetch. `key` names the setting.
    pub(crate) fn check_url(&self, key: &str, raw: &str) -> Result<Url, ConfigError> {
        let url = Url::parse(raw)
            .map_err(|e| ConfigError::new(key, format!("not a valid absolute URL ({e})")))?;
        match url.scheme() {
            "https" => {}
            "http" if self.dangerous_allow_insecure_http || is_loopback(&url) => {}
            "http" => {
                return Err(ConfigError::new(
                    key,
                    "plain http is only allowed for loopback hosts; use https",
                ));
            }
            other => {
                return Err(ConfigError::new(
                    key,
                    format!("unsupported scheme `{other}`; use https"),
                ));
            }
        }
        if url.host().is_none() {
            return Err(ConfigError::new(key, "the URL has no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ConfigError::new(
                key,
                "credentials in the URL are not allowed",
            ));
        }
        Ok(url)
    }

    pub(crate) fn build(&self) -> Result<HttpFetcher, ConfigError> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.timeout)
            .connect_timeout(self.timeout)
            .no_proxy()
            .user_agent(concat!("oauth-filter/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &self.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|_| {
                ConfigError::new("http.ca_certificates_pem", "not a PEM certificate bundle")
            })?;
            if certs.is_empty() {
                return Err(ConfigError::new(
                    "http.ca_certificates_pem",
                    "the bundle holds no certificate",
                ));
            }
            builder = builder.tls_certs_only(certs);
        }
        if let Some(pem) = &self.client_identity_pem {
            let identity = reqwest::Identity::from_pem(pem).map_err(|_| {
                ConfigError::new(
                    "http.client_identity_pem",
                    "not a PEM certificate chain with its private key",
                )
            })?;
            builder = builder.identity(identity);
        }
        if self.dangerous_accept_invalid_certs {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        let client = builder
            .build()
            .map_err(|e| ConfigError::new("http", format!("cannot build the HTTP client: {e}")))?;
        Ok(HttpFetcher {
            client,
            max_bytes: self.max_response_bytes,
        })
    }
}

/// Whether `url`'s host is a loopback address or `localhost` (where plain http is allowed).
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Why a fetch failed. Logged with the URL (never with a token); never shown to clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FetchError {
    Transport(String),
    Status(u16),
    TooLarge,
    NotJson,
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transport(e) => write!(f, "request failed: {e}"),
            Self::Status(s) => write!(f, "unexpected HTTP status {s}"),
            Self::TooLarge => f.write_str("response body exceeds the size cap"),
            Self::NotJson => f.write_str("response is not a strict JSON object"),
        }
    }
}

/// A JSON object fetched over HTTP, with its `Cache-Control: max-age` if any.
pub(crate) struct Fetched {
    pub(crate) body: Map<String, Value>,
    pub(crate) max_age: Option<Duration>,
}

/// A shared, bounded HTTP client.
#[derive(Clone)]
pub(crate) struct HttpFetcher {
    client: reqwest::Client,
    max_bytes: usize,
}

impl HttpFetcher {
    pub(crate) async fn get_json(&self, url: &Url) -> Result<Fetched, FetchError> {
        let resp = self
            .client
            .get(url.clone())
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| FetchError::Transport(error_chain(&e)))?;
        // Redirects are not followed: a 3xx arrives here and is refused like any non-200.
        if resp.status() != reqwest::StatusCode::OK {
            return Err(FetchError::Status(resp.status().as_u16()));
        }
        if resp
            .content_length()
            .is_some_and(|n| n > self.max_bytes as u64)
        {
            return Err(FetchError::TooLarge);
        }
        let max_age = resp
            .headers()
            .get(http::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_max_age);
        let body = self.read_capped(resp).await?;
        let body = json::parse_object(&body).map_err(|_| FetchError::NotJson)?;
        Ok(Fetched { body, max_age })
    }

    /// POSTs a form and returns the status, `Content-Type` and body (size-capped).
    pub(crate) async fn post_form(
        &self,
        url: &Url,
        form: &[(&str, &str)],
        authorization: Option<&str>,
        accept: &str,
    ) -> Result<(u16, Option<String>, Vec<u8>), FetchError> {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut req = self
            .client
            .post(url.clone())
            .header(http::header::ACCEPT, accept)
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body);
        if let Some(auth) = authorization {
            req = req.header(http::header::AUTHORIZATION, auth);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| FetchError::Transport(error_chain(&e)))?;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = self.read_capped(resp).await?;
        Ok((status, content_type, body))
    }

    async fn read_capped(&self, mut resp: reqwest::Response) -> Result<Vec<u8>, FetchError> {
        if resp
            .content_length()
            .is_some_and(|n| n > self.max_bytes as u64)
        {
            return Err(FetchError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| FetchError::Transport(error_chain(&e)))?
        {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(FetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

/// `Cache-Control` directives: `max-age=N`; `no-store`/`no-cache` count as zero.
fn parse_max_age(value: &str) -> Option<Duration> {
    let mut age = None;
    for directive in value.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return Some(Duration::ZERO);
        }
        if let Some(n) = lower.strip_prefix("max-age=") {
            age = n
                .trim_matches('"')
                .parse::<u64>()
                .ok()
                .map(Duration::from_secs);
        }
    }
    age
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_parsing() {
        assert_eq!(
            parse_max_age("public, max-age=300"),
            Some(Duration::from_secs(300))
        );
        assert_eq!(
            parse_max_age("Max-Age=\"60\""),
            Some(Duration::from_secs(60))
        );
        assert_eq!(parse_max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(parse_max_age("max-age=-1"), None);
        assert_eq!(parse_max_age("private"), None);
    }

    #[test]
    fn url_rules_name_the_key() {
        let c = HttpClientConfig::default();
        assert!(c.check_url("k", "https://idp.example/jwks").is_ok());
        assert!(c.check_url("k", "http://127.0.0.1:8080/jwks").is_ok());
        assert!(c.check_url("k", "http://localhost/jwks").is_ok());
        assert!(c.check_url("k", "http://[::1]/jwks").is_ok());
        let e = c
            .check_url("issuers[0].jwks_url", "http://idp.example/jwks")
            .unwrap_err();
        assert_eq!(e.key(), "issuers[0].jwks_url");
        assert!(c.check_url("k", "ftp://idp.example/jwks").is_err());
        assert!(c.check_url("k", "/relative").is_err());
        assert!(c.check_url("k", "https://user:pw@idp.example/").is_err());
        let insecure = HttpClientConfig::default()
            .dangerous()
            .allow_insecure_http(true);
        assert!(insecure.check_url("k", "http://idp.example/jwks").is_ok());
    }
}
