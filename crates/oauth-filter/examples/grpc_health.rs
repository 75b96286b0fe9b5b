//! A tonic gRPC server protected per method: `Check` needs `health:read`, `Watch` needs
//! `health:watch`; the service implementation reads the caller from the verified token.
//!
//! ```text
//! cargo run -p oauth-filter --example grpc_health
//! ```
//!
//! Call it with any gRPC client, sending `authorization: Bearer <token>` metadata; rejected calls
//! get `UNAUTHENTICATED`, `PERMISSION_DENIED` or `UNAVAILABLE` with the RFC 6750 challenge in the
//! `www-authenticate` metadata.

mod support;

use oauth_filter::grpc::GrpcErrorResponder;
use oauth_filter::{AccessToken, PathRequirements, Requirement};
use tonic::codegen::tokio_stream;
use tonic::{Request, Response, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

struct Service;

#[tonic::async_trait]
impl Health for Service {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        // The layer put the verified token in the request extensions.
        let caller = request
            .extensions()
            .get::<AccessToken>()
            .and_then(|t| t.subject().map(str::to_owned));
        eprintln!("Check from {caller:?}");
        Ok(Response::new(HealthCheckResponse {
            status: ServingStatus::Serving as i32,
        }))
    }

    type WatchStream = tokio_stream::Once<Result<HealthCheckResponse, Status>>;

    async fn watch(
        &self,
        _request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        Ok(Response::new(tokio_stream::once(Ok(HealthCheckResponse {
            status: ServingStatus::Serving as i32,
        }))))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let setup = support::from_env().await?;
    let rules = PathRequirements::builder(Requirement::Authenticated)
        .exact("/grpc.health.v1.Health/Check", ["health:read"])
        .exact("/grpc.health.v1.Health/Watch", ["health:watch"])
        .build()?;
    eprintln!("gRPC on {}", setup.listen);
    tonic::transport::Server::builder()
        .layer(
            setup
                .filter
                .require_per_path(rules)
                .with_responder(GrpcErrorResponder),
        )
        .add_service(HealthServer::new(Service))
        .serve(setup.listen.parse()?)
        .await?;
    Ok(())
}
