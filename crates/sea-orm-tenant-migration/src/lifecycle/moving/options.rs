//! [`MoveOptions`]: how a move waits and what it keeps; [`Moved`]: what it did.

use std::time::Duration;

use sea_orm_tenant::{SchemaName, TenantKey};

/// How a [`move_tenant`](crate::Provisioner::move_tenant) waits and what it keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MoveOptions {
    /// Keep the source after the switch (fenced read-only: every write to it
    /// fails; on MySQL/MariaDB its tables are renamed `sot_kept_<hash>`
    /// behind views of their names, so that `TRUNCATE` and DDL fail too)
    /// instead of dropping it after [`grace`](Self::grace).
    pub keep_source: bool,
    /// How long to wait between the switch and dropping the source, so that
    /// instances following the catalog by polling have switched first.
    pub grace: Duration,
    /// The longest the initial copy may take.
    pub copy_timeout: Duration,
    /// The longest the tenant is held at the cut-over: waiting for its
    /// in-flight writes to end and for the copy to catch up. Past it the move
    /// is undone and the tenant serves from its source again. Keep it below
    /// the store's `max_hold`, or held requests fail first.
    pub cut_over_timeout: Duration,
    /// How long the cut-over waits, with the tenant marked `moving`, before
    /// it fences the tenant's tables: the time other instances take to see
    /// the mark and hold the tenant (at most their catalog poll interval
    /// when they do not listen). A write still in flight at the fence gets
    /// an error once the tenant has switched: it was not acknowledged.
    pub settle: Duration,
    /// The longest the move waits for the tenant's migration lock, which it
    /// holds from before the target is made until the switch: a migration
    /// running then waits for the move (or reports the tenant busy past its
    /// own lock timeout).
    pub lock_wait: Duration,
    /// Where a row tenant is promoted to: this schema of the target
    /// database (made and migrated by the move), or, when `None`, the target
    /// database itself (a database tenant). A schema tenant keeps its
    /// schema's name, and a database tenant stays one: for them this must
    /// be `None` or their own schema.
    pub into_schema: Option<SchemaName>,
}

impl Default for MoveOptions {
    fn default() -> Self {
        Self {
            keep_source: false,
            grace: Duration::from_secs(5),
            copy_timeout: Duration::from_secs(3600),
            cut_over_timeout: Duration::from_secs(5),
            settle: Duration::from_millis(250),
            lock_wait: crate::DEFAULT_LOCK_TIMEOUT,
            into_schema: None,
        }
    }
}

impl MoveOptions {
    /// Keep the source (fenced read-only) after the switch.
    pub fn keep_source(mut self, keep: bool) -> Self {
        self.keep_source = keep;
        self
    }

    /// The wait between the switch and dropping the source.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// The longest the initial copy may take.
    pub fn copy_timeout(mut self, timeout: Duration) -> Self {
        self.copy_timeout = timeout;
        self
    }

    /// The wait between marking the tenant `moving` and fencing it.
    pub fn settle(mut self, settle: Duration) -> Self {
        self.settle = settle;
        self
    }

    /// The longest the move waits for the tenant's migration lock.
    pub fn lock_wait(mut self, wait: Duration) -> Self {
        self.lock_wait = wait;
        self
    }

    /// Promote a row tenant into schema `schema` of the target database.
    pub fn into_schema(mut self, schema: SchemaName) -> Self {
        self.into_schema = Some(schema);
        self
    }

    /// The longest the tenant is held at the cut-over.
    pub fn cut_over_timeout(mut self, timeout: Duration) -> Self {
        self.cut_over_timeout = timeout;
        self
    }
}

/// What a move did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Moved {
    /// The tenant.
    pub tenant: TenantKey,
    /// Where it was (no password).
    pub from: String,
    /// Where it is now (no password).
    pub to: String,
    /// The tables copied.
    pub tables: usize,
    /// Their rows, counted on the fenced source and on the target alike.
    pub rows: i64,
    /// How long the copy took before the cut-over, in milliseconds.
    pub copy_millis: u64,
    /// How long the tenant's new requests were held, in milliseconds.
    pub held_millis: u64,
    /// Whether the source was dropped (false with `keep_source`).
    pub source_dropped: bool,
    /// Steps after the switch that did not work out (the tenant is moved;
    /// these need an operator: a replication slot left on the source keeps
    /// its WAL).
    pub warnings: Vec<String>,
}
