//! The shard's io_uring: what it submits and how completions find their way back.
//!
//! Each submission carries a [`Token`] in its user data: what kind of operation it is and the
//! connection slot and generation it belongs to, so a completion for a connection that has
//! since closed (and whose slot was reused) is recognised and dropped. The buffers the kernel
//! reads from or writes into belong to the shard's connections and are kept alive, unmoved,
//! until their completion is reaped: that is the one rule every `unsafe` block here relies on.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use io_uring::{IoUring, opcode, squeue, types};

/// The depth of each shard's ring.
pub(crate) const RING_ENTRIES: u32 = 1024;

/// What a completion is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Accept,
    /// A connection's receive into its read buffer.
    Recv,
    /// A connection's socket became writable again.
    PollOut,
    /// The shard's inbox eventfd was written (a message from another shard, or stop).
    Wake,
}

/// Where a token's op sits in the user data: the top 8 bits.
const OP_SHIFT: u32 = 56;
/// Where a token's connection slot sits: the bits between the op and the generation (the low
/// 32 bits).
const SLOT_SHIFT: u32 = 32;
/// The bits of a connection slot in a token.
pub(crate) const SLOT_BITS: u32 = OP_SHIFT - SLOT_SHIFT;
/// How many connection slots a shard can number (0 ..= 2^24 - 1): `max_connections` is held to
/// it, as a shard's slots are at most the broker's connections.
pub(crate) const CONNECTION_SLOTS: u32 = 1 << SLOT_BITS;
const SLOT_MASK: u64 = CONNECTION_SLOTS as u64 - 1;

/// The user data of one submission: the op, and the connection slot and generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    pub op: Op,
    /// Below [`CONNECTION_SLOTS`].
    pub slot: u32,
    pub generation: u32,
}

impl Token {
    /// # Panics
    /// When the slot is past [`CONNECTION_SLOTS`]: cut to its bits, it would name another
    /// connection.
    pub(crate) fn encode(self) -> u64 {
        assert!(
            self.slot < CONNECTION_SLOTS,
            "connection slot {} does not fit the {SLOT_BITS} bits of a ring token",
            self.slot
        );
        let op = match self.op {
            Op::Accept => 0u64,
            Op::Recv => 1,
            Op::PollOut => 2,
            Op::Wake => 3,
        };
        op << OP_SHIFT | u64::from(self.slot) << SLOT_SHIFT | u64::from(self.generation)
    }

    /// # Panics
    /// On an op this shard never submits: every completion carries a token it encoded, so
    /// another value is a bug (taking it for a wake-up would hide it).
    pub(crate) fn decode(user_data: u64) -> Token {
        let op = match user_data >> OP_SHIFT {
            0 => Op::Accept,
            1 => Op::Recv,
            2 => Op::PollOut,
            3 => Op::Wake,
            other => panic!("unknown ring op {other} in completion user data {user_data:#018x}"),
        };
        Token {
            op,
            slot: ((user_data >> SLOT_SHIFT) & SLOT_MASK) as u32,
            generation: user_data as u32,
        }
    }
}

/// The shard's ring.
pub(crate) struct Ring {
    ring: IoUring,
}

impl Ring {
    pub(crate) fn new() -> io::Result<Ring> {
        Ok(Ring {
            ring: IoUring::new(RING_ENTRIES)?,
        })
    }

    /// Accepts the next connection on `listener`.
    pub(crate) fn accept(&mut self, listener: RawFd, token: Token) -> io::Result<()> {
        let entry = opcode::Accept::new(
            types::Fd(listener),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
        .flags(libc::SOCK_CLOEXEC)
        .build();
        // SAFETY: accept writes no memory of ours (null address pointers).
        unsafe { self.push(entry, token) }
    }

    /// Receives into `buf`.
    ///
    /// # Safety
    /// `buf` must stay valid and unmoved until this operation's completion is reaped.
    pub(crate) unsafe fn recv(
        &mut self,
        socket: RawFd,
        buf: &mut [u8],
        token: Token,
    ) -> io::Result<()> {
        let len = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        let entry = opcode::Recv::new(types::Fd(socket), buf.as_mut_ptr(), len).build();
        // SAFETY: the caller keeps `buf` alive and in place until the completion.
        unsafe { self.push(entry, token) }
    }

    /// Waits for `socket` to become writable.
    pub(crate) fn poll_out(&mut self, socket: RawFd, token: Token) -> io::Result<()> {
        let entry = opcode::PollAdd::new(types::Fd(socket), libc::POLLOUT as u32).build();
        // SAFETY: poll touches no memory of ours.
        unsafe { self.push(entry, token) }
    }

    /// Reads the eventfd's counter into `buf`.
    ///
    /// # Safety
    /// `buf` must stay valid and unmoved until this operation's completion is reaped.
    pub(crate) unsafe fn read_eventfd(
        &mut self,
        eventfd: RawFd,
        buf: &mut [u8; 8],
        token: Token,
    ) -> io::Result<()> {
        let entry = opcode::Read::new(types::Fd(eventfd), buf.as_mut_ptr(), 8).build();
        // SAFETY: the caller keeps `buf` alive and in place until the completion.
        unsafe { self.push(entry, token) }
    }

    /// # Safety
    /// Whatever memory `entry` points to stays valid until its completion is reaped.
    unsafe fn push(&mut self, entry: squeue::Entry, token: Token) -> io::Result<()> {
        let entry = entry.user_data(token.encode());
        loop {
            // SAFETY: forwarded from the caller.
            match unsafe { self.ring.submission().push(&entry) } {
                Ok(()) => return Ok(()),
                // The submission queue is full: hand what is there to the kernel and retry.
                Err(_) => {
                    self.ring.submit()?;
                }
            }
        }
    }

    /// Submits what is queued and waits for at least one completion, or `timeout`.
    pub(crate) fn submit_and_wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let result = match timeout {
            Some(timeout) => {
                let ts = types::Timespec::new()
                    .sec(timeout.as_secs())
                    .nsec(timeout.subsec_nanos());
                let args = types::SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(1, &args)
            }
            None => self.ring.submit_and_wait(1),
        };
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ETIME) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The completions ready now: (token, result).
    pub(crate) fn completions(&mut self) -> Vec<(Token, i32)> {
        self.ring
            .completion()
            .map(|cqe| (Token::decode(cqe.user_data()), cqe.result()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        for op in [Op::Accept, Op::Recv, Op::PollOut, Op::Wake] {
            let token = Token {
                op,
                slot: 0x00ab_cdef,
                generation: 0xdead_beef,
            };
            assert_eq!(Token::decode(token.encode()), token);
        }
    }

    #[test]
    fn the_last_slot_round_trips() {
        let token = Token {
            op: Op::Recv,
            slot: CONNECTION_SLOTS - 1,
            generation: u32::MAX,
        };
        assert_eq!(Token::decode(token.encode()), token);
    }

    #[test]
    #[should_panic(expected = "connection slot 16777216 does not fit the 24 bits")]
    fn a_slot_past_the_token_bits_is_not_cut() {
        Token {
            op: Op::Recv,
            slot: CONNECTION_SLOTS,
            generation: 1,
        }
        .encode();
    }

    #[test]
    #[should_panic(expected = "unknown ring op 4")]
    fn an_unknown_op_does_not_decode_as_a_wake() {
        Token::decode(4 << 56 | 0x0000_0001_0000_0002);
    }
}
