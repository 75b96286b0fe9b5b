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
//! read exactly like a fresh one, under `prefix + hex(SHA-256(token))` with a Redis expiry no later
//! than the token's `exp` (and the revocation window). Values carry an HMAC-SHA-256 over the key
//! and the answer, keyed with a secret every instance shares, so write access to Redis alone
//! cannot mint an active token or move an answer to another token.
//!
//! Redis is an optimisation, never a dependency: when it is down, slow (each operation is bounded
//! by a short timeout) or returns something unverifiable, the instance carries on with its local
//! cache and the authorization server. It never fails open.

use crate::error::ConfigError;
use crate::jose::{base64url, json};
use crate::jwt::Secret;
use aws_lc_rs::hmac;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde_json::{Map, Value};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Settings for the shared Redis cache.
#[derive(Debug, Clone)]
pub struct RedisCache {
    url: String,
    integrity_key: Secret,
    prefix: String,
    timeout: Duration,
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

    pub(crate) fn build(self) -> Result<SharedCache, ConfigError> {
        let client = redis::Client::open(self.url.as_str())
            .map_err(|e| ConfigError::new("introspection.redis.url", e.to_string()))?;
        if self.integrity_key.0.len() < 32 {
            return Err(ConfigError::new(
                "introspection.redis.integrity_key",
                "must be at least 32 bytes",
            ));
        }
        Ok(SharedCache {
            client,
            key: hmac::Key::new(hmac::HMAC_SHA256, &self.integrity_key.0),
            prefix: self.prefix,
            timeout: self.timeout,
            conn: tokio::sync::Mutex::new(None),
            retry_after: Mutex::new(None),
        })
    }
}

pub(crate) struct SharedCache {
    client: redis::Client,
    key: hmac::Key,
    prefix: String,
    timeout: Duration,
    conn: tokio::sync::Mutex<Option<ConnectionManager>>,
    retry_after: Mutex<Option<Instant>>,
}

const INACTIVE: &[u8] = b"inactive";

impl SharedCache {
    fn redis_key(&self, hash: &[u8; 32]) -> String {
        let mut k = self.prefix.clone();
        for b in hash {
            k.push_str(&format!("{b:02x}"));
        }
        k
    }

    fn tag(&self, redis_key: &str, body: &[u8]) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(redis_key.as_bytes());
        ctx.update(&[0]);
        ctx.update(body);
        ctx.sign()
    }

    async fn connection(&self) -> Option<ConnectionManager> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            return Some(c.clone());
        }
        let now = Instant::now();
        if self
            .retry_after
            .lock()
            .ok()
            .and_then(|r| *r)
            .is_some_and(|t| now < t)
        {
            return None;
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1);
        match tokio::time::timeout(
            self.timeout * 2,
            ConnectionManager::new_with_config(self.client.clone(), config),
        )
        .await
        {
            Ok(Ok(c)) => {
                *slot = Some(c.clone());
                Some(c)
            }
            outcome => {
                let reason = match outcome {
                    Ok(Err(e)) => e.to_string(),
                    _ => String::from("timed out"),
                };
                tracing::warn!(error = %reason, "shared cache unavailable; using the authorization server");
                if let Ok(mut r) = self.retry_after.lock() {
                    *r = Some(now + Duration::from_secs(1));
                }
                None
            }
        }
    }

    /// The stored answer: `Some(Some(doc))` active or not, `Some(None)` a 204-style inactive
    /// marker; `None` for a miss, an unavailable Redis or a value that fails its HMAC.
    pub(crate) async fn get(&self, hash: &[u8; 32]) -> Option<Option<Map<String, Value>>> {
        let mut conn = self.connection().await?;
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
        let value = value?;
        let dot = value.iter().position(|b| *b == b'.')?;
        let (tag, body) = (value.get(..dot)?, value.get(dot + 1..)?);
        let tag = base64url::decode(std::str::from_utf8(tag).ok()?).ok()?;
        let mut ctx_body = Vec::with_capacity(key.len() + 1 + body.len());
        ctx_body.extend_from_slice(key.as_bytes());
        ctx_body.push(0);
        ctx_body.extend_from_slice(body);
        if hmac::verify(&self.key, &ctx_body, &tag).is_err() {
            tracing::warn!("shared cache entry failed its integrity check; ignored");
            return None;
        }
        if body == INACTIVE {
            return Some(None);
        }
        json::parse_object(body).ok().map(Some)
    }

    /// Stores an answer for `ttl` (nothing when `ttl` is zero). Failures are logged and ignored.
    pub(crate) async fn put(
        &self,
        hash: &[u8; 32],
        answer: Option<&Map<String, Value>>,
        ttl: Duration,
    ) {
        let millis = ttl.as_millis().min(u128::from(u64::MAX)) as u64;
        if millis == 0 {
            return;
        }
        let Some(mut conn) = self.connection().await else {
            return;
        };
        let key = self.redis_key(hash);
        let body = match answer {
            Some(doc) => Value::Object(doc.clone()).to_string().into_bytes(),
            None => INACTIVE.to_vec(),
        };
        let mut value = base64url::encode(self.tag(&key, &body).as_ref()).into_bytes();
        value.push(b'.');
        value.extend_from_slice(&body);
        let mut cmd = redis::cmd("SET");
        cmd.arg(&key).arg(value).arg("PX").arg(millis);
        match tokio::time::timeout(self.timeout, cmd.query_async::<()>(&mut conn)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "shared cache write failed"),
            Err(_) => tracing::warn!("shared cache write timed out"),
        }
    }
}
