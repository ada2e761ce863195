//! Routing: the current tenant (a task-local), entering it, carrying it into
//! spawned tasks and streams, and [`TenantDb`], which sends each SeaORM call
//! to the current tenant's connections.

mod connection;
mod context;
mod current;
mod scope;
mod tenant_db;

pub use connection::RowStream;
pub use context::{ScopeFuture, Scoped, TenantContext, spawn, spawn_blocking};
pub use current::current_tenant;
pub use tenant_db::{TenantDb, TenantStream};
