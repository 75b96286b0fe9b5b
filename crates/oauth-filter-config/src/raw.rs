//! The filter's keys as written: serde types, one per table, unknown keys refused.
//!
//! ```toml
//! [[issuers]]                # RawIssuer
//! issuer = "https://idp.example"
//! audience = "api"
//!
//! [[routes]]                 # RawRoute
//! prefix = "/admin"
//! claims = { "realm_access.roles" = { contains = "admin" } }   # RawClaimTest
//! ```
//!
//! A misspelled key (`scope` for `scopes`) is an error naming it, never silently ignored.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `[[issuers]]`: one trusted JWT issuer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIssuer {
    /// The exact `iss` value.
    pub issuer: String,
    /// The `aud` value tokens must carry for this API.
    pub audience: String,
    /// Where the keys are; absent: found by discovery of `issuer`.
    pub jwks_url: Option<String>,
    /// The algorithms accepted (asymmetric JOSE names); absent: the issuer's keys decide.
    pub algorithms: Option<Vec<String>>,
    /// RFC 9068 strict mode (`typ` `at+jwt`, the profile's claims).
    #[serde(default)]
    pub strict_rfc9068: bool,
}

/// `[introspection]`: opaque tokens by RFC 7662.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIntrospection {
    /// The endpoint; absent: found by discovery of `issuer`.
    pub endpoint: Option<String>,
    /// The API's client id at the authorization server.
    pub client_id: String,
    /// The API's client secret (better set from the environment).
    pub client_secret: String,
    /// How the client authenticates.
    #[serde(default)]
    pub auth_method: AuthMethod,
    /// The expected `iss` of answers (and the discovery base when `endpoint` is absent).
    pub issuer: Option<String>,
    /// The expected `aud` of answers.
    pub audience: Option<String>,
    /// Seconds an active answer is cached at most. Old spelling `max_cache_ttl_secs`:
    /// accepted for one release.
    #[serde(alias = "max_cache_ttl_secs")]
    pub max_cache_ttl: Option<u64>,
    /// Seconds an inactive answer is cached. Old spelling `inactive_cache_ttl_secs`: accepted
    /// for one release.
    #[serde(alias = "inactive_cache_ttl_secs")]
    pub inactive_cache_ttl: Option<u64>,
    /// Entries of the introspection cache.
    pub cache_capacity: Option<u64>,
    /// Concurrent calls to the endpoint at most.
    pub max_concurrent_requests: Option<usize>,
    /// Phantom tokens: ask for signed responses (RFC 9701) and forward them as the bearer token.
    /// Old spelling `phantom_token`: accepted for one release.
    #[serde(default, alias = "phantom_token")]
    pub jwt_response: bool,
    /// Refuse answers without `aud` when `audience` is set.
    #[serde(default)]
    pub require_audience: bool,
    /// `[introspection.redis]`: share answers with other instances.
    pub redis: Option<RawRedis>,
}

/// `[introspection.redis]`: the introspection cache shared through Redis.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRedis {
    /// `redis://host:port/db` (or `rediss://`).
    pub url: String,
    /// At least 32 bytes, the same on every instance: authenticates the cached answers.
    pub integrity_key: String,
    /// Key prefix (default `oauth-filter:introspection:`).
    pub key_prefix: Option<String>,
    /// Time allowed for each Redis operation, in milliseconds (default 100).
    pub timeout_ms: Option<u64>,
}

impl std::fmt::Debug for RawRedis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawRedis").finish_non_exhaustive()
    }
}

/// `introspection.auth_method`.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// HTTP Basic (RFC 6749 §2.3.1).
    #[default]
    ClientSecretBasic,
    /// In the form body.
    ClientSecretPost,
}

/// `[[routes]]`: a path or prefix and what its requests must show.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    /// An exact path.
    pub path: Option<String>,
    /// A path prefix (whole segments).
    pub prefix: Option<String>,
    /// Methods this route takes (default all).
    pub methods: Option<Vec<String>>,
    /// No token needed.
    #[serde(default)]
    pub public: bool,
    /// Every one of these scopes.
    pub scopes: Option<Vec<String>>,
    /// At least one of these scopes.
    pub any_scopes: Option<Vec<String>>,
    /// Claim tests by claim path: `{ present = true }`, `{ equals = <value> }`,
    /// `{ contains = <value> }`.
    pub claims: Option<BTreeMap<String, RawClaimTest>>,
    /// The token was issued to one of these clients (`client_id`, else `azp`).
    pub client_ids: Option<Vec<String>>,
    /// The token is at most this old (from `iat`).
    pub max_token_age_secs: Option<u64>,
    /// Step-up (RFC 9470): `acr` one of these.
    pub acr_values: Option<Vec<String>>,
    /// Step-up (RFC 9470): `auth_time` at most this long ago.
    pub max_auth_age_secs: Option<u64>,
    /// The authentication schemes the route takes: `["Bearer"]`, `["DPoP"]` or both
    /// (default: the filter's).
    pub schemes: Option<Vec<String>>,
    /// Gateway: a WebSocket handshake may carry its token in `Sec-WebSocket-Protocol`
    /// (`base64url.bearer.authorization.k8s.io.<base64url token>`), for browsers.
    #[serde(default)]
    pub websocket_protocol_token: bool,
    /// Gateway: `[routes.mcp]`, per-tool requirements for MCP's JSON-RPC (`tools/call`).
    pub mcp: Option<RawMcp>,
}

/// `[routes.mcp]`: what each MCP tool call needs beyond the route's own requirement.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMcp {
    /// Largest JSON-RPC body read, bytes (default 1 MiB); larger ones get 413.
    pub max_body_bytes: Option<usize>,
    /// Tool name → its requirement.
    #[serde(default)]
    pub tools: BTreeMap<String, RawTool>,
}

/// One tool's requirement: the route keys that say what a token must show.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTool {
    /// Every one of these scopes.
    pub scopes: Option<Vec<String>>,
    /// At least one of these scopes.
    pub any_scopes: Option<Vec<String>>,
    /// Claim tests by claim path.
    pub claims: Option<BTreeMap<String, RawClaimTest>>,
    /// The token was issued to one of these clients.
    pub client_ids: Option<Vec<String>>,
    /// The token is at most this old (from `iat`).
    pub max_token_age_secs: Option<u64>,
    /// Step-up (RFC 9470): `acr` one of these.
    pub acr_values: Option<Vec<String>>,
    /// Step-up (RFC 9470): `auth_time` at most this long ago.
    pub max_auth_age_secs: Option<u64>,
}

/// One claim test of a route: exactly one of its members.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClaimTest {
    /// `present = true`.
    pub present: Option<bool>,
    /// The claim equals this value.
    pub equals: Option<serde_json::Value>,
    /// The claim (an array, or a space-separated string) contains this value.
    pub contains: Option<serde_json::Value>,
}

/// `[tls]`: the CA bundle and client certificate for calls to the authorization server.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    /// PEM CA bundle replacing the platform's roots.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain (mutual TLS).
    pub client_cert_file: Option<PathBuf>,
    /// PEM private key of `client_cert_file`.
    pub client_key_file: Option<PathBuf>,
}

/// The filter's keys at the top of a file (the gateway's file has more: `listen`, `upstream`…).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFilter {
    /// `[[issuers]]`.
    #[serde(default)]
    pub issuers: Vec<RawIssuer>,
    /// `[introspection]`.
    pub introspection: Option<RawIntrospection>,
    /// `[[routes]]`.
    #[serde(default)]
    pub routes: Vec<RawRoute>,
    /// `[tls]`.
    #[serde(default)]
    pub tls: RawTls,
    /// The `realm` of challenges.
    pub realm: Option<String>,
    /// Clock leeway, seconds. Old spelling `leeway_secs`: accepted for one release.
    #[serde(alias = "leeway_secs")]
    pub leeway: Option<u64>,
    /// The largest token accepted, bytes. Old spelling `max_token_bytes`: accepted for one
    /// release.
    #[serde(alias = "max_token_bytes")]
    pub max_token_len: Option<usize>,
    /// Entries of the verified-JWT cache (0: off).
    pub jwt_cache_capacity: Option<u64>,
    /// `[dpop]`: DPoP-bound tokens (RFC 9449).
    pub dpop: Option<RawDpop>,
    /// Only sender-constrained tokens (DPoP- or certificate-bound).
    #[serde(default)]
    pub require_sender_constrained: bool,
    /// A security profile: `"fapi2"` (FAPI 2.0).
    pub profile: Option<String>,
    /// `[resource_metadata]`: RFC 9728 protected-resource metadata.
    pub resource_metadata: Option<RawResourceMetadata>,
}

/// `[resource_metadata]`: what RFC 9728 metadata says besides what the filter knows.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawResourceMetadata {
    /// The resource identifier: the URL clients call, the tokens' audience.
    pub resource: String,
    /// Default: the configured issuers.
    pub authorization_servers: Option<Vec<String>>,
    /// Default: the scopes the routes name.
    pub scopes_supported: Option<Vec<String>>,
    /// The resource's own keys, if it signs anything.
    pub jwks_uri: Option<String>,
    /// A human-readable name.
    pub resource_name: Option<String>,
    /// A documentation URL.
    pub resource_documentation: Option<String>,
    /// Say that certificate-bound tokens (RFC 8705) are supported.
    #[serde(default)]
    pub tls_client_certificate_bound_access_tokens: bool,
}

/// `[dpop]`: verify DPoP-bound tokens and their proofs.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDpop {
    /// The URL clients call (proofs' `htu` is this and the request's path).
    pub base_url: String,
    /// Proof algorithms (default ES256, PS256, EdDSA).
    pub algorithms: Option<Vec<String>>,
    /// How old a proof may be, seconds (default 60).
    pub max_age_secs: Option<u64>,
    /// Clock leeway for a proof's `iat`, seconds (default 5).
    pub leeway_secs: Option<u64>,
    /// Live proofs the replay cache holds (default 100,000).
    pub replay_capacity: Option<usize>,
    /// Still accept unbound tokens with the `Bearer` scheme (default true).
    pub accept_bearer: Option<bool>,
    /// Require server nonces, made with this fleet-shared secret (at least 32 bytes; better
    /// set from the environment, `OAUTH_FILTER__DPOP__NONCE_SECRET`).
    pub nonce_secret: Option<String>,
    /// How long one nonce window lasts, seconds (default 60; a nonce is good for its window
    /// and the next).
    pub nonce_window_secs: Option<u64>,
    /// `[dpop.redis]`: the replay store shared by a fleet.
    pub redis: Option<RawDpopRedis>,
}

/// `[dpop.redis]`: proofs accepted once per fleet.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDpopRedis {
    /// `redis://host:port/db` (or `rediss://`).
    pub url: String,
    /// Key prefix (default `oauth-filter:dpop:`).
    pub key_prefix: Option<String>,
    /// Time allowed for each Redis operation, in milliseconds (default 100).
    pub timeout_ms: Option<u64>,
    /// When Redis cannot be reached: `refuse` proofs (503, the default) or check them with
    /// the instance's own cache alone (`local`).
    #[serde(default)]
    pub if_unavailable: IfUnavailable,
}

impl std::fmt::Debug for RawDpop {
    /// Without `nonce_secret`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawDpop")
            .field("base_url", &self.base_url)
            .field("algorithms", &self.algorithms)
            .field("accept_bearer", &self.accept_bearer)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for RawDpopRedis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawDpopRedis").finish_non_exhaustive()
    }
}

/// `dpop.redis.if_unavailable`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IfUnavailable {
    /// Refuse proofs that cannot be checked (fail closed).
    #[default]
    Refuse,
    /// Check them with the instance's own replay cache.
    Local,
}
