//! Randomized cancellation: 3,000 operations (inserts, transactions committed,
//! rolled back or dropped, `transaction` closures, streams) over 6 tenants with
//! `max_open_pools = 3`, 16 at a time, most cancelled after a random 0..3 ms.
//! Afterwards every acknowledged row is in its tenant's database and nowhere
//! else, nothing rolled back or abandoned before `commit` exists, no session is
//! left inside a transaction, and the servers never saw more sessions than
//! `max_open_pools × max_connections`.

mod cancel_support;
mod common;

use sea_orm_tenant::testing::TestDatabases;

async fn randomized_cancellation(dbs: TestDatabases) {
    cancel_support::soak::randomized_cancellation(dbs).await;
}

on_every_backend!(randomized_cancellation);
