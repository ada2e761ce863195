//! [`SchemaName`]: the PostgreSQL schema a tenant lives in, and the one quoting
//! rule every schema name reaching SQL goes through.

use std::fmt;
use std::sync::Arc;

use crate::key::TenantKey;

/// The longest schema name accepted: PostgreSQL truncates identifiers at 63 bytes,
/// and two names equal in their first 63 bytes would be one schema.
pub const MAX_SCHEMA_LEN: usize = 63;

/// A validated PostgreSQL schema name.
///
/// The rule, checked by [`SchemaName::new`]:
///
/// * 1 to 63 characters ([`MAX_SCHEMA_LEN`]);
/// * only lowercase ASCII letters `a-z`, digits `0-9`, `_` and `-`;
/// * the first character is a letter, a digit or `_`;
/// * not `public` or `information_schema`, and not starting with `pg_`
///   (PostgreSQL reserves that prefix for system schemas).
///
/// The quoting rule: a schema name reaches SQL only through [`quoted`](Self::quoted),
/// always double-quoted. The character set leaves nothing to escape, and quoting
/// makes names with `-`, a leading digit or a keyword (`user`, `order`) work
/// as they are, never folded or read as syntax. A tenant's default schema is
/// its [`TenantKey`] after a configured prefix; the prefix is checked by the
/// same rule.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SchemaName(Arc<str>);

/// Why a string is not a valid [`SchemaName`]. Positions are 0-based character indexes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaNameError {
    /// The name is empty.
    #[error("schema name is empty")]
    Empty,
    /// The name is longer than [`MAX_SCHEMA_LEN`] characters.
    #[error("schema name {name:?} is {len} characters long; at most {MAX_SCHEMA_LEN} are allowed")]
    TooLong {
        /// The rejected name, cut to its first 80 characters.
        name: String,
        /// Its length, in characters.
        len: usize,
    },
    /// A character outside `a-z`, `0-9`, `_`, `-`, or a `-` first.
    #[error(
        "schema name contains {found:?} at position {position}; use lowercase a-z, 0-9, _ and - (not first)"
    )]
    BadChar {
        /// The offending character.
        found: char,
        /// Its position.
        position: usize,
    },
    /// `public`, `information_schema` or a `pg_` name.
    #[error("schema name {name:?} is reserved by PostgreSQL; choose another name or prefix")]
    Reserved {
        /// The rejected name.
        name: String,
    },
}

impl SchemaName {
    /// Validates `name` against the rule above.
    pub fn new(name: &str) -> Result<Self, SchemaNameError> {
        check_chars(name)?;
        let len = name.chars().count();
        if len == 0 {
            return Err(SchemaNameError::Empty);
        }
        if len > MAX_SCHEMA_LEN {
            return Err(SchemaNameError::TooLong {
                name: name.chars().take(80).collect(),
                len,
            });
        }
        if name == "public" || name == "information_schema" || name.starts_with("pg_") {
            return Err(SchemaNameError::Reserved {
                name: name.to_owned(),
            });
        }
        Ok(Self(Arc::from(name)))
    }

    /// The schema of `tenant` under `prefix`: `prefix` followed by the key.
    pub fn for_tenant(prefix: &str, tenant: &TenantKey) -> Result<Self, SchemaNameError> {
        Self::new(&format!("{prefix}{tenant}"))
    }

    /// Checks a schema prefix: a name made of it and any tenant key must be able
    /// to pass the rule, so a bad prefix is refused when the configuration is
    /// read, not at the first tenant.
    pub fn check_prefix(prefix: &str) -> Result<(), SchemaNameError> {
        check_chars(prefix)?;
        Self::new(&format!("{prefix}a")).map(drop)
    }

    /// The name as configured.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as an SQL identifier: always double-quoted (see the type docs).
    pub fn quoted(&self) -> String {
        format!("\"{}\"", self.0)
    }

    /// The `search_path` of a call on this schema: the schema, then the
    /// session's temporary schema. Named last, `pg_temp` is searched after the
    /// tenant's schema (left out, PostgreSQL searches it first, and a
    /// temporary table would shadow the tenant's table of the same name).
    pub fn search_path(&self) -> String {
        format!("\"{}\", pg_temp", self.0)
    }
}

fn check_chars(name: &str) -> Result<(), SchemaNameError> {
    for (position, found) in name.chars().enumerate() {
        let ok = matches!(found, 'a'..='z' | '0'..='9' | '_') || (found == '-' && position > 0);
        if !ok {
            return Err(SchemaNameError::BadChar { found, position });
        }
    }
    Ok(())
}

impl fmt::Display for SchemaName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SchemaName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl AsRef<str> for SchemaName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for SchemaName {
    type Err = SchemaNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl serde::Serialize for SchemaName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for SchemaName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::new(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_keys_and_quotes_always() {
        for name in ["acme", "t_acme", "_x", "1st", "a-b", "user"] {
            let s = SchemaName::new(name).unwrap();
            assert_eq!(s.quoted(), format!("\"{name}\""));
        }
        let key = TenantKey::new("acme-1").unwrap();
        assert_eq!(
            SchemaName::for_tenant("t_", &key).unwrap().as_str(),
            "t_acme-1"
        );
    }

    #[test]
    fn refuses_what_could_escape_or_collide() {
        let cases = [
            ("", SchemaNameError::Empty),
            (
                "a\"; DROP SCHEMA public; --",
                SchemaNameError::BadChar {
                    found: '"',
                    position: 1,
                },
            ),
            (
                "Acme",
                SchemaNameError::BadChar {
                    found: 'A',
                    position: 0,
                },
            ),
            (
                "-a",
                SchemaNameError::BadChar {
                    found: '-',
                    position: 0,
                },
            ),
            (
                "public",
                SchemaNameError::Reserved {
                    name: "public".into(),
                },
            ),
            (
                "pg_temp",
                SchemaNameError::Reserved {
                    name: "pg_temp".into(),
                },
            ),
        ];
        for (name, err) in cases {
            assert_eq!(SchemaName::new(name).unwrap_err(), err, "{name:?}");
        }
        assert!(matches!(
            SchemaName::new(&"a".repeat(64)),
            Err(SchemaNameError::TooLong { len: 64, .. })
        ));
        assert!(SchemaName::check_prefix("t_").is_ok());
        assert!(SchemaName::check_prefix("").is_ok());
        assert!(SchemaName::check_prefix("pg_").is_err());
        assert!(SchemaName::check_prefix("T").is_err());
        assert!(SchemaName::check_prefix(&"a".repeat(63)).is_err());
        let long_key = TenantKey::new("k".repeat(63)).unwrap();
        assert!(matches!(
            SchemaName::for_tenant("t_", &long_key),
            Err(SchemaNameError::TooLong { len: 65, .. })
        ));
    }
}
