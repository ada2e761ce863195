//! Running the server: configuration, migrations, listening, graceful shutdown.

use poem::Server;
use poem::listener::{Acceptor, Listener, TcpListener};
use sea_orm_tenant::{CatalogError, ConfigError, SchemaName, TenantConnections, TenantError};
use sea_orm_tenant_migration::{Placement, Provisioner};

use crate::admin_api::{AdminApi, AdminToken};
use crate::app::{single_db_app, tenant_app};
use crate::cli::Args;
use crate::http::client_deadlines::ClientDeadlinesAcceptor;
use crate::startup::{follow_catalog, load_config, migrate_tenants};

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The tenant configuration could not be loaded.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The `--single-db` tenant's database could not be opened.
    #[error("--single-db: {0}")]
    SingleDb(TenantError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The tenant catalog could not be loaded.
    #[error("tenant catalog: {0}")]
    Catalog(#[from] CatalogError),
    /// `ADMIN_TOKEN` is set but empty.
    #[error("ADMIN_TOKEN is empty: set a long random token, or unset it to turn the admin API off")]
    EmptyAdminToken,
    /// `[provisioning]` is invalid.
    #[error("[provisioning]: {0}")]
    Provisioning(String),
    /// `--idle-timeout` is not longer than `--request-timeout`.
    #[error(
        "--idle-timeout ({idle} s) must be longer than --request-timeout ({request} s): \
         a request still working would lose its connection before its 503"
    )]
    IdleTimeoutTooShort {
        /// `--idle-timeout`, in seconds.
        idle: u64,
        /// `--request-timeout`, in seconds.
        request: u64,
    },
    /// The server failed while running.
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs the server until SIGINT or SIGTERM, then lets in-flight requests finish
/// (up to `--shutdown-timeout`) and closes every pool.
pub async fn run(args: Args) -> Result<(), ServeError> {
    if args.idle_timeout <= args.request_timeout {
        return Err(ServeError::IdleTimeoutTooShort {
            idle: args.idle_timeout,
            request: args.request_timeout,
        });
    }
    let config = load_config(&args.config)?;
    let store = TenantConnections::from_config(config.clone())?;
    let sync = match config.catalog.clone() {
        Some(options) => Some(follow_catalog(&store, options).await?),
        None => None,
    };
    tracing::info!(
        config = %args.config.display(),
        tenants = store.tenants().len(),
        catalog = sync.is_some(),
        "tenant configuration loaded"
    );
    if args.no_migrate {
        tracing::info!("--no-migrate: pending migrations are not applied");
    } else {
        migrate_tenants(&store, sync.as_ref().map(|s| s.catalog())).await;
    }
    let admin = admin_api(&store, &config, sync.as_ref())?;
    let provisioner = admin.as_ref().map(|admin| admin.provisioner().clone());

    // The baseline serves one lease of its tenant's pools for the whole run.
    let app = match &args.single_db {
        Some(tenant) => {
            let conn = store
                .connection(tenant)
                .await
                .map_err(ServeError::SingleDb)?;
            tracing::warn!(%tenant, "--single-db: serving one database with no tenant routing (benchmark baseline)");
            single_db_app(conn, args.request_timeout())
        }
        None => tenant_app(&store, args.request_timeout(), admin),
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
    let acceptor = ClientDeadlinesAcceptor::new(acceptor, args.client_timeouts());
    let served = Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(
            app,
            crate::shutdown::signal(),
            Some(args.shutdown_timeout()),
        )
        .await;
    drop(sync);
    // The undo of a create cut short by the shutdown runs to its end, within
    // the shutdown's bound; what it leaves (a `provisioning` row, its
    // storage), a drop of that name removes.
    if let Some(provisioner) = provisioner
        && tokio::time::timeout(args.shutdown_timeout(), provisioner.close())
            .await
            .is_err()
    {
        tracing::warn!("the admin API's unfinished work did not end within --shutdown-timeout");
    }
    store.close().await;
    tracing::info!("stopped: in-flight requests finished, pools closed");
    served.map_err(ServeError::Io)
}

/// The admin API when `ADMIN_TOKEN` is set: create and drop through the
/// catalog when there is one.
fn admin_api(
    store: &TenantConnections,
    config: &sea_orm_tenant::TenantsConfig,
    sync: Option<&sea_orm_tenant::CatalogSync>,
) -> Result<Option<AdminApi>, ServeError> {
    let Some(token) = std::env::var_os("ADMIN_TOKEN") else {
        return Ok(None);
    };
    let token =
        AdminToken::new(token.to_string_lossy().into_owned()).ok_or(ServeError::EmptyAdminToken)?;
    let mut provisioner = Provisioner::new::<migration::Migrator>(store.clone());
    if let Some(sync) = sync {
        provisioner = provisioner.catalog(sync.catalog().clone());
    }
    if let Some(template) = config
        .provisioning
        .as_ref()
        .and_then(|p| p.template.as_deref())
    {
        let template = SchemaName::new(template)
            .map_err(|e| ServeError::Provisioning(format!("template: {e}")))?;
        provisioner = provisioner.template(template);
    }
    let placement = Placement::from_config(config).map_err(ServeError::Provisioning)?;
    tracing::info!(catalog = sync.is_some(), "admin API enabled");
    Ok(Some(AdminApi::new(token, provisioner, placement)))
}
