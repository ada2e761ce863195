//! The randomized cancellation scenario (see `cancel_soak.rs`), shared by the
//! suites that run it on different tenant placements.

use std::sync::Arc;
use std::time::Duration;

use sea_orm_tenant::testing::TestDatabases;
use sea_orm_tenant::{PoolOptions, TenantConnections};

use super::{Kind, Probe, Rng, Sampler, Server};
use crate::cancel_support;
use crate::common::{self, names};

const TENANTS: usize = 6;
const MAX_OPEN_POOLS: usize = 3;
const MAX_CONNECTIONS: u32 = 2;
const OPS: usize = 3_000;
const WORKERS: usize = 16;

/// Runs the scenario on `dbs`' backend and placement; panics with every
/// violation found.
pub async fn randomized_cancellation(mut dbs: TestDatabases) {
    let backend = dbs.backend();
    let tenants = names(TENANTS);
    let mut builder = TenantConnections::builder().max_open_pools(MAX_OPEN_POOLS);
    for t in &tenants {
        let url = dbs.create(t).await;
        let direct = sea_orm::Database::connect(&url).await.unwrap();
        common::create_schema(&direct).await;
        direct.close().await.unwrap();
        debug_assert!(dbs.config(t).url() == url);
        builder = builder.tenant_config(
            t,
            dbs.config(t).with_pool(PoolOptions {
                max_connections: Some(MAX_CONNECTIONS),
                ..Default::default()
            }),
        );
    }
    let store = builder.build().unwrap();
    let server = Server::new(&dbs).await;
    if let Some(s) = &server {
        assert_eq!(
            s.settle(Duration::from_secs(10), Probe::Sessions).await,
            0,
            "setup connections still open"
        );
    }
    let sampler = Sampler::start(&dbs, Duration::from_millis(20)).await;

    let mut rng = Rng::new(cancel_support::seed("CANCEL_SOAK_SEED", 0x5EED_50A4));
    // One op in 8 runs without a timeout; the rest are cancelled after 0..3 ms.
    let plan = Arc::new(cancel_support::plan(
        &mut rng,
        OPS,
        &tenants,
        &Kind::ALL,
        Duration::from_millis(3),
        8,
    ));
    let reports = cancel_support::run_plan(&store, plan.clone(), WORKERS, Arc::new(|| {})).await;
    eprintln!("{backend:?}: {}", cancel_support::summary(&plan, &reports));
    let errors: Vec<_> = plan
        .iter()
        .zip(&reports)
        .filter_map(|(op, r)| Some(format!("op-{} {:?}: {}", op.n, op.kind, r.error.as_ref()?)))
        .collect();
    for e in errors.iter().take(10) {
        eprintln!("error: {e}");
    }

    let mut failures = Vec::new();
    // While the store is still open: returned connections sit idle, never in a transaction.
    let open_txns = match &server {
        Some(s) => {
            s.settle(Duration::from_secs(5), Probe::OpenTransactions)
                .await
        }
        None => 0,
    };
    if open_txns != 0 {
        failures.push(format!(
            "{open_txns} session(s) of the test databases still inside a transaction \
             5 s after the run (store open)"
        ));
    }
    let closed = tokio::time::timeout(Duration::from_secs(30), store.close())
        .await
        .is_ok();
    if !closed {
        failures.push("store.close() did not return within 30 s (hang)".to_owned());
    }
    let stats = store.stats();
    if stats.open != 0 {
        failures.push(format!("stats().open is {} after close", stats.open));
    }
    if let Some(s) = &server {
        let after = s.settle(Duration::from_secs(10), Probe::Sessions).await;
        if after != 0 {
            failures.push(format!(
                "{after} session(s) of the test databases still open 10 s after close"
            ));
        }
        let txns = s.open_transactions().await;
        if txns != 0 {
            failures.push(format!("{txns} open transaction(s) after close"));
        }
    }
    if let Some(sampler) = sampler {
        let (peak, samples) = sampler.finish().await;
        let bound = (MAX_OPEN_POOLS * MAX_CONNECTIONS as usize) as i64;
        eprintln!("{backend:?}: peak {peak} sessions over {samples} samples (bound {bound})");
        if peak > bound {
            failures.push(format!(
                "the server saw {peak} sessions of the test databases; bound {bound} = \
                 max_open_pools {MAX_OPEN_POOLS} x max_connections {MAX_CONNECTIONS}"
            ));
        }
    }
    if let Some(s) = server {
        s.close().await;
    }
    let violations = cancel_support::verify(&dbs, &tenants, &plan, &reports).await;
    cancel_support::cleanup(dbs).await;
    eprintln!("{backend:?}: {stats:?}");
    if !violations.is_empty() {
        failures.push(format!(
            "{} row violation(s), first ones:\n    {}",
            violations.len(),
            violations
                .iter()
                .take(12)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n    ")
        ));
    }
    assert!(
        failures.is_empty(),
        "{backend:?} randomized cancellation:\n  {}",
        failures.join("\n  ")
    );
}
