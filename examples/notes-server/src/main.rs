//! `cargo run -p notes-server`: see the crate README.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use notes_server::cli::Args;

fn main() -> ExitCode {
    let args = Args::parse();
    let _log = notes_server::logging::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("notes-server: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(notes_server::server::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "notes-server failed");
            eprintln!("notes-server: {err}");
            ExitCode::FAILURE
        }
    }
}
