//! A PostgreSQL archive for a schema of another name: a schema tenant's
//! export into a schema tenant whose schema is named differently, a database
//! tenant's (its `public` schema) into a schema tenant, or a schema tenant's
//! into a database tenant's `public`.
//!
//! `pg_restore` cannot rename a schema: the name is written into every
//! statement of the archive. So the archive is restored into a scratch
//! database on the target's server, the schema renamed there, and dumped
//! again (`--schema` of the new name); the scratch database is dropped
//! whatever happens, also when the import is cancelled. The user of the
//! target's URL needs `CREATEDB`.
//!
//! A database archive with relations in a schema other than `public` is
//! refused for a schema tenant: a schema cannot hold them.

use std::path::Path;

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sea_orm_tenant::{TenantConfig, TenantConnections, TenantKey};

use super::error::{TransferError, db_err, io_err};
use super::postgres::PgTarget;
use super::tool::{file_arg, plain_path, run_tool};
use crate::lifecycle::Background;

/// A database tenant's schema.
pub(super) const DATABASE_SCHEMA: &str = "public";

/// The archive `file`, whose schema is `from`, made again for schema `to`,
/// in a temporary file.
pub(super) async fn renamed_archive(
    store: &TenantConnections,
    background: &Background,
    key: &TenantKey,
    config: &TenantConfig,
    file: &Path,
    from: &str,
    to: &str,
) -> Result<tempfile::NamedTempFile, TransferError> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let scratch_name = format!("sot_import_{}_{nanos}", std::process::id());
    let server = with_database(config.url(), "postgres").ok_or(TransferError::Unsupported {
        tenant: key.clone(),
        place: sea_orm_tenant::redact_url(config.url()),
        reason: "the URL does not parse",
    })?;
    let sql = |action: &'static str| {
        let url = config.url().to_owned();
        move |e: sea_orm::DbErr| db_err(key, action, &e.to_string(), &url)
    };
    let admin = store
        .open_outside(&TenantConfig::new(&server), 1)
        .await
        .map_err(|e| db_err(key, "open", &e.to_string(), config.url()))?;
    let created = admin
        .execute_unprepared(&format!("CREATE DATABASE \"{scratch_name}\""))
        .await
        .map_err(sql("create a scratch database"));
    admin.close().await;
    created?;
    let scratch = Scratch {
        store: store.clone(),
        background: background.clone(),
        server: server.clone(),
        name: Some(scratch_name.clone()),
    };
    let made = remake(store, key, config, file, from, to, &scratch_name).await;
    scratch.drop_now().await;
    made
}

async fn remake(
    store: &TenantConnections,
    key: &TenantKey,
    config: &TenantConfig,
    file: &Path,
    from: &str,
    to: &str,
    scratch: &str,
) -> Result<tempfile::NamedTempFile, TransferError> {
    let url = config.url();
    let mut pg = PgTarget::of(key, config)?;
    pg.database = scratch.to_owned();
    let mut restore = pg.command("pg_restore");
    restore
        .args(["--no-owner", "--single-transaction", "--exit-on-error"])
        .arg(format!("--dbname={scratch}"))
        .arg(plain_path(file));
    run_tool(restore, "pg_restore", url).await?;

    let scratch_url = with_database(url, scratch).unwrap_or_default();
    let session = store
        .open_outside(&TenantConfig::new(&scratch_url), 1)
        .await
        .map_err(|e| db_err(key, "open", &e.to_string(), url))?;
    let renamed = rename(&session, from, to).await;
    session.close().await;
    match renamed {
        Err(e) => return Err(db_err(key, "rename the schema", &e.to_string(), url)),
        Ok(Some(other)) => {
            return Err(TransferError::Unsupported {
                tenant: key.clone(),
                place: format!("schema {to}"),
                reason: if other.is_empty() {
                    "the archive does not hold the schema its manifest names"
                } else {
                    "the archive holds relations in more than one schema, which one schema cannot take"
                },
            });
        }
        Ok(None) => {}
    }

    let out = tempfile::NamedTempFile::new()
        .map_err(|source| io_err("create", &std::env::temp_dir(), source))?;
    let mut dump = pg.command("pg_dump");
    dump.arg("--format=custom")
        .arg(file_arg("--file=", out.path()))
        .arg(format!("--schema=\"{to}\""))
        .arg(format!("--dbname={scratch}"));
    run_tool(dump, "pg_dump", url).await?;
    Ok(out)
}

/// Renames schema `from` to `to` in the scratch database; `Some(schema)`
/// when another schema holds relations (`Some("")` when `from` is missing).
async fn rename(
    session: &sea_orm_tenant::TenantSession,
    from: &str,
    to: &str,
) -> Result<Option<String>, sea_orm::DbErr> {
    let others = session
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT DISTINCT n.nspname::text AS name FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname <> $1 AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
             AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'",
            [from.into()],
        ))
        .await?;
    if let Some(other) = others.first() {
        return Ok(Some(other.try_get("", "name")?));
    }
    let exists = session
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT 1 AS found FROM pg_catalog.pg_namespace WHERE nspname = $1",
            [from.into()],
        ))
        .await?;
    if exists.is_none() {
        return Ok(Some(String::new()));
    }
    let quote = crate::quote::ident;
    if from != to {
        if to == DATABASE_SCHEMA {
            // The scratch database's own, empty `public` makes way.
            session
                .execute_unprepared(&format!("DROP SCHEMA IF EXISTS {}", quote(to)))
                .await?;
        }
        session
            .execute_unprepared(&format!(
                "ALTER SCHEMA {} RENAME TO {}",
                quote(from),
                quote(to)
            ))
            .await?;
    }
    Ok(None)
}

/// `url` with its path set to `database`.
fn with_database(url: &str, database: &str) -> Option<String> {
    let mut parsed = url::Url::parse(url).ok()?;
    parsed.set_path(&format!("/{database}"));
    Some(parsed.to_string())
}

/// The scratch database: dropped by [`Scratch::drop_now`], or, when the
/// import is cancelled first, by a task spawned on drop.
struct Scratch {
    store: TenantConnections,
    background: Background,
    server: String,
    name: Option<String>,
}

impl Scratch {
    async fn drop_now(mut self) {
        if let Some(name) = self.name.take() {
            drop_database(&self.store, &self.server, &name).await;
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(name) = self.name.take() {
            let (store, server) = (self.store.clone(), self.server.clone());
            self.background
                .spawn_from_drop(async move { drop_database(&store, &server, &name).await });
        }
    }
}

async fn drop_database(store: &TenantConnections, server: &str, name: &str) {
    let dropped = match store.open_outside(&TenantConfig::new(server), 1).await {
        Ok(admin) => {
            let done = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await;
            admin.close().await;
            done.map(|_| ()).map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    };
    if let Err(error) = dropped {
        tracing::warn!(database = name, error = %sea_orm_tenant::scrub(&error, server), "could not drop an import's scratch database");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_on_another_database() {
        assert_eq!(
            with_database("postgres://u:p@h:5433/app?sslmode=disable", "postgres").as_deref(),
            Some("postgres://u:p@h:5433/postgres?sslmode=disable")
        );
        assert_eq!(with_database("not a url", "postgres"), None);
    }
}
