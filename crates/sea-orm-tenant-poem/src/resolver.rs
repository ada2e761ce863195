//! [`Resolver`]: where the tenant name of a request comes from. The sources,
//! their chain and its agreement check live in [`sea_orm_tenant_http`], shared
//! with the axum crate; here they read a `poem::Request`.

pub use sea_orm_tenant_http::{
    ConflictPolicy, DEFAULT_HEADER, DEFAULT_QUERY_PARAM, InvalidHeaderName,
};

/// Where the tenant name of a request comes from: one source, or a chain of
/// sources built with [`or`](sea_orm_tenant_http::Resolver::or) (see
/// [`sea_orm_tenant_http::Resolver`]). Custom closures read the
/// `poem::Request`; an asynchronous one may answer with a `poem::Error`.
///
/// In a chain, the first source that gives a name wins. With the default
/// [`ConflictPolicy::Reject`], every source is consulted and if two give
/// different names the request is rejected with 400; see
/// [`TenantMiddleware::conflict_policy`](crate::TenantMiddleware::conflict_policy).
///
/// ```
/// use sea_orm_tenant_poem::Resolver;
///
/// // `X-Tenant: acme`, or else `?tenant=acme`.
/// let resolver = Resolver::header("X-Tenant")?.or(Resolver::query("tenant"));
/// assert_eq!(resolver.to_string(), "header X-Tenant or query parameter tenant");
///
/// let api_key = Resolver::custom("API key", |req| {
///     let key = req.header("x-api-key").map(str::to_owned);
///     async move {
///         Ok(match key.as_deref() {
///             Some("secret-acme") => Some("acme".to_owned()),
///             Some(_) => return Err(poem::Error::from_status(poem::http::StatusCode::UNAUTHORIZED)),
///             None => None,
///         })
///     }
/// });
/// # let _ = api_key;
/// # Ok::<(), sea_orm_tenant_poem::InvalidHeaderName>(())
/// ```
pub type Resolver = sea_orm_tenant_http::Resolver<poem::Request, poem::Error>;

pub(crate) use sea_orm_tenant_http::Found;

/// Why resolution stopped, for a poem request.
pub(crate) type Rejected = sea_orm_tenant_http::Rejected<poem::Error>;
