//! The `tenant_request` tracing span both adapters open per request.

use tracing::Span;

/// The span a request runs in: `tenant_request`, at `INFO`, with an empty
/// `tenant` field recorded once the tenant is known.
///
/// With no tracing subscriber interested in `INFO` and no `log` logger at
/// `INFO` (tracing falls back to `log` when no subscriber is set), nobody
/// would see it: it is then [`Span::none`], which costs nothing to create,
/// record or drop, where a disabled span still formats its fields for `log`.
pub fn request_span() -> Span {
    use tracing::level_filters::{LevelFilter, STATIC_MAX_LEVEL};
    let info = tracing::Level::INFO;
    let traced = info <= STATIC_MAX_LEVEL && info <= LevelFilter::current();
    if traced || log::max_level() >= log::Level::Info {
        tracing::info_span!("tenant_request", tenant = tracing::field::Empty)
    } else {
        Span::none()
    }
}
