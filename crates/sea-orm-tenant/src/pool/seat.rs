//! [`Seat`]: where on a shared pool a tenant's calls run: its own schema
//! (schema tenants), the shared tables with its id in the session's tenant
//! setting (row tenants), or its own database on a MySQL server whose
//! connections its database tenants share.

use crate::key::TenantKey;
use crate::rows::ROW_SCHEMA;
use crate::schema::SchemaName;

/// Where a tenant's calls run on its database's shared pool.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Seat {
    /// The tenant's own schema.
    Schema(SchemaName),
    /// The shared tables (in [`ROW_SCHEMA`]), as this tenant.
    Row(TenantKey),
    /// Its own database, on a MySQL or MariaDB server (`USE`).
    Database(String),
}

/// Whether a shared database's tenants are schemas or rows: one database
/// holds one kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SeatKind {
    Schema,
    Row,
    Database,
}

impl Seat {
    pub(crate) fn kind(&self) -> SeatKind {
        match self {
            Seat::Schema(_) => SeatKind::Schema,
            Seat::Row(_) => SeatKind::Row,
            Seat::Database(_) => SeatKind::Database,
        }
    }

    /// The `search_path` of a call here: one schema, the session's temporary
    /// schema after it, so temporary tables never shadow the tenant's.
    pub(crate) fn search_path(&self) -> String {
        match self {
            Seat::Schema(schema) => schema.search_path(),
            Seat::Row(_) => format!("\"{ROW_SCHEMA}\", pg_temp"),
            // Not a PostgreSQL seat: a path no schema is on.
            Seat::Database(_) => "pg_temp".to_owned(),
        }
    }

    /// The schema `current_schema()` names on this seat (on a MySQL seat,
    /// its database: `DATABASE()`).
    pub(crate) fn schema_name(&self) -> &str {
        match self {
            Seat::Schema(schema) => schema.as_str(),
            Seat::Row(_) => ROW_SCHEMA,
            Seat::Database(database) => database,
        }
    }

    /// The value of [`TENANT_SETTING`](crate::rows::TENANT_SETTING) on this seat: empty on a schema
    /// tenant's, so no row policy ever matches there.
    pub(crate) fn tenant_setting(&self) -> &str {
        match self {
            Seat::Schema(_) | Seat::Database(_) => "",
            Seat::Row(tenant) => tenant.as_str(),
        }
    }

    /// Whether the session's reported search path, current schema and tenant
    /// setting are exactly this seat's.
    pub(crate) fn is_at(
        &self,
        search_path: &str,
        schema: Option<&str>,
        tenant: Option<&str>,
    ) -> bool {
        schema == Some(self.schema_name())
            && search_path == self.search_path()
            && tenant.unwrap_or("") == self.tenant_setting()
    }
}
