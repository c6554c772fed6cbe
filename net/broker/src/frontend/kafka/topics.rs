//! Topics as Kafka's requests name them: by name, or, from the versions that carry topic ids
//! (Produce v13, Fetch v13), by id alone.

use kafka_protocol::messages::TopicName;
use ringlog_replication::TopicId;
use uuid::Uuid;

use ringlog_security::acl::{Operation, ResourceType};

use super::TOPIC_AUTHORIZATION_FAILED;
use crate::catalog::Catalog;
use crate::frontend::access::Access;

/// A topic of a request, as the catalog knows it.
#[derive(Debug)]
pub(super) struct Named {
    /// `None`: an id no topic has.
    pub name: Option<String>,
    pub id: TopicId,
    /// The request's partitions of it, in request order.
    pub partitions: Vec<i32>,
    /// The error every partition of it is answered with, decided before any part runs:
    /// UNKNOWN_TOPIC_ID for an id no topic has, TOPIC_AUTHORIZATION_FAILED for a topic the
    /// client may not do the request's operation on. Such a topic has no parts.
    pub refusal: Option<i16>,
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
        let refusal = name.is_none().then_some(UNKNOWN_TOPIC_ID);
        Named {
            name,
            id,
            partitions: Vec::new(),
            refusal,
        }
    }

    /// Refuses the topic with TOPIC_AUTHORIZATION_FAILED unless the client may do `operation`
    /// on it (a topic already refused stays as it is).
    pub(super) fn authorize(&mut self, access: &Access, operation: Operation) {
        if let (None, Some(name)) = (self.refusal, &self.name)
            && !access.allows(operation, ResourceType::Topic, name)
        {
            self.refusal = Some(TOPIC_AUTHORIZATION_FAILED);
        }
    }

    /// The name of a topic whose partitions run as parts: neither unknown nor refused.
    pub(super) fn served(&self) -> Option<&str> {
        match self.refusal {
            None => self.name.as_deref(),
            Some(_) => None,
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

/// A request's topics by name in request order, each with its partition indexes and the error
/// they are all answered with if the topic was refused before any part ran.
pub(super) type PlannedTopics = Vec<(TopicName, Vec<i32>, Option<i16>)>;

/// TOPIC_AUTHORIZATION_FAILED for a topic the client may not do `operation` on: the
/// `refusal` of [`plan_parts`] for a request that needs `operation` on each topic.
pub(super) fn unless_allowed(
    access: &Access,
    operation: Operation,
) -> impl Fn(&TopicName) -> Option<i16> + '_ {
    move |name| {
        let allowed = access.allows(operation, ResourceType::Topic, name.0.as_str());
        (!allowed).then_some(TOPIC_AUTHORIZATION_FAILED)
    }
}

/// One part per partition of `topics` (each a name and its partitions), in request order,
/// but for the topics `refusal` refuses (with an error code): the topics as [`answer_parts`]
/// walks them back, and the parts.
pub(super) fn plan_parts<P>(
    topics: impl IntoIterator<Item = (TopicName, Vec<P>)>,
    refusal: impl Fn(&TopicName) -> Option<i16>,
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
            let refused = refusal(&name);
            let indexes = partitions
                .iter()
                .map(|partition| {
                    if refused.is_none() {
                        parts.push((topic_partition(&name, index(partition)), op(partition)));
                    }
                    index(partition)
                })
                .collect();
            (name, indexes, refused)
        })
        .collect();
    (planned, parts)
}

/// The answer's topics in request order, each partition answered by `answer` from the next
/// part result, or from its topic's refusal (the parts were made in this order, by
/// [`plan_parts`]).
pub(super) fn answer_parts<A>(
    topics: PlannedTopics,
    results: Vec<crate::ops::PartResult>,
    mut answer: impl FnMut(i32, Result<crate::ops::PartResult, i16>) -> A,
) -> Vec<(TopicName, Vec<A>)> {
    let mut results = results.into_iter();
    topics
        .into_iter()
        .map(|(name, partitions, refused)| {
            let answers = partitions
                .into_iter()
                .map(|index| {
                    let result = match refused {
                        Some(code) => Err(code),
                        None => Ok(results.next().expect("a result for each part")),
                    };
                    answer(index, result)
                })
                .collect();
            (name, answers)
        })
        .collect()
}
