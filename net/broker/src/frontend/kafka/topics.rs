//! Topics as Kafka's requests name them: by name, or, from the versions that carry topic ids
//! (Produce v13, Fetch v13), by id alone.

use kafka_protocol::messages::TopicName;
use ringlog_replication::TopicId;
use uuid::Uuid;

use crate::catalog::Catalog;

/// A topic of a request, as the catalog knows it.
#[derive(Debug)]
pub(super) struct Named {
    /// `None`: an id no topic has (UNKNOWN_TOPIC_ID).
    pub name: Option<String>,
    pub id: TopicId,
    /// The request's partitions of it, in request order.
    pub partitions: Vec<i32>,
}

impl Named {
    /// The topic a request names: by `id` when the version addresses topics by id (`by_id`),
    /// else by `name`.
    pub(super) fn resolve(catalog: &Catalog, by_id: bool, name: &TopicName, id: Uuid) -> Named {
        let (name, id) = if by_id {
            let id = TopicId(id.into_bytes());
            (catalog.topic_named_by(id).map(str::to_string), id)
        } else {
            let name = name.0.to_string();
            let id = catalog.topic(&name).map_or(TopicId::ZERO, |topic| topic.id);
            (Some(name), id)
        };
        Named {
            name,
            id,
            partitions: Vec::new(),
        }
    }

    pub(super) fn kafka_name(&self) -> TopicName {
        let name = self.name.clone().unwrap_or_default();
        TopicName(kafka_protocol::protocol::StrBytes::from_string(name))
    }

    pub(super) fn kafka_id(&self) -> Uuid {
        Uuid::from_bytes(self.id.0)
    }
}

/// Kafka's UNKNOWN_TOPIC_ID.
pub(super) const UNKNOWN_TOPIC_ID: i16 = 100;

/// The partition a request names by topic name; a negative index names none (it is refused
/// as unknown by the owner, which serves no such partition).
pub(super) fn topic_partition(name: &TopicName, index: i32) -> ringlog_replication::TopicPartition {
    let index = u32::try_from(index).unwrap_or(u32::MAX);
    ringlog_replication::TopicPartition::new(name.0.as_str(), index)
}
