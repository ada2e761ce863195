//! [`TenantJob`]: background work that carries its tenant's name and
//! re-enters it where it runs.

use std::future::Future;

use sea_orm_tenant::{TenantConnections, TenantError, TenantKey};
use serde::{Deserialize, Serialize};

/// A job payload that carries the tenant it belongs to, so that whatever runs
/// it later (a task, a queue consumer, another process) does its queries in
/// that tenant and no other.
///
/// A task-local tenant does not cross a queue: a job taken from a queue runs
/// with no tenant current, and its queries fail with `NoTenant` rather than
/// reaching some other database. Capture the tenant when the job is made
/// ([`for_current`](Self::for_current) in a handler, [`new`](Self::new)
/// outside a request) and [`run`](Self::run) it with the store, which checks
/// the name again (the tenant may have been removed meanwhile) and runs the
/// work inside `with_tenant`. The payload is `Serialize`/`Deserialize`
/// (`{"tenant": "acme", "payload": ...}`) for queues that store JSON.
///
/// For work that only needs to outlive the handler in the same process,
/// [`sea_orm_tenant::spawn`] is enough: it carries the current tenant into the
/// new task.
///
/// ```
/// use sea_orm_tenant::TenantConnections;
/// use sea_orm_tenant_axum::TenantJob;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = TenantConnections::from_urls([("acme", "sqlite::memory:")])?;
/// // Outside a request: a scheduler, a CLI.
/// let job = TenantJob::new("acme", 42)?;
/// let json = serde_json::to_string(&job)?;
/// assert_eq!(json, r#"{"tenant":"acme","payload":42}"#);
///
/// // Where the job runs.
/// let job: TenantJob<u32> = serde_json::from_str(&json)?;
/// let seen = job
///     .run(&store, |n| async move { (sea_orm_tenant::current_tenant().unwrap().to_string(), n) })
///     .await?;
/// assert_eq!(seen, ("acme".to_owned(), 42));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantJob<T> {
    tenant: String,
    payload: T,
}

impl<T> TenantJob<T> {
    /// A job for tenant `tenant` (validated as a [`TenantKey`]).
    pub fn new(tenant: impl AsRef<str>, payload: T) -> Result<Self, TenantError> {
        let key = TenantKey::new(tenant.as_ref())?;
        Ok(Self {
            tenant: key.as_str().to_owned(),
            payload,
        })
    }

    /// A job for the tenant current here (in a handler behind the layer);
    /// [`TenantError::NoTenant`] where there is none.
    pub fn for_current(payload: T) -> Result<Self, TenantError> {
        let key = sea_orm_tenant::current_tenant().ok_or(TenantError::NoTenant)?;
        Ok(Self {
            tenant: key.as_str().to_owned(),
            payload,
        })
    }

    /// The tenant's name.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The payload.
    pub fn payload(&self) -> &T {
        &self.payload
    }

    /// Runs `work` on the payload with the job's tenant current: every query
    /// through a `TenantDb` inside it reaches that tenant. Fails before running
    /// anything when the tenant is not (or no longer) registered, out of
    /// service, or another tenant is current here.
    pub async fn run<F, Fut>(
        self,
        store: &TenantConnections,
        work: F,
    ) -> Result<Fut::Output, TenantError>
    where
        F: FnOnce(T) -> Fut,
        Fut: Future,
    {
        let Self { tenant, payload } = self;
        store
            .with_tenant(&tenant, async move { work(payload).await })
            .await
    }
}
