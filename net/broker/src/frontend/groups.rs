//! What both frontends share of consumer groups: where a group's requests go (the leader of its
//! partition of `__consumer_offsets`), the parts a ListGroups, DescribeGroups or DeleteGroups
//! becomes, how the ListGroups answers merge, and a member's host as Kafka shows it. Each
//! frontend decodes its own requests and encodes its own responses around these.

use std::net::SocketAddr;
use std::time::Duration;

use ringlog_replication::{KafkaError, TopicPartition};

use crate::group::{GroupListing, GroupState};
use crate::offsets::{OFFSETS_TOPIC, OFFSETS_TOPIC_PARTITIONS, partition_for};
use crate::ops::{GroupAnswer, GroupOp, PartOp};

/// The partition of the offsets topic whose leader coordinates `group`.
pub(crate) fn offsets_partition(group: &str) -> TopicPartition {
    TopicPartition::new(OFFSETS_TOPIC, partition_for(group))
}

/// A member's host as Kafka shows it (Java's `InetAddress.toString`): "/127.0.0.1".
pub(crate) fn client_host(peer: SocketAddr) -> String {
    format!("/{}", peer.ip())
}

/// A client's millisecond timeout as a duration; a negative one is none (the coordinator
/// refuses a session timeout below its minimum).
pub(crate) fn millis(ms: i32) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// One part per group, in request order, on each group's coordinator.
pub(crate) fn parts_per_group(
    groups: &[String],
    op: impl Fn(&str) -> GroupOp,
) -> Vec<(TopicPartition, PartOp)> {
    groups
        .iter()
        .map(|group| (offsets_partition(group), PartOp::Group(op(group))))
        .collect()
}

/// A ListGroups' parts: one per partition of the offsets topic, each listing the groups in
/// `states` (Kafka's names, case-insensitive; empty: every state). A name that is no state
/// matches nothing, as in Kafka; with `exclude_all` (a filter that rules out every group, like
/// a group type other than classic) nothing is listed at all.
pub(crate) fn list_parts<'a>(
    states: impl IntoIterator<Item = &'a str>,
    exclude_all: bool,
) -> Vec<(TopicPartition, PartOp)> {
    let parsed: Vec<Option<GroupState>> = states.into_iter().map(GroupState::parse).collect();
    let none = exclude_all || (!parsed.is_empty() && parsed.iter().all(Option::is_none));
    let states: Vec<GroupState> = parsed.into_iter().flatten().collect();
    (0..OFFSETS_TOPIC_PARTITIONS)
        .map(|p| {
            let op = GroupOp::List {
                states: states.clone(),
                none,
            };
            (TopicPartition::new(OFFSETS_TOPIC, p), PartOp::Group(op))
        })
        .collect()
}

/// The groups a ListGroups' parts listed, ordered by id, and the error of a partition led here
/// that could not list (the last one). Partitions led elsewhere, or by no one, are skipped:
/// their groups are other brokers' to list.
pub(crate) fn merge_listings(
    answers: impl IntoIterator<Item = GroupAnswer>,
) -> (Vec<GroupListing>, Option<KafkaError>) {
    let mut groups: Vec<GroupListing> = Vec::new();
    let mut error = None;
    for answer in answers {
        match answer {
            GroupAnswer::List(Ok(listed)) => groups.extend(listed),
            GroupAnswer::List(Err(
                KafkaError::NotCoordinator | KafkaError::CoordinatorNotAvailable,
            )) => {}
            GroupAnswer::List(Err(other)) => error = Some(other),
            other => unreachable!("a list answered {other:?}"),
        }
    }
    groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
    (groups, error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(id: &str) -> GroupListing {
        GroupListing {
            group_id: id.to_string(),
            protocol_type: "consumer".to_string(),
            state: GroupState::Stable,
        }
    }

    #[test]
    fn a_list_skips_partitions_led_elsewhere_and_orders_by_id() {
        let answers = vec![
            GroupAnswer::List(Ok(vec![listing("b")])),
            GroupAnswer::List(Err(KafkaError::NotCoordinator)),
            GroupAnswer::List(Err(KafkaError::CoordinatorNotAvailable)),
            GroupAnswer::List(Ok(vec![listing("a")])),
        ];
        let (groups, error) = merge_listings(answers);
        assert_eq!(groups, vec![listing("a"), listing("b")]);
        assert_eq!(error, None);
        let (_, error) = merge_listings(vec![GroupAnswer::List(Err(
            KafkaError::CoordinatorLoadInProgress,
        ))]);
        assert_eq!(error, Some(KafkaError::CoordinatorLoadInProgress));
    }

    fn list_filter(parts: &[(TopicPartition, PartOp)]) -> (Vec<GroupState>, bool) {
        assert_eq!(parts.len(), OFFSETS_TOPIC_PARTITIONS as usize);
        match &parts[0].1 {
            PartOp::Group(GroupOp::List { states, none }) => (states.clone(), *none),
            other => panic!("not a list part: {other:?}"),
        }
    }

    #[test]
    fn a_list_asks_every_offsets_partition_with_the_parsed_states() {
        let parts = list_parts(["stable", "Nonsense"], false);
        for (p, (topic_partition, _)) in (0..).zip(&parts) {
            assert_eq!(*topic_partition, TopicPartition::new(OFFSETS_TOPIC, p));
        }
        assert_eq!(list_filter(&parts), (vec![GroupState::Stable], false));
        assert_eq!(list_filter(&list_parts([], false)), (vec![], false));
        // Only names that are no state: nothing matches.
        assert_eq!(
            list_filter(&list_parts(["Nonsense"], false)),
            (vec![], true)
        );
        assert_eq!(list_filter(&list_parts([], true)), (vec![], true));
    }

    #[test]
    fn a_host_is_shown_as_kafka_shows_it() {
        assert_eq!(client_host("127.0.0.1:5000".parse().unwrap()), "/127.0.0.1");
        assert_eq!(client_host("[::1]:5000".parse().unwrap()), "/::1");
    }
}
