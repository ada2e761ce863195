//! One log line per request: method, path, status, latency and tenant.

use std::time::Instant;

use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};

use sea_orm_tenant_poem::RequestTenantSlot;

/// Logs every request at `info` (target `notes_server::request`) once it is answered.
///
/// The tenant field is what the tenant middleware made of the request
/// ([`RequestTenant`](sea_orm_tenant_poem::RequestTenant)): the name when it
/// is well-formed, `-` when none was given (or the route needs no tenant),
/// `(conflicting)` when header and query parameter differ and `(invalid)`
/// otherwise: a hostile value is never logged.
#[derive(Debug, Default, Clone, Copy)]
pub struct RequestLog;

impl<E: Endpoint> Middleware<E> for RequestLog {
    type Output = RequestLogEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        RequestLogEndpoint { inner: ep }
    }
}

/// The endpoint made by [`RequestLog`].
#[derive(Debug)]
pub struct RequestLogEndpoint<E> {
    inner: E,
}

impl<E: Endpoint> Endpoint for RequestLogEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        let started = Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let slot = RequestTenantSlot::default();
        let mut req = req;
        req.extensions_mut().insert(slot.clone());
        let result = self.inner.call(req).await;
        let response = match result {
            Ok(output) => output.into_response(),
            Err(err) => err.into_response(),
        };
        tracing::info!(
            target: "notes_server::request",
            method = %method,
            path = %path,
            status = response.status().as_u16(),
            latency = ?started.elapsed(),
            tenant = %slot.get().map_or_else(|| "-".to_owned(), ToString::to_string),
            "request"
        );
        Ok(response)
    }
}
