//! [`Fence`]: the source's tables locked against writes for the cut-over,
//! then sealed: after the switch, every write to the source fails.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, TransactionTrait};

use super::SEALED;
use super::sql::{Table, ident};

/// A transaction on the source holding `EXCLUSIVE` locks on the tenant's
/// tables: in-flight writers finished before it was granted, new ones wait
/// for it, readers go on. The server decides who waits, not a guess from
/// SQL text.
pub(super) struct Fence {
    txn: DatabaseTransaction,
}

/// Why the fence could not be taken.
pub(super) enum FenceError {
    /// A writer held a table past the limit.
    TimedOut,
    /// Anything else.
    Failed(String),
}

impl Fence {
    /// Locks `tables` within `limit`.
    pub(super) async fn take(
        source: &DatabaseConnection,
        tables: &[Table],
        limit: Duration,
    ) -> Result<Self, FenceError> {
        let failed = |e: sea_orm::DbErr| FenceError::Failed(e.to_string());
        let txn = source.begin().await.map_err(failed)?;
        txn.execute_unprepared(&format!(
            "SET LOCAL lock_timeout = '{}ms'",
            limit.as_millis().max(1)
        ))
        .await
        .map_err(failed)?;
        let list: Vec<String> = tables.iter().map(Table::qualified).collect();
        if let Err(e) = txn
            .execute_unprepared(&format!("LOCK TABLE {} IN EXCLUSIVE MODE", list.join(", ")))
            .await
        {
            // 55P03 lock_not_available: lock_timeout passed.
            return Err(if e.to_string().contains("lock timeout") {
                FenceError::TimedOut
            } else {
                FenceError::Failed(e.to_string())
            });
        }
        Ok(Self { txn })
    }

    /// The fence's transaction, for reads of the frozen source.
    pub(super) fn txn(&self) -> &DatabaseTransaction {
        &self.txn
    }

    /// After the switch: a statement trigger on every table refuses writes
    /// (writers waiting for the fence hit it too), then the fence is
    /// released. Triggers fire for every role, the owner and superusers too.
    pub(super) async fn seal(self, tables: &[Table]) -> Result<(), String> {
        for sql in seal_statements(tables) {
            self.exec(&sql).await?;
        }
        self.txn.commit().await.map_err(|e| e.to_string())
    }

    /// Releases the fence without sealing (the move is undone).
    pub(super) async fn release(self) {
        let _ = self.txn.rollback().await;
    }

    async fn exec(&self, sql: &str) -> Result<(), String> {
        self.txn
            .execute_unprepared(sql)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

/// The seal: a statement trigger on every table of `tables` refusing
/// writes. Replaces a seal that is there already (a run finishing a killed
/// one's move seals again).
pub(super) fn seal_statements(tables: &[Table]) -> Vec<String> {
    let mut schemas: Vec<&str> = tables.iter().map(|t| t.schema.as_str()).collect();
    schemas.sort_unstable();
    schemas.dedup();
    let mut statements: Vec<String> = schemas.into_iter().map(seal_function).collect();
    statements.extend(tables.iter().map(|table| {
        format!(
            "CREATE OR REPLACE TRIGGER sot_tenant_moved BEFORE INSERT OR UPDATE OR DELETE OR \
             TRUNCATE ON {} FOR EACH STATEMENT EXECUTE FUNCTION {}.sot_tenant_moved()",
            table.qualified(),
            ident(&table.schema)
        )
    }));
    statements
}

/// Makes `schema.sot_tenant_moved()`, the trigger function of every seal:
/// it refuses the write with [`SEALED`].
fn seal_function(schema: &str) -> String {
    format!(
        "CREATE OR REPLACE FUNCTION {}.sot_tenant_moved() RETURNS trigger \
         LANGUAGE plpgsql AS $sot$BEGIN RAISE EXCEPTION '{SEALED}' \
         USING ERRCODE = 'read_only_sql_transaction'; END$sot$",
        ident(schema)
    )
}
