//! The log output: `RUST_LOG` filtering (default `info`), lines written to
//! stdout in batches by a thread of their own.
//!
//! The thread that logs formats its line and appends it to a shared buffer;
//! nothing else. The writer thread writes what has gathered every
//! [`FLUSH_INTERVAL`] in one system call, or sooner once [`FLUSH_AT`] bytes
//! are waiting. Writing each line as it comes costs a system call per request,
//! and handing each line to a writer thread costs a wake-up per request
//! (measured: both cost more than the formatting). If stdout stops taking
//! lines and [`BLOCK_AT`] bytes are waiting, loggers write themselves and so
//! wait for stdout, as they would without the buffer: no line is dropped.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Longest time a line waits in the buffer.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(50);
/// Bytes waiting that wake the writer before the interval is over.
pub const FLUSH_AT: usize = 64 * 1024;
/// Bytes waiting beyond which a logger writes to stdout itself.
pub const BLOCK_AT: usize = 4 * 1024 * 1024;

/// Installs the global subscriber writing to stdout. Keep the returned guard
/// until the process ends: dropping it writes out the lines still waiting.
pub fn init() -> LogGuard<std::io::Stdout> {
    let ansi = std::io::stdout().is_terminal();
    let (writer, guard) = BatchedWriter::spawn(std::io::stdout());
    tracing_subscriber::fmt()
        .with_ansi(ansi)
        .with_writer(writer)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    guard
}

struct Shared<W> {
    pending: Mutex<Pending>,
    wake: Condvar,
    /// Held while a batch is taken and written, so batches keep their order.
    out: Mutex<W>,
}

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    closed: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while appending leaves whole lines or a cut line, never
    // anything unsafe to write.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<W: Write> Shared<W> {
    /// Writes what is waiting, in order with every other batch.
    fn write_pending(&self) {
        let mut out = lock(&self.out);
        let batch = std::mem::take(&mut lock(&self.pending).bytes);
        if !batch.is_empty() {
            // Nowhere to report a failing stdout: the lines are dropped.
            let _ = out.write_all(&batch).and_then(|()| out.flush());
        }
    }
}

/// A [`MakeWriter`] appending each formatted line to the shared buffer.
pub struct BatchedWriter<W> {
    shared: Arc<Shared<W>>,
}

impl<W: Write + Send + 'static> BatchedWriter<W> {
    /// The writer and the guard of its writer thread, writing to `out`.
    pub fn spawn(out: W) -> (Self, LogGuard<W>) {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
            out: Mutex::new(out),
        });
        let flusher = Arc::clone(&shared);
        // Without the thread, loggers write once `BLOCK_AT` bytes wait, and
        // the guard writes the rest.
        let thread = std::thread::Builder::new()
            .name("notes-server-log".into())
            .spawn(move || run_writer(&flusher))
            .ok();
        let guard = LogGuard {
            shared: Arc::clone(&shared),
            thread,
        };
        (Self { shared }, guard)
    }
}

fn run_writer<W: Write>(shared: &Shared<W>) {
    loop {
        let closed = {
            let pending = lock(&shared.pending);
            let (pending, _) = shared
                .wake
                .wait_timeout_while(pending, FLUSH_INTERVAL, |p| {
                    !p.closed && p.bytes.len() < FLUSH_AT
                })
                .unwrap_or_else(PoisonError::into_inner);
            pending.closed
        };
        shared.write_pending();
        if closed {
            return;
        }
    }
}

impl<'a, W: Write + Send + 'static> MakeWriter<'a> for BatchedWriter<W> {
    type Writer = LineSink<'a, W>;

    fn make_writer(&'a self) -> Self::Writer {
        LineSink {
            shared: &self.shared,
        }
    }
}

/// One log line's writer: appends to the shared buffer.
pub struct LineSink<'a, W> {
    shared: &'a Shared<W>,
}

impl<W: Write> Write for LineSink<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let waiting = {
            let mut pending = lock(&self.shared.pending);
            pending.bytes.extend_from_slice(buf);
            pending.bytes.len()
        };
        if waiting >= BLOCK_AT {
            self.shared.write_pending();
        } else if waiting >= FLUSH_AT {
            self.shared.wake.notify_one();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Stops the writer thread when dropped, after it has written every line.
pub struct LogGuard<W: Write> {
    shared: Arc<Shared<W>>,
    thread: Option<JoinHandle<()>>,
}

impl<W: Write> Drop for LogGuard<W> {
    fn drop(&mut self) {
        lock(&self.shared.pending).closed = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.shared.write_pending();
    }
}

impl<W: Write> std::fmt::Debug for LogGuard<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogGuard").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stdout stand-in recording every write call.
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<Vec<u8>>>>);

    impl Write for Recorder {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            lock(&self.0).push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Recorder {
        fn text(&self) -> String {
            String::from_utf8(lock(&self.0).concat()).unwrap()
        }
    }

    #[test]
    fn every_line_is_written_in_order_by_the_time_the_guard_is_dropped() {
        let out = Recorder::default();
        let (writer, guard) = BatchedWriter::spawn(out.clone());
        let expected: String = (0..1000).map(|i| format!("line {i}\n")).collect();
        for i in 0..1000 {
            writeln!(writer.make_writer(), "line {i}").unwrap();
        }
        drop(guard);
        assert_eq!(out.text(), expected);
        // Batched: far fewer writes than lines.
        assert!(lock(&out.0).len() < 1000, "{} writes", lock(&out.0).len());
    }

    #[test]
    fn a_logger_waits_for_stdout_once_the_buffer_is_full() {
        let out = Recorder::default();
        let (writer, guard) = BatchedWriter::spawn(out.clone());
        let writer = Arc::new(writer);
        // Hold stdout: nothing can be written, so the buffer fills.
        let held = lock(&writer.shared.out);
        let line = vec![b'x'; 1024];
        for _ in 0..(BLOCK_AT / 1024 - 1) {
            writer.make_writer().write_all(&line).unwrap();
        }
        let last = {
            let (writer, line) = (Arc::clone(&writer), line.clone());
            std::thread::spawn(move || writer.make_writer().write_all(&line).unwrap())
        };
        while lock(&writer.shared.pending).bytes.len() < BLOCK_AT {
            std::thread::yield_now();
        }
        // Its line is in, and it cannot return before stdout took the buffer.
        assert!(!last.is_finished());
        drop(held);
        last.join().unwrap();
        assert!(lock(&writer.shared.pending).bytes.len() < BLOCK_AT);
        drop(guard);
        assert_eq!(out.text().len(), BLOCK_AT);
    }
}
