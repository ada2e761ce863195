//! Promoting a row tenant to a database of its own while it serves: its
//! part of every tenant table is published with a row filter on the tenant
//! column and copied by logical replication into the target's tables of the
//! same names (given the tenant column for the copy, dropped before the
//! switch); the hold lasts only the catch-up, as for any database move.

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
use sea_orm_tenant::rows::{ROW_SCHEMA, TENANT_COLUMN, TENANT_SETTING};
use sea_orm_tenant::{TenantConfig, TenantSession};

use super::super::provisioner::Provisioner;
use super::error::MoveError;
use super::options::MoveOptions;
use super::plan::Plan;
use super::replication::exec;
use super::rollback::Rollback;
use super::row_seal::RowSeal;
use super::rows::Copied;
use super::rows::seal_rows;
use super::sql::{self, Schemas, Table, ident, literal};
use super::{check_logical, count_both, go_on, open, timed_out};

/// Whether a tenant table's replica identity holds the tenant column (a
/// row filter on it needs that, or the source would refuse the updates and
/// deletes of every tenant).
const IDENTIFIED: &str = "SELECT c.relname::text AS name, \
     (c.relreplident = 'f' OR EXISTS (SELECT 1 FROM pg_catalog.pg_index i \
        JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) \
        WHERE i.indrelid = c.oid AND a.attname = $2 \
        AND ((c.relreplident = 'd' AND i.indisprimary) OR (c.relreplident = 'i' AND i.indisreplident)))) \
       AS identified \
     FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
     WHERE n.nspname = $1 AND c.relkind = 'r' AND c.relname = $3";

impl Provisioner {
    /// With the target made and migrated: the tenant's rows replicated to
    /// it; then, held and sealed, the copy caught up, sequences and counts
    /// taken, the replication and the copy's tenant column removed.
    pub(super) async fn replicate_rows(
        &self,
        plan: &Plan,
        options: &MoveOptions,
        source: &TenantSession,
        rollback: &mut Rollback,
        stop: &AtomicBool,
    ) -> Result<Copied, MoveError> {
        let key = &plan.key;
        check_logical(plan, source).await?;
        let tables = self.row_tables(plan, source).await?;
        let target = open(&self.store, &TenantConfig::new(plan.target.url()), 1)
            .await
            .map_err(plan.fail("connect to the target"))?;
        let copied = async {
            for table in &tables {
                exec(
                    &target,
                    &format!(
                        "ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} text",
                        table.qualified(),
                        ident(TENANT_COLUMN)
                    ),
                )
                .await
                .map_err(plan.fail("give the target's tables the tenant column"))?;
            }
            let copy_started = Instant::now();
            self.replicate(
                plan,
                options,
                source,
                &target,
                &tables,
                Some(key.as_str()),
                rollback,
                stop,
            )
            .await?;
            let copy_millis = copy_started.elapsed().as_millis() as u64;

            let (held_at, deadline) = self.hold_for_cut_over(plan, options, rollback).await?;
            rollback.row_seal(&plan.replication, &plan.source);
            let names: Vec<String> = tables.iter().map(|t| t.name.clone()).collect();
            seal_rows(plan, options, source, &names, deadline).await?;
            if !plan
                .replication
                .wait_marked(source, &target, deadline)
                .await
                .map_err(plan.fail("catch up"))?
            {
                return Err(timed_out(
                    key,
                    "the copy catching up",
                    options.cut_over_timeout,
                ));
            }
            let rows = self
                .count_replicated(plan, source, &target, &tables)
                .await?;
            plan.replication
                .unsubscribe(&target)
                .await
                .map_err(plan.fail("drop the subscription"))?;
            for table in &tables {
                exec(
                    &target,
                    &format!(
                        "ALTER TABLE {} DROP COLUMN {}",
                        table.qualified(),
                        ident(TENANT_COLUMN)
                    ),
                )
                .await
                .map_err(plan.fail("drop the copy's tenant column"))?;
            }
            go_on(plan, stop)?;
            Ok(Copied {
                tables: tables.len(),
                rows,
                copy_millis,
                held_at,
            })
        }
        .await;
        target.close().await;
        copied
    }

    /// The tenant tables, each published as the tenant's part; refused
    /// unless every one's replica identity holds the tenant column.
    async fn row_tables(
        &self,
        plan: &Plan,
        source: &TenantSession,
    ) -> Result<Vec<Table>, MoveError> {
        let names = RowSeal::tables(&**source)
            .await
            .map_err(plan.fail("list the tenant tables"))?;
        let mut tables = Vec::new();
        for name in names {
            let identified: bool = source
                .query_one_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    IDENTIFIED,
                    [ROW_SCHEMA.into(), TENANT_COLUMN.into(), name.clone().into()],
                ))
                .await
                .map_err(|e| plan.fail("read the replica identities")(e.to_string()))?
                .and_then(|row| row.try_get("", "identified").ok())
                .unwrap_or(false);
            let table = Table {
                schema: ROW_SCHEMA.to_owned(),
                name,
                identified,
                rows_of: Some(plan.key.as_str().to_owned()),
            };
            if !identified {
                return Err(MoveError::NoReplicaIdentity {
                    tenant: plan.key.clone(),
                    table: format!("{} (its key must hold {TENANT_COLUMN})", table.qualified()),
                });
            }
            tables.push(table);
        }
        Ok(tables)
    }

    /// With the copy caught up: the source's sequences on the target (those
    /// it has), and every table's rows of the tenant counted on both sides;
    /// the total when they agree.
    async fn count_replicated(
        &self,
        plan: &Plan,
        source: &TenantSession,
        target: &TenantSession,
        tables: &[Table],
    ) -> Result<i64, MoveError> {
        let key = &plan.key;
        let failed = |e: sea_orm::DbErr| plan.fail("count the rows")(e.to_string());
        // The tenant set, so row-level security lets a non-owner read.
        let txn = source.begin().await.map_err(failed)?;
        txn.execute_unprepared(&format!(
            "SELECT pg_catalog.set_config('{TENANT_SETTING}', {}, true)",
            literal(key.as_str())
        ))
        .await
        .map_err(failed)?;
        let known = sql::sequence_names(&**target, ROW_SCHEMA)
            .await
            .map_err(plan.fail("read the target's sequences"))?;
        for (sequence, value) in sql::sequences(&txn, &Schemas::One(ROW_SCHEMA.to_owned()))
            .await
            .map_err(plan.fail("read the sequences"))?
        {
            if known.contains(&sequence) {
                sql::set_sequence(&**target, &sequence, value)
                    .await
                    .map_err(plan.fail("copy a sequence"))?;
            }
        }
        let total = count_both(plan, &txn, &**target, tables).await?;
        txn.rollback().await.map_err(failed)?;
        Ok(total)
    }
}
