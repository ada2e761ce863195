//! The one Ctrl-C clean-up of every benchmark: the benchmark runs as a
//! future raced against Ctrl-C and SIGTERM. On a signal the future is
//! dropped, and with it everything it holds: the guards that stop servers
//! ([`crate::NotesServer`], gunicorn) and drop throw-away databases
//! ([`crate::scale::ServerDatabases`]) do their work in their `Drop`; the
//! caller then runs its explicit clean-up, if any, and exits
//! [`Exit::Interrupted`] (130).

use std::future::Future;

use super::exit::Exit;

/// A benchmark stopped by a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupted(pub &'static str);

impl Interrupted {
    /// Says so on stderr, naming `what` is cleaned up next; the exit code.
    pub fn report(self, program: &str, what: &str) -> Exit {
        eprintln!("{program}: {}: {what}", self.0);
        Exit::Interrupted
    }
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
        assert_eq!(
            Interrupted("x").report("test", "nothing"),
            Exit::Interrupted
        );
    }
}
