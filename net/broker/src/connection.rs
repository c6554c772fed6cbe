//! One client connection on a shard: the bytes received and not yet cut into frames, the
//! responses owed in request order, and the bytes being written.
//!
//! Requests on a connection may be pipelined; responses go back in request order. Each request
//! takes the next sequence number and a place in [`Connection::owed`]; its response fills that
//! place whenever it is ready (a fetch may wait, a partition may live on another shard), and
//! the ready responses at the front move to the write queue. Writes are attempted at once on
//! the non-blocking socket (`send`, or `sendfile` for record bytes straight from a segment
//! file); when the socket is full the shard waits for it to drain through io_uring.
//!
//! A TLS connection runs rustls between the socket and the frontend, and reads record bytes
//! from their file to encrypt them. Where the kernel offers TLS it moves to the kernel's TLS
//! after its handshake ([`crate::ktls`]): from then on it is read and written as a plaintext
//! connection is, `sendfile` included, and the kernel encrypts.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::BytesMut;
use rustls::{ServerConfig, ServerConnection};

use crate::frontend::{ConnState, ListenerKind};
use crate::ktls::{self, RecordBoundary};

/// Bytes received per receive operation at most.
pub(crate) const RECV_BUFFER_BYTES: usize = 64 * 1024;

/// Plaintext handed to rustls at once on a TLS connection: four full TLS records.
pub(crate) const TLS_CHUNK_BYTES: usize = 64 * 1024;

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
    /// From memory (responses' own bytes, and record bytes read for TLS).
    pub copied: u64,
    /// Record bytes sent from their segment file by the kernel.
    pub zero_copy: u64,
    /// Of `copied`, the record bytes read from a segment file (under TLS).
    pub copied_records: u64,
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
    /// The connection is closing: its socket is shut down, nothing more is read or written.
    pub closing: bool,
    /// The connection closes once every response owed is written: its last request was
    /// refused (a failed authentication), and nothing more is read from it.
    pub close_when_written: bool,
    /// rustls between the socket and the frontend, on a TLS listener.
    tls: Option<Box<ServerConnection>>,
    /// Record bytes read from a segment file for `tls` to encrypt.
    tls_scratch: Vec<u8>,
    /// Whether, and how far, the connection has moved to the kernel's TLS.
    kernel_tls: KernelTls,
    /// The TLS handshake is done and the client's certificate, if it showed one, named the
    /// connection's principal.
    certificate_read: bool,
}

/// Where a connection is on its way to the kernel's TLS.
#[derive(Debug)]
enum KernelTls {
    /// Not going: plaintext, or staying in rustls.
    No,
    /// Moves once its handshake is done, at the end of a receive whose ciphertext ends on a
    /// record boundary (followed here).
    Wanted(RecordBoundary),
    /// Moved: the kernel encrypts, and `records_left` more records may be sent before the
    /// connection is closed (the kernel does not update keys).
    On { records_left: u64 },
}

/// Why the bytes received cannot go on.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReceiveError {
    /// The peer sent something TLS refuses: not TLS at all (a plaintext client on a TLS
    /// listener), a certificate not trusted, expired or not its own, a broken record.
    #[error("TLS: {0}")]
    Tls(rustls::Error),
    /// The peer closed its side of TLS (close_notify).
    #[error("the client closed the TLS session")]
    Closed,
    /// Moving the connection to the kernel's TLS failed after its rustls session was handed
    /// over: it cannot go on.
    #[error("moving to the kernel's TLS: {0}")]
    KernelTls(io::Error),
}

impl Connection {
    /// A connection of a listener of `kind`; with `tls`, one that speaks TLS from its first
    /// byte, and moves to the kernel's TLS after its handshake with `kernel_tls`.
    pub(crate) fn new(
        stream: TcpStream,
        peer: SocketAddr,
        generation: u32,
        kind: ListenerKind,
        tls: Option<Arc<ServerConfig>>,
        kernel_tls: bool,
    ) -> io::Result<Connection> {
        stream.set_nonblocking(true)?;
        stream.set_nodelay(true)?;
        let tls = match tls {
            Some(config) => {
                let mut session = ServerConnection::new(config).map_err(io::Error::other)?;
                // What it holds is bounded by the flush, which hands it one chunk at a time
                // and writes it out before the next.
                session.set_buffer_limit(None);
                Some(Box::new(session))
            }
            None => None,
        };
        let kernel_tls = if tls.is_some() && kernel_tls {
            KernelTls::Wanted(RecordBoundary::default())
        } else {
            KernelTls::No
        };
        Ok(Connection {
            stream,
            peer,
            generation,
            frontend: ConnState::new(kind, peer),
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
            close_when_written: false,
            tls,
            tls_scratch: Vec::new(),
            kernel_tls,
            certificate_read: false,
        })
    }

    /// Takes the `len` bytes the last receive put in the receive buffer: into `received`, as
    /// they are or decrypted. On a TLS error the alert rustls has for the peer is sent (best
    /// effort) before the error is returned; the connection is to be closed.
    pub(crate) fn receive(&mut self, len: usize) -> Result<(), ReceiveError> {
        let Some(tls) = self.tls.as_mut() else {
            self.received.extend_from_slice(&self.recv_buffer[..len]);
            return Ok(());
        };
        if let KernelTls::Wanted(boundary) = &mut self.kernel_tls {
            boundary.advance(&self.recv_buffer[..len]);
        }
        let mut incoming = &self.recv_buffer[..len];
        while !incoming.is_empty() {
            // Reading from a slice fails only when rustls's own buffer is full, and the loop
            // empties it below before reading again.
            if let Err(error) = tls.read_tls(&mut incoming) {
                tracing::debug!(%error, "TLS read");
                return Err(ReceiveError::Tls(rustls::Error::General(error.to_string())));
            }
            if let Err(error) = tls.process_new_packets() {
                // The alert saying why, if the socket takes it now; the connection closes.
                let _ = tls.write_tls(&mut SocketWriter(self.stream.as_raw_fd()));
                return Err(ReceiveError::Tls(error));
            }
            let mut plaintext = [0u8; 16 * 1024];
            loop {
                match tls.reader().read(&mut plaintext) {
                    Ok(0) => return Err(ReceiveError::Closed),
                    Ok(n) => self.received.extend_from_slice(&plaintext[..n]),
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                    Err(error) => {
                        return Err(ReceiveError::Tls(rustls::Error::General(error.to_string())));
                    }
                }
            }
        }
        self.read_certificate();
        self.move_to_kernel_tls()
    }

    /// Once the handshake is done: the principal of the client's certificate (its chain
    /// checked by the handshake against the truststore), for a listener without SASL
    /// (`User:CN=...`, as Kafka names it). Before the first request is read: the receive that
    /// finishes the handshake can carry one.
    fn read_certificate(&mut self) {
        let Some(tls) = self.tls.as_ref() else {
            return;
        };
        if self.certificate_read || tls.is_handshaking() {
            return;
        }
        self.certificate_read = true;
        let Some(certificate) = tls.peer_certificates().and_then(|chain| chain.first()) else {
            return;
        };
        match ringlog_security::certificate::principal(certificate) {
            Ok(principal) => {
                tracing::debug!(peer = %self.peer, %principal, "TLS: the client's certificate names it");
                self.frontend.authentication().certificate(principal);
            }
            Err(error) => {
                tracing::info!(peer = %self.peer, %error, "TLS: the client's certificate names no principal: it is User:ANONYMOUS");
            }
        }
    }

    /// Hands the connection's record layer to the kernel if it is to go and can now (see
    /// [`crate::ktls`]): its handshake is done, the bytes received so far end on a record
    /// boundary (rustls holds no part of a record), their plaintext is taken, and rustls's own
    /// records are written. Called where no receive is in flight, so no ciphertext can be
    /// read past rustls. A socket too full for rustls's records leaves it for a later receive.
    fn move_to_kernel_tls(&mut self) -> Result<(), ReceiveError> {
        let (KernelTls::Wanted(boundary), Some(tls)) = (&self.kernel_tls, self.tls.as_mut()) else {
            return Ok(());
        };
        if tls.is_handshaking() || !boundary.at_boundary() {
            return Ok(());
        }
        let (Some(suite), Some(version)) = (tls.negotiated_cipher_suite(), tls.protocol_version())
        else {
            return Ok(());
        };
        if ktls::cipher_of(suite.suite()).is_none() {
            tracing::debug!(peer = %self.peer, suite = ?suite.suite(), "TLS: a suite the kernel does not take: staying in rustls");
            self.kernel_tls = KernelTls::No;
            return Ok(());
        }
        while tls.wants_write() {
            match tls.write_tls(&mut SocketWriter(self.stream.as_raw_fd())) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ReceiveError::KernelTls(e)),
            }
        }
        let tls = self.tls.take().expect("checked above");
        let secrets = tls
            .dangerous_extract_secrets()
            .map_err(|error| ReceiveError::KernelTls(io::Error::other(error)))?;
        ktls::offload(self.stream.as_raw_fd(), version, secrets)
            .map_err(ReceiveError::KernelTls)?;
        tracing::debug!(peer = %self.peer, suite = ?suite.suite(), "TLS: moved to the kernel's TLS");
        self.kernel_tls = KernelTls::On {
            records_left: ktls::records_budget(suite),
        };
        Ok(())
    }

    /// Whether the kernel does this connection's TLS.
    pub(crate) fn kernel_tls(&self) -> bool {
        matches!(self.kernel_tls, KernelTls::On { .. })
    }

    /// `bytes` went out in one send under the kernel's TLS: counted against the records the
    /// key may still encrypt; at the end of them the connection closes once written.
    fn count_kernel_records(&mut self, bytes: u64) {
        if let KernelTls::On { records_left } = &mut self.kernel_tls {
            *records_left = records_left.saturating_sub(ktls::records_sent(bytes));
            if *records_left == 0 && !self.close_when_written {
                tracing::info!(peer = %self.peer, "TLS: the kernel's key has encrypted as many records as it may: closing the connection once written");
                self.close_when_written = true;
            }
        }
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }

    /// Requests whose responses are not fully written yet.
    pub(crate) fn in_flight(&self) -> usize {
        self.owed.len()
    }

    /// Whether anything is queued to write: responses, or TLS's own records (its handshake).
    pub(crate) fn has_output(&self) -> bool {
        !self.out.is_empty() || self.tls.as_ref().is_some_and(|tls| tls.wants_write())
    }

    /// Whether the connection is to close now: it was to close once written
    /// ([`Self::close_when_written`]), and every response owed is.
    pub(crate) fn written_out(&self) -> bool {
        self.close_when_written && self.owed.is_empty() && !self.has_output()
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
        if self.tls.is_some() {
            return self.flush_tls();
        }
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
                    self.count_kernel_records(n);
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

    /// [`Self::flush`] through TLS: rustls's records go out first, then the next chunk of the
    /// responses is encrypted, until the socket is full or nothing is left. Every byte counts
    /// as copied.
    fn flush_tls(&mut self) -> io::Result<(FlushState, Written)> {
        let mut written = Written::default();
        let socket = self.stream.as_raw_fd();
        let tls = self.tls.as_mut().expect("a TLS connection");
        loop {
            while tls.wants_write() {
                match tls.write_tls(&mut SocketWriter(socket)) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        return Ok((FlushState::Blocked, written));
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            let Some(piece) = self.out.front() else {
                return Ok((FlushState::Done, written));
            };
            let remaining = piece.len() - self.out_offset;
            if remaining == 0 {
                self.out.pop_front();
                self.out_offset = 0;
                continue;
            }
            let chunk = remaining.min(TLS_CHUNK_BYTES as u64) as usize;
            let plaintext: &[u8] = match piece {
                OutPiece::Bytes(bytes) => {
                    let start = self.out_offset as usize;
                    &bytes[start..start + chunk]
                }
                OutPiece::File { file, position, .. } => {
                    self.tls_scratch.resize(chunk, 0);
                    file.read_exact_at(&mut self.tls_scratch, position + self.out_offset)
                        .map_err(|error| {
                            io::Error::new(
                                error.kind(),
                                format!(
                                    "reading {chunk} record bytes at file position {} for \
                                     TLS: {error}",
                                    position + self.out_offset
                                ),
                            )
                        })?;
                    &self.tls_scratch
                }
            };
            // Without a buffer limit rustls takes it all.
            let taken = tls.writer().write(plaintext)? as u64;
            self.out_offset += taken;
            written.copied += taken;
            if matches!(piece, OutPiece::File { .. }) {
                written.copied_records += taken;
            }
        }
    }
}

/// The socket as rustls's output: non-blocking `send` without SIGPIPE.
struct SocketWriter(RawFd);

impl Write for SocketWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        send(self.0, bytes).map(|n| n as usize)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
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
