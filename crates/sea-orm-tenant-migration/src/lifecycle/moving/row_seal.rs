//! [`RowSeal`]: one row tenant's rows in the shared tables sealed against
//! writes, for its promotion's cut-over and after it. The other tenants of
//! the tables write on.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};
use sea_orm_tenant::TenantKey;
use sea_orm_tenant::rows::{ROW_SCHEMA, TENANT_COLUMN};

use super::super::row_data::TENANT_TABLES;
use super::SEALED;
use super::fence::FenceError;
use super::replication::Replication;
use super::sql::{ident, literal};

/// The advisory lock class of a promotion's seal ("SOTM").
const LOCK_CLASS: i32 = 0x534F_544D;

/// Row triggers on every tenant table that refuse any insert, update or
/// delete of the tenant's rows, whoever sends it (triggers fire for the
/// owner and superusers too). Making them waits for the writers in flight
/// on those tables, so a write acknowledged before the seal is in the copy;
/// the writers that come after it fail instead of waiting.
///
/// Until the switch the seal lasts only as long as the move's session: the
/// triggers' function lets writes through once that session's advisory
/// lock is gone, so a mover that dies in its cut-over leaves the tenant
/// writable where it was. After the switch the function refuses every
/// write ([`make_final`](Self::make_final)).
pub(super) struct RowSeal {
    tenant: TenantKey,
    /// The triggers' names start with it: one per tenant and database,
    /// stable across runs, so a second run finds what a failed one left.
    name: String,
}

impl RowSeal {
    pub(super) fn new(tenant: &TenantKey, replication: &Replication) -> Self {
        Self {
            tenant: tenant.clone(),
            name: replication.name.replacen("sot_move_", "sot_moved_", 1),
        }
    }

    /// The tenant tables of the database: the shared schema's tables with
    /// the tenant column.
    pub(super) async fn tables(db: &impl ConnectionTrait) -> Result<Vec<String>, String> {
        db.query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            TENANT_TABLES,
            [ROW_SCHEMA.into(), TENANT_COLUMN.into()],
        ))
        .await
        .map_err(|e| e.to_string())?
        .iter()
        .map(|r| r.try_get::<String>("", "name").map_err(|e| e.to_string()))
        .collect()
    }

    /// Seals the tenant's rows of `tables` within `limit` (the wait for the
    /// writers in flight), in one transaction: every table or none. `db` is
    /// the move's session, one connection, which keeps the seal's lock from
    /// here to [`make_final`](Self::make_final).
    pub(super) async fn seal(
        &self,
        db: &DatabaseConnection,
        tables: &[String],
        limit: Duration,
    ) -> Result<(), FenceError> {
        let failed = |e: sea_orm::DbErr| FenceError::Failed(e.to_string());
        db.execute_unprepared(&format!(
            "SELECT pg_catalog.pg_advisory_lock({})",
            self.lock_key()
        ))
        .await
        .map_err(failed)?;
        let txn = db.begin().await.map_err(failed)?;
        let mut statements = vec![
            format!("SET LOCAL lock_timeout = '{}ms'", limit.as_millis().max(1)),
            self.function(false),
        ];
        statements.extend(self.drop_statements(tables));
        statements.pop(); // The function stays: it was just made.
        let value = literal(self.tenant.as_str());
        let column = ident(TENANT_COLUMN);
        for table in tables {
            for (suffix, event, when) in [
                ("i", "INSERT", format!("NEW.{column} = {value}")),
                (
                    "u",
                    "UPDATE",
                    format!("OLD.{column} = {value} OR NEW.{column} = {value}"),
                ),
                ("d", "DELETE", format!("OLD.{column} = {value}")),
            ] {
                statements.push(format!(
                    "CREATE TRIGGER {} BEFORE {event} ON {} FOR EACH ROW WHEN ({when}) \
                     EXECUTE FUNCTION {}",
                    ident(&format!("{}_{suffix}", self.name)),
                    qualified(table),
                    self.function_name()
                ));
            }
        }
        for sql in statements {
            if let Err(e) = txn.execute_unprepared(&sql).await {
                let _ = txn.rollback().await;
                // 55P03 lock_not_available: lock_timeout passed.
                return Err(if e.to_string().contains("lock timeout") {
                    FenceError::TimedOut
                } else {
                    FenceError::Failed(e.to_string())
                });
            }
        }
        txn.commit().await.map_err(failed)
    }

    /// Whether `db`, the move's session, still holds the seal's lock (read
    /// from the server: a session that was lost and reconnected does not).
    pub(super) async fn is_locked(&self, db: &DatabaseConnection) -> Result<bool, String> {
        db.query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_locks WHERE locktype = 'advisory' \
                 AND pid = pg_catalog.pg_backend_pid() AND granted AND mode = 'ExclusiveLock' \
                 AND classid = ({LOCK_CLASS})::oid AND objid = (pg_catalog.hashtext({}))::oid \
                 AND objsubid = 2) AS locked",
                literal(&self.name)
            ),
        ))
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "no row".to_owned())?
        .try_get("", "locked")
        .map_err(|e| e.to_string())
    }

    /// After the switch: the seal refuses every write of the tenant's, for
    /// good, and the move's lock is let go.
    pub(super) async fn make_final(&self, db: &DatabaseConnection) -> Result<(), String> {
        db.execute_unprepared(&self.function(true))
            .await
            .map_err(|e| e.to_string())?;
        db.execute_unprepared(&format!(
            "SELECT pg_catalog.pg_advisory_unlock({})",
            self.lock_key()
        ))
        .await
        .map(drop)
        .map_err(|e| e.to_string())
    }

    fn lock_key(&self) -> String {
        format!("{LOCK_CLASS}, pg_catalog.hashtext({})", literal(&self.name))
    }

    fn function_name(&self) -> String {
        format!("{}.{}()", ident(ROW_SCHEMA), ident(&self.name))
    }

    /// The triggers' function: refusing every write when `last`, else only
    /// while the move's session holds its lock.
    fn function(&self, last: bool) -> String {
        let let_through = if last {
            String::new()
        } else {
            format!(
                "IF pg_catalog.pg_try_advisory_xact_lock_shared({}) THEN \
                 IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; RETURN NEW; END IF; ",
                self.lock_key()
            )
        };
        format!(
            "CREATE OR REPLACE FUNCTION {} RETURNS trigger LANGUAGE plpgsql AS \
             $sot$BEGIN {let_through}RAISE EXCEPTION '{SEALED}' \
             USING ERRCODE = 'read_only_sql_transaction'; END$sot$",
            self.function_name()
        )
    }

    /// Switches the seal off in a transaction that then deletes the rows
    /// (writers wait for it; readers go on).
    pub(super) fn disable_statements(&self, tables: &[String]) -> Vec<String> {
        self.each_trigger(tables, |trigger, table| {
            format!("ALTER TABLE {table} DISABLE TRIGGER {trigger}")
        })
    }

    /// Takes the seal off, where it is: the triggers, then their function.
    pub(super) fn drop_statements(&self, tables: &[String]) -> Vec<String> {
        let mut statements = self.each_trigger(tables, |trigger, table| {
            format!("DROP TRIGGER IF EXISTS {trigger} ON {table}")
        });
        statements.push(format!("DROP FUNCTION IF EXISTS {}", self.function_name()));
        statements
    }

    /// Takes the seal off `db`'s tenant tables (a move undone, or the
    /// leftovers of one that failed).
    pub(super) async fn remove(&self, db: &DatabaseConnection) -> Result<(), String> {
        let tables = Self::tables(db).await?;
        let txn = db.begin().await.map_err(|e| e.to_string())?;
        for sql in self.drop_statements(&tables) {
            txn.execute_unprepared(&sql)
                .await
                .map_err(|e| e.to_string())?;
        }
        txn.commit().await.map_err(|e| e.to_string())
    }

    fn each_trigger(&self, tables: &[String], sql: impl Fn(&str, &str) -> String) -> Vec<String> {
        tables
            .iter()
            .flat_map(|table| {
                ["i", "u", "d"].map(|suffix| {
                    sql(
                        &ident(&format!("{}_{suffix}", self.name)),
                        &qualified(table),
                    )
                })
            })
            .collect()
    }
}

fn qualified(table: &str) -> String {
    format!("{}.{}", ident(ROW_SCHEMA), ident(table))
}
