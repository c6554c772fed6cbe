//! One partition's replication state on the broker that holds it, as sans-IO state machines:
//! inputs in (a produce arrived, an append completed, a follower fetched, time passed, the
//! controller committed an ISR), outputs out (append, answer the produce, propose an ISR, the
//! high watermark moved). The broker executes the outputs; the simulator executes them against
//! model disks and networks.
//!
//! | file         | owns                                                                       |
//! |--------------|----------------------------------------------------------------------------|
//! | [`leader`]   | [`Leader`]: follower progress, ISR shrink and expand proposals, the high watermark, acks 0/1/all and `min_insync_replicas`, produce timeouts |
//!
//! The follower side (fetch loop, truncation to the leader's epoch end offset) comes next.

pub mod leader;

pub use leader::{Acks, Leader, LeaderConfig, LeaderInput, LeaderOutput, ProduceError, ProduceId};
