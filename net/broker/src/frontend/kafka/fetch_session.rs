//! Fetch sessions (KIP-227): a consumer that fetches many partitions sends them all once, then
//! only what changed (a new fetch offset, a partition added or forgotten), and the broker
//! fetches the rest from what it keeps. Pure: the session's rules over the partitions a
//! request names; `fetch.rs` turns the outcome into parts.
//!
//! A connection keeps at most one session (Kafka keeps a broker-wide cache of them; Kafka's
//! clients fetch from a broker over one connection, and a session asked for on another
//! connection is not found, so the client starts a new one with a full fetch).
//!
//! | request's session id | epoch | what happens                                                   |
//! |----------------------|-------|----------------------------------------------------------------|
//! | any                  | -1    | a full fetch, no session (the connection's session, if named, ends) |
//! | any                  | 0     | a full fetch that starts a session (replacing the connection's) |
//! | the session's        | its next epoch | an incremental fetch: the session's partitions, updated |
//! | another, or none     | > 0   | FETCH_SESSION_ID_NOT_FOUND                                      |
//! | the session's        | another | INVALID_FETCH_SESSION_EPOCH                                   |
//!
//! Responses carry every partition of the session (an incremental response may leave out the
//! unchanged ones; sending them is allowed, and costs bytes, not correctness).

use std::sync::atomic::{AtomicI32, Ordering};

use ringlog_replication::TopicId;

/// Kafka's FETCH_SESSION_ID_NOT_FOUND.
pub(super) const FETCH_SESSION_ID_NOT_FOUND: i16 = 70;
/// Kafka's INVALID_FETCH_SESSION_EPOCH.
pub(super) const INVALID_FETCH_SESSION_EPOCH: i16 = 71;
/// The most partitions a session holds: a full fetch of more is served without a session.
pub(super) const SESSION_PARTITIONS_MAX: usize = 10_000;

const FINAL_EPOCH: i32 = -1;
const INITIAL_EPOCH: i32 = 0;

/// A partition as a fetch names it, and what it asks of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Wanted {
    /// The topic's name as the catalog knows it; `None`: an id no topic has.
    pub name: Option<String>,
    pub id: TopicId,
    pub partition: i32,
    pub fetch_offset: i64,
    pub partition_max_bytes: i32,
    pub current_leader_epoch: i32,
}

impl Wanted {
    /// Whether `self` and `other` are the same partition: by topic id where both have one,
    /// else by name.
    fn same_partition(&self, topic: &TopicKey, partition: i32) -> bool {
        self.partition == partition && topic.names(self)
    }
}

/// A topic as a forgotten-topics entry names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum TopicKey {
    Name(String),
    Id(TopicId),
}

impl TopicKey {
    fn names(&self, wanted: &Wanted) -> bool {
        match self {
            TopicKey::Name(name) => wanted.name.as_deref() == Some(name.as_str()),
            TopicKey::Id(id) => wanted.id == *id,
        }
    }
}

/// A connection's session.
#[derive(Debug)]
pub(super) struct FetchSession {
    id: i32,
    next_epoch: i32,
    partitions: Vec<Wanted>,
}

/// What a fetch request's session fields decide.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Fetching {
    /// The response's session id: 0 for none.
    pub session_id: i32,
    /// The partitions to fetch, in the order the response lists them.
    pub partitions: Vec<Wanted>,
}

/// Applies a fetch request's session fields to the connection's `session`: what to fetch, or
/// the session-level error code that answers the whole request.
pub(super) fn apply(
    session: &mut Option<FetchSession>,
    session_id: i32,
    epoch: i32,
    requested: Vec<Wanted>,
    forgotten: &[(TopicKey, i32)],
) -> Result<Fetching, i16> {
    match epoch {
        FINAL_EPOCH => {
            if session.as_ref().is_some_and(|s| s.id == session_id) {
                *session = None;
            }
            Ok(Fetching {
                session_id: 0,
                partitions: requested,
            })
        }
        INITIAL_EPOCH => {
            if requested.len() > SESSION_PARTITIONS_MAX {
                *session = None;
                return Ok(Fetching {
                    session_id: 0,
                    partitions: requested,
                });
            }
            let id = next_session_id();
            *session = Some(FetchSession {
                id,
                next_epoch: 1,
                partitions: requested.clone(),
            });
            Ok(Fetching {
                session_id: id,
                partitions: requested,
            })
        }
        epoch => {
            let Some(current) = session.as_mut().filter(|s| s.id == session_id) else {
                return Err(FETCH_SESSION_ID_NOT_FOUND);
            };
            if epoch != current.next_epoch {
                return Err(INVALID_FETCH_SESSION_EPOCH);
            }
            current.update(requested, forgotten);
            if current.partitions.len() > SESSION_PARTITIONS_MAX {
                *session = None;
                return Err(FETCH_SESSION_ID_NOT_FOUND);
            }
            current.next_epoch = current.next_epoch.checked_add(1).unwrap_or(1);
            Ok(Fetching {
                session_id: current.id,
                partitions: current.partitions.clone(),
            })
        }
    }
}

impl FetchSession {
    /// An incremental request's changes: partitions forgotten, then each one named added or
    /// updated in place.
    fn update(&mut self, requested: Vec<Wanted>, forgotten: &[(TopicKey, i32)]) {
        self.partitions.retain(|wanted| {
            !forgotten
                .iter()
                .any(|(topic, partition)| wanted.same_partition(topic, *partition))
        });
        for wanted in requested {
            let key = match &wanted.name {
                Some(name) if wanted.id.is_zero() => TopicKey::Name(name.clone()),
                _ => TopicKey::Id(wanted.id),
            };
            match self
                .partitions
                .iter_mut()
                .find(|kept| kept.same_partition(&key, wanted.partition))
            {
                Some(kept) => *kept = wanted,
                None => self.partitions.push(wanted),
            }
        }
    }
}

/// A session id no other session of this process has had (0 is "no session").
fn next_session_id() -> i32 {
    static NEXT: AtomicI32 = AtomicI32::new(1);
    loop {
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        if id > 0 {
            return id;
        }
        // Wrapped after 2^31 sessions: start again at 1.
        let _ = NEXT.compare_exchange(id.wrapping_add(1), 1, Ordering::Relaxed, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted(name: &str, partition: i32, fetch_offset: i64) -> Wanted {
        Wanted {
            name: Some(name.to_string()),
            id: TopicId::ZERO,
            partition,
            fetch_offset,
            partition_max_bytes: 1 << 20,
            current_leader_epoch: -1,
        }
    }

    fn offsets(fetching: &Fetching) -> Vec<(String, i32, i64)> {
        fetching
            .partitions
            .iter()
            .map(|w| (w.name.clone().unwrap(), w.partition, w.fetch_offset))
            .collect()
    }

    #[test]
    fn a_sessionless_fetch_keeps_nothing() {
        let mut session = None;
        let fetching = apply(&mut session, 0, -1, vec![wanted("a", 0, 5)], &[]).unwrap();
        assert_eq!(fetching.session_id, 0);
        assert_eq!(offsets(&fetching), [("a".into(), 0, 5)]);
        assert!(session.is_none());
    }

    #[test]
    fn a_session_keeps_its_partitions_and_takes_only_changes() {
        let mut session = None;
        let first = vec![wanted("a", 0, 5), wanted("a", 1, 7), wanted("b", 0, 0)];
        let started = apply(&mut session, 0, 0, first, &[]).unwrap();
        assert_ne!(started.session_id, 0);
        let id = started.session_id;
        // Epoch 1: a-0 moved on, b-0 forgotten, c-0 added; a-1 as it was.
        let next = apply(
            &mut session,
            id,
            1,
            vec![wanted("a", 0, 9), wanted("c", 0, 3)],
            &[(TopicKey::Name("b".into()), 0)],
        )
        .unwrap();
        assert_eq!(next.session_id, id);
        assert_eq!(
            offsets(&next),
            [("a".into(), 0, 9), ("a".into(), 1, 7), ("c".into(), 0, 3)]
        );
        // Epoch 2 with nothing changed fetches the same.
        let same = apply(&mut session, id, 2, vec![], &[]).unwrap();
        assert_eq!(offsets(&same), offsets(&next));
    }

    #[test]
    fn a_wrong_session_or_epoch_is_refused_and_changes_nothing() {
        let mut session = None;
        let id = apply(&mut session, 0, 0, vec![wanted("a", 0, 5)], &[])
            .unwrap()
            .session_id;
        assert_eq!(
            apply(&mut session, id + 1000, 1, vec![], &[]),
            Err(FETCH_SESSION_ID_NOT_FOUND)
        );
        assert_eq!(
            apply(&mut session, id, 2, vec![wanted("a", 0, 9)], &[]),
            Err(INVALID_FETCH_SESSION_EPOCH)
        );
        let right = apply(&mut session, id, 1, vec![], &[]).unwrap();
        assert_eq!(
            offsets(&right),
            [("a".into(), 0, 5)],
            "the refusals changed nothing"
        );
        // A final fetch ends the session; an incremental one then finds none.
        apply(&mut session, id, -1, vec![wanted("a", 0, 5)], &[]).unwrap();
        assert!(session.is_none());
        assert_eq!(
            apply(&mut session, id, 2, vec![], &[]),
            Err(FETCH_SESSION_ID_NOT_FOUND)
        );
    }

    #[test]
    fn a_new_session_replaces_the_old_and_topics_by_id_are_matched_by_id() {
        let mut session = None;
        let old = apply(&mut session, 0, 0, vec![wanted("a", 0, 1)], &[]).unwrap();
        let id = TopicId::from_random([3; 16]);
        let by_id = Wanted {
            id,
            ..wanted("t", 0, 4)
        };
        let new = apply(&mut session, 0, 0, vec![by_id.clone()], &[]).unwrap();
        assert_ne!(new.session_id, old.session_id);
        assert_eq!(
            apply(&mut session, old.session_id, 1, vec![], &[]),
            Err(FETCH_SESSION_ID_NOT_FOUND)
        );
        let moved = Wanted {
            fetch_offset: 8,
            ..by_id
        };
        let next = apply(&mut session, new.session_id, 1, vec![moved], &[]).unwrap();
        assert_eq!(offsets(&next), [("t".into(), 0, 8)]);
        let forgot = apply(
            &mut session,
            new.session_id,
            2,
            vec![],
            &[(TopicKey::Id(id), 0)],
        );
        assert_eq!(forgot.unwrap().partitions, []);
    }

    #[test]
    fn a_session_too_large_is_not_kept() {
        let mut session = None;
        let many: Vec<Wanted> = (0..SESSION_PARTITIONS_MAX as i32 + 1)
            .map(|p| wanted("a", p, 0))
            .collect();
        let fetching = apply(&mut session, 0, 0, many, &[]).unwrap();
        assert_eq!(fetching.session_id, 0);
        assert!(session.is_none());
    }
}
