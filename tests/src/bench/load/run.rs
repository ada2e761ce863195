//! Running a [`LoadSpec`]: the threads, each connection's loop, and the
//! results merged.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::future::join_all;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::http1::exchange;
use super::result::LoadResult;
use super::spec::{LoadSpec, Pick};
use crate::scale::SplitMix64;

/// Free buffer space first reserved per connection.
const READ_CHUNK: usize = 16 * 1024;
/// Pause after a failed exchange, so a refused connection does not spin.
const ERROR_BACKOFF: Duration = Duration::from_millis(10);

/// Runs the load described by `spec` and blocks until it is over (about
/// `spec.duration`, or until `spec.max_requests` were sent and answered).
/// Fails only when the spec is invalid or a thread or its runtime cannot be
/// started; request failures are counted in the result.
pub fn run(spec: &LoadSpec) -> io::Result<LoadResult> {
    spec.check()?;
    let threads = spec.threads.clamp(1, spec.connections);
    let shared = Arc::new(Shared {
        requests: spec.request_bytes(),
        pick: spec.pick,
        addr: spec.addr,
        timeout: spec.request_timeout,
        budget: spec.max_requests.unwrap_or(u64::MAX),
        issued: AtomicU64::new(0),
    });
    let started = Instant::now();
    let deadline = started + spec.duration;
    let mut handles = Vec::with_capacity(threads);
    for t in 0..threads {
        // Connections t, t + threads, t + 2 * threads, ...
        let numbers: Vec<usize> = (t..spec.connections).step_by(threads).collect();
        let shared = Arc::clone(&shared);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = std::thread::Builder::new()
            .name(format!("http-load-{t}"))
            .spawn(move || {
                runtime.block_on(async {
                    let connections = numbers.iter().map(|&n| connection(&shared, n, deadline));
                    join_all(connections).await
                })
            })?;
        handles.push(handle);
    }
    let mut result = LoadResult::default();
    for handle in handles {
        let per_connection = handle
            .join()
            .map_err(|_| io::Error::other("a load thread panicked"))?;
        for one in per_connection {
            result.merge(one);
        }
    }
    result.elapsed = started.elapsed().min(spec.duration);
    result.latencies.sort_unstable();
    Ok(result)
}

/// [`run`] on threads of its own, awaited without blocking the caller's runtime.
pub async fn run_in_background(spec: LoadSpec) -> Result<LoadResult, String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("http-load".into())
        .spawn(move || {
            let _ = tx.send(run(&spec));
        })
        .map_err(|e| format!("cannot start the load thread: {e}"))?;
    rx.await
        .map_err(|_| "the load thread stopped without a result".to_owned())?
        .map_err(|e| format!("load generator: {e}"))
}

/// What every connection of a run shares.
struct Shared {
    /// The bytes of each path's request.
    requests: Vec<Vec<u8>>,
    pick: Pick,
    addr: std::net::SocketAddr,
    timeout: Duration,
    /// Requests that may be sent in all.
    budget: u64,
    /// Requests sent so far, over every connection.
    issued: AtomicU64,
}

/// Connection `number`'s loop: request, read the answer, again, until
/// `deadline` or the budget is spent.
async fn connection(shared: &Shared, number: usize, deadline: Instant) -> LoadResult {
    let mut result = LoadResult {
        latencies: Vec::with_capacity(4096),
        ..LoadResult::default()
    };
    let paths = shared.requests.len();
    let mut rng = match shared.pick {
        Pick::Random(seed) => SplitMix64::new(seed ^ (number as u64).wrapping_mul(0x9E37_79B9)),
        _ => SplitMix64::new(0),
    };
    let mut turn = number;
    let mut stream: Option<TcpStream> = None;
    let mut buf = Vec::with_capacity(READ_CHUNK);
    let timeout = shared.timeout;
    loop {
        let due = Instant::now();
        if due >= deadline || shared.issued.fetch_add(1, Ordering::Relaxed) >= shared.budget {
            break;
        }
        let request = &shared.requests[match shared.pick {
            Pick::First => 0,
            Pick::Random(_) => rng.below(paths),
            Pick::Cycle => {
                turn += 1;
                (turn - 1) % paths
            }
        }];
        let cut = deadline.min(due + timeout);
        let exchanged =
            tokio::time::timeout_at(cut, exchange(&mut stream, &mut buf, shared.addr, request))
                .await;
        match exchanged {
            // The run is over with this request in flight: not counted.
            Err(_) if Instant::now() >= deadline => break,
            Err(_) => {
                result.failed += 1;
                result.note_error(format!("no answer within {timeout:?}"));
                stream = None;
            }
            Ok(Ok(answer)) => {
                result.latencies.push(due.elapsed());
                result.connects += answer.connects;
                if answer.status == 200 {
                    result.ok += 1;
                } else {
                    result.non_200 += 1;
                    result.note_error(format!("status {}", answer.status));
                }
                if answer.close {
                    stream = None;
                }
            }
            Ok(Err(failure)) => {
                result.connects += failure.connects;
                result.failed += 1;
                result.note_error(failure.message);
                stream = None;
                tokio::time::sleep(ERROR_BACKOFF).await;
            }
        }
    }
    result
}
