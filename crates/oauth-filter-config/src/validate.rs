//! From the keys as written to the core's types: every check, each naming the key as the file
//! spells it. The core's own checks (issuers, introspection, routes) run in the core, whose
//! errors already use the file's names.
//!
//! ```text
//! [[routes]]
//! prefix = "/a"
//! scopes = []
//! → configuration error: routes[0].scopes: empty: leave it out to accept any valid token
//! ```

use crate::raw::{
    AuthMethod, RawClaimTest, RawDpop, RawFilter, RawIntrospection, RawIssuer, RawRoute, RawTls,
};
use oauth_filter::{
    Algorithm, ClientAuth, ConfigError, DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_LEN, Dpop, DpopPolicy,
    HttpClientConfig, Introspection, JwtIssuer, OAuthFilter, OAuthFilterBuilder, PathRequirements,
    Requirement, Route,
};
use oauth_filter::{ResourceMetadata, TokenSchemes};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

/// The filter's keys, checked: a builder with every issuer and the introspection settings (the
/// HTTP client settings apart, so that a caller can add to them), and the routes.
#[derive(Debug)]
pub struct FilterConfig {
    /// Issuers, introspection, realm, leeway, size cap, cache; not yet [`FilterConfig::http`].
    pub builder: OAuthFilterBuilder,
    /// The HTTP client for the authorization server: `[tls]`'s CA bundle and client identity.
    pub http: HttpClientConfig,
    /// `[[routes]]`, most specific first, 404 for a path none takes; `None` without routes.
    pub routes: Option<PathRequirements>,
    /// `tls.ca_file`'s certificates, PEM (checked to parse).
    pub ca_pem: Option<Vec<u8>>,
    /// `tls.client_cert_file` and `tls.client_key_file` (checked to parse).
    pub client_identity: Option<ClientIdentity>,
    /// The leeway the filter applies (the core's default when the file has none).
    pub leeway: Duration,
    /// The size cap the filter applies.
    pub max_token_len: usize,
    /// The gateway's options of routes that have some, by route name (`routes[2]`).
    pub route_options: BTreeMap<String, RouteOptions>,
}

/// What a gateway route does besides its requirement.
#[derive(Debug, Clone, Default)]
pub struct RouteOptions {
    /// A WebSocket handshake may carry its token in `Sec-WebSocket-Protocol`.
    pub websocket_protocol_token: bool,
    /// Per-tool requirements for MCP's JSON-RPC.
    pub mcp: Option<McpTools>,
}

/// `[routes.mcp]`, checked.
#[derive(Debug, Clone)]
pub struct McpTools {
    /// Largest JSON-RPC body read.
    pub max_body_bytes: usize,
    /// Tool name → what a call of it needs (beyond the route's requirement).
    pub tools: BTreeMap<String, Requirement>,
}

/// The default cap on an MCP JSON-RPC body the gateway reads: 1 MiB.
pub const DEFAULT_MCP_MAX_BODY: usize = 1024 * 1024;

fn route_options(raw: &[RawRoute]) -> Result<BTreeMap<String, RouteOptions>, ConfigError> {
    let mut out = BTreeMap::new();
    for (i, r) in raw.iter().enumerate() {
        let name = format!("routes[{i}]");
        if !r.websocket_protocol_token && r.mcp.is_none() {
            continue;
        }
        if r.public {
            return Err(ConfigError::new(
                &name,
                "contradictory: a public route reads no token (websocket_protocol_token, mcp)",
            ));
        }
        let mcp = match &r.mcp {
            None => None,
            Some(m) => {
                let max_body_bytes = m.max_body_bytes.unwrap_or(DEFAULT_MCP_MAX_BODY);
                if max_body_bytes == 0 || max_body_bytes > 64 * 1024 * 1024 {
                    return Err(ConfigError::new(
                        format!("{name}.mcp.max_body_bytes"),
                        "must be 1 to 67108864 (the body is held in memory to be read)",
                    ));
                }
                let mut tools = BTreeMap::new();
                for (tool, t) in &m.tools {
                    let key = format!("{name}.mcp.tools.\"{tool}\"");
                    let as_route = RawRoute {
                        path: None,
                        prefix: None,
                        methods: None,
                        public: false,
                        scopes: t.scopes.clone(),
                        any_scopes: t.any_scopes.clone(),
                        claims: t.claims.clone(),
                        client_ids: t.client_ids.clone(),
                        max_token_age_secs: t.max_token_age_secs,
                        acr_values: t.acr_values.clone(),
                        max_auth_age_secs: t.max_auth_age_secs,
                        schemes: None,
                        websocket_protocol_token: false,
                        mcp: None,
                    };
                    let parts = requirements(&key, &as_route)?;
                    if parts.is_empty() {
                        return Err(ConfigError::new(
                            key,
                            "empty: name what a call of this tool needs (scopes, claims...)",
                        ));
                    }
                    tools.insert(tool.clone(), Requirement::all(parts));
                }
                Some(McpTools {
                    max_body_bytes,
                    tools,
                })
            }
        };
        out.insert(
            name,
            RouteOptions {
                websocket_protocol_token: r.websocket_protocol_token,
                mcp,
            },
        );
    }
    Ok(out)
}

impl FilterConfig {
    /// The filter (nothing is fetched).
    pub fn build(self) -> Result<OAuthFilter, ConfigError> {
        self.builder.http(self.http).build()
    }
}

impl RawFilter {
    /// Checks every key but those the core checks when [`FilterConfig::build`] builds the
    /// filter (its errors name the same keys).
    pub fn validate(self) -> Result<FilterConfig, ConfigError> {
        let route_options = route_options(&self.routes)?;
        let routes = routes(self.routes, self.dpop.is_some())?;
        let (http, ca_pem, client_identity) = tls(&self.tls)?;
        let mut builder = OAuthFilter::builder();
        for (i, issuer) in self.issuers.into_iter().enumerate() {
            builder = builder.jwt_issuer(jwt_issuer(i, issuer)?);
        }
        if let Some(i) = self.introspection {
            builder = builder.introspection(introspection(i)?);
        }
        if let Some(realm) = self.realm {
            builder = builder.realm(realm);
        }
        // The core's defaults, so that `inspect` reports what the filter applies.
        let leeway = self.leeway.map_or(DEFAULT_LEEWAY, Duration::from_secs);
        let max_token_len = self.max_token_len.unwrap_or(DEFAULT_MAX_TOKEN_LEN);
        builder = builder.leeway(leeway).max_token_len(max_token_len);
        if let Some(n) = self.jwt_cache_capacity {
            builder = builder.verified_token_cache(n);
        }
        if let Some(d) = self.dpop {
            builder = builder.dpop(dpop(d)?);
        }
        builder = builder.require_sender_constrained(self.require_sender_constrained);
        if let Some(m) = self.resource_metadata {
            let scopes = match m.scopes_supported {
                Some(s) => s,
                None => {
                    // The routes' scopes and their MCP tools'.
                    let mut all = routes
                        .as_ref()
                        .map(PathRequirements::scopes)
                        .unwrap_or_default();
                    for tools in route_options.values().filter_map(|o| o.mcp.as_ref()) {
                        for r in tools.tools.values() {
                            all.extend(r.named_scopes());
                        }
                    }
                    all.sort_unstable();
                    all.dedup();
                    all
                }
            };
            let mut md = ResourceMetadata::new(m.resource)
                .scopes_supported(scopes)
                .certificate_bound_tokens(m.tls_client_certificate_bound_access_tokens);
            if let Some(a) = m.authorization_servers {
                md = md.authorization_servers(a);
            }
            if let Some(j) = m.jwks_uri {
                md = md.jwks_uri(j);
            }
            if let Some(n) = m.resource_name {
                md = md.resource_name(n);
            }
            if let Some(d) = m.resource_documentation {
                md = md.resource_documentation(d);
            }
            builder = builder.resource_metadata(md);
        }
        match self.profile.as_deref() {
            None => {}
            Some("fapi2") => builder = builder.fapi2(),
            Some(other) => {
                return Err(ConfigError::new(
                    "profile",
                    format!("unknown profile `{other}` (the one profile is \"fapi2\")"),
                ));
            }
        }
        Ok(FilterConfig {
            builder,
            http,
            routes,
            ca_pem,
            client_identity,
            leeway,
            max_token_len,
            route_options,
        })
    }
}

/// `[dpop]` as the core's [`Dpop`] (its base URL is checked when the filter is built).
fn dpop(raw: RawDpop) -> Result<Dpop, ConfigError> {
    let defaults = DpopPolicy::default();
    let algorithms = match raw.algorithms {
        None => defaults.algorithms().to_vec(),
        Some(names) => {
            let mut algs = Vec::new();
            for (k, name) in names.iter().enumerate() {
                let alg = Algorithm::from_name(name).filter(|a| !a.is_hmac()).ok_or_else(|| {
                    ConfigError::new(
                        format!("dpop.algorithms[{k}]"),
                        format!("`{name}` is not an asymmetric JOSE algorithm (ES256, PS256, EdDSA, ...)"),
                    )
                })?;
                algs.push(alg);
            }
            algs
        }
    };
    if algorithms.is_empty() {
        return Err(ConfigError::new(
            "dpop.algorithms",
            "empty: no proof could ever be accepted; leave it out for ES256, PS256 and EdDSA",
        ));
    }
    let max_age = raw.max_age_secs.unwrap_or(60);
    if max_age == 0 || max_age > 3600 {
        return Err(ConfigError::new(
            "dpop.max_age_secs",
            "must be 1 to 3600: a proof is made for one request, moments before it",
        ));
    }
    let leeway = raw.leeway_secs.unwrap_or(5);
    if leeway > 300 {
        return Err(ConfigError::new(
            "dpop.leeway_secs",
            "at most 300: clocks further apart are a problem to fix, not hide",
        ));
    }
    let policy = DpopPolicy::new(&algorithms, max_age, leeway)
        .ok_or_else(|| ConfigError::new("dpop.algorithms", "not a usable list of algorithms"))?;
    let mut d = Dpop::new(raw.base_url).policy(policy);
    if let Some(n) = raw.replay_capacity {
        d = d.replay_capacity(n);
    }
    if let Some(accept) = raw.accept_bearer {
        d = d.accept_bearer(accept);
    }
    match (raw.nonce_secret, raw.nonce_window_secs) {
        (Some(secret), window) => {
            d = d.nonces(secret, Duration::from_secs(window.unwrap_or(60)));
        }
        (None, Some(_)) => {
            return Err(ConfigError::new(
                "dpop.nonce_window_secs",
                "needs dpop.nonce_secret (nonces are made with it)",
            ));
        }
        (None, None) => {}
    }
    if let Some(r) = raw.redis {
        d = with_dpop_redis(d, r)?;
    }
    Ok(d)
}

/// A client certificate chain and its private key, both PEM, checked to parse.
#[derive(Clone)]
pub struct ClientIdentity {
    chain_pem: Vec<u8>,
    key_pem: Vec<u8>,
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientIdentity(..)")
    }
}

impl ClientIdentity {
    /// The certificate chain.
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_slice_iter(&self.chain_pem)
            .filter_map(Result::ok)
            .collect()
    }
    /// The private key.
    pub fn key(&self) -> Option<PrivateKeyDer<'static>> {
        PrivateKeyDer::from_pem_slice(&self.key_pem).ok()
    }
    /// Chain then key, PEM, as [`HttpClientConfig::client_identity_pem`] takes them.
    pub fn pem(&self) -> Vec<u8> {
        let mut pem = self.chain_pem.clone();
        pem.push(b'\n');
        pem.extend_from_slice(&self.key_pem);
        pem
    }
}

/// The CA bundle and client identity, read and parse-checked here so that errors name the
/// file's keys (`tls.ca_file`), and the HTTP client settings made from them.
type Tls = (HttpClientConfig, Option<Vec<u8>>, Option<ClientIdentity>);

fn tls(tls: &RawTls) -> Result<Tls, ConfigError> {
    let ca_pem = match &tls.ca_file {
        Some(p) => {
            let pem = std::fs::read(p).map_err(|e| {
                ConfigError::new("tls.ca_file", format!("cannot read {}: {e}", p.display()))
            })?;
            let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&pem).collect();
            if certs.map_or(true, |c| c.is_empty()) {
                return Err(ConfigError::new(
                    "tls.ca_file",
                    "no valid PEM certificate in the file",
                ));
            }
            Some(pem)
        }
        None => None,
    };
    let client_identity = read_identity(tls)?;
    let mut http = HttpClientConfig::default();
    if let Some(pem) = &ca_pem {
        http = http.ca_certificates_pem(pem.clone());
    }
    if let Some(id) = &client_identity {
        http = http.client_identity_pem(id.pem());
    }
    Ok((http, ca_pem, client_identity))
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

fn jwt_issuer(i: usize, issuer: RawIssuer) -> Result<JwtIssuer, ConfigError> {
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
        j = j.algorithms(algs);
    }
    Ok(j)
}

fn introspection(i: RawIntrospection) -> Result<Introspection, ConfigError> {
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
    if let Some(v) = i.max_cache_ttl {
        intro = intro.max_cache_ttl(Duration::from_secs(v));
    }
    if let Some(v) = i.inactive_cache_ttl {
        intro = intro.inactive_cache_ttl(Duration::from_secs(v));
    }
    if let Some(v) = i.cache_capacity {
        intro = intro.cache_capacity(v);
    }
    if let Some(v) = i.max_concurrent_requests {
        intro = intro.max_concurrent_requests(v);
    }
    if let Some(redis) = i.redis {
        intro = with_redis(intro, redis)?;
    }
    Ok(intro
        .jwt_response(i.jwt_response)
        .require_audience(i.require_audience))
}

#[cfg(feature = "redis")]
fn with_redis(intro: Introspection, r: crate::raw::RawRedis) -> Result<Introspection, ConfigError> {
    let mut cache = oauth_filter::RedisCache::new(r.url, r.integrity_key.into_bytes());
    if let Some(p) = r.key_prefix {
        cache = cache.key_prefix(p);
    }
    match r.timeout_ms {
        Some(0) => {
            return Err(ConfigError::new(
                "introspection.redis.timeout_ms",
                "must be positive",
            ));
        }
        Some(ms) => cache = cache.timeout(Duration::from_millis(ms)),
        None => {}
    }
    Ok(intro.redis(cache))
}

#[cfg(feature = "redis")]
fn with_dpop_redis(d: Dpop, r: crate::raw::RawDpopRedis) -> Result<Dpop, ConfigError> {
    let mut replay = oauth_filter::RedisReplay::new(r.url)
        .fall_back_to_local(r.if_unavailable == crate::raw::IfUnavailable::Local);
    if let Some(p) = r.key_prefix {
        replay = replay.key_prefix(p);
    }
    match r.timeout_ms {
        Some(0) => {
            return Err(ConfigError::new(
                "dpop.redis.timeout_ms",
                "must be positive",
            ));
        }
        Some(ms) => replay = replay.timeout(Duration::from_millis(ms)),
        None => {}
    }
    Ok(d.redis(replay))
}

#[cfg(not(feature = "redis"))]
fn with_dpop_redis(_d: Dpop, _r: crate::raw::RawDpopRedis) -> Result<Dpop, ConfigError> {
    Err(ConfigError::new(
        "dpop.redis",
        "this build has no Redis support (the `redis` feature of oauth-filter-config)",
    ))
}

#[cfg(not(feature = "redis"))]
fn with_redis(
    _intro: Introspection,
    _r: crate::raw::RawRedis,
) -> Result<Introspection, ConfigError> {
    Err(ConfigError::new(
        "introspection.redis",
        "this build has no Redis support (the `redis` feature of oauth-filter-config)",
    ))
}

/// The routes, as the library's one route model; `None` without routes.
fn routes(raw: Vec<RawRoute>, dpop: bool) -> Result<Option<PathRequirements>, ConfigError> {
    if raw.is_empty() {
        return Ok(None);
    }
    let mut rules = PathRequirements::not_found_builder();
    for (i, r) in raw.into_iter().enumerate() {
        rules = rules.route(route(i, r, dpop)?);
    }
    rules.build().map(Some)
}

/// `routes[i].schemes`: `Bearer`, `DPoP` (any case), one or both.
fn schemes(key: &str, names: &[String], dpop: bool) -> Result<TokenSchemes, ConfigError> {
    let (mut bearer, mut proof) = (false, false);
    for (k, n) in names.iter().enumerate() {
        match n.to_ascii_lowercase().as_str() {
            "bearer" => bearer = true,
            "dpop" => proof = true,
            _ => {
                return Err(ConfigError::new(
                    format!("{key}[{k}]"),
                    format!("`{n}` is not a scheme this filter takes (Bearer, DPoP)"),
                ));
            }
        }
    }
    if proof && !dpop {
        return Err(ConfigError::new(
            key,
            "DPoP needs the [dpop] section (its base_url): without it no proof can be checked",
        ));
    }
    match (bearer, proof) {
        (true, true) => Ok(TokenSchemes::Both),
        (true, false) => Ok(TokenSchemes::Bearer),
        (false, true) => Ok(TokenSchemes::Dpop),
        (false, false) => Err(ConfigError::new(
            key,
            "empty: no request could pass; leave it out for the filter's schemes",
        )),
    }
}

fn route(i: usize, r: RawRoute, dpop: bool) -> Result<Route, ConfigError> {
    let name = format!("routes[{i}]");
    let parts = requirements(&name, &r)?;
    let accepted = match &r.schemes {
        Some(names) => Some(schemes(&format!("{name}.schemes"), names, dpop)?),
        None => None,
    };
    let mut route = match (r.path, r.prefix) {
        (Some(p), None) => Route::exact(p),
        (None, Some(p)) => Route::prefix(p),
        _ => {
            return Err(ConfigError::new(
                name,
                "set exactly one of `path` (exact match) or `prefix`",
            ));
        }
    }
    .name(name.clone());
    if let Some(m) = r.methods {
        route = route.methods(m);
    }
    if r.public {
        if !parts.is_empty() || accepted.is_some() {
            return Err(ConfigError::new(
                name,
                "contradictory: a public route cannot require scopes, claims, clients, step-up \
                 or schemes",
            ));
        }
        return Ok(route.public());
    }
    let route = route.require(Requirement::all(parts));
    Ok(match accepted {
        Some(s) => route.schemes(s),
        None => route,
    })
}

impl RawRoute {
    /// What this route's token must show (its matching keys aside), errors named under `name`
    /// (`routes[0]`): for a decorator that is its own route (the Python extension's
    /// `protect(require=...)`).
    pub fn requirement(&self, name: &str) -> Result<Requirement, ConfigError> {
        requirements(name, self).map(Requirement::all)
    }
}

/// What a route's token must show, in the file's order: scopes, claims, clients, token age,
/// step-up. Empty: any valid token.
fn requirements(name: &str, r: &RawRoute) -> Result<Vec<Requirement>, ConfigError> {
    let key = |k: &str| format!("{name}.{k}");
    let nonempty = |k: &str, list: &Option<Vec<String>>, why: &str| match list {
        Some(l) if l.is_empty() => Err(ConfigError::new(key(k), format!("empty: {why}"))),
        other => Ok(other.clone()),
    };
    let any_token = "leave it out to accept any valid token";
    let scopes = nonempty("scopes", &r.scopes, any_token)?;
    let any_scopes = nonempty("any_scopes", &r.any_scopes, any_token)?;
    let client_ids = nonempty(
        "client_ids",
        &r.client_ids,
        "leave it out to accept any client",
    )?;
    let acr_values = nonempty(
        "acr_values",
        &r.acr_values,
        "leave it out to accept any acr",
    )?;
    let mut parts: Vec<Requirement> = Vec::new();
    match (scopes, any_scopes) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::new(
                name,
                "contradictory: set `scopes` (all of) or `any_scopes` (any of), not both",
            ));
        }
        (Some(all), None) => parts.push(Requirement::all_of(all)),
        (None, Some(any)) => parts.push(Requirement::any_of(any)),
        (None, None) => {}
    }
    for (path, test) in r.claims.iter().flatten() {
        parts.push(claim(&key(&format!("claims.{path:?}")), path, test)?);
    }
    if let Some(ids) = client_ids {
        parts.push(Requirement::client_ids(ids));
    }
    for (k, v) in [
        ("max_token_age_secs", r.max_token_age_secs),
        ("max_auth_age_secs", r.max_auth_age_secs),
    ] {
        if v == Some(0) {
            return Err(ConfigError::new(key(k), "must be positive"));
        }
    }
    if let Some(secs) = r.max_token_age_secs {
        parts.push(Requirement::max_token_age(Duration::from_secs(secs)));
    }
    if acr_values.is_some() || r.max_auth_age_secs.is_some() {
        parts.push(Requirement::step_up(
            acr_values.unwrap_or_default(),
            r.max_auth_age_secs.map(Duration::from_secs),
        ));
    }
    Ok(parts)
}

/// One `claims` entry: exactly one of `present = true`, `equals`, `contains`.
fn claim(key: &str, path: &str, test: &RawClaimTest) -> Result<Requirement, ConfigError> {
    if oauth_filter::ClaimPath::parse(path).is_none() {
        return Err(ConfigError::new(
            key,
            "not a claim path: dotted names (realm_access.roles) or a JSON Pointer (/a~1b)",
        ));
    }
    match (test.present, &test.equals, &test.contains) {
        (Some(true), None, None) => Ok(Requirement::claim_present(path)),
        (None, Some(v), None) => Ok(Requirement::claim_equals(path, v.clone())),
        (None, None, Some(v)) => Ok(Requirement::claim_contains(path, v.clone())),
        _ => Err(ConfigError::new(
            key,
            "set exactly one of `present = true`, `equals` or `contains`",
        )),
    }
}
