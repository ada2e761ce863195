//! The store's counters as notes-server's `/metrics` shows them, so a run can
//! say where its time went: pools opened and evicted, pools grown, callers
//! that waited for the server's budget and for how long.

use std::fmt;
use std::net::SocketAddr;

/// A snapshot of the store's counters, summed over servers.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StoreCounters {
    /// `sea_orm_tenant_pool_opens_total`.
    pub opens: f64,
    /// `sea_orm_tenant_pool_evictions_total`.
    pub evictions: f64,
    /// `sea_orm_tenant_pool_grows_total`.
    pub grows: f64,
    /// `sea_orm_tenant_server_waits_total`.
    pub budget_waits: f64,
    /// `sea_orm_tenant_server_wait_seconds_total`.
    pub budget_wait_seconds: f64,
}

impl StoreCounters {
    /// Reads `/metrics` of the notes-server at `addr`; `None` if it does not answer.
    pub async fn scrape(addr: SocketAddr) -> Option<Self> {
        let text = reqwest::get(format!("http://{addr}/metrics"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        Some(Self::parse(&text))
    }

    /// Sums the counters' samples in a Prometheus text exposition.
    pub fn parse(text: &str) -> Self {
        let mut counters = Self::default();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((name, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            let name = name.split('{').next().unwrap_or(name);
            let field = match name {
                "sea_orm_tenant_pool_opens_total" => &mut counters.opens,
                "sea_orm_tenant_pool_evictions_total" => &mut counters.evictions,
                "sea_orm_tenant_pool_grows_total" => &mut counters.grows,
                "sea_orm_tenant_server_waits_total" => &mut counters.budget_waits,
                "sea_orm_tenant_server_wait_seconds_total" => &mut counters.budget_wait_seconds,
                _ => continue,
            };
            *field += value;
        }
        counters
    }

    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            opens: self.opens - earlier.opens,
            evictions: self.evictions - earlier.evictions,
            grows: self.grows - earlier.grows,
            budget_waits: self.budget_waits - earlier.budget_waits,
            budget_wait_seconds: self.budget_wait_seconds - earlier.budget_wait_seconds,
        }
    }
}

impl fmt::Display for StoreCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pools opened {:.0}, evicted {:.0}, grown {:.0}; budget waits {:.0} ({:.1} s in all)",
            self.opens, self.evictions, self.grows, self.budget_waits, self.budget_wait_seconds
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_the_counters_over_servers_and_skips_the_rest() {
        let text = "# TYPE sea_orm_tenant_pool_opens_total counter\n\
                    sea_orm_tenant_pool_opens_total 12\n\
                    sea_orm_tenant_pool_grows_total 3\n\
                    sea_orm_tenant_server_waits_total{server=\"a:1\"} 4\n\
                    sea_orm_tenant_server_waits_total{server=\"b:2\"} 5\n\
                    sea_orm_tenant_server_wait_seconds_total{server=\"a:1\"} 0.5\n\
                    sea_orm_tenant_tenant_queries_total{tenant=\"t\"} 99\n";
        let c = StoreCounters::parse(text);
        assert_eq!(c.opens, 12.0);
        assert_eq!(c.grows, 3.0);
        assert_eq!(c.budget_waits, 9.0);
        assert_eq!(c.budget_wait_seconds, 0.5);
        assert_eq!(c.evictions, 0.0);
        let later = StoreCounters { opens: 20.0, ..c };
        assert_eq!(later.since(&c).opens, 8.0);
    }
}
