//! `TestIssuer`: the Rust test kit's in-process issuer, for Python tests.
//!
//! ```python
//! from oauth_filter.testing import TestIssuer
//! with TestIssuer() as issuer:
//!     token = issuer.mint("read", claims={"role": "admin"})
//!     issuer.set_fault("down")
//! ```
//!
//! The issuer serves on loopback from its own runtime thread, so it works the same in a test
//! that forks a server (gunicorn) as in one that uses Flask's test client.

use oauth_filter_testkit::{
    Fault, INTROSPECTION_CLIENT_ID, INTROSPECTION_CLIENT_SECRET, SigningAlg, TestIssuer as Issuer,
};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use tokio::runtime::Runtime;

fn alg(name: &str) -> PyResult<SigningAlg> {
    Ok(match name {
        "RS256" => SigningAlg::RS256,
        "PS256" => SigningAlg::PS256,
        "ES256" => SigningAlg::ES256,
        "ES384" => SigningAlg::ES384,
        "ES512" => SigningAlg::ES512,
        "EdDSA" => SigningAlg::EdDSA,
        other => {
            return Err(PyValueError::new_err(format!(
                "{other:?}: not a test key algorithm (RS256, PS256, ES256, ES384, ES512, EdDSA)"
            )));
        }
    })
}

fn json(value: &Bound<'_, PyAny>, what: &str) -> PyResult<serde_json::Value> {
    pythonize::depythonize(value)
        .map_err(|e| PyValueError::new_err(format!("{what}: not a JSON value: {e}")))
}

/// A running test issuer: keys, JWKS, discovery metadata, introspection, fault switches.
#[pyclass(frozen, module = "oauth_filter._native", name = "TestIssuer")]
pub(crate) struct TestIssuer {
    state: Mutex<Option<(Runtime, Issuer)>>,
}

impl TestIssuer {
    fn with<T>(&self, f: impl FnOnce(&Issuer) -> T) -> PyResult<T> {
        let guard = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match guard.as_ref() {
            Some((_, issuer)) => Ok(f(issuer)),
            None => Err(PyRuntimeError::new_err("this TestIssuer is closed")),
        }
    }
}

#[pymethods]
impl TestIssuer {
    /// Not a test class (pytest collects classes named `Test…` unless told).
    #[classattr]
    #[allow(non_upper_case_globals)]
    const __test__: bool = false;

    /// Starts an issuer on a free loopback port. `algorithms`: its keys, the first one signing
    /// (default RS256, ES256, EdDSA). `path`: a path the issuer lives under (`/tenant-a`).
    #[new]
    #[pyo3(signature = (*, audience = "api", algorithms = None, path = ""))]
    fn new(audience: &str, algorithms: Option<Vec<String>>, path: &str) -> PyResult<Self> {
        let mut builder = Issuer::builder().audience(audience).path(path);
        if let Some(names) = algorithms {
            let algs = names.iter().map(|n| alg(n)).collect::<PyResult<Vec<_>>>()?;
            if algs.is_empty() {
                return Err(PyValueError::new_err("algorithms: at least one"));
            }
            builder = builder.algorithms(&algs);
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("oauth-filter-test-issuer")
            .enable_all()
            .build()
            .map_err(|e| PyRuntimeError::new_err(format!("cannot start a runtime: {e}")))?;
        let issuer = rt
            .block_on(builder.try_start())
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        Ok(Self {
            state: Mutex::new(Some((rt, issuer))),
        })
    }

    /// The issuer identifier (`http://127.0.0.1:<port>`), the `iss` of its tokens.
    #[getter]
    fn issuer(&self) -> PyResult<String> {
        self.with(|i| i.issuer().to_owned())
    }
    /// The default `aud` of minted tokens.
    #[getter]
    fn audience(&self) -> PyResult<String> {
        self.with(|i| i.audience().to_owned())
    }
    /// The JWKS URL (`issuer + "/jwks"`, where flask-of-oil looks).
    #[getter]
    fn jwks_url(&self) -> PyResult<String> {
        self.with(Issuer::jwks_url)
    }
    /// The introspection endpoint (RFC 7662), which takes `client_id`/`client_secret`.
    #[getter]
    fn introspection_url(&self) -> PyResult<String> {
        self.with(Issuer::introspection_url)
    }
    /// The client id the introspection endpoint accepts.
    #[getter]
    fn client_id(&self) -> &'static str {
        INTROSPECTION_CLIENT_ID
    }
    /// The secret of `client_id`.
    #[getter]
    fn client_secret(&self) -> &'static str {
        INTROSPECTION_CLIENT_SECRET
    }

    /// A signed JWT access token. Defaults: `iss`, `aud`, `sub="user-1"`,
    /// `client_id="test-client"`, `iat` now, `exp` in 300 s, a `jti`, header `typ=at+jwt`.
    /// `claims` and `header` set members (any JSON value); `without` removes claims;
    /// `alg` signs with the issuer's key of that algorithm.
    #[pyo3(signature = (scope = None, *, subject = None, audience = None, issuer = None,
        expires_in = None, claims = None, header = None, without = Vec::new(), alg = None))]
    #[allow(clippy::too_many_arguments)]
    fn mint(
        &self,
        scope: Option<&str>,
        subject: Option<&str>,
        audience: Option<&str>,
        issuer: Option<&str>,
        expires_in: Option<i64>,
        claims: Option<&Bound<'_, PyDict>>,
        header: Option<&Bound<'_, PyDict>>,
        without: Vec<String>,
        alg: Option<&str>,
    ) -> PyResult<String> {
        let key = match alg {
            Some(name) => {
                let a = self::alg(name)?;
                Some(self.with(|i| i.key_for(a))?.ok_or_else(|| {
                    PyValueError::new_err(format!("alg: the issuer has no {name} key"))
                })?)
            }
            None => None,
        };
        let mut extra_claims = Vec::new();
        for (k, v) in claims.iter().flat_map(|d| d.iter()) {
            extra_claims.push((k.extract::<String>()?, json(&v, "claims")?));
        }
        let mut extra_header = Vec::new();
        for (k, v) in header.iter().flat_map(|d| d.iter()) {
            extra_header.push((k.extract::<String>()?, json(&v, "header")?));
        }
        self.with(|i| {
            let mut b = i.mint();
            if let Some(k) = key {
                b = b.key(k);
            }
            if let Some(s) = scope {
                b = b.scope(s);
            }
            if let Some(s) = subject {
                b = b.subject(s);
            }
            if let Some(a) = audience {
                b = b.audience(a);
            }
            if let Some(s) = issuer {
                b = b.issuer(s);
            }
            if let Some(secs) = expires_in {
                b = b.expires_in_secs(secs);
            }
            for (k, v) in extra_claims {
                b = b.claim(&k, v);
            }
            for (k, v) in extra_header {
                b = b.header(&k, v);
            }
            for k in &without {
                b = b.without_claim(k);
            }
            b.sign()
        })
    }

    /// An opaque token the introspection endpoint knows: `active`, `scope`, `sub`, `exp` (in
    /// 300 s unless `expires_in`), `client_id`, `iss`, `aud`; `members` sets any other.
    #[pyo3(signature = (scope = None, *, subject = None, expires_in = None, active = true, members = None))]
    fn opaque(
        &self,
        scope: Option<&str>,
        subject: Option<&str>,
        expires_in: Option<i64>,
        active: bool,
        members: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<String> {
        let mut extra = Vec::new();
        for (k, v) in members.iter().flat_map(|d| d.iter()) {
            extra.push((k.extract::<String>()?, json(&v, "members")?));
        }
        self.with(|i| {
            let mut b = i.opaque().member("active", active);
            if let Some(s) = scope {
                b = b.scope(s);
            }
            if let Some(s) = subject {
                b = b.subject(s);
            }
            if let Some(secs) = expires_in {
                b = b.expires_in_secs(secs);
            }
            for (k, v) in extra {
                b = b.member(&k, v);
            }
            b.issue()
        })
    }

    /// Revokes an opaque token: introspection answers `{"active": false}` from now on.
    fn revoke(&self, token: &str) -> PyResult<()> {
        self.with(|i| i.revoke(token))
    }

    /// Adds a new key of `alg`, makes it the signing key, and returns its `kid`.
    #[pyo3(signature = (alg = "RS256"))]
    fn rotate(&self, alg: &str) -> PyResult<String> {
        let a = self::alg(alg)?;
        self.with(|i| i.rotate(a))?
            .map_err(|_| PyRuntimeError::new_err("cannot generate a key"))
    }

    /// Removes the key `kid` from the JWKS.
    fn remove_key(&self, kid: &str) -> PyResult<()> {
        self.with(|i| i.remove_key(kid))
    }

    /// The `kid` of every published key, the signing key first.
    #[getter]
    fn kids(&self) -> PyResult<Vec<String>> {
        self.with(|i| i.keys().iter().map(|k| k.kid().to_owned()).collect())
    }

    /// Makes every endpoint fail: `"down"` (connections closed), `"status"` (answers
    /// `value`, e.g. 500), `"slow"` (answers after `value` seconds), `"garbage"` (an HTML
    /// page), `"huge"` (a JSON document of about `value` bytes), `"redirect"` (to `value`);
    /// `None`: normal service again.
    #[pyo3(signature = (kind, value = None))]
    fn set_fault(&self, kind: Option<&str>, value: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let number = |what: &str| -> PyResult<f64> {
            value
                .ok_or_else(|| PyValueError::new_err(format!("set_fault({what:?}) needs a value")))?
                .extract::<f64>()
        };
        let fault = match kind {
            None => Fault::None,
            Some("down") => Fault::Down,
            Some("garbage") => Fault::Garbage,
            Some("status") => {
                let status = number("status")?;
                if !(100.0..=599.0).contains(&status) || status.fract() != 0.0 {
                    return Err(PyValueError::new_err("status: an HTTP status, 100 to 599"));
                }
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                Fault::Status(status as u16)
            }
            Some("slow") => Fault::Slow(
                Duration::try_from_secs_f64(number("slow")?)
                    .map_err(|_| PyValueError::new_err("slow: seconds, not negative"))?,
            ),
            Some("huge") => {
                let bytes = number("huge")?;
                if !(0.0..=1e9).contains(&bytes) {
                    return Err(PyValueError::new_err("huge: bytes, up to 1e9"));
                }
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                Fault::Huge(bytes as usize)
            }
            Some("redirect") => Fault::Redirect(
                value
                    .ok_or_else(|| PyValueError::new_err("set_fault(\"redirect\") needs a URL"))?
                    .extract::<String>()?,
            ),
            Some(other) => {
                return Err(PyValueError::new_err(format!(
                    "{other:?}: not a fault (down, status, slow, garbage, huge, redirect, or None)"
                )));
            }
        };
        self.with(|i| i.set_fault(fault))
    }

    /// HTTP requests served so far (every endpoint).
    #[getter]
    fn requests(&self) -> PyResult<usize> {
        self.with(Issuer::requests)
    }
    /// JWKS requests served so far.
    #[getter]
    fn jwks_requests(&self) -> PyResult<usize> {
        self.with(Issuer::jwks_requests)
    }
    /// Introspection requests served so far.
    #[getter]
    fn introspection_requests(&self) -> PyResult<usize> {
        self.with(Issuer::introspection_requests)
    }

    /// Stops the issuer (also done when it is garbage-collected).
    fn close(&self) {
        let taken = self
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some((rt, issuer)) = taken {
            drop(issuer);
            rt.shutdown_background();
        }
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, pyo3::types::PyTuple>) {
        self.close();
    }

    fn __repr__(&self) -> String {
        self.with(|i| format!("TestIssuer({:?})", i.issuer()))
            .unwrap_or_else(|_| String::from("TestIssuer(closed)"))
    }
}

/// A DPoP client (RFC 9449) of the Rust test kit: a key pair, its `cnf` for tokens bound to it,
/// and proofs signed with it.
#[pyclass(frozen, module = "oauth_filter._native", name = "DpopClient")]
pub(crate) struct DpopClient(oauth_filter_testkit::DpopClient);

#[pymethods]
impl DpopClient {
    /// A client with a new key for `alg` (ES256 by default).
    #[new]
    #[pyo3(signature = (alg = "ES256"))]
    fn new(alg: &str) -> PyResult<Self> {
        let alg = self::alg(alg)?;
        oauth_filter_testkit::DpopClient::generate(alg)
            .map(Self)
            .map_err(|_| PyRuntimeError::new_err("the DPoP key could not be generated"))
    }

    /// The RFC 7638 thumbprint of the public key.
    #[getter]
    fn thumbprint(&self) -> &str {
        self.0.thumbprint()
    }

    /// `{"jkt": thumbprint}`: the `cnf` claim of a token bound to this key.
    #[getter]
    fn cnf<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        pythonize::pythonize(py, &self.0.cnf())
            .map_err(|e| PyRuntimeError::new_err(format!("cnf: {e}")))
    }

    /// A fresh proof for `method` and `uri` (its `htu`), with `ath` for `access_token`;
    /// `claims` and `header` change members of the proof (any JSON value), for tests of
    /// refusals.
    #[pyo3(signature = (method, uri, access_token, *, claims = None, header = None))]
    fn proof(
        &self,
        method: &str,
        uri: &str,
        access_token: &str,
        claims: Option<&Bound<'_, PyDict>>,
        header: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<String> {
        let mut b = self.0.proof_builder(method, uri, access_token);
        for (k, v) in claims.iter().flat_map(|d| d.iter()) {
            b = b.claim(&k.extract::<String>()?, json(&v, "claims")?);
        }
        for (k, v) in header.iter().flat_map(|d| d.iter()) {
            b = b.header(&k.extract::<String>()?, json(&v, "header")?);
        }
        Ok(b.sign())
    }

    fn __repr__(&self) -> String {
        format!("DpopClient(jkt={:?})", self.0.thumbprint())
    }
}
