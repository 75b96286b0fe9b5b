//! The file as written: serde types, one per table, unknown keys refused.
//!
//! ```toml
//! [[routes]]                 # RawRoute
//! prefix = "/admin"
//! claims = { "realm_access.roles" = { contains = "admin" } }   # RawClaimTest
//! ```
//!
//! A misspelled key (`scope` for `scopes`) is an error naming it, never silently ignored.

use super::{AuthorizationPolicy, LogFormat, Protocol};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The file as written (after environment overrides).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    #[serde(default = "default_listen")]
    pub(crate) listen: SocketAddr,
    #[serde(default = "default_admin_listen")]
    pub(crate) admin_listen: SocketAddr,
    pub(crate) upstream: Option<RawUpstream>,
    #[serde(default)]
    pub(crate) issuers: Vec<RawIssuer>,
    pub(crate) introspection: Option<RawIntrospection>,
    #[serde(default)]
    pub(crate) routes: Vec<RawRoute>,
    #[serde(default)]
    pub(crate) forwarding: RawForwarding,
    #[serde(default)]
    pub(crate) tls: RawTls,
    #[serde(default)]
    pub(crate) log: RawLog,
    #[serde(default)]
    pub(crate) server: RawServer,
    pub(crate) realm: Option<String>,
    /// Seconds. Old spelling `leeway_secs`: accepted for one release.
    #[serde(alias = "leeway_secs")]
    pub(crate) leeway: Option<u64>,
    /// Old spelling `max_token_bytes`: accepted for one release.
    #[serde(alias = "max_token_bytes")]
    pub(crate) max_token_len: Option<usize>,
    pub(crate) jwt_cache_capacity: Option<u64>,
    #[serde(default = "default_grace")]
    pub(crate) shutdown_grace_secs: u64,
    /// Runtime threads; 0 (the default): one per CPU this process may run on.
    #[serde(default)]
    pub(crate) workers: usize,
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
pub(crate) struct RawUpstream {
    pub(crate) url: String,
    #[serde(default)]
    pub(crate) protocol: Protocol,
    #[serde(default = "default_connect_timeout")]
    pub(crate) connect_timeout_ms: u64,
    #[serde(default = "default_timeout")]
    pub(crate) timeout_secs: u64,
    #[serde(default)]
    pub(crate) preserve_host: bool,
}

fn default_connect_timeout() -> u64 {
    2_000
}
fn default_timeout() -> u64 {
    30
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIssuer {
    pub(crate) issuer: String,
    pub(crate) audience: String,
    pub(crate) jwks_url: Option<String>,
    pub(crate) algorithms: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) strict_rfc9068: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIntrospection {
    /// Absent: found by discovery of `issuer`.
    pub(crate) endpoint: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    #[serde(default)]
    pub(crate) auth_method: AuthMethod,
    pub(crate) issuer: Option<String>,
    pub(crate) audience: Option<String>,
    /// Seconds. Old spelling `max_cache_ttl_secs`: accepted for one release.
    #[serde(alias = "max_cache_ttl_secs")]
    pub(crate) max_cache_ttl: Option<u64>,
    /// Seconds. Old spelling `inactive_cache_ttl_secs`: accepted for one release.
    #[serde(alias = "inactive_cache_ttl_secs")]
    pub(crate) inactive_cache_ttl: Option<u64>,
    pub(crate) cache_capacity: Option<u64>,
    pub(crate) max_concurrent_requests: Option<usize>,
    /// Phantom tokens: ask for signed responses (RFC 9701) and forward them as the bearer token.
    /// Old spelling `phantom_token`: accepted for one release.
    #[serde(default, alias = "phantom_token")]
    pub(crate) jwt_response: bool,
    /// Refuse answers without `aud` when `audience` is set.
    #[serde(default)]
    pub(crate) require_audience: bool,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AuthMethod {
    #[default]
    ClientSecretBasic,
    ClientSecretPost,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRoute {
    pub(crate) path: Option<String>,
    pub(crate) prefix: Option<String>,
    pub(crate) methods: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) public: bool,
    pub(crate) scopes: Option<Vec<String>>,
    pub(crate) any_scopes: Option<Vec<String>>,
    /// Claim tests by claim path: `{ present = true }`, `{ equals = <value> }`,
    /// `{ contains = <value> }`.
    pub(crate) claims: Option<BTreeMap<String, RawClaimTest>>,
    /// The token was issued to one of these clients (`client_id`, else `azp`).
    pub(crate) client_ids: Option<Vec<String>>,
    /// The token is at most this old (from `iat`).
    pub(crate) max_token_age_secs: Option<u64>,
    /// Step-up (RFC 9470): `acr` one of these.
    pub(crate) acr_values: Option<Vec<String>>,
    /// Step-up (RFC 9470): `auth_time` at most this long ago.
    pub(crate) max_auth_age_secs: Option<u64>,
}

/// One claim test of a route: exactly one of its members.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawClaimTest {
    pub(crate) present: Option<bool>,
    pub(crate) equals: Option<toml::Value>,
    pub(crate) contains: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawForwarding {
    #[serde(default)]
    pub(crate) authorization: AuthorizationPolicy,
    #[serde(default = "default_subject_header")]
    pub(crate) subject_header: String,
    #[serde(default = "default_client_id_header")]
    pub(crate) client_id_header: String,
    #[serde(default = "default_scope_header")]
    pub(crate) scope_header: String,
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTls {
    pub(crate) ca_file: Option<PathBuf>,
    pub(crate) client_cert_file: Option<PathBuf>,
    pub(crate) client_key_file: Option<PathBuf>,
}

/// `[server]`: connection and request limits (see `limits`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawServer {
    pub(crate) max_connections: usize,
    pub(crate) header_read_timeout_secs: u64,
    pub(crate) idle_timeout_secs: u64,
    /// 0: no limit.
    pub(crate) max_body_bytes: u64,
    pub(crate) body_idle_timeout_secs: u64,
    pub(crate) http2_keep_alive_interval_secs: u64,
    pub(crate) http2_keep_alive_timeout_secs: u64,
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLog {
    #[serde(default)]
    pub(crate) format: LogFormat,
}
