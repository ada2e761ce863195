//! [`Refresh`]: what the store consults before refusing a tenant it does not
//! know (the catalog's follower implements it), so a tenant created a moment
//! ago on another instance is found.

use futures_util::future::BoxFuture;
use tokio::time::Instant;

/// Something that can re-read where tenants come from.
pub(crate) trait Refresh: Send + Sync {
    /// Returns once a read that started at or after `since` finished.
    fn refresh_since(&self, since: Instant) -> BoxFuture<'_, ()>;
}
