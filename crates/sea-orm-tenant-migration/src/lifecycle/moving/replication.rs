//! The copy: a publication and a logical replication slot on the source, a
//! subscription on the target, named for the tenant so that a second run
//! finds what a failed one left. PostgreSQL only.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait, Value};
use sea_orm_tenant::rows::TENANT_SETTING;
use sea_orm_tenant::scrub;

use super::sql::{Table, ident, literal};
use crate::login::{Login, decode};

/// How often the copy's progress is read.
const POLL: Duration = Duration::from_millis(50);

/// The publication's, the slot's and the subscription's name: one per
/// tenant and source database (slots are named server-wide), stable across
/// runs so that a second run finds what a failed one left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Replication {
    pub(super) name: String,
}

impl Replication {
    pub(super) fn for_tenant(tenant: &str, source_url: &str) -> Self {
        let database = url::Url::parse(source_url)
            .map(|u| {
                format!(
                    "{}:{}/{}",
                    u.host_str().unwrap_or_default(),
                    u.port().unwrap_or(5432),
                    u.path()
                )
            })
            .unwrap_or_default();
        // FNV-1a: stable across runs and builds, unlike the std hasher.
        let hash = tenant
            .bytes()
            .chain([0])
            .chain(database.bytes())
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
        Self {
            name: format!("sot_move_{hash:016x}"),
        }
    }

    /// Publishes `tables` and makes the slot. The slot is made apart from
    /// the subscription: `CREATE SUBSCRIPTION` making its slot on the same
    /// server would wait for itself.
    /// Making the slot waits for every transaction of the source's server
    /// that has a transaction id to end: for at most `limit`.
    pub(super) async fn publish(
        &self,
        source: &DatabaseConnection,
        tables: &[Table],
        limit: Duration,
    ) -> Result<(), String> {
        self.make_marker(source).await?;
        let mut list: Vec<String> = tables.iter().map(Table::published).collect();
        list.push(self.marker());
        exec(
            source,
            &format!(
                "CREATE PUBLICATION {} FOR TABLE {}",
                ident(&self.name),
                list.join(", ")
            ),
        )
        .await?;
        let txn = source.begin().await.map_err(|e| e.to_string())?;
        txn.execute_unprepared(&format!(
            "SET LOCAL statement_timeout = '{}ms'",
            limit.as_millis().clamp(1, i32::MAX as u128)
        ))
        .await
        .map_err(|e| e.to_string())?;
        txn.execute_unprepared(&format!(
            "SELECT pg_create_logical_replication_slot({}, 'pgoutput')",
            literal(&self.name)
        ))
        .await
        .map_err(|e| e.to_string())?;
        txn.commit().await.map_err(|e| e.to_string())
    }

    /// Subscribes the target database to the source database at `source_url`.
    /// For a row tenant's rows, the subscription's sessions on the source
    /// carry the tenant's setting: the initial copy reads the tables under
    /// their row-level security as that tenant.
    pub(super) async fn subscribe(
        &self,
        target: &DatabaseConnection,
        source_url: &str,
        row_tenant: Option<&str>,
    ) -> Result<(), String> {
        self.make_marker(target).await?;
        let mut conninfo = conninfo(source_url)?;
        if let Some(tenant) = row_tenant {
            let value = tenant.replace('\\', "\\\\").replace(' ', "\\ ");
            conninfo.push_str(&format!(
                " options={}",
                conn_value(&format!("-c {TENANT_SETTING}={value}"))
            ));
        }
        let sql = format!(
            "CREATE SUBSCRIPTION {name} CONNECTION {conninfo} PUBLICATION {name} \
             WITH (create_slot = false, slot_name = {slot}, copy_data = true, binary = true)",
            name = ident(&self.name),
            conninfo = literal(&conninfo),
            slot = literal(&self.name),
        );
        exec(target, &sql).await.map_err(|e| scrub(&e, source_url))
    }

    /// Waits until every table's initial copy is done; false when past
    /// `deadline` or asked to `stop`.
    pub(super) async fn wait_copied(
        &self,
        target: &DatabaseConnection,
        tables: usize,
        deadline: Instant,
        stop: &AtomicBool,
    ) -> Result<bool, String> {
        let sql = "SELECT count(*) FILTER (WHERE r.srsubstate IN ('r', 's')) AS done, \
                   (SELECT coalesce(sum(sync_error_count + apply_error_count), 0)::bigint \
                      FROM pg_stat_subscription_stats WHERE subname = $1) AS errors \
                   FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid \
                   WHERE s.subname = $1";
        loop {
            let row = query_one(target, sql, vec![self.name.clone().into()]).await?;
            let done: i64 = row.try_get("", "done").map_err(|e| e.to_string())?;
            let errors: i64 = row.try_get("", "errors").map_err(|e| e.to_string())?;
            if errors > 0 {
                return Err(format!(
                    "the subscription reported {errors} error(s); the target server's log has them"
                ));
            }
            // The tenant's tables and the marker.
            if done as usize > tables {
                return Ok(true);
            }
            if Instant::now() >= deadline || stop.load(Ordering::Acquire) {
                return Ok(false);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Drops the subscription, if any, from the target database; its slot
    /// is the source's to drop ([`unpublish`](Self::unpublish)).
    pub(super) async fn unsubscribe(&self, target: &DatabaseConnection) -> Result<(), String> {
        let exists = query_one(
            target,
            "SELECT count(*) AS n FROM pg_subscription WHERE subname = $1 \
             AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
            vec![self.name.clone().into()],
        )
        .await?
        .try_get::<i64>("", "n")
        .map_err(|e| e.to_string())?;
        if exists == 0 {
            return self.drop_marker(target).await;
        }
        let name = ident(&self.name);
        exec(target, &format!("ALTER SUBSCRIPTION {name} DISABLE")).await?;
        exec(
            target,
            &format!("ALTER SUBSCRIPTION {name} SET (slot_name = NONE)"),
        )
        .await?;
        exec(target, &format!("DROP SUBSCRIPTION {name}")).await?;
        self.drop_marker(target).await
    }

    /// Whether this move's slot exists on the source's server (a run that
    /// did not finish left it).
    pub(super) async fn slot_exists(&self, source: &DatabaseConnection) -> Result<bool, String> {
        query_one(
            source,
            "SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1) AS n",
            vec![self.name.clone().into()],
        )
        .await?
        .try_get::<bool>("", "n")
        .map_err(|e| e.to_string())
    }

    /// Drops the slot (once its sender has stopped) and the publication, if
    /// they exist.
    pub(super) async fn unpublish(&self, source: &DatabaseConnection) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let row = query_one(
                source,
                "SELECT count(*) AS n, count(*) FILTER (WHERE active) AS active \
                 FROM pg_replication_slots WHERE slot_name = $1",
                vec![self.name.clone().into()],
            )
            .await?;
            let n: i64 = row.try_get("", "n").map_err(|e| e.to_string())?;
            let active: i64 = row.try_get("", "active").map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            if active == 0 {
                exec(
                    source,
                    &format!("SELECT pg_drop_replication_slot({})", literal(&self.name)),
                )
                .await?;
                break;
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "replication slot {} is still in use; drop it with pg_drop_replication_slot once it is not (it keeps the source's WAL)",
                    self.name
                ));
            }
            tokio::time::sleep(POLL).await;
        }
        exec(
            source,
            &format!("DROP PUBLICATION IF EXISTS {}", ident(&self.name)),
        )
        .await?;
        self.drop_marker(source).await
    }
}

/// A libpq connection string for `url`, quoted for its values.
fn conninfo(url: &str) -> Result<String, String> {
    let parsed = url::Url::parse(url).map_err(|_| "the source URL does not parse".to_owned())?;
    let login = Login::of(&parsed, 5432);
    let database = decode(parsed.path().trim_start_matches('/'));
    let mut parts = vec![
        format!("host={}", conn_value(&login.host)),
        format!("port={}", login.port),
        format!("dbname={}", conn_value(&database)),
    ];
    if let Some(user) = &login.user {
        parts.push(format!("user={}", conn_value(user)));
    }
    if let Some(password) = &login.password {
        parts.push(format!("password={}", conn_value(password)));
    }
    Ok(parts.join(" "))
}

fn conn_value(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

pub(super) async fn exec(db: &DatabaseConnection, sql: &str) -> Result<(), String> {
    db.execute_unprepared(sql)
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

pub(super) async fn query_one(
    db: &impl ConnectionTrait,
    sql: &str,
    values: Vec<Value>,
) -> Result<sea_orm::QueryResult, String> {
    db.query_one_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        values,
    ))
    .await
    .map_err(|e| e.to_string())?
    .ok_or_else(|| "no row".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_identifiers() {
        let url = "postgres://u:secret@db:5432/app";
        let a = Replication::for_tenant("acme", url);
        assert_eq!(
            a,
            Replication::for_tenant("acme", "postgres://u:other@db/app")
        );
        assert_ne!(a, Replication::for_tenant("acme2", url));
        assert_ne!(a, Replication::for_tenant("acme", "postgres://u@db/app2"));
        assert!(a.name.len() <= 63);
        assert!(
            a.name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        );
    }

    #[test]
    fn conninfo_quotes_every_value() {
        let info = conninfo("postgres://u%27x:p%5C%27w@db.example:6543/app").unwrap();
        assert_eq!(
            info,
            r"host='db.example' port=6543 dbname='app' user='u\'x' password='p\\\'w'"
        );
    }
}
