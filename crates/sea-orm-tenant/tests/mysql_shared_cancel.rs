//! The randomized cancellation soak of `cancel_soak.rs` on MySQL database
//! tenants sharing their server's pool: 3,000 operations, most cancelled at a
//! random point, every acknowledged row read back directly from its tenant's
//! database, none in another. A test binary of its own, so it does not run
//! beside the other backends' soaks (their session samplers share the server).

mod cancel_support;
mod common;

use sea_orm_tenant::testing::TestDatabases;

async fn randomized_cancellation(dbs: TestDatabases) {
    cancel_support::soak::randomized_cancellation(dbs).await;
}

on_mysql_shared!(randomized_cancellation);
