//! What a replica's state machine knows of its own log: where it starts and ends, the high
//! watermark, and which leader epoch started where. The broker reads these off the engine's log
//! when the replica takes a role; from then on the state machine keeps its copy in step with
//! the intents it gives (appends, truncations, moving the log start), so it never asks the log.
//! The log start may run ahead of the copy (retention deletes old segments on its own); the
//! copy is then lower than the log's, which is the safe side for what it is used for: a
//! follower reporting how far its log start has come.

use ringlog_format::LeaderEpochCache;

use crate::types::{LeaderEpoch, Offset};

/// A replica's log as its state machine sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogState {
    /// The first offset the log holds (moved up by DeleteRecords and retention).
    pub log_start_offset: Offset,
    /// The next offset to be assigned.
    pub log_end_offset: Offset,
    /// The last high watermark this replica knew (from its checkpoint after a restart).
    pub high_watermark: Offset,
    /// The log's leader-epoch cache.
    pub epochs: LeaderEpochCache,
}

impl LogState {
    /// The epoch of the log's last batch, `None` for a log without batches.
    pub fn last_epoch(&self) -> Option<LeaderEpoch> {
        self.epochs.latest_epoch()
    }

    /// Panics unless `log_start_offset <= high_watermark <= log_end_offset` and every epoch
    /// starts at or before the log end.
    pub fn check_invariants(&self) {
        assert!(
            self.log_start_offset <= self.high_watermark,
            "log start offset {} above high watermark {}",
            self.log_start_offset,
            self.high_watermark
        );
        assert!(
            self.high_watermark <= self.log_end_offset,
            "high watermark {} above log end offset {}",
            self.high_watermark,
            self.log_end_offset
        );
        self.epochs.check_invariants();
        if let Some(latest) = self.epochs.latest() {
            assert!(
                latest.start_offset <= self.log_end_offset,
                "epoch {} starts at {}, past the log end offset {}",
                latest.epoch,
                latest.start_offset,
                self.log_end_offset
            );
        }
    }
}
