//! Publishing the store's figures through the [`metrics`] facade:
//! [`TenantConnections::record_metrics`].
//!
//! # Recorded at scrape time
//!
//! The store keeps plain atomic counters on its hot path (one relaxed
//! increment per routed call) and never talks to a metrics recorder there.
//! Whatever exports metrics calls [`record_metrics`](TenantConnections::record_metrics)
//! when it is scraped: it takes a snapshot with
//! [`stats`](TenantConnections::stats),
//! [`server_stats`](TenantConnections::server_stats) and
//! [`tenant_stats`](TenantConnections::tenant_stats) and sets every metric
//! below on the current recorder (gauges with `set`, counters with
//! `absolute`), then the exporter renders. A call costs one lock of the tenant
//! registry and of the server budgets, and a few metric handles per tenant.
//!
//! ```
//! # use sea_orm_tenant::TenantConnections;
//! # fn scrape(store: &TenantConnections, render: impl Fn() -> String) -> String {
//! // In a `/metrics` handler:
//! store.record_metrics();
//! render() // e.g. metrics_exporter_prometheus::PrometheusHandle::render
//! # }
//! ```
//!
//! The metrics are described (unit and help text) once per process, at the
//! first call, to the recorder current then: install the recorder before the
//! first call.
//!
//! A tenant removed at runtime is no longer recorded, but its series keep
//! their last values in the recorder; with `metrics-exporter-prometheus`, the
//! builder's `idle_timeout` drops them.
//!
//! # Metrics
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `sea_orm_tenant_registered_tenants` | gauge | | tenants registered now |
//! | `sea_orm_tenant_open_pools` | gauge | | tenant pools open now, closing ones included |
//! | `sea_orm_tenant_closing_pools` | gauge | | of those, pools being closed (evicted or removed, waiting for their connections) |
//! | `sea_orm_tenant_pool_opens_total` | counter | | pools opened since the store was built |
//! | `sea_orm_tenant_pool_evictions_total` | counter | | pools closed to make room or because they sat idle |
//! | `sea_orm_tenant_pool_grows_total` | counter | | pools replaced by a larger one under load |
//! | `sea_orm_tenant_pool_open_failures_total` | counter | | failed attempts to open a pool |
//! | `sea_orm_tenant_pool_abandoned_closes_total` | counter | | pools whose connections did not all come back within `close_timeout` |
//! | `sea_orm_tenant_server_budget` | gauge | `server` | most connections this process may hold to the server (0 until first use) |
//! | `sea_orm_tenant_server_connections_in_use` | gauge | `server` | connections counted against the budget now (pool maximums and sessions) |
//! | `sea_orm_tenant_server_waiting` | gauge | `server` | callers waiting for room now |
//! | `sea_orm_tenant_server_waits_total` | counter | `server` | callers that had to wait for room |
//! | `sea_orm_tenant_server_wait_seconds_total` | gauge, only grows | `server` | their total waiting time, in seconds |
//! | `sea_orm_tenant_server_refusals_total` | counter | `server` | callers refused after waiting the acquire timeout |
//! | `sea_orm_tenant_tenant_open` | gauge | `tenant` | 1 while the tenant's pool is open, else 0 |
//! | `sea_orm_tenant_tenant_queries_total` | counter | `tenant` | routed calls (queries, executes, streams, transactions) since registration |
//! | `sea_orm_tenant_tenant_errors_total` | counter | `tenant` | of those, the ones that failed (routing or database errors) |
//!
//! `server` is `host:port` as in the tenants' URLs (PostgreSQL and MySQL
//! only: SQLite files have no server, so a SQLite-only store has no `server`
//! series). `tenant` is the tenant name.
//!
//! `sea_orm_tenant_server_wait_seconds_total` is a gauge because the facade's
//! counters hold whole numbers and most waits are shorter than a second; it
//! only grows, so `rate()` applies as to a counter.

use std::sync::Once;

use metrics::{Unit, counter, describe_counter, describe_gauge, gauge};

use crate::{ServerStats, StoreStats, TenantConnections, TenantStats};

const REGISTERED_TENANTS: &str = "sea_orm_tenant_registered_tenants";
const OPEN_POOLS: &str = "sea_orm_tenant_open_pools";
const CLOSING_POOLS: &str = "sea_orm_tenant_closing_pools";
const POOL_OPENS: &str = "sea_orm_tenant_pool_opens_total";
const POOL_EVICTIONS: &str = "sea_orm_tenant_pool_evictions_total";
const POOL_GROWS: &str = "sea_orm_tenant_pool_grows_total";
const POOL_OPEN_FAILURES: &str = "sea_orm_tenant_pool_open_failures_total";
const POOL_ABANDONED_CLOSES: &str = "sea_orm_tenant_pool_abandoned_closes_total";
const SERVER_BUDGET: &str = "sea_orm_tenant_server_budget";
const SERVER_IN_USE: &str = "sea_orm_tenant_server_connections_in_use";
const SERVER_WAITING: &str = "sea_orm_tenant_server_waiting";
const SERVER_WAITS: &str = "sea_orm_tenant_server_waits_total";
const SERVER_WAIT_SECONDS: &str = "sea_orm_tenant_server_wait_seconds_total";
const SERVER_REFUSALS: &str = "sea_orm_tenant_server_refusals_total";
const TENANT_OPEN: &str = "sea_orm_tenant_tenant_open";
const TENANT_QUERIES: &str = "sea_orm_tenant_tenant_queries_total";
const TENANT_ERRORS: &str = "sea_orm_tenant_tenant_errors_total";

impl TenantConnections {
    /// Sets every metric of the [`metrics`](crate::metrics) module on the
    /// current `metrics` recorder from a snapshot of this store's figures.
    /// Call it when the exporter is scraped, just before rendering.
    pub fn record_metrics(&self) {
        record(&self.stats(), &self.server_stats(), &self.tenant_stats());
    }
}

/// Sets the metrics from one snapshot.
fn record(store: &StoreStats, servers: &[ServerStats], tenants: &[TenantStats]) {
    describe();

    gauge!(REGISTERED_TENANTS).set(store.registered as f64);
    gauge!(OPEN_POOLS).set(store.open as f64);
    gauge!(CLOSING_POOLS).set(store.closing as f64);
    counter!(POOL_OPENS).absolute(store.opens);
    counter!(POOL_EVICTIONS).absolute(store.evictions);
    counter!(POOL_GROWS).absolute(store.grows);
    counter!(POOL_OPEN_FAILURES).absolute(store.open_failures);
    counter!(POOL_ABANDONED_CLOSES).absolute(store.abandoned_closes);

    for s in servers {
        let server = s.server.to_string();
        gauge!(SERVER_BUDGET, "server" => server.clone()).set(s.budget as f64);
        gauge!(SERVER_IN_USE, "server" => server.clone()).set(s.in_use as f64);
        gauge!(SERVER_WAITING, "server" => server.clone()).set(s.waiting as f64);
        counter!(SERVER_WAITS, "server" => server.clone()).absolute(s.waits);
        gauge!(SERVER_WAIT_SECONDS, "server" => server.clone()).set(s.waited);
        counter!(SERVER_REFUSALS, "server" => server).absolute(s.refusals);
    }

    for t in tenants {
        let tenant = t.tenant.to_string();
        gauge!(TENANT_OPEN, "tenant" => tenant.clone()).set(if t.open { 1.0 } else { 0.0 });
        counter!(TENANT_QUERIES, "tenant" => tenant.clone()).absolute(t.queries);
        counter!(TENANT_ERRORS, "tenant" => tenant).absolute(t.errors);
    }
}

/// Units and help texts, given once per process to the recorder current then.
fn describe() {
    static DESCRIBED: Once = Once::new();
    DESCRIBED.call_once(|| {
        describe_gauge!(REGISTERED_TENANTS, Unit::Count, "Tenants registered now.");
        describe_gauge!(
            OPEN_POOLS,
            Unit::Count,
            "Tenant pools open now, closing ones included."
        );
        describe_gauge!(
            CLOSING_POOLS,
            Unit::Count,
            "Tenant pools being closed (evicted or removed), waiting for their connections."
        );
        describe_counter!(
            POOL_OPENS,
            Unit::Count,
            "Tenant pools opened since the store was built."
        );
        describe_counter!(
            POOL_EVICTIONS,
            Unit::Count,
            "Tenant pools closed to make room or because they sat idle."
        );
        describe_counter!(
            POOL_GROWS,
            Unit::Count,
            "Tenant pools replaced by a larger one under load."
        );
        describe_counter!(
            POOL_OPEN_FAILURES,
            Unit::Count,
            "Failed attempts to open a tenant pool."
        );
        describe_counter!(
            POOL_ABANDONED_CLOSES,
            Unit::Count,
            "Tenant pools whose connections did not all come back within close_timeout."
        );
        describe_gauge!(
            SERVER_BUDGET,
            Unit::Count,
            "Most connections this process may hold to the database server (0 until first use)."
        );
        describe_gauge!(
            SERVER_IN_USE,
            Unit::Count,
            "Connections counted against the server's budget now (pool maximums and sessions)."
        );
        describe_gauge!(
            SERVER_WAITING,
            Unit::Count,
            "Callers waiting for room in the server's budget now."
        );
        describe_counter!(
            SERVER_WAITS,
            Unit::Count,
            "Callers that had to wait for room in the server's budget."
        );
        describe_gauge!(
            SERVER_WAIT_SECONDS,
            Unit::Seconds,
            "Total time callers waited for room in the server's budget (only grows)."
        );
        describe_counter!(
            SERVER_REFUSALS,
            Unit::Count,
            "Callers refused after waiting the acquire timeout for room in the server's budget."
        );
        describe_gauge!(TENANT_OPEN, "1 while the tenant's pool is open, else 0.");
        describe_counter!(
            TENANT_QUERIES,
            Unit::Count,
            "Routed calls (queries, executes, streams, transactions) since the tenant was registered."
        );
        describe_counter!(
            TENANT_ERRORS,
            Unit::Count,
            "Routed calls that failed (routing or database errors)."
        );
    });
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
    use sea_orm::{ConnectionTrait, DbBackend};

    use super::*;
    use crate::{ServerKey, TenantConfig};

    /// `(name, label value or "")` to value, of everything recorded so far.
    fn values(snapshotter: &Snapshotter) -> HashMap<(String, String), DebugValue> {
        snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| {
                let label = key
                    .key()
                    .labels()
                    .map(|l| format!("{}={}", l.key(), l.value()))
                    .collect::<Vec<_>>()
                    .join(",");
                ((key.key().name().to_owned(), label), value)
            })
            .collect()
    }

    fn get<'a>(
        values: &'a HashMap<(String, String), DebugValue>,
        name: &str,
        label: &str,
    ) -> &'a DebugValue {
        values
            .get(&(name.to_owned(), label.to_owned()))
            .unwrap_or_else(|| panic!("{name}{{{label}}} not recorded; got {values:?}"))
    }

    fn gauge_value(v: f64) -> DebugValue {
        DebugValue::Gauge(v.into())
    }

    #[tokio::test]
    async fn records_store_tenant_and_server_figures() {
        let store =
            TenantConnections::from_urls([("a", "sqlite::memory:"), ("b", "sqlite::memory:")])
                .unwrap();
        let db = store.db();
        for _ in 0..3 {
            store
                .with_tenant("a", db.execute_unprepared("SELECT 1"))
                .await
                .unwrap()
                .unwrap();
        }
        store
            .with_tenant("a", db.execute_unprepared("NOT SQL"))
            .await
            .unwrap()
            .unwrap_err();

        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || store.record_metrics());
        let got = values(&snapshotter);

        assert_eq!(*get(&got, REGISTERED_TENANTS, ""), gauge_value(2.0));
        assert_eq!(*get(&got, OPEN_POOLS, ""), gauge_value(1.0));
        assert_eq!(*get(&got, CLOSING_POOLS, ""), gauge_value(0.0));
        assert_eq!(*get(&got, POOL_OPENS, ""), DebugValue::Counter(1));
        assert_eq!(*get(&got, POOL_OPEN_FAILURES, ""), DebugValue::Counter(0));
        assert_eq!(*get(&got, TENANT_OPEN, "tenant=a"), gauge_value(1.0));
        assert_eq!(*get(&got, TENANT_OPEN, "tenant=b"), gauge_value(0.0));
        assert_eq!(
            *get(&got, TENANT_QUERIES, "tenant=a"),
            DebugValue::Counter(4)
        );
        assert_eq!(
            *get(&got, TENANT_ERRORS, "tenant=a"),
            DebugValue::Counter(1)
        );
        assert_eq!(
            *get(&got, TENANT_QUERIES, "tenant=b"),
            DebugValue::Counter(0)
        );
        // SQLite has no server: no `server` series.
        assert!(
            got.keys().all(|(name, _)| !name.contains("_server_")),
            "{got:?}"
        );

        // Counters follow the store at the next scrape (set, not added).
        store
            .with_tenant("b", db.execute_unprepared("SELECT 1"))
            .await
            .unwrap()
            .unwrap();
        metrics::with_local_recorder(&recorder, || store.record_metrics());
        let got = values(&snapshotter);
        assert_eq!(
            *get(&got, TENANT_QUERIES, "tenant=a"),
            DebugValue::Counter(4)
        );
        assert_eq!(
            *get(&got, TENANT_QUERIES, "tenant=b"),
            DebugValue::Counter(1)
        );
        assert_eq!(*get(&got, POOL_OPENS, ""), DebugValue::Counter(2));
        assert_eq!(*get(&got, OPEN_POOLS, ""), gauge_value(2.0));

        // Server series (PostgreSQL/MySQL only, so from a made-up snapshot).
        let server = ServerStats {
            server: ServerKey::of(
                &TenantConfig::new("postgres://app@db.example:5432/x"),
                DbBackend::Postgres,
            )
            .unwrap(),
            budget: 40,
            in_use: 10,
            waiting: 2,
            waits: 7,
            waited: Duration::from_millis(1500),
            refusals: 1,
        };
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || {
            record(&StoreStats::default(), &[server], &[]);
        });
        let got = values(&snapshotter);
        let label = "server=db.example:5432";
        assert_eq!(*get(&got, SERVER_BUDGET, label), gauge_value(40.0));
        assert_eq!(*get(&got, SERVER_IN_USE, label), gauge_value(10.0));
        assert_eq!(*get(&got, SERVER_WAITING, label), gauge_value(2.0));
        assert_eq!(*get(&got, SERVER_WAITS, label), DebugValue::Counter(7));
        assert_eq!(*get(&got, SERVER_WAIT_SECONDS, label), gauge_value(1.5));
        assert_eq!(*get(&got, SERVER_REFUSALS, label), DebugValue::Counter(1));
    }
}
