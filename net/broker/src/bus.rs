//! What the shards and the agent share and send each other: the [`Shared`] state, each
//! shard's [`Inbox`] and the messages it carries ([`ShardMsg`]), what the shards ask of the
//! agent ([`AgentMsg`]), and how a part's result finds its way back ([`ReplyTo`], [`Route`]).
//! Its own file so that the shard, the agent and the frontends depend on it and not on each
//! other.

use std::io;
use std::net::TcpStream;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use ringlog_replication::controller::{IsrProposal, Partition};
use ringlog_replication::partition::{FetchId, FollowerFetchRequest};
use ringlog_replication::{BrokerId, Millis, TopicPartition};

use crate::catalog::Catalog;
use crate::group::PersistToken;
use crate::offsets::Commit;
use crate::ops::{AdminOp, AdminOutcome, LeaderAnswer, PartOp, PartResult};
use crate::options::ServerOptions;
use crate::topic_config::TopicConfig;

/// Which shard owns `topic_partition` among `shards`: a stable hash, the same on every start.
pub(crate) fn owner_of(topic_partition: &TopicPartition, shards: usize) -> usize {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in topic_partition
        .topic
        .bytes()
        .chain(topic_partition.partition.to_be_bytes())
    {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (hash % shards as u64) as usize
}

/// A request in progress on the shard that read it: its connection slot and generation, and
/// its sequence number there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct JobKey {
    pub slot: u32,
    pub generation: u32,
    pub seq: u64,
}

/// Where a part's result goes: the shard holding the job, the job, the part's index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ReplyTo {
    pub shard: usize,
    pub job: JobKey,
    pub part: usize,
}

/// What travels between shards.
#[derive(Debug)]
pub(crate) enum ShardMsg {
    Op {
        reply: ReplyTo,
        topic_partition: TopicPartition,
        op: PartOp,
    },
    Done {
        reply: ReplyTo,
        result: PartResult,
    },
    /// The request has the bytes it waited for: answer its waiting fetch parts now. Job keys
    /// are a shard's own (two shards may number jobs alike): `shard` is the job's.
    Release {
        shard: usize,
        job: JobKey,
    },
    /// The controller committed this state of a partition this broker holds.
    PartitionState {
        topic_partition: TopicPartition,
        partition: Partition,
    },
    /// The leader answered this follower's fetch.
    FetchAnswer {
        topic_partition: TopicPartition,
        fetch_id: FetchId,
        answer: LeaderAnswer,
    },
    /// The controller refused this leader's ISR proposal.
    IsrRejected {
        topic_partition: TopicPartition,
    },
    /// The partition is gone (its topic was deleted): close its log and delete its directory.
    Delete {
        topic_partition: TopicPartition,
    },
    /// The partition's topic config changed: reopen its log with the new settings.
    Reconfigure {
        topic_partition: TopicPartition,
    },
    /// A connection another shard accepted, for this one to serve (see `Shard::assign`).
    Adopt {
        stream: TcpStream,
        kind: crate::frontend::ListenerKind,
    },
    /// The outcome of an admin operation the agent carried out.
    AdminDone {
        job: JobKey,
        outcome: AdminOutcome,
    },
    Stop,
}

/// A shard's inbox: other shards send into the channel, then write the eventfd the shard's
/// ring waits on. No lock: `Sender` is `Sync` (std's channel is crossbeam's, lock-free), so
/// every shard and the agent send through the same one at once.
#[derive(Debug)]
pub(crate) struct Inbox {
    sender: Sender<ShardMsg>,
    eventfd: OwnedFd,
}

impl Inbox {
    /// A new inbox and the receiving end its shard keeps.
    pub(crate) fn new() -> io::Result<(Inbox, Receiver<ShardMsg>)> {
        let (sender, receiver) = std::sync::mpsc::channel();
        // SAFETY: plain syscall; the returned descriptor is owned below.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        let eventfd = unsafe { OwnedFd::from_raw_fd(fd) };
        let inbox = Inbox { sender, eventfd };
        Ok((inbox, receiver))
    }

    pub(crate) fn send(&self, msg: ShardMsg) {
        // A shard that has stopped has dropped its receiver: nothing is waiting for the answer.
        let _ = self.sender.send(msg);
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a local into a valid eventfd.
        unsafe { libc::write(self.eventfd.as_raw_fd(), (&raw const one).cast(), 8) };
    }

    pub(crate) fn eventfd(&self) -> RawFd {
        self.eventfd.as_raw_fd()
    }
}

/// What every shard shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub options: ServerOptions,
    /// The cluster as of the last metadata image: replaced whole by the agent.
    pub catalog: RwLock<Arc<Catalog>>,
    /// The metadata offset of the catalog, for those waiting to see a change.
    pub catalog_offset: tokio::sync::watch::Sender<u64>,
    /// Whether the catalog shows this broker registered (in this life) and the shards have
    /// been sent their partitions' states: it serves its partitions from then on.
    pub registered: tokio::sync::watch::Sender<bool>,
    pub inboxes: Vec<Inbox>,
    /// What the shards ask of the agent (follower fetches, ISR proposals, admin requests).
    pub agent: tokio::sync::mpsc::UnboundedSender<AgentMsg>,
    /// The thin listener's address its Metadata reports, and followers fetch from.
    pub advertised: std::net::SocketAddr,
    /// The Kafka listener's `host:port` Kafka's Metadata reports, if there is one.
    pub kafka_advertised: Option<String>,
    /// The TLS listeners' config, if a listener speaks TLS.
    pub tls: Option<crate::tls::ServerTls>,
    /// TLS to the other brokers' thin listeners (follower fetches), when the thin listener
    /// speaks TLS: every broker of a cluster is taken to.
    pub peer_tls: Option<ringlog_client::ClientTls>,
    /// The login to the other brokers' thin listeners (follower fetches), when the thin
    /// listener asks for SASL (`inter_broker_sasl_*`): every broker of a cluster is taken to.
    pub peer_sasl: Option<ringlog_client::ClientSasl>,
    /// The SASL listeners' settings and failed logins, when a listener (Kafka's, the thin one)
    /// asks for SASL.
    pub sasl: Option<crate::frontend::sasl::SaslListener>,
    pub started: Instant,
    /// Connections open on the broker, held to `max_connections`.
    pub connections: std::sync::atomic::AtomicUsize,
    /// Connections of each shard (by shard index): open, or assigned to it and on their way
    /// (`Shard::assign` gives a new connection to the shard with the fewest).
    pub shard_connections: Vec<std::sync::atomic::AtomicUsize>,
}

impl Shared {
    /// The catalog as of now.
    pub(crate) fn catalog(&self) -> Arc<Catalog> {
        self.catalog.read().expect("not poisoned").clone()
    }

    /// Asks the agent for something; a stopped agent has nothing left to do.
    pub(crate) fn to_agent(&self, msg: AgentMsg) {
        let _ = self.agent.send(msg);
    }

    /// A topic's config as the catalog holds it, checked against the broker's defaults; a
    /// topic whose stored config no longer checks (the defaults changed) takes the defaults.
    pub(crate) fn topic_config(&self, catalog: &Catalog, topic: &str) -> TopicConfig {
        let defaults = self.options.config.topic_defaults();
        let Some(entry) = catalog.topic(topic) else {
            return TopicConfig::new();
        };
        TopicConfig::from_pairs(entry.configs.iter(), &defaults).unwrap_or_else(|error| {
            tracing::warn!(topic, %error, "topic config no longer valid; using the broker defaults");
            TopicConfig::new()
        })
    }

    /// Milliseconds since the broker started: the replication state machines' clock.
    pub(crate) fn now(&self) -> Millis {
        Millis(u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX))
    }
}

/// Where an append's (or a DeleteRecords') answer goes once the partition gives it.
#[derive(Debug)]
pub(crate) enum Route {
    /// To a request's part.
    Part(ReplyTo),
    /// A commit of group offsets, stamped `commit_ms`: taken into the group coordinator's
    /// offsets once stored, then answered to the part.
    Commit {
        reply: ReplyTo,
        commits: Vec<Commit>,
        commit_ms: i64,
    },
    /// An append the group coordinator asked for ([`crate::group::Effect::Persist`]): its
    /// result goes back to the coordinator.
    Coordinator(PersistToken),
}

/// What the shards ask of the agent.
#[derive(Debug)]
pub(crate) enum AgentMsg {
    /// A follower wants this fetch sent to its leader.
    Fetch {
        topic_partition: TopicPartition,
        fetch_id: FetchId,
        leader: BrokerId,
        request: FollowerFetchRequest,
    },
    /// A leader asks the controller to commit this ISR.
    ProposeIsr {
        topic_partition: TopicPartition,
        proposal: IsrProposal,
    },
    /// An admin operation (creating, deleting, reconfiguring topics) for a request read by
    /// `shard`.
    Admin {
        shard: usize,
        job: JobKey,
        op: AdminOp,
    },
    /// Topics a client used before they existed (`auto_create_topics_enable`).
    CreateOnUse { names: Vec<String> },
    /// A group request arrived before `__consumer_offsets` exists.
    CreateOffsetsTopic,
}

#[cfg(test)]
mod tests {
    /// docs/broker.md promises no lock on the produce or fetch path, and every part owned by
    /// another shard, and every result coming back, goes through an inbox.
    #[test]
    fn sending_to_an_inbox_takes_no_lock() {
        let source = include_str!("bus.rs");
        let (_, inbox) = source
            .split_once("pub struct Inbox {")
            .expect("the inbox is defined in bus.rs");
        let (fields, _) = inbox.split_once('}').expect("the inbox's fields end");
        assert!(
            !fields.contains("Mutex") && !fields.contains("RwLock"),
            "the inbox holds a lock:{fields}"
        );
    }
}
