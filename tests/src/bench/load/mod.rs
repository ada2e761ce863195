//! The one HTTP load generator of the benchmarks, in the manner of `wrk`:
//! `connections` raw TCP connections, one request in flight on each, the next
//! `GET` sent as soon as the previous answer is read, for a fixed time or
//! until a request budget is spent. It runs on its own OS threads, each with a
//! current-thread tokio runtime, so on a small machine it takes about as
//! little CPU as `wrk -t1` and the servers under test get the rest.
//!
//! Each request goes to one of the spec's paths: always the first
//! ([`Pick::First`], one hot tenant), a seeded random one ([`Pick::Random`],
//! the same sequence on every machine), or each in turn ([`Pick::Cycle`]).
//! Answers are read exactly as framed and discarded (`http1`). A
//! connection the server closes, or answers with `Connection: close`
//! (gunicorn's sync workers do after every request), is opened again for the
//! next request: that cost is the server's and is kept. A request's latency
//! runs from the moment it is due (before opening its connection, when it
//! needs one) to the last byte of its answer; percentiles of it follow
//! [`crate::bench::percentile`].
//!
//! ```no_run
//! use std::time::Duration;
//! use e2e_tests::bench::load::{LoadSpec, run};
//!
//! let spec = LoadSpec::get("127.0.0.1:8000".parse().unwrap(), "/notes?tenant=test1")
//!     .connections(32)
//!     .duration(Duration::from_secs(8));
//! let result = run(&spec).expect("load threads");
//! println!("{:.0} requests/s, p99 {:?}", result.requests_per_sec(), result.percentile(0.99));
//! ```

mod http1;
mod result;
mod run;
mod spec;
#[cfg(test)]
mod tests;

pub use result::LoadResult;
pub use run::{run, run_in_background};
pub use spec::{LoadSpec, Pick};
