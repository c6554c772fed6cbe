//! One controller node inside its runtime: a voter (with its Raft) or an observer, and what
//! both do: submit commands (forwarding to the leader), answer long polls for the metadata,
//! expire silent brokers' sessions (the leader), follow the voters' metadata (an observer).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use openraft::ServerState;
use openraft::error::{ClientWriteError, RaftError};
use ringlog_replication::{BrokerId, KafkaError, Millis};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::error::ControllerError;
use crate::raft_types::{NodeId, Raft, broker_id, node_id};
use crate::rpc::{
    self, FetchMetadataRequest, FetchMetadataResponse, SubmitRequest, SubmitResponse,
};
use crate::state::{CommandOutcome, MetadataCommand, Refusal};
use crate::transport::{CallError, Connection};
use crate::{ControllerStatus, MetadataImage, RaftTiming};

/// How long a FetchMetadata long poll waits for a newer image before answering without one.
pub(crate) const FETCH_WAIT_MAX: Duration = Duration::from_secs(1);
/// How often the leader looks for expired broker sessions.
const EXPIRY_CHECK_INTERVAL: Duration = Duration::from_millis(500);
/// The first and the longest pause between submit attempts that found no leader.
const SUBMIT_RETRY_FIRST: Duration = Duration::from_millis(20);
const SUBMIT_RETRY_MAX: Duration = Duration::from_millis(500);
/// Extra time a forwarded call gets over its own deadline, for the answer to travel.
const RPC_SLACK: Duration = Duration::from_millis(500);

pub(crate) struct Node {
    pub(crate) id: BrokerId,
    pub(crate) voters: BTreeMap<BrokerId, String>,
    pub(crate) timing: RaftTiming,
    /// `None` on an observer.
    pub(crate) raft: Option<Raft>,
    pub(crate) images: watch::Sender<Arc<MetadataImage>>,
    /// Connections to the voters for forwarded submits, one each, made on first use.
    peers: BTreeMap<BrokerId, tokio::sync::Mutex<Connection>>,
    /// The leader and term an observer last heard of from a voter.
    observed: Mutex<(Option<NodeId>, u64)>,
    /// TLS to the voters, if the quorum speaks it.
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Node {
    pub(crate) fn new(
        id: BrokerId,
        voters: BTreeMap<BrokerId, String>,
        timing: RaftTiming,
        raft: Option<Raft>,
        images: watch::Sender<Arc<MetadataImage>>,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Node {
        let peers = voters
            .iter()
            .map(|(&voter, addr)| {
                let connection = Connection::new(addr.clone(), tls.clone());
                (voter, tokio::sync::Mutex::new(connection))
            })
            .collect();
        Node {
            id,
            voters,
            timing,
            raft,
            images,
            peers,
            observed: Mutex::new((None, 0)),
            tls,
        }
    }

    pub(crate) fn status(&self) -> ControllerStatus {
        let metadata_offset = self.images.borrow().offset;
        let Some(raft) = &self.raft else {
            let (leader, term) = *self.observed.lock().expect("status lock");
            return ControllerStatus {
                leader: leader.map(broker_id),
                is_voter: false,
                is_leader: false,
                metadata_offset,
                current_term: term,
            };
        };
        let metrics = raft.metrics();
        let metrics = metrics.borrow();
        ControllerStatus {
            leader: metrics.current_leader.map(broker_id),
            is_voter: true,
            is_leader: metrics.state == ServerState::Leader,
            metadata_offset,
            current_term: metrics.current_term,
        }
    }

    /// The leader this node knows of.
    fn leader_hint(&self) -> Option<BrokerId> {
        let hint = match &self.raft {
            Some(raft) => raft.metrics().borrow().current_leader.map(broker_id),
            None => self.observed.lock().expect("status lock").0.map(broker_id),
        };
        // Only a voter can lead; a hint naming another node (a Raft log from another
        // quorum's data dir, say) is no hint, and commands go round the voters instead.
        hint.filter(|leader| self.voters.contains_key(leader))
    }

    /// Applies `command` through the leader, wherever it is, retrying leader changes until the
    /// submit deadline. A command larger than [`rpc::COMMAND_BYTES_MAX`] is refused
    /// (INVALID_REQUEST) before it reaches the log. A retry after a lost answer may apply a command twice; every command is
    /// either harmless to repeat (heartbeats, registrations of the same incarnation, expiry) or
    /// refused the second time (a topic that exists, a stale partition epoch), as in Kafka.
    pub(crate) async fn submit(
        &self,
        command: MetadataCommand,
    ) -> Result<CommandOutcome, ControllerError> {
        let size = serde_json::to_vec(&command).map_or(0, |json| json.len());
        if size > rpc::COMMAND_BYTES_MAX {
            return Ok(Err(Refusal {
                code: KafkaError::InvalidRequest,
                message: format!(
                    "command of {size} bytes exceeds {} bytes",
                    rpc::COMMAND_BYTES_MAX
                ),
            }));
        }
        let started = Instant::now();
        let deadline = started + self.timing.submit_timeout;
        let mut target = if self.raft.is_some() {
            self.id
        } else {
            self.leader_hint()
                .unwrap_or_else(|| self.next_voter(self.id))
        };
        let mut pause = SUBMIT_RETRY_FIRST;
        let mut last = "no attempt".to_string();
        // Hints followed at once since the last pause: stale hints could otherwise bounce a
        // command between two nodes without a pause.
        let mut hops = 0;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(ControllerError::NoLeader {
                    waited: started.elapsed(),
                    last,
                });
            }
            let answer = if target == self.id && self.raft.is_some() {
                Ok(self.propose(command.clone(), remaining).await)
            } else {
                self.forward(target, &command, remaining).await
            };
            let next = match answer {
                Ok(SubmitResponse::Applied(outcome)) => return Ok(outcome),
                Ok(SubmitResponse::NotLeader {
                    leader: Some(leader),
                }) if hops < self.voters.len()
                    && broker_id(leader) != target
                    && self.voters.contains_key(&broker_id(leader)) =>
                {
                    // A fresh hint: follow it at once.
                    hops += 1;
                    target = broker_id(leader);
                    continue;
                }
                Ok(SubmitResponse::NotLeader { leader }) => {
                    last = format!("controller {target} does not lead (leader {leader:?})");
                    self.leader_hint()
                        .unwrap_or_else(|| self.next_voter(target))
                }
                Ok(SubmitResponse::Failed { reason }) => {
                    last = format!("controller {target}: {reason}");
                    self.next_voter(target)
                }
                Err(error) => {
                    last = error.to_string();
                    self.next_voter(target)
                }
            };
            hops = 0;
            let remaining = deadline.saturating_duration_since(Instant::now());
            tokio::time::sleep(pause.min(remaining)).await;
            pause = (pause * 2).min(SUBMIT_RETRY_MAX);
            target = next;
        }
    }

    /// The voter after `after` in id order, wrapping around.
    fn next_voter(&self, after: BrokerId) -> BrokerId {
        let mut later = self.voters.range(after..).map(|(&id, _)| id);
        let next = later.find(|&id| id != after);
        next.unwrap_or_else(|| *self.voters.keys().next().expect("at least one voter"))
    }

    /// Proposes `command` on this node's Raft, stamped with the wall clock, and waits up to
    /// `timeout` for it to be applied.
    pub(crate) async fn propose(
        &self,
        command: MetadataCommand,
        timeout: Duration,
    ) -> SubmitResponse {
        let Some(raft) = &self.raft else {
            return SubmitResponse::NotLeader {
                leader: self.leader_hint().map(node_id),
            };
        };
        let command = command.stamped(wall_clock());
        match tokio::time::timeout(timeout, raft.client_write(command)).await {
            Err(_) => SubmitResponse::Failed {
                reason: format!("not applied within {timeout:?}"),
            },
            Ok(Ok(response)) => SubmitResponse::Applied(response.data),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward)))) => {
                SubmitResponse::NotLeader {
                    leader: forward.leader_id,
                }
            }
            Ok(Err(error)) => SubmitResponse::Failed {
                reason: error.to_string(),
            },
        }
    }

    async fn forward(
        &self,
        target: BrokerId,
        command: &MetadataCommand,
        timeout: Duration,
    ) -> Result<SubmitResponse, ControllerError> {
        let Some(peer) = self.peers.get(&target) else {
            return Err(ControllerError::Rpc {
                peer: target.to_string(),
                reason: "not a voter of this quorum".to_string(),
            });
        };
        let request = SubmitRequest {
            command: command.clone(),
            timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        };
        let mut connection = peer.lock().await;
        let json = connection
            .call(rpc::SUBMIT, &request, timeout + RPC_SLACK)
            .await
            .map_err(|error| call_error(connection.addr(), error))?;
        serde_json::from_slice(&json).map_err(|e| ControllerError::Rpc {
            peer: connection.addr().to_string(),
            reason: format!("submit response: {e}"),
        })
    }

    /// The current image once it is newer than `known_offset`, waiting up to
    /// [`FETCH_WAIT_MAX`]; none if it is not by then.
    pub(crate) async fn fetch_metadata(
        &self,
        request: FetchMetadataRequest,
    ) -> FetchMetadataResponse {
        let mut images = self.images.subscribe();
        let deadline = Instant::now() + FETCH_WAIT_MAX;
        let image = loop {
            let image = Arc::clone(&images.borrow_and_update());
            if request
                .known_offset
                .is_none_or(|known| image.offset > known)
            {
                break Some(image);
            }
            match tokio::time::timeout_at(deadline, images.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => break None,
            }
        };
        let status = self.status();
        FetchMetadataResponse {
            image: image.map(|image| (*image).clone()),
            leader: status.leader.map(node_id),
            term: status.current_term,
        }
    }

    /// The leader's timer: proposes `ExpireSessions` whenever its applied state says expiry is
    /// due ([`MetadataState::expiry_due`](crate::MetadataState::expiry_due)).
    pub(crate) async fn expire_sessions(self: Arc<Self>) {
        let raft = self.raft.clone().expect("voters expire sessions");
        let mut metrics = raft.metrics();
        let mut interval = tokio::time::interval(EXPIRY_CHECK_INTERVAL);
        let mut leading_since: Option<(u64, Instant)> = None;
        loop {
            interval.tick().await;
            let (state, term) = {
                let metrics = metrics.borrow_and_update();
                (metrics.state, metrics.current_term)
            };
            if state != ServerState::Leader {
                leading_since = None;
                continue;
            }
            let since = match leading_since {
                Some((leading_term, since)) if leading_term == term => since,
                _ => leading_since.insert((term, Instant::now())).1,
            };
            let image = Arc::clone(&self.images.borrow());
            let now = wall_clock();
            let expired = image.state.expiry_due(since.elapsed(), now);
            if expired {
                let command = MetadataCommand::ExpireSessions { now };
                match self.propose(command, self.timing.submit_timeout).await {
                    SubmitResponse::Applied(Ok(applied)) => {
                        tracing::info!(fenced = ?applied.fenced, "controller: fenced brokers whose session expired");
                    }
                    other => tracing::debug!(?other, "controller: session expiry not applied"),
                }
            }
        }
    }

    /// An observer's loop: long-polls the voters in turn (the next one after a failure) and
    /// publishes every newer image it gets.
    pub(crate) async fn observe(self: Arc<Self>) {
        let mut connections: BTreeMap<BrokerId, Connection> = self
            .voters
            .iter()
            .map(|(&voter, addr)| (voter, Connection::new(addr.clone(), self.tls.clone())))
            .collect();
        let mut voter = *self.voters.keys().next().expect("at least one voter");
        let mut known: Option<u64> = None;
        let mut pause = SUBMIT_RETRY_FIRST;
        loop {
            let connection = connections.get_mut(&voter).expect("a voter");
            let request = FetchMetadataRequest {
                known_offset: known,
            };
            let answer = connection
                .call(rpc::FETCH_METADATA, &request, FETCH_WAIT_MAX + RPC_SLACK)
                .await
                .map_err(|error| error.to_string())
                .and_then(|json| {
                    serde_json::from_slice::<FetchMetadataResponse>(&json)
                        .map_err(|e| e.to_string())
                });
            match answer {
                Ok(response) => {
                    pause = SUBMIT_RETRY_FIRST;
                    *self.observed.lock().expect("status lock") = (response.leader, response.term);
                    let Some(image) = response.image else {
                        continue;
                    };
                    if known.is_none_or(|known| image.offset > known) {
                        known = Some(image.offset);
                        self.images.send_replace(Arc::new(image));
                    }
                }
                Err(reason) => {
                    tracing::debug!(%voter, %reason, "controller observer: fetch failed; trying the next voter");
                    voter = self.next_voter(voter);
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(SUBMIT_RETRY_MAX);
                }
            }
        }
    }
}

fn call_error(peer: &str, error: CallError) -> ControllerError {
    match error {
        CallError::Refused { code, message } => ControllerError::Rejected {
            peer: peer.to_string(),
            code,
            message,
        },
        other => ControllerError::Rpc {
            peer: peer.to_string(),
            reason: other.to_string(),
        },
    }
}

/// The wall clock in ms since the UNIX epoch: the time the leader stamps on commands.
pub(crate) fn wall_clock() -> Millis {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    Millis(u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX))
}
