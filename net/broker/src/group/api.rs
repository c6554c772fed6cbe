//! What the shard and the Kafka frontend speak to the coordinator: requests in the
//! coordinator's own terms (no protocol types), outcomes, and the effects a call returns.

use std::time::Duration;

use bytes::Bytes;
use ringlog_replication::KafkaError;

use super::GroupState;

/// A JoinGroup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct JoinRequest {
    pub group_id: String,
    /// "" for a member that has none yet.
    pub member_id: String,
    /// Static membership (KIP-345).
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocol_type: String,
    /// (name, metadata), in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    /// JoinGroup v4+ (KIP-394): a new dynamic member is given its id first and rejoins with it.
    pub require_known_member_id: bool,
    pub reason: Option<String>,
}

/// A SyncGroup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SyncRequest {
    pub group_id: String,
    pub generation: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    /// v5+; `None` is not checked.
    pub protocol_type: Option<String>,
    /// v5+; `None` is not checked.
    pub protocol_name: Option<String>,
    /// The leader's assignment by member id; empty from followers.
    pub assignments: Vec<(String, Bytes)>,
}

/// A Heartbeat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HeartbeatRequest {
    pub group_id: String,
    pub generation: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

/// A LeaveGroup: one member before v3, a batch from v3.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LeaveRequest {
    pub group_id: String,
    pub members: Vec<LeavingMember>,
}

/// One member of a LeaveGroup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LeavingMember {
    /// "" to remove a static member by its instance id alone (an admin's removal).
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub reason: Option<String>,
}

/// A member as the leader's JoinGroup answer lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct JoinedMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    /// Its metadata for the chosen protocol.
    pub metadata: Bytes,
}

/// A JoinGroup's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct JoinOutcome {
    pub error: Option<KafkaError>,
    /// -1 with an error.
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    /// "" with an error.
    pub leader: String,
    /// The member's id: the one given to a new member (also with MEMBER_ID_REQUIRED).
    pub member_id: String,
    /// Every member, for the leader; empty for followers.
    pub members: Vec<JoinedMember>,
}

impl JoinOutcome {
    /// A refusal.
    pub(crate) fn error(member_id: &str, error: KafkaError) -> JoinOutcome {
        JoinOutcome {
            error: Some(error),
            generation: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id: member_id.to_string(),
            members: Vec::new(),
        }
    }
}

/// A SyncGroup's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SyncOutcome {
    pub error: Option<KafkaError>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncOutcome {
    /// A refusal.
    pub(crate) fn error(error: KafkaError) -> SyncOutcome {
        SyncOutcome {
            error: Some(error),
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

/// Names one append the coordinator asked for; the shard hands it back to
/// [`Coordinator::persisted`](super::Coordinator::persisted) with the append's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct PersistToken(pub u64);

/// What a call asks the shard to do, in order.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Effect<R> {
    /// Answer the JoinGroup parked (or just made) with `R`.
    Join(R, JoinOutcome),
    /// Answer the SyncGroup parked with `R`.
    Sync(R, SyncOutcome),
    /// Append `records` (one RecordBatch v2) to this coordinator's partition with acks=all,
    /// then call `persisted(token, result)`. Every token must come back exactly once (or the
    /// coordinator be dropped with [`Coordinator::unload`](super::Coordinator::unload)):
    /// SyncGroups wait on it.
    Persist { token: PersistToken, records: Bytes },
}

/// A member, as DescribeGroups shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// Its metadata for the chosen protocol; empty unless the group is Stable (as Kafka).
    pub metadata: Bytes,
    /// Empty unless the group is Stable (as Kafka).
    pub assignment: Bytes,
}

/// A group, as DescribeGroups shows it. An unknown group is Dead with no members, and no error
/// (as Kafka answers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GroupDescription {
    pub group_id: String,
    pub state: GroupState,
    /// "" when unknown.
    pub protocol_type: String,
    /// "" unless the group is Stable (as Kafka).
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

/// A group, as ListGroups shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GroupListing {
    pub group_id: String,
    /// "" for a group that only stores offsets.
    pub protocol_type: String,
    pub state: GroupState,
}
