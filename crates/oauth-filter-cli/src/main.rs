//! The `oauth-filter` command.
//!
//! ```text
//! oauth-filter demo [--port 3000] [--issuer-port 9400]
//! ```
//!
//! `demo` starts the embedded development issuer (the test kit) and the seed's hello_world API
//! protected by the filter, then prints ready-to-paste curl commands.

#![forbid(unsafe_code)]

mod demo;

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
    /// Run a development issuer and a protected hello_world API, and print curl commands.
    Demo(demo::DemoArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo::run(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
