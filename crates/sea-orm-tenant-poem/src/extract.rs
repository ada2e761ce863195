//! [`CurrentTenant`]: the request's tenant, for handlers.

use std::fmt;
use std::ops::Deref;

use poem::{FromRequest, Request, RequestBody};
use sea_orm_tenant::{TenantConnections, TenantDb, TenantKey};

use crate::error::TenantRejection;

/// The tenant chosen for this request by [`TenantMiddleware`](crate::TenantMiddleware),
/// with the routing handle to its database.
///
/// An extractor for plain poem handlers and poem-openapi operations (any poem
/// `FromRequest` type is an operation argument there; to also declare the
/// tenant in the OpenAPI document, use [`TenantHeader`](crate::TenantHeader) or
/// [`TenantQuery`](crate::TenantQuery)). The tenant is read from the
/// task-local the middleware runs the request in (no copy per request), the
/// routing handle from the one request-data entry the middleware adds: the
/// [`TenantDb`], so `Data<&TenantDb>` works too.
///
/// On a route that is exempt or not behind the middleware, extraction fails with
/// [`TenantRejection::NoTenant`] (500, a wiring bug); take `Option<CurrentTenant>`
/// where the tenant is optional.
///
/// ```
/// use poem::handler;
/// use sea_orm_tenant::sea_orm::{ConnectionTrait, DbErr};
/// use sea_orm_tenant_poem::{CurrentTenant, TenantResultExt};
///
/// #[handler]
/// async fn hello(tenant: CurrentTenant) -> poem::Result<String> {
///     let db = tenant.db();
///     db.execute_unprepared("SELECT 1").await.into_poem()?;
///     Ok(format!("hello from {}", tenant.key()))
/// }
/// ```
#[derive(Clone)]
pub struct CurrentTenant {
    key: TenantKey,
    db: TenantDb,
}

impl CurrentTenant {
    /// The tenant's name.
    pub fn key(&self) -> &TenantKey {
        &self.key
    }

    /// The tenant's name as a string slice.
    pub fn as_str(&self) -> &str {
        self.key.as_str()
    }

    /// The routing handle: pass `&db` to any SeaORM API; it reaches this
    /// tenant's database inside the request (and in its response body).
    pub fn db(&self) -> &TenantDb {
        &self.db
    }

    /// The tenant store.
    pub fn store(&self) -> &TenantConnections {
        self.db.store()
    }

    /// The request's tenant: the one current in this task (the middleware's
    /// scope) with the [`TenantDb`] the middleware put in `req`. Outside the
    /// middleware's scope (an exempt route, an outer middleware), or on a
    /// request it did not handle, [`TenantRejection::NoTenant`].
    pub fn from_request_data(req: &Request) -> Result<Self, TenantRejection> {
        match (sea_orm_tenant::current_tenant(), req.data::<TenantDb>()) {
            (Some(key), Some(db)) => Ok(Self {
                key,
                db: db.clone(),
            }),
            _ => Err(TenantRejection::NoTenant),
        }
    }
}

impl Deref for CurrentTenant {
    type Target = TenantKey;

    fn deref(&self) -> &TenantKey {
        &self.key
    }
}

impl fmt::Display for CurrentTenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.key, f)
    }
}

impl fmt::Debug for CurrentTenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CurrentTenant").field(&self.key).finish()
    }
}

impl<'a> FromRequest<'a> for CurrentTenant {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        Ok(Self::from_request_data(req)?)
    }
}
