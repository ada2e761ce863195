//! The valid range of every numeric and duration setting, checked when a
//! configuration is loaded or a tenant is added, so that no value can panic or
//! crash a driver on first use (sqlx panics on a pool of 0 connections, an
//! `Instant` overflows past about 2^63 ns, SQLite's busy timeout is an `i32` of
//! milliseconds).

use std::ops::RangeInclusive;
use std::time::Duration;

use crate::config::catalog::MOVING_RENEW_INTERVAL;
use crate::config::{CatalogOptions, ConfigError, PoolOptions, ServerOptions, StoreOptions};

const SECOND: Duration = Duration::from_secs(1);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

/// `max_connections` of one pool: 1 to 10,000 (sqlx allocates a queue of this size).
pub const MAX_CONNECTIONS: RangeInclusive<u32> = 1..=10_000;
/// `connect_timeout` and `acquire_timeout`: 1 ms to 1 hour.
pub const WAIT_TIMEOUT: RangeInclusive<Duration> = Duration::from_millis(1)..=HOUR;
/// `idle_timeout` and `max_lifetime` of a connection: 1 s to 30 days.
pub const CONNECTION_AGE: RangeInclusive<Duration> = SECOND..=Duration::from_secs(30 * 86_400);
/// `sqlite_readers`: 0 to 1,000 (each is a thread).
pub const SQLITE_READERS: RangeInclusive<u32> = 0..=1_000;
/// `sqlite_busy_timeout`: 0 to 1 day.
pub const SQLITE_BUSY_TIMEOUT: RangeInclusive<Duration> = Duration::ZERO..=DAY;
/// `store.max_open_pools`: 1 to 1,000,000.
pub const MAX_OPEN_POOLS: RangeInclusive<usize> = 1..=1_000_000;
/// `store.pool_idle_timeout`: 10 ms to 30 days.
pub const POOL_IDLE_TIMEOUT: RangeInclusive<Duration> =
    Duration::from_millis(10)..=Duration::from_secs(30 * 86_400);
/// A server's connection budget (`servers.*.max_connections`,
/// `store.server_max_connections`): 1 to 100,000.
pub const SERVER_MAX_CONNECTIONS: RangeInclusive<u32> = 1..=100_000;
/// `store.instances`: 1 to 10,000.
pub const INSTANCES: RangeInclusive<u32> = 1..=10_000;
/// `store.close_timeout`: 1 ms to 1 hour.
pub const CLOSE_TIMEOUT: RangeInclusive<Duration> = Duration::from_millis(1)..=HOUR;
/// `store.max_hold`: 1 ms to 1 hour.
pub const MAX_HOLD: RangeInclusive<Duration> = Duration::from_millis(1)..=HOUR;

/// `catalog.poll_interval`: 10 ms to 1 day.
pub const POLL_INTERVAL: RangeInclusive<Duration> = Duration::from_millis(10)..=DAY;
/// `catalog.min_reread_interval`: 0 to 1 hour.
pub const MIN_REREAD_INTERVAL: RangeInclusive<Duration> = Duration::ZERO..=HOUR;
/// `catalog.moving_expiry`: 2 s to 1 hour, and at least
/// [`CatalogOptions::least_moving_expiry`] (two mover renewals and a poll).
pub const MOVING_EXPIRY: RangeInclusive<Duration> = Duration::from_secs(2)..=HOUR;

fn check<T: PartialOrd + std::fmt::Debug>(
    target: &str,
    field: &'static str,
    value: Option<T>,
    range: &RangeInclusive<T>,
) -> Result<(), ConfigError> {
    match value {
        Some(v) if !range.contains(&v) => Err(ConfigError::OutOfRange {
            target: target.to_owned(),
            field,
            value: format!("{v:?}"),
            range: format!("{:?} to {:?}", range.start(), range.end()),
        }),
        _ => Ok(()),
    }
}

impl PoolOptions {
    /// Checks every set field against its range; `target` names the tenant (or
    /// `defaults`, `shared`) in the error.
    pub fn validate(&self, target: &str) -> Result<(), ConfigError> {
        check(
            target,
            "max_connections",
            self.max_connections,
            &MAX_CONNECTIONS,
        )?;
        let max = self.max_connections.unwrap_or(*MAX_CONNECTIONS.end());
        check(target, "min_connections", self.min_connections, &(0..=max))?;
        check(
            target,
            "connect_timeout",
            self.connect_timeout,
            &WAIT_TIMEOUT,
        )?;
        check(
            target,
            "acquire_timeout",
            self.acquire_timeout,
            &WAIT_TIMEOUT,
        )?;
        check(target, "idle_timeout", self.idle_timeout, &CONNECTION_AGE)?;
        check(target, "max_lifetime", self.max_lifetime, &CONNECTION_AGE)?;
        check(
            target,
            "sqlite_readers",
            self.sqlite_readers,
            &SQLITE_READERS,
        )?;
        check(
            target,
            "sqlite_busy_timeout",
            self.sqlite_busy_timeout,
            &SQLITE_BUSY_TIMEOUT,
        )
    }
}

impl CatalogOptions {
    /// Checks every field against its range, and `moving_expiry` against
    /// [`least_moving_expiry`](CatalogOptions::least_moving_expiry).
    pub fn validate(&self) -> Result<(), ConfigError> {
        check(
            "catalog",
            "poll_interval",
            Some(self.poll_interval),
            &POLL_INTERVAL,
        )?;
        check(
            "catalog",
            "min_reread_interval",
            Some(self.min_reread_interval),
            &MIN_REREAD_INTERVAL,
        )?;
        check(
            "catalog",
            "moving_expiry",
            Some(self.moving_expiry),
            &MOVING_EXPIRY,
        )?;
        let least = self.least_moving_expiry();
        if self.moving_expiry < least {
            return Err(ConfigError::MovingExpiryTooShort {
                moving_expiry: self.moving_expiry,
                poll_interval: self.poll_interval,
                renew_interval: MOVING_RENEW_INTERVAL,
                least,
            });
        }
        Ok(())
    }
}

impl StoreOptions {
    /// Checks every set field against its range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check(
            "store",
            "max_open_pools",
            self.max_open_pools,
            &MAX_OPEN_POOLS,
        )?;
        check(
            "store",
            "pool_idle_timeout",
            self.pool_idle_timeout,
            &POOL_IDLE_TIMEOUT,
        )?;
        check("store", "close_timeout", self.close_timeout, &CLOSE_TIMEOUT)?;
        check("store", "max_hold", self.max_hold, &MAX_HOLD)?;
        check(
            "store",
            "server_max_connections",
            self.server_max_connections,
            &SERVER_MAX_CONNECTIONS,
        )?;
        check("store", "instances", self.instances, &INSTANCES)
    }
}

impl ServerOptions {
    /// Checks every set field against its range; `server` names it in the error.
    pub fn validate(&self, server: &str) -> Result<(), ConfigError> {
        check(
            server,
            "max_connections",
            self.max_connections,
            &SERVER_MAX_CONNECTIONS,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bound_is_checked() {
        let zero = PoolOptions {
            max_connections: Some(0),
            ..Default::default()
        };
        let err = zero.validate("acme").unwrap_err();
        assert!(err.to_string().contains("max_connections"), "{err}");
        assert!(err.to_string().contains("acme"), "{err}");
        let min_above_max = PoolOptions {
            max_connections: Some(2),
            min_connections: Some(3),
            ..Default::default()
        };
        assert!(min_above_max.validate("t").is_err());
        let busy = PoolOptions {
            sqlite_busy_timeout: Some(Duration::from_secs(30 * 86_400)),
            ..Default::default()
        };
        assert!(busy.validate("t").is_err());
        let readers = PoolOptions {
            sqlite_readers: Some(1_001),
            ..Default::default()
        };
        assert!(readers.validate("t").is_err());
        let acquire = PoolOptions {
            acquire_timeout: Some(Duration::MAX),
            ..Default::default()
        };
        assert!(acquire.validate("t").is_err());
        let store = StoreOptions {
            max_open_pools: Some(0),
            ..Default::default()
        };
        assert!(store.validate().is_err());
        assert!(PoolOptions::default().validate("t").is_ok());
        assert!(StoreOptions::default().validate().is_ok());
        assert!(CatalogOptions::default().validate().is_ok());
        for catalog in [
            CatalogOptions {
                moving_expiry: Duration::ZERO,
                ..Default::default()
            },
            CatalogOptions {
                moving_expiry: Duration::MAX,
                ..Default::default()
            },
            CatalogOptions {
                poll_interval: Duration::ZERO,
                ..Default::default()
            },
        ] {
            assert!(
                matches!(catalog.validate(), Err(ConfigError::OutOfRange { .. })),
                "{catalog:?}"
            );
        }
        // Within its range, but shorter than two renewals and a poll.
        let short = CatalogOptions {
            moving_expiry: Duration::from_millis(2500),
            ..Default::default()
        };
        assert_eq!(short.least_moving_expiry(), Duration::from_secs(3));
        let err = short.validate().unwrap_err();
        assert!(
            matches!(err, ConfigError::MovingExpiryTooShort { least, .. } if least == Duration::from_secs(3)),
            "{err}"
        );
        assert!(err.to_string().contains("at least 3s"), "{err}");
        let polling_often = CatalogOptions {
            poll_interval: Duration::from_millis(20),
            ..short
        };
        assert!(polling_often.validate().is_ok());
    }
}
