//! What every verb of the command line answers with: its exit code, and the
//! report's format.

use clap::ValueEnum;

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: a tenant failed or was skipped, or `status --check` found one behind.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: usage or configuration error; no database was touched.
pub const EXIT_USAGE: u8 = 2;

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table and a summary.
    Text,
    /// The [`RunReport`](crate::RunReport) as JSON.
    Json,
}
