//! The extension's async runtime: one per process, made on first need, never inherited.
//!
//! ```text
//! gunicorn --preload: the master imports the app (no runtime yet) → fork → each worker makes
//! its own runtime the first time a request needs I/O (a cache hit never does).
//! ```
//!
//! A runtime's threads do not survive `fork`, so a runtime made before it is useless in the
//! child: each value records the fork generation it was made in, a counter that Python's
//! `os.register_at_fork(after_in_child=...)` hook bumps in every child (registered when the
//! module loads). Reading it is an atomic load where `getpid` was a system call on every
//! request. An inherited runtime is leaked rather than dropped (dropping would wait for threads
//! that do not exist in the child). A fork that skips Python's at-fork hooks (a C library
//! calling `fork()` itself) is not seen; CPython's own `os.fork`, `multiprocessing` and
//! gunicorn's workers all run them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::runtime::{Builder, Runtime};

static RUNTIME: Mutex<Option<(u64, Arc<Runtime>)>> = Mutex::new(None);

/// Which process this is: bumped in every forked child by [`after_fork_in_child`].
static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);

/// The at-fork hook (Python's `os.register_at_fork(after_in_child=...)`).
pub(crate) fn after_fork_in_child() {
    FORK_GENERATION.fetch_add(1, Ordering::SeqCst);
}

/// This process's fork generation.
fn generation() -> u64 {
    FORK_GENERATION.load(Ordering::Acquire)
}

/// Requests that waited on the runtime in this process (for tests and diagnostics).
static WAITS: AtomicU64 = AtomicU64::new(0);

/// Counts one request that waits on the runtime.
pub(crate) fn count_wait() {
    WAITS.fetch_add(1, Ordering::Relaxed);
}

/// Requests that waited on the runtime so far in this process.
pub(crate) fn waits() -> u64 {
    WAITS.load(Ordering::Relaxed)
}

/// This process's runtime, made now if it has none.
pub(crate) fn runtime() -> std::io::Result<Arc<Runtime>> {
    let pid = generation();
    let mut slot = RUNTIME.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((made_in, rt)) = slot.as_ref() {
        if *made_in == pid {
            return Ok(rt.clone());
        }
    }
    if let Some((_, inherited)) = slot.take() {
        std::mem::forget(inherited);
    }
    let rt = Arc::new(
        Builder::new_multi_thread()
            // Requests run on the Python threads that wait for them (`block_on`); this thread
            // drives connections and background key refreshes.
            .worker_threads(1)
            .thread_name("oauth-filter")
            .enable_all()
            .build()?,
    );
    *slot = Some((pid, rt.clone()));
    Ok(rt)
}

/// A value made once per process: `make` runs again in a forked child.
pub(crate) struct PerProcess<T> {
    slot: Mutex<Option<(u64, T)>>,
}

impl<T: Clone> PerProcess<T> {
    /// `value`, made in this process.
    pub(crate) fn with(value: T) -> Self {
        Self {
            slot: Mutex::new(Some((generation(), value))),
        }
    }

    pub(crate) fn get_or_try<E>(&self, make: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        let pid = generation();
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((made_in, v)) = slot.as_ref() {
            if *made_in == pid {
                return Ok(v.clone());
            }
        }
        if let Some((_, inherited)) = slot.take() {
            // Its tasks and connections belong to the parent's runtime.
            std::mem::forget(inherited);
        }
        let v = make()?;
        *slot = Some((pid, v.clone()));
        Ok(v)
    }
}

/// This process's runtime as pyo3-async-runtimes sees it, so that an awaitable made for asyncio
/// (`Filter.check_async`) runs on the runtime [`runtime`] makes per process (pyo3-async-runtimes'
/// own tokio runtime is made once per program image, and a forked child would inherit it).
/// The result is handed to asyncio by pyo3-async-runtimes from a blocking-pool thread
/// (`call_soon_threadsafe`); the core's tasks never run Python.
pub(crate) struct Ext;

tokio::task_local! {
    static LOCALS: std::cell::OnceCell<pyo3_async_runtimes::TaskLocals>;
}

/// The runtime to spawn on: the current one inside a task, else this process's (made by
/// `Filter.check_async` before it makes an awaitable, so it is there where this is called).
fn handle() -> Option<tokio::runtime::Handle> {
    tokio::runtime::Handle::try_current()
        .ok()
        .or_else(|| runtime().ok().map(|rt| rt.handle().clone()))
}

/// A task spawned for pyo3-async-runtimes, or none when no runtime could be had (then the
/// awaitable never completes: nothing is accepted, and nothing panics across the FFI).
pub(crate) enum Spawned {
    Task(tokio::task::JoinHandle<()>),
    None,
}

/// Why a [`Spawned`] task did not complete.
pub(crate) enum SpawnError {
    Join(tokio::task::JoinError),
    NoRuntime,
}

impl pyo3_async_runtimes::generic::JoinError for SpawnError {
    fn is_panic(&self) -> bool {
        matches!(self, Self::Join(e) if e.is_panic())
    }
    fn into_panic(self) -> Box<dyn std::any::Any + Send + 'static> {
        match self {
            Self::Join(e) => match e.try_into_panic() {
                Ok(payload) => payload,
                Err(e) => Box::new(e.to_string()),
            },
            Self::NoRuntime => Box::new("no runtime"),
        }
    }
}

impl std::future::Future for Spawned {
    type Output = Result<(), SpawnError>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        match self.get_mut() {
            Self::Task(h) => std::pin::Pin::new(h)
                .poll(cx)
                .map(|r| r.map_err(SpawnError::Join)),
            Self::None => std::task::Poll::Ready(Err(SpawnError::NoRuntime)),
        }
    }
}

impl pyo3_async_runtimes::generic::Runtime for Ext {
    type JoinError = SpawnError;
    type JoinHandle = Spawned;

    fn spawn<F>(fut: F) -> Self::JoinHandle
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        handle().map_or(Spawned::None, |h| Spawned::Task(h.spawn(fut)))
    }

    fn spawn_blocking<F>(f: F) -> Self::JoinHandle
    where
        F: FnOnce() + Send + 'static,
    {
        handle().map_or(Spawned::None, |h| Spawned::Task(h.spawn_blocking(f)))
    }
}

impl pyo3_async_runtimes::generic::ContextExt for Ext {
    fn scope<F, R>(
        locals: pyo3_async_runtimes::TaskLocals,
        fut: F,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = R> + Send>>
    where
        F: std::future::Future<Output = R> + Send + 'static,
    {
        let cell = std::cell::OnceCell::new();
        let _ = cell.set(locals);
        Box::pin(LOCALS.scope(cell, fut))
    }

    fn get_task_locals() -> Option<pyo3_async_runtimes::TaskLocals> {
        LOCALS.try_with(|c| c.get().cloned()).unwrap_or_default()
    }
}
