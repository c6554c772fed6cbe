//! The controller quorum's openraft types: node ids are broker ids, a node's info is its
//! controller address, entries carry [`MetadataCommand`]s and answer [`CommandOutcome`]s, and a
//! snapshot is the serialized [`MetadataState`](super::MetadataState) in memory.

use std::io::Cursor;

use openraft::BasicNode;
use ringlog_replication::BrokerId;

use crate::state::{CommandOutcome, MetadataCommand};

openraft::declare_raft_types!(
    /// The controller's [`openraft::RaftTypeConfig`].
    pub(crate) TypeConfig:
        D = MetadataCommand,
        R = CommandOutcome,
        NodeId = u64,
        Node = BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

pub(crate) type NodeId = u64;
pub(crate) type Raft = openraft::Raft<TypeConfig>;
pub(crate) type Entry = openraft::Entry<TypeConfig>;
pub(crate) type LogId = openraft::LogId<NodeId>;
pub(crate) type Vote = openraft::Vote<NodeId>;
pub(crate) type StorageError = openraft::StorageError<NodeId>;
pub(crate) type StoredMembership = openraft::StoredMembership<NodeId, BasicNode>;
pub(crate) type SnapshotMeta = openraft::SnapshotMeta<NodeId, BasicNode>;
pub(crate) type Snapshot = openraft::Snapshot<TypeConfig>;

/// The Raft node id of a broker.
pub(crate) fn node_id(broker: BrokerId) -> NodeId {
    u64::from(broker.0)
}

/// The broker of a Raft node id; every node id in this quorum was made by [`node_id`].
pub(crate) fn broker_id(node: NodeId) -> BrokerId {
    BrokerId(u32::try_from(node).expect("controller node ids are broker ids"))
}
