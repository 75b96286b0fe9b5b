//! The filter's clock: every time check (`exp`, `nbf`, `iat`, token and authentication age,
//! cache hits) reads it, and nothing else does.
//!
//! ```
//! use oauth_filter::{Clock, OAuthFilter, JwtIssuer};
//! use std::sync::Arc;
//! use std::time::{Duration, SystemTime, UNIX_EPOCH};
//!
//! /// A clock stopped at one instant, for tests.
//! #[derive(Debug)]
//! struct Fixed(SystemTime);
//! impl Clock for Fixed {
//!     fn now(&self) -> SystemTime { self.0 }
//! }
//!
//! let filter = OAuthFilter::builder()
//!     .jwt_issuer(JwtIssuer::new("https://idp.example").audience("api").jwks_url("https://idp.example/jwks"))
//!     .clock(Arc::new(Fixed(UNIX_EPOCH + Duration::from_secs(1_700_000_000))))
//!     .build()?;
//! # let _ = filter;
//! # Ok::<(), oauth_filter::ConfigError>(())
//! ```

use std::fmt::Debug;
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current time. The default is [`SystemClock`]; inject another with
/// [`crate::OAuthFilterBuilder::clock`] (tests, simulations).
pub trait Clock: Debug + Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The operating system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// Seconds since the Unix epoch, as JWT NumericDates count them (0 before the epoch).
pub(crate) fn unix_seconds(clock: &dyn Clock) -> f64 {
    clock
        .now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
