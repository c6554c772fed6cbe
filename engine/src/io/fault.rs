//! The fault-injecting backend, for tests: wraps another backend and makes chosen writes tear or
//! fail, syncs fail, reads come back short, and simulates a machine crash.
//!
//! Injected faults are counted from the moment they are set, by operation calls on this backend
//! (a call that fails still counts):
//!
//! | setter                              | effect                                                        |
//! |-------------------------------------|---------------------------------------------------------------|
//! | [`FaultBackend::fail_sync_after`]   | the (n+1)-th sync and every later one fail with `EIO`, nothing synced |
//! | [`FaultBackend::tear_write_after`]  | the (n+1)-th write writes only its first `keep_bytes`, then fails with `EIO` (once) |
//! | [`FaultBackend::fail_write_after`]  | the (n+1)-th write and every later one fail with `EIO`, nothing written |
//! | [`FaultBackend::short_reads`]       | every read returns at most `max_bytes`                        |
//! | [`FaultBackend::clear`]             | removes all of the above (a crash stays a crash)              |
//!
//! Crash simulation follows redb's crash-consistency backend. Per file (keyed by device and
//! inode, so two `File`s of one file share a log) the backend keeps an undo log of the writes
//! since that file's last successful sync: the bytes each write overwrote and the file length
//! before it. [`FaultBackend::crash`] rolls those writes back (except a prefix [`CrashKeep`]
//! chooses), restores the old lengths, and from then on every operation fails with `EIO`: the
//! machine is dead, and a log object still holding this backend cannot write anything. Tests
//! then drop the log and reopen the directory with a fresh backend.
//!
//! What the undo log does not model: operations outside the backend (`set_len`, rename, unlink
//! through `std::fs`) count as durable at once; writes racing on one file are rolled back in the
//! order they were recorded, which is exact only when they do not overlap (the log serializes
//! the appends to a segment).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::fs::File;
use std::io::{self, IoSlice};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use super::IoBackend;

/// Which unsynced writes survive a simulated crash, per file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashKeep {
    /// Every write since the file's last successful sync is lost.
    None,
    /// The first `writes` unsynced writes of each file survive, plus the first `torn_bytes` of
    /// the one after them (a torn write); the rest are lost.
    Prefix { writes: usize, torn_bytes: u64 },
}

/// See the module docs.
pub struct FaultBackend {
    inner: Arc<dyn IoBackend>,
    name: String,
    /// `true` once crashed. Every operation holds the read side for its whole duration, so
    /// [`FaultBackend::crash`] (the write side) waits for operations in flight, and no operation
    /// reaches the inner backend after it.
    crashed: RwLock<bool>,
    plan: Mutex<Plan>,
    undo: Mutex<UndoLog>,
}

/// Operation counters and the faults to inject, as absolute operation indexes.
#[derive(Debug, Default)]
struct Plan {
    writes: u64,
    syncs: u64,
    reads: u64,
    sync_fail_from: Option<u64>,
    write_fail_from: Option<u64>,
    /// (write index, bytes to keep).
    write_tear_at: Option<(u64, usize)>,
    read_len_max: Option<usize>,
}

enum WriteFault {
    None,
    Fail,
    Tear(usize),
}

impl Plan {
    fn next_write(&mut self) -> WriteFault {
        let index = self.writes;
        self.writes += 1;
        match self.write_tear_at {
            Some((at, keep)) if at == index => return WriteFault::Tear(keep),
            _ => {}
        }
        match self.write_fail_from {
            Some(from) if index >= from => WriteFault::Fail,
            _ => WriteFault::None,
        }
    }

    /// Whether this sync fails.
    fn next_sync(&mut self) -> bool {
        let index = self.syncs;
        self.syncs += 1;
        self.sync_fail_from.is_some_and(|from| index >= from)
    }

    fn next_read(&mut self) -> Option<usize> {
        self.reads += 1;
        self.read_len_max
    }
}

/// (st_dev, st_ino).
type FileKey = (u64, u64);

#[derive(Debug, Default)]
struct UndoLog {
    next_id: u64,
    files: HashMap<FileKey, FileUndo>,
}

#[derive(Debug)]
struct FileUndo {
    /// The file reopened read-write (see [`reopen_read_write`]): old bytes are read and, on a
    /// crash, written back through it.
    file: File,
    /// Writes since the last successful sync, oldest first.
    writes: Vec<UndoEntry>,
}

#[derive(Debug)]
struct UndoEntry {
    id: u64,
    pos: u64,
    /// Bytes the write was allowed to write (fewer than asked for a torn write).
    len: u64,
    /// What `[pos, min(pos + len, len_before))` held before the write.
    old: Vec<u8>,
    len_before: u64,
    /// The write returned; a sync that starts after this covers it.
    done: bool,
}

impl fmt::Debug for FaultBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultBackend")
            .field("inner", &self.inner)
            .field("crashed", &self.is_crashed())
            .field("plan", &*self.plan())
            .finish_non_exhaustive()
    }
}

impl FaultBackend {
    /// Wraps `inner`; no faults are set.
    pub fn new(inner: Arc<dyn IoBackend>) -> Self {
        let name = format!("fault({})", inner.name());
        FaultBackend {
            inner,
            name,
            crashed: RwLock::new(false),
            plan: Mutex::new(Plan::default()),
            undo: Mutex::new(UndoLog::default()),
        }
    }

    /// The (n+1)-th sync from now, and every later one until [`Self::clear`], fails with `EIO`
    /// without syncing: its writes stay unsynced and a crash loses them.
    pub fn fail_sync_after(&self, n: u64) {
        let mut plan = self.plan();
        plan.sync_fail_from = Some(plan.syncs + n);
    }

    /// The (n+1)-th write from now writes only its first `keep_bytes` bytes, then fails with
    /// `EIO`. Once; later writes go through.
    pub fn tear_write_after(&self, n: u64, keep_bytes: usize) {
        let mut plan = self.plan();
        plan.write_tear_at = Some((plan.writes + n, keep_bytes));
    }

    /// The (n+1)-th write from now, and every later one until [`Self::clear`], fails with `EIO`
    /// without writing anything.
    pub fn fail_write_after(&self, n: u64) {
        let mut plan = self.plan();
        plan.write_fail_from = Some(plan.writes + n);
    }

    /// Every read from now on returns at most `max_bytes` bytes (at least 1), to prove callers
    /// loop.
    pub fn short_reads(&self, max_bytes: usize) {
        assert!(max_bytes > 0, "short_reads(0) would look like end of file");
        self.plan().read_len_max = Some(max_bytes);
    }

    /// Removes every injected fault. Counters keep counting; a crashed backend stays crashed.
    pub fn clear(&self) {
        let mut plan = self.plan();
        plan.sync_fail_from = None;
        plan.write_fail_from = None;
        plan.write_tear_at = None;
        plan.read_len_max = None;
    }

    /// `write_all_at` calls so far, failed ones included.
    pub fn writes(&self) -> u64 {
        self.plan().writes
    }

    /// `sync_data` calls so far, failed ones included.
    pub fn syncs(&self) -> u64 {
        self.plan().syncs
    }

    /// `read_at` calls so far, failed ones included.
    pub fn reads(&self) -> u64 {
        self.plan().reads
    }

    /// Whether [`Self::crash`] has run: every operation now fails with `EIO`.
    pub fn is_crashed(&self) -> bool {
        *self.crashed.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The machine dies: waits for operations in flight, rolls back every file's writes since
    /// its last successful sync except those `keep` names, and makes every later operation fail
    /// with `EIO`. A second crash does nothing. An `Err` means the rollback itself failed (the
    /// backend is crashed all the same).
    pub fn crash(&self, keep: CrashKeep) -> io::Result<()> {
        let mut crashed = self.crashed.write().unwrap_or_else(PoisonError::into_inner);
        if *crashed {
            return Ok(());
        }
        *crashed = true;
        let files = std::mem::take(&mut self.undo().files);
        for file_undo in files.values() {
            roll_back(file_undo, keep)?;
        }
        Ok(())
    }

    fn plan(&self) -> MutexGuard<'_, Plan> {
        self.plan.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn undo(&self) -> MutexGuard<'_, UndoLog> {
        self.undo.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records what `[pos, pos + len)` of `file` holds now, before a write replaces it.
    fn record_write(&self, file: &File, pos: u64, len: u64) -> io::Result<(FileKey, u64)> {
        // The lock is held across the fstat and pread so that entries are ordered as the states
        // they captured; it serializes only writers of this test backend.
        let mut undo = self.undo();
        let meta = file.metadata()?;
        let key = (meta.dev(), meta.ino());
        let len_before = meta.len();
        let id = undo.next_id;
        undo.next_id += 1;
        let file_undo = match undo.files.entry(key) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(FileUndo {
                file: reopen_read_write(file)?,
                writes: Vec::new(),
            }),
        };
        let overlap_end = (pos + len).min(len_before);
        let mut old = vec![0u8; overlap_end.saturating_sub(pos) as usize];
        file_undo.file.read_exact_at(&mut old, pos)?;
        file_undo.writes.push(UndoEntry {
            id,
            pos,
            len,
            old,
            len_before,
            done: false,
        });
        Ok((key, id))
    }

    fn mark_done(&self, key: FileKey, id: u64) {
        let mut undo = self.undo();
        let entry = undo
            .files
            .get_mut(&key)
            .and_then(|f| f.writes.iter_mut().rev().find(|e| e.id == id));
        if let Some(entry) = entry {
            entry.done = true;
        }
    }

    /// The id from which a sync starting now does not cover writes: the oldest write still in
    /// flight (its bytes may land after the sync), or the next id.
    fn sync_boundary(&self, key: FileKey) -> u64 {
        let undo = self.undo();
        let in_flight = undo
            .files
            .get(&key)
            .and_then(|f| f.writes.iter().find(|e| !e.done));
        in_flight.map_or(undo.next_id, |e| e.id)
    }

    fn forget_synced(&self, key: FileKey, boundary: u64) {
        let mut undo = self.undo();
        if let Some(file_undo) = undo.files.get_mut(&key) {
            file_undo.writes.retain(|e| e.id >= boundary);
        }
    }
}

fn eio() -> io::Error {
    io::Error::from_raw_os_error(libc::EIO)
}

/// A read-write descriptor of the file behind `file` with no `O_APPEND` or `O_DIRECT`, so the
/// undo log can read old bytes and write them back whatever flags the caller opened with. On
/// Linux `/proc/self/fd` reopens even unlinked and `O_TMPFILE` files; elsewhere a clone of the
/// caller's descriptor has to do.
fn reopen_read_write(file: &File) -> io::Result<File> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let path = format!("/proc/self/fd/{}", file.as_raw_fd());
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
    }
    #[cfg(not(target_os = "linux"))]
    {
        file.try_clone()
    }
}

fn file_key(file: &File) -> io::Result<FileKey> {
    let meta = file.metadata()?;
    Ok((meta.dev(), meta.ino()))
}

/// The first `len` bytes of `bufs`.
fn prefix<'a>(bufs: &'a [IoSlice<'a>], mut len: usize) -> Vec<IoSlice<'a>> {
    let mut out = Vec::new();
    for buf in bufs {
        if len == 0 {
            break;
        }
        let take = buf.len().min(len);
        out.push(IoSlice::new(&buf[..take]));
        len -= take;
    }
    out
}

/// Undoes one file's unsynced writes, newest first, down to the prefix `keep` lets survive.
fn roll_back(file_undo: &FileUndo, keep: CrashKeep) -> io::Result<()> {
    let (writes_kept, torn_bytes) = match keep {
        CrashKeep::None => (0, 0),
        CrashKeep::Prefix { writes, torn_bytes } => (writes, torn_bytes),
    };
    for (index, entry) in file_undo.writes.iter().enumerate().rev() {
        if index < writes_kept {
            break;
        }
        let surviving = if index == writes_kept {
            torn_bytes.min(entry.len)
        } else {
            0
        };
        undo_write(&file_undo.file, entry, surviving)?;
    }
    Ok(())
}

/// Puts back what `entry` overwrote, except its first `surviving` bytes, and the old length
/// (extended to cover the surviving bytes).
fn undo_write(file: &File, entry: &UndoEntry, surviving: u64) -> io::Result<()> {
    let old_from = (surviving as usize).min(entry.old.len());
    file.write_all_at(&entry.old[old_from..], entry.pos + old_from as u64)?;
    let len = if surviving > 0 {
        entry.len_before.max(entry.pos + surviving)
    } else {
        entry.len_before
    };
    file.set_len(len)
}

impl IoBackend for FaultBackend {
    fn name(&self) -> &str {
        &self.name
    }

    fn write_all_at(&self, file: &File, pos: u64, bufs: &[IoSlice<'_>]) -> io::Result<()> {
        let crashed = self.crashed.read().unwrap_or_else(PoisonError::into_inner);
        if *crashed {
            return Err(eio());
        }
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let fault = self.plan().next_write();
        let len = match fault {
            WriteFault::Fail => return Err(eio()),
            WriteFault::Tear(keep_bytes) => keep_bytes.min(total),
            WriteFault::None => total,
        };
        let (key, id) = self.record_write(file, pos, len as u64)?;
        let result = self.inner.write_all_at(file, pos, &prefix(bufs, len));
        self.mark_done(key, id);
        drop(crashed);
        match fault {
            WriteFault::Tear(_) => result.and(Err(eio())),
            _ => result,
        }
    }

    fn read_at(&self, file: &File, pos: u64, buf: &mut [u8]) -> io::Result<usize> {
        let crashed = self.crashed.read().unwrap_or_else(PoisonError::into_inner);
        if *crashed {
            return Err(eio());
        }
        let len = self
            .plan()
            .next_read()
            .map_or(buf.len(), |max| max.min(buf.len()));
        self.inner.read_at(file, pos, &mut buf[..len])
    }

    fn sync_data(&self, file: &File) -> io::Result<()> {
        let crashed = self.crashed.read().unwrap_or_else(PoisonError::into_inner);
        if *crashed {
            return Err(eio());
        }
        if self.plan().next_sync() {
            return Err(eio());
        }
        let key = file_key(file)?;
        let boundary = self.sync_boundary(key);
        self.inner.sync_data(file)?;
        self.forget_synced(key, boundary);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::portable::PortableBackend;
    use crate::io::read_exact_at;

    fn backend() -> FaultBackend {
        FaultBackend::new(Arc::new(PortableBackend::new()))
    }

    fn write(b: &FaultBackend, file: &File, pos: u64, data: &[u8]) -> io::Result<()> {
        b.write_all_at(file, pos, &[IoSlice::new(data)])
    }

    /// The file's bytes as the disk has them, read without the backend.
    fn image(file: &File) -> Vec<u8> {
        let mut out = vec![0u8; file.metadata().unwrap().len() as usize];
        file.read_exact_at(&mut out, 0).unwrap();
        out
    }

    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    #[test]
    fn name_wraps_inner() {
        assert_eq!(backend().name(), "fault(portable)");
    }

    #[test]
    fn torn_write_leaves_exactly_keep_bytes() {
        let b = backend();
        let file = tempfile::tempfile().unwrap();
        write(&b, &file, 0, &[1; 100]).unwrap();
        b.tear_write_after(1, 10);
        write(&b, &file, 100, &[2; 50]).unwrap();
        let a = [3u8; 6];
        let c = [4u8; 40];
        let err = b
            .write_all_at(&file, 150, &[IoSlice::new(&a), IoSlice::new(&c)])
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EIO));
        let img = image(&file);
        assert_eq!(img.len(), 160);
        assert_eq!(&img[150..156], &a);
        assert_eq!(&img[156..160], &c[..4]);
        // Once only.
        write(&b, &file, 160, &[5; 8]).unwrap();
        assert_eq!(b.writes(), 4);
    }

    #[test]
    fn failed_write_writes_nothing_until_cleared() {
        let b = backend();
        let file = tempfile::tempfile().unwrap();
        b.fail_write_after(0);
        assert!(write(&b, &file, 0, &[1; 10]).is_err());
        assert!(write(&b, &file, 0, &[1; 10]).is_err());
        assert_eq!(file.metadata().unwrap().len(), 0);
        b.clear();
        write(&b, &file, 0, &[1; 10]).unwrap();
        assert_eq!(image(&file), vec![1; 10]);
    }

    #[test]
    fn failed_sync_is_sticky_and_syncs_nothing() {
        let b = backend();
        let file = tempfile::tempfile().unwrap();
        write(&b, &file, 0, &[1; 10]).unwrap();
        b.fail_sync_after(1);
        b.sync_data(&file).unwrap();
        write(&b, &file, 10, &[2; 10]).unwrap();
        assert!(b.sync_data(&file).is_err());
        assert!(b.sync_data(&file).is_err());
        assert_eq!(b.syncs(), 3);
        b.crash(CrashKeep::None).unwrap();
        assert_eq!(image(&file), vec![1; 10]);
    }

    #[test]
    fn crash_restores_synced_image_byte_for_byte() {
        let b = backend();
        let file = tempfile::tempfile().unwrap();
        let synced = pattern(8192, 7);
        write(&b, &file, 0, &synced[..4096]).unwrap();
        write(&b, &file, 4096, &synced[4096..]).unwrap();
        b.sync_data(&file).unwrap();
        write(&b, &file, 1000, &pattern(3000, 1)).unwrap();
        write(&b, &file, 8000, &pattern(5000, 2)).unwrap();
        write(&b, &file, 20_000, &pattern(100, 3)).unwrap();
        write(&b, &file, 500, &pattern(20, 4)).unwrap();
        b.crash(CrashKeep::None).unwrap();
        assert_eq!(image(&file), synced);
    }

    #[test]
    fn crash_keeps_prefix_and_torn_bytes() {
        let b = backend();
        let file = tempfile::tempfile().unwrap();
        write(&b, &file, 0, &[9; 100]).unwrap();
        b.sync_data(&file).unwrap();
        write(&b, &file, 100, &[1; 10]).unwrap();
        write(&b, &file, 50, &[2; 100]).unwrap();
        write(&b, &file, 150, &[3; 10]).unwrap();
        b.crash(CrashKeep::Prefix {
            writes: 1,
            torn_bytes: 20,
        })
        .unwrap();
        let mut expected = vec![9u8; 100];
        expected.extend_from_slice(&[1; 10]);
        expected[50..70].copy_from_slice(&[2; 20]);
        assert_eq!(image(&file), expected);
    }

    #[test]
    fn crash_tracks_files_separately() {
        let b = backend();
        let one = tempfile::tempfile().unwrap();
        let two = tempfile::tempfile().unwrap();
        write(&b, &one, 0, &[1; 10]).unwrap();
        write(&b, &two, 0, &[2; 10]).unwrap();
        b.sync_data(&two).unwrap();
        write(&b, &two, 10, &[3; 10]).unwrap();
        b.crash(CrashKeep::None).unwrap();
        assert_eq!(image(&one), Vec::<u8>::new());
        assert_eq!(image(&two), vec![2; 10]);
    }

    #[test]
    fn crash_rolls_back_through_write_only_and_append_descriptors() {
        let b = backend();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("segment");
        std::fs::write(&path, [1; 10]).unwrap();
        let write_only = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        let appending = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        write(&b, &write_only, 2, &[2; 4]).unwrap();
        write(&b, &appending, 10, &[3; 4]).unwrap();
        b.crash(CrashKeep::None).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), vec![1; 10]);
    }

    #[test]
    fn after_crash_every_op_fails() {
        let b = backend();
        let file = tempfile::tempfile().unwrap();
        write(&b, &file, 0, &[1; 10]).unwrap();
        b.sync_data(&file).unwrap();
        b.crash(CrashKeep::None).unwrap();
        assert!(b.is_crashed());
        let is_eio = |r: io::Result<()>| r.unwrap_err().raw_os_error() == Some(libc::EIO);
        assert!(is_eio(write(&b, &file, 10, &[2; 10])));
        assert!(is_eio(b.sync_data(&file)));
        assert!(is_eio(b.read_at(&file, 0, &mut [0; 4]).map(drop)));
        b.clear();
        assert!(is_eio(write(&b, &file, 10, &[2; 10])));
        assert_eq!(image(&file), vec![1; 10]);
    }

    #[test]
    fn short_reads_are_short_and_read_exact_loops() {
        let b = backend();
        let file = tempfile::tempfile().unwrap();
        let data = pattern(1000, 5);
        write(&b, &file, 0, &data).unwrap();
        b.short_reads(7);
        let mut buf = vec![0u8; 1000];
        assert_eq!(b.read_at(&file, 0, &mut buf).unwrap(), 7);
        let before = b.reads();
        read_exact_at(&b, &file, 0, &mut buf).unwrap();
        assert_eq!(buf, data);
        assert_eq!(b.reads() - before, 1000u64.div_ceil(7));
    }
}
