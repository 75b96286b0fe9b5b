//! gRPC (tonic) over loopback: the tower layer with per-method requirements, gRPC status codes for
//! rejections with the RFC 6750 challenge in the metadata, and the verified `AccessToken` inside
//! the service implementation. A real tonic client talks to a real tonic server.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::{closed_port, filter_for};
use oauth_filter::grpc::GrpcErrorResponder;
use oauth_filter::{AccessToken, OAuthFilter, PathRequirements, Requirement};
use oauth_filter_testkit::TestIssuer;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tonic::codegen::tokio_stream;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Request, Response, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

/// Answers SERVING when the caller's token subject equals the requested service name: proof
/// that the verified token reaches the service implementation. Counts its calls, so a refused
/// request is proven never to reach it.
struct WhoAmI(Arc<AtomicUsize>);

#[tonic::async_trait]
impl Health for WhoAmI {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        self.0.fetch_add(1, Ordering::SeqCst);
        let token = request
            .extensions()
            .get::<AccessToken>()
            .ok_or_else(|| Status::internal("no token"))?;
        let status = if token.subject() == Some(request.get_ref().service.as_str()) {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        Ok(Response::new(HealthCheckResponse {
            status: status as i32,
        }))
    }

    type WatchStream = tokio_stream::Once<Result<HealthCheckResponse, Status>>;

    async fn watch(
        &self,
        _request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(Response::new(tokio_stream::once(Ok(HealthCheckResponse {
            status: ServingStatus::Serving as i32,
        }))))
    }
}

async fn serve(filter: &OAuthFilter) -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let rules = PathRequirements::builder(Requirement::Authenticated)
        .exact("/grpc.health.v1.Health/Check", ["health:read"])
        .exact("/grpc.health.v1.Health/Watch", ["health:watch"])
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = tonic::transport::Server::builder()
        .layer(
            filter
                .require_per_path(rules)
                .with_responder(GrpcErrorResponder),
        )
        .add_service(HealthServer::new(WhoAmI(calls.clone())));
    tokio::spawn(router.serve_with_incoming(TcpIncoming::from(listener)));
    (format!("http://{addr}"), calls)
}

fn request(token: Option<&str>, service: &str) -> Request<HealthCheckRequest> {
    let mut r = Request::new(HealthCheckRequest {
        service: service.to_owned(),
    });
    if let Some(t) = token {
        r.metadata_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    r
}

fn challenge(status: &Status) -> String {
    status
        .metadata()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn tonic_server_with_per_method_requirements() {
    let issuer = TestIssuer::start().await;
    let filter = filter_for(&issuer);
    let (url, calls) = serve(&filter).await;
    let calls = || calls.load(Ordering::SeqCst);
    let mut client = HealthClient::new(
        tonic::transport::Channel::from_shared(url)
            .unwrap()
            .connect()
            .await
            .unwrap(),
    );

    // A valid token with the method's scope: the service sees who called.
    let token = issuer.mint().scope("health:read").subject("alice").sign();
    let resp = client.check(request(Some(&token), "alice")).await.unwrap();
    assert_eq!(resp.get_ref().status, ServingStatus::Serving as i32);
    let resp = client.check(request(Some(&token), "bob")).await.unwrap();
    assert_eq!(resp.get_ref().status, ServingStatus::NotServing as i32);
    assert_eq!(calls(), 2);

    // From here, every refused call leaves the service untouched. No token: UNAUTHENTICATED with the bare challenge.
    let err = client.check(request(None, "alice")).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert_eq!(challenge(&err), r#"Bearer realm="api""#);

    // Invalid token: UNAUTHENTICATED, invalid_token.
    let expired = issuer
        .mint()
        .scope("health:read")
        .expires_in_secs(-3600)
        .sign();
    let err = client
        .check(request(Some(&expired), "alice"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert!(challenge(&err).contains(r#"error="invalid_token""#));
    assert_eq!(err.message(), "the token has expired");

    // Per method: Check's scope does not open Watch.
    let err = client
        .watch(request(Some(&token), "alice"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(challenge(&err).contains(r#"scope="health:watch""#));
    assert_eq!(calls(), 2, "a refused call reached the service");
    let watcher = issuer.mint().scope("health:watch").sign();
    assert!(client.watch(request(Some(&watcher), "alice")).await.is_ok());
    assert_eq!(calls(), 3);
    let err = client
        .check(request(Some(&watcher), "alice"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(calls(), 3, "a refused call reached the service");
}

#[tokio::test]
async fn keys_unavailable_is_grpc_unavailable() {
    let issuer = TestIssuer::start().await;
    let port = closed_port().await;
    let filter = OAuthFilter::with_jwks(
        &format!("http://127.0.0.1:{port}/jwks"),
        issuer.issuer(),
        "api",
    )
    .unwrap();
    let (url, calls) = serve(&filter).await;
    let mut client = HealthClient::new(
        tonic::transport::Channel::from_shared(url)
            .unwrap()
            .connect()
            .await
            .unwrap(),
    );
    let token = issuer.mint().scope("health:read").sign();
    let err = client.check(request(Some(&token), "x")).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert_eq!(challenge(&err), "");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "fail closed: the service never ran"
    );
}
