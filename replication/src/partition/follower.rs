//! A follower of one partition: it fetches from the leader in a loop, appends what it is sent,
//! truncates where its log diverges from the leader's, and keeps the high watermark the leader
//! reports (`docs/replication.md`).
//!
//! - **One fetch in flight.** Each fetch has a [`FetchId`]; a response to any other id (late,
//!   duplicated, or from an earlier leadership) is dropped. Ids must not repeat over the
//!   replica's life, across leaderships ([`Follower::starting_fetch_ids_at`]): an answer from
//!   the previous leader must never pass for one from the current. A fetch unanswered for
//!   `fetch_timeout` is sent again under a new id.
//! - **Records** must continue the log exactly (first base offset = log end offset, batches
//!   contiguous, epochs not going back nor past the leader's); anything else is dropped and
//!   fetched again, so a broken response never reaches the log.
//! - **Diverging epoch**: the leader says its log holds epoch `E` only up to `X`. The follower
//!   looks up where `E` ends in its own log and truncates to the smaller of the two, never to
//!   its high watermark: that is the rule that removes the offsets-100-to-200 divergence of the
//!   seeds' example. If the follower has no data of `E` itself, it truncates to the end of the
//!   largest epoch it has below `E` and asks again.
//! - **High watermark** = min(the leader's, own log end offset). It only moves back when a
//!   truncation cuts below it (an unclean election's loss).
//! - **Log start** follows the leader's (DeleteRecords, retention), capped at the high
//!   watermark: records response by records response, the log drops what the leader dropped,
//!   and each fetch reports where this log starts, which the leader waits for before it
//!   answers a DeleteRecords ([`super::delete`]).
//! - A refused fetch (fenced, unknown epoch, not the leader) waits `fetch_backoff`: the
//!   follower's view of the partition is stale, and the broker replaces this follower when the
//!   controller's new state arrives ([`super::Replica`]).
//!
//! Intents are carried out in order before the next input: an `AppendReplicated` has happened
//! when the next `SendFetch` is sent, so the fetch offset a follower reports is what its log
//! holds. A `Truncate` is reported back ([`FollowerInput::Truncated`], with the log as it is)
//! before the next fetch goes out: a truncation point inside one of this log's batches takes
//! the batch whole (the leader tells where an epoch ends in its log, and a log start moved
//! inside a batch, or a follower that restarted at one, can put that inside a batch here), so
//! only the log knows where it then ends.

use std::time::Duration;

use super::fetch::{BatchMeta, DivergingEpoch, FetchError, FollowerFetchRequest};
use super::log_state::LogState;
use crate::types::{BrokerId, LeaderEpoch, Millis, Offset};

/// A follower's settings (Kafka's `replica.fetch.*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FollowerConfig {
    /// How long a fetch may go unanswered before it is sent again.
    pub fetch_timeout: Duration,
    /// How long to wait after a refused or unusable response (`replica_fetch_backoff_ms`).
    pub fetch_backoff: Duration,
    /// **Test only.** Truncates to the high watermark on becoming a follower and when told the
    /// logs diverge, instead of to the diverging epoch's end offset: the unsafe rule Kafka used
    /// before leader epochs (KIP-101). It exists so the simulator can prove it catches a broken
    /// follower; nothing else may set it.
    #[doc(hidden)]
    pub test_only_truncate_to_high_watermark: bool,
}

impl Default for FollowerConfig {
    fn default() -> Self {
        FollowerConfig {
            fetch_timeout: Duration::from_secs(30),
            fetch_backoff: Duration::from_secs(1),
            test_only_truncate_to_high_watermark: false,
        }
    }
}

/// The broker's name for one fetch this follower sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FetchId(pub u64);

/// What the leader answered, as the follower receives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchResponse {
    /// Batches from the fetch offset on (possibly none), the leader's high watermark and its
    /// log start offset.
    Records {
        batches: Vec<BatchMeta>,
        high_watermark: Offset,
        log_start_offset: Offset,
    },
    /// The logs diverge: truncate, then fetch again.
    Diverging {
        diverging: DivergingEpoch,
        high_watermark: Offset,
    },
    /// The leader no longer holds the fetch offset: its log starts at `log_start_offset`.
    OffsetOutOfRange { log_start_offset: Offset },
    /// The fetch was refused.
    Refused(FetchError),
}

/// What happened, for the follower to react to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FollowerInput {
    /// Time passed.
    Tick { now: Millis },
    /// The answer to fetch `fetch_id` arrived.
    FetchResponse {
        fetch_id: FetchId,
        response: FetchResponse,
        now: Millis,
    },
    /// The [`FollowerOutput::Truncate`] asked for is done: the log is now `log`.
    Truncated { log: LogState },
}

/// What the broker must do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FollowerOutput {
    /// Send this fetch to the leader.
    SendFetch {
        fetch_id: FetchId,
        leader: BrokerId,
        request: FollowerFetchRequest,
    },
    /// Append the batches of the response being handled, from `base_offset` up to
    /// `end_offset`, with the engine's replicated append.
    AppendReplicated {
        base_offset: Offset,
        end_offset: Offset,
    },
    /// Truncate the log to end at `end_offset`, or below it at the start of the batch it
    /// falls inside, then report [`FollowerInput::Truncated`].
    Truncate { end_offset: Offset },
    /// Empty the log and restart it at `offset` (the leader's log start moved past this one's
    /// end).
    TruncateFullyAndStartAt { offset: Offset },
    /// The high watermark moved here.
    HighWatermark(Offset),
    /// Move the log's start up to here (the leader's moved): the records below are gone for
    /// readers, the segments wholly below deleted.
    AdvanceLogStart(Offset),
}

/// A follower of one partition. See the module docs.
#[derive(Clone, Debug)]
pub struct Follower {
    me: BrokerId,
    config: FollowerConfig,
    leader: BrokerId,
    leader_epoch: LeaderEpoch,
    log: LogState,
    /// The fetch awaiting its answer and when it was sent.
    in_flight: Option<(FetchId, Millis)>,
    next_fetch_id: u64,
    /// No fetch before this time (backoff after a refusal).
    fetch_not_before: Millis,
    /// Whether the test-only truncation to the high watermark on becoming a follower is done.
    started: bool,
    /// A truncation asked of the log and not yet reported, and when: no fetch goes out until
    /// it is, since the fetch offset must be where the log really ends.
    truncating: Option<Millis>,
}

impl Follower {
    /// Follows `leader` in `leader_epoch` over `log`. The first fetch goes out at the first
    /// tick.
    pub fn new(
        me: BrokerId,
        config: FollowerConfig,
        leader: BrokerId,
        leader_epoch: LeaderEpoch,
        log: LogState,
    ) -> Follower {
        assert_ne!(me, leader, "broker {me} cannot follow itself");
        let follower = Follower {
            me,
            config,
            leader,
            leader_epoch,
            log,
            in_flight: None,
            next_fetch_id: 0,
            fetch_not_before: Millis(0),
            started: false,
            truncating: None,
        };
        follower.check_invariants();
        follower
    }

    /// Numbers this follower's fetches from `first` on, so they continue the ids of the
    /// replica's earlier followers.
    pub fn starting_fetch_ids_at(mut self, first: FetchId) -> Follower {
        self.next_fetch_id = first.0;
        self
    }

    /// The id the next fetch will carry.
    pub fn next_fetch_id(&self) -> FetchId {
        FetchId(self.next_fetch_id)
    }

    pub fn leader(&self) -> BrokerId {
        self.leader
    }

    pub fn leader_epoch(&self) -> LeaderEpoch {
        self.leader_epoch
    }

    pub fn log_end_offset(&self) -> Offset {
        self.log.log_end_offset
    }

    pub fn high_watermark(&self) -> Offset {
        self.log.high_watermark
    }

    /// The log as this follower knows it.
    pub fn log(&self) -> &LogState {
        &self.log
    }

    /// Stops following; returns the log as this follower left it, for the replica's next role.
    pub fn into_log(self) -> LogState {
        self.log
    }

    /// Takes one input; returns what the broker must do, in order.
    pub fn step(&mut self, input: FollowerInput) -> Vec<FollowerOutput> {
        let mut out = Vec::new();
        match input {
            FollowerInput::Tick { now } => self.on_tick(now, &mut out),
            FollowerInput::FetchResponse {
                fetch_id,
                response,
                now,
            } => self.on_response(fetch_id, response, now, &mut out),
            FollowerInput::Truncated { log } => self.on_truncated(log, &mut out),
        }
        if cfg!(debug_assertions) {
            self.check_invariants();
        }
        out
    }

    fn on_tick(&mut self, now: Millis, out: &mut Vec<FollowerOutput>) {
        if !self.started {
            self.started = true;
            let high_watermark = self.log.high_watermark;
            if self.config.test_only_truncate_to_high_watermark
                && high_watermark < self.log.log_end_offset
            {
                self.truncate(high_watermark, now, out);
            }
        }
        if self.truncating.is_some() {
            return;
        }
        let due = match self.in_flight {
            None => now >= self.fetch_not_before,
            Some((_, sent_at)) => now.saturating_since(sent_at) >= self.config.fetch_timeout,
        };
        if due {
            self.send_fetch(now, out);
        }
    }

    fn on_response(
        &mut self,
        fetch_id: FetchId,
        response: FetchResponse,
        now: Millis,
        out: &mut Vec<FollowerOutput>,
    ) {
        if self.in_flight.map(|(id, _)| id) != Some(fetch_id) {
            return;
        }
        self.in_flight = None;
        let usable = match response {
            FetchResponse::Records {
                batches,
                high_watermark,
                log_start_offset,
            } => {
                let appended = self.append(&batches, high_watermark, out);
                if appended {
                    self.learn_log_start(log_start_offset, out);
                }
                appended
            }
            FetchResponse::Diverging { diverging, .. } => {
                self.truncate_diverging(diverging, now, out);
                true
            }
            FetchResponse::OffsetOutOfRange { log_start_offset } => {
                self.restart_at(log_start_offset, out)
            }
            FetchResponse::Refused(_) => false,
        };
        if usable && self.truncating.is_none() {
            self.send_fetch(now, out);
        } else if !usable {
            self.fetch_not_before = now.saturating_add(self.config.fetch_backoff);
        }
    }

    fn send_fetch(&mut self, now: Millis, out: &mut Vec<FollowerOutput>) {
        let fetch_id = FetchId(self.next_fetch_id);
        self.next_fetch_id += 1;
        self.in_flight = Some((fetch_id, now));
        let request = FollowerFetchRequest {
            fetch_offset: self.log.log_end_offset,
            last_fetched_epoch: self.log.last_epoch(),
            current_leader_epoch: self.leader_epoch,
            log_start_offset: self.log.log_start_offset,
        };
        out.push(FollowerOutput::SendFetch {
            fetch_id,
            leader: self.leader,
            request,
        });
    }

    /// Appends `batches` if they continue the log exactly; returns whether they did.
    fn append(
        &mut self,
        batches: &[BatchMeta],
        high_watermark: Offset,
        out: &mut Vec<FollowerOutput>,
    ) -> bool {
        self.restart_at_straddling_batch(batches, out);
        if !self.continues_log(batches) {
            return false;
        }
        if let (Some(first), Some(last)) = (batches.first(), batches.last()) {
            out.push(FollowerOutput::AppendReplicated {
                base_offset: first.base_offset,
                end_offset: last.end_offset(),
            });
            for batch in batches {
                self.log
                    .epochs
                    .assign(batch.leader_epoch, batch.base_offset);
            }
            self.log.log_end_offset = last.end_offset();
        }
        self.learn_high_watermark(high_watermark, out);
        true
    }

    /// An empty log that starts inside the first batch sent (it restarted at the leader's log
    /// start, which DeleteRecords may put inside a batch, and the leader sends batches whole)
    /// restarts at that batch's base, so the batch continues it; the leader's log start then
    /// comes with the same answer. Kafka's follower does the same.
    fn restart_at_straddling_batch(
        &mut self,
        batches: &[BatchMeta],
        out: &mut Vec<FollowerOutput>,
    ) {
        let Some(first) = batches.first() else {
            return;
        };
        let end = self.log.log_end_offset;
        let empty = end == self.log.log_start_offset;
        if !empty || first.base_offset >= end || first.last_offset < end {
            return;
        }
        out.push(FollowerOutput::TruncateFullyAndStartAt {
            offset: first.base_offset,
        });
        self.log.log_start_offset = first.base_offset;
        self.log.log_end_offset = first.base_offset;
        self.log.epochs.truncate_from_end(Offset::ZERO);
        if self.log.high_watermark != first.base_offset {
            self.log.high_watermark = first.base_offset;
            out.push(FollowerOutput::HighWatermark(first.base_offset));
        }
    }

    /// Whether `batches` start at the log end, are contiguous, and carry epochs that neither go
    /// back from the log's last nor pass the leader's.
    fn continues_log(&self, batches: &[BatchMeta]) -> bool {
        let mut next = self.log.log_end_offset;
        let mut epoch = self.log.last_epoch();
        for batch in batches {
            let in_order = batch.base_offset == next && batch.last_offset >= batch.base_offset;
            let epoch_ok = epoch.is_none_or(|e| batch.leader_epoch >= e)
                && batch.leader_epoch <= self.leader_epoch;
            if !in_order || !epoch_ok {
                return false;
            }
            next = batch.end_offset();
            epoch = Some(batch.leader_epoch);
        }
        true
    }

    /// Truncates where the leader says the logs part. The leader's high watermark in the same
    /// answer is not learned: until a fetch is answered with records, the log below its end
    /// may still differ from the leader's (a truncation can take several rounds, one epoch at
    /// a time), and a high watermark over it would call a record committed that the next round
    /// removes.
    fn truncate_diverging(
        &mut self,
        diverging: DivergingEpoch,
        now: Millis,
        out: &mut Vec<FollowerOutput>,
    ) {
        let end_offset = if self.config.test_only_truncate_to_high_watermark {
            self.log.high_watermark
        } else {
            self.divergence_point(diverging)
        };
        if end_offset < self.log.log_end_offset {
            self.truncate(end_offset, now, out);
        }
    }

    /// Asks the log to end at `end_offset`; the next fetch waits for the report of where it
    /// does ([`FollowerInput::Truncated`]).
    fn truncate(&mut self, end_offset: Offset, now: Millis, out: &mut Vec<FollowerOutput>) {
        out.push(FollowerOutput::Truncate { end_offset });
        self.truncating = Some(now);
    }

    /// The log was truncated: it is now `log` (its end, high watermark, start and epochs
    /// moved back with it), and the next fetch goes out from its end.
    fn on_truncated(&mut self, log: LogState, out: &mut Vec<FollowerOutput>) {
        let Some(asked_at) = self.truncating.take() else {
            return;
        };
        assert!(
            log.log_end_offset <= self.log.log_end_offset
                || log.log_end_offset == log.log_start_offset,
            "follower {}: a truncation moved the log end from {} to {}",
            self.me,
            self.log.log_end_offset,
            log.log_end_offset
        );
        self.log = log;
        self.send_fetch(asked_at, out);
    }

    /// Where this log must end so that it holds nothing the leader's lacks (Kafka's
    /// `getOffsetTruncationState`): the leader's end of the epoch, or, if this log's largest
    /// epoch not above it is an older one, that epoch's end here (the next fetch checks again).
    fn divergence_point(&self, diverging: DivergingEpoch) -> Offset {
        let leo = self.log.log_end_offset;
        match self.log.epochs.end_offset_for_epoch(diverging.epoch, leo) {
            None => diverging.end_offset.min(leo),
            Some((epoch, end)) if epoch == diverging.epoch => {
                diverging.end_offset.min(end).min(leo)
            }
            Some((_, end)) => end.min(leo),
        }
    }

    /// The leader's log starts past this one's end: nothing here can be kept.
    fn restart_at(&mut self, log_start_offset: Offset, out: &mut Vec<FollowerOutput>) -> bool {
        if log_start_offset <= self.log.log_end_offset {
            // The leader has the offset after all (its start moved while the answer travelled):
            // fetch again after a pause.
            return false;
        }
        out.push(FollowerOutput::TruncateFullyAndStartAt {
            offset: log_start_offset,
        });
        self.log.log_end_offset = log_start_offset;
        self.log.log_start_offset = log_start_offset;
        self.log.epochs.truncate_from_end(Offset::ZERO);
        if self.log.high_watermark != log_start_offset {
            self.log.high_watermark = log_start_offset;
            out.push(FollowerOutput::HighWatermark(log_start_offset));
        }
        true
    }

    /// The leader's log starts at `leader_start`: this one follows, up to its own high
    /// watermark. (A records answer is given only to a fetch at or past the leader's start, so
    /// once its high watermark is learned this log has everything up to there; the cap keeps
    /// the log's `start <= high watermark` whatever the leader sent.)
    fn learn_log_start(&mut self, leader_start: Offset, out: &mut Vec<FollowerOutput>) {
        let candidate = leader_start.min(self.log.high_watermark);
        if candidate > self.log.log_start_offset {
            self.log.log_start_offset = candidate;
            out.push(FollowerOutput::AdvanceLogStart(candidate));
        }
    }

    fn learn_high_watermark(&mut self, leader_hw: Offset, out: &mut Vec<FollowerOutput>) {
        let candidate = leader_hw.min(self.log.log_end_offset);
        if candidate > self.log.high_watermark {
            self.log.high_watermark = candidate;
            out.push(FollowerOutput::HighWatermark(candidate));
        }
    }

    /// Panics unless the log state holds together and no epoch in the log is newer than the
    /// leader's.
    pub fn check_invariants(&self) {
        self.log.check_invariants();
        if let Some(last) = self.log.last_epoch() {
            assert!(
                last <= self.leader_epoch,
                "follower {} holds epoch {last}, newer than its leader's {}",
                self.me,
                self.leader_epoch
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringlog_format::{EpochEntry, LeaderEpochCache};

    const LEADER: BrokerId = BrokerId(1);
    const ME: BrokerId = BrokerId(2);
    const EPOCH: LeaderEpoch = LeaderEpoch(3);

    /// A log of 0..100 in epoch 1 and 100..150 in epoch 2, committed up to 120.
    fn log() -> LogState {
        let entries = vec![
            EpochEntry {
                epoch: LeaderEpoch(1),
                start_offset: Offset(0),
            },
            EpochEntry {
                epoch: LeaderEpoch(2),
                start_offset: Offset(100),
            },
        ];
        LogState {
            log_start_offset: Offset::ZERO,
            log_end_offset: Offset(150),
            high_watermark: Offset(120),
            epochs: LeaderEpochCache::from_entries(entries).expect("ordered"),
        }
    }

    fn follower() -> Follower {
        follower_with(FollowerConfig::default())
    }

    fn follower_with(config: FollowerConfig) -> Follower {
        Follower::new(ME, config, LEADER, EPOCH, log())
    }

    fn send(id: u64, fetch_offset: u64, last_epoch: u32) -> FollowerOutput {
        FollowerOutput::SendFetch {
            fetch_id: FetchId(id),
            leader: LEADER,
            request: FollowerFetchRequest {
                fetch_offset: Offset(fetch_offset),
                last_fetched_epoch: Some(LeaderEpoch(last_epoch)),
                current_leader_epoch: EPOCH,
                log_start_offset: Offset::ZERO,
            },
        }
    }

    fn tick(now: u64) -> FollowerInput {
        FollowerInput::Tick { now: Millis(now) }
    }

    fn respond(id: u64, response: FetchResponse, now: u64) -> FollowerInput {
        FollowerInput::FetchResponse {
            fetch_id: FetchId(id),
            response,
            now: Millis(now),
        }
    }

    fn batch(base: u64, last: u64, epoch: u32) -> BatchMeta {
        BatchMeta {
            base_offset: Offset(base),
            last_offset: Offset(last),
            leader_epoch: LeaderEpoch(epoch),
        }
    }

    fn records(batches: Vec<BatchMeta>, high_watermark: u64) -> FetchResponse {
        FetchResponse::Records {
            batches,
            high_watermark: Offset(high_watermark),
            log_start_offset: Offset::ZERO,
        }
    }

    fn diverging(epoch: u32, end_offset: u64) -> FetchResponse {
        FetchResponse::Diverging {
            diverging: DivergingEpoch {
                epoch: LeaderEpoch(epoch),
                end_offset: Offset(end_offset),
            },
            high_watermark: Offset(100),
        }
    }

    #[test]
    fn the_first_tick_fetches_from_the_log_end_with_the_last_epoch() {
        let mut f = follower();
        assert_eq!(f.step(tick(0)), vec![send(0, 150, 2)]);
    }

    #[test]
    fn only_one_fetch_is_in_flight() {
        let mut f = follower();
        f.step(tick(0));
        assert_eq!(f.step(tick(10)), vec![]);
    }

    #[test]
    fn an_unanswered_fetch_is_sent_again_under_a_new_id_after_the_fetch_timeout() {
        let mut f = follower();
        f.step(tick(0));
        assert_eq!(f.step(tick(29_999)), vec![]);
        assert_eq!(f.step(tick(30_000)), vec![send(1, 150, 2)]);
        assert_eq!(f.step(respond(0, records(vec![], 150), 30_001)), vec![]);
    }

    #[test]
    fn records_that_continue_the_log_are_appended_and_the_next_fetch_follows_at_once() {
        let mut f = follower();
        f.step(tick(0));
        let response = records(vec![batch(150, 159, 3), batch(160, 179, 3)], 120);
        let append = FollowerOutput::AppendReplicated {
            base_offset: Offset(150),
            end_offset: Offset(180),
        };
        assert_eq!(
            f.step(respond(0, response, 5)),
            vec![append, send(1, 180, 3)]
        );
        assert_eq!(f.log().epochs.latest_epoch(), Some(EPOCH));
    }

    #[test]
    fn the_high_watermark_is_the_leaders_capped_at_the_log_end() {
        let mut f = follower();
        f.step(tick(0));
        let out = f.step(respond(0, records(vec![], 400), 5));
        assert_eq!(
            out,
            vec![FollowerOutput::HighWatermark(Offset(150)), send(1, 150, 2)]
        );
    }

    #[test]
    fn records_that_do_not_start_at_the_log_end_are_dropped_and_fetched_after_the_backoff() {
        let mut f = follower();
        f.step(tick(0));
        assert_eq!(
            f.step(respond(0, records(vec![batch(140, 159, 3)], 150), 5)),
            vec![]
        );
        assert_eq!(f.log_end_offset(), Offset(150));
        assert_eq!(f.step(tick(1004)), vec![]);
        assert_eq!(f.step(tick(1005)), vec![send(1, 150, 2)]);
    }

    #[test]
    fn records_with_an_epoch_newer_than_the_leaders_are_dropped() {
        let mut f = follower();
        f.step(tick(0));
        assert_eq!(
            f.step(respond(0, records(vec![batch(150, 159, 4)], 150), 5)),
            vec![]
        );
    }

    /// The log `f` had, truncated at `end` as the engine does when `end` is a batch
    /// boundary: what the log reports back.
    fn cut(f: &Follower, end: u64) -> LogState {
        let mut log = f.log().clone();
        let end = Offset(end);
        log.log_end_offset = end;
        log.high_watermark = log.high_watermark.min(end);
        if end < log.log_start_offset {
            log.log_start_offset = end;
            log.epochs = LeaderEpochCache::new();
        } else {
            log.epochs.truncate_from_end(end);
        }
        log
    }

    fn truncated(log: LogState) -> FollowerInput {
        FollowerInput::Truncated { log }
    }

    #[test]
    fn a_diverging_epoch_truncates_to_the_leaders_end_of_it_not_to_the_high_watermark() {
        let mut f = follower();
        f.step(tick(0));
        // The leader holds epoch 2 only up to 130; the high watermark is 120.
        let out = f.step(respond(0, diverging(2, 130), 5));
        let truncate = FollowerOutput::Truncate {
            end_offset: Offset(130),
        };
        assert_eq!(out, vec![truncate]);
        // The fetch waits for the log to say where it ends.
        assert_eq!(f.step(tick(10)), vec![]);
        assert_eq!(f.step(truncated(cut(&f, 130))), vec![send(1, 130, 2)]);
        assert_eq!(f.high_watermark(), Offset(120));
    }

    #[test]
    fn a_diverging_epoch_this_log_lacks_truncates_to_the_end_of_its_largest_older_one() {
        let mut f = follower();
        f.step(tick(0));
        // The leader says epoch 1 ends at 140 in its log; here epoch 1 ends at 100.
        let out = f.step(respond(0, diverging(1, 140), 5));
        let truncate = FollowerOutput::Truncate {
            end_offset: Offset(100),
        };
        assert_eq!(out, vec![truncate]);
        assert_eq!(f.step(truncated(cut(&f, 100))), vec![send(1, 100, 1)]);
        assert_eq!(f.high_watermark(), Offset(100));
    }

    #[test]
    fn a_truncation_inside_a_batch_fetches_from_where_the_log_really_ends() {
        let mut f = follower();
        f.step(tick(0));
        // The leader's epoch 2 ends at 130, inside this log's batch 125..=134: it goes whole.
        assert_eq!(
            f.step(respond(0, diverging(2, 130), 5)),
            vec![FollowerOutput::Truncate {
                end_offset: Offset(130)
            }]
        );
        assert_eq!(f.step(truncated(cut(&f, 125))), vec![send(1, 125, 2)]);
        assert_eq!(f.log_end_offset(), Offset(125));
    }

    #[test]
    fn a_diverging_answer_does_not_teach_the_high_watermark() {
        let mut f = follower();
        f.step(tick(0));
        // The leader's high watermark is 400, but this log was only cut back to epoch 2's end
        // here: what lies below may still differ from the leader's log.
        let response = FetchResponse::Diverging {
            diverging: DivergingEpoch {
                epoch: LeaderEpoch(2),
                end_offset: Offset(140),
            },
            high_watermark: Offset(400),
        };
        f.step(respond(0, response, 5));
        assert_eq!(f.high_watermark(), Offset(120));
    }

    #[test]
    fn a_truncation_below_the_high_watermark_lowers_it() {
        let mut f = follower();
        f.step(tick(0));
        f.step(respond(0, diverging(2, 110), 5));
        f.step(truncated(cut(&f, 110)));
        assert_eq!(f.high_watermark(), Offset(110));
    }

    #[test]
    fn a_truncation_report_with_none_asked_for_is_ignored() {
        let mut f = follower();
        f.step(tick(0));
        let log = cut(&f, 100);
        assert_eq!(f.step(truncated(log)), vec![]);
        assert_eq!(f.log_end_offset(), Offset(150));
    }

    #[test]
    fn the_test_only_switch_truncates_to_the_high_watermark() {
        let config = FollowerConfig {
            test_only_truncate_to_high_watermark: true,
            ..FollowerConfig::default()
        };
        let mut f = follower_with(config);
        let to_high_watermark = FollowerOutput::Truncate {
            end_offset: Offset(120),
        };
        assert_eq!(f.step(tick(0)), vec![to_high_watermark]);
        assert_eq!(f.step(truncated(cut(&f, 120))), vec![send(0, 120, 2)]);
    }

    #[test]
    fn a_refused_fetch_waits_for_the_backoff() {
        let mut f = follower();
        f.step(tick(0));
        let refused = FetchResponse::Refused(FetchError::FencedLeaderEpoch {
            requested: EPOCH,
            current: LeaderEpoch(4),
        });
        assert_eq!(f.step(respond(0, refused, 10)), vec![]);
        assert_eq!(f.step(tick(1009)), vec![]);
        assert_eq!(f.step(tick(1010)), vec![send(1, 150, 2)]);
    }

    #[test]
    fn a_leader_log_starting_past_this_logs_end_restarts_it_there() {
        let mut f = follower();
        f.step(tick(0));
        let response = FetchResponse::OffsetOutOfRange {
            log_start_offset: Offset(500),
        };
        let out = f.step(respond(0, response, 5));
        let restart = FollowerOutput::TruncateFullyAndStartAt {
            offset: Offset(500),
        };
        let request = FollowerFetchRequest {
            fetch_offset: Offset(500),
            last_fetched_epoch: None,
            current_leader_epoch: EPOCH,
            log_start_offset: Offset(500),
        };
        let fetch = FollowerOutput::SendFetch {
            fetch_id: FetchId(1),
            leader: LEADER,
            request,
        };
        assert_eq!(
            out,
            vec![restart, FollowerOutput::HighWatermark(Offset(500)), fetch]
        );
    }

    #[test]
    fn the_log_start_follows_the_leaders_and_the_next_fetch_reports_it() {
        let mut f = follower();
        f.step(tick(0));
        let response = FetchResponse::Records {
            batches: vec![],
            high_watermark: Offset(150),
            log_start_offset: Offset(90),
        };
        let out = f.step(respond(0, response, 5));
        let mut next = send(1, 150, 2);
        if let FollowerOutput::SendFetch { request, .. } = &mut next {
            request.log_start_offset = Offset(90);
        }
        assert_eq!(
            out,
            vec![
                FollowerOutput::HighWatermark(Offset(150)),
                FollowerOutput::AdvanceLogStart(Offset(90)),
                next
            ]
        );
        assert_eq!(f.log().log_start_offset, Offset(90));
        // The same start again moves nothing.
        let response = FetchResponse::Records {
            batches: vec![],
            high_watermark: Offset(150),
            log_start_offset: Offset(90),
        };
        let out = f.step(respond(1, response, 6));
        assert!(
            !out.iter()
                .any(|o| matches!(o, FollowerOutput::AdvanceLogStart(_))),
            "{out:?}"
        );
    }

    #[test]
    fn the_log_start_never_passes_the_high_watermark() {
        let mut f = follower();
        f.step(tick(0));
        // The leader's high watermark is 130; it claims a start past it.
        let response = FetchResponse::Records {
            batches: vec![],
            high_watermark: Offset(130),
            log_start_offset: Offset(140),
        };
        let out = f.step(respond(0, response, 5));
        assert!(out.contains(&FollowerOutput::AdvanceLogStart(Offset(130))));
        assert_eq!(f.log().log_start_offset, Offset(130));
        f.check_invariants();
    }

    #[test]
    fn records_that_do_not_continue_the_log_teach_no_log_start() {
        let mut f = follower();
        f.step(tick(0));
        let response = FetchResponse::Records {
            batches: vec![batch(140, 159, 3)],
            high_watermark: Offset(150),
            log_start_offset: Offset(100),
        };
        assert_eq!(f.step(respond(0, response, 5)), vec![]);
        assert_eq!(f.log().log_start_offset, Offset::ZERO);
    }

    #[test]
    fn a_truncation_below_the_log_start_restarts_it_at_the_cut() {
        let mut log = log();
        log.log_start_offset = Offset(110);
        let mut f = Follower::new(ME, FollowerConfig::default(), LEADER, EPOCH, log);
        f.step(tick(0));
        f.step(respond(0, diverging(1, 100), 5));
        f.step(truncated(cut(&f, 100)));
        assert_eq!(f.log().log_start_offset, Offset(100));
        assert_eq!(f.log_end_offset(), Offset(100));
        f.check_invariants();
    }

    #[test]
    fn an_empty_log_starting_inside_the_first_batch_restarts_at_its_base() {
        let mut f = follower();
        f.step(tick(0));
        // The leader's log starts at 500; this one restarts there.
        let response = FetchResponse::OffsetOutOfRange {
            log_start_offset: Offset(500),
        };
        f.step(respond(0, response, 5));
        // 500 lies inside the leader's batch 495..=509, which is sent whole.
        let response = FetchResponse::Records {
            batches: vec![batch(495, 509, 3)],
            high_watermark: Offset(510),
            log_start_offset: Offset(500),
        };
        let out = f.step(respond(1, response, 6));
        assert_eq!(
            out[..4],
            [
                FollowerOutput::TruncateFullyAndStartAt {
                    offset: Offset(495)
                },
                FollowerOutput::HighWatermark(Offset(495)),
                FollowerOutput::AppendReplicated {
                    base_offset: Offset(495),
                    end_offset: Offset(510),
                },
                FollowerOutput::HighWatermark(Offset(510)),
            ]
        );
        assert_eq!(out[4], FollowerOutput::AdvanceLogStart(Offset(500)));
        assert_eq!(f.log().log_start_offset, Offset(500));
        assert_eq!(f.log_end_offset(), Offset(510));
    }
}
