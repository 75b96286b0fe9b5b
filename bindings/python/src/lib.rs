//! The native part of the `oauth-filter` Python package: the Rust core behind
//! `oauth_filter.flask`, and the test kit behind `oauth_filter.testing`.
//!
//! ```python
//! from oauth_filter.flask import OAuthFilter
//! oauth = OAuthFilter(verify_ssl=True)
//! oauth.configure_with_jwt("https://idp.example/jwks", "https://idp.example", "api")
//! app.before_request(oauth.filter)
//! ```
//!
//! The Python layer (`python/oauth_filter`) holds the framework glue; this crate holds no
//! policy of its own: every decision is the core's (`OAuthFilter::decide_now`, then
//! `OAuthFilter::decide` on the process's runtime with the GIL released).

mod filter;
mod runtime;
mod testing;

use pyo3::prelude::*;

/// Requests that waited on the async runtime in this process: the rest were answered in the
/// calling thread (a diagnostic; tests use it to show what needs no runtime).
#[pyfunction]
fn runtime_waits() -> u64 {
    runtime::waits()
}

/// The module `oauth_filter._native`.
/// Python's at-fork hook in the child: this process's runtime and filters are made anew.
#[pyfunction]
fn after_fork_in_child() {
    runtime::after_fork_in_child();
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<filter::Filter>()?;
    m.add_class::<filter::Requirement>()?;
    m.add_class::<filter::Token>()?;
    m.add_class::<filter::Rejection>()?;
    m.add_class::<testing::TestIssuer>()?;
    m.add_class::<testing::DpopClient>()?;
    m.add_function(wrap_pyfunction!(runtime_waits, m)?)?;
    // Each forked child makes its own runtime and filter state (see `runtime`).
    let hook = wrap_pyfunction!(after_fork_in_child, m)?;
    let kwargs = pyo3::types::PyDict::new(m.py());
    kwargs.set_item("after_in_child", hook)?;
    m.py()
        .import("os")?
        .call_method("register_at_fork", (), Some(&kwargs))?;
    m.add(
        "ConfigurationError",
        m.py().get_type::<filter::ConfigurationError>(),
    )?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
