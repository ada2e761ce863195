//! [`CurrentTenant`]: the request's tenant, for handlers (shared with the axum
//! crate: [`sea_orm_tenant_http::CurrentTenant`]).
//!
//! An extractor for plain poem handlers and poem-openapi operations (any poem
//! `FromRequest` type is an operation argument there; to also declare the
//! tenant in the OpenAPI document, use [`TenantHeader`](crate::TenantHeader)
//! or [`TenantQuery`](crate::TenantQuery)); `Data<&TenantDb>` works too.
//!
//! ```
//! use poem::handler;
//! use sea_orm_tenant::sea_orm::ConnectionTrait;
//! use sea_orm_tenant_poem::{CurrentTenant, TenantResultExt};
//!
//! #[handler]
//! async fn hello(tenant: CurrentTenant) -> poem::Result<String> {
//!     let db = tenant.db();
//!     db.execute_unprepared("SELECT 1").await.into_poem()?;
//!     Ok(format!("hello from {}", tenant.key()))
//! }
//! ```

pub use sea_orm_tenant_http::CurrentTenant;
