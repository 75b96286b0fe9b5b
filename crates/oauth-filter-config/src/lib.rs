//! # oauth-filter-config
//!
//! The configuration vocabulary of oauth-filter, one for the gateway and for the Python
//! extension: `issuers`, `introspection` (with `introspection.redis`), `routes`, `tls`,
//! `realm`, `leeway`, `max_token_len`, `jwt_cache_capacity`, `dpop`, read from TOML (or any serde
//! format), overridden from the environment, checked with errors that name the key as the
//! file spells it.
//!
//! ```
//! use oauth_filter_config::{parse_toml, RawFilter};
//! let text = r#"
//!     [[issuers]]
//!     issuer = "https://idp.example"
//!     audience = "api"
//!     jwks_url = "https://idp.example/jwks"
//!
//!     [[routes]]
//!     prefix = "/"
//!     scopes = ["read"]
//! "#;
//! let doc = parse_toml(text, [])?;
//! let raw: RawFilter = doc.deserialize()?;
//! let config = raw.validate()?;
//! assert!(config.routes.is_some());
//! let filter = config.build()?;
//! # let _ = filter;
//! # Ok::<(), oauth_filter::ConfigError>(())
//! ```
//!
//! The concerns live apart: `raw` (the serde types), `env` (the environment overlay),
//! `validate` (every check, and the core's types made from the result), this file (reading
//! a document and naming the keys in its errors).

mod env;
mod raw;
mod validate;

pub use env::{ENV_PREFIX, overlay};
pub use oauth_filter::ConfigError;
pub use raw::{
    AuthMethod, IfUnavailable, RawClaimTest, RawDpop, RawDpopRedis, RawFilter, RawIntrospection,
    RawIssuer, RawMcp, RawRedis, RawResourceMetadata, RawRoute, RawTls, RawTool,
};
pub use validate::{ClientIdentity, DEFAULT_MCP_MAX_BODY, FilterConfig, McpTools, RouteOptions};

use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

/// The 0.1 spellings of renamed keys, and their names now.
pub const OLD_SPELLINGS: [(&str, &str); 5] = [
    ("max_token_bytes", "max_token_len"),
    ("leeway_secs", "leeway"),
    ("phantom_token", "jwt_response"),
    ("max_cache_ttl_secs", "max_cache_ttl"),
    ("inactive_cache_ttl_secs", "inactive_cache_ttl"),
];

/// The keys of a gateway file that are the gateway's alone (the proxy and its server), and
/// `authz` (the external-authorization service's).
pub const GATEWAY_KEYS: [&str; 10] = [
    "listen",
    "authz",
    "cors",
    "admin_listen",
    "upstream",
    "forwarding",
    "server",
    "log",
    "shutdown_grace_secs",
    "workers",
];

/// `configuration error: key: reason`, as configuration errors are printed.
pub fn describe(e: &ConfigError) -> String {
    if e.key().is_empty() {
        format!("configuration error: {}", e.reason())
    } else {
        format!("configuration error: {}: {}", e.key(), e.reason())
    }
}

/// A configuration document: a table, the environment variables that set its keys, and the
/// renamed keys it spells the old way.
#[derive(Debug, Clone)]
pub struct Document {
    table: toml::Table,
    from_env: BTreeMap<String, String>,
    old_spellings: Vec<(String, String)>,
}

/// Parses TOML text and applies the `OAUTH_FILTER__…` overrides among `vars` (the process
/// environment in production, a fixed list in tests).
pub fn parse_toml(
    text: &str,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Document, ConfigError> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::new("", format!("not valid TOML: {e}")))?;
    Document::new(table, vars)
}

impl Document {
    /// A document from a table (a TOML file, or a mapping converted to one), with the
    /// `OAUTH_FILTER__…` overrides among `vars` applied.
    pub fn new(
        mut table: toml::Table,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut from_env = BTreeMap::new();
        let mut vars: Vec<(String, String)> = vars
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .collect();
        vars.sort();
        for (name, value) in vars {
            let key = overlay(&mut table, &name, &value)?;
            from_env.insert(key, name);
        }
        let old_spellings = old_spellings(&table);
        Ok(Self {
            table,
            from_env,
            old_spellings,
        })
    }

    /// Removes the top-level keys in `names` into a document of their own (the gateway's keys,
    /// which the filter's types do not know).
    pub fn split_off(&mut self, names: &[&str]) -> Self {
        let mut table = toml::Table::new();
        for name in names {
            if let Some(v) = self.table.remove(*name) {
                table.insert((*name).to_owned(), v);
            }
        }
        Self {
            table,
            from_env: self.from_env.clone(),
            old_spellings: Vec::new(),
        }
    }

    /// The top-level key names.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.table.keys().map(String::as_str)
    }

    /// The document as `T`; errors name the key as written, and the variable that set it.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        serde_path_to_error::deserialize(toml::Value::Table(self.table.clone()))
            .map_err(|e| self.serde_error(&e))
    }

    /// Renamed keys this document spells the old way: (new, old) key paths.
    pub fn old_spellings(&self) -> &[(String, String)] {
        &self.old_spellings
    }

    /// A validation error named as the document spells the key (old spellings included).
    pub fn name(&self, e: ConfigError) -> ConfigError {
        match self
            .old_spellings
            .iter()
            .find(|(new, _)| new.as_str() == e.key())
        {
            Some((_, old)) => ConfigError::new(old.clone(), e.reason()),
            None => e,
        }
    }

    /// A serde error as a configuration error: the key as written (a missing field named at
    /// itself, not its parent), and the environment variable that set it, if one did.
    fn serde_error(&self, e: &serde_path_to_error::Error<toml::de::Error>) -> ConfigError {
        let key = e.path().to_string();
        let mut key = if key == "." { String::new() } else { key };
        let mut reason = e
            .inner()
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
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
                field.clone()
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
        if let Some((_, var)) = self
            .from_env
            .iter()
            .find(|(k, _)| key.starts_with(k.as_str()) || k.starts_with(&key))
        {
            reason.push_str(&format!(" (set by {var})"));
        }
        ConfigError::new(key, reason)
    }
}

/// The old spellings in the table (they still work, for one release): (new, old) key paths,
/// so that errors name the key as the file spells it. Each is warned about.
fn old_spellings(doc: &toml::Table) -> Vec<(String, String)> {
    let tables = [
        ("", Some(doc)),
        (
            "introspection.",
            doc.get("introspection").and_then(toml::Value::as_table),
        ),
    ];
    let mut used = Vec::new();
    for (prefix, table) in tables {
        let Some(table) = table else { continue };
        for (old, new) in OLD_SPELLINGS {
            if table.contains_key(old) {
                tracing::warn!(
                    old,
                    new,
                    "a renamed configuration key is used; it will be refused in the next release"
                );
                used.push((format!("{prefix}{new}"), format!("{prefix}{old}")));
            }
        }
    }
    used
}
