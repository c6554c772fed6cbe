//! Kafka's classic consumer-group coordinator (JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
//! OffsetCommit's checks, DescribeGroups, ListGroups, DeleteGroups, OffsetDelete, offset
//! retention) for the groups of ONE partition of `__consumer_offsets`, as a pure state machine:
//! no IO, no clock, no sockets. Every call takes the time ([`Now`]) and returns what is to be
//! done ([`Effect`]): answers to parked requests, and record batches to append to the partition.
//! The shard owns one [`Coordinator`] per offsets partition it leads.
//!
//! Kafka's GroupCoordinator and GroupMetadata (3.x, the classic protocol) are the reference;
//! where this module differs, the item's doc says so and why.
//!
//! | part            | what it owns                                                        |
//! |-----------------|---------------------------------------------------------------------|
//! | `api`           | requests, outcomes, [`Effect`], descriptions: what the shard speaks   |
//! | `member`        | one member: protocols, parked replies, session deadline               |
//! | `state`         | one group: state, generation, leader, members, its timers             |
//! | `coordinator`   | [`Coordinator`]: the groups and offsets of a partition, load, persist |
//! | `join`          | JoinGroup: new, pending, static and known members                     |
//! | `membership`    | SyncGroup, Heartbeat, LeaveGroup, OffsetCommit's checks               |
//! | `rebalance`     | preparing and completing a rebalance, the timers ([`Coordinator::tick`]) |
//! | `admin`         | DescribeGroups, ListGroups, DeleteGroups, OffsetDelete, retention     |
//! | `record`        | the records in `__consumer_offsets` and their replay                  |
//!
//! # Records
//!
//! Each record of `__consumer_offsets` is keyed; the latest record for a key wins and a null
//! value is a tombstone, so the partition can be compacted by key. All integers big-endian;
//! strings are a u16 length then UTF-8, 0xFFFF for null; bytes are a u32 length then the bytes.
//!
//! Key version 1, an offset commit (`crate::offsets`' layout, unchanged, so older logs load):
//!
//! | part  | field        | type                   |
//! |-------|--------------|------------------------|
//! | key   | version      | u8 = 1                 |
//! | key   | group        | string                 |
//! | key   | topic        | string                 |
//! | key   | partition    | u32                    |
//! | value | offset       | i64                    |
//! | value | leader epoch | i32, -1 unknown        |
//! | value | metadata     | nullable string        |
//!
//! The commit's time (what retention counts from) is the record's timestamp, which the shard
//! sets to the wall-clock time of the commit and which compaction keeps.
//!
//! Key version 2, a group's metadata, written whole (one record per group: replay costs what
//! the live groups cost once compacted):
//!
//! | part   | field                | type                                             |
//! |--------|----------------------|--------------------------------------------------|
//! | key    | version              | u8 = 2                                           |
//! | key    | group                | string                                           |
//! | value  | value version        | u8 = 0                                           |
//! | value  | protocol type        | nullable string                                  |
//! | value  | generation           | i32                                              |
//! | value  | protocol             | nullable string                                  |
//! | value  | leader               | nullable string                                  |
//! | value  | state timestamp      | i64, ms since the Unix epoch (when the state began) |
//! | value  | member count         | u32                                              |
//! | member | member id            | string                                           |
//! | member | group instance id    | nullable string                                  |
//! | member | client id            | string                                           |
//! | member | client host          | string                                           |
//! | member | session timeout      | i32, ms                                          |
//! | member | rebalance timeout    | i32, ms                                          |
//! | member | subscription         | bytes (the chosen protocol's metadata)           |
//! | member | assignment           | bytes                                            |
//!
//! Decoding is defensive: a record that does not decode is skipped with a warning; it never
//! fails the load and never panics.

mod admin;
mod api;
mod coordinator;
mod join;
mod member;
mod membership;
mod rebalance;
mod record;
mod state;

#[cfg(test)]
mod coordinator_test;
#[cfg(test)]
mod invariants_test;

use std::time::{Duration, Instant};

pub(crate) use api::{
    Effect, GroupDescription, GroupListing, HeartbeatRequest, JoinOutcome, JoinRequest,
    LeaveRequest, LeavingMember, PersistToken, SyncOutcome, SyncRequest,
};
pub(crate) use coordinator::Coordinator;
pub(crate) use record::Loader;

/// How the coordinator's groups behave; [`Default`] is Kafka's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GroupConfig {
    /// The shortest session timeout a member may ask for (group.min.session.timeout.ms).
    pub min_session_timeout: Duration,
    /// The longest session timeout a member may ask for (group.max.session.timeout.ms).
    pub max_session_timeout: Duration,
    /// How long a group rebalancing from Empty waits for more members before its first
    /// generation, extended by each new member's join (group.initial.rebalance.delay.ms).
    pub initial_rebalance_delay: Duration,
    /// The most members a group may have (group.max.size); `None` is unbounded.
    pub max_size: Option<usize>,
    /// How long an Empty group's offsets (or a simple consumer's commit) are kept
    /// (offsets.retention.minutes, KIP-211 semantics).
    pub offsets_retention: Duration,
    /// How often retention is checked (offsets.retention.check.interval.ms).
    pub offsets_retention_check_interval: Duration,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            min_session_timeout: Duration::from_secs(6),
            max_session_timeout: Duration::from_secs(30 * 60),
            initial_rebalance_delay: Duration::from_secs(3),
            max_size: None,
            offsets_retention: Duration::from_secs(7 * 24 * 3600),
            offsets_retention_check_interval: Duration::from_secs(600),
        }
    }
}

/// A moment as the coordinator sees it. Timers (sessions, rebalances) run on the monotonic
/// `instant`; what outlives the process (record timestamps, when a group became Empty, what
/// retention counts from) is in wall-clock milliseconds. Both come from the caller, so the
/// state machine reads no clock and tests drive time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Now {
    pub instant: Instant,
    /// Milliseconds since the Unix epoch.
    pub wall_ms: i64,
}

impl Now {
    /// `self` moved on by `elapsed`, on both clocks.
    #[cfg(test)]
    pub(crate) fn after(self, elapsed: Duration) -> Now {
        let millis = i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX);
        Now {
            instant: self.instant + elapsed,
            wall_ms: self.wall_ms.saturating_add(millis),
        }
    }
}

/// A group's state, as Kafka names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum GroupState {
    /// No members (a group that only stores offsets is Empty too).
    Empty,
    /// Waiting for the members to (re)join.
    PreparingRebalance,
    /// Joined: waiting for the leader's assignment and its append.
    CompletingRebalance,
    /// Every member has the generation's assignment.
    Stable,
    /// Gone (deleted, expired, or never known).
    Dead,
}

impl GroupState {
    /// The state's name as Kafka spells it (DescribeGroups, ListGroups).
    pub(crate) fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }

    /// The state named `name` (ListGroups v4's filter), case-insensitively as Kafka parses it.
    pub(crate) fn parse(name: &str) -> Option<GroupState> {
        [
            GroupState::Empty,
            GroupState::PreparingRebalance,
            GroupState::CompletingRebalance,
            GroupState::Stable,
            GroupState::Dead,
        ]
        .into_iter()
        .find(|state| state.name().eq_ignore_ascii_case(name))
    }
}
