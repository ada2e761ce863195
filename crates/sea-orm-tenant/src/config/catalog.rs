//! [`CatalogOptions`]: how an instance follows the tenant catalog (the
//! `[catalog]` table of the TOML file).

use std::time::Duration;

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
    /// Keep it well above a second, and below the store's `max_hold`, so
    /// held requests go on rather than fail. Default 8 s.
    #[serde(with = "humantime_serde")]
    pub moving_expiry: Duration,
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
