//! Moving a MySQL/MariaDB database tenant to another database, on its
//! server or another, by copy under a write hold.
//!
//! While the tenant is held (the catalog's `moving`, every instance holding
//! its new requests), the source's tables are locked (`LOCK TABLES ...
//! WRITE` waits out writes in flight) and sealed by triggers that refuse
//! every write, whoever sends it; the table lock is released, so the seal
//! keeps the source still, for as long as the move's session holds a named
//! lock (`GET_LOCK`): a mover that dies leaves the source writable. After
//! the switch the triggers refuse for good, and the tables go behind views
//! of their names, which `TRUNCATE` and DDL fail on. The database is then dumped and loaded
//! into the new database by the server's own tools (`tenant export`'s and
//! `tenant import`'s code), the seal's copies dropped there, every table's
//! rows counted on both, and the catalog switched. A failure before the
//! switch drops the seal and the target: the tenant serves from its source
//! with nothing lost. The hold lasts the whole copy: `just bench-move`
//! measures the PostgreSQL move, which holds only for the catch-up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sea_orm_tenant::{TenantConfig, TenantSession};

use super::super::place::Place;
use super::super::provisioner::Provisioner;
use super::error::MoveError;
use super::mysql_views::{behind_views_sql, name_hash};
use super::options::{MoveOptions, Moved};
use super::plan::Plan;
use super::rollback::Rollback;
use super::switch::Switched;
use super::{SEALED, open, timed_out};
use crate::quote::{literal, mysql_ident};
use crate::transfer::{export_mysql, import_mysql};

/// The seal's triggers are named with this prefix, so they are found (and
/// dropped) by name, on the source after a failed move and on the target
/// after the load copied them.
const SEAL_PREFIX: &str = "sot_moved_";

/// MySQL's error for a lock not granted within `lock_wait_timeout`.
const LOCK_WAIT_TIMEOUT: &str = "1205";

impl Provisioner {
    /// Moves a MySQL/MariaDB database tenant; see [the module](self).
    pub(super) async fn move_mysql(
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
        if plan.leftover {
            self.mysql_leftovers(plan, &target_place).await?;
        }
        let exists = self
            .storage
            .exists(&target_place)
            .await
            .map_err(|e| plan.fail("look for the target")(e.to_string()))?;
        if exists {
            return Err(MoveError::TargetExists {
                tenant: key.clone(),
                target: target_place.describe(),
            });
        }
        if stop.load(Ordering::Acquire) {
            return Err(MoveError::Cancelled {
                tenant: key.clone(),
            });
        }
        let (source, tables, rows, held_at, copy_millis) =
            match self.mysql_copy(plan, options, &mut rollback, stop).await {
                Ok(copied) => copied,
                Err(err) => {
                    rollback.run().await;
                    return Err(err);
                }
            };
        let drained = match self.switch_placement(plan, rollback).await {
            Ok(drained) => drained,
            Err((err, rollback)) => {
                source.close().await;
                let _ = self.unseal(plan, plan.source.url()).await;
                rollback.run().await;
                return Err(err);
            }
        };
        let mut warnings = Vec::new();
        if let Err(reason) = seal_for_good(&source, &tables, &plan.replication.name).await {
            warnings.push(format!("the source could not be sealed for good: {reason}"));
        }
        source.close().await;
        let held_millis = held_at.elapsed().as_millis() as u64;
        if let Some(drained) = drained {
            let _ = drained.await;
        }
        let switched = Switched {
            to: target_place.describe(),
            tables: tables.len(),
            rows,
            copy_millis,
            held_millis,
            warnings,
        };
        Ok(self.finish_switched(plan, options, switched).await)
    }

    /// Holds the tenant, seals its source and copies it. Returns the
    /// session holding the seal's lock, the tables copied, their rows, when
    /// the hold began and how long the copy took. On an error the seal is
    /// dropped again.
    async fn mysql_copy(
        &self,
        plan: &Plan,
        options: &MoveOptions,
        rollback: &mut Rollback,
        stop: &AtomicBool,
    ) -> Result<(TenantSession, Vec<String>, i64, Instant, u64), MoveError> {
        let key = &plan.key;
        let (held_at, deadline) = self.hold_for_cut_over(plan, options, rollback).await?;
        let source = open(&self.store, &TenantConfig::new(plan.source.url()), 1)
            .await
            .map_err(plan.fail("connect to the source"))?;
        let tables = match names(&source, TABLES).await {
            Ok(tables) => tables,
            Err(e) => {
                source.close().await;
                return Err(plan.fail("list the tables")(e));
            }
        };
        let limit = deadline.saturating_duration_since(Instant::now());
        let lock = &plan.replication.name;
        let sealed = seal(&source, &tables, limit.as_secs().max(1), lock).await;
        let copied = match sealed {
            Ok(()) => match self
                .mysql_copy_sealed(plan, &source, &tables, rollback, stop)
                .await
            {
                // The seal holds only while this session keeps its lock: a
                // lost session may have let a write through, so no switch.
                Ok(rows) => match still_locked(&source, lock).await {
                    Ok(true) => Ok(rows),
                    Ok(false) => Err(plan.fail("keep the seal")(
                        "the session holding the seal was lost".into(),
                    )),
                    Err(reason) => Err(plan.fail("keep the seal")(reason)),
                },
                Err(err) => Err(err),
            },
            Err(e) if e.contains(LOCK_WAIT_TIMEOUT) => Err(timed_out(
                key,
                "waiting for the tenant's in-flight writes",
                options.cut_over_timeout,
            )),
            Err(e) => Err(plan.fail("seal the source")(e)),
        };
        match copied {
            Ok(rows) => Ok((
                source,
                tables,
                rows,
                held_at,
                held_at.elapsed().as_millis() as u64,
            )),
            Err(err) => {
                // Closing the session ends the locks a failed seal left.
                source.close().await;
                let _ = self.unseal(plan, plan.source.url()).await;
                Err(err)
            }
        }
    }

    /// With the source sealed: the target database made, the source dumped
    /// and loaded into it, the seal's copies dropped there, and every
    /// table's rows counted on both. Returns the rows.
    async fn mysql_copy_sealed(
        &self,
        plan: &Plan,
        source: &TenantSession,
        tables: &[String],
        rollback: &mut Rollback,
        stop: &AtomicBool,
    ) -> Result<i64, MoveError> {
        let key = &plan.key;
        self.storage
            .create(&plan.target)
            .await
            .map_err(|e| plan.fail("create the target")(e.to_string()))?;
        rollback.target().storage(plan.target.clone());
        let dir = tempfile::tempdir()
            .map_err(|e| plan.fail("make a folder for the dump")(e.to_string()))?;
        let dump = dir.path().join("tenant.sql");
        export_mysql(&self.store, key, &plan.source, &dump)
            .await
            .map_err(|e| plan.fail("dump the source")(e.to_string()))?;
        if stop.load(Ordering::Acquire) {
            return Err(MoveError::Cancelled {
                tenant: key.clone(),
            });
        }
        import_mysql(&self.store, &self.background, key, &plan.target, &dump)
            .await
            .map_err(|e| plan.fail("load the target")(e.to_string()))?;
        self.unseal(plan, plan.target.url())
            .await
            .map_err(plan.fail("drop the seal's copies on the target"))?;
        let target = open(&self.store, &TenantConfig::new(plan.target.url()), 1)
            .await
            .map_err(plan.fail("connect to the target"))?;
        let counted = count_all(source, &target, tables).await;
        target.close().await;
        let mut rows = 0;
        for (table, source_rows, target_rows) in counted.map_err(plan.fail("count the rows"))? {
            if source_rows != target_rows {
                return Err(MoveError::CopyMismatch {
                    tenant: key.clone(),
                    table,
                    source_rows,
                    target_rows,
                });
            }
            rows += source_rows;
        }
        if stop.load(Ordering::Acquire) {
            return Err(MoveError::Cancelled {
                tenant: key.clone(),
            });
        }
        Ok(rows)
    }

    /// Drops the seal's triggers in the database at `url`.
    async fn unseal(&self, plan: &Plan, url: &str) -> Result<(), String> {
        let db = open(&self.store, &TenantConfig::new(url), 1).await?;
        let dropped = async {
            let triggers = names(
                &db,
                &format!(
                    "SELECT CAST(TRIGGER_NAME AS CHAR) AS name FROM information_schema.TRIGGERS \
                     WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME LIKE '{}%'",
                    SEAL_PREFIX.replace('_', "\\_")
                ),
            )
            .await?;
            for trigger in triggers {
                db.execute_unprepared(&format!("DROP TRIGGER IF EXISTS {}", mysql_ident(&trigger)))
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok(())
        }
        .await;
        db.close().await;
        if let Err(reason) = &dropped {
            tracing::warn!(tenant = %plan.key, reason, "a moved tenant's seal was not dropped");
        }
        dropped
    }

    /// A move that stopped before its switch left the tenant `moving`:
    /// its source unsealed, its target (never served) dropped, the tenant
    /// active again where it was.
    async fn mysql_leftovers(&self, plan: &Plan, target_place: &Place) -> Result<(), MoveError> {
        self.unseal(plan, plan.source.url())
            .await
            .map_err(plan.fail("unseal the source"))?;
        let exists = self
            .storage
            .exists(target_place)
            .await
            .map_err(|e| plan.fail("look for the target")(e.to_string()))?;
        self.drop_target_and_reactivate(plan, exists).await
    }
}

/// Locks every table of the source against writes (waiting up to
/// `wait_secs` for writes in flight), puts triggers on them that refuse
/// every write, whoever sends it, and unlocks: one round trip, which stops
/// at the first error. Until [`seal_for_good`], the triggers refuse only
/// while this session holds the named lock `lock` (taken here): a mover
/// that dies leaves the tenant writable where it was.
async fn seal(
    source: &TenantSession,
    tables: &[String],
    wait_secs: u64,
    lock: &str,
) -> Result<(), String> {
    let taken = count(
        source,
        &format!("SELECT CAST(GET_LOCK({}, 0) AS SIGNED) AS n", literal(lock)),
    )
    .await?;
    if taken != 1 {
        return Err(format!(
            "the seal's lock {lock} is taken by another session"
        ));
    }
    source
        .execute_unprepared(&seal_sql(tables, wait_secs, Some(lock)))
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

/// After the switch: the triggers replaced, under the same table locks, by
/// ones that refuse every write for good; then the named lock let go, and
/// the tables put behind views (see `mysql_views.rs`).
async fn seal_for_good(
    source: &TenantSession,
    tables: &[String],
    lock: &str,
) -> Result<(), String> {
    let sealed = source.execute_unprepared(&seal_sql(tables, 5, None)).await;
    let released = source
        .execute_unprepared(&format!("DO RELEASE_LOCK({})", literal(lock)))
        .await;
    sealed.map(drop).map_err(|e| e.to_string())?;
    released.map(drop).map_err(|e| e.to_string())?;
    behind_views(source, tables).await
}

/// Puts `tables` behind views, those not there already.
async fn behind_views(source: &TenantSession, tables: &[String]) -> Result<(), String> {
    match behind_views_sql(tables) {
        Some(sql) => source
            .execute_unprepared(&sql)
            .await
            .map(drop)
            .map_err(|e| e.to_string()),
        None => Ok(()),
    }
}

/// Whether `source` still holds the named lock `lock` (the server says).
async fn still_locked(source: &TenantSession, lock: &str) -> Result<bool, String> {
    Ok(count(
        source,
        &format!(
            "SELECT CAST(COALESCE(IS_USED_LOCK({}) = CONNECTION_ID(), 0) AS SIGNED) AS n",
            literal(lock)
        ),
    )
    .await?
        == 1)
}

/// The database's tables.
const TABLES: &str = "SELECT CAST(TABLE_NAME AS CHAR) AS name FROM information_schema.TABLES \
                      WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1";

/// The old database of a move whose run was killed after its switch,
/// sealed for good (again: the seal is replaced), its tables behind views.
pub(super) async fn seal_old_database(
    store: &sea_orm_tenant::TenantConnections,
    source: &TenantConfig,
) -> Result<(), String> {
    let db = open(store, &TenantConfig::new(source.url()), 1).await?;
    let sealed = match names(&db, TABLES).await {
        Ok(tables) => match db.execute_unprepared(&seal_sql(&tables, 5, None)).await {
            Ok(_) => behind_views(&db, &tables).await,
            Err(e) => Err(e.to_string()),
        },
        Err(e) => Err(e),
    };
    db.close().await;
    sealed
}

/// The writes a seal refuses.
const OPS: [&str; 3] = ["INSERT", "UPDATE", "DELETE"];

/// The seal in one round trip: `LOCK TABLES ... WRITE`, each trigger
/// replaced (refusing while `lock` is held, or for good without one), and
/// `UNLOCK TABLES`.
fn seal_sql(tables: &[String], wait_secs: u64, lock: Option<&str>) -> String {
    if tables.is_empty() {
        return "DO 0".to_owned();
    }
    let locks: Vec<String> = tables
        .iter()
        .map(|t| format!("{} WRITE", mysql_ident(t)))
        .collect();
    let mut sql = format!(
        "SET SESSION lock_wait_timeout = {wait_secs}; LOCK TABLES {};",
        locks.join(", ")
    );
    let refuse = format!("SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{SEALED}'");
    let body = match lock {
        Some(lock) => format!(
            "BEGIN IF IS_USED_LOCK({}) IS NOT NULL THEN {refuse}; END IF; END",
            literal(lock)
        ),
        None => refuse,
    };
    for table in tables {
        for op in OPS {
            let trigger = mysql_ident(&trigger_name(table, op));
            sql.push_str(&format!(
                " DROP TRIGGER IF EXISTS {trigger}; CREATE TRIGGER {trigger} BEFORE {op} ON {} \
                 FOR EACH ROW {body};",
                mysql_ident(table)
            ));
        }
    }
    sql.push_str(" UNLOCK TABLES");
    sql
}

/// The seal's trigger on `table` for `op`: at most 64 characters, whatever
/// the table's name.
fn trigger_name(table: &str, op: &str) -> String {
    let hash = name_hash(table);
    format!("{SEAL_PREFIX}{hash:016x}_{}", op.to_ascii_lowercase())
}

/// Each table's rows on the source and on the target.
async fn count_all(
    source: &TenantSession,
    target: &TenantSession,
    tables: &[String],
) -> Result<Vec<(String, i64, i64)>, String> {
    let mut counted = Vec::with_capacity(tables.len());
    for table in tables {
        let sql = format!("SELECT COUNT(*) AS n FROM {}", mysql_ident(table));
        let (s, t) = (count(source, &sql).await?, count(target, &sql).await?);
        counted.push((table.clone(), s, t));
    }
    Ok(counted)
}

async fn count(db: &TenantSession, sql: &str) -> Result<i64, String> {
    db.query_one_raw(Statement::from_string(DbBackend::MySql, sql))
        .await
        .map_err(|e| e.to_string())?
        .and_then(|r| r.try_get::<i64>("", "n").ok())
        .ok_or_else(|| format!("no count from {sql}"))
}

/// The `name` column of every row `sql` returns.
async fn names(db: &TenantSession, sql: &str) -> Result<Vec<String>, String> {
    Ok(db
        .query_all_raw(Statement::from_string(DbBackend::MySql, sql))
        .await
        .map_err(|e| e.to_string())?
        .iter()
        .filter_map(|r| r.try_get::<String>("", "name").ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_names_fit_mysql_whatever_the_table() {
        let long = "t".repeat(64);
        for op in ["INSERT", "UPDATE", "DELETE"] {
            let name = trigger_name(&long, op);
            assert!(name.len() <= 64 && name.starts_with(SEAL_PREFIX), "{name}");
        }
        assert_ne!(trigger_name("a", "INSERT"), trigger_name("b", "INSERT"));
    }
}
