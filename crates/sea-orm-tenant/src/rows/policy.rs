//! [`RowTable`]: the statements that put a shared table under row-level
//! security for row tenants, and take it off again.

/// The custom setting that carries a row tenant's id; the policies compare
/// the tenant column with it.
pub const TENANT_SETTING: &str = "sea_orm_tenant.id";

/// The tenant column of every table row tenants share.
pub const TENANT_COLUMN: &str = "tenant_id";

/// The name of the policy [`RowTable::enable_statements`] creates.
pub const POLICY_NAME: &str = "sea_orm_tenant_isolation";

/// The schema whose tables row tenants share.
pub const ROW_SCHEMA: &str = "public";

/// The session's tenant as SQL: `NULL` when the setting is unset or empty,
/// so no row matches. Wrapped in `(SELECT ...)` so PostgreSQL evaluates it
/// once per statement, not per row, and the column's index serves the
/// comparison (the column is never cast).
pub const CURRENT_TENANT_SQL: &str =
    "(SELECT NULLIF(pg_catalog.current_setting('sea_orm_tenant.id', true), ''))";

/// A table name that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RowTableError {
    /// The name is empty.
    #[error("a table name cannot be empty")]
    Empty,
    /// The name is longer than PostgreSQL keeps (63 bytes).
    #[error("table name {0:?} is longer than 63 bytes, which PostgreSQL would truncate")]
    TooLong(String),
    /// The name holds a NUL byte, which PostgreSQL refuses.
    #[error("table name {0:?} holds a NUL byte")]
    Nul(String),
}

/// A table of the shared schema ([`ROW_SCHEMA`]) whose rows belong to row
/// tenants.
///
/// ```
/// use sea_orm_tenant::rows::RowTable;
///
/// let notes = RowTable::new("note")?;
/// let up = notes.enable_statements();
/// assert!(up.iter().any(|s| s.contains("FORCE ROW LEVEL SECURITY")));
/// # Ok::<(), sea_orm_tenant::rows::RowTableError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowTable {
    name: String,
}

impl RowTable {
    /// The table `name` of the shared schema. Any name PostgreSQL accepts;
    /// it is always double-quoted in SQL.
    pub fn new(name: impl Into<String>) -> Result<Self, RowTableError> {
        let name = name.into();
        if name.is_empty() {
            return Err(RowTableError::Empty);
        }
        if name.contains('\0') {
            return Err(RowTableError::Nul(name));
        }
        if name.len() > 63 {
            return Err(RowTableError::TooLong(name));
        }
        Ok(Self { name })
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tenant column's definition, for a `CREATE TABLE`: `text`, not
    /// null, defaulting to the session's tenant, so an insert through any
    /// SeaORM API that leaves the column out gets it, and an insert with no
    /// tenant set fails.
    pub fn column_definition() -> String {
        format!(
            "{} text NOT NULL DEFAULT NULLIF(pg_catalog.current_setting('{TENANT_SETTING}', true), '')",
            quote(TENANT_COLUMN)
        )
    }

    /// The statements that put the table under row tenancy: the tenant
    /// column (when missing), an index on it, row-level security enabled and
    /// forced (so the table's owner is held to it too), and the policy
    /// [`POLICY_NAME`], whose `USING` and `WITH CHECK` compare the column
    /// with [`CURRENT_TENANT_SQL`]. Each is idempotent.
    ///
    /// Keys stay the migration's job: a unique key or a foreign key between
    /// tenant tables must include the tenant column, first (the audit
    /// refuses one that does not).
    pub fn enable_statements(&self) -> Vec<String> {
        let table = self.qualified();
        let column = quote(TENANT_COLUMN);
        let check = format!("{column} = {CURRENT_TENANT_SQL}");
        vec![
            format!(
                "ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {}",
                Self::column_definition()
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {table} ({column})",
                quote(&self.index_name())
            ),
            format!("ALTER TABLE {table} ENABLE ROW LEVEL SECURITY"),
            format!("ALTER TABLE {table} FORCE ROW LEVEL SECURITY"),
            format!("DROP POLICY IF EXISTS {} ON {table}", quote(POLICY_NAME)),
            format!(
                "CREATE POLICY {} ON {table} AS PERMISSIVE FOR ALL USING ({check}) WITH CHECK ({check})",
                quote(POLICY_NAME)
            ),
        ]
    }

    /// The reverse of [`enable_statements`](Self::enable_statements), for a
    /// migration's `down`: the policy, row-level security, the index and the
    /// tenant column go.
    pub fn disable_statements(&self) -> Vec<String> {
        let table = self.qualified();
        vec![
            format!("DROP POLICY IF EXISTS {} ON {table}", quote(POLICY_NAME)),
            format!("ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY"),
            format!("ALTER TABLE {table} DISABLE ROW LEVEL SECURITY"),
            format!(
                "DROP INDEX IF EXISTS {}.{}",
                quote(ROW_SCHEMA),
                quote(&self.index_name())
            ),
            format!(
                "ALTER TABLE {table} DROP COLUMN IF EXISTS {}",
                quote(TENANT_COLUMN)
            ),
        ]
    }

    fn qualified(&self) -> String {
        format!("{}.{}", quote(ROW_SCHEMA), quote(&self.name))
    }

    /// `{table}_tenant_id_idx`, cut to PostgreSQL's 63 bytes on a character
    /// boundary (PostgreSQL would cut it the same way, with a notice).
    fn index_name(&self) -> String {
        let suffix = format!("_{TENANT_COLUMN}_idx");
        let mut base = self.name.as_str();
        while base.len() + suffix.len() > 63 {
            let mut cut = base.len() - 1;
            while !base.is_char_boundary(cut) {
                cut -= 1;
            }
            base = &base[..cut];
        }
        format!("{base}{suffix}")
    }
}

/// `name` as a PostgreSQL identifier: double-quoted, inner quotes doubled.
pub(crate) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_table_names_are_quoted() {
        let table = RowTable::new("x\"; DROP TABLE y; --").unwrap();
        for statement in table.enable_statements() {
            assert!(
                statement.contains("\"public\".\"x\"\"; DROP TABLE y; --\""),
                "{statement}"
            );
        }
        assert_eq!(RowTable::new(""), Err(RowTableError::Empty));
        assert!(matches!(RowTable::new("a\0b"), Err(RowTableError::Nul(_))));
        assert!(matches!(
            RowTable::new("a".repeat(64)),
            Err(RowTableError::TooLong(_))
        ));
    }

    #[test]
    fn index_names_fit_postgres() {
        let table = RowTable::new("é".repeat(31)).unwrap();
        assert!(table.index_name().len() <= 63);
        assert!(table.index_name().ends_with("_tenant_id_idx"));
    }
}
