//! MySQL/MariaDB database tenants, with a pool of their own or sharing their
//! server's: `mariadb-dump` (or `mysqldump`) of the tenant's database, and
//! the `mariadb` (or `mysql`) client to load it into another.
//!
//! The dump names no database (no `CREATE DATABASE`, no `USE`), so it loads
//! into any. It is SQL, run by the client as the tenant URL's user: import
//! only a file `tenant export` wrote. MySQL cannot make DDL transactional: an
//! import that fails part-way is undone by dropping what it made, since the
//! target held nothing before it started.

use std::path::Path;
use std::process::Command;

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sea_orm_tenant::{TenantConfig, TenantConnections, TenantKey, TenantSession, redact_url};

use super::error::{TransferError, db_err, io_err};
use super::tool::{file_arg, plain_path, run_tool};
use crate::lifecycle::{Background, Place};
use crate::login::Login;
use crate::quote::mysql_ident;

/// How the client tools reach a tenant's database.
pub(super) struct MySqlTarget {
    host: String,
    port: u16,
    user: Option<String>,
    password: Option<String>,
    /// The tenant's database.
    pub(super) database: String,
    /// The server's URL on no database.
    server_url: String,
}

impl MySqlTarget {
    pub(super) fn of(key: &TenantKey, config: &TenantConfig) -> Result<Self, TransferError> {
        let unsupported = |reason| TransferError::Unsupported {
            tenant: key.clone(),
            place: redact_url(config.url()),
            reason,
        };
        let Ok(Place::Database {
            backend: DbBackend::MySql,
            server_url,
            name,
        }) = Place::of(config)
        else {
            return Err(unsupported("not a MySQL/MariaDB database"));
        };
        let parsed =
            url::Url::parse(&server_url).map_err(|_| unsupported("the URL does not parse"))?;
        let login = Login::of(&parsed, 3306);
        Ok(Self {
            host: login.host,
            port: login.port,
            user: login.user,
            password: login.password,
            database: name.as_str().to_owned(),
            server_url,
        })
    }

    /// `program` over TCP with the connection's arguments; the password only
    /// in `MYSQL_PWD`.
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.arg("--protocol=tcp")
            .arg(format!("--host={}", self.host))
            .arg(format!("--port={}", self.port));
        if let Some(user) = &self.user {
            cmd.arg(format!("--user={user}"));
        }
        match &self.password {
            Some(password) => cmd.env("MYSQL_PWD", password),
            None => cmd.env_remove("MYSQL_PWD"),
        };
        cmd.stdin(std::process::Stdio::null());
        cmd
    }

    /// Runs the first of `tools` that is installed (MariaDB's name, then
    /// MySQL's), with `args`.
    async fn run(
        &self,
        tools: [&'static str; 2],
        args: impl Fn(&mut Command) -> Result<(), TransferError>,
    ) -> Result<(), TransferError> {
        let mut last = None;
        for tool in tools {
            let mut cmd = self.command(tool);
            args(&mut cmd)?;
            match run_tool(cmd, tool, &self.server_url).await {
                Err(TransferError::ToolMissing { .. }) => last = Some(tool),
                done => return done.map(|_| ()),
            }
        }
        Err(TransferError::ToolMissing {
            tool: last.unwrap_or(tools[0]),
        })
    }

    /// A session on the server (no database), counted in its budget.
    async fn session(
        &self,
        store: &TenantConnections,
        key: &TenantKey,
    ) -> Result<TenantSession, TransferError> {
        store
            .open_outside(&TenantConfig::new(&self.server_url), 1)
            .await
            .map_err(|e| db_err(key, "open", &e.to_string(), &self.server_url))
    }

    /// The tables and views of the tenant's database (at most five), or
    /// `Missing` when it does not exist.
    async fn objects(
        &self,
        session: &TenantSession,
        key: &TenantKey,
    ) -> Result<Vec<(String, String)>, TransferError> {
        let failed =
            |e: sea_orm::DbErr| db_err(key, "list tables", &e.to_string(), &self.server_url);
        let exists = session
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::MySql,
                "SELECT 1 AS found FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
                [self.database.clone().into()],
            ))
            .await
            .map_err(failed)?;
        if exists.is_none() {
            return Err(TransferError::Missing {
                tenant: key.clone(),
                place: format!("database {}", self.database),
            });
        }
        let rows = session
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::MySql,
                "SELECT CAST(TABLE_NAME AS CHAR) AS name, CAST(TABLE_TYPE AS CHAR) AS kind \
                 FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY 1",
                [self.database.clone().into()],
            ))
            .await
            .map_err(failed)?;
        Ok(rows
            .iter()
            .filter_map(|r| Some((r.try_get("", "name").ok()?, r.try_get("", "kind").ok()?)))
            .collect())
    }

    fn quoted(&self, name: &str) -> String {
        format!("{}.{}", mysql_ident(&self.database), mysql_ident(name))
    }
}

/// Dumps the tenant's database into `partial`.
pub(crate) async fn export_mysql(
    store: &TenantConnections,
    key: &TenantKey,
    config: &TenantConfig,
    partial: &Path,
) -> Result<(), TransferError> {
    let target = MySqlTarget::of(key, config)?;
    let session = target.session(store, key).await?;
    let found = target.objects(&session, key).await;
    session.close().await;
    found?;
    target
        .run(["mariadb-dump", "mysqldump"], |cmd| {
            cmd.args([
                "--single-transaction",
                "--routines",
                "--triggers",
                "--hex-blob",
                "--no-tablespaces",
            ])
            .arg(file_arg("--result-file=", partial))
            .arg("--")
            .arg(&target.database);
            Ok(())
        })
        .await
}

/// Loads `file` into the tenant's database, which exists and holds no table
/// or view; what a failed load made is dropped again.
pub(crate) async fn import_mysql(
    store: &TenantConnections,
    background: &Background,
    key: &TenantKey,
    config: &TenantConfig,
    file: &Path,
) -> Result<(), TransferError> {
    // The load runs on a task of its own: the client runs to its end
    // whatever the caller does, so a load that fails is undone even when
    // the caller went away (a dropped import lands whole or not at all).
    let (store, key, config, file) = (store.clone(), key.clone(), config.clone(), file.to_owned());
    let tenant = key.clone();
    background
        .spawn(async move { load_and_undo(&store, &key, &config, &file).await })
        .await
        .unwrap_or_else(|e| {
            Err(TransferError::Database {
                tenant,
                action: "import",
                reason: e.to_string(),
            })
        })
}

async fn load_and_undo(
    store: &TenantConnections,
    key: &TenantKey,
    config: &TenantConfig,
    file: &Path,
) -> Result<(), TransferError> {
    let target = MySqlTarget::of(key, config)?;
    let session = target.session(store, key).await?;
    let objects = match target.objects(&session, key).await {
        Ok(objects) => objects,
        Err(e) => {
            session.close().await;
            return Err(e);
        }
    };
    if !objects.is_empty() {
        session.close().await;
        return Err(TransferError::NotEmpty {
            tenant: key.clone(),
            place: format!("database {}", target.database),
            tables: objects.into_iter().take(5).map(|(name, _)| name).collect(),
        });
    }
    let loaded = target
        .run(["mariadb", "mysql"], |cmd| {
            let input =
                std::fs::File::open(plain_path(file)).map_err(|e| io_err("open", file, e))?;
            cmd.arg("--batch")
                .arg(format!("--database={}", target.database))
                .stdin(input);
            Ok(())
        })
        .await;
    if loaded.is_err() {
        undo_partial_load(&target, &session, key).await;
    }
    session.close().await;
    loaded
}

/// Drops every table, view and routine of the (previously empty) target.
async fn undo_partial_load(target: &MySqlTarget, session: &TenantSession, key: &TenantKey) {
    let Ok(objects) = target.objects(session, key).await else {
        return;
    };
    let mut statements = vec!["SET SESSION FOREIGN_KEY_CHECKS = 0".to_owned()];
    for (name, kind) in objects {
        let what = if kind == "VIEW" { "VIEW" } else { "TABLE" };
        statements.push(format!("DROP {what} IF EXISTS {}", target.quoted(&name)));
    }
    if let Ok(routines) = session
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::MySql,
            "SELECT CAST(ROUTINE_NAME AS CHAR) AS name, CAST(ROUTINE_TYPE AS CHAR) AS kind \
             FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?",
            [target.database.clone().into()],
        ))
        .await
    {
        for r in routines {
            if let (Ok(name), Ok(kind)) = (
                r.try_get::<String>("", "name"),
                r.try_get::<String>("", "kind"),
            ) {
                let what = if kind == "FUNCTION" {
                    "FUNCTION"
                } else {
                    "PROCEDURE"
                };
                statements.push(format!("DROP {what} IF EXISTS {}", target.quoted(&name)));
            }
        }
    }
    statements.push("SET SESSION FOREIGN_KEY_CHECKS = 1".to_owned());
    for sql in statements {
        if let Err(e) = session.execute_unprepared(&sql).await {
            tracing::warn!(tenant = %key, error = %e, "could not undo part of a failed import");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_goes_to_the_environment_only() {
        let config = TenantConfig::new("mysql://app:p%40ss@db.example:3307/t_acme");
        let key = TenantKey::new("acme").unwrap();
        let target = MySqlTarget::of(&key, &config).unwrap();
        let cmd = target.command("mariadb-dump");
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
        assert!(args.contains(&"--port=3307".to_owned()), "{args:?}");
        assert!(args.contains(&"--user=app".to_owned()), "{args:?}");
        assert!(
            cmd.get_envs()
                .any(|(k, v)| k == "MYSQL_PWD" && v == Some(std::ffi::OsStr::new("p@ss")))
        );
        assert_eq!(target.database, "t_acme");
    }
}
