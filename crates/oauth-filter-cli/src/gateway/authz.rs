//! `oauth-filter authz --config FILE`: the gateway's decisions for a proxy you already run.
//!
//! ```text
//! oauth-filter authz --config authz.toml
//! READY listen=127.0.0.1:8080 admin=127.0.0.1:9090
//!
//! # gRPC (Envoy ext_authz v3)     POST /envoy.service.auth.v3.Authorization/Check
//! # HTTP (Envoy, path_prefix)     <method> /envoy<original path and query>
//! # nginx, Traefik, Caddy         GET /forward-auth + X-Forwarded-Method, X-Forwarded-Uri
//! ```
//!
//! The file is the gateway's (issuers, introspection, routes, `[forwarding]`, `[server]`,
//! admin, logs) with `[authz]` where the gateway has `[upstream]`. Every check request is
//! turned back into the request the client sent (method, path and query, headers) and goes
//! through the library's route model ([`oauth_filter::Protection::Routes`]): the path's normal
//! form, the most specific route, its requirement, the token. The answer:
//!
//! - **allowed**: 200 (gRPC: `OK`) with the identity headers to set on the upstream request
//!   (`[forwarding]`: `x-auth-subject`, `x-auth-client-id`, `x-auth-scope`), the names to
//!   remove from it (an identity header the token has no value for, so that a client's own
//!   cannot pass; `Authorization` and `DPoP` unless `forwarding.authorization = "keep"`), and in
//!   phantom-token mode the signed introspection response as the new `Authorization`. gRPC
//!   says all of it in the `OkHttpResponse`; Envoy's HTTP mode gets the removals in
//!   `x-envoy-auth-headers-to-remove`; the other proxies copy the headers they are told to
//!   (their recipes in the README clear the client's copies).
//! - **denied**: the gateway's own answer: 401/403/400/404/405/503 with `WWW-Authenticate` and
//!   the JSON body, for the proxy to pass to the client.
//!
//! `/forward-auth` believes `X-Forwarded-Method`, `X-Forwarded-Uri` and `X-Forwarded-Host`
//! only from `authz.trusted_proxies`; from anyone else, or with a header missing or repeated,
//! it decides nothing and answers 500 (nginx turns every answer but 2xx, 401 and 403 into 500
//! anyway). Envoy's modes need no trust in headers: the original request is the check's own
//! (HTTP) or Envoy's description of it (gRPC).
//!
//! This module turns proxies' descriptions into requests; the decision is the library's, as
//! in the gateway. The request body is never read (proxies do not send it): MCP tool rules
//! and WebSocket protocol tokens are refused in `authz` files.

use super::config::{AuthorizationPolicy, AuthzSettings, Config, Forwarding};
use super::limits::InFlightGuard;
use super::metrics as m;
use super::proxy::{Body, BoxError, full, identity, local, local_bytes, remove_hop_by_hop};
use bytes::Bytes;
use envoy_types::ext_authz::v3::pb::{
    Authorization, AuthorizationServer, CheckRequest, CheckResponse, DeniedHttpResponse,
    HeaderAppendAction, HeaderValue as EnvoyHeader, HeaderValueOption, HttpResponse, HttpStatus,
    OkHttpResponse,
};
use envoy_types::pb::google::rpc;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use oauth_filter::{
    AccessToken, Decision, ErrorResponder, JsonErrorResponder, OAuthFilter, PathRequirements,
    Protection, RequestParts,
};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// Envoy's HTTP mode: `path_prefix` in Envoy's `http_service`.
pub(crate) const ENVOY_PREFIX: &str = "/envoy";
/// nginx `auth_request`, Traefik `forwardAuth`, Caddy `forward_auth`.
pub(crate) const FORWARD_AUTH_PATH: &str = "/forward-auth";
/// The gRPC method of Envoy's `ext_authz` v3.
const GRPC_CHECK_PATH: &str = "/envoy.service.auth.v3.Authorization/Check";

/// `check-config`'s line for `[authz]`.
pub(crate) fn describe(a: &AuthzSettings) -> String {
    let trusted = if a.trusted_proxies.is_empty() {
        String::from("none (every /forward-auth check is refused)")
    } else {
        a.trusted_proxies
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "authz: gRPC {GRPC_CHECK_PATH}, HTTP {ENVOY_PREFIX}/…, {FORWARD_AUTH_PATH} \
         (X-Forwarded-* from trusted proxies: {trusted})"
    )
}

/// The decision service's shared state.
pub(crate) struct Authz {
    filter: OAuthFilter,
    routes: PathRequirements,
    forwarding: Forwarding,
    trusted: Vec<ipnet::IpNet>,
}

/// What the proxy is told to do with an allowed request.
#[derive(Debug, Default)]
struct Allowed {
    /// Set on the upstream request, replacing what the client sent.
    set: Vec<(HeaderName, HeaderValue)>,
    /// Removed from the upstream request.
    remove: Vec<HeaderName>,
    /// Added to the client's response (a fresh `DPoP-Nonce`).
    respond: Vec<(HeaderName, HeaderValue)>,
}

/// The answer to one check.
enum Verdict {
    Allow(Allowed),
    /// The answer for the client: status, headers, body.
    Deny(Response<Bytes>),
}

impl Authz {
    pub(crate) fn new(config: &Config) -> Self {
        Self {
            filter: config.filter.clone(),
            routes: config.routes.clone(),
            forwarding: config.forwarding.clone(),
            trusted: config
                .authz
                .as_ref()
                .map(|a| a.trusted_proxies.clone())
                .unwrap_or_default(),
        }
    }

    /// Answers one request to the service; never fails (every problem becomes an answer).
    pub(crate) async fn handle(
        this: &Arc<Self>,
        req: Request<Incoming>,
        peer: SocketAddr,
        guard: InFlightGuard,
    ) -> Response<Body> {
        let started = Instant::now();
        let path = req.uri().path();
        let (response, outcome, reason) = if path == GRPC_CHECK_PATH {
            // tonic answers the gRPC call (its outcome is counted inside, per check).
            let mut grpc = AuthorizationServer::from_arc(this.clone());
            let response = match tower::Service::call(&mut grpc, req).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            drop(guard);
            return response.map(|b| b.map_err(|e| Box::new(e) as BoxError).boxed_unsync());
        } else if let Some(m) = this.filter.resource_metadata().filter(|m| m.path() == path) {
            // RFC 9728's document, for a proxy that routes its path here.
            let r: Response<http_body_util::Full<Bytes>> = m.response();
            (
                r.map(|b| b.map_err(|e| match e {}).boxed_unsync()),
                m::Outcome::Local,
                "resource_metadata",
            )
        } else if path == ENVOY_PREFIX || path.starts_with("/envoy/") {
            let (head, _) = req.into_parts();
            let answer = match envoy_http_original(head) {
                Ok(original) => this.decide(&original).await,
                Err(why) => cannot_decide(why),
            };
            http_answer(answer, true)
        } else if path == FORWARD_AUTH_PATH {
            let (head, _) = req.into_parts();
            let answer = match this.forwarded_original(head, peer) {
                Ok(original) => this.decide(&original).await,
                Err(why) => cannot_decide(why),
            };
            http_answer(answer, false)
        } else {
            (
                local(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    "authz answers /envoy.service.auth.v3.Authorization/Check, /envoy/… and /forward-auth",
                ),
                m::Outcome::Refused,
                "not_an_authz_endpoint",
            )
        };
        m::request(outcome, reason, started.elapsed());
        drop(guard);
        response
    }

    /// The original request of a `/forward-auth` check: method, URI and host from the
    /// trusted proxy's `X-Forwarded-*`, the other headers as they came.
    fn forwarded_original(
        &self,
        mut head: http::request::Parts,
        peer: SocketAddr,
    ) -> Result<http::request::Parts, &'static str> {
        if !self.trusted.iter().any(|n| n.contains(&peer.ip())) {
            tracing::warn!(peer = %peer, "a /forward-auth check from an address not in authz.trusted_proxies; refused");
            return Err("untrusted_proxy");
        }
        let one = |headers: &HeaderMap, name: &str| -> Result<Option<HeaderValue>, &'static str> {
            let mut values = headers.get_all(name).iter();
            match (values.next(), values.next()) {
                (Some(v), None) => Ok(Some(v.clone())),
                (None, _) => Ok(None),
                (Some(_), Some(_)) => Err("forwarded_header_repeated"),
            }
        };
        let method = one(&head.headers, "x-forwarded-method")?
            .ok_or("forwarded_method_missing")
            .and_then(|v| http::Method::from_bytes(v.as_bytes()).map_err(|_| "forwarded_method"))?;
        let uri = one(&head.headers, "x-forwarded-uri")?
            .ok_or("forwarded_uri_missing")
            .and_then(|v| origin_form(v.as_bytes()).ok_or("forwarded_uri"))?;
        let host = one(&head.headers, "x-forwarded-host")?;
        strip_connection(&mut head.headers);
        let forwarded: Vec<HeaderName> = head
            .headers
            .keys()
            .filter(|n| n.as_str().starts_with("x-forwarded-"))
            .cloned()
            .collect();
        for name in forwarded {
            head.headers.remove(name);
        }
        if let Some(host) = host {
            head.headers.insert(header::HOST, host);
        }
        head.method = method;
        head.uri = uri;
        Ok(head)
    }

    /// The decision for the original request.
    async fn decide(&self, original: &http::request::Parts) -> (Verdict, m::Outcome, &'static str) {
        // `x_auth_subject` reaches a WSGI, Rack or CGI application as `HTTP_X_AUTH_SUBJECT`,
        // the identity header itself, and no proxy's recipe removes it: refused.
        let identity = self.forwarding.identity_headers();
        if original.headers.keys().any(|n| {
            n.as_str().contains('_')
                && identity
                    .iter()
                    .any(|h| **h == *n.as_str().replace('_', "-"))
        }) {
            tracing::info!(
                reason = "identity_header_spelling",
                status = 400,
                "authorization check refused"
            );
            return (
                Verdict::Deny(local_bytes(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "a header is spelled like an identity header",
                )),
                m::Outcome::Refused,
                "identity_header_spelling",
            );
        }
        let parts = RequestParts::from_http_parts(original);
        match self
            .filter
            .decide(&parts, None, Protection::Routes(&self.routes))
            .await
        {
            Decision::Allow(token) => {
                let mut allowed = self.allowed(Some(&token));
                if let Some(v) = self
                    .filter
                    .dpop_nonce_refresh(&parts)
                    .and_then(|n| HeaderValue::from_str(&n).ok())
                {
                    allowed
                        .respond
                        .push((HeaderName::from_static("dpop-nonce"), v));
                }
                (Verdict::Allow(allowed), m::Outcome::Allowed, "ok")
            }
            Decision::Anonymous => (
                Verdict::Allow(self.allowed(None)),
                m::Outcome::Allowed,
                "public",
            ),
            Decision::Deny(rejection) => {
                let reason = rejection.error().reason_code();
                let outcome = if matches!(rejection.error().status(), 401 | 403 | 503) {
                    m::Outcome::Rejected
                } else {
                    m::Outcome::Refused
                };
                (
                    Verdict::Deny(JsonErrorResponder.respond(&rejection)),
                    outcome,
                    reason,
                )
            }
            // `Decision` is non-exhaustive: nothing else is a pass.
            _ => (
                Verdict::Deny(local_bytes(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "an access token is required",
                )),
                m::Outcome::Refused,
                "missing_token",
            ),
        }
    }

    /// What the proxy does to the upstream request for `token` (`None`: a public route).
    fn allowed(&self, token: Option<&AccessToken>) -> Allowed {
        let f = &self.forwarding;
        let mut allowed = Allowed::default();
        match token {
            Some(t) => {
                for (name, value) in identity(f, t) {
                    match value {
                        Some(v) => allowed.set.push((name.clone(), v)),
                        None => allowed.remove.push(name.clone()),
                    }
                }
            }
            None => {
                allowed
                    .remove
                    .extend(f.identity_headers().into_iter().cloned());
            }
        }
        let phantom = token
            .and_then(AccessToken::introspection_jwt)
            .and_then(|jwt| HeaderValue::from_str(&format!("Bearer {jwt}")).ok());
        match phantom {
            Some(v) => {
                allowed.set.push((header::AUTHORIZATION, v));
                allowed.remove.push(HeaderName::from_static("dpop"));
            }
            None if f.authorization == AuthorizationPolicy::Remove => {
                allowed.remove.push(header::AUTHORIZATION);
                allowed.remove.push(HeaderName::from_static("dpop"));
            }
            None => {}
        }
        allowed
    }
}

/// The original request of an Envoy HTTP check: the check itself, with `/envoy` taken off
/// its path.
fn envoy_http_original(
    mut head: http::request::Parts,
) -> Result<http::request::Parts, &'static str> {
    let target = head.uri.path_and_query().map_or("", |pq| pq.as_str());
    let rest = target.strip_prefix(ENVOY_PREFIX).unwrap_or(target);
    let rest = if rest.is_empty() || rest.starts_with('?') {
        format!("/{rest}")
    } else {
        rest.to_owned()
    };
    head.uri = origin_form(rest.as_bytes()).ok_or("envoy_path")?;
    strip_connection(&mut head.headers);
    Ok(head)
}

/// A request target in origin form (`/path?query`); anything else (absolute form, `*`) is
/// not a request this service can decide for.
fn origin_form(target: &[u8]) -> Option<http::Uri> {
    if target.first() != Some(&b'/') {
        return None;
    }
    let pq = http::uri::PathAndQuery::try_from(target).ok()?;
    http::Uri::builder().path_and_query(pq).build().ok()
}

/// The check's own connection headers and body length are not the original request's.
fn strip_connection(headers: &mut HeaderMap) {
    remove_hop_by_hop(headers);
    headers.remove(header::CONTENT_LENGTH);
}

/// 500: the check does not say what the original request was (`reason` for the log and the
/// metrics). Nothing is decided, so nothing is let through.
fn cannot_decide(reason: &'static str) -> (Verdict, m::Outcome, &'static str) {
    tracing::info!(reason, status = 500, "authorization check refused");
    (
        Verdict::Deny(local_bytes(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "the authorization check does not describe a request this service can decide",
        )),
        m::Outcome::Refused,
        reason,
    )
}

/// The HTTP answer to a check: 200 with the headers for the upstream (and, for Envoy, the
/// names to remove in `x-envoy-auth-headers-to-remove`), or the denial as it is.
fn http_answer(
    (verdict, outcome, reason): (Verdict, m::Outcome, &'static str),
    envoy: bool,
) -> (Response<Body>, m::Outcome, &'static str) {
    let response = match verdict {
        Verdict::Allow(a) => {
            let mut r = Response::new(full(Bytes::new()));
            let headers = r.headers_mut();
            for (name, value) in a.set.into_iter().chain(a.respond) {
                headers.insert(name, value);
            }
            if envoy && !a.remove.is_empty() {
                let names: Vec<&str> = a.remove.iter().map(HeaderName::as_str).collect();
                if let Ok(v) = HeaderValue::from_str(&names.join(",")) {
                    headers.insert(HeaderName::from_static("x-envoy-auth-headers-to-remove"), v);
                }
            }
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Verdict::Deny(r) => r.map(full),
    };
    (response, outcome, reason)
}

#[tonic::async_trait]
impl Authorization for Authz {
    async fn check(
        &self,
        request: tonic::Request<CheckRequest>,
    ) -> Result<tonic::Response<CheckResponse>, tonic::Status> {
        let started = Instant::now();
        let (verdict, outcome, reason) = match grpc_original(request.into_inner()) {
            Ok(original) => self.decide(&original).await,
            Err(why) => cannot_decide(why),
        };
        m::request(outcome, reason, started.elapsed());
        Ok(tonic::Response::new(check_response(verdict)))
    }
}

/// The original request Envoy describes in a `CheckRequest`: `attributes.request.http`'s
/// method, path (with the query), host and headers (`header_map` when Envoy sends raw
/// headers, else `headers`; pseudo-headers left out).
fn grpc_original(check: CheckRequest) -> Result<http::request::Parts, &'static str> {
    let http = check
        .attributes
        .and_then(|a| a.request)
        .and_then(|r| r.http)
        .ok_or("grpc_no_http_attributes")?;
    let method = http::Method::from_bytes(http.method.as_bytes()).map_err(|_| "grpc_method")?;
    let uri = origin_form(http.path.as_bytes()).ok_or("grpc_path")?;
    let mut headers = HeaderMap::new();
    let mut add = |name: &str, value: &[u8]| {
        if name.starts_with(':') {
            return;
        }
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value),
        ) {
            headers.append(n, v);
        }
    };
    match http.header_map {
        Some(map) if !map.headers.is_empty() => {
            for h in &map.headers {
                let value = if h.raw_value.is_empty() {
                    h.value.as_bytes()
                } else {
                    &h.raw_value
                };
                add(&h.key, value);
            }
        }
        _ => {
            for (k, v) in &http.headers {
                add(k, v.as_bytes());
            }
        }
    }
    if !http.host.is_empty()
        && let Ok(v) = HeaderValue::from_str(&http.host)
    {
        headers.insert(header::HOST, v);
    }
    strip_connection(&mut headers);
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    Ok(request.into_parts().0)
}

fn envoy_header(
    name: &HeaderName,
    value: &HeaderValue,
    action: HeaderAppendAction,
) -> HeaderValueOption {
    HeaderValueOption {
        header: Some(EnvoyHeader {
            key: name.as_str().to_owned(),
            value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
            ..Default::default()
        }),
        append_action: action as i32,
        ..Default::default()
    }
}

/// The gRPC answer: `OK` with the header changes, or the denial (its gRPC code follows the
/// HTTP status; Envoy sends the client the `DeniedHttpResponse`).
fn check_response(verdict: Verdict) -> CheckResponse {
    match verdict {
        Verdict::Allow(a) => CheckResponse {
            status: Some(rpc::Status {
                code: tonic::Code::Ok as i32,
                ..Default::default()
            }),
            http_response: Some(HttpResponse::OkResponse(OkHttpResponse {
                headers: a
                    .set
                    .iter()
                    .map(|(n, v)| envoy_header(n, v, HeaderAppendAction::OverwriteIfExistsOrAdd))
                    .collect(),
                headers_to_remove: a.remove.iter().map(|n| n.as_str().to_owned()).collect(),
                response_headers_to_add: a
                    .respond
                    .iter()
                    .map(|(n, v)| envoy_header(n, v, HeaderAppendAction::OverwriteIfExistsOrAdd))
                    .collect(),
                ..Default::default()
            })),
            ..Default::default()
        },
        Verdict::Deny(r) => {
            let code = match r.status().as_u16() {
                401 => tonic::Code::Unauthenticated,
                403 => tonic::Code::PermissionDenied,
                503 => tonic::Code::Unavailable,
                404 => tonic::Code::NotFound,
                500 => tonic::Code::Internal,
                _ => tonic::Code::InvalidArgument,
            };
            CheckResponse {
                status: Some(rpc::Status {
                    code: code as i32,
                    ..Default::default()
                }),
                http_response: Some(HttpResponse::DeniedResponse(DeniedHttpResponse {
                    status: Some(HttpStatus {
                        code: i32::from(r.status().as_u16()),
                    }),
                    headers: r
                        .headers()
                        .iter()
                        .map(|(n, v)| envoy_header(n, v, HeaderAppendAction::AppendIfExistsOrAdd))
                        .collect(),
                    body: String::from_utf8_lossy(r.body()).into_owned(),
                })),
                ..Default::default()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_form_takes_paths_only() {
        assert_eq!(origin_form(b"/a/b?c=1").unwrap().to_string(), "/a/b?c=1");
        for bad in [&b"http://evil.example/a"[..], b"*", b"", b"a/b", b"/a b"] {
            assert!(origin_form(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn envoy_http_checks_lose_the_prefix() {
        let original = |target: &str| {
            let (head, ()) = Request::get(target).body(()).unwrap().into_parts();
            envoy_http_original(head).map(|h| h.uri.to_string())
        };
        assert_eq!(original("/envoy/orders/1?x=2").unwrap(), "/orders/1?x=2");
        assert_eq!(original("/envoy").unwrap(), "/");
        assert_eq!(original("/envoy?x=1").unwrap(), "/?x=1");
    }

    #[test]
    fn grpc_checks_become_the_original_request() {
        use envoy_types::pb::envoy::service::auth::v3::{AttributeContext, attribute_context};
        let mut http = attribute_context::HttpRequest {
            method: String::from("POST"),
            path: String::from("/orders?id=1"),
            host: String::from("api.example"),
            ..Default::default()
        };
        http.headers
            .insert(String::from(":authority"), String::from("ignored"));
        http.headers
            .insert(String::from("authorization"), String::from("Bearer abc"));
        http.headers
            .insert(String::from("connection"), String::from("close"));
        let check = |http: attribute_context::HttpRequest| {
            grpc_original(CheckRequest {
                attributes: Some(AttributeContext {
                    request: Some(attribute_context::Request {
                        http: Some(http),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
            })
        };
        let head = check(http.clone()).unwrap();
        assert_eq!(head.method, http::Method::POST);
        assert_eq!(head.uri.to_string(), "/orders?id=1");
        assert_eq!(head.headers[header::HOST], "api.example");
        assert_eq!(head.headers[header::AUTHORIZATION], "Bearer abc");
        assert_eq!(head.headers.len(), 2, "{:?}", head.headers);
        for (field, value, why) in [
            ("path", "http://evil.example/orders", "grpc_path"),
            ("method", "GE T", "grpc_method"),
        ] {
            let mut bad = http.clone();
            match field {
                "path" => bad.path = value.to_owned(),
                _ => bad.method = value.to_owned(),
            }
            assert_eq!(check(bad).unwrap_err(), why);
        }
        assert_eq!(
            grpc_original(CheckRequest::default()).unwrap_err(),
            "grpc_no_http_attributes"
        );
        // Raw headers (`encode_raw_headers`): every line kept, so that two Authorization
        // headers stay two (and the filter refuses them) instead of one winning.
        let raw = |key: &str, value: &str, in_raw: bool| {
            envoy_types::pb::envoy::config::core::v3::HeaderValue {
                key: key.to_owned(),
                value: if in_raw {
                    String::new()
                } else {
                    value.to_owned()
                },
                raw_value: if in_raw {
                    value.as_bytes().to_vec()
                } else {
                    Vec::new()
                },
            }
        };
        let mut raw_http = http.clone();
        raw_http.headers.clear();
        raw_http.header_map = Some(envoy_types::pb::envoy::config::core::v3::HeaderMap {
            headers: vec![
                raw("authorization", "Bearer a", true),
                raw("authorization", "Bearer b", false),
                raw(":path", "/elsewhere", true),
                raw("bad name", "x", true),
            ],
        });
        let head = check(raw_http).unwrap();
        let auth: Vec<_> = head.headers.get_all(header::AUTHORIZATION).iter().collect();
        assert_eq!(auth, ["Bearer a", "Bearer b"]);
        assert_eq!(head.uri.to_string(), "/orders?id=1");
        assert_eq!(head.headers.len(), 3, "{:?}", head.headers);
    }
}
