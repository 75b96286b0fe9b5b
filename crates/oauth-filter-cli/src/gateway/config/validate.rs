//! From the file as written to a [`Config`]: every check, each naming the key as the file
//! spells it. The core's own checks (issuers, introspection, routes) run in the core, whose
//! errors already use the file's names.
//!
//! ```text
//! [[routes]]
//! prefix = "/a"
//! scopes = []
//! → configuration error: routes[0].scopes: empty: leave it out to accept any valid token
//! ```

use super::raw::{self, AuthMethod, RawClaimTest, RawConfig, RawIntrospection, RawRoute};
use super::{ClientIdentity, Config, Forwarding, Protocol, Upstream};
use oauth_filter::{
    Algorithm, ClientAuth, ConfigError, DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_LEN, HttpClientConfig,
    Introspection, JwtIssuer, OAuthFilter, OAuthFilterBuilder, PathRequirements, Requirement,
    Route,
};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use std::path::Path;
use std::time::Duration;

/// Checks everything and builds the filter (nothing is fetched).
pub(crate) fn validate(raw: RawConfig) -> Result<Config, ConfigError> {
    let upstream = raw
        .upstream
        .ok_or_else(|| ConfigError::new("upstream", "missing: the URL of the API to protect"))?;
    let upstream = validate_upstream(upstream)?;
    let forwarding = validate_forwarding(raw.forwarding)?;
    let routes = validate_routes(raw.routes)?;
    let limits = validate_server(&raw.server)?;
    let (http, ca_pem, client_identity) = validate_tls(&raw.tls)?;
    let mut builder = OAuthFilter::builder().http(http);
    for (i, issuer) in raw.issuers.into_iter().enumerate() {
        builder = builder.jwt_issuer(jwt_issuer(i, issuer)?);
    }
    if let Some(i) = raw.introspection {
        builder = builder.introspection(introspection(i)?);
    }
    if let Some(realm) = raw.realm {
        builder = builder.realm(realm);
    }
    // The core's defaults, so `inspect` reports what the filter applies.
    let leeway = raw.leeway.map_or(DEFAULT_LEEWAY, Duration::from_secs);
    let max_token_len = raw.max_token_len.unwrap_or(DEFAULT_MAX_TOKEN_LEN);
    builder = builder.leeway(leeway).max_token_len(max_token_len);
    if let Some(n) = raw.jwt_cache_capacity {
        builder = builder.verified_token_cache(n);
    }
    let filter = OAuthFilterBuilder::build(builder)?;
    check_process(
        &raw.listen,
        &raw.admin_listen,
        raw.shutdown_grace_secs,
        raw.workers,
    )?;
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
        deprecated: Vec::new(),
    })
}

fn check_process(
    listen: &std::net::SocketAddr,
    admin_listen: &std::net::SocketAddr,
    grace: u64,
    workers: usize,
) -> Result<(), ConfigError> {
    if grace > 3600 {
        return Err(ConfigError::new(
            "shutdown_grace_secs",
            "must be at most 3600",
        ));
    }
    if workers > 1024 {
        return Err(ConfigError::new(
            "workers",
            "must be at most 1024 (0: one per CPU)",
        ));
    }
    if listen == admin_listen && listen.port() != 0 {
        return Err(ConfigError::new(
            "admin_listen",
            "must differ from listen (the admin endpoints are never proxied)",
        ));
    }
    Ok(())
}

/// The CA bundle and client identity, read and parse-checked here so that errors name the
/// file's keys (`tls.ca_file`), and the HTTP client settings made from them.
type Tls = (HttpClientConfig, Option<Vec<u8>>, Option<ClientIdentity>);

fn validate_tls(tls: &raw::RawTls) -> Result<Tls, ConfigError> {
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
        let mut pem = id.chain_pem.clone();
        pem.push(b'\n');
        pem.extend_from_slice(&id.key_pem);
        http = http.client_identity_pem(pem);
    }
    Ok((http, ca_pem, client_identity))
}

fn jwt_issuer(i: usize, issuer: raw::RawIssuer) -> Result<JwtIssuer, ConfigError> {
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
    Ok(intro
        .jwt_response(i.jwt_response)
        .require_audience(i.require_audience))
}

/// The routes, as the library's one route model.
fn validate_routes(raw: Vec<RawRoute>) -> Result<PathRequirements, ConfigError> {
    if raw.is_empty() {
        return Err(ConfigError::new(
            "routes",
            "no routes: requests that match no route are refused with 404, so the gateway \
             would serve nothing (use prefix = \"/\" to protect everything)",
        ));
    }
    let mut rules = PathRequirements::not_found_builder();
    for (i, r) in raw.into_iter().enumerate() {
        rules = rules.route(route(i, r)?);
    }
    rules.build()
}

fn route(i: usize, r: RawRoute) -> Result<Route, ConfigError> {
    let name = format!("routes[{i}]");
    let parts = requirements(&name, &r)?;
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
        if !parts.is_empty() {
            return Err(ConfigError::new(
                name,
                "contradictory: a public route cannot require scopes, claims, clients or step-up",
            ));
        }
        return Ok(route.public());
    }
    Ok(route.require(Requirement::all(parts)))
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
    let json = |v: &toml::Value| {
        serde_json::to_value(v).map_err(|e| ConfigError::new(key, format!("not a JSON value: {e}")))
    };
    match (test.present, &test.equals, &test.contains) {
        (Some(true), None, None) => Ok(Requirement::claim_present(path)),
        (None, Some(v), None) => Ok(Requirement::claim_equals(path, json(v)?)),
        (None, None, Some(v)) => Ok(Requirement::claim_contains(path, json(v)?)),
        _ => Err(ConfigError::new(
            key,
            "set exactly one of `present = true`, `equals` or `contains`",
        )),
    }
}

fn validate_server(raw: &raw::RawServer) -> Result<crate::gateway::limits::Limits, ConfigError> {
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
    Ok(crate::gateway::limits::Limits {
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

fn read_identity(raw: &raw::RawTls) -> Result<Option<ClientIdentity>, ConfigError> {
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

fn validate_upstream(raw: raw::RawUpstream) -> Result<Upstream, ConfigError> {
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

fn validate_forwarding(raw: raw::RawForwarding) -> Result<Forwarding, ConfigError> {
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
