//! Writing a temporary `tenants.toml`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A `tenants.toml` under construction. Pools are small by default
/// (`max_connections = 2`): the test PostgreSQL server allows 100 connections in all.
#[derive(Debug, Clone)]
pub struct TenantsToml {
    /// `[defaults]` keys and their TOML values.
    defaults: BTreeMap<String, String>,
    /// `[store]` keys and their TOML values.
    store: BTreeMap<String, String>,
    /// `[servers."host:port"]` tables: keys and their TOML values.
    servers: BTreeMap<String, BTreeMap<String, String>>,
    tenants: String,
}

impl Default for TenantsToml {
    fn default() -> Self {
        Self::new()
    }
}

impl TenantsToml {
    /// An empty configuration with small pools (2 connections), a 3 s connect
    /// timeout and a 10 s acquire timeout.
    pub fn new() -> Self {
        Self {
            defaults: BTreeMap::new(),
            store: BTreeMap::new(),
            servers: BTreeMap::new(),
            tenants: String::new(),
        }
        .default_option("max_connections", "2")
        .default_option("acquire_timeout", "\"10s\"")
        .default_option("connect_timeout", "\"3s\"")
    }

    /// Sets `key = value` in `[defaults]` (`value` is TOML: `"50ms"` with quotes).
    pub fn default_option(mut self, key: &str, value: &str) -> Self {
        self.defaults.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Leaves `key` out of `[defaults]` (the library's default applies).
    pub fn without_default_option(mut self, key: &str) -> Self {
        self.defaults.remove(key);
        self
    }

    /// Sets `key = value` in `[store]` (`value` is TOML).
    pub fn store_option(mut self, key: &str, value: &str) -> Self {
        self.store.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Sets `key = value` in `[servers."server"]` (`server` is `host:port` as
    /// written in the tenant URLs; `value` is TOML).
    pub fn server_option(mut self, server: &str, key: &str, value: &str) -> Self {
        self.servers
            .entry(server.to_owned())
            .or_default()
            .insert(key.to_owned(), value.to_owned());
        self
    }

    /// Adds a tenant.
    pub fn tenant(self, name: &str, url: &str) -> Self {
        self.tenant_with(name, url, &[])
    }

    /// Adds a tenant with extra pool settings (TOML lines).
    pub fn tenant_with(mut self, name: &str, url: &str, options: &[&str]) -> Self {
        let _ = writeln!(
            self.tenants,
            "\n[tenants.{name}]\nurl = {}",
            toml_string(url)
        );
        for line in options {
            let _ = writeln!(self.tenants, "{line}");
        }
        self
    }

    /// Adds a `[databases.NAME]` table: schema tenants `tenants`, each in
    /// schema `schema_prefix` + name of the PostgreSQL database at `url`.
    pub fn schema_database(
        self,
        name: &str,
        url: &str,
        schema_prefix: &str,
        tenants: &[String],
        options: &[&str],
    ) -> Self {
        let kind = format!("schema_prefix = {}", toml_string(schema_prefix));
        self.databases_table(name, url, &kind, tenants, options)
    }

    /// A `[databases.NAME]` table of row tenants at `url`, with extra lines.
    pub fn row_database(self, name: &str, url: &str, tenants: &[String], options: &[&str]) -> Self {
        self.databases_table(name, url, "tenants_are = \"rows\"", tenants, options)
    }

    /// A `[databases.NAME]` table of MySQL database tenants sharing the
    /// server at `server_url` (a URL naming no database): tenant `t` lives in
    /// database `database_prefix` + `t`. With extra lines.
    pub fn server_databases(
        self,
        name: &str,
        server_url: &str,
        database_prefix: &str,
        tenants: &[String],
        options: &[&str],
    ) -> Self {
        let kind = format!(
            "tenants_are = \"databases\"\ndatabase_prefix = {}",
            toml_string(database_prefix)
        );
        self.databases_table(name, server_url, &kind, tenants, options)
    }

    /// A `[databases.NAME]` table at `url`: `kind` (how its tenants live in
    /// it), its tenants, and extra lines.
    fn databases_table(
        mut self,
        name: &str,
        url: &str,
        kind: &str,
        tenants: &[String],
        options: &[&str],
    ) -> Self {
        let list: Vec<String> = tenants.iter().map(|t| toml_string(t)).collect();
        let _ = writeln!(
            self.tenants,
            "\n[databases.{name}]\nurl = {}\n{kind}\ntenants = [{}]",
            toml_string(url),
            list.join(", ")
        );
        for line in options {
            let _ = writeln!(self.tenants, "{line}");
        }
        self
    }

    /// The TOML text.
    pub fn to_toml(&self) -> String {
        let mut text = String::from("[defaults]\n");
        for (key, value) in &self.defaults {
            let _ = writeln!(text, "{key} = {value}");
        }
        if !self.store.is_empty() {
            text.push_str("\n[store]\n");
            for (key, value) in &self.store {
                let _ = writeln!(text, "{key} = {value}");
            }
        }
        for (server, options) in &self.servers {
            let _ = writeln!(text, "\n[servers.{}]", toml_string(server));
            for (key, value) in options {
                let _ = writeln!(text, "{key} = {value}");
            }
        }
        text + &self.tenants
    }

    /// Writes `tenants.toml` into `dir` and returns its path.
    pub fn write_to(&self, dir: &Path) -> PathBuf {
        let path = dir.join("tenants.toml");
        std::fs::write(&path, self.to_toml()).expect("write tenants.toml");
        path
    }
}

fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}
