//! One SeaORM backend, many tenants, each in its own database, in its own
//! schema of a shared PostgreSQL database, or in rows of shared PostgreSQL
//! tables under row-level security.
//!
//! * [`TenantKey`]: a validated tenant name, safe as a file, database or schema name.
//! * [`TenantConnections`]: the store. Tenant name to connection URL (in code, from a
//!   map, or from a TOML file, see [`config`]); pools open lazily, at most
//!   `max_open_pools` at once, the coldest idle pools (fewest uses lately) closed first; tenants
//!   added and removed at runtime; an optional shared database for global tables.
//! * [`with_tenant`](TenantConnections::with_tenant): runs a future with a tenant
//!   current (a task-local, like tokio's). Switching to another tenant inside
//!   it is an error ([`TenantError::Switch`]), and so is a query with no tenant
//!   ([`TenantError::NoTenant`]): there is never a silent default database.
//! * [`TenantDb`]: implements SeaORM's `ConnectionTrait`, `TransactionTrait` and
//!   `StreamTrait` by routing each call to the current tenant, so every SeaORM API
//!   works unchanged.
//!
//! ```
//! use sea_orm::{ConnectionTrait, Statement};
//! use sea_orm_tenant::{TenantConnections, TenantError};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = TenantConnections::from_urls([
//!     ("acme", "sqlite::memory:"),
//!     ("globex", "sqlite::memory:"),
//! ])?;
//! let db = store.db();
//!
//! for tenant in ["acme", "globex"] {
//!     store
//!         .with_tenant(tenant, async {
//!             db.execute_unprepared("CREATE TABLE note (body TEXT)").await?;
//!             db.execute_unprepared(&format!("INSERT INTO note VALUES ('hello from {tenant}')"))
//!                 .await
//!         })
//!         .await??;
//! }
//!
//! let row = store
//!     .with_tenant("globex", async {
//!         db.query_one_raw(Statement::from_string(db.get_database_backend(), "SELECT body FROM note"))
//!             .await
//!     })
//!     .await??
//!     .unwrap();
//! assert_eq!(row.try_get::<String>("", "body")?, "hello from globex");
//!
//! // No tenant chosen: an error, never a default database.
//! let err = db.execute_unprepared("SELECT 1").await.unwrap_err();
//! assert!(matches!(TenantError::from_db_err(&err), Some(TenantError::NoTenant)));
//!
//! // Switching tenant inside a tenant scope is refused.
//! let switched = store
//!     .with_tenant("acme", store.with_tenant("globex", async {}))
//!     .await?;
//! assert!(matches!(switched, Err(TenantError::Switch { .. })));
//! # Ok(())
//! # }
//! ```
//!
//! # Schema tenants
//!
//! A tenant can live in a schema of a PostgreSQL database
//! ([`TenantConfig::in_schema`], or a `[databases.NAME]` table in the TOML file
//! with a schema name rule, see [`config`]). All tenants of one database (one
//! URL) share one pool, so ten thousand tenants need a handful of connections;
//! database, schema and SQLite tenants mix in one store.
//!
//! * Routing: each call checks out a connection. A connection the server
//!   reported, after its previous call, to be on the tenant's schema is used
//!   as it is, so consecutive calls of one tenant cost no extra round trip;
//!   any other gets `set_config('search_path', '"schema", pg_temp', false)`
//!   together with `current_schema()` in one statement.
//! * Fail closed: the search path is the tenant's schema, then the session's
//!   temporary schema (no `public`), and a missing schema is
//!   [`TenantError::SchemaMissing`], never a fall-through, also for a schema
//!   dropped while connections were on it. Transactions are `begin()` plus
//!   `SET LOCAL` semantics, so a transaction starts on its tenant and its
//!   setting ends with it. PostgreSQL re-plans cached prepared statements when
//!   the search path changes.
//! * Shared tables are reached explicitly through
//!   [`shared`](TenantConnections::shared), a pool of its own that never
//!   carries a tenant's search path.
//! * Schema names: [`SchemaName`] (lowercase `a-z`, `0-9`, `_`, `-`, at most
//!   63, never `public`, `information_schema` or `pg_*`), always double-quoted in
//!   SQL; a configured prefix is checked by the same rule when the file is read.
//! * Migrations (`sea-orm-tenant-migration`): each schema gets its own
//!   `seaql_migrations`; a tenant's operation runs in one transaction under a
//!   transaction-level advisory lock keyed on the schema, so a failing tenant is
//!   left at its previous version.
//!
//! ## What a tenant's own SQL can and cannot do
//!
//! **Every call starts on its own tenant's schema, and nothing a call leaves
//! in its session reaches a later call, of that tenant or another, whatever
//! SQL the call ran.** A call is one statement, or one transaction. Nothing
//! is inferred from the statement's text: after each call, before its
//! connection serves anyone again, the session itself is asked, in one
//! statement, where its names resolve and what it carries: once the
//! caller has its result or, while most checkouts switch tenant, by the next
//! checkout in the round trip that moves the connection to its own tenant (a
//! connection no checkout takes within 100 ms is asked then); a connection
//! going back to the pool (after a transaction, a failed or cancelled call)
//! is asked the same and more.
//! Every function and operator in these checks is schema-qualified, so a
//! session whose path puts another schema before `pg_catalog` cannot
//! answer for them, and each check is sent as text, never kept prepared in
//! the session, so a call cannot drop it and prepare its own under its name.
//!
//! | left in the session by a call | before the connection serves another call |
//! |---|---|
//! | a changed `search_path`: `SET`, `set_config`, a function or procedure that calls it, a `DO` block, `EXECUTE` of a prepared `set_config`, any spelling or escape; `RESET ALL` | the connection is not trusted to be on any schema; the next call sets its path |
//! | temporary tables, views, functions, sequences | dropped (`DISCARD TEMP`); with `pg_temp` last in the path they never shadow the tenant's tables, even within the call |
//! | cursors kept `WITH HOLD` | closed (`CLOSE ALL`) before another tenant's call runs on the connection (the same tenant's next call may still fetch from its own) |
//! | a transaction left open (`BEGIN` with no `COMMIT`) | the connection is closed, which rolls the transaction back |
//! | a role (`SET ROLE`) | the connection is closed |
//! | prepared statements dropped (`DISCARD ALL`, `DEALLOCATE ALL`) | the next call that uses one of the driver's statements is refused by the server before it runs; the driver forgets its cached statements and the call is sent again: no later call fails |
//! | `LISTEN`, statements made with SQL `PREPARE` | reset (`DISCARD ALL`) when the connection goes back to the pool; on a connection kept for the next call, another tenant's prepared statement is re-planned for that call's own search path |
//!
//! What it does not cover:
//!
//! * Inside one call the SQL is the app's. Inside a transaction, a statement
//!   that changes the search path for the session changes it for the rest of
//!   that transaction, as `SET LOCAL` would; nothing of it outlives the
//!   transaction.
//! * Schema tenants share one database role. SQL written to reach another
//!   tenant can: it can name another schema (`"t_other".note`), change it
//!   for good (DDL, triggers), or replace the driver's prepared statements by
//!   their names (`DEALLOCATE sqlx_s_3; PREPARE sqlx_s_3 AS ...`). Tenants
//!   whose SQL you do not write need database tenants with roles of their own.
//! * Other settings a call changes (`statement_timeout`, `DateStyle`, ...)
//!   stay on the connection for later calls, as on any pool, and session
//!   advisory locks are held until the connection closes: use `SET LOCAL`
//!   and transaction-level locks inside a transaction.
//! * A statement prepared once is re-planned for each tenant's schema; if
//!   tenants' tables differ in shape (tenants at different migration
//!   versions), `SELECT *` can fail with "cached plan must not change result
//!   type". SeaORM names its columns.
//!
//! The check costs one round trip per call, made after the call returned,
//! and a connection moving to another tenant's schema gets its path (and a
//! `CLOSE ALL`) in one more; `benches/schema_routing.rs` measures both
//! against a plain pool. MySQL and
//! MariaDB database tenants get the matching check on every connection going
//! back to the pool: a connection a tenant's `USE` moved to another database
//! is closed, never reused (its prepared statements stay bound to that
//! database).
//!
//! ## Citus and PgBouncer
//!
//! Schema tenants are what Citus schema-based sharding (Citus 12+) distributes:
//! each tenant schema becomes a distributed schema placed on one node, and the
//! application only sets `search_path`, which is what this crate does.
//!
//! * Turn it on before creating tenant schemas: `SET citus.enable_schema_based_sharding TO on;`
//!   then `CREATE SCHEMA` (each created schema is distributed), or distribute
//!   existing ones with `SELECT citus_schema_distribute('t_acme');`. Move them
//!   between nodes with the rebalancer (`citus_rebalance_start()`).
//! * Point the tenants' database URL at the coordinator; the store's budget
//!   counts connections to it.
//! * Keep tenant DDL within what distributed schemas accept, as this
//!   workspace's migrations do: create the schema on its own, then its tables;
//!   no foreign keys between tenant schemas (to reference tables in the shared
//!   database's schema only); no `ALTER TABLE ... SET SCHEMA`, no
//!   `CREATE SCHEMA ... CREATE TABLE`, no `CREATE TABLE AS` / `SELECT INTO`,
//!   no foreign tables or inheritance.
//! * PgBouncer: session pooling only. In transaction mode the session's
//!   `search_path` does not follow the client between transactions and another
//!   tenant's rows come back, unless the server reports `search_path`
//!   (PostgreSQL 18 or Citus 12) and PgBouncer tracks it; `options=-c
//!   search_path=..` in the URL is refused by PgBouncer.
//!
//! # Row tenants
//!
//! Tenants can share the tables of one PostgreSQL database, told apart by a
//! `tenant_id` column ([`TenantConfig::in_rows`], or `tenants_are = "rows"`
//! in a `[databases.NAME]` table of the TOML file). All row tenants of a
//! database share one pool within the server's budget, and mix with
//! database, schema and SQLite tenants in one store.
//!
//! * **The database decides which rows a call sees**: each tenant table has
//!   row-level security enabled and *forced* (so the table's owner is held to
//!   it) and a policy comparing `tenant_id` with the session's setting
//!   `sea_orm_tenant.id` ([`rows::TENANT_SETTING`]) in `USING` and `WITH
//!   CHECK`. Migrations make them with `sea_orm_tenant_migration::rows`
//!   ([`rows::RowTable`] holds the statements).
//! * **Routing**: every checkout sets the setting with the search path in
//!   one statement, and after every call the server reports both back, on
//!   the same mechanism as schema tenants (see "What a tenant's own SQL can
//!   and cannot do"): a tenant's SQL that changes the setting (`SET`,
//!   `set_config`, a function, `PREPARE`/`EXECUTE`, Unicode escapes, `RESET
//!   ALL`, `DISCARD ALL`) never makes a later call run as another tenant.
//! * **Fail closed**: the policy compares with `(SELECT NULLIF(current_setting(
//!   'sea_orm_tenant.id', true), ''))`: with no tenant set, or the setting
//!   reset or emptied, it is `NULL`, no row is visible and no row can be
//!   written (the column's default is the same expression, so an insert
//!   fails on `NOT NULL`). Written this way the setting is read once per
//!   statement and the index on `tenant_id` serves the policy.
//! * **The audit at start**: when a row database's pool opens, [`rows::audit`]
//!   checks from the server's catalogs, as the app's role, that the role is
//!   not a superuser and has no `BYPASSRLS`; that every table with the tenant
//!   column is enabled, forced, covered by a policy using the setting, with
//!   no permissive policy that ignores it, and indexed on the column; that no
//!   unique index or foreign key between tenant tables leaves the column out
//!   (constraint checks bypass row-level security, so a global
//!   `UNIQUE(email)` tells one tenant what another holds); and that with no
//!   tenant set no row is visible. Any finding refuses every row tenant of
//!   the database with [`TenantError::RowsUnprotected`], naming the table and
//!   the rule. `migration audit` runs the same check in a deploy pipeline.
//! * Tables without the tenant column are global: every tenant reads and
//!   writes all their rows (the audit lists them).
//! * MySQL/MariaDB and SQLite have no row-level security: a row tenant there
//!   is refused ([`ConfigError::RowsNeedPostgres`]); use a database (or a
//!   file) per tenant.
//!
//! What it does not cover: row tenants share one role, and the setting is an
//! ordinary one. Within a call, the app's SQL can set it to another tenant's
//! id and read that tenant's rows; row-level security keeps honest code from
//! leaking through a forgotten filter, a pooled session or a missing
//! tenant, not SQL written to cross tenants. Tenants whose SQL you do not
//! write need database tenants with roles of their own.
//!
//! ## Row tenants under Citus
//!
//! Citus distributes shared tables by a column: `SELECT
//! create_distributed_table('notes', 'tenant_id')`, then every other tenant
//! table with `colocate_with => 'notes'`, so one tenant's rows of every table
//! live on the same node and joins between them stay on it.
//!
//! * Every primary key and unique constraint must include the distribution
//!   column (Citus refuses the others), and foreign keys between distributed
//!   tables must include it: the rules the audit enforces already.
//! * An RLS predicate alone does not route a query: Citus prunes shards from
//!   literals in the query's own `WHERE`, not from a policy comparing with a
//!   setting, so `SELECT * FROM notes` under the policy runs on every shard
//!   (citusdata/citus #6712, #7415). Add the tenant to the query as well
//!   (`.filter(notes::Column::TenantId.eq(tenant))`, with the tenant from
//!   [`current_tenant`]): the filter routes, the policy still guarantees.
//! * The policy is evaluated on the workers, which need the setting: Citus
//!   propagates `SET LOCAL` inside a transaction with
//!   `citus.propagate_set_commands = 'local'`, not a session's `set_config`.
//!   Without it the workers see no tenant and return no rows (closed, not
//!   open). This crate sets the tenant for the session; running row tenants
//!   on Citus is untested here (no Citus server in this workspace's CI).
//!
//! # Database tenants sharing a MySQL server
//!
//! On MariaDB a connection is not bound to one database: `USE` switches it.
//! Tenants whose databases live on one server can share one pool for that
//! server ([`TenantConfig::sharing_server`], or a `[databases.NAME]` table
//! with `tenants_are = "databases"`, a server URL and `database_prefix`; see
//! [`config`]), so connections grow with servers, not tenants.
//!
//! * Routing: a connection the server reported, after its last call, to be
//!   on the tenant's database is used as it is; any other gets `USE` and
//!   `SELECT DATABASE()` in one round trip (the text protocol: `USE` cannot
//!   be prepared). A missing database is [`TenantError::Unavailable`], never
//!   another database.
//! * Prepared statements keep the database they were prepared in, and sqlx
//!   caches them per connection by their text: each call's text starts with
//!   a comment naming its database, so a cached statement only ever runs
//!   where it was prepared. Transactions (`begin()` on the pool, then `USE`)
//!   run SeaORM's own text: their connection's cache is cleared when it goes
//!   back to the pool.
//! * After each call the session is asked where it is and what it carries,
//!   never inferred from the statement: a `USE` is seen and undone by the
//!   next call's move; a transaction left open, `autocommit` off, a role,
//!   temporary tables, SQL `PREPARE`d statements, `HANDLER`s and `LOCK
//!   TABLES` close the connection (the server counts those statements per
//!   session; their names cannot be listed). `FLUSH STATUS` resets those
//!   counters, so the pool's database user must not have `RELOAD`. User
//!   variables (`@x`) are not reset between tenants: do not keep tenant data
//!   in them.
//! * MariaDB only: the check reads MariaDB's session state
//!   (`@@in_transaction`, `information_schema.SESSION_STATUS`); on MySQL the
//!   pool refuses to open.
//! * Migrations run per database on a session of their own under the
//!   database's `GET_LOCK`, as for any MySQL tenant.
//!
//! # Tenants created at runtime: the catalog
//!
//! A [`Catalog`] is a `tenants` table in the shared database: each tenant's
//! name, placement (its URL as written, `${VAR}` placeholders kept, so a
//! password given that way is never stored), [`TenantState`], migration
//! version and timestamps. Every app instance follows it with a
//! [`CatalogSync`]: loaded at start, then re-read when PostgreSQL notifies a
//! change, when a request names a tenant this instance does not know (before
//! the 404: single-flight, at most one read per `min_reread_interval`, so a
//! tenant created a moment ago elsewhere is served on the very next request),
//! and when the poll of the catalog's generation counter sees a change. A
//! dropped or disabled tenant is unregistered: new calls get
//! [`TenantError::Unknown`], calls in flight finish.
//!
//! **Creating and dropping a tenant** is the lifecycle module of
//! `sea-orm-tenant-migration` (`sea_orm_tenant_migration::lifecycle`):
//! `Provisioner::create` claims the name in the catalog, makes the storage
//! (a database, a schema, a SQLite file; names refused before any I/O),
//! migrates it with the runner and registers it here, undoing everything on
//! failure; `Provisioner::drop` does the reverse. The catalog's tables are
//! made by its `CatalogMigrator`. This crate only registers and unregisters
//! ([`TenantConnections::add_tenant`], [`remove_tenant`](TenantConnections::remove_tenant)).
//!
//! # Spawned tasks lose the tenant
//!
//! The current tenant is a task-local (set for each poll of the scope's
//! future, like tokio's). `tokio::spawn`, `spawn_blocking`,
//! WebSocket upgrades and response bodies polled after a handler returns all run
//! *outside* it, and their queries fail with `NoTenant` (other frameworks silently
//! fall back to a default database here, a classic cross-tenant leak). Use
//! [`spawn`] and [`spawn_blocking`] instead of tokio's, or capture a
//! [`TenantContext`] and [`wrap`](TenantContext::wrap) the future or stream.
//!
//! # Metrics
//!
//! [`record_metrics`](TenantConnections::record_metrics) publishes the store's
//! figures (pools, per-server connection budgets, per-tenant queries and
//! errors) through the `metrics` facade when an exporter is scraped; the
//! [`metrics`] module lists them.
//!
//! # Tracing
//!
//! Every routed call runs in a `debug`-level span `tenant_db` with fields `tenant`
//! and `op`; opening, evicting and failing pools are logged with the tenant.
//!
//! # Layers
//!
//! Modules are folders by question. Each uses only modules of its own layer
//! or below (checked by `tests/tests/layering.rs` in CI, which reads this
//! table), and no two files import each other, directly or in a circle.
//!
//! | layer | modules |
//! |---|---|
//! | 1 | `lock`, `key`, `schema`, `redact` |
//! | 2 | `config` |
//! | 3 | `rows`, `error`, `failure` |
//! | 4 | `pool` |
//! | 5 | `store` |
//! | 6 | `route` |
//! | 7 | `catalog`, `fan_out` |
//! | 8 | `metrics`, `testing` |
//!
//! * `config`: settings, the TOML file format and their limits.
//! * `pool`: connections to servers: the one opener, each server's budget,
//!   the check a connection gets when it goes back to its pool, and a schema
//!   or row tenant's calls on its database's shared pool.
//! * `rows`: the row-level security that keeps row tenants apart, and its audit.
//! * `store`: tenants by name, their pools and the leases that keep a pool
//!   open.
//! * `route`: the current tenant, and [`TenantDb`] sending calls to it.
//! * `catalog`: tenants as rows of the shared database, and following them.
//! * `fan_out`: one operation over every tenant, bounded, with a report.
//!
//! # Features
//!
//! `sqlite`, `postgres` and `mysql` (MySQL and MariaDB), all on by default.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
// Built with no backend (a crate that only needs the types, such as the
// http adapters' shared crate on its own), the drivers' code paths are
// compiled out and what only they use is unused.
#![cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "mysql")),
    allow(unused)
)]

mod catalog;
pub mod config;
mod error;
mod failure;
pub mod fan_out;
mod key;
mod lock;
pub mod metrics;
mod pool;
mod redact;
mod route;
pub mod rows;
mod schema;
mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use catalog::{
    CATALOG_TABLE, Catalog, CatalogEntry, CatalogError, CatalogOptions, CatalogSync,
    GENERATION_TABLE, NOTIFY_CHANNEL, TenantState,
};
pub use config::limits;
pub use config::{
    ConfigError, MOVING_RENEW_INTERVAL, PoolOptions, ProvisioningConfig, SchemaDatabase,
    ServerOptions, StoreOptions, TenantConfig, TenantsAre, TenantsConfig,
};
pub use error::TenantError;
pub use failure::DbFailure;
pub use key::{KeyError, MAX_KEY_LEN, TenantKey};
pub use pool::TenantSession;
pub use pool::budget;
pub use pool::budget::{ServerKey, ServerStats};
pub use redact::{redact_url, scrub};
pub use route::{
    RowStream, ScopeFuture, Scoped, TenantContext, TenantDb, TenantStream, current_tenant, spawn,
    spawn_blocking,
};
pub use schema::{MAX_SCHEMA_LEN, SchemaName, SchemaNameError};
pub use store::{
    StoreStats, TenantConnection, TenantConnections, TenantConnectionsBuilder, TenantStats,
};

/// Re-exported so users name the same SeaORM version.
pub use sea_orm;
