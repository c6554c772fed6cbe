//! The producer ids this broker hands out to idempotent producers (InitProducerId), pure: the
//! block the controller quorum allocated it, the block after it, and the requests waiting for
//! an id. The agent runs it: it asks the controller for blocks when [`ProducerIdPool::wants_block`]
//! says so, feeds requests, blocks and the clock in, and sends the answers out.
//!
//! The rules are those of Kafka's `RPCProducerIdManager` (KIP-730):
//!
//! - Ids are taken in order from the current block; every id of every block is taken once.
//!   Blocks come from the controller, which never gives an id twice (its
//!   `MetadataCommand::AllocateProducerIds`), so no two brokers, nor two lives of one, give
//!   the same id.
//! - Once [`PREFETCH_PERCENT`] of the current block is taken, the next block is asked for (one
//!   request to the controller at a time), so a busy broker rarely runs out; it waits behind
//!   the current block until that one is used up.
//! - With no id left, a request waits for the next block until its deadline (the broker's
//!   `request_timeout_ms`), then is answered with none: the frontends refuse it with
//!   COORDINATOR_LOAD_IN_PROGRESS, which clients retry. Kafka refuses at once; waiting spares a
//!   client's retry after every start of a broker, whose first block comes in milliseconds.

use std::collections::VecDeque;
use std::time::Instant;

use ringlog_controller::ProducerIdBlock;

/// How many ids a block holds: Kafka's block size.
pub(crate) const PRODUCER_ID_BLOCK_LEN: u32 = 1000;
const _: () = assert!(PRODUCER_ID_BLOCK_LEN <= ringlog_controller::PRODUCER_ID_BLOCK_LEN_MAX);

/// The share of a block taken before the next one is asked for, as Kafka's 0.90.
pub(crate) const PREFETCH_PERCENT: u64 = 90;

/// The most requests that wait for a block; more are answered at once with none.
pub(crate) const WAITING_MAX: usize = 10_000;

/// A request's answer: its waiter and the id it got, `None` when it got none (its deadline
/// passed, or too many were waiting).
pub(crate) type Answer<W> = (W, Option<i64>);

/// A broker's producer ids: what is left of its blocks, and the requests waiting for one.
/// `W` is what a waiting request is answered through.
#[derive(Debug)]
pub(crate) struct ProducerIdPool<W> {
    /// The block ids are taken from, and the next id it gives.
    current: Option<(ProducerIdBlock, i64)>,
    /// The block after the current one, once it came.
    next_block: Option<ProducerIdBlock>,
    /// A block was asked for and its answer has not come.
    asking: bool,
    /// In arrival order, each with its deadline.
    waiting: VecDeque<(W, Instant)>,
}

impl<W> ProducerIdPool<W> {
    /// A pool with no block yet.
    pub(crate) fn new() -> ProducerIdPool<W> {
        ProducerIdPool {
            current: None,
            next_block: None,
            asking: false,
            waiting: VecDeque::new(),
        }
    }

    /// A request for an id, answered at once if there is one (or if too many wait), else
    /// waiting for the next block until `deadline`.
    pub(crate) fn request(&mut self, waiter: W, deadline: Instant) -> Option<Answer<W>> {
        if self.waiting.is_empty()
            && let Some(id) = self.take()
        {
            return Some((waiter, Some(id)));
        }
        if self.waiting.len() >= WAITING_MAX {
            return Some((waiter, None));
        }
        self.waiting.push_back((waiter, deadline));
        self.check_invariants();
        None
    }

    /// Whether to ask the controller for a block now: none is asked for or held in reserve,
    /// and the current one is used up to [`PREFETCH_PERCENT`]; before the first block, once a
    /// request waits for it (a broker no producer asks allocates no ids, as in Kafka).
    pub(crate) fn wants_block(&self) -> bool {
        if self.asking || self.next_block.is_some() {
            return false;
        }
        match self.current {
            None => !self.waiting.is_empty(),
            Some((block, next)) => {
                let taken = u64::try_from(next - block.first).expect("next is in the block");
                taken * 100 >= block.len() * PREFETCH_PERCENT
            }
        }
    }

    /// A block was asked for.
    pub(crate) fn asked(&mut self) {
        debug_assert!(!self.asking, "one block is asked for at a time");
        self.asking = true;
    }

    /// The asked-for block came: it serves the waiting requests, in arrival order.
    ///
    /// # Panics
    ///
    /// When `block` is empty or starts before the end of a block this pool had: the
    /// controller gives each id once, so either is a bug.
    pub(crate) fn received(&mut self, block: ProducerIdBlock) -> Vec<Answer<W>> {
        assert!(!block.is_empty(), "an empty producer id block {block:?}");
        assert!(
            self.next_block.is_none(),
            "a block is asked for only when none is in reserve"
        );
        let held_end = self
            .next_block
            .or(self.current.map(|(b, _)| b))
            .map(|b| b.end);
        if let Some(end) = held_end {
            assert!(
                block.first >= end,
                "producer id block {block:?} starts before the end {end} of a block already held"
            );
        }
        self.asking = false;
        self.next_block = Some(block);
        let mut answers = Vec::new();
        while !self.waiting.is_empty()
            && let Some(id) = self.take()
        {
            let (waiter, _) = self.waiting.pop_front().expect("not empty");
            answers.push((waiter, Some(id)));
        }
        self.check_invariants();
        answers
    }

    /// The asked-for block did not come (the controller refused, or could not be reached).
    pub(crate) fn failed(&mut self) {
        self.asking = false;
    }

    /// The waiting requests whose deadline is `now` or earlier, answered with none.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<Answer<W>> {
        let (expired, waiting): (VecDeque<_>, VecDeque<_>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|(_, deadline)| *deadline <= now);
        self.waiting = waiting;
        expired
            .into_iter()
            .map(|(waiter, _)| (waiter, None))
            .collect()
    }

    /// The earliest deadline of a waiting request.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.waiting.iter().map(|(_, deadline)| *deadline).min()
    }

    /// The next id, moving on to the next block when the current one is used up.
    fn take(&mut self) -> Option<i64> {
        let used_up = self.current.is_none_or(|(block, next)| next >= block.end);
        if used_up {
            let block = self.next_block.take()?;
            self.current = Some((block, block.first));
        }
        let (_, next) = self.current.as_mut().expect("a current block");
        let id = *next;
        *next += 1;
        Some(id)
    }

    /// Panics unless the next id is within the current block, the next block follows it, and
    /// requests wait only while there is no id to give.
    fn check_invariants(&self) {
        if !cfg!(debug_assertions) {
            return;
        }
        if let Some((block, next)) = self.current {
            assert!(
                block.first <= next && next <= block.end,
                "next id {next} outside {block:?}"
            );
            if let Some(following) = self.next_block {
                assert!(
                    following.first >= block.end,
                    "{following:?} after {block:?}"
                );
            }
        }
        let has_id =
            self.next_block.is_some() || self.current.is_some_and(|(block, next)| next < block.end);
        assert!(
            self.waiting.is_empty() || !has_id,
            "{} requests wait while there is an id",
            self.waiting.len()
        );
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn block(first: i64, end: i64) -> ProducerIdBlock {
        ProducerIdBlock { first, end }
    }

    #[test]
    fn ids_come_in_order_and_the_next_block_is_asked_for_at_ninety_percent() {
        let now = Instant::now();
        let mut pool = ProducerIdPool::new();
        assert!(!pool.wants_block(), "no block before a request");
        assert_eq!(pool.request(-1, now), None);
        assert!(pool.wants_block(), "a request waits for the first block");
        pool.asked();
        assert!(!pool.wants_block(), "one request at a time");
        assert_eq!(pool.received(block(0, 10)), vec![(-1, Some(0))]);
        for id in 1..9 {
            assert_eq!(pool.request(id, now), Some((id, Some(id as i64))));
            assert_eq!(pool.wants_block(), id == 8, "after id {id}");
        }
        pool.asked();
        // The next block waits behind the current one's last id.
        assert!(pool.received(block(2000, 2010)).is_empty());
        assert!(!pool.wants_block());
        assert_eq!(pool.request(9, now), Some((9, Some(9))));
        assert_eq!(pool.request(10, now), Some((10, Some(2000))));
        assert!(!pool.wants_block());
    }

    #[test]
    fn requests_wait_for_a_block_in_order_until_their_deadline() {
        let now = Instant::now();
        let second = Duration::from_secs(1);
        let mut pool = ProducerIdPool::new();
        assert_eq!(pool.request("a", now + second), None);
        assert_eq!(pool.request("b", now + 3 * second), None);
        assert_eq!(pool.request("c", now + 2 * second), None);
        assert_eq!(pool.next_deadline(), Some(now + second));
        assert_eq!(pool.expire(now + second), vec![("a", None)]);
        assert_eq!(pool.next_deadline(), Some(now + 2 * second));
        pool.asked();
        pool.failed();
        assert!(pool.wants_block(), "asked again after a failure");
        pool.asked();
        let answers = pool.received(block(5, 6));
        assert_eq!(answers, vec![("b", Some(5))]);
        // "c" waits on for the next block, asked for at once: this one is used up.
        assert!(pool.wants_block());
        pool.asked();
        assert_eq!(pool.request("d", now), None, "behind c");
        assert_eq!(
            pool.received(block(6, 1006)),
            vec![("c", Some(6)), ("d", Some(7))]
        );
        assert_eq!(pool.next_deadline(), None);
        assert!(pool.expire(now + 10 * second).is_empty());
    }

    #[test]
    fn too_many_waiting_requests_are_answered_with_none_at_once() {
        let now = Instant::now();
        let mut pool = ProducerIdPool::new();
        for waiter in 0..WAITING_MAX {
            assert_eq!(pool.request(waiter, now), None);
        }
        assert_eq!(pool.request(WAITING_MAX, now), Some((WAITING_MAX, None)));
    }

    #[test]
    #[should_panic(expected = "starts before the end 10 of a block already held")]
    fn a_block_overlapping_one_held_is_a_bug() {
        let mut pool = ProducerIdPool::new();
        pool.asked();
        pool.received(block(0, 10));
        assert_eq!(pool.request((), Instant::now()), Some(((), Some(0))));
        pool.asked();
        pool.received(block(5, 15));
    }
}
