//! One request through the gateway: Host, path check, route, token, identity headers, upstream.
//!
//! ```text
//! client ──► one Host? ─400─► normal-form path? ─400─► route? ─404─► method? ─405─►
//!   public? ──────────────────────────────────────────────────────────────┐
//!   └► filter.check ─401/403/400/503─►                                    │
//!        └► body within max_body_bytes? ─413─► identity headers ◄─────────┘
//!             └► upstream ─► client   (timeout 504, unreachable 502, body cut 413/408)
//! ```
//!
//! Headers the gateway sets are first removed from what the caller sent: the identity headers,
//! every `X-Forwarded-*`, `Forwarded`, `X-Real-IP`, `True-Client-IP`, `X-Original-URL`,
//! `X-Rewrite-URL` and the method-override headers, each also in its `_` spellings, so none can be
//! spoofed to an application that reads `HTTP_*` variables. Hop-by-hop headers (RFC 9110
//! §7.6.1) are removed in both directions, `TE: trailers` excepted (gRPC needs it). Bodies
//! stream through in both directions; nothing is buffered. In phantom-token mode an introspected
//! token's signed introspection response (RFC 9701) replaces the caller's `Authorization`.
//!
//! The most specific route whose path matches decides; if none of its routes allows the
//! method the answer is 405 with `Allow`, never a less specific route. GET covers HEAD.
//!
//! Besides: the RFC 9728 metadata path is answered here (never forwarded); a WebSocket
//! handshake passes the filter like any request, then its frames are relayed (a token in
//! `Sec-WebSocket-Protocol` is read where the route allows it and removed everywhere); on MCP
//! routes every `tools/call` of the JSON-RPC body is checked against its tool's requirement
//! before the body goes on. CORS preflights never get here: the layer around the gateway
//! answers them (`super::cors`).

use super::config::{AuthorizationPolicy, Config, Forwarding, Protocol, Upstream};
use super::limits::{BodyFault, BodyOutcome, InFlightGuard, Limits, RequestBody, Tracked};
use super::metrics as m;
use super::upstream::{self, Pool};
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use oauth_filter::{
    AccessToken, ClientCertificate, Decision, ErrorResponder, JsonErrorResponder, OAuthFilter,
    PathRequirements, Rejection, RequestParts,
};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use std::net::SocketAddr;
use std::time::Instant;

/// RFC 9440 §2: the client certificate and its chain, as a TLS-terminating proxy forwards them.
const CLIENT_CERT_HEADERS: [&str; 2] = ["client-cert", "client-cert-chain"];

/// Errors of a streamed body.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// What the gateway answers with: a streamed upstream body or a small local one.
pub(crate) type Body = UnsyncBoxBody<Bytes, BoxError>;

/// What the gateway knows of a request's connection, made once per connection.
pub(crate) struct Connection {
    /// The client's address.
    pub(crate) peer: SocketAddr,
    /// The client's certificate, from the gateway's own TLS listener.
    certificate: Option<ClientCertificate>,
    /// `X-Forwarded-Proto`: `https` when the client connected over TLS.
    proto: HeaderValue,
    /// `X-Forwarded-For`: the peer's IP address.
    forwarded_for: Option<HeaderValue>,
}

impl Connection {
    /// A connection from `peer`, over TLS or not, with the certificate its TLS handshake gave.
    pub(crate) fn new(peer: SocketAddr, tls: bool, certificate: Option<ClientCertificate>) -> Self {
        Self {
            peer,
            certificate,
            proto: HeaderValue::from_static(if tls { "https" } else { "http" }),
            forwarded_for: HeaderValue::from_str(&peer.ip().to_string()).ok(),
        }
    }
}

/// The gateway's own answer to a request: the response, and its outcome and reason for the
/// metrics.
pub(crate) type Answer = (Response<Body>, m::Outcome, &'static str);

/// A request [`Proxy::admit`] lets through, its head rewritten for the upstream.
pub(crate) struct Admitted<'p> {
    /// The route that decided (for log lines).
    pub(crate) route_name: &'p str,
    /// The route's WebSocket and MCP options.
    pub(crate) options: Option<&'p oauth_filter_config::RouteOptions>,
    /// The verified token (`None` on a public route).
    pub(crate) token: Option<AccessToken>,
    /// A fresh DPoP nonce for the response, replacing any the upstream sends.
    pub(crate) dpop_nonce: Option<String>,
}

/// The proxy's shared state.
pub(crate) struct Proxy {
    filter: OAuthFilter,
    routes: PathRequirements,
    upstream: Upstream,
    forwarding: Forwarding,
    limits: Limits,
    /// Connections to the upstream.
    pool: std::sync::Arc<Pool>,
    /// Proxies whose `Client-Cert` header is honoured (`server.client_cert_header_from`).
    client_cert_proxies: Vec<ipnet::IpNet>,
    /// Routes' WebSocket and MCP options, by route name.
    route_options: std::collections::BTreeMap<String, oauth_filter_config::RouteOptions>,
    /// The gateway's own HTTP/1.1 engine's upstream connections, when it serves plain-HTTP
    /// listeners (`super::h1`): `server.http1_fast_path`, an `http://` HTTP/1.1 upstream, no
    /// `[cors]`.
    fast: Option<std::sync::Arc<super::h1::Upstreams>>,
    /// Some route checks MCP tool calls: its POST bodies are read, which hyper's engine does.
    mcp_routes: bool,
    /// The upstream's `Host`, made once.
    upstream_host: Option<HeaderValue>,
}

impl Proxy {
    pub(crate) fn new(config: &Config, upstream: &Upstream) -> Result<Self, upstream::BuildError> {
        let pool = Pool::new(config, upstream)?;
        let fast = super::h1::why_not(config, upstream)
            .is_none()
            .then(|| super::h1::Upstreams::new(&upstream.authority, upstream.connect_timeout));
        Ok(Self {
            filter: config.filter.clone(),
            routes: config.routes.clone(),
            upstream: upstream.clone(),
            forwarding: config.forwarding.clone(),
            limits: config.limits.clone(),
            pool,
            client_cert_proxies: config.client_cert_proxies.clone(),
            route_options: config.route_options.clone(),
            fast,
            mcp_routes: config.route_options.values().any(|o| o.mcp.is_some()),
            upstream_host: HeaderValue::from_str(upstream.authority.as_str()).ok(),
        })
    }

    /// The gateway's own HTTP/1.1 engine's upstream connections, if it serves this proxy.
    pub(crate) fn fast_path(&self) -> Option<&std::sync::Arc<super::h1::Upstreams>> {
        self.fast.as_ref()
    }

    /// POST requests go to hyper's engine (some route reads MCP bodies).
    pub(crate) fn hands_over_posts(&self) -> bool {
        self.mcp_routes
    }

    /// The `[server]` limits.
    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// How long the upstream has to start its response (`upstream.timeout_secs`).
    pub(crate) fn upstream_timeout(&self) -> std::time::Duration {
        self.upstream.timeout
    }

    /// The request's client certificate, for certificate-bound tokens (RFC 8705): from a
    /// trusted proxy, its RFC 9440 `Client-Cert` header (forwarded upstream as is); from
    /// anyone else, the TLS connection's, and every `Client-Cert` header is removed so that
    /// neither the filter nor the upstream can be told a certificate the client does not hold.
    fn client_certificate(
        &self,
        headers: &mut HeaderMap,
        peer: SocketAddr,
        connection: Option<ClientCertificate>,
    ) -> Option<ClientCertificate> {
        let trusted = self
            .client_cert_proxies
            .iter()
            .any(|n| n.contains(&peer.ip()));
        // The `_` near-names (`client_cert`) always go: CGI-style readers take them for the
        // real header; from anyone but a trusted proxy, the real ones go too.
        let doomed = |name: &HeaderName| {
            let n = name.as_str();
            let near = n.contains('_');
            CLIENT_CERT_HEADERS.iter().any(|c| near_name(n, c)) && (near || !trusted)
        };
        // Most requests carry none: that is found without collecting anything.
        if headers.keys().any(doomed) {
            let names: Vec<HeaderName> = headers.keys().filter(|n| doomed(n)).cloned().collect();
            for name in names {
                headers.remove(name);
            }
        }
        if !trusted {
            return connection;
        }
        let mut values = headers.get_all(CLIENT_CERT_HEADERS[0]).iter();
        match (values.next(), values.next()) {
            (Some(v), None) => match ClientCertificate::from_client_cert_header(v.as_bytes()) {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, peer = %peer, "a trusted proxy sent an unreadable Client-Cert header; treated as no certificate");
                    None
                }
            },
            (Some(_), Some(_)) => {
                tracing::warn!(peer = %peer, "a trusted proxy sent several Client-Cert headers; treated as no certificate");
                None
            }
            // The proxy forwarded no certificate: its client had none.
            (None, _) => None,
        }
    }

    /// Handles one request; never fails (every problem becomes an answer). `guard` counts the
    /// request as in flight on its connection until the response body is done.
    pub(crate) async fn handle(
        &self,
        req: Request<Incoming>,
        conn: &Connection,
        guard: InFlightGuard,
    ) -> Response<Body> {
        let started = Instant::now();
        let (response, outcome, reason) = self.decide_and_forward(req, conn).await;
        m::request(outcome, reason, started.elapsed());
        response.map(|body| Tracked::new(body, guard).boxed_unsync())
    }

    /// Every check a request passes before it may go upstream, in order: one `Host`, a
    /// normal-form path, the RFC 9728 metadata path (answered here), a route and its method,
    /// a WebSocket's token subprotocol, the filter's decision, the declared body size; then the
    /// head is rewritten for the upstream ([`Proxy::rewrite_request`]). `Err`: the gateway's own
    /// answer (logged here). Both HTTP engines (hyper's, and `super::h1`'s) call this one
    /// function, so they cannot differ in what they let through or what the upstream is told.
    pub(crate) async fn admit(
        &self,
        head: &mut http::request::Parts,
        conn: &Connection,
        websocket: WebSocket,
        memo: Option<&mut IdentityMemo>,
    ) -> Result<Admitted<'_>, Answer> {
        if let Some(c) =
            self.client_certificate(&mut head.headers, conn.peer, conn.certificate.clone())
        {
            head.extensions.insert(c);
        }
        let refuse = |status: StatusCode, reason: &'static str, error: &str, why: &str| {
            (local(status, error, why), m::Outcome::Refused, reason)
        };
        // RFC 9112 §3.2: a request with more than one Host is invalid (and with preserve_host
        // both would be forwarded); so is an HTTP/1.1 request with none, in any request-target
        // form (HTTP/2 carries `:authority` instead, and HTTP/1.0 may leave Host out).
        let mut hosts = head.headers.get_all(header::HOST).iter();
        let host_refused = match (hosts.next(), hosts.next()) {
            (_, Some(_)) => Some(("duplicate_host", "more than one Host header")),
            (None, None) if head.version == http::Version::HTTP_11 => {
                Some(("missing_host", "an HTTP/1.1 request needs a Host header"))
            }
            _ => None,
        };
        if let Some((reason, why)) = host_refused {
            tracing::info!(reason, status = 400, method = %head.method, "request refused");
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                reason,
                "invalid_request",
                why,
            ));
        }
        let path = match oauth_filter::path::check(head.uri.path()) {
            Ok(p) => p,
            Err(why) => {
                tracing::info!(reason = "invalid_path", status = 400, method = %head.method, why, "request refused");
                return Err(refuse(
                    StatusCode::BAD_REQUEST,
                    "invalid_path",
                    "invalid_request",
                    why,
                ));
            }
        };
        // RFC 9728 metadata: the gateway's own answer, no token needed, never forwarded.
        if let Some(m) = self.filter.resource_metadata()
            && path == m.path()
        {
            return Err(
                if matches!(head.method, http::Method::GET | http::Method::HEAD) {
                    let r: Response<Full<Bytes>> = m.response();
                    (
                        r.map(|b| b.map_err(|e| match e {}).boxed_unsync()),
                        m::Outcome::Local,
                        "resource_metadata",
                    )
                } else {
                    let mut r = local(
                        StatusCode::METHOD_NOT_ALLOWED,
                        "method_not_allowed",
                        "the metadata is read with GET",
                    );
                    r.headers_mut()
                        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
                    (r, m::Outcome::Refused, "method_not_allowed")
                },
            );
        }
        let route = match self.routes.select_normalized(head.method.as_str(), &path) {
            Ok(route) => route,
            Err(error) => {
                // The path is logged as a quoted, escaped string: it is decoded text the client
                // chose, and must not add fields to a log line.
                tracing::info!(reason = error.reason_code(), status = error.status(), method = %head.method, path = ?path, "request refused");
                let reason = error.reason_code();
                let rejection = self
                    .filter
                    .route_rejection(&self.routes, head.uri.path(), error);
                return Err((respond(&rejection), m::Outcome::Refused, reason));
            }
        };
        let route_name = route.name();
        let options = self.route_options.get(route_name);
        // A token in `Sec-WebSocket-Protocol` is read only where the route allows it, and never
        // forwarded either way.
        let from_protocol = options.is_some_and(|o| o.websocket_protocol_token);
        let synthesized = if websocket != WebSocket::No {
            match take_protocol_token(&mut head.headers, from_protocol) {
                Ok(s) => s,
                Err(why) => {
                    tracing::info!(reason = "websocket_protocol_token", status = 400, route = %route_name, why, "request refused");
                    return Err(refuse(
                        StatusCode::BAD_REQUEST,
                        "websocket_protocol_token",
                        "invalid_request",
                        why,
                    ));
                }
            }
        } else {
            false
        };
        let mut dpop_nonce = None;
        let token = match route.requirement() {
            None => None,
            Some(_) => {
                let parts = RequestParts::from_http_parts(head);
                match self.filter.decide(&parts, None, route).await {
                    Decision::Allow(t) => {
                        dpop_nonce = self.filter.dpop_nonce_refresh(&parts);
                        Some(t)
                    }
                    Decision::Deny(rejection) => {
                        let reason = rejection.error().reason_code();
                        return Err((respond(&rejection), m::Outcome::Rejected, reason));
                    }
                    _ => {
                        return Err(refuse(
                            StatusCode::UNAUTHORIZED,
                            "missing_token",
                            "unauthorized",
                            "an access token is required",
                        ));
                    }
                }
            }
        };
        if let Some(max) = self.limits.max_body_bytes {
            let declared = head
                .headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|len| len > max) {
                tracing::info!(reason = "body_too_large", status = 413, route = %route_name, "request refused");
                return Err(too_large());
            }
        }
        if synthesized {
            // The token came in the protocol header: it is not the caller's Authorization.
            head.headers.remove(header::AUTHORIZATION);
        }
        if self
            .rewrite_request(head, conn, token.as_ref(), memo)
            .is_err()
        {
            // Never forward the inbound (possibly absolute-form) URI as it came.
            tracing::error!(reason = "upstream_uri", status = 500, route = %route_name, "cannot build the upstream URI");
            return Err(cannot_forward("upstream_uri"));
        }
        Ok(Admitted {
            route_name,
            options,
            token,
            dpop_nonce,
        })
    }

    async fn decide_and_forward(&self, req: Request<Incoming>, conn: &Connection) -> Answer {
        let (mut head, body) = req.into_parts();
        let websocket = websocket_kind(&head);
        if websocket == WebSocket::Http2 {
            // RFC 8441's CONNECT is the HTTP/1.1 GET handshake in HTTP/2 clothes: routed,
            // checked and forwarded as that GET.
            head.method = http::Method::GET;
        }
        let on_upgrade = if websocket == WebSocket::No {
            None
        } else {
            head.extensions.remove::<hyper::upgrade::OnUpgrade>()
        };
        let admitted = match self.admit(&mut head, conn, websocket, None).await {
            Ok(a) => a,
            Err(answer) => return answer,
        };
        let Admitted {
            route_name,
            options,
            token,
            dpop_nonce,
        } = admitted;
        // The upstream is told one plain length, as the own engine tells it: hyper's server
        // passes a length in leading zeros on as it came (`010`, which a reader in base 0 takes
        // for 8), and refuses several or a list itself; here they would be a 400 too.
        if let Err(why) = plain_length(&mut head.headers) {
            tracing::info!(reason = "invalid_length", status = 400, route = %route_name, why, "request refused");
            return (
                local(StatusCode::BAD_REQUEST, "invalid_request", why),
                m::Outcome::Refused,
                "invalid_length",
            );
        }
        let mut h2_key = None;
        if on_upgrade.is_some() {
            // Hop-by-hop, but the handshake itself: asked of the upstream again.
            head.headers
                .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            head.headers
                .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            if websocket == WebSocket::Http2 {
                // The HTTP/1.1 handshake has a key the HTTP/2 one does not: the gateway makes
                // it, and checks the upstream's answer to it.
                let Some(key) = websocket_key() else {
                    tracing::error!(reason = "websocket_key", status = 500, route = %route_name, "no random bytes for a WebSocket key");
                    return cannot_forward("websocket_key");
                };
                if let Ok(v) = HeaderValue::from_str(&key) {
                    head.headers
                        .insert(HeaderName::from_static("sec-websocket-key"), v);
                }
                head.headers
                    .entry(HeaderName::from_static("sec-websocket-version"))
                    .or_insert(HeaderValue::from_static("13"));
                h2_key = Some(key);
            }
        }
        let outcome = BodyOutcome::default();
        let mcp = options
            .and_then(|o| o.mcp.as_ref())
            .filter(|_| head.method == http::Method::POST);
        let body = match (mcp, &token) {
            (Some(tools), Some(t)) => match self.check_tool_calls(body, tools, t, &outcome).await {
                Ok(bytes) => RequestBody::buffered(bytes, &self.limits),
                Err(answer) => {
                    tracing::info!(reason = answer.2, status = answer.0.status().as_u16(), route = %route_name, "MCP request refused");
                    return answer;
                }
            },
            _ => RequestBody::new(body, &self.limits, outcome.clone()),
        };
        let upstream_req = Request::from_parts(head, body);
        match tokio::time::timeout(self.upstream.timeout, self.pool.send(upstream_req)).await {
            Ok(Ok(mut resp)) => {
                let switched = resp.status() == StatusCode::SWITCHING_PROTOCOLS;
                if switched
                    && let Some(key) = &h2_key
                    && resp
                        .headers()
                        .get("sec-websocket-accept")
                        .is_none_or(|v| v.as_bytes() != websocket_accept(key).as_bytes())
                {
                    tracing::warn!(reason = "upstream_websocket", status = 502, route = %route_name, "the upstream's WebSocket handshake does not answer the gateway's key");
                    return (
                        local(
                            StatusCode::BAD_GATEWAY,
                            "bad_gateway",
                            "the upstream's WebSocket handshake is not valid",
                        ),
                        m::Outcome::UpstreamError,
                        "upstream_websocket",
                    );
                }
                let relayed = match on_upgrade {
                    Some(inbound) if switched => {
                        relay(inbound, hyper::upgrade::on(&mut resp));
                        true
                    }
                    _ => false,
                };
                let (mut parts, body) = resp.into_parts();
                remove_hop_by_hop(&mut parts.headers);
                // RFC 9110 §8.6: a 204 carries no Content-Length, whatever the upstream wrote
                // (hyper's server drops it itself, but not on an answer to HEAD), as the own
                // engine answers.
                if parts.status == StatusCode::NO_CONTENT {
                    parts.headers.remove(header::CONTENT_LENGTH);
                }
                // The client gets one Content-Length of plain digits or none, as from the own
                // engine. hyper's client takes a list of equal values (`5, 5`) or the same
                // field twice, and its server would write them on as they came, for clients
                // downstream to read each their own way; such an answer is a 502 (RFC 9112
                // §6.3), and a length in leading zeros is written plainly.
                if let Err(why) = plain_length(&mut parts.headers) {
                    tracing::warn!(reason = "upstream_unavailable", status = 502, route = %route_name, why, "upstream response refused");
                    return upstream_unavailable();
                }
                if relayed && websocket == WebSocket::Http2 {
                    // RFC 8441 §5: a 2xx opens the stream; the HTTP/1.1 accept stays here.
                    parts.status = StatusCode::OK;
                    parts.headers.remove("sec-websocket-accept");
                } else if relayed {
                    parts
                        .headers
                        .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
                    parts
                        .headers
                        .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
                }
                // The filter's fresh nonce replaces any the upstream sent.
                if let Some(v) = dpop_nonce.and_then(|n| HeaderValue::from_str(&n).ok()) {
                    parts
                        .headers
                        .insert(HeaderName::from_static("dpop-nonce"), v);
                }
                let body = body.boxed_unsync();
                (
                    Response::from_parts(parts, body),
                    m::Outcome::Forwarded,
                    "ok",
                )
            }
            Ok(Err(e)) => match outcome.fault() {
                Some(BodyFault::TooLarge) => {
                    tracing::info!(reason = "body_too_large", status = 413, route = %route_name, "request body cut off");
                    too_large()
                }
                Some(BodyFault::Stalled) => {
                    tracing::info!(reason = "body_timeout", status = 408, route = %route_name, "request body stalled");
                    body_timeout()
                }
                None => {
                    tracing::warn!(reason = "upstream_unavailable", status = 502, route = %route_name, error = %e, "upstream request failed");
                    upstream_unavailable()
                }
            },
            Err(_) => {
                tracing::warn!(reason = "upstream_timeout", status = 504, route = %route_name, "upstream did not answer in time");
                upstream_timeout()
            }
        }
    }

    /// MCP over HTTP: reads the JSON-RPC body (within `tools.max_body_bytes` and
    /// `max_body_bytes`) and checks every `tools/call` in it (a batch element by element)
    /// against that tool's requirement. `Ok`: the body, to forward unchanged; `Err`: the
    /// answer (413, 408, 400 for a body that is not JSON-RPC, 403 with the tool's scopes).
    async fn check_tool_calls(
        &self,
        body: Incoming,
        tools: &oauth_filter_config::McpTools,
        token: &AccessToken,
        outcome: &BodyOutcome,
    ) -> Result<Bytes, Answer> {
        let mcp_cap = u64::try_from(tools.max_body_bytes).unwrap_or(u64::MAX);
        let cap = self
            .limits
            .max_body_bytes
            .map_or(mcp_cap, |m| m.min(mcp_cap));
        let read = RequestBody::capped(body, &self.limits, Some(cap), outcome.clone())
            .collect()
            .await;
        let bytes = match read {
            Ok(collected) => collected.to_bytes(),
            Err(_) => {
                return Err(match outcome.fault() {
                    Some(BodyFault::Stalled) => body_timeout(),
                    Some(BodyFault::TooLarge) => too_large(),
                    None => (
                        local(
                            StatusCode::BAD_REQUEST,
                            "invalid_request",
                            "the request body could not be read",
                        ),
                        m::Outcome::Refused,
                        "body_unreadable",
                    ),
                });
            }
        };
        let calls = tool_calls(&bytes).map_err(|why| {
            (
                local(StatusCode::BAD_REQUEST, "invalid_request", why),
                m::Outcome::Refused,
                "mcp_invalid_jsonrpc",
            )
        })?;
        for name in calls {
            if let Some(requirement) = tools.tools.get(&name)
                && let Err(e) = self.filter.authorize(token, requirement)
            {
                let rejection = self.filter.reject(e, Some(requirement));
                let reason = rejection.error().reason_code();
                return Err((respond(&rejection), m::Outcome::Rejected, reason));
            }
        }
        Ok(bytes)
    }

    /// Prepares the request for the upstream. `Err`: the upstream URI could not be built.
    fn rewrite_request(
        &self,
        head: &mut http::request::Parts,
        conn: &Connection,
        token: Option<&AccessToken>,
        memo: Option<&mut IdentityMemo>,
    ) -> Result<(), http::Error> {
        let original_host = head.headers.get(header::HOST).cloned().or_else(|| {
            head.uri
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        });
        let headers = &mut head.headers;
        remove_hop_by_hop(headers);
        let f = &self.forwarding;
        remove_managed(headers, f);
        if f.authorization == AuthorizationPolicy::Remove {
            // The DPoP proof goes with the token it proves: made for this hop, not the next.
            headers.remove(header::AUTHORIZATION);
            headers.remove(DPOP);
        }
        if let Some(v) = &conn.forwarded_for {
            headers.insert(X_FORWARDED_FOR, v.clone());
        }
        headers.insert(X_FORWARDED_PROTO, conn.proto.clone());
        if let Some(host) = &original_host {
            headers.insert(X_FORWARDED_HOST, host.clone());
        }
        if let Some(jwt) = token.and_then(AccessToken::introspection_jwt) {
            // Phantom token: the upstream gets the authorization server's signed statement.
            if let Ok(v) = HeaderValue::from_str(&format!("Bearer {jwt}")) {
                headers.insert(header::AUTHORIZATION, v);
            }
        }
        if let Some(t) = token {
            let values = match memo {
                Some(memo) => memo.values(f, t),
                None => identity(f, t).map(|(_, v)| v),
            };
            for (name, value) in f.identity_headers().into_iter().zip(values) {
                if let Some(v) = value {
                    headers.insert(name.clone(), v);
                }
            }
        }
        if (!self.upstream.preserve_host || original_host.is_none())
            && let Some(v) = &self.upstream_host
        {
            headers.insert(header::HOST, v.clone());
        }
        head.uri = upstream_uri(&self.upstream, &head.uri)?;
        // The client picks the upstream protocol; the inbound version must not leak into it.
        head.version = match self.upstream.protocol {
            Protocol::H2c => http::Version::HTTP_2,
            Protocol::Http1 => http::Version::HTTP_11,
        };
        Ok(())
    }
}

/// The upstream's URI for an inbound one, in origin form: the upstream's base path, then the
/// inbound path and query. Never the inbound authority (an absolute-form request names a host
/// of the client's choosing); the pool adds the upstream's own where HTTP/2 needs one.
fn upstream_uri(upstream: &Upstream, inbound: &Uri) -> Result<Uri, http::Error> {
    let uri = Uri::builder();
    match inbound.path_and_query() {
        // No base path: the inbound path and query as they are (shared, not copied).
        Some(pq) if upstream.base_path.is_empty() => uri.path_and_query(pq.clone()),
        pq => {
            let pq = pq.map_or("/", |pq| pq.as_str());
            uri.path_and_query(format!("{}{pq}", upstream.base_path))
        }
    }
    .build()
}

/// 500: the gateway cannot make the upstream request (`reason` for the metrics).
fn cannot_forward(reason: &'static str) -> Answer {
    (
        local(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "the request cannot be forwarded",
        ),
        m::Outcome::UpstreamError,
        reason,
    )
}

/// 502: the upstream could not be reached, or broke the exchange off.
pub(crate) fn upstream_unavailable() -> Answer {
    (
        local(
            StatusCode::BAD_GATEWAY,
            "bad_gateway",
            "the upstream is unavailable",
        ),
        m::Outcome::UpstreamError,
        "upstream_unavailable",
    )
}

/// 504: no response head within the upstream's `timeout`.
pub(crate) fn upstream_timeout() -> Answer {
    (
        local(
            StatusCode::GATEWAY_TIMEOUT,
            "gateway_timeout",
            "the upstream did not answer in time",
        ),
        m::Outcome::UpstreamError,
        "upstream_timeout",
    )
}

/// 408: the request body stalled past `body_idle_timeout_secs`.
pub(crate) fn body_timeout() -> Answer {
    (
        local(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "the request body stopped arriving",
        ),
        m::Outcome::Refused,
        "body_timeout",
    )
}

/// 413: the request body is over `max_body_bytes` (declared, or counted while streaming).
fn too_large() -> Answer {
    (
        local(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is larger than allowed",
        ),
        m::Outcome::Refused,
        "body_too_large",
    )
}

/// Headers nobody but the gateway may set, beyond the identity headers: a client-set value
/// would be taken as the gateway's word by frameworks that read them (client address, original
/// URL, method override).
const ROUTING_HEADERS: [&str; 9] = [
    "forwarded",
    "x-real-ip",
    "true-client-ip",
    "x-original-url",
    "x-rewrite-url",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "x-original-method",
];

/// Removes every inbound header that is, or could be read as, one the gateway manages: the
/// identity headers, every `X-Forwarded-*` (the gateway sets its own), and [`ROUTING_HEADERS`],
/// each also under its `_` near-names (`x_auth_subject`, `x-forwarded_for`): WSGI, Rack and CGI
/// read `-` and `_` alike as `HTTP_X_AUTH_SUBJECT` (the class of Django CVE-2015-0219 and Puma
/// CVE-2024-45614).
fn remove_managed(headers: &mut HeaderMap, f: &Forwarding) {
    let identity = f.identity_headers();
    let managed = |name: &str| {
        identity.iter().any(|h| h.as_str() == name)
            || name.starts_with("x-forwarded-")
            || ROUTING_HEADERS.contains(&name)
    };
    let doomed = |name: &HeaderName| {
        let name = name.as_str();
        if name.contains('_') {
            managed(&name.replace('_', "-"))
        } else {
            managed(name)
        }
    };
    // Most requests carry none: that is found without collecting anything.
    if !headers.keys().any(doomed) {
        return;
    }
    let names: Vec<HeaderName> = headers.keys().filter(|n| doomed(n)).cloned().collect();
    for name in names {
        headers.remove(name);
    }
}

/// Whether a (lower-case) header name is `canonical` with any of its `-` written `_`.
fn near_name(name: &str, canonical: &str) -> bool {
    name.len() == canonical.len()
        && name
            .bytes()
            .zip(canonical.bytes())
            .all(|(a, b)| a == b || (a == b'_' && b == b'-'))
}

/// The identity headers for a verified token: subject, client id and scopes, each `None` when
/// the token has no such fact (or it cannot be a header value).
pub(crate) fn identity<'f>(
    f: &'f Forwarding,
    t: &AccessToken,
) -> [(&'f HeaderName, Option<HeaderValue>); 3] {
    let scopes = t.scopes().to_string();
    [
        (&f.subject_header, t.subject().and_then(header_value)),
        (&f.client_id_header, t.client_id().and_then(header_value)),
        (&f.scope_header, header_value(&scopes)),
    ]
}

/// The identity header values of the last token a connection presented, for its next request:
/// a client sends the same token again and again, and the verified-token cache hands out the
/// same [`AccessToken`] for it ([`AccessToken::ptr_eq`]), so the values need making once.
#[derive(Default)]
pub(crate) struct IdentityMemo(Option<(AccessToken, [Option<HeaderValue>; 3])>);

impl IdentityMemo {
    /// [`identity`]'s values for `t`: kept ones when `t` is the last token, else made anew.
    fn values(&mut self, f: &Forwarding, t: &AccessToken) -> [Option<HeaderValue>; 3] {
        match &self.0 {
            Some((last, values)) if AccessToken::ptr_eq(last, t) => values.clone(),
            _ => {
                let values = identity(f, t).map(|(_, v)| v);
                self.0 = Some((t.clone(), values.clone()));
                values
            }
        }
    }
}

/// Percent-encodes what a header value cannot carry verbatim (controls, non-ASCII) and `%`
/// itself, so the value is unambiguous and decodable.
const HEADER_UNSAFE: &AsciiSet = &CONTROLS.add(b'%');

fn header_value(v: &str) -> Option<HeaderValue> {
    // The common case, nothing to encode, skips the encoder's copy.
    if v.bytes().all(|b| (b' '..=b'~').contains(&b) && b != b'%') {
        return HeaderValue::from_str(v).ok();
    }
    HeaderValue::from_str(&utf8_percent_encode(v, HEADER_UNSAFE).to_string()).ok()
}

// Header names set or removed on every request, made at compile time (`from_static` at run
// time looks the name up each call).
const DPOP: HeaderName = HeaderName::from_static("dpop");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// RFC 9110 §7.6.1's connection-specific headers (besides `TE`, kept when it is `trailers`).
/// A `static`, not a `const`: a `const` array of header names is built and dropped again at
/// every use.
static HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// RFC 9110 §7.6.1: connection-specific headers, and every header the `Connection` header names.
/// Most messages have none: one pass over the names finds that, before any removal.
pub(crate) fn remove_hop_by_hop(headers: &mut HeaderMap) {
    if !headers
        .keys()
        .any(|n| n == header::TE || HOP_BY_HOP.contains(n))
    {
        return;
    }
    let connection = |name: &[u8]| {
        headers
            .get_all(header::CONNECTION)
            .iter()
            .any(|v| has_token(v.as_bytes(), name))
    };
    let mut kept = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers.iter() {
        if !is_hop_by_hop(name.as_str().as_bytes(), value.as_bytes(), connection) {
            kept.append(name.clone(), value.clone());
        }
    }
    *headers = kept;
}

/// Fields a `Connection` field's options never remove: the message's framing and the request's
/// Host. The sender of a message does not get to unframe it for the next hop: a request whose
/// `Content-Length` a proxy dropped on the client's say-so reaches the upstream with its body read
/// as a request of its own, one the gateway never checked (the hop-by-hop field attacks;
/// Apache's CVE-2022-31813 and Traefik's CVE-2024-45410 are the same class for the forwarding
/// headers, which the gateway sets after this removal). `Transfer-Encoding` is hop-by-hop
/// anyway, and each engine frames what it relays itself.
const NEVER_CONNECTION_OPTIONS: [&[u8]; 2] = [b"content-length", b"host"];

/// RFC 9110 §7.6.1: whether a field goes no further than this hop: one of [`HOP_BY_HOP`], a `TE`
/// other than `trailers` (gRPC needs that one), or a name the message's `Connection` field lists
/// (`connection(name)`), but never one of [`NEVER_CONNECTION_OPTIONS`]. Both HTTP engines drop
/// exactly these ([`remove_hop_by_hop`] here, the response relay of `super::h1`).
pub(crate) fn is_hop_by_hop(name: &[u8], value: &[u8], connection: impl Fn(&[u8]) -> bool) -> bool {
    let te_not_trailers = name.eq_ignore_ascii_case(header::TE.as_str().as_bytes())
        && !value.trim_ascii().eq_ignore_ascii_case(b"trailers");
    te_not_trailers
        || HOP_BY_HOP
            .iter()
            .any(|h| name.eq_ignore_ascii_case(h.as_str().as_bytes()))
        || (connection(name)
            && !NEVER_CONNECTION_OPTIONS
                .iter()
                .any(|n| name.eq_ignore_ascii_case(n)))
}

/// A `Content-Length` value: decimal digits only (no sign, space or list), at most 18 of them.
pub(crate) fn length_digits(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 18 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(v.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

/// Leaves a message at most one `Content-Length`, written plainly (`05` becomes `5`), or says
/// why its lengths are not one plain number: several fields, or a value that is not digits
/// alone (a list, a sign, spaces inside).
pub(crate) fn plain_length(headers: &mut HeaderMap) -> Result<(), &'static str> {
    let mut lengths = headers.get_all(header::CONTENT_LENGTH).iter();
    let value = match (lengths.next(), lengths.next()) {
        (None, _) => return Ok(()),
        (Some(value), None) => value,
        (Some(_), Some(_)) => return Err("several Content-Length fields"),
    };
    let n = length_digits(value.as_bytes()).ok_or("a malformed Content-Length")?;
    if value.len() > 1 && value.as_bytes().first() == Some(&b'0') {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    }
    Ok(())
}

/// Whether a comma-separated field value lists `token` (ASCII case-insensitive).
pub(crate) fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|b| *b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// The tool names of the `tools/call` requests in an MCP JSON-RPC body (a message, or a batch
/// of them). A body that is not JSON-RPC, or a `tools/call` without a tool name, is an error:
/// what this gateway cannot read, it does not let through to a server that might read it.
fn tool_calls(body: &[u8]) -> Result<Vec<String>, &'static str> {
    const NOT_JSONRPC: &str = "the body is not a JSON-RPC message or batch";
    let Unique(value) = serde_json::from_slice(body).map_err(|_| NOT_JSONRPC)?;
    let messages = match &value {
        serde_json::Value::Array(batch) if !batch.is_empty() => batch.iter().collect(),
        serde_json::Value::Object(_) => vec![&value],
        _ => return Err(NOT_JSONRPC),
    };
    let mut names = Vec::new();
    for m in messages {
        let m = m.as_object().ok_or(NOT_JSONRPC)?;
        match m.get("method") {
            Some(serde_json::Value::String(method)) if method == "tools/call" => {
                let name = m
                    .get("params")
                    .and_then(|p| p.get("name"))
                    .and_then(serde_json::Value::as_str)
                    .ok_or("a tools/call without a tool name")?;
                names.push(name.to_owned());
            }
            Some(serde_json::Value::String(_)) | None => {}
            Some(_) => return Err(NOT_JSONRPC),
        }
    }
    Ok(names)
}

/// A JSON value whose objects have unique member names. Parsers differ on which of two equal
/// names wins (`{"name": "list", "name": "delete"}`): the gateway and the MCP server must read
/// the same tool, so such a body is refused rather than guessed at.
struct Unique(serde_json::Value);

impl<'de> serde::Deserialize<'de> for Unique {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueVisitor).map(Unique)
    }
}

struct UniqueVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueVisitor {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value with unique member names")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, Into::into))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Unique(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(serde_json::Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = serde_json::Map::new();
        while let Some(name) = map.next_key::<String>()? {
            if members.contains_key(&name) {
                return Err(serde::de::Error::custom("a member name appears twice"));
            }
            let Unique(v) = map.next_value()?;
            members.insert(name, v);
        }
        Ok(serde_json::Value::Object(members))
    }
}

/// How a request opens a WebSocket, if it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WebSocket {
    No,
    /// RFC 6455 §4.1: an HTTP/1.1 GET with `Upgrade: websocket`.
    Http1,
    /// RFC 8441: an HTTP/2 `CONNECT` with `:protocol = websocket`.
    Http2,
}

fn websocket_kind(head: &http::request::Parts) -> WebSocket {
    if is_websocket(head) {
        WebSocket::Http1
    } else if head.method == http::Method::CONNECT
        && head.version == http::Version::HTTP_2
        && head
            .extensions
            .get::<hyper::ext::Protocol>()
            .is_some_and(|p| p.as_str().eq_ignore_ascii_case("websocket"))
    {
        WebSocket::Http2
    } else {
        WebSocket::No
    }
}

/// A fresh `Sec-WebSocket-Key` (RFC 6455 §4.1: 16 random bytes, base64).
fn websocket_key() -> Option<String> {
    use base64::Engine;
    let mut key = [0u8; 16];
    rustls::crypto::aws_lc_rs::default_provider()
        .secure_random
        .fill(&mut key)
        .ok()?;
    Some(base64::engine::general_purpose::STANDARD.encode(key))
}

/// The `Sec-WebSocket-Accept` that answers `key` (RFC 6455 §4.2.2: base64 of the SHA-1 of the
/// key and the protocol's GUID). SHA-1 here is the protocol's, not a security choice.
fn websocket_accept(key: &str) -> String {
    use base64::Engine;
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        format!("{key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11").as_bytes(),
    );
    base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
}

/// Whether the request opens a WebSocket (RFC 6455 §4.1): an HTTP/1.1 GET with
/// `Upgrade: websocket` and `Connection: upgrade`.
fn is_websocket(head: &http::request::Parts) -> bool {
    let has = |name: HeaderName, token: &str| {
        head.headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    head.method == http::Method::GET
        && head.version == http::Version::HTTP_11
        && has(header::UPGRADE, "websocket")
        && has(header::CONNECTION, "upgrade")
}

/// The Kubernetes-style subprotocol that carries a bearer token from a browser, which cannot
/// set headers on a WebSocket: `base64url.bearer.authorization.k8s.io.<base64url(token)>`.
const PROTOCOL_TOKEN_PREFIX: &str = "base64url.bearer.authorization.k8s.io.";

/// Removes token subprotocols from `Sec-WebSocket-Protocol` (the others stay for the
/// upstream). With `read`, the one such token becomes the request's `Authorization` (for the
/// filter; `Ok(true)`); an `Authorization` header as well, several tokens or a bad encoding
/// are refused.
fn take_protocol_token(headers: &mut HeaderMap, read: bool) -> Result<bool, &'static str> {
    let name = HeaderName::from_static("sec-websocket-protocol");
    let mut tokens = Vec::new();
    let mut others = Vec::new();
    for v in headers.get_all(&name) {
        let v = v
            .to_str()
            .map_err(|_| "Sec-WebSocket-Protocol is not ASCII")?;
        for p in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match p.strip_prefix(PROTOCOL_TOKEN_PREFIX) {
                Some(t) => tokens.push(t.to_owned()),
                None => others.push(p.to_owned()),
            }
        }
    }
    if tokens.is_empty() {
        return Ok(false);
    }
    headers.remove(&name);
    if !others.is_empty() {
        let joined = HeaderValue::from_str(&others.join(", "))
            .map_err(|_| "Sec-WebSocket-Protocol is not a valid header")?;
        headers.insert(name, joined);
    }
    if !read {
        return Ok(false);
    }
    if tokens.len() > 1 || headers.contains_key(header::AUTHORIZATION) {
        return Err("more than one access token in the request");
    }
    use base64::Engine;
    let token = tokens
        .first()
        .and_then(|t| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(t)
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or("the token subprotocol is not base64url")?;
    let value = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| "the token subprotocol is not a bearer token")?;
    headers.insert(header::AUTHORIZATION, value);
    Ok(true)
}

/// Relays a WebSocket's frames both ways once both sides have switched protocols, until either
/// closes (or the client connection's idle timeout ends it).
fn relay(inbound: hyper::upgrade::OnUpgrade, upstream: hyper::upgrade::OnUpgrade) {
    tokio::spawn(async move {
        let (client, server) = match tokio::join!(inbound, upstream) {
            (Ok(c), Ok(s)) => (c, s),
            _ => {
                tracing::debug!("a WebSocket upgrade did not complete");
                return;
            }
        };
        let mut client = hyper_util::rt::TokioIo::new(client);
        let mut server = hyper_util::rt::TokioIo::new(server);
        if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut server).await {
            tracing::debug!(error = %e, "WebSocket relay ended");
        }
    });
}

pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// The library's own answer to a rejection (status, challenge headers, JSON body), on our body
/// type.
pub(crate) fn respond(rejection: &Rejection) -> Response<Body> {
    let resp: Response<Full<Bytes>> = JsonErrorResponder.respond(rejection);
    resp.map(|body| body.map_err(|never| match never {}).boxed_unsync())
}

/// A small JSON answer made by the gateway itself (fixed texts only).
pub(crate) fn local(status: StatusCode, error: &str, description: &str) -> Response<Body> {
    local_bytes(status, error, description).map(full)
}

/// [`local`] with its body as bytes (`authz` puts it in gRPC's denied response).
pub(crate) fn local_bytes(status: StatusCode, error: &str, description: &str) -> Response<Bytes> {
    let body = serde_json::json!({"error": error, "error_description": description});
    let mut resp = Response::new(Bytes::from(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_names_are_the_name_with_underscores_for_dashes_and_nothing_else() {
        for n in ["client-cert", "client_cert"] {
            assert!(near_name(n, "client-cert"), "{n}");
        }
        for n in [
            "client-cert-chain",
            "clientcert",
            "client-certs",
            "client.cert",
            "-lient-cert",
        ] {
            assert!(!near_name(n, "client-cert"), "{n}");
        }
        assert!(near_name("client_cert_chain", "client-cert-chain"));
    }

    #[test]
    fn the_websocket_accept_is_rfc_6455s() {
        // RFC 6455 §1.3's example.
        assert_eq!(
            websocket_accept("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        let key = websocket_key().unwrap();
        assert_eq!(key.len(), 24);
        assert_ne!(key, websocket_key().unwrap());
    }

    #[test]
    fn tool_calls_are_found_in_messages_and_batches_and_unreadable_bodies_refused() {
        let call = |name: &str| {
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{name}"}}}}"#
            )
        };
        assert_eq!(tool_calls(call("a").as_bytes()), Ok(vec!["a".to_owned()]));
        let batch = format!(
            r#"[{},{{"jsonrpc":"2.0","method":"notifications/initialized"}},{}]"#,
            call("a"),
            call("b")
        );
        assert_eq!(
            tool_calls(batch.as_bytes()),
            Ok(vec!["a".to_owned(), "b".to_owned()])
        );
        assert_eq!(
            tool_calls(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#),
            Ok(vec![])
        );
        assert_eq!(
            tool_calls(br#"{"jsonrpc":"2.0","id":1,"result":{}}"#),
            Ok(vec![])
        );
        for bad in [
            &b"not json"[..],
            b"[]",
            b"1",
            b"[1]",
            br#"{"method":5}"#,
            br#"{"method":"tools/call"}"#,
            br#"{"method":"tools/call","params":{"name":7}}"#,
            br#"{"method":"tools/call","params":"x"}"#,
            // Which duplicate wins differs between parsers: refused.
            br#"{"method":"tools/call","params":{"name":"list","name":"delete_repo"}}"#,
            br#"{"method":"ping","method":"tools/call","params":{"name":"delete_repo"}}"#,
            br#"[{"id":1,"id":2,"method":"ping"}]"#,
        ] {
            assert!(tool_calls(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn hop_by_hop_headers_go_and_te_trailers_stays() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("close, x-secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("5"));
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        remove_hop_by_hop(&mut h);
        let names: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["te", "x-kept"]);
        h.insert(header::TE, HeaderValue::from_static("gzip"));
        remove_hop_by_hop(&mut h);
        assert!(h.get(header::TE).is_none());
    }

    #[test]
    fn content_lengths_are_plain_length_digits() {
        assert_eq!(length_digits(b"0"), Some(0));
        assert_eq!(
            length_digits(b"123456789012345678"),
            Some(123_456_789_012_345_678)
        );
        for bad in [
            &b""[..],
            b"-1",
            b"+1",
            b" 1",
            b"1 ",
            b"1,1",
            b"0x10",
            b"1234567890123456789",
        ] {
            assert_eq!(
                length_digits(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
    #[test]
    fn a_message_keeps_one_plain_length_or_none() {
        let with = |values: &[&'static str]| {
            let mut h = HeaderMap::new();
            for v in values {
                h.append(header::CONTENT_LENGTH, HeaderValue::from_static(v));
            }
            let answer = plain_length(&mut h);
            let left: Vec<_> = h.get_all(header::CONTENT_LENGTH).iter().cloned().collect();
            (answer, left)
        };
        assert_eq!(with(&[]), (Ok(()), vec![]));
        assert_eq!(with(&["5"]), (Ok(()), vec![HeaderValue::from(5)]));
        assert_eq!(with(&["0"]), (Ok(()), vec![HeaderValue::from(0)]));
        assert_eq!(with(&["005"]), (Ok(()), vec![HeaderValue::from(5)]));
        assert_eq!(with(&["5", "5"]).0, Err("several Content-Length fields"));
        for bad in ["5, 5", "5,5", "+5", "-1", " 5", "0x5", ""] {
            assert_eq!(with(&[bad]).0, Err("a malformed Content-Length"), "{bad:?}");
        }
    }

    #[test]
    fn a_connection_option_never_removes_the_framing_or_the_host() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("Content-Length, HOST, x-secret"),
        );
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("5"));
        h.insert(header::HOST, HeaderValue::from_static("gw"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        remove_hop_by_hop(&mut h);
        let names: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["content-length", "host"]);
        // As the response relay asks it, with the field's own spelling.
        let listed = |n: &[u8]| n.eq_ignore_ascii_case(b"content-length");
        assert!(!is_hop_by_hop(b"Content-Length", b"5", listed));
        assert!(is_hop_by_hop(b"Transfer-Encoding", b"chunked", listed));
    }

    #[test]
    fn each_hop_by_hop_header_alone_is_removed() {
        for name in HOP_BY_HOP.iter().chain([&header::TE]) {
            let mut h = HeaderMap::new();
            h.insert(name.clone(), HeaderValue::from_static("x"));
            h.insert("x-kept", HeaderValue::from_static("1"));
            remove_hop_by_hop(&mut h);
            let names: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
            assert_eq!(names, ["x-kept"], "{name}");
        }
    }

    #[test]
    fn the_upstream_uri_never_takes_the_inbound_authority_and_can_fail() {
        let mut upstream = Upstream {
            scheme: http::uri::Scheme::HTTP,
            authority: "127.0.0.1:3000".parse().unwrap(),
            base_path: String::from("/api"),
            protocol: Protocol::Http1,
            connect_timeout: std::time::Duration::from_secs(1),
            timeout: std::time::Duration::from_secs(1),
            preserve_host: false,
        };
        let inbound: Uri = "http://evil.example/orders?x=1".parse().unwrap();
        assert_eq!(
            upstream_uri(&upstream, &inbound).unwrap(),
            "/api/orders?x=1"
        );
        // A base path that cannot be part of a URI: an error (answered 500), never the
        // inbound URI forwarded as it came.
        upstream.base_path = String::from("/a b");
        assert!(upstream_uri(&upstream, &inbound).is_err());
        // No base path: the inbound path and query, still never its authority.
        upstream.base_path = String::new();
        assert_eq!(upstream_uri(&upstream, &inbound).unwrap(), "/orders?x=1");
        let bare: Uri = "evil.example:443".parse().unwrap();
        assert_eq!(upstream_uri(&upstream, &bare).unwrap(), "/");
    }

    #[test]
    fn identity_values_are_encoded_unambiguously() {
        assert_eq!(header_value("alice").unwrap(), "alice");
        assert_eq!(header_value("a b").unwrap(), "a b");
        assert_eq!(header_value("100%").unwrap(), "100%25");
        assert_eq!(
            header_value("x\r\nX-Admin: 1").unwrap(),
            "x%0D%0AX-Admin: 1"
        );
        assert_eq!(header_value("josé").unwrap(), "jos%C3%A9");
    }
}
