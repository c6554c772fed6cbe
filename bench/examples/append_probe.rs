//! append_probe: the `append_flush_never` bench case outside criterion, for quick interleaved
//! comparisons of write paths (one process per case; a driver alternates the cases, waits for a
//! quiet machine between rounds, and compares each case with `raw` of the same round). Files go
//! to `RINGLOG_BENCH_DIR`, default `$TMPDIR/ringlog-append-probe`: put it on the filesystem the
//! benches use.
//!
//! ```text
//! append_probe <uring|portable|uring-threadq|raw> <100Bx1000|1KiBx100> <iterations> [mode]
//! append_probe <uring|portable> - <iterations> --thread-cost
//! ```
//!
//! Each iteration appends 32 MiB, one batch per append, into a fresh log as
//! `benches/log_append.rs` does (fresh directory, opened and primed outside the clock, the clock
//! from a start barrier to the end of `write_out`), or writes the same bytes with write(2) in
//! 1 MiB chunks (`raw`). Prints the median and fastest iteration in ms.
//!
//! - `uring-threadq`: the io_uring backend with the portable backend's writer-thread queue for
//!   appends (io_uring kept for everything else): the alternative of `docs/storage.md`.
//! - modes: none (the bench's way: a fresh appender thread per iteration, which exits with
//!   writes in flight, and `write_out` on the main thread); `--thread-writes-out` (a fresh thread
//!   that writes out before it exits); `--persistent-thread` (every iteration on the main thread,
//!   as a broker's long-lived handler threads would append). io_uring hands each write to an
//!   io-wq worker of the thread that submitted it, so this is what separates the backends.
//! - `--thread-cost`: spawn-to-join time of a thread that does one 1 MiB write through the
//!   backend (the cost of setting up and tearing down a thread's io_uring context and io-wq).

use std::io::IoSlice;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use ringlog_bench::{
    CHUNK, append_repeatedly, appends_for, batch_template, bench_config, bench_dir, chunk_of,
    prime, raw_write,
};
use ringlog_engine::io::portable::ThreadWriteQueue;
use ringlog_engine::io::{WriteQueue, open_backend};
use ringlog_engine::{FlushPolicy, IoBackend, IoBackendKind, Log, LogConfig};

const TOTAL_BYTES: u64 = 32 << 20;

/// A backend that does everything as `inner` does, except that appends go through the
/// process-wide writer thread ([`ThreadWriteQueue`]).
#[derive(Debug)]
struct WithThreadQueue {
    inner: Arc<dyn IoBackend>,
    name: String,
}

impl IoBackend for WithThreadQueue {
    fn name(&self) -> &str {
        &self.name
    }

    fn write_all_at(
        &self,
        file: &std::fs::File,
        pos: u64,
        bufs: &[IoSlice<'_>],
    ) -> std::io::Result<()> {
        self.inner.write_all_at(file, pos, bufs)
    }

    fn read_at(&self, file: &std::fs::File, pos: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read_at(file, pos, buf)
    }

    fn sync_data(&self, file: &std::fs::File) -> std::io::Result<()> {
        self.inner.sync_data(file)
    }

    fn async_write_queue(&self) -> Option<std::io::Result<Box<dyn WriteQueue>>> {
        Some(ThreadWriteQueue::new().map(|q| Box::new(q) as Box<dyn WriteQueue>))
    }
}

fn backend(which: &str) -> anyhow::Result<Arc<dyn IoBackend>> {
    if which == "uring-threadq" {
        let inner = open_backend(IoBackendKind::Uring)?;
        let name = format!("{}+thread-queue", inner.name());
        return Ok(Arc::new(WithThreadQueue { inner, name }));
    }
    let kind: IoBackendKind = which.parse().map_err(anyhow::Error::msg)?;
    Ok(open_backend(kind)?)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map(String::as_str).unwrap_or("uring");
    let (records, value_size) = match args.get(2).map(String::as_str).unwrap_or("100Bx1000") {
        "1KiBx100" => (100, 1024),
        _ => (1000, 100),
    };
    let iterations: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(20);
    let has = |flag: &str| args.iter().any(|a| a == flag);
    // Same filesystem as the criterion benches' files (RINGLOG_BENCH_DIR overrides both).
    let default_dir = std::env::temp_dir().join("ringlog-append-probe");
    let base = bench_dir(&default_dir.display().to_string());
    let template = batch_template(records, value_size);
    let appends = appends_for(&template, TOTAL_BYTES);
    let bytes = appends * template.len() as u64;
    let mut times: Vec<Duration> = Vec::with_capacity(iterations);
    if has("--thread-cost") {
        let backend = backend(which)?;
        let dir = tempfile::tempdir_in(&base)?;
        let file = std::fs::File::create(dir.path().join("f"))?;
        let chunk = chunk_of(&template);
        for _ in 0..iterations {
            let started = Instant::now();
            std::thread::scope(|s| {
                s.spawn(|| {
                    backend
                        .write_all_at(&file, 0, &[IoSlice::new(&chunk)])
                        .expect("write")
                });
            });
            times.push(started.elapsed());
        }
    } else if which == "raw" {
        let chunk = chunk_of(&template);
        assert_eq!(chunk.len(), CHUNK);
        for _ in 0..iterations {
            let dir = tempfile::tempdir_in(&base)?;
            let mut file = std::fs::File::create(dir.path().join("raw"))?;
            let started = Instant::now();
            raw_write(&mut file, &chunk, bytes)?;
            times.push(started.elapsed());
        }
    } else {
        let backend = backend(which)?;
        let persistent = has("--persistent-thread");
        let thread_writes_out = has("--thread-writes-out");
        let mut batch = template.clone();
        for _ in 0..iterations {
            let dir = tempfile::tempdir_in(&base)?;
            let config = LogConfig {
                write_buffer_bytes: 1 << 20,
                ..bench_config(FlushPolicy::Never, IoBackendKind::Portable)
            };
            let log = Log::open_with_backend(dir.path(), config, backend.clone())?;
            prime(&log)?;
            let started = if persistent {
                let started = Instant::now();
                append_repeatedly(&log, &mut batch, appends)?;
                started
            } else {
                let start = Barrier::new(2);
                std::thread::scope(|s| {
                    let (log, start, batch) = (&log, &start, &mut batch);
                    s.spawn(move || {
                        start.wait();
                        append_repeatedly(log, batch, appends).expect("append");
                        if thread_writes_out {
                            log.write_out().expect("write out");
                        }
                    });
                    start.wait();
                    // The scope joins the appender (and waits for its exit) before returning.
                    Instant::now()
                })
            };
            log.write_out()?;
            times.push(started.elapsed());
            drop(log);
        }
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{which} median {:.3} ms min {:.3} ms ({} iterations)",
        ms(times[times.len() / 2]),
        ms(times[0]),
        times.len()
    );
    Ok(())
}
