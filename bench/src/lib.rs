//! ringlog-bench: what the criterion benches (`benches/`) share, and the end-to-end benchmark
//! harness behind `ringlog bench`.
//!
//! | part                | owns                                                                |
//! |---------------------|---------------------------------------------------------------------|
//! | batch templates     | [`batch_template`]: one valid batch of N records of S bytes         |
//! | logs                | [`bench_config`], [`available_backends`], [`append_repeatedly`], [`write_log`], [`force_unclean`] |
//! | raw baselines       | [`raw_write`], [`raw_write_fdatasync`], [`raw_pread`], [`raw_pread_crc32c`]: what the hardware and kernel do with the same bytes and no log in between |
//! | [`net_baselines`]   | loopback TCP with `write` and with `sendfile`, and round trips: the network's baselines for end-to-end runs |
//! | [`harness`]         | `ringlog bench`: Kafka's 2014 benchmark scenarios on real broker processes beside the hardware baselines, written as `results.json`, `report.md` and plots |
//!
//! The benches only compare ringlog with a baseline timed in the same run: the machines they
//! run on are shared and noisy, so absolute numbers from different runs mean little, ratios
//! within one run do.

pub mod harness;
pub mod net_baselines;

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ringlog_engine::format::{BatchBuilder, Record, crc32c};
use ringlog_engine::io::open_backend;
use ringlog_engine::{FlushPolicy, IoBackend, IoBackendKind, LeaderEpoch, Log, LogConfig};

/// The chunk every raw baseline reads or writes with (and the size of one fetch).
pub const CHUNK: usize = 1 << 20;

/// The leader epoch every bench appends in.
pub const EPOCH: LeaderEpoch = LeaderEpoch(0);

/// One uncompressed batch of `records` records, each a null key and a `value_size`-byte value,
/// all timestamped 2023-11-14 (a fixed time, so every run builds the same bytes).
///
/// A template can be appended again and again as it is: `Log::append` re-stamps baseOffset
/// and partitionLeaderEpoch, which lie outside the CRC, every time.
pub fn batch_template(records: usize, value_size: usize) -> Vec<u8> {
    let value: Vec<u8> = (0..value_size).map(|i| (i % 251) as u8).collect();
    let mut builder = BatchBuilder::with_capacity(records * (value_size + 16));
    for _ in 0..records {
        builder.push(&Record {
            key: None,
            value: Some(&value),
            headers: &[],
            timestamp: 1_700_000_000_000,
        });
    }
    builder.finish()
}

/// As many copies of `template` back to back as fit in `max_bytes` (at least one): one append
/// carrying several batches, as a produce request for one partition may.
pub fn batches_per_append(template: &[u8], max_bytes: usize) -> Vec<u8> {
    let count = (max_bytes / template.len()).max(1);
    template.repeat(count)
}

/// A log configuration for benches: one large segment (1 GiB, so no roll inside a run), the
/// given flush policy and backend.
pub fn bench_config(flush: FlushPolicy, io_backend: IoBackendKind) -> LogConfig {
    LogConfig {
        segment_bytes: 1 << 30,
        flush,
        io_backend,
        ..LogConfig::default()
    }
}

/// The io_uring and portable backends, each that can be set up here, with its name. A backend
/// that cannot be set up is left out and a note saying why goes to stderr.
pub fn available_backends() -> Vec<(&'static str, Arc<dyn IoBackend>)> {
    let mut out = Vec::new();
    for kind in [IoBackendKind::Uring, IoBackendKind::Portable] {
        match open_backend(kind) {
            Ok(backend) => out.push((kind.as_str(), backend)),
            Err(e) => eprintln!("note: skipping the {kind} io backend: {e}"),
        }
    }
    out
}

/// How many appends of `template` make up at least `total_bytes`.
pub fn appends_for(template: &[u8], total_bytes: u64) -> u64 {
    total_bytes.div_ceil(template.len() as u64)
}

/// Appends one small batch to a fresh `log`, outside the clock: the first append in an epoch
/// writes the leader-epoch checkpoint (a file write, two fsyncs and a rename), a one-time cost
/// no baseline pays.
pub fn prime(log: &Log) -> ringlog_engine::Result<()> {
    log.append(&mut batch_template(1, 1), EPOCH)?;
    Ok(())
}

/// Appends `template` to `log` `appends` times (each append one batch); returns the bytes
/// appended.
pub fn append_repeatedly(
    log: &Log,
    template: &mut [u8],
    appends: u64,
) -> ringlog_engine::Result<u64> {
    let mut bytes = 0;
    for _ in 0..appends {
        bytes += log.append(template, EPOCH)?.bytes;
    }
    Ok(bytes)
}

/// Writes a log of at least `total_bytes` of `template` batches into `dir` (portable backend,
/// flush never; small batches are appended up to 1 MiB at a time) and closes it cleanly.
/// Returns the paths of its segment files.
pub fn write_log(
    dir: &Path,
    template: &[u8],
    total_bytes: u64,
) -> ringlog_engine::Result<Vec<PathBuf>> {
    let config = bench_config(FlushPolicy::Never, IoBackendKind::Portable);
    let log = Log::open(dir, config)?;
    let mut batches = batches_per_append(template, CHUNK);
    let appends = appends_for(&batches, total_bytes);
    append_repeatedly(&log, &mut batches, appends)?;
    let paths = log.segments().into_iter().map(|s| s.path).collect();
    log.close()?;
    Ok(paths)
}

/// Makes the next `Log::open` of `dir` recover every segment in full, as after a crash with no
/// recovery point ever checkpointed: removes the clean-shutdown marker and the recovery-point
/// checkpoint (the engine writes the latter again after each recovery).
pub fn force_unclean(dir: &Path) -> io::Result<()> {
    for name in [
        ringlog_engine::log::CLEAN_SHUTDOWN_FILE,
        ringlog_engine::checkpoint::RECOVERY_POINT_FILE,
    ] {
        match std::fs::remove_file(dir.join(name)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A [`CHUNK`]-sized buffer filled with copies of `template`, what the raw baselines write.
pub fn chunk_of(template: &[u8]) -> Vec<u8> {
    template.iter().copied().cycle().take(CHUNK).collect()
}

/// The baseline for appends with flush never: writes `total_bytes` into `file` (freshly
/// created by the caller, outside the clock) with write(2), `chunk` at a time (the last write
/// may be shorter). No sync. Returns the bytes written.
pub fn raw_write(file: &mut File, chunk: &[u8], total_bytes: u64) -> io::Result<u64> {
    write_chunks(file, chunk, total_bytes, false)
}

/// A diagnostic baseline: [`raw_write`] into a file whose blocks are first reserved with one
/// `fallocate(FALLOC_FL_KEEP_SIZE)` of `total_bytes` (inside the clock, as the log's
/// preallocation is): the kernel's buffered write at its cheapest on ext4, which is what the log
/// does once it preallocates its segments.
pub fn raw_write_preallocated(file: &mut File, chunk: &[u8], total_bytes: u64) -> io::Result<u64> {
    use std::os::fd::AsRawFd;
    let len = libc::off_t::try_from(total_bytes).map_err(io::Error::other)?;
    // SAFETY: a plain syscall on a descriptor `file` keeps open for the call.
    if unsafe { libc::fallocate(file.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, 0, len) } != 0 {
        return Err(io::Error::last_os_error());
    }
    write_chunks(file, chunk, total_bytes, false)
}

/// The baseline for appends with flush always: like [`raw_write`], with an fdatasync(2) after
/// every chunk.
pub fn raw_write_fdatasync(file: &mut File, chunk: &[u8], total_bytes: u64) -> io::Result<u64> {
    write_chunks(file, chunk, total_bytes, true)
}

/// A diagnostic baseline between [`raw_write`] and an append: writes `template` `appends`
/// times back to back with pwrite(2), one call per batch as the log does, and with `crc` also
/// computes each batch's CRC-32C first (the validation every append does). Returns the bytes
/// written.
pub fn raw_pwrite_batches(
    file: &File,
    template: &[u8],
    appends: u64,
    crc: bool,
) -> io::Result<u64> {
    let mut pos = 0u64;
    for _ in 0..appends {
        if crc {
            std::hint::black_box(crc32c(&template[21..]));
        }
        file.write_all_at(template, pos)?;
        pos += template.len() as u64;
    }
    Ok(pos)
}

fn write_chunks(file: &mut File, chunk: &[u8], total_bytes: u64, sync: bool) -> io::Result<u64> {
    let mut written = 0u64;
    while written < total_bytes {
        let len = chunk.len().min((total_bytes - written) as usize);
        file.write_all(&chunk[..len])?;
        if sync {
            file.sync_data()?;
        }
        written += len as u64;
    }
    Ok(written)
}

/// The baseline for copying reads: reads all of each file with pread(2), `buf.len()` bytes at
/// a time, into `buf`. Returns the bytes read.
pub fn raw_pread(files: &[File], buf: &mut [u8]) -> io::Result<u64> {
    let mut total = 0;
    for file in files {
        total += read_chunks(file, buf, |_| {})?;
    }
    Ok(total)
}

/// The baseline for recovery's scan (and validating reads): [`raw_pread`] plus a CRC-32C over
/// every byte read, the checksum a batch carries. Returns the bytes read and the last chunk's
/// CRC (so the work cannot be optimized away).
pub fn raw_pread_crc32c(files: &[File], buf: &mut [u8]) -> io::Result<(u64, u32)> {
    let mut total = 0;
    let mut crc = 0;
    for file in files {
        total += read_chunks(file, buf, |bytes| crc = crc32c(bytes))?;
    }
    Ok((total, crc))
}

/// Reads `file` from 0 to its end in `buf`-sized chunks, handing each to `f`.
fn read_chunks(file: &File, buf: &mut [u8], mut f: impl FnMut(&[u8])) -> io::Result<u64> {
    let len = file.metadata()?.len();
    let mut pos = 0u64;
    while pos < len {
        let n = buf.len().min((len - pos) as usize);
        file.read_exact_at(&mut buf[..n], pos)?;
        f(&buf[..n]);
        pos += n as u64;
    }
    Ok(pos)
}

/// Opens `paths` read-only, for the read baselines.
pub fn open_all(paths: &[PathBuf]) -> io::Result<Vec<File>> {
    paths.iter().map(File::open).collect()
}

/// Where benches put their files: `$RINGLOG_BENCH_DIR` when set, else `default` (a bench
/// passes cargo's `CARGO_TARGET_TMPDIR`, on a real disk, where `/tmp` may be a tmpfs that
/// makes every fdatasync free). ringlog and its baseline always share it.
pub fn bench_dir(default: &str) -> PathBuf {
    let dir =
        std::env::var_os("RINGLOG_BENCH_DIR").map_or_else(|| PathBuf::from(default), PathBuf::from);
    std::fs::create_dir_all(&dir).expect("create the bench directory");
    dir
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringlog_engine::format::batch::validate_batch;

    #[test]
    fn template_is_one_valid_batch() {
        let t = batch_template(1000, 100);
        let header = validate_batch(&t, u32::MAX).unwrap();
        assert_eq!(header.record_count, 1000);
        assert_eq!(header.total_len(), t.len());
    }

    #[test]
    fn baselines_move_the_bytes_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let chunk = chunk_of(&batch_template(10, 100));
        let path = dir.path().join("raw");
        let mut file = File::create(&path).unwrap();
        assert_eq!(
            raw_write(&mut file, &chunk, 2 * CHUNK as u64 + 1).unwrap(),
            2 * CHUNK as u64 + 1
        );
        let mut other = File::create(dir.path().join("synced")).unwrap();
        assert_eq!(raw_write_fdatasync(&mut other, &chunk, 10).unwrap(), 10);
        let files = open_all(&[path]).unwrap();
        let mut buf = vec![0; CHUNK];
        assert_eq!(raw_pread(&files, &mut buf).unwrap(), 2 * CHUNK as u64 + 1);
        assert_eq!(
            raw_pread_crc32c(&files, &mut buf).unwrap().0,
            2 * CHUNK as u64 + 1
        );
    }

    #[test]
    fn written_log_recovers_in_full_after_force_unclean() {
        let dir = tempfile::tempdir().unwrap();
        let t = batch_template(100, 100);
        let paths = write_log(dir.path(), &t, 100_000).unwrap();
        assert_eq!(paths.len(), 1);
        force_unclean(dir.path()).unwrap();
        let log = Log::open(
            dir.path(),
            bench_config(FlushPolicy::Never, IoBackendKind::Portable),
        )
        .unwrap();
        let report = log.recovery_report();
        assert!(!report.clean_shutdown);
        assert_eq!(
            report.bytes_scanned,
            std::fs::metadata(&paths[0]).unwrap().len()
        );
    }
}
