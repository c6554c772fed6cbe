//! The portable backend: `pwritev(2)`, `pread(2)` and `fdatasync(2)`, one system call each, on
//! the calling thread, except appends, which go through [`ThreadWriteQueue`] (a process-wide
//! writer thread). Used where io_uring cannot be set up (old kernels, seccomp profiles that
//! block it), as the reference the io_uring backend is tested against, and by choice where it is
//! faster: on ext4, whose buffered writes io_uring always hands to io-wq, the writer thread
//! appends faster (see `docs/storage.md`).

use std::fs::File;
use std::io::{self, IoSlice};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;

use super::IoBackend;

/// Slices per pwritev(2): the kernel's `UIO_MAXIOV`.
const IOVECS_PER_CALL_MAX: usize = 1024;

/// See the module docs.
#[derive(Debug, Default)]
pub struct PortableBackend;

impl PortableBackend {
    pub fn new() -> Self {
        PortableBackend
    }
}

impl IoBackend for PortableBackend {
    fn name(&self) -> &str {
        "portable"
    }

    fn write_all_at(&self, file: &File, mut pos: u64, bufs: &[IoSlice<'_>]) -> io::Result<()> {
        // One pwritev(2) for the whole list (as many as the kernel takes per call), looping on
        // short writes: the pipeline hands over a list of batches that together make one large
        // write, and the kernel's cost per byte falls with the size of each call.
        let mut slices: Vec<&[u8]> = bufs
            .iter()
            .map(|b| &**b)
            .filter(|b| !b.is_empty())
            .collect();
        let mut first = 0;
        while first < slices.len() {
            let batch = &slices[first..slices.len().min(first + IOVECS_PER_CALL_MAX)];
            let iovecs: Vec<libc::iovec> = batch
                .iter()
                .map(|b| libc::iovec {
                    iov_base: b.as_ptr() as *mut libc::c_void,
                    iov_len: b.len(),
                })
                .collect();
            let offset = libc::off_t::try_from(pos)
                .map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
            // SAFETY: every iovec points into a slice borrowed for this call, alive and unchanged
            // until pwritev returns; the kernel only reads them.
            let written = unsafe {
                libc::pwritev(
                    file.as_raw_fd(),
                    iovecs.as_ptr(),
                    iovecs.len() as libc::c_int,
                    offset,
                )
            };
            if written < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if written == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "pwritev wrote nothing",
                ));
            }
            pos += written as u64;
            let mut left = written as usize;
            while left > 0 {
                let len = slices[first].len();
                if left >= len {
                    left -= len;
                    first += 1;
                } else {
                    slices[first] = &slices[first][left..];
                    left = 0;
                }
            }
        }
        Ok(())
    }

    fn read_at(&self, file: &File, pos: u64, buf: &mut [u8]) -> io::Result<usize> {
        file.read_at(buf, pos)
    }

    fn sync_data(&self, file: &File) -> io::Result<()> {
        file.sync_data()
    }

    fn async_write_queue(&self) -> Option<io::Result<Box<dyn super::WriteQueue>>> {
        Some(ThreadWriteQueue::new().map(|q| Box::new(q) as Box<dyn super::WriteQueue>))
    }
}

/// Asynchronous writes for the portable backend: a process-wide writer thread plays the part
/// io-wq plays for io_uring, so an appender validates and stages the next batches while the
/// previous write is copied into the page cache on another core.
///
/// One thread serves every queue of the process, in submission order (which keeps each file's
/// writes in order, as the log needs); each queue gets its own completions back on its own
/// channel. Dropping a queue waits for its writes in flight.
#[derive(Debug)]
pub struct ThreadWriteQueue {
    done_tx: std::sync::mpsc::Sender<io::Result<Vec<Vec<u8>>>>,
    /// Only used through `&mut self`; the mutex (never contended) makes the queue `Sync`.
    done_rx: std::sync::Mutex<std::sync::mpsc::Receiver<io::Result<Vec<Vec<u8>>>>>,
    in_flight: usize,
}

/// A write for the writer thread, and where to report it.
struct Job {
    file: std::sync::Arc<File>,
    pos: u64,
    bufs: Vec<Vec<u8>>,
    done: std::sync::mpsc::Sender<io::Result<Vec<Vec<u8>>>>,
}

/// The writer thread's job queue, started on first use.
fn writer_thread() -> io::Result<&'static std::sync::Mutex<std::sync::mpsc::Sender<Job>>> {
    static JOBS: std::sync::OnceLock<std::sync::Mutex<std::sync::mpsc::Sender<Job>>> =
        std::sync::OnceLock::new();
    if let Some(jobs) = JOBS.get() {
        return Ok(jobs);
    }
    let (tx, rx) = std::sync::mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("ringlog-writer".into())
        .spawn(move || {
            let backend = PortableBackend::new();
            for Job {
                file,
                pos,
                bufs,
                done,
            } in rx
            {
                let slices: Vec<IoSlice<'_>> = bufs.iter().map(|b| IoSlice::new(b)).collect();
                let result = backend.write_all_at(&file, pos, &slices);
                drop(slices);
                // Let go of the file before reporting: once the write is reported its log may
                // close and unlink the file, and whoever drops the last handle of an unlinked
                // file evicts its pages (~1 ms per 32 MiB), which must not be this thread,
                // shared by every log's writes.
                drop(file);
                // The queue may be gone (its log dropped); nobody waits for this write then.
                let _ = done.send(result.map(|()| bufs));
            }
        })?;
    Ok(JOBS.get_or_init(|| std::sync::Mutex::new(tx)))
}

impl ThreadWriteQueue {
    pub fn new() -> io::Result<Self> {
        writer_thread()?;
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        Ok(ThreadWriteQueue {
            done_tx,
            done_rx: std::sync::Mutex::new(done_rx),
            in_flight: 0,
        })
    }
}

impl super::WriteQueue for ThreadWriteQueue {
    fn submit(
        &mut self,
        file: std::sync::Arc<File>,
        pos: u64,
        bufs: Vec<Vec<u8>>,
    ) -> io::Result<()> {
        let job = Job {
            file,
            pos,
            bufs,
            done: self.done_tx.clone(),
        };
        writer_thread()?
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(job)
            .map_err(|_| io::Error::other("the ringlog writer thread is gone"))?;
        self.in_flight += 1;
        Ok(())
    }

    fn complete_oldest(&mut self) -> Option<io::Result<Vec<Vec<u8>>>> {
        if self.in_flight == 0 {
            return None;
        }
        self.in_flight -= 1;
        // One thread, in submission order: the next completion on this queue's channel is its
        // oldest write.
        Some(
            self.done_rx
                .get_mut()
                .unwrap_or_else(|e| e.into_inner())
                .recv()
                .unwrap_or_else(|_| Err(io::Error::other("the ringlog writer thread is gone"))),
        )
    }

    fn in_flight(&self) -> usize {
        self.in_flight
    }
}

impl Drop for ThreadWriteQueue {
    fn drop(&mut self) {
        use super::WriteQueue;
        while self.complete_oldest().is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::io::WriteQueue;

    #[test]
    fn a_reported_write_holds_no_handle_to_its_file() {
        // Whoever drops the last handle of an unlinked file evicts its pages: once a write is
        // reported, the writer thread must not be the one.
        let dir = tempfile::tempdir().unwrap();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(dir.path().join("segment"))
            .unwrap();
        let file = Arc::new(file);
        let mut queue = ThreadWriteQueue::new().unwrap();
        for round in 0..100u64 {
            queue
                .submit(file.clone(), round * 4, vec![vec![round as u8; 4]])
                .unwrap();
            let bufs = queue.complete_oldest().unwrap().unwrap();
            assert_eq!(bufs, vec![vec![round as u8; 4]]);
            assert_eq!(Arc::strong_count(&file), 1, "round {round}");
        }
        let mut back = vec![0; 400];
        file.read_exact_at(&mut back, 0).unwrap();
        assert!(back.chunks(4).enumerate().all(|(i, c)| c == [i as u8; 4]));
    }
}
