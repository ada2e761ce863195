//! A move whose run was killed after its switch, finished by the next run
//! of the tenant: the catalog places the tenant on the target, and the
//! journal still names the source. What the killed run had not done is
//! done again, each step where it is still needed: the replication
//! removed, the source sealed, and the source dropped after the grace
//! unless it is kept.

use sea_orm::ConnectionTrait;
use sea_orm_tenant::{TenantConfig, TenantKey};

use super::super::place::Place;
use super::super::provisioner::Provisioner;
use super::error::MoveError;
use super::fence::seal_statements;
use super::options::{MoveOptions, Moved};
use super::plan::Plan;
use super::rollback::remove_replication;
use super::row_seal::RowSeal;
use super::switch::Switched;
use super::{mysql, open, sql, sqlite};

impl Provisioner {
    /// Finishes `key`'s move if a killed run switched it and did not clean
    /// up: returns that move's report and the tenant's placement now. A
    /// journal row of a run killed before its switch is removed (what such
    /// a run left is found by the move that follows).
    pub(in crate::lifecycle) async fn finish_killed_move(
        &self,
        key: &TenantKey,
        options: &MoveOptions,
    ) -> Result<Option<(Moved, TenantConfig)>, MoveError> {
        let (Some(catalog), Some(journaled)) = (&self.catalog, self.journaled_move(key).await?)
        else {
            return Ok(None);
        };
        let entry = catalog
            .get(key)
            .await
            .map_err(|source| MoveError::Catalog {
                tenant: key.clone(),
                source,
            })?;
        let switched = entry.is_some_and(|e| {
            e.url == journaled.to.url && e.schema == journaled.to.schema && !e.rows
        });
        if !switched {
            self.forget_move(key).await;
            return Ok(None);
        }
        let unsupported = |e: sea_orm_tenant::ConfigError| MoveError::Unsupported {
            tenant: key.clone(),
            reason: format!("the journal of its last move: {e}"),
        };
        let source = journaled.from.config().map_err(unsupported)?;
        let target = journaled.to.config().map_err(unsupported)?;
        let plan = Plan::new(
            key,
            (journaled.from.url, source),
            (journaled.to.url, target.clone()),
            false,
        );
        tracing::info!(tenant = %key, "finishing a move whose run was killed after its switch");
        let mut warnings = self.finish_source(&plan).await;
        let mut options = options.clone();
        let taken = !plan.rows && self.source_taken(&plan).await?;
        if taken {
            options = options.keep_source(true);
            warnings.push("another tenant lives where this one was: that place is kept".into());
        }
        let switched = Switched {
            to: Place::of(&target).map(|p| p.describe()).unwrap_or_default(),
            tables: 0,
            rows: 0,
            copy_millis: 0,
            held_millis: 0,
            warnings,
        };
        let moved = self.finish_switched(&plan, &options, switched).await;
        if taken {
            // Nothing more to do there: the row is not kept for a retry.
            self.forget_move(key).await;
        }
        Ok(Some((moved, target)))
    }

    /// Whether a tenant other than this one lives at the move's source.
    async fn source_taken(&self, plan: &Plan) -> Result<bool, MoveError> {
        let source = Place::of(&plan.source).ok();
        Ok(self
            .list()
            .await
            .map_err(|e| MoveError::Catalog {
                tenant: plan.key.clone(),
                source: e,
            })?
            .iter()
            .filter(|e| e.name != plan.key)
            .filter_map(|e| e.config().ok())
            .any(|c| Place::of(&c).ok() == source))
    }

    /// The replication removed and the source sealed, where they are still
    /// there; returns what did not work out.
    async fn finish_source(&self, plan: &Plan) -> Vec<String> {
        let (source_db, target_db) = (
            TenantConfig::new(plan.source.url()),
            TenantConfig::new(plan.target.url()),
        );
        if !plan.sqlite && !plan.mysql {
            remove_replication(self, &plan.replication, &source_db, &target_db).await;
        }
        // A source dropped already needs no seal (and opening a SQLite file
        // that is gone would make it again).
        let source_place = match Place::of(&plan.source) {
            Ok(place) if !plan.rows => Some(place),
            _ => None,
        };
        if let Some(place) = &source_place
            && !self.storage.exists(place).await.unwrap_or(true)
        {
            return Vec::new();
        }
        let sealed = if plan.sqlite {
            sqlite::seal_old_file(&self.store, &plan.source).await
        } else if plan.mysql {
            mysql::seal_old_database(&self.store, &plan.source).await
        } else if plan.rows {
            self.seal_old_rows(plan).await
        } else {
            self.seal_old_tables(plan).await
        };
        match sealed {
            Ok(()) => Vec::new(),
            Err(reason) => vec![format!(
                "the source could not be sealed against writes: {reason}"
            )],
        }
    }

    /// A database or schema tenant's old tables, sealed (again).
    async fn seal_old_tables(&self, plan: &Plan) -> Result<(), String> {
        let source = open(&self.store, &TenantConfig::new(plan.source.url()), 1).await?;
        let sealed = async {
            let tables = sql::tables(&*source, &plan.schemas).await?;
            for statement in seal_statements(&tables) {
                source
                    .execute_unprepared(&statement)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok(())
        }
        .await;
        source.close().await;
        sealed
    }

    /// A promoted row tenant's old rows, sealed for good (the seal's lock
    /// died with the killed run).
    async fn seal_old_rows(&self, plan: &Plan) -> Result<(), String> {
        let source = open(&self.store, &TenantConfig::new(plan.source.url()), 1).await?;
        let sealed = RowSeal::new(&plan.key, &plan.replication)
            .make_final(&source)
            .await;
        source.close().await;
        sealed
    }
}
