//! The catch-up marker: one row in `sot_move.<name>` in the source and the
//! target database, published with the tenant's tables. Written on the
//! source once the tenant is fenced and read back on the target: a
//! subscription applies transactions in commit order, so when the row
//! arrives every write committed before the fence has arrived too. Both
//! ends are read from the servers; nothing waits on the replication's
//! status reports, which come when the sender has nothing else to do.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sea_orm::DatabaseConnection;

use super::replication::{Replication, exec, query_one};
use super::sql::ident;

/// The schema of the markers, in the source and the target database.
const SCHEMA: &str = "sot_move";

/// How often the target is read.
const POLL: Duration = Duration::from_millis(5);

impl Replication {
    /// The marker table, qualified.
    pub(super) fn marker(&self) -> String {
        format!("{}.{}", ident(SCHEMA), ident(&self.name))
    }

    /// Makes the marker table in `db` (empty: the copy fills the target's).
    pub(super) async fn make_marker(&self, db: &DatabaseConnection) -> Result<(), String> {
        // Two moves making the schema at once: one of them fails, then finds it.
        if exec(
            db,
            &format!("CREATE SCHEMA IF NOT EXISTS {}", ident(SCHEMA)),
        )
        .await
        .is_err()
        {
            exec(
                db,
                &format!("CREATE SCHEMA IF NOT EXISTS {}", ident(SCHEMA)),
            )
            .await?;
        }
        exec(
            db,
            &format!(
                "CREATE TABLE IF NOT EXISTS {} (id integer PRIMARY KEY, token bigint NOT NULL)",
                self.marker()
            ),
        )
        .await
    }

    /// Writes a new token on the source, then waits until the target has it;
    /// false when past `deadline`.
    pub(super) async fn wait_marked(
        &self,
        source: &DatabaseConnection,
        target: &DatabaseConnection,
        deadline: Instant,
    ) -> Result<bool, String> {
        let token = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or_default();
        exec(
            source,
            &format!(
                "INSERT INTO {m} (id, token) VALUES (1, {token}) \
                 ON CONFLICT (id) DO UPDATE SET token = EXCLUDED.token",
                m = self.marker()
            ),
        )
        .await?;
        let read = format!(
            "SELECT coalesce(max(token), 0) AS token FROM {}",
            self.marker()
        );
        loop {
            let seen: i64 = query_one(target, &read, vec![])
                .await?
                .try_get("", "token")
                .map_err(|e| e.to_string())?;
            if seen == token {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Drops the marker table from `db`, and its schema once no other
    /// move's marker is in it.
    pub(super) async fn drop_marker(&self, db: &DatabaseConnection) -> Result<(), String> {
        exec(db, &format!("DROP TABLE IF EXISTS {}", self.marker())).await?;
        // RESTRICT: another move's marker keeps the schema.
        let _ = exec(db, &format!("DROP SCHEMA IF EXISTS {}", ident(SCHEMA))).await;
        Ok(())
    }
}
