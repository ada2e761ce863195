//! Generic HTTP hardening, not about tenants: any poem server wants it, and
//! the library leaves it to the app. Client deadlines (a header trickled a
//! byte at a time, an idle connection), a bound on request bodies and on
//! request time, and one log line per request.

pub mod body_limit;
pub mod client_deadlines;
pub mod request_log;
pub mod request_timeout;
