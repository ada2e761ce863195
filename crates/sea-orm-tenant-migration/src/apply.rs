//! Applying one [`Operation`] to one database with a migrator's own methods.

use futures_util::future::BoxFuture;
use sea_orm::{DatabaseConnection, DbErr};
use sea_orm_migration::{MigrationStatus, MigratorTrait};

use crate::operation::Operation;

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
}

/// [`apply`] for one migrator, as a plain function pointer: lets the runner hold
/// the tenant migrator and the shared migrator without being generic over both.
pub(crate) type ApplyFn =
    fn(DatabaseConnection, Operation) -> BoxFuture<'static, Result<Applied, Failed>>;

/// The [`ApplyFn`] of migrator `M`.
pub(crate) fn apply_fn<M: MigratorTrait + 'static>() -> ApplyFn {
    |conn, op| Box::pin(async move { apply::<M>(&conn, op).await })
}

/// Names of applied and pending migrations, in migration order.
struct State {
    applied: Vec<String>,
    pending: Vec<String>,
}

impl State {
    /// Read-only: never creates the migration table (the migrator's own
    /// methods do that when they need it), so a fresh database costs one query.
    async fn read<M: MigratorTrait>(db: &DatabaseConnection) -> Result<Self, DbErr> {
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

    fn into_applied(self, changed: Vec<String>) -> Applied {
        Applied {
            changed,
            version: self.applied.last().cloned(),
            pending: self.pending,
        }
    }
}

/// Runs `op` with `M`'s own methods on `db`. Reads the migration table before
/// (after the caller took the tenant's lock, so a second runner sees the first
/// one's work) and, when the result cannot be derived, after.
pub(crate) async fn apply<M: MigratorTrait>(
    db: &DatabaseConnection,
    op: Operation,
) -> Result<Applied, Failed> {
    let fail = |error| Failed { error, after: None };
    let before = State::read::<M>(db).await.map_err(fail)?;
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
    let after = State::read::<M>(db).await;
    match (result, after) {
        (Ok(()), Ok(after)) => {
            let changed = match op {
                Operation::Reset => before.applied.iter().rev().cloned().collect(),
                _ => after.applied.clone(),
            };
            Ok(after.into_applied(changed))
        }
        (Ok(()), Err(error)) => Err(fail(error)),
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
            Err(Failed { error, after })
        }
    }
}
