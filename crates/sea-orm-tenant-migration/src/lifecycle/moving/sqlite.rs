//! Moving a SQLite file tenant: copied under a write lock while the tenant
//! is held, then switched. SQLite has no replication; the hold lasts as long
//! as the copy (`VACUUM INTO`), which `bench`-style tests measure.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sea_orm_tenant::{TenantConfig, TenantSession};

use super::super::place::Place;
use super::super::provisioner::Provisioner;
use super::error::MoveError;
use super::options::{MoveOptions, Moved};
use super::plan::Plan;
use super::rollback::Rollback;
use super::sql::{ident, literal};
use super::switch::Switched;
use super::{SEALED, open, timed_out};

impl Provisioner {
    /// Moves SQLite file tenant `plan.key` to the file `plan.target` names.
    pub(super) async fn move_sqlite(
        &self,
        plan: &Plan,
        options: &MoveOptions,
        mut rollback: Rollback,
        stop: &AtomicBool,
    ) -> Result<Moved, MoveError> {
        let key = &plan.key;
        let (Ok(Place::SqliteFile(_)), Ok(Place::SqliteFile(target_path))) =
            (Place::of(&plan.source), Place::of(&plan.target))
        else {
            return Err(MoveError::Unsupported {
                tenant: key.clone(),
                reason: "both places must be SQLite files".into(),
            });
        };
        if plan.leftover {
            self.drop_target_and_reactivate(plan, target_path.exists())
                .await?;
        }
        if target_path.exists() {
            return Err(MoveError::TargetExists {
                tenant: key.clone(),
                target: target_path.display().to_string(),
            });
        }
        if stop.load(Ordering::Acquire) {
            return Err(MoveError::Cancelled {
                tenant: key.clone(),
            });
        }
        let lock = match self.sqlite_copy(plan, options, &mut rollback, stop).await {
            Ok(copied) => copied,
            Err(err) => {
                rollback.run().await;
                return Err(err);
            }
        };
        let (lock, tables, rows, held_at, copy_millis) = lock;
        let drained = match self.switch_placement(plan, rollback).await {
            Ok(drained) => drained,
            Err((err, rollback)) => {
                release(lock).await;
                rollback.run().await;
                return Err(err);
            }
        };
        let mut warnings = Vec::new();
        if let Err(reason) = seal(&lock, &tables).await {
            warnings.push(format!(
                "the source could not be sealed against writes: {reason}"
            ));
        }
        let held_millis = held_at.elapsed().as_millis() as u64;
        lock.close().await;
        if let Some(drained) = drained {
            let _ = drained.await;
        }
        let switched = Switched {
            to: target_path.display().to_string(),
            tables: tables.len(),
            rows,
            copy_millis,
            held_millis,
            warnings,
        };
        Ok(self.finish_switched(plan, options, switched).await)
    }

    /// Holds the tenant, locks its file against writes and copies it; the
    /// lock is returned held, with the tables, their rows, when the hold
    /// began and how long the copy took.
    async fn sqlite_copy(
        &self,
        plan: &Plan,
        options: &MoveOptions,
        rollback: &mut Rollback,
        stop: &AtomicBool,
    ) -> Result<(TenantSession, Vec<String>, i64, Instant, u64), MoveError> {
        let key = &plan.key;
        let (held_at, deadline) = self.hold_for_cut_over(plan, options, rollback).await?;
        let source_db = TenantConfig::new(plan.source.url());
        // One connection: the lock and the statements under it share it.
        let lock = open(&self.store, &source_db, 1)
            .await
            .map_err(plan.fail("connect to the source"))?;
        let limit = deadline.saturating_duration_since(Instant::now());
        lock.execute_unprepared(&format!(
            "PRAGMA busy_timeout = {}",
            limit.as_millis().max(1)
        ))
        .await
        .map_err(|e| plan.fail("lock the source")(e.to_string()))?;
        if let Err(e) = lock.execute_unprepared("BEGIN IMMEDIATE").await {
            lock.close().await;
            return Err(if e.to_string().contains("locked") {
                timed_out(
                    key,
                    "waiting for the tenant's in-flight writes",
                    options.cut_over_timeout,
                )
            } else {
                plan.fail("lock the source")(e.to_string())
            });
        }
        let copied = self.copy_locked(plan, &lock, rollback, stop).await;
        match copied {
            Ok((tables, rows)) => Ok((
                lock,
                tables,
                rows,
                held_at,
                held_at.elapsed().as_millis() as u64,
            )),
            Err(err) => {
                release(lock).await;
                Err(err)
            }
        }
    }

    /// With the source locked: `VACUUM INTO` the target (a reader of its
    /// own: it cannot run inside the lock's transaction), then every
    /// table's rows counted on both.
    async fn copy_locked(
        &self,
        plan: &Plan,
        lock: &TenantSession,
        rollback: &mut Rollback,
        stop: &AtomicBool,
    ) -> Result<(Vec<String>, i64), MoveError> {
        let key = &plan.key;
        let Ok(Place::SqliteFile(target_path)) = Place::of(&plan.target) else {
            return Err(plan.fail("copy")("the target is not a SQLite file".into()));
        };
        rollback.target().storage(plan.target.clone());
        let reader = open(&self.store, &TenantConfig::new(plan.source.url()), 1)
            .await
            .map_err(plan.fail("connect to the source"))?;
        let copy = reader
            .execute_unprepared(&format!(
                "VACUUM INTO {}",
                literal(&target_path.display().to_string())
            ))
            .await;
        reader.close().await;
        copy.map_err(|e| plan.fail("copy the file")(e.to_string()))?;
        let tables = tables(lock).await.map_err(plan.fail("list the tables"))?;
        let target = open(&self.store, &TenantConfig::new(plan.target.url()), 1)
            .await
            .map_err(plan.fail("connect to the target"))?;
        let mut rows = 0;
        for table in &tables {
            let sql = format!("SELECT count(*) AS n FROM {}", ident(table));
            let count = |db: &TenantSession| {
                let sql = sql.clone();
                let db = (**db).clone();
                async move {
                    db.query_one_raw(Statement::from_string(DbBackend::Sqlite, sql))
                        .await
                        .ok()
                        .flatten()
                        .and_then(|r| r.try_get::<i64>("", "n").ok())
                }
            };
            let (source_rows, target_rows) = (count(lock).await, count(&target).await);
            if source_rows.is_none() || source_rows != target_rows {
                target.close().await;
                return Err(MoveError::CopyMismatch {
                    tenant: key.clone(),
                    table: table.clone(),
                    source_rows: source_rows.unwrap_or(-1),
                    target_rows: target_rows.unwrap_or(-1),
                });
            }
            rows += source_rows.unwrap_or(0);
        }
        target.close().await;
        if stop.load(Ordering::Acquire) {
            return Err(MoveError::Cancelled {
                tenant: key.clone(),
            });
        }
        Ok((tables, rows))
    }
}

/// The file's tables.
async fn tables(db: &TenantSession) -> Result<Vec<String>, String> {
    Ok(db
        .query_all_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
        ))
        .await
        .map_err(|e| e.to_string())?
        .iter()
        .filter_map(|r| r.try_get::<String>("", "name").ok())
        .collect())
}

/// The old file of a move whose run was killed after its switch, sealed
/// (again: a seal that is there stays).
pub(super) async fn seal_old_file(
    store: &sea_orm_tenant::TenantConnections,
    source: &TenantConfig,
) -> Result<(), String> {
    let lock = open(store, &TenantConfig::new(source.url()), 1).await?;
    let sealed = async {
        lock.execute_unprepared("BEGIN IMMEDIATE")
            .await
            .map_err(|e| e.to_string())?;
        seal(&lock, &tables(&lock).await?).await
    }
    .await;
    if sealed.is_err() {
        let _ = lock.execute_unprepared("ROLLBACK").await;
    }
    lock.close().await;
    sealed
}

/// Triggers that refuse every write to the old file, then the lock's
/// transaction committed.
async fn seal(lock: &TenantSession, tables: &[String]) -> Result<(), String> {
    for table in tables {
        for op in ["INSERT", "UPDATE", "DELETE"] {
            let trigger = format!("sot_tenant_moved_{}_{}", table, op.to_lowercase());
            lock.execute_unprepared(&format!(
                "CREATE TRIGGER IF NOT EXISTS {} BEFORE {op} ON {} BEGIN SELECT RAISE(ABORT, '{SEALED}'); END",
                ident(&trigger),
                ident(table)
            ))
            .await
            .map_err(|e| e.to_string())?;
        }
    }
    lock.execute_unprepared("COMMIT")
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Ends the lock without sealing.
async fn release(lock: TenantSession) {
    let _ = lock.execute_unprepared("ROLLBACK").await;
    lock.close().await;
}
