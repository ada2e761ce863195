//! Reading TOML tables that mix a few fields of their own with pool settings.

use serde::Deserialize;

use super::pool::PoolOptions;

/// Removes `key` from a TOML table and reads it as a `T`: for tables that mix
/// a few fields of their own with pool settings.
pub(crate) fn take_field<T: serde::de::DeserializeOwned, E: serde::de::Error>(
    table: &mut toml::Table,
    key: &str,
) -> Result<Option<T>, E> {
    table
        .remove(key)
        .map(|v| T::deserialize(v).map_err(|e| E::custom(format!("`{key}`: {e}"))))
        .transpose()
}

/// The rest of such a table: pool settings, unknown keys refused.
pub(crate) fn take_pool<E: serde::de::Error>(table: toml::Table) -> Result<PoolOptions, E> {
    PoolOptions::deserialize(toml::Value::Table(table)).map_err(E::custom)
}
