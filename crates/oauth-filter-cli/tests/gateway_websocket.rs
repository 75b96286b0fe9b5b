//! WebSockets through the gateway, real processes and a real WebSocket client and server
//! (tungstenite) on loopback: the handshake passes the filter first (401 before any upgrade,
//! never reaching the upstream), frames are relayed both ways, a browser's token in
//! `Sec-WebSocket-Protocol` is read only on routes that allow it and never forwarded, and an
//! idle WebSocket is closed by the idle timeout.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::result_large_err
)]

mod common;

use base64::Engine;
use common::Gateway;
use futures_util::{SinkExt, StreamExt};
use oauth_filter_testkit::TestIssuer;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

/// The headers of each handshake the upstream accepted.
type Seen = Arc<Mutex<Vec<HashMap<String, String>>>>;

/// A WebSocket echo server that records handshake headers and picks `chat` when offered.
async fn ws_upstream() -> (SocketAddr, Seen) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Seen = Arc::default();
    let s = seen.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let s = s.clone();
            tokio::spawn(async move {
                let record = |req: &Request, mut resp: Response| {
                    let headers: HashMap<String, String> = req
                        .headers()
                        .iter()
                        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
                        .collect();
                    let offered = headers.get("sec-websocket-protocol").cloned();
                    s.lock().unwrap().push(headers);
                    if offered.is_some_and(|p| p.split(',').any(|p| p.trim() == "chat")) {
                        resp.headers_mut()
                            .insert("sec-websocket-protocol", "chat".parse().unwrap());
                    }
                    Ok(resp)
                };
                let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, record).await else {
                    return;
                };
                while let Some(Ok(msg)) = ws.next().await {
                    if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, seen)
}

fn config(up: SocketAddr, issuer: &TestIssuer, server: &str) -> String {
    format!(
        r#"
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
[upstream]
url = "http://{up}"
[[issuers]]
issuer = "{iss}"
audience = "api"
jwks_url = "{jwks}"
[[routes]]
prefix = "/ws"
scopes = ["ws"]
[[routes]]
prefix = "/browser"
scopes = ["ws"]
websocket_protocol_token = true
{server}
"#,
        iss = issuer.issuer(),
        jwks = issuer.jwks_url(),
    )
}

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// Opens a WebSocket to the gateway's `path` with `headers`; the error is the HTTP answer.
async fn open(
    gw: &Gateway,
    path: &str,
    headers: &[(&str, String)],
) -> Result<(Ws, http::HeaderMap), Box<http::Response<Option<Vec<u8>>>>> {
    let mut req = format!("ws://{}{path}", gw.addr)
        .into_client_request()
        .unwrap();
    for (n, v) in headers {
        req.headers_mut().insert(
            http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    let tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    match tokio_tungstenite::client_async(req, tcp).await {
        Ok((ws, resp)) => Ok((ws, resp.headers().clone())),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp),
        Err(e) => panic!("unexpected handshake error: {e}"),
    }
}

async fn echo<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>, text: &str)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    ws.send(Message::text(text)).await.unwrap();
    let back = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("an echo")
        .unwrap()
        .unwrap();
    assert_eq!(back.into_text().unwrap().as_str(), text);
}

fn protocol_token(token: &str) -> String {
    format!(
        "base64url.bearer.authorization.k8s.io.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn websockets_pass_the_filter_before_the_upgrade_and_relay_frames() {
    let issuer = TestIssuer::start().await;
    let (up, seen) = ws_upstream().await;
    let gw = Gateway::start(&config(up, &issuer, ""), &[]).await;
    let token = issuer.mint().scope("ws").subject("alice").sign();

    let (mut ws, _) = open(
        &gw,
        "/ws/chat",
        &[("authorization", format!("Bearer {token}"))],
    )
    .await
    .unwrap();
    echo(&mut ws, "hello").await;
    echo(&mut ws, "twice").await;
    ws.close(None).await.unwrap();
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0]["x-auth-subject"], "alice");
        assert!(!seen[0].contains_key("authorization"), "{:?}", seen[0]);
    }

    // No token, a bad one, too few scopes: refused before the upgrade, never forwarded.
    let weak = issuer.mint().scope("other").sign();
    for (headers, status) in [
        (vec![], 401),
        (
            vec![("authorization", "Bearer not-a-token".to_owned())],
            401,
        ),
        (vec![("authorization", format!("Bearer {weak}"))], 403),
    ] {
        let refused = open(&gw, "/ws/chat", &headers).await.expect_err("refused");
        assert_eq!(refused.status().as_u16(), status);
        assert!(refused.headers().contains_key("www-authenticate"));
    }
    // A token in the subprotocol is not read where the route does not allow it, and is not
    // forwarded.
    let refused = open(
        &gw,
        "/ws/chat",
        &[(
            "sec-websocket-protocol",
            format!("{}, chat", protocol_token(&token)),
        )],
    )
    .await
    .expect_err("refused");
    assert_eq!(refused.status().as_u16(), 401);
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "refusals never reach the upstream"
    );
    // Allowed by its Authorization header, with a token subprotocol too: that one is removed.
    let (mut ws, _) = open(
        &gw,
        "/ws/chat",
        &[
            ("authorization", format!("Bearer {token}")),
            (
                "sec-websocket-protocol",
                format!("{}, chat", protocol_token(&token)),
            ),
        ],
    )
    .await
    .unwrap();
    echo(&mut ws, "again").await;
    assert_eq!(seen.lock().unwrap()[1]["sec-websocket-protocol"], "chat");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_browser_token_in_the_subprotocol_where_the_route_allows_it() {
    let issuer = TestIssuer::start().await;
    let (up, seen) = ws_upstream().await;
    let gw = Gateway::start(&config(up, &issuer, ""), &[]).await;
    let token = issuer.mint().scope("ws").subject("bob").sign();
    let offered = format!("{}, chat", protocol_token(&token));
    let (mut ws, headers) = open(&gw, "/browser", &[("sec-websocket-protocol", offered)])
        .await
        .unwrap();
    assert_eq!(headers["sec-websocket-protocol"], "chat");
    echo(&mut ws, "from a browser").await;
    {
        let seen = seen.lock().unwrap();
        assert_eq!(
            seen[0]["sec-websocket-protocol"], "chat",
            "the token is not forwarded"
        );
        assert_eq!(seen[0]["x-auth-subject"], "bob");
        assert!(!seen[0].contains_key("authorization"), "{:?}", seen[0]);
    }
    // Two tokens (the header and the subprotocol), or one that is not base64url: 400.
    for headers in [
        vec![
            (
                "sec-websocket-protocol",
                format!("{}, chat", protocol_token(&token)),
            ),
            ("authorization", format!("Bearer {token}")),
        ],
        vec![(
            "sec-websocket-protocol",
            "base64url.bearer.authorization.k8s.io.!!!, chat".to_owned(),
        )],
    ] {
        let refused = open(&gw, "/browser", &headers).await.expect_err("refused");
        assert_eq!(refused.status().as_u16(), 400);
    }
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_websocket_is_closed_by_the_idle_timeout() {
    let issuer = TestIssuer::start().await;
    let (up, _seen) = ws_upstream().await;
    let gw = Gateway::start(
        &config(up, &issuer, "[server]\nidle_timeout_secs = 1\n"),
        &[],
    )
    .await;
    let token = issuer.mint().scope("ws").sign();
    let (mut ws, _) = open(&gw, "/ws", &[("authorization", format!("Bearer {token}"))])
        .await
        .unwrap();
    echo(&mut ws, "still here").await;
    // Nothing more is sent: the gateway ends the connection (the condition awaited, with a
    // generous bound).
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) => return,
                Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the idle WebSocket was not closed");
}

/// RFC 8441: a WebSocket over HTTP/2 (`CONNECT` with `:protocol = websocket`) passes the filter
/// like the HTTP/1.1 handshake and reaches an HTTP/1.1 upstream as one.
#[tokio::test(flavor = "multi_thread")]
async fn websockets_over_http2_extended_connect() {
    use http_body_util::Empty;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use tokio_tungstenite::tungstenite::protocol::Role;
    let issuer = TestIssuer::start().await;
    let (up, seen) = ws_upstream().await;
    let gw = Gateway::start(&config(up, &issuer, ""), &[]).await;
    let token = issuer.mint().scope("ws").subject("carol").sign();
    let tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let connect = |auth: Option<&str>| {
        let mut req = http::Request::builder()
            .method(http::Method::CONNECT)
            .uri(format!("http://{}/ws/chat", gw.addr))
            .header("sec-websocket-version", "13")
            .header("sec-websocket-protocol", "chat");
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let mut req = req.body(Empty::<bytes::Bytes>::new()).unwrap();
        req.extensions_mut()
            .insert(hyper::ext::Protocol::from_static("websocket"));
        req
    };
    // The first request also waits for the gateway's SETTINGS (extended CONNECT enabled).
    let refused = sender.send_request(connect(None)).await.unwrap();
    assert_eq!(refused.status(), 401);
    assert!(refused.headers().contains_key("www-authenticate"));
    assert!(
        seen.lock().unwrap().is_empty(),
        "a refusal never reaches the upstream"
    );

    let mut resp = sender
        .send_request(connect(Some(&format!("Bearer {token}"))))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["sec-websocket-protocol"], "chat");
    let stream = hyper::upgrade::on(&mut resp).await.unwrap();
    let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
        TokioIo::new(stream),
        Role::Client,
        None,
    )
    .await;
    echo(&mut ws, "over h2").await;
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["x-auth-subject"], "carol");
    assert!(!seen[0].contains_key("authorization"), "{:?}", seen[0]);
}
