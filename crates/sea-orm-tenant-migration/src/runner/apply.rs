//! Applying one [`Operation`] to one database with a migrator's own methods.

use std::path::Path;

use futures_util::future::BoxFuture;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr};
use sea_orm_migration::{IntoSchemaManagerConnection, MigrationStatus, MigratorTrait};

use crate::runner::Operation;

/// What an operation did to one database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Applied {
    /// Migrations applied (`up`, `fresh`, `refresh`) or rolled back (`down`, `reset`), in order.
    pub(crate) changed: Vec<String>,
    /// Migrations pending afterwards.
    pub(crate) pending: Vec<String>,
    /// The last applied migration afterwards.
    pub(crate) version: Option<String>,
}

/// A failed operation: the error and what the database looks like afterwards
/// (when it could still be read).
#[derive(Debug)]
pub(crate) struct Failed {
    pub(crate) error: DbErr,
    pub(crate) after: Option<Applied>,
    /// The state before the operation (what a rolled-back schema tenant is left at).
    pub(crate) before: Option<Applied>,
}

/// Where an operation runs.
pub(crate) enum MigrationDb {
    /// A database of its own (a session holding its lock, or a SQLite pool).
    Connection(DatabaseConnection),
    /// A database known to hold nothing yet (see [`is_empty_sqlite_file`]):
    /// every migration is pending, so the migration table is not read first.
    Empty(DatabaseConnection),
    /// A schema tenant: a transaction on its schema holding its lock. The
    /// tenant's operation is all or nothing: committed when it succeeds,
    /// rolled back, leaving the schema at its previous version, when it fails.
    Transaction(DatabaseTransaction),
}

/// [`apply`] for one migrator, and its migrations' names, as plain function
/// pointers: lets the runner hold the tenant migrator and the shared migrator
/// without being generic over both.
#[derive(Clone, Copy)]
pub(crate) struct ApplyFn {
    /// Applies an operation to one database.
    pub(crate) apply: fn(MigrationDb, Operation) -> BoxFuture<'static, Result<Applied, Failed>>,
    /// The migrator's migrations, in order.
    pub(crate) names: fn() -> Vec<String>,
}

/// The [`ApplyFn`] of migrator `M`.
pub(crate) fn apply_fn<M: MigratorTrait + 'static>() -> ApplyFn {
    ApplyFn {
        apply: apply_db::<M>,
        names: migration_names::<M>,
    }
}

/// Migrator `M`'s migrations' names, in order.
fn migration_names<M: MigratorTrait>() -> Vec<String> {
    M::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect()
}

fn apply_db<M: MigratorTrait + 'static>(
    db: MigrationDb,
    op: Operation,
) -> BoxFuture<'static, Result<Applied, Failed>> {
    {
        Box::pin(async move {
            match db {
                MigrationDb::Connection(conn) => apply::<M, _>(&conn, op, None).await,
                MigrationDb::Empty(conn) => {
                    apply::<M, _>(&conn, op, Some(State::empty::<M>())).await
                }
                MigrationDb::Transaction(txn) => match apply::<M, _>(&txn, op, None).await {
                    Ok(applied) => match txn.commit().await {
                        Ok(()) => Ok(applied),
                        Err(error) => Err(Failed {
                            error,
                            after: None,
                            before: None,
                        }),
                    },
                    Err(failed) => {
                        let before = failed.before;
                        let _ = txn.rollback().await;
                        Err(Failed {
                            error: failed.error,
                            after: before.clone(),
                            before,
                        })
                    }
                },
            }
        })
    }
}

/// Names of applied and pending migrations, in migration order.
pub(crate) struct State {
    applied: Vec<String>,
    pending: Vec<String>,
}

impl State {
    /// Read-only: never creates the migration table (the migrator's own
    /// methods do that when they need it), so a fresh database costs one query.
    async fn read<M: MigratorTrait, D: ConnectionTrait>(db: &D) -> Result<Self, DbErr> {
        let all = M::get_migration_with_status_read_only(db).await?;
        let (mut applied, mut pending) = (Vec::new(), Vec::new());
        for m in all {
            match m.status() {
                MigrationStatus::Applied => applied.push(m.name().to_owned()),
                MigrationStatus::Pending => pending.push(m.name().to_owned()),
            }
        }
        Ok(Self { applied, pending })
    }

    /// A database with no migration table: every migration pending.
    fn empty<M: MigratorTrait>() -> Self {
        Self {
            applied: Vec::new(),
            pending: migration_names::<M>(),
        }
    }

    fn clone_applied(&self) -> Applied {
        Applied {
            changed: Vec::new(),
            version: self.applied.last().cloned(),
            pending: self.pending.clone(),
        }
    }

    fn into_applied(self, changed: Vec<String>) -> Applied {
        Applied {
            changed,
            version: self.applied.last().cloned(),
            pending: self.pending,
        }
    }
}

/// Whether the SQLite database at `path` holds nothing yet: a file of zero
/// bytes and no write-ahead log with content. A database in WAL mode has a
/// header in its main file, and every other write makes the file grow, so
/// such a database has no migration table. Unreadable metadata counts as not
/// empty (the migration table is then read as usual).
pub(crate) fn is_empty_sqlite_file(path: &Path) -> bool {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let empty = |p: &Path| std::fs::metadata(p).map(|m| m.len() == 0);
    empty(path).unwrap_or(false)
        && match empty(Path::new(&wal)) {
            Ok(empty) => empty,
            Err(e) => e.kind() == std::io::ErrorKind::NotFound,
        }
}

/// Runs `op` with `M`'s own methods on `db`. Reads the migration table before,
/// unless the caller knows it (`before`), after taking the tenant's lock, so a
/// second runner sees the first one's work; and, when the result cannot be
/// derived, after.
pub(crate) async fn apply<M, D>(
    db: &D,
    op: Operation,
    before: Option<State>,
) -> Result<Applied, Failed>
where
    M: MigratorTrait,
    D: ConnectionTrait + Sync,
    for<'c> &'c D: IntoSchemaManagerConnection<'c>,
{
    let fail = |error| Failed {
        error,
        after: None,
        before: None,
    };
    let before = match before {
        Some(before) => before,
        None => State::read::<M, D>(db).await.map_err(fail)?,
    };
    let before_state = before.clone_applied();
    let result = match op {
        Operation::Status => return Ok(before.into_applied(Vec::new())),
        Operation::Up { steps } => {
            let take = steps.map_or(before.pending.len(), |n| {
                (n as usize).min(before.pending.len())
            });
            if take == 0 {
                return Ok(before.into_applied(Vec::new()));
            }
            match M::up(db, steps).await {
                Ok(()) => {
                    let mut applied = before.applied;
                    let mut pending = before.pending;
                    let changed: Vec<String> = pending.drain(..take).collect();
                    applied.extend(changed.iter().cloned());
                    return Ok(State { applied, pending }.into_applied(changed));
                }
                Err(e) => Err(e),
            }
        }
        Operation::Down { steps } => {
            let take = (steps as usize).min(before.applied.len());
            if take == 0 {
                return Ok(before.into_applied(Vec::new()));
            }
            match M::down(db, Some(steps)).await {
                Ok(()) => {
                    let mut applied = before.applied;
                    let changed: Vec<String> =
                        applied.drain(applied.len() - take..).rev().collect();
                    let mut pending: Vec<String> = changed.iter().rev().cloned().collect();
                    pending.extend(before.pending);
                    return Ok(State { applied, pending }.into_applied(changed));
                }
                Err(e) => Err(e),
            }
        }
        Operation::Fresh => M::fresh(db).await,
        Operation::Refresh => M::refresh(db).await,
        Operation::Reset => M::reset(db).await,
    };
    let after = State::read::<M, D>(db).await;
    match (result, after) {
        (Ok(()), Ok(after)) => {
            let changed = match op {
                Operation::Reset => before.applied.iter().rev().cloned().collect(),
                _ => after.applied.clone(),
            };
            Ok(after.into_applied(changed))
        }
        (Ok(()), Err(error)) => Err(Failed {
            error,
            after: None,
            before: Some(before_state),
        }),
        (Err(error), after) => {
            let after = after.ok().map(|after| {
                let changed = match op {
                    Operation::Up { .. } => after
                        .applied
                        .iter()
                        .filter(|m| before.pending.contains(m))
                        .cloned()
                        .collect(),
                    Operation::Down { .. } | Operation::Reset => before
                        .applied
                        .iter()
                        .rev()
                        .filter(|m| after.pending.contains(m))
                        .cloned()
                        .collect(),
                    _ => Vec::new(),
                };
                after.into_applied(changed)
            });
            Err(Failed {
                error,
                after,
                before: Some(before_state),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_database_with_nothing_written_counts_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        assert!(!is_empty_sqlite_file(&db), "missing");
        std::fs::write(&db, b"").unwrap();
        assert!(is_empty_sqlite_file(&db), "zero bytes, no log");
        let wal = dir.path().join("t.db-wal");
        std::fs::write(&wal, b"").unwrap();
        assert!(is_empty_sqlite_file(&db), "zero bytes, empty log");
        std::fs::write(&wal, b"frames").unwrap();
        assert!(!is_empty_sqlite_file(&db), "pages in the log");
        std::fs::remove_file(&wal).unwrap();
        std::fs::write(&db, b"SQLite format 3\0").unwrap();
        assert!(!is_empty_sqlite_file(&db), "a header");
    }
}
