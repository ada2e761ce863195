//! The notes API of `notes-server` on axum, with the same contract: `GET` and
//! `POST /notes`, `GET` and `DELETE /notes/{id}` routed to the tenant named
//! by the `X-Tenant` header or the `tenant` query parameter (both given and
//! different: 400) by [`sea_orm_tenant_axum::TenantLayer`]; `GET /health`
//! with no tenant; every error a JSON `{"error": "..."}`.
//!
//! | layer | modules |
//! |---|---|
//! | 1 | `error`, `note` |
//! | 2 | `notes` |
//! | 3 | `app`, `startup` |

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod app;
pub mod error;
pub mod note;
pub mod notes;
pub mod startup;
