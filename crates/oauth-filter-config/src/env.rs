//! Environment overrides, applied to the parsed file before serde sees it.
//!
//! ```text
//! OAUTH_FILTER__INTROSPECTION__CLIENT_SECRET=s3cret   # introspection.client_secret (a string)
//! OAUTH_FILTER__ROUTES__0__SCOPES='["read"]'           # routes[0].scopes (read as TOML)
//! OAUTH_FILTER__ISSUERS__0__ISSUER=https://idp.example # defines issuers[0] if the file has none
//! ```
//!
//! The overlay is hand-written (about 60 lines) because the layered-configuration crates we
//! looked at (figment, config) cannot address array elements from the environment, and routes
//! and issuers are arrays.

use oauth_filter::ConfigError;

/// The prefix of environment overrides.
pub const ENV_PREFIX: &str = "OAUTH_FILTER__";

/// Applies one override; returns the key path it set (`routes[0].scopes`).
pub fn overlay(doc: &mut toml::Table, var: &str, value: &str) -> Result<String, ConfigError> {
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
