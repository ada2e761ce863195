//! What sea-orm-tenant's web adapters share, written once over the [`http`]
//! crate's request parts: where a request's tenant name comes from
//! ([`Resolver`]: query parameter, header, subdomain, path segment, closure, a
//! chain of them and the check that they agree), which paths run with no tenant
//! ([`Exempt`]), the request's tenant as handlers extract it
//! ([`CurrentTenant`]), and why a request was refused with which HTTP answer
//! ([`TenantRejection`]: status, JSON body, `Retry-After`).
//!
//! `sea-orm-tenant-poem` and `sea-orm-tenant-axum` re-export these types; use
//! this crate directly only to write an adapter for another framework. A
//! resolver reads any request type implementing [`RequestParts`]
//! (`http::Request<B>`, `http::request::Parts`, and `poem::Request` with the
//! `poem` feature).
//!
//! ```
//! use http::Request;
//! use sea_orm_tenant_http::{ConflictPolicy, Resolver, TenantRejection};
//!
//! type HttpResolver = Resolver<http::request::Parts, std::convert::Infallible>;
//!
//! let resolver = HttpResolver::header("X-Tenant")?.or(HttpResolver::query("tenant"));
//! let (parts, ()) = Request::get("/notes?tenant=acme").header("X-Tenant", "acme").body(())?.into_parts();
//! let found = resolver.resolve_now(&parts, ConflictPolicy::Reject).unwrap().ok().unwrap().unwrap();
//! assert_eq!(found.name, "acme");
//!
//! let (parts, ()) = Request::get("/notes?tenant=globex").header("X-Tenant", "acme").body(())?.into_parts();
//! let Err(rejected) = resolver.resolve_now(&parts, ConflictPolicy::Reject).unwrap() else { panic!() };
//! let rejection: TenantRejection = rejected.into_tenant().unwrap();
//! assert_eq!(rejection.status(), http::StatusCode::BAD_REQUEST);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "axum")]
mod axum;
mod body_start;
mod current;
mod exempt;
#[cfg(feature = "poem")]
mod poem;
mod rejection;
mod request;
mod resolver;
mod span;
#[cfg(feature = "testing")]
pub mod testing;

pub use body_start::{BodyStart, size_hint_with_first, start_body};
pub use current::CurrentTenant;
pub use exempt::Exempt;
pub use rejection::{DEFAULT_RETRY_AFTER, TenantRejection, add_retry_after};
pub use request::RequestParts;
pub use resolver::{
    ConflictPolicy, DEFAULT_HEADER, DEFAULT_QUERY_PARAM, Found, InvalidHeaderName, Rejected,
    Resolver,
};
pub use span::request_span;
