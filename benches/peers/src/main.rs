//! Peer servers for `scripts/bench-http.sh`: the same "ok" handler behind jwt-authorizer and
//! behind a hand-written jsonwebtoken guard, verifying the tokens the bench server minted, with
//! keys from its issuer (`$TOKENS_DIR/issuer`, `$TOKENS_DIR/jwks.json`).

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use jwt_authorizer::{Authorizer, IntoLayer, JwtAuthorizer, Validation as PeerValidation};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Claims {
    sub: String,
    scope: String,
}

struct Guard {
    keys: HashMap<String, (DecodingKey, Validation)>,
}

async fn guard(State(g): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    let token = req.headers().get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let ok = token.is_some_and(|t| {
        let Ok(header) = decode_header(t) else { return false };
        let Some((key, validation)) = header.kid.as_ref().and_then(|k| g.keys.get(k)) else { return false };
        decode::<Claims>(t, key, validation).is_ok_and(|c| c.claims.scope.split(' ').any(|s| s == "read"))
    });
    if ok {
        next.run(req).await
    } else {
        StatusCode::UNAUTHORIZED.into_response()
    }
}

#[tokio::main]
async fn main() {
    let dir = std::path::PathBuf::from(std::env::var("TOKENS_DIR").expect("TOKENS_DIR"));
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:3902".into());
    let issuer = std::fs::read_to_string(dir.join("issuer")).expect("issuer").trim().to_owned();

    let auth: Authorizer = JwtAuthorizer::from_jwks_url(&format!("{issuer}/jwks"))
        .validation(PeerValidation::new().iss(&[issuer.as_str()]).aud(&["api"]))
        .build()
        .await
        .expect("jwt-authorizer");

    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&std::fs::read_to_string(dir.join("jwks.json")).expect("jwks")).expect("jwks json");
    let mut keys = HashMap::new();
    for jwk in &jwks.keys {
        let alg = match jwk.common.key_algorithm.map(|a| format!("{a:?}")).as_deref() {
            Some("RS256") => Algorithm::RS256,
            Some("ES256") => Algorithm::ES256,
            Some("EdDSA") => Algorithm::EdDSA,
            _ => continue,
        };
        let mut v = Validation::new(alg);
        v.set_audience(&["api"]);
        v.set_issuer(&[issuer.as_str()]);
        keys.insert(jwk.common.key_id.clone().expect("kid"), (DecodingKey::from_jwk(jwk).expect("key"), v));
    }
    let g = Arc::new(Guard { keys });

    let app = Router::new()
        .route("/open", get(|| async { "ok" }))
        .route("/jwt-authorizer", get(|| async { "ok" }).layer(auth.into_layer()))
        .route("/jsonwebtoken", get(|| async { "ok" }).route_layer(middleware::from_fn_with_state(g, guard)));
    let listener = tokio::net::TcpListener::bind(&listen).await.expect("bind");
    eprintln!("peers on http://{}", listener.local_addr().expect("addr"));
    axum::serve(listener, app).await.expect("serve");
}
