//! The flags every benchmark shares, flattened into its own clap `Args`:
//! [`Quick`] (`--quick`, a short smoke run, and the defaults that depend on
//! it) and [`FormatArg`] (`--format text|json`, for the benchmarks that can
//! write JSON), and [`seconds`], the one parsing of a seconds flag.

use std::time::Duration;

use clap::{Args, ValueEnum};

/// `--quick`: a short smoke run.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct Quick {
    /// A short smoke run (smaller, shorter; its figures are not held to the bars).
    #[arg(long)]
    pub quick: bool,
}

impl Quick {
    /// `given` if set, else `quick` in a `--quick` run, else `full`.
    pub fn or<T>(&self, given: Option<T>, full: T, quick: T) -> T {
        given.unwrap_or(if self.quick { quick } else { full })
    }

    /// Like [`or`](Self::or) for a number of seconds (fractions allowed),
    /// checked: an error names `flag` when the value is negative or not finite.
    pub fn seconds(
        &self,
        flag: &str,
        given: Option<f64>,
        full: f64,
        quick: f64,
    ) -> Result<Duration, String> {
        seconds(flag, self.or(given, full, quick))
    }

    /// Whether bars decide the exit code: in a full run, not in `--quick`.
    pub fn bars_enforced(&self) -> bool {
        !self.quick
    }
}

/// `value` seconds as a duration; an error naming `flag` when negative or not finite.
pub fn seconds(flag: &str, value: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| format!("{flag} must be a number of seconds, 0 or more: {value}"))
}

/// Report formats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table.
    #[default]
    Text,
    /// One JSON object on stdout.
    Json,
}

/// `--format text|json` (progress always goes to stderr).
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct FormatArg {
    /// Report format (progress always goes to stderr).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

impl FormatArg {
    /// `--format json`.
    pub fn json(&self) -> bool {
        self.format == Format::Json
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Demo {
        #[command(flatten)]
        quick: Quick,
        #[command(flatten)]
        format: FormatArg,
        #[arg(long)]
        rounds: Option<usize>,
    }

    #[test]
    fn quick_picks_the_defaults_and_a_flag_wins() {
        let full = Demo::parse_from(["demo"]);
        assert_eq!(full.quick.or(full.rounds, 3, 1), 3);
        assert!(full.quick.bars_enforced());
        assert!(!full.format.json());
        let quick = Demo::parse_from(["demo", "--quick", "--format", "json"]);
        assert_eq!(quick.quick.or(quick.rounds, 3, 1), 1);
        assert!(!quick.quick.bars_enforced());
        assert!(quick.format.json());
        let given = Demo::parse_from(["demo", "--quick", "--rounds", "5"]);
        assert_eq!(given.quick.or(given.rounds, 3, 1), 5);
        assert!(seconds("--seconds", -1.0).is_err());
        assert_eq!(
            quick.quick.seconds("--seconds", None, 8.0, 0.5),
            Ok(Duration::from_millis(500))
        );
    }
}
