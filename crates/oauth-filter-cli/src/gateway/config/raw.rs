//! The gateway's own keys as written: serde types, one per table, unknown keys refused. The
//! filter's keys (`issuers`, `introspection`, `routes`, `tls`…) are `oauth_filter_config`'s.
//!
//! ```toml
//! [upstream]                 # RawUpstream
//! url = "http://127.0.0.1:3000"
//! ```
//!
//! A misspelled key (`scope` for `scopes`) is an error naming it, never silently ignored.

use super::{AuthorizationPolicy, LogFormat, Protocol};
use serde::Deserialize;
use std::net::SocketAddr;

/// The gateway's own keys as written (after environment overrides): those of
/// [`oauth_filter_config::GATEWAY_KEYS`]. The filter's keys are [`oauth_filter_config::RawFilter`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    #[serde(default = "default_listen")]
    pub(crate) listen: SocketAddr,
    #[serde(default = "default_admin_listen")]
    pub(crate) admin_listen: SocketAddr,
    pub(crate) upstream: Option<RawUpstream>,
    /// `[authz]`: the file configures `oauth-filter authz` (external authorization).
    pub(crate) authz: Option<RawAuthz>,
    #[serde(default)]
    pub(crate) forwarding: RawForwarding,
    #[serde(default)]
    pub(crate) log: RawLog,
    #[serde(default)]
    pub(crate) server: RawServer,
    /// `[cors]`: browser clients.
    pub(crate) cors: Option<crate::gateway::cors::RawCors>,
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

/// `[authz]`: `oauth-filter authz`'s own keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawAuthz {
    /// Addresses or networks (CIDR) of the proxies whose `X-Forwarded-Method`/`-Uri`/`-Host`
    /// are believed on `/forward-auth` (nginx, Traefik, Caddy).
    pub(crate) trusted_proxies: Vec<String>,
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
    /// The gateway's own HTTP/1.1 engine for plain-HTTP listeners (false: hyper's for all).
    pub(crate) http1_fast_path: bool,
    /// `[server.tls]`: inbound TLS.
    pub(crate) tls: Option<crate::gateway::tls::RawServerTls>,
    /// Addresses or networks (CIDR) of TLS-terminating proxies whose RFC 9440 `Client-Cert`
    /// header is honoured.
    pub(crate) client_cert_header_from: Vec<String>,
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
            http1_fast_path: true,
            tls: None,
            client_cert_header_from: Vec::new(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLog {
    #[serde(default)]
    pub(crate) format: LogFormat,
}
