//! Crash test with real processes: a child appends with `flush = always` and prints every
//! acknowledged batch; the parent SIGKILLs it at random moments, reopens the log, and checks
//! that every acknowledged batch is there, byte for byte, and that the log ends on a batch
//! boundary. The same test function is the child when `RINGLOG_CRASH_CHILD_DIR` is set.
//!
//! `RINGLOG_CRASH_KILLS=n` sets the number of kills (default 50), `RINGLOG_CRASH_SEED=s` replays
//! a run; a failure prints its seed.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ringlog_engine::{FlushPolicy, IoBackendKind, LeaderEpoch, Log, LogConfig, Offset};

const CHILD_DIR_ENV: &str = "RINGLOG_CRASH_CHILD_DIR";
const CHILD_BACKEND_ENV: &str = "RINGLOG_CRASH_CHILD_BACKEND";
const TEST_NAME: &str = "acknowledged_batches_survive_sigkill";

fn config(io_backend: IoBackendKind) -> LogConfig {
    LogConfig {
        segment_bytes: 64 * 1024,
        index_interval_bytes: 1024,
        flush: FlushPolicy::Always,
        io_backend,
        ..LogConfig::default()
    }
}

/// xorshift64*: one seed drives every random choice of a run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn acknowledged_batches_survive_sigkill() {
    if let Ok(dir) = std::env::var(CHILD_DIR_ENV) {
        let backend = std::env::var(CHILD_BACKEND_ENV).unwrap().parse().unwrap();
        run_child(Path::new(&dir), backend);
        return;
    }
    let kills: u64 = std::env::var("RINGLOG_CRASH_KILLS").map_or(50, |v| v.parse().unwrap());
    let seed: u64 = std::env::var("RINGLOG_CRASH_SEED").map_or_else(
        |_| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        },
        |v| v.parse().unwrap(),
    );
    let result = std::panic::catch_unwind(|| run_parent(kills, seed));
    if let Err(panic) = result {
        eprintln!("crash test failed; replay with RINGLOG_CRASH_SEED={seed}");
        std::panic::resume_unwind(panic);
    }
}

fn run_parent(kills: u64, seed: u64) {
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    // offset -> (last offset, crc32c of the stamped batch) for every acknowledged batch.
    let mut acked: BTreeMap<u64, (u64, u32)> = BTreeMap::new();
    let mut rounds_with_cut_tail = 0;
    for round in 0..kills {
        let backend = if round % 2 == 0 {
            IoBackendKind::Uring
        } else {
            IoBackendKind::Portable
        };
        let mut child = spawn_child(dir.path(), backend);
        let lines = read_lines(&mut child);
        let wait_for = 1 + rng.below(40);
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = 0;
        while seen < wait_for {
            let timeout = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(timeout) {
                Ok(line) => {
                    record_ack(&line, &mut acked);
                    seen += 1;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = child.wait().unwrap();
                    panic!(
                        "round {round}: the child exited ({status}) after {seen} acks, before being killed"
                    );
                }
            }
        }
        // Let it run on a little past the acks we waited for, then kill it mid-flight.
        std::thread::sleep(Duration::from_micros(rng.below(3000)));
        child.kill().unwrap();
        child.wait().unwrap();
        while let Ok(line) = lines.try_recv() {
            record_ack(&line, &mut acked);
        }
        assert!(
            seen > 0,
            "round {round}: the child acknowledged nothing within 20 s"
        );
        rounds_with_cut_tail += usize::from(verify(dir.path(), &acked, round));
    }
    eprintln!(
        "crash test: {kills} kills, {} acknowledged batches verified, recovery cut a torn tail after {rounds_with_cut_tail} of them (seed {seed})",
        acked.len()
    );
}

fn spawn_child(dir: &Path, backend: IoBackendKind) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads", "1"])
        .env(CHILD_DIR_ENV, dir)
        .env(CHILD_BACKEND_ENV, backend.as_str())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The child's `ack` lines, as they arrive.
fn read_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.starts_with("ack ") && tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn record_ack(line: &str, acked: &mut BTreeMap<u64, (u64, u32)>) {
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields.len(), 4, "malformed ack line {line:?}");
    let first: u64 = fields[1].parse().unwrap();
    let last: u64 = fields[2].parse().unwrap();
    let crc = u32::from_str_radix(fields[3], 16).unwrap();
    acked.insert(first, (last, crc));
}

/// Reopens the log (recovering it) and checks every acknowledged batch byte for byte; returns
/// whether recovery had to cut a tail.
fn verify(dir: &Path, acked: &BTreeMap<u64, (u64, u32)>, round: u64) -> bool {
    let log = Log::open(dir, config(IoBackendKind::Portable)).unwrap();
    let cut = !log.recovery_report().truncations.is_empty();
    log.check_invariants();
    let leo = log.log_end_offset();
    let all = log.read_bytes(Offset(0), u64::MAX, leo).unwrap();
    assert_eq!(
        all.next_offset, leo,
        "round {round}: the log does not end on a batch boundary"
    );
    let mut stored = BTreeMap::new();
    let mut at = 0;
    for h in common::headers(&all.bytes) {
        let bytes = &all.bytes[at..at + h.total_len()];
        stored.insert(
            h.base_offset as u64,
            (h.last_offset() as u64, crc32c::crc32c(bytes)),
        );
        at += h.total_len();
    }
    for (first, expected) in acked {
        let found = stored.get(first);
        assert_eq!(
            found,
            Some(expected),
            "round {round}: acknowledged batch at offset {first} lost or changed (log end {leo})"
        );
    }
    log.close().unwrap();
    cut
}

/// The child: appends from two threads until killed, printing `ack <first> <last> <crc>` for
/// each append that returned.
fn run_child(dir: &Path, backend: IoBackendKind) {
    let log = Log::open(dir, config(backend)).unwrap();
    let stdout = std::sync::Mutex::new(std::io::stdout());
    std::thread::scope(|scope| {
        for thread in 0..2u64 {
            let log = &log;
            let stdout = &stdout;
            scope.spawn(move || {
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (thread + 1) ^ std::process::id() as u64);
                loop {
                    let records = 1 + rng.below(20) as usize;
                    let size = rng.below(600) as usize;
                    let mut bytes = common::batch(records, size, rng.below(1 << 40) as i64);
                    let info = log.append(&mut bytes, LeaderEpoch(0)).unwrap();
                    let line = format!(
                        "ack {} {} {:08x}\n",
                        info.first_offset,
                        info.last_offset,
                        crc32c::crc32c(&bytes)
                    );
                    let mut out = stdout.lock().unwrap();
                    out.write_all(line.as_bytes()).unwrap();
                    out.flush().unwrap();
                }
            });
        }
    });
}
