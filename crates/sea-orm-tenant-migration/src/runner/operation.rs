//! [`Operation`]: what to do to each tenant, with the meaning of `sea-orm-cli migrate`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What to do to each selected tenant's database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Operation {
    /// Apply pending migrations: all of them, or the first `steps`.
    Up {
        /// How many pending migrations to apply; `None` for all.
        steps: Option<u32>,
    },
    /// Roll back the last `steps` applied migrations (the CLI's default is 1).
    Down {
        /// How many applied migrations to roll back.
        steps: u32,
    },
    /// Read which migrations are applied and which are pending; changes nothing
    /// (not even creating the migration table).
    Status,
    /// Drop every table, then apply all migrations.
    Fresh,
    /// Roll back every applied migration, then apply all migrations.
    Refresh,
    /// Roll back every applied migration and drop the migration table.
    Reset,
}

impl Operation {
    /// `up` with every pending migration.
    pub const UP: Operation = Operation::Up { steps: None };

    /// Whether the operation changes the schema (and so takes the per-tenant lock).
    pub fn writes(self) -> bool {
        !matches!(self, Operation::Status)
    }

    /// The subcommand name: `up`, `down`, `status`, `fresh`, `refresh` or `reset`.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Up { .. } => "up",
            Operation::Down { .. } => "down",
            Operation::Status => "status",
            Operation::Fresh => "fresh",
            Operation::Refresh => "refresh",
            Operation::Reset => "reset",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operation::Up { steps: Some(n) } => write!(f, "up -n {n}"),
            Operation::Down { steps } => write!(f, "down -n {steps}"),
            op => f.write_str(op.name()),
        }
    }
}
