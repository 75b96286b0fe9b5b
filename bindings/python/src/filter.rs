//! `Filter`, `Requirement`, `Token`, `Rejection`: the core, as the Python layer calls it.
//!
//! ```python
//! from oauth_filter._native import Filter, Requirement
//! f = Filter.from_mapping({"issuers": [{"issuer": iss, "audience": "api"}]})
//! answer = f.check("Bearer eyJ...", None, "GET", "/orders", Requirement.flask_of_oil(["read"], {}))
//! ```
//!
//! A check first asks the core for an answer that needs no I/O (`OAuthFilter::decide_now`: a
//! verified-token cache hit, a JWT whose issuer's keys are in hand, a refusal before
//! verification), holding the GIL: that work is CPU only (16 µs for an RS256 signature), less
//! than releasing and re-taking the GIL costs under a threaded server. Only what needs the
//! network (keys to fetch, introspection) waits on the process's runtime, with the GIL released:
//! `check` blocks its thread for it (WSGI), `check_async` returns an awaitable instead (asyncio).

use crate::runtime::{PerProcess, runtime};
use oauth_filter::{
    AccessToken, ConfigError, Decision, OAuthFilter, OAuthFilterBuilder, PathRequirements,
    Protection, Rejection as CoreRejection, RequestParts, Requirement as CoreRequirement,
    TokenKind,
};
use oauth_filter_config::{Document, GATEWAY_KEYS, RawFilter, RawRoute, describe};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyMapping, PyTuple};
use std::borrow::Cow;
use std::sync::Arc;

pyo3::create_exception!(
    _native,
    ConfigurationError,
    PyValueError,
    "A configuration the filter refuses: `key` names the setting as written, `reason` says why."
);

/// A configuration error as a Python exception with `key` and `reason` attributes.
pub(crate) fn config_error(py: Python<'_>, e: &ConfigError) -> PyErr {
    let err = ConfigurationError::new_err(describe(e));
    let value = err.value(py);
    // Setting attributes on a fresh exception object cannot fail in practice; if it did, the
    // message still says everything.
    let _ = value.setattr("key", e.key());
    let _ = value.setattr("reason", e.reason());
    err
}

/// A Python mapping as a configuration document (JSON-like values; `None` is refused). `key`
/// names the mapping in errors (`""` for a whole configuration).
fn document(py: Python<'_>, mapping: &Bound<'_, PyAny>, key: &str) -> PyResult<Document> {
    let json: serde_json::Value = pythonize::depythonize(mapping).map_err(|e| {
        config_error(
            py,
            &ConfigError::new(key, format!("not a configuration mapping: {e}")),
        )
    })?;
    let table = toml::Table::try_from(json).map_err(|e| {
        config_error(
            py,
            &ConfigError::new(
                key,
                format!("not a configuration mapping of strings, numbers, booleans, lists and mappings: {e}"),
            ),
        )
    })?;
    Document::new(table, []).map_err(|e| config_error(py, &e))
}

/// The filter's keys of a document; the gateway's own keys are refused by name.
fn raw_filter(doc: &Document) -> Result<RawFilter, ConfigError> {
    if let Some(k) = doc.keys().find(|k| GATEWAY_KEYS.contains(k)) {
        return Err(ConfigError::new(
            k,
            "a key of the gateway only: this filter runs inside the application (leave it out)",
        ));
    }
    doc.deserialize()
}

/// The core filter, configured: built afresh in each process that uses it.
#[pyclass(frozen, module = "oauth_filter._native")]
pub(crate) struct Filter {
    builder: OAuthFilterBuilder,
    routes: Option<Arc<PathRequirements>>,
    live: PerProcess<OAuthFilter>,
    any_token: Arc<CoreRequirement>,
}

impl Filter {
    fn new(
        py: Python<'_>,
        doc: &Document,
        verify_ssl: bool,
        allow_query_token: bool,
    ) -> PyResult<Self> {
        let config = raw_filter(doc)
            .and_then(RawFilter::validate)
            .map_err(|e| config_error(py, &doc.name(e)))?;
        let mut http = config.http;
        if !verify_ssl {
            http = http.dangerous().accept_invalid_certs(true);
        }
        let mut builder = config.builder.http(http);
        if allow_query_token {
            builder = builder.dangerous().allow_query_token(true);
        }
        // Every check the core makes, now, in the process that configures (nothing is
        // fetched); the filter serves this process, and a forked child builds its own.
        let filter = builder
            .clone()
            .build()
            .map_err(|e| config_error(py, &doc.name(e)))?;
        Ok(Self {
            builder,
            routes: config.routes.map(Arc::new),
            live: PerProcess::with(filter),
            any_token: Arc::new(CoreRequirement::Authenticated),
        })
    }

    fn live(&self, py: Python<'_>) -> PyResult<OAuthFilter> {
        self.live
            .get_or_try(|| self.builder.clone().build())
            .map_err(|e| config_error(py, &e))
    }
}

/// Why the async runtime could not be made.
fn no_runtime(e: &std::io::Error) -> PyErr {
    PyRuntimeError::new_err(format!("oauth-filter cannot start its runtime: {e}"))
}

#[pymethods]
impl Filter {
    /// A filter from a mapping of the gateway's keys (`issuers`, `introspection`, `routes`,
    /// `tls`, `realm`, `leeway`, `max_token_len`, `jwt_cache_capacity`).
    #[staticmethod]
    #[pyo3(signature = (mapping, *, verify_ssl = true, allow_query_token = false))]
    fn from_mapping(
        py: Python<'_>,
        mapping: &Bound<'_, PyAny>,
        verify_ssl: bool,
        allow_query_token: bool,
    ) -> PyResult<Self> {
        let doc = document(py, mapping, "")?;
        Self::new(py, &doc, verify_ssl, allow_query_token)
    }

    /// A filter from a TOML file, with the `OAUTH_FILTER__…` environment overrides applied.
    #[staticmethod]
    #[pyo3(signature = (path, *, verify_ssl = true, allow_query_token = false))]
    fn from_toml(
        py: Python<'_>,
        path: std::path::PathBuf,
        verify_ssl: bool,
        allow_query_token: bool,
    ) -> PyResult<Self> {
        let text = std::fs::read_to_string(&path).map_err(|e| {
            config_error(
                py,
                &ConfigError::new("", format!("cannot read {}: {e}", path.display())),
            )
        })?;
        let doc = oauth_filter_config::parse_toml(&text, std::env::vars())
            .map_err(|e| config_error(py, &e))?;
        Self::new(py, &doc, verify_ssl, allow_query_token)
    }

    /// Whether the configuration has `routes` (then a check without a requirement takes the
    /// request's route).
    #[getter]
    fn has_routes(&self) -> bool {
        self.routes.is_some()
    }

    /// The challenge realm.
    #[getter]
    fn realm(&self, py: Python<'_>) -> PyResult<String> {
        Ok(self.live(py)?.realm().to_owned())
    }

    /// Decides a request: a `Token` (allowed), a `Rejection`, or `None` (a public route).
    /// `requirement` `None`: the request's route when there are routes, else any valid token.
    /// `dpop`: the `DPoP` header (several joined by commas, as WSGI joins them: refused).
    #[pyo3(signature = (authorization, query, method, path, requirement = None, *, dpop = None))]
    #[allow(clippy::too_many_arguments)]
    fn check(
        &self,
        py: Python<'_>,
        authorization: Option<String>,
        query: Option<String>,
        method: String,
        path: String,
        requirement: Option<&Requirement>,
        dpop: Option<String>,
    ) -> PyResult<Py<PyAny>> {
        let (filter, guard) = self.guard(py, requirement)?;
        let request = Request::new(authorization, query, method, path, dpop);
        let decision = match request.decide_now(&filter, &guard) {
            Some(d) => d,
            None => {
                crate::runtime::count_wait();
                let rt = runtime().map_err(|e| no_runtime(&e))?;
                py.detach(move || rt.block_on(request.decide(&filter, &guard)))
            }
        };
        Ok(Answer::from(decision).into_pyobject(py)?.unbind())
    }

    /// [`Filter::check`] for asyncio: the answer itself when it needs no I/O (a verified-token
    /// cache hit, a JWT whose issuer's keys are in hand, a refusal before verification), else
    /// an awaitable of it, which the process's runtime completes without blocking the event
    /// loop.
    #[pyo3(signature = (authorization, query, method, path, requirement = None, *, dpop = None))]
    #[allow(clippy::too_many_arguments)]
    fn check_async<'py>(
        &self,
        py: Python<'py>,
        authorization: Option<String>,
        query: Option<String>,
        method: String,
        path: String,
        requirement: Option<&Requirement>,
        dpop: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = Request::new(authorization, query, method, path, dpop);
        self.answer_async(py, request, requirement)
    }

    /// [`Filter::check_async`] for an ASGI connection scope (HTTP or WebSocket), read here
    /// rather than in Python (it runs on every request): every `authorization` and `dpop`
    /// header (ASGI names are lower case; compared ignoring case), `query_string`, `method` (`GET` when
    /// absent, as in a WebSocket scope) and `raw_path` without its query, or `path`
    /// percent-encoded when a server gives no `raw_path`.
    #[pyo3(signature = (scope, requirement = None))]
    fn check_scope<'py>(
        &self,
        py: Python<'py>,
        scope: &Bound<'py, PyAny>,
        requirement: Option<&Requirement>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let items = match scope.cast::<PyDict>() {
            Ok(dict) => ScopeItems::read(dict)?,
            // ASGI scopes are dicts; any other mapping is read through a copy.
            Err(_) => {
                let dict = PyDict::new(py);
                dict.update(scope.cast::<PyMapping>()?)?;
                ScopeItems::read(&dict)?
            }
        };
        self.answer_async(py, items.request()?, requirement)
    }

    /// Checks a token this filter verified against another requirement (a route's decorator
    /// after the `before_request` filter): `None` when it is met, else the `Rejection`.
    fn authorize(
        &self,
        py: Python<'_>,
        token: &Token,
        requirement: &Requirement,
    ) -> PyResult<Option<Rejection>> {
        let filter = self.live(py)?;
        Ok(match filter.authorize(&token.0, &requirement.0) {
            Ok(()) => None,
            Err(e) => Some(Rejection::new(&filter.reject(e, Some(&requirement.0)))),
        })
    }
}

impl Filter {
    /// The answer to `request` now when it needs no I/O, else an awaitable of it.
    fn answer_async<'py>(
        &self,
        py: Python<'py>,
        request: Request<'_>,
        requirement: Option<&Requirement>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (filter, guard) = self.guard(py, requirement)?;
        if let Some(d) = request.decide_now(&filter, &guard) {
            return Answer::from(d).into_pyobject(py);
        }
        // The task outlives this call and the Python objects the request borrows from.
        let request = request.into_owned();
        crate::runtime::count_wait();
        // Made here, in this process, so that the awaitable's tasks have it to run on.
        runtime().map_err(|e| no_runtime(&e))?;
        pyo3_async_runtimes::generic::future_into_py::<crate::runtime::Ext, _, _>(py, async move {
            Ok(Answer::from(request.decide(&filter, &guard).await))
        })
    }

    /// This process's filter, and what a check with `requirement` requires of a request.
    fn guard(
        &self,
        py: Python<'_>,
        requirement: Option<&Requirement>,
    ) -> PyResult<(OAuthFilter, Guard)> {
        let filter = self.live(py)?;
        let guard = Guard {
            requirement: requirement.map_or_else(|| self.any_token.clone(), |r| r.0.clone()),
            routes: self.routes.clone().filter(|_| requirement.is_none()),
        };
        Ok((filter, guard))
    }
}

/// The parts of a request a check reads: borrowed from the Python objects while the check
/// holds the GIL (an ASGI scope's byte strings are not copied on a cache hit), owned
/// ([`Request::into_owned`]) when they cross into the GIL-free closure or the runtime's task.
struct Request<'a> {
    /// Each `Authorization` header value (several are refused as several credentials).
    authorization: Vec<Cow<'a, [u8]>>,
    /// Each `DPoP` header value (several are refused).
    dpop: Vec<Cow<'a, [u8]>>,
    query: Option<Cow<'a, str>>,
    method: Cow<'a, str>,
    path: Cow<'a, str>,
}

/// What a check reads of an ASGI scope, as the scope's own objects (held, so that a
/// [`Request`] can borrow their bytes).
struct ScopeItems<'py> {
    authorization: Vec<Bound<'py, PyAny>>,
    dpop: Vec<Bound<'py, PyAny>>,
    query: Option<Bound<'py, PyAny>>,
    method: Option<Bound<'py, PyAny>>,
    raw_path: Option<Bound<'py, PyAny>>,
    path: Option<Bound<'py, PyAny>>,
}

/// What Python's `urllib.parse.quote(path, safe="/:@!$&'()*+,;=-._~")` leaves as it is: the
/// characters a path may carry unencoded (RFC 3986 `pchar` and `/`).
const PATH_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b':')
    .remove(b'@')
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b';')
    .remove(b'=')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A byte string as text: UTF-8 when it is, else each byte as its Latin-1 character (what an
/// ASGI server's bytes mean when they are not UTF-8; the core refuses what it cannot read).
fn text(bytes: Cow<'_, [u8]>) -> Cow<'_, str> {
    let latin1 = |b: &[u8]| b.iter().copied().map(char::from).collect::<String>();
    match bytes {
        Cow::Borrowed(b) => {
            std::str::from_utf8(b).map_or_else(|_| Cow::Owned(latin1(b)), Cow::Borrowed)
        }
        Cow::Owned(b) => Cow::Owned(String::from_utf8(b).unwrap_or_else(|e| latin1(e.as_bytes()))),
    }
}

/// The bytes of an ASGI byte string: borrowed from a `bytes`, copied from another bytes-like
/// object.
fn byte_string<'a>(value: &'a Bound<'_, PyAny>) -> PyResult<Cow<'a, [u8]>> {
    match value.cast::<PyBytes>() {
        Ok(b) => Ok(Cow::Borrowed(b.as_bytes())),
        Err(_) => Ok(Cow::Owned(value.extract()?)),
    }
}

impl Request<'static> {
    fn new(
        authorization: Option<String>,
        query: Option<String>,
        method: String,
        path: String,
        dpop: Option<String>,
    ) -> Self {
        // A JWS has no comma: a comma-joined value is several headers.
        let dpop = dpop
            .iter()
            .flat_map(|d| d.split(','))
            .map(|d| Cow::Owned(d.trim().as_bytes().to_vec()))
            .collect();
        Self {
            authorization: authorization
                .map(|a| Cow::Owned(a.into_bytes()))
                .into_iter()
                .collect(),
            dpop,
            query: query.map(Cow::Owned),
            method: Cow::Owned(method),
            path: Cow::Owned(path),
        }
    }
}

impl<'py> ScopeItems<'py> {
    /// The items of an ASGI scope a check reads: every `authorization` and `dpop` header value
    /// (names compared ignoring case), `query_string`, `method`, `raw_path` and `path`.
    fn read(scope: &Bound<'py, PyDict>) -> PyResult<Self> {
        let py = scope.py();
        let mut authorization = Vec::new();
        let mut dpop = Vec::new();
        if let Some(headers) = scope.get_item(intern!(py, "headers"))? {
            for header in headers.try_iter()? {
                let header = header?;
                let (name, value) = match header.cast::<PyTuple>() {
                    Ok(pair) if pair.len() == 2 => (pair.get_item(0)?, pair.get_item(1)?),
                    _ => (header.get_item(0)?, header.get_item(1)?),
                };
                let name = byte_string(&name)?;
                if name.eq_ignore_ascii_case(b"authorization") {
                    authorization.push(value);
                } else if name.eq_ignore_ascii_case(b"dpop") {
                    dpop.push(value);
                }
            }
        }
        let raw_path = scope
            .get_item(intern!(py, "raw_path"))?
            .filter(|raw| !raw.is_none());
        Ok(Self {
            authorization,
            dpop,
            query: scope.get_item(intern!(py, "query_string"))?,
            method: scope.get_item(intern!(py, "method"))?,
            path: scope.get_item(intern!(py, "path"))?,
            raw_path,
        })
    }

    /// The request, borrowing from the items: `method` `GET` when absent (as in a WebSocket
    /// scope), the path from `raw_path` without its query, or `path` percent-encoded when a
    /// server gives no `raw_path` (or an empty one).
    fn request(&self) -> PyResult<Request<'_>> {
        fn all<'a>(values: &'a [Bound<'_, PyAny>]) -> PyResult<Vec<Cow<'a, [u8]>>> {
            values.iter().map(byte_string).collect()
        }
        let query = match &self.query {
            Some(q) => Some(text(byte_string(q)?)).filter(|q| !q.is_empty()),
            None => None,
        };
        let method = match &self.method {
            Some(m) => Cow::Owned(m.extract()?),
            None => Cow::Borrowed("GET"),
        };
        let raw = match &self.raw_path {
            Some(raw) => byte_string(raw)?,
            None => Cow::Borrowed(&b""[..]),
        };
        let path = if raw.is_empty() {
            let path: String = match &self.path {
                Some(p) => p.extract()?,
                None => "/".to_owned(),
            };
            Cow::Owned(utf8_percent_encode(&path, PATH_ENCODE).to_string())
        } else {
            match text(raw) {
                Cow::Borrowed(raw) => Cow::Borrowed(raw.split('?').next().unwrap_or(raw)),
                Cow::Owned(mut raw) => {
                    if let Some(q) = raw.find('?') {
                        raw.truncate(q);
                    }
                    Cow::Owned(raw)
                }
            }
        };
        Ok(Request {
            authorization: all(&self.authorization)?,
            dpop: all(&self.dpop)?,
            query,
            method,
            path,
        })
    }
}

impl Request<'_> {
    /// This request with every part owned.
    fn into_owned(self) -> Request<'static> {
        let owned = |values: Vec<Cow<'_, [u8]>>| {
            values
                .into_iter()
                .map(|v| Cow::Owned(v.into_owned()))
                .collect()
        };
        Request {
            authorization: owned(self.authorization),
            dpop: owned(self.dpop),
            query: self.query.map(|q| Cow::Owned(q.into_owned())),
            method: Cow::Owned(self.method.into_owned()),
            path: Cow::Owned(self.path.into_owned()),
        }
    }

    fn parts(&self) -> RequestParts<'_> {
        let mut parts = RequestParts::new()
            .method(&self.method)
            .path(&self.path)
            .query(self.query.as_deref());
        for a in &self.authorization {
            parts = parts.authorization(a);
        }
        for d in &self.dpop {
            parts = parts.dpop(d);
        }
        parts
    }

    fn decide_now(&self, filter: &OAuthFilter, guard: &Guard) -> Option<Decision> {
        filter.decide_now(&self.parts(), guard.protection())
    }

    async fn decide(&self, filter: &OAuthFilter, guard: &Guard) -> Decision {
        filter.decide(&self.parts(), None, guard.protection()).await
    }
}

/// A decision as Python sees it: a `Token`, a `Rejection`, or `None` (a public route).
enum Answer {
    Allow(Token),
    Deny(Rejection),
    Public,
}

impl From<Decision> for Answer {
    fn from(decision: Decision) -> Self {
        match decision {
            Decision::Allow(t) => Self::Allow(Token(t)),
            Decision::Deny(r) => Self::Deny(Rejection::new(&r)),
            _ => Self::Public,
        }
    }
}

impl<'py> IntoPyObject<'py> for Answer {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(match self {
            Self::Allow(t) => Bound::new(py, t)?.into_any(),
            Self::Deny(r) => Bound::new(py, r)?.into_any(),
            Self::Public => py.None().into_bound(py),
        })
    }
}

/// What a check requires, owned (it crosses into the GIL-free closure): the request's route
/// when there are routes and no requirement was given, else the requirement.
struct Guard {
    requirement: Arc<CoreRequirement>,
    routes: Option<Arc<PathRequirements>>,
}

impl Guard {
    fn protection(&self) -> Protection<'_> {
        match &self.routes {
            Some(routes) => Protection::Routes(routes),
            None => Protection::Require(&self.requirement),
        }
    }
}

/// What a route requires of a token.
#[pyclass(frozen, module = "oauth_filter._native")]
pub(crate) struct Requirement(Arc<CoreRequirement>);

/// A claim name as a JSON Pointer to that top-level member (flask-of-oil names are not paths).
fn top_level(name: &str) -> String {
    format!("/{}", name.replace('~', "~0").replace('/', "~1"))
}

#[pymethods]
impl Requirement {
    /// flask-of-oil's rule: every scope, and each claim present (`None`) or equal to the value.
    #[staticmethod]
    fn flask_of_oil(scopes: Vec<String>, claims: &Bound<'_, PyDict>) -> PyResult<Self> {
        let mut parts = Vec::new();
        if !scopes.is_empty() {
            if let Some(bad) = scopes.iter().find(|s| !oauth_filter::is_scope_token(s)) {
                return Err(PyValueError::new_err(format!(
                    "scopes: {bad:?} is not a scope (RFC 6749 §3.3: printable ASCII without space, '\"' or '\\\\')"
                )));
            }
            parts.push(CoreRequirement::all_of(scopes));
        }
        for (name, value) in claims.iter() {
            let name: String = name.extract().map_err(|_| {
                PyValueError::new_err("claims: every key must be a claim name (a str)")
            })?;
            let path = top_level(&name);
            if value.is_none() {
                parts.push(CoreRequirement::claim_present(&path));
            } else {
                let value: serde_json::Value = pythonize::depythonize(&value).map_err(|e| {
                    PyValueError::new_err(format!(
                        "claims[{name:?}]: not a JSON value (str, int, float, bool, list, dict): {e}"
                    ))
                })?;
                parts.push(CoreRequirement::claim_equals(&path, value));
            }
        }
        Ok(Self(Arc::new(CoreRequirement::all(parts))))
    }

    /// A requirement in the gateway's route vocabulary: `scopes`, `any_scopes`, `claims`
    /// (`{ present = true }` / `{ equals = v }` / `{ contains = v }` by claim path),
    /// `client_ids`, `max_token_age_secs`, `acr_values`, `max_auth_age_secs`.
    #[staticmethod]
    fn from_keys(py: Python<'_>, mapping: &Bound<'_, PyAny>) -> PyResult<Self> {
        let doc = document(py, mapping, "require")?;
        let raw: RawRoute = doc.deserialize().map_err(|e| {
            config_error(
                py,
                &ConfigError::new(format!("require.{}", e.key()), e.reason()),
            )
        })?;
        if raw.path.is_some() || raw.prefix.is_some() || raw.methods.is_some() || raw.public {
            return Err(config_error(
                py,
                &ConfigError::new(
                    "require",
                    "`path`, `prefix`, `methods` and `public` choose a route; the decorated view is the route here",
                ),
            ));
        }
        let r = raw
            .requirement("require")
            .map_err(|e| config_error(py, &e))?;
        Ok(Self(Arc::new(r)))
    }

    /// Both this and `other`.
    fn both(&self, other: &Self) -> Self {
        Self(Arc::new(CoreRequirement::all([
            (*self.0).clone(),
            (*other.0).clone(),
        ])))
    }

    fn __str__(&self) -> String {
        self.0.to_string()
    }

    fn __repr__(&self) -> String {
        format!("Requirement({:?})", self.0.to_string())
    }
}

/// A verified access token's facts. The token itself is not kept.
#[pyclass(frozen, module = "oauth_filter._native")]
pub(crate) struct Token(AccessToken);

#[pymethods]
impl Token {
    /// `sub`.
    #[getter]
    fn subject(&self) -> Option<&str> {
        self.0.subject()
    }
    /// `client_id` (else `azp`).
    #[getter]
    fn client_id(&self) -> Option<&str> {
        self.0.client_id()
    }
    /// `iss`.
    #[getter]
    fn issuer(&self) -> &str {
        self.0.issuer()
    }
    /// The granted scopes, in the token's order.
    #[getter]
    fn scopes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.0.scopes().iter().collect::<Vec<_>>())
    }
    /// `aud`, as a list.
    #[getter]
    fn audiences(&self) -> Vec<String> {
        self.0.audiences().to_vec()
    }
    /// `exp`, seconds since the epoch (None: no expiry stated).
    #[getter]
    fn expires_at(&self) -> Option<u64> {
        self.0
            .expires_at()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs())
    }
    /// `"jwt"` (verified locally) or `"introspection"` (RFC 7662).
    #[getter]
    fn kind(&self) -> &'static str {
        match self.0.kind() {
            TokenKind::Jwt => "jwt",
            _ => "introspection",
        }
    }
    /// Every claim (JWT payload) or introspection member, as a new dict.
    #[getter]
    fn claims<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        pythonize::pythonize(py, self.0.claims())
            .map_err(|e| PyRuntimeError::new_err(format!("claims: {e}")))
    }
    /// Whether the token grants `scope`.
    fn has_scope(&self, scope: &str) -> bool {
        self.0.scopes().contains(scope)
    }

    fn __repr__(&self) -> String {
        // Identifiers only: claim values stay out of logs.
        format!(
            "Token(kind={:?}, issuer={:?}, scopes={:?})",
            self.kind(),
            self.0.issuer(),
            self.0.scopes().iter().collect::<Vec<_>>()
        )
    }
}

/// A refusal: the status, the RFC 6750 headers and the JSON body the adapters answer with.
#[pyclass(frozen, module = "oauth_filter._native")]
pub(crate) struct Rejection {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    error: &'static str,
    description: &'static str,
    reason: &'static str,
}

impl Rejection {
    fn new(r: &CoreRejection) -> Self {
        Self {
            status: r.status(),
            headers: r.challenge_headers(),
            body: r.json_body().to_vec(),
            error: r.body_error(),
            description: r.error().description(),
            reason: r.error().reason_code(),
        }
    }
}

#[pymethods]
impl Rejection {
    /// 400, 401, 403, 404, 405, 500 or 503.
    #[getter]
    fn status(&self) -> u16 {
        self.status
    }
    /// `(name, value)` pairs, lower-case names: `www-authenticate`, `allow`, `retry-after`,
    /// `cache-control`.
    #[getter]
    fn headers(&self) -> Vec<(&'static str, String)> {
        self.headers.clone()
    }
    /// `{"error": ..., "error_description": ...}`.
    #[getter]
    fn body<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.body)
    }
    /// The `error` code (`invalid_token`, `insufficient_scope`, `temporarily_unavailable`…).
    #[getter]
    fn error(&self) -> &'static str {
        self.error
    }
    /// A fixed description (never token contents).
    #[getter]
    fn description(&self) -> &'static str {
        self.description
    }
    /// The precise reason code, for logs and metrics (`expired`, `bad_signature`…).
    #[getter]
    fn reason(&self) -> &'static str {
        self.reason
    }

    fn __repr__(&self) -> String {
        format!(
            "Rejection(status={}, reason={:?})",
            self.status, self.reason
        )
    }
}
