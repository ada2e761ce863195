//! Moving a live tenant to another database or server:
//! [`Provisioner::move_tenant`]. The steps below are PostgreSQL's; SQLite
//! files, MySQL/MariaDB databases and row tenants promoted to a schema or a
//! database are copied under a write hold instead (`sqlite`, `mysql`,
//! `rows`), with the same catalog cut-over.
//!
//! 1. **Target**: made and migrated like a new tenant's storage; its
//!    migrations must end where the source's do. The tenant's migration
//!    lock is held on the source from here to the switch, so none runs
//!    there meanwhile.
//! 2. **Copy**: a publication of the tenant's tables and a logical
//!    replication slot on the source, a subscription on the target; the
//!    tenant keeps serving from the source all along.
//! 3. **Cut-over**: the catalog marks the tenant `moving` (every instance
//!    holds its new requests); a [`Fence`](fence::Fence) locks its tables
//!    against writes, waiting out in-flight writers; the target applies the
//!    source's WAL up to the fence; sequences are copied and every table's
//!    rows counted on both; the catalog switches the placement (held
//!    requests go to the target); the source's tables are sealed (every
//!    write to them fails, whoever sends it).
//! 4. **After**: the replication is dropped, and the source after a grace
//!    unless it is kept.
//!
//! A failure or cancellation before the switch undoes everything (the
//! tenant serves from its source, nothing lost); a second run after a crash
//! finds the leftovers by name, removes them and moves again. A run killed
//! after its switch leaves its row in the move journal (`journal`, beside
//! the catalog): the tenant's next move finishes it first (`finish`: the
//! replication removed, the source sealed, and dropped after the grace
//! unless kept).

mod cut_over;
mod error;
mod fence;
mod finish;
mod journal;
mod leftovers;
mod marker;
mod migration_lock;
mod mysql;
mod mysql_views;
mod options;
mod plan;
mod replication;
mod rollback;
mod row_replication;
mod row_seal;
mod rows;
mod sql;
mod sqlite;
mod switch;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use sea_orm_tenant::{TenantConfig, TenantConnections, TenantKey, TenantSession, redact_url};

pub use error::MoveError;
pub(super) use journal::{MOVES_TABLE, table as journal_table};
pub use options::{MoveOptions, Moved};

use super::place::Place;
use super::provisioner::{Provisioner, tenant_key};
use fence::{Fence, FenceError};
use plan::Plan;
use rollback::Rollback;
use sql::{MIGRATIONS, Table};
use switch::CutOver;

impl Provisioner {
    /// Moves PostgreSQL tenant `name`, while it serves, to the database at
    /// `to` (a URL as the catalog would hold it; `${VAR}` is expanded): a
    /// database tenant into that new database, a schema tenant into a schema
    /// of the same name in it. The steps: the target made and migrated (the
    /// tenant's migration lock held on the source until the switch); the
    /// tables copied by logical replication while the tenant serves; the
    /// cut-over (the tenant held, its tables fenced, the copy caught up and
    /// counted, the placement switched, the source sealed); the source
    /// dropped after the grace. A failure or cancellation before the switch
    /// undoes the move; a second run after a crash finds its leftovers. The
    /// move runs on a task of its own: dropping this future stops it at its
    /// next safe point, and [`settled`](Provisioner::settled) and
    /// [`close`](Provisioner::close) wait until it has rolled back or
    /// finished. A
    /// run killed after the switch is finished by the tenant's next move:
    /// the same move again reports the finished one; a move elsewhere
    /// finishes it, then moves. (The journal that makes this possible is a
    /// table of the catalog's migration: a catalog made before it answers
    /// [`CatalogError::NotMigrated`](sea_orm_tenant::CatalogError::NotMigrated).)
    ///
    /// With a [catalog](Provisioner::catalog), every instance following it
    /// switches; without one, only this provisioner's store does, and the
    /// other instances' configuration is yours to change.
    ///
    /// The source's server needs `wal_level = logical`; the move's user
    /// needs the rights to publish and subscribe (a superuser, or the owner
    /// with `REPLICATION`). A SQLite file tenant is copied to the file `to`
    /// names while it is held (a write lock waits out writes in flight,
    /// `VACUUM INTO` copies, the old file is sealed by triggers). A
    /// MySQL/MariaDB database tenant is copied to the database `to` names
    /// while it is held: its tables are sealed by triggers (a table lock
    /// waits out writes in flight), dumped and loaded by the server's tools
    /// (`mariadb-dump`/`mysqldump` and the client), counted, and switched.
    /// A PostgreSQL row tenant is promoted: into the database `to` names
    /// (a database tenant), or into schema
    /// [`into_schema`](MoveOptions::into_schema) of it (a schema tenant; the
    /// database must hold no row tenants). The target is made and migrated
    /// by this provisioner's migrator (the tables without the tenant
    /// column). Into a database, the tenant's rows are copied by logical
    /// replication while it serves (a row filter on the tenant column; the
    /// target's tables carry the column for the copy); into a schema, by
    /// `COPY` while it is held. Either way the cut-over seals its rows (row
    /// triggers on the shared tables refuse its writes; the other tenants
    /// write on), counts them on both sides and switches; after the grace
    /// its rows are deleted from the shared tables, with the seal, in one
    /// transaction. The tenant's URL must own the shared tables (to make the
    /// seal), and for a database target have `REPLICATION`. MySQL
    /// tenants sharing their server's pool are moved by
    /// [`export`](Provisioner::export) and [`import`](Provisioner::import)
    /// instead.
    pub async fn move_tenant(
        &self,
        name: &str,
        to: &str,
        options: &MoveOptions,
    ) -> Result<Moved, MoveError> {
        let key = tenant_key(name).map_err(|e| match e {
            super::ProvisionError::InvalidName { name, source } => {
                MoveError::InvalidName { name, source }
            }
            other => MoveError::Step {
                tenant: TenantKey::new("invalid").expect("a valid key"),
                step: "check the name",
                reason: other.to_string(),
            },
        })?;
        // A run killed after its switch is finished first; if that is the
        // move asked for, its report is this one's.
        if let Some((finished, now)) = self.finish_killed_move(&key, options).await? {
            let asked = sea_orm_tenant::CatalogEntry::new(key.clone(), to, None).config();
            if asked.is_ok_and(|asked| plan::same_database(asked.url(), now.url())) {
                return Ok(finished);
            }
        }
        let plan = self
            .plan_move(&key, to, options.into_schema.as_ref())
            .await?;
        // The move runs on a task of its own. Dropping this future asks it
        // to stop at its next safe point (between steps, or in a wait):
        // a statement cut short could still finish on the server after the
        // undo ran. Before the switch it is then undone; after it, finished.
        // `settled` and `close` wait for it.
        let stop = StopOnDrop(Arc::new(AtomicBool::new(false)));
        let (provisioner, options, flag) = (self.clone(), options.clone(), stop.0.clone());
        self.background
            .spawn(async move { provisioner.run_move(plan, options, flag).await })
            .await
            .unwrap_or_else(|e| {
                Err(MoveError::Step {
                    tenant: key,
                    step: "run",
                    reason: e.to_string(),
                })
            })
    }

    async fn run_move(
        self,
        plan: Plan,
        options: MoveOptions,
        stop: Arc<AtomicBool>,
    ) -> Result<Moved, MoveError> {
        let lock = self.lock_migrations(&plan, &options).await?;
        let mut rollback = Rollback::new(&self, &plan.key);
        let moved = if plan.sqlite {
            self.move_sqlite(&plan, &options, rollback, &stop).await
        } else if plan.mysql {
            self.move_mysql(&plan, &options, rollback, &stop).await
        } else if plan.rows {
            self.move_rows(&plan, &options, rollback, &stop).await
        } else {
            match self.move_steps(&plan, &options, &mut rollback, &stop).await {
                Ok(cut_over) => cut_over.switch(self.clone(), rollback).await,
                Err(err) => {
                    rollback.run().await;
                    Err(err)
                }
            }
        };
        lock.release().await;
        moved
    }

    async fn move_steps(
        &self,
        plan: &Plan,
        options: &MoveOptions,
        rollback: &mut Rollback,
        stop: &AtomicBool,
    ) -> Result<CutOver, MoveError> {
        let key = &plan.key;
        let go_on = || go_on(plan, stop);
        let source_db = TenantConfig::new(plan.source.url());
        let target_db = TenantConfig::new(plan.target.url());
        let source = open(&self.store, &source_db, 2)
            .await
            .map_err(plan.fail("connect to the source"))?;
        check_logical(plan, &source).await?;
        let tables = sql::tables(&*source, &plan.schemas)
            .await
            .map_err(plan.fail("list the tenant's tables"))?;
        if let Some(table) = tables.iter().find(|t| !t.identified) {
            return Err(MoveError::NoReplicaIdentity {
                tenant: key.clone(),
                table: table.qualified(),
            });
        }
        let data: Vec<Table> = tables
            .iter()
            .filter(|t| t.name != MIGRATIONS)
            .cloned()
            .collect();
        if leftovers::failed_run_left(plan, &source).await? {
            self.clear_leftovers(plan, &source_db, &target_db).await?;
        }
        let target_place = Place::of(&plan.target).map_err(|e| MoveError::Unsupported {
            tenant: key.clone(),
            reason: e.to_string(),
        })?;
        self.refuse_taken_target(plan, &target_place, &target_db)
            .await?;
        go_on()?;
        self.make_migrated(key, &plan.target, &target_place, rollback.target())
            .await
            .map_err(|source| MoveError::Target {
                tenant: key.clone(),
                source: Box::new(source),
            })?;
        let target = open(&self.store, &target_db, 1)
            .await
            .map_err(plan.fail("connect to the target"))?;
        let source_version = sql::version(&*source, &plan.migrations_schema)
            .await
            .map_err(plan.fail("read the source's migrations"))?;
        let target_version = sql::version(&*target, &plan.migrations_schema)
            .await
            .map_err(plan.fail("read the target's migrations"))?;
        if source_version != target_version {
            return Err(MoveError::VersionMismatch {
                tenant: key.clone(),
                source_version,
                target_version,
            });
        }

        go_on()?;
        let copy_started = Instant::now();
        if !data.is_empty() {
            self.replicate(plan, options, &source, &target, &data, None, rollback, stop)
                .await?;
        }
        let copy_millis = copy_started.elapsed().as_millis() as u64;

        // Cut-over: from here the tenant's new requests wait.
        let (held_at, deadline) = self.hold_for_cut_over(plan, options, rollback).await?;
        let fence = match Fence::take(&source, &tables, options.cut_over_timeout).await {
            Ok(taken) => taken,
            Err(FenceError::TimedOut) => {
                return Err(timed_out(
                    key,
                    "waiting for the tenant's in-flight writes",
                    options.cut_over_timeout,
                ));
            }
            Err(FenceError::Failed(reason)) => return Err(plan.fail("fence the source")(reason)),
        };
        let rows = match self
            .catch_up(plan, &fence, &source, &target, &data, deadline, options)
            .await
            .and_then(|rows| go_on().map(|()| rows))
        {
            Ok(rows) => rows,
            Err(err) => {
                fence.release().await;
                return Err(err);
            }
        };
        Ok(CutOver {
            plan: plan.clone(),
            options: options.clone(),
            source,
            target,
            tables,
            data,
            fence,
            rows,
            copy_millis,
            held_at,
            target_place,
        })
    }

    /// With the source fenced: the target catches up to the fence (the
    /// marker written after it arrives), takes the
    /// source's sequences, and has every table's row count. Returns the rows.
    #[allow(clippy::too_many_arguments)]
    async fn catch_up(
        &self,
        plan: &Plan,
        fence: &Fence,
        source: &TenantSession,
        target: &TenantSession,
        data: &[Table],
        deadline: Instant,
        options: &MoveOptions,
    ) -> Result<i64, MoveError> {
        let key = &plan.key;
        if !data.is_empty()
            && !plan
                .replication
                .wait_marked(source, target, deadline)
                .await
                .map_err(plan.fail("catch up"))?
        {
            return Err(timed_out(
                key,
                "the copy catching up",
                options.cut_over_timeout,
            ));
        }
        for (sequence, value) in sql::sequences(fence.txn(), &plan.schemas)
            .await
            .map_err(plan.fail("read the sequences"))?
        {
            sql::set_sequence(&**target, &sequence, value)
                .await
                .map_err(plan.fail("copy a sequence"))?;
        }
        count_both(plan, fence.txn(), &**target, data).await
    }
}

impl Provisioner {
    /// The copy by logical replication: the publication of `tables` and
    /// the slot on the source, the subscription on the target (its sessions
    /// carrying `row_tenant`'s setting, for a row tenant's rows), until every
    /// table's initial copy is done.
    #[allow(clippy::too_many_arguments)]
    async fn replicate(
        &self,
        plan: &Plan,
        options: &MoveOptions,
        source: &TenantSession,
        target: &TenantSession,
        tables: &[Table],
        row_tenant: Option<&str>,
        rollback: &mut Rollback,
        stop: &AtomicBool,
    ) -> Result<(), MoveError> {
        let started = Instant::now();
        rollback.replication(
            &plan.replication,
            &TenantConfig::new(plan.source.url()),
            &TenantConfig::new(plan.target.url()),
        );
        plan.replication
            .publish(source, tables, options.copy_timeout)
            .await
            .map_err(plan.fail("publish the tenant's tables"))?;
        go_on(plan, stop)?;
        plan.replication
            .subscribe(target, plan.source.url(), row_tenant)
            .await
            .map_err(plan.fail("subscribe the target"))?;
        let copied = plan
            .replication
            .wait_copied(target, tables.len(), started + options.copy_timeout, stop)
            .await
            .map_err(plan.fail("copy"))?;
        go_on(plan, stop)?;
        if !copied {
            return Err(timed_out(
                &plan.key,
                "the initial copy",
                options.copy_timeout,
            ));
        }
        Ok(())
    }
}

/// Every table's rows counted on the source (`source`, a frozen view of
/// it) and on the target; their total when they agree, else
/// [`MoveError::CopyMismatch`].
async fn count_both(
    plan: &Plan,
    source: &impl sea_orm::ConnectionTrait,
    target: &impl sea_orm::ConnectionTrait,
    tables: &[Table],
) -> Result<i64, MoveError> {
    let mut rows = 0;
    for table in tables {
        let source_rows = sql::count(source, table)
            .await
            .map_err(plan.fail("count the source's rows"))?;
        let target_rows = sql::count(target, table)
            .await
            .map_err(plan.fail("count the target's rows"))?;
        if source_rows != target_rows {
            return Err(MoveError::CopyMismatch {
                tenant: plan.key.clone(),
                table: table.qualified(),
                source_rows,
                target_rows,
            });
        }
        rows += source_rows;
    }
    Ok(rows)
}

/// [`MoveError::Cancelled`] once the move's caller went away.
fn go_on(plan: &Plan, stop: &AtomicBool) -> Result<(), MoveError> {
    if stop.load(Ordering::Acquire) {
        Err(MoveError::Cancelled {
            tenant: plan.key.clone(),
        })
    } else {
        Ok(())
    }
}

/// [`MoveError::NotLogical`] unless the source server can publish changes.
async fn check_logical(plan: &Plan, source: &TenantSession) -> Result<(), MoveError> {
    let wal_level = replication::query_one(&**source, "SHOW wal_level", vec![])
        .await
        .and_then(|r| {
            r.try_get::<String>("", "wal_level")
                .map_err(|e| e.to_string())
        })
        .map_err(plan.fail("read wal_level"))?;
    if wal_level == "logical" {
        return Ok(());
    }
    Err(MoveError::NotLogical {
        tenant: plan.key.clone(),
        server: redact_url(plan.source.url()),
        wal_level,
    })
}

pub(super) async fn open(
    store: &TenantConnections,
    config: &TenantConfig,
    connections: u32,
) -> Result<TenantSession, String> {
    store
        .open_outside(config, connections)
        .await
        .map_err(|e| e.to_string())
}

/// The error a sealed source answers every write with.
pub(super) const SEALED: &str =
    "this tenant has moved; its data here is an old copy that takes no writes";

/// Sets its flag when dropped: the caller of a move went away.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

pub(super) fn timed_out(
    key: &TenantKey,
    step: &'static str,
    limit: std::time::Duration,
) -> MoveError {
    MoveError::TimedOut {
        tenant: key.clone(),
        step,
        seconds: limit.as_secs_f64(),
    }
}
