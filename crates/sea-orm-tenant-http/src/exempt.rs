//! [`Exempt`]: the paths a tenant middleware runs with no tenant.

/// Paths that run with no tenant (health checks, docs): exact paths and
/// prefixes, a trailing slash ignored.
///
/// ```
/// use sea_orm_tenant_http::Exempt;
///
/// let mut exempt = Exempt::default();
/// exempt.path("/health");
/// exempt.prefix("/docs");
/// assert!(exempt.contains("/health/"));
/// assert!(exempt.contains("/docs/index.css"));
/// assert!(!exempt.contains("/docsx"));
/// assert!(!exempt.contains("/notes"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exempt {
    paths: Vec<String>,
    prefixes: Vec<String>,
}

impl Exempt {
    /// Exempts exactly `path` (`/health`, and `/health/`).
    pub fn path(&mut self, path: &str) -> &mut Self {
        self.paths.push(normalize(path));
        self
    }

    /// Exempts `prefix` and every path under it (`/docs`: `/docs`, `/docs/`,
    /// `/docs/index.css`, but not `/docsx`).
    pub fn prefix(&mut self, prefix: &str) -> &mut Self {
        self.prefixes.push(normalize(prefix));
        self
    }

    /// The exact paths, normalized (`/health`).
    pub fn paths(&self) -> &[String] {
        &self.paths
    }

    /// The prefixes, normalized (`/docs`).
    pub fn prefixes(&self) -> &[String] {
        &self.prefixes
    }

    /// Whether a request for `path` runs with no tenant.
    pub fn contains(&self, path: &str) -> bool {
        if self.paths.is_empty() && self.prefixes.is_empty() {
            return false;
        }
        let path = path
            .strip_suffix('/')
            .filter(|p| !p.is_empty())
            .unwrap_or(path);
        self.paths.iter().any(|p| p == path)
            || self.prefixes.iter().any(|prefix| {
                prefix == "/"
                    || path
                        .strip_prefix(prefix.as_str())
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            })
    }
}

/// `/health/` and `health` become `/health`; `/` stays `/`.
fn normalize(path: &str) -> String {
    let trimmed = path.trim_matches('/');
    format!("/{trimmed}")
}
