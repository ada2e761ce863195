//! A bound on every request: one stuck on a database answers 503 in bounded
//! time instead of holding its client (and its place) forever.

use std::time::Duration;

use poem::http::StatusCode;
use poem::http::header::RETRY_AFTER;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};

use crate::error::json_error;

/// Answers 503 with `Retry-After: 1` when the inner endpoint has not answered
/// within the timeout. The request's future is dropped then: its query is
/// cancelled and its connection goes back to its pool, where the release
/// check ends whatever the server was still doing for it.
#[derive(Debug, Clone, Copy)]
pub struct RequestTimeout(pub Duration);

impl<E: Endpoint> Middleware<E> for RequestTimeout {
    type Output = RequestTimeoutEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        RequestTimeoutEndpoint {
            inner: ep,
            timeout: self.0,
        }
    }
}

/// The endpoint made by [`RequestTimeout`].
#[derive(Debug)]
pub struct RequestTimeoutEndpoint<E> {
    inner: E,
    timeout: Duration,
}

impl<E: Endpoint> Endpoint for RequestTimeoutEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        match tokio::time::timeout(self.timeout, self.inner.call(req)).await {
            Ok(answer) => answer.map(IntoResponse::into_response),
            Err(_) => {
                tracing::warn!(timeout = ?self.timeout, "request timed out");
                let mut response = json_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "the request did not finish within {:?}; try again",
                        self.timeout
                    ),
                );
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, poem::http::HeaderValue::from_static("1"));
                Ok(response)
            }
        }
    }
}
