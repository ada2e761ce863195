//! [`wait_until_held`]: a test's way to know that requests reached a hold.

use std::time::Duration;

use crate::store::TenantConnections;

/// Waits until `store` holds `tenant` with exactly `waiting` leases waiting
/// on it (a condition, not a delay); panics after 30 s.
pub async fn wait_until_held(store: &TenantConnections, tenant: &str, waiting: usize) {
    let reached = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let now = store
                .held()
                .into_iter()
                .find(|(key, _)| key.as_str() == tenant)
                .map(|(_, n)| n);
            if now == Some(waiting) {
                return;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(
        reached.is_ok(),
        "{waiting} request(s) of {tenant} did not reach its hold within 30 s"
    );
}
