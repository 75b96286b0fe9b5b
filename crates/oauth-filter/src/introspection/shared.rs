//! A Redis cache shared by a fleet of instances (feature `redis`).
//!
//! ```no_run
//! use oauth_filter::{Introspection, RedisCache};
//! let introspection = Introspection::new("https://idp.example/introspect", "api", "secret")
//!     .redis(RedisCache::new("redis://127.0.0.1:6379/", b"32+ bytes shared by every instance.".to_vec()));
//! # let _ = introspection;
//! ```
//!
//! Instance A introspects a token and stores the authorization server's answer; instance B finds
//! it and answers without calling the server. What is stored is the raw answer, re-validated on
//! read exactly like a fresh one, with a Redis expiry no later than the token's `exp` (and the
//! revocation window).
//!
//! Nothing in Redis is trusted for what Redis itself can change. Each value carries, under an
//! HMAC-SHA-256 keyed with a secret every instance shares:
//! - its absolute not-after instant, `min(exp, stored + max_cache_ttl)`: an entry read after it is
//!   ignored, so an entry copied and SET back without an expiry (after the token was revoked)
//!   is never used past the revocation window;
//! - the Redis key, which is `prefix + hex(SHA-256(context, SHA-256(token)))`, where the context
//!   is the introspection endpoint (or the issuer it is discovered from) and our `client_id`:
//!   an answer can move neither to another token nor to a fleet with other credentials (RFC 7662
//!   §4 lets the authorization server answer per client), and two fleets never share keys.
//!
//! Write access to Redis alone therefore cannot mint an active token, move an answer, or prolong
//! one.
//!
//! Redis is an optimisation, never a dependency: when it is down, slow (each operation is bounded
//! by a short timeout) or returns something unverifiable, the instance carries on with its local
//! cache and the authorization server. It never fails open.

use crate::error::ConfigError;
use crate::jose::{base64url, json};
use crate::jwt::Secret;
use crate::redis_conn::RedisConnection;
use aws_lc_rs::hmac;
use serde_json::{Map, Value};
use std::time::Duration;

/// Settings for the shared Redis cache.
#[derive(Clone)]
pub struct RedisCache {
    url: String,
    integrity_key: Secret,
    prefix: String,
    timeout: Duration,
}

impl std::fmt::Debug for RedisCache {
    /// The URL without its userinfo: a `redis://user:password@host` URL carries a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCache")
            .field("url", &redacted_url(&self.url))
            .field("integrity_key", &self.integrity_key)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// `url` with any username and password replaced by `<redacted>`.
pub(crate) fn redacted_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if !u.username().is_empty() || u.password().is_some() {
                let _ = u.set_username("<redacted>");
                let _ = u.set_password(None);
            }
            u.to_string()
        }
        Err(_) => String::from("<unparsable URL>"),
    }
}

impl RedisCache {
    /// Redis at `url` (`redis://host:port/db`), values authenticated with `integrity_key`
    /// (at least 32 bytes, the same on every instance).
    pub fn new(url: impl Into<String>, integrity_key: impl Into<Vec<u8>>) -> Self {
        Self {
            url: url.into(),
            integrity_key: Secret(integrity_key.into()),
            prefix: String::from("oauth-filter:introspection:"),
            timeout: Duration::from_millis(100),
        }
    }
    /// Key prefix (default `oauth-filter:introspection:`).
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }
    /// Time allowed for each Redis operation (default 100 ms).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// `context` names where answers come from (endpoint and client id); see the module docs.
    pub(crate) fn build(self, context: &str) -> Result<SharedCache, ConfigError> {
        let client = redis::Client::open(self.url.as_str())
            .map_err(|e| ConfigError::new("introspection.redis.url", e.to_string()))?;
        if self.integrity_key.0.len() < 32 {
            return Err(ConfigError::new(
                "introspection.redis.integrity_key",
                "must be at least 32 bytes",
            ));
        }
        Ok(SharedCache {
            key: hmac::Key::new(hmac::HMAC_SHA256, &self.integrity_key.0),
            prefix: self.prefix,
            context: context.to_owned(),
            timeout: self.timeout,
            conn: RedisConnection::new(client, self.timeout),
        })
    }
}

pub(crate) struct SharedCache {
    key: hmac::Key,
    prefix: String,
    context: String,
    timeout: Duration,
    conn: RedisConnection,
}

const INACTIVE: &[u8] = b"inactive";

/// The value format's version tag; MACs cover it, so no older format is ever misread.
const FORMAT: &str = "v2";

impl SharedCache {
    fn redis_key(&self, hash: &[u8; 32]) -> String {
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        ctx.update(self.context.as_bytes());
        ctx.update(&[0]);
        ctx.update(hash);
        let mut k = self.prefix.clone();
        for b in ctx.finish().as_ref() {
            k.push_str(&format!("{b:02x}"));
        }
        k
    }

    /// The MAC over everything a value asserts: format, context, key, not-after and body.
    fn tag(&self, redis_key: &str, not_after_ms: u64, body: &[u8]) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.key);
        for part in [
            FORMAT.as_bytes(),
            self.context.as_bytes(),
            redis_key.as_bytes(),
            not_after_ms.to_string().as_bytes(),
        ] {
            ctx.update(part);
            ctx.update(&[0]);
        }
        ctx.update(body);
        ctx.sign()
    }

    /// `v2.<tag>.<not-after ms>.<body>`, or `None` if it is not that or fails its MAC.
    fn open(&self, redis_key: &str, value: &[u8]) -> Option<(u64, Vec<u8>)> {
        let mut parts = value.splitn(4, |b| *b == b'.');
        let (Some(format), Some(tag), Some(not_after), Some(body)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        if format != FORMAT.as_bytes() {
            return None;
        }
        let tag = base64url::decode(std::str::from_utf8(tag).ok()?).ok()?;
        let not_after_ms: u64 = std::str::from_utf8(not_after).ok()?.parse().ok()?;
        let expected = self.tag(redis_key, not_after_ms, body);
        // Constant-time comparison through aws-lc-rs.
        aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_ref(), &tag).ok()?;
        Some((not_after_ms, body.to_vec()))
    }

    /// The stored answer: `Some(Some(doc))` active or not, `Some(None)` a 204-style inactive
    /// marker; `None` for a miss, an unavailable Redis, a value that fails its HMAC, or one past
    /// its authenticated not-after at `now` (seconds since the epoch).
    pub(crate) async fn get(
        &self,
        hash: &[u8; 32],
        now: f64,
    ) -> Option<Option<Map<String, Value>>> {
        let mut conn = self.conn.get("shared cache").await?;
        let key = self.redis_key(hash);
        let value: Option<Vec<u8>> = match tokio::time::timeout(
            self.timeout,
            redis::cmd("GET").arg(&key).query_async(&mut conn),
        )
        .await
        {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "shared cache read failed");
                return None;
            }
            Err(_) => {
                tracing::warn!("shared cache read timed out");
                return None;
            }
        };
        let Some((not_after_ms, body)) = self.open(&key, &value?) else {
            tracing::warn!("shared cache entry failed its integrity check; ignored");
            return None;
        };
        if millis(now) >= not_after_ms {
            // Redis should have dropped it: someone replayed or prolonged it.
            tracing::warn!("shared cache entry is past its authenticated not-after; ignored");
            return None;
        }
        if body == INACTIVE {
            return Some(None);
        }
        json::parse_object(&body).ok().map(Some)
    }

    /// Stores an answer obtained at `now` for `ttl` (nothing when `ttl` is zero); the entry is
    /// unusable from `now + ttl` whatever Redis does with its expiry. Failures are logged and
    /// ignored.
    pub(crate) async fn put(
        &self,
        hash: &[u8; 32],
        answer: Option<&Map<String, Value>>,
        now: f64,
        ttl: Duration,
    ) {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        if ttl_ms == 0 {
            return;
        }
        let not_after_ms = millis(now).saturating_add(ttl_ms);
        let Some(mut conn) = self.conn.get("shared cache").await else {
            return;
        };
        let key = self.redis_key(hash);
        let body = match answer {
            Some(doc) => Value::Object(doc.clone()).to_string().into_bytes(),
            None => INACTIVE.to_vec(),
        };
        let tag = base64url::encode(self.tag(&key, not_after_ms, &body).as_ref());
        let mut value = format!("{FORMAT}.{tag}.{not_after_ms}.").into_bytes();
        value.extend_from_slice(&body);
        let mut cmd = redis::cmd("SET");
        cmd.arg(&key).arg(value).arg("PX").arg(ttl_ms);
        match tokio::time::timeout(self.timeout, cmd.query_async::<()>(&mut conn)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "shared cache write failed"),
            Err(_) => tracing::warn!("shared cache write timed out"),
        }
    }
}

/// Seconds since the epoch as whole milliseconds (0 for a clock before 1970).
fn millis(secs: f64) -> u64 {
    if secs.is_finite() && secs > 0.0 {
        // Saturating float-to-int conversion: `as` never panics and clamps at u64::MAX.
        (secs * 1000.0) as u64
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_url_password() {
        let c = RedisCache::new("redis://admin:hunter2@cache.internal:6379/0", vec![7; 32]);
        let text = format!("{c:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains("admin"), "{text}");
        assert!(text.contains("cache.internal"), "{text}");
        let bare = RedisCache::new("redis://:hunter2@cache.internal/", vec![7; 32]);
        assert!(!format!("{bare:?}").contains("hunter2"));
    }
}
