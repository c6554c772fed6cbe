//! Protocol frontends: one per protocol the broker speaks. A frontend cuts and decodes a
//! connection's requests, turns each into the broker's operations (partition parts the owner
//! shards run and admin operations for the agent, [`crate::ops`]; answers from the catalog)
//! and their results into its protocol's response. Below it nothing knows a protocol: the
//! shards route parts, the partition driver refuses in `KafkaError`s, and the frontend turns
//! those into its error codes.
//!
//! | file       | protocol                                                              |
//! |------------|-----------------------------------------------------------------------|
//! | [`thin`]   | ringlog's thin protocol (`net/PROTOCOL.md`): its client, CLI and followers |
//! | [`kafka`]  | Apache Kafka's wire protocol: every Kafka client and tool              |
//! | [`groups`] | what both share of consumer groups: which parts a group request becomes |
//! | [`security`] | what both share of users' SCRAM credentials: checks before the controller, describes |
//! | [`sasl`]   | SASL authentication of a connection, protocol-free: its states, what each serves, PLAIN and SCRAM, failures slowed down |
//! | [`access`] | authorization of a request's actions by the ACLs, protocol-free: decisions, denials logged and counted |
//!
//! Each listener speaks one protocol ([`Protocol`]), and so does every connection accepted on
//! it. The shard calls [`read_request`] with the connection's protocol, carries out the
//! [`Step`] it returns, and hands the results back to [`finish`] or [`finish_admin`] with the
//! request's [`Pending`], which only the frontend that made it looks into.

use std::time::Duration;

use bytes::BytesMut;

use crate::bus::{AgentMsg, Shared};
use crate::connection::OutPiece;
use crate::ops::{AdminOp, AdminOutcome, PartOp, PartResult};
use ringlog_replication::TopicPartition;

pub(crate) mod access;
pub(crate) mod groups;
pub(crate) mod kafka;
pub(crate) mod sasl;
pub(crate) mod security;
pub(crate) mod thin;

/// The protocol a listener, and every connection accepted on it, speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Protocol {
    Thin,
    Kafka,
}

/// What a listener's connections are: its protocol, whether they speak TLS, and whether they
/// authenticate with SASL before anything else is served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ListenerKind {
    pub protocol: Protocol,
    pub tls: bool,
    pub sasl: bool,
}

/// What a frontend keeps of a connection between its requests: for the thin protocol the
/// peer's address (a joining group member's host) and who the connection is
/// ([`sasl::Authentication`]); Kafka's fetch session, the peer and who the connection is for
/// Kafka's.
#[derive(Debug)]
pub(crate) enum ConnState {
    Thin {
        peer: std::net::SocketAddr,
        authentication: sasl::Authentication,
    },
    Kafka(kafka::ConnState),
}

impl ConnState {
    pub(crate) fn new(kind: ListenerKind, peer: std::net::SocketAddr) -> ConnState {
        let authentication = if kind.sasl {
            sasl::Authentication::expecting_handshake()
        } else {
            sasl::Authentication::anonymous()
        };
        match kind.protocol {
            Protocol::Thin => ConnState::Thin {
                peer,
                authentication,
            },
            Protocol::Kafka => ConnState::Kafka(kafka::ConnState::new(peer, authentication)),
        }
    }

    /// Who the connection is, as far as authentication goes.
    pub(crate) fn authentication(&mut self) -> &mut sasl::Authentication {
        match self {
            ConnState::Thin { authentication, .. } => authentication,
            ConnState::Kafka(conn) => conn.authentication(),
        }
    }
}

/// What a frontend keeps of a request until its answer goes out.
#[derive(Debug)]
pub(crate) enum Pending {
    /// Boxed: a thin request is kept decoded, and the largest (a JoinGroup's strings) would
    /// make every pending request as large.
    Thin(Box<thin::Pending>),
    Kafka(kafka::Pending),
}

impl Pending {
    /// Whether the request is a fetch: a later fetch on its connection ends its wait.
    pub(crate) fn is_fetch(&self) -> bool {
        match self {
            Pending::Thin(pending) => pending.is_fetch(),
            Pending::Kafka(pending) => pending.is_fetch(),
        }
    }
}

/// A request cut from a connection's bytes: how many bytes it held, and what the broker does
/// with it.
#[derive(Debug)]
pub(crate) struct Read {
    pub bytes: usize,
    pub step: Step,
}

/// What the broker does with a request.
#[derive(Debug)]
pub(crate) enum Step {
    /// Send this answer (decided at once, from the catalog, or a refusal of the whole
    /// request). No pieces: the request is answered by nothing (Kafka's acks=0 produce).
    Answer(Vec<OutPiece>),
    /// Send this answer once `delay` has passed, then close the connection: a failed
    /// authentication. Nothing more is read from the connection.
    AnswerAndClose {
        pieces: Vec<OutPiece>,
        delay: Duration,
    },
    /// Have the agent carry out this operation; [`finish_admin`] answers with its outcome.
    Admin(Pending, AdminOp),
    /// Run these parts on their partitions' owners; `min_bytes` of fetched data releases
    /// waiting fetch parts; [`finish`] answers with their results.
    Parts {
        pending: Pending,
        parts: Vec<(TopicPartition, PartOp)>,
        min_bytes: u64,
    },
}

/// A frame that cannot be cut or whose header cannot be read: nothing after it can be framed,
/// so the connection closes.
pub(crate) type Unframeable = Box<dyn std::error::Error + Send + Sync>;

/// Cuts the next request out of a connection's `received` bytes and decides what to do with
/// it. `Ok(None)` until a whole frame is there.
pub(crate) fn read_request(
    conn: &mut ConnState,
    shared: &Shared,
    received: &mut BytesMut,
    max_frame_bytes: u32,
) -> Result<Option<Read>, Unframeable> {
    match conn {
        ConnState::Thin {
            peer,
            authentication,
        } => thin::read_request(shared, *peer, authentication, received, max_frame_bytes),
        ConnState::Kafka(conn) => kafka::read_request(conn, shared, received, max_frame_bytes),
    }
}

/// The answer to a request whose parts all answered, in part order.
pub(crate) fn finish(pending: Pending, results: Vec<PartResult>) -> Vec<OutPiece> {
    match pending {
        Pending::Thin(pending) => thin::finish(*pending, results),
        Pending::Kafka(pending) => kafka::finish(pending, results),
    }
}

/// The answer to an admin request from its operation's outcome.
pub(crate) fn finish_admin(pending: Pending, outcome: AdminOutcome) -> Vec<OutPiece> {
    match pending {
        Pending::Thin(pending) => thin::finish_admin(*pending, outcome),
        Pending::Kafka(pending) => kafka::finish_admin(pending, outcome),
    }
}

/// With `auto_create_topics_enable`, asks the agent to create the topics among `names` that
/// do not exist yet, with the broker's default partition count, replication factor and
/// configs. The request itself meets LEADER_NOT_AVAILABLE (retriable) until they exist.
pub(crate) fn auto_create<S: AsRef<str>>(shared: &Shared, names: impl Iterator<Item = S>) {
    if !shared.options.config.auto_create_topics_enable {
        return;
    }
    let catalog = shared.catalog();
    let missing: Vec<String> = names
        .filter(|n| catalog.topic(n.as_ref()).is_none())
        .map(|n| n.as_ref().to_string())
        .collect();
    if !missing.is_empty() {
        shared.to_agent(AgentMsg::CreateOnUse { names: missing });
    }
}
