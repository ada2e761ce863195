//! PostgreSQL database and schema tenants: `pg_dump` and `pg_restore`.

use std::path::Path;
use std::process::Command;

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sea_orm_tenant::{TenantConfig, TenantConnections, TenantKey, redact_url};

use super::error::{TransferError, db_err, io_err};
use super::tool::{plain_path, run_tool};
use crate::lifecycle::{Place, Storage};
use crate::login::{Login, decode};

/// The relations (tables, views, sequences, ...) outside the system schemas.
pub(super) async fn pg_relations(
    store: &TenantConnections,
    key: &TenantKey,
    config: &TenantConfig,
    schema: Option<&str>,
) -> Result<Vec<String>, TransferError> {
    let conn = store
        .connection(key.as_str())
        .await
        .map_err(|e| db_err(key, "open", &e.to_string(), config.url()))?;
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT format('%I.%I', n.nspname, c.relname) AS name FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') \
             AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
             AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%' \
             AND ($1::text IS NULL OR n.nspname = $1) \
             ORDER BY 1 LIMIT 5",
            [schema.map(str::to_owned).into()],
        ))
        .await
        .map_err(|e| db_err(key, "list tables", &e.to_string(), config.url()))?;
    Ok(rows
        .iter()
        .filter_map(|r| r.try_get::<String>("", "name").ok())
        .collect())
}

/// The tenant's PostgreSQL database (or schema) exists.
pub(super) async fn ensure_exists(
    store: &TenantConnections,
    key: &TenantKey,
    config: &TenantConfig,
) -> Result<(), TransferError> {
    let place = Place::of(config).map_err(|_| TransferError::Unsupported {
        tenant: key.clone(),
        place: redact_url(config.url()),
        reason: "no database of its own",
    })?;
    let storage = Storage::new(store.clone());
    let exists = storage.exists(&place).await;
    storage.close().await;
    match exists {
        Ok(true) => Ok(()),
        Ok(false) => Err(TransferError::Missing {
            tenant: key.clone(),
            place: place.describe(),
        }),
        Err(e) => Err(db_err(key, "look up", &e.to_string(), config.url())),
    }
}

/// How `pg_dump` and `pg_restore` reach a tenant's database.
pub(super) struct PgTarget {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) user: Option<String>,
    pub(super) password: Option<String>,
    pub(super) sslmode: Option<String>,
    pub(super) database: String,
}

impl PgTarget {
    pub(super) fn of(key: &TenantKey, config: &TenantConfig) -> Result<Self, TransferError> {
        let url = config.url();
        let parsed = url::Url::parse(url).map_err(|_| TransferError::Unsupported {
            tenant: key.clone(),
            place: redact_url(url),
            reason: "the URL does not parse",
        })?;
        let database = decode(parsed.path().trim_start_matches('/'));
        let login = Login::of(&parsed, 5432);
        Ok(Self {
            host: login.host,
            port: login.port,
            user: login.user,
            password: login.password,
            sslmode: parsed
                .query_pairs()
                .find(|(k, _)| k == "sslmode")
                .map(|(_, v)| v.into_owned()),
            database,
        })
    }

    /// The program with the connection's arguments and environment; the
    /// password only in `PGPASSWORD`.
    pub(super) fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.arg("--no-password")
            .arg(format!("--host={}", self.host))
            .arg(format!("--port={}", self.port));
        if let Some(user) = &self.user {
            cmd.arg(format!("--username={user}"));
        }
        if let Some(password) = &self.password {
            cmd.env("PGPASSWORD", password);
        }
        if let Some(mode) = &self.sslmode {
            cmd.env("PGSSLMODE", mode);
        }
        cmd.stdin(std::process::Stdio::null());
        cmd
    }
}

/// `pg_restore --list` of `file` with the `SCHEMA` entries commented out, in
/// a temporary file.
pub(super) async fn restore_list_without_schema(
    pg: &PgTarget,
    file: &Path,
    url: &str,
) -> Result<tempfile::NamedTempFile, TransferError> {
    let mut cmd = pg.command("pg_restore");
    cmd.arg("--list").arg(plain_path(file));
    let listed = run_tool(cmd, "pg_restore", url).await?;
    let mut list = String::new();
    for line in String::from_utf8_lossy(&listed).lines() {
        // `ID; CATALOG OID SCHEMA - NAME OWNER`
        let words: Vec<&str> = line.split_whitespace().collect();
        if !line.starts_with(';') && words.get(3) == Some(&"SCHEMA") && words.get(4) == Some(&"-") {
            list.push(';');
        }
        list.push_str(line);
        list.push('\n');
    }
    let mut temp = tempfile::NamedTempFile::new()
        .map_err(|source| io_err("create", &std::env::temp_dir(), source))?;
    std::io::Write::write_all(&mut temp, list.as_bytes())
        .map_err(|source| io_err("write", &std::env::temp_dir(), source))?;
    Ok(temp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transfer::manifest_path;
    use std::path::PathBuf;

    #[test]
    fn password_goes_to_the_environment_only() {
        let config =
            TenantConfig::new("postgres://app:p%40ss@db.example:5433/t_acme?sslmode=require");
        let key = TenantKey::new("acme").unwrap();
        let pg = PgTarget::of(&key, &config).unwrap();
        let cmd = pg.command("pg_dump");
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(
            args.iter()
                .all(|a| !a.contains("p@ss") && !a.contains("p%40ss")),
            "{args:?}"
        );
        assert!(args.contains(&"--host=db.example".to_owned()), "{args:?}");
        assert!(args.contains(&"--port=5433".to_owned()), "{args:?}");
        assert!(args.contains(&"--username=app".to_owned()), "{args:?}");
        let env: Vec<_> = cmd.get_envs().collect();
        assert!(env.contains(&(
            std::ffi::OsStr::new("PGPASSWORD"),
            Some(std::ffi::OsStr::new("p@ss"))
        )));
        assert_eq!(pg.database, "t_acme");
    }

    #[test]
    fn manifest_beside_the_file() {
        assert_eq!(
            manifest_path(Path::new("/tmp/acme.dump")),
            PathBuf::from("/tmp/acme.dump.tenant.json")
        );
    }
}
