//! Reading many schema tenants' migration versions at once: `up` with nothing
//! to apply and `status` cost a few round trips per database instead of a
//! transaction, a lock and two queries per tenant.

use std::collections::HashMap;

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sea_orm_tenant::{SchemaName, TenantConnections, TenantKey};

use crate::runner::Operation;
use crate::runner::{Outcome, TenantReport};

/// Schemas per query.
const BATCH: usize = 500;

/// The applied migrations of every schema tenant among `keys`, by tenant, read
/// per database in batches of [`BATCH`] schemas (a schema with no
/// `seaql_migrations` has none applied). A database that cannot be read is
/// left out: its tenants take the ordinary path, which reports the error.
pub(crate) async fn schema_versions(
    store: &TenantConnections,
    keys: &[TenantKey],
) -> HashMap<TenantKey, Vec<String>> {
    let mut by_database: HashMap<String, Vec<(TenantKey, SchemaName)>> = HashMap::new();
    for key in keys {
        if let Some(config) = store.tenant_config(key.as_str())
            && let Some(schema) = config.schema()
        {
            by_database
                .entry(config.url().to_owned())
                .or_default()
                .push((key.clone(), schema.clone()));
        }
    }
    let mut known = HashMap::new();
    for tenants in by_database.into_values() {
        match read_database(store, &tenants).await {
            Ok(versions) => known.extend(versions),
            Err(error) => {
                tracing::debug!(%error, "schema versions not read in batch; migrating one by one");
            }
        }
    }
    known
}

async fn read_database(
    store: &TenantConnections,
    tenants: &[(TenantKey, SchemaName)],
) -> Result<Vec<(TenantKey, Vec<String>)>, sea_orm::DbErr> {
    // Any tenant's connection reaches every schema of its database by
    // qualified names.
    let Some((first, _)) = tenants.first() else {
        return Ok(Vec::new());
    };
    let conn = store
        .connection(first.as_str())
        .await
        .map_err(sea_orm::DbErr::from)?;
    let mut out = Vec::with_capacity(tenants.len());
    for batch in tenants.chunks(BATCH) {
        // Schema names are checked `SchemaName`s: `a-z0-9_-` only, so they are
        // safe as string literals and, double-quoted, as identifiers.
        let list: Vec<String> = batch.iter().map(|(_, s)| format!("'{s}'")).collect();
        let with_table = conn
            .query_all_raw(Statement::from_string(
                DbBackend::Postgres,
                format!(
                    "SELECT table_schema::text AS s FROM information_schema.tables \
                     WHERE table_name = 'seaql_migrations' AND table_schema IN ({})",
                    list.join(", ")
                ),
            ))
            .await?
            .iter()
            .map(|row| row.try_get::<String>("", "s"))
            .collect::<Result<std::collections::HashSet<String>, _>>()?;
        let mut applied: HashMap<String, Vec<String>> = HashMap::new();
        if !with_table.is_empty() {
            let selects: Vec<String> = batch
                .iter()
                .filter(|(_, s)| with_table.contains(s.as_str()))
                .map(|(_, s)| {
                    format!(
                        "SELECT '{s}' AS s, version FROM {}.seaql_migrations",
                        s.quoted()
                    )
                })
                .collect();
            for row in conn
                .query_all_raw(Statement::from_string(
                    DbBackend::Postgres,
                    selects.join(" UNION ALL "),
                ))
                .await?
            {
                applied
                    .entry(row.try_get::<String>("", "s")?)
                    .or_default()
                    .push(row.try_get::<String>("", "version")?);
            }
        }
        for (key, schema) in batch {
            out.push((
                key.clone(),
                applied.remove(schema.as_str()).unwrap_or_default(),
            ));
        }
    }
    Ok(out)
}

/// The report of a tenant whose `applied` migrations settle `op` without
/// touching it: `status` always, `up` when nothing is pending. `None` when
/// the tenant has work to do.
pub(crate) fn settled(
    key: &TenantKey,
    applied: &[String],
    names: &[String],
    op: Operation,
) -> Option<TenantReport> {
    let pending: Vec<String> = names
        .iter()
        .filter(|n| !applied.contains(n))
        .cloned()
        .collect();
    let outcome = match op {
        Operation::Status if pending.is_empty() => Outcome::UpToDate,
        Operation::Status => Outcome::Behind,
        Operation::Up { steps: None } if pending.is_empty() => Outcome::UpToDate,
        _ => return None,
    };
    Some(TenantReport {
        tenant: key.to_string(),
        outcome,
        migrations: Vec::new(),
        version: names.iter().rev().find(|n| applied.contains(n)).cloned(),
        pending,
        duration_ms: 0,
        error: None,
        migrated_with: None,
    })
}
