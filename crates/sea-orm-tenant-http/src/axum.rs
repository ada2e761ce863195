//! The `axum` feature: [`TenantRejection`] as an axum response.

use std::time::Duration;

use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response};
use http::{HeaderValue, header};

use crate::rejection::{DEFAULT_RETRY_AFTER, TenantRejection, add_retry_after};

impl TenantRejection {
    /// The default axum response, with `retry_after` as the `Retry-After` of a 503.
    pub fn to_axum_response(&self, retry_after: Duration) -> Response {
        let mut resp = Response::new(Body::from(self.body().to_string()));
        *resp.status_mut() = self.status();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        add_retry_after(resp.status(), resp.headers_mut(), retry_after);
        resp
    }
}

impl IntoResponse for TenantRejection {
    fn into_response(self) -> Response {
        self.to_axum_response(DEFAULT_RETRY_AFTER)
    }
}
