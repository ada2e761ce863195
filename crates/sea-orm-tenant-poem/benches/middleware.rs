//! Placeholder: replaced by the middleware benchmark.
fn main() {}
