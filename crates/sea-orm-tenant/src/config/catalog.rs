//! [`CatalogOptions`]: how an instance follows the tenant catalog (the
//! `[catalog]` table of the TOML file).

use std::time::Duration;

/// How often a live mover renews its tenant's `moving` mark in the catalog
/// ([`Catalog::renew_moving`](crate::Catalog::renew_moving)). A follower
/// sees a renewal at once (listening) or at its next poll (at least this
/// often while a tenant is `moving`), and holds the tenant for another
/// [`CatalogOptions::moving_expiry`] from then.
pub const MOVING_RENEW_INTERVAL: Duration = Duration::from_secs(1);

/// How an instance follows the catalog.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogOptions {
    /// How often the generation counter is polled. Default 2 s.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Listen for PostgreSQL notifications. Default `true` (ignored on other backends).
    pub listen: bool,
    /// At most one re-read per this interval for unknown tenants. Default 100 ms.
    #[serde(with = "humantime_serde")]
    pub min_reread_interval: Duration,
    /// How long a tenant the catalog marks `moving` is held here at most
    /// since its mover last renewed the mark. A live mover renews it every
    /// second until it switches or undoes its move, so its hold lasts as
    /// long as the mover's (a copy under a write hold included); a tenant
    /// whose mark is not renewed for this long was left by a mover that
    /// died, and serves from the placement the catalog names (the move's
    /// fence in the database keeps its writes out of a copy in progress).
    /// At least [`least_moving_expiry`](Self::least_moving_expiry) (two
    /// renewals and a poll: one renewal may be late or lost), so a live
    /// mover's hold never lapses; below the store's `max_hold`, so held
    /// requests go on rather than fail. Default 8 s.
    #[serde(with = "humantime_serde")]
    pub moving_expiry: Duration,
}

impl CatalogOptions {
    /// The shortest valid `moving_expiry` with this `poll_interval`: two
    /// [`MOVING_RENEW_INTERVAL`]s and a poll (a follower polls at least
    /// every renew interval while a tenant is `moving`). A follower sees a
    /// live mover's renewal up to a poll after it is written, and a renewal
    /// can be late (a busy catalog) or lost (a failed write); with a shorter
    /// expiry, a live mover's tenant would be served from its old placement
    /// in the middle of its move, and its calls would fail at the move's
    /// fence.
    pub fn least_moving_expiry(&self) -> Duration {
        MOVING_RENEW_INTERVAL
            .saturating_mul(2)
            .saturating_add(self.poll_interval.min(MOVING_RENEW_INTERVAL))
    }
}

impl Default for CatalogOptions {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(2),
            listen: true,
            min_reread_interval: Duration::from_millis(100),
            moving_expiry: Duration::from_secs(8),
        }
    }
}
