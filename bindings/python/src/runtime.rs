//! The extension's async runtime: one per process, made on first need, never inherited.
//!
//! ```text
//! gunicorn --preload: the master imports the app (no runtime yet) → fork → each worker makes
//! its own runtime the first time a request needs I/O (a cache hit never does).
//! ```
//!
//! A runtime's threads do not survive `fork`, so a runtime made before it is useless in the
//! child: each process checks the process id it was made in. An inherited runtime is leaked
//! rather than dropped (dropping would wait for threads that do not exist in the child).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::runtime::{Builder, Runtime};

static RUNTIME: Mutex<Option<(u32, Arc<Runtime>)>> = Mutex::new(None);

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
    let pid = std::process::id();
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
    slot: Mutex<Option<(u32, T)>>,
}

impl<T: Clone> PerProcess<T> {
    /// `value`, made in this process.
    pub(crate) fn with(value: T) -> Self {
        Self {
            slot: Mutex::new(Some((std::process::id(), value))),
        }
    }

    pub(crate) fn get_or_try<E>(&self, make: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        let pid = std::process::id();
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
