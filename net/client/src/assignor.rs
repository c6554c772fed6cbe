//! The partition assignors a group's leader runs over every member's subscription, as Kafka's
//! consumer names and computes them, so a group mixing ringlog's consumer with Kafka's clients
//! agrees on what each protocol name means. Pure.
//!
//! - `range` (Kafka's RangeAssignor): topic by topic, the members subscribed to it in member id
//!   order each take a consecutive range of its partitions; the first `partitions % members`
//!   take one more. Kafka orders static members by their instance id first; ringlog's consumer
//!   has no static membership, so member ids order everyone.
//! - `roundrobin` (Kafka's RoundRobinAssignor): every partition of every subscribed topic in
//!   (topic, partition) order, dealt to the members in member id order, skipping a member not
//!   subscribed to the partition's topic.

use std::collections::BTreeMap;

/// A partition assignment strategy, by the protocol name Kafka gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Assignor {
    /// Kafka's `range`: consecutive partitions of each topic per member.
    Range,
    /// Kafka's `roundrobin`: every partition dealt to the members in turn.
    RoundRobin,
}

/// Each member's partitions, topic by topic; every member is present, empty when it got none.
pub(crate) type Plan = BTreeMap<String, BTreeMap<String, Vec<u32>>>;

impl Assignor {
    /// The protocol name in JoinGroup, as Kafka's consumers send it.
    pub fn name(self) -> &'static str {
        match self {
            Assignor::Range => "range",
            Assignor::RoundRobin => "roundrobin",
        }
    }

    /// The assignor a protocol name stands for.
    pub fn from_name(name: &str) -> Option<Assignor> {
        [Assignor::Range, Assignor::RoundRobin]
            .into_iter()
            .find(|assignor| assignor.name() == name)
    }

    /// Assigns the partitions of the subscribed topics (`partition_counts`; a topic missing
    /// from it is skipped) to `members`, each given by its id and its topics.
    pub(crate) fn assign(
        self,
        members: &BTreeMap<String, Vec<String>>,
        partition_counts: &BTreeMap<String, u32>,
    ) -> Plan {
        let mut plan: Plan = members
            .keys()
            .map(|id| (id.clone(), BTreeMap::new()))
            .collect();
        match self {
            Assignor::Range => range(members, partition_counts, &mut plan),
            Assignor::RoundRobin => round_robin(members, partition_counts, &mut plan),
        }
        plan
    }
}

/// The members subscribed to `topic`, in member id order.
fn subscribers<'a>(members: &'a BTreeMap<String, Vec<String>>, topic: &str) -> Vec<&'a String> {
    members
        .iter()
        .filter(|(_, topics)| topics.iter().any(|t| t == topic))
        .map(|(id, _)| id)
        .collect()
}

fn range(
    members: &BTreeMap<String, Vec<String>>,
    partition_counts: &BTreeMap<String, u32>,
    plan: &mut Plan,
) {
    for (topic, &count) in partition_counts {
        let subscribers = subscribers(members, topic);
        let Ok(n) = u32::try_from(subscribers.len()) else {
            unreachable!("more members than u32::MAX");
        };
        if n == 0 {
            continue;
        }
        let (per_member, extra) = (count / n, count % n);
        let mut next = 0;
        for (i, member) in (0..n).zip(subscribers) {
            let take = per_member + u32::from(i < extra);
            if take > 0 {
                let partitions = (next..next + take).collect();
                plan.get_mut(member)
                    .expect("every member has a plan")
                    .insert(topic.clone(), partitions);
            }
            next += take;
        }
        debug_assert_eq!(next, count, "range assigned every partition of {topic}");
    }
}

fn round_robin(
    members: &BTreeMap<String, Vec<String>>,
    partition_counts: &BTreeMap<String, u32>,
    plan: &mut Plan,
) {
    let ids: Vec<&String> = members.keys().collect();
    let mut turn = 0usize;
    for (topic, &count) in partition_counts {
        if subscribers(members, topic).is_empty() {
            continue;
        }
        for partition in 0..count {
            // Some member is subscribed, so this finds one within ids.len() steps.
            let member = loop {
                let candidate = ids[turn % ids.len()];
                turn += 1;
                if members[candidate].iter().any(|t| t == topic) {
                    break candidate;
                }
            };
            plan.get_mut(member)
                .expect("every member has a plan")
                .entry(topic.clone())
                .or_default()
                .push(partition);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn members(list: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        list.iter()
            .map(|(id, topics)| {
                (
                    id.to_string(),
                    topics.iter().map(|t| t.to_string()).collect(),
                )
            })
            .collect()
    }

    fn counts(list: &[(&str, u32)]) -> BTreeMap<String, u32> {
        list.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    fn of(plan: &Plan, member: &str) -> Vec<(String, Vec<u32>)> {
        plan[member].clone().into_iter().collect()
    }

    #[test]
    fn range_gives_consecutive_partitions_per_topic_the_first_members_one_more() {
        let members = members(&[("b", &["t0", "t1"]), ("a", &["t0", "t1"])]);
        let plan = Assignor::Range.assign(&members, &counts(&[("t0", 3), ("t1", 3)]));
        // Kafka's javadoc example: C0 gets t0p0, t0p1, t1p0, t1p1; C1 gets t0p2, t1p2.
        assert_eq!(
            of(&plan, "a"),
            [("t0".into(), vec![0, 1]), ("t1".into(), vec![0, 1])]
        );
        assert_eq!(
            of(&plan, "b"),
            [("t0".into(), vec![2]), ("t1".into(), vec![2])]
        );
    }

    #[test]
    fn roundrobin_deals_every_partition_in_turn() {
        let members = members(&[("a", &["t0", "t1"]), ("b", &["t0", "t1"])]);
        let plan = Assignor::RoundRobin.assign(&members, &counts(&[("t0", 3), ("t1", 3)]));
        // Kafka's javadoc example: C0 gets t0p0, t0p2, t1p1; C1 gets t0p1, t1p0, t1p2.
        assert_eq!(
            of(&plan, "a"),
            [("t0".into(), vec![0, 2]), ("t1".into(), vec![1])]
        );
        assert_eq!(
            of(&plan, "b"),
            [("t0".into(), vec![1]), ("t1".into(), vec![0, 2])]
        );
    }

    #[test]
    fn members_get_only_topics_they_subscribed_to_and_extra_members_get_nothing() {
        let members = members(&[("a", &["t0"]), ("b", &["t1"]), ("c", &["t1"])]);
        for assignor in [Assignor::Range, Assignor::RoundRobin] {
            let plan = assignor.assign(&members, &counts(&[("t0", 2), ("t1", 1)]));
            assert_eq!(of(&plan, "a"), [("t0".into(), vec![0, 1])], "{assignor:?}");
            assert_eq!(of(&plan, "b"), [("t1".into(), vec![0])], "{assignor:?}");
            assert!(plan["c"].is_empty(), "{assignor:?}: {plan:?}");
        }
    }

    #[test]
    fn names_are_kafkas() {
        assert_eq!(Assignor::from_name("range"), Some(Assignor::Range));
        assert_eq!(
            Assignor::from_name("roundrobin"),
            Some(Assignor::RoundRobin)
        );
        assert_eq!(Assignor::from_name("cooperative-sticky"), None);
    }

    proptest! {
        /// Every partition of every subscribed topic goes to exactly one member subscribed to it,
        /// and range's shares differ by at most one per topic.
        #[test]
        fn assignments_are_disjoint_and_cover_the_subscribed_partitions(
            subscriptions in proptest::collection::vec(proptest::collection::btree_set(0usize..3, 1..3), 1..6),
            partition_counts in proptest::collection::vec(0u32..9, 3),
        ) {
            let topics = ["t0", "t1", "t2"];
            let members: BTreeMap<String, Vec<String>> = subscriptions.iter().enumerate()
                .map(|(i, s)| (format!("m{i}"), s.iter().map(|&t| topics[t].to_string()).collect()))
                .collect();
            let counts: BTreeMap<String, u32> = topics.iter().zip(&partition_counts)
                .map(|(t, &n)| (t.to_string(), n)).collect();
            for assignor in [Assignor::Range, Assignor::RoundRobin] {
                let plan = assignor.assign(&members, &counts);
                for (topic, &count) in &counts {
                    let subscribed = subscribers(&members, topic);
                    let mut owners = Vec::new();
                    for (member, topics) in &plan {
                        for &p in topics.get(topic).into_iter().flatten() {
                            prop_assert!(subscribed.contains(&member));
                            owners.push(p);
                        }
                    }
                    owners.sort_unstable();
                    let expected: Vec<u32> = if subscribed.is_empty() { vec![] } else { (0..count).collect() };
                    prop_assert_eq!(owners, expected);
                    if assignor == Assignor::Range && !subscribed.is_empty() {
                        let shares: Vec<usize> = subscribed.iter()
                            .map(|m| plan[*m].get(topic).map_or(0, Vec::len)).collect();
                        let (min, max) = (shares.iter().min().unwrap(), shares.iter().max().unwrap());
                        prop_assert!(max - min <= 1, "{:?}", shares);
                    }
                }
            }
        }
    }
}
