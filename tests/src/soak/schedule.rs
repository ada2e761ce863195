//! The soak's tenants and its schedule: one fault of each kind the backends
//! allow, each on its own tenants.

use std::collections::BTreeMap;

use super::faults::{Fault, Target};

/// A tenant of the soak.
#[derive(Clone)]
pub struct Tenant {
    /// Its name.
    pub name: String,
    /// Its kind: `sqlite`, `postgres`, `postgres-schema` or `mysql`.
    pub kind: &'static str,
    /// What a fault on it acts on.
    pub target: Target,
}

/// A fault to inject, the tenants it affects (indexes) and what it acts on.
pub struct Scheduled {
    /// The fault.
    pub fault: Fault,
    /// The tenants it affects.
    pub affected: Vec<usize>,
    /// What it acts on.
    pub target: Target,
}

/// One fault of each kind the backends allow, each on its own tenants.
pub fn schedule(tenants: &[Tenant]) -> Vec<Scheduled> {
    let of_kind = |kinds: &[&str]| -> Vec<usize> {
        tenants
            .iter()
            .enumerate()
            .filter(|(_, t)| kinds.contains(&t.kind))
            .map(|(i, _)| i)
            .collect()
    };
    let pg_all = of_kind(&["postgres", "postgres-schema", "postgres-rows"]);
    let pg_dbs = of_kind(&["postgres"]);
    let mysql = of_kind(&["mysql"]);
    let sqlite = of_kind(&["sqlite"]);
    let one = |i: usize| (vec![i], tenants[i].target.clone());
    let mut out = Vec::new();
    if let Some(&first) = pg_dbs.first() {
        let (affected, target) = one(first);
        out.push(Scheduled {
            fault: Fault::PgKillOneTenant,
            affected,
            target,
        });
        out.push(Scheduled {
            fault: Fault::PgKillAll,
            affected: pg_all.clone(),
            target: Target::Server,
        });
    }
    if !mysql.is_empty() {
        out.push(Scheduled {
            fault: Fault::MysqlKillAll,
            affected: mysql.clone(),
            target: Target::Server,
        });
    }
    if let Some(&second) = pg_dbs.get(1) {
        let (affected, target) = one(second);
        out.push(Scheduled {
            fault: Fault::PgDatabaseUnavailable,
            affected,
            target,
        });
    }
    if let Some(&first) = sqlite.first() {
        let (affected, target) = one(first);
        out.push(Scheduled {
            fault: Fault::SqliteLocked,
            affected,
            target,
        });
    }
    if !pg_all.is_empty() {
        out.push(Scheduled {
            fault: Fault::PgRestart,
            affected: pg_all,
            target: Target::Server,
        });
    }
    if !mysql.is_empty() {
        out.push(Scheduled {
            fault: Fault::MysqlRestart,
            affected: mysql,
            target: Target::Server,
        });
    }
    out
}

/// `"20 sqlite, 15 postgres, ..."`: the tenants counted by kind.
pub fn kinds(tenants: &[Tenant]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for t in tenants {
        *counts.entry(t.kind).or_default() += 1;
    }
    counts
        .iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}
