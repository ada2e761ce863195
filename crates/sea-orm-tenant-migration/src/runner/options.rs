//! [`RunOptions`]: how a run behaves (jobs, fail-fast, timeouts, progress).

use std::num::NonZeroUsize;
use std::time::Duration;

use super::progress::ProgressMode;

/// Default time a runner waits for another runner's lock on a tenant.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// How a run behaves. Build it through [`TenantMigrator`](crate::TenantMigrator)'s methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOptions {
    /// Tenants worked on at once. Default: the number of CPUs.
    pub jobs: usize,
    /// Start no new tenant after the first failure; running ones finish. Default: false.
    pub fail_fast: bool,
    /// Give up on a tenant after this long (connecting, lock wait and migrations
    /// included); it is reported failed. Default: none.
    pub tenant_timeout: Option<Duration>,
    /// How long to wait for another runner holding a tenant's lock before
    /// reporting it busy (failed). Default: [`DEFAULT_LOCK_TIMEOUT`].
    pub lock_timeout: Duration,
    /// Progress display. Default: [`ProgressMode::Off`].
    pub progress: ProgressMode,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            jobs: default_jobs(),
            fail_fast: false,
            tenant_timeout: None,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            progress: ProgressMode::Off,
        }
    }
}

/// The number of CPUs (at least 1).
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}
