//! How the notes operations declare the tenant: as `apiKey` security schemes
//! (header `X-Tenant` or query `tenant`) when routed, not at all in the
//! benchmark baseline.

use poem::{FromRequest, Request, RequestBody};
use poem_openapi::ApiExtractor;
use sea_orm_tenant_poem::{TenantHeader, TenantQuery};

/// The two tenant arguments every notes operation takes. Each yields nothing
/// the handler needs (the query goes through the connection); they exist so
/// the OpenAPI document says how to send the tenant.
pub trait TenantArgs: Send + Sync + 'static {
    /// The argument declaring the header.
    type Header: for<'a> ApiExtractor<'a> + Send + Sync;
    /// The argument declaring the query parameter.
    type Query: for<'a> ApiExtractor<'a> + Send + Sync;
}

/// Tenant-routed operations: `X-Tenant` header or `tenant` query parameter
/// (alternatives in the document; the middleware rejects both-and-different).
#[derive(Debug, Clone, Copy)]
pub struct Routed;

impl TenantArgs for Routed {
    type Header = TenantHeader;
    type Query = TenantQuery;
}

/// The benchmark baseline: no tenant, nothing declared.
#[derive(Debug, Clone, Copy)]
pub struct Unrouted;

impl TenantArgs for Unrouted {
    type Header = NoTenant;
    type Query = NoTenant;
}

/// An argument that extracts and declares nothing.
#[derive(Debug, Clone, Copy)]
pub struct NoTenant;

impl<'a> FromRequest<'a> for NoTenant {
    async fn from_request(_req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        Ok(NoTenant)
    }
}
