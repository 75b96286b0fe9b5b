//! From the file as written to a [`Config`]: the gateway's own checks, each naming the key as
//! the file spells it. The filter's keys are checked by `oauth_filter_config` (and the core),
//! whose errors already use the file's names.
//!
//! ```text
//! [upstream]
//! url = "ftp://x"
//! → configuration error: upstream.url: scheme `ftp` is not supported (http or https)
//! ```

use super::raw::{self, RawConfig};
use super::{AuthzSettings, Config, Forwarding, Mode, Protocol, Upstream};
use oauth_filter::ConfigError;
use oauth_filter_config::RawFilter;
use std::time::Duration;

/// Checks everything and builds the filter (nothing is fetched), for the command `mode`.
pub(crate) fn validate(
    raw: RawConfig,
    filter: RawFilter,
    mode: Mode,
) -> Result<Config, ConfigError> {
    let (upstream, authz) = match mode {
        Mode::Gateway => {
            if raw.authz.is_some() {
                return Err(ConfigError::new(
                    "authz",
                    "configures `oauth-filter authz` (external authorization for a proxy \
                     you run); the gateway is `[upstream]`'s: run `oauth-filter authz`, or \
                     remove [authz]",
                ));
            }
            let upstream = raw.upstream.ok_or_else(|| {
                ConfigError::new("upstream", "missing: the URL of the API to protect")
            })?;
            (Some(validate_upstream(upstream)?), None)
        }
        Mode::Authz => {
            if raw.upstream.is_some() {
                return Err(ConfigError::new(
                    "upstream",
                    "`oauth-filter authz` has no upstream: the proxy in front (Envoy, nginx, \
                     Traefik, Caddy) forwards the request; remove [upstream], or run \
                     `oauth-filter gateway`",
                ));
            }
            if raw.cors.is_some() {
                return Err(ConfigError::new(
                    "cors",
                    "not used by `oauth-filter authz`: preflights are answered by the proxy \
                     (which must not send them for authorization)",
                ));
            }
            let settings = raw.authz.unwrap_or_default();
            let trusted_proxies = networks("authz.trusted_proxies", &settings.trusted_proxies)?;
            (None, Some(AuthzSettings { trusted_proxies }))
        }
    };
    let forwarding = validate_forwarding(raw.forwarding)?;
    let filter = filter.validate()?;
    let routes = filter.routes.clone().ok_or_else(|| {
        ConfigError::new(
            "routes",
            "no routes: requests that match no route are refused with 404, so the gateway \
             would serve nothing (use prefix = \"/\" to protect everything)",
        )
    })?;
    let limits = validate_server(&raw.server)?;
    let client_cert_proxies = networks(
        "server.client_cert_header_from",
        &raw.server.client_cert_header_from,
    )?;
    let cors = raw
        .cors
        .as_ref()
        .map(crate::gateway::cors::layer)
        .transpose()?;
    let tls = raw
        .server
        .tls
        .map(crate::gateway::tls::InboundTls::new)
        .transpose()?;
    let (ca_pem, client_identity) = (filter.ca_pem.clone(), filter.client_identity.clone());
    let route_options = filter.route_options.clone();
    if mode == Mode::Authz {
        for (name, o) in &route_options {
            if o.mcp.is_some() {
                return Err(ConfigError::new(
                    format!("{name}.mcp"),
                    "MCP tool rules read the request body, which proxies do not send for \
                     authorization: protect MCP routes with `oauth-filter gateway`",
                ));
            }
            if o.websocket_protocol_token {
                return Err(ConfigError::new(
                    format!("{name}.websocket_protocol_token"),
                    "needs the gateway: the token would stay in Sec-WebSocket-Protocol, which \
                     the proxy forwards as it came",
                ));
            }
        }
    }
    let filter = filter.build()?;
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
        authz,
        routes,
        forwarding,
        filter,
        ca_pem,
        client_identity,
        log_format: raw.log.format,
        limits,
        tls,
        cors,
        route_options,
        client_cert_proxies,
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
        http1_fast_path: raw.http1_fast_path,
    })
}

/// `server.client_cert_header_from`, `authz.trusted_proxies`: addresses (`10.0.0.5`) or
/// networks (`10.0.0.0/8`).
fn networks(key: &str, raw: &[String]) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    raw.iter()
        .enumerate()
        .map(|(i, s)| {
            s.parse::<ipnet::IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    ConfigError::new(
                        format!("{key}[{i}]"),
                        "not an IP address or network (10.0.0.5, 10.0.0.0/8, ::1)",
                    )
                })
        })
        .collect()
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
