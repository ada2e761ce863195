//! Running the server: configuration, migrations, listening, graceful shutdown.

use poem::Server;
use poem::listener::{Acceptor, Listener, TcpListener};
use sea_orm_tenant::{ConfigError, TenantError};

use crate::app::{single_db_app, tenant_app};
use crate::cli::Args;
use crate::quarantine::Quarantine;
use crate::startup::{load_store, migrate_tenants};

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The tenant configuration could not be loaded.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The `--single-db` tenant's database could not be opened.
    #[error("--single-db: {0}")]
    SingleDb(TenantError),
    /// `--single-db` named a schema tenant, which has no database of its own.
    #[error(
        "--single-db {0}: a schema tenant shares its database's pool; name a tenant with a database of its own"
    )]
    SingleDbSchema(String),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The server failed while running.
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs the server until SIGINT or SIGTERM, then lets in-flight requests finish
/// (up to `--shutdown-timeout`) and closes every pool.
pub async fn run(args: Args) -> Result<(), ServeError> {
    let store = load_store(&args.config)?;
    tracing::info!(
        config = %args.config.display(),
        tenants = ?store.tenants(),
        "tenant configuration loaded"
    );
    let quarantine = Quarantine::default();
    if args.no_migrate {
        tracing::info!("--no-migrate: pending migrations are not applied");
    } else {
        migrate_tenants(&store, &quarantine).await;
    }

    // The baseline holds its tenant's pool for the whole run.
    let (app, held) = match &args.single_db {
        Some(tenant) => {
            let conn = store
                .connection(tenant)
                .await
                .map_err(ServeError::SingleDb)?;
            let db = conn
                .to_database_connection()
                .ok_or_else(|| ServeError::SingleDbSchema(tenant.clone()))?;
            tracing::warn!(%tenant, "--single-db: serving one database with no tenant routing (benchmark baseline)");
            (single_db_app(db, args.request_timeout()), Some(conn))
        }
        None => (tenant_app(&store, quarantine, args.request_timeout()), None),
    };

    let acceptor = TcpListener::bind(args.bind.clone())
        .into_acceptor()
        .await
        .map_err(|source| ServeError::Bind {
            addr: args.bind.clone(),
            source,
        })?;
    for addr in acceptor.local_addr() {
        if let Some(addr) = addr.as_socket_addr() {
            tracing::info!(%addr, "listening");
            println!("notes-server listening on http://{addr}");
        }
    }
    let served = Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(
            app,
            crate::shutdown::signal(),
            Some(args.shutdown_timeout()),
        )
        .await;
    drop(held);
    store.close().await;
    tracing::info!("stopped: in-flight requests finished, pools closed");
    served.map_err(ServeError::Io)
}
