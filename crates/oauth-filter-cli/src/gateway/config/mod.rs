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
//!
//! [[routes]]
//! prefix = "/admin"
//! scopes = ["read"]
//! claims = { "realm_access.roles" = { contains = "admin" } }
//! acr_values = ["urn:mace:incommon:iap:silver"]   # step-up (RFC 9470)
//! max_auth_age_secs = 300
//! ```
//!
//! Every value can be overridden by an environment variable named `OAUTH_FILTER__` followed by
//! the key path in upper case with `__` between the parts and array indexes as numbers:
//! `OAUTH_FILTER__UPSTREAM__URL`, `OAUTH_FILTER__INTROSPECTION__CLIENT_SECRET`,
//! `OAUTH_FILTER__ROUTES__0__SCOPES='["read"]'`. A value replaces one of the same type (strings
//! stay strings; numbers, booleans and arrays are read as TOML). An override for a key the file
//! does not have is read as TOML and, failing that, as a string; an unknown key is an error.
//!
//! Errors name the key (`routes[2].scopes`) and the reason; [`load`] never starts anything.
//! Keys are the library's names (`max_token_len`, `leeway`, `introspection.jwt_response`,
//! `introspection.max_cache_ttl`, durations in seconds); the 0.1 spellings `max_token_bytes`,
//! `leeway_secs`, `introspection.phantom_token`, `introspection.max_cache_ttl_secs` and
//! `introspection.inactive_cache_ttl_secs` are accepted, with a warning, for one release.
//!
//! The concerns live apart: `raw` (the serde types), `env` (the environment overlay),
//! `validate` (every check, and the filter built from the result).

mod raw;
mod validate;

pub(crate) use oauth_filter::ConfigError;
use oauth_filter::{OAuthFilter, PathRequirements};
pub(crate) use oauth_filter_config::{ClientIdentity, describe};
use oauth_filter_config::{GATEWAY_KEYS, RawFilter};
use raw::RawConfig;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

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

/// Identity forwarding, validated.
#[derive(Debug, Clone)]
pub(crate) struct Forwarding {
    pub(crate) authorization: AuthorizationPolicy,
    pub(crate) subject_header: http::HeaderName,
    pub(crate) client_id_header: http::HeaderName,
    pub(crate) scope_header: http::HeaderName,
}

/// Which command a file configures: `[upstream]` makes a gateway file, `[authz]` an
/// external-authorization one (`oauth-filter authz`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Gateway,
    Authz,
}

/// `[authz]`, validated.
#[derive(Debug, Clone, Default)]
pub(crate) struct AuthzSettings {
    /// `authz.trusted_proxies`: whose `X-Forwarded-*` describe the original request.
    pub(crate) trusted_proxies: Vec<ipnet::IpNet>,
}

impl Forwarding {
    /// The identity headers' names: subject, client id, scopes.
    pub(crate) fn identity_headers(&self) -> [&http::HeaderName; 3] {
        [
            &self.subject_header,
            &self.client_id_header,
            &self.scope_header,
        ]
    }
}

/// The whole configuration, validated, with the filter built (nothing fetched yet).
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) listen: SocketAddr,
    pub(crate) admin_listen: SocketAddr,
    /// The API the gateway protects (`None` for `oauth-filter authz`).
    pub(crate) upstream: Option<Upstream>,
    /// `[authz]` (`Some` exactly for `oauth-filter authz`).
    pub(crate) authz: Option<AuthzSettings>,
    /// The library's route model: most specific first, 404 when nothing matches.
    pub(crate) routes: PathRequirements,
    pub(crate) forwarding: Forwarding,
    pub(crate) filter: OAuthFilter,
    pub(crate) ca_pem: Option<Vec<u8>>,
    /// The gateway's client certificate chain and key, PEM (mutual TLS to the authorization
    /// server and an https upstream).
    pub(crate) client_identity: Option<ClientIdentity>,
    pub(crate) log_format: LogFormat,
    pub(crate) limits: crate::gateway::limits::Limits,
    /// `[server.tls]`: inbound TLS, when configured.
    pub(crate) tls: Option<crate::gateway::tls::InboundTls>,
    /// Routes' WebSocket and MCP options, by route name.
    pub(crate) route_options: std::collections::BTreeMap<String, oauth_filter_config::RouteOptions>,
    /// `[cors]`: the layer around the gateway, when configured.
    pub(crate) cors: Option<tower_http::cors::CorsLayer>,
    /// `server.client_cert_header_from`: proxies whose `Client-Cert` header is honoured.
    pub(crate) client_cert_proxies: Vec<ipnet::IpNet>,
    pub(crate) shutdown_grace: Duration,
    /// Runtime threads (at least 1).
    pub(crate) workers: usize,
    /// Renamed keys the file still spells the old way: (new, old), for a warning.
    pub(crate) deprecated: Vec<(String, String)>,
}

impl Config {
    /// One line per renamed key spelled the old way.
    pub(crate) fn deprecation_warnings(&self) -> Vec<String> {
        self.deprecated
            .iter()
            .map(|(new, old)| {
                format!("`{old}` is renamed `{new}`; the old spelling will be refused in the next release")
            })
            .collect()
    }
}

/// Reads, overlays the environment, and validates, for the command `mode` (`None`: whichever
/// the file configures, as `check-config` takes it: `[authz]` makes it an authz file). `env`
/// is the process environment in production and a fixed list in tests.
pub(crate) fn load(
    path: &Path,
    env: impl IntoIterator<Item = (String, String)>,
    mode: Option<Mode>,
) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new("", format!("cannot read {}: {e}", path.display())))?;
    parse_for(&text, env, mode)
}

/// [`parse_for`] a gateway file.
#[cfg(test)]
pub(crate) fn parse(
    text: &str,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    parse_for(text, vars, Some(Mode::Gateway))
}

/// [`load`] from a string: the gateway's own keys and the filter's, each read by its owner.
pub(crate) fn parse_for(
    text: &str,
    vars: impl IntoIterator<Item = (String, String)>,
    mode: Option<Mode>,
) -> Result<Config, ConfigError> {
    let mut doc = oauth_filter_config::parse_toml(text, vars)?;
    let gateway = doc.split_off(&GATEWAY_KEYS);
    let raw: RawConfig = gateway.deserialize()?;
    let filter: RawFilter = doc.deserialize()?;
    let mode = mode.unwrap_or(if raw.authz.is_some() {
        Mode::Authz
    } else {
        Mode::Gateway
    });
    let mut config = validate::validate(raw, filter, mode).map_err(|e| doc.name(e))?;
    config.deprecated = doc.old_spellings().to_vec();
    Ok(config)
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
        assert_eq!(c.upstream.unwrap().authority, "127.0.0.1:3000");
        assert_eq!(c.routes.describe().len(), 1);
        assert_eq!(c.forwarding.authorization, AuthorizationPolicy::Remove);
    }

    #[test]
    fn errors_name_the_key_and_the_reason() {
        let e = err("[[routes]]\nprefix = \"/\"\n");
        assert_eq!(e.key(), "upstream");
        let e = err(&BASE.replace("http://127.0.0.1:3000", "not a url"));
        assert_eq!(e.key(), "upstream.url");
        assert!(e.reason().contains("not a valid absolute URL"), "{e}");
        let e = err(&format!("listen_port = 3\n{BASE}"));
        assert_eq!(e.key(), "listen_port");
        assert!(e.reason().contains("unknown field `listen_port`"), "{e}");
        let e = err(&BASE.replace("scopes = [\"read\"]", "scopes = [\"read\"]\nscope = 1"));
        assert_eq!(e.key(), "routes[0].scope");
        assert!(e.reason().contains("unknown field"), "{e}");
        let e = err(&BASE.replace("audience = \"api\"", "audience = 5"));
        assert_eq!(e.key(), "issuers[0].audience");
        let e = err(&BASE.replace("\"http://127.0.0.1:9400\"", "\"\""));
        assert_eq!(e.key(), "issuers[0].issuer");
        let e = err(&BASE.replace("issuer = ", "algorithms = [\"HS256\"]\nissuer = "));
        assert_eq!(e.key(), "issuers[0].algorithms[0]");
        let e = err(&format!("leeway_secs = 900\n{BASE}"));
        assert_eq!(
            e.key(),
            "leeway_secs",
            "the old spelling is named as the file spells it"
        );
        let e = err(&format!("leeway = 900\n{BASE}"));
        assert_eq!(e.key(), "leeway");
        let e = err("this is = not toml");
        assert!(e.reason().contains("not valid TOML"), "{e}");
    }

    #[test]
    fn policy_keys_are_checked_and_named() {
        let one = |route: &str| {
            BASE.replace(
                "[[routes]]\n        prefix = \"/\"\n        scopes = [\"read\"]\n",
                &format!("[[routes]]\nprefix = \"/\"\n{route}\n"),
            )
        };
        let c = parse(
            &one(r#"claims = { "realm_access.roles" = { contains = "admin" }, "/a~1b" = { present = true }, n = { equals = 2 } }
client_ids = ["ui"]
max_token_age_secs = 60
acr_values = ["silver"]
max_auth_age_secs = 300"#),
            [],
        )
        .unwrap();
        let r = c
            .routes
            .select("GET", "/x")
            .unwrap()
            .requirement()
            .unwrap()
            .to_string();
        assert!(
            r.contains(r#"claim realm_access.roles contains "admin""#),
            "{r}"
        );
        assert!(
            r.contains("claim a/b present") && r.contains("claim n equals 2"),
            "{r}"
        );
        assert!(
            r.contains("step-up acr one of: silver auth_time at most 300 s ago"),
            "{r}"
        );
        for (route, key, why) in [
            (
                r#"claims = { "a..b" = { present = true } }"#,
                r#"routes[0].claims."a..b""#,
                "not a claim path",
            ),
            (
                r#"claims = { a = { present = true, equals = 1 } }"#,
                r#"routes[0].claims."a""#,
                "exactly one",
            ),
            (
                r#"claims = { a = { present = false } }"#,
                r#"routes[0].claims."a""#,
                "exactly one",
            ),
            (
                r#"claims = { a = { matches = 1 } }"#,
                "routes[0].claims.a.matches",
                "unknown field",
            ),
            ("client_ids = []", "routes[0].client_ids", "empty"),
            ("acr_values = []", "routes[0].acr_values", "empty"),
            (
                r#"acr_values = ["a b"]"#,
                "routes[0].acr_values",
                "without space",
            ),
            (
                "public = true
max_auth_age_secs = 5",
                "routes[0]",
                "contradictory",
            ),
            (
                "max_token_age_secs = 0",
                "routes[0].max_token_age_secs",
                "positive",
            ),
            (
                r#"any_scopes = ["a b"]"#,
                "routes[0].any_scopes",
                "scope-token",
            ),
        ] {
            let e = err(&one(route));
            assert_eq!(e.key(), key, "{route}: {e}");
            assert!(e.reason().contains(why), "{route}: {e}");
        }
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
        assert_eq!(e.key(), "routes[1]");
        assert!(e.reason().contains("routes[0]"), "{e}");
        let e = err(&two(
            "prefix = \"/a\"\nmethods = [\"GET\", \"POST\"]",
            "prefix = \"/a/\"\nmethods = [\"post\"]",
        ));
        assert_eq!(e.key(), "routes[1]");
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
        assert!(e.reason().contains("contradictory"), "{e}");
        let e = err(&two("path = \"/a\"\nprefix = \"/a\"", "path = \"/b\""));
        assert_eq!(e.key(), "routes[0]");
        let e = err(&two("path = \"/a/../b\"", "path = \"/b\""));
        assert_eq!(e.key(), "routes[0].path");
        let e = err(&two("path = \"/a\"\nscopes = [\"a b\"]", "path = \"/b\""));
        assert_eq!(e.key(), "routes[0].scopes");
        let e = err(&BASE.replace(
            "[[routes]]\n        prefix = \"/\"\n        scopes = [\"read\"]\n",
            "",
        ));
        assert_eq!(e.key(), "routes");
    }

    #[test]
    fn routes_are_ordered_most_specific_first() {
        let text = BASE.replace(
            "[[routes]]\n        prefix = \"/\"\n        scopes = [\"read\"]\n",
            "[[routes]]\nprefix = \"/\"\n[[routes]]\nprefix = \"/a\"\n[[routes]]\npath = \"/a\"\npublic = true\n[[routes]]\nprefix = \"/a/b\"\n",
        );
        let c = parse(&text, []).unwrap();
        let names: Vec<String> = c.routes.describe().into_iter().map(|r| r.0).collect();
        assert_eq!(names, ["routes[2]", "routes[3]", "routes[1]", "routes[0]"]);
        assert_eq!(c.routes.select("GET", "/a/x").unwrap().name(), "routes[1]");
        assert_eq!(c.routes.select("GET", "/ab").unwrap().name(), "routes[0]");
        assert_eq!(c.routes.select("GET", "/a").unwrap().name(), "routes[2]");
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
        let upstream = c.upstream.as_ref().unwrap();
        assert_eq!(upstream.authority, "127.0.0.1:4000");
        assert_eq!(upstream.base_path, "/base");
        assert_eq!(upstream.timeout, Duration::from_secs(7));
        assert_eq!(c.listen.port(), 1234);
        assert_eq!(c.forwarding.authorization, AuthorizationPolicy::Keep);
        assert_eq!(
            c.routes.select("GET", "/").unwrap().requirement(),
            Some(&oauth_filter::Requirement::all_of(["write"]))
        );
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
        assert_eq!(e.key(), "upstream.urll");
        assert!(e.reason().contains("OAUTH_FILTER__UPSTREAM__URLL"), "{e}");
        let e = parse(
            BASE,
            env(&[("OAUTH_FILTER__UPSTREAM__TIMEOUT_SECS", "soon")]),
        )
        .unwrap_err();
        assert_eq!(e.key(), "upstream.timeout_secs");
        assert!(
            e.reason().contains("OAUTH_FILTER__UPSTREAM__TIMEOUT_SECS"),
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
        assert_eq!(e.key(), "OAUTH_FILTER__ISSUERS__0__STRICT_RFC9068");
        let e = parse(BASE, env(&[("OAUTH_FILTER__ISSUERS__5__ISSUER", "x")])).unwrap_err();
        assert!(e.reason().contains("contiguous"), "{e}");
    }

    #[test]
    fn the_shared_redis_cache_is_configured_and_checked() {
        let opaque = |redis: &str| {
            format!(
                "[upstream]\nurl = \"http://127.0.0.1:3000\"\n[[routes]]\nprefix = \"/\"\n\
                 [introspection]\nendpoint = \"http://127.0.0.1:9400/i\"\nclient_id = \"c\"\n\
                 client_secret = \"s\"\n[introspection.redis]\n{redis}\n"
            )
        };
        parse(
            &opaque("url = \"redis://127.0.0.1:6379/\"\nintegrity_key = \"0123456789abcdef0123456789abcdef\"\ntimeout_ms = 50"),
            [],
        )
        .unwrap();
        for (redis, key) in [
            (
                "url = \"redis://127.0.0.1:6379/\"\nintegrity_key = \"short\"",
                "introspection.redis.integrity_key",
            ),
            (
                "url = \"redis://127.0.0.1:6379/\"\nintegrity_key = \"0123456789abcdef0123456789abcdef\"\ntimeout_ms = 0",
                "introspection.redis.timeout_ms",
            ),
            (
                "url = \"not a url\"\nintegrity_key = \"0123456789abcdef0123456789abcdef\"",
                "introspection.redis.url",
            ),
            (
                "url = \"redis://127.0.0.1:6379/\"",
                "introspection.redis.integrity_key",
            ),
        ] {
            assert_eq!(err(&opaque(redis)).key(), key, "{redis}");
        }
        // The integrity key from the environment, as secrets should come.
        parse(
            &opaque("url = \"redis://127.0.0.1:6379/\"\nintegrity_key = \"placeholder\""),
            [(
                String::from("OAUTH_FILTER__INTROSPECTION__REDIS__INTEGRITY_KEY"),
                String::from("0123456789abcdef0123456789abcdef"),
            )],
        )
        .unwrap();
    }

    #[test]
    fn forwarding_and_upstream_checks() {
        let e = err(&format!(
            "{BASE}\n[forwarding]\nsubject_header = \"authorization\"\n"
        ));
        assert_eq!(e.key(), "forwarding.subject_header");
        let e = err(&format!(
            "{BASE}\n[forwarding]\nscope_header = \"bad header\"\n"
        ));
        assert_eq!(e.key(), "forwarding.scope_header");
        let e = err(&format!(
            "{BASE}\n[forwarding]\nscope_header = \"x-auth-subject\"\n"
        ));
        assert_eq!(e.key(), "forwarding");
        let e = err(&BASE.replace("http://127.0.0.1:3000", "ftp://x"));
        assert!(e.reason().contains("ftp"), "{e}");
        let e = err(&BASE.replace(
            "url = \"http://127.0.0.1:3000\"",
            "url = \"https://x\"\nprotocol = \"h2c\"",
        ));
        assert_eq!(e.key(), "upstream.protocol");
        let e = err(&BASE.replace(
            "url = \"http://127.0.0.1:3000\"",
            "url = \"http://x\"\nprotocol = \"h3\"",
        ));
        assert_eq!(e.key(), "upstream.protocol");
        let e = err(&format!(
            "{BASE}\n[tls]\nca_file = \"/nonexistent/ca.pem\"\n"
        ));
        assert_eq!(e.key(), "tls.ca_file");
    }
}
