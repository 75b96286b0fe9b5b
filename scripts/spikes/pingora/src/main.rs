//! Pingora forwarding every request to one upstream (`UPSTREAM`, `host:port`), listening on
//! `LISTEN`; one thread (`threads: 1`, no work stealing), upstream keep-alive (Pingora's
//! default pool). The smallest `ProxyHttp`: no filters, no authentication.

use async_trait::async_trait;
use pingora_core::server::configuration::{Opt, ServerConf};
use pingora_core::server::Server;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_proxy::{ProxyHttp, Session};

struct Forward {
    upstream: String,
}

#[async_trait]
impl ProxyHttp for Forward {
    type CTX = ();
    fn new_ctx(&self) {}

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        _ctx: &mut (),
    ) -> pingora_core::Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(
            self.upstream.as_str(),
            false,
            String::new(),
        )))
    }
}

fn main() {
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:3990".into());
    let upstream = std::env::var("UPSTREAM").unwrap_or_else(|_| "127.0.0.1:3911".into());
    let conf = ServerConf {
        threads: 1,
        work_stealing: false,
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(Opt::default(), conf);
    server.bootstrap();
    let mut proxy =
        pingora_proxy::http_proxy_service(&server.configuration, Forward { upstream });
    proxy.add_tcp(&listen);
    server.add_service(proxy);
    println!("READY listen={listen}");
    server.run_forever();
}
