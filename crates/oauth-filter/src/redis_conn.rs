//! One Redis connection shared by a filter's Redis users (the introspection cache, the DPoP
//! replay store; feature `redis`), made on first use, with a short pause after a failed attempt
//! so that an unreachable Redis costs one timeout a second, not one per request.
//!
//! ```text
//! let conn = RedisConnection::new(client, Duration::from_millis(100));
//! let Some(mut c) = conn.get("shared cache").await else { /* unavailable */ };
//! ```

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A lazily made, reconnecting connection with a per-operation timeout.
pub(crate) struct RedisConnection {
    client: redis::Client,
    pub(crate) timeout: Duration,
    conn: tokio::sync::Mutex<Option<ConnectionManager>>,
    retry_after: Mutex<Option<Instant>>,
}

impl RedisConnection {
    pub(crate) fn new(client: redis::Client, timeout: Duration) -> Self {
        Self {
            client,
            timeout,
            conn: tokio::sync::Mutex::new(None),
            retry_after: Mutex::new(None),
        }
    }

    /// The connection, or `None` while Redis cannot be reached (logged as `what`).
    pub(crate) async fn get(&self, what: &'static str) -> Option<ConnectionManager> {
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
                tracing::warn!(error = %reason, "{what} unavailable");
                if let Ok(mut r) = self.retry_after.lock() {
                    *r = Some(now + Duration::from_secs(1));
                }
                None
            }
        }
    }
}
