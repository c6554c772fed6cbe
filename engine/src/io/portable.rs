//! The portable backend: `pwritev(2)`, `pread(2)` and `fdatasync(2)`, one system call each, on
//! the calling thread. Used where io_uring cannot be set up (old kernels, seccomp profiles that
//! block it) and as the reference the io_uring backend is tested against.

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
}
