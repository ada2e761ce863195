//! Carrying the tenant into WebSocket upgrade callbacks.
//!
//! poem runs the callback of [`WebSocket::on_upgrade`] in a new task, after the
//! handler returned: the middleware's task-local tenant is gone there and
//! routed queries fail with `NoTenant`. Capture the tenant in the handler and
//! re-enter it in the callback with [`TenantWebSocketExt::on_upgrade_in_tenant`]
//! (or [`in_current_tenant`] for any callback).
//!
//! ```
//! use futures_util::{SinkExt, StreamExt};
//! use poem::web::websocket::{Message, WebSocket};
//! use poem::{IntoResponse, handler};
//! use sea_orm_tenant_poem::TenantWebSocketExt;
//!
//! #[handler]
//! fn ws(ws: WebSocket) -> impl IntoResponse {
//!     ws.on_upgrade_in_tenant(|mut socket| async move {
//!         // The request's tenant is current here: TenantDb queries reach it.
//!         let tenant = sea_orm_tenant::current_tenant().map(|t| t.to_string());
//!         let _ = socket.send(Message::Text(tenant.unwrap_or_default())).await;
//!         while let Some(Ok(_)) = socket.next().await {}
//!     })
//! }
//! ```

use std::future::Future;

use futures_util::FutureExt;
use futures_util::future::Either;
use poem::web::websocket::{WebSocket, WebSocketStream, WebSocketUpgraded};
use sea_orm_tenant::{Scoped, TenantContext, TenantError};

/// The future returned by a callback wrapped with [`in_current_tenant`]: it runs
/// inside the captured tenant, or as is when there was none. It resolves to
/// [`TenantError::Switch`] without running if polled where another tenant is current.
pub type InTenant<Fut> = Either<Scoped<Fut>, NoTenant<Fut>>;

/// The callback's future when no tenant was current, with the output of [`InTenant`].
pub type NoTenant<Fut> = futures_util::future::Map<
    Fut,
    fn(<Fut as Future>::Output) -> Result<<Fut as Future>::Output, TenantError>,
>;

/// Wraps a one-shot callback so that its future runs with the tenant that is
/// current *now* (call it in the handler). Without a current tenant the callback
/// runs as is, and its routed queries fail with `NoTenant`.
pub fn in_current_tenant<A, F, Fut>(
    callback: F,
) -> impl FnOnce(A) -> InTenant<Fut> + Send + Sync + 'static
where
    F: FnOnce(A) -> Fut + Send + Sync + 'static,
    Fut: Future,
{
    let context = TenantContext::current();
    move |arg| match context {
        Some(context) => Either::Left(context.wrap(callback(arg))),
        None => Either::Right(callback(arg).map(Ok as fn(_) -> _)),
    }
}

/// `on_upgrade` that keeps the request's tenant current in the callback.
pub trait TenantWebSocketExt {
    /// Like [`WebSocket::on_upgrade`], with the tenant current in the callback's future.
    fn on_upgrade_in_tenant<F, Fut>(
        self,
        callback: F,
    ) -> WebSocketUpgraded<impl FnOnce(WebSocketStream) -> InTenant<Fut> + Send + Sync + 'static>
    where
        F: FnOnce(WebSocketStream) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static;
}

impl TenantWebSocketExt for WebSocket {
    fn on_upgrade_in_tenant<F, Fut>(
        self,
        callback: F,
    ) -> WebSocketUpgraded<impl FnOnce(WebSocketStream) -> InTenant<Fut> + Send + Sync + 'static>
    where
        F: FnOnce(WebSocketStream) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
    {
        self.on_upgrade(in_current_tenant(callback))
    }
}
