//! The gateway's own HTTP/1.1 engine for the common exchange: a request without a body or with
//! a `Content-Length` one, to an `http://` HTTP/1.1 upstream. Every other request goes to hyper.
//!
//! ```text
//! client bytes ─► httparse: a head this engine takes? ──no──► hyper serves the connection
//!   │                                                         from that request on
//!   └► http::request::Parts ─► Proxy::admit (the checks both engines share) ─► our answer
//!        └► the rewritten head upstream (+ a Content-Length body) ─► response head (httparse)
//!             └► hop-by-hop headers removed ─► body relayed by its framing ─► next request
//! ```
//!
//! ```toml
//! [server]
//! http1_fast_path = true   # the default; false: hyper serves every request
//! ```
//!
//! Why the gateway owns this step (a library falls short of a benchmark here, so the step is
//! ours, and why is written down): through hyper a proxied request cost 35,000 instructions
//! where nginx spends 19,650 (callgrind, BENCHMARKS.md). hyper parses each head into a header
//! map and encodes it again on both sides, runs the upstream connection as a second task fed
//! by channels, and layers body types; a plain loop over tokio and httparse measured 6,800.
//! What decides security stays in one place: [`Proxy::admit`] (Host, path, route, the filter,
//! the identity and forwarding headers) is the same call for both engines, the hop-by-hop list
//! is [`proxy::is_hop_by_hop`] for both, and parsing is httparse's, the parser hyper uses.
//!
//! What this engine takes, and what it hands to hyper (with the bytes already read, so that
//! hyper sees the connection from the start of that request, and answers what is malformed):
//! - HTTP/1.1 requests in origin form without `Transfer-Encoding`, `Upgrade` or `Expect`, with
//!   at most one `Content-Length` of plain digits. HTTP/1.0, chunked or ambiguous framing,
//!   upgrades (WebSockets), `CONNECT`, `OPTIONS *`, HTTP/2's preface, heads httparse or
//!   `http` refuse, heads over 64 KiB or with more than 100 fields, and POSTs when MCP routes
//!   are configured (their bodies are read and checked) go to hyper.
//! - Upstream responses framed by `Content-Length`, chunked (re-chunked canonically: chunk
//!   extensions and trailers are dropped, as hyper drops them; a chunk line without a size,
//!   or a chunk or trailer line that ends in a bare LF or holds another control octet, is
//!   refused, as hyper refuses it), or without a body (HEAD, 204, 304); a body that ends with
//!   the upstream's close goes on chunked. Informational answers (1xx) are skipped, as
//!   hyper's client skips them. `Transfer-Encoding` other than `chunked`
//!   alone, `Transfer-Encoding` with `Content-Length`, several or malformed `Content-Length`s,
//!   a `101` nobody asked for, or a malformed head: 502, and that upstream connection is
//!   closed (RFC 9112 §6.3). A body that breaks off mid-way closes the client's connection
//!   without the body's end, so the client sees it incomplete.
//! - Framing is this engine's own in both directions: the `Content-Length` it writes upstream
//!   is the length of the body it relays, and the client's is the upstream's validated one,
//!   written again; no field map decides how a body is delimited (a `Connection` field naming
//!   `Content-Length` once made a request body reach the upstream as a request of its own).
//!
//! Timeouts are the configured ones: `idle_timeout` while waiting for a request,
//! `header_read_timeout` once its head has begun (408), `body_idle_timeout` while its body
//! arrives (408), and the upstream's `timeout` for the response head, counted from when the
//! request starts going out, its upload included (504, as with hyper's engine). One timer per
//! connection serves them all, kept no further ahead than the shortest of them so that no
//! request needs to move it ([`Timer`]). An upstream connection that was
//! idle is reused when the runtime has seen no event on it (the upstream closes idle
//! connections with a FIN the runtime sees); a request on a reused connection that fails
//! before any byte of an answer is sent again on a new connection when that is safe: when
//! writing it failed, or for GET, HEAD and OPTIONS whose body, if any, went out whole with the
//! head ([`upstream::may_send_again`]).

use super::metrics as m;
use super::proxy::{
    self, Admitted, Connection, Proxy, WebSocket, has_token, length_digits as digits,
};
use super::upstream::{self, IDLE_TIMEOUT};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::BodyExt;
use std::future::{Future, poll_fn};
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

/// Most fields a head may have here (hyper's default too): a request with more goes to hyper
/// (431), a response with more is a 502.
const MAX_HEADERS: usize = 100;
/// The largest request head this engine reads; a longer one goes to hyper.
const MAX_REQUEST_HEAD: usize = 64 * 1024;
/// The largest upstream response head (hyper's client: 8 KiB + 100 × 4 KiB).
const MAX_RESPONSE_HEAD: usize = 8192 + 4096 * 100;
/// The longest chunk-size line or trailer section of an upstream's chunked body.
const MAX_CHUNK_LINE: usize = 4096;
const MAX_TRAILERS: usize = 64 * 1024;
/// Free space a read asks for (heads), and for bodies.
const HEAD_READ: usize = 8 * 1024;
const BODY_READ: usize = 64 * 1024;
/// A connection keeps buffers up to this size between requests; larger ones are let go.
const KEEP_BUFFER: usize = 16 * 1024;
/// Output is gathered up to this much before it is written.
const GATHER: usize = 64 * 1024;
/// A request body already read up to this size goes upstream in one write with the head.
const SMALL_BODY: usize = 16 * 1024;
/// An answered request's unread body up to this size is read and dropped so that the
/// connection can serve the next request; a larger one closes the connection.
const DRAIN_LIMIT: u64 = 64 * 1024;

/// Why this engine does not serve a configuration's plain-HTTP listener (`None`: it does).
pub(crate) fn why_not(
    config: &super::config::Config,
    upstream: &super::config::Upstream,
) -> Option<&'static str> {
    if !config.limits.http1_fast_path {
        Some("server.http1_fast_path = false")
    } else if config.tls.is_some() {
        Some("the listener is TLS, [server.tls]")
    } else if upstream.scheme != http::uri::Scheme::HTTP {
        Some("the upstream is https")
    } else if upstream.protocol != super::config::Protocol::Http1 {
        Some("the upstream speaks h2c")
    } else if config.cors.is_some() {
        Some("[cors] is configured")
    } else {
        None
    }
}

/// The `check-config` line that says which engine serves HTTP/1.1 requests.
pub(crate) fn describe(config: &super::config::Config) -> Option<String> {
    let upstream = config.upstream.as_ref()?;
    Some(match why_not(config, upstream) {
        None => String::from(
            "HTTP/1.1: the gateway's own engine (hyper for HTTP/2 and the requests it hands over)",
        ),
        Some(why) => format!("HTTP/1.1: hyper ({why})"),
    })
}

/// The gateway is shutting down: connections of this engine end after their request in flight.
#[derive(Clone, Default)]
pub(crate) struct Drain(Arc<DrainState>);

#[derive(Default)]
struct DrainState {
    draining: AtomicBool,
    notify: Notify,
}

impl Drain {
    /// Every connection ends after its current request; idle ones end now.
    pub(crate) fn start(&self) {
        self.0.draining.store(true, Ordering::Release);
        self.0.notify.notify_waiters();
    }

    fn is_draining(&self) -> bool {
        self.0.draining.load(Ordering::Acquire)
    }
}

/// How a connection's time with this engine ended.
pub(crate) enum Ended {
    /// The connection is closed (or is to be dropped): nothing more to do.
    Closed,
    /// A request this engine does not take: hyper serves the connection from these bytes on.
    HandOver(Rewind),
}

/// Serves `client` until it closes or hands a request over to hyper.
pub(crate) async fn serve(
    proxy: &Proxy,
    upstreams: &Arc<Upstreams>,
    client: TcpStream,
    conn: &Connection,
    drain: &Drain,
) -> Ended {
    let shutdown = drain.0.notify.notified();
    let mut shutdown = std::pin::pin!(shutdown);
    shutdown.as_mut().enable();
    let limits = proxy.limits();
    let mut c = Client {
        io: client,
        inbuf: BytesMut::with_capacity(HEAD_READ),
        out: BytesMut::with_capacity(HEAD_READ),
        upbuf: BytesMut::with_capacity(HEAD_READ),
        timer: Timer::new(limits, proxy.upstream_timeout()),
        spans: Vec::new(),
        spare_headers: None,
        identity: proxy::IdentityMemo::default(),
    };
    let mut idle_since = Instant::now();
    loop {
        if drain.is_draining() {
            return Ended::Closed;
        }
        // A head: wait for its first byte (idle), then for the rest of it (header timeout,
        // counted from when a read left it incomplete: a head that comes whole in one read
        // costs no clock reading here).
        let mut head_started = None;
        let request = loop {
            match parse_request(
                &mut c.inbuf,
                proxy.hands_over_posts(),
                &mut c.spans,
                &mut c.spare_headers,
            ) {
                Parse::Take(r) => break r,
                Parse::Hyper => return Ended::HandOver(Rewind::new(c.inbuf.freeze(), c.io)),
                Parse::Partial if c.inbuf.is_empty() => {}
                Parse::Partial => {
                    head_started.get_or_insert_with(Instant::now);
                }
            }
            let read = match head_started {
                None => {
                    let deadline = idle_since + limits.idle_timeout;
                    c.read_client(deadline, Some(shutdown.as_mut())).await
                }
                Some(t) => c.read_client(t + limits.header_read_timeout, None).await,
            };
            match read {
                Ok(0) | Err(Fail::Io(_) | Fail::Drain) => return Ended::Closed,
                Ok(_) => {}
                Err(Fail::TimedOut) if head_started.is_none() => return Ended::Closed,
                Err(Fail::TimedOut) => {
                    tracing::info!(
                        reason = "header_timeout",
                        status = 408,
                        "request head did not arrive in time"
                    );
                    let answer = proxy::local(
                        StatusCode::REQUEST_TIMEOUT,
                        "request_timeout",
                        "the request head did not arrive in time",
                    );
                    if c.answer(answer, false, true, &None).await {
                        c.close().await;
                    }
                    return Ended::Closed;
                }
            }
        };
        let started = Instant::now();
        let Request {
            mut parts,
            content_length: length,
            close,
        } = request;
        let content_length = length.unwrap_or(0);
        let is_head = parts.method == http::Method::HEAD;
        let admitted = proxy
            .admit(&mut parts, conn, WebSocket::No, Some(&mut c.identity))
            .await;
        let keep = match admitted {
            Err((response, outcome, reason)) => {
                m::request(outcome, reason, started.elapsed());
                // The body was not read: dropped if small, else the connection ends.
                let drained = content_length == 0
                    || (content_length <= DRAIN_LIMIT
                        && !close
                        && c.drain_body(content_length, limits.body_idle_timeout).await);
                let sent = c.answer(response, is_head, close || !drained, &None).await;
                c.recycle(parts.headers);
                (sent && drained && !close).then(Instant::now)
            }
            Ok(admitted) => {
                let exchange = Exchange {
                    proxy,
                    upstreams,
                    head: parts,
                    length,
                    client_close: close,
                    is_head,
                    admitted,
                    started,
                };
                exchange.run(&mut c).await
            }
        };
        match keep {
            Some(at) => idle_since = at,
            None => {
                c.close().await;
                return Ended::Closed;
            }
        }
        c.shrink();
    }
}

/// A request head this engine takes, read.
struct Request {
    parts: http::request::Parts,
    /// The body's length, `None` for a request without `Content-Length`.
    content_length: Option<u64>,
    /// The client asked for the connection to close after this exchange.
    close: bool,
}

// Returned once per request and taken apart at once: a box would cost an allocation per request.
#[allow(clippy::large_enum_variant)]
enum Parse {
    /// The head is not all there yet.
    Partial,
    Take(Request),
    /// For hyper: it serves the connection from the start of this head.
    Hyper,
}

/// Reads the request head at the start of `buf`; a head this engine takes is removed from
/// `buf`. `posts`: POSTs go to hyper.
fn parse_request(
    buf: &mut BytesMut,
    posts: bool,
    spans: &mut Vec<[u32; 4]>,
    spare: &mut Option<HeaderMap>,
) -> Parse {
    let mut fields: [MaybeUninit<httparse::Header<'_>>; MAX_HEADERS] =
        [const { MaybeUninit::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let len = match httparse::ParserConfig::default().parse_request_with_uninit_headers(
        &mut req,
        buf,
        &mut fields,
    ) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() <= MAX_REQUEST_HEAD => return Parse::Partial,
        Ok(httparse::Status::Partial) | Err(_) => return Parse::Hyper,
    };
    let (Some(method), Some(target), Some(1)) = (req.method, req.path, req.version) else {
        return Parse::Hyper;
    };
    if !target.starts_with('/') || method == "CONNECT" || (posts && method == "POST") {
        return Parse::Hyper;
    }
    let Ok(method) = http::Method::from_bytes(method.as_bytes()) else {
        return Parse::Hyper;
    };
    let base = buf.as_ptr() as usize;
    // Offsets in the head, which is at most MAX_REQUEST_HEAD long.
    let at = |s: &[u8]| u32::try_from((s.as_ptr() as usize).wrapping_sub(base)).unwrap_or(u32::MAX);
    let span = |s: &[u8]| (at(s), u32::try_from(s.len()).unwrap_or(u32::MAX));
    let target = span(target.as_bytes());
    // Where each field's name and value are in the head, to take them from it uncopied.
    spans.clear();
    let mut content_length = None;
    let mut close = false;
    for h in req.headers.iter() {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            if content_length.is_some() {
                return Parse::Hyper;
            }
            match digits(h.value) {
                Some(n) => content_length = Some(n),
                None => return Parse::Hyper,
            }
        } else if name.eq_ignore_ascii_case(b"connection") {
            close |= has_token(h.value, b"close");
        } else if name.eq_ignore_ascii_case(b"transfer-encoding")
            || name.eq_ignore_ascii_case(b"upgrade")
            || name.eq_ignore_ascii_case(b"expect")
        {
            return Parse::Hyper;
        }
        let (name, name_len) = span(name);
        let (value, value_len) = span(h.value);
        spans.push([name, name_len, value, value_len]);
    }
    let head = buf.split_to(len).freeze();
    let range = |at: u32, len: u32| {
        let at = usize::try_from(at).ok()?;
        Some(at..at.checked_add(usize::try_from(len).ok()?)?)
    };
    let parts = (|| {
        // The last request's map, emptied (its allocations kept); or a new one with room for
        // the fields the gateway adds (forwarding and identity headers).
        let mut headers = spare
            .take()
            .unwrap_or_else(|| HeaderMap::with_capacity(spans.len() + 8));
        // Never a field of an earlier request in this one (emptied already: a no-op).
        headers.clear();
        for &[name, name_len, value, value_len] in spans.iter() {
            let name = HeaderName::from_bytes(head.get(range(name, name_len)?)?).ok()?;
            let value = range(value, value_len)?;
            if value.end > head.len() {
                return None;
            }
            headers.append(
                name,
                HeaderValue::from_maybe_shared(head.slice(value)).ok()?,
            );
        }
        let target = range(target.0, target.1)?;
        if target.end > head.len() {
            return None;
        }
        let uri = http::Uri::from_maybe_shared(head.slice(target)).ok()?;
        let (mut parts, ()) = http::Request::new(()).into_parts();
        parts.method = method;
        parts.uri = uri;
        parts.headers = headers;
        Some(parts)
    })();
    match parts {
        Some(parts) => Parse::Take(Request {
            parts,
            content_length,
            close,
        }),
        None => {
            // Something `http` refuses: hyper answers it, reading it from the start.
            let mut all = BytesMut::with_capacity(head.len() + buf.len());
            all.extend_from_slice(&head);
            all.extend_from_slice(buf);
            *buf = all;
            Parse::Hyper
        }
    }
}

/// Why a read gave no bytes.
enum Fail {
    Io(io::Error),
    TimedOut,
    /// The gateway is shutting down.
    Drain,
}

/// One client connection's sockets' buffers and timer.
struct Client {
    io: TcpStream,
    /// What the client sent that is not used yet.
    inbuf: BytesMut,
    /// What is about to be written (to the upstream, then to the client).
    out: BytesMut,
    /// What the upstream sent that is not relayed yet.
    upbuf: BytesMut,
    timer: Timer,
    /// Field offsets of the request head being read (kept to reuse its allocation).
    spans: Vec<[u32; 4]>,
    /// The last request's header map, emptied, for the next one.
    spare_headers: Option<HeaderMap>,
    /// The identity header values of the last token this connection presented.
    identity: proxy::IdentityMemo,
}

impl Client {
    /// Lets go of buffers a large body grew, between requests: ten thousand idle keep-alive
    /// connections must not each hold what their largest exchange needed.
    fn shrink(&mut self) {
        for buf in [&mut self.out, &mut self.upbuf] {
            if buf.capacity() > KEEP_BUFFER && buf.is_empty() {
                *buf = BytesMut::new();
            }
        }
        if self.inbuf.capacity() > KEEP_BUFFER && self.inbuf.len() <= HEAD_READ {
            // Whatever of the next request came already stays.
            self.inbuf = BytesMut::from(self.inbuf.as_ref());
        }
    }

    /// Keeps a finished request's header map (emptied) for the next request.
    fn recycle(&mut self, mut headers: HeaderMap) {
        headers.clear();
        self.spare_headers = Some(headers);
    }

    /// Reads from the client into `inbuf` by `deadline`, or until `shutdown` fires.
    async fn read_client(
        &mut self,
        deadline: Instant,
        shutdown: Option<Pin<&mut tokio::sync::futures::Notified<'_>>>,
    ) -> Result<usize, Fail> {
        read_by(
            &mut self.io,
            &mut self.inbuf,
            &mut self.timer,
            deadline,
            HEAD_READ,
            shutdown,
        )
        .await
    }

    /// Reads and drops `len` body bytes; `false` if they did not all come in time.
    async fn drain_body(&mut self, mut len: u64, idle: Duration) -> bool {
        loop {
            let take = usize::try_from(len)
                .unwrap_or(usize::MAX)
                .min(self.inbuf.len());
            self.inbuf.advance(take);
            len -= take as u64;
            if len == 0 {
                return true;
            }
            if !matches!(self.read_client(Instant::now() + idle, None).await, Ok(n) if n > 0) {
                return false;
            }
        }
    }

    /// Writes one of the gateway's own answers; `false` if the client is gone.
    async fn answer(
        &mut self,
        response: Response<proxy::Body>,
        is_head: bool,
        close: bool,
        dpop_nonce: &Option<String>,
    ) -> bool {
        let (parts, body) = response.into_parts();
        let Ok(body) = body
            .collect()
            .await
            .map(http_body_util::Collected::to_bytes)
        else {
            return false;
        };
        self.out.clear();
        status_line(&mut self.out, parts.status, None);
        let mut date = false;
        for (name, value) in &parts.headers {
            date |= *name == header::DATE;
            field(&mut self.out, name.as_str().as_bytes(), value.as_bytes());
        }
        field(
            &mut self.out,
            b"content-length",
            number(&mut [0; 20], body.len() as u64, 10),
        );
        finish_head(&mut self.out, date, close, dpop_nonce);
        if !is_head {
            self.out.extend_from_slice(&body);
        }
        self.io.write_all(&self.out).await.is_ok()
    }

    /// Writes what is gathered in `out` to the client.
    async fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            self.io.write_all(&self.out).await?;
            self.out.clear();
        }
        Ok(())
    }

    /// Relays `data` to the client: gathered with what is waiting, or written at once.
    async fn send(&mut self, data: &[u8]) -> io::Result<()> {
        if self.out.len() + data.len() <= GATHER {
            self.out.extend_from_slice(data);
            return Ok(());
        }
        self.flush().await?;
        self.io.write_all(data).await
    }

    /// Ends the connection: the gateway's side is shut, then what the client still sends is
    /// read and dropped for a moment, so that the kernel does not answer it with a reset that
    /// could destroy the response before the client reads it.
    async fn close(mut self) {
        if self.io.shutdown().await.is_err() {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(1);
        for _ in 0..16 {
            self.inbuf.clear();
            if !matches!(self.read_client(deadline, None).await, Ok(n) if n > 0) {
                return;
            }
        }
    }
}

/// Reads from `io` into `buf` (at least `want` bytes of free space) by `deadline` (one lazy
/// timer: see the module docs), or until `shutdown` fires. `Ok(0)`: the peer's end of stream.
async fn read_by(
    io: &mut TcpStream,
    buf: &mut BytesMut,
    timer: &mut Timer,
    deadline: Instant,
    want: usize,
    mut shutdown: Option<Pin<&mut tokio::sync::futures::Notified<'_>>>,
) -> Result<usize, Fail> {
    timer.arm(deadline);
    buf.reserve(want);
    let read = io.read_buf(buf);
    let mut read = std::pin::pin!(read);
    poll_fn(|cx| {
        if let Poll::Ready(r) = read.as_mut().poll(cx) {
            return Poll::Ready(r.map_err(Fail::Io));
        }
        if let Some(s) = shutdown.as_mut()
            && s.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Err(Fail::Drain));
        }
        match timer.poll_expired(cx, deadline) {
            Poll::Ready(()) => Poll::Ready(Err(Fail::TimedOut)),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// A connection's one timer for all its deadlines. It is never later than the deadline being
/// waited for, and never moved for a later one: it is set at most the shortest configured
/// timeout ahead, so every deadline a request brings (its time, plus a configured timeout) is
/// at least as far, and a request costs no timer update. When it fires before the deadline it
/// is set again, to the deadline or the shortest timeout ahead, whichever is sooner.
struct Timer {
    sleep: Pin<Box<Sleep>>,
    /// The shortest of the timeouts this engine waits with.
    step: Duration,
}

impl Timer {
    fn new(limits: &super::limits::Limits, upstream: Duration) -> Self {
        let step = limits
            .header_read_timeout
            .min(limits.idle_timeout)
            .min(limits.body_idle_timeout)
            .min(upstream);
        Self {
            sleep: Box::pin(tokio::time::sleep(step)),
            step,
        }
    }

    /// Makes sure the timer fires no later than `deadline`.
    fn arm(&mut self, deadline: Instant) {
        if self.sleep.deadline() > deadline {
            self.sleep.as_mut().reset(deadline);
        }
    }

    /// `Ready` once `deadline` has passed (the timer registered with `cx` until then).
    fn poll_expired(&mut self, cx: &mut Context<'_>, deadline: Instant) -> Poll<()> {
        while self.sleep.as_mut().poll(cx).is_ready() {
            let now = Instant::now();
            if now >= deadline {
                return Poll::Ready(());
            }
            self.sleep.as_mut().reset(deadline.min(now + self.step));
        }
        Poll::Pending
    }
}

/// One admitted request on its way upstream and back.
struct Exchange<'a> {
    proxy: &'a Proxy,
    upstreams: &'a Arc<Upstreams>,
    head: http::request::Parts,
    /// The body's `Content-Length`, `None` for a request without one.
    length: Option<u64>,
    client_close: bool,
    is_head: bool,
    admitted: Admitted<'a>,
    /// When the request head was read.
    started: Instant,
}

/// Why an exchange produced no upstream response.
enum Failed {
    /// No connection, or the upstream closed or broke it before a whole response head.
    Unavailable(String),
    /// A response head this engine does not relay (502).
    Malformed(&'static str),
    /// No response head within the upstream's `timeout`.
    TimedOut,
    /// The request body stopped arriving (408).
    BodyStalled,
    /// The client went away: nothing to answer.
    ClientGone,
}

/// An upstream connection of this engine.
pub(crate) struct Upstream {
    io: TcpStream,
}

impl Exchange<'_> {
    /// Runs the exchange; `Some(when it ended)` if the client connection can take another
    /// request.
    async fn run(mut self, c: &mut Client) -> Option<Instant> {
        let route = self.admitted.route_name;
        // The upstream head, then what the client already sent of the body when it is small:
        // one write that a connection's empty send buffer always takes whole. A larger body
        // goes the way of a streamed one, watching for an early answer.
        c.out.clear();
        request_head(&mut c.out, &self.head, self.length);
        c.recycle(std::mem::take(&mut self.head.headers));
        let content_length = self.length.unwrap_or(0);
        let buffered = usize::try_from(content_length)
            .unwrap_or(usize::MAX)
            .min(c.inbuf.len());
        let buffered = if buffered <= SMALL_BODY { buffered } else { 0 };
        c.out.extend_from_slice(&c.inbuf.split_to(buffered));
        let body_left = content_length - buffered as u64;
        let (mut up, framing, body_cut) = match self.send(c, body_left).await {
            Ok(s) => s,
            Err(failed) => {
                let (answer, close) = match failed {
                    Failed::ClientGone => return None,
                    Failed::BodyStalled => {
                        tracing::info!(reason = "body_timeout", status = 408, route = %route, "request body stalled");
                        (proxy::body_timeout(), true)
                    }
                    Failed::TimedOut => {
                        tracing::warn!(reason = "upstream_timeout", status = 504, route = %route, "upstream did not answer in time");
                        (proxy::upstream_timeout(), body_left > 0)
                    }
                    Failed::Unavailable(e) => {
                        tracing::warn!(reason = "upstream_unavailable", status = 502, route = %route, error = %e, "upstream request failed");
                        (proxy::upstream_unavailable(), body_left > 0)
                    }
                    Failed::Malformed(why) => {
                        tracing::warn!(reason = "upstream_unavailable", status = 502, route = %route, why, "upstream response refused");
                        (proxy::upstream_unavailable(), body_left > 0)
                    }
                };
                let (response, outcome, reason) = answer;
                m::request(outcome, reason, self.started.elapsed());
                let close = close || self.client_close;
                let sent = c.answer(response, self.is_head, close, &None).await;
                return (sent && !close).then(Instant::now);
            }
        };
        m::request(m::Outcome::Forwarded, "ok", self.started.elapsed());
        let clean = match relay_body(c, &mut up.io, framing.body).await {
            Ok(clean) => clean,
            Err(e) => {
                tracing::warn!(route = %route, error = %e, "upstream response relay ended early; the client connection is closed");
                return None;
            }
        };
        let now = Instant::now();
        if clean && framing.reusable && !body_cut && c.upbuf.is_empty() {
            self.upstreams.check_in(up, now);
        }
        c.upbuf.clear();
        (!self.client_close && !body_cut).then_some(now)
    }

    /// Sends the request (head in `c.out`, `body_left` more body bytes from the client) and
    /// reads the upstream's response head, which becomes the client's in `c.out` (with the
    /// body bytes that came with it left in `c.upbuf`). `body_cut`: the upstream answered
    /// before it took the whole body.
    async fn send(
        &self,
        c: &mut Client,
        body_left: u64,
    ) -> Result<(Upstream, Framing, bool), Failed> {
        // The whole request is in `c.out` when no body is left to stream.
        let retry_safe = body_left == 0 && upstream::may_send_again(&self.head.method);
        let now = Instant::now();
        let deadline = now + self.proxy.upstream_timeout();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (mut up, reused) = match self.upstreams.checkout(now) {
                Some(io) => (io, true),
                None => (
                    self.upstreams
                        .connect()
                        .await
                        .map_err(|e| Failed::Unavailable(format!("cannot connect: {e}")))?,
                    false,
                ),
            };
            // Writing failed: nothing was taken, so the request can go on a new connection.
            c.upbuf.clear();
            if let Err(e) = up.io.write_all(&c.out).await {
                if reused && attempt == 1 {
                    continue;
                }
                return Err(Failed::Unavailable(e.to_string()));
            }
            let mut body_cut = false;
            if body_left > 0 {
                body_cut = self
                    .relay_request_body(c, &mut up, body_left, deadline)
                    .await?;
            }
            let close = self.client_close || body_cut;
            match self.response_head(c, &mut up, deadline, close).await {
                Ok(framing) => return Ok((up, framing, body_cut)),
                // Closed before a byte of an answer, on a connection that had been idle: the
                // upstream closed it as this request went out.
                Err(Failed::Unavailable(_))
                    if reused && attempt == 1 && retry_safe && c.upbuf.is_empty() => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Relays the rest of a `Content-Length` body from the client to the upstream, watching the
    /// upstream all along: an upstream that answers (or closes) before it has the whole body
    /// ends the relay, and its answer goes to the client (`Ok(true)`: the body was cut; the
    /// client connection closes after the answer). A client that sends nothing for
    /// `body_idle_timeout` gets 408; an upstream that takes no more of the body and does not
    /// answer by `upstream_deadline` (the one its response head has) gets the exchange a 504,
    /// as on hyper's engine, whose upstream `timeout` spans the upload too.
    async fn relay_request_body(
        &self,
        c: &mut Client,
        up: &mut Upstream,
        mut left: u64,
        upstream_deadline: Instant,
    ) -> Result<bool, Failed> {
        enum Event {
            FromClient,
            ToUpstream(usize),
            /// The upstream answered, closed, or stopped taking the body.
            UpstreamDone,
        }
        let idle = self.proxy.limits().body_idle_timeout;
        let mut deadline = Instant::now() + idle;
        while left > 0 {
            c.timer.arm(deadline.min(upstream_deadline));
            if c.inbuf.is_empty() {
                c.inbuf.reserve(BODY_READ);
            }
            let event = poll_fn(|cx| {
                if upstream_spoke(&up.io, &mut c.upbuf, cx) {
                    return Poll::Ready(Ok(Event::UpstreamDone));
                }
                if c.inbuf.is_empty() {
                    let read = c.io.read_buf(&mut c.inbuf);
                    if let Poll::Ready(r) = std::pin::pin!(read).poll(cx) {
                        return Poll::Ready(match r {
                            Ok(0) | Err(_) => Err(Failed::ClientGone),
                            Ok(_) => Ok(Event::FromClient),
                        });
                    }
                    if c.timer
                        .poll_expired(cx, deadline.min(upstream_deadline))
                        .is_ready()
                    {
                        return Poll::Ready(Err(if Instant::now() >= upstream_deadline {
                            Failed::TimedOut
                        } else {
                            Failed::BodyStalled
                        }));
                    }
                    return Poll::Pending;
                }
                let take = usize::try_from(left)
                    .unwrap_or(usize::MAX)
                    .min(c.inbuf.len());
                match Pin::new(&mut up.io).poll_write(cx, c.inbuf.get(..take).unwrap_or_default()) {
                    Poll::Ready(Ok(n)) if n > 0 => Poll::Ready(Ok(Event::ToUpstream(n))),
                    Poll::Ready(_) => Poll::Ready(Ok(Event::UpstreamDone)),
                    Poll::Pending if c.timer.poll_expired(cx, upstream_deadline).is_ready() => {
                        Poll::Ready(Err(Failed::TimedOut))
                    }
                    Poll::Pending => Poll::Pending,
                }
            })
            .await?;
            match event {
                Event::FromClient => deadline = Instant::now() + idle,
                Event::ToUpstream(n) => {
                    c.inbuf.advance(n);
                    left -= n as u64;
                }
                Event::UpstreamDone => return Ok(true),
            }
        }
        Ok(false)
    }

    /// Reads the upstream's response head by `deadline` (informational answers skipped, as
    /// hyper's client skips them) and turns it into the client's, in `c.out` (`close`: with
    /// `Connection: close`).
    async fn response_head(
        &self,
        c: &mut Client,
        up: &mut Upstream,
        deadline: Instant,
        close: bool,
    ) -> Result<Framing, Failed> {
        loop {
            let mut fields: [MaybeUninit<httparse::Header<'_>>; MAX_HEADERS] =
                [const { MaybeUninit::uninit() }; MAX_HEADERS];
            let mut resp = httparse::Response::new(&mut []);
            let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
                &mut resp,
                &c.upbuf,
                &mut fields,
            );
            match parsed {
                Ok(httparse::Status::Complete(len)) => match resp.code {
                    Some(code @ 100..=199) if code != 101 => c.upbuf.advance(len),
                    _ => {
                        let framing = self.client_head(&mut c.out, &resp, close)?;
                        c.upbuf.advance(len);
                        return Ok(framing);
                    }
                },
                Ok(httparse::Status::Partial) if c.upbuf.len() <= MAX_RESPONSE_HEAD => {
                    match read_by(
                        &mut up.io,
                        &mut c.upbuf,
                        &mut c.timer,
                        deadline,
                        HEAD_READ,
                        None,
                    )
                    .await
                    {
                        Ok(0) => {
                            return Err(Failed::Unavailable(String::from(
                                "the upstream closed the connection before answering",
                            )));
                        }
                        Ok(_) => {}
                        Err(Fail::TimedOut) => return Err(Failed::TimedOut),
                        Err(Fail::Io(e)) => return Err(Failed::Unavailable(e.to_string())),
                        Err(Fail::Drain) => return Err(Failed::ClientGone),
                    }
                }
                Ok(httparse::Status::Partial) => {
                    return Err(Failed::Malformed("the response head is too large"));
                }
                Err(_) => return Err(Failed::Malformed("the response head cannot be read")),
            }
        }
    }

    /// The client's response head for the upstream's: its status and reason, its fields but
    /// the hop-by-hop ones, framing for the body as this engine relays it, and
    /// `Connection: close` when the client connection ends after it.
    fn client_head(
        &self,
        out: &mut BytesMut,
        resp: &httparse::Response<'_, '_>,
        close: bool,
    ) -> Result<Framing, Failed> {
        let (Some(code), Some(version)) = (resp.code, resp.version) else {
            return Err(Failed::Malformed("the response head cannot be read"));
        };
        let framing = response_framing(code, version, resp.headers, self.is_head)
            .map_err(Failed::Malformed)?;
        let status = StatusCode::from_u16(code)
            .map_err(|_| Failed::Malformed("the status code is not valid"))?;
        let lists = resp
            .headers
            .iter()
            .any(|h| h.name.eq_ignore_ascii_case("connection"));
        let connection = |name: &[u8]| {
            lists
                && resp
                    .headers
                    .iter()
                    .filter(|h| h.name.eq_ignore_ascii_case("connection"))
                    .any(|h| has_token(h.value, name))
        };
        let nonce = &self.admitted.dpop_nonce;
        out.clear();
        status_line(out, status, resp.reason);
        let mut date = false;
        // The body's framing is written here from `framing`, never relayed: a length the
        // upstream gave is written again (after its one validated field), as is chunking. A
        // 204 has no length at all (RFC 9110 §8.6), whatever the upstream wrote: a client
        // that believed one would read the next answer's first bytes as this one's body.
        let drop_their_length = matches!(framing.body, Body::Length(_)) || code == 204;
        for h in resp.headers.iter() {
            let name = h.name.as_bytes();
            if proxy::is_hop_by_hop(name, h.value, connection)
                || (nonce.is_some() && name.eq_ignore_ascii_case(b"dpop-nonce"))
                || (drop_their_length && name.eq_ignore_ascii_case(b"content-length"))
            {
                continue;
            }
            date |= name.eq_ignore_ascii_case(b"date");
            field(out, name, h.value);
        }
        match framing.body {
            Body::Length(n) => field(out, b"content-length", number(&mut [0; 20], n, 10)),
            Body::Chunked | Body::UntilClose => field(out, b"transfer-encoding", b"chunked"),
            Body::None => {}
        }
        finish_head(out, date, close, nonce);
        Ok(framing)
    }
}

/// How an upstream response's body is delimited (RFC 9112 §6.3), and whether its connection
/// can serve another request afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Framing {
    body: Body,
    reusable: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    None,
    Length(u64),
    Chunked,
    /// Until the upstream closes the connection.
    UntilClose,
}

/// The framing of a response (`version` 0 is HTTP/1.0), or why it cannot be relayed.
fn response_framing(
    code: u16,
    version: u8,
    headers: &[httparse::Header<'_>],
    is_head: bool,
) -> Result<Framing, &'static str> {
    if code == 101 || code < 200 {
        return Err("an informational or switching answer to a request that asked for none");
    }
    let mut length = None;
    let mut chunked = None;
    let mut close = version == 0;
    for h in headers {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            if length.is_some() {
                return Err("several Content-Length fields");
            }
            length = Some(digits(h.value).ok_or("a malformed Content-Length")?);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            if chunked.is_some() || !h.value.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                return Err("a Transfer-Encoding other than chunked alone");
            }
            chunked = Some(());
        } else if name.eq_ignore_ascii_case(b"connection") {
            close |= has_token(h.value, b"close");
        }
    }
    if chunked.is_some() && length.is_some() {
        return Err("both Transfer-Encoding and Content-Length");
    }
    let body = if is_head || code == 204 || code == 304 {
        Body::None
    } else if chunked.is_some() {
        Body::Chunked
    } else if let Some(n) = length {
        Body::Length(n)
    } else {
        Body::UntilClose
    };
    Ok(Framing {
        body,
        reusable: !close && body != Body::UntilClose,
    })
}

/// Relays the response body (the head is in `c.out`, the body's first bytes in `c.upbuf`).
/// `Ok(true)`: it ended where its framing said, nothing after it.
async fn relay_body(c: &mut Client, up: &mut TcpStream, body: Body) -> io::Result<bool> {
    match body {
        Body::None => {
            c.flush().await?;
            Ok(true)
        }
        Body::Length(mut left) => loop {
            let take = usize::try_from(left)
                .unwrap_or(usize::MAX)
                .min(c.upbuf.len());
            let data = c.upbuf.split_to(take);
            c.send(&data).await?;
            left -= take as u64;
            c.flush().await?;
            if left == 0 {
                return Ok(true);
            }
            upstream_read(up, &mut c.upbuf).await?;
        },
        Body::Chunked => relay_chunked(c, up).await,
        Body::UntilClose => loop {
            if !c.upbuf.is_empty() {
                let data = c.upbuf.split();
                chunk(c, &data).await?;
            }
            c.flush().await?;
            c.upbuf.reserve(BODY_READ);
            if up.read_buf(&mut c.upbuf).await? == 0 {
                c.out.extend_from_slice(b"0\r\n\r\n");
                c.flush().await?;
                return Ok(false);
            }
        },
    }
}

/// Reads more of the upstream's body; its end here is an error (the body is cut short).
async fn upstream_read(up: &mut TcpStream, buf: &mut BytesMut) -> io::Result<()> {
    buf.reserve(BODY_READ);
    if up.read_buf(buf).await? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the upstream closed the connection within a response body",
        ));
    }
    Ok(())
}

/// Writes `data` as one chunk.
async fn chunk(c: &mut Client, data: &[u8]) -> io::Result<()> {
    chunk_size_line(&mut c.out, data.len() as u64);
    c.send(data).await?;
    c.out.extend_from_slice(b"\r\n");
    Ok(())
}

/// A chunk's size line, in canonical form: the size in hexadecimal, no extensions.
fn chunk_size_line(out: &mut BytesMut, size: u64) {
    out.extend_from_slice(number(&mut [0; 20], size, 16));
    out.extend_from_slice(b"\r\n");
}

/// Relays a chunked body chunk by chunk, each written anew in canonical form (no extensions),
/// the trailers read and dropped. `Ok(true)`: the body ended with nothing after it read yet.
async fn relay_chunked(c: &mut Client, up: &mut TcpStream) -> io::Result<bool> {
    let mut dechunk = Dechunk::default();
    loop {
        let step = dechunk.step(&mut c.upbuf).map_err(|what| {
            io::Error::new(io::ErrorKind::InvalidData, format!("chunked body: {what}"))
        })?;
        match step {
            Step::Chunk(size) => chunk_size_line(&mut c.out, size),
            Step::Data(data) => c.send(&data).await?,
            Step::ChunkEnd => c.out.extend_from_slice(b"\r\n"),
            Step::More => {
                c.flush().await?;
                upstream_read(up, &mut c.upbuf).await?;
            }
            Step::Done => {
                c.out.extend_from_slice(b"0\r\n\r\n");
                c.flush().await?;
                return Ok(true);
            }
        }
    }
}

/// A chunked body's framing read off the front of a buffer (RFC 9112 §7.1), so that its data
/// can be relayed in chunks of this engine's own making: the size in hexadecimal and nothing
/// else on its line, no trailers. Strict where httparse is: a size line ends with CRLF, as
/// does each chunk's data.
#[derive(Debug, Default)]
struct Dechunk(Stage);

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Before a chunk-size line.
    #[default]
    Size,
    /// Inside a chunk's data, this many bytes to go.
    Data(u64),
    /// After a chunk's data: its CRLF.
    DataEnd,
    /// After the last chunk: the trailer section, up to its empty line.
    Trailers,
    Done,
}

/// What [`Dechunk::step`] read.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// A chunk of this many bytes begins.
    Chunk(u64),
    /// Data of the current chunk (what of it the buffer held).
    Data(BytesMut),
    /// The current chunk's data is complete.
    ChunkEnd,
    /// The buffer holds too little to go on: read more.
    More,
    /// The body is over (its last chunk and trailers read); what follows stays in the buffer.
    Done,
}

impl Dechunk {
    /// Reads the next piece of framing or data off the front of `buf`.
    fn step(&mut self, buf: &mut BytesMut) -> Result<Step, &'static str> {
        loop {
            return match self.0 {
                Stage::Size if !chunk_line_is_clean(buf) => {
                    Err("a chunk size line holds a control octet or a bare LF")
                }
                Stage::Size => match httparse::parse_chunk_size(buf) {
                    Ok(httparse::Status::Complete((line, 0))) => {
                        buf.advance(line);
                        self.0 = Stage::Trailers;
                        continue;
                    }
                    Ok(httparse::Status::Complete((line, size))) => {
                        buf.advance(line);
                        self.0 = Stage::Data(size);
                        Ok(Step::Chunk(size))
                    }
                    Ok(httparse::Status::Partial) if buf.len() <= MAX_CHUNK_LINE => Ok(Step::More),
                    _ => Err("a chunk size line cannot be read"),
                },
                Stage::Data(_) if buf.is_empty() => Ok(Step::More),
                Stage::Data(left) => {
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                    let left = left - take as u64;
                    self.0 = if left == 0 {
                        Stage::DataEnd
                    } else {
                        Stage::Data(left)
                    };
                    Ok(Step::Data(buf.split_to(take)))
                }
                Stage::DataEnd => match buf.get(..2) {
                    Some(b"\r\n") => {
                        buf.advance(2);
                        self.0 = Stage::Size;
                        Ok(Step::ChunkEnd)
                    }
                    None if buf.first().is_none_or(|b| *b == b'\r') => Ok(Step::More),
                    _ => Err("a chunk's data does not end with CRLF"),
                },
                Stage::Trailers => {
                    let mut fields = [httparse::EMPTY_HEADER; 64];
                    match httparse::parse_headers(buf, &mut fields) {
                        Ok(httparse::Status::Complete((len, _)))
                            if !crlf_only(buf.get(..len).unwrap_or_default()) =>
                        {
                            Err("a trailer line ends with a bare LF")
                        }
                        Ok(httparse::Status::Complete((len, _))) => {
                            buf.advance(len);
                            self.0 = Stage::Done;
                            Ok(Step::Done)
                        }
                        Ok(httparse::Status::Partial) if buf.len() <= MAX_TRAILERS => {
                            Ok(Step::More)
                        }
                        _ => Err("the trailer section cannot be read"),
                    }
                }
                Stage::Done => Ok(Step::Done),
            };
        }
    }
}

/// Whether the chunk-size line at the front of `buf` (up to its first LF, or what of it has
/// come) is one RFC 9112 §7.1 allows: a hex digit first, no control octet but HTAB, and its LF
/// after a CR. httparse's chunk-size parser takes any octet in a chunk extension, a bare LF
/// too, and a line without digits (empty, blank, or only an extension) as the last chunk's: a
/// line that two readers end in different places, or a body one of them ends early, is where a
/// body is read two ways (the chunk-extension cases of request smuggling). Checked before
/// waiting for more, so that such a line is refused at once rather than read on in search of a
/// CRLF.
fn chunk_line_is_clean(buf: &[u8]) -> bool {
    let (line, ended) = match buf.iter().position(|b| *b == b'\n') {
        Some(end) => (buf.get(..end).unwrap_or_default(), true),
        None => (buf, false),
    };
    // `closed`: the line's text is all there (its CR has come).
    let (text, closed) = match line.split_last() {
        Some((b'\r', text)) => (text, true),
        _ if ended => return false,
        _ => (line, false),
    };
    let digit_first = text.first().map_or(!closed, u8::is_ascii_hexdigit);
    digit_first
        && text
            .iter()
            .all(|b| *b == b'\t' || (*b >= 0x20 && *b != 0x7f))
}

/// Whether every LF in `lines` follows a CR (httparse takes bare LF line ends in a field
/// section; in a chunked body's trailers this engine does not, as in its chunk lines).
fn crlf_only(lines: &[u8]) -> bool {
    lines
        .iter()
        .enumerate()
        .all(|(i, b)| *b != b'\n' || i.checked_sub(1).and_then(|p| lines.get(p)) == Some(&b'\r'))
}

/// Ends a response head in `out`: `Date` when it has none, the DPoP nonce, and
/// `Connection: close` when the connection ends after it.
fn finish_head(out: &mut BytesMut, has_date: bool, close: bool, dpop_nonce: &Option<String>) {
    if !has_date {
        date::with(|d| field(out, b"date", d));
    }
    if let Some(nonce) = dpop_nonce {
        field(out, b"dpop-nonce", nonce.as_bytes());
    }
    if close {
        field(out, b"connection", b"close");
    }
    out.extend_from_slice(b"\r\n");
}

/// `HTTP/1.1 <code> <reason>`: the upstream's reason phrase when there is one, else the
/// code's canonical one.
fn status_line(out: &mut BytesMut, status: StatusCode, reason: Option<&str>) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.put_u8(b' ');
    let reason = reason
        .filter(|r| !r.is_empty())
        .or_else(|| status.canonical_reason())
        .unwrap_or("");
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn field(out: &mut BytesMut, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The upstream request's head: request line in origin form, the rewritten fields, and the
/// `Content-Length` of the body this engine relays after it (`length`), written from what it
/// relays, never taken from the field map: what frames the body for the upstream is this
/// engine's own count, whatever happened to the fields on the way.
fn request_head(out: &mut BytesMut, head: &http::request::Parts, length: Option<u64>) {
    out.extend_from_slice(head.method.as_str().as_bytes());
    out.put_u8(b' ');
    let target = head.uri.path_and_query().map_or("/", |pq| pq.as_str());
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in &head.headers {
        if name != header::CONTENT_LENGTH {
            field(out, name.as_str().as_bytes(), value.as_bytes());
        }
    }
    if let Some(n) = length {
        field(out, b"content-length", number(&mut [0; 20], n, 10));
    }
    out.extend_from_slice(b"\r\n");
}

/// `n` written in `radix` (10 for lengths, 16 for chunk sizes; lower-case digits) at the end of
/// `buf`, which is long enough for any `u64` in any radix from 10 up.
fn number(buf: &mut [u8; 20], mut n: u64, radix: u64) -> &[u8] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut i = buf.len();
    loop {
        i -= 1;
        if let (Some(d), Some(digit)) = (buf.get_mut(i), DIGITS.get((n % radix) as usize)) {
            *d = *digit;
        }
        n /= radix;
        if n == 0 || i == 0 {
            break;
        }
    }
    buf.get(i..).unwrap_or_default()
}

/// The HTTP date of the current second, made once a second per thread.
mod date {
    use std::cell::RefCell;
    use std::time::{SystemTime, UNIX_EPOCH};

    thread_local! {
        static CACHED: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }

    /// Calls `f` with the current `Date` value.
    pub(super) fn with(f: impl FnOnce(&[u8])) {
        let now = SystemTime::now();
        let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        CACHED.with(|c| {
            let mut c = c.borrow_mut();
            if c.0 != second {
                *c = (second, httpdate::fmt_http_date(now));
            }
            f(c.1.as_bytes());
        });
    }
}

/// Idle HTTP/1.1 connections to the upstream, for this engine (most recently used first out).
pub(crate) struct Upstreams {
    host: String,
    port: u16,
    connect_timeout: Duration,
    idle: Mutex<Vec<(Upstream, Instant)>>,
    reaping: AtomicBool,
}

impl Upstreams {
    /// Connections to the `http://` upstream at `authority`.
    pub(crate) fn new(authority: &http::uri::Authority, connect_timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            host: authority
                .host()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port: authority.port_u16().unwrap_or(80),
            connect_timeout,
            idle: Mutex::new(Vec::new()),
            reaping: AtomicBool::new(false),
        })
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<(Upstream, Instant)>> {
        // Nothing under the lock can leave the list inconsistent: a poisoned lock is usable.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The most recently used idle connection that is still open.
    fn checkout(&self, now: Instant) -> Option<Upstream> {
        let mut idle = self.idle();
        while let Some((up, since)) = idle.pop() {
            if now.saturating_duration_since(since) >= IDLE_TIMEOUT {
                // The most recent is too old, so are all the others.
                idle.clear();
                return None;
            }
            if still_open(&up.io) {
                return Some(up);
            }
        }
        None
    }

    fn check_in(&self, up: Upstream, now: Instant) {
        self.idle().push((up, now));
    }

    async fn connect(self: &Arc<Self>) -> io::Result<Upstream> {
        self.start_reaper();
        let connect = TcpStream::connect((self.host.as_str(), self.port));
        let io = tokio::time::timeout(self.connect_timeout, connect)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect_timeout"))??;
        io.set_nodelay(true)?;
        Ok(Upstream { io })
    }

    /// Closes idle connections past [`IDLE_TIMEOUT`], or closed by the upstream, even when no
    /// request comes to find them (started with the first connection, inside the runtime).
    fn start_reaper(self: &Arc<Self>) {
        if self.reaping.swap(true, Ordering::Relaxed) {
            return;
        }
        let upstreams = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(IDLE_TIMEOUT / 2);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(upstreams) = upstreams.upgrade() else {
                    return;
                };
                upstreams
                    .idle()
                    .retain(|(up, since)| since.elapsed() < IDLE_TIMEOUT && still_open(&up.io));
            }
        });
    }
}

/// Whether the upstream has sent something (or closed) while the request body is still going
/// out: whatever came is read into `buf`, for the response head. A readiness the runtime
/// reports without bytes behind it is cleared and waited on again.
fn upstream_spoke(io: &TcpStream, buf: &mut BytesMut, cx: &mut Context<'_>) -> bool {
    loop {
        match io.poll_read_ready(cx) {
            Poll::Pending => return false,
            Poll::Ready(Err(_)) => return true,
            Poll::Ready(Ok(())) => {
                buf.reserve(HEAD_READ);
                match io.try_read_buf(buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    _ => return true,
                }
            }
        }
    }
}

/// Whether an idle connection is still open: the runtime has seen no event on it since its
/// last read drained it. An event (the upstream's FIN, or bytes nobody asked for) is looked at
/// with one non-blocking read.
fn still_open(io: &TcpStream) -> bool {
    let mut cx = Context::from_waker(Waker::noop());
    match io.poll_read_ready(&mut cx) {
        Poll::Pending => true,
        Poll::Ready(Err(_)) => false,
        Poll::Ready(Ok(())) => {
            let mut byte = [0u8; 1];
            matches!(io.try_read(&mut byte), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
        }
    }
}

/// A connection handed to hyper: the bytes this engine read first, then the socket.
pub(crate) struct Rewind {
    prefix: Bytes,
    inner: TcpStream,
}

impl Rewind {
    pub(crate) fn new(prefix: Bytes, inner: TcpStream) -> Self {
        Self { prefix, inner }
    }
}

impl AsyncRead for Rewind {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.prefix.is_empty() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix.split_to(n));
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, data)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(head: &str) -> (Parse, BytesMut) {
        let mut buf = BytesMut::from(head.as_bytes());
        let parsed = parse_request(&mut buf, false, &mut Vec::new(), &mut None);
        (parsed, buf)
    }

    fn taken(head: &str) -> Request {
        match parse(head).0 {
            Parse::Take(r) => r,
            Parse::Partial => panic!("partial: {head:?}"),
            Parse::Hyper => panic!("handed over: {head:?}"),
        }
    }

    #[test]
    fn simple_heads_are_taken_with_their_fields_and_framing() {
        let (parsed, rest) = parse(
            "POST /a/b?c=d HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\nX-A: 1\r\nX-A: 2\r\nConnection: keep-alive, Close\r\n\r\nbody",
        );
        let Parse::Take(r) = parsed else {
            panic!("not taken")
        };
        assert_eq!(
            &rest[..],
            b"body",
            "the head, and only the head, is consumed"
        );
        assert_eq!(r.parts.method, http::Method::POST);
        assert_eq!(r.parts.uri, "/a/b?c=d");
        assert_eq!(r.content_length, Some(12));
        assert!(r.close);
        let a: Vec<_> = r.parts.headers.get_all("x-a").iter().collect();
        assert_eq!(a, ["1", "2"]);
        assert_eq!(r.parts.headers["host"], "x");
        let r = taken("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!((r.content_length, r.close), (None, false));
        let r = taken("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(r.content_length, Some(0));
    }

    #[test]
    fn anything_but_the_simple_exchange_goes_to_hyper() {
        for head in [
            // Framing this engine does not take: chunked, ambiguous, several lengths, a length
            // that is not plain digits.
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
            // Upgrades, 100-continue, HTTP/1.0, other request-target forms.
            "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
            "PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
            "GET / HTTP/1.0\r\nHost: x\r\n\r\n",
            "GET http://evil.example/ HTTP/1.1\r\nHost: x\r\n\r\n",
            "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
            "CONNECT x:443 HTTP/1.1\r\nHost: x\r\n\r\n",
            // HTTP/2's preface, and heads httparse or `http` refuse (hyper answers them).
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n folded\r\n\r\n",
            "GET /\u{7f} HTTP/1.1\r\nHost: x\r\n\r\n",
        ] {
            let (parsed, rest) = parse(head);
            assert!(matches!(parsed, Parse::Hyper), "{head:?}");
            assert_eq!(&rest[..], head.as_bytes(), "hyper must see all of {head:?}");
        }
        let mut buf = BytesMut::from(&b"POST / HTTP/1.1\r\nHost: x\r\n\r\n"[..]);
        assert!(matches!(
            parse_request(&mut buf, true, &mut Vec::new(), &mut None),
            Parse::Hyper
        ));
        let many: String = (0..MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
        let (parsed, _) = parse(&format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n"));
        assert!(
            matches!(parsed, Parse::Hyper),
            "more than {MAX_HEADERS} fields"
        );
    }

    #[test]
    fn an_incomplete_head_waits_until_it_is_too_long() {
        assert!(matches!(parse("").0, Parse::Partial));
        assert!(matches!(
            parse("GET / HTTP/1.1\r\nHost: x\r\n").0,
            Parse::Partial
        ));
        let long = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(MAX_REQUEST_HEAD));
        assert!(matches!(parse(&long).0, Parse::Hyper));
    }

    #[test]
    fn a_recycled_header_map_holds_nothing_of_the_last_request() {
        let (Parse::Take(last), _) =
            parse("GET / HTTP/1.1\r\nHost: x\r\nX-Auth-Subject: old\r\n\r\n")
        else {
            panic!("not taken")
        };
        let mut spare = Some(last.parts.headers);
        let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\nHost: y\r\n\r\n"[..]);
        let Parse::Take(r) = parse_request(&mut buf, false, &mut Vec::new(), &mut spare) else {
            panic!("not taken")
        };
        assert!(spare.is_none(), "the spare map is used");
        assert_eq!(r.parts.headers.len(), 1);
        assert_eq!(r.parts.headers["host"], "y");
    }

    fn framing(
        code: u16,
        version: u8,
        fields: &[(&str, &str)],
        is_head: bool,
    ) -> Result<Framing, &'static str> {
        let headers: Vec<httparse::Header<'_>> = fields
            .iter()
            .map(|(name, value)| httparse::Header {
                name,
                value: value.as_bytes(),
            })
            .collect();
        response_framing(code, version, &headers, is_head)
    }

    #[test]
    fn response_framing_follows_rfc_9112_and_refuses_what_is_ambiguous() {
        let ok = |body, reusable| Ok(Framing { body, reusable });
        assert_eq!(
            framing(200, 1, &[("Content-Length", "5")], false),
            ok(Body::Length(5), true)
        );
        assert_eq!(
            framing(200, 1, &[("Transfer-Encoding", " Chunked ")], false),
            ok(Body::Chunked, true)
        );
        assert_eq!(framing(200, 1, &[], false), ok(Body::UntilClose, false));
        assert_eq!(
            framing(200, 0, &[("Content-Length", "5")], false),
            ok(Body::Length(5), false)
        );
        assert_eq!(
            framing(
                200,
                1,
                &[("Content-Length", "5"), ("Connection", "close")],
                false
            ),
            ok(Body::Length(5), false)
        );
        // No body, whatever the fields say: HEAD, 204, 304.
        assert_eq!(
            framing(200, 1, &[("Content-Length", "5")], true),
            ok(Body::None, true)
        );
        assert_eq!(framing(204, 1, &[], false), ok(Body::None, true));
        assert_eq!(
            framing(304, 1, &[("Transfer-Encoding", "chunked")], false),
            ok(Body::None, true)
        );
        for (code, fields) in [
            (
                200,
                &[("Content-Length", "5"), ("Transfer-Encoding", "chunked")][..],
            ),
            (200, &[("Content-Length", "5"), ("Content-Length", "5")]),
            (200, &[("Content-Length", "5, 5")]),
            (200, &[("Content-Length", "-5")]),
            (200, &[("Transfer-Encoding", "gzip, chunked")]),
            (
                200,
                &[
                    ("Transfer-Encoding", "chunked"),
                    ("Transfer-Encoding", "chunked"),
                ],
            ),
            (200, &[("Transfer-Encoding", "identity")]),
            (101, &[]),
            (100, &[]),
        ] {
            assert!(
                framing(code, 1, fields, false).is_err(),
                "{code} {fields:?}"
            );
        }
    }

    /// Runs `wire` through a [`Dechunk`] in pieces of the given sizes; the chunks it read (as
    /// the data of each) and what stayed in the buffer after the body.
    fn dechunk(wire: &[u8], pieces: &[usize]) -> Result<(Vec<Vec<u8>>, Vec<u8>), &'static str> {
        let mut d = Dechunk::default();
        let mut buf = BytesMut::new();
        let mut fed = 0;
        let mut pieces = pieces.iter().copied().cycle();
        let mut chunks: Vec<Vec<u8>> = Vec::new();
        let mut sizes = Vec::new();
        loop {
            match d.step(&mut buf)? {
                Step::Chunk(n) => {
                    sizes.push(n);
                    chunks.push(Vec::new());
                }
                Step::Data(data) => chunks
                    .last_mut()
                    .ok_or("data outside a chunk")?
                    .extend_from_slice(&data),
                Step::ChunkEnd => {
                    let (n, c) = (sizes.last(), chunks.last());
                    assert_eq!(n.copied(), c.map(|c| c.len() as u64), "a chunk's length");
                }
                Step::More => {
                    if fed == wire.len() {
                        return Err("the wire ended inside the body");
                    }
                    let n = pieces.next().unwrap_or(1).max(1).min(wire.len() - fed);
                    buf.extend_from_slice(&wire[fed..fed + n]);
                    fed += n;
                }
                Step::Done => {
                    let mut rest = buf.to_vec();
                    rest.extend_from_slice(&wire[fed..]);
                    return Ok((chunks, rest));
                }
            }
        }
    }

    proptest! {
        /// Any chunked body, with extensions and trailers, cut anywhere: the same data in the
        /// same chunks, and what follows the body untouched.
        #[test]
        fn chunked_bodies_are_read_whatever_the_reads(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..300), 0..8),
            extension in proptest::option::of("[a-z]{1,8}(=[a-z0-9]{1,8})?"),
            trailers in proptest::collection::vec(("[a-z]{1,10}", "[a-z0-9 ]{0,10}"), 0..3),
            upper in any::<bool>(),
            pieces in proptest::collection::vec(1usize..64, 1..8),
        ) {
            let mut wire = Vec::new();
            for c in &chunks {
                let size = if upper { format!("{:X}", c.len()) } else { format!("{:x}", c.len()) };
                wire.extend_from_slice(size.as_bytes());
                if let Some(e) = &extension {
                    wire.extend_from_slice(format!(";{e}").as_bytes());
                }
                wire.extend_from_slice(b"\r\n");
                wire.extend_from_slice(c);
                wire.extend_from_slice(b"\r\n");
            }
            wire.extend_from_slice(b"0\r\n");
            for (name, value) in &trailers {
                wire.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
            }
            wire.extend_from_slice(b"\r\nHTTP/1.1 200 OK\r\n");
            let (read, rest) = dechunk(&wire, &pieces).map_err(TestCaseError::fail)?;
            prop_assert_eq!(read, chunks);
            prop_assert_eq!(rest, b"HTTP/1.1 200 OK\r\n".to_vec());
        }
    }

    #[test]
    fn malformed_chunked_bodies_are_refused() {
        for wire in [
            &b"5\r\nhelloX\r\n0\r\n\r\n"[..],
            b"5\r\nhello\n0\r\n\r\n",
            b"5\nhello\r\n0\r\n\r\n",
            b"g\r\n",
            b"-5\r\nhello\r\n0\r\n\r\n",
            b"5 5\r\nhello\r\n0\r\n\r\n",
            b"1ffffffffffffffff\r\n",
            b"0\r\nBad Trailer\r\n\r\n",
            // A bare LF, or another control octet, in a chunk extension: httparse would read
            // the line on to the next CRLF and take `abcde` for the chunk's data.
            b"5;a\nhello\r\nabcde\r\n0\r\n\r\n",
            b"5;a\rb\r\nhello\r\n0\r\n\r\n",
            b"5;a=\"\x01\"\r\nhello\r\n0\r\n\r\n",
            b"0\n\r\n",
            // A size line without a digit, which httparse reads as the last chunk's.
            b"5\r\nhello\r\n\r\n\r\n",
            b"5\r\nhello\r\n \r\n\r\n",
            b"5\r\nhello\r\n;a\r\n\r\n",
            b"\r\n\r\n",
            // Trailer lines end with CRLF too.
            b"0\r\nX-Trailer: t\n\r\n",
            b"0\r\nX-Trailer: t\r\n\n",
        ] {
            assert!(
                dechunk(wire, &[1, 3, 7]).is_err(),
                "{:?}",
                String::from_utf8_lossy(wire)
            );
        }
        let endless = format!("{}1\r\n", "0".repeat(MAX_CHUNK_LINE + 1));
        assert!(dechunk(endless.as_bytes(), &[64]).is_err());
        // Refused as soon as the bare LF is there, not after waiting for a CRLF that an
        // upstream keeping its connection open may never send.
        for line in [
            &b"5;a\n"[..],
            b"5;ext=\"v\"\nhello\n",
            b"5\n",
            b"\r",
            b";",
            b" 5",
        ] {
            let mut buf = BytesMut::from(line);
            assert!(
                Dechunk::default().step(&mut buf).is_err(),
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
        // What may still become a clean line waits for more.
        for line in [&b"5;a=\"\tv\""[..], b"5;a\r", b""] {
            let mut buf = BytesMut::from(line);
            assert_eq!(Dechunk::default().step(&mut buf), Ok(Step::More));
        }
    }

    #[tokio::test]
    async fn a_connection_lets_go_of_buffers_a_large_body_grew() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let io = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let limits = crate::gateway::config::parse(
            "[upstream]\nurl = \"http://127.0.0.1:1\"\n[[issuers]]\nissuer = \"https://i.example\"\naudience = \"a\"\n[[routes]]\nprefix = \"/\"\npublic = true\n",
            Vec::<(String, String)>::new(),
        )
        .unwrap()
        .limits;
        let mut c = Client {
            io,
            inbuf: BytesMut::with_capacity(1 << 20),
            out: BytesMut::with_capacity(1 << 20),
            upbuf: BytesMut::with_capacity(1 << 20),
            timer: Timer::new(&limits, Duration::from_secs(1)),
            spans: Vec::new(),
            spare_headers: None,
            identity: proxy::IdentityMemo::default(),
        };
        c.inbuf.extend_from_slice(b"GET /next HTTP/1.1\r\n");
        c.shrink();
        assert!(c.out.capacity() <= KEEP_BUFFER && c.upbuf.capacity() <= KEEP_BUFFER);
        assert!(c.inbuf.capacity() <= KEEP_BUFFER);
        assert_eq!(
            &c.inbuf[..],
            b"GET /next HTTP/1.1\r\n",
            "the next request's bytes stay"
        );
        // Small buffers are kept as they are.
        c.out.reserve(4096);
        let kept = c.out.capacity();
        c.shrink();
        assert_eq!(c.out.capacity(), kept);
    }

    #[test]
    fn numbers_are_written_in_full() {
        for n in [0u64, 1, 9, 10, 255, 4096, u64::MAX] {
            assert_eq!(number(&mut [0; 20], n, 10), n.to_string().as_bytes());
            assert_eq!(number(&mut [0; 20], n, 16), format!("{n:x}").as_bytes());
        }
    }

    #[test]
    fn status_lines_carry_the_upstreams_reason_or_the_canonical_one() {
        let line = |status: u16, reason: Option<&str>| {
            let mut out = BytesMut::new();
            status_line(&mut out, StatusCode::from_u16(status).unwrap(), reason);
            String::from_utf8(out.to_vec()).unwrap()
        };
        assert_eq!(line(200, Some("Fine")), "HTTP/1.1 200 Fine\r\n");
        assert_eq!(line(404, None), "HTTP/1.1 404 Not Found\r\n");
        assert_eq!(line(404, Some("")), "HTTP/1.1 404 Not Found\r\n");
        assert_eq!(line(599, None), "HTTP/1.1 599 \r\n");
    }
}
