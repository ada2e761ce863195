//! The adapters' overhead benchmarks, written once: the poem and axum crates
//! each compare an app with their middleware against the same app without
//! it, and both use this harness, so their figures are taken the same way.
//!
//! How a ratio is taken, and why (each point checked by running the same app
//! on both sides, [`same_app`], which must read 1.00):
//! - **Paired rounds.** The apps take turns in short rounds, forwards then
//!   backwards (ABBA for two), and a ratio is the median of the per-pair
//!   ratios. A drift in machine load then weighs on both sides of a pair
//!   alike, and a round hit by another process is one outlier among many.
//!   The same app on both sides, over loopback: 0.995 to 1.004 in eight
//!   runs of this design, 0.980 to 0.995 in three of the one before it (the
//!   ratio of the medians of 20 rounds of 10,000 requests each).
//! - **In process, several processes.** In one run, five processes' in-process
//!   ratios of the plain and the tenant app ranged from 0.70 to 0.76, while
//!   the same app on both sides stayed within 0.995 to 1.000: the rounds are
//!   precise, but something fixed for a process's life (most likely where
//!   its heap and code land) favours one app's path or the other's.
//!   [`in_child_processes`] runs the in-process comparison in several fresh
//!   processes of the bench, and the figure is the median of their ratios.
//!
//! Every figure here is a throughput ratio: candidate over baseline, so a
//! slower candidate reads under 1.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use sea_orm_tenant::TenantConnections;

/// The path and query every request of the benchmarks sends: the handler
/// answers [`BODY`] for tenant `acme`, resolved from the query.
pub const URI: &str = "/hello?tenant=acme";

/// The body every answer must have.
pub const BODY: &[u8] = b"hello";

/// The benches' runtime: two worker threads, the development machine's cores.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// A store of one tenant, `acme`, whose database is a SQLite file in `dir`.
pub fn acme_store(dir: &Path) -> TenantConnections {
    let url = format!("sqlite://{}?mode=rwc", dir.join("acme.db").display());
    TenantConnections::from_urls([("acme", url)]).expect("a valid store")
}

/// Set (to anything): the candidate side runs the baseline app, so the
/// printed ratios show the harness's own noise.
pub const SAME_APP: &str = "BENCH_SAME_APP";

/// Whether [`SAME_APP`] is set.
pub fn same_app() -> bool {
    std::env::var_os(SAME_APP).is_some()
}

/// The variable `name` as a number, or `default` when it is unset or not one.
pub fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub use sea_orm_tenant::testing::median;

/// Each side's figure of each round, from [`rounds`]; side 0 is the baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct Rounds {
    /// `figures[side][pair]`, per second: higher is faster.
    pub figures: Vec<Vec<f64>>,
}

impl Rounds {
    /// The median over the pairs of `side`'s figure over the baseline's.
    pub fn ratio(&self, side: usize) -> f64 {
        self.ratio_to(side, 0)
    }

    /// The median over the pairs of `side`'s figure over `base`'s.
    pub fn ratio_to(&self, side: usize, base: usize) -> f64 {
        median(
            self.figures[side]
                .iter()
                .zip(&self.figures[base])
                .map(|(c, b)| c / b)
                .collect(),
        )
    }

    /// `side`'s median figure.
    pub fn median(&self, side: usize) -> f64 {
        median(self.figures[side].clone())
    }
}

/// `pairs` rounds of each of `sides` apps: `round(side)` runs one and returns
/// its figure, per second. The sides take turns in every pair, forwards in
/// even pairs and backwards in odd ones (ABBA for two).
pub async fn rounds(
    pairs: usize,
    sides: usize,
    mut round: impl AsyncFnMut(usize) -> f64,
) -> Rounds {
    let mut figures = vec![Vec::new(); sides];
    for pair in 0..pairs {
        for turn in 0..sides {
            let side = if pair % 2 == 0 {
                turn
            } else {
                sides - 1 - turn
            };
            figures[side].push(round(side).await);
        }
    }
    Rounds { figures }
}

/// Calls per second of `n` sequential calls of `call`.
pub async fn calls_per_second(n: u32, mut call: impl AsyncFnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        call().await;
    }
    f64::from(n) / start.elapsed().as_secs_f64()
}

/// Requests per second of `connections` keep-alive HTTP/1.1 clients sending
/// `total` requests to `addr` in all, one at a time each; every answer must
/// be a success with [`BODY`].
pub async fn loopback_round(addr: SocketAddr, connections: usize, total: usize) -> f64 {
    let per_conn = total / connections;
    let start = Instant::now();
    let clients: Vec<_> = (0..connections)
        .map(|_| tokio::spawn(client(addr, per_conn)))
        .collect();
    for client in futures_util::future::join_all(clients).await {
        client.expect("a loopback client failed");
    }
    (per_conn * connections) as f64 / start.elapsed().as_secs_f64()
}

async fn client(addr: SocketAddr, requests: usize) {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to the app");
    stream.set_nodelay(true).expect("TCP_NODELAY");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("HTTP/1.1 handshake");
    tokio::spawn(conn);
    for _ in 0..requests {
        sender.ready().await.expect("connection ready");
        let req = hyper::Request::get(URI)
            .header("host", "localhost")
            .body(Empty::<Bytes>::new())
            .expect("a valid request");
        let resp = sender.send_request(req).await.expect("an answer");
        assert!(resp.status().is_success(), "answered {}", resp.status());
        let body = resp.into_body().collect().await.expect("a body").to_bytes();
        assert_eq!(&body[..], BODY);
    }
}

/// The variable that makes a bench process a child of [`in_child_processes`].
const CHILD: &str = "BENCH_CHILD_PROCESS";

/// Whether this process is one of [`in_child_processes`]' children: it
/// should then run its in-process comparisons only, print each with
/// [`report_to_parent`] and exit.
pub fn is_child_process() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// One comparison of a child process, as its parent reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChildFigures {
    /// What was compared (one word).
    pub label: String,
    /// The candidate's ratio to the baseline.
    pub ratio: f64,
    /// The baseline's median figure, per second.
    pub baseline: f64,
    /// The candidate's median figure, per second.
    pub candidate: f64,
}

/// Prints side `side`'s comparison to the baseline for the parent, under
/// `label` (one word).
pub fn report_to_parent(label: &str, rounds: &Rounds, side: usize) {
    println!(
        "{CHILD} {label} {} {} {}",
        rounds.ratio(side),
        rounds.median(0),
        rounds.median(side)
    );
}

/// Runs this bench again in `IN_PROCESS_PROCESSES` (default 5) fresh
/// processes (same arguments, [`is_child_process`] true) and returns what
/// they reported.
///
/// # Panics
/// When a child fails or prints a malformed figure: the bench is broken.
pub fn in_child_processes() -> Vec<ChildFigures> {
    let processes = env_or("IN_PROCESS_PROCESSES", 5);
    let exe = std::env::current_exe().expect("the bench's own path");
    let mut reports = Vec::new();
    for _ in 0..processes {
        let out = Command::new(&exe)
            .args(std::env::args_os().skip(1))
            .env(CHILD, "1")
            .output()
            .expect("start a child bench process");
        assert!(
            out.status.success(),
            "a child bench process failed: {out:?}"
        );
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let Some(report) = line.strip_prefix(CHILD) else {
                continue;
            };
            let words: Vec<&str> = report.split_whitespace().collect();
            let number = |i: usize| -> f64 {
                words[i]
                    .parse()
                    .expect("a child bench process printed a number")
            };
            assert_eq!(words.len(), 4, "a child's report: {line}");
            reports.push(ChildFigures {
                label: words[0].to_owned(),
                ratio: number(1),
                baseline: number(2),
                candidate: number(3),
            });
        }
    }
    reports
}

/// The median of `label`'s ratios, baseline figures and candidate figures
/// over the children, and how many reported it.
pub fn across_children(reports: &[ChildFigures], label: &str) -> (f64, f64, f64, usize) {
    let of = |f: fn(&ChildFigures) -> f64| -> Vec<f64> {
        reports.iter().filter(|r| r.label == label).map(f).collect()
    };
    let ratios = of(|r| r.ratio);
    let n = ratios.len();
    (
        median(ratios),
        median(of(|r| r.baseline)),
        median(of(|r| r.candidate)),
        n,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ratio_is_the_median_of_the_pairs_ratios() {
        let rounds = Rounds {
            figures: vec![vec![100.0, 200.0, 100.0], vec![90.0, 100.0, 99.0]],
        };
        // Pairs 0.90, 0.50, 0.99: the pair hit by a slow round does not move it.
        assert_eq!(rounds.ratio(1), 0.90);
        assert_eq!(rounds.median(0), 100.0);
        assert_eq!(rounds.median(1), 99.0);
    }

    #[tokio::test]
    async fn the_sides_take_turns_forwards_then_backwards() {
        let mut order = String::new();
        let rounds = rounds(4, 3, async |side| {
            order.push(char::from(b'a' + side as u8));
            1.0
        })
        .await;
        assert_eq!(order, "abccbaabccba");
        assert_eq!(rounds.figures, vec![vec![1.0; 4]; 3]);
    }
}
