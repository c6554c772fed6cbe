//! The simulated network and clock: one queue of timed events, messages that are delayed,
//! dropped, duplicated and reordered as the seed decides, and links that can be cut one way or
//! both.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::world::{Event, Message};
use ringlog_replication::BrokerId;

/// Who sends and receives messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Node {
    Broker(BrokerId),
    Controller,
    Client,
}

/// A message in flight.
#[derive(Clone, Debug)]
pub(crate) struct Envelope {
    pub from: Node,
    pub to: Node,
    pub message: Message,
}

/// How the network misbehaves right now.
#[derive(Clone, Debug, Default)]
pub(crate) struct NetFaults {
    pub drop_per_mille: u32,
    pub duplicate_per_mille: u32,
    /// Cut links, one way each: (from, to).
    pub cut: BTreeSet<(Node, Node)>,
    /// Extra delay on everything a node sends or receives (a slow broker).
    pub slow: BTreeMap<Node, u64>,
}

struct Scheduled {
    at: u64,
    seq: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    /// Reversed: the heap pops the earliest event, ties in scheduling order.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

pub(crate) const DELAY_MIN_MS: u64 = 1;
pub(crate) const DELAY_MAX_MS: u64 = 20;

/// The clock, the event queue, the seed's random numbers and the network's faults.
pub(crate) struct Network {
    queue: BinaryHeap<Scheduled>,
    seq: u64,
    pub now: u64,
    pub rng: ChaCha8Rng,
    pub faults: NetFaults,
}

impl Network {
    pub(crate) fn new(rng: ChaCha8Rng) -> Network {
        Network {
            queue: BinaryHeap::new(),
            seq: 0,
            now: 0,
            rng,
            faults: NetFaults::default(),
        }
    }

    pub(crate) fn schedule(&mut self, at: u64, event: Event) {
        self.seq += 1;
        self.queue.push(Scheduled {
            at: at.max(self.now),
            seq: self.seq,
            event,
        });
    }

    pub(crate) fn pop(&mut self) -> Option<(u64, Event)> {
        let next = self.queue.pop()?;
        self.now = next.at;
        Some((next.at, next.event))
    }

    pub(crate) fn next_time(&self) -> Option<u64> {
        self.queue.peek().map(|s| s.at)
    }

    pub(crate) fn is_cut(&self, from: Node, to: Node) -> bool {
        self.faults.cut.contains(&(from, to))
    }

    /// Sends `message`; the seed decides whether it arrives, when, and how many times.
    pub(crate) fn send(&mut self, from: Node, to: Node, message: Message) {
        if self.is_cut(from, to) || self.chance(self.faults.drop_per_mille) {
            return;
        }
        let copies = if self.chance(self.faults.duplicate_per_mille) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let slow = self.faults.slow.get(&from).copied().unwrap_or(0)
                + self.faults.slow.get(&to).copied().unwrap_or(0);
            let delay = self.rng.random_range(DELAY_MIN_MS..=DELAY_MAX_MS) + slow;
            let envelope = Envelope {
                from,
                to,
                message: message.clone(),
            };
            self.schedule(self.now + delay, Event::Deliver(envelope));
        }
    }

    pub(crate) fn chance(&mut self, per_mille: u32) -> bool {
        per_mille > 0 && self.rng.random_range(0..1000) < per_mille
    }

    pub(crate) fn range(&mut self, low: u64, high_inclusive: u64) -> u64 {
        self.rng.random_range(low..=high_inclusive)
    }
}
