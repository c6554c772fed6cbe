//! What admins ask of groups: DescribeGroups, ListGroups, DeleteGroups, OffsetDelete; and
//! offset retention (KIP-211), which deletes what no one has used for `offsets_retention`.

use ringlog_replication::KafkaError;

use super::api::{Effect, GroupDescription, GroupListing, MemberDescription};
use std::collections::BTreeSet;

use super::coordinator::{Coordinator, Pending, StoredOffset};
use super::record::{self, KeyValue};
use super::state::{CONSUMER_PROTOCOL_TYPE, Group};
use super::{GroupState, Now};

impl<R> Coordinator<R> {
    /// DescribeGroups for `group`: an unknown group is Dead with no members (as Kafka); one
    /// that only stores offsets is Empty. Member metadata, assignments and the protocol are
    /// shown only while Stable (as Kafka).
    pub(crate) fn describe(&self, group: &str) -> GroupDescription {
        let Some(found) = self.groups.get(group) else {
            let state = if self.offsets.contains_key(group) {
                GroupState::Empty
            } else {
                GroupState::Dead
            };
            return GroupDescription {
                group_id: group.to_string(),
                state,
                protocol_type: String::new(),
                protocol: String::new(),
                members: Vec::new(),
            };
        };
        let stable = found.state == GroupState::Stable;
        let protocol = if stable {
            found.protocol.clone().unwrap_or_default()
        } else {
            String::new()
        };
        let members = found
            .members
            .values()
            .map(|m| MemberDescription {
                member_id: m.id.clone(),
                group_instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                metadata: if stable {
                    m.metadata(&protocol)
                } else {
                    Default::default()
                },
                assignment: if stable {
                    m.assignment.clone()
                } else {
                    Default::default()
                },
            })
            .collect();
        GroupDescription {
            group_id: group.to_string(),
            state: found.state,
            protocol_type: found.protocol_type.clone().unwrap_or_default(),
            protocol,
            members,
        }
    }

    /// ListGroups: every group, or those in `states` (v4's filter) when it is not empty.
    pub(crate) fn list(&self, states: &[GroupState]) -> Vec<GroupListing> {
        self.group_ids()
            .into_iter()
            .map(|id| {
                let (protocol_type, state) = match self.groups.get(&id) {
                    Some(g) => (g.protocol_type.clone().unwrap_or_default(), g.state),
                    None => (String::new(), GroupState::Empty),
                };
                GroupListing {
                    group_id: id,
                    protocol_type,
                    state,
                }
            })
            .filter(|listing| states.is_empty() || states.contains(&listing.state))
            .collect()
    }

    /// DeleteGroups for `group`: only a group without members; its record and offsets are
    /// forgotten at once and the tombstones returned to append.
    pub(crate) fn delete_group(&mut self, group: &str, now: Now) -> Result<Effect<R>, KafkaError> {
        self.touch(now);
        let state = match self.groups.get(group) {
            Some(found) => found.state,
            None if self.offsets.contains_key(group) => GroupState::Empty,
            None => return Err(KafkaError::GroupIdNotFound),
        };
        if state != GroupState::Empty {
            return Err(KafkaError::NonEmptyGroup);
        }
        // Pending members (MEMBER_ID_REQUIRED) of an Empty group go with it: their rejoin
        // learns the id is unknown.
        self.groups.remove(group);
        let mut records = self.take_offsets(group, |_, _, _| true);
        records.push(record::group_record(group, None));
        tracing::info!(group, offsets = records.len() - 1, "group deleted");
        Ok(self.persist(&records, Pending::Unawaited, now))
    }

    /// OffsetDelete: `partitions` of `group` deleted, except those of topics its members
    /// subscribe to (GROUP_SUBSCRIBED_TO_TOPIC). The group-level refusal is the `Err`:
    /// GROUP_ID_NOT_FOUND, or NON_EMPTY_GROUP for a group with members whose subscriptions
    /// cannot be read (not a consumer group).
    #[expect(
        clippy::type_complexity,
        reason = "the response's shape, partition by partition"
    )]
    pub(crate) fn delete_offsets(
        &mut self,
        group: &str,
        partitions: &[(String, u32)],
        now: Now,
    ) -> Result<(Vec<(String, u32, Option<KafkaError>)>, Option<Effect<R>>), KafkaError> {
        self.touch(now);
        let found = self.groups.get(group);
        if found.is_none() && !self.offsets.contains_key(group) {
            return Err(KafkaError::GroupIdNotFound);
        }
        let subscribed = |topic: &str| match found {
            None => false,
            Some(g) if g.state == GroupState::Empty => false,
            Some(g) => g.subscribed_to(topic),
        };
        if let Some(g) = found
            && g.state != GroupState::Empty
            && g.protocol_type.as_deref() != Some(CONSUMER_PROTOCOL_TYPE)
        {
            return Err(KafkaError::NonEmptyGroup);
        }
        let answers: Vec<(String, u32, Option<KafkaError>)> = partitions
            .iter()
            .map(|(topic, partition)| {
                let error = subscribed(topic).then_some(KafkaError::GroupSubscribedToTopic);
                (topic.clone(), *partition, error)
            })
            .collect();
        let deletable: Vec<(String, u32)> = answers
            .iter()
            .filter(|(_, _, error)| error.is_none())
            .map(|(topic, partition, _)| (topic.clone(), *partition))
            .collect();
        let records = self.take_offsets(group, |topic, partition, _| {
            deletable.iter().any(|(t, p)| t == topic && *p == partition)
        });
        let effect = (!records.is_empty()).then(|| self.persist(&records, Pending::Unawaited, now));
        Ok((answers, effect))
    }

    /// Retention (Kafka's cleanupGroupMetadata, KIP-211): an Empty group's offsets once it has
    /// been Empty for `offsets_retention`; a simple consumer's offsets `offsets_retention`
    /// after their commit; a Stable consumer group's offsets of topics it no longer subscribes
    /// to likewise. An Empty group left without offsets is deleted (as Kafka). One batch of
    /// tombstones.
    pub(super) fn expire_offsets(&mut self, now: Now) -> Option<Effect<R>> {
        let retention_ms =
            i64::try_from(self.config.offsets_retention.as_millis()).unwrap_or(i64::MAX);
        let old = |since_ms: i64| now.wall_ms.saturating_sub(since_ms) >= retention_ms;
        let mut records = Vec::new();
        for id in self.group_ids() {
            let rule = expiry_rule(self.groups.get(&id));
            records.extend(self.take_offsets(&id, |topic, _, stored| match &rule {
                Expiry::Never => false,
                Expiry::SinceEmpty(since_ms) => old(*since_ms),
                Expiry::SinceCommit => old(stored.commit_ms),
                Expiry::Unsubscribed(topics) => !topics.contains(topic) && old(stored.commit_ms),
            }));
        }
        let idle: Vec<String> = self
            .groups
            .values()
            .filter(|g| g.state == GroupState::Empty && g.pending.is_empty())
            .filter(|g| !self.offsets.contains_key(&g.id))
            .map(|g| g.id.clone())
            .collect();
        for id in idle {
            self.groups.remove(&id);
            records.push(record::group_record(&id, None));
            tracing::info!(group = %id, "empty group without offsets expired");
        }
        if !records.is_empty() {
            tracing::info!(records = records.len(), "offsets and groups expired");
        }
        (!records.is_empty()).then(|| self.persist(&records, Pending::Unawaited, now))
    }

    /// Removes `group`'s offsets that `take` picks, returning their tombstones.
    fn take_offsets(
        &mut self,
        group: &str,
        take: impl Fn(&str, u32, &StoredOffset) -> bool,
    ) -> Vec<KeyValue> {
        let Some(stored) = self.offsets.get_mut(group) else {
            return Vec::new();
        };
        let mut tombstones = Vec::new();
        stored.retain(|(topic, partition), offset| {
            let taken = take(topic, *partition, offset);
            if taken {
                tombstones.push(record::offset_tombstone(group, topic, *partition));
            }
            !taken
        });
        if stored.is_empty() {
            self.offsets.remove(group);
        }
        tombstones
    }
}

/// What retention counts a group's offsets from.
enum Expiry {
    Never,
    /// When the group became Empty (ms since the Unix epoch).
    SinceEmpty(i64),
    /// Each offset's commit.
    SinceCommit,
    /// Each offset's commit, for topics outside these.
    Unsubscribed(BTreeSet<String>),
}

/// Kafka's removeExpiredOffsets rules, by the group's state.
fn expiry_rule<R>(group: Option<&Group<R>>) -> Expiry {
    let Some(group) = group else {
        // Offsets only: a simple consumer's.
        return Expiry::SinceCommit;
    };
    match (&group.protocol_type, group.state, &group.subscribed) {
        (Some(_), GroupState::Empty, _) => Expiry::SinceEmpty(group.state_since_ms),
        (Some(kind), GroupState::Stable, Some(topics)) if kind == CONSUMER_PROTOCOL_TYPE => {
            Expiry::Unsubscribed(topics.clone())
        }
        (None, _, _) => Expiry::SinceCommit,
        _ => Expiry::Never,
    }
}
