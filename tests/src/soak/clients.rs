//! Which tenants each of the soak's client workers sends its requests to.
//!
//! Customers of different tenants are independent clients: one waiting on a
//! tenant whose database server is down does not hold up another's requests.
//! A closed-loop worker shared by tenants of several servers would: while a
//! PostgreSQL restart keeps its request waiting, it sends nothing to its
//! SQLite and MariaDB tenants, and their throughput "during the fault" would
//! measure the load generator, not the server. So workers are split between
//! the database servers in proportion to their tenants, and within a server
//! into shards of a few workers: a stalled tenant holds up only its shard.

/// Workers per shard within one server's tenants.
const WORKERS_PER_SHARD: usize = 4;

/// The tenants (indices into `servers`) each worker picks from, one at random
/// per request: `workers` of them, or one per server if there are more servers. `servers[i]` names the database server of tenant `i`
/// (a fault takes a server's tenants down together); every tenant is in some
/// worker's shard, and every worker has at least one tenant.
pub fn shards(servers: &[&str], workers: usize) -> Vec<Vec<usize>> {
    let mut groups: Vec<(&str, Vec<usize>)> = Vec::new();
    for (tenant, server) in servers.iter().enumerate() {
        match groups.iter_mut().find(|(s, _)| s == server) {
            Some((_, tenants)) => tenants.push(tenant),
            None => groups.push((server, vec![tenant])),
        }
    }
    if groups.is_empty() || workers == 0 {
        return Vec::new();
    }
    // Workers per server, in proportion to its tenants, at least one each
    // (largest remainders first).
    let total = servers.len();
    let spare = workers.saturating_sub(groups.len());
    let mut counts: Vec<usize> = groups
        .iter()
        .map(|(_, t)| 1 + spare * t.len() / total)
        .collect();
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by_key(|&g| std::cmp::Reverse((spare * groups[g].1.len()) % total));
    for &g in order
        .iter()
        .cycle()
        .take(workers.saturating_sub(counts.iter().sum()))
    {
        counts[g] += 1;
    }
    let mut out = Vec::with_capacity(workers);
    for ((_, tenants), count) in groups.iter().zip(counts) {
        let shard_count = count.div_ceil(WORKERS_PER_SHARD).clamp(1, tenants.len());
        for worker in 0..count {
            let shard = worker % shard_count;
            out.push(
                tenants
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| i % shard_count == shard)
                    .map(|(_, &t)| t)
                    .collect(),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn servers() -> Vec<&'static str> {
        let mut s = vec!["sqlite"; 20];
        s.extend(["postgres"; 25]);
        s.extend(["mysql"; 10]);
        s
    }

    #[test]
    fn every_worker_stays_on_one_server_and_every_tenant_is_served() {
        let servers = servers();
        let shards = shards(&servers, 64);
        assert_eq!(shards.len(), 64);
        let mut served = vec![0; servers.len()];
        for shard in &shards {
            assert!(!shard.is_empty());
            assert!(shard.iter().all(|&t| servers[t] == servers[shard[0]]));
            for &t in shard {
                served[t] += 1;
            }
        }
        assert!(served.iter().all(|&n| n > 0), "{served:?}");
        // In proportion: 20/55, 25/55 and 10/55 of 64 workers.
        let on = |s: &str| shards.iter().filter(|sh| servers[sh[0]] == s).count();
        assert_eq!((on("sqlite"), on("postgres"), on("mysql")), (23, 29, 12));
    }

    #[test]
    fn few_workers_still_serve_every_server() {
        let servers = servers();
        for workers in 3..10 {
            let shards = shards(&servers, workers);
            assert_eq!(shards.len(), workers);
            for s in ["sqlite", "postgres", "mysql"] {
                assert!(shards.iter().any(|sh| servers[sh[0]] == s), "{workers}");
            }
            let all: std::collections::BTreeSet<usize> = shards.iter().flatten().copied().collect();
            assert_eq!(all.len(), servers.len(), "{workers}");
        }
    }
}
