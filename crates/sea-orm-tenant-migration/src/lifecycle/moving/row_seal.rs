//! [`RowSeal`]: one row tenant's rows in the shared tables sealed against
//! writes, for its promotion's cut-over and after it. The other tenants of
//! the tables write on.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};
use sea_orm_tenant::TenantKey;
use sea_orm_tenant::rows::{ROW_SCHEMA, TENANT_COLUMN};

use super::super::row_data::TENANT_TABLES;
use super::fence::{FenceError, seal_function};
use super::replication::Replication;
use super::sql::{ident, literal};

/// Row triggers on every tenant table that refuse any insert, update or
/// delete of the tenant's rows, whoever sends it (triggers fire for the
/// owner and superusers too). Making them waits for the writers in flight
/// on those tables, so a write acknowledged before the seal is in the copy;
/// the writers that come after it fail instead of waiting.
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
    /// writers in flight), in one transaction: every table or none.
    pub(super) async fn seal(
        &self,
        db: &DatabaseConnection,
        tables: &[String],
        limit: Duration,
    ) -> Result<(), FenceError> {
        let failed = |e: sea_orm::DbErr| FenceError::Failed(e.to_string());
        let txn = db.begin().await.map_err(failed)?;
        let mut statements = vec![
            format!("SET LOCAL lock_timeout = '{}ms'", limit.as_millis().max(1)),
            seal_function(ROW_SCHEMA),
        ];
        statements.extend(self.drop_statements(tables));
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
                     EXECUTE FUNCTION {}.sot_tenant_moved()",
                    ident(&format!("{}_{suffix}", self.name)),
                    qualified(table),
                    ident(ROW_SCHEMA)
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

    /// Switches the seal off in a transaction that then deletes the rows
    /// (writers wait for it; readers go on).
    pub(super) fn disable_statements(&self, tables: &[String]) -> Vec<String> {
        self.each_trigger(tables, |trigger, table| {
            format!("ALTER TABLE {table} DISABLE TRIGGER {trigger}")
        })
    }

    /// Takes the seal off, where it is.
    pub(super) fn drop_statements(&self, tables: &[String]) -> Vec<String> {
        self.each_trigger(tables, |trigger, table| {
            format!("DROP TRIGGER IF EXISTS {trigger} ON {table}")
        })
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
