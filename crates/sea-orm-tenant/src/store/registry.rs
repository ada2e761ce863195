//! The registry: tenant names to their entries, added and removed at runtime.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use sea_orm::DbBackend;

use crate::config::ConfigError;
use crate::error::TenantError;
use crate::key::TenantKey;
use crate::store::Tenant;

#[derive(Default)]
pub(crate) struct Registry {
    inner: RwLock<Entries>,
}

#[derive(Default)]
struct Entries {
    /// Looked up on every request: foldhash (seeded per process) hashes a short
    /// name in a fraction of SipHash's time.
    tenants: HashMap<TenantKey, Arc<Tenant>, foldhash::fast::RandomState>,
    /// Tenants per backend: Sqlite, Postgres, MySql.
    per_backend: [usize; 3],
    /// Schema databases by URL: the entry owning the pool its schema tenants
    /// share, and how many tenants are placed in it.
    databases: HashMap<String, (Arc<Tenant>, usize)>,
}

fn backend_index(backend: DbBackend) -> usize {
    match backend {
        DbBackend::Sqlite => 0,
        DbBackend::Postgres => 1,
        _ => 2,
    }
}

impl Registry {
    fn read(&self) -> RwLockReadGuard<'_, Entries> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Entries> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn insert(&self, tenant: Arc<Tenant>) -> Result<(), ConfigError> {
        let mut entries = self.write();
        if entries.tenants.contains_key(&tenant.key) {
            return Err(ConfigError::AlreadyRegistered(tenant.key.clone()));
        }
        entries.per_backend[backend_index(tenant.backend)] += 1;
        entries.tenants.insert(tenant.key.clone(), tenant);
        Ok(())
    }

    /// Registers `tenant` in place of the entry of its name, if any, in one
    /// step (no instant without an entry); returns the replaced entry,
    /// marked removed.
    pub(crate) fn replace(&self, tenant: Arc<Tenant>) -> Option<Arc<Tenant>> {
        let mut entries = self.write();
        entries.per_backend[backend_index(tenant.backend)] += 1;
        let old = entries.tenants.insert(tenant.key.clone(), tenant)?;
        entries.per_backend[backend_index(old.backend)] -= 1;
        old.mark_removed();
        Some(old)
    }

    /// Unregisters `key` and marks its entry removed, so scopes holding it stop routing.
    pub(crate) fn remove(&self, key: &TenantKey) -> Result<Arc<Tenant>, TenantError> {
        let mut entries = self.write();
        let tenant = entries
            .tenants
            .remove(key)
            .ok_or_else(|| TenantError::Unknown(key.clone()))?;
        entries.per_backend[backend_index(tenant.backend)] -= 1;
        tenant.mark_removed();
        Ok(tenant)
    }

    /// The entry of the schema database at `url`, made by `make` if it has
    /// none; counts one more tenant placed in it.
    pub(crate) fn place_in_database(
        &self,
        url: &str,
        make: impl FnOnce() -> Arc<Tenant>,
    ) -> Arc<Tenant> {
        let mut entries = self.write();
        let (entry, placed) = entries
            .databases
            .entry(url.to_owned())
            .or_insert_with(|| (make(), 0));
        *placed += 1;
        Arc::clone(entry)
    }

    /// Counts one tenant less in the schema database at `url`; returns its
    /// entry, marked removed, when none is left.
    pub(crate) fn leave_database(&self, url: &str) -> Option<Arc<Tenant>> {
        let mut entries = self.write();
        let (_, placed) = entries.databases.get_mut(url)?;
        *placed -= 1;
        if *placed > 0 {
            return None;
        }
        let (entry, _) = entries.databases.remove(url)?;
        entry.mark_removed();
        Some(entry)
    }

    pub(crate) fn get(&self, name: &str) -> Option<Arc<Tenant>> {
        self.read().tenants.get(name).cloned()
    }

    pub(crate) fn len(&self) -> usize {
        self.read().tenants.len()
    }

    /// Every entry, sorted by name.
    pub(crate) fn sorted(&self) -> Vec<Arc<Tenant>> {
        let mut tenants: Vec<_> = self.read().tenants.values().cloned().collect();
        tenants.sort_by(|a, b| a.key.cmp(&b.key));
        tenants
    }

    /// The backend every registered tenant uses, if they all use one.
    pub(crate) fn common_backend(&self) -> Option<DbBackend> {
        let entries = self.read();
        let mut used = entries
            .per_backend
            .iter()
            .zip([DbBackend::Sqlite, DbBackend::Postgres, DbBackend::MySql])
            .filter(|(n, _)| **n > 0)
            .map(|(_, b)| b);
        match (used.next(), used.next()) {
            (Some(b), None) => Some(b),
            _ => None,
        }
    }
}
