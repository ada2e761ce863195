//! What a move reads from a tenant's PostgreSQL database: its tables, their
//! replica identities, its sequences and row counts; and quoting.

use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};
use sea_orm_tenant::rows::TENANT_COLUMN;

/// The migration table: copied by the migrations, never replicated.
pub(super) const MIGRATIONS: &str = "seaql_migrations";

/// A table of the tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Table {
    pub(super) schema: String,
    pub(super) name: String,
    /// Whether updates and deletes can be replicated (a primary key or a
    /// replica identity).
    pub(super) identified: bool,
    /// For a row tenant's table: the tenant whose rows are the tenant's
    /// part of it (published, counted).
    pub(super) rows_of: Option<String>,
}

impl Table {
    pub(super) fn qualified(&self) -> String {
        format!("{}.{}", ident(&self.schema), ident(&self.name))
    }

    /// The table as a publication names it: with a row filter on the
    /// tenant column for a row tenant's part.
    pub(super) fn published(&self) -> String {
        match &self.rows_of {
            Some(tenant) => format!(
                "{} WHERE ({} = {})",
                self.qualified(),
                ident(TENANT_COLUMN),
                literal(tenant)
            ),
            None => self.qualified(),
        }
    }
}

pub(super) use crate::quote::{ident, literal};

/// The tenant's schemas: its own, or every user schema of its database.
#[derive(Debug, Clone)]
pub(super) enum Schemas {
    One(String),
    All,
}

impl Schemas {
    /// A condition on `column`, a schema name, with `schema` as `$1`. The
    /// moves' markers (`sot_move`) are no tenant's.
    fn condition(&self, column: &str) -> (String, Vec<Value>) {
        match self {
            Self::One(schema) => (format!("{column} = $1"), vec![schema.clone().into()]),
            Self::All => (
                format!(
                    "{column} NOT IN ('pg_catalog', 'information_schema', 'sot_move') \
                     AND {column} NOT LIKE 'pg\\_%'"
                ),
                vec![],
            ),
        }
    }
}

/// The tenant's ordinary tables, the migration table last.
pub(super) async fn tables(
    db: &impl ConnectionTrait,
    schemas: &Schemas,
) -> Result<Vec<Table>, String> {
    let (condition, values) = schemas.condition("n.nspname");
    let sql = format!(
        "SELECT n.nspname AS schema, c.relname AS name, \
         (c.relreplident IN ('f', 'i') OR EXISTS (SELECT 1 FROM pg_index i \
            WHERE i.indrelid = c.oid AND i.indisprimary)) AS identified \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind = 'r' AND NOT c.relispartition AND {condition} \
         ORDER BY c.relname = '{MIGRATIONS}', n.nspname, c.relname"
    );
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            values,
        ))
        .await
        .map_err(|e| e.to_string())?;
    rows.iter()
        .map(|r| {
            Ok(Table {
                schema: r.try_get("", "schema").map_err(|e| e.to_string())?,
                name: r.try_get("", "name").map_err(|e| e.to_string())?,
                identified: r.try_get("", "identified").map_err(|e| e.to_string())?,
                rows_of: None,
            })
        })
        .collect()
}

/// The last migration applied, read from the migration table of `schema`.
pub(super) async fn version(
    db: &impl ConnectionTrait,
    schema: &str,
) -> Result<Option<String>, String> {
    let sql = format!(
        "SELECT max(version) AS v FROM {}.{}",
        ident(schema),
        ident(MIGRATIONS)
    );
    let row = db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .map_err(|e| e.to_string())?;
    Ok(row.and_then(|r| r.try_get::<Option<String>>("", "v").ok().flatten()))
}

/// The sequences with a value, as `(qualified name, last value)`.
pub(super) async fn sequences(
    db: &impl ConnectionTrait,
    schemas: &Schemas,
) -> Result<Vec<(String, i64)>, String> {
    let (condition, values) = schemas.condition("schemaname");
    let sql = format!(
        "SELECT schemaname AS schema, sequencename AS name, last_value AS value \
         FROM pg_sequences WHERE last_value IS NOT NULL AND {condition}"
    );
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            values,
        ))
        .await
        .map_err(|e| e.to_string())?;
    rows.iter()
        .map(|r| {
            let schema: String = r.try_get("", "schema").map_err(|e| e.to_string())?;
            let name: String = r.try_get("", "name").map_err(|e| e.to_string())?;
            let value: i64 = r.try_get("", "value").map_err(|e| e.to_string())?;
            Ok((format!("{}.{}", ident(&schema), ident(&name)), value))
        })
        .collect()
}

/// Every sequence of `schema`, qualified, used or not.
pub(super) async fn sequence_names(
    db: &impl ConnectionTrait,
    schema: &str,
) -> Result<Vec<String>, String> {
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT sequencename AS name FROM pg_catalog.pg_sequences WHERE schemaname = $1",
            [schema.into()],
        ))
        .await
        .map_err(|e| e.to_string())?;
    rows.iter()
        .map(|r| {
            let name: String = r.try_get("", "name").map_err(|e| e.to_string())?;
            Ok(format!("{}.{}", ident(schema), ident(&name)))
        })
        .collect()
}

/// Sets sequence `qualified` to `value`, as used.
pub(super) async fn set_sequence(
    db: &impl ConnectionTrait,
    qualified: &str,
    value: i64,
) -> Result<(), String> {
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT setval($1::regclass, $2, true)",
        vec![qualified.to_owned().into(), value.into()],
    ))
    .await
    .map(drop)
    .map_err(|e| e.to_string())
}

/// The rows of `table` (the tenant's part of a row tenant's table).
pub(super) async fn count(db: &impl ConnectionTrait, table: &Table) -> Result<i64, String> {
    let sql = match &table.rows_of {
        Some(tenant) => format!(
            "SELECT count(*) AS n FROM {} WHERE {} = {}",
            table.qualified(),
            ident(TENANT_COLUMN),
            literal(tenant)
        ),
        None => format!("SELECT count(*) AS n FROM {}", table.qualified()),
    };
    db.query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "no row".to_owned())?
        .try_get("", "n")
        .map_err(|e| e.to_string())
}
