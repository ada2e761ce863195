//! The `poem` feature: poem requests as [`RequestParts`], and
//! [`TenantRejection`] as a poem response.

use std::time::Duration;

use http::{HeaderMap, Uri};
use poem::error::ResponseError;
use poem::{IntoResponse, Request, Response};

use crate::rejection::{DEFAULT_RETRY_AFTER, TenantRejection, add_retry_after};
use crate::request::RequestParts;

impl RequestParts for Request {
    fn uri(&self) -> &Uri {
        Request::uri(self)
    }

    fn headers(&self) -> &HeaderMap {
        Request::headers(self)
    }
}

impl TenantRejection {
    /// The default poem response, with `retry_after` as the `Retry-After` of a 503.
    pub fn to_response(&self, retry_after: Duration) -> Response {
        let mut resp = Response::builder()
            .status(self.status())
            .content_type("application/json")
            .body(self.body().to_string());
        add_retry_after(resp.status(), resp.headers_mut(), retry_after);
        resp
    }
}

impl ResponseError for TenantRejection {
    fn status(&self) -> http::StatusCode {
        TenantRejection::status(self)
    }

    fn as_response(&self) -> Response {
        self.to_response(DEFAULT_RETRY_AFTER)
    }
}

impl IntoResponse for TenantRejection {
    fn into_response(self) -> Response {
        self.to_response(DEFAULT_RETRY_AFTER)
    }
}
