//! One client connection on a shard: the bytes received and not yet cut into frames, the
//! responses owed in request order, and the bytes being written.
//!
//! Requests on a connection may be pipelined; responses go back in request order. Each request
//! takes the next sequence number and a place in [`Connection::owed`]; its response fills that
//! place whenever it is ready (a fetch may wait, a partition may live on another shard), and
//! the ready responses at the front move to the write queue. Writes are attempted at once on
//! the non-blocking socket (`send`, or `sendfile` for record bytes straight from a segment
//! file); when the socket is full the shard waits for it to drain through io_uring.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;

use bytes::BytesMut;

use crate::frontend::{ConnState, Protocol};

/// Bytes received per receive operation at most.
pub(crate) const RECV_BUFFER_BYTES: usize = 64 * 1024;

/// A piece of a response, in sending order.
#[derive(Debug)]
pub(crate) enum OutPiece {
    Bytes(Vec<u8>),
    /// Record bytes sent from the segment file with `sendfile` (zero copy).
    File {
        file: Arc<File>,
        position: u64,
        len: u64,
    },
}

impl OutPiece {
    pub(crate) fn len(&self) -> u64 {
        match self {
            OutPiece::Bytes(bytes) => bytes.len() as u64,
            OutPiece::File { len, .. } => *len,
        }
    }
}

/// How many bytes a flush moved, and how.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Written {
    pub copied: u64,
    pub zero_copy: u64,
}

/// What a flush left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FlushState {
    /// Everything queued is written.
    Done,
    /// The socket is full: wait until it is writable.
    Blocked,
}

/// A response owed to the client, in request order.
#[derive(Debug)]
struct Owed {
    seq: u64,
    /// The request frame's size: what it holds in memory until answered.
    request_bytes: usize,
    response: Option<Vec<OutPiece>>,
}

/// One connection. See the module docs.
#[derive(Debug)]
pub(crate) struct Connection {
    pub stream: TcpStream,
    pub peer: SocketAddr,
    pub generation: u32,
    /// What its protocol's frontend (the listener's) keeps of it between requests (Kafka's
    /// fetch session).
    pub frontend: ConnState,
    /// The receive buffer the kernel fills; never resized while a receive is in flight.
    pub recv_buffer: Box<[u8]>,
    pub recv_in_flight: bool,
    pub poll_in_flight: bool,
    /// Received bytes not yet cut into frames.
    pub received: BytesMut,
    next_seq: u64,
    owed: VecDeque<Owed>,
    owed_bytes: usize,
    out: VecDeque<OutPiece>,
    /// How far into `out`'s first piece the socket has taken.
    out_offset: u64,
    /// The connection must close once what is owed before this is written (a frame that
    /// cannot be cut was received).
    pub closing: bool,
}

impl Connection {
    pub(crate) fn new(
        stream: TcpStream,
        peer: SocketAddr,
        generation: u32,
        protocol: Protocol,
    ) -> io::Result<Connection> {
        stream.set_nonblocking(true)?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream,
            peer,
            generation,
            frontend: ConnState::new(protocol, peer),
            recv_buffer: vec![0; RECV_BUFFER_BYTES].into_boxed_slice(),
            recv_in_flight: false,
            poll_in_flight: false,
            received: BytesMut::new(),
            next_seq: 0,
            owed: VecDeque::new(),
            owed_bytes: 0,
            out: VecDeque::new(),
            out_offset: 0,
            closing: false,
        })
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }

    /// Requests whose responses are not fully written yet.
    pub(crate) fn in_flight(&self) -> usize {
        self.owed.len()
    }

    /// Whether anything is queued to write.
    pub(crate) fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// Takes a place for the next request's response; returns its sequence number.
    pub(crate) fn owe(&mut self, request_bytes: usize) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.owed_bytes += request_bytes;
        self.owed.push_back(Owed {
            seq,
            request_bytes,
            response: None,
        });
        seq
    }

    /// The sequence numbers of the requests read and not yet answered, oldest first.
    pub(crate) fn unanswered(&self) -> impl Iterator<Item = u64> + '_ {
        self.owed
            .iter()
            .filter(|o| o.response.is_none())
            .map(|o| o.seq)
    }

    /// Bytes of the requests read and not yet answered.
    pub(crate) fn owed_bytes(&self) -> usize {
        self.owed_bytes
    }

    /// The response to request `seq` is ready: the ready ones at the front move to the write
    /// queue. A sequence number no longer owed (the connection was reset) is ignored.
    pub(crate) fn fulfil(&mut self, seq: u64, response: Vec<OutPiece>) {
        if let Some(owed) = self.owed.iter_mut().find(|o| o.seq == seq) {
            owed.response = Some(response);
        }
        while self.owed.front().is_some_and(|o| o.response.is_some()) {
            let owed = self.owed.pop_front().expect("checked");
            self.owed_bytes -= owed.request_bytes;
            self.out.extend(owed.response.expect("checked"));
        }
    }

    /// Writes as much as the socket takes now.
    pub(crate) fn flush(&mut self) -> io::Result<(FlushState, Written)> {
        let mut written = Written::default();
        while let Some(piece) = self.out.front() {
            let remaining = piece.len() - self.out_offset;
            if remaining == 0 {
                self.out.pop_front();
                self.out_offset = 0;
                continue;
            }
            let result = match piece {
                OutPiece::Bytes(bytes) => send(self.fd(), &bytes[self.out_offset as usize..]),
                OutPiece::File {
                    file,
                    position,
                    len: _,
                } => sendfile(self.fd(), file, position + self.out_offset, remaining),
            };
            match result {
                Ok(n) => {
                    match piece {
                        OutPiece::Bytes(_) => written.copied += n,
                        OutPiece::File { .. } => written.zero_copy += n,
                    }
                    self.out_offset += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Ok((FlushState::Blocked, written));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok((FlushState::Done, written))
    }
}

/// `send(2)` without SIGPIPE; `Ok(0)` is never returned for a non-empty buffer.
fn send(socket: RawFd, bytes: &[u8]) -> io::Result<u64> {
    // SAFETY: `bytes` is a valid readable buffer for the duration of the call.
    let n = unsafe {
        libc::send(
            socket,
            bytes.as_ptr().cast(),
            bytes.len(),
            libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as u64)
}

/// `sendfile(2)` of `len` bytes of `file` from `position`: the kernel copies page cache to
/// socket, no user-space copy. A file shorter than asked (truncated under us) is an error.
fn sendfile(socket: RawFd, file: &File, position: u64, len: u64) -> io::Result<u64> {
    let mut offset = libc::off_t::try_from(position)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file position too large"))?;
    let count = usize::try_from(len.min(1 << 30)).expect("bounded");
    // SAFETY: plain syscall on two valid descriptors and a local offset.
    let n = unsafe { libc::sendfile(socket, file.as_raw_fd(), &mut offset, count) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!(
                "sendfile: segment ended at file position {position} with {len} bytes still to send"
            ),
        ));
    }
    Ok(n as u64)
}
