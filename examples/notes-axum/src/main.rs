//! `cargo run -p notes-axum`: the notes API on axum (see the crate README).

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use notes_axum::{app, startup};

/// The notes API on axum.
#[derive(Debug, Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "BIND", default_value = "127.0.0.1:8000")]
    bind: String,
    /// The tenants' configuration.
    #[arg(long, env = "TENANTS_CONFIG", default_value = "tenants.toml")]
    config: PathBuf,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("notes-axum: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let store = startup::load_store(&args.config)?;
    startup::migrate_tenants(&store).await;
    let listener = tokio::net::TcpListener::bind(&args.bind).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "listening");
    println!("notes-axum listening on http://{addr}");
    axum::serve(listener, app::app(store.clone()))
        .with_graceful_shutdown(startup::shutdown_signal())
        .await?;
    store.close().await;
    Ok(())
}
