//! [`Resolver`] for axum: the shared resolvers of [`sea_orm_tenant_http`]
//! reading the request's `http::request::Parts`.

pub use sea_orm_tenant_http::{
    ConflictPolicy, DEFAULT_HEADER, DEFAULT_QUERY_PARAM, InvalidHeaderName,
};

/// Where the tenant name of a request comes from: one source, or a chain of
/// sources built with [`or`](sea_orm_tenant_http::Resolver::or) (see
/// [`sea_orm_tenant_http::Resolver`], the same code the poem crate uses).
/// Custom closures read the request's `http::request::Parts`; an asynchronous
/// one may answer with any axum `Response` (a 401 for a bad API key, say).
///
/// ```
/// use axum::response::IntoResponse;
/// use http::StatusCode;
/// use sea_orm_tenant_axum::Resolver;
///
/// // `X-Tenant: acme`, or else `?tenant=acme`.
/// let resolver = Resolver::header("X-Tenant")?.or(Resolver::query("tenant"));
/// assert_eq!(resolver.to_string(), "header X-Tenant or query parameter tenant");
///
/// let api_key = Resolver::custom("API key", |parts: &http::request::Parts| {
///     let key = parts.headers.get("x-api-key").cloned();
///     async move {
///         Ok(match key.as_ref().map(|k| k.as_bytes()) {
///             Some(b"secret-acme") => Some("acme".to_owned()),
///             Some(_) => return Err(StatusCode::UNAUTHORIZED.into_response()),
///             None => None,
///         })
///     }
/// });
/// # let _ = api_key;
/// # Ok::<(), sea_orm_tenant_axum::InvalidHeaderName>(())
/// ```
pub type Resolver = sea_orm_tenant_http::Resolver<http::request::Parts, axum::response::Response>;
