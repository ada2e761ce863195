//! [`audit`]: whether a row database's tables and the app's role keep each
//! row tenant to its own rows, read from the server's own catalogs and
//! probed with no tenant set.

use std::fmt;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, QueryResult, Statement, TransactionTrait,
};
use serde::Serialize;

use super::policy::{ROW_SCHEMA, TENANT_COLUMN, TENANT_SETTING, quote};

/// What [`audit`] found: the tables, and every rule a table or the role
/// breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowAudit {
    /// The role the audit ran as (the app's).
    pub role: String,
    /// Tables of the shared schema with the tenant column.
    pub tenant_tables: Vec<String>,
    /// Tables of the shared schema without it: every tenant reads and
    /// writes all their rows.
    pub global_tables: Vec<String>,
    /// The broken rules; empty when row tenants are protected.
    pub findings: Vec<RowFinding>,
}

impl RowAudit {
    /// Whether no rule is broken.
    pub fn is_protected(&self) -> bool {
        self.findings.is_empty()
    }
}

/// A rule of row tenancy that the role or a table breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RowFinding {
    /// The role is a superuser, which no row-level security applies to.
    RoleIsSuperuser {
        /// The role.
        role: String,
    },
    /// The role has `BYPASSRLS`.
    RoleBypassesRls {
        /// The role.
        role: String,
    },
    /// A tenant table without row-level security enabled.
    RlsNotEnabled {
        /// The table.
        table: String,
    },
    /// A tenant table whose row-level security is not forced, so its owner
    /// (and members of the owning role) skip the policies.
    RlsNotForced {
        /// The table.
        table: String,
    },
    /// A tenant table with no permissive policy for all commands that uses
    /// the tenant setting: with row-level security on, it shows no rows at
    /// all, and the app is misconfigured.
    NoTenantPolicy {
        /// The table.
        table: String,
    },
    /// A permissive policy whose condition does not compare the tenant
    /// column with the tenant setting; permissive policies are OR-ed, so it
    /// opens rows of other tenants.
    PolicyIgnoresTenant {
        /// The table.
        table: String,
        /// The policy.
        policy: String,
    },
    /// Rows of the table are visible with no tenant set.
    VisibleWithoutTenant {
        /// The table.
        table: String,
    },
    /// A unique index that leaves the tenant column out: constraint checks
    /// ignore row-level security, so it tells one tenant that another holds
    /// a value.
    UniqueWithoutTenant {
        /// The table.
        table: String,
        /// The index.
        index: String,
    },
    /// A foreign key between tenant tables that leaves the tenant column
    /// out: a row can point at another tenant's row.
    ForeignKeyWithoutTenant {
        /// The table.
        table: String,
        /// The constraint.
        constraint: String,
    },
    /// No index starts with the tenant column: every policy check scans the
    /// table.
    NoTenantIndex {
        /// The table.
        table: String,
    },
}

impl fmt::Display for RowFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RoleIsSuperuser { role } => write!(
                f,
                "role {role} is a superuser, which row-level security does not apply to: connect as an ordinary role"
            ),
            Self::RoleBypassesRls { role } => write!(
                f,
                "role {role} has BYPASSRLS: ALTER ROLE {role} NOBYPASSRLS, or connect as another role"
            ),
            Self::RlsNotEnabled { table } => write!(
                f,
                "table {table}: row-level security is not enabled (ALTER TABLE ... ENABLE ROW LEVEL SECURITY)"
            ),
            Self::RlsNotForced { table } => write!(
                f,
                "table {table}: row-level security is not forced, so its owner skips the policies (ALTER TABLE ... FORCE ROW LEVEL SECURITY)"
            ),
            Self::NoTenantPolicy { table } => write!(
                f,
                "table {table}: no policy for all commands compares {TENANT_COLUMN} with the setting {TENANT_SETTING}"
            ),
            Self::PolicyIgnoresTenant { table, policy } => write!(
                f,
                "table {table}: permissive policy {policy} does not compare {TENANT_COLUMN} with {TENANT_SETTING}, and opens other tenants' rows"
            ),
            Self::VisibleWithoutTenant { table } => {
                write!(f, "table {table}: rows are visible with no tenant set")
            }
            Self::UniqueWithoutTenant { table, index } => write!(
                f,
                "table {table}: unique index {index} leaves {TENANT_COLUMN} out, so it reveals other tenants' values; put {TENANT_COLUMN} first in it"
            ),
            Self::ForeignKeyWithoutTenant { table, constraint } => write!(
                f,
                "table {table}: foreign key {constraint} leaves {TENANT_COLUMN} out, so a row can point at another tenant's row"
            ),
            Self::NoTenantIndex { table } => write!(
                f,
                "table {table}: no index starts with {TENANT_COLUMN}, so every policy check scans the table"
            ),
        }
    }
}

/// The role: superuser, `BYPASSRLS`.
const ROLE: &str = "SELECT current_user::text AS role, r.rolsuper, r.rolbypassrls \
     FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) current_user";

/// The shared schema's tables, whether each has the tenant column, and its
/// row-level security.
const TABLES: &str = "SELECT c.relname::text AS name, c.relrowsecurity AS enabled, \
     c.relforcerowsecurity AS forced, \
     pg_catalog.has_table_privilege(c.oid, 'SELECT') AS readable, \
     EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid \
       AND a.attname OPERATOR(pg_catalog.=) $2 AND a.attnum OPERATOR(pg_catalog.>) 0 \
       AND NOT a.attisdropped) AS tenant, \
     EXISTS (SELECT 1 FROM pg_catalog.pg_index x JOIN pg_catalog.pg_attribute a \
       ON a.attrelid OPERATOR(pg_catalog.=) x.indrelid AND a.attname OPERATOR(pg_catalog.=) $2 \
       WHERE x.indrelid OPERATOR(pg_catalog.=) c.oid AND x.indkey[0] OPERATOR(pg_catalog.=) a.attnum) AS indexed \
     FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
     WHERE n.nspname OPERATOR(pg_catalog.=) $1 AND c.relkind IN ('r', 'p') ORDER BY 1";

/// The policies of the shared schema's tables.
const POLICIES: &str = "SELECT c.relname::text AS table_name, p.polname::text AS policy, \
     p.polpermissive AS permissive, p.polcmd::text AS cmd, \
     coalesce(pg_catalog.pg_get_expr(p.polqual, p.polrelid), '') AS using_expr, \
     coalesce(pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid), '') AS check_expr \
     FROM pg_catalog.pg_policy p JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) p.polrelid \
     JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
     WHERE n.nspname OPERATOR(pg_catalog.=) $1 ORDER BY 1, 2";

/// Unique indexes of tenant tables without the tenant column.
const UNIQUE: &str = "SELECT c.relname::text AS table_name, i.relname::text AS index_name \
     FROM pg_catalog.pg_index x \
     JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) x.indrelid \
     JOIN pg_catalog.pg_class i ON i.oid OPERATOR(pg_catalog.=) x.indexrelid \
     JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
     JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.oid \
       AND a.attname OPERATOR(pg_catalog.=) $2 AND NOT a.attisdropped \
     WHERE n.nspname OPERATOR(pg_catalog.=) $1 AND x.indisunique \
       AND NOT (a.attnum OPERATOR(pg_catalog.=) ANY (x.indkey::pg_catalog.int2[])) ORDER BY 1, 2";

/// Foreign keys between tenant tables that leave the tenant column out on
/// either side.
const FOREIGN_KEYS: &str = "SELECT c.relname::text AS table_name, k.conname::text AS constraint_name \
     FROM pg_catalog.pg_constraint k \
     JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) k.conrelid \
     JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
     JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) k.conrelid \
       AND a.attname OPERATOR(pg_catalog.=) $2 AND NOT a.attisdropped \
     JOIN pg_catalog.pg_attribute fa ON fa.attrelid OPERATOR(pg_catalog.=) k.confrelid \
       AND fa.attname OPERATOR(pg_catalog.=) $2 AND NOT fa.attisdropped \
     WHERE n.nspname OPERATOR(pg_catalog.=) $1 AND k.contype OPERATOR(pg_catalog.=) 'f' \
       AND NOT (a.attnum OPERATOR(pg_catalog.=) ANY (k.conkey) \
                AND fa.attnum OPERATOR(pg_catalog.=) ANY (k.confkey)) ORDER BY 1, 2";

/// Checks, as the role of `conn` (a PostgreSQL connection to a row
/// database), every rule that keeps row tenants to their own rows:
///
/// * the role is not a superuser and has no `BYPASSRLS`;
/// * every table of the shared schema with the tenant column has row-level
///   security enabled and forced, a permissive policy for all commands
///   comparing the column with the tenant setting, no permissive policy that
///   does not, and an index starting with the column;
/// * no unique index of a tenant table, and no foreign key between tenant
///   tables, leaves the tenant column out;
/// * with no tenant set (in a read-only transaction rolled back), no tenant
///   table shows a row.
///
/// Policies are read as the server prints them (`pg_get_expr`); the probe
/// with no tenant set checks what they do on the rows there are.
pub async fn audit(conn: &DatabaseConnection) -> Result<RowAudit, DbErr> {
    let params = || vec![ROW_SCHEMA.into(), TENANT_COLUMN.into()];
    let role = conn
        .query_one_raw(Statement::from_string(DbBackend::Postgres, ROLE))
        .await?
        .ok_or_else(|| DbErr::Custom("the role's attributes could not be read".into()))?;
    let role_name: String = role.try_get("", "role")?;
    let mut findings = Vec::new();
    if role.try_get::<bool>("", "rolsuper")? {
        findings.push(RowFinding::RoleIsSuperuser {
            role: role_name.clone(),
        });
    }
    if role.try_get::<bool>("", "rolbypassrls")? {
        findings.push(RowFinding::RoleBypassesRls {
            role: role_name.clone(),
        });
    }

    let tables = query(conn, TABLES, params()).await?;
    let policies = query(conn, POLICIES, vec![ROW_SCHEMA.into()]).await?;
    let mut tenant_tables = Vec::new();
    let mut readable = Vec::new();
    let mut global_tables = Vec::new();
    for row in &tables {
        let name: String = row.try_get("", "name")?;
        if !row.try_get::<bool>("", "tenant")? {
            global_tables.push(name);
            continue;
        }
        if !row.try_get::<bool>("", "enabled")? {
            findings.push(RowFinding::RlsNotEnabled {
                table: name.clone(),
            });
        }
        if !row.try_get::<bool>("", "forced")? {
            findings.push(RowFinding::RlsNotForced {
                table: name.clone(),
            });
        }
        if !row.try_get::<bool>("", "indexed")? {
            findings.push(RowFinding::NoTenantIndex {
                table: name.clone(),
            });
        }
        let mut covered = false;
        for policy in &policies {
            if policy.try_get::<String>("", "table_name")? != name
                || !policy.try_get::<bool>("", "permissive")?
            {
                continue;
            }
            let using: String = policy.try_get("", "using_expr")?;
            let check: String = policy.try_get("", "check_expr")?;
            let uses_tenant =
                |expr: &str| expr.contains(TENANT_SETTING) && expr.contains(TENANT_COLUMN);
            if !uses_tenant(&using) || !(check.is_empty() || uses_tenant(&check)) {
                findings.push(RowFinding::PolicyIgnoresTenant {
                    table: name.clone(),
                    policy: policy.try_get("", "policy")?,
                });
            } else if policy.try_get::<String>("", "cmd")? == "*" {
                covered = true;
            }
        }
        if !covered {
            findings.push(RowFinding::NoTenantPolicy {
                table: name.clone(),
            });
        }
        if row.try_get::<bool>("", "readable")? {
            readable.push(name.clone());
        }
        tenant_tables.push(name);
    }
    for row in query(conn, UNIQUE, params()).await? {
        findings.push(RowFinding::UniqueWithoutTenant {
            table: row.try_get("", "table_name")?,
            index: row.try_get("", "index_name")?,
        });
    }
    for row in query(conn, FOREIGN_KEYS, params()).await? {
        findings.push(RowFinding::ForeignKeyWithoutTenant {
            table: row.try_get("", "table_name")?,
            constraint: row.try_get("", "constraint_name")?,
        });
    }
    for table in visible_without_tenant(conn, &readable).await? {
        findings.push(RowFinding::VisibleWithoutTenant { table });
    }
    Ok(RowAudit {
        role: role_name,
        tenant_tables,
        global_tables,
        findings,
    })
}

/// The tenant tables that show a row with the tenant setting empty, probed
/// in a read-only transaction that is rolled back.
async fn visible_without_tenant(
    conn: &DatabaseConnection,
    tables: &[String],
) -> Result<Vec<String>, DbErr> {
    if tables.is_empty() {
        return Ok(Vec::new());
    }
    let txn = conn.begin().await?;
    txn.execute_unprepared(&format!(
        "SET TRANSACTION READ ONLY; SELECT pg_catalog.set_config('{TENANT_SETTING}', '', true)"
    ))
    .await?;
    let mut visible = Vec::new();
    for table in tables {
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM {}.{}) AS visible",
            quote(ROW_SCHEMA),
            quote(table)
        );
        let row = txn
            .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
            .await?;
        if let Some(row) = row
            && row.try_get::<bool>("", "visible")?
        {
            visible.push(table.clone());
        }
    }
    txn.rollback().await?;
    Ok(visible)
}

async fn query(
    conn: &DatabaseConnection,
    sql: &str,
    values: Vec<sea_orm::Value>,
) -> Result<Vec<QueryResult>, DbErr> {
    conn.query_all_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        values,
    ))
    .await
}
