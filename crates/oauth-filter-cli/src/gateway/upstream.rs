//! The gateway's connections to its one upstream: HTTP/1.1 connections kept for reuse, or one
//! HTTP/2 connection that every request shares (`protocol = "h2c"`, or TLS whose ALPN chose h2).
//!
//! ```text
//! send(request) ─► the shared HTTP/2 connection, open? ─────────────────────────► request
//!               └► the most recently used idle HTTP/1.1 connection, ready? ─────► request
//!               └► none: connect (connect_timeout), TLS and ALPN, handshake ────► request
//! response body at its end ─► its HTTP/1.1 connection back to the idle list
//! ```
//!
//! ```ignore
//! let pool = Pool::new(&config, &upstream)?; // connector, TLS and ALPN from the configuration
//! let response = pool.send(request).await?; // request: origin-form URI, Host set
//! ```
//!
//! Why not hyper-util's `legacy::Client`, which this replaced: it serves any number of hosts,
//! so every request hashed its (scheme, authority) pool key, raced the idle checkout against a
//! lazy connect, and for HTTP/1.1 spawned a task that waited for the connection to become idle
//! again before putting it back. The gateway has one upstream: a list under one uncontended
//! lock, and a response body that gives its connection back when it ends, do that work.
//! callgrind (`scripts/bench-gateway.sh`, BENCHMARKS.md), instructions per proxied request on
//! the public route: 49,474 with the legacy client, 48,735 with this pool, 40,087 once its
//! connect path was boxed (the request's future, moved on every request, 8,688 -> 2,768 bytes).
//!
//! Kept from the legacy client: a request an idle connection refused before anything was sent
//! (the upstream closed it while it was idle) goes to the next connection or a new one. Added,
//! as on the gateway's own engine (`super::h1`): a GET, HEAD or OPTIONS without a body that
//! such a connection took and then closed on unanswered (the upstream closed it as the request
//! arrived) goes once more, on a new connection; other requests get 502, since the upstream
//! may have acted on them;
//! HTTP/1.1 connections can be upgraded (WebSockets), and an upgraded, broken or half-read one
//! never goes back; idle connections are closed after [`IDLE_TIMEOUT`].

use super::config::{Config, Protocol, Upstream};
use super::limits::RequestBody;
use super::proxy::BoxError;
use bytes::Bytes;
use http::{Request, Response, StatusCode, Uri};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::{http1, http2};
use hyper_util::client::legacy::connect::{Connection as _, HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls_pki_types::pem::PemObject;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tower::ServiceExt as _;

/// How the gateway reaches the upstream: TCP, then TLS for `https` upstreams.
pub(crate) type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// An idle connection is closed after this long unused.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Why the upstream gave no response.
#[derive(Debug)]
pub(crate) enum Error {
    /// No connection: refused, unreachable, `connect_timeout`, or the TLS handshake failed.
    Connect(BoxError),
    /// The connection failed while the request was sent or its response awaited.
    Http(hyper::Error),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connect(e) => write!(f, "cannot connect: {e}"),
            Self::Http(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {}

/// Why the upstream's connections could not be set up.
#[derive(Debug)]
pub(crate) enum BuildError {
    Tls(String),
    Origin(http::Error),
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tls(e) => write!(f, "cannot set up TLS to the upstream: {e}"),
            Self::Origin(e) => write!(f, "cannot make a URI of the upstream's url: {e}"),
        }
    }
}

impl std::error::Error for BuildError {}

/// The connections to one upstream.
pub(crate) struct Pool {
    connector: Connector,
    /// The upstream's scheme and authority (what is connected to; HTTP/2's pseudo-headers).
    origin: Uri,
    /// `protocol = "h2c"`: HTTP/2 without TLS, so without ALPN to choose it.
    h2c: bool,
    state: Mutex<State>,
    /// The idle-connection reaper runs (started with the first connection, inside the runtime).
    reaping: AtomicBool,
}

#[derive(Default)]
struct State {
    /// Idle HTTP/1.1 connections, least recently used first.
    idle: Vec<Idle>,
    /// The HTTP/2 connection, once one is open.
    h2: Option<http2::SendRequest<RequestBody>>,
}

struct Idle {
    sender: http1::SendRequest<RequestBody>,
    since: Instant,
}

impl Pool {
    /// Connections to `upstream`: TCP with `connect_timeout` and `TCP_NODELAY`, then TLS (the
    /// configured CA bundle or the platform's roots, the gateway's client certificate) for
    /// `https`, where ALPN may choose HTTP/2.
    pub(crate) fn new(config: &Config, upstream: &Upstream) -> Result<Arc<Self>, BuildError> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(upstream.connect_timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(upstream_tls(config)?)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let origin = Uri::builder()
            .scheme(upstream.scheme.clone())
            .authority(upstream.authority.clone())
            .path_and_query("/")
            .build()
            .map_err(BuildError::Origin)?;
        Ok(Arc::new(Self {
            connector,
            origin,
            h2c: upstream.protocol == Protocol::H2c,
            state: Mutex::new(State::default()),
            reaping: AtomicBool::new(false),
        }))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Nothing under the lock can leave the list inconsistent: a poisoned lock is usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends `req` (origin-form URI, `Host` set) and returns the upstream's response. The
    /// response body gives an HTTP/1.1 connection back to the pool at its end.
    pub(crate) async fn send(
        self: &Arc<Self>,
        mut req: Request<RequestBody>,
    ) -> Result<Response<PooledBody>, Error> {
        while let Some(sender) = self.checkout() {
            match sender {
                Sender::H2(mut h2) => match h2.try_send_request(self.absolute(req)).await {
                    Ok(resp) => return Ok(resp.map(PooledBody::alone)),
                    Err(mut e) => match e.take_message() {
                        // Closed before this request went out: a new connection takes it
                        // (not another turn here, which could find the same connection).
                        Some(r) => {
                            self.forget_closed_h2();
                            req = r;
                            break;
                        }
                        None => return Err(Error::Http(e.into_error())),
                    },
                },
                Sender::H1(mut h1) => {
                    // Given back at its response's end; hyper may not have marked it ready yet.
                    if h1.ready().await.is_err() {
                        continue;
                    }
                    let again = resendable(&req);
                    match h1.try_send_request(req).await {
                        Ok(resp) => return Ok(self.returning(resp, h1)),
                        Err(mut e) => match (e.take_message(), again) {
                            // Closed while idle, nothing sent: the next connection takes it.
                            (Some(r), _) => req = r,
                            // Sent, and the connection ended with no answer (the upstream closed
                            // it as the request arrived): a bodiless GET, HEAD or OPTIONS goes
                            // once more, on a new connection, as on the gateway's own engine.
                            (None, Some(r)) if !e.error().is_parse() => {
                                req = r;
                                break;
                            }
                            (None, _) => return Err(Error::Http(e.into_error())),
                        },
                    }
                }
            }
        }
        // Boxed: connecting is rare, and its future is most of this one's size, which every
        // request would otherwise move around (a memcpy per move).
        match Box::pin(self.connect()).await? {
            Sender::H1(mut sender) => {
                let resp = sender.send_request(req).await.map_err(Error::Http)?;
                Ok(self.returning(resp, sender))
            }
            Sender::H2(mut sender) => {
                let resp = sender
                    .send_request(self.absolute(req))
                    .await
                    .map_err(Error::Http)?;
                Ok(resp.map(PooledBody::alone))
            }
        }
    }

    /// HTTP/2 names the upstream in the request's URI (`:scheme`, `:authority`).
    fn absolute(&self, mut req: Request<RequestBody>) -> Request<RequestBody> {
        let mut parts = http::uri::Parts::default();
        parts.scheme = self.origin.scheme().cloned();
        parts.authority = self.origin.authority().cloned();
        parts.path_and_query = req.uri().path_and_query().cloned();
        if let Ok(uri) = Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
        req
    }

    /// Under one lock: the shared HTTP/2 connection if it is open, else the most recently
    /// used idle HTTP/1.1 connection that is still open and not past its idle time.
    fn checkout(&self) -> Option<Sender> {
        let mut state = self.state();
        if let Some(h2) = &state.h2 {
            if !h2.is_closed() {
                return Some(Sender::H2(h2.clone()));
            }
            state.h2 = None;
        }
        while let Some(idle) = state.idle.pop() {
            if idle.since.elapsed() >= IDLE_TIMEOUT {
                // The most recent is too old, so are all the others.
                state.idle.clear();
                return None;
            }
            if !idle.sender.is_closed() {
                return Some(Sender::H1(idle.sender));
            }
        }
        None
    }

    fn check_in(&self, sender: http1::SendRequest<RequestBody>) {
        if sender.is_closed() {
            return;
        }
        self.state().idle.push(Idle {
            sender,
            since: Instant::now(),
        });
    }

    /// Drops the shared HTTP/2 connection if it is closed (another request may have replaced
    /// it with an open one already).
    fn forget_closed_h2(&self) {
        let mut state = self.state();
        if state.h2.as_ref().is_some_and(http2::SendRequest::is_closed) {
            state.h2 = None;
        }
    }

    /// The response, with its connection going back at its body's end (never after an upgrade:
    /// the connection is the relay's then).
    fn returning(
        self: &Arc<Self>,
        resp: Response<Incoming>,
        sender: http1::SendRequest<RequestBody>,
    ) -> Response<PooledBody> {
        if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
            return resp.map(PooledBody::alone);
        }
        resp.map(|inner| {
            let mut body = PooledBody {
                inner,
                back: Some((self.clone(), sender)),
            };
            if body.inner.is_end_stream() {
                body.give_back();
            }
            body
        })
    }

    async fn connect(self: &Arc<Self>) -> Result<Sender, Error> {
        self.start_reaper();
        let io = self
            .connector
            .clone()
            .oneshot(self.origin.clone())
            .await
            .map_err(Error::Connect)?;
        if self.h2c || io.connected().is_negotiated_h2() {
            let (sender, conn) = http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .handshake(io)
                .await
                .map_err(Error::Http)?;
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "upstream HTTP/2 connection ended with an error");
                }
            });
            self.state().h2 = Some(sender.clone());
            Ok(Sender::H2(sender))
        } else {
            let (sender, conn) = http1::Builder::new()
                .handshake(io)
                .await
                .map_err(Error::Http)?;
            tokio::spawn(async move {
                if let Err(e) = conn.with_upgrades().await {
                    tracing::debug!(error = %e, "upstream connection ended with an error");
                }
            });
            Ok(Sender::H1(sender))
        }
    }

    /// Closes idle connections past [`IDLE_TIMEOUT`] even when no request comes to find them.
    fn start_reaper(self: &Arc<Self>) {
        if self.reaping.swap(true, Ordering::Relaxed) {
            return;
        }
        let pool: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(IDLE_TIMEOUT / 2);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(pool) = pool.upgrade() else { return };
                pool.state()
                    .idle
                    .retain(|i| i.since.elapsed() < IDLE_TIMEOUT && !i.sender.is_closed());
            }
        });
    }
}

/// TLS to an https upstream: the configured CA bundle or the platform's roots, and the
/// gateway's client certificate when one is configured.
fn upstream_tls(config: &Config) -> Result<rustls::ClientConfig, BuildError> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let tls = |e: rustls::Error| BuildError::Tls(e.to_string());
    let builder = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(tls)?;
    let builder = match &config.ca_pem {
        Some(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in rustls_pki_types::CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| BuildError::Tls(e.to_string()))?;
                roots.add(cert).map_err(tls)?;
            }
            builder.with_root_certificates(roots)
        }
        None => builder.with_platform_verifier().map_err(tls)?,
    };
    match &config.client_identity {
        Some(id) => {
            let key = id
                .key()
                .ok_or_else(|| BuildError::Tls(String::from("unusable client key")))?;
            builder.with_client_auth_cert(id.chain(), key).map_err(tls)
        }
        None => Ok(builder.with_no_client_auth()),
    }
}

/// Whether a request with this method may go to the upstream a second time when a reused
/// connection ended without answering it: GET, HEAD and OPTIONS, which are safe (RFC 9110
/// §9.2.1), so an upstream that did act on the first copy sees nothing new. The one rule of
/// both engines; each adds that it must still hold the whole request to send (hyper's engine:
/// no body, since a streamed one cannot be replayed; the gateway's own: a body that went out
/// whole with the head).
pub(crate) fn may_send_again(method: &http::Method) -> bool {
    matches!(
        *method,
        http::Method::GET | http::Method::HEAD | http::Method::OPTIONS
    )
}

/// A copy of `req` to send again if a reused connection ends without answering it: only for
/// [`may_send_again`] methods without a body. `None` for others.
fn resendable(req: &Request<RequestBody>) -> Option<Request<RequestBody>> {
    if !may_send_again(req.method()) || !req.body().is_end_stream() {
        return None;
    }
    let mut copy = Request::new(RequestBody::empty());
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.version_mut() = req.version();
    *copy.headers_mut() = req.headers().clone();
    *copy.extensions_mut() = req.extensions().clone();
    Some(copy)
}

enum Sender {
    H1(http1::SendRequest<RequestBody>),
    H2(http2::SendRequest<RequestBody>),
}

/// An upstream response body; an HTTP/1.1 connection goes back to its pool when the body has
/// been read to its end (dropped before, or failed, the connection is closed).
pub(crate) struct PooledBody {
    inner: Incoming,
    back: Option<(Arc<Pool>, http1::SendRequest<RequestBody>)>,
}

impl PooledBody {
    fn alone(inner: Incoming) -> Self {
        Self { inner, back: None }
    }

    fn give_back(&mut self) {
        if let Some((pool, sender)) = self.back.take() {
            pool.check_in(sender);
        }
    }
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                this.give_back();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Ok(frame))) => {
                if this.inner.is_end_stream() {
                    this.give_back();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                // A broken response: its connection is not reused.
                this.back = None;
                Poll::Ready(Some(Err(Box::new(e))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
