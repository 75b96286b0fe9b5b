//! The shared introspection cache against a real Redis server (Debian's `redis-server`), which
//! this test starts on a free loopback port and stops at the end. Needs the `redis` feature.

#![cfg(feature = "redis")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use oauth_filter::{AuthError, Introspection, OAuthFilter, RedisCache};
use oauth_filter_testkit::{INTROSPECTION_CLIENT_ID, INTROSPECTION_CLIENT_SECRET, TestIssuer};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    async fn start() -> Self {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "redis-server must be installed (scripts/test.sh installs Debian's redis-server)",
            );
        // Owned from here on: Drop kills and reaps it whatever happens.
        let server = Self { child, port };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server did not start");
    }
    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
    async fn client(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

const KEY: &[u8] = b"integrity key shared by every instance of the fleet";

fn instance(issuer: &TestIssuer, redis_url: &str, key: &[u8]) -> OAuthFilter {
    instance_with(
        issuer,
        redis_url,
        key,
        INTROSPECTION_CLIENT_ID,
        Duration::from_secs(30),
    )
}

fn instance_with(
    issuer: &TestIssuer,
    redis_url: &str,
    key: &[u8],
    client_id: &str,
    window: Duration,
) -> OAuthFilter {
    OAuthFilter::builder()
        .introspection(
            Introspection::new(
                issuer.introspection_url(),
                client_id,
                INTROSPECTION_CLIENT_SECRET,
            )
            .max_cache_ttl(window)
            .redis(RedisCache::new(redis_url, key.to_vec()).timeout(Duration::from_millis(200))),
        )
        .build()
        .unwrap()
}

async fn get_raw(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> Option<Vec<u8>> {
    redis::cmd("GET").arg(key).query_async(conn).await.unwrap()
}

async fn set_raw(conn: &mut redis::aio::MultiplexedConnection, key: &str, value: &[u8]) {
    let _: () = redis::cmd("SET")
        .arg(key)
        .arg(value)
        .query_async(conn)
        .await
        .unwrap();
}

async fn keys(conn: &mut redis::aio::MultiplexedConnection) -> Vec<String> {
    redis::cmd("KEYS")
        .arg("oauth-filter:introspection:*")
        .query_async(conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn instances_share_answers_through_redis() {
    let redis = RedisServer::start().await;
    let issuer = TestIssuer::start().await;
    let a = instance(&issuer, &redis.url(), KEY);
    let b = instance(&issuer, &redis.url(), KEY);
    let token = issuer.opaque().scope("read").expires_in_secs(120).issue();

    assert!(a.verify(&token).await.is_ok());
    assert_eq!(issuer.introspection_requests(), 1);
    let t = b.verify(&token).await.unwrap();
    assert!(t.scopes().contains("read"));
    assert_eq!(
        issuer.introspection_requests(),
        1,
        "instance B answered from Redis"
    );

    // Keys are token hashes, never tokens; the expiry is no later than the token's.
    let mut conn = redis.client().await;
    let stored = keys(&mut conn).await;
    assert_eq!(stored.len(), 1);
    assert!(
        !stored[0].contains(&token) && stored[0].len() == "oauth-filter:introspection:".len() + 64
    );
    let value = get_raw(&mut conn, &stored[0]).await.unwrap();
    assert!(!String::from_utf8_lossy(&value).contains(&token));
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&stored[0])
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(pttl > 0 && pttl <= 30_000, "pttl {pttl}");

    // Inactive answers are shared too (briefly).
    assert_eq!(
        a.verify("unknown-token").await.unwrap_err(),
        AuthError::InactiveToken
    );
    assert_eq!(
        b.verify("unknown-token").await.unwrap_err(),
        AuthError::InactiveToken
    );
    assert_eq!(issuer.introspection_requests(), 2);
}

#[tokio::test]
async fn tampered_or_foreign_entries_are_ignored() {
    let redis = RedisServer::start().await;
    let issuer = TestIssuer::start().await;
    let a = instance(&issuer, &redis.url(), KEY);
    let token = issuer.opaque().issue();
    assert!(a.verify(&token).await.is_ok());
    let mut conn = redis.client().await;
    let key = keys(&mut conn).await.remove(0);

    // An attacker with write access to Redis turns a revoked token active: the HMAC fails,
    // with a tag of the full HMAC-SHA-256 length in the real value format, and with the real
    // tag over another body.
    issuer.revoke(&token);
    let genuine = get_raw(&mut conn, &key).await.unwrap();
    let genuine_text = String::from_utf8(genuine.clone()).unwrap();
    let mut parts = genuine_text.splitn(4, '.');
    let (format, tag, not_after) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    assert_eq!((format, tag.len()), ("v2", 43), "{genuine_text}");
    let admin = serde_json::json!({"active": true, "scope": "admin"});
    let zero_tag = "A".repeat(43);
    for forged in [
        format!("v2.{zero_tag}.{not_after}.{admin}"),
        format!("v2.{tag}.{not_after}.{admin}"),
        format!("v2.{tag}.{}.{admin}", u64::MAX),
    ] {
        set_raw(&mut conn, &key, forged.as_bytes()).await;
        let b = instance(&issuer, &redis.url(), KEY);
        assert_eq!(
            b.verify(&token).await.unwrap_err(),
            AuthError::InactiveToken,
            "{forged}"
        );
    }

    // A genuine entry moved under another token's key is refused too.
    let victim = issuer.opaque().issue();
    issuer.revoke(&victim);
    let probe = instance(&issuer, &redis.url(), KEY);
    assert_eq!(
        probe.verify(&victim).await.unwrap_err(),
        AuthError::InactiveToken
    );
    let victim_key = keys(&mut conn)
        .await
        .into_iter()
        .find(|k| *k != key)
        .expect("the inactive answer was stored");
    set_raw(&mut conn, &victim_key, &genuine).await;
    let b = instance(&issuer, &redis.url(), KEY);
    assert_eq!(
        b.verify(&victim).await.unwrap_err(),
        AuthError::InactiveToken
    );

    // Another fleet's integrity key: the other fleet did write an entry, and it is not trusted
    // here.
    let other = TestIssuer::start().await;
    let token2 = other.opaque().issue();
    let c = instance(
        &other,
        &redis.url(),
        b"a different integrity key, 32+ bytes long",
    );
    let before = keys(&mut conn).await.len();
    assert!(c.verify(&token2).await.is_ok());
    assert_eq!(
        keys(&mut conn).await.len(),
        before + 1,
        "fleet C stored nothing"
    );
    other.revoke(&token2);
    let d = instance(&other, &redis.url(), KEY);
    assert_eq!(
        d.verify(&token2).await.unwrap_err(),
        AuthError::InactiveToken
    );
    assert_eq!(
        other.introspection_requests(),
        2,
        "fleet D asked the server"
    );
}

/// Finding 1: an entry copied before revocation and SET back without an expiry is refused
/// after its authenticated not-after (it was accepted forever before).
#[tokio::test]
async fn a_replayed_entry_is_refused_after_its_not_after() {
    let redis = RedisServer::start().await;
    let issuer = TestIssuer::start().await;
    let window = Duration::from_secs(1);
    let a = instance_with(&issuer, &redis.url(), KEY, INTROSPECTION_CLIENT_ID, window);
    let token = issuer.opaque().scope("read").expires_in_secs(3600).issue();
    assert!(a.verify(&token).await.is_ok());
    let mut conn = redis.client().await;
    let key = keys(&mut conn).await.remove(0);
    let copy = get_raw(&mut conn, &key).await.unwrap();
    issuer.revoke(&token);
    // Wait for the condition, not for a time: Redis has dropped the entry (its PX passed).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while get_raw(&mut conn, &key).await.is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "the entry never expired"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    set_raw(&mut conn, &key, &copy).await;
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(pttl, -1, "the replayed entry has no expiry in Redis");
    let before = issuer.introspection_requests();
    let fresh = instance_with(&issuer, &redis.url(), KEY, INTROSPECTION_CLIENT_ID, window);
    assert_eq!(
        fresh.verify(&token).await.unwrap_err(),
        AuthError::InactiveToken
    );
    assert_eq!(issuer.introspection_requests(), before + 1);
}

/// Finding 1: two fleets with other credentials on one Redis never share answers (RFC 7662 §4
/// lets the authorization server answer per client).
#[tokio::test]
async fn fleets_with_other_client_ids_do_not_share_answers() {
    let redis = RedisServer::start().await;
    let issuer = TestIssuer::start().await;
    let ours = instance(&issuer, &redis.url(), KEY);
    let token = issuer.opaque().scope("read").issue();
    assert!(ours.verify(&token).await.is_ok());
    // Same Redis, same integrity key, another client id (which this AS does not accept): it
    // must ask the AS itself, which refuses its credentials.
    let theirs = instance_with(
        &issuer,
        &redis.url(),
        KEY,
        "another-resource-server",
        Duration::from_secs(30),
    );
    assert_eq!(
        theirs.verify(&token).await.unwrap_err(),
        AuthError::IntrospectionUnavailable
    );
    assert_eq!(issuer.introspection_requests(), 2);
}

#[tokio::test]
async fn redis_down_falls_back_and_never_fails_open() {
    let mut redis = RedisServer::start().await;
    let issuer = TestIssuer::start().await;
    let url = redis.url();
    let a = instance(&issuer, &url, KEY);
    let good = issuer.opaque().issue();
    assert!(a.verify(&good).await.is_ok());
    redis.stop();

    // A fresh instance with Redis gone: the authorization server answers.
    let b = instance(&issuer, &url, KEY);
    let before = issuer.introspection_requests();
    assert!(b.verify(&good).await.is_ok());
    assert_eq!(issuer.introspection_requests(), before + 1);
    let revoked = issuer.opaque().issue();
    issuer.revoke(&revoked);
    assert_eq!(
        b.verify(&revoked).await.unwrap_err(),
        AuthError::InactiveToken
    );
    // And an instance that had a connection keeps serving too.
    let fresh = issuer.opaque().issue();
    assert!(a.verify(&fresh).await.is_ok());
}

#[tokio::test]
async fn redis_configuration_errors() {
    let short = Introspection::new("https://i/introspect", "a", "b")
        .redis(RedisCache::new("redis://127.0.0.1/", b"short".to_vec()));
    assert_eq!(
        OAuthFilter::builder()
            .introspection(short)
            .build()
            .unwrap_err()
            .key(),
        "introspection.redis.integrity_key"
    );
    let bad = Introspection::new("https://i/introspect", "a", "b")
        .redis(RedisCache::new("not-a-url", KEY.to_vec()));
    assert_eq!(
        OAuthFilter::builder()
            .introspection(bad)
            .build()
            .unwrap_err()
            .key(),
        "introspection.redis.url"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_run_lets_nothing_in_and_service_continues() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let mut redis = RedisServer::start().await;
    let issuer = Arc::new(TestIssuer::start().await);
    let filter = instance(&issuer, &redis.url(), KEY);
    let revoked = issuer.opaque().issue();
    issuer.revoke(&revoked);
    let stop = Arc::new(AtomicBool::new(false));
    let served_after_kill = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (issuer, filter, stop, served, killed, revoked) = (
                issuer.clone(),
                filter.clone(),
                stop.clone(),
                served_after_kill.clone(),
                killed.clone(),
                revoked.clone(),
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let good = issuer.opaque().issue();
                    assert!(
                        filter.verify(&good).await.is_ok(),
                        "a valid token was refused"
                    );
                    assert_eq!(
                        filter.verify(&revoked).await.unwrap_err(),
                        AuthError::InactiveToken,
                        "a revoked token got in"
                    );
                    if killed.load(Ordering::Relaxed) {
                        served.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    // Conditions, not durations: traffic flows, then Redis dies, then 20+ more requests pass.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while issuer.introspection_requests() < 10 {
        assert!(std::time::Instant::now() < deadline, "no traffic");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    redis.stop();
    killed.store(true, Ordering::Relaxed);
    while served_after_kill.load(Ordering::Relaxed) <= 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "service did not continue"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    assert!(
        served_after_kill.load(Ordering::Relaxed) > 20,
        "service did not continue after Redis died"
    );
}

/// Two instances of a fleet, each with its own DPoP replay cache and one Redis between them.
fn dpop_instance(issuer: &TestIssuer, redis: oauth_filter::RedisReplay) -> OAuthFilter {
    OAuthFilter::builder()
        .jwt_issuer(
            oauth_filter::JwtIssuer::new(issuer.issuer())
                .audience(issuer.audience())
                .jwks_url(issuer.jwks_url()),
        )
        .dpop(oauth_filter::Dpop::new("https://api.example").redis(redis))
        .build()
        .unwrap()
}

async fn dpop_decision(filter: &OAuthFilter, token: &str, proof: &str) -> Result<(), AuthError> {
    let auth = format!("DPoP {token}");
    let parts = oauth_filter::RequestParts::new()
        .authorization(auth.as_bytes())
        .dpop(proof.as_bytes())
        .method("GET")
        .path("/orders");
    let requirement = oauth_filter::Requirement::all_of(["read"]);
    // No answer without I/O: the shared store must be asked.
    assert!(filter.decide_now(&parts, &requirement).is_none());
    filter.check(&parts, &requirement).await.map(|_| ())
}

#[tokio::test]
async fn a_dpop_proof_is_accepted_once_by_the_whole_fleet() {
    use oauth_filter::{DpopError, RedisReplay};
    use oauth_filter_testkit::{DpopClient, SigningAlg};
    let mut redis = RedisServer::start().await;
    let issuer = TestIssuer::start().await;
    let url = redis.url();
    let replay = || RedisReplay::new(url.clone()).timeout(Duration::from_millis(200));
    let (a, b) = (
        dpop_instance(&issuer, replay()),
        dpop_instance(&issuer, replay()),
    );
    let client = DpopClient::generate(SigningAlg::ES256).unwrap();
    let token = issuer
        .mint()
        .scope("read")
        .claim("cnf", client.cnf())
        .sign();
    let proof = || client.proof("GET", "https://api.example/orders", &token);

    let p = proof();
    dpop_decision(&a, &token, &p).await.unwrap();
    // Instance B has never seen it; Redis has.
    assert_eq!(
        dpop_decision(&b, &token, &p).await,
        Err(AuthError::Dpop(DpopError::Replayed))
    );
    // And the same instance refuses it from its own cache.
    assert_eq!(
        dpop_decision(&a, &token, &p).await,
        Err(AuthError::Dpop(DpopError::Replayed))
    );
    dpop_decision(&b, &token, &proof()).await.unwrap();
    // Each key expires with its proof.
    let mut conn = redis.client().await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("oauth-filter:dpop:*")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(keys.len(), 2, "{keys:?}");
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&keys[0])
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!((1..=65_000).contains(&ttl), "{ttl}");

    // Redis down: refused with 503 (fail closed), or, when configured, checked locally.
    redis.stop();
    let refused = dpop_decision(&a, &token, &proof()).await;
    assert_eq!(refused, Err(AuthError::Dpop(DpopError::ReplayUnavailable)));
    assert_eq!(refused.unwrap_err().status(), 503);
    let lenient = dpop_instance(&issuer, replay().fall_back_to_local(true));
    let p = proof();
    dpop_decision(&lenient, &token, &p).await.unwrap();
    assert_eq!(
        dpop_decision(&lenient, &token, &p).await,
        Err(AuthError::Dpop(DpopError::Replayed))
    );
}
