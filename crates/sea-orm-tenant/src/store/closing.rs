//! Closing a tenant pool taken out of the open set: in a task of its own,
//! after its leases if asked, bounded by `close_timeout` for its place in the
//! open set, and its share of the server's budget given back only once its
//! connections have really closed.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::oneshot;

use super::capacity::{Capacity, CloseAfter, Closing};
use super::entry::Tenant;
use super::stats::Counters;
use crate::lock::lock;
use crate::pool::opened::OpenPool;

impl Capacity {
    /// Closes a pool taken out of the open set (its place already counted in
    /// `closing`) in a task of its own, so that a cancelled caller cannot leave
    /// it half closed. The place is given back when the pool has closed or
    /// after `close_timeout` (the returned [`Closing`] resolves then); its
    /// share of the server's budget only once it has really closed, since
    /// until then its connections are open.
    pub(super) fn spawn_close(
        self: &Arc<Self>,
        tenant: Arc<Tenant>,
        pool: OpenPool,
        after: CloseAfter,
    ) -> Closing {
        let capacity = Arc::clone(self);
        let room_coming = !matches!(after, CloseAfter::ItsLeases { room_coming: false });
        let server = tenant.server.as_ref().filter(|_| room_coming).cloned();
        if let Some(server) = &server {
            server.closing.fetch_add(1, Ordering::AcqRel);
        }
        let (done, closing) = oneshot::channel();
        tokio::spawn(async move {
            let timeout = capacity.close_timeout();
            let OpenPool {
                conn,
                permits,
                park,
                readers,
                users,
                leased,
                ..
            } = pool;
            // The pool's own reference: `closed()` then waits for its leases alone.
            drop(leased);
            let close = async {
                if after != CloseAfter::Now {
                    users.closed().await;
                }
                if let Some(park) = &park {
                    park.close();
                }
                if let Some(readers) = readers {
                    readers.close().await;
                }
                let _ = conn.close().await;
            };
            tokio::pin!(close);
            let abandoned = tokio::time::timeout(timeout, &mut close).await.is_err();
            if abandoned {
                Counters::bump(&capacity.counters.abandoned_closes, 1);
                tracing::warn!(
                    tenant = %tenant.key,
                    "tenant pool not closed within {timeout:?}: connections still in use close as they come back"
                );
            }
            if let Some(server) = &server {
                server.closing.fetch_sub(1, Ordering::AcqRel);
            }
            lock(&capacity.state).closing -= 1;
            capacity.changed.notify_waiters();
            let _ = done.send(());
            if abandoned && permits.is_some() {
                close.await;
            }
            drop(permits);
            capacity.changed.notify_waiters();
        });
        Closing(closing)
    }
}
