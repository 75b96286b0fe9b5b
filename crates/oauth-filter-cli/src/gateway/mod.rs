//! `oauth-filter gateway --config FILE`: a reverse proxy that protects any HTTP API.
//!
//! ```text
//! oauth-filter gateway --config gateway.toml
//! READY listen=127.0.0.1:8080 admin=127.0.0.1:9090
//! ```
//!
//! The configuration is described in [`config`]; a request's way through in [`proxy`]; the
//! gateway's own HTTP/1.1 engine, which serves plain-HTTP connections before hyper, in [`h1`]. On
//! SIGTERM or Ctrl-C the gateway stops accepting, `/readyz` turns 503, in-flight requests finish
//! (up to `shutdown_grace_secs`), and the process exits 0.

pub(crate) mod admin;
pub(crate) mod authz;
pub(crate) mod config;
pub(crate) mod cors;
pub(crate) mod h1;
pub(crate) mod limits;
pub(crate) mod metrics;
pub(crate) mod proxy;
pub(crate) mod tls;
pub(crate) mod upstream;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Options of `gateway` and `check-config`.
#[derive(clap::Args)]
pub(crate) struct GatewayArgs {
    /// The TOML configuration file; `OAUTH_FILTER__*` environment variables override its values.
    #[arg(long, env = "OAUTH_FILTER_CONFIG")]
    pub(crate) config: PathBuf,
}

/// `check-config`: validates and summarises, starts nothing.
pub(crate) fn check_config(args: &GatewayArgs) -> Result<(), config::ConfigError> {
    let c = config::load(&args.config, std::env::vars(), None)?;
    for w in c.deprecation_warnings() {
        eprintln!("warning: {w}");
    }
    let routes = c.routes.describe();
    let serves = match &c.upstream {
        Some(u) => format!("upstream {}://{}{}", u.scheme, u.authority, u.base_path),
        None => String::from("external authorization (oauth-filter authz)"),
    };
    println!(
        "configuration OK: listen {}, admin {}, {serves}, {} route(s)",
        c.listen,
        c.admin_listen,
        routes.len()
    );
    if let Some(a) = &c.authz {
        println!("{}", authz::describe(a));
    }
    for (name, path, methods, access) in routes {
        println!("  {name}: {path} {methods}: {access}");
        if let Some(o) = c.route_options.get(&name) {
            if o.websocket_protocol_token {
                println!("    WebSocket token from Sec-WebSocket-Protocol accepted");
            }
            for (tool, r) in o.mcp.iter().flat_map(|m| &m.tools) {
                println!("    MCP tool {tool}: {r}");
            }
        }
    }
    if let Some(dpop) = c.filter.describe_dpop() {
        println!("DPoP: {dpop}");
    }
    if let Some(line) = describe_metadata(&c.filter) {
        println!("{line}");
    }
    if let Some(profile) = c.filter.describe_profile() {
        println!("{profile}");
    }
    if let Some(tls) = &c.tls {
        println!("TLS: {}", tls.describe());
    }
    if let Some(engine) = h1::describe(&c) {
        println!("{engine}");
    }
    if !c.client_cert_proxies.is_empty() {
        let from: Vec<String> = c
            .client_cert_proxies
            .iter()
            .map(ToString::to_string)
            .collect();
        println!("Client-Cert (RFC 9440) honoured from: {}", from.join(", "));
    }
    Ok(())
}

/// The RFC 9728 line of `check-config` and `inspect`: the resource and its metadata URL.
pub(crate) fn describe_metadata(filter: &oauth_filter::OAuthFilter) -> Option<String> {
    let m = filter.resource_metadata()?;
    Some(format!(
        "RFC 9728 metadata: resource {}, served at {} (path {})",
        m.resource(),
        m.url(),
        m.path()
    ))
}

/// Loads the configuration, then runs the gateway (or, `Mode::Authz`, the external
/// authorization service) on a runtime of `workers` threads: one thread is a current-thread
/// runtime (about 15% more throughput per core than a one-worker multi-thread runtime,
/// measured with `scripts/bench-gateway.sh`).
pub(crate) fn main(args: &GatewayArgs, mode: config::Mode) -> std::process::ExitCode {
    let config = match config::load(&args.config, std::env::vars(), Some(mode)) {
        Ok(c) => c,
        Err(e) => return crate::exit_status(Err(Box::new(e))),
    };
    crate::init_logging(config.log_format == config::LogFormat::Json);
    for w in config.deprecation_warnings() {
        tracing::warn!("{w}");
    }
    let runtime = match config.workers {
        1 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
    };
    match runtime {
        Ok(rt) => crate::exit_status(rt.block_on(run(config))),
        Err(e) => crate::exit_status(Err(Box::new(e))),
    }
}

/// How far ahead the runtime's next timer wake-up always is, at most (see [`hold_timer_floor`]);
/// shorter than every per-request timeout, which are whole seconds.
const TIMER_FLOOR: std::time::Duration = std::time::Duration::from_millis(500);

/// Keeps a timer due within [`TIMER_FLOOR`], so that a request's timers (header read, upstream
/// response, request body: each at least a second away) are never due before the runtime's
/// next wake-up. Tokio 1.54 wakes its driver with an eventfd write, a system call, for every
/// timer registered before that wake-up, even from the driver's own thread while it polls
/// tasks and cannot be parked (tokio-rs/tokio#5207). `scripts/bench-gateway.sh` counted 0.5
/// such writes per proxied request without the floor and none with it, for two wake-ups a
/// second. Timers stay exact: one due sooner than the floor still wakes the driver, and the
/// others are due after a wake-up that recomputes the next.
fn hold_timer_floor() {
    tokio::spawn(async {
        let mut tick = tokio::time::interval(TIMER_FLOOR);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
        }
    });
}

async fn run(config: config::Config) -> Result<(), Box<dyn std::error::Error>> {
    let handle = metrics::install()?;
    hold_timer_floor();
    let app = match &config.upstream {
        Some(upstream) => App::Proxy(Arc::new(proxy::Proxy::new(&config, upstream)?)),
        None => App::Authz(Arc::new(authz::Authz::new(&config))),
    };
    // Inbound TLS: the current rustls configuration, replaced on SIGHUP.
    let tls = match &config.tls {
        None => None,
        Some(t) => {
            let (current, rx) = tokio::sync::watch::channel(t.server_config()?);
            tls::reload_on_sighup(t.clone(), current);
            Some(rx)
        }
    };
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {} (listen): {e}", config.listen))?;
    let admin_listener = TcpListener::bind(config.admin_listen).await.map_err(|e| {
        format!(
            "cannot listen on {} (admin_listen): {e}",
            config.admin_listen
        )
    })?;
    let (addr, admin_addr) = (listener.local_addr()?, admin_listener.local_addr()?);
    let draining = Arc::new(AtomicBool::new(false));
    let admin = Arc::new(admin::Admin::new(
        config.filter.clone(),
        handle,
        draining.clone(),
    ));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(admin_listener, admin::router(admin)).await {
            tracing::error!(error = %e, "admin listener failed");
        }
    });
    // Load keys now, so the first requests do not wait (failures are retried on demand).
    let warm = config.filter.clone();
    tokio::spawn(async move {
        for c in warm.readiness().await {
            if !c.ready {
                tracing::warn!(component = %c.component, detail = c.detail, "not ready yet");
            }
        }
    });
    match &config.upstream {
        Some(u) => {
            tracing::info!(listen = %addr, admin = %admin_addr, upstream = %u.authority, "gateway started");
        }
        None => {
            tracing::info!(listen = %addr, admin = %admin_addr, "external authorization started");
        }
    }
    println!("READY listen={addr} admin={admin_addr}");

    let limits = config.limits.clone();
    let mut server = auto::Builder::new(TokioExecutor::new());
    server
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    server
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.http2_keep_alive_interval)
        .keep_alive_timeout(limits.http2_keep_alive_timeout)
        // RFC 8441: WebSockets over HTTP/2.
        .enable_connect_protocol();
    // The connection cap: a permit per connection, taken before accepting, so that excess
    // connections wait in the kernel's accept queue instead of costing memory here.
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let server = Arc::new(server);
    let graceful = GracefulShutdown::new();
    let drain = h1::Drain::default();
    let mut shutdown = std::pin::pin!(shutdown_signal());
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let in_flight = limits::InFlight::default();
                // Plain HTTP to a proxy the gateway's own HTTP/1.1 engine serves: it takes the
                // connection first, and hands it to hyper at a request it does not take.
                let fast = match (&app, &tls) {
                    (App::Proxy(p), None) => p.fast_path().map(|u| (p.clone(), u.clone())),
                    _ => None,
                };
                let app = app.clone();
                let server = server.clone();
                let watcher = graceful.watcher();
                let acceptor = tls.as_ref().map(|rx| tokio_rustls::TlsAcceptor::from(rx.borrow().clone()));
                let handshake_timeout = limits.header_read_timeout;
                let idle_timeout = limits.idle_timeout;
                let cors = config.cors.clone();
                let drain = drain.clone();
                tokio::spawn(async move {
                    let service = |conn: Arc<proxy::Connection>| {
                        let handler = Handler { app, conn, in_flight: in_flight.clone() };
                        // CORS outside everything: preflights never reach a route or the filter.
                        TowerToHyperService::new(
                            tower::ServiceBuilder::new().option_layer(cors).service(handler),
                        )
                    };
                    let served = match acceptor {
                        None => {
                            let conn = Arc::new(proxy::Connection::new(peer, false, None));
                            let stream = match fast {
                                Some((proxy, upstreams)) => {
                                    match h1::serve(&proxy, &upstreams, stream, &conn, &drain).await {
                                        h1::Ended::Closed => return,
                                        h1::Ended::HandOver(rewind) => rewind,
                                    }
                                }
                                None => h1::Rewind::new(bytes::Bytes::new(), stream),
                            };
                            let io = limits::IdleIo::new(stream, idle_timeout, in_flight.clone());
                            let conn = server.serve_connection_with_upgrades(TokioIo::new(io), service(conn));
                            watcher.watch(conn.into_owned()).await
                        }
                        Some(acceptor) => {
                            let io = limits::IdleIo::new(h1::Rewind::new(bytes::Bytes::new(), stream), idle_timeout, in_flight.clone());
                            let tls = match tokio::time::timeout(handshake_timeout, acceptor.accept(io)).await {
                                Ok(Ok(tls)) => tls,
                                Ok(Err(e)) => {
                                    tracing::debug!(error = %e, "TLS handshake failed");
                                    return;
                                }
                                Err(_) => {
                                    tracing::debug!("TLS handshake timed out");
                                    return;
                                }
                            };
                            let cert = oauth_filter::ClientCertificate::from_connection(tls.get_ref().1);
                            let conn = Arc::new(proxy::Connection::new(peer, true, cert));
                            let conn = server.serve_connection_with_upgrades(TokioIo::new(tls), service(conn));
                            watcher.watch(conn.into_owned()).await
                        }
                    };
                    if let Err(e) = served {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    drop(permit);
                });
            }
            () = &mut shutdown => break,
        }
    }
    draining.store(true, Ordering::Relaxed);
    drop(listener);
    tracing::info!("shutting down: no new connections, finishing in-flight requests");
    drain.start();
    // Every connection holds a permit until it ends, whichever engine serves it.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let closed = async {
        tokio::join!(graceful.shutdown(), async {
            let _ = permits.acquire_many(all).await;
        });
    };
    tokio::select! {
        () = closed => tracing::info!("all connections closed"),
        () = tokio::time::sleep(config.shutdown_grace) => {
            tracing::warn!("shutdown grace period over; closing remaining connections");
        }
    }
    Ok(())
}

/// What answers the requests: the reverse proxy (`gateway`) or the decision service (`authz`).
#[derive(Clone)]
enum App {
    Proxy(Arc<proxy::Proxy>),
    Authz(Arc<authz::Authz>),
}

/// One connection's requests to the app, with what the connection knows (the peer's
/// address, TLS, its client certificate). Cloned for every request: reference counts only.
#[derive(Clone)]
struct Handler {
    app: App,
    conn: Arc<proxy::Connection>,
    in_flight: limits::InFlight,
}

impl tower::Service<http::Request<hyper::body::Incoming>> for Handler {
    type Response = http::Response<proxy::Body>;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<hyper::body::Incoming>) -> Self::Future {
        let conn = self.conn.clone();
        let guard = self.in_flight.start();
        match &self.app {
            App::Proxy(proxy) => {
                let proxy = proxy.clone();
                Box::pin(async move { Ok(proxy.handle(req, &conn, guard).await) })
            }
            App::Authz(authz) => {
                let authz = authz.clone();
                Box::pin(
                    async move { Ok(authz::Authz::handle(&authz, req, conn.peer, guard).await) },
                )
            }
        }
    }
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = term => {},
    }
}
