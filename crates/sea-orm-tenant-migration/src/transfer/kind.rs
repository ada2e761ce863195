//! [`TransferKind`]: what kind of tenant an archive holds.

/// The first line of a row tenant's archive.
pub(super) const ROWS_MAGIC: &[u8] = b"sea-orm-tenant rows 1\n";

/// What a dump by `mariadb-dump` or `mysqldump` has in its first lines
/// (after a version-dependent sandbox comment on MariaDB).
const DUMP_MARKS: [&[u8]; 2] = [b"-- MariaDB dump", b"-- MySQL dump"];

/// How many first bytes of a file [`TransferKind::starts_like`] looks at.
pub(super) const HEAD_LEN: usize = 512;

/// What kind of tenant a file holds, and so where it can be imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransferKind {
    /// A SQLite file tenant; the file is a SQLite database.
    SqliteFile,
    /// A PostgreSQL database tenant; the file is a `pg_dump --format=custom` archive.
    PostgresDatabase,
    /// A PostgreSQL schema tenant; the file is a `pg_dump --format=custom
    /// --schema` archive of its schema. It imports into a schema tenant of
    /// any schema name, or a database tenant's `public`.
    PostgresSchema,
    /// A PostgreSQL row tenant; the file holds its rows of every tenant
    /// table in `COPY`'s text format, without the tenant column, so it
    /// imports under any row tenant's name.
    PostgresRows,
    /// A MySQL/MariaDB database tenant (a pool of its own or its server's);
    /// the file is a `mariadb-dump` of its database, which names no database.
    MySqlDatabase,
}

impl TransferKind {
    /// A description for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Self::SqliteFile => "a SQLite file tenant",
            Self::PostgresDatabase => "a PostgreSQL database tenant",
            Self::PostgresSchema => "a PostgreSQL schema tenant",
            Self::PostgresRows => "a PostgreSQL row tenant",
            Self::MySqlDatabase => "a MySQL/MariaDB database tenant",
        }
    }

    /// Whether `head`, a file's first bytes (up to [`HEAD_LEN`]), is how a
    /// file of this kind starts.
    pub(super) fn starts_like(self, head: &[u8]) -> bool {
        match self {
            Self::SqliteFile => head.starts_with(b"SQLite format 3\0"),
            Self::PostgresDatabase | Self::PostgresSchema => head.starts_with(b"PGDMP"),
            Self::PostgresRows => head.starts_with(ROWS_MAGIC),
            Self::MySqlDatabase => DUMP_MARKS
                .iter()
                .any(|mark| head.windows(mark.len()).any(|w| w == *mark)),
        }
    }
}
