//! [`TenantKey`]: a validated tenant name.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// The longest tenant name accepted: PostgreSQL truncates identifiers at 63 bytes.
pub const MAX_KEY_LEN: usize = 63;

/// Names that are device files on Windows: unsafe as file names even with an extension.
const RESERVED: &[&str] = &[
    "con", "prn", "aux", "nul", "com0", "com1", "com2", "com3", "com4", "com5", "com6", "com7",
    "com8", "com9", "lpt0", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
];

/// A validated tenant name.
///
/// The rule, checked by [`TenantKey::new`] and never relaxed by normalisation:
///
/// * 1 to 63 characters ([`MAX_KEY_LEN`]);
/// * only lowercase ASCII letters `a-z`, digits `0-9`, `_` and `-`;
/// * the first character is a letter or a digit;
/// * not a Windows device name (`con`, `prn`, `aux`, `nul`, `com0`..`com9`, `lpt0`..`lpt9`).
///
/// A valid key is therefore safe as a file name, a database name and a schema name
/// (quoted where `-` needs it) on every supported backend.
/// Cloning is cheap: the name is reference-counted.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantKey(Arc<str>);

/// Why a string is not a valid [`TenantKey`]. Positions are 0-based character indexes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The name is empty.
    #[error("tenant name is empty")]
    Empty,
    /// The name is longer than [`MAX_KEY_LEN`] characters.
    #[error("tenant name is {len} characters long; at most {MAX_KEY_LEN} are allowed")]
    TooLong {
        /// Length of the rejected name, in characters.
        len: usize,
    },
    /// The name starts with `_` or `-`.
    #[error("tenant name must start with a letter or a digit, not {found:?}")]
    BadStart {
        /// The offending first character.
        found: char,
    },
    /// An uppercase ASCII letter: tenant names are lowercase and are never folded.
    #[error("tenant name contains uppercase {found:?} at position {position}; use lowercase")]
    Uppercase {
        /// The offending character.
        found: char,
        /// Its position.
        position: usize,
    },
    /// A character outside ASCII, such as a look-alike letter.
    #[error("tenant name contains non-ASCII character {found:?} at position {position}")]
    NonAscii {
        /// The offending character.
        found: char,
        /// Its position.
        position: usize,
    },
    /// An ASCII character other than `a-z`, `0-9`, `_` and `-`.
    #[error(
        "tenant name contains {found:?} at position {position}; only a-z, 0-9, '_' and '-' are allowed"
    )]
    InvalidChar {
        /// The offending character.
        found: char,
        /// Its position.
        position: usize,
    },
    /// A Windows device name, unusable as a file name.
    #[error("tenant name {0:?} is reserved (a Windows device name)")]
    Reserved(String),
}

impl TenantKey {
    /// Validates `name` against the rule above.
    pub fn new(name: impl AsRef<str>) -> Result<Self, KeyError> {
        let name = name.as_ref();
        validate(name)?;
        Ok(Self(Arc::from(name)))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn validate(name: &str) -> Result<(), KeyError> {
    if name.is_empty() {
        return Err(KeyError::Empty);
    }
    let len = name.chars().count();
    if len > MAX_KEY_LEN {
        return Err(KeyError::TooLong { len });
    }
    for (position, ch) in name.chars().enumerate() {
        match ch {
            'a'..='z' | '0'..='9' => {}
            '_' | '-' if position == 0 => return Err(KeyError::BadStart { found: ch }),
            '_' | '-' => {}
            'A'..='Z' => {
                return Err(KeyError::Uppercase {
                    found: ch,
                    position,
                });
            }
            c if !c.is_ascii() => {
                return Err(KeyError::NonAscii {
                    found: ch,
                    position,
                });
            }
            _ => {
                return Err(KeyError::InvalidChar {
                    found: ch,
                    position,
                });
            }
        }
    }
    if RESERVED.contains(&name) {
        return Err(KeyError::Reserved(name.to_owned()));
    }
    Ok(())
}

impl fmt::Display for TenantKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TenantKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl AsRef<str> for TenantKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for TenantKey {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl FromStr for TenantKey {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<&str> for TenantKey {
    type Error = KeyError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl TryFrom<String> for TenantKey {
    type Error = KeyError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl serde::Serialize for TenantKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for TenantKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::new(&*s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_alphabet() {
        for ok in [
            "a",
            "0",
            "test1",
            "acme-corp",
            "a_b",
            "9lives",
            &"x".repeat(63),
        ] {
            assert_eq!(TenantKey::new(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn reserved_names_are_rejected() {
        assert_eq!(
            TenantKey::new("nul"),
            Err(KeyError::Reserved("nul".to_owned()))
        );
        assert!(TenantKey::new("nul1").is_ok());
    }
}
