//! The operations a request's partition parts run on the partition's owner shard, and their
//! results: what the protocol frontends turn requests into and results back from. The shard
//! runs them ([`PartOp`] in, [`PartResult`] out) without knowing which protocol asked:
//! refusals are `KafkaError`s, which a frontend turns into its protocol's codes.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ringlog_engine::{FileSlice, LeaderEpoch, Offset, Timestamp};
pub(crate) use ringlog_replication::driver::ProduceOutcome;
use ringlog_replication::driver::Refusal;
use ringlog_replication::partition::{Acks, DivergingEpoch, FollowerFetchRequest};
use ringlog_replication::{BrokerId, KafkaError};

use ringlog_controller::security::ScramAlteration;
use ringlog_security::acl::{AclBinding, AclFilter};

use crate::group::{
    GroupDescription, GroupListing, GroupState, HeartbeatRequest, JoinOutcome, JoinRequest,
    LeaveRequest, LeavingMember, SyncOutcome, SyncRequest,
};
use crate::offsets::{Commit, Committed};

/// The outcome of a fetch from one partition: where the log stands and the batches to send.
#[derive(Clone, Debug, Default)]
pub(crate) struct FetchOutcome {
    /// Why the fetch was refused, if it was.
    pub error: Option<KafkaError>,
    pub high_watermark: Option<Offset>,
    pub log_start_offset: Option<Offset>,
    pub log_end_offset: Option<Offset>,
    /// For a follower whose log has a suffix the leader's lacks: truncate to this.
    pub diverging_epoch: Option<DivergingEpoch>,
    pub slices: Vec<FileSlice>,
    pub bytes: u64,
}

impl FetchOutcome {
    /// A fetch refused with `error`.
    pub(crate) fn refused(error: KafkaError) -> FetchOutcome {
        FetchOutcome {
            error: Some(error),
            ..FetchOutcome::default()
        }
    }
}

/// Which offset a ListOffsets part looks up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The high watermark: the next offset a consumer can read.
    Latest,
    /// The first offset whose record's timestamp is at or after this one.
    Timestamp(Timestamp),
    /// The record with the largest timestamp (the first of them), below the high watermark
    /// (Kafka's KIP-734).
    MaxTimestamp,
    /// The last offset in tiered storage (KIP-1005): nothing is tiered here, so none.
    LatestTiered,
}

/// A group's commits by topic: (partition, what was committed, if anything).
pub(crate) type GroupCommits = BTreeMap<String, Vec<(u32, Option<Committed>)>>;

/// The work one partition does for a request.
#[derive(Debug)]
pub(crate) enum PartOp {
    Produce {
        records: Bytes,
        acks: Acks,
        timeout: Duration,
    },
    /// A consumer's fetch.
    Fetch {
        offset: Offset,
        max_bytes: u64,
        deadline: Instant,
        /// The leader epoch the consumer believes current, checked when given.
        current_leader_epoch: Option<LeaderEpoch>,
    },
    /// A follower's fetch.
    FollowerFetch {
        replica: BrokerId,
        request: FollowerFetchRequest,
        max_bytes: u64,
        deadline: Instant,
    },
    ListOffsets {
        spec: OffsetSpec,
        /// The leader epoch the client believes current, checked when given.
        current_leader_epoch: Option<LeaderEpoch>,
    },
    /// Where `leader_epoch` ends in the leader's log (Kafka's OffsetForLeaderEpoch); `None`
    /// (Kafka's UNDEFINED_EPOCH, -1) is answered with no epoch, after the same checks.
    OffsetForLeaderEpoch {
        leader_epoch: Option<LeaderEpoch>,
        /// The leader epoch the client believes current, checked when given.
        current_leader_epoch: Option<LeaderEpoch>,
    },
    /// Move the log start up to `offset` (`None`: the high watermark), Kafka's DeleteRecords;
    /// answered once every ISR replica's log starts there, at most after `timeout`.
    DeleteRecords {
        offset: Option<Offset>,
        timeout: Duration,
    },
    /// Store a group's commits in its partition of the offsets topic, once the group's
    /// coordinator accepts who commits (`member`: `None` for a consumer in assign mode).
    CommitOffsets {
        commits: Vec<Commit>,
        member: Option<CommitMember>,
    },
    /// A consumer group's membership or administration, run by the group's coordinator.
    Group(GroupOp),
    /// Read a group's commits: every one, or those of these topics' partitions.
    FetchOffsets {
        group: String,
        topics: Option<Vec<(String, Vec<u32>)>>,
    },
}

/// Who commits offsets for a group with members: checked against the group's generation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CommitMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub generation: i32,
}

/// A request to a group's coordinator.
#[derive(Debug)]
pub(crate) enum GroupOp {
    Join(JoinRequest),
    Sync(SyncRequest),
    Heartbeat(HeartbeatRequest),
    Leave(LeaveRequest),
    Describe(String),
    /// The groups in `states` (every state when empty) that this partition's coordinator
    /// knows; none at all with `none` (a filter nothing here matches).
    List {
        states: Vec<GroupState>,
        none: bool,
    },
    Delete(String),
    DeleteOffsets {
        group: String,
        partitions: Vec<(String, u32)>,
    },
}

/// A group coordinator's answer.
#[derive(Debug)]
pub(crate) enum GroupAnswer {
    Join(JoinOutcome),
    Sync(SyncOutcome),
    Heartbeat(Option<KafkaError>),
    /// The members asked to leave and each one's answer, or why none was looked at.
    Leave(Result<(Vec<LeavingMember>, Vec<Option<KafkaError>>), KafkaError>),
    Describe(Result<GroupDescription, KafkaError>),
    List(Result<Vec<GroupListing>, KafkaError>),
    Delete(Option<KafkaError>),
    /// Each partition's answer, or the group's refusal.
    DeleteOffsets(Result<Vec<(String, u32, Option<KafkaError>)>, KafkaError>),
}

impl GroupAnswer {
    /// The answer to `op` refused whole with `error`.
    pub(crate) fn refused(op: &GroupOp, error: KafkaError) -> GroupAnswer {
        match op {
            GroupOp::Join(join) => GroupAnswer::Join(JoinOutcome::error(&join.member_id, error)),
            GroupOp::Sync(_) => GroupAnswer::Sync(SyncOutcome::error(error)),
            GroupOp::Heartbeat(_) => GroupAnswer::Heartbeat(Some(error)),
            GroupOp::Leave(_) => GroupAnswer::Leave(Err(error)),
            GroupOp::Describe(_) => GroupAnswer::Describe(Err(error)),
            GroupOp::List { .. } => GroupAnswer::List(Err(error)),
            GroupOp::Delete(_) => GroupAnswer::Delete(Some(error)),
            GroupOp::DeleteOffsets { .. } => GroupAnswer::DeleteOffsets(Err(error)),
        }
    }
}

/// A part's result.
#[derive(Debug)]
pub(crate) enum PartResult {
    Produce(ProduceOutcome),
    Fetch(FetchOutcome),
    ListOffsets {
        error: Option<KafkaError>,
        offset: Option<Offset>,
        timestamp: Option<Timestamp>,
        /// The epoch of the leader that wrote the offset (the current one for latest).
        leader_epoch: Option<LeaderEpoch>,
    },
    /// The largest epoch at most the one asked for and where it ends; `None` when no epoch
    /// answers (Kafka's UNDEFINED_EPOCH).
    EpochEndOffset {
        error: Option<KafkaError>,
        end: Option<(LeaderEpoch, Offset)>,
    },
    /// The low watermark a DeleteRecords reached, or why it was refused.
    DeleteRecords(Result<Offset, Refusal>),
    /// The commits were stored, or refused with this error.
    OffsetsCommitted(Option<KafkaError>),
    /// Per topic: (partition, what was committed, if anything).
    Offsets(Result<GroupCommits, KafkaError>),
    Group(GroupAnswer),
}

impl PartResult {
    /// The answer to `op` for a partition this shard does not serve: `error` says why.
    pub(crate) fn refused(op: &PartOp, error: KafkaError) -> PartResult {
        match op {
            PartOp::Produce { .. } => {
                let message = match error {
                    KafkaError::NotLeaderOrFollower => "this broker does not lead the partition",
                    _ => "unknown topic or partition",
                };
                PartResult::Produce(ProduceOutcome::Refused(Refusal::new(error, message)))
            }
            PartOp::Fetch { .. } | PartOp::FollowerFetch { .. } => {
                PartResult::Fetch(FetchOutcome::refused(error))
            }
            PartOp::ListOffsets { .. } => PartResult::ListOffsets {
                error: Some(error),
                offset: None,
                timestamp: None,
                leader_epoch: None,
            },
            PartOp::OffsetForLeaderEpoch { .. } => PartResult::EpochEndOffset {
                error: Some(error),
                end: None,
            },
            PartOp::DeleteRecords { .. } => {
                let message = match error {
                    KafkaError::NotLeaderOrFollower => "this broker does not lead the partition",
                    _ => "unknown topic or partition",
                };
                PartResult::DeleteRecords(Err(Refusal::new(error, message)))
            }
            PartOp::CommitOffsets { .. } => PartResult::OffsetsCommitted(Some(group_error(error))),
            PartOp::FetchOffsets { .. } => PartResult::Offsets(Err(group_error(error))),
            PartOp::Group(op) => PartResult::Group(GroupAnswer::refused(op, group_error(error))),
        }
    }
}

/// A group request's error: the group's partition of the offsets topic led elsewhere means
/// another broker is the group's coordinator; the offsets topic missing means none is yet.
pub(crate) fn group_error(error: KafkaError) -> KafkaError {
    match error {
        KafkaError::NotLeaderOrFollower => KafkaError::NotCoordinator,
        KafkaError::UnknownTopicOrPartition | KafkaError::LeaderNotAvailable => {
            KafkaError::CoordinatorNotAvailable
        }
        other => other,
    }
}

/// An admin request, for the agent to carry out through the controller quorum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum AdminOp {
    CreateTopics {
        topics: Vec<NewTopic>,
        /// How long to wait for each creation to commit.
        timeout: Duration,
        /// Check the topics, create nothing.
        validate_only: bool,
    },
    DeleteTopics {
        names: Vec<String>,
        /// How long to wait for each deletion to commit.
        timeout: Duration,
    },
    AlterConfigs {
        topics: Vec<TopicAlteration>,
        /// Check the changes, apply nothing.
        validate_only: bool,
    },
    /// Adds partitions to topics.
    CreatePartitions {
        topics: Vec<NewPartitions>,
        /// How long to wait for each addition to commit.
        timeout: Duration,
        /// Check the additions, add nothing.
        validate_only: bool,
    },
    /// A new idempotent producer's id, from the blocks the controller allocates this broker.
    InitProducerId,
    /// Sets and removes users' SCRAM credentials, each user on its own (the frontend has
    /// refused what it could: mechanisms it does not know, credentials it could not derive).
    AlterScramCredentials { alterations: Vec<ScramAlteration> },
    /// Adds ACL bindings, each on its own.
    CreateAcls { bindings: Vec<AclBinding> },
    /// Removes the ACL bindings each filter matches.
    DeleteAcls { filters: Vec<AclFilter> },
}

/// Partitions to add to a topic: until it has `count`, spread over the live brokers or on
/// `assignments` (one replica list per new partition).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NewPartitions {
    pub name: String,
    pub count: u32,
    pub assignments: Option<Vec<Vec<BrokerId>>>,
}

/// A topic to create. `None` counts are the broker's defaults (`num_partitions`,
/// `default_replication_factor`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NewTopic {
    pub name: String,
    pub partitions: Option<u32>,
    pub replication_factor: Option<u16>,
    /// Topic config overrides, as key and value strings.
    pub configs: Vec<(String, String)>,
    /// Each partition's replicas as assigned by hand (preferred leader first); `None`: spread
    /// over the live brokers. With it, `partitions` and `replication_factor` are left out.
    pub assignments: Option<Vec<Vec<BrokerId>>>,
}

/// A change to a topic's config: the keys to set (`Some`) or return to their default (`None`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TopicAlteration {
    pub name: String,
    pub changes: Vec<(String, Option<String>)>,
}

/// An admin operation's outcome.
#[derive(Debug)]
pub(crate) enum AdminOutcome {
    /// Per topic, in the request's order, its name and its refusal if it was refused.
    Topics(TopicOutcomes),
    /// A new producer id, at epoch 0, or why there is none (COORDINATOR_LOAD_IN_PROGRESS: no
    /// block from the controller in time).
    ProducerId(Result<i64, Refusal>),
    /// Per user named, in the order first named, its refusal if it was refused.
    Users(Vec<(String, Option<Refusal>)>),
    /// Per binding, in the request's order, its refusal if it was refused.
    AclsCreated(Vec<Option<Refusal>>),
    /// Per filter, in the request's order, the bindings it deleted, or why it deleted none.
    AclsDeleted(Vec<Result<Vec<AclBinding>, Refusal>>),
}

/// Per topic, in the request's order, its name and its refusal if it was refused.
pub(crate) type TopicOutcomes = Vec<(String, Option<Refusal>)>;

/// A leader's answer to one of this broker's follower fetches, as the agent's fetcher read it
/// off the wire. Its batches are not checked yet: the partition's owner checks every one
/// whole (CRC included) before the replica hears of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LeaderAnswer {
    Records {
        high_watermark: Offset,
        /// The leader's log start, if it said: the follower's follows it.
        log_start_offset: Option<Offset>,
        records: Bytes,
    },
    /// The follower's log has a suffix the leader's lacks: truncate to the end of this epoch.
    Diverging {
        epoch: LeaderEpoch,
        end_offset: Offset,
        high_watermark: Offset,
    },
    /// The fetch offset is outside the leader's log, which starts here (if it said).
    OffsetOutOfRange {
        log_start_offset: Option<Offset>,
    },
    /// The leader fenced the fetch's epoch (it is older than the leader's) or does not know
    /// it yet (it is newer).
    FencedLeaderEpoch,
    UnknownLeaderEpoch,
    /// The leader does not lead the partition (yet, or any more).
    NotLeader,
    /// An answer this broker cannot act on, and why.
    Unusable(String),
}
