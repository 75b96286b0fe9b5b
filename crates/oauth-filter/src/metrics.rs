//! Counters the filter reports through the [`metrics`](https://docs.rs/metrics) facade.
//!
//! ```
//! // With no recorder installed (the default) every counter is a no-op. Install any
//! // `metrics` recorder, e.g. `metrics-exporter-prometheus`, to collect them:
//! assert_eq!(oauth_filter::metrics::JWKS_FETCHES, "oauth_filter_jwks_fetches_total");
//! ```
//!
//! | name | labels | counts |
//! |---|---|---|
//! | [`JWKS_FETCHES`] | `outcome` = `ok` / `error` | key-set fetches (after discovery) |
//! | [`INTROSPECTION_CALLS`] | `outcome` = `active` / `inactive` / `error` | calls to the introspection endpoint |
//! | [`CACHE_LOOKUPS`] | `cache` = `jwt` / `introspection`, `result` = `hit` / `miss` | cache lookups |
//!
//! Labels are fixed strings: no token, subject or other caller-controlled value ever becomes a
//! label, so cardinality stays bounded.

/// Counter: JWKS fetches by outcome.
pub const JWKS_FETCHES: &str = "oauth_filter_jwks_fetches_total";
/// Counter: introspection calls by outcome.
pub const INTROSPECTION_CALLS: &str = "oauth_filter_introspection_calls_total";
/// Counter: cache lookups by cache and result.
pub const CACHE_LOOKUPS: &str = "oauth_filter_cache_lookups_total";

#[derive(Clone, Copy)]
pub(crate) enum Cache {
    Jwt,
    Introspection,
}

pub(crate) fn jwks_fetch(ok: bool) {
    let outcome = if ok { "ok" } else { "error" };
    metrics::counter!(JWKS_FETCHES, "outcome" => outcome).increment(1);
}

pub(crate) fn introspection_call(outcome: &'static str) {
    metrics::counter!(INTROSPECTION_CALLS, "outcome" => outcome).increment(1);
}

pub(crate) fn cache(cache: Cache, hit: bool) {
    let cache = match cache {
        Cache::Jwt => "jwt",
        Cache::Introspection => "introspection",
    };
    let result = if hit { "hit" } else { "miss" };
    metrics::counter!(CACHE_LOOKUPS, "cache" => cache, "result" => result).increment(1);
}
