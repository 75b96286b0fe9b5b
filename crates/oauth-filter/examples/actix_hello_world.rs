//! The seed's hello_world on actix-web: `/hello_world` needs `read`, `/public` needs nothing.
//!
//! ```text
//! cargo run -p oauth-filter --features actix --example actix_hello_world
//! OAUTH_ISSUER=https://idp.example OAUTH_AUDIENCE=api cargo run -p oauth-filter --features actix --example actix_hello_world
//! ```

mod support;

use actix_web::{App, HttpServer, web};
use oauth_filter::AccessToken;
use oauth_filter::actix::OAuthMiddleware;

async fn hello(token: AccessToken) -> String {
    format!("Hello World, {}!\n", token.subject().unwrap_or("caller"))
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let setup = support::from_env().await?;
    let filter = setup.filter.clone();
    eprintln!("listening on http://{}", setup.listen);
    HttpServer::new(move || {
        App::new()
            .service(
                web::resource("/hello_world")
                    .wrap(OAuthMiddleware::require(&filter, ["read"]))
                    .to(hello),
            )
            .route("/public", web::get().to(|| async { "public\n" }))
    })
    .bind(setup.listen.as_str())?
    .run()
    .await?;
    Ok(())
}
