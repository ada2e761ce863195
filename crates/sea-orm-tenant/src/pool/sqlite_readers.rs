//! The read pool of a SQLite file in WAL mode (`sqlite_readers`).
//!
//! A tenant's SQLite pool has one connection, so that writes and transactions
//! never meet `SQLITE_BUSY` from each other. In WAL mode readers do not block
//! the writer nor each other, so plain `SELECT`s outside transactions go to a
//! second pool: each read starts after every write acknowledged before it, and
//! sees it. The pool opens on the first read, so a tenant that is only written
//! (a migration run, a bulk import) costs no reader thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sea_orm::{DatabaseConnection, DbBackend};
use tokio::sync::OnceCell;

use crate::config::TenantConfig;
use crate::pool::opener::open_pool;

/// One SQLite tenant's read pool, opened on first use.
pub(crate) struct SqliteReaders {
    size: u32,
    close_timeout: Duration,
    pool: OnceCell<DatabaseConnection>,
    /// Set when the pool could not be opened: reads go to the writer.
    unavailable: AtomicBool,
}

impl SqliteReaders {
    /// The read pool of a database with `config`, if it gets one.
    pub(crate) fn new(
        config: &TenantConfig,
        backend: DbBackend,
        close_timeout: Duration,
    ) -> Option<Self> {
        let size = config
            .pool
            .effective_sqlite_readers(backend, config.is_sqlite_memory());
        (size > 0).then(|| Self {
            size,
            close_timeout,
            pool: OnceCell::new(),
            unavailable: AtomicBool::new(false),
        })
    }

    /// The pool for `sql`: `None` unless it is a plain `SELECT` and the read
    /// pool is open or opens now. A pool that cannot be opened is not retried;
    /// its reads go to the writer, which is slower, never wrong.
    pub(crate) async fn for_statement(
        &self,
        sql: &str,
        config: &TenantConfig,
    ) -> Option<&DatabaseConnection> {
        if !is_plain_select(sql) || self.unavailable.load(Ordering::Relaxed) {
            return None;
        }
        if let Some(pool) = self.pool.get() {
            return Some(pool);
        }
        let opened = self
            .pool
            .get_or_try_init(|| open_pool(config, DbBackend::Sqlite, self.size, self.close_timeout))
            .await;
        match opened {
            Ok(pool) => Some(pool),
            Err(reason) => {
                tracing::warn!(%reason, "cannot open the SQLite read pool; reads go to the writer");
                self.unavailable.store(true, Ordering::Relaxed);
                None
            }
        }
    }

    /// Closes the pool if it was opened.
    pub(crate) async fn close(&self) {
        if let Some(pool) = self.pool.get() {
            let _ = pool.close_by_ref().await;
        }
    }
}

/// Whether `sql` is one statement starting with the keyword `SELECT`: it
/// cannot write (SQLite's `SELECT` has no `FOR UPDATE` and no `RETURNING`).
/// Anything else, a leading comment or `WITH` included, goes to the writer.
fn is_plain_select(sql: &str) -> bool {
    let sql = sql.trim_start();
    sql.get(..6)
        .is_some_and(|k| k.eq_ignore_ascii_case("select"))
        && sql[6..].starts_with(|c: char| c.is_ascii_whitespace() || c == '(' || c == '*')
        && !sql.trim_end().trim_end_matches(';').contains(';')
}

#[cfg(test)]
mod tests {
    use super::is_plain_select;

    #[test]
    fn only_single_select_statements_are_plain() {
        for sql in [
            "SELECT 1",
            "  select \"note\".\"id\" FROM \"note\" LIMIT ?",
            "SELECT* FROM t",
            "SELECT(1)",
            "SELECT 1;",
        ] {
            assert!(is_plain_select(sql), "{sql}");
        }
        for sql in [
            "INSERT INTO t VALUES (1) RETURNING id",
            "WITH x AS (SELECT 1) DELETE FROM t",
            "SELECTED",
            "SELECT 1; DELETE FROM t",
            "/* c */ SELECT 1",
            "UPDATE t SET a = 1",
            "",
            "sel",
        ] {
            assert!(!is_plain_select(sql), "{sql}");
        }
    }
}
