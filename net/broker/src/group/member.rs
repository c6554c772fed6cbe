//! One member of a group: who it is, the protocols it supports, what it was assigned, the
//! replies it waits on and when its session ends.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::api::JoinRequest;

/// How long a member new to the group may wait in a JoinGroup before it is dropped: its
/// session does not protect it (it cannot heartbeat without its id), and a client that gave up
/// on a long rebalance retries with a new join (Kafka's NewMemberJoinTimeoutMs).
pub(super) const NEW_MEMBER_JOIN_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// One member of a group. `R` is the token a parked reply is answered through.
#[derive(Debug)]
pub(super) struct Member<R> {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    /// (name, metadata) in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    /// The current generation's assignment; empty until the leader's is stored.
    pub assignment: Bytes,
    /// Its JoinGroup, parked until the rebalance completes.
    pub awaiting_join: Option<R>,
    /// Its SyncGroup, parked until the leader's assignment is stored.
    pub awaiting_sync: Option<R>,
    /// When the member is dropped unless heard from (or waiting, see [`Member::expired`]).
    pub session_deadline: Instant,
    /// Joined in the rebalance under way and not yet through a generation.
    pub is_new: bool,
}

impl<R> Member<R> {
    /// A member joining with `request`, its JoinGroup parked with `reply`.
    pub(super) fn joining(id: String, request: &JoinRequest, reply: R, now: Instant) -> Member<R> {
        Member {
            id,
            instance_id: request.group_instance_id.clone(),
            client_id: request.client_id.clone(),
            client_host: request.client_host.clone(),
            session_timeout: request.session_timeout,
            rebalance_timeout: request.rebalance_timeout,
            protocols: request.protocols.clone(),
            assignment: Bytes::new(),
            awaiting_join: Some(reply),
            awaiting_sync: None,
            session_deadline: now + NEW_MEMBER_JOIN_TIMEOUT,
            is_new: true,
        }
    }

    /// Whether the member's session is over at `now`. A known member waiting in a JoinGroup or
    /// a SyncGroup is alive: the rebalance's own timeouts bound those waits. A new member is
    /// not (Kafka's MemberMetadata.hasSatisfiedHeartbeat).
    pub(super) fn expired(&self, now: Instant) -> bool {
        if now < self.session_deadline {
            return false;
        }
        self.is_new || (self.awaiting_join.is_none() && self.awaiting_sync.is_none())
    }

    /// When [`Member::expired`] may next turn true, if it can without another call.
    pub(super) fn expiry(&self) -> Option<Instant> {
        let waiting = self.awaiting_join.is_some() || self.awaiting_sync.is_some();
        (self.is_new || !waiting).then_some(self.session_deadline)
    }

    /// Heard from at `now`: the session starts again.
    pub(super) fn renew(&mut self, now: Instant) {
        self.session_deadline = now + self.session_timeout;
    }

    /// Whether `protocols` are the ones the member already has, names, metadata and order.
    pub(super) fn matches(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }

    /// The member's metadata for `protocol`; empty if it has none.
    pub(super) fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, metadata)| metadata.clone())
            .unwrap_or_default()
    }

    pub(super) fn supports(&self, protocol: &str) -> bool {
        self.protocols.iter().any(|(name, _)| name == protocol)
    }

    /// The member's vote: its most preferred protocol among `candidates`.
    pub(super) fn vote<'a>(&'a self, candidates: &BTreeSet<&str>) -> Option<&'a str> {
        self.protocols
            .iter()
            .map(|(name, _)| name.as_str())
            .find(|name| candidates.contains(name))
    }
}

/// The topics a "consumer" protocol subscription names (ConsumerProtocolSubscription, read
/// with the v0 layout every version starts with: i16 version, then an i32 count of i16-length
/// strings). `None` if the bytes do not read that way; bytes after the topics are ignored.
pub(super) fn subscribed_topics(metadata: &[u8]) -> Option<BTreeSet<String>> {
    let mut bytes = metadata;
    let _version = take_i16(&mut bytes)?;
    let count = take_i32(&mut bytes)?;
    // Each topic takes at least its 2-byte length: a count past that is malformed, and bounds
    // the loop.
    let count = usize::try_from(count).ok()?;
    if count > bytes.len() / 2 {
        return None;
    }
    let mut topics = BTreeSet::new();
    for _ in 0..count {
        let len = usize::try_from(take_i16(&mut bytes)?).ok()?;
        let name = bytes.get(..len)?;
        topics.insert(std::str::from_utf8(name).ok()?.to_string());
        bytes = &bytes[len..];
    }
    Some(topics)
}

fn take_i16(bytes: &mut &[u8]) -> Option<i16> {
    let (head, tail) = bytes.split_first_chunk::<2>()?;
    *bytes = tail;
    Some(i16::from_be_bytes(*head))
}

fn take_i32(bytes: &mut &[u8]) -> Option<i32> {
    let (head, tail) = bytes.split_first_chunk::<4>()?;
    *bytes = tail;
    Some(i32::from_be_bytes(*head))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A ConsumerProtocolSubscription v0 naming `topics`.
    pub(in crate::group) fn subscription(topics: &[&str]) -> Bytes {
        let mut out = 0i16.to_be_bytes().to_vec();
        out.extend_from_slice(&(topics.len() as i32).to_be_bytes());
        for topic in topics {
            out.extend_from_slice(&(topic.len() as i16).to_be_bytes());
            out.extend_from_slice(topic.as_bytes());
        }
        // user data (null): ignored.
        out.extend_from_slice(&(-1i32).to_be_bytes());
        Bytes::from(out)
    }

    #[test]
    fn a_consumer_subscription_names_its_topics() {
        let topics = subscribed_topics(&subscription(&["orders", "payments"])).unwrap();
        assert_eq!(
            topics.into_iter().collect::<Vec<_>>(),
            vec!["orders".to_string(), "payments".to_string()]
        );
    }

    #[test]
    fn a_malformed_subscription_is_none() {
        assert_eq!(subscribed_topics(&[0, 0, 0, 0, 0, 9, 0, 3, b'a']), None);
        assert_eq!(subscribed_topics(&[0]), None);
        assert_eq!(subscribed_topics(&[0, 0, 0x7f, 0xff, 0xff, 0xff]), None);
    }

    proptest::proptest! {
        #[test]
        fn subscriptions_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let _ = subscribed_topics(&bytes);
        }
    }
}
