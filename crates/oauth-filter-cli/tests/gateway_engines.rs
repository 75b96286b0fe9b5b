//! The gateway's two HTTP/1.1 engines: its own (`server.http1_fast_path`, the default) and
//! hyper's. Raw bytes on real sockets, the real binary, a real upstream: the engines must give
//! the same answers and tell the upstream the same things, both must relay every upstream
//! framing so that the client reads it as the upstream framed it, and refuse the ambiguous
//! ones (for listed answers and for generated ones).
//!
//! Every wait is for a condition (an answer, a closed socket), bounded generously so that a
//! loaded machine cannot make a test fail.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::{Gateway, upstream};
use oauth_filter_testkit::TestIssuer;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Only reached when the gateway fails the test.
const BOUND: Duration = Duration::from_secs(15);

/// The gateway in front of `upstream` (`fast`: its own HTTP/1.1 engine, else hyper alone),
/// with these routes.
fn config_with(upstream: SocketAddr, issuer: &TestIssuer, fast: bool, routes: &str) -> String {
    format!(
        r#"
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"

[server]
http1_fast_path = {fast}

[upstream]
url = "http://{upstream}"
timeout_secs = 5

[[issuers]]
issuer = "{iss}"
audience = "api"
jwks_url = "{jwks}"
{routes}"#,
        iss = issuer.issuer(),
        jwks = issuer.jwks_url(),
    )
}

/// Public, protected and method-limited routes.
fn config(upstream: SocketAddr, issuer: &TestIssuer, fast: bool) -> String {
    config_with(
        upstream,
        issuer,
        fast,
        r#"
[[routes]]
path = "/public"
public = true

[[routes]]
prefix = "/open"
public = true

[[routes]]
prefix = "/upstream"
public = true

[[routes]]
prefix = "/orders"
scopes = ["orders:read"]

[[routes]]
path = "/admin"
methods = ["GET"]
scopes = ["admin"]
"#,
    )
}

/// One HTTP/1.1 response as a client reads it.
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    /// The status line's minor version: `HTTP/1.0` answers end their connection unless they
    /// say `keep-alive`.
    minor: u8,
    status: u16,
    /// Lower-case names, sorted, `date` left out (it differs by the second).
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// The bytes of the body as they came (chunk framing included).
    raw_body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the connection serves another request after this answer (RFC 9112 §9.3).
    fn persistent(&self) -> bool {
        let says = |token: &str| {
            self.header("connection")
                .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        };
        if self.minor == 0 {
            says("keep-alive")
        } else {
            !says("close")
        }
    }
}

/// A client connection that reads responses one after another.
struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Self {
        Self {
            stream: TcpStream::connect(addr).await.unwrap(),
            buf: Vec::new(),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Reads more; `false` at the end of the stream (or a reset).
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16384];
        match tokio::time::timeout(BOUND, self.stream.read(&mut chunk))
            .await
            .expect("no answer in time")
        {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// The next response (`head`: it answers a HEAD request); `None` if the connection ends
    /// before a whole one.
    async fn answer(&mut self, head: bool) -> Option<Answer> {
        let (minor, status, headers, len) = loop {
            let mut fields = [httparse::EMPTY_HEADER; 64];
            let mut resp = httparse::Response::new(&mut fields);
            if let httparse::Status::Complete(len) = resp.parse(&self.buf).unwrap() {
                let mut headers: Vec<(String, String)> = resp
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_ascii_lowercase(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .filter(|(n, _)| n != "date")
                    .collect();
                headers.sort();
                break (resp.version.unwrap(), resp.code.unwrap(), headers, len);
            }
            if !self.fill().await {
                return None;
            }
        };
        self.buf.drain(..len);
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let (mut body, mut raw_body) = (Vec::new(), Vec::new());
        if head || status == 204 || status == 304 || (100..200).contains(&status) {
        } else if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            loop {
                let (line, size) = loop {
                    if let Ok(httparse::Status::Complete(s)) = httparse::parse_chunk_size(&self.buf)
                    {
                        break s;
                    }
                    if !self.fill().await {
                        return None;
                    }
                };
                let size = usize::try_from(size).unwrap();
                while self.buf.len() < line + size + 2 {
                    if !self.fill().await {
                        return None;
                    }
                }
                raw_body.extend(self.buf.drain(..line + size + 2));
                body.extend_from_slice(&raw_body[raw_body.len() - size - 2..raw_body.len() - 2]);
                if size == 0 {
                    break;
                }
            }
        } else if let Some(len) = get("content-length") {
            let len: usize = len
                .parse()
                .unwrap_or_else(|_| panic!("an answer with content-length {len:?}: {headers:?}"));
            while self.buf.len() < len {
                if !self.fill().await {
                    return None;
                }
            }
            body = self.buf.drain(..len).collect();
            raw_body = body.clone();
        } else {
            while self.fill().await {}
            body = std::mem::take(&mut self.buf);
            raw_body = body.clone();
        }
        Some(Answer {
            minor,
            status,
            headers,
            body,
            raw_body,
        })
    }

    /// The next final answer, interim ones (1xx) skipped: whether one is sent depends on when
    /// a body is read.
    async fn final_answer(&mut self, head: bool) -> Option<Answer> {
        loop {
            match self.answer(head).await {
                Some(a) if a.status < 200 => {}
                other => return other,
            }
        }
    }

    /// Reads to the end of the stream: returns when the gateway closed the connection, panics
    /// if it keeps it open past [`BOUND`].
    async fn closes(&mut self) {
        while self.fill().await {}
    }
}

/// Sends `request` on a new connection and reads `n` answers.
async fn exchange(addr: SocketAddr, request: &[u8], n: usize, head: bool) -> Vec<Answer> {
    let mut c = Client::connect(addr).await;
    c.send(request).await;
    let mut answers = Vec::new();
    for _ in 0..n {
        answers.push(c.answer(head).await.expect("an answer"));
    }
    answers
}

#[tokio::test(flavor = "multi_thread")]
async fn both_engines_give_the_same_answers_and_tell_the_upstream_the_same() {
    let issuer = TestIssuer::start().await;
    let (up, _state) = upstream().await;
    let own = Gateway::start(&config(up, &issuer, true), &[]).await;
    let hyper = Gateway::start(&config(up, &issuer, false), &[]).await;
    let read = issuer.mint().scope("orders:read").subject("alice").sign();
    let other = issuer.mint().scope("other").sign();
    let host = "Host: gw\r\n";
    let cases: Vec<(String, usize, bool)> = vec![
        (format!("GET /public HTTP/1.1\r\n{host}\r\n"), 1, false),
        // Spoofed identity and forwarding headers, hop-by-hop ones, a query.
        (
            format!(
                "GET /public?x=1&y=%20 HTTP/1.1\r\n{host}X-Auth-Subject: mallory\r\nx_auth_scope: admin\r\nX-Forwarded-For: 6.6.6.6\r\nForwarded: for=evil\r\nX-Real-IP: 6.6.6.6\r\nConnection: X-Secret\r\nX-Secret: 1\r\nKeep-Alive: 5\r\nTE: trailers\r\nUser-Agent: test\r\n\r\n"
            ),
            1,
            false,
        ),
        (
            format!("POST /public HTTP/1.1\r\n{host}Content-Length: 5\r\n\r\nhello"),
            1,
            false,
        ),
        (format!("HEAD /public HTTP/1.1\r\n{host}\r\n"), 1, true),
        // The filter: no token, a good one, one without the scope, a malformed one.
        (format!("GET /orders/1 HTTP/1.1\r\n{host}\r\n"), 1, false),
        (
            format!("GET /orders/1 HTTP/1.1\r\n{host}Authorization: Bearer {read}\r\n\r\n"),
            1,
            false,
        ),
        (
            format!("GET /orders/1 HTTP/1.1\r\n{host}Authorization: Bearer {other}\r\n\r\n"),
            1,
            false,
        ),
        (
            format!("GET /orders/1 HTTP/1.1\r\n{host}Authorization: Bearer a b\r\n\r\n"),
            1,
            false,
        ),
        (
            format!("POST /orders/1 HTTP/1.1\r\n{host}Content-Length: 3\r\n\r\nabc"),
            1,
            false,
        ),
        // Routing and path refusals.
        (format!("GET /nowhere HTTP/1.1\r\n{host}\r\n"), 1, false),
        (format!("DELETE /admin HTTP/1.1\r\n{host}\r\n"), 1, false),
        (
            format!("GET /open/../admin HTTP/1.1\r\n{host}\r\n"),
            1,
            false,
        ),
        (
            format!("GET /open/%2e%2e/admin HTTP/1.1\r\n{host}\r\n"),
            1,
            false,
        ),
        (
            "GET /public HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_owned(),
            1,
            false,
        ),
        // Two requests in one write.
        (
            format!("GET /public HTTP/1.1\r\n{host}\r\nGET /open/2 HTTP/1.1\r\n{host}\r\n"),
            2,
            false,
        ),
        // What the gateway's engine hands to hyper: a chunked body, HTTP/1.0, absolute form.
        (
            format!(
                "POST /public HTTP/1.1\r\n{host}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
            ),
            1,
            false,
        ),
        (format!("GET /public HTTP/1.0\r\n{host}\r\n"), 1, false),
        (
            format!("GET http://elsewhere.example/public HTTP/1.1\r\n{host}\r\n"),
            1,
            false,
        ),
        // No Host (RFC 9112 §3.2), last.
        (String::from("GET /public HTTP/1.1\r\n\r\n"), 1, false),
    ];
    for (request, n, head) in &cases {
        let ours = exchange(own.addr, request.as_bytes(), *n, *head).await;
        let theirs = exchange(hyper.addr, request.as_bytes(), *n, *head).await;
        assert_eq!(ours, theirs, "{request:?}");
    }
    // And the answers are the right ones (not the same mistake twice).
    let mut statuses = Vec::new();
    for i in [0, 4, 5, 6, 7, 9, 10, 11, 13] {
        let (request, n, head) = &cases[i];
        statuses.push(exchange(own.addr, request.as_bytes(), *n, *head).await[0].status);
    }
    assert_eq!(statuses, [200, 401, 200, 403, 401, 404, 405, 400, 400]);
    let (no_host, ..) = cases.last().expect("cases");
    assert_eq!(
        exchange(own.addr, no_host.as_bytes(), 1, false).await[0].status,
        400
    );
    let spoofed = &exchange(own.addr, cases[1].0.as_bytes(), 1, false).await[0];
    let seen: serde_json::Value = serde_json::from_slice(&spoofed.body).unwrap();
    let h = &seen["headers"];
    for gone in [
        "x-auth-subject",
        "x_auth_scope",
        "forwarded",
        "x-real-ip",
        "x-secret",
        "keep-alive",
        "connection",
    ] {
        assert!(h.get(gone).is_none(), "{gone} reached the upstream: {h}");
    }
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["te"], "trailers");
    assert_eq!(h["host"], up.to_string());
    let authorized = &exchange(own.addr, cases[5].0.as_bytes(), 1, false).await[0];
    let seen: serde_json::Value = serde_json::from_slice(&authorized.body).unwrap();
    assert_eq!(seen["headers"]["x-auth-subject"], "alice");
    assert!(seen["headers"].get("authorization").is_none());
}

/// What the scripted upstream does for a path.
#[derive(Clone)]
enum Script {
    /// These bytes, then keep the connection.
    Answer(&'static [u8]),
    /// These bytes, then close the connection (announced or not).
    AnswerAndClose(Vec<u8>),
    /// Answers as soon as the head is read, then neither reads nor closes.
    Early(&'static [u8]),
    /// Answers a connection's first request; at its second, closes without a word (as an
    /// upstream does that closed an idle connection just as the request arrived).
    FirstOnly(&'static [u8]),
}

/// A raw HTTP/1.1 upstream that answers each path with scripted bytes, counting connections
/// and keeping every request head and body it read.
struct Scripted {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
}

async fn scripted(scripts: HashMap<&'static str, Script>) -> Scripted {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let scripts = Arc::new(scripts);
    let (count, seen) = (connections.clone(), requests.clone());
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            let (scripts, seen) = (scripts.clone(), seen.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut served = 0;
                loop {
                    let (path, head_len, body_len) = loop {
                        let mut fields = [httparse::EMPTY_HEADER; 64];
                        let mut req = httparse::Request::new(&mut fields);
                        if let Ok(httparse::Status::Complete(n)) = req.parse(&buf) {
                            let len = req
                                .headers
                                .iter()
                                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                                .map_or(0, |h| {
                                    std::str::from_utf8(h.value).unwrap().parse().unwrap()
                                });
                            break (req.path.unwrap().to_owned(), n, len);
                        }
                        let mut chunk = [0u8; 65536];
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(k) => buf.extend_from_slice(&chunk[..k]),
                        }
                    };
                    let script = scripts
                        .get(path.as_str())
                        .cloned()
                        .unwrap_or(Script::Answer(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                        ));
                    if let Script::Early(bytes) = script {
                        seen.lock().unwrap().push(buf[..head_len].to_vec());
                        let _ = s.write_all(bytes).await;
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        return;
                    }
                    while buf.len() < head_len + body_len {
                        let mut chunk = [0u8; 65536];
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(k) => buf.extend_from_slice(&chunk[..k]),
                        }
                    }
                    seen.lock()
                        .unwrap()
                        .push(buf.drain(..head_len + body_len).collect());
                    served += 1;
                    match script {
                        Script::FirstOnly(_) if served > 1 => return,
                        Script::FirstOnly(bytes) => {
                            if s.write_all(bytes).await.is_err() {
                                return;
                            }
                        }
                        Script::Answer(bytes) => {
                            if s.write_all(bytes).await.is_err() {
                                return;
                            }
                        }
                        Script::AnswerAndClose(bytes) => {
                            let _ = s.write_all(&bytes).await;
                            return;
                        }
                        Script::Early(_) => unreachable!(),
                    }
                }
            });
        }
    });
    Scripted {
        addr,
        connections,
        requests,
    }
}

/// Every path public, so that the upstream's answers are all there is to see.
fn open_config(upstream: SocketAddr, issuer: &TestIssuer, fast: bool) -> String {
    config_with(
        upstream,
        issuer,
        fast,
        "[[routes]]\nprefix = \"/\"\npublic = true\n",
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn every_upstream_framing_reaches_the_client_well_framed() {
    let issuer = TestIssuer::start().await;
    let big_head = {
        let mut h = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..120 {
            h.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "v".repeat(4000)).as_bytes());
        }
        h.extend_from_slice(b"Content-Length: 0\r\n\r\n");
        h
    };
    let up = scripted(HashMap::from([
        (
            "/chunked",
            Script::Answer(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Up: 1\r\n\r\n5;ext=\"x\"\r\nhello\r\nA\r\n wide worl\r\n1\r\nd\r\n0\r\nTrailer-A: x\r\n\r\n",
            ),
        ),
        (
            "/until-close",
            Script::AnswerAndClose(b"HTTP/1.1 200 OK\r\nX-Up: 2\r\n\r\nuntil the end".to_vec()),
        ),
        (
            "/early-hints",
            Script::Answer(
                b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 Fine\r\nContent-Length: 4\r\n\r\nfine",
            ),
        ),
        (
            "/sized",
            Script::Answer(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"),
        ),
        ("/empty", Script::Answer(b"HTTP/1.1 204 No Content\r\n\r\n")),
        (
            "/empty-with-length",
            Script::Answer(b"HTTP/1.1 204 No Content\r\nContent-Length: 2\r\n\r\n"),
        ),
        (
            "/hop",
            Script::Answer(
                b"HTTP/1.1 200 OK\r\nConnection: X-Private, keep-alive\r\nX-Private: 1\r\nKeep-Alive: timeout=5\r\nUpgrade: h2c\r\nX-Kept: 1\r\nContent-Length: 2\r\n\r\nok",
            ),
        ),
        (
            "/length-named",
            Script::Answer(
                b"HTTP/1.1 200 OK\r\nConnection: Content-Length, X-Private\r\nX-Private: 1\r\nContent-Length: 2\r\n\r\nok",
            ),
        ),
        (
            "/te-and-length",
            Script::Answer(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            ),
        ),
        (
            "/two-lengths",
            Script::Answer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc"),
        ),
        (
            "/gzip-te",
            Script::Answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"),
        ),
        (
            "/switching",
            Script::Answer(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n"),
        ),
        ("/garbage", Script::Answer(b"NOT HTTP AT ALL\r\n\r\n")),
        ("/big-head", Script::AnswerAndClose(big_head)),
        (
            "/bad-chunk",
            Script::AnswerAndClose(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n".to_vec(),
            ),
        ),
        (
            "/cut",
            Script::AnswerAndClose(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part".to_vec()),
        ),
    ]))
    .await;
    let gw = Gateway::start(&open_config(up.addr, &issuer, true), &[]).await;
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: gw\r\n\r\n");

    // A chunked body: the same data, in chunks written anew (no extension, no trailers), and
    // the connection serves the next request.
    let mut c = Client::connect(gw.addr).await;
    c.send(get("/chunked").as_bytes()).await;
    let a = c.answer(false).await.unwrap();
    assert_eq!((a.status, &a.body[..]), (200, &b"hello wide world"[..]));
    assert_eq!(a.header("transfer-encoding"), Some("chunked"));
    assert_eq!(a.header("x-up"), Some("1"));
    assert_eq!(
        a.raw_body,
        b"5\r\nhello\r\na\r\n wide worl\r\n1\r\nd\r\n0\r\n\r\n"
    );
    // A body that ends with the upstream's close: chunked to the client, which keeps its
    // connection.
    c.send(get("/until-close").as_bytes()).await;
    let a = c.answer(false).await.unwrap();
    assert_eq!((a.status, &a.body[..]), (200, &b"until the end"[..]));
    assert_eq!(a.header("transfer-encoding"), Some("chunked"));
    // Informational answers are skipped; the upstream's reason phrase is kept.
    c.send(get("/early-hints").as_bytes()).await;
    let a = c.answer(false).await.unwrap();
    assert_eq!((a.status, &a.body[..]), (200, &b"fine"[..]));
    assert!(a.header("link").is_none());
    // HEAD and 204: no body, whatever the length says, and no desynchronised connection.
    c.send(b"HEAD /sized HTTP/1.1\r\nHost: gw\r\n\r\n").await;
    let a = c.answer(true).await.unwrap();
    assert_eq!((a.status, a.header("content-length")), (200, Some("5")));
    c.send(get("/empty").as_bytes()).await;
    assert_eq!(c.answer(false).await.unwrap().status, 204);
    // A 204 never carries Content-Length (RFC 9110 §8.6), even when the upstream's did: a
    // client that believed it would take the next answer's first bytes for this one's body.
    c.send(get("/empty-with-length").as_bytes()).await;
    let a = c.answer(false).await.unwrap();
    assert_eq!((a.status, a.header("content-length")), (204, None));
    // Hop-by-hop fields, and those the Connection field names, stay with the upstream hop.
    c.send(get("/hop").as_bytes()).await;
    let a = c.answer(false).await.unwrap();
    assert_eq!(a.status, 200);
    for gone in ["connection", "x-private", "keep-alive", "upgrade"] {
        assert!(a.header(gone).is_none(), "{gone}: {:?}", a.headers);
    }
    assert_eq!(a.header("x-kept"), Some("1"));
    c.send(get("/ordinary").as_bytes()).await;
    assert_eq!(c.answer(false).await.unwrap().body, b"ok");
    // But the Connection field cannot take the body's framing away: an answer without it
    // would run on to the connection's end, into the next one.
    c.send(get("/length-named").as_bytes()).await;
    let a = c.answer(false).await.unwrap();
    assert_eq!(
        (a.status, a.header("content-length"), &a.body[..]),
        (200, Some("2"), &b"ok"[..])
    );
    assert!(a.header("x-private").is_none(), "{:?}", a.headers);
    c.send(get("/ordinary").as_bytes()).await;
    assert_eq!(c.answer(false).await.unwrap().body, b"ok");

    // What cannot be relayed unambiguously is a 502, never passed on.
    for path in [
        "/te-and-length",
        "/two-lengths",
        "/gzip-te",
        "/switching",
        "/garbage",
        "/big-head",
    ] {
        let a = &exchange(gw.addr, get(path).as_bytes(), 1, false).await[0];
        assert_eq!(a.status, 502, "{path}");
        assert!(
            String::from_utf8_lossy(&a.body).contains("bad_gateway"),
            "{path}"
        );
    }
    // A body broken off after its head went out: the client's connection closes before the
    // body's end, so the client sees it incomplete.
    for (path, whole) in [("/bad-chunk", 0), ("/cut", 100)] {
        let mut c = Client::connect(gw.addr).await;
        c.send(get(path).as_bytes()).await;
        assert!(c.answer(false).await.is_none(), "{path}");
        let _ = whole;
    }
    assert!(
        gw.logs().contains("upstream response relay ended early"),
        "{}",
        gw.logs()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_connections_closed_while_idle_are_never_used() {
    let issuer = TestIssuer::start().await;
    // The upstream closes every connection after its answer, without saying so.
    let up = scripted(HashMap::from([(
        "/once",
        Script::AnswerAndClose(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nonce".to_vec()),
    )]))
    .await;
    let gw = Gateway::start(&open_config(up.addr, &issuer, true), &[]).await;
    let mut c = Client::connect(gw.addr).await;
    for i in 0..20 {
        c.send(b"GET /once HTTP/1.1\r\nHost: gw\r\n\r\n").await;
        let a = c.answer(false).await.unwrap();
        assert_eq!((a.status, &a.body[..]), (200, &b"once"[..]), "request {i}");
    }
    assert_eq!(up.connections.load(Ordering::SeqCst), 20);
    // Requests that could not be sent again safely (a POST with a body) too: the closed
    // connection is seen as closed before anything is sent on it.
    for i in 0..20 {
        c.send(b"POST /once HTTP/1.1\r\nHost: gw\r\nContent-Length: 3\r\n\r\nabc")
            .await;
        let a = c.answer(false).await.unwrap();
        assert_eq!((a.status, &a.body[..]), (200, &b"once"[..]), "POST {i}");
    }
    assert_eq!(up.connections.load(Ordering::SeqCst), 40);
    // Answers that keep the connection: one connection for all of them.
    let keep = scripted(HashMap::new()).await;
    let gw = Gateway::start(&open_config(keep.addr, &issuer, true), &[]).await;
    let mut c = Client::connect(gw.addr).await;
    for _ in 0..20 {
        c.send(b"GET /x HTTP/1.1\r\nHost: gw\r\n\r\n").await;
        assert_eq!(c.answer(false).await.unwrap().body, b"ok");
    }
    assert_eq!(keep.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_the_upstream_dropped_unanswered_is_sent_again_only_when_safe() {
    let issuer = TestIssuer::start().await;
    for fast in [true, false] {
        let up = scripted(HashMap::from([(
            "/first",
            Script::FirstOnly(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst"),
        )]))
        .await;
        let gw = Gateway::start(&open_config(up.addr, &issuer, fast), &[]).await;
        let mut c = Client::connect(gw.addr).await;
        // GET: the dropped request goes again on a new connection, which answers it.
        for i in 0..5 {
            c.send(b"GET /first HTTP/1.1\r\nHost: gw\r\n\r\n").await;
            let a = c.answer(false).await.unwrap();
            assert_eq!(
                (a.status, &a.body[..]),
                (200, &b"first"[..]),
                "fast={fast}: GET {i}"
            );
        }
        assert_eq!(up.connections.load(Ordering::SeqCst), 5, "fast={fast}");
        // POST: the upstream may have acted on it; it is not sent twice (502).
        c.send(b"POST /first HTTP/1.1\r\nHost: gw\r\nContent-Length: 1\r\n\r\nx")
            .await;
        assert_eq!(c.answer(false).await.unwrap().status, 502, "fast={fast}");
        assert_eq!(up.connections.load(Ordering::SeqCst), 5, "fast={fast}");
    }
}

/// Sends `PUT /upload` with a `len`-byte body to `addr`, the body from another task for as
/// long as anyone takes it, and reads the answer until it holds `until` (or the connection
/// ends). `None`: nothing of the kind within [`BOUND`].
async fn upload_reading_until(addr: SocketAddr, len: usize, until: &[u8]) -> Option<String> {
    let c = Client::connect(addr).await;
    let (mut rd, mut wr) = c.stream.into_split();
    let writer = tokio::spawn(async move {
        let head = format!("PUT /upload HTTP/1.1\r\nHost: gw\r\nContent-Length: {len}\r\n\r\n");
        if wr.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let chunk = vec![b'x'; 65536];
        for _ in 0..len / chunk.len() {
            if wr.write_all(&chunk).await.is_err() {
                break;
            }
        }
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let answered = tokio::time::timeout(BOUND, async {
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
            if got.windows(until.len()).any(|w| w == until) {
                break;
            }
        }
    })
    .await;
    writer.abort();
    answered
        .ok()
        .map(|()| String::from_utf8_lossy(&got).into_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upstream_that_answers_before_the_whole_body_is_heard() {
    let issuer = TestIssuer::start().await;
    for fast in [true, false] {
        let up = scripted(HashMap::from([(
            "/upload",
            Script::Early(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbig!"),
        )]))
        .await;
        let gw = Gateway::start(&open_config(up.addr, &issuer, fast), &[]).await;
        let text = upload_reading_until(gw.addr, 8 * 1024 * 1024, b"big!").await;
        let text =
            text.unwrap_or_else(|| panic!("fast={fast}: no answer while the body was going out"));
        assert!(text.starts_with("HTTP/1.1 413"), "fast={fast}: {text}");
        assert!(text.ends_with("big!"), "fast={fast}: {text}");
    }
}

/// An upstream that takes a request's head and then neither reads its body nor answers: the
/// upload stops moving, and the upstream's `timeout` (5 s here) still ends the exchange with
/// 504, on both engines, rather than holding the client's connection for as long as the
/// upstream keeps its own open.
#[tokio::test(flavor = "multi_thread")]
async fn an_upstream_that_stops_reading_an_upload_times_out() {
    let issuer = TestIssuer::start().await;
    for fast in [true, false] {
        let up = scripted(HashMap::from([("/upload", Script::Early(b""))])).await;
        let gw = Gateway::start(&open_config(up.addr, &issuer, fast), &[]).await;
        // More than the sockets between gateway and upstream can hold, so that writing stalls.
        let text = upload_reading_until(gw.addr, 64 * 1024 * 1024, b"\r\n\r\n").await;
        let text = text.unwrap_or_else(|| {
            panic!("fast={fast}: no answer while the upstream took no more of the body")
        });
        assert!(text.starts_with("HTTP/1.1 504"), "fast={fast}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_upstream_is_told_the_request_in_one_plain_form() {
    let issuer = TestIssuer::start().await;
    let up = scripted(HashMap::new()).await;
    let gw = Gateway::start(&open_config(up.addr, &issuer, true), &[]).await;
    let body = vec![b'b'; 100_000];
    let mut request = b"POST /form?q=1 HTTP/1.1\r\nHost: gw\r\nContent-Length: 100000\r\nConnection: X-Secret\r\nX-Secret: s\r\nAuthorization: Bearer not-for-the-upstream\r\nX-Custom: kept\r\n\r\n".to_vec();
    request.extend_from_slice(&body);
    assert_eq!(exchange(gw.addr, &request, 1, false).await[0].body, b"ok");
    let seen = up.requests.lock().unwrap().pop().unwrap();
    let split = seen.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let (head, sent_body) = seen.split_at(split);
    let head = String::from_utf8_lossy(head).to_ascii_lowercase();
    assert!(head.starts_with("post /form?q=1 http/1.1\r\n"), "{head}");
    assert!(head.contains("content-length: 100000\r\n"), "{head}");
    assert!(head.contains("x-custom: kept\r\n"), "{head}");
    assert!(head.contains(&format!("host: {}\r\n", up.addr)), "{head}");
    assert!(head.contains("x-forwarded-host: gw\r\n"), "{head}");
    for gone in ["authorization", "x-secret", "connection"] {
        assert!(!head.contains(&format!("{gone}:")), "{gone} in {head}");
    }
    assert_eq!(sent_body, &body[..]);
}

/// Both engines tell the upstream one plain `Content-Length` whatever the client spelled: a
/// length in leading zeros went on as it came through hyper's engine (`010`, which a reader in
/// base 0 takes for 8), the same field twice goes as one, and a list is refused.
#[tokio::test(flavor = "multi_thread")]
async fn the_upstream_is_told_one_plain_length() {
    let issuer = TestIssuer::start().await;
    let up = scripted(HashMap::new()).await;
    for fast in [true, false] {
        let gw = Gateway::start(&open_config(up.addr, &issuer, fast), &[]).await;
        for spelled in ["00000010", "10\r\nContent-Length: 10"] {
            let request = format!(
                "POST /x HTTP/1.1\r\nHost: gw\r\nContent-Length: {spelled}\r\n\r\n0123456789"
            );
            let a = &exchange(gw.addr, request.as_bytes(), 1, false).await[0];
            assert_eq!(a.body, b"ok", "fast path {fast}, {spelled:?}");
            let seen = up.requests.lock().unwrap().pop().unwrap();
            let seen = String::from_utf8_lossy(&seen).to_ascii_lowercase();
            assert_eq!(
                seen.matches("content-length:").count(),
                1,
                "fast path {fast}: {seen}"
            );
            assert!(
                seen.contains("content-length: 10\r\n") && seen.ends_with("\r\n\r\n0123456789"),
                "fast path {fast}: {seen}"
            );
        }
        let listed = "POST /x HTTP/1.1\r\nHost: gw\r\nContent-Length: 10, 10\r\n\r\n0123456789";
        let told = up.requests.lock().unwrap().len();
        let a = &exchange(gw.addr, listed.as_bytes(), 1, false).await[0];
        assert_eq!(a.status, 400, "fast path {fast}");
        assert_eq!(up.requests.lock().unwrap().len(), told, "fast path {fast}");
    }
}

/// A client's `Connection` field may name fields that stay with its hop, but never the
/// request's framing or its Host. Were `Content-Length` dropped on the client's say-so, the
/// body would reach the upstream as a request of its own, one the gateway never checked (here
/// one that claims an identity). Both engines, and `preserve_host`, so that Host matters.
#[tokio::test(flavor = "multi_thread")]
async fn a_connection_option_cannot_strip_the_framing_or_the_host() {
    let issuer = TestIssuer::start().await;
    let smuggled = b"GET /smuggled HTTP/1.1\r\nHost: up\r\nX-Auth-Subject: admin\r\n\r\n";
    for fast in [true, false] {
        for (method, named) in [
            ("POST", "Content-Length"),
            ("PUT", "content-length, host"),
            ("POST", "Keep-Alive, Content-Length"),
        ] {
            let up = scripted(HashMap::new()).await;
            let config = open_config(up.addr, &issuer, fast)
                .replace("timeout_secs = 5", "timeout_secs = 5\npreserve_host = true");
            let gw = Gateway::start(&config, &[]).await;
            let mut request = format!(
                "{method} /form HTTP/1.1\r\nHost: gw\r\nConnection: {named}\r\nContent-Length: {}\r\n\r\n",
                smuggled.len()
            )
            .into_bytes();
            request.extend_from_slice(smuggled);
            let case = format!("fast={fast}, {method}, Connection: {named}");
            assert_eq!(
                exchange(gw.addr, &request, 1, false).await[0].body,
                b"ok",
                "{case}"
            );
            // The upstream read one request, and the body with it: it records each request
            // (head and Content-Length body) before it answers.
            let seen = up.requests.lock().unwrap()[0].clone();
            let text = String::from_utf8_lossy(&seen).to_ascii_lowercase();
            let split = seen.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
            assert!(
                text.contains(&format!("\r\ncontent-length: {}\r\n", smuggled.len())),
                "{case}: {text}"
            );
            assert!(text.contains("\r\nhost: gw\r\n"), "{case}: {text}");
            assert_eq!(&seen[split..], smuggled, "{case}: {text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_handed_to_hyper_keeps_serving() {
    let issuer = TestIssuer::start().await;
    let (up, _state) = upstream().await;
    let gw = Gateway::start(&config(up, &issuer, true), &[]).await;
    let mut c = Client::connect(gw.addr).await;
    c.send(b"GET /public HTTP/1.1\r\nHost: gw\r\n\r\n").await;
    assert_eq!(c.answer(false).await.unwrap().status, 200);
    // A chunked body: hyper's from here on, this request and those after it.
    c.send(b"POST /public HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /open/after HTTP/1.1\r\nHost: gw\r\n\r\n")
        .await;
    let a = c.answer(false).await.unwrap();
    assert_eq!(a.status, 200);
    let seen: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(seen["method"], "POST");
    let a = c.answer(false).await.unwrap();
    let seen: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(seen["path"], "/open/after", "{a:?} {seen}");
    // Expect: 100-continue is hyper's too (to an upstream path that reads the body before it
    // answers).
    c.send(
        b"PUT /upstream/stream-up HTTP/1.1\r\nHost: gw\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n",
    )
    .await;
    let mut got = Vec::new();
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let mut buf = [0u8; 512];
        let n = tokio::time::timeout(BOUND, c.stream.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        got.starts_with(b"HTTP/1.1 100"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    c.buf.clear();
    c.send(b"ok").await;
    let a = c.answer(false).await.unwrap();
    assert_eq!((a.status, &a.body[..]), (200, &b"2"[..]));
}

/// Answers whose framing two readers could take differently reach no client as they came, on
/// either engine: a list of lengths or the same length twice is a 502 (hyper's client took
/// them and its server wrote them on), a 204's length is dropped even when it answers a HEAD,
/// a length in leading zeros is written plainly, and a chunk line with a bare LF in its
/// extension (the own engine read on in search of a CRLF) or without a size (the own engine
/// took it for the last chunk's) is refused.
#[tokio::test(flavor = "multi_thread")]
async fn answers_framed_two_ways_never_reach_the_client_as_they_came() {
    let issuer = TestIssuer::start().await;
    let up = scripted(HashMap::from([
        (
            "/listed",
            Script::Answer(b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok"),
        ),
        (
            "/twice",
            Script::Answer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok"),
        ),
        (
            "/zeros",
            Script::Answer(b"HTTP/1.1 200 OK\r\nContent-Length: 002\r\n\r\nok"),
        ),
        (
            "/empty-with-length",
            Script::Answer(b"HTTP/1.1 204 No Content\r\nContent-Length: 2\r\n\r\n"),
        ),
        (
            "/no-size",
            Script::Answer(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n\r\n\r\n",
            ),
        ),
        (
            "/extension-lf",
            Script::Answer(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;a\nok\r\nab\r\n0\r\n\r\n",
            ),
        ),
    ]))
    .await;
    for fast in [true, false] {
        let gw = Gateway::start(&open_config(up.addr, &issuer, fast), &[]).await;
        let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: gw\r\n\r\n");
        for path in ["/listed", "/twice"] {
            let a = &exchange(gw.addr, get(path).as_bytes(), 1, false).await[0];
            assert_eq!(a.status, 502, "{path}, fast path {fast}: {a:?}");
        }
        let a = &exchange(gw.addr, get("/zeros").as_bytes(), 1, false).await[0];
        assert_eq!(
            (a.status, a.header("content-length"), &a.body[..]),
            (200, Some("2"), &b"ok"[..]),
            "fast path {fast}"
        );
        let head = b"HEAD /empty-with-length HTTP/1.1\r\nHost: gw\r\n\r\n";
        let a = &exchange(gw.addr, head, 1, true).await[0];
        assert_eq!(
            (a.status, a.header("content-length")),
            (204, None),
            "fast path {fast}"
        );
        // Not relayed: the client's connection closes before a whole answer (or with a 502).
        for path in ["/extension-lf", "/no-size"] {
            let mut c = Client::connect(gw.addr).await;
            c.send(get(path).as_bytes()).await;
            match c.answer(false).await {
                None => {}
                Some(a) => assert_eq!(a.status, 502, "{path}, fast path {fast}: {a:?}"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_requests_with_bodies_keep_or_close_the_connection() {
    let issuer = TestIssuer::start().await;
    let (up, state) = upstream().await;
    let gw = Gateway::start(&config(up, &issuer, true), &[]).await;
    // A small unread body is read and dropped: the next request on the connection is served.
    let mut c = Client::connect(gw.addr).await;
    let small = "x".repeat(1000);
    c.send(
        format!(
            "POST /orders/1 HTTP/1.1\r\nHost: gw\r\nContent-Length: {}\r\n\r\n{small}GET /public HTTP/1.1\r\nHost: gw\r\n\r\n",
            small.len()
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(c.answer(false).await.unwrap().status, 401);
    assert_eq!(c.answer(false).await.unwrap().status, 200);
    // A large one is not read: the answer says the connection closes, and it does.
    let mut c = Client::connect(gw.addr).await;
    c.send(b"POST /orders/1 HTTP/1.1\r\nHost: gw\r\nContent-Length: 10000000\r\n\r\nxyz")
        .await;
    let a = c.answer(false).await.unwrap();
    assert_eq!((a.status, a.header("connection")), (401, Some("close")));
    c.closes().await;
    assert_eq!(state.requests.load(Ordering::SeqCst), 1);
    // A client that asks for the connection to close has it closed, refused or not.
    for request in [
        &b"GET /orders/1 HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n"[..],
        b"GET /public HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n",
    ] {
        let mut c = Client::connect(gw.addr).await;
        c.send(request).await;
        let a = c.answer(false).await.unwrap();
        assert_eq!(a.header("connection"), Some("close"), "{a:?}");
        c.closes().await;
    }
}

/// An upstream that tells all it was told: method, target, version, every field (sorted,
/// duplicates kept) and the body. `Content-Length` is told by the body it framed: its
/// spelling (`00` or `0`) is the sending engine's.
async fn telling_upstream() -> SocketAddr {
    async fn tell(req: axum::extract::Request) -> String {
        let (head, body) = req.into_parts();
        let body = axum::body::to_bytes(body, 1 << 20)
            .await
            .unwrap_or_default();
        let mut fields: Vec<(String, String)> = head
            .headers
            .iter()
            .filter(|(n, _)| *n != http::header::CONTENT_LENGTH)
            .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
            .collect();
        fields.sort();
        format!(
            "{} {} {:?}\n{fields:?}\n{:?}",
            head.method,
            head.uri,
            head.version,
            String::from_utf8_lossy(&body)
        )
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(tell);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A request made of pieces that HTTP/1.1 parsers and proxies have read differently:
/// methods, targets and versions, `Content-Length` in many spellings (and wrong), chunked
/// framing, `Connection` options naming framing, identity and forwarding fields, spoofed
/// identity fields, `Expect`, `Upgrade`, obs-fold, bare LF line ends, tokens good and bad.
#[derive(Debug, Clone)]
struct Wild {
    method: &'static str,
    target: &'static str,
    version: &'static str,
    host: &'static str,
    fields: Vec<&'static str>,
    length: Option<&'static str>,
    body: &'static str,
    lf_only: bool,
}

impl Wild {
    /// The request's bytes (`{good}` and `{other}` are tokens), then a last request that
    /// closes the connection, so that reading until the end reads every answer.
    fn bytes(&self, good: &str, other: &str) -> Vec<u8> {
        let n = self.body.len();
        let mut lines = vec![format!("{} {} {}", self.method, self.target, self.version)];
        if !self.host.is_empty() {
            lines.push(self.host.to_owned());
        }
        for f in &self.fields {
            lines.push(f.replace("{good}", good).replace("{other}", other));
        }
        if let Some(form) = self.length {
            let less = n.saturating_sub(1);
            lines.push(
                form.replace("{n}", &n.to_string())
                    .replace("{less}", &less.to_string()),
            );
        }
        let eol = if self.lf_only { "\n" } else { "\r\n" };
        let mut out = lines.join(eol);
        out.push_str(eol);
        out.push_str(eol);
        out.push_str(self.body);
        out.push_str("GET /public HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n");
        out.into_bytes()
    }
}

fn wild() -> impl proptest::strategy::Strategy<Value = Wild> {
    use proptest::prelude::*;
    let method = prop::sample::select(vec![
        "GET", "GET", "POST", "POST", "PUT", "HEAD", "DELETE", "OPTIONS", "PATCH", "get", "TRACE",
    ]);
    let target = prop::sample::select(vec![
        "/public",
        "/public?a=1&b=%20",
        "/open/x",
        "/open/../admin",
        "/open/%2e%2e/admin",
        "/orders/1",
        "/admin",
        "//public",
        "*",
        "http://gw/public",
        "/pub%00lic",
        "/public#frag",
    ]);
    let version = prop::sample::select(vec![
        "HTTP/1.1", "HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/1.2", "http/1.1",
    ]);
    let host = prop::sample::select(vec![
        "Host: gw",
        "Host: gw",
        "host:gw",
        "Host: gw\r\nHost: other",
        "Host: gw:80",
        "Host: ",
        "",
    ]);
    let field = prop::sample::select(vec![
        "Authorization: Bearer {good}",
        "Authorization: Bearer {good}",
        "Authorization: Bearer {other}",
        "Authorization: Bearer {good}\r\nAuthorization: Bearer {good}",
        "authorization: bearer {good}",
        "Authorization: Basic YTpi",
        "Authorization: Bearer",
        "Transfer-Encoding: chunked",
        "Transfer-Encoding: Chunked",
        "Transfer-Encoding: gzip, chunked",
        "Transfer-Encoding: chunked, identity",
        "Transfer-Encoding: identity",
        "X-Secret: 1",
        "X-Auth-Subject: mallory",
        "x_auth_scope: admin",
        "X-Forwarded-For: 6.6.6.6",
        "X-Forwarded-Host: evil",
        "Forwarded: for=evil",
        "Expect: 100-continue",
        "Upgrade: websocket",
        "TE: trailers",
        "TE: gzip",
        "Keep-Alive: timeout=5",
        "Proxy-Authorization: Basic YTpi",
        "X-Empty:",
        "X-Fold: a\r\n b",
        "X-Space : v",
        "Bad Name: v",
        "X-Tab:\tv\t",
        "Cookie: a=b; c=d",
        "Content-Type: text/plain",
    ]);
    // Drawn on its own: what the Connection field names is where proxies go wrong.
    let connection = prop::option::weighted(
        0.5,
        prop::sample::select(vec![
            "Connection: close",
            "Connection: keep-alive",
            "Connection: Content-Length",
            "Connection: content-length, Host",
            "Connection: Host, Authorization",
            "Connection: X-Auth-Subject, X-Forwarded-For",
            "Connection: Transfer-Encoding",
            "Connection: X-Secret",
        ]),
    );
    let length = prop::option::weighted(
        0.7,
        prop::sample::select(vec![
            "Content-Length: {n}",
            "Content-Length: {n}",
            "Content-Length: 0{n}",
            "Content-Length: +{n}",
            "Content-Length: {n}, {n}",
            "Content-Length: {n},{n}",
            "Content-Length: {n}\r\nContent-Length: {n}",
            "Content-Length: {n}\r\nContent-Length: {less}",
            "Content-Length: {less}",
            "Content-Length: 0x{n}",
            "Content-Length: -1",
            "Content-Length: ",
            "content-length:{n} ",
        ]),
    );
    let body = prop::sample::select(vec![
        "",
        "hello",
        "5\r\nhello\r\n0\r\n\r\n",
        "0\r\n\r\n",
        "GET /smuggled HTTP/1.1\r\nHost: up\r\nX-Auth-Subject: admin\r\n\r\n",
    ]);
    (
        method,
        target,
        version,
        host,
        prop::collection::vec(field, 0..4),
        connection,
        length,
        body,
        prop::bool::weighted(0.1),
    )
        .prop_map(
            |(method, target, version, host, mut fields, connection, length, body, lf_only)| {
                fields.extend(connection);
                Wild {
                    method,
                    target,
                    version,
                    host,
                    fields,
                    length,
                    body,
                    lf_only,
                }
            },
        )
}

/// Every final answer on a connection that was sent `request`, to its end (at most 8, and
/// each within [`BOUND`]); the first read as a HEAD's when `head`. Interim answers (`100
/// Continue`) are left out: whether one is sent depends on when the body is read.
async fn answers(addr: SocketAddr, request: &[u8], head: bool) -> Vec<Answer> {
    let mut c = Client::connect(addr).await;
    // A gateway that closed early may refuse the rest: what it answered is what counts.
    let _ = c.stream.write_all(request).await;
    let mut all = Vec::new();
    while all.len() < 8 {
        match c.final_answer(head && all.is_empty()).await {
            Some(a) => all.push(a),
            None => break,
        }
    }
    all
}

/// The two engines read generated requests alike: the same answers, in the same number, and
/// the upstream told the same (it tells the method, target, every field and the body). A
/// difference is one engine reading a request the other way: the start of a smuggled request.
/// (This would have found the `Connection: Content-Length` smuggling above.)
#[test]
fn generated_requests_are_read_alike_by_both_engines() {
    use proptest::test_runner::{Config, TestCaseError, TestRunner};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (own, hyper, good, other, _issuer) = rt.block_on(async {
        let issuer = TestIssuer::start().await;
        let up = telling_upstream().await;
        let own = Gateway::start(&config(up, &issuer, true), &[]).await;
        let hyper = Gateway::start(&config(up, &issuer, false), &[]).await;
        let good = issuer.mint().scope("orders:read").subject("alice").sign();
        let other = issuer.mint().scope("other").sign();
        (own, hyper, good, other, issuer)
    });
    let mut runner = TestRunner::new(Config {
        cases: 3000,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&wild(), |w| {
        let request = w.bytes(&good, &other);
        let head = w.method == "HEAD";
        let ours = rt.block_on(answers(own.addr, &request, head));
        let theirs = rt.block_on(answers(hyper.addr, &request, head));
        if ours != theirs {
            let show = |all: &[Answer]| {
                all.iter()
                    .map(|a| {
                        format!(
                            "{} {:?}\n{}",
                            a.status,
                            a.headers,
                            String::from_utf8_lossy(&a.raw_body)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n---\n")
            };
            return Err(TestCaseError::fail(format!(
                "{:?}\nown engine:\n{}\nhyper's:\n{}",
                String::from_utf8_lossy(&request),
                show(&ours),
                show(&theirs)
            )));
        }
        Ok(())
    });
    drop((own, hyper));
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// How a generated upstream answer frames its body, and so what a client must get of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framed {
    /// `Content-Length` as long as the body (spelled plainly).
    Exact,
    /// `Content-Length: 0` before a body that is a whole answer of its own: the gateway must
    /// never take those bytes for the next request's answer.
    Zero,
    /// One byte less than the body: the last byte is left over on the upstream connection.
    Less,
    /// One byte more than the body, and then the upstream closes: a cut body.
    More,
    /// Chunked (the field as `template` spells it; the chunks with an extension and trailers
    /// when `rich`).
    Chunked { rich: bool },
    /// No framing: the body ends when the upstream closes.
    UntilClose,
    /// Framing that parsers read differently (or must refuse): no one right answer.
    Ambiguous,
    /// Chunked, with `raw` for the body's bytes (chunk lines parsers have ended in different
    /// places), and the body they hold when that is one right reading (`None`: malformed).
    Chunks {
        raw: &'static str,
        body: Option<&'static str>,
    },
}

/// An upstream answer made of pieces that HTTP/1.1 clients and proxies have read differently:
/// interim answers, versions, statuses, hop-by-hop and Connection-named fields, framing in
/// many spellings (and wrong), bodies that hold an answer of their own, bare LF line ends.
#[derive(Debug, Clone)]
struct WildAnswer {
    interim: Option<&'static str>,
    version: &'static str,
    status: &'static str,
    fields: Vec<&'static str>,
    framing: (&'static str, Framed),
    body: &'static str,
    lf_only: bool,
    /// The upstream closes the connection after this answer.
    close: bool,
    /// The client's request is a HEAD.
    head: bool,
}

impl WildAnswer {
    /// The bytes the upstream writes.
    fn bytes(&self) -> Vec<u8> {
        let eol = if self.lf_only { "\n" } else { "\r\n" };
        let n = self.body.len();
        let mut lines = vec![format!("{} {}", self.version, self.status)];
        lines.extend(self.fields.iter().map(|f| (*f).to_owned()));
        let (template, framed) = self.framing;
        if !template.is_empty() {
            lines.push(
                template
                    .replace("{n}", &n.to_string())
                    .replace("{less}", &n.saturating_sub(1).to_string())
                    .replace("{more}", &(n + 1).to_string()),
            );
        }
        let mut out = self.interim.unwrap_or_default().replace("\r\n", eol);
        out.push_str(&lines.join(eol));
        out.push_str(eol);
        out.push_str(eol);
        match framed {
            Framed::Chunks { raw, .. } => out.push_str(raw),
            Framed::Chunked { rich } => {
                if !self.body.is_empty() {
                    let ext = if rich { ";ext=\"v\"" } else { "" };
                    out.push_str(&format!("{n:x}{ext}{eol}{}{eol}", self.body));
                }
                out.push_str(&format!("0{eol}"));
                if rich {
                    out.push_str(&format!("X-Trailer: t{eol}"));
                }
                out.push_str(eol);
            }
            _ => out.push_str(self.body),
        }
        out.into_bytes()
    }

    /// The fields its `Connection` fields name: the upstream hop's alone, never relayed
    /// (but the framing, which the gateway writes itself).
    fn connection_named(&self) -> Vec<String> {
        self.fields
            .iter()
            .filter_map(|f| f.strip_prefix("Connection: "))
            .flat_map(|v| v.split(','))
            .map(|n| n.trim().to_ascii_lowercase())
            .filter(|n| {
                !["close", "keep-alive", "content-length", "transfer-encoding"]
                    .contains(&n.as_str())
            })
            .collect()
    }

    /// Whether no client may get this answer whole: its body is cut or its chunks malformed
    /// (a HEAD's answer, a 204 and a 304 have no body to be either).
    fn must_be_refused(&self) -> bool {
        let bodiless =
            self.head || self.status.starts_with("204") || self.status.starts_with("304");
        !bodiless
            && matches!(
                self.framing.1,
                Framed::More | Framed::Chunks { body: None, .. }
            )
    }

    /// The status and body every client must get, when the answer has one right reading.
    fn expected(&self) -> Option<(u16, Vec<u8>)> {
        let malformed = self
            .fields
            .iter()
            .any(|f| f.contains("\r\n ") || f.starts_with("Bad Name"));
        let status: u16 = self.status.get(..3)?.parse().ok()?;
        let framed = self.framing.1;
        // Chunks end their lines with CRLF: the bare LF a head's lines may end with (RFC 9112
        // §2.2) is no chunk's line end, and a reader that took it for one would be lenient
        // where request smuggling begins.
        let chunked = matches!(framed, Framed::Chunked { .. } | Framed::Chunks { .. });
        let version_ok = match self.version {
            "HTTP/1.1" => !(chunked && self.lf_only),
            "HTTP/1.0" => !chunked,
            _ => false,
        };
        if malformed || !version_ok || status == 101 {
            return None;
        }
        // A HEAD's answer, a 204 and a 304 have no body whatever their framing says; bytes
        // the upstream sent after them anyway are left over, never the next answer.
        let bodiless = self.head || status == 204 || status == 304;
        let n = self.body.len();
        let body = match framed {
            Framed::Ambiguous => return None,
            _ if bodiless => b"",
            Framed::Chunks { body, .. } => body?.as_bytes(),
            Framed::Exact | Framed::UntilClose | Framed::Chunked { .. } => self.body.as_bytes(),
            Framed::Zero => b"",
            Framed::Less => &self.body.as_bytes()[..n.saturating_sub(1)],
            Framed::More => return None,
        };
        Some((status, body.to_vec()))
    }
}

fn wild_answer() -> impl proptest::strategy::Strategy<Value = WildAnswer> {
    use proptest::prelude::*;
    let bad = |raw| Framed::Chunks { raw, body: None };
    let interim = prop::option::weighted(
        0.2,
        prop::sample::select(vec![
            "HTTP/1.1 100 Continue\r\n\r\n",
            "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n",
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n",
        ]),
    );
    let version = prop::sample::select(vec![
        "HTTP/1.1", "HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/2", "http/1.1",
    ]);
    let status = prop::sample::select(vec![
        "200 OK",
        "200 OK",
        "200 ",
        "201 Created",
        "204 No Content",
        "304 Not Modified",
        "404 Not Found",
        "500 Oops, sorry",
        "599 Odd",
        "101 Switching Protocols",
    ]);
    let field = prop::sample::select(vec![
        "X-Up: 1",
        "Set-Cookie: a=1",
        "Set-Cookie: b=2",
        "Connection: close",
        "Connection: keep-alive",
        "Connection: X-Private",
        "X-Private: 1",
        "Keep-Alive: timeout=5",
        "Proxy-Connection: keep-alive",
        "Upgrade: h2c",
        "Trailer: X-Trailer",
        "X-Empty:",
        "X-Text: caf\u{e9}",
        "X-Fold: a\r\n b",
        "Bad Name: v",
        "Connection: Content-Length",
        "Connection: Transfer-Encoding",
        "Connection: X-Up, Set-Cookie",
    ]);
    let framing = prop::sample::select(vec![
        ("Content-Length: {n}", Framed::Exact),
        ("Content-Length: {n}", Framed::Exact),
        ("content-length:{n}", Framed::Exact),
        ("Content-Length: 0", Framed::Zero),
        ("Content-Length: {less}", Framed::Less),
        ("Content-Length: {more}", Framed::More),
        (
            "Transfer-Encoding: chunked",
            Framed::Chunked { rich: false },
        ),
        ("Transfer-Encoding: chunked", Framed::Chunked { rich: true }),
        (
            "transfer-encoding: Chunked",
            Framed::Chunked { rich: false },
        ),
        ("", Framed::UntilClose),
        ("Content-Length: 0{n}", Framed::Ambiguous),
        ("Content-Length: +{n}", Framed::Ambiguous),
        ("Content-Length: {n}, {n}", Framed::Ambiguous),
        (
            "Content-Length: {n}\r\nContent-Length: {n}",
            Framed::Ambiguous,
        ),
        (
            "Content-Length: {n}\r\nContent-Length: {less}",
            Framed::Ambiguous,
        ),
        (
            "Transfer-Encoding: chunked\r\nContent-Length: {n}",
            Framed::Ambiguous,
        ),
        ("Transfer-Encoding: gzip, chunked", Framed::Ambiguous),
        ("Transfer-Encoding: chunked, gzip", Framed::Ambiguous),
        ("Transfer-Encoding: identity", Framed::Ambiguous),
        // Chunk lines that parsers have ended in different places: a bare LF in an
        // extension, a size line without a digit, bare LF line ends, a quoted CRLF; and one
        // that is odd but right (leading zeros, whitespace around the extension).
        (
            "Transfer-Encoding: chunked",
            bad("2;a\nok\r\nab\r\n0\r\n\r\n"),
        ),
        ("Transfer-Encoding: chunked", bad("2\r\nok\r\n\r\n\r\n")),
        ("Transfer-Encoding: chunked", bad("2\r\nok\r\n;x\r\n\r\n")),
        ("Transfer-Encoding: chunked", bad("2\r\nok\n0\r\n\r\n")),
        (
            "Transfer-Encoding: chunked",
            bad("2\r\nok\r\n0\r\nX: t\n\r\n"),
        ),
        (
            "Transfer-Encoding: chunked",
            bad("2;a=\"\r\n\"\r\nok\r\n0\r\n\r\n"),
        ),
        (
            "Transfer-Encoding: chunked",
            Framed::Chunks {
                raw: "02 ; a = b\r\nok\r\n0\r\n\r\n",
                body: Some("ok"),
            },
        ),
    ]);
    let body = prop::sample::select(vec![
        "hello",
        "hello",
        "",
        "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil",
    ]);
    (
        interim,
        version,
        status,
        prop::collection::vec(field, 0..4),
        framing,
        body,
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.3),
        prop::bool::weighted(0.15),
    )
        .prop_map(
            |(interim, version, status, fields, framing, body, lf_only, close, head)| {
                // An answer whose body ends only with the connection, or is cut, is followed
                // by the close (else the gateway would wait for the rest until its timeout).
                let close = close
                    || matches!(
                        framing.1,
                        Framed::UntilClose
                            | Framed::More
                            | Framed::Ambiguous
                            | Framed::Chunks { .. }
                    );
                WildAnswer {
                    interim,
                    version,
                    status,
                    fields,
                    framing,
                    body,
                    lf_only,
                    close,
                    head,
                }
            },
        )
}

/// An upstream that answers `GET /marker` with `marker` and every other request with the
/// answer in `now` (closing after it when it says so).
async fn wild_upstream(now: Arc<Mutex<Option<WildAnswer>>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            let now = now.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    let (marker, len) = loop {
                        let mut fields = [httparse::EMPTY_HEADER; 64];
                        let mut req = httparse::Request::new(&mut fields);
                        if let Ok(httparse::Status::Complete(n)) = req.parse(&buf) {
                            break (req.path == Some("/marker"), n);
                        }
                        let mut chunk = [0u8; 16384];
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(k) => buf.extend_from_slice(&chunk[..k]),
                        }
                    };
                    buf.drain(..len);
                    if marker {
                        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nmarker";
                        if s.write_all(ok).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    let Some(answer) = now.lock().unwrap().clone() else {
                        return;
                    };
                    if s.write_all(&answer.bytes()).await.is_err() || answer.close {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// What a client of one engine saw: the answer to the generated request (interim ones left
/// out), and, when the gateway kept the connection, the answer to `GET /marker` sent next.
async fn wild_exchange(addr: SocketAddr, head: bool) -> (Option<Answer>, Option<Answer>) {
    let mut c = Client::connect(addr).await;
    let method = if head { "HEAD" } else { "GET" };
    c.send(format!("{method} /wild HTTP/1.1\r\nHost: gw\r\n\r\n").as_bytes())
        .await;
    let first = c.final_answer(head).await;
    let second = if first.as_ref().is_some_and(Answer::persistent) {
        let _ = c
            .stream
            .write_all(b"GET /marker HTTP/1.1\r\nHost: gw\r\n\r\n")
            .await;
        c.answer(false).await
    } else {
        None
    };
    (first, second)
}

/// What no answer a gateway gives may have: framing that two readers could take differently,
/// a length on a bodiless status, hop-by-hop fields of the upstream's hop.
fn framing_faults(a: &Answer, named: &[String]) -> Vec<String> {
    let count = |name: &str| a.headers.iter().filter(|(n, _)| n == name).count();
    let mut faults = Vec::new();
    if count("content-length") > 1 || count("transfer-encoding") > 1 {
        faults.push("a framing field twice".to_owned());
    }
    if count("content-length") > 0 && count("transfer-encoding") > 0 {
        faults.push("both Content-Length and Transfer-Encoding".to_owned());
    }
    if a.header("transfer-encoding")
        .is_some_and(|v| v != "chunked")
    {
        faults.push("a Transfer-Encoding other than chunked".to_owned());
    }
    if (a.status == 204 || a.status < 200)
        && (count("content-length") > 0 || count("transfer-encoding") > 0)
    {
        faults.push("framing on a bodiless status".to_owned());
    }
    let hops = ["keep-alive", "proxy-connection", "upgrade"];
    for hop in hops.iter().copied().chain(named.iter().map(String::as_str)) {
        if count(hop) > 0 {
            faults.push(format!("the upstream's {hop} field"));
        }
    }
    if a.header("connection")
        .is_some_and(|v| v != "close" && v != "keep-alive")
    {
        faults.push("the upstream's Connection field".to_owned());
    }
    faults
}

/// Both engines relay generated upstream answers so that a client reads each exactly as the
/// upstream framed it, or gets a 502, and never reads one answer into another: the request
/// that follows on the same connection always gets its own answer (`marker`), never bytes the
/// upstream left over (a body that is itself an answer, after a `Content-Length: 0`). Where an
/// answer has one right reading, both engines give exactly it; where it has none, engines that
/// both relay it agree on its status and body.
#[test]
fn generated_upstream_answers_reach_clients_as_framed() {
    use proptest::test_runner::{Config, TestCaseError, TestRunner};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let now = Arc::new(Mutex::new(None));
    let (own, hyper, _issuer) = rt.block_on(async {
        let issuer = TestIssuer::start().await;
        let up = wild_upstream(now.clone()).await;
        let own = Gateway::start(&open_config(up, &issuer, true), &[]).await;
        let hyper = Gateway::start(&open_config(up, &issuer, false), &[]).await;
        (own, hyper, issuer)
    });
    let mut runner = TestRunner::new(Config {
        cases: 2000,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&wild_answer(), |w| {
        *now.lock().unwrap() = Some(w.clone());
        let expected = w.expected();
        let named = w.connection_named();
        let mut seen = Vec::new();
        for (engine, gw) in [("own engine", &own), ("hyper's", &hyper)] {
            let (first, second) = rt.block_on(wild_exchange(gw.addr, w.head));
            let fail = |why: String| {
                TestCaseError::fail(format!(
                    "{engine}: {why}\nupstream wrote {:?}\nfirst: {first:?}\nnext: {second:?}",
                    String::from_utf8_lossy(&w.bytes())
                ))
            };
            for a in first.iter().chain(second.iter()) {
                let faults = framing_faults(a, &named);
                if !faults.is_empty() {
                    return Err(fail(faults.join("; ")));
                }
            }
            match (&expected, &first) {
                (Some((status, body)), Some(a)) if (a.status, &a.body) != (*status, body) => {
                    return Err(fail(format!("expected {status} with {body:?}")));
                }
                (Some(_), None) => return Err(fail("no answer".to_owned())),
                (None, Some(a)) if w.must_be_refused() && a.status != 502 => {
                    return Err(fail("a cut or malformed body relayed as whole".to_owned()));
                }
                _ => {}
            }
            let kept = first.as_ref().is_some_and(Answer::persistent);
            if kept && second.as_ref().map(|a| (a.status, &a.body[..])) != Some((200, b"marker")) {
                return Err(fail(
                    "the next request did not get its own answer".to_owned(),
                ));
            }
            seen.push(
                first
                    .filter(|a| a.status != 502)
                    .map(|a| (a.status, a.body)),
            );
        }
        if let [Some(ours), Some(theirs)] = &seen[..] {
            if ours != theirs {
                return Err(TestCaseError::fail(format!(
                    "the engines read {:?} differently: {ours:?} against {theirs:?}",
                    String::from_utf8_lossy(&w.bytes())
                )));
            }
        }
        Ok(())
    });
    drop((own, hyper));
    if let Err(e) = result {
        panic!("{e}");
    }
}
