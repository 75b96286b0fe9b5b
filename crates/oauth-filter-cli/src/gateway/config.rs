//! The gateway's configuration: a TOML file, then environment overrides, then validation.
//!
//! ```toml
//! listen = "127.0.0.1:8080"
//! admin_listen = "127.0.0.1:9090"
//!
//! [upstream]
//! url = "http://127.0.0.1:3000"
//!
//! [[issuers]]
//! issuer = "https://idp.example"
//! audience = "api"
//!
//! [[routes]]
//! prefix = "/orders"
//! methods = ["GET"]
//! scopes = ["orders:read"]
//! ```
//!
//! Every value can be overridden by an environment variable named `OAUTH_FILTER__` followed by
//! the key path in upper case with `__` between the parts and array indexes as numbers:
//! `OAUTH_FILTER__UPSTREAM__URL`, `OAUTH_FILTER__INTROSPECTION__CLIENT_SECRET`,
//! `OAUTH_FILTER__ROUTES__0__SCOPES='["read"]'`. A value replaces one of the same type (strings
//! stay strings; numbers, booleans and arrays are read as TOML). An override for a key the file
//! does not have is read as TOML and, failing that, as a string; an unknown key is an error.
//!
//! The overlay is hand-written (about 60 lines) because the layered-configuration crates we
//! looked at (figment, config) cannot address array elements from the environment, and routes
//! and issuers are arrays.
//!
//! Errors name the key (`routes[2].scopes`) and the reason; [`load`] never starts anything.

use oauth_filter::filter::DEFAULT_LEEWAY;
use oauth_filter::http::HttpClientConfig;
use oauth_filter::{
    Algorithm, ClientAuth, ExtractionPolicy, Introspection, JwtIssuer, OAuthFilter, Requirement,
    challenge::is_scope_token,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The prefix of environment overrides.
pub(crate) const ENV_PREFIX: &str = "OAUTH_FILTER__";

/// A configuration mistake: the key and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigError {
    pub(crate) key: String,
    pub(crate) reason: String,
}

impl ConfigError {
    pub(crate) fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "configuration error: {}", self.reason)
        } else {
            write!(f, "configuration error: {}: {}", self.key, self.reason)
        }
    }
}

impl std::error::Error for ConfigError {}

/// The file as written (after environment overrides).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    #[serde(default = "default_listen")]
    listen: SocketAddr,
    #[serde(default = "default_admin_listen")]
    admin_listen: SocketAddr,
    upstream: Option<RawUpstream>,
    #[serde(default)]
    issuers: Vec<RawIssuer>,
    introspection: Option<RawIntrospection>,
    #[serde(default)]
    routes: Vec<RawRoute>,
    #[serde(default)]
    forwarding: RawForwarding,
    #[serde(default)]
    tls: RawTls,
    #[serde(default)]
    log: RawLog,
    #[serde(default)]
    server: RawServer,
    realm: Option<String>,
    leeway_secs: Option<u64>,
    max_token_bytes: Option<usize>,
    jwt_cache_capacity: Option<u64>,
    #[serde(default = "default_grace")]
    shutdown_grace_secs: u64,
    /// Runtime threads; 0 (the default): one per CPU this process may run on.
    #[serde(default)]
    workers: usize,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_admin_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9090))
}
fn default_grace() -> u64 {
    30
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUpstream {
    url: String,
    #[serde(default)]
    protocol: Protocol,
    #[serde(default = "default_connect_timeout")]
    connect_timeout_ms: u64,
    #[serde(default = "default_timeout")]
    timeout_secs: u64,
    #[serde(default)]
    preserve_host: bool,
}

fn default_connect_timeout() -> u64 {
    2_000
}
fn default_timeout() -> u64 {
    30
}

/// How the gateway speaks to the upstream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Protocol {
    /// HTTP/1.1 (or HTTP/2 negotiated by ALPN for `https`).
    #[default]
    Http1,
    /// HTTP/2 over cleartext with prior knowledge.
    H2c,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIssuer {
    issuer: String,
    audience: String,
    jwks_url: Option<String>,
    algorithms: Option<Vec<String>>,
    #[serde(default)]
    strict_rfc9068: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIntrospection {
    /// Absent: found by discovery of `issuer`.
    endpoint: Option<String>,
    client_id: String,
    client_secret: String,
    #[serde(default)]
    auth_method: AuthMethod,
    issuer: Option<String>,
    audience: Option<String>,
    max_cache_ttl_secs: Option<u64>,
    inactive_cache_ttl_secs: Option<u64>,
    cache_capacity: Option<u64>,
    max_concurrent_requests: Option<usize>,
    /// Phantom tokens: ask for signed responses (RFC 9701) and forward them as the bearer token.
    #[serde(default)]
    phantom_token: bool,
    /// Refuse answers without `aud` when `audience` is set.
    #[serde(default)]
    require_audience: bool,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
enum AuthMethod {
    #[default]
    ClientSecretBasic,
    ClientSecretPost,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    path: Option<String>,
    prefix: Option<String>,
    methods: Option<Vec<String>>,
    #[serde(default)]
    public: bool,
    scopes: Option<Vec<String>>,
    any_scopes: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawForwarding {
    #[serde(default)]
    authorization: AuthorizationPolicy,
    #[serde(default = "default_subject_header")]
    subject_header: String,
    #[serde(default = "default_client_id_header")]
    client_id_header: String,
    #[serde(default = "default_scope_header")]
    scope_header: String,
}

impl Default for RawForwarding {
    fn default() -> Self {
        Self {
            authorization: AuthorizationPolicy::default(),
            subject_header: default_subject_header(),
            client_id_header: default_client_id_header(),
            scope_header: default_scope_header(),
        }
    }
}

fn default_subject_header() -> String {
    String::from("x-auth-subject")
}
fn default_client_id_header() -> String {
    String::from("x-auth-client-id")
}
fn default_scope_header() -> String {
    String::from("x-auth-scope")
}

/// What happens to the caller's `Authorization` header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum AuthorizationPolicy {
    /// Removed: the upstream sees only the identity headers (the default).
    #[default]
    Remove,
    /// Forwarded unchanged.
    Keep,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    ca_file: Option<PathBuf>,
    client_cert_file: Option<PathBuf>,
    client_key_file: Option<PathBuf>,
}

/// `[server]`: connection and request limits (see `limits`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawServer {
    max_connections: usize,
    header_read_timeout_secs: u64,
    idle_timeout_secs: u64,
    /// 0: no limit.
    max_body_bytes: u64,
    body_idle_timeout_secs: u64,
    http2_keep_alive_interval_secs: u64,
    http2_keep_alive_timeout_secs: u64,
}

impl Default for RawServer {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            header_read_timeout_secs: 10,
            idle_timeout_secs: 60,
            max_body_bytes: 0,
            body_idle_timeout_secs: 30,
            http2_keep_alive_interval_secs: 30,
            http2_keep_alive_timeout_secs: 10,
        }
    }
}

fn validate_server(raw: &RawServer) -> Result<super::limits::Limits, ConfigError> {
    let positive = |key: &str, v: u64| {
        if v == 0 || v > 24 * 3600 {
            Err(ConfigError::new(
                format!("server.{key}"),
                "must be between 1 and 86400 seconds",
            ))
        } else {
            Ok(Duration::from_secs(v))
        }
    };
    if raw.max_connections == 0 || raw.max_connections > 1_000_000 {
        return Err(ConfigError::new(
            "server.max_connections",
            "must be between 1 and 1000000",
        ));
    }
    Ok(super::limits::Limits {
        max_connections: raw.max_connections,
        header_read_timeout: positive("header_read_timeout_secs", raw.header_read_timeout_secs)?,
        idle_timeout: positive("idle_timeout_secs", raw.idle_timeout_secs)?,
        max_body_bytes: (raw.max_body_bytes != 0).then_some(raw.max_body_bytes),
        body_idle_timeout: positive("body_idle_timeout_secs", raw.body_idle_timeout_secs)?,
        http2_keep_alive_interval: positive(
            "http2_keep_alive_interval_secs",
            raw.http2_keep_alive_interval_secs,
        )?,
        http2_keep_alive_timeout: positive(
            "http2_keep_alive_timeout_secs",
            raw.http2_keep_alive_timeout_secs,
        )?,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    #[serde(default)]
    format: LogFormat,
}

/// Log line format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The upstream, validated.
#[derive(Debug, Clone)]
pub(crate) struct Upstream {
    pub(crate) scheme: http::uri::Scheme,
    pub(crate) authority: http::uri::Authority,
    /// Prepended to every request path; empty or starting with `/`, without a trailing `/`.
    pub(crate) base_path: String,
    pub(crate) protocol: Protocol,
    pub(crate) connect_timeout: Duration,
    pub(crate) timeout: Duration,
    pub(crate) preserve_host: bool,
}

/// How a route matches a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PathMatch {
    /// This path only.
    Exact(String),
    /// This path and everything below it, on a segment boundary.
    Prefix(String),
}

impl fmt::Display for PathMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(p) => write!(f, "path {p}"),
            Self::Prefix(p) => write!(f, "prefix {p}"),
        }
    }
}

impl PathMatch {
    pub(crate) fn matches(&self, path: &str) -> bool {
        match self {
            Self::Exact(p) => path == p,
            Self::Prefix(p) => oauth_filter::path::prefix_matches(p, path),
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

/// What a route demands.
#[derive(Debug, Clone)]
pub(crate) enum Access {
    /// No token needed.
    Public,
    /// A valid token meeting this requirement.
    Protected(Requirement),
}

/// One route, validated.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    /// `routes[i]`, for logs.
    pub(crate) name: String,
    pub(crate) path: PathMatch,
    /// `None`: every method.
    pub(crate) methods: Option<Vec<http::Method>>,
    pub(crate) access: Access,
}

impl Route {
    /// `GET,HEAD`, or `any method`.
    pub(crate) fn methods_text(&self) -> String {
        self.methods.as_ref().map_or_else(
            || String::from("any method"),
            |m| {
                m.iter()
                    .map(http::Method::as_str)
                    .collect::<Vec<_>>()
                    .join(",")
            },
        )
    }

    fn overlaps(&self, other: &Self) -> bool {
        self.path == other.path
            && match (&self.methods, &other.methods) {
                (Some(a), Some(b)) => a.iter().any(|m| b.contains(m)),
                _ => true,
            }
    }
}

/// Identity forwarding, validated.
#[derive(Debug, Clone)]
pub(crate) struct Forwarding {
    pub(crate) authorization: AuthorizationPolicy,
    pub(crate) subject_header: http::HeaderName,
    pub(crate) client_id_header: http::HeaderName,
    pub(crate) scope_header: http::HeaderName,
}

/// The whole configuration, validated, with the filter built (nothing fetched yet).
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) listen: SocketAddr,
    pub(crate) admin_listen: SocketAddr,
    pub(crate) upstream: Upstream,
    /// Most specific first: exact before prefix, longer prefixes first, then file order.
    pub(crate) routes: Vec<Route>,
    pub(crate) forwarding: Forwarding,
    pub(crate) filter: OAuthFilter,
    pub(crate) ca_pem: Option<Vec<u8>>,
    /// The gateway's client certificate chain and key, PEM (mutual TLS to the authorization
    /// server and an https upstream).
    pub(crate) client_identity: Option<ClientIdentity>,
    pub(crate) log_format: LogFormat,
    pub(crate) limits: super::limits::Limits,
    pub(crate) shutdown_grace: Duration,
    /// Runtime threads (at least 1).
    pub(crate) workers: usize,
    /// What `inspect` explains.
    pub(crate) issuers: Vec<IssuerSummary>,
    pub(crate) leeway: Duration,
    pub(crate) max_token_bytes: usize,
}

/// A client certificate chain and its private key, both PEM, checked to parse.
#[derive(Clone)]
pub(crate) struct ClientIdentity {
    pub(crate) chain_pem: Vec<u8>,
    pub(crate) key_pem: Vec<u8>,
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientIdentity(..)")
    }
}

impl ClientIdentity {
    pub(crate) fn chain(&self) -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_slice_iter(&self.chain_pem)
            .filter_map(Result::ok)
            .collect()
    }
    pub(crate) fn key(&self) -> Option<PrivateKeyDer<'static>> {
        PrivateKeyDer::from_pem_slice(&self.key_pem).ok()
    }
}

fn read_identity(raw: &RawTls) -> Result<Option<ClientIdentity>, ConfigError> {
    let read = |key: &str, p: &Path| {
        std::fs::read(p)
            .map_err(|e| ConfigError::new(key, format!("cannot read {}: {e}", p.display())))
    };
    let (cert, key) = match (&raw.client_cert_file, &raw.client_key_file) {
        (None, None) => return Ok(None),
        (Some(c), Some(k)) => (c, k),
        (Some(_), None) => {
            return Err(ConfigError::new(
                "tls.client_key_file",
                "missing: a client certificate needs its private key",
            ));
        }
        (None, Some(_)) => {
            return Err(ConfigError::new(
                "tls.client_cert_file",
                "missing: a private key needs its certificate",
            ));
        }
    };
    let identity = ClientIdentity {
        chain_pem: read("tls.client_cert_file", cert)?,
        key_pem: read("tls.client_key_file", key)?,
    };
    if identity.chain().is_empty() {
        return Err(ConfigError::new(
            "tls.client_cert_file",
            "no PEM certificate in the file",
        ));
    }
    if identity.key().is_none() {
        return Err(ConfigError::new(
            "tls.client_key_file",
            "no PEM private key (PKCS#8, PKCS#1 or SEC1) in the file",
        ));
    }
    Ok(Some(identity))
}

/// A trusted issuer as configured (for `inspect`).
#[derive(Debug, Clone)]
pub(crate) struct IssuerSummary {
    pub(crate) name: String,
    pub(crate) issuer: String,
    pub(crate) audience: String,
    /// `None`: the filter's default allow-list.
    pub(crate) algorithms: Option<Vec<Algorithm>>,
    pub(crate) strict_rfc9068: bool,
}

/// Reads, overlays the environment, and validates. `env` is the process environment in
/// production and a fixed list in tests.
pub(crate) fn load(
    path: &Path,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new("", format!("cannot read {}: {e}", path.display())))?;
    parse(&text, env)
}

/// [`load`] from a string.
pub(crate) fn parse(
    text: &str,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    let mut doc: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::new("", format!("not valid TOML: {e}")))?;
    let mut from_env = BTreeMap::new();
    let mut vars: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX))
        .collect();
    vars.sort();
    for (name, value) in vars {
        let key = overlay(&mut doc, &name, &value)?;
        from_env.insert(key, name);
    }
    let raw: RawConfig =
        serde_path_to_error::deserialize(toml::Value::Table(doc)).map_err(|e| {
            let key = e.path().to_string();
            let mut key = if key == "." { String::new() } else { key };
            let mut reason = e.inner().to_string();
            // serde reports a missing field at its parent: name the field itself.
            if let Some(field) = reason
                .lines()
                .next()
                .unwrap_or_default()
                .strip_prefix("missing field `")
                .and_then(|r| r.strip_suffix('`'))
                .map(str::to_owned)
            {
                key = if key.is_empty() {
                    field.to_owned()
                } else {
                    format!("{key}.{field}")
                };
                reason = String::from("missing");
                if field == "client_secret" {
                    reason.push_str(&format!(
                        " (set it in the file or, better, in the environment as \
                         {ENV_PREFIX}INTROSPECTION__CLIENT_SECRET)"
                    ));
                }
            }
            if let Some((_, var)) = from_env
                .iter()
                .find(|(k, _)| key.starts_with(k.as_str()) || k.starts_with(&key))
            {
                reason.push_str(&format!(" (set by {var})"));
            }
            ConfigError::new(key, reason)
        })?;
    validate(raw)
}

/// Applies one override; returns the key path it set (`routes[0].scopes`).
fn overlay(doc: &mut toml::Table, var: &str, value: &str) -> Result<String, ConfigError> {
    let bad = |reason: &str| ConfigError::new(var, reason.to_owned());
    let parts: Vec<String> = var
        .trim_start_matches(ENV_PREFIX)
        .split("__")
        .map(str::to_ascii_lowercase)
        .collect();
    if parts.iter().any(String::is_empty) {
        return Err(bad("empty key segment in the variable name"));
    }
    let mut key = String::new();
    let mut slot: Option<&mut toml::Value> = None;
    let mut table: Option<&mut toml::Table> = Some(doc);
    for (n, part) in parts.iter().enumerate() {
        // A key the file lacks becomes an array when the next part is an index, so that
        // `OAUTH_FILTER__ISSUERS__0__ISSUER` alone defines `issuers[0]`.
        let container = || match parts.get(n + 1) {
            Some(next) if next.parse::<usize>().is_ok() => toml::Value::Array(Vec::new()),
            _ => toml::Value::Table(toml::Table::new()),
        };
        let next: &mut toml::Value = match (table.take(), slot.take()) {
            (Some(t), _) => {
                if !key.is_empty() {
                    key.push('.');
                }
                key.push_str(part);
                t.entry(part.clone()).or_insert_with(container)
            }
            (None, Some(toml::Value::Array(items))) => {
                let i: usize = part
                    .parse()
                    .map_err(|_| bad("an array element needs a numeric index"))?;
                key.push_str(&format!("[{i}]"));
                if i == items.len() {
                    items.push(container());
                }
                items
                    .get_mut(i)
                    .ok_or_else(|| bad("array index beyond the end (indexes must be contiguous)"))?
            }
            (None, Some(toml::Value::Table(t))) => {
                key.push('.');
                key.push_str(part);
                t.entry(part.clone()).or_insert_with(container)
            }
            (None, _) => return Err(bad("the key path goes through a plain value")),
        };
        slot = Some(next);
    }
    let Some(target) = slot else {
        return Err(bad("no key"));
    };
    *target = match target {
        toml::Value::String(_) => toml::Value::String(value.to_owned()),
        toml::Value::Table(t) if t.is_empty() => {
            parse_value(value).unwrap_or_else(|| toml::Value::String(value.to_owned()))
        }
        _ => parse_value(value).ok_or_else(|| bad("not a TOML value of the key's type"))?,
    };
    Ok(key)
}

fn parse_value(text: &str) -> Option<toml::Value> {
    let doc: toml::Table = format!("v = {text}").parse().ok()?;
    doc.get("v").cloned()
}

fn validate(raw: RawConfig) -> Result<Config, ConfigError> {
    let upstream = raw
        .upstream
        .ok_or_else(|| ConfigError::new("upstream", "missing: the URL of the API to protect"))?;
    let upstream = validate_upstream(upstream)?;
    let forwarding = validate_forwarding(raw.forwarding)?;
    let routes = validate_routes(raw.routes)?;
    let limits = validate_server(&raw.server)?;

    let ca_pem = match &raw.tls.ca_file {
        Some(p) => Some(std::fs::read(p).map_err(|e| {
            ConfigError::new("tls.ca_file", format!("cannot read {}: {e}", p.display()))
        })?),
        None => None,
    };
    let client_identity = read_identity(&raw.tls)?;
    let mut http = HttpClientConfig::default();
    if let Some(pem) = &ca_pem {
        http = http.ca_certificates_pem(pem.clone());
    }
    if let Some(id) = &client_identity {
        let mut pem = id.chain_pem.clone();
        pem.push(b'\n');
        pem.extend_from_slice(&id.key_pem);
        http = http.client_identity_pem(pem);
    }
    let mut builder = OAuthFilter::builder().http(http);
    let mut issuers = Vec::with_capacity(raw.issuers.len());
    for (i, issuer) in raw.issuers.into_iter().enumerate() {
        let mut summary = IssuerSummary {
            name: format!("issuers[{i}]"),
            issuer: issuer.issuer.clone(),
            audience: issuer.audience.clone(),
            algorithms: None,
            strict_rfc9068: issuer.strict_rfc9068,
        };
        let mut j = JwtIssuer::new(issuer.issuer)
            .audience(issuer.audience)
            .strict_rfc9068(issuer.strict_rfc9068);
        if let Some(url) = issuer.jwks_url {
            j = j.jwks_url(url);
        }
        if let Some(names) = issuer.algorithms {
            let mut algs = Vec::new();
            for (k, name) in names.iter().enumerate() {
                let alg = Algorithm::from_name(name).filter(|a| !a.is_hmac()).ok_or_else(|| {
                    ConfigError::new(
                        format!("issuers[{i}].algorithms[{k}]"),
                        format!("`{name}` is not an asymmetric JOSE algorithm (RS256, PS256, ES256, EdDSA, ...)"),
                    )
                })?;
                algs.push(alg);
            }
            summary.algorithms = Some(algs.clone());
            j = j.algorithms(algs);
        }
        issuers.push(summary);
        builder = builder.jwt_issuer(j);
    }
    if let Some(i) = raw.introspection {
        let intro = match (&i.endpoint, &i.issuer) {
            (Some(endpoint), _) => Introspection::new(endpoint, &i.client_id, &i.client_secret),
            (None, Some(issuer)) => Introspection::discover(issuer, &i.client_id, &i.client_secret),
            (None, None) => {
                return Err(ConfigError::new(
                    "introspection.endpoint",
                    "missing: set the endpoint, or `issuer` to find it by discovery",
                ));
            }
        };
        let mut intro = intro.client_auth(match i.auth_method {
            AuthMethod::ClientSecretBasic => ClientAuth::ClientSecretBasic,
            AuthMethod::ClientSecretPost => ClientAuth::ClientSecretPost,
        });
        if let Some(v) = i.issuer {
            intro = intro.issuer(v);
        }
        if let Some(v) = i.audience {
            intro = intro.audience(v);
        }
        if let Some(v) = i.max_cache_ttl_secs {
            intro = intro.max_cache_ttl(Duration::from_secs(v));
        }
        if let Some(v) = i.inactive_cache_ttl_secs {
            intro = intro.inactive_cache_ttl(Duration::from_secs(v));
        }
        if let Some(v) = i.cache_capacity {
            intro = intro.cache_capacity(v);
        }
        if let Some(v) = i.max_concurrent_requests {
            intro = intro.max_concurrent_requests(v);
        }
        intro = intro
            .jwt_response(i.phantom_token)
            .require_audience(i.require_audience);
        builder = builder.introspection(intro);
    }
    if let Some(realm) = raw.realm {
        builder = builder.realm(realm);
    }
    // The core's defaults, so `inspect` reports what the filter applies.
    let leeway = raw.leeway_secs.map_or(DEFAULT_LEEWAY, Duration::from_secs);
    builder = builder.leeway(leeway);
    let max_token_bytes = raw
        .max_token_bytes
        .unwrap_or(ExtractionPolicy::default().max_token_len);
    builder = builder.max_token_len(max_token_bytes);
    if let Some(n) = raw.jwt_cache_capacity {
        builder = builder.verified_token_cache(n);
    }
    let filter = builder
        .build()
        .map_err(|e| ConfigError::new(file_key(e.key()), file_reason(e.reason())))?;
    if raw.shutdown_grace_secs > 3600 {
        return Err(ConfigError::new(
            "shutdown_grace_secs",
            "must be at most 3600",
        ));
    }
    if raw.workers > 1024 {
        return Err(ConfigError::new(
            "workers",
            "must be at most 1024 (0: one per CPU)",
        ));
    }
    if raw.listen == raw.admin_listen && raw.listen.port() != 0 {
        return Err(ConfigError::new(
            "admin_listen",
            "must differ from listen (the admin endpoints are never proxied)",
        ));
    }
    Ok(Config {
        listen: raw.listen,
        admin_listen: raw.admin_listen,
        upstream,
        routes,
        forwarding,
        filter,
        ca_pem,
        client_identity,
        log_format: raw.log.format,
        limits,
        shutdown_grace: Duration::from_secs(raw.shutdown_grace_secs),
        workers: match raw.workers {
            0 => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            n => n,
        },
        issuers,
        leeway,
        max_token_bytes,
    })
}

/// The core's reason in the file's terms: the gateway has no `dangerous_allow_insecure_http`.
fn file_reason(core_reason: &str) -> String {
    core_reason.replace(
        "use https or dangerous_allow_insecure_http",
        "use https (the gateway accepts plain http only to loopback addresses)",
    )
}

/// The file's name for a key the core reports.
fn file_key(core_key: &str) -> String {
    const RENAMED: [(&str, &str); 7] = [
        ("leeway", "leeway_secs"),
        ("max_token_len", "max_token_bytes"),
        (
            "introspection.max_cache_ttl",
            "introspection.max_cache_ttl_secs",
        ),
        (
            "introspection.inactive_cache_ttl",
            "introspection.inactive_cache_ttl_secs",
        ),
        ("http.ca_certificates_pem", "tls.ca_file"),
        ("http.client_identity_pem", "tls.client_cert_file"),
        ("introspection.jwt_response", "introspection.phantom_token"),
    ];
    RENAMED
        .iter()
        .find(|(core, _)| *core == core_key)
        .map_or_else(|| core_key.to_owned(), |(_, file)| (*file).to_owned())
}

fn validate_upstream(raw: RawUpstream) -> Result<Upstream, ConfigError> {
    let key = "upstream.url";
    let url = url::Url::parse(&raw.url)
        .map_err(|e| ConfigError::new(key, format!("not a valid absolute URL ({e})")))?;
    let scheme = match url.scheme() {
        "http" => http::uri::Scheme::HTTP,
        "https" => http::uri::Scheme::HTTPS,
        other => {
            return Err(ConfigError::new(
                key,
                format!("scheme `{other}` is not supported (http or https)"),
            ));
        }
    };
    let Some(host) = url.host_str() else {
        return Err(ConfigError::new(key, "the URL has no host"));
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::new(
            key,
            "credentials in the URL are not supported",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::new(
            key,
            "a query or fragment is not supported",
        ));
    }
    let authority = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    };
    let authority: http::uri::Authority = authority
        .parse()
        .map_err(|_| ConfigError::new(key, "the host is not a valid authority"))?;
    if raw.protocol == Protocol::H2c && scheme == http::uri::Scheme::HTTPS {
        return Err(ConfigError::new(
            "upstream.protocol",
            "h2c is HTTP/2 without TLS; with an https upstream HTTP/2 is negotiated by ALPN",
        ));
    }
    if raw.connect_timeout_ms == 0 || raw.timeout_secs == 0 {
        return Err(ConfigError::new(
            if raw.timeout_secs == 0 {
                "upstream.timeout_secs"
            } else {
                "upstream.connect_timeout_ms"
            },
            "must be positive",
        ));
    }
    Ok(Upstream {
        scheme,
        authority,
        base_path: url.path().trim_end_matches('/').to_owned(),
        protocol: raw.protocol,
        connect_timeout: Duration::from_millis(raw.connect_timeout_ms),
        timeout: Duration::from_secs(raw.timeout_secs),
        preserve_host: raw.preserve_host,
    })
}

fn validate_forwarding(raw: RawForwarding) -> Result<Forwarding, ConfigError> {
    const RESERVED: [&str; 12] = [
        "authorization",
        "host",
        "connection",
        "content-length",
        "transfer-encoding",
        "te",
        "upgrade",
        "cookie",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "forwarded",
    ];
    let name = |key: &str, value: &str| {
        let header = http::HeaderName::from_bytes(value.as_bytes())
            .map_err(|_| ConfigError::new(key, "not a valid HTTP header name"))?;
        if RESERVED.contains(&header.as_str()) {
            return Err(ConfigError::new(
                key,
                format!("`{header}` is a header the gateway manages; choose another name"),
            ));
        }
        Ok(header)
    };
    let f = Forwarding {
        authorization: raw.authorization,
        subject_header: name("forwarding.subject_header", &raw.subject_header)?,
        client_id_header: name("forwarding.client_id_header", &raw.client_id_header)?,
        scope_header: name("forwarding.scope_header", &raw.scope_header)?,
    };
    if f.subject_header == f.client_id_header
        || f.subject_header == f.scope_header
        || f.client_id_header == f.scope_header
    {
        return Err(ConfigError::new(
            "forwarding",
            "the identity header names must be distinct",
        ));
    }
    Ok(f)
}

fn validate_routes(raw: Vec<RawRoute>) -> Result<Vec<Route>, ConfigError> {
    if raw.is_empty() {
        return Err(ConfigError::new(
            "routes",
            "no routes: requests that match no route are refused with 404, so the gateway \
             would serve nothing (use prefix = \"/\" to protect everything)",
        ));
    }
    let mut routes: Vec<Route> = Vec::with_capacity(raw.len());
    for (i, r) in raw.into_iter().enumerate() {
        let name = format!("routes[{i}]");
        let key = |k: &str| format!("{name}.{k}");
        let path = match (r.path, r.prefix) {
            (Some(p), None) => PathMatch::Exact(check_route_path(&key("path"), p)?),
            (None, Some(p)) => {
                let p = check_route_path(&key("prefix"), p)?;
                let p = if p == "/" {
                    p
                } else {
                    p.trim_end_matches('/').to_owned()
                };
                PathMatch::Prefix(p)
            }
            _ => {
                return Err(ConfigError::new(
                    name,
                    "set exactly one of `path` (exact match) or `prefix`",
                ));
            }
        };
        let methods = match r.methods {
            None => None,
            Some(m) if m.is_empty() => {
                return Err(ConfigError::new(
                    key("methods"),
                    "empty: leave it out to match every method",
                ));
            }
            Some(m) => Some(
                m.iter()
                    .enumerate()
                    .map(|(k, s)| {
                        let upper = s.to_ascii_uppercase();
                        http::Method::from_bytes(upper.as_bytes()).map_err(|_| {
                            ConfigError::new(format!("{name}.methods[{k}]"), "not an HTTP method")
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        let scope_list = |k: &str, list: Vec<String>| -> Result<Vec<String>, ConfigError> {
            if list.is_empty() {
                return Err(ConfigError::new(
                    key(k),
                    "empty: leave it out to accept any valid token",
                ));
            }
            for (n, s) in list.iter().enumerate() {
                if !is_scope_token(s) {
                    return Err(ConfigError::new(
                        format!("{name}.{k}[{n}]"),
                        "not an RFC 6749 scope-token (printable ASCII without space, '\"' or '\\')",
                    ));
                }
            }
            Ok(list)
        };
        let access = match (r.public, r.scopes, r.any_scopes) {
            (true, None, None) => Access::Public,
            (true, _, _) => {
                return Err(ConfigError::new(
                    name,
                    "contradictory: a public route cannot require scopes",
                ));
            }
            (false, Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    name,
                    "contradictory: set `scopes` (all of) or `any_scopes` (any of), not both",
                ));
            }
            (false, Some(all), None) => {
                Access::Protected(Requirement::all_of(scope_list("scopes", all)?))
            }
            (false, None, Some(any)) => {
                Access::Protected(Requirement::any_of(scope_list("any_scopes", any)?))
            }
            (false, None, None) => Access::Protected(Requirement::Authenticated),
        };
        let route = Route {
            name,
            path,
            methods,
            access,
        };
        if let Some(earlier) = routes.iter().find(|e| e.overlaps(&route)) {
            return Err(ConfigError::new(
                route.name.clone(),
                format!(
                    "contradictory: matches the same path and methods as {}",
                    earlier.name
                ),
            ));
        }
        routes.push(route);
    }
    // Stable: equal specificity keeps file order (and overlaps are refused above).
    routes.sort_by_key(|r| std::cmp::Reverse(r.path.specificity()));
    Ok(routes)
}

fn check_route_path(key: &str, path: String) -> Result<String, ConfigError> {
    if !path.starts_with('/') {
        return Err(ConfigError::new(key, "must start with '/'"));
    }
    if oauth_filter::path::check(&path).is_err() || path.contains('%') {
        return Err(ConfigError::new(
            key,
            "must be a normalized path: no '.', '..' or empty segments, no percent-encoding, \
             no backslash",
        ));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
        [upstream]
        url = "http://127.0.0.1:3000"
        [[issuers]]
        issuer = "http://127.0.0.1:9400"
        audience = "api"
        [[routes]]
        prefix = "/"
        scopes = ["read"]
    "#;

    fn err(text: &str) -> ConfigError {
        parse(text, []).unwrap_err()
    }

    #[test]
    fn a_minimal_file_is_valid() {
        let c = parse(BASE, []).unwrap();
        assert_eq!(c.upstream.authority, "127.0.0.1:3000");
        assert_eq!(c.routes.len(), 1);
        assert_eq!(c.forwarding.authorization, AuthorizationPolicy::Remove);
    }

    #[test]
    fn errors_name_the_key_and_the_reason() {
        let e = err("[[routes]]\nprefix = \"/\"\n");
        assert_eq!(e.key, "upstream");
        let e = err(&BASE.replace("http://127.0.0.1:3000", "not a url"));
        assert_eq!(e.key, "upstream.url");
        assert!(e.reason.contains("not a valid absolute URL"), "{e}");
        let e = err(&format!("listen_port = 3\n{BASE}"));
        assert_eq!(e.key, "listen_port");
        assert!(e.reason.contains("unknown field `listen_port`"), "{e}");
        let e = err(&BASE.replace("scopes = [\"read\"]", "scopes = [\"read\"]\nscope = 1"));
        assert_eq!(e.key, "routes[0].scope");
        assert!(e.reason.contains("unknown field"), "{e}");
        let e = err(&BASE.replace("audience = \"api\"", "audience = 5"));
        assert_eq!(e.key, "issuers[0].audience");
        let e = err(&BASE.replace("\"http://127.0.0.1:9400\"", "\"\""));
        assert_eq!(e.key, "issuers[0].issuer");
        let e = err(&BASE.replace("issuer = ", "algorithms = [\"HS256\"]\nissuer = "));
        assert_eq!(e.key, "issuers[0].algorithms[0]");
        let e = err(&format!("leeway_secs = 900\n{BASE}"));
        assert_eq!(e.key, "leeway_secs");
        let e = err("this is = not toml");
        assert!(e.reason.contains("not valid TOML"), "{e}");
    }

    #[test]
    fn contradictory_routes_are_refused() {
        let two = |a: &str, b: &str| {
            format!("{BASE}\n[[routes]]\n{a}\n[[routes]]\n{b}\n").replace(
                "[[routes]]\n        prefix = \"/\"\n        scopes = [\"read\"]\n",
                "",
            )
        };
        let e = err(&two(
            "path = \"/a\"\npublic = true",
            "path = \"/a\"\nscopes = [\"x\"]",
        ));
        assert_eq!(e.key, "routes[1]");
        assert!(e.reason.contains("routes[0]"), "{e}");
        let e = err(&two(
            "prefix = \"/a\"\nmethods = [\"GET\", \"POST\"]",
            "prefix = \"/a/\"\nmethods = [\"post\"]",
        ));
        assert_eq!(e.key, "routes[1]");
        // Different methods on one path are fine.
        parse(
            &two(
                "prefix = \"/a\"\nmethods = [\"GET\"]\npublic = true",
                "prefix = \"/a\"\nmethods = [\"POST\"]\nscopes = [\"w\"]",
            ),
            [],
        )
        .unwrap();
        let e = err(&two(
            "path = \"/a\"\npublic = true\nscopes = [\"x\"]",
            "path = \"/b\"",
        ));
        assert!(e.reason.contains("contradictory"), "{e}");
        let e = err(&two("path = \"/a\"\nprefix = \"/a\"", "path = \"/b\""));
        assert_eq!(e.key, "routes[0]");
        let e = err(&two("path = \"/a/../b\"", "path = \"/b\""));
        assert_eq!(e.key, "routes[0].path");
        let e = err(&two("path = \"/a\"\nscopes = [\"a b\"]", "path = \"/b\""));
        assert_eq!(e.key, "routes[0].scopes[0]");
        let e = err(&BASE.replace(
            "[[routes]]\n        prefix = \"/\"\n        scopes = [\"read\"]\n",
            "",
        ));
        assert_eq!(e.key, "routes");
    }

    #[test]
    fn routes_are_ordered_most_specific_first() {
        let text = BASE.replace(
            "[[routes]]\n        prefix = \"/\"\n        scopes = [\"read\"]\n",
            "[[routes]]\nprefix = \"/\"\n[[routes]]\nprefix = \"/a\"\n[[routes]]\npath = \"/a\"\npublic = true\n[[routes]]\nprefix = \"/a/b\"\n",
        );
        let c = parse(&text, []).unwrap();
        let names: Vec<&str> = c.routes.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["routes[2]", "routes[3]", "routes[1]", "routes[0]"]);
        assert!(PathMatch::Prefix("/a".into()).matches("/a/x"));
        assert!(!PathMatch::Prefix("/a".into()).matches("/ab"));
        assert!(PathMatch::Prefix("/".into()).matches("/ab"));
    }

    #[test]
    fn environment_overrides_every_kind_of_value() {
        let env = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<Vec<_>>()
        };
        let c = parse(
            BASE,
            env(&[
                ("OAUTH_FILTER__UPSTREAM__URL", "http://127.0.0.1:4000/base/"),
                ("OAUTH_FILTER__UPSTREAM__TIMEOUT_SECS", "7"),
                ("OAUTH_FILTER__ROUTES__0__SCOPES", "[\"write\"]"),
                ("OAUTH_FILTER__FORWARDING__AUTHORIZATION", "keep"),
                ("OAUTH_FILTER__LISTEN", "127.0.0.1:1234"),
                ("UNRELATED", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(c.upstream.authority, "127.0.0.1:4000");
        assert_eq!(c.upstream.base_path, "/base");
        assert_eq!(c.upstream.timeout, Duration::from_secs(7));
        assert_eq!(c.listen.port(), 1234);
        assert_eq!(c.forwarding.authorization, AuthorizationPolicy::Keep);
        match &c.routes[0].access {
            Access::Protected(r) => assert_eq!(r.scopes(), ["write"]),
            Access::Public => panic!("route became public"),
        }
        // A second issuer entirely from the environment.
        let c = parse(
            BASE,
            env(&[
                ("OAUTH_FILTER__ISSUERS__1__ISSUER", "http://127.0.0.1:9500"),
                ("OAUTH_FILTER__ISSUERS__1__AUDIENCE", "api"),
            ]),
        )
        .unwrap();
        drop(c);
        let e = parse(BASE, env(&[("OAUTH_FILTER__UPSTREAM__URLL", "x")])).unwrap_err();
        assert_eq!(e.key, "upstream.urll");
        assert!(e.reason.contains("OAUTH_FILTER__UPSTREAM__URLL"), "{e}");
        let e = parse(
            BASE,
            env(&[("OAUTH_FILTER__UPSTREAM__TIMEOUT_SECS", "soon")]),
        )
        .unwrap_err();
        assert_eq!(e.key, "upstream.timeout_secs");
        assert!(
            e.reason.contains("OAUTH_FILTER__UPSTREAM__TIMEOUT_SECS"),
            "{e}"
        );
        // A value replacing one of another type is refused, naming the variable.
        let e = parse(
            &BASE.replace(
                "audience = \"api\"",
                "audience = \"api\"\nstrict_rfc9068 = false",
            ),
            env(&[("OAUTH_FILTER__ISSUERS__0__STRICT_RFC9068", "maybe")]),
        )
        .unwrap_err();
        assert_eq!(e.key, "OAUTH_FILTER__ISSUERS__0__STRICT_RFC9068");
        let e = parse(BASE, env(&[("OAUTH_FILTER__ISSUERS__5__ISSUER", "x")])).unwrap_err();
        assert!(e.reason.contains("contiguous"), "{e}");
    }

    #[test]
    fn forwarding_and_upstream_checks() {
        let e = err(&format!(
            "{BASE}\n[forwarding]\nsubject_header = \"authorization\"\n"
        ));
        assert_eq!(e.key, "forwarding.subject_header");
        let e = err(&format!(
            "{BASE}\n[forwarding]\nscope_header = \"bad header\"\n"
        ));
        assert_eq!(e.key, "forwarding.scope_header");
        let e = err(&format!(
            "{BASE}\n[forwarding]\nscope_header = \"x-auth-subject\"\n"
        ));
        assert_eq!(e.key, "forwarding");
        let e = err(&BASE.replace("http://127.0.0.1:3000", "ftp://x"));
        assert!(e.reason.contains("ftp"), "{e}");
        let e = err(&BASE.replace(
            "url = \"http://127.0.0.1:3000\"",
            "url = \"https://x\"\nprotocol = \"h2c\"",
        ));
        assert_eq!(e.key, "upstream.protocol");
        let e = err(&BASE.replace(
            "url = \"http://127.0.0.1:3000\"",
            "url = \"http://x\"\nprotocol = \"h3\"",
        ));
        assert_eq!(e.key, "upstream.protocol");
        let e = err(&format!(
            "{BASE}\n[tls]\nca_file = \"/nonexistent/ca.pem\"\n"
        ));
        assert_eq!(e.key, "tls.ca_file");
    }
}
