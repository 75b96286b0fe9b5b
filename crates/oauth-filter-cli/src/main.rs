//! The `oauth-filter` command.
//!
//! ```text
//! oauth-filter gateway --config gateway.toml       # protect any HTTP API
//! oauth-filter authz --config authz.toml           # decide for Envoy, nginx, Traefik, Caddy
//! oauth-filter check-config --config gateway.toml  # validate, start nothing
//! oauth-filter inspect TOKEN --config gateway.toml # walk every check the gateway makes
//! oauth-filter demo                                # issuer + protected hello_world
//! oauth-filter dev-issuer                          # the test kit's issuer, standalone
//! oauth-filter mint --scope read                   # a token from that issuer
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

#[cfg(feature = "dev-tools")]
mod demo;
#[cfg(feature = "dev-tools")]
mod dev_issuer;
mod gateway;
mod inspect;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// OAuth 2.0 resource-server filter.
#[derive(Parser)]
#[command(name = "oauth-filter", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway: a reverse proxy that lets through only requests with valid tokens.
    Gateway(gateway::GatewayArgs),
    /// Answer a proxy's authorization checks (Envoy ext_authz over gRPC and HTTP, nginx
    /// auth_request, Traefik forwardAuth, Caddy forward_auth): the gateway's configuration
    /// with `[authz]` instead of `[upstream]`.
    Authz(gateway::GatewayArgs),
    /// Validate a gateway or authz configuration (file and environment) without starting anything.
    CheckConfig(gateway::GatewayArgs),
    /// Explain every check the gateway would make on a token; exit 0 accepted, 1 rejected.
    Inspect(inspect::InspectArgs),
    #[cfg(feature = "dev-tools")]
    /// Run a development issuer and a protected hello_world API, and print curl commands.
    Demo(demo::DemoArgs),
    #[cfg(feature = "dev-tools")]
    /// Run the test kit's issuer as a development authorization server on loopback.
    DevIssuer(dev_issuer::DevIssuerArgs),
    #[cfg(feature = "dev-tools")]
    /// Print a token signed by the development issuer's key.
    Mint(dev_issuer::MintArgs),
}

/// Logs go to stderr: text, or one JSON object per line. `RUST_LOG` sets the level (default
/// `info`).
pub(crate) fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if json {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
}

/// Exit status for a configuration error (distinct from 1, a runtime failure).
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The gateway and authz size their own runtime from their configuration.
    match &cli.command {
        Command::Gateway(args) => return gateway::main(args, gateway::config::Mode::Gateway),
        Command::Authz(args) => return gateway::main(args, gateway::config::Mode::Authz),
        _ => {}
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(cli.command))
}

async fn run(command: Command) -> ExitCode {
    let result = match command {
        // Handled in `main`, on a runtime sized by its configuration.
        Command::Gateway(_) | Command::Authz(_) => Ok(()),
        Command::CheckConfig(args) => match gateway::check_config(&args) {
            Ok(()) => Ok(()),
            Err(e) => {
                eprintln!("{}", gateway::config::describe(&e));
                return ExitCode::from(EXIT_CONFIG);
            }
        },
        Command::Inspect(args) => match inspect::run(args).await {
            Ok(code) => return ExitCode::from(code),
            Err(e) => Err(e),
        },
        #[cfg(feature = "dev-tools")]
        Command::Demo(args) => {
            init_logging(false);
            demo::run(args).await
        }
        #[cfg(feature = "dev-tools")]
        Command::DevIssuer(args) => {
            init_logging(false);
            dev_issuer::run(args).await
        }
        #[cfg(feature = "dev-tools")]
        Command::Mint(args) => dev_issuer::mint(args),
    };
    exit_status(result)
}

/// 0 for success, 2 for a configuration error, 1 for anything else (printed).
pub(crate) fn exit_status(result: Result<(), Box<dyn std::error::Error>>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(c) = e.downcast_ref::<gateway::config::ConfigError>() {
                eprintln!("{}", gateway::config::describe(c));
                ExitCode::from(EXIT_CONFIG)
            } else {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    }
}
