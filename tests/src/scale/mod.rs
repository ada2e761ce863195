//! The many-databases scenario shared by `tests/scale.rs` and `bench-scale`:
//! throw-away databases on one PostgreSQL or MariaDB server (created and dropped
//! a few at a time), a `tenants.toml` with a per-server connection budget, and a
//! background [`Sampler`] that counts the server's sessions on those databases
//! and checks that a plain new connection (what `psql` would open) still gets in.
//!
//! * `server`: the server's kind, its admin pool, counting sessions, probing;
//! * `sampler`: the background sampling;
//! * `rng`: the seeded generator the random tenant choices use;
//! * `schemas`: schema tenants' prefix and seeding, for the benchmarks;
//! * `zipf`: Zipf traffic over tenants (seeded rank order), for `bench-scale`;
//! * `ceiling`: the most requests/s the server's rate of new connections
//!   allows when tenants cannot share connections, for `bench-scale`;
//! * `store_counters`: the store's counters from notes-server's `/metrics`.

mod ceiling;
mod rng;
mod sampler;
mod schemas;
mod server;
mod store_counters;
mod zipf;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use sea_orm_tenant::sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr, Statement,
};

pub use ceiling::{Ceiling, tenants_open_at_most};
pub use rng::SplitMix64;
pub use sampler::{Sampler, SamplerReport};
pub use schemas::{SCHEMA_PREFIX, SchemaTenants, schema_tenants, seed_schema_notes};
pub use server::ServerKind;
use server::{admin_pool, count_sessions, drop_databases, drop_roles, probe};
pub use store_counters::StoreCounters;
pub use zipf::{ZIPF_EXPONENT, Zipf};

use crate::config::TenantsToml;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// `t000`, `t001`, ...: `count` tenant names of equal length, so that no name
/// followed by `:` is a prefix of another.
pub fn tenant_names(count: usize) -> Vec<String> {
    let width = count.saturating_sub(1).max(1).to_string().len().max(3);
    (0..count).map(|i| format!("t{i:0width$}")).collect()
}

/// Uniquely named throw-away databases on one server, one per tenant. Dropped by
/// [`drop_all`](Self::drop_all), or on drop (a test that panicked first).
#[derive(Debug)]
pub struct ServerDatabases {
    kind: ServerKind,
    admin_url: String,
    prefix: String,
    created: Vec<String>,
    /// Roles made by [`create_row_database`](Self::create_row_database),
    /// dropped after the databases they own.
    roles: Vec<String>,
}

impl ServerDatabases {
    /// Databases on the server of `TEST_POSTGRES_URL`, or `None` with a notice.
    pub fn postgres() -> Option<Self> {
        Self::from_env(ServerKind::Postgres)
    }

    /// Databases on the server of `TEST_MYSQL_URL`, or `None` with a notice.
    pub fn mysql() -> Option<Self> {
        Self::from_env(ServerKind::MySql)
    }

    fn from_env(kind: ServerKind) -> Option<Self> {
        match std::env::var(kind.env_var()) {
            Ok(url) if !url.is_empty() => Some(Self::new(kind, &url)),
            _ => {
                eprintln!(
                    "notice: {} is not set; skipping this {kind:?} test",
                    kind.env_var()
                );
                None
            }
        }
    }

    /// Databases on the server of `admin_url` (a URL naming an existing database
    /// the user may create databases from), with a prefix unique to this run.
    pub fn new(kind: ServerKind, admin_url: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let prefix = format!(
            "scale_{}_{}_{}",
            std::process::id(),
            nanos % 100_000,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        Self {
            kind,
            admin_url: admin_url.to_owned(),
            prefix,
            created: Vec::new(),
            roles: Vec::new(),
        }
    }

    /// The kind of server.
    pub fn kind(&self) -> ServerKind {
        self.kind
    }

    /// The admin URL.
    pub fn admin_url(&self) -> &str {
        &self.admin_url
    }

    /// The prefix of every database name this set creates.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The server as `host:port`, as written in the tenant URLs (the key of its
    /// `[servers."host:port"]` table).
    pub fn server_key(&self) -> String {
        let url = reqwest::Url::parse(&self.admin_url).expect("admin URL parses");
        format!(
            "{}:{}",
            url.host_str().expect("admin URL has a host"),
            url.port().unwrap_or(self.kind.default_port())
        )
    }

    /// The physical database name of `tenant`.
    pub fn database_name(&self, tenant: &str) -> String {
        format!("{}_{}", self.prefix, tenant.replace('-', "_"))
    }

    /// The URL of `tenant`'s database.
    pub fn url(&self, tenant: &str) -> String {
        let mut url = reqwest::Url::parse(&self.admin_url).expect("admin URL parses");
        url.set_path(&format!("/{}", self.database_name(tenant)));
        url.to_string()
    }

    /// A pool of at most `connections` connections to the admin database, kept
    /// open (no idle timeout) so that it keeps working when the server is full.
    pub async fn admin(&self, connections: u32) -> Result<DatabaseConnection, DbErr> {
        admin_pool(&self.admin_url, connections).await
    }

    /// Creates one empty database per tenant, `concurrency` at a time. Panics on
    /// failure; the databases are dropped on drop anyway.
    pub async fn create(&mut self, tenants: &[String], concurrency: usize) {
        let names: Vec<String> = tenants.iter().map(|t| self.database_name(t)).collect();
        // Recorded first: whatever happens next, drop removes them (IF EXISTS).
        self.created.extend(names.iter().cloned());
        let admin = self
            .admin(concurrency.max(1) as u32)
            .await
            .expect("connect to the test server");
        let kind = self.kind;
        let results: Vec<Result<(), String>> = stream::iter(names)
            .map(|name| {
                let admin = &admin;
                async move {
                    admin
                        .execute_unprepared(&format!("CREATE DATABASE {}", kind.quote(&name)))
                        .await
                        .map(drop)
                        .map_err(|e| format!("CREATE DATABASE {name}: {e}"))
                }
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        admin.close().await.ok();
        let failed: Vec<String> = results.into_iter().filter_map(Result::err).collect();
        assert!(failed.is_empty(), "creating databases failed: {failed:?}");
    }

    /// Creates one database (`{prefix}_schemas`) holding an empty schema
    /// `{schema_prefix}{tenant}` per tenant, created in batches of one
    /// multi-statement round trip each; returns the database's URL.
    pub async fn create_schema_database(
        &mut self,
        tenants: &[String],
        schema_prefix: &str,
    ) -> String {
        let name = self.database_name("schemas");
        self.created.push(name.clone());
        let admin = self.admin(1).await.expect("connect to the test server");
        admin
            .execute_unprepared(&format!("CREATE DATABASE {}", self.kind.quote(&name)))
            .await
            .expect("CREATE DATABASE for the schemas");
        admin.close().await.ok();
        let url = self.url("schemas");
        let db = admin_pool(&url, 1)
            .await
            .expect("connect to the schema database");
        for chunk in tenants.chunks(1_000) {
            let sql: Vec<String> = chunk
                .iter()
                .map(|t| format!("CREATE SCHEMA \"{schema_prefix}{t}\""))
                .collect();
            db.execute_unprepared(&sql.join(";"))
                .await
                .expect("CREATE SCHEMA batch");
        }
        db.close().await.ok();
        url
    }

    /// PostgreSQL: creates one database (`{prefix}_rows`) owned by an
    /// ordinary role of the same name (no superuser, no `BYPASSRLS`), as an
    /// app serving row tenants connects; returns the database's URL as that
    /// role ([`url`](Self::url)`("rows")` is the same database as the admin).
    pub async fn create_row_database(&mut self) -> String {
        let name = self.database_name("rows");
        let admin = self.admin(1).await.expect("connect to the test server");
        admin
            .execute_unprepared(&format!(
                "CREATE ROLE \"{name}\" LOGIN NOSUPERUSER NOBYPASSRLS"
            ))
            .await
            .expect("CREATE ROLE for the row database");
        self.roles.push(name.clone());
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\" OWNER \"{name}\""))
            .await
            .expect("CREATE DATABASE for the rows");
        self.created.push(name.clone());
        admin.close().await.ok();
        let mut url = reqwest::Url::parse(&self.url("rows")).expect("the admin URL parses");
        url.set_username(&name).expect("a URL with a host");
        url.set_password(None).expect("a URL with a host");
        url.to_string()
    }

    /// A `tenants.toml` listing `tenants` (databases made by [`create`](Self::create))
    /// with `[servers."host:port"] max_connections = budget`.
    pub fn tenants_toml(&self, tenants: &[String], budget: u32) -> TenantsToml {
        let mut toml = TenantsToml::new().server_option(
            &self.server_key(),
            "max_connections",
            &budget.to_string(),
        );
        for tenant in tenants {
            toml = toml.tenant(tenant, &self.url(tenant));
        }
        toml
    }

    /// A `tenants.toml` serving `tenants` (MySQL databases of this set) from
    /// one pool for the whole server, of `budget` connections, within a
    /// budget of `budget`.
    pub fn shared_server_toml(&self, tenants: &[String], budget: u32) -> TenantsToml {
        let mut server = reqwest::Url::parse(&self.admin_url).expect("admin URL parses");
        server.set_path("");
        let max = format!("max_connections = {budget}");
        TenantsToml::new()
            .server_option(&self.server_key(), "max_connections", &budget.to_string())
            .server_databases(
                "shared",
                server.as_str().trim_end_matches('/'),
                &format!("{}_", self.prefix),
                tenants,
                &[&max],
            )
    }

    /// The `LIKE` pattern of this set's database names.
    pub fn databases_like(&self) -> String {
        // `_` is a LIKE wildcard: escape it (backslash is the default escape in both).
        format!("{}%", self.prefix.replace('_', "\\_"))
    }

    /// How many sessions the server has on this set's databases now, counting
    /// only those whose client end is still open
    /// ([`sea_orm_tenant::testing::connected_sessions`]).
    pub async fn count_sessions(&self, admin: &DatabaseConnection) -> Result<i64, DbErr> {
        count_sessions(admin, &self.databases_like()).await
    }

    /// `(id, body)` of every note in `tenant`'s database, by id, read directly
    /// over a connection of its own.
    pub async fn read_notes(&self, tenant: &str) -> Result<Vec<(i64, String)>, DbErr> {
        read_notes_at(ConnectOptions::new(self.url(tenant))).await
    }

    /// Opens one plain connection to the admin database (what `psql` or `mysql`
    /// would do), pings it and closes it: how long that took, or why it failed.
    pub async fn probe(&self) -> Result<Duration, String> {
        probe(self.kind, self.admin_url.clone()).await
    }

    /// The server's rate of new connections to `tenant`'s database (opened,
    /// pinged and closed, `total` of them, `concurrency` at a time, as
    /// `pgbench -C` does): connections/s, or why one failed.
    pub async fn accepted_per_second(
        &self,
        tenant: &str,
        total: usize,
        concurrency: usize,
    ) -> Result<f64, String> {
        ceiling::accepted_per_second(self.kind, &self.url(tenant), total, concurrency).await
    }

    /// Starts sampling, on an admin connection of its own, the number of sessions on
    /// this set's databases every `every`, and probing a plain new connection every
    /// `probe_every` if given (first after `probe_every`). Both run on a thread of their own
    /// (so a busy test runtime does not delay them) and stop at [`Sampler::stop`],
    /// or after `limit` at the latest.
    pub async fn sampler(
        &self,
        every: Duration,
        probe_every: Option<Duration>,
        limit: Duration,
    ) -> Sampler {
        let target = (self.kind, self.admin_url.clone(), self.databases_like());
        sampler::start(target, every, probe_every, limit).await
    }

    /// Drops every database this set created, a few at a time.
    pub async fn drop_all(mut self) {
        let names = std::mem::take(&mut self.created);
        drop_databases(self.kind, &self.admin_url, names).await;
        drop_roles(&self.admin_url, std::mem::take(&mut self.roles)).await;
    }
}

impl Drop for ServerDatabases {
    fn drop(&mut self) {
        let names = std::mem::take(&mut self.created);
        let roles = std::mem::take(&mut self.roles);
        if names.is_empty() && roles.is_empty() {
            return;
        }
        let (kind, url) = (self.kind, self.admin_url.clone());
        // Dropped without `drop_all` (a panic, an interrupted benchmark): drop the
        // databases from a thread with its own runtime, since we may be inside one.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime for cleanup");
            rt.block_on(async {
                drop_databases(kind, &url, names).await;
                drop_roles(&url, roles).await;
            });
        })
        .join();
    }
}

/// `(id, body)` of every note in the `notes` table at `options` (its URL,
/// and its schema search path when set), by id, over a connection of its own.
pub async fn read_notes_at(options: ConnectOptions) -> Result<Vec<(i64, String)>, DbErr> {
    read_notes_where(options, None).await
}

/// `(id, body)` of every note at `options` whose `tenant_id` is `tenant`
/// (all notes with `None`), ordered by id. Read as a superuser, whom
/// row-level security does not hold, the filter is the only one.
pub async fn read_notes_where(
    mut options: ConnectOptions,
    tenant: Option<&str>,
) -> Result<Vec<(i64, String)>, DbErr> {
    options.max_connections(1).sqlx_logging(false);
    let conn = Database::connect(options).await?;
    let backend = conn.get_database_backend();
    let stmt = match tenant {
        None => Statement::from_string(backend, "SELECT id, body FROM notes ORDER BY id"),
        Some(tenant) => Statement::from_sql_and_values(
            backend,
            "SELECT id, body FROM notes WHERE tenant_id = $1 ORDER BY id",
            [tenant.into()],
        ),
    };
    let rows = conn.query_all_raw(stmt).await;
    conn.close().await.ok();
    rows?
        .iter()
        .map(|r| {
            let id = r
                .try_get::<i64>("", "id")
                .or_else(|_| r.try_get::<i32>("", "id").map(i64::from))?;
            Ok((id, r.try_get::<String>("", "body")?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_names_have_equal_length() {
        assert_eq!(tenant_names(3), ["t000", "t001", "t002"]);
        let many = tenant_names(1500);
        assert!(many.iter().all(|n| n.len() == 5));
    }

    #[test]
    fn server_key_and_urls_follow_the_admin_url() {
        let dbs = ServerDatabases::new(
            ServerKind::Postgres,
            "postgres://postgres@127.0.0.1/postgres",
        );
        assert_eq!(dbs.server_key(), "127.0.0.1:5432");
        let url = dbs.url("t001");
        assert!(
            url.starts_with("postgres://postgres@127.0.0.1/scale_"),
            "{url}"
        );
        assert!(url.ends_with("_t001"), "{url}");
        let toml = dbs.tenants_toml(&["t001".to_owned()], 60).to_toml();
        assert!(
            toml.contains("[servers.\"127.0.0.1:5432\"]\nmax_connections = 60\n"),
            "{toml}"
        );
    }
}
