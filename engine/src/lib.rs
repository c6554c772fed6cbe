//! ringlog-engine: one partition's log on disk.
//!
//! | module           | owns                                                                    |
//! |------------------|-------------------------------------------------------------------------|
//! | [`format`]       | the RecordBatch v2 format: header, validation, records, builder (pure)  |
//! | [`io`]           | the IO backends: io_uring, portable, fault-injecting (tests)            |
//! | [`checkpoint`]   | the checkpoint files (recovery point, log start, HW, leader epochs): text format, atomic writes |
//! | [`epoch_cache`]  | [`LeaderEpochCache`]: leader epoch -> start offset, OffsetsForLeaderEpoch answers (pure) |
//! | [`config`]       | [`LogConfig`], [`FlushPolicy`]                                          |
//! | [`types`]        | [`Offset`], [`FilePos`], [`LeaderEpoch`], [`Timestamp`]                 |
//! | [`error`]        | [`Error`], the crate's one error family                                 |

pub mod checkpoint;
pub mod config;
pub mod epoch_cache;
pub mod error;
pub mod format;
pub mod io;
pub mod log;
pub mod recovery;
pub mod segment;
pub mod types;

pub use config::{FlushPolicy, LogConfig};
pub use epoch_cache::{EpochEntry, LeaderEpochCache};
pub use error::{Error, Result};
pub use io::{IoBackend, IoBackendKind};
pub use log::{
    AppendInfo, FileSlice, Log, ReadBytes, ReadSlices, RetentionOutcome, SegmentInfo,
    TimestampOffset,
};
pub use recovery::{RecoveryReport, TailCut};
pub use types::{FilePos, LeaderEpoch, Offset, Timestamp};
