//! Promoting a row tenant to a schema or a database of its own: the target
//! made and migrated while the tenant serves (the tables without the tenant
//! column); then its rows copied and switched. Into a database the copy is
//! logical replication while the tenant serves (`row_replication`), and the
//! hold lasts the catch-up. Into a schema it is `COPY` while the tenant is
//! held, its rows sealed: logical replication applies a table only to the
//! table of the same schema and name. The tests measure both holds.

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
use sea_orm_tenant::rows::{ROW_SCHEMA, TENANT_COLUMN, TENANT_SETTING};
use sea_orm_tenant::{TenantConfig, TenantSession};

use super::super::place::Place;
use super::super::provisioner::Provisioner;
use super::super::row_data::delete_tenant_rows;
use super::error::MoveError;
use super::fence::FenceError;
use super::leftovers::failed_run_left;
use super::options::{MoveOptions, Moved};
use super::plan::Plan;
use super::rollback::{Rollback, remove_row_seal};
use super::row_seal::RowSeal;
use super::sql::ident;
use super::switch::Switched;
use super::{go_on, open, timed_out};
use crate::transfer::copy_rows_into_schema;

/// Seals the tenant's rows of `tables` (see [`RowSeal`]) before
/// `deadline`, the writes in flight waited out.
pub(super) async fn seal_rows(
    plan: &Plan,
    options: &MoveOptions,
    source: &TenantSession,
    tables: &[String],
    deadline: Instant,
) -> Result<(), MoveError> {
    let limit = deadline.saturating_duration_since(Instant::now());
    match RowSeal::new(&plan.key, &plan.replication)
        .seal(source, tables, limit)
        .await
    {
        Ok(()) => Ok(()),
        Err(FenceError::TimedOut) => Err(timed_out(
            &plan.key,
            "waiting for the writes in flight on the tenant tables",
            options.cut_over_timeout,
        )),
        Err(FenceError::Failed(reason)) => Err(plan.fail("seal the tenant's rows")(reason)),
    }
}

/// What the copy of a promotion did.
pub(super) struct Copied {
    pub(super) tables: usize,
    pub(super) rows: i64,
    pub(super) copy_millis: u64,
    /// When the tenant's hold began.
    pub(super) held_at: Instant,
}

impl Provisioner {
    /// Promotes row tenant `plan.key` to the schema or database `plan.target`
    /// names.
    pub(super) async fn move_rows(
        &self,
        plan: &Plan,
        options: &MoveOptions,
        mut rollback: Rollback,
        stop: &AtomicBool,
    ) -> Result<Moved, MoveError> {
        let key = &plan.key;
        let target_place = Place::of(&plan.target).map_err(|e| MoveError::Unsupported {
            tenant: key.clone(),
            reason: e.to_string(),
        })?;
        let target_db = TenantConfig::new(plan.target.url());
        let source_db = TenantConfig::new(plan.source.url());
        let source = open(&self.store, &source_db, 1)
            .await
            .map_err(plan.fail("connect to the source"))?;
        let ready = async {
            if failed_run_left(plan, &source).await? {
                remove_row_seal(self, key, &plan.replication, &plan.source).await;
                self.clear_leftovers(plan, &source_db, &target_db).await?;
            }
            self.refuse_taken_target(plan, &target_place, &target_db)
                .await
        }
        .await;
        if let Err(err) = ready {
            source.close().await;
            return Err(err);
        }
        let seal = RowSeal::new(key, &plan.replication);
        let copied = self
            .promote_steps(plan, options, &target_place, &source, &mut rollback, stop)
            .await;
        // The seal holds only while this session keeps its lock: a lost
        // session may have let a write through, so no switch then.
        let copied = match copied {
            Ok(copied) => match seal.is_locked(&source).await {
                Ok(true) => Ok(copied),
                Ok(false) => Err(plan.fail("keep the seal")(
                    "the session holding the seal was lost".into(),
                )),
                Err(reason) => Err(plan.fail("keep the seal")(reason)),
            },
            Err(err) => Err(err),
        };
        let copied = match copied {
            Ok(copied) => copied,
            Err(err) => {
                source.close().await;
                rollback.run().await;
                return Err(err);
            }
        };
        let drained = match self.switch_placement(plan, rollback).await {
            Ok(drained) => drained,
            Err((err, rollback)) => {
                source.close().await;
                rollback.run().await;
                return Err(err);
            }
        };
        let mut warnings = Vec::new();
        if let Err(reason) = seal.make_final(&source).await {
            warnings.push(format!(
                "the tenant's old rows could not be sealed for good: {reason}"
            ));
        }
        if matches!(target_place, Place::Database { .. })
            && let Err(reason) = plan.replication.unpublish(&source).await
        {
            warnings.push(format!(
                "replication slot {}: {reason}",
                plan.replication.name
            ));
        }
        source.close().await;
        let held_millis = copied.held_at.elapsed().as_millis() as u64;
        if let Some(drained) = drained {
            let _ = drained.await;
        }
        let switched = Switched {
            to: target_place.describe(),
            tables: copied.tables,
            rows: copied.rows,
            copy_millis: copied.copy_millis,
            held_millis,
            warnings,
        };
        Ok(self.finish_switched(plan, options, switched).await)
    }

    /// The target made and migrated; then, held, the tenant's rows sealed,
    /// copied and counted.
    async fn promote_steps(
        &self,
        plan: &Plan,
        options: &MoveOptions,
        target_place: &Place,
        source: &TenantSession,
        rollback: &mut Rollback,
        stop: &AtomicBool,
    ) -> Result<Copied, MoveError> {
        let key = &plan.key;
        go_on(plan, stop)?;
        self.make_migrated(key, &plan.target, target_place, rollback.target())
            .await
            .map_err(|source| MoveError::Target {
                tenant: key.clone(),
                source: Box::new(source),
            })?;
        go_on(plan, stop)?;
        if matches!(target_place, Place::Database { .. }) {
            self.replicate_rows(plan, options, source, rollback, stop)
                .await
        } else {
            self.held_copy(plan, options, source, rollback, stop).await
        }
    }

    async fn held_copy(
        &self,
        plan: &Plan,
        options: &MoveOptions,
        source: &TenantSession,
        rollback: &mut Rollback,
        stop: &AtomicBool,
    ) -> Result<Copied, MoveError> {
        let key = &plan.key;
        let tables = RowSeal::tables(&**source)
            .await
            .map_err(plan.fail("list the tenant tables"))?;
        let (held_at, deadline) = self.hold_for_cut_over(plan, options, rollback).await?;
        rollback.row_seal(&plan.replication, &plan.source);
        seal_rows(plan, options, source, &tables, deadline).await?;
        let copy_started = Instant::now();
        let schema = plan.target.schema().map_or(ROW_SCHEMA, |s| s.as_str());
        let copy = copy_rows_into_schema(&self.store, key, &plan.source, &plan.target, schema);
        match tokio::time::timeout_at(deadline.into(), copy).await {
            Err(_) => return Err(timed_out(key, "copying the rows", options.cut_over_timeout)),
            Ok(Err(e)) => return Err(plan.fail("copy the rows")(e.to_string())),
            Ok(Ok(_)) => {}
        }
        let copy_millis = copy_started.elapsed().as_millis() as u64;
        let rows = self.count_promoted(plan, source, &tables, schema).await?;
        go_on(plan, stop)?;
        Ok(Copied {
            tables: tables.len(),
            rows,
            copy_millis,
            held_at,
        })
    }

    /// Every tenant table's rows of the tenant, counted on the sealed source
    /// and on the target; the total when they agree.
    async fn count_promoted(
        &self,
        plan: &Plan,
        source: &TenantSession,
        tables: &[String],
        schema: &str,
    ) -> Result<i64, MoveError> {
        let key = &plan.key;
        let target = open(&self.store, &TenantConfig::new(plan.target.url()), 1)
            .await
            .map_err(plan.fail("connect to the target"))?;
        let counted = async {
            // The tenant set, so row-level security lets a non-owner count.
            let txn = source.begin().await.map_err(|e| e.to_string())?;
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                format!("SELECT pg_catalog.set_config('{TENANT_SETTING}', $1, true)"),
                [key.as_str().into()],
            ))
            .await
            .map_err(|e| e.to_string())?;
            let mut total = 0;
            for table in tables {
                let source_rows = count(
                    &txn,
                    format!(
                        "SELECT count(*) AS n FROM {}.{} WHERE {} = $1",
                        ident(ROW_SCHEMA),
                        ident(table),
                        ident(TENANT_COLUMN)
                    ),
                    vec![key.as_str().into()],
                )
                .await?;
                let target_rows = count(
                    &*target,
                    format!(
                        "SELECT count(*) AS n FROM {}.{}",
                        ident(schema),
                        ident(table)
                    ),
                    vec![],
                )
                .await?;
                if source_rows != target_rows {
                    return Ok(Err(MoveError::CopyMismatch {
                        tenant: key.clone(),
                        table: format!("{}.{}", ident(ROW_SCHEMA), ident(table)),
                        source_rows,
                        target_rows,
                    }));
                }
                total += source_rows;
            }
            txn.rollback().await.map_err(|e| e.to_string())?;
            Ok(Ok(total))
        }
        .await;
        target.close().await;
        counted.map_err(plan.fail("count the rows"))?
    }

    /// After a promotion's grace: the tenant's rows deleted from every
    /// tenant table, and its seal taken off, in one transaction.
    pub(super) async fn delete_promoted_rows(&self, plan: &Plan) -> Result<u64, String> {
        let source = open(&self.store, &TenantConfig::new(plan.source.url()), 1).await?;
        let tables = RowSeal::tables(&*source).await;
        source.close().await;
        let tables = tables?;
        let seal = RowSeal::new(&plan.key, &plan.replication);
        delete_tenant_rows(
            &self.store,
            &plan.source,
            &plan.key,
            &seal.disable_statements(&tables),
            &seal.drop_statements(&tables),
        )
        .await
        .map_err(|e| e.to_string())
    }
}

async fn count(
    db: &impl ConnectionTrait,
    sql: String,
    values: Vec<sea_orm::Value>,
) -> Result<i64, String> {
    db.query_one_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        values,
    ))
    .await
    .map_err(|e| e.to_string())?
    .ok_or_else(|| "no row".to_owned())?
    .try_get("", "n")
    .map_err(|e| e.to_string())
}
