//! The `axum` feature: [`TenantRejection`] as an axum response,
//! [`CurrentTenant`] as an axum extractor.

use std::time::Duration;

use axum_core::body::Body;
use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderValue, header};

use crate::current::CurrentTenant;
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

impl<S: Send + Sync> FromRequestParts<S> for CurrentTenant {
    type Rejection = TenantRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, TenantRejection> {
        Self::from_parts(parts).ok_or(TenantRejection::NoTenant)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for CurrentTenant {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(Self::from_parts(parts))
    }
}
