//! [`Place`]: what a tenant's storage is (a SQLite file, a database of its
//! own on a server, a schema), worked out from its configuration alone.

use std::path::PathBuf;

use sea_orm::DbBackend;
use sea_orm_tenant::{SchemaName, TenantConfig, redact_url};

use super::storage_error::StorageError;

/// What a tenant's storage is, worked out from its configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// A SQLite file.
    SqliteFile(PathBuf),
    /// A database of its own on a PostgreSQL or MySQL/MariaDB server.
    Database {
        /// The server's backend.
        backend: DbBackend,
        /// The server's maintenance URL (the tenant's URL on the `postgres`
        /// database, or on no database for MySQL).
        server_url: String,
        /// The database's name.
        name: SchemaName,
    },
    /// A schema in a PostgreSQL database.
    Schema {
        /// The database's URL.
        url: String,
        /// The schema.
        schema: SchemaName,
    },
    /// Rows of the shared tables of a PostgreSQL database (a row tenant):
    /// no storage of its own.
    Rows {
        /// The database's URL.
        url: String,
    },
}

impl Place {
    /// Where `config` points.
    pub fn of(config: &TenantConfig) -> Result<Self, StorageError> {
        let url = config.url();
        let unsupported = |reason| StorageError::Unsupported {
            url: redact_url(url),
            reason,
        };
        let backend = config
            .backend()
            .map_err(|_| unsupported("unknown backend"))?;
        if config.is_row_tenant() {
            return Ok(Self::Rows {
                url: url.to_owned(),
            });
        }
        if let Some(schema) = config.schema() {
            return Ok(Self::Schema {
                url: url.to_owned(),
                schema: schema.clone(),
            });
        }
        if backend == DbBackend::Sqlite {
            return match config.sqlite_path() {
                Some(path) if !config.is_sqlite_memory() => Ok(Self::SqliteFile(path)),
                _ => Err(unsupported("an in-memory database has no storage")),
            };
        }
        let mut parsed = url::Url::parse(url).map_err(|_| unsupported("the URL does not parse"))?;
        let database = parsed.path().trim_start_matches('/').to_owned();
        if database.is_empty() {
            return Err(unsupported("the URL has no database name"));
        }
        let name = SchemaName::new(&database).map_err(|source| StorageError::InvalidName {
            url: redact_url(url),
            source,
        })?;
        parsed.set_path(if backend == DbBackend::Postgres {
            "/postgres"
        } else {
            ""
        });
        Ok(Self::Database {
            backend,
            server_url: parsed.to_string(),
            name,
        })
    }

    /// A description for messages, with no password.
    pub fn describe(&self) -> String {
        match self {
            Self::SqliteFile(path) => format!("SQLite file {}", path.display()),
            Self::Database {
                server_url, name, ..
            } => format!("database {name} on {}", server_of(server_url)),
            Self::Schema { url, schema } => format!("schema {schema} in {}", redact_url(url)),
            Self::Rows { url } => format!("rows in {}", redact_url(url)),
        }
    }
}

/// `host:port` of a URL, for messages.
pub(super) fn server_of(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!(
            "{}:{}",
            u.host_str().unwrap_or("localhost"),
            u.port_or_known_default().unwrap_or(0)
        ),
        Err(_) => redact_url(url),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::storage_error::StorageError;

    #[test]
    fn places_from_urls() {
        let place = Place::of(&TenantConfig::new(
            "postgres://u:pw@h:5433/t_acme?sslmode=disable",
        ))
        .unwrap();
        let Place::Database {
            server_url, name, ..
        } = &place
        else {
            panic!("{place:?}")
        };
        assert_eq!(name.as_str(), "t_acme");
        assert_eq!(
            server_url,
            "postgres://u:pw@h:5433/postgres?sslmode=disable"
        );
        assert!(!place.describe().contains("pw"));
        let mysql = Place::of(&TenantConfig::new("mysql://root@h:3306/t_acme")).unwrap();
        assert!(
            matches!(&mysql, Place::Database { server_url, .. } if server_url == "mysql://root@h:3306")
        );
        assert!(matches!(
            Place::of(&TenantConfig::new("postgres://u@h/a%22b")),
            Err(StorageError::InvalidName { .. })
        ));
        assert!(matches!(
            Place::of(&TenantConfig::new("postgres://u@h/")),
            Err(StorageError::Unsupported { .. })
        ));
        assert!(matches!(
            Place::of(&TenantConfig::new("sqlite::memory:")),
            Err(StorageError::Unsupported { .. })
        ));
    }
}
