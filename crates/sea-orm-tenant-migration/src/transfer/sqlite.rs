//! SQLite file tenants: import of a `VACUUM INTO` copy.

use std::path::Path;

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sea_orm_tenant::{TenantConfig, TenantConnections, TenantKey};

use super::error::{TransferError, db_err, io_err};
use super::files::{partial_path, remove_if_exists};
use super::place_of;

pub(super) async fn import_sqlite(
    store: &TenantConnections,
    key: &TenantKey,
    config: &TenantConfig,
    file: &Path,
) -> Result<(), TransferError> {
    let Some(target) = config.sqlite_path() else {
        return Err(TransferError::Unsupported {
            tenant: key.clone(),
            place: place_of(config),
            reason: "an in-memory database has no file",
        });
    };
    if store
        .connection_now(key.as_str())
        .is_some_and(|r| r.is_ok())
    {
        return Err(TransferError::InUse {
            tenant: key.clone(),
        });
    }
    if target.exists() {
        let tables = sqlite_tables(key, &target).await?;
        if !tables.is_empty() {
            return Err(TransferError::NotEmpty {
                tenant: key.clone(),
                place: place_of(config),
                tables,
            });
        }
    } else if let Some(folder) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder).map_err(|source| io_err("create", folder, source))?;
    }
    let partial = partial_path(&target);
    std::fs::copy(file, &partial).map_err(|source| io_err("copy into", &partial, source))?;
    if let Err(source) = std::fs::File::open(&partial).and_then(|f| f.sync_all()) {
        let _ = std::fs::remove_file(&partial);
        return Err(io_err("sync", &partial, source));
    }
    // The empty database's journal files would be applied to the new file.
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut side = target.as_os_str().to_owned();
        side.push(suffix);
        remove_if_exists(Path::new(&side))?;
    }
    std::fs::rename(&partial, &target).map_err(|source| {
        let _ = std::fs::remove_file(&partial);
        io_err("rename", &partial, source)
    })
}

/// The tables in a SQLite file, opened read-only on a connection of its own.
pub(super) async fn sqlite_tables(
    key: &TenantKey,
    path: &Path,
) -> Result<Vec<String>, TransferError> {
    let url = format!("sqlite://{}?mode=ro", path.display());
    let err = |action, e: sea_orm::DbErr| db_err(key, action, &e.to_string(), &url);
    let db = sea_orm::Database::connect(&url)
        .await
        .map_err(|e| err("open", e))?;
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') \
             AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name LIMIT 5",
        ))
        .await
        .map_err(|e| err("list tables", e));
    let _ = db.close().await;
    Ok(rows?
        .iter()
        .filter_map(|r| r.try_get::<String>("", "name").ok())
        .collect())
}
