//! [`RequestParts`]: what a resolver reads of a request.

use http::{HeaderMap, Uri};

/// The parts of a request a [`Resolver`](crate::Resolver) reads: its URI and
/// its headers. Implemented for `http::Request<B>`, `http::request::Parts`, and
/// `poem::Request` with the `poem` feature.
pub trait RequestParts {
    /// The request URI (path, query, and the authority when given).
    fn uri(&self) -> &Uri;
    /// The request headers.
    fn headers(&self) -> &HeaderMap;
}

impl RequestParts for http::request::Parts {
    fn uri(&self) -> &Uri {
        &self.uri
    }

    fn headers(&self) -> &HeaderMap {
        &self.headers
    }
}

impl<B> RequestParts for http::Request<B> {
    fn uri(&self) -> &Uri {
        self.uri()
    }

    fn headers(&self) -> &HeaderMap {
        self.headers()
    }
}
