//! The faults a soak injects, each undone by itself, and the tenants each
//! affects. Every injection opens connections of its own, so it works while
//! the app's connections are being killed and the servers restarted.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use sea_orm_tenant::sea_orm::{ConnectionTrait, Database, DbBackend, Statement};

/// How long a fault that is held (an unavailable database, a locked file) lasts.
pub const HOLD: Duration = Duration::from_secs(3);

/// A fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    /// `pg_terminate_backend` on one tenant database's sessions.
    PgKillOneTenant,
    /// `pg_terminate_backend` on every session of the app's PostgreSQL databases.
    PgKillAll,
    /// `KILL` on every session of the app's MariaDB databases.
    MysqlKillAll,
    /// One PostgreSQL tenant database refuses connections (`ALLOW_CONNECTIONS
    /// false`, its sessions ended) for [`HOLD`], then accepts them again.
    PgDatabaseUnavailable,
    /// One SQLite tenant's file held under an exclusive lock by another
    /// connection for [`HOLD`].
    SqliteLocked,
    /// `pg_ctlcluster ... restart` of the PostgreSQL server.
    PgRestart,
    /// MariaDB shut down and started again.
    MysqlRestart,
}

impl Fault {
    /// The name shown in the report.
    pub fn name(self) -> &'static str {
        match self {
            Self::PgKillOneTenant => "pg-kill-one-tenant",
            Self::PgKillAll => "pg-kill-all",
            Self::MysqlKillAll => "mysql-kill-all",
            Self::PgDatabaseUnavailable => "pg-database-unavailable",
            Self::SqliteLocked => "sqlite-locked",
            Self::PgRestart => "pg-restart",
            Self::MysqlRestart => "mysql-restart",
        }
    }
}

/// Where the soak's tenants live, as the faults need it.
#[derive(Debug, Clone)]
pub struct Targets {
    /// The PostgreSQL admin URL, if PostgreSQL tenants run.
    pub pg_admin: Option<String>,
    /// The prefix of every PostgreSQL database of the soak.
    pub pg_prefix: String,
    /// The MariaDB admin URL, if MariaDB tenants run.
    pub mysql_admin: Option<String>,
    /// The prefix of every MariaDB database of the soak.
    pub mysql_prefix: String,
}

/// What a fault targets: the database name (PostgreSQL) or file (SQLite) of
/// the tenant it is about, when it is about one.
#[derive(Debug, Clone)]
pub enum Target {
    /// The whole server(s).
    Server,
    /// A PostgreSQL database.
    PgDatabase(String),
    /// A SQLite file.
    SqliteFile(PathBuf),
}

/// Injects `fault` and undoes it; returns when the fault is over (the server
/// accepting connections again for a restart), or the error of a failed injection.
pub async fn inject(fault: Fault, target: &Target, targets: &Targets) -> Result<(), String> {
    match (fault, target) {
        (Fault::PgKillOneTenant, Target::PgDatabase(db)) => {
            pg_terminate(targets, &format!("datname = '{db}'")).await
        }
        (Fault::PgKillAll, _) => {
            let pattern = targets.pg_prefix.replace('_', "\\_");
            pg_terminate(targets, &format!("datname LIKE '{pattern}%'")).await
        }
        (Fault::MysqlKillAll, _) => mysql_kill_all(targets).await,
        (Fault::PgDatabaseUnavailable, Target::PgDatabase(db)) => {
            pg_execute(
                targets,
                &format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS false"),
            )
            .await?;
            pg_terminate(targets, &format!("datname = '{db}'")).await?;
            tokio::time::sleep(HOLD).await;
            pg_execute(
                targets,
                &format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS true"),
            )
            .await
        }
        (Fault::SqliteLocked, Target::SqliteFile(path)) => {
            let url = format!("sqlite://{}?mode=rw", path.display());
            let conn = Database::connect(url).await.map_err(|e| e.to_string())?;
            conn.execute_unprepared("BEGIN EXCLUSIVE")
                .await
                .map_err(|e| e.to_string())?;
            tokio::time::sleep(HOLD).await;
            conn.execute_unprepared("ROLLBACK")
                .await
                .map_err(|e| e.to_string())?;
            conn.close().await.map_err(|e| e.to_string())
        }
        (Fault::PgRestart, _) => {
            let version = std::fs::read_dir("/etc/postgresql")
                .ok()
                .and_then(|mut d| d.next())
                .and_then(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .ok_or("no /etc/postgresql/<version>")?;
            run(Command::new("pg_ctlcluster").args([
                "--skip-systemctl-redirect",
                &version,
                "main",
                "restart",
            ]))
            .await?;
            wait_until_up(|| pg_execute(targets, "SELECT 1")).await
        }
        (Fault::MysqlRestart, _) => {
            run(Command::new("mariadb-admin").args([
                "--protocol=tcp",
                "-h",
                "127.0.0.1",
                "-P",
                "3306",
                "-u",
                "root",
                "shutdown",
            ]))
            .await?;
            // `shutdown` returns before the server has exited; starting it
            // again meanwhile would find it still running and do nothing.
            wait_until_up(|| async {
                match mysql_running().await {
                    true => Err("still running".to_owned()),
                    false => Ok(()),
                }
            })
            .await?;
            run(Command::new("start-stop-daemon").args([
                "--start",
                "--oknodo",
                "--background",
                "--exec",
                "/usr/sbin/mariadbd",
            ]))
            .await?;
            wait_until_up(|| mysql_execute(targets, "SELECT 1")).await
        }
        (fault, target) => Err(format!("{} cannot target {target:?}", fault.name())),
    }
}

/// Whether a `mariadbd` process runs (`start-stop-daemon --status`: 0 running, 3 not).
async fn mysql_running() -> bool {
    tokio::task::spawn_blocking(|| {
        Command::new("start-stop-daemon")
            .args(["--status", "--exec", "/usr/sbin/mariadbd"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

async fn wait_until_up<F, Fut>(probe: F) -> Result<(), String>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match probe().await {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() > deadline => return Err(format!("not back after 60 s: {e}")),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn run(cmd: &mut Command) -> Result<(), String> {
    let program = format!("{cmd:?}");
    let mut cmd = std::mem::replace(cmd, Command::new("true"));
    let output = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("{program}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

async fn pg_execute(targets: &Targets, sql: &str) -> Result<(), String> {
    let url = targets.pg_admin.as_deref().ok_or("no PostgreSQL")?;
    let conn = Database::connect(url).await.map_err(|e| e.to_string())?;
    let result = conn.execute_unprepared(sql).await.map(drop);
    conn.close().await.ok();
    result.map_err(|e| e.to_string())
}

async fn pg_terminate(targets: &Targets, condition: &str) -> Result<(), String> {
    pg_execute(
        targets,
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE {condition} AND pid <> pg_backend_pid()"
        ),
    )
    .await
}

async fn mysql_execute(targets: &Targets, sql: &str) -> Result<(), String> {
    let url = targets.mysql_admin.as_deref().ok_or("no MariaDB")?;
    let conn = Database::connect(url).await.map_err(|e| e.to_string())?;
    let result = conn.execute_unprepared(sql).await.map(drop);
    conn.close().await.ok();
    result.map_err(|e| e.to_string())
}

async fn mysql_kill_all(targets: &Targets) -> Result<(), String> {
    let url = targets.mysql_admin.as_deref().ok_or("no MariaDB")?;
    let conn = Database::connect(url).await.map_err(|e| e.to_string())?;
    let pattern = targets.mysql_prefix.replace('_', "\\_");
    let rows = conn
        .query_all_raw(Statement::from_string(
            DbBackend::MySql,
            format!(
                "SELECT id FROM information_schema.processlist \
                 WHERE db LIKE '{pattern}%' AND id <> CONNECTION_ID()"
            ),
        ))
        .await
        .map_err(|e| e.to_string())?;
    for row in rows {
        let id: i64 = row
            .try_get::<i64>("", "id")
            .or_else(|_| row.try_get::<u64>("", "id").map(|v| v as i64))
            .map_err(|e| e.to_string())?;
        // A session may end by itself meanwhile.
        let _ = conn.execute_unprepared(&format!("KILL {id}")).await;
    }
    conn.close().await.ok();
    Ok(())
}
