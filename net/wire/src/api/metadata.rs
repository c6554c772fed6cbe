//! Metadata (key 3): the cluster's brokers, and for each topic asked about its partitions'
//! leaders, epochs, replicas and ISR. Clients use it to find each partition's leader.
//!
//! Request body:
//!
//! | field  | type                     | notes                        |
//! |--------|--------------------------|------------------------------|
//! | topics | nullable array of string | null: every topic            |
//!
//! Response body (after the response's error code, see [`crate`]):
//!
//! | field                | type            | notes                                  |
//! |----------------------|-----------------|----------------------------------------|
//! | brokers              | array           | the live brokers                       |
//! | . broker_id          | i32             | at least 0                             |
//! | . host               | string          |                                        |
//! | . port               | u16             |                                        |
//! | . rack               | nullable string | null: no rack                          |
//! | topics               | array           |                                        |
//! | . error_code         | i16             | UNKNOWN_TOPIC_OR_PARTITION, INVALID_TOPIC_EXCEPTION |
//! | . name               | string          |                                        |
//! | . topic_id           | 16 bytes        | the topic's id (a UUID); all zero: none |
//! | . partitions         | array           |                                        |
//! | . . error_code       | i16             | LEADER_NOT_AVAILABLE when offline      |
//! | . . partition_index  | u32             |                                        |
//! | . . leader_id        | i32             | -1: no leader                          |
//! | . . leader_epoch     | i32             | -1: unknown                            |
//! | . . replica_nodes    | array of i32    | broker ids, in replica order           |
//! | . . isr_nodes        | array of i32    | broker ids                             |
//! | . . offline_replicas | array of i32    | broker ids of replicas that are down   |

use ringlog_format::LeaderEpoch;
use ringlog_replication::{BrokerId, Rack, TopicId};

use crate::error::WireError;
use crate::error_code::ErrorCode;
use crate::primitives::{ARRAY_MIN_LEN, Reader, STRING_MIN_LEN, Wire, Writer};

/// Which topics to describe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetadataRequest {
    /// `None`: every topic.
    pub topics: Option<Vec<String>>,
}

impl Wire for MetadataRequest {
    const MIN_LEN: usize = ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.nullable_array_with("topics", self.topics.as_deref(), |topic, w| {
            w.string("topics", topic)
        })
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        let topics = r.nullable_array_with("topics", STRING_MIN_LEN, |r| r.string("topics"))?;
        Ok(MetadataRequest { topics })
    }
}

/// A topic id's bytes on the wire.
const TOPIC_ID_LEN: usize = 16;

/// The cluster as the broker knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetadataResponse {
    pub brokers: Vec<MetadataBroker>,
    pub topics: Vec<MetadataTopic>,
}

/// A broker clients can connect to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetadataBroker {
    pub broker_id: BrokerId,
    pub host: String,
    pub port: u16,
    pub rack: Option<Rack>,
}

/// One topic asked about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetadataTopic {
    pub error_code: ErrorCode,
    pub name: String,
    /// [`TopicId::ZERO`] for a topic unknown, or created before topic ids.
    pub topic_id: TopicId,
    pub partitions: Vec<MetadataPartition>,
}

/// One partition's leadership and replicas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetadataPartition {
    pub error_code: ErrorCode,
    pub partition_index: u32,
    /// `None` (-1): no leader.
    pub leader_id: Option<BrokerId>,
    /// `None` (-1): unknown.
    pub leader_epoch: Option<LeaderEpoch>,
    pub replica_nodes: Vec<BrokerId>,
    pub isr_nodes: Vec<BrokerId>,
    pub offline_replicas: Vec<BrokerId>,
}

impl Wire for MetadataResponse {
    const MIN_LEN: usize = 2 * ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.array("brokers", &self.brokers)?;
        w.array("topics", &self.topics)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(MetadataResponse {
            brokers: r.array("brokers")?,
            topics: r.array("topics")?,
        })
    }
}

impl Wire for MetadataBroker {
    const MIN_LEN: usize = 4 + STRING_MIN_LEN + 2 + STRING_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.broker_id("broker_id", self.broker_id)?;
        w.string("host", &self.host)?;
        w.u16(self.port);
        w.nullable_string("rack", self.rack.as_ref().map(|rack| rack.0.as_str()))
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(MetadataBroker {
            broker_id: r.broker_id("broker_id")?,
            host: r.string("host")?,
            port: r.u16("port")?,
            rack: r.nullable_string("rack")?.map(Rack),
        })
    }
}

impl Wire for MetadataTopic {
    const MIN_LEN: usize = 2 + STRING_MIN_LEN + TOPIC_ID_LEN + ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.error_code(self.error_code);
        w.string("topic name", &self.name)?;
        w.raw(&self.topic_id.0);
        w.array("partitions", &self.partitions)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(MetadataTopic {
            error_code: r.error_code("error_code")?,
            name: r.string("topic name")?,
            topic_id: TopicId(r.uuid("topic_id")?),
            partitions: r.array("partitions")?,
        })
    }
}

impl Wire for MetadataPartition {
    const MIN_LEN: usize = 2 + 4 + 4 + 4 + 3 * ARRAY_MIN_LEN;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.error_code(self.error_code);
        w.u32(self.partition_index);
        w.optional_broker_id("leader_id", self.leader_id)?;
        w.optional_leader_epoch("leader_epoch", self.leader_epoch)?;
        write_brokers(w, "replica_nodes", &self.replica_nodes)?;
        write_brokers(w, "isr_nodes", &self.isr_nodes)?;
        write_brokers(w, "offline_replicas", &self.offline_replicas)
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        Ok(MetadataPartition {
            error_code: r.error_code("error_code")?,
            partition_index: r.u32("partition_index")?,
            leader_id: r.optional_broker_id("leader_id")?,
            leader_epoch: r.optional_leader_epoch("leader_epoch")?,
            replica_nodes: read_brokers(r, "replica_nodes")?,
            isr_nodes: read_brokers(r, "isr_nodes")?,
            offline_replicas: read_brokers(r, "offline_replicas")?,
        })
    }
}

fn write_brokers(w: &mut Writer, field: &'static str, ids: &[BrokerId]) -> Result<(), WireError> {
    w.array_with(field, ids, |id, w| w.broker_id(field, *id))
}

fn read_brokers(r: &mut Reader, field: &'static str) -> Result<Vec<BrokerId>, WireError> {
    r.array_with(field, 4, |r| r.broker_id(field))
}
