//! Which of a server's listed sessions are still connected: a session the
//! client has closed stays in `pg_stat_activity` or the processlist until
//! the server's backend or thread has torn it down, a few milliseconds later
//! on a busy server, so a count of listed sessions can exceed what a client
//! holds. A session counts as connected when its client port has an
//! established TCP connection to the server's port on this machine.

use std::collections::HashSet;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};

/// `(local port, remote port)` of every established TCP connection this
/// machine has (IPv4 and IPv6), or `None` where `/proc/net/tcp` is
/// unreadable (not Linux).
pub fn established_tcp_ports() -> Option<HashSet<(u16, u16)>> {
    const ESTABLISHED: &str = "01";
    let mut found = HashSet::new();
    let mut read_any = false;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        read_any = true;
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [_, local, remote, state, ..] = fields.as_slice() else {
                continue;
            };
            let port = |addr: &str| {
                addr.rsplit_once(':')
                    .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
            };
            if *state == ESTABLISHED
                && let (Some(l), Some(r)) = (port(local), port(remote))
            {
                found.insert((l, r));
            }
        }
    }
    read_any.then_some(found)
}

/// How many sessions the server of `admin` lists on databases whose name
/// matches `like` (a `LIKE` pattern, already escaped) whose client end is
/// still open: where this machine's TCP table is readable, a session counts
/// when its client port had an established connection to the server's port
/// just before or just after the server was asked (a session without ports,
/// over a Unix socket, always counts); elsewhere every listed session counts.
pub async fn connected_sessions(admin: &DatabaseConnection, like: &str) -> Result<i64, DbErr> {
    let backend = admin.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => format!(
            "SELECT CAST(client_port AS BIGINT) AS client, \
             CAST(current_setting('port') AS BIGINT) AS server \
             FROM pg_stat_activity WHERE datname LIKE '{like}'"
        ),
        _ => format!(
            "SELECT CAST(SUBSTRING_INDEX(host, ':', -1) AS SIGNED) AS client, \
             CAST(@@port AS SIGNED) AS server \
             FROM information_schema.processlist WHERE db LIKE '{like}'"
        ),
    };
    let before = established_tcp_ports();
    let rows = admin
        .query_all_raw(Statement::from_string(backend, sql))
        .await?;
    let after = established_tcp_ports();
    let (Some(before), Some(after)) = (before, after) else {
        return Ok(rows.len() as i64);
    };
    let connected = rows.iter().filter(|row| {
        let port = |col| {
            row.try_get::<Option<i64>>("", col)
                .ok()
                .flatten()
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p != 0)
        };
        match (port("client"), port("server")) {
            (Some(client), Some(server)) => {
                before.contains(&(client, server)) || after.contains(&(client, server))
            }
            _ => true,
        }
    });
    Ok(connected.count() as i64)
}
