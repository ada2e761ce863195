//! The exit code convention of every benchmark binary, in one place:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | the run completed, no error, every enforced bar met |
//! | 1 | the run failed: an error, a request not answered as expected, a check of the soak failed |
//! | 2 | bad flags (clap's own code, or [`Exit::Usage`]) |
//! | 3 | the run completed without error but missed a bar |
//! | 130 | interrupted by Ctrl-C or SIGTERM (after the clean-up) |
//!
//! A failure outranks a missed bar: a run with errors exits 1 even when a
//! bar was missed too.

use std::process::ExitCode;

/// How a benchmark ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Completed, no error, every enforced bar met: 0.
    Ok,
    /// An error or a failed check: 1.
    Failed,
    /// Bad flags, found after parsing (clap's own usage errors exit 2 too): 2.
    Usage,
    /// Completed without error, a bar missed: 3.
    BarMissed,
    /// Ctrl-C or SIGTERM: 130.
    Interrupted,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Self::Ok => 0,
            Self::Failed => 1,
            Self::Usage => 2,
            Self::BarMissed => 3,
            Self::Interrupted => 130,
        }
    }

    /// The worse of two ends (interrupted, then failed, then a bar missed).
    pub fn worst(self, other: Self) -> Self {
        let rank = |e: Self| match e {
            Self::Ok => 0,
            Self::BarMissed => 1,
            Self::Failed | Self::Usage => 2,
            Self::Interrupted => 3,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }

    /// `Ok` when true, `Failed` otherwise.
    pub fn failed_unless(ok: bool) -> Self {
        if ok { Self::Ok } else { Self::Failed }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_precedence() {
        assert_eq!(Exit::Ok.code(), 0);
        assert_eq!(Exit::Failed.code(), 1);
        assert_eq!(Exit::Usage.code(), 2);
        assert_eq!(Exit::BarMissed.code(), 3);
        assert_eq!(Exit::Interrupted.code(), 130);
        assert_eq!(Exit::BarMissed.worst(Exit::Failed), Exit::Failed);
        assert_eq!(Exit::Failed.worst(Exit::BarMissed), Exit::Failed);
        assert_eq!(Exit::Ok.worst(Exit::BarMissed), Exit::BarMissed);
        assert_eq!(Exit::Failed.worst(Exit::Interrupted), Exit::Interrupted);
    }
}
