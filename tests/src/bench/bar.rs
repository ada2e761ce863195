//! The bars a benchmark states ("ratio at least 0.95", "at most 40 ms per
//! tenant"), checked, printed and turned into the exit code: a missed bar
//! makes the process exit 3 (see [`super::exit`]).
//!
//! Bars are stated for the full run. In a `--quick` smoke run they are
//! still checked and printed, marked "not enforced", and do not change the
//! exit code: a smoke run is too short and too small for its figures to be
//! held to them (CI runs `bench-provision --quick` on a shared machine).

use serde_json::{Value, json};

use super::exit::Exit;

/// One bar, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// What is held to the bar, and the bar (`"ratio random/hot >= 0.70"`).
    pub name: String,
    /// The measured value, as printed.
    pub value: String,
    /// Whether it met the bar.
    pub met: bool,
}

/// The bars of one run.
#[derive(Debug, Clone)]
pub struct Bars {
    enforced: bool,
    checks: Vec<Check>,
}

impl Bars {
    /// Bars that decide the exit code when `enforced` (a full run), or are
    /// only reported (a `--quick` run).
    pub fn new(enforced: bool) -> Self {
        Self {
            enforced,
            checks: Vec::new(),
        }
    }

    /// Records `name` (the bar, stated) with `value` (as printed) and whether
    /// it was met; returns `"met"` or `"NOT met"` for the report's line.
    pub fn check(&mut self, name: &str, value: impl ToString, met: bool) -> &'static str {
        self.checks.push(Check {
            name: name.to_owned(),
            value: value.to_string(),
            met,
        });
        if met { "met" } else { "NOT met" }
    }

    /// `value >= bar`, recorded as `"{what} >= {bar}"`.
    pub fn at_least(&mut self, what: &str, value: f64, bar: f64) -> &'static str {
        self.check(
            &format!("{what} >= {bar}"),
            format!("{value:.3}"),
            value >= bar,
        )
    }

    /// `value <= bar`, recorded as `"{what} <= {bar}"`.
    pub fn at_most(&mut self, what: &str, value: f64, bar: f64) -> &'static str {
        self.check(
            &format!("{what} <= {bar}"),
            format!("{value:.3}"),
            value <= bar,
        )
    }

    /// Every bar checked, in order.
    pub fn checks(&self) -> &[Check] {
        &self.checks
    }

    /// The bars missed.
    pub fn missed(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.met)
    }

    /// [`Exit::BarMissed`] when a bar was missed and bars are enforced,
    /// [`Exit::Ok`] otherwise.
    pub fn exit(&self) -> Exit {
        if self.enforced && self.missed().next().is_some() {
            Exit::BarMissed
        } else {
            Exit::Ok
        }
    }

    /// The lines that end a text report: each bar and its verdict.
    pub fn lines(&self) -> Vec<String> {
        let note = if self.enforced {
            ""
        } else {
            " (not enforced: --quick)"
        };
        self.checks
            .iter()
            .map(|c| {
                let verdict = if c.met { "met" } else { "NOT met" };
                format!("bar: {} - {}: {verdict}{note}", c.name, c.value)
            })
            .collect()
    }

    /// Prints [`lines`](Self::lines) to stdout.
    pub fn print(&self) {
        for line in self.lines() {
            println!("{line}");
        }
    }

    /// The bars for a JSON report.
    pub fn json(&self) -> Value {
        json!({
            "enforced": self.enforced,
            "checks": self.checks.iter().map(|c| json!({
                "bar": c.name,
                "value": c.value,
                "met": c.met,
            })).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missed_bar_exits_3_when_enforced() {
        let mut bars = Bars::new(true);
        assert_eq!(bars.at_least("ratio", 0.99, 0.95), "met");
        assert_eq!(bars.exit(), Exit::Ok);
        assert_eq!(bars.at_most("ms per tenant", 41.0, 40.0), "NOT met");
        assert_eq!(bars.exit(), Exit::BarMissed);
        assert_eq!(std::process::ExitCode::from(bars.exit()), 3.into());
        assert_eq!(bars.missed().count(), 1);
        assert_eq!(
            bars.lines()[1],
            "bar: ms per tenant <= 40 - 41.000: NOT met"
        );
    }

    #[test]
    fn a_quick_run_reports_but_does_not_enforce() {
        let mut bars = Bars::new(false);
        bars.check("errors == 0", 2, false);
        assert_eq!(bars.exit(), Exit::Ok);
        assert!(bars.lines()[0].ends_with("NOT met (not enforced: --quick)"));
        assert_eq!(bars.json()["checks"][0]["met"], false);
    }

    #[test]
    fn a_failure_outranks_a_missed_bar() {
        let mut bars = Bars::new(true);
        bars.check("impossible", "x", false);
        assert_eq!(bars.exit().worst(Exit::Failed), Exit::Failed);
    }
}
