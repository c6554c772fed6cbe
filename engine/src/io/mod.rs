//! The IO backends the log writes and reads through.
//!
//! | backend    | file                | writes and syncs through                             |
//! |------------|---------------------|------------------------------------------------------|
//! | `uring`    | [`uring`]           | io_uring (`IORING_OP_WRITEV`, `IORING_OP_FSYNC` with `IORING_FSYNC_DATASYNC`) |
//! | `portable` | [`portable`]        | `pwritev(2)`, `pread(2)`, `fdatasync(2)`; appends through a process-wide writer thread |
//! | fault      | [`fault`]           | another backend, with injected torn writes, failed syncs, short reads and simulated crashes (tests) |
//!
//! Files are opened, renamed, truncated and deleted with `std::fs`; only the data path (segment
//! and index writes, reads, syncs) goes through a backend. Appends go through a [`WriteQueue`]:
//! io_uring keeps a few large writes in flight (the kernel copies them on an io-wq worker while
//! the appender validates the next batches); the portable backend hands them to a process-wide
//! writer thread that does the same with `pwritev`; the fault backend writes at submit time. [`open_backend`] picks one from
//! [`IoBackendKind`]: `auto` tries io_uring and falls back to the portable backend, saying why.

use std::fmt;
use std::fs::File;
use std::io::{self, IoSlice};
use std::sync::Arc;

pub mod fault;
pub mod portable;
#[cfg(target_os = "linux")]
pub mod uring;

/// Which backend to use, as configured (`io_backend = auto | uring | portable`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum IoBackendKind {
    /// io_uring when it can be set up, else portable.
    #[default]
    Auto,
    Uring,
    Portable,
}

impl IoBackendKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IoBackendKind::Auto => "auto",
            IoBackendKind::Uring => "uring",
            IoBackendKind::Portable => "portable",
        }
    }
}

impl std::str::FromStr for IoBackendKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(IoBackendKind::Auto),
            "uring" => Ok(IoBackendKind::Uring),
            "portable" => Ok(IoBackendKind::Portable),
            other => Err(format!(
                "unknown io backend {other:?}: expected auto, uring or portable"
            )),
        }
    }
}

impl fmt::Display for IoBackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The data path of the log. Implementations are shared by every thread that appends to or
/// reads from a log, so they are `Send + Sync`; each call is complete when it returns.
pub trait IoBackend: Send + Sync + fmt::Debug {
    /// The backend's name as logged and reported (`"uring"`, `"portable"`, `"fault(uring)"`).
    fn name(&self) -> &str;

    /// Writes every byte of `bufs`, in order, starting at `pos` of `file`. Called by the log with
    /// the batches of one append, and by the indexes with new entries. When it returns `Ok`, the
    /// bytes are in the page cache (not necessarily durable); on `Err`, any prefix of them may
    /// have been written and the caller must treat the bytes from `pos` on as garbage.
    fn write_all_at(&self, file: &File, pos: u64, bufs: &[IoSlice<'_>]) -> io::Result<()>;

    /// Reads up to `buf.len()` bytes at `pos`; returns how many were read, which may be fewer
    /// than asked even before the end of the file (callers loop; see [`read_exact_at`]). `Ok(0)`
    /// means end of file.
    fn read_at(&self, file: &File, pos: u64, buf: &mut [u8]) -> io::Result<usize>;

    /// Makes every byte written to `file` so far durable (fdatasync semantics). When it returns
    /// `Ok`, those bytes survive a crash. An `Err` means the kernel may have dropped dirty pages:
    /// the log is poisoned by the caller and never retries the sync on the same data.
    fn sync_data(&self, file: &File) -> io::Result<()>;

    /// A queue of asynchronous writes for one writer (a log's append path), when the backend
    /// can keep writes in flight while the caller goes on; `None` (the default) means writes
    /// run synchronously, and [`write_queue`] provides a queue that does so.
    fn async_write_queue(&self) -> Option<io::Result<Box<dyn WriteQueue>>> {
        None
    }
}

/// Writes that may still be in flight after they were handed over. One writer owns a queue;
/// the queue owns each buffer (and keeps its file open) until that write completed, and reports
/// completions oldest first. Dropping a queue waits for every write in flight.
pub trait WriteQueue: Send + Sync + fmt::Debug {
    /// Starts writing all of `bufs`, back to back, at `pos` of `file` (one vectored write). An
    /// error means the write was not started.
    fn submit(&mut self, file: Arc<File>, pos: u64, bufs: Vec<Vec<u8>>) -> io::Result<()>;

    /// Waits for the oldest write still in flight; returns its buffers for reuse, or the error
    /// that write ended with (its bytes may be partly written). `None` when nothing is in flight.
    fn complete_oldest(&mut self) -> Option<io::Result<Vec<Vec<u8>>>>;

    /// How many writes were submitted and not yet returned by [`complete_oldest`](Self::complete_oldest).
    fn in_flight(&self) -> usize;
}

/// The write queue of `backend`: its asynchronous one where it has one, else a queue that
/// writes through [`IoBackend::write_all_at`] at submit time.
pub fn write_queue(backend: &Arc<dyn IoBackend>) -> io::Result<Box<dyn WriteQueue>> {
    match backend.async_write_queue() {
        Some(queue) => queue,
        None => Ok(Box::new(SyncWriteQueue {
            backend: backend.clone(),
            done: std::collections::VecDeque::new(),
        })),
    }
}

/// See [`write_queue`].
#[derive(Debug)]
struct SyncWriteQueue {
    backend: Arc<dyn IoBackend>,
    done: std::collections::VecDeque<io::Result<Vec<Vec<u8>>>>,
}

impl WriteQueue for SyncWriteQueue {
    fn submit(&mut self, file: Arc<File>, pos: u64, bufs: Vec<Vec<u8>>) -> io::Result<()> {
        let slices: Vec<IoSlice<'_>> = bufs.iter().map(|b| IoSlice::new(b)).collect();
        let result = self.backend.write_all_at(&file, pos, &slices);
        drop(slices);
        self.done.push_back(result.map(|()| bufs));
        Ok(())
    }

    fn complete_oldest(&mut self) -> Option<io::Result<Vec<Vec<u8>>>> {
        self.done.pop_front()
    }

    fn in_flight(&self) -> usize {
        self.done.len()
    }
}

/// Reads exactly `buf.len()` bytes at `pos`, looping over short reads. Fails with
/// `UnexpectedEof` when the file ends first.
pub fn read_exact_at(
    backend: &dyn IoBackend,
    file: &File,
    mut pos: u64,
    mut buf: &mut [u8],
) -> io::Result<()> {
    while !buf.is_empty() {
        match backend.read_at(file, pos, buf) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("file ends before position {}", pos + buf.len() as u64),
                ));
            }
            Ok(n) => {
                pos += n as u64;
                buf = &mut buf[n..];
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Opens the backend `kind` names. `Auto` tries io_uring first and falls back to the portable
/// backend with a warning naming the reason; `Uring` fails when io_uring cannot be set up.
pub fn open_backend(kind: IoBackendKind) -> io::Result<Arc<dyn IoBackend>> {
    match kind {
        IoBackendKind::Portable => Ok(Arc::new(portable::PortableBackend::new())),
        IoBackendKind::Uring => open_uring(),
        IoBackendKind::Auto => match open_uring() {
            Ok(backend) => Ok(backend),
            Err(e) => {
                tracing::warn!(error = %e, "io_uring unavailable, using the portable io backend");
                Ok(Arc::new(portable::PortableBackend::new()))
            }
        },
    }
}

#[cfg(target_os = "linux")]
fn open_uring() -> io::Result<Arc<dyn IoBackend>> {
    Ok(Arc::new(uring::UringBackend::new()?))
}

#[cfg(not(target_os = "linux"))]
fn open_uring() -> io::Result<Arc<dyn IoBackend>> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "io_uring exists only on Linux",
    ))
}
