//! [`ConfigError`]: why a configuration could not be loaded or a tenant
//! could not be registered, one variant per cause.

use std::path::PathBuf;

use crate::key::{KeyError, TenantKey};
use crate::schema::{SchemaName, SchemaNameError};

/// Why a configuration could not be loaded or a tenant could not be registered.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read tenant configuration {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error, as text.
        reason: String,
    },
    /// The configuration is not valid TOML or has unknown or mistyped fields.
    #[error("invalid tenant configuration{}: {reason}", origin.as_ref().map(|p| format!(" in {}", p.display())).unwrap_or_default())]
    Parse {
        /// The file, when the configuration came from one.
        origin: Option<PathBuf>,
        /// What the parser said.
        reason: String,
    },
    /// A tenant name in the configuration is not a valid [`TenantKey`].
    #[error("invalid tenant name {name:?}: {source}")]
    InvalidKey {
        /// The rejected name.
        name: String,
        /// What is wrong with it.
        source: KeyError,
    },
    /// A URL has `${` with no closing `}`.
    #[error(
        "connection URL for {target} has `${{` with no closing `}}`: write ${{VAR}}, or percent-encode `$` as %24"
    )]
    UnterminatedEnv {
        /// The tenant (or `shared`).
        target: String,
    },
    /// A URL refers to `${VAR}` but the environment has no such variable.
    #[error(
        "connection URL for {target} refers to ${{{var}}}, which is not set in the environment"
    )]
    MissingEnv {
        /// The tenant (or `shared`).
        target: String,
        /// The variable name.
        var: String,
    },
    /// The URL's scheme is not one of `sqlite`, `postgres`, `postgresql` or `mysql`.
    #[error(
        "connection URL {url} for {target} has unsupported scheme {scheme:?}; use sqlite:, postgres: or mysql:"
    )]
    UnsupportedUrl {
        /// The tenant (or `shared`).
        target: String,
        /// The URL, password masked.
        url: String,
        /// The scheme found.
        scheme: String,
    },
    /// The URL needs a backend whose cargo feature is not enabled.
    #[error("connection URL for {target} needs the `{feature}` feature of sea-orm-tenant")]
    BackendDisabled {
        /// The tenant (or `shared`).
        target: String,
        /// The feature to enable.
        feature: &'static str,
    },
    /// A numeric or duration setting is outside its valid range (see [`crate::config::limits`]).
    #[error("{target}: {field} = {value} is out of range; allowed: {range}")]
    OutOfRange {
        /// The tenant, or `defaults`, `shared`, `store`.
        target: String,
        /// The setting.
        field: &'static str,
        /// The value given.
        value: String,
        /// The allowed range.
        range: String,
    },
    /// `catalog.moving_expiry` is shorter than a live mover's renewals can
    /// keep up with: a follower would let a tenant go in the middle of its
    /// move (see [`CatalogOptions::least_moving_expiry`](crate::CatalogOptions::least_moving_expiry)).
    #[error(
        "catalog: moving_expiry = {moving_expiry:?} is shorter than two mover renewals ({renew_interval:?} each) and a poll (poll_interval = {poll_interval:?}, at most {renew_interval:?} while a tenant is moving); set moving_expiry to at least {least:?}"
    )]
    MovingExpiryTooShort {
        /// The value given.
        moving_expiry: std::time::Duration,
        /// The catalog's `poll_interval`.
        poll_interval: std::time::Duration,
        /// How often a live mover renews its mark.
        renew_interval: std::time::Duration,
        /// The least valid value with this `poll_interval`.
        least: std::time::Duration,
    },
    /// `add_tenant` was called with a name that is already registered.
    #[error("tenant {0} is already registered")]
    AlreadyRegistered(TenantKey),
    /// A schema name, or a schema prefix, breaks the rule of [`SchemaName`].
    #[error("invalid schema for {target}: {source}")]
    InvalidSchema {
        /// The tenant, or the `[databases.*]` setting.
        target: String,
        /// What is wrong with it.
        source: SchemaNameError,
    },
    /// A row tenant's URL is not a PostgreSQL one: only PostgreSQL enforces
    /// row-level security, so rows of MySQL/MariaDB or SQLite tenants would be
    /// told apart by the application alone.
    #[error(
        "tenant {target} is a row tenant but {url} is not a PostgreSQL URL; row tenants need PostgreSQL's row-level security (on MySQL/MariaDB or SQLite, use a database or a file per tenant)"
    )]
    RowsNeedPostgres {
        /// The tenant.
        target: String,
        /// The URL, password masked.
        url: String,
    },
    /// A tenant sharing its server's connections is not a MySQL or MariaDB
    /// database, or its URL names no database.
    #[error(
        "tenant {target} shares its server's connections but {url} is not a MySQL/MariaDB URL naming a database (mysql://user@host:port/database); only MySQL and MariaDB switch a connection between databases"
    )]
    SharingNeedsMySqlDatabase {
        /// The tenant.
        target: String,
        /// The URL, password masked.
        url: String,
    },
    /// One database was given tenants of two kinds (schemas and rows).
    #[error(
        "tenant {tenant} would put {kind} tenants in database {url}, which already holds tenants of the other kind; a database holds schema tenants or row tenants, not both"
    )]
    MixedDatabase {
        /// The tenant refused.
        tenant: TenantKey,
        /// `schema` or `row`.
        kind: &'static str,
        /// The database's URL, password masked.
        url: String,
    },
    /// A tenant has a schema but its URL is not a PostgreSQL one.
    #[error(
        "tenant {target} has schema {schema} but {url} is not a PostgreSQL URL; schema tenants need postgres:"
    )]
    SchemaNeedsPostgres {
        /// The tenant.
        target: String,
        /// The schema asked for.
        schema: SchemaName,
        /// The URL, password masked.
        url: String,
    },
    /// The shared database was given a schema: it is opened as a plain pool
    /// with no routing, so a schema would be silently ignored.
    #[error(
        "the shared database cannot have a schema ({schema}); use a database, or its default schema"
    )]
    SharedSchema {
        /// The schema asked for.
        schema: SchemaName,
    },
    /// A `[tenants.*]` entry names a database with no `[databases.*]` table.
    #[error(
        "tenant {tenant} is placed in database {database:?}, which has no [databases.{database}] table"
    )]
    UnknownDatabase {
        /// The tenant.
        tenant: TenantKey,
        /// The database name given.
        database: String,
    },
}
