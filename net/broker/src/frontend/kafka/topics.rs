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

/// A request's topics by name, each with its partition indexes, in request order.
pub(super) type PlannedTopics = Vec<(TopicName, Vec<i32>)>;

/// One part per partition of `topics` (each a name and its partitions), in request order:
/// the topics as [`answer_parts`] walks them back, and the parts.
pub(super) fn plan_parts<P>(
    topics: impl IntoIterator<Item = (TopicName, Vec<P>)>,
    index: impl Fn(&P) -> i32,
    op: impl Fn(&P) -> crate::ops::PartOp,
) -> (
    PlannedTopics,
    Vec<(ringlog_replication::TopicPartition, crate::ops::PartOp)>,
) {
    let mut parts = Vec::new();
    let planned = topics
        .into_iter()
        .map(|(name, partitions)| {
            let indexes = partitions
                .iter()
                .map(|partition| {
                    parts.push((topic_partition(&name, index(partition)), op(partition)));
                    index(partition)
                })
                .collect();
            (name, indexes)
        })
        .collect();
    (planned, parts)
}

/// The answer's topics in request order, each partition answered by `answer` from the next
/// part result (the parts were made in this order, by [`plan_parts`]).
pub(super) fn answer_parts<A>(
    topics: PlannedTopics,
    results: Vec<crate::ops::PartResult>,
    mut answer: impl FnMut(i32, Option<crate::ops::PartResult>) -> A,
) -> Vec<(TopicName, Vec<A>)> {
    let mut results = results.into_iter();
    topics
        .into_iter()
        .map(|(name, partitions)| {
            let answers = partitions
                .into_iter()
                .map(|index| answer(index, results.next()))
                .collect();
            (name, answers)
        })
        .collect()
}
