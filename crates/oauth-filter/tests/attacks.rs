//! Attack cases against the verification pipeline, each proving its rejection and the reason.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair};
use common::filter_for;
/// The test kit's encoder (independent of the crate under test).
mod base64url {
    pub(crate) fn encode(bytes: &[u8]) -> String {
        oauth_filter_testkit::b64url(bytes)
    }
}
use oauth_filter::{Algorithm, AuthError, JwtIssuer, OAuthFilter};
use oauth_filter_testkit::{SigningAlg, TestIssuer, now_secs};
use serde_json::json;

async fn setup() -> (TestIssuer, OAuthFilter) {
    let issuer = TestIssuer::start().await;
    let filter = filter_for(&issuer);
    (issuer, filter)
}

#[tokio::test]
async fn a_good_token_passes_for_every_algorithm() {
    let (issuer, filter) = setup().await;
    for alg in [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA] {
        let key = issuer.key_for(alg).unwrap();
        let token = issuer.mint().key(key).scope("read write").sign();
        let t = filter
            .verify(&token)
            .await
            .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        assert_eq!(t.subject(), Some("user-1"));
        assert!(t.scopes().contains("read") && t.scopes().contains("write"));
        assert_eq!(t.client_id(), Some("test-client"));
        assert_eq!(t.audiences(), ["api"]);
    }
    for alg in [SigningAlg::PS256, SigningAlg::ES384, SigningAlg::ES512] {
        issuer.rotate(alg).unwrap();
    }
    let fresh = filter_for(&issuer);
    for alg in [SigningAlg::PS256, SigningAlg::ES384, SigningAlg::ES512] {
        let token = issuer.mint().key(issuer.key_for(alg).unwrap()).sign();
        assert!(fresh.verify(&token).await.is_ok(), "{alg:?}");
    }
}

#[tokio::test]
async fn alg_none_in_every_spelling_is_refused() {
    let (issuer, filter) = setup().await;
    for none in ["none", "None", "NONE", "nOnE", "none ", ""] {
        for sig in [vec![], vec![0u8; 32]] {
            let token = issuer.mint().header("alg", none).sign_with(|_| sig.clone());
            let err = filter.verify(&token).await.unwrap_err();
            assert!(
                matches!(
                    err,
                    AuthError::UnsupportedAlgorithm | AuthError::MalformedToken
                ),
                "{none:?}: {err:?}"
            );
        }
    }
    // No signature segment at all.
    let token = issuer.mint().header("alg", "none").sign_with(|_| vec![]);
    let stripped = token.trim_end_matches('.');
    assert_eq!(
        filter.verify(stripped).await.unwrap_err(),
        AuthError::MalformedToken
    );
}

#[tokio::test]
async fn hs256_keyed_with_the_public_key_is_refused() {
    let (issuer, filter) = setup().await;
    let rsa = issuer.key_for(SigningAlg::RS256).unwrap();
    let ec = issuer.key_for(SigningAlg::ES256).unwrap();
    for key in [rsa, ec] {
        let secrets: Vec<Vec<u8>> = vec![
            key.public_key_pem().into_bytes(),
            key.public_key_der(),
            key.public_jwk().to_string().into_bytes(),
        ];
        for secret in secrets {
            let token = issuer
                .mint()
                .key(key.clone())
                .header("alg", "HS256")
                .sign_hmac(&secret);
            assert_eq!(
                filter.verify(&token).await.unwrap_err(),
                AuthError::UnsupportedAlgorithm
            );
        }
    }
    // Even with HS256 enabled through a shared secret, the public key is not that secret.
    let secret = b"0123456789abcdef0123456789abcdef".to_vec();
    let hs = OAuthFilter::builder()
        .jwt_issuer(common::jwt_issuer(&issuer).dangerous().hmac_secret(
            Algorithm::HS256,
            None,
            secret.clone(),
        ))
        .build()
        .unwrap();
    let rsa = issuer.key_for(SigningAlg::RS256).unwrap();
    let forged = issuer
        .mint()
        .header("alg", "HS256")
        .without_header("kid")
        .sign_hmac(rsa.public_key_pem().as_bytes());
    assert_eq!(
        hs.verify(&forged).await.unwrap_err(),
        AuthError::BadSignature
    );
    let genuine = issuer
        .mint()
        .header("alg", "HS256")
        .without_header("kid")
        .sign_hmac(&secret);
    assert!(hs.verify(&genuine).await.is_ok());
}

#[tokio::test]
async fn embedded_keys_and_key_urls_are_never_used_or_fetched() {
    let (issuer, filter) = setup().await;
    let attacker = TestIssuer::start().await;
    let evil = attacker.keys()[0].clone();
    let victim_kid = issuer.keys()[0].kid().to_owned();
    let cases = vec![
        issuer
            .mint()
            .key(evil.clone())
            .header("jwk", evil.public_jwk().clone())
            .sign(),
        issuer
            .mint()
            .key(evil.clone())
            .header("kid", victim_kid.clone())
            .header("jwk", evil.public_jwk().clone())
            .sign(),
        issuer
            .mint()
            .key(evil.clone())
            .header("jku", attacker.jwks_url())
            .sign(),
        issuer
            .mint()
            .key(evil.clone())
            .header("kid", victim_kid.clone())
            .header("jku", attacker.jwks_url())
            .sign(),
        issuer
            .mint()
            .key(evil.clone())
            .header("x5u", format!("{}/cert.pem", attacker.issuer()))
            .sign(),
        issuer
            .mint()
            .key(evil.clone())
            .header("x5c", json!([base64url::encode(&evil.public_key_der())]))
            .sign(),
        issuer
            .mint()
            .key(evil.clone())
            .without_header("kid")
            .header("jku", attacker.jwks_url())
            .sign(),
    ];
    for token in cases {
        let err = filter.verify(&token).await.unwrap_err();
        assert!(
            matches!(err, AuthError::UnknownKey | AuthError::BadSignature),
            "{err:?}"
        );
    }
    assert_eq!(attacker.requests(), 0, "a token header caused a request");
}

#[tokio::test]
async fn hostile_kids_are_just_unknown() {
    let (issuer, filter) = setup().await;
    let long = "k".repeat(10_000);
    for kid in [
        "../../../../etc/passwd",
        "' OR '1'='1",
        "kid\u{0}",
        "%2e%2e%2f",
        "http://evil/jwks",
        long.as_str(),
        "",
    ] {
        let token = issuer.mint().header("kid", kid).sign();
        assert_eq!(
            filter.verify(&token).await.unwrap_err(),
            AuthError::UnknownKey,
            "{kid:.20}"
        );
    }
    let token = issuer.mint().header("kid", 7).sign();
    assert_eq!(
        filter.verify(&token).await.unwrap_err(),
        AuthError::MalformedToken
    );
}

/// A static-key filter around our own P-256 key, to sign the same message in several encodings.
fn p256_filter() -> (OAuthFilter, EcdsaKeyPair, EcdsaKeyPair) {
    let rng = SystemRandom::new();
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let fixed =
        EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
            .unwrap();
    let der = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref())
        .unwrap();
    let point = fixed.public_key().as_ref();
    let jwks = json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "p256", "alg": "ES256",
        "x": base64url::encode(&point[1..33]), "y": base64url::encode(&point[33..65])}]});
    let filter = OAuthFilter::builder()
        .jwt_issuer(
            JwtIssuer::new("https://issuer.test")
                .audience("api")
                .jwks_json(jwks.to_string()),
        )
        .build()
        .unwrap();
    (filter, fixed, der)
}

fn es256_input(claims: serde_json::Value) -> String {
    let header = json!({"alg": "ES256", "kid": "p256", "typ": "at+jwt"});
    format!(
        "{}.{}",
        base64url::encode(header.to_string().as_bytes()),
        base64url::encode(claims.to_string().as_bytes())
    )
}

fn claims() -> serde_json::Value {
    json!({"iss": "https://issuer.test", "aud": "api", "sub": "u", "exp": now_secs() + 300})
}

#[tokio::test]
async fn ecdsa_signature_encodings() {
    let (filter, fixed, der) = p256_filter();
    let rng = SystemRandom::new();
    let input = es256_input(claims());
    let good = format!(
        "{input}.{}",
        base64url::encode(fixed.sign(&rng, input.as_bytes()).unwrap().as_ref())
    );
    assert!(filter.verify(&good).await.is_ok(), "control");
    // DER (ASN.1) signatures are not JWS signatures.
    let der_sig = der.sign(&rng, input.as_bytes()).unwrap();
    let der_token = format!("{input}.{}", base64url::encode(der_sig.as_ref()));
    assert_eq!(
        filter.verify(&der_token).await.unwrap_err(),
        AuthError::BadSignature
    );
    // Psychic signatures (CVE-2022-21449): r = s = 0.
    for zeros in [64, 1, 0x40 + 1] {
        let t = format!("{input}.{}", base64url::encode(&vec![0u8; zeros]));
        assert_eq!(
            filter.verify(&t).await.unwrap_err(),
            AuthError::BadSignature,
            "{zeros}"
        );
    }
}

#[tokio::test]
async fn every_single_bit_flip_is_refused() {
    let (issuer, filter) = setup().await;
    let token = issuer
        .mint()
        .key(issuer.key_for(SigningAlg::ES256).unwrap())
        .sign();
    assert!(filter.verify(&token).await.is_ok());
    let bytes = token.as_bytes();
    let mut checked = 0;
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut b = bytes.to_vec();
            b[i] ^= 1 << bit;
            let Ok(s) = String::from_utf8(b) else {
                continue;
            };
            checked += 1;
            assert!(
                filter.verify(&s).await.is_err(),
                "flip at byte {i} bit {bit} accepted"
            );
        }
    }
    assert!(checked > 1000);
    // Truncated and extended signatures.
    assert!(filter.verify(&token[..token.len() - 1]).await.is_err());
    assert!(filter.verify(&token[..token.len() - 4]).await.is_err());
    assert!(filter.verify(&format!("{token}AA")).await.is_err());
}

#[tokio::test]
async fn crit_and_structure() {
    let (issuer, filter) = setup().await;
    for crit in [json!(["exp"]), json!([]), json!(["b64"]), json!("exp")] {
        let t = issuer
            .mint()
            .header("crit", crit.clone())
            .header("exp", 1)
            .sign();
        assert_eq!(
            filter.verify(&t).await.unwrap_err(),
            AuthError::CriticalHeader,
            "{crit}"
        );
    }
    assert_eq!(
        filter.verify("a.b.c.d.e").await.unwrap_err(),
        AuthError::EncryptedToken
    );
    for bad in [
        "",
        ".",
        "..",
        "a.b",
        "a.b.c.d",
        "abc",
        "e30.e30.",
        "e30.e30.AA",
    ] {
        assert_eq!(
            filter.verify(bad).await.unwrap_err(),
            AuthError::MalformedToken,
            "{bad:?}"
        );
    }
    // Duplicate members in header and claims.
    let dup_header = issuer
        .mint()
        .raw_header(br#"{"alg":"RS256","alg":"RS256","typ":"at+jwt"}"#.to_vec())
        .sign();
    assert_eq!(
        filter.verify(&dup_header).await.unwrap_err(),
        AuthError::MalformedToken
    );
    let kid = issuer.keys()[0].kid().to_owned();
    let payload = format!(
        r#"{{"iss":"{}","aud":"api","exp":{},"sub":"a","sub":"b"}}"#,
        issuer.issuer(),
        now_secs() + 60
    );
    let dup_claims = issuer
        .mint()
        .header("kid", kid)
        .raw_payload(payload.into_bytes())
        .sign();
    assert_eq!(
        filter.verify(&dup_claims).await.unwrap_err(),
        AuthError::MalformedToken
    );
    let not_json = issuer.mint().raw_payload(b"not json".to_vec()).sign();
    assert_eq!(
        filter.verify(&not_json).await.unwrap_err(),
        AuthError::MalformedToken
    );
    let array = issuer.mint().raw_payload(b"[1]".to_vec()).sign();
    assert_eq!(
        filter.verify(&array).await.unwrap_err(),
        AuthError::MalformedToken
    );
    // Padding and standard-alphabet base64 in a segment.
    let good = issuer.mint().sign();
    let padded = format!("{good}=");
    assert_eq!(
        filter.verify(&padded).await.unwrap_err(),
        AuthError::MalformedToken
    );
    let oversize = format!("{good}{}", "A".repeat(17 * 1024));
    assert_eq!(
        filter.verify(&oversize).await.unwrap_err(),
        AuthError::TokenTooLarge
    );
}

#[tokio::test]
async fn time_claims_edges() {
    let (issuer, filter) = setup().await;
    let now = now_secs();
    let ok = |t: String| {
        let f = filter.clone();
        async move { f.verify(&t).await }
    };
    assert_eq!(
        ok(issuer.mint().claim("exp", now - 61).sign())
            .await
            .unwrap_err(),
        AuthError::Expired
    );
    assert!(
        ok(issuer.mint().claim("exp", now - 30).sign())
            .await
            .is_ok(),
        "within leeway"
    );
    assert!(
        ok(issuer.mint().claim("exp", (now + 10) as f64 + 0.5).sign())
            .await
            .is_ok(),
        "fractional exp"
    );
    assert_eq!(
        ok(issuer.mint().claim("nbf", now + 120).sign())
            .await
            .unwrap_err(),
        AuthError::NotYetValid
    );
    assert!(
        ok(issuer.mint().claim("nbf", now + 30).sign())
            .await
            .is_ok()
    );
    assert_eq!(
        ok(issuer.mint().claim("iat", now + 120).sign())
            .await
            .unwrap_err(),
        AuthError::IssuedInFuture
    );
    assert_eq!(
        ok(issuer.mint().without_claim("exp").sign())
            .await
            .unwrap_err(),
        AuthError::MissingClaim("exp")
    );
    for (name, v) in [
        ("exp", json!((now + 300).to_string())),
        ("exp", json!(null)),
        ("exp", json!(true)),
        ("nbf", json!("0")),
        ("iat", json!([1])),
    ] {
        let err = ok(issuer.mint().claim(name, v.clone()).sign())
            .await
            .unwrap_err();
        assert!(
            matches!(err, AuthError::InvalidClaim(n) if n == name),
            "{name}={v}: {err:?}"
        );
    }
    let strict = OAuthFilter::builder()
        .leeway(std::time::Duration::ZERO)
        .jwt_issuer(common::jwt_issuer(&issuer))
        .build()
        .unwrap();
    assert_eq!(
        strict
            .verify(&issuer.mint().claim("exp", now - 1).sign())
            .await
            .unwrap_err(),
        AuthError::Expired
    );
    let too_lenient = OAuthFilter::builder()
        .leeway(std::time::Duration::from_secs(301))
        .jwt_issuer(common::jwt_issuer(&issuer))
        .build()
        .unwrap_err();
    assert_eq!(too_lenient.key(), "leeway");
}

#[tokio::test]
async fn issuer_and_audience() {
    let (issuer, filter) = setup().await;
    let with_slash = format!("{}/", issuer.issuer());
    for iss in [
        "https://evil.example",
        with_slash.as_str(),
        &issuer.issuer().to_uppercase(),
    ] {
        assert_eq!(
            filter
                .verify(&issuer.mint().issuer(iss).sign())
                .await
                .unwrap_err(),
            AuthError::UnknownIssuer,
            "{iss}"
        );
    }
    assert_eq!(
        filter
            .verify(&issuer.mint().without_claim("iss").sign())
            .await
            .unwrap_err(),
        AuthError::MissingClaim("iss")
    );
    assert_eq!(
        filter
            .verify(&issuer.mint().claim("iss", 5).sign())
            .await
            .unwrap_err(),
        AuthError::InvalidClaim("iss")
    );
    let aud = |v: serde_json::Value| issuer.mint().claim("aud", v).sign();
    assert!(filter.verify(&aud(json!(["other", "api"]))).await.is_ok());
    assert_eq!(
        filter.verify(&aud(json!("other"))).await.unwrap_err(),
        AuthError::AudienceMismatch
    );
    assert_eq!(
        filter.verify(&aud(json!(["other"]))).await.unwrap_err(),
        AuthError::AudienceMismatch
    );
    assert_eq!(
        filter.verify(&aud(json!([]))).await.unwrap_err(),
        AuthError::AudienceMismatch
    );
    assert_eq!(
        filter.verify(&aud(json!("API"))).await.unwrap_err(),
        AuthError::AudienceMismatch
    );
    assert_eq!(
        filter.verify(&aud(json!(["api", 1]))).await.unwrap_err(),
        AuthError::InvalidClaim("aud")
    );
    assert_eq!(
        filter.verify(&aud(json!(1))).await.unwrap_err(),
        AuthError::InvalidClaim("aud")
    );
    assert_eq!(
        filter
            .verify(&issuer.mint().without_claim("aud").sign())
            .await
            .unwrap_err(),
        AuthError::AudienceMismatch
    );
}

#[tokio::test]
async fn keys_stay_bound_to_their_issuer() {
    let a = TestIssuer::builder().path("/a").start().await;
    let b = TestIssuer::builder().path("/b").start().await;
    let filter = OAuthFilter::builder()
        .jwt_issuer(
            JwtIssuer::new(a.issuer())
                .audience("api")
                .jwks_url(a.jwks_url()),
        )
        .jwt_issuer(
            JwtIssuer::new(b.issuer())
                .audience("api")
                .jwks_url(b.jwks_url()),
        )
        .build()
        .unwrap();
    assert!(filter.verify(&a.mint().sign()).await.is_ok());
    assert!(filter.verify(&b.mint().sign()).await.is_ok());
    // Claims A, signed with B's key under B's kid: A's set has no such key.
    let cross = a.mint().key(b.keys()[0].clone()).sign();
    assert_eq!(
        filter.verify(&cross).await.unwrap_err(),
        AuthError::UnknownKey
    );
    // Claims A, B's key, A's kid: the signature does not verify.
    let cross = a
        .mint()
        .key(b.keys()[0].clone())
        .header("kid", a.keys()[0].kid())
        .sign();
    assert_eq!(
        filter.verify(&cross).await.unwrap_err(),
        AuthError::BadSignature
    );
    // An unconfigured issuer's perfectly signed token.
    let stranger = TestIssuer::start().await;
    assert_eq!(
        filter.verify(&stranger.mint().sign()).await.unwrap_err(),
        AuthError::UnknownIssuer
    );
    assert_eq!(stranger.requests(), 0);
}

#[tokio::test]
async fn algorithm_allow_list_and_typ() {
    let issuer = TestIssuer::start().await;
    let es_only = OAuthFilter::builder()
        .jwt_issuer(common::jwt_issuer(&issuer).algorithms([Algorithm::ES256]))
        .build()
        .unwrap();
    assert_eq!(
        es_only.verify(&issuer.mint().sign()).await.unwrap_err(),
        AuthError::UnsupportedAlgorithm
    );
    assert!(
        es_only
            .verify(
                &issuer
                    .mint()
                    .key(issuer.key_for(SigningAlg::ES256).unwrap())
                    .sign()
            )
            .await
            .is_ok()
    );
    let filter = filter_for(&issuer);
    for typ in ["dpop+jwt", "logout+jwt", "secevent+jwt", "id_token+jwt"] {
        assert_eq!(
            filter
                .verify(&issuer.mint().header("typ", typ).sign())
                .await
                .unwrap_err(),
            AuthError::WrongTokenType
        );
    }
    assert!(
        filter
            .verify(&issuer.mint().header("typ", "JWT").sign())
            .await
            .is_ok()
    );
    assert!(
        filter
            .verify(&issuer.mint().without_header("typ").sign())
            .await
            .is_ok()
    );
    let strict = OAuthFilter::builder()
        .jwt_issuer(common::jwt_issuer(&issuer).strict_rfc9068(true))
        .build()
        .unwrap();
    assert!(strict.verify(&issuer.mint().sign()).await.is_ok());
    assert!(
        strict
            .verify(&issuer.mint().header("typ", "application/at+jwt").sign())
            .await
            .is_ok()
    );
    assert_eq!(
        strict
            .verify(&issuer.mint().header("typ", "JWT").sign())
            .await
            .unwrap_err(),
        AuthError::WrongTokenType
    );
    assert_eq!(
        strict
            .verify(&issuer.mint().without_header("typ").sign())
            .await
            .unwrap_err(),
        AuthError::WrongTokenType
    );
    for claim in ["sub", "client_id", "iat", "jti"] {
        let err = strict
            .verify(&issuer.mint().without_claim(claim).sign())
            .await
            .unwrap_err();
        assert_eq!(
            err,
            AuthError::MissingClaim(match claim {
                "sub" => "sub",
                "client_id" => "client_id",
                "iat" => "iat",
                _ => "jti",
            })
        );
    }
}

#[tokio::test]
async fn scope_claim_shapes() {
    let (issuer, filter) = setup().await;
    let t = filter
        .verify(&issuer.mint().claim("scp", json!(["a", "b"])).sign())
        .await
        .unwrap();
    assert!(t.scopes().contains("a") && t.scopes().contains("b"));
    let t = filter
        .verify(&issuer.mint().claim("scp", "x y").sign())
        .await
        .unwrap();
    assert!(t.scopes().contains("x"));
    let t = filter
        .verify(&issuer.mint().scope("Read").sign())
        .await
        .unwrap();
    assert!(!t.scopes().contains("read"), "scopes are case-sensitive");
    // `scope` may be an array too (issue 12); `scope` is read before `scp`.
    let t = filter
        .verify(
            &issuer
                .mint()
                .claim("scope", json!(["a"]))
                .claim("scp", "b")
                .sign(),
        )
        .await
        .unwrap();
    assert!(t.scopes().contains("a") && !t.scopes().contains("b"));
    assert_eq!(
        filter
            .verify(&issuer.mint().claim("scope", json!(7)).sign())
            .await
            .unwrap_err(),
        AuthError::InvalidClaim("scope")
    );
    assert_eq!(
        filter
            .verify(&issuer.mint().claim("scp", json!([1])).sign())
            .await
            .unwrap_err(),
        AuthError::InvalidClaim("scp")
    );
    assert_eq!(
        filter
            .verify(&issuer.mint().claim("sub", 5).sign())
            .await
            .unwrap_err(),
        AuthError::InvalidClaim("sub")
    );
}

#[tokio::test]
async fn configuration_errors_name_the_key() {
    let cases: Vec<(oauth_filter::OAuthFilterBuilder, &str)> = vec![
        (OAuthFilter::builder(), "issuers"),
        (
            OAuthFilter::builder()
                .jwt_issuer(JwtIssuer::new("https://i").jwks_url("https://i/jwks")),
            "issuers[0].audience",
        ),
        (
            OAuthFilter::builder().jwt_issuer(
                JwtIssuer::new("https://i")
                    .audience("a")
                    .jwks_url("not a url"),
            ),
            "issuers[0].jwks_url",
        ),
        (
            OAuthFilter::builder().jwt_issuer(
                JwtIssuer::new("https://i")
                    .audience("a")
                    .jwks_url("http://idp.example/jwks"),
            ),
            "issuers[0].jwks_url",
        ),
        (
            OAuthFilter::builder().jwt_issuer(JwtIssuer::new("not a url").audience("a")),
            "issuers[0].issuer",
        ),
        (
            OAuthFilter::builder()
                .jwt_issuer(JwtIssuer::new("https://i").audience("a").algorithms([])),
            "issuers[0].algorithms",
        ),
        (
            OAuthFilter::builder().jwt_issuer(
                JwtIssuer::new("https://i")
                    .audience("a")
                    .algorithms([Algorithm::HS256]),
            ),
            "issuers[0].algorithms",
        ),
        (
            OAuthFilter::builder().jwt_issuer(
                JwtIssuer::new("https://i")
                    .audience("a")
                    .dangerous()
                    .hmac_secret(Algorithm::HS256, None, vec![1; 31]),
            ),
            "issuers[0].hmac_secret",
        ),
        (
            OAuthFilter::builder()
                .jwt_issuer(JwtIssuer::new("https://i").audience("a").jwks_json("{")),
            "issuers[0].jwks",
        ),
        (
            OAuthFilter::builder()
                .jwt_issuer(JwtIssuer::new("https://i").audience("a"))
                .jwt_issuer(JwtIssuer::new("https://i").audience("b")),
            "issuers[1].issuer",
        ),
        (
            OAuthFilter::builder()
                .realm("a\"b")
                .jwt_issuer(JwtIssuer::new("https://i").audience("a")),
            "realm",
        ),
        (
            OAuthFilter::builder()
                .http(oauth_filter::HttpClientConfig::default().ca_certificates_pem("garbage"))
                .jwt_issuer(JwtIssuer::new("https://i").audience("a")),
            "http.ca_certificates_pem",
        ),
    ];
    for (builder, key) in cases {
        let err = builder.build().unwrap_err();
        assert_eq!(err.key(), key, "{err}");
        assert!(err.to_string().contains(key));
    }
}

#[tokio::test]
async fn unusable_keys_in_a_jwks_are_skipped_not_fatal() {
    let issuer = TestIssuer::start().await;
    let good = issuer.keys()[0].public_jwk().clone();
    let jwks = json!({"keys": [
        {"kty": "oct", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0", "alg": "HS256", "kid": "sym"},
        {"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "tiny"},
        {"kty": "EC", "crv": "P-256", "x": "bad", "y": "bad", "kid": "bad-ec"},
        {"kty": "weird"},
        "not an object",
        good,
    ]});
    let filter = OAuthFilter::builder()
        .jwt_issuer(
            JwtIssuer::new(issuer.issuer())
                .audience("api")
                .jwks_json(jwks.to_string()),
        )
        .build()
        .unwrap();
    assert!(filter.verify(&issuer.mint().sign()).await.is_ok());
    let hs = issuer
        .mint()
        .header("alg", "HS256")
        .header("kid", "sym")
        .sign_hmac(b"secretsecretsecretsecretsecret");
    assert_eq!(
        filter.verify(&hs).await.unwrap_err(),
        AuthError::UnsupportedAlgorithm
    );
}

#[tokio::test]
async fn two_keys_under_one_kid_are_ambiguous() {
    let issuer = TestIssuer::builder()
        .algorithms(&[SigningAlg::ES256, SigningAlg::ES256])
        .start()
        .await;
    let (a, b) = (issuer.keys()[0].clone(), issuer.keys()[1].clone());
    let mut ja = a.public_jwk().clone();
    let mut jb = b.public_jwk().clone();
    ja["kid"] = json!("same");
    jb["kid"] = json!("same");
    let filter = OAuthFilter::builder()
        .jwt_issuer(
            JwtIssuer::new(issuer.issuer())
                .audience("api")
                .jwks_json(json!({"keys": [ja, jb]}).to_string()),
        )
        .build()
        .unwrap();
    let token = issuer.mint().key(a).header("kid", "same").sign();
    assert_eq!(
        filter.verify(&token).await.unwrap_err(),
        AuthError::AmbiguousKey
    );
}
