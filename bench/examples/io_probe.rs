//! io_probe: measures the write paths the log could take on this machine, to decide the log's
//! write path (docs/storage.md holds the results and the decision).
//!
//! ```text
//! cargo run --release -p ringlog-bench --example io_probe -- [--dir /tmp] [--reps 3] [--quick] [--parts abcd]
//! ```
//!
//! | part | question                                                                         |
//! |------|----------------------------------------------------------------------------------|
//! | a    | buffered appends, 4 KiB to 1 MiB: write(2), pwrite, io_uring writev at QD1      |
//! | b    | the same with fdatasync after every write (appending, and into a fallocated file) |
//! | c    | which io_uring writes are punted to io-wq (buffered, O_DIRECT extending, O_DIRECT into fallocated or written blocks) |
//! | d    | group commit: 16 threads appending 100 KiB and waiting for durability          |
//!
//! Punts are counted with the `io_uring:io_uring_queue_async_work` tracepoint (tracefs, root),
//! on short separate runs so that tracing does not slow the timed ones. Every timed case runs
//! `--reps` times, interleaved with the others; the table shows the fastest run (this machine is
//! shared: other load only ever adds time) and the median, and the process's median CPU time per
//! operation, io-wq workers included.

use std::fs::{File, OpenOptions};
use std::io::{IoSlice, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ringlog_engine::io::IoBackend;
use ringlog_engine::io::portable::PortableBackend;
use ringlog_engine::io::uring::UringBackend;

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;
const GIB: usize = 1024 * MIB;

/// Pause after each case's cleanup. Deleting a file with blocks on this `discard`-mounted ext4
/// slowed the next case's buffered writes 10x for over a second (measured: 200 ms was not enough,
/// 3 s was), so such files get the long pause.
const SETTLE_TIME: Duration = Duration::from_millis(200);
const SETTLE_TIME_BLOCKS: Duration = Duration::from_secs(3);

/// Operations per punt-counting run: small enough for the default trace buffer.
const PUNT_RUN_OPS_MAX: usize = 512;

struct Args {
    dir: PathBuf,
    reps: usize,
    quick: bool,
    /// Which parts to run, by letter.
    parts: String,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        dir: PathBuf::from("/tmp"),
        reps: 3,
        quick: false,
        parts: "abcd".to_owned(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--dir" => args.dir = it.next().context("--dir needs a path")?.into(),
            "--reps" => args.reps = it.next().context("--reps needs a number")?.parse()?,
            "--quick" => args.quick = true,
            "--parts" => args.parts = it.next().context("--parts needs letters")?,
            other => bail!("unknown argument {other:?}"),
        }
    }
    Ok(args)
}

/// How a case writes and syncs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WritePath {
    /// `write(2)` at the file position, `fdatasync(2)`.
    Write,
    /// The portable backend: `pwrite(2)`, `fdatasync(2)`.
    Pwrite,
    /// The io_uring backend: `IORING_OP_WRITEV` at QD1, `IORING_OP_FSYNC` (datasync).
    Uring,
}

impl WritePath {
    fn name(self) -> &'static str {
        match self {
            WritePath::Write => "write(2)",
            WritePath::Pwrite => "pwrite",
            WritePath::Uring => "io_uring writev",
        }
    }
}

/// How the file is prepared before a timed run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Prep {
    /// Empty: every write extends the file.
    Append,
    /// `fallocate(2)` mode 0 over the whole run: unwritten extents, size already set.
    Fallocated,
    /// Zeros written (O_DIRECT, so nothing cached) and fsynced over the whole run: plain
    /// overwrites of written blocks.
    Written,
}

impl Prep {
    fn name(self) -> &'static str {
        match self {
            Prep::Append => "append",
            Prep::Fallocated => "into fallocated",
            Prep::Written => "overwrite written",
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Case {
    path: WritePath,
    prep: Prep,
    direct: bool,
    write_len: usize,
    ops: usize,
    sync_each: bool,
}

impl Case {
    /// Whether the case's file ends up with blocks allocated (see [`Probe::settle`]).
    fn has_blocks(&self) -> bool {
        self.direct || self.sync_each || self.prep != Prep::Append
    }

    fn label(&self) -> String {
        let sync = if self.sync_each { " + fdatasync" } else { "" };
        let mode = if self.direct { "O_DIRECT" } else { "buffered" };
        format!(
            "{} {}{sync}, {mode} {}",
            self.path.name(),
            size_name(self.write_len),
            self.prep.name()
        )
    }
}

fn size_name(len: usize) -> String {
    if len >= MIB {
        format!("{} MiB", len / MIB)
    } else {
        format!("{} KiB", len / KIB)
    }
}

/// One part of the probe, run with a size divisor (16 for `--quick`).
type PartFn = fn(&Probe, usize) -> Result<()>;

struct Probe {
    dir: PathBuf,
    reps: usize,
    portable: PortableBackend,
    uring: UringBackend,
    tracer: Option<Tracer>,
    next_file: AtomicU64,
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let dir = tempfile::tempdir_in(&args.dir).context("create the probe directory")?;
    let probe = Probe {
        dir: dir.path().to_owned(),
        reps: args.reps,
        portable: PortableBackend::new(),
        uring: UringBackend::new().context("set up io_uring")?,
        tracer: Tracer::open(),
        next_file: AtomicU64::new(0),
    };
    print_machine(&args.dir, &probe)?;
    let scale = if args.quick { 16 } else { 1 };
    let parts: [(char, PartFn); 4] = [('a', part_a), ('b', part_b), ('c', part_c), ('d', part_d)];
    for (letter, part) in parts {
        if args.parts.contains(letter) {
            part(&probe, scale)?;
        }
    }
    Ok(())
}

fn print_machine(dir: &Path, probe: &Probe) -> Result<()> {
    let kernel = command_output("uname", &["-r"])?;
    let fs = command_output("stat", &["-f", "-c", "%T", &dir.to_string_lossy()])?;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "kernel {kernel}, filesystem {fs} ({}), {cores} cores",
        dir.display()
    );
    match &probe.tracer {
        Some(_) => println!("punts counted with io_uring:io_uring_queue_async_work"),
        None => println!("tracefs unavailable: punts not counted"),
    }
    Ok(())
}

fn command_output(cmd: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(cmd).args(args).output()?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

// ---------------------------------------------------------------------------------------------
// Parts

fn part_a(probe: &Probe, scale: usize) -> Result<()> {
    println!("\n## a. buffered appends, no sync");
    let mut cases = Vec::new();
    for (write_len, total) in [(4 * KIB, 256 * MIB), (64 * KIB, GIB), (128 * KIB, GIB)] {
        cases.push((write_len, total / scale));
    }
    cases.push((MIB, GIB / scale));
    for (write_len, total) in cases {
        let row: Vec<Case> = [WritePath::Write, WritePath::Pwrite, WritePath::Uring]
            .into_iter()
            .map(|path| Case {
                path,
                prep: Prep::Append,
                direct: false,
                write_len,
                ops: total / write_len,
                sync_each: false,
            })
            .collect();
        probe.run_cases(&row)?;
    }
    Ok(())
}

fn part_b(probe: &Probe, scale: usize) -> Result<()> {
    println!("\n## b. fdatasync after every write");
    for (write_len, total, prep) in [
        (128 * KIB, 128 * MIB, Prep::Append),
        (MIB, 256 * MIB, Prep::Append),
        (MIB, 256 * MIB, Prep::Fallocated),
    ] {
        let row: Vec<Case> = [WritePath::Pwrite, WritePath::Uring]
            .into_iter()
            .map(|path| Case {
                path,
                prep,
                direct: false,
                write_len,
                ops: total / scale / write_len,
                sync_each: true,
            })
            .collect();
        probe.run_cases(&row)?;
    }
    Ok(())
}

fn part_c(probe: &Probe, scale: usize) -> Result<()> {
    println!("\n## c. O_DIRECT and punts");
    for write_len in [128 * KIB, MIB] {
        let ops = 256 * MIB / scale / write_len;
        let mut row = Vec::new();
        for (prep, direct) in [
            (Prep::Append, false),
            (Prep::Fallocated, false),
            (Prep::Append, true),
            (Prep::Fallocated, true),
            (Prep::Written, true),
        ] {
            for path in [WritePath::Pwrite, WritePath::Uring] {
                row.push(Case {
                    path,
                    prep,
                    direct,
                    write_len,
                    ops,
                    sync_each: false,
                });
            }
        }
        probe.run_cases(&row)?;
    }
    Ok(())
}

fn part_d(probe: &Probe, scale: usize) -> Result<()> {
    println!("\n## d. group commit: appends of 100 KiB, each acknowledged once durable");
    println!(
        "| backend | threads | commit | appends | appends/s | MB/s | fdatasyncs | latency p50 | latency p99 | CPU µs/append |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let rounds = (64 / scale).max(2);
    let backends: [&dyn IoBackend; 2] = [&probe.portable, &probe.uring];
    for backend in backends {
        for (threads, commit) in [
            (1, Commit::OwnSync),
            (16, Commit::OwnSync),
            (16, Commit::Group),
            (16, Commit::Coalesced),
        ] {
            let mut runs = Vec::new();
            for _ in 0..probe.reps {
                runs.push(probe.group_run(backend, threads, rounds, commit)?);
            }
            runs.sort_by_key(|r| r.elapsed);
            let r = &runs[runs.len() / 2];
            let appends = threads * rounds;
            let secs = r.elapsed.as_secs_f64();
            println!(
                "| {} | {threads} | {} | {appends} | {:.0} | {:.0} | {} | {:.2} ms | {:.2} ms | {:.0} |",
                backend.name(),
                commit.name(),
                appends as f64 / secs,
                (appends * GROUP_APPEND_LEN) as f64 / secs / 1e6,
                r.syncs,
                r.p50.as_secs_f64() * 1e3,
                r.p99.as_secs_f64() * 1e3,
                r.cpu.as_secs_f64() * 1e6 / appends as f64,
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Sequential cases (parts a to c)

/// One case over its runs: the fastest and median wall time, and the median CPU time of the
/// whole process (io-wq workers are threads of it, so punted work counts).
struct Measured {
    fastest: Duration,
    median: Duration,
    cpu: Duration,
    punts_per_op: Option<f64>,
}

impl Probe {
    /// Runs each case `reps` times, interleaved, counts punts for the io_uring ones, and prints
    /// one table.
    fn run_cases(&self, cases: &[Case]) -> Result<()> {
        let mut times = vec![Vec::new(); cases.len()];
        let mut cpus = vec![Vec::new(); cases.len()];
        for _ in 0..self.reps {
            for (i, case) in cases.iter().enumerate() {
                let (elapsed, cpu) = self.run_case(case)?;
                times[i].push(elapsed);
                cpus[i].push(cpu);
            }
        }
        println!(
            "| case | ops | MiB | best s | median s | MB/s (best) | ops/s (best) | CPU µs/op | punts/op |"
        );
        println!("|---|---|---|---|---|---|---|---|---|");
        for (i, case) in cases.iter().enumerate() {
            times[i].sort();
            cpus[i].sort();
            let m = Measured {
                fastest: times[i][0],
                median: times[i][times[i].len() / 2],
                cpu: cpus[i][cpus[i].len() / 2],
                punts_per_op: self.punts(case)?,
            };
            print_row(case, &m);
        }
        Ok(())
    }

    fn new_path(&self) -> PathBuf {
        let n = self.next_file.fetch_add(1, Ordering::Relaxed);
        self.dir.join(format!("probe-{n}"))
    }

    /// Prepares a fresh file, times the writes, and deletes the file (dropping its page cache).
    fn run_case(&self, case: &Case) -> Result<(Duration, Duration)> {
        let path = self.new_path();
        let file = prepare(&path, case)?;
        let buf = AlignedBuf::new(case.write_len, 0x5a);
        let cpu_start = process_cpu_time()?;
        let start = Instant::now();
        self.write_ops(&file, case, case.ops, buf.as_slice())?;
        let elapsed = start.elapsed();
        let cpu = process_cpu_time()?.saturating_sub(cpu_start);
        drop(file);
        std::fs::remove_file(&path)?;
        self.settle(case.has_blocks())?;
        Ok((elapsed, cpu))
    }

    /// Waits out the background work a deleted file leaves (journal commit; this filesystem is
    /// mounted with `discard`, so freed blocks are discarded after it), so that it does not slow
    /// the next timed case. `had_blocks`: the file had blocks allocated (synced, O_DIRECT or
    /// preallocated); buffered files deleted before writeback never had any.
    fn settle(&self, had_blocks: bool) -> Result<()> {
        let status = Command::new("sync")
            .arg("-f")
            .arg(&self.dir)
            .status()
            .context("run sync -f")?;
        if !status.success() {
            bail!("sync -f {} failed: {status}", self.dir.display());
        }
        std::thread::sleep(if had_blocks {
            SETTLE_TIME_BLOCKS
        } else {
            SETTLE_TIME
        });
        Ok(())
    }

    fn write_ops(&self, file: &File, case: &Case, ops: usize, buf: &[u8]) -> Result<()> {
        let mut writer = file;
        for i in 0..ops {
            let pos = (i * buf.len()) as u64;
            match case.path {
                WritePath::Write => writer.write_all(buf)?,
                WritePath::Pwrite => self
                    .portable
                    .write_all_at(file, pos, &[IoSlice::new(buf)])?,
                WritePath::Uring => self.uring.write_all_at(file, pos, &[IoSlice::new(buf)])?,
            }
            if case.sync_each {
                match case.path {
                    WritePath::Write | WritePath::Pwrite => self.portable.sync_data(file)?,
                    WritePath::Uring => self.uring.sync_data(file)?,
                }
            }
        }
        Ok(())
    }

    /// Punts per operation (writes and syncs) on a short traced run of an io_uring case.
    fn punts(&self, case: &Case) -> Result<Option<f64>> {
        let Some(tracer) = &self.tracer else {
            return Ok(None);
        };
        if case.path != WritePath::Uring {
            return Ok(None);
        }
        let ops = case.ops.min(PUNT_RUN_OPS_MAX);
        let path = self.new_path();
        let file = prepare(&path, case)?;
        let buf = AlignedBuf::new(case.write_len, 0xa5);
        tracer.start()?;
        let result = self.write_ops(&file, case, ops, buf.as_slice());
        let punts = tracer.stop()?;
        result?;
        drop(file);
        std::fs::remove_file(&path)?;
        self.settle(case.has_blocks())?;
        let submitted = if case.sync_each { 2 * ops } else { ops };
        Ok(Some(punts as f64 / submitted as f64))
    }
}

fn print_row(case: &Case, m: &Measured) {
    let best = m.fastest.as_secs_f64();
    let bytes = (case.ops * case.write_len) as f64;
    let punts = m
        .punts_per_op
        .map_or_else(|| "-".to_owned(), |p| format!("{p:.2}"));
    println!(
        "| {} | {} | {} | {best:.3} | {:.3} | {:.0} | {:.0} | {:.1} | {punts} |",
        case.label(),
        case.ops,
        case.ops * case.write_len / MIB,
        m.median.as_secs_f64(),
        bytes / best / 1e6,
        case.ops as f64 / best,
        m.cpu.as_secs_f64() * 1e6 / case.ops as f64,
    );
}

/// User plus system time of the whole process so far, every thread included (io-wq workers are
/// threads of the process). `getrusage` scales the scheduler's nanosecond runtime, so the total is
/// precise even for short runs.
fn process_cpu_time() -> Result<Duration> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `usage` is a valid, writable `rusage` for the duration of the call, and
    // getrusage(2) only writes that struct.
    let res = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if res != 0 {
        return Err(std::io::Error::last_os_error()).context("getrusage");
    }
    // SAFETY: getrusage returned 0, so it filled the struct (and zeroed memory is a valid
    // `rusage` anyway: it holds only integers).
    let usage = unsafe { usage.assume_init() };
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Ok(Duration::from_micros(
        micros(usage.ru_utime) + micros(usage.ru_stime),
    ))
}

fn prepare(path: &Path, case: &Case) -> Result<File> {
    let total = (case.ops * case.write_len) as u64;
    match case.prep {
        Prep::Append => {}
        Prep::Fallocated => {
            let file = File::create(path)?;
            fallocate(&file, total)?;
            file.sync_all()?;
        }
        Prep::Written => {
            // Written with O_DIRECT so that no page of the file is cached: an O_DIRECT write
            // over cached pages must invalidate them, which io_uring punts as well.
            let mut file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .custom_flags(libc::O_DIRECT)
                .open(path)?;
            let zeros = AlignedBuf::new(MIB, 0);
            for _ in 0..total.div_ceil(MIB as u64) {
                file.write_all(zeros.as_slice())?;
            }
            file.sync_all()?;
        }
    }
    let mut options = OpenOptions::new();
    // Keep what `prep` put there.
    options.read(true).write(true).create(true).truncate(false);
    if case.direct {
        options.custom_flags(libc::O_DIRECT);
    }
    Ok(options.open(path)?)
}

fn fallocate(file: &File, len: u64) -> Result<()> {
    // SAFETY: fallocate(2) takes an fd we own for the duration of the call and plain integers;
    // no memory is shared with the kernel.
    let res = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len as libc::off_t) };
    if res != 0 {
        return Err(std::io::Error::last_os_error()).context("fallocate");
    }
    Ok(())
}

/// A buffer aligned for O_DIRECT (4 KiB), without unsafe: an over-allocated `Vec` and the
/// aligned window inside it.
struct AlignedBuf {
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    const ALIGN: usize = 4096;

    fn new(len: usize, fill: u8) -> Self {
        let storage = vec![fill; len + Self::ALIGN];
        let start = storage.as_ptr().align_offset(Self::ALIGN);
        assert!(start < Self::ALIGN, "align_offset {start}");
        AlignedBuf {
            storage,
            start,
            len,
        }
    }

    fn as_slice(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.len]
    }
}

// ---------------------------------------------------------------------------------------------
// Punt counting

/// The `io_uring_queue_async_work` tracepoint: one event per request handed to an io-wq worker.
struct Tracer {
    root: PathBuf,
}

impl Tracer {
    fn open() -> Option<Tracer> {
        let root = PathBuf::from("/sys/kernel/tracing");
        let event = root.join("events/io_uring/io_uring_queue_async_work/enable");
        if !event.exists() {
            // Not mounted yet: try (needs root). Failure means no punt counts.
            let _ = Command::new("mount")
                .args(["-t", "tracefs", "nodev", "/sys/kernel/tracing"])
                .status();
        }
        event.exists().then_some(Tracer { root })
    }

    fn start(&self) -> Result<()> {
        std::fs::write(self.root.join("trace"), "")?;
        self.set_enabled(true)
    }

    /// Disables the event and counts this process's events in the buffer.
    fn stop(&self) -> Result<usize> {
        self.set_enabled(false)?;
        let trace = std::fs::read_to_string(self.root.join("trace"))?;
        let overruns = std::fs::read_to_string(self.root.join("per_cpu/cpu0/stats"))
            .unwrap_or_default()
            .lines()
            .any(|l| l.starts_with("overrun:") && !l.ends_with(" 0"));
        if overruns {
            eprintln!("warning: trace buffer overran; punt counts are low");
        }
        let ours = format!("{}-", comm());
        Ok(trace
            .lines()
            .filter(|l| !l.starts_with('#') && l.trim_start().starts_with(&ours))
            .count())
    }

    fn set_enabled(&self, on: bool) -> Result<()> {
        let path = self
            .root
            .join("events/io_uring/io_uring_queue_async_work/enable");
        std::fs::write(path, if on { "1" } else { "0" }).context("toggle the tracepoint")
    }
}

/// This process's command name as the trace shows it (at most 15 bytes).
fn comm() -> String {
    std::fs::read_to_string("/proc/self/comm")
        .unwrap_or_default()
        .trim()
        .to_owned()
}

// ---------------------------------------------------------------------------------------------
// Group commit (part d)

const GROUP_APPEND_LEN: usize = 100 * KIB;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Commit {
    /// Each appender writes, then calls fdatasync itself.
    OwnSync,
    /// Each appender writes; one fdatasync at a time covers every write finished before it.
    Group,
    /// Appenders queue their batches; one leader writes everything queued with one writev and
    /// syncs once.
    Coalesced,
}

impl Commit {
    fn name(self) -> &'static str {
        match self {
            Commit::OwnSync => "own fdatasync",
            Commit::Group => "group fdatasync",
            Commit::Coalesced => "coalesced writev + fdatasync",
        }
    }
}

struct GroupRun {
    elapsed: Duration,
    cpu: Duration,
    syncs: u64,
    p50: Duration,
    p99: Duration,
}

/// Shared state of one group-commit run.
#[derive(Default)]
struct Committer {
    state: Mutex<CommitState>,
    changed: Condvar,
    pos: AtomicU64,
}

#[derive(Default)]
struct CommitState {
    /// Appends written (group) or queued (coalesced) so far; an append's ticket is its number.
    tickets: u64,
    /// Every ticket up to this one is durable.
    durable: u64,
    leader_busy: bool,
    syncs: u64,
    /// Coalesced: queued batches, as (ticket, thread index).
    queue: Vec<(u64, usize)>,
}

impl Probe {
    fn group_run(
        &self,
        backend: &dyn IoBackend,
        threads: usize,
        rounds: usize,
        commit: Commit,
    ) -> Result<GroupRun> {
        let path = self.new_path();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        let bufs: Vec<Vec<u8>> = (0..threads)
            .map(|t| vec![t as u8; GROUP_APPEND_LEN])
            .collect();
        let committer = Committer::default();
        let cpu_start = process_cpu_time()?;
        let start = Instant::now();
        let mut latencies = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let (file, bufs, committer) = (&file, &bufs, &committer);
                    s.spawn(move || -> Result<Vec<Duration>> {
                        (0..rounds)
                            .map(|_| {
                                let t0 = Instant::now();
                                committer.append(backend, file, bufs, t, commit)?;
                                Ok(t0.elapsed())
                            })
                            .collect()
                    })
                })
                .collect();
            let mut all = Vec::new();
            for h in handles {
                all.extend(h.join().expect("appender thread")?);
            }
            anyhow::Ok(all)
        })?;
        let elapsed = start.elapsed();
        let cpu = process_cpu_time()?.saturating_sub(cpu_start);
        std::fs::remove_file(&path)?;
        self.settle(true)?;
        latencies.sort();
        let syncs = committer.state.lock().unwrap().syncs;
        Ok(GroupRun {
            elapsed,
            cpu,
            syncs,
            p50: latencies[latencies.len() / 2],
            p99: latencies[latencies.len() * 99 / 100],
        })
    }
}

impl Committer {
    /// One append of `bufs[thread]`, returning once it is durable.
    fn append(
        &self,
        backend: &dyn IoBackend,
        file: &File,
        bufs: &[Vec<u8>],
        thread: usize,
        commit: Commit,
    ) -> Result<()> {
        let buf = &bufs[thread];
        match commit {
            Commit::OwnSync => {
                let pos = self.pos.fetch_add(buf.len() as u64, Ordering::Relaxed);
                backend.write_all_at(file, pos, &[IoSlice::new(buf)])?;
                backend.sync_data(file)?;
                self.state.lock().unwrap().syncs += 1;
            }
            Commit::Group => {
                let pos = self.pos.fetch_add(buf.len() as u64, Ordering::Relaxed);
                backend.write_all_at(file, pos, &[IoSlice::new(buf)])?;
                let ticket = {
                    let mut st = self.state.lock().unwrap();
                    st.tickets += 1;
                    st.tickets
                };
                self.wait_durable(ticket, || backend.sync_data(file).map_err(Into::into))?;
            }
            Commit::Coalesced => {
                let ticket = {
                    let mut st = self.state.lock().unwrap();
                    st.tickets += 1;
                    let ticket = st.tickets;
                    st.queue.push((ticket, thread));
                    ticket
                };
                self.wait_durable(ticket, || self.write_queued(backend, file, bufs))?;
            }
        }
        Ok(())
    }

    /// Waits until `ticket` is durable, leading a commit with `commit` when nobody else is.
    /// `commit` makes durable every ticket handed out before it starts.
    fn wait_durable(&self, ticket: u64, commit: impl Fn() -> Result<()>) -> Result<()> {
        let mut st = self.state.lock().unwrap();
        loop {
            if st.durable >= ticket {
                return Ok(());
            }
            if st.leader_busy {
                st = self.changed.wait(st).unwrap();
                continue;
            }
            st.leader_busy = true;
            let covered = st.tickets;
            drop(st);
            let result = commit();
            st = self.state.lock().unwrap();
            st.leader_busy = false;
            st.syncs += 1;
            st.durable = st.durable.max(covered);
            self.changed.notify_all();
            result?;
        }
    }

    /// The coalesced leader's commit: one writev of everything queued, then one fdatasync.
    fn write_queued(&self, backend: &dyn IoBackend, file: &File, bufs: &[Vec<u8>]) -> Result<()> {
        let queued = std::mem::take(&mut self.state.lock().unwrap().queue);
        let slices: Vec<IoSlice<'_>> = queued
            .iter()
            .map(|&(_, t)| IoSlice::new(&bufs[t]))
            .collect();
        let len: u64 = slices.iter().map(|s| s.len() as u64).sum();
        let pos = self.pos.fetch_add(len, Ordering::Relaxed);
        backend.write_all_at(file, pos, &slices)?;
        backend.sync_data(file)?;
        Ok(())
    }
}
