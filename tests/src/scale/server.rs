//! The database server of the scenario: its kind and SQL dialect, an admin
//! pool on it, the count of its sessions on a set's databases, a probe
//! connection, and dropping databases a few at a time.

use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use sea_orm_tenant::sea_orm::sqlx::{self, Connection as _};
use sea_orm_tenant::sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr,
};

/// How long a probe connection may take before it counts as refused.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The kind of database server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// PostgreSQL (`TEST_POSTGRES_URL`).
    Postgres,
    /// MySQL or MariaDB (`TEST_MYSQL_URL`).
    MySql,
}

impl ServerKind {
    /// The environment variable naming the admin URL.
    pub fn env_var(self) -> &'static str {
        match self {
            Self::Postgres => "TEST_POSTGRES_URL",
            Self::MySql => "TEST_MYSQL_URL",
        }
    }

    pub(super) fn default_port(self) -> u16 {
        match self {
            Self::Postgres => 5432,
            Self::MySql => 3306,
        }
    }

    pub(super) fn quote(self, name: &str) -> String {
        match self {
            Self::Postgres => format!("\"{name}\""),
            Self::MySql => format!("`{name}`"),
        }
    }

    pub(super) fn drop_sql(self, name: &str) -> String {
        match self {
            Self::Postgres => format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.quote(name)),
            Self::MySql => format!("DROP DATABASE IF EXISTS {}", self.quote(name)),
        }
    }
}

/// A pool of at most `connections` connections to `url`, kept open (no idle
/// timeout, no maximum lifetime).
pub(super) async fn admin_pool(url: &str, connections: u32) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(connections)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false);
    Database::connect(options).await
}

/// Drops `names` on the server of `admin_url`, 8 at a time; failures are
/// printed as warnings.
pub(super) async fn drop_databases(kind: ServerKind, admin_url: &str, names: Vec<String>) {
    if names.is_empty() {
        return;
    }
    const AT_ONCE: usize = 8;
    let mut options = ConnectOptions::new(admin_url.to_owned());
    options
        .max_connections(AT_ONCE as u32)
        .acquire_timeout(Duration::from_secs(60))
        .sqlx_logging(false);
    let admin = match Database::connect(options).await {
        Ok(admin) => admin,
        Err(e) => {
            eprintln!(
                "warning: cannot connect to drop {} test databases ({}...): {e}",
                names.len(),
                names[0]
            );
            return;
        }
    };
    let failures: Vec<String> = stream::iter(names)
        .map(|name| {
            let admin = &admin;
            async move {
                admin
                    .execute_unprepared(&kind.drop_sql(&name))
                    .await
                    .err()
                    .map(|e| format!("{name}: {e}"))
            }
        })
        .buffer_unordered(AT_ONCE)
        .filter_map(|failure| async move { failure })
        .collect()
        .await;
    admin.close().await.ok();
    for failure in failures {
        eprintln!("warning: dropping a test database failed: {failure}");
    }
}

/// PostgreSQL: drops `roles` (after the databases they own).
pub(super) async fn drop_roles(admin_url: &str, roles: Vec<String>) {
    if roles.is_empty() {
        return;
    }
    match Database::connect(admin_url.to_owned()).await {
        Ok(admin) => {
            for role in roles {
                if let Err(e) = admin
                    .execute_unprepared(&format!("DROP ROLE IF EXISTS \"{role}\""))
                    .await
                {
                    eprintln!("warning: dropping test role {role} failed: {e}");
                }
            }
            admin.close().await.ok();
        }
        Err(e) => eprintln!("warning: cannot connect to drop test roles: {e}"),
    }
}

/// The `n` of `sql` (a `count(*) AS n`) run on `admin`.
pub(super) async fn count_sessions(admin: &DatabaseConnection, like: &str) -> Result<i64, DbErr> {
    sea_orm_tenant::testing::connected_sessions(admin, like).await
}

/// One plain connection opened, pinged and closed: how long it took, or why
/// it failed.
pub(super) async fn probe(kind: ServerKind, url: String) -> Result<Duration, String> {
    let started = Instant::now();
    let attempt = async {
        match kind {
            ServerKind::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&url).await?;
                conn.ping().await?;
                conn.close().await
            }
            ServerKind::MySql => {
                let mut conn = sqlx::MySqlConnection::connect(&url).await?;
                conn.ping().await?;
                conn.close().await
            }
        }
    };
    match tokio::time::timeout(PROBE_TIMEOUT, attempt).await {
        Ok(Ok(())) => Ok(started.elapsed()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no connection within {PROBE_TIMEOUT:?}")),
    }
}
