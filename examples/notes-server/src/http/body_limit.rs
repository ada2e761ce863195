//! A bound on request bodies: a body declared larger than the limit is
//! answered 413 before any of it is read, and a body without a declared
//! length (chunked) is read no further than the limit, so a client cannot make
//! the server hold more than that in memory.

use poem::http::StatusCode;
use poem::http::header::CONTENT_LENGTH;
use poem::{Body, Endpoint, IntoResponse, Middleware, Request, Response, Result};
use tokio::io::AsyncReadExt;

use crate::error::json_error;

/// The largest request body accepted: a note's 10,000 characters are at most
/// 40,000 bytes of UTF-8, and JSON escaping can double that.
pub const MAX_BODY_BYTES: u64 = 128 * 1024;

/// Bounds request bodies to `MAX_BODY_BYTES`.
#[derive(Debug, Clone, Copy, Default)]
pub struct BodyLimit;

impl<E: Endpoint> Middleware<E> for BodyLimit {
    type Output = BodyLimitEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        BodyLimitEndpoint { inner: ep }
    }
}

/// The endpoint made by [`BodyLimit`].
#[derive(Debug)]
pub struct BodyLimitEndpoint<E> {
    inner: E,
}

impl<E: Endpoint> Endpoint for BodyLimitEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
            return Ok(json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
            ));
        }
        if declared.is_none() {
            // Read at most one byte past the limit: a longer body is cut, and
            // its JSON then fails to parse (400).
            let body = req.take_body();
            req.set_body(Body::from_async_read(
                body.into_async_read().take(MAX_BODY_BYTES + 1),
            ));
        }
        self.inner.call(req).await.map(IntoResponse::into_response)
    }
}
