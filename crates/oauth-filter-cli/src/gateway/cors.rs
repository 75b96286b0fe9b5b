//! CORS for browser clients (SPAs, MCP inspectors): tower-http's `CorsLayer` around the whole
//! gateway, so that preflights are answered before any route or token check and never
//! forwarded, and every answer (401 and 403 included) exposes the challenge.
//!
//! ```toml
//! [cors]
//! allowed_origins = ["https://app.example"]   # exact origins, or ["*"] without credentials
//! allowed_methods = ["GET", "POST"]           # default GET, HEAD, POST, PUT, PATCH, DELETE
//! allowed_headers = ["authorization", "content-type", "dpop"]   # the default
//! expose_headers = ["mcp-session-id"]         # besides WWW-Authenticate and DPoP-Nonce
//! allow_credentials = false                   # cookies; never with "*"
//! max_age_secs = 600                          # how long browsers keep a preflight's answer
//! ```
//!
//! A preflight is an `OPTIONS` with `Origin` and `Access-Control-Request-Method`; its answer
//! carries the `Access-Control-Allow-*` headers when the origin is allowed, and none otherwise
//! (the browser then blocks the request). `Vary: Origin` is on every answer.

use oauth_filter::ConfigError;
use serde::Deserialize;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// `[cors]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCors {
    pub(crate) allowed_origins: Vec<String>,
    #[serde(default = "default_methods")]
    pub(crate) allowed_methods: Vec<String>,
    #[serde(default = "default_headers")]
    pub(crate) allowed_headers: Vec<String>,
    #[serde(default)]
    pub(crate) expose_headers: Vec<String>,
    #[serde(default)]
    pub(crate) allow_credentials: bool,
    #[serde(default = "default_max_age")]
    pub(crate) max_age_secs: u64,
}

fn default_methods() -> Vec<String> {
    ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
        .map(String::from)
        .to_vec()
}
fn default_headers() -> Vec<String> {
    ["authorization", "content-type", "dpop"]
        .map(String::from)
        .to_vec()
}
fn default_max_age() -> u64 {
    600
}

/// The headers every answer exposes: the challenge and the DPoP nonce.
const ALWAYS_EXPOSED: [&str; 2] = ["www-authenticate", "dpop-nonce"];

/// Checks `[cors]` and makes the layer (tower-http would panic on some combinations: they are
/// refused here, by key).
pub(crate) fn layer(raw: &RawCors) -> Result<CorsLayer, ConfigError> {
    if raw.allowed_origins.is_empty() {
        return Err(ConfigError::new(
            "cors.allowed_origins",
            "empty: no browser origin could call the API; leave [cors] out instead",
        ));
    }
    let any = raw.allowed_origins.iter().any(|o| o == "*");
    let origin = if any {
        if raw.allowed_origins.len() > 1 {
            return Err(ConfigError::new(
                "cors.allowed_origins",
                "\"*\" stands alone: it already allows every origin",
            ));
        }
        if raw.allow_credentials {
            return Err(ConfigError::new(
                "cors.allow_credentials",
                "not with allowed_origins = [\"*\"]: credentials need exact origins",
            ));
        }
        AllowOrigin::any()
    } else {
        let mut list = Vec::new();
        for (i, o) in raw.allowed_origins.iter().enumerate() {
            let key = format!("cors.allowed_origins[{i}]");
            let url = url::Url::parse(o)
                .map_err(|_| ConfigError::new(&key, "not an origin (https://app.example)"))?;
            let exact = url.origin().ascii_serialization();
            if !url.origin().is_tuple() || exact != *o {
                return Err(ConfigError::new(
                    &key,
                    format!(
                        "not an origin as browsers send it (scheme, host, port; no path): `{exact}`"
                    ),
                ));
            }
            list.push(
                http::HeaderValue::from_str(o)
                    .map_err(|_| ConfigError::new(&key, "not a valid header value"))?,
            );
        }
        AllowOrigin::list(list)
    };
    let mut methods = Vec::new();
    for (i, m) in raw.allowed_methods.iter().enumerate() {
        methods.push(
            http::Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                .ok()
                .filter(|m| m != http::Method::CONNECT && m != http::Method::TRACE)
                .ok_or_else(|| {
                    ConfigError::new(format!("cors.allowed_methods[{i}]"), "not a method")
                })?,
        );
    }
    let names = |key: &str, list: &[String]| -> Result<Vec<http::HeaderName>, ConfigError> {
        list.iter()
            .enumerate()
            .map(|(i, h)| {
                // "*" would be a wildcard to browsers (without credentials): name the headers.
                http::HeaderName::from_bytes(h.as_bytes())
                    .ok()
                    .filter(|n| n.as_str() != "*")
                    .ok_or_else(|| {
                        ConfigError::new(
                            format!("{key}[{i}]"),
                            "not a header name (\"*\" neither: list them)",
                        )
                    })
            })
            .collect()
    };
    let allowed = names("cors.allowed_headers", &raw.allowed_headers)?;
    let mut exposed = names("cors.expose_headers", &raw.expose_headers)?;
    for h in ALWAYS_EXPOSED {
        let h = http::HeaderName::from_static(h);
        if !exposed.contains(&h) {
            exposed.push(h);
        }
    }
    if raw.max_age_secs > 86_400 {
        return Err(ConfigError::new(
            "cors.max_age_secs",
            "at most 86400 (browsers cap it lower anyway)",
        ));
    }
    Ok(CorsLayer::new()
        .allow_origin(origin)
        .allow_methods(methods)
        .allow_headers(allowed)
        .expose_headers(exposed)
        .allow_credentials(raw.allow_credentials)
        .max_age(std::time::Duration::from_secs(raw.max_age_secs)))
}
