//! `notes-server`: a multi-tenant notes API on [`sea_orm_tenant`], one database
//! per tenant, picked per request by `?tenant=` or the `X-Tenant` header.
//!
//! See the crate's README for the HTTP contract, the configuration and a curl
//! session. The binary is `src/main.rs`; this library holds its parts so the
//! benchmark baseline (`--single-db`) shares the very same handlers.
//!
//! ```
//! use notes_server::notes_api::{DEFAULT_LIMIT, MAX_LIMIT};
//! assert_eq!((DEFAULT_LIMIT, MAX_LIMIT), (100, 1000));
//! let args = <notes_server::cli::Args as clap::Parser>::parse_from(["notes-server"]);
//! assert_eq!(args.bind, "127.0.0.1:8000");
//! assert!(args.config.ends_with("tenants.toml"));
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod admin_api;
pub mod app;
pub mod cli;
pub mod error;
pub mod health;
pub mod http;
pub mod json_body;
pub mod logging;
pub mod metrics;
pub mod note;
pub mod notes_api;
pub mod server;
pub mod shutdown;
pub mod startup;
pub mod tenant_args;
