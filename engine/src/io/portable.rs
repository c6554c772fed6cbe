//! The portable backend: `pwritev(2)`, `pread(2)` and `fdatasync(2)`, one system call each, on
//! the calling thread. Used where io_uring cannot be set up (old kernels, seccomp profiles that
//! block it) and as the reference the io_uring backend is tested against.

use std::fs::File;
use std::io::{self, IoSlice};
use std::os::unix::fs::FileExt;

use super::IoBackend;

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
        // `write_all_at` per slice is one pwrite each; a single `pwritev` would need unsafe
        // here, and appends hand over one contiguous slice in the common case.
        for buf in bufs {
            file.write_all_at(buf, pos)?;
            pos += buf.len() as u64;
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
