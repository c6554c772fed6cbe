//! One partition's replication state on the broker that holds it, as sans-IO state machines:
//! inputs in (a produce arrived, an append completed, a fetch arrived or was answered, time
//! passed, the controller committed a change), outputs out (append, truncate, send a fetch,
//! answer a produce or a fetch, propose an ISR, the high watermark moved). The broker executes
//! the outputs; the simulator executes them against model disks and networks.
//!
//! | file          | owns                                                                      |
//! |---------------|---------------------------------------------------------------------------|
//! | [`leader`]    | [`Leader`]: fetch validation, follower progress, ISR shrink and expand proposals, the high watermark, acks 0/1/all and `min_insync_replicas`, produce timeouts |
//! | [`follower`]  | [`Follower`]: the fetch loop, appending what the leader sends, truncating where the logs diverge, the high watermark the leader reports |
//! | [`replica`]   | [`Replica`]: a partition on one broker across role changes, driven by the controller's partition state |
//! | [`fetch`]     | what a follower's fetch carries and how the leader answers it ([`FetchError`], [`DivergingEpoch`], [`BatchMeta`]) |
//! | [`delete`]    | DeleteRecords on the leader: [`DeleteId`], [`DeleteError`], the deletes waiting for the ISR's log starts |
//! | [`log_state`] | [`LogState`]: what a state machine knows of its own log                   |

pub mod delete;
pub mod fetch;
pub mod follower;
pub mod leader;
pub mod log_state;
pub mod replica;

pub use delete::{DeleteError, DeleteId};
pub use fetch::{BatchMeta, DivergingEpoch, FetchError, FollowerFetchRequest};
pub use follower::{
    FetchId, FetchResponse, Follower, FollowerConfig, FollowerInput, FollowerOutput,
};
pub use leader::{
    Acks, FollowerFetchAnswer, Leader, LeaderConfig, LeaderInput, LeaderOutput, ProduceError,
    ProduceId,
};
pub use log_state::LogState;
pub use replica::{Replica, ReplicaInput, ReplicaOutput};
