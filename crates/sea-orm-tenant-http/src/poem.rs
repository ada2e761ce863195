//! The `poem` feature: poem requests as [`RequestParts`],
//! [`TenantRejection`] as a poem response, [`CurrentTenant`] as a poem extractor.

use std::time::Duration;

use http::{HeaderMap, Uri};
use poem::error::ResponseError;
use poem::{FromRequest, IntoResponse, Request, RequestBody, Response};
use sea_orm_tenant::TenantDb;

use crate::current::CurrentTenant;
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

impl CurrentTenant {
    /// The request's tenant: the one current in this task (the middleware's
    /// scope) with the [`TenantDb`] the middleware put in `req`. Outside the
    /// middleware's scope (an exempt route, an outer middleware), or on a
    /// request it did not handle, [`TenantRejection::NoTenant`].
    pub fn from_request_data(req: &Request) -> Result<Self, TenantRejection> {
        Self::current(req.data::<TenantDb>()).ok_or(TenantRejection::NoTenant)
    }
}

impl<'a> FromRequest<'a> for CurrentTenant {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        Ok(Self::from_request_data(req)?)
    }
}
