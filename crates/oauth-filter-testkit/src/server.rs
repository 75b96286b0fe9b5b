//! The issuer's HTTP side: JWKS and discovery on loopback, with fault switches.

use crate::TokenBuilder;
use crate::keys::{KeyGenerationFailed, SigningAlg, SigningKey};
use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A failure the issuer's HTTP endpoints simulate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Fault {
    /// Normal service.
    #[default]
    None,
    /// Connections are accepted and closed at once, as by a crashed server.
    Down,
    /// Every answer is delayed this long.
    Slow(Duration),
    /// Every answer has this status and an empty JSON object.
    Status(u16),
    /// 200 with an HTML page instead of JSON.
    Garbage,
    /// 200 with a JSON document of about this many bytes.
    Huge(usize),
    /// 302 to this location.
    Redirect(String),
}

/// A raw introspection answer, replacing the real one (for response-shape tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawResponse {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl RawResponse {
    /// A 200 JSON answer with this body.
    pub fn json(body: &str) -> Self {
        Self {
            status: 200,
            content_type: Some("application/json".into()),
            body: body.as_bytes().to_vec(),
        }
    }
}

/// Client credentials the introspection endpoint accepts.
pub const INTROSPECTION_CLIENT_ID: &str = "resource-server";
/// Secret of [`INTROSPECTION_CLIENT_ID`]; has characters that RFC 6749 §2.3.1 form-encodes.
pub const INTROSPECTION_CLIENT_SECRET: &str = "s3cret:with+special %chars";

struct State {
    issuer: String,
    audience: String,
    opaque: RwLock<HashMap<String, Value>>,
    introspection_override: RwLock<Option<RawResponse>>,
    introspection_requests: AtomicUsize,
    keys: RwLock<Vec<Arc<SigningKey>>>,
    fault: RwLock<Fault>,
    jwks_max_age: RwLock<Option<u64>>,
    metadata_issuer: RwLock<Option<String>>,
    requests: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    jwks_requests: AtomicUsize,
    metadata_requests: AtomicUsize,
}

fn read<T: Clone>(lock: &RwLock<T>) -> T {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

fn write<T>(lock: &RwLock<T>, f: impl FnOnce(&mut T)) {
    f(&mut lock
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner));
}

/// A running test issuer. Dropping it stops the server.
pub struct TestIssuer {
    state: Arc<State>,
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for TestIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestIssuer")
            .field("issuer", &self.state.issuer)
            .finish_non_exhaustive()
    }
}

/// Options for [`TestIssuer`].
#[derive(Debug, Clone)]
pub struct TestIssuerBuilder {
    bind: SocketAddr,
    audience: String,
    path: String,
    algs: Vec<SigningAlg>,
    keys: Vec<Arc<SigningKey>>,
}

impl Default for TestIssuerBuilder {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            audience: String::from("api"),
            path: String::new(),
            algs: vec![SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA],
            keys: Vec::new(),
        }
    }
}

/// Why the test issuer could not start.
#[derive(Debug)]
pub enum StartError {
    /// The address could not be bound.
    Bind(std::io::Error),
    /// A key could not be generated.
    Keys,
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bind(e) => write!(f, "cannot bind the test issuer: {e}"),
            Self::Keys => f.write_str("cannot generate test keys"),
        }
    }
}

impl std::error::Error for StartError {}

impl From<KeyGenerationFailed> for StartError {
    fn from(_: KeyGenerationFailed) -> Self {
        Self::Keys
    }
}

impl TestIssuerBuilder {
    /// Address to listen on (default `127.0.0.1:0`, a free port).
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }
    /// Default `aud` of minted tokens (default `api`).
    pub fn audience(mut self, audience: &str) -> Self {
        self.audience = audience.to_owned();
        self
    }
    /// A path under which the issuer lives, e.g. `/tenant-a` (default none).
    pub fn path(mut self, path: &str) -> Self {
        self.path = path.trim_end_matches('/').to_owned();
        self
    }
    /// Keys to generate; the first is the active signing key (default RS256, ES256, EdDSA).
    pub fn algorithms(mut self, algs: &[SigningAlg]) -> Self {
        self.algs = algs.to_vec();
        self
    }

    /// Signs with these keys (the first is the active one) instead of generating new ones.
    pub fn keys(mut self, keys: Vec<Arc<SigningKey>>) -> Self {
        self.keys = keys;
        self
    }

    /// Starts the issuer on a tokio runtime.
    pub async fn try_start(self) -> Result<TestIssuer, StartError> {
        let listener = TcpListener::bind(self.bind)
            .await
            .map_err(StartError::Bind)?;
        let addr = listener.local_addr().map_err(StartError::Bind)?;
        let keys = if self.keys.is_empty() {
            self.algs
                .iter()
                .map(|a| SigningKey::generate(*a).map(Arc::new))
                .collect::<Result<Vec<_>, _>>()?
        } else {
            self.keys
        };
        let state = Arc::new(State {
            issuer: format!("http://{addr}{}", self.path),
            audience: self.audience,
            keys: RwLock::new(keys),
            fault: RwLock::new(Fault::None),
            jwks_max_age: RwLock::new(None),
            metadata_issuer: RwLock::new(None),
            opaque: RwLock::new(HashMap::new()),
            introspection_override: RwLock::new(None),
            introspection_requests: AtomicUsize::new(0),
            requests: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            jwks_requests: AtomicUsize::new(0),
            metadata_requests: AtomicUsize::new(0),
        });
        let task = tokio::spawn(serve(listener, state.clone(), self.path));
        Ok(TestIssuer { state, addr, task })
    }

    /// Starts the issuer. Panics if it cannot (tests want to stop there).
    #[allow(clippy::panic)]
    pub async fn start(self) -> TestIssuer {
        match self.try_start().await {
            Ok(i) => i,
            Err(e) => panic!("{e}"),
        }
    }
}

impl TestIssuer {
    /// Starts an issuer on a free loopback port with RS256 (active), ES256 and EdDSA keys.
    pub async fn start() -> Self {
        TestIssuerBuilder::default().start().await
    }
    /// Like [`TestIssuer::start`], returning an error instead of panicking.
    pub async fn try_start_default() -> Result<Self, StartError> {
        TestIssuerBuilder::default().try_start().await
    }
    /// Options.
    pub fn builder() -> TestIssuerBuilder {
        TestIssuerBuilder::default()
    }
    /// The issuer identifier, e.g. `http://127.0.0.1:41234`.
    pub fn issuer(&self) -> &str {
        &self.state.issuer
    }
    /// The default audience of minted tokens.
    pub fn audience(&self) -> &str {
        &self.state.audience
    }
    /// The JWKS URL.
    pub fn jwks_url(&self) -> String {
        format!("{}/jwks", self.state.issuer)
    }
    /// The socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// A token builder signed by the active key, with `iss`, `aud`, `sub`, `client_id`, `iat`,
    /// `exp` (+300 s), `jti` and `typ: at+jwt` set.
    pub fn mint(&self) -> TokenBuilder {
        TokenBuilder::new(
            &self.state.issuer,
            &self.state.audience,
            read(&self.state.keys).first().cloned(),
        )
    }
    /// The key with this `kid`.
    pub fn key(&self, kid: &str) -> Option<Arc<SigningKey>> {
        read(&self.state.keys).into_iter().find(|k| k.kid() == kid)
    }
    /// The first key of this algorithm.
    pub fn key_for(&self, alg: SigningAlg) -> Option<Arc<SigningKey>> {
        read(&self.state.keys).into_iter().find(|k| k.alg() == alg)
    }
    /// All keys, active first.
    pub fn keys(&self) -> Vec<Arc<SigningKey>> {
        read(&self.state.keys)
    }
    /// Adds a new key of `alg` and makes it the active signing key; old keys stay published
    /// (the overlap of a rotation). Returns the new `kid`.
    pub fn rotate(&self, alg: SigningAlg) -> Result<String, KeyGenerationFailed> {
        let key = Arc::new(SigningKey::generate(alg)?);
        let kid = key.kid().to_owned();
        write(&self.state.keys, |keys| keys.insert(0, key));
        Ok(kid)
    }
    /// Publishes a key made elsewhere (say, one that signed tokens before the issuer published
    /// it) and makes it the active signing key.
    pub fn publish(&self, key: Arc<SigningKey>) {
        write(&self.state.keys, |keys| keys.insert(0, key));
    }
    /// Stops publishing the key with this `kid`.
    pub fn remove_key(&self, kid: &str) {
        write(&self.state.keys, |keys| keys.retain(|k| k.kid() != kid));
    }
    /// Switches a fault on (or [`Fault::None`] off).
    pub fn set_fault(&self, fault: Fault) {
        write(&self.state.fault, |f| *f = fault);
    }
    /// Sends `Cache-Control: max-age` with the JWKS.
    pub fn set_jwks_max_age(&self, secs: Option<u64>) {
        write(&self.state.jwks_max_age, |m| *m = secs);
    }
    /// The introspection endpoint (RFC 7662). With `Accept: application/token-introspection+jwt`
    /// the answer is a JWT signed with the active key (RFC 9701), `aud` the client id. It accepts [`INTROSPECTION_CLIENT_ID`] /
    /// [`INTROSPECTION_CLIENT_SECRET`] by `client_secret_basic` or `client_secret_post`.
    pub fn introspection_url(&self) -> String {
        format!("{}/introspect", self.state.issuer)
    }
    /// An opaque token builder: `issuer.opaque().scope("read").issue()` registers an active
    /// token and returns it.
    pub fn opaque(&self) -> crate::OpaqueTokenBuilder<'_> {
        crate::OpaqueTokenBuilder::new(self)
    }
    pub(crate) fn register_opaque(&self, token: String, response: Value) {
        write(&self.state.opaque, |m| {
            m.insert(token, response);
        });
    }
    /// Revokes an opaque token: introspection says `{"active": false}` from now on.
    pub fn revoke(&self, token: &str) {
        write(&self.state.opaque, |m| {
            m.remove(token);
        });
    }
    /// Answers every introspection request with this raw response (or the real answer again).
    pub fn set_introspection_response(&self, response: Option<RawResponse>) {
        write(&self.state.introspection_override, |o| *o = response);
    }
    /// Introspection requests received so far.
    pub fn introspection_requests(&self) -> usize {
        self.state.introspection_requests.load(Ordering::SeqCst)
    }
    /// Publishes this `issuer` in the metadata instead of the real one (mix-up tests).
    pub fn set_metadata_issuer(&self, issuer: Option<&str>) {
        write(&self.state.metadata_issuer, |m| {
            *m = issuer.map(str::to_owned)
        });
    }
    /// The most requests the issuer was answering at the same moment.
    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }
    /// HTTP requests of any kind received so far.
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }
    /// JWKS requests served so far (faulty answers included).
    pub fn jwks_requests(&self) -> usize {
        self.state.jwks_requests.load(Ordering::SeqCst)
    }
    /// Metadata (discovery) requests served so far.
    pub fn metadata_requests(&self) -> usize {
        self.state.metadata_requests.load(Ordering::SeqCst)
    }
    /// The public JWKS document as served.
    pub fn jwks(&self) -> Value {
        json!({"keys": read(&self.state.keys).iter().map(|k| k.public_jwk().clone()).collect::<Vec<_>>()})
    }
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(listener: TcpListener, state: Arc<State>, path: String) {
    let path: Arc<str> = Arc::from(path);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        if read(&state.fault) == Fault::Down {
            drop(stream);
            continue;
        }
        let state = state.clone();
        let path = path.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let state = state.clone();
                let path = path.clone();
                async move { handle(req, &state, &path).await }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

/// Returned in [`Fault::Down`] so that hyper drops even kept-alive connections unanswered.
#[derive(Debug)]
struct ServerDown;

impl std::fmt::Display for ServerDown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("simulated outage")
    }
}

impl std::error::Error for ServerDown {}

async fn handle(
    req: Request<Incoming>,
    state: &State,
    base: &str,
) -> Result<Response<Full<Bytes>>, ServerDown> {
    if read(&state.fault) == Fault::Down {
        return Err(ServerDown);
    }
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    // Decrements even when the client goes away and this future is dropped mid-answer.
    let _guard = InFlight(&state.in_flight);
    Ok(answer(req, state, base).await)
}

struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn answer(req: Request<Incoming>, state: &State, base: &str) -> Response<Full<Bytes>> {
    state.requests.fetch_add(1, Ordering::SeqCst);
    let path = req.uri().path().to_owned();
    let rel = path.strip_prefix(base).unwrap_or("");
    let is_jwks = rel == "/jwks";
    let is_introspection = rel == "/introspect";
    if is_introspection {
        state.introspection_requests.fetch_add(1, Ordering::SeqCst);
    }
    let is_metadata = rel == "/.well-known/openid-configuration"
        || path == format!("/.well-known/oauth-authorization-server{base}");
    if is_jwks {
        state.jwks_requests.fetch_add(1, Ordering::SeqCst);
    }
    if is_metadata {
        state.metadata_requests.fetch_add(1, Ordering::SeqCst);
    }
    match read(&state.fault) {
        Fault::None | Fault::Down => {}
        Fault::Slow(d) => tokio::time::sleep(d).await,
        Fault::Status(s) => {
            return json_response(
                StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                &json!({}),
            );
        }
        Fault::Garbage => {
            let mut r = Response::new(Full::new(Bytes::from_static(
                b"<html><body>502 Bad Gateway</body></html>",
            )));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/html"),
            );
            return r;
        }
        Fault::Huge(n) => {
            let filler = "x".repeat(n);
            return json_response(StatusCode::OK, &json!({"keys": [], "filler": filler}));
        }
        Fault::Redirect(to) => {
            let mut r = Response::new(Full::new(Bytes::new()));
            *r.status_mut() = StatusCode::FOUND;
            if let Ok(v) = http::HeaderValue::from_str(&to) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            return r;
        }
    }
    if is_jwks {
        let keys: Vec<Value> = read(&state.keys)
            .iter()
            .map(|k| k.public_jwk().clone())
            .collect();
        let mut r = json_response(StatusCode::OK, &json!({"keys": keys}));
        if let Some(age) = read(&state.jwks_max_age) {
            if let Ok(v) = http::HeaderValue::from_str(&format!("max-age={age}")) {
                r.headers_mut().insert(header::CACHE_CONTROL, v);
            }
        }
        return r;
    }
    if is_introspection {
        return introspect(req, state).await;
    }
    if is_metadata {
        let iss = &state.issuer;
        let published = read(&state.metadata_issuer).unwrap_or_else(|| iss.clone());
        return json_response(
            StatusCode::OK,
            &json!({
                "issuer": published,
                "jwks_uri": format!("{iss}/jwks"),
                "token_endpoint": format!("{iss}/token"),
                "introspection_endpoint": format!("{iss}/introspect"),
                "response_types_supported": ["token"],
                "grant_types_supported": ["client_credentials"],
            }),
        );
    }
    json_response(StatusCode::NOT_FOUND, &json!({"error": "not_found"}))
}

fn form_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// RFC 7662 §2: authenticated POST with `token`; RFC 6749 §2.3.1 credentials.
async fn introspect(req: Request<Incoming>, state: &State) -> Response<Full<Bytes>> {
    use http_body_util::BodyExt;
    if req.method() != http::Method::POST {
        return json_response(
            StatusCode::METHOD_NOT_ALLOWED,
            &json!({"error": "invalid_request"}),
        );
    }
    // RFC 9701: a signed answer when asked for one.
    let wants_jwt = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains(JWT_INTROSPECTION));
    let basic = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.decode(b).ok()
        })
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|pair| {
            pair.split_once(':')
                .map(|(id, secret)| (form_decode(id), form_decode(secret)))
        });
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                &json!({"error": "invalid_request"}),
            );
        }
    };
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let posted = match (form.get("client_id"), form.get("client_secret")) {
        (Some(id), Some(secret)) => Some((id.clone(), secret.clone())),
        _ => None,
    };
    let authenticated = match (basic, posted) {
        (Some(creds), None) | (None, Some(creds)) => {
            creds.0 == INTROSPECTION_CLIENT_ID && creds.1 == INTROSPECTION_CLIENT_SECRET
        }
        _ => false,
    };
    if !authenticated {
        return json_response(
            StatusCode::UNAUTHORIZED,
            &json!({"error": "invalid_client"}),
        );
    }
    if let Some(raw) = read(&state.introspection_override) {
        let mut r = Response::new(Full::new(Bytes::from(raw.body)));
        *r.status_mut() =
            StatusCode::from_u16(raw.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if let Some(ct) = raw
            .content_type
            .and_then(|c| http::HeaderValue::from_str(&c).ok())
        {
            r.headers_mut().insert(header::CONTENT_TYPE, ct);
        }
        return r;
    }
    let Some(token) = form.get("token") else {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": "invalid_request"}),
        );
    };
    let known = read(&state.opaque).get(token).cloned();
    let answer = known.unwrap_or_else(|| json!({"active": false}));
    if !wants_jwt {
        return json_response(StatusCode::OK, &answer);
    }
    let Some(key) = read(&state.keys).first().cloned() else {
        return json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({"error": "server_error"}),
        );
    };
    let claims = json!({
        "iss": state.issuer,
        "aud": INTROSPECTION_CLIENT_ID,
        "iat": crate::now_secs(),
        "token_introspection": answer,
    });
    let jwt = crate::TokenBuilder::new(&state.issuer, &state.audience, Some(key))
        .header("typ", "token-introspection+jwt")
        .raw_payload(claims.to_string())
        .sign();
    let mut r = Response::new(Full::new(Bytes::from(jwt)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static(JWT_INTROSPECTION),
    );
    r
}

/// The media type of signed introspection responses (RFC 9701).
const JWT_INTROSPECTION: &str = "application/token-introspection+jwt";
