//! Real databases for tests (feature `testing`): SQLite files in a temporary
//! folder, and uniquely named databases on the PostgreSQL and MySQL/MariaDB
//! servers named by `TEST_POSTGRES_URL` and `TEST_MYSQL_URL`.
//!
//! [`TestDatabases::postgres_schemas`] puts each tenant in a schema of one
//! database of its own instead (schema tenants); [`TestRowDatabase`] is a
//! database for row tenants, with an ordinary role of its own.
//!
//! Without the variable, [`TestDatabases::postgres`] and [`TestDatabases::mysql`]
//! print a notice and return `None`, so test suites pass on a laptop with only Rust.
//! Databases are dropped by [`cleanup`](TestDatabases::cleanup), or on drop if a
//! test panicked first.

mod held;
mod median;
mod rows;
mod sockets;

pub use held::wait_until_held;
pub use median::median;
pub use rows::TestRowDatabase;
pub use sockets::{connected_sessions, established_tcp_ports};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};

use crate::config::TenantConfig;
use crate::schema::SchemaName;

/// The environment variable naming the PostgreSQL admin URL.
pub const POSTGRES_VAR: &str = "TEST_POSTGRES_URL";
/// The environment variable naming a second PostgreSQL server's admin URL
/// (tests of tenants on two servers).
pub const POSTGRES_2_VAR: &str = "TEST_POSTGRES_URL_2";
/// The environment variable naming the MySQL/MariaDB admin URL.
pub const MYSQL_VAR: &str = "TEST_MYSQL_URL";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A set of throw-away databases on one backend.
pub struct TestDatabases {
    backend: DbBackend,
    admin_url: Option<String>,
    dir: tempfile::TempDir,
    prefix: String,
    created: Vec<String>,
    /// Tenants are schemas of one database (named `prefix`).
    schemas: bool,
    /// Tenants are MySQL databases sharing their server's connections.
    shared_server: bool,
}

impl std::fmt::Debug for TestDatabases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDatabases")
            .field("backend", &self.backend)
            .field("prefix", &self.prefix)
            .field("created", &self.created)
            .field("schemas", &self.schemas)
            .field("shared_server", &self.shared_server)
            .finish()
    }
}

impl TestDatabases {
    fn new(backend: DbBackend, admin_url: Option<String>) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let prefix = format!(
            "sot_{}_{}_{}",
            std::process::id(),
            nanos % 100_000,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        Self {
            backend,
            admin_url,
            dir: tempfile::tempdir().expect("create a temporary directory"),
            prefix,
            created: Vec::new(),
            schemas: false,
            shared_server: false,
        }
    }

    /// Database tenants on the MySQL/MariaDB server of `TEST_MYSQL_URL`
    /// sharing its connections ([`TenantConfig::sharing_server`]), or `None`
    /// (with a notice).
    pub fn mysql_shared() -> Option<Self> {
        Self::mysql().map(|mut dbs| {
            dbs.shared_server = true;
            dbs
        })
    }

    /// Whether tenants share their server's connections.
    pub fn is_shared_server(&self) -> bool {
        self.shared_server
    }

    /// Schema tenants on the PostgreSQL server of `TEST_POSTGRES_URL`: one
    /// database of their own, a schema per tenant. `None` (with a notice) without it.
    pub fn postgres_schemas() -> Option<Self> {
        Self::postgres().map(|mut dbs| {
            dbs.schemas = true;
            dbs
        })
    }

    /// Schema tenants on the PostgreSQL server of the variable `var` (a second
    /// server, say), or `None` with a notice.
    pub fn postgres_schemas_from(var: &str) -> Option<Self> {
        Self::from_env(DbBackend::Postgres, var).map(|mut dbs| {
            dbs.schemas = true;
            dbs
        })
    }

    /// Database tenants on the PostgreSQL server of the variable `var` (a
    /// second server, say), or `None` with a notice.
    pub fn postgres_from(var: &str) -> Option<Self> {
        Self::from_env(DbBackend::Postgres, var)
    }

    /// Whether tenants are schemas of one database.
    pub fn is_schemas(&self) -> bool {
        self.schemas
    }

    /// The schema of `tenant` (schema tenants): `s_` and the name.
    pub fn schema_name(&self, tenant: &str) -> String {
        format!("s_{tenant}")
    }

    /// The configuration `tenant` is registered with: its database's URL, and
    /// for schema tenants its schema.
    pub fn config(&self, tenant: &str) -> TenantConfig {
        let config = TenantConfig::new(self.url(tenant));
        if self.shared_server {
            return config.sharing_server();
        }
        match (self.schemas, SchemaName::new(&self.schema_name(tenant))) {
            (true, Ok(schema)) => config.in_schema(schema),
            _ => config,
        }
    }

    /// Creates `tenant`'s database (or schema) and returns its configuration.
    pub async fn create_config(&mut self, tenant: &str) -> TenantConfig {
        self.create(tenant).await;
        self.config(tenant)
    }

    /// SQLite files in a fresh temporary folder.
    pub fn sqlite() -> Self {
        Self::new(DbBackend::Sqlite, None)
    }

    /// Databases on the PostgreSQL server of `TEST_POSTGRES_URL`, or `None` (with a notice).
    pub fn postgres() -> Option<Self> {
        Self::from_env(DbBackend::Postgres, POSTGRES_VAR)
    }

    /// Databases on the MySQL/MariaDB server of `TEST_MYSQL_URL`, or `None` (with a notice).
    pub fn mysql() -> Option<Self> {
        Self::from_env(DbBackend::MySql, MYSQL_VAR)
    }

    /// SQLite, plus PostgreSQL and MySQL when their variables are set.
    pub fn all() -> Vec<Self> {
        [Some(Self::sqlite()), Self::postgres(), Self::mysql()]
            .into_iter()
            .flatten()
            .collect()
    }

    fn from_env(backend: DbBackend, var: &str) -> Option<Self> {
        match std::env::var(var) {
            Ok(url) if !url.is_empty() => Some(Self::new(backend, Some(url))),
            _ => {
                eprintln!("notice: {var} is not set; skipping the {backend:?} part of this test");
                None
            }
        }
    }

    /// The backend.
    pub fn backend(&self) -> DbBackend {
        self.backend
    }

    /// The temporary folder (SQLite files live here).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The prefix of every database name this set creates.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The physical database name used for `tenant`.
    pub fn database_name(&self, tenant: &str) -> String {
        format!("{}_{}", self.prefix, tenant.replace('-', "_"))
    }

    /// The path of `tenant`'s SQLite file.
    pub fn sqlite_path(&self, tenant: &str) -> PathBuf {
        self.dir.path().join(format!("{tenant}.db"))
    }

    /// The URL `tenant`'s database will have, without creating it.
    pub fn url(&self, tenant: &str) -> String {
        if self.schemas {
            return self.server_url(&self.prefix);
        }
        match self.backend {
            DbBackend::Sqlite => {
                format!("sqlite://{}?mode=rwc", self.sqlite_path(tenant).display())
            }
            _ => self.server_url(&self.database_name(tenant)),
        }
    }

    /// A URL with `{tenant}` where the tenant's name goes, for tenants created
    /// at runtime (a provisioner's placement): the same database names as
    /// [`url`](Self::url) gives, so [`connect_direct`](Self::connect_direct)
    /// and [`existing`](Self::existing) see them, and [`cleanup`](Self::cleanup)
    /// drops them.
    pub fn url_template(&self) -> String {
        const MARK: &str = "tenantplaceholder";
        self.url(MARK).replace(MARK, "{tenant}")
    }

    fn server_url(&self, database: &str) -> String {
        let admin = self
            .admin_url
            .as_deref()
            .expect("server backend has an admin URL");
        let mut url = url::Url::parse(admin).expect("admin URL parses");
        url.set_path(&format!("/{database}"));
        url.to_string()
    }

    /// A connection to the server's admin database (servers only).
    pub async fn admin(&self) -> DatabaseConnection {
        let url = self
            .admin_url
            .as_deref()
            .expect("server backend has an admin URL");
        Database::connect(url)
            .await
            .expect("connect to the test server")
    }

    /// Creates `tenant`'s database (empty) and returns its URL. Schema
    /// tenants: creates the shared database once, then `tenant`'s schema in it.
    pub async fn create(&mut self, tenant: &str) -> String {
        if self.schemas {
            if self.created.is_empty() {
                let admin = self.admin().await;
                let quoted = self.quote(&self.prefix);
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {quoted}"))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                self.created.push(self.prefix.clone());
            }
            let conn = Database::connect(self.url(tenant))
                .await
                .expect("connect to the schema database");
            let quoted = self.quote(&self.schema_name(tenant));
            conn.execute_unprepared(&format!("CREATE SCHEMA {quoted}"))
                .await
                .expect("create test schema");
            conn.close().await.ok();
            return self.url(tenant);
        }
        if self.backend != DbBackend::Sqlite {
            let name = self.database_name(tenant);
            let admin = self.admin().await;
            let quoted = self.quote(&name);
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {quoted}"))
                .await
                .expect("drop stale test database");
            admin
                .execute_unprepared(&format!("CREATE DATABASE {quoted}"))
                .await
                .expect("create test database");
            admin.close().await.ok();
            self.created.push(name);
        }
        self.url(tenant)
    }

    /// Creates one database per name and returns `(name, url)` pairs.
    pub async fn create_many(&mut self, tenants: &[String]) -> Vec<(String, String)> {
        let mut out = Vec::with_capacity(tenants.len());
        for t in tenants {
            out.push((t.clone(), self.create(t).await));
        }
        out
    }

    /// A plain connection to `tenant`'s database, bypassing any router: for
    /// checking what really landed where.
    pub async fn connect_direct(&self, tenant: &str) -> DatabaseConnection {
        let mut options = ConnectOptions::new(self.url(tenant).replace("?mode=rwc", "?mode=rw"));
        if self.schemas {
            options.set_schema_search_path(self.quote(&self.schema_name(tenant)));
        }
        Database::connect(options)
            .await
            .expect("connect directly to the tenant database")
    }

    /// Names of the databases on the server (or files in the folder) that start
    /// with `prefix`: for proving that nothing was created.
    pub async fn existing(&self) -> Vec<String> {
        if self.schemas {
            if self.created.is_empty() {
                return Vec::new();
            }
            let conn = Database::connect(self.url("")).await.expect("connect");
            let rows = conn
                .query_all_raw(sea_orm::Statement::from_string(
                    DbBackend::Postgres,
                    "SELECT nspname AS name FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname NOT IN ('public', 'information_schema')",
                ))
                .await
                .expect("list schemas");
            conn.close().await.ok();
            return rows
                .iter()
                .filter_map(|r| r.try_get::<String>("", "name").ok())
                .collect();
        }
        match self.backend {
            DbBackend::Sqlite => std::fs::read_dir(self.dir.path())
                .map(|rd| {
                    rd.filter_map(|e| e.ok())
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default(),
            backend => {
                let admin = self.admin().await;
                let sql = match backend {
                    DbBackend::Postgres => format!(
                        "SELECT datname AS name FROM pg_database WHERE datname LIKE '{}%'",
                        self.prefix
                    ),
                    _ => format!(
                        "SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '{}%'",
                        self.prefix
                    ),
                };
                let rows = admin
                    .query_all_raw(sea_orm::Statement::from_string(backend, sql))
                    .await
                    .expect("list databases");
                admin.close().await.ok();
                rows.iter()
                    .filter_map(|r| r.try_get::<String>("", "name").ok())
                    .collect()
            }
        }
    }

    fn quote(&self, name: &str) -> String {
        match self.backend {
            DbBackend::MySql => format!("`{name}`"),
            _ => format!("\"{name}\""),
        }
    }

    fn drop_sql(&self) -> Vec<String> {
        self.created
            .iter()
            .map(|n| match self.backend {
                DbBackend::Postgres => {
                    format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.quote(n))
                }
                _ => format!("DROP DATABASE IF EXISTS {}", self.quote(n)),
            })
            .collect()
    }

    /// Drops every database this set created, and every database with its
    /// prefix (made by the code under test).
    pub async fn cleanup(mut self) {
        if self.backend != DbBackend::Sqlite && !self.schemas {
            for name in self.existing().await {
                if !self.created.contains(&name) {
                    self.created.push(name);
                }
            }
        }
        let statements = self.drop_sql();
        self.created.clear();
        if statements.is_empty() {
            return;
        }
        let admin = self.admin().await;
        for sql in statements {
            if let Err(err) = admin.execute_unprepared(&sql).await {
                eprintln!("warning: test cleanup failed: {err}");
            }
        }
        admin.close().await.ok();
    }
}

impl Drop for TestDatabases {
    fn drop(&mut self) {
        let statements = self.drop_sql();
        if statements.is_empty() {
            return;
        }
        let url = self.admin_url.clone().unwrap_or_default();
        // A test that panicked before `cleanup`: drop its databases from a thread
        // with its own runtime, since we may be inside a runtime here.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime for cleanup");
            rt.block_on(async move {
                if let Ok(admin) = Database::connect(url).await {
                    for sql in statements {
                        let _ = admin.execute_unprepared(&sql).await;
                    }
                    let _ = admin.close().await;
                }
            });
        })
        .join();
    }
}
