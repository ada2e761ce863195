//! Harness for the end-to-end tests (in `tests/`) and the benchmarks
//! (`src/bin/`, all built on [`bench`](mod@bench): one load generator, one percentile,
//! one rounds loop, one `--quick`, one clean-up, one exit code): builds the real `notes-server` binary once, starts
//! it on a free loopback port with a temporary `tenants.toml`, waits until
//! `/health` answers, and stops it with a signal. [`scale`] holds the
//! many-databases scenario: throw-away server databases, a per-server connection
//! budget in `tenants.toml`, and sampling of the server's sessions.
//!
//! ```no_run
//! use e2e_tests::{NotesServer, TenantsToml};
//!
//! # async fn demo() {
//! let dir = tempfile::tempdir().unwrap();
//! let config = TenantsToml::new()
//!     .tenant("acme", &format!("sqlite://{}/acme.db?mode=rwc", dir.path().display()))
//!     .write_to(dir.path());
//! let server = NotesServer::start(&config, &[]).await;
//! let answer = server.client().get(server.url("/notes?tenant=acme")).send().await.unwrap();
//! assert_eq!(answer.status(), 200);
//! server.terminate().await;
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bench;
mod binary;
mod config;
mod notes_requests;
pub mod random_hot;
pub mod scale;
mod server;
pub mod soak;
pub mod vs_flask;

pub use binary::{Flavor, notes_server_binary};
pub use config::TenantsToml;
pub use notes_requests::{Answer, notes_of};
pub use server::{NotesServer, Signal, drain_lines};
