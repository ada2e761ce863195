//! Export and import of one tenant, with the database's own tools:
//! [`Provisioner::export`](crate::Provisioner::export) writes a tenant's data
//! to a file, [`Provisioner::import`](crate::Provisioner::import) loads such a
//! file into another (empty) tenant of the same kind.
//!
//! | tenant | export | import |
//! |---|---|---|
//! | SQLite file | `VACUUM INTO` through the tenant's pool (a consistent snapshot) | the file copied into the tenant's place (written beside it, then renamed), only when the tenant's file does not exist or holds no table |
//! | PostgreSQL database | `pg_dump --format=custom` | `pg_restore --no-owner --single-transaction --exit-on-error` into the tenant's database, which must exist and hold no table, view or sequence |
//! | PostgreSQL schema | `pg_dump --format=custom --schema` of its schema | the same `pg_restore`, every entry but the schema itself, into a schema tenant whose schema exists and holds no relation |
//! | PostgreSQL rows | `COPY ... TO STDOUT` of its rows of every tenant table, in one snapshot, without the tenant column | `COPY ... FROM STDIN` under the target's name, in one transaction, into a row tenant (of this database or another) with no row; or, promoting it, into the same tables of a schema or database tenant (made by its migrations; the tenant column filled where a table has one) that hold no row |
//! | MySQL/MariaDB database (own pool or the server's) | `mariadb-dump --single-transaction --routines --triggers` of its database (naming no database) | the `mariadb` client into the tenant's database, which must exist and hold no table or view; a load that fails part-way is undone by dropping what it made, also when the caller dropped the import (the load runs on a task the provisioner counts: [`Provisioner::settled`](crate::Provisioner::settled) waits for it) |
//!
//! A PostgreSQL database or schema archive imports into either kind of
//! PostgreSQL tenant: when the schemas differ (another schema name, a
//! database's `public` into a schema, a schema into a database's `public`),
//! the archive is first made again for the target's schema in a scratch
//! database on the target's server (`pg_restore` cannot rename a schema;
//! see `rename.rs`).
//!
//! # The file
//!
//! `FILE` is exactly what the tool wrote (a SQLite database, or a `pg_dump`
//! archive that `pg_restore -l FILE` lists), and a side file `FILE.tenant.json`
//! (the [`Manifest`]) names the kind of tenant it came from, the tenant and the
//! archive's size. Import reads the manifest first and refuses a file of another
//! kind ([`TransferError::KindMismatch`]), a file without its manifest, and a
//! file whose first bytes are not what its manifest says. Export never overwrites:
//! an existing `FILE` or manifest is refused ([`TransferError::FileExists`]);
//! the manifest is written last, so an interrupted export leaves no importable pair.
//!
//! # Passwords
//!
//! The client tools get host, port, user and database as separate arguments
//! (never through a shell) and the password in the environment
//! (`PGPASSWORD`, `MYSQL_PWD`), never on their command line. Their error output is
//! scrubbed of the password ([`sea_orm_tenant::scrub`]) before it becomes an error.
//!
//! # While a tenant is serving
//!
//! A SQLite import replaces the tenant's file: nothing may have it open. It is
//! refused ([`TransferError::InUse`]) when the store passed in has the tenant's
//! pool open; other processes serving the tenant are not seen, so import into a
//! tenant that is not yet in service. A PostgreSQL import runs in one transaction:
//! it lands whole or not at all.

mod error;
mod files;
mod kind;
mod manifest;
mod mysql;
mod postgres;
mod rename;
mod rows;
mod sqlite;
mod tool;

use std::path::{Path, PathBuf};
use std::time::Instant;

use sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_tenant::{TenantConfig, TenantConnections, TenantKey, redact_url};

pub use error::TransferError;
pub use kind::TransferKind;
pub use manifest::{MANIFEST_FORMAT, MANIFEST_SUFFIX, Manifest, manifest_path};

use crate::lifecycle::{Background, Place};
use error::{db_err, io_err};
use files::{partial_path, remove_if_exists};
use manifest::{check_file, read_manifest};
pub(crate) use mysql::{export_mysql, import_mysql};
use postgres::{PgTarget, ensure_exists, pg_relations, restore_list_without_schema};
use rename::{DATABASE_SCHEMA, renamed_archive};
use rows::RowTarget;
pub(crate) use rows::copy_rows_into_schema;
use sqlite::import_sqlite;
use tool::{file_arg, plain_path, run_tool};

/// What an export or import did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Transferred {
    /// The tenant.
    pub tenant: TenantKey,
    /// Its kind.
    pub kind: TransferKind,
    /// The archive.
    pub file: PathBuf,
    /// The archive's size in bytes.
    pub bytes: u64,
    /// How long it took, in milliseconds.
    pub millis: u64,
}

/// Exports tenant `name` of `store` to `file` (and its manifest
/// `FILE.tenant.json`). Refuses to overwrite either.
pub(crate) async fn export_tenant(
    store: &TenantConnections,
    name: &str,
    file: &Path,
) -> Result<Transferred, TransferError> {
    let started = Instant::now();
    let (key, config, kind) = resolve(store, name)?;
    let manifest = manifest_path(file);
    for path in [file, manifest.as_path()] {
        if path.exists() {
            return Err(TransferError::FileExists {
                path: path.to_owned(),
            });
        }
    }
    let partial = partial_path(file);
    remove_if_exists(&partial)?;
    let tool = match write_export(store, &key, &config, kind, &partial).await {
        Ok(tool) => tool,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    let bytes = std::fs::metadata(&partial)
        .map_err(|source| io_err("read", &partial, source))?
        .len();
    std::fs::rename(&partial, file).map_err(|source| io_err("rename", &partial, source))?;
    let written = Manifest {
        format: MANIFEST_FORMAT,
        kind,
        tool: tool.to_owned(),
        tenant: key.to_string(),
        schema: config.schema().map(|s| s.as_str().to_owned()),
        bytes,
        exported_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    };
    let json = serde_json::to_string_pretty(&written).unwrap_or_default();
    std::fs::write(&manifest, json + "\n").map_err(|source| io_err("write", &manifest, source))?;
    tracing::info!(tenant = %key, file = %file.display(), bytes, "tenant exported");
    Ok(Transferred {
        tenant: key,
        kind,
        file: file.to_owned(),
        bytes,
        millis: started.elapsed().as_millis() as u64,
    })
}

/// Imports `file` (written by [`export_tenant`]) into tenant `name` of
/// `store`, which must be of the same kind and empty: a SQLite tenant whose file
/// does not exist or holds no table, a PostgreSQL database that exists and holds
/// no table, view or sequence. Refused otherwise, with nothing changed. What a
/// dropped import leaves running runs on `background`.
pub(crate) async fn import_tenant(
    store: &TenantConnections,
    background: &Background,
    name: &str,
    file: &Path,
) -> Result<Transferred, TransferError> {
    let started = Instant::now();
    let (key, config, kind) = resolve(store, name)?;
    let manifest = read_manifest(file)?;
    let postgres = [TransferKind::PostgresDatabase, TransferKind::PostgresSchema];
    let placements_of_one_kind = postgres.contains(&manifest.kind) && postgres.contains(&kind);
    let promotion = manifest.kind == TransferKind::PostgresRows && postgres.contains(&kind);
    if manifest.kind != kind && !placements_of_one_kind && !promotion {
        return Err(TransferError::KindMismatch {
            path: file.to_owned(),
            tenant: key,
            file_kind: manifest.kind,
            tenant_kind: kind,
        });
    }
    check_file(file, &manifest)?;
    if promotion {
        ensure_exists(store, &key, &config).await?;
        let schema = config.schema().map_or(DATABASE_SCHEMA, |s| s.as_str());
        rows::import_rows(store, &key, &config, file, RowTarget::Schema(schema)).await?;
        return Ok(imported(key, kind, file, &manifest, started));
    }
    match kind {
        TransferKind::SqliteFile => import_sqlite(store, &key, &config, file).await?,
        TransferKind::PostgresRows => {
            rows::import_rows(store, &key, &config, file, RowTarget::Rows).await?;
        }
        TransferKind::MySqlDatabase => {
            mysql::import_mysql(store, background, &key, &config, file).await?;
        }
        TransferKind::PostgresDatabase | TransferKind::PostgresSchema => {
            let schema = config.schema().map(|s| s.as_str().to_owned());
            ensure_exists(store, &key, &config).await?;
            let tables = pg_relations(store, &key, &config, schema.as_deref()).await?;
            if !tables.is_empty() {
                return Err(TransferError::NotEmpty {
                    tenant: key,
                    place: place_of(&config),
                    tables,
                });
            }
            let pg = PgTarget::of(&key, &config)?;
            // Another schema's archive is made again for the tenant's.
            let from = manifest.schema.as_deref().unwrap_or(DATABASE_SCHEMA);
            let to = schema.as_deref().unwrap_or(DATABASE_SCHEMA);
            let renamed = if manifest.kind == kind && from == to {
                None
            } else {
                Some(renamed_archive(store, background, &key, &config, file, from, to).await?)
            };
            let file = renamed.as_ref().map_or(file, |f| f.path());
            // A schema tenant's schema exists already, and so does a
            // database's `public`: every entry but the schema's own is
            // restored.
            let list = if schema.is_some() || renamed.is_some() {
                Some(restore_list_without_schema(&pg, file, config.url()).await?)
            } else {
                None
            };
            let mut cmd = pg.command("pg_restore");
            cmd.args(["--no-owner", "--single-transaction", "--exit-on-error"])
                .arg(format!("--dbname={}", pg.database));
            if let Some(list) = &list {
                cmd.arg(file_arg("--use-list=", list.path()));
            }
            cmd.arg(plain_path(file));
            run_tool(cmd, "pg_restore", config.url()).await?;
        }
    }
    Ok(imported(key, kind, file, &manifest, started))
}

fn imported(
    key: TenantKey,
    kind: TransferKind,
    file: &Path,
    manifest: &Manifest,
    started: Instant,
) -> Transferred {
    tracing::info!(tenant = %key, file = %file.display(), "tenant imported");
    Transferred {
        tenant: key,
        kind,
        file: file.to_owned(),
        bytes: manifest.bytes,
        millis: started.elapsed().as_millis() as u64,
    }
}

/// Writes tenant `key`'s export of `kind` into `partial`; returns how.
async fn write_export(
    store: &TenantConnections,
    key: &TenantKey,
    config: &TenantConfig,
    kind: TransferKind,
    partial: &Path,
) -> Result<&'static str, TransferError> {
    Ok(match kind {
        TransferKind::SqliteFile => {
            let conn = store
                .connection(key.as_str())
                .await
                .map_err(|e| db_err(key, "open", &e.to_string(), config.url()))?;
            let path = partial.to_string_lossy().replace('\'', "''");
            conn.execute_unprepared(&format!("VACUUM INTO '{path}'"))
                .await
                .map_err(|e| db_err(key, "VACUUM INTO", &e.to_string(), config.url()))?;
            "VACUUM INTO"
        }
        TransferKind::MySqlDatabase => {
            mysql::export_mysql(store, key, config, partial).await?;
            "mariadb-dump --single-transaction"
        }
        TransferKind::PostgresRows => {
            rows::export_rows(store, key, config, partial).await?;
            "COPY TO STDOUT"
        }
        TransferKind::PostgresDatabase | TransferKind::PostgresSchema => {
            ensure_exists(store, key, config).await?;
            let pg = PgTarget::of(key, config)?;
            let mut cmd = pg.command("pg_dump");
            cmd.arg("--format=custom")
                .arg(file_arg("--file=", partial))
                .arg(format!("--dbname={}", pg.database));
            if let Some(schema) = config.schema() {
                // Quoted: a name, not a pattern.
                cmd.arg(format!("--schema=\"{schema}\""));
            }
            run_tool(cmd, "pg_dump", config.url()).await?;
            if config.schema().is_some() {
                "pg_dump --format=custom --schema"
            } else {
                "pg_dump --format=custom"
            }
        }
    })
}

/// The tenant's key, configuration and kind.
pub(super) fn resolve(
    store: &TenantConnections,
    name: &str,
) -> Result<(TenantKey, TenantConfig, TransferKind), TransferError> {
    let key = TenantKey::new(name).map_err(|source| TransferError::InvalidName {
        name: name.chars().take(80).collect(),
        source,
    })?;
    let config = store
        .tenant_config(key.as_str())
        .ok_or_else(|| TransferError::UnknownTenant {
            tenant: key.clone(),
        })?;
    let unsupported = |reason| TransferError::Unsupported {
        tenant: key.clone(),
        place: place_of(&config),
        reason,
    };
    let kind = match Place::of(&config) {
        Ok(Place::SqliteFile(_)) => TransferKind::SqliteFile,
        Ok(Place::Database {
            backend: DbBackend::Postgres,
            ..
        }) if !config.shares_server() => TransferKind::PostgresDatabase,
        Ok(Place::Database {
            backend: DbBackend::MySql,
            ..
        }) => TransferKind::MySqlDatabase,
        Ok(Place::Database { .. }) => return Err(unsupported("a database of another backend")),
        Ok(Place::Schema { .. }) => TransferKind::PostgresSchema,
        Ok(Place::Rows { .. }) => TransferKind::PostgresRows,
        Err(_) => return Err(unsupported("no file or database of its own")),
    };
    Ok((key, config, kind))
}

pub(super) fn place_of(config: &TenantConfig) -> String {
    Place::of(config).map_or_else(|_| redact_url(config.url()), |p| p.describe())
}
