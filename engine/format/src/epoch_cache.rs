//! The leader-epoch cache: which leader epoch started at which offset of this partition's log.
//!
//! Every batch is stamped with the epoch of the leader that appended it; the cache keeps one
//! entry per epoch that has data in the log, `(epoch, start offset)`, with both columns strictly
//! increasing. An epoch covers the offsets from its start offset up to the next entry's start
//! offset (the last one up to the log end offset).
//!
//! A follower of a new leader asks the leader for the end offset of its own latest epoch
//! ([`LeaderEpochCache::end_offset_for_epoch`]) and truncates there, never to its high watermark:
//! that is what keeps replicas from diverging after a leader change.
//!
//! Pure: no IO. The engine's log persists the entries in its `leader-epoch-checkpoint` file
//! after each change and loads them from it on open.

use std::fmt;

use crate::types::{LeaderEpoch, Offset};

/// One epoch of leadership and the offset of its first batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EpochEntry {
    pub epoch: LeaderEpoch,
    pub start_offset: Offset,
}

impl fmt::Display for EpochEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "(epoch {}, start offset {})",
            self.epoch, self.start_offset
        )
    }
}

/// The epoch -> start offset map of one partition, as Kafka's `LeaderEpochFileCache`.
///
/// Invariant: epochs and start offsets both strictly increase from one entry to the next.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaderEpochCache {
    entries: Vec<EpochEntry>,
}

impl LeaderEpochCache {
    /// An empty cache: the log holds no batch stamped with an epoch.
    pub fn new() -> Self {
        Self::default()
    }

    /// A cache holding `entries` (as read back from the checkpoint), or the reason they break
    /// the invariant, naming both offending entries.
    pub fn from_entries(entries: Vec<EpochEntry>) -> Result<Self, String> {
        check_order(&entries)?;
        Ok(Self { entries })
    }

    /// The entries, oldest epoch first.
    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    /// The newest epoch and where it starts.
    pub fn latest(&self) -> Option<EpochEntry> {
        self.entries.last().copied()
    }

    /// The newest epoch.
    pub fn latest_epoch(&self) -> Option<LeaderEpoch> {
        self.latest().map(|entry| entry.epoch)
    }

    /// Records that `epoch` starts at `start_offset`. Called when a batch with a new epoch is
    /// appended (by the leader, or by a follower copying the leader's batches).
    ///
    /// The same epoch as the latest changes nothing. A newer epoch first drops the entries whose
    /// start offset is at or after `start_offset` (their data is being overwritten, and both
    /// columns must stay strictly increasing), then is pushed. Returns whether anything changed.
    ///
    /// # Panics
    /// If `epoch` is older than the latest epoch: the log refuses stale epochs before it appends
    /// (`Error::StaleLeaderEpoch`), so reaching here with one is a bug.
    pub fn assign(&mut self, epoch: LeaderEpoch, start_offset: Offset) -> bool {
        if let Some(latest) = self.latest() {
            assert!(
                epoch >= latest.epoch,
                "leader epoch {epoch} (start offset {start_offset}) is older than the latest {latest}"
            );
            if epoch == latest.epoch {
                return false;
            }
        }
        self.entries
            .retain(|entry| entry.start_offset < start_offset);
        self.entries.push(EpochEntry {
            epoch,
            start_offset,
        });
        self.debug_check_invariants();
        true
    }

    /// Kafka's OffsetsForLeaderEpoch answer, as the leader gives it to a follower that asks
    /// where its epoch `requested` ends. `log_end_offset` is this replica's LEO.
    ///
    /// - `requested` is the latest epoch: `(latest, log_end_offset)`; the epoch is still open.
    /// - an older epoch: the largest known epoch `<= requested`, with the start offset of the
    ///   first epoch after `requested` (where `requested`'s data ends on this replica).
    /// - below the first known epoch (its data has been deleted here): `requested` with the
    ///   start offset of the first known epoch, as Kafka answers, so the follower truncates no
    ///   further than the oldest data this replica still holds.
    /// - above the latest epoch, or an empty cache: `None` (Kafka's UNDEFINED).
    pub fn end_offset_for_epoch(
        &self,
        requested: LeaderEpoch,
        log_end_offset: Offset,
    ) -> Option<(LeaderEpoch, Offset)> {
        let latest = self.latest()?;
        if requested == latest.epoch {
            return Some((latest.epoch, log_end_offset));
        }
        let after = self
            .entries
            .partition_point(|entry| entry.epoch <= requested);
        let next = self.entries.get(after)?;
        let floor_epoch = match after {
            0 => requested,
            _ => self.entries[after - 1].epoch,
        };
        Some((floor_epoch, next.start_offset))
    }

    /// The epoch that covers `offset`: the entry with the largest start offset `<= offset`.
    /// `None` when the cache is empty or `offset` is before the first entry. Offsets at or past
    /// the log end offset are reported as the latest epoch's.
    pub fn epoch_for_offset(&self, offset: Offset) -> Option<LeaderEpoch> {
        let covering = self
            .entries
            .partition_point(|entry| entry.start_offset <= offset);
        covering
            .checked_sub(1)
            .map(|index| self.entries[index].epoch)
    }

    /// Called after the log is truncated to end at `end_offset` (follower truncation, or an
    /// unflushed tail cut by recovery): removes the entries whose start offset is at or after
    /// `end_offset`, as no batch of theirs is left. Returns whether anything changed.
    pub fn truncate_from_end(&mut self, end_offset: Offset) -> bool {
        let keep = self
            .entries
            .partition_point(|entry| entry.start_offset < end_offset);
        let changed = keep < self.entries.len();
        self.entries.truncate(keep);
        self.debug_check_invariants();
        changed
    }

    /// Called after the log start offset moves up to `start_offset` (retention,
    /// `delete_records`): removes the entries that end at or before it, keeping the one that
    /// covers it with its own start offset. Returns whether anything changed.
    ///
    /// The covering entry keeps its start, which may lie below the log start, because that
    /// start is where its epoch's first batch begins: a batch boundary in every replica's log.
    /// A follower told by the leader where its last epoch ends truncates there, and a start
    /// moved up to a log start inside a batch (DeleteRecords puts it anywhere) would tell it
    /// to cut one of its batches in two. Kafka moves the start up
    /// ([`Self::truncate_from_start`]); its answers to clients are computed that way.
    pub fn drop_before(&mut self, start_offset: Offset) -> bool {
        let covering_end = self
            .entries
            .partition_point(|entry| entry.start_offset <= start_offset);
        let Some(covering) = covering_end.checked_sub(1) else {
            return false;
        };
        if covering == 0 {
            return false;
        }
        self.entries.drain(..covering);
        self.debug_check_invariants();
        true
    }

    /// Kafka's truncation of its cache when the log start offset moves up to `start_offset`:
    /// removes the entries that end at or before it, and moves the start of the entry
    /// covering it up to `start_offset`. Returns whether anything changed. The log keeps its
    /// cache with [`Self::drop_before`]; this computes what Kafka answers clients from.
    pub fn truncate_from_start(&mut self, start_offset: Offset) -> bool {
        let covering_end = self
            .entries
            .partition_point(|entry| entry.start_offset <= start_offset);
        let Some(covering) = covering_end.checked_sub(1) else {
            return false;
        };
        if covering == 0 && self.entries[0].start_offset == start_offset {
            return false;
        }
        self.entries.drain(..covering);
        self.entries[0].start_offset = start_offset;
        self.debug_check_invariants();
        true
    }

    /// Panics, with the offending entries, unless epochs and start offsets strictly increase.
    pub fn check_invariants(&self) {
        if let Err(reason) = check_order(&self.entries) {
            panic!("leader epoch cache: {reason}");
        }
    }

    fn debug_check_invariants(&self) {
        if cfg!(debug_assertions) {
            self.check_invariants();
        }
    }
}

/// The cache's invariant over any list of entries: `Err` names the first two entries that
/// break it. Shared with the checkpoint codec, which checks entries on the way out and in.
pub fn check_order(entries: &[EpochEntry]) -> Result<(), String> {
    for (index, pair) in entries.windows(2).enumerate() {
        let (previous, next) = (pair[0], pair[1]);
        let broken = if next.epoch <= previous.epoch {
            "epochs"
        } else if next.start_offset <= previous.start_offset {
            "start offsets"
        } else {
            continue;
        };
        return Err(format!(
            "entry {} {next} does not follow entry {index} {previous}: {broken} must strictly increase",
            index + 1
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    fn entry(epoch: u32, start_offset: u64) -> EpochEntry {
        EpochEntry {
            epoch: LeaderEpoch(epoch),
            start_offset: Offset(start_offset),
        }
    }

    fn cache(entries: &[(u32, u64)]) -> LeaderEpochCache {
        let entries = entries.iter().map(|&(e, o)| entry(e, o)).collect();
        LeaderEpochCache::from_entries(entries).unwrap()
    }

    fn pairs(cache: &LeaderEpochCache) -> Vec<(u32, u64)> {
        cache
            .entries()
            .iter()
            .map(|entry| (entry.epoch.0, entry.start_offset.0))
            .collect()
    }

    #[test]
    fn new_cache_is_empty() {
        let cache = LeaderEpochCache::new();
        assert!(cache.entries().is_empty());
        assert_eq!(cache.latest(), None);
        assert_eq!(cache.latest_epoch(), None);
    }

    #[test]
    fn from_entries_rejects_repeated_epoch_naming_both_entries() {
        let err = LeaderEpochCache::from_entries(vec![entry(3, 0), entry(3, 50)]).unwrap_err();
        assert_eq!(
            err,
            "entry 1 (epoch 3, start offset 50) does not follow entry 0 (epoch 3, start offset 0): \
             epochs must strictly increase"
        );
    }

    #[test]
    fn from_entries_rejects_non_increasing_start_offsets() {
        let err = LeaderEpochCache::from_entries(vec![entry(1, 10), entry(2, 10)]).unwrap_err();
        assert_eq!(
            err,
            "entry 1 (epoch 2, start offset 10) does not follow entry 0 (epoch 1, start offset 10): \
             start offsets must strictly increase"
        );
    }

    #[test]
    fn newer_epoch_is_appended() {
        let mut cache = cache(&[(0, 0)]);
        assert!(cache.assign(LeaderEpoch(2), Offset(40)));
        assert_eq!(pairs(&cache), [(0, 0), (2, 40)]);
        assert_eq!(cache.latest(), Some(entry(2, 40)));
        assert_eq!(cache.latest_epoch(), Some(LeaderEpoch(2)));
    }

    #[test]
    fn same_epoch_as_latest_changes_nothing() {
        let mut cache = cache(&[(0, 0), (1, 100)]);
        assert!(!cache.assign(LeaderEpoch(1), Offset(150)));
        assert!(!cache.assign(LeaderEpoch(1), Offset(50)));
        assert_eq!(pairs(&cache), [(0, 0), (1, 100)]);
    }

    #[test]
    fn newer_epoch_at_same_offset_replaces_previous() {
        let mut cache = cache(&[(0, 0), (1, 100)]);
        assert!(cache.assign(LeaderEpoch(2), Offset(100)));
        assert_eq!(pairs(&cache), [(0, 0), (2, 100)]);
    }

    #[test]
    fn newer_epoch_at_earlier_offset_drops_every_entry_starting_at_or_after_it() {
        let mut cache = cache(&[(0, 0), (1, 100), (2, 200)]);
        assert!(cache.assign(LeaderEpoch(5), Offset(50)));
        assert_eq!(pairs(&cache), [(0, 0), (5, 50)]);
    }

    #[test]
    #[should_panic(
        expected = "leader epoch 1 (start offset 300) is older than the latest (epoch 2, start offset 200)"
    )]
    fn older_epoch_than_latest_is_a_bug() {
        let mut cache = cache(&[(0, 0), (2, 200)]);
        cache.assign(LeaderEpoch(1), Offset(300));
    }

    #[test]
    fn end_offset_for_latest_epoch_is_log_end_offset() {
        let cache = cache(&[(0, 0), (1, 100)]);
        assert_eq!(
            cache.end_offset_for_epoch(LeaderEpoch(1), Offset(180)),
            Some((LeaderEpoch(1), Offset(180)))
        );
    }

    #[test]
    fn end_offset_for_middle_epoch_is_next_epoch_start() {
        let cache = cache(&[(0, 0), (1, 100), (2, 250)]);
        assert_eq!(
            cache.end_offset_for_epoch(LeaderEpoch(1), Offset(300)),
            Some((LeaderEpoch(1), Offset(250)))
        );
    }

    #[test]
    fn end_offset_for_unknown_epoch_between_known_ones_answers_with_the_one_below() {
        let cache = cache(&[(1, 0), (4, 100), (7, 250)]);
        assert_eq!(
            cache.end_offset_for_epoch(LeaderEpoch(5), Offset(300)),
            Some((LeaderEpoch(4), Offset(250)))
        );
    }

    #[test]
    fn end_offset_for_epoch_below_first_is_first_start_offset() {
        let cache = cache(&[(3, 500), (4, 900)]);
        assert_eq!(
            cache.end_offset_for_epoch(LeaderEpoch(1), Offset(1000)),
            Some((LeaderEpoch(1), Offset(500)))
        );
    }

    #[test]
    fn end_offset_for_epoch_above_latest_is_undefined() {
        let cache = cache(&[(0, 0), (1, 100)]);
        assert_eq!(
            cache.end_offset_for_epoch(LeaderEpoch(2), Offset(180)),
            None
        );
    }

    #[test]
    fn end_offset_in_empty_cache_is_undefined() {
        let cache = LeaderEpochCache::new();
        assert_eq!(cache.end_offset_for_epoch(LeaderEpoch(0), Offset(0)), None);
    }

    /// Kafka's classic divergence: the old leader had written offsets 100..200 in epoch 0 that
    /// never reached the new leader, which started epoch 1 at offset 100. Asking the new leader
    /// where epoch 0 ends tells the old leader to cut at 100, not at its own high watermark.
    #[test]
    fn follower_with_unreplicated_tail_learns_to_truncate_at_next_epoch_start() {
        let leader = cache(&[(0, 0), (1, 100)]);
        let mut follower = cache(&[(0, 0)]);
        let follower_log_end_offset = Offset(200);
        let asked = follower.latest_epoch().unwrap();

        let answer = leader.end_offset_for_epoch(asked, Offset(150));
        assert_eq!(answer, Some((LeaderEpoch(0), Offset(100))));

        let (_, leader_end) = answer.unwrap();
        let truncate_to = leader_end.min(follower_log_end_offset);
        assert_eq!(truncate_to, Offset(100));
        assert!(!follower.truncate_from_end(truncate_to));
        assert!(follower.assign(LeaderEpoch(1), Offset(100)));
        assert_eq!(follower, leader);
    }

    #[test]
    fn epoch_for_offset_is_the_covering_entry() {
        let cache = cache(&[(0, 10), (2, 100), (5, 250)]);
        assert_eq!(cache.epoch_for_offset(Offset(9)), None);
        assert_eq!(cache.epoch_for_offset(Offset(10)), Some(LeaderEpoch(0)));
        assert_eq!(cache.epoch_for_offset(Offset(99)), Some(LeaderEpoch(0)));
        assert_eq!(cache.epoch_for_offset(Offset(100)), Some(LeaderEpoch(2)));
        assert_eq!(cache.epoch_for_offset(Offset(10_000)), Some(LeaderEpoch(5)));
    }

    #[test]
    fn truncate_from_end_drops_epochs_starting_at_or_after_end() {
        let mut cache = cache(&[(0, 0), (1, 100), (2, 200)]);
        assert!(cache.truncate_from_end(Offset(100)));
        assert_eq!(pairs(&cache), [(0, 0)]);
    }

    #[test]
    fn truncate_from_end_inside_latest_epoch_changes_nothing() {
        let mut cache = cache(&[(0, 0), (1, 100)]);
        assert!(!cache.truncate_from_end(Offset(101)));
        assert_eq!(pairs(&cache), [(0, 0), (1, 100)]);
    }

    #[test]
    fn truncate_from_start_drops_epochs_ending_at_or_before_it_and_moves_covering_start() {
        let mut cache = cache(&[(0, 0), (1, 100), (2, 200)]);
        assert!(cache.truncate_from_start(Offset(150)));
        assert_eq!(pairs(&cache), [(1, 150), (2, 200)]);
    }

    #[test]
    fn truncate_from_start_at_an_epoch_start_drops_only_earlier_epochs() {
        let mut cache = cache(&[(0, 0), (1, 100), (2, 200)]);
        assert!(cache.truncate_from_start(Offset(100)));
        assert_eq!(pairs(&cache), [(1, 100), (2, 200)]);
    }

    #[test]
    fn truncate_from_start_at_first_start_or_before_changes_nothing() {
        let mut cache = cache(&[(1, 50), (2, 200)]);
        assert!(!cache.truncate_from_start(Offset(50)));
        assert!(!cache.truncate_from_start(Offset(10)));
        assert_eq!(pairs(&cache), [(1, 50), (2, 200)]);
    }

    #[test]
    fn drop_before_drops_epochs_ending_at_or_before_it_and_keeps_the_covering_start() {
        let mut cache = cache(&[(0, 0), (1, 100), (2, 200)]);
        assert!(cache.drop_before(Offset(150)));
        assert_eq!(pairs(&cache), [(1, 100), (2, 200)]);
        assert!(!cache.drop_before(Offset(199)));
        assert!(cache.drop_before(Offset(200)));
        assert_eq!(pairs(&cache), [(2, 200)]);
        assert!(!cache.drop_before(Offset(500)));
        assert_eq!(pairs(&cache), [(2, 200)]);
    }

    #[test]
    fn truncate_from_start_past_latest_start_keeps_latest_from_there() {
        let mut cache = cache(&[(0, 0), (1, 100)]);
        assert!(cache.truncate_from_start(Offset(500)));
        assert_eq!(pairs(&cache), [(1, 500)]);
    }

    #[test]
    #[should_panic(expected = "leader epoch cache: entry 1 (epoch 2, start offset 5)")]
    fn check_invariants_panics_on_decreasing_start_offsets() {
        let cache = LeaderEpochCache {
            entries: vec![entry(1, 10), entry(2, 5)],
        };
        cache.check_invariants();
    }

    /// The model: a map from epoch to start offset, changed by the same rules.
    #[derive(Debug, Default)]
    struct Model(BTreeMap<u32, u64>);

    impl Model {
        fn latest_epoch(&self) -> Option<u32> {
            self.0.keys().next_back().copied()
        }

        fn assign(&mut self, epoch: u32, start_offset: u64) {
            if self.latest_epoch() == Some(epoch) {
                return;
            }
            self.0.retain(|_, start| *start < start_offset);
            self.0.insert(epoch, start_offset);
        }

        fn truncate_from_end(&mut self, end_offset: u64) {
            self.0.retain(|_, start| *start < end_offset);
        }

        fn truncate_from_start(&mut self, start_offset: u64) {
            let covering = self
                .0
                .iter()
                .filter(|&(_, &start)| start <= start_offset)
                .map(|(&epoch, _)| epoch)
                .next_back();
            if let Some(epoch) = covering {
                self.0.retain(|_, start| *start > start_offset);
                self.0.insert(epoch, start_offset);
            }
        }

        fn end_offset_for_epoch(&self, requested: u32, log_end_offset: u64) -> Option<(u32, u64)> {
            let latest = self.latest_epoch()?;
            if requested == latest {
                return Some((latest, log_end_offset));
            }
            let (_, &next_start) = self.0.range(requested + 1..).next()?;
            let floor = self.0.range(..=requested).next_back();
            Some((floor.map_or(requested, |(&epoch, _)| epoch), next_start))
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        /// Assign the latest epoch plus this much (0 repeats the latest).
        Assign {
            epoch_step: u32,
            start_offset: u64,
        },
        TruncateFromEnd(u64),
        TruncateFromStart(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0u32..3, 0u64..400).prop_map(|(epoch_step, start_offset)| Op::Assign { epoch_step, start_offset }),
            1 => (0u64..400).prop_map(Op::TruncateFromEnd),
            1 => (0u64..400).prop_map(Op::TruncateFromStart),
        ]
    }

    proptest! {
        #[test]
        fn random_operations_keep_invariants_and_match_the_model(
            ops in proptest::collection::vec(op(), 0..40),
            log_end_offset in 400u64..500,
        ) {
            let mut cache = LeaderEpochCache::new();
            let mut model = Model::default();
            for op in ops {
                let before: Vec<(u32, u64)> = model.0.iter().map(|(&e, &o)| (e, o)).collect();
                let changed = match op {
                    Op::Assign { epoch_step, start_offset } => {
                        let epoch = model.latest_epoch().map_or(epoch_step, |latest| latest + epoch_step);
                        model.assign(epoch, start_offset);
                        cache.assign(LeaderEpoch(epoch), Offset(start_offset))
                    }
                    Op::TruncateFromEnd(end) => {
                        model.truncate_from_end(end);
                        cache.truncate_from_end(Offset(end))
                    }
                    Op::TruncateFromStart(start) => {
                        model.truncate_from_start(start);
                        cache.truncate_from_start(Offset(start))
                    }
                };
                cache.check_invariants();
                let after: Vec<(u32, u64)> = model.0.iter().map(|(&e, &o)| (e, o)).collect();
                prop_assert_eq!(pairs(&cache), after.clone());
                prop_assert_eq!(changed, before != after);
            }
            // Every epoch from below the first to past the latest, so each answer shape occurs.
            let epoch_past_latest = model.latest_epoch().map_or(0, |latest| latest + 1);
            for requested in 0..=epoch_past_latest {
                let expected = model
                    .end_offset_for_epoch(requested, log_end_offset)
                    .map(|(e, o)| (LeaderEpoch(e), Offset(o)));
                prop_assert_eq!(
                    cache.end_offset_for_epoch(LeaderEpoch(requested), Offset(log_end_offset)),
                    expected
                );
            }
        }
    }
}
