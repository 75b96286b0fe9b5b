//! Memory under a flood of distinct valid tokens (`scripts/bench-memory.sh`): verifies `N`
//! distinct EdDSA tokens through a filter whose verified-token cache holds `CACHE` entries, and
//! prints the process RSS every `N / 10` tokens. The cache bound is what keeps RSS flat.
//!
//! ```text
//! N=1000000 CACHE=10000 cargo run --release -p oauth-filter --example memory_flood
//! ```

use oauth_filter::{JwtIssuer, OAuthFilter};
use oauth_filter_testkit::{SigningAlg, TestIssuer};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u64 = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let cache: u64 = std::env::var("CACHE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let issuer = TestIssuer::builder()
        .algorithms(&[SigningAlg::EdDSA])
        .try_start()
        .await?;
    let filter = OAuthFilter::builder()
        .verified_token_cache(cache)
        .jwt_issuer(
            JwtIssuer::new(issuer.issuer())
                .audience("api")
                .jwks_json(issuer.jwks().to_string()),
        )
        .build()?;
    let sample = issuer
        .mint()
        .scope("read profile")
        .expires_in_secs(3600)
        .sign();
    println!("token size {} bytes, cache capacity {cache}", sample.len());
    println!("tokens,rss_kib");
    println!("0,{}", rss_kib());
    let step = (n / 10).max(1);
    for i in 1..=n {
        let token = issuer
            .mint()
            .scope("read profile")
            .subject(&format!("user-{i}"))
            .expires_in_secs(3600)
            .sign();
        if filter.verify(&token).await.is_err() {
            return Err(format!("token {i} was refused").into());
        }
        if i % step == 0 {
            println!("{i},{}", rss_kib());
        }
    }
    Ok(())
}
