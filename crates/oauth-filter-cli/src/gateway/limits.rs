//! What one client may hold: connections, idle time, header time, body size and body pace.
//!
//! ```toml
//! [server]
//! max_connections = 10000          # more wait in the kernel's accept queue
//! header_read_timeout_secs = 10    # a request head must arrive whole within this
//! idle_timeout_secs = 60           # no request in flight and no byte moved: closed
//! max_body_bytes = 10485760        # larger request bodies get 413 (0: no limit)
//! body_idle_timeout_secs = 30      # a request body that stalls this long gets 408
//! http2_keep_alive_interval_secs = 30
//! http2_keep_alive_timeout_secs = 10
//! http1_fast_path = true           # false: hyper serves every request (see `super::h1`)
//! ```
//!
//! hyper bounds the time to read an HTTP/1 request head once it starts reading one
//! (`header_read_timeout`, with a timer). It does not bound a connection that sends nothing at
//! all while hyper-util's `auto` builder waits to tell HTTP/1 from HTTP/2, an HTTP/2 connection
//! with no stream, or a request body that stops arriving. Those are the steps this module owns:
//! [`IdleIo`] wraps each accepted socket and fails its reads once the connection has had no
//! request in flight ([`InFlight`]) and no byte in either direction for the idle timeout;
//! [`RequestBody`] caps a request body and times out its silences. The connection cap is a
//! semaphore taken before `accept`, so excess connections queue in the kernel's backlog rather
//! than in memory.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// The `[server]` settings, validated.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    pub(crate) max_connections: usize,
    pub(crate) header_read_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    /// `None`: no limit.
    pub(crate) max_body_bytes: Option<u64>,
    pub(crate) body_idle_timeout: Duration,
    pub(crate) http2_keep_alive_interval: Duration,
    pub(crate) http2_keep_alive_timeout: Duration,
    /// `http1_fast_path`: plain-HTTP connections are served by the gateway's own HTTP/1.1
    /// engine (`super::h1`) where it can, else by hyper.
    pub(crate) http1_fast_path: bool,
}

/// Requests of one connection whose response has not been fully sent.
#[derive(Debug, Clone, Default)]
pub(crate) struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    /// Counts a request until the returned guard is dropped (with the response body).
    pub(crate) fn start(&self) -> InFlightGuard {
        self.0.fetch_add(1, Ordering::AcqRel);
        InFlightGuard(self.0.clone())
    }
    fn is_idle(&self) -> bool {
        self.0.load(Ordering::Acquire) == 0
    }
}

/// Holds one request in flight.
#[derive(Debug)]
pub(crate) struct InFlightGuard(Arc<AtomicUsize>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A socket that fails its reads after `idle` with no request in flight and no byte moved.
pub(crate) struct IdleIo<T> {
    inner: T,
    idle: Duration,
    in_flight: InFlight,
    last_activity: Instant,
    timer: Pin<Box<Sleep>>,
}

impl<T> IdleIo<T> {
    pub(crate) fn new(inner: T, idle: Duration, in_flight: InFlight) -> Self {
        let now = Instant::now();
        Self {
            inner,
            idle,
            in_flight,
            last_activity: now,
            timer: Box::pin(tokio::time::sleep_until(now + idle)),
        }
    }

    /// `Ready(())` when the connection has been idle too long; otherwise re-arms the timer
    /// (lazily: activity only records an instant, the timer moves when it fires).
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            ready!(self.timer.as_mut().poll(cx));
            let now = Instant::now();
            let due = self.last_activity + self.idle;
            if self.in_flight.is_idle() && now >= due {
                return Poll::Ready(());
            }
            // Busy (a request in flight) or active since: look again one idle period later.
            let next = if self.in_flight.is_idle() {
                due
            } else {
                now + self.idle
            };
            self.timer.as_mut().reset(next);
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for IdleIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    this.last_activity = Instant::now();
                }
                Poll::Ready(r)
            }
            Poll::Pending => match this.poll_idle(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connection idle for too long",
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for IdleIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.last_activity = Instant::now();
        }
        r
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.last_activity = Instant::now();
        }
        r
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

/// Why a request body was cut off, as seen after the upstream call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyFault {
    /// More than `max_body_bytes`: 413.
    TooLarge,
    /// No body bytes for `body_idle_timeout`: 408.
    Stalled,
}

/// Set by a [`RequestBody`] when it cuts the body off.
#[derive(Debug, Clone, Default)]
pub(crate) struct BodyOutcome(Arc<AtomicU8>);

impl BodyOutcome {
    fn set(&self, fault: BodyFault) {
        let code = match fault {
            BodyFault::TooLarge => 1,
            BodyFault::Stalled => 2,
        };
        self.0.store(code, Ordering::Release);
    }
    pub(crate) fn fault(&self) -> Option<BodyFault> {
        match self.0.load(Ordering::Acquire) {
            1 => Some(BodyFault::TooLarge),
            2 => Some(BodyFault::Stalled),
            _ => None,
        }
    }
}

/// The caller's request body on its way upstream: capped and with an idle timeout.
pub(crate) struct RequestBody {
    inner: Source,
    remaining: Option<u64>,
    idle: Duration,
    timer: Option<Pin<Box<Sleep>>>,
    outcome: BodyOutcome,
}

/// Where a request body comes from: the connection, or a buffer the gateway already read
/// (an MCP JSON-RPC body it had to look into).
enum Source {
    Streamed(Incoming),
    Buffered(Option<Bytes>),
}

impl RequestBody {
    pub(crate) fn new(inner: Incoming, limits: &Limits, outcome: BodyOutcome) -> Self {
        Self::capped(inner, limits, limits.max_body_bytes, outcome)
    }

    /// [`RequestBody::new`] with its own cap (`None`: none).
    pub(crate) fn capped(
        inner: Incoming,
        limits: &Limits,
        cap: Option<u64>,
        outcome: BodyOutcome,
    ) -> Self {
        Self {
            inner: Source::Streamed(inner),
            remaining: cap,
            idle: limits.body_idle_timeout,
            timer: None,
            outcome,
        }
    }

    /// No body: a bodiless request sent again ([`super::upstream::Pool::send`]).
    pub(crate) fn empty() -> Self {
        Self {
            inner: Source::Buffered(None),
            remaining: None,
            idle: Duration::ZERO,
            timer: None,
            outcome: BodyOutcome::default(),
        }
    }

    /// A body already read (and checked against the caps).
    pub(crate) fn buffered(bytes: Bytes, limits: &Limits) -> Self {
        Self {
            inner: Source::Buffered(Some(bytes).filter(|b| !b.is_empty())),
            remaining: None,
            idle: limits.body_idle_timeout,
            timer: None,
            outcome: BodyOutcome::default(),
        }
    }
}

/// The error a cut-off body ends with (the upstream call then fails, and the gateway answers
/// from [`BodyOutcome`]).
#[derive(Debug)]
pub(crate) struct BodyCut(BodyFault);

impl std::fmt::Display for BodyCut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            BodyFault::TooLarge => f.write_str("request body larger than max_body_bytes"),
            BodyFault::Stalled => f.write_str("request body stalled past body_idle_timeout_secs"),
        }
    }
}

impl std::error::Error for BodyCut {}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let inner = match &mut this.inner {
            Source::Buffered(b) => return Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Source::Streamed(inner) => inner,
        };
        match Pin::new(inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.timer = None;
                if let (Some(remaining), Some(data)) = (this.remaining.as_mut(), frame.data_ref()) {
                    let len = u64::try_from(data.len()).unwrap_or(u64::MAX);
                    match remaining.checked_sub(len) {
                        Some(left) => *remaining = left,
                        None => {
                            this.outcome.set(BodyFault::TooLarge);
                            return Poll::Ready(Some(Err(Box::new(BodyCut(BodyFault::TooLarge)))));
                        }
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Box::new(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let idle = this.idle;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                ready!(timer.as_mut().poll(cx));
                this.outcome.set(BodyFault::Stalled);
                Poll::Ready(Some(Err(Box::new(BodyCut(BodyFault::Stalled)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Source::Streamed(inner) => inner.is_end_stream(),
            Source::Buffered(b) => b.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Source::Streamed(inner) => inner.size_hint(),
            Source::Buffered(b) => SizeHint::with_exact(
                b.as_ref()
                    .map_or(0, |b| u64::try_from(b.len()).unwrap_or(u64::MAX)),
            ),
        }
    }
}

/// A response body that keeps its request counted as in flight until it is done.
pub(crate) struct Tracked<B> {
    inner: B,
    _guard: InFlightGuard,
}

impl<B> Tracked<B> {
    pub(crate) fn new(inner: B, guard: InFlightGuard) -> Self {
        Self {
            inner,
            _guard: guard,
        }
    }
}

impl<B: Body + Unpin> Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
