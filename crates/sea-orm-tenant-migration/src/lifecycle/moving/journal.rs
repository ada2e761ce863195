//! The move journal: one row per move that reached its hold, in the
//! catalog's database, naming where the tenant was and where it goes. The
//! catalog's own row says which of the two serves; the journal is what
//! still names the other. A run killed after its switch leaves its row,
//! and the next move of the tenant finishes that move's clean-up first.

use sea_orm::sea_query::{Alias, ColumnDef, Expr, ExprTrait, Query, Table, TableCreateStatement};
use sea_orm::{ConnectionTrait, QueryResult, TransactionTrait};
use sea_orm_tenant::{CatalogEntry, SchemaName, TenantKey};

use super::super::provisioner::Provisioner;
use super::error::MoveError;
use super::plan::Plan;

/// The journal's table, beside the catalog.
pub(crate) const MOVES_TABLE: &str = "tenant_moves";

/// The journal's table, for the catalog's migration.
pub(crate) fn table() -> TableCreateStatement {
    Table::create()
        .table(Alias::new(MOVES_TABLE))
        .if_not_exists()
        .col(
            ColumnDef::new("name")
                .string_len(63)
                .not_null()
                .primary_key(),
        )
        .col(ColumnDef::new("from_url").text().not_null())
        .col(ColumnDef::new("from_schema").string_len(63).null())
        .col(ColumnDef::new("from_rows").boolean().not_null())
        .col(ColumnDef::new("to_url").text().not_null())
        .col(ColumnDef::new("to_schema").string_len(63).null())
        .to_owned()
}

/// The columns written and read, after `name`.
const COLUMNS: [&str; 5] = [
    "from_url",
    "from_schema",
    "from_rows",
    "to_url",
    "to_schema",
];

/// A journal row: the move's two placements, as the catalog writes them.
pub(super) struct Journaled {
    pub(super) from: CatalogEntry,
    pub(super) to: CatalogEntry,
}

impl Provisioner {
    /// Writes `plan`'s row (replacing one a stale run left), before the
    /// tenant is marked `moving`. Without a catalog there is no journal.
    pub(super) async fn journal_move(&self, plan: &Plan) -> Result<(), MoveError> {
        let Some(catalog) = &self.catalog else {
            return Ok(());
        };
        let fail = |reason: String| journal_error(&plan.key, "write the move journal", reason);
        let schema = |s: Option<&SchemaName>| s.map(|s| s.as_str().to_owned());
        let txn = catalog
            .database()
            .begin()
            .await
            .map_err(|e| fail(e.to_string()))?;
        txn.execute(&delete(&plan.key))
            .await
            .map_err(|e| fail(e.to_string()))?;
        txn.execute(
            &Query::insert()
                .into_table(Alias::new(MOVES_TABLE))
                .columns(std::iter::once("name").chain(COLUMNS).map(Alias::new))
                .values_panic([
                    plan.key.as_str().into(),
                    plan.source_written.as_str().into(),
                    schema(plan.source.schema()).into(),
                    plan.rows.into(),
                    plan.target_written.as_str().into(),
                    schema(plan.target.schema()).into(),
                ])
                .to_owned(),
        )
        .await
        .map_err(|e| fail(e.to_string()))?;
        txn.commit().await.map_err(|e| fail(e.to_string()))
    }

    /// The journal's row for `key`, if any.
    pub(super) async fn journaled_move(
        &self,
        key: &TenantKey,
    ) -> Result<Option<Journaled>, MoveError> {
        let Some(catalog) = &self.catalog else {
            return Ok(None);
        };
        let fail = |reason: String| journal_error(key, "read the move journal", reason);
        let row = catalog
            .database()
            .query_one(
                &Query::select()
                    .columns(COLUMNS.map(Alias::new))
                    .from(Alias::new(MOVES_TABLE))
                    .and_where(Expr::col(Alias::new("name")).eq(key.as_str()))
                    .to_owned(),
            )
            .await
            .map_err(|e| fail(e.to_string()))?;
        row.map(|row| journaled(key, &row))
            .transpose()
            .map_err(fail)
    }

    /// Removes `key`'s row: its move is undone or finished. A row that
    /// stays only makes the next move of the tenant look at it again.
    pub(in crate::lifecycle) async fn forget_move(&self, key: &TenantKey) {
        let Some(catalog) = &self.catalog else {
            return;
        };
        if let Err(error) = catalog.database().execute(&delete(key)).await {
            tracing::warn!(tenant = %key, %error, "could not remove a move's journal row; the next move of the tenant does");
        }
    }
}

/// A catalog made before the journal existed is
/// [`CatalogError::NotMigrated`](sea_orm_tenant::CatalogError::NotMigrated),
/// whose message says what to run.
fn journal_error(key: &TenantKey, step: &'static str, reason: String) -> MoveError {
    let missing = ["does not exist", "doesn't exist", "no such table"]
        .iter()
        .any(|m| reason.contains(m));
    if missing && reason.contains(MOVES_TABLE) {
        return MoveError::Catalog {
            tenant: key.clone(),
            source: sea_orm_tenant::CatalogError::NotMigrated,
        };
    }
    MoveError::Step {
        tenant: key.clone(),
        step,
        reason,
    }
}

fn delete(key: &TenantKey) -> sea_orm::sea_query::DeleteStatement {
    Query::delete()
        .from_table(Alias::new(MOVES_TABLE))
        .and_where(Expr::col(Alias::new("name")).eq(key.as_str()))
        .to_owned()
}

fn journaled(key: &TenantKey, row: &QueryResult) -> Result<Journaled, String> {
    let text = |column: &str| row.try_get::<String>("", column).map_err(|e| e.to_string());
    let schema = |column: &str| {
        row.try_get::<Option<String>>("", column)
            .map_err(|e| e.to_string())?
            .map(|s| SchemaName::new(&s).map_err(|e| e.to_string()))
            .transpose()
    };
    let from_rows: bool = row.try_get("", "from_rows").map_err(|e| e.to_string())?;
    let from = if from_rows {
        CatalogEntry::rows(key.clone(), text("from_url")?)
    } else {
        CatalogEntry::new(key.clone(), text("from_url")?, schema("from_schema")?)
    };
    Ok(Journaled {
        from,
        to: CatalogEntry::new(key.clone(), text("to_url")?, schema("to_schema")?),
    })
}
