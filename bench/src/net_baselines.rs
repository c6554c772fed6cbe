//! Network baselines on loopback: what the kernel does with the same bytes and no broker in
//! between. The end-to-end numbers (`ringlog perf consume`, `perf produce`) are reported as a
//! ratio to these, measured in the same run.
//!
//! - [`tcp_loopback`]: one TCP stream over 127.0.0.1, `write` of 1 MiB chunks from memory on
//!   one thread, `read` into 1 MiB on another.
//! - [`sendfile_loopback`]: the same stream, but the sender `sendfile`s a page-cached file,
//!   as a zero-copy fetch does.
//! - [`tcp_round_trips`]: a small message and its answer over one loopback connection
//!   (`TCP_NODELAY`), one at a time: the floor of any request's latency over loopback.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::CHUNK;

/// Bytes moved and the time it took, reader's view (first byte sent to last byte read).
#[derive(Clone, Copy, Debug)]
pub struct Transfer {
    pub bytes: u64,
    pub elapsed: Duration,
}

impl Transfer {
    pub fn bytes_per_sec(&self) -> f64 {
        self.bytes as f64 / self.elapsed.as_secs_f64()
    }
}

/// Streams `bytes` over one loopback TCP connection with `write(2)` from memory.
pub fn tcp_loopback(bytes: u64) -> io::Result<Transfer> {
    transfer(bytes, |socket, bytes| {
        let chunk = vec![0x5au8; CHUNK];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(CHUNK as u64) as usize;
            socket.write_all(&chunk[..n])?;
            left -= n as u64;
        }
        Ok(())
    })
}

/// Streams `bytes` of `file` (which must be at least that long, and is read into the page
/// cache first) over one loopback TCP connection with `sendfile(2)`.
pub fn sendfile_loopback(file: &Path, bytes: u64) -> io::Result<Transfer> {
    let file = File::open(file)?;
    // Warm the page cache, as the segments a consumer fetches usually are.
    let mut sink = vec![0u8; CHUNK];
    let mut reader = &file;
    while reader.read(&mut sink)? > 0 {}
    transfer(bytes, move |socket, bytes| {
        let mut offset: libc::off_t = 0;
        let mut left = bytes;
        while left > 0 {
            let count = left.min(1 << 30) as usize;
            // SAFETY: plain syscall on two valid descriptors and a local offset.
            let n =
                unsafe { libc::sendfile(socket.as_raw_fd(), file.as_raw_fd(), &mut offset, count) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file shorter than asked",
                ));
            }
            left -= n as u64;
        }
        Ok(())
    })
}

/// Sends `count` messages of `len` bytes over one loopback TCP connection, each after the
/// answer to the one before came back (an echo on another thread), and returns the time of
/// each round trip.
pub fn tcp_round_trips(len: usize, count: u64) -> io::Result<Vec<Duration>> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let echo = std::thread::spawn(move || -> io::Result<()> {
        let (mut socket, _) = listener.accept()?;
        socket.set_nodelay(true)?;
        let mut message = vec![0u8; len];
        for _ in 0..count {
            socket.read_exact(&mut message)?;
            socket.write_all(&message)?;
        }
        Ok(())
    });
    let mut socket = TcpStream::connect(addr)?;
    socket.set_nodelay(true)?;
    let mut message = vec![0x5au8; len];
    let mut times = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    for _ in 0..count {
        let started = Instant::now();
        socket.write_all(&message)?;
        socket.read_exact(&mut message)?;
        times.push(started.elapsed());
    }
    echo.join()
        .map_err(|_| io::Error::other("echo panicked"))??;
    Ok(times)
}

/// Writes a file of `bytes` bytes at `path`, for [`sendfile_loopback`].
pub fn write_file(path: &Path, bytes: u64) -> io::Result<()> {
    let mut file = File::create(path)?;
    let chunk = vec![0xa5u8; CHUNK];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        file.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    file.sync_all()
}

fn transfer(
    bytes: u64,
    send: impl FnOnce(&mut TcpStream, u64) -> io::Result<()> + Send + 'static,
) -> io::Result<Transfer> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let sender = std::thread::spawn(move || -> io::Result<()> {
        let mut socket = TcpStream::connect(addr)?;
        send(&mut socket, bytes)
    });
    let (mut socket, _) = listener.accept()?;
    let started = Instant::now();
    let mut buffer = vec![0u8; CHUNK];
    let mut received = 0u64;
    while received < bytes {
        let n = socket.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        received += n as u64;
    }
    let elapsed = started.elapsed();
    sender
        .join()
        .map_err(|_| io::Error::other("sender panicked"))??;
    Ok(Transfer {
        bytes: received,
        elapsed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_baselines_move_every_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        write_file(&path, 3 * CHUNK as u64 + 17).unwrap();
        assert_eq!(
            tcp_loopback(2 * CHUNK as u64 + 5).unwrap().bytes,
            2 * CHUNK as u64 + 5
        );
        assert_eq!(
            sendfile_loopback(&path, 3 * CHUNK as u64).unwrap().bytes,
            3 * CHUNK as u64
        );
        let times = tcp_round_trips(100, 50).unwrap();
        assert_eq!(times.len(), 50);
        assert!(times.iter().all(|t| !t.is_zero()), "{times:?}");
    }
}
