//! The one Ctrl-C clean-up of every benchmark: the benchmark runs as a
//! future raced against Ctrl-C and SIGTERM. On a signal the future is
//! dropped, and with it everything it holds: the guards that stop servers
//! ([`crate::NotesServer`], gunicorn) and drop throw-away databases
//! ([`crate::scale::ServerDatabases`]) do their work in their `Drop`; the
//! process exits [`Exit::Interrupted`] (130). [`main`] is the whole of a
//! benchmark's `main` after parsing its flags.

use std::future::Future;
use std::process::ExitCode;

use super::exit::Exit;

/// A benchmark stopped by a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupted(pub &'static str);

/// The runtime a benchmark runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// Tokio's multi-thread runtime.
    MultiThread,
    /// One thread: the benchmark's own work takes at most one core (the load
    /// generator has threads of its own).
    CurrentThread,
}

/// Runs `bench` on a new `runtime` until it ends or a signal comes, and
/// turns the end into the exit code: its [`Exit`], [`Exit::Failed`] for an
/// error (printed as `program: error`), [`Exit::Interrupted`] for a signal
/// (after `bench` is dropped, so its guards have cleaned up).
pub fn main(
    program: &str,
    runtime: Runtime,
    bench: impl Future<Output = Result<Exit, String>>,
) -> ExitCode {
    let built = match runtime {
        Runtime::MultiThread => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
        Runtime::CurrentThread => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
    };
    let exit = match built {
        Ok(built) => match built.block_on(until_interrupted(bench)) {
            Ok(Ok(exit)) => exit,
            Ok(Err(e)) => {
                eprintln!("{program}: {e}");
                Exit::Failed
            }
            Err(Interrupted(why)) => {
                eprintln!("{program}: {why}; cleaned up");
                Exit::Interrupted
            }
        },
        Err(e) => {
            eprintln!("{program}: cannot start the async runtime: {e}");
            Exit::Failed
        }
    };
    exit.into()
}

/// Runs `bench` to its end, or until Ctrl-C or SIGTERM, whichever comes
/// first; `bench` is dropped (its guards clean up) before this returns.
pub async fn until_interrupted<T>(bench: impl Future<Output = T>) -> Result<T, Interrupted> {
    tokio::select! {
        out = bench => Ok(out),
        why = signal() => Err(Interrupted(why)),
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let term = async {
        match term {
            Ok(mut term) => term.recv().await,
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "interrupted (Ctrl-C)",
        _ = term => "terminated (SIGTERM)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_benchmark_that_ends_is_not_interrupted() {
        assert_eq!(until_interrupted(async { 7 }).await, Ok(7));
    }

    #[test]
    fn main_turns_the_end_into_the_exit_code() {
        let code =
            |bench: Result<Exit, String>| main("test", Runtime::CurrentThread, async { bench });
        assert_eq!(code(Ok(Exit::Ok)), ExitCode::SUCCESS);
        assert_eq!(code(Ok(Exit::BarMissed)), ExitCode::from(3));
        assert_eq!(code(Err("boom".into())), ExitCode::FAILURE);
    }
}
