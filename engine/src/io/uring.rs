//! The io_uring backend: `IORING_OP_WRITEV`, `IORING_OP_READ` and `IORING_OP_FSYNC` with
//! `IORING_FSYNC_DATASYNC`, used synchronously: push one entry, `io_uring_enter` until its
//! completion arrives, return. No async runtime; the caller's thread waits in the kernel.
//!
//! Many threads use one backend at once (a group-commit fdatasync on one thread while another
//! writes the next append), so the backend keeps a small pool of rings. An operation takes a ring
//! out of the pool, owns it for the whole operation, and puts it back; when the pool is empty a
//! new ring is set up. No lock is held while the kernel works except ownership of that one ring.
//!
//! The one hard rule: once the kernel has consumed an entry, the buffers it points at belong to
//! the kernel until its completion is reaped. Every path out of `UringBackend::run` either
//! reaps that completion or never submitted the entry.

use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
use std::io::{self, IoSlice};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex};

use io_uring::{IoUring, opcode, squeue, types};

use super::{IoBackend, WriteQueue};

/// Entries per ring. Each operation has exactly one entry in flight on its ring.
const RING_ENTRIES: u32 = 4;

/// Rings kept in the pool between operations; more may exist while more threads do IO at once,
/// and the extra ones are closed when they come back.
const RINGS_KEPT_MAX: usize = 16;

/// Slices per `IORING_OP_WRITEV`: the kernel's `UIO_MAXIOV`. Longer lists go in several writes.
const IOVECS_PER_WRITE_MAX: usize = 1024;

/// Bytes per read or write: the kernel's `MAX_RW_COUNT` (`INT_MAX` rounded down to a page).
const BYTES_PER_OP_MAX: usize = 0x7fff_f000;

/// `EINTR`/`EAGAIN` results in a row before an operation gives up with that error, as long as
/// the kernel does not own its buffers (a consumed entry is always waited for). The kernel
/// retries regular-file IO itself; this only bounds a pathological loop.
const RETRIES_MAX: u32 = 1000;

/// See the module docs.
pub struct UringBackend {
    pool: Mutex<Vec<IoUring>>,
}

impl fmt::Debug for UringBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pooled = self.pool.lock().map(|p| p.len()).unwrap_or(0);
        f.debug_struct("UringBackend")
            .field("rings_pooled", &pooled)
            .finish()
    }
}

impl UringBackend {
    /// Sets up one ring, which proves io_uring works here: this fails with `ENOSYS` on kernels
    /// without it, `EPERM` under a seccomp profile or `kernel.io_uring_disabled`, so
    /// [`super::open_backend`] can fall back to the portable backend.
    pub fn new() -> io::Result<Self> {
        let ring = IoUring::new(RING_ENTRIES)?;
        Ok(UringBackend {
            pool: Mutex::new(vec![ring]),
        })
    }

    fn take_ring(&self) -> io::Result<IoUring> {
        let pooled = self.pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match pooled {
            Some(ring) => Ok(ring),
            None => IoUring::new(RING_ENTRIES),
        }
    }

    fn put_ring(&self, ring: IoUring) {
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < RINGS_KEPT_MAX {
            pool.push(ring);
        }
        // Else `ring` is closed here; it has nothing queued or in flight.
    }

    /// Submits `entry` on a pooled ring and returns the completion's result (`>= 0`), or the
    /// error it carries.
    ///
    /// # Safety
    ///
    /// Every buffer `entry` points at must stay valid (and, for reads, unaliased) until this
    /// returns. This function returns only after the completion is reaped or when the entry was
    /// never consumed by the kernel, so borrowing the buffers for the call is enough.
    unsafe fn run(&self, entry: &squeue::Entry) -> io::Result<u32> {
        let mut ring = self.take_ring()?;
        // SAFETY: forwarded from this function's contract.
        match unsafe { submit_and_reap(&mut ring, entry) } {
            Ok(res) => {
                self.put_ring(ring);
                if res < 0 {
                    Err(io::Error::from_raw_os_error(-res))
                } else {
                    Ok(res as u32)
                }
            }
            // The entry never reached the kernel and may still sit in the submission queue:
            // drop the ring so no later operation submits it with dangling pointers.
            Err(e) => Err(e),
        }
    }

    /// Runs the entry `make` builds, again while its completion says `EINTR` or `EAGAIN` (nothing
    /// was transferred then), at most `RETRIES_MAX` times.
    ///
    /// # Safety
    ///
    /// As for [`Self::run`], for every entry `make` returns.
    unsafe fn run_retrying(&self, make: impl Fn() -> squeue::Entry) -> io::Result<u32> {
        let mut retries = 0;
        loop {
            // SAFETY: forwarded from this function's contract.
            match unsafe { self.run(&make()) } {
                Err(e) if is_transient(&e) && retries < RETRIES_MAX => retries += 1,
                other => return other,
            }
        }
    }
}

/// Pushes `entry`, enters the kernel until its completion is there, and returns the raw result.
/// `Err` only when the entry was not consumed by the kernel (the ring must then be dropped).
///
/// # Safety
///
/// The ring has nothing else queued or in flight, and `entry`'s buffers outlive this call.
unsafe fn submit_and_reap(ring: &mut IoUring, entry: &squeue::Entry) -> io::Result<i32> {
    // SAFETY: the caller keeps `entry`'s buffers valid until we return, and we return only after
    // reaping the completion once the kernel has consumed the entry (the loop below).
    unsafe { ring.submission().push(entry) }.expect("a pooled ring has an empty submission queue");
    let mut retries = 0;
    loop {
        if let Some(cqe) = ring.completion().next() {
            return Ok(cqe.result());
        }
        // `submit_and_wait` may return after submitting without a completion (a signal during
        // the wait), so the loop checks the completion queue again rather than trusting `Ok`.
        match ring.submit_and_wait(1) {
            Ok(_) => {}
            Err(e) => {
                let consumed = ring.submission().is_empty();
                let retry = is_transient(&e) || e.raw_os_error() == Some(libc::EBUSY);
                if retry && (consumed || retries < RETRIES_MAX) {
                    retries += 1;
                    continue;
                }
                if !consumed {
                    // The kernel never saw the entry, so it holds no reference to the buffers.
                    return Err(e);
                }
                // Consumed, so the kernel owns the buffers until the completion is reaped. We
                // can neither return nor unwind (the caller would free or reuse the buffers
                // under the kernel), and waiting cannot fail this way on a healthy ring.
                eprintln!("ringlog: io_uring_enter failed with an operation in flight: {e}");
                std::process::abort();
            }
        }
    }
}

fn is_transient(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EINTR) | Some(libc::EAGAIN))
}

/// The part of a slice list not yet written, as `iovec`s the kernel can read.
struct IovecCursor {
    iovecs: Vec<libc::iovec>,
    /// Index of the first iovec with bytes left.
    first: usize,
}

impl IovecCursor {
    fn new(bufs: &[IoSlice<'_>]) -> Self {
        let iovecs = bufs
            .iter()
            .filter(|b| !b.is_empty())
            .map(|b| libc::iovec {
                iov_base: b.as_ptr() as *mut libc::c_void,
                iov_len: b.len(),
            })
            .collect();
        IovecCursor { iovecs, first: 0 }
    }

    fn is_done(&self) -> bool {
        self.first == self.iovecs.len()
    }

    /// The iovecs for the next write: at most `IOVECS_PER_WRITE_MAX` of them.
    fn next_chunk(&self) -> &[libc::iovec] {
        let end = self.iovecs.len().min(self.first + IOVECS_PER_WRITE_MAX);
        &self.iovecs[self.first..end]
    }

    fn advance(&mut self, mut written: usize) {
        while written > 0 {
            let iov = &mut self.iovecs[self.first];
            if written >= iov.iov_len {
                written -= iov.iov_len;
                self.first += 1;
            } else {
                // Stays inside the caller's slice because `written < iov_len`.
                iov.iov_base = (iov.iov_base as *mut u8).wrapping_add(written) as *mut libc::c_void;
                iov.iov_len -= written;
                written = 0;
            }
        }
    }
}

impl IoBackend for UringBackend {
    fn name(&self) -> &str {
        "uring"
    }

    fn write_all_at(&self, file: &File, mut pos: u64, bufs: &[IoSlice<'_>]) -> io::Result<()> {
        let fd = types::Fd(file.as_raw_fd());
        let mut cursor = IovecCursor::new(bufs);
        while !cursor.is_done() {
            let chunk = cursor.next_chunk();
            let make = || {
                opcode::Writev::new(fd, chunk.as_ptr(), chunk.len() as u32)
                    .offset(pos)
                    .build()
            };
            // SAFETY: the entry points at `chunk` (the cursor's iovecs) and, through them, at the
            // caller's `bufs`; both are borrowed for this whole call and not touched until
            // `run_retrying` returns, which is after the completion is reaped.
            let written = unsafe { self.run_retrying(make) }? as usize;
            if written == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    format!("io_uring writev wrote 0 bytes at file position {pos}"),
                ));
            }
            pos += written as u64;
            cursor.advance(written);
        }
        Ok(())
    }

    fn read_at(&self, file: &File, pos: u64, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let fd = types::Fd(file.as_raw_fd());
        let len = buf.len().min(BYTES_PER_OP_MAX) as u32;
        let ptr = buf.as_mut_ptr();
        let make = || opcode::Read::new(fd, ptr, len).offset(pos).build();
        // SAFETY: `ptr..ptr+len` lies in `buf`, which we hold mutably (so nothing else reads or
        // writes it) for this whole call; `run_retrying` returns only after the completion.
        let read = unsafe { self.run_retrying(make) }?;
        Ok(read as usize)
    }

    fn sync_data(&self, file: &File) -> io::Result<()> {
        let fd = types::Fd(file.as_raw_fd());
        let make = || {
            opcode::Fsync::new(fd)
                .flags(types::FsyncFlags::DATASYNC)
                .build()
        };
        // SAFETY: an fsync entry points at no memory; `file` is borrowed for the call, so the fd
        // stays open until the completion is reaped.
        unsafe { self.run_retrying(make) }?;
        Ok(())
    }

    fn async_write_queue(&self) -> Option<io::Result<Box<dyn WriteQueue>>> {
        Some(UringWriteQueue::new().map(|q| Box::new(q) as Box<dyn WriteQueue>))
    }
}

/// Writes in flight at once on one [`UringWriteQueue`]; the log keeps fewer than this.
pub const WRITE_QUEUE_DEPTH: usize = 8;

/// Asynchronous writes on a ring of their own (see [`WriteQueue`]). A write is submitted and
/// left to the kernel, which hands buffered writes to an io-wq worker: the copy into the page
/// cache then runs on another core while the caller prepares the next one.
///
/// The hard rule again: each buffer belongs to the kernel from submission until its completion
/// is reaped. Buffers live in `InFlight` entries (a `Vec`'s heap buffer does not move when the
/// `Vec` does) and leave only through [`WriteQueue::complete_oldest`], which returns an entry
/// once its completion was reaped; dropping the queue first waits for all of them.
///
/// The io-wq worker that runs a write belongs to the thread that submitted it, and any thread
/// holding the log may submit, wait or drain, and may exit with writes in flight. Hence, measured
/// on Linux 6.18 / ext4 (`docs/storage.md`, "The io_uring append queue against the flush-never
/// floor"): no `IOSQE_ASYNC` (a write still queued when its submitting thread exits then fails
/// with `ECANCELED`), no `IORING_SETUP_DEFER_TASKRUN` (completions could only be reaped by the
/// submitting thread), and the ring is a plain one: `COOP_TASKRUN`, `SINGLE_ISSUER`, io-wq
/// worker limits and affinity, and a registered file were no faster.
pub struct UringWriteQueue {
    ring: IoUring,
    in_flight: VecDeque<InFlight>,
    next_seq: u64,
}

struct InFlight {
    seq: u64,
    file: Arc<File>,
    pos: u64,
    bufs: Vec<Vec<u8>>,
    /// Point into `bufs`; the kernel reads them.
    iovecs: Vec<libc::iovec>,
    /// The completion's result once reaped.
    result: Option<i32>,
}

// SAFETY: the raw pointers in `iovecs` point into `bufs`, owned by the same entry and moved with
// it; nothing else reads or writes through them.
unsafe impl Send for InFlight {}
// SAFETY: as above; shared references never touch the pointers.
unsafe impl Sync for InFlight {}

impl fmt::Debug for UringWriteQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UringWriteQueue")
            .field("in_flight", &self.in_flight.len())
            .finish()
    }
}

impl UringWriteQueue {
    pub fn new() -> io::Result<Self> {
        Ok(UringWriteQueue {
            ring: IoUring::new(WRITE_QUEUE_DEPTH as u32)?,
            in_flight: VecDeque::new(),
            next_seq: 0,
        })
    }

    /// Records every completion the ring holds against its entry.
    fn reap(&mut self) {
        let done: Vec<(u64, i32)> = self
            .ring
            .completion()
            .map(|cqe| (cqe.user_data(), cqe.result()))
            .collect();
        for (seq, result) in done {
            if let Some(entry) = self.in_flight.iter_mut().find(|e| e.seq == seq) {
                entry.result = Some(result);
            }
        }
    }

    /// Blocks until the oldest entry's completion is reaped.
    fn wait_oldest(&mut self) {
        let mut retries = 0;
        loop {
            self.reap();
            if self.in_flight.front().is_none_or(|e| e.result.is_some()) {
                return;
            }
            match self.ring.submit_and_wait(1) {
                Ok(_) => {}
                Err(e) if is_transient(&e) && retries < RETRIES_MAX => retries += 1,
                Err(e) => {
                    // The kernel may hold the buffers: neither returning nor unwinding is safe.
                    eprintln!("ringlog: io_uring_enter failed with writes in flight: {e}");
                    std::process::abort();
                }
            }
        }
    }
}

impl WriteQueue for UringWriteQueue {
    fn submit(&mut self, file: Arc<File>, pos: u64, bufs: Vec<Vec<u8>>) -> io::Result<()> {
        if self.in_flight.len() >= WRITE_QUEUE_DEPTH {
            return Err(io::Error::other(format!(
                "io_uring write queue full ({WRITE_QUEUE_DEPTH} writes in flight)"
            )));
        }
        if bufs.len() > IOVECS_PER_WRITE_MAX {
            return Err(io::Error::other(format!(
                "{} buffers in one write, at most {IOVECS_PER_WRITE_MAX}",
                bufs.len()
            )));
        }
        let iovecs: Vec<libc::iovec> = bufs
            .iter()
            .map(|b| libc::iovec {
                iov_base: b.as_ptr() as *mut libc::c_void,
                iov_len: b.len(),
            })
            .collect();
        let seq = self.next_seq;
        self.next_seq += 1;
        let entry = opcode::Writev::new(
            types::Fd(file.as_raw_fd()),
            iovecs.as_ptr(),
            iovecs.len() as u32,
        )
        .offset(pos)
        .build()
        .user_data(seq);
        // SAFETY: `iovecs` and the buffers it points into move into the `InFlight` entry pushed
        // right after, which stays in the queue until its completion is reaped (see the type's
        // docs); neither heap allocation is freed, moved or written to before then.
        unsafe { self.ring.submission().push(&entry) }
            .map_err(|_| io::Error::other("io_uring submission queue full"))?;
        self.in_flight.push_back(InFlight {
            seq,
            file,
            pos,
            bufs,
            iovecs,
            result: None,
        });
        // Hand it to the kernel now. Once pushed it is in flight whatever this enter says: a
        // failure leaves it queued for the next enter, which `wait_oldest` makes (and which
        // aborts on a ring that cannot enter at all).
        if let Err(e) = self.ring.submit()
            && !is_transient(&e)
            && e.raw_os_error() != Some(libc::EBUSY)
        {
            tracing::warn!(error = %e, "io_uring_enter failed after queueing a write; retrying on wait");
        }
        Ok(())
    }

    fn complete_oldest(&mut self) -> Option<io::Result<Vec<Vec<u8>>>> {
        self.in_flight.front()?;
        self.wait_oldest();
        let entry = self.in_flight.pop_front().expect("checked above");
        drop(entry.iovecs);
        let result = entry.result.expect("reaped");
        let mut written = match result {
            r if r >= 0 => r as usize,
            r if is_transient(&io::Error::from_raw_os_error(-r)) => 0,
            r => return Some(Err(io::Error::from_raw_os_error(-r))),
        };
        // A short (or retriable) write finishes here, synchronously: rare, and the buffers are
        // the caller's again.
        let mut pos = entry.pos;
        for buf in &entry.bufs {
            let skip = written.min(buf.len());
            written -= skip;
            pos += skip as u64;
            if skip < buf.len() {
                if let Err(e) = entry.file.write_all_at(&buf[skip..], pos) {
                    return Some(Err(e));
                }
                pos += (buf.len() - skip) as u64;
            }
        }
        Some(Ok(entry.bufs))
    }

    fn in_flight(&self) -> usize {
        self.in_flight.len()
    }
}

impl Drop for UringWriteQueue {
    fn drop(&mut self) {
        while self.complete_oldest().is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::read_exact_at;

    #[test]
    fn cursor_advances_across_and_within_slices() {
        let a = [1u8; 3];
        let b = [2u8; 5];
        let bufs = [IoSlice::new(&a), IoSlice::new(&[]), IoSlice::new(&b)];
        let mut cursor = IovecCursor::new(&bufs);
        assert_eq!(cursor.next_chunk().len(), 2);
        cursor.advance(4);
        assert_eq!(cursor.next_chunk().len(), 1);
        assert_eq!(cursor.next_chunk()[0].iov_len, 4);
        cursor.advance(4);
        assert!(cursor.is_done());
    }

    #[test]
    fn writes_reads_and_syncs() {
        let Ok(backend) = UringBackend::new() else {
            eprintln!("io_uring unavailable here; skipping");
            return;
        };
        let file = tempfile::tempfile().unwrap();
        let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let (head, tail) = data.split_at(4000);
        backend
            .write_all_at(&file, 100, &[IoSlice::new(head), IoSlice::new(tail)])
            .unwrap();
        backend.sync_data(&file).unwrap();
        let mut back = vec![0u8; data.len()];
        read_exact_at(&backend, &file, 100, &mut back).unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn negative_results_become_errors() {
        let Ok(backend) = UringBackend::new() else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("read-only");
        std::fs::write(&path, b"x").unwrap();
        let file = File::open(&path).unwrap();
        let err = backend
            .write_all_at(&file, 0, &[IoSlice::new(b"y")])
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
    }
}
