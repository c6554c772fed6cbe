//! A subscribed consumer's group membership, the IO half (the decisions are `membership`'s):
//! JoinGroup and SyncGroup (the leader runs the chosen [`Assignor`] over every member's
//! subscription), the heartbeat task, LeaveGroup; and `send_to_coordinator`, how every
//! group request reaches the group's coordinator.
//!
//! The heartbeat task sends a Heartbeat every `heartbeat_interval` while the member holds a
//! generation, and feeds each answer to the membership: a REBALANCE_IN_PROGRESS there is what
//! makes the next [`Consumer::poll`](crate::Consumer::poll) rejoin. It never joins itself:
//! joining happens in `poll`, where the positions to commit are, as in Kafka's consumer.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ringlog_replication::TopicPartition;
use tokio::time::Instant;

use crate::assignor::Assignor;
use crate::cluster::{Cluster, Retry, unexpected, unknown_to_error};
use crate::consumer_protocol::{Assignment, PROTOCOL_TYPE, Subscription};
use crate::error::ClientError;
use crate::membership::{Membership, Rejoin, Verdict, verdict};
use ringlog_wire::api::heartbeat::HeartbeatRequest;
use ringlog_wire::api::join_group::{JoinGroupProtocol, JoinGroupRequest, JoinGroupResponse};
use ringlog_wire::api::leave_group::{LeaveGroupRequest, LeavingMember};
use ringlog_wire::api::sync_group::{SyncGroupAssignment, SyncGroupRequest};
use ringlog_wire::group::{OFFSETS_TOPIC, partition_for};
use ringlog_wire::{ErrorCode, Request, Response};

/// JoinGroup and SyncGroup round trips one rebalance may take, at most (each MEMBER_ID_REQUIRED
/// or REBALANCE_IN_PROGRESS answer costs one), on top of the time limit.
const JOIN_ROUNDS_MAX: u32 = 100;

/// Called by [`Consumer::poll`](crate::Consumer::poll) around a rebalance of a subscribed
/// consumer, with the consumer's state held: a callback must not call the consumer (it would
/// wait for itself). Every method has an empty default.
///
/// The protocol is Kafka's eager one: before each rebalance every partition is revoked (their
/// positions committed first when `enable_auto_commit` is on), and after it the new
/// assignment is given whole.
pub trait RebalanceListener: Send + Sync {
    /// Before a rebalance, with the partitions the consumer gives up. With
    /// `enable_auto_commit`, their positions were committed when this is called.
    fn on_partitions_revoked(&self, partitions: &[TopicPartition]) {
        let _ = partitions;
    }

    /// After a rebalance, with the partitions the consumer now reads. Their positions are
    /// looked up (the group's committed offsets) by the poll that follows.
    fn on_partitions_assigned(&self, partitions: &[TopicPartition]) {
        let _ = partitions;
    }

    /// Instead of `on_partitions_revoked` when the group went on without this member
    /// (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID): the partitions may be another member's
    /// already, and nothing was committed. Defaults to `on_partitions_revoked`.
    fn on_partitions_lost(&self, partitions: &[TopicPartition]) {
        self.on_partitions_revoked(partitions);
    }
}

/// What a member tells its group about itself.
#[derive(Clone, Debug)]
pub(crate) struct MemberConfig {
    pub client_id: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub heartbeat_interval: Duration,
    pub assignors: Vec<Assignor>,
}

/// One consumer's membership of a group, shared with its heartbeat task.
#[derive(Debug)]
pub(crate) struct GroupMember {
    cluster: Arc<Cluster>,
    pub group: String,
    config: MemberConfig,
    membership: Mutex<Membership>,
}

/// How one JoinGroup and SyncGroup round ended.
enum Round {
    /// The member holds a generation and these partitions.
    Assigned(Vec<TopicPartition>),
    /// Join again (a member id was given, or a rebalance started meanwhile).
    Again,
}

impl GroupMember {
    pub(crate) fn new(cluster: Arc<Cluster>, group: String, config: MemberConfig) -> GroupMember {
        GroupMember {
            cluster,
            group,
            config,
            membership: Mutex::new(Membership::new()),
        }
    }

    pub(crate) fn membership(&self) -> MutexGuard<'_, Membership> {
        self.membership.lock().expect("membership lock poisoned")
    }

    fn ms(duration: Duration) -> i32 {
        i32::try_from(duration.as_millis()).unwrap_or(i32::MAX)
    }

    /// Joins the group and syncs, retrying within the rebalance timeout plus the request
    /// timeout; returns the partitions of `topics` assigned to this member.
    pub(crate) async fn join(&self, topics: &[String]) -> Result<Vec<TopicPartition>, ClientError> {
        let deadline =
            Instant::now() + self.config.rebalance_timeout + self.cluster.config.request_timeout;
        let mut retry = Retry::new(&self.cluster, deadline);
        for _ in 0..JOIN_ROUNDS_MAX {
            self.membership().joining();
            let generation = self.cluster.metadata().generation();
            let error = match self.join_round(topics, deadline).await {
                Ok(Round::Assigned(partitions)) => return Ok(partitions),
                Ok(Round::Again) if Instant::now() < deadline => continue,
                Ok(Round::Again) => ClientError::Timeout {
                    what: format!("joining group {}", self.group),
                    after: deadline.saturating_duration_since(Instant::now()),
                },
                Err(error) => error,
            };
            retry.after(error, generation).await?;
        }
        Err(ClientError::Protocol {
            address: "coordinator".into(),
            detail: format!(
                "group {}: no assignment after {JOIN_ROUNDS_MAX} join rounds",
                self.group
            ),
        })
    }

    async fn join_round(&self, topics: &[String], deadline: Instant) -> Result<Round, ClientError> {
        let subscription = Subscription {
            topics: topics.to_vec(),
            user_data: None,
        }
        .encode();
        let request = JoinGroupRequest {
            group_id: self.group.clone(),
            client_id: self.config.client_id.clone(),
            session_timeout_ms: Self::ms(self.config.session_timeout),
            rebalance_timeout_ms: Self::ms(self.config.rebalance_timeout),
            member_id: self.membership().member_id().to_string(),
            group_instance_id: None,
            protocol_type: PROTOCOL_TYPE.to_string(),
            protocols: self
                .config
                .assignors
                .iter()
                .map(|assignor| JoinGroupProtocol {
                    name: assignor.name().to_string(),
                    metadata: subscription.clone(),
                })
                .collect(),
        };
        let wait = self.config.rebalance_timeout;
        let response = match self.send(Request::JoinGroup(request), wait).await? {
            Response::JoinGroup(response) => response,
            other => return Err(refusal("JoinGroup", &self.group, other)),
        };
        let code = response.error_code;
        if code == ErrorCode::MEMBER_ID_REQUIRED {
            self.membership().member_id_given(response.member_id);
            return Ok(Round::Again);
        }
        if let Some(round) = self.judge("JoinGroup", code)? {
            return Ok(round);
        }
        self.membership()
            .member_id_given(response.member_id.clone());
        let generation = response.generation_id;
        let protocol_name = response.protocol_name.clone();
        let assignments = if response.leader == response.member_id {
            self.lead(&response, deadline).await?
        } else {
            Vec::new()
        };
        let request = SyncGroupRequest {
            group_id: self.group.clone(),
            generation_id: generation,
            member_id: response.member_id,
            group_instance_id: None,
            protocol_type: Some(PROTOCOL_TYPE.to_string()),
            protocol_name,
            assignments,
        };
        let response = match self.send(Request::SyncGroup(request), wait).await? {
            Response::SyncGroup(response) => response,
            other => return Err(refusal("SyncGroup", &self.group, other)),
        };
        if let Some(round) = self.judge("SyncGroup", response.error_code)? {
            return Ok(round);
        }
        let assignment =
            Assignment::decode(&response.assignment).map_err(|error| ClientError::Protocol {
                address: "coordinator".into(),
                detail: format!(
                    "group {}: the assignment does not decode: {}",
                    self.group, error.0
                ),
            })?;
        self.membership().synced(generation);
        Ok(Round::Assigned(
            assignment
                .partitions
                .into_iter()
                .filter(|(topic, _)| topics.contains(topic))
                .flat_map(|(topic, partitions)| {
                    partitions
                        .into_iter()
                        .map(move |p| TopicPartition::new(topic.clone(), p))
                })
                .collect(),
        ))
    }

    /// `None` to go on after a JoinGroup or SyncGroup answered `code`; else the round's end
    /// (join again) or the error (retried by `join` when retriable).
    fn judge(&self, api: &str, code: ErrorCode) -> Result<Option<Round>, ClientError> {
        match self.membership().on_answer(None, code) {
            Verdict::Ok => Ok(None),
            Verdict::Rejoin(_) => Ok(Some(Round::Again)),
            Verdict::Coordinator | Verdict::Fatal => Err(ClientError::broker(
                format!("{api} of group {}", self.group),
                code,
                None,
            )),
        }
    }

    /// The leader's part: every member's partitions by the protocol the group chose.
    async fn lead(
        &self,
        response: &JoinGroupResponse,
        deadline: Instant,
    ) -> Result<Vec<SyncGroupAssignment>, ClientError> {
        let protocol = response.protocol_name.as_deref().unwrap_or_default();
        let assignor = Assignor::from_name(protocol).ok_or_else(|| {
            ClientError::Config(format!(
                "group {} chose protocol {protocol:?}, which this consumer does not run",
                self.group
            ))
        })?;
        let mut members = BTreeMap::new();
        for member in &response.members {
            let subscription =
                Subscription::decode(&member.metadata).map_err(|error| ClientError::Protocol {
                    address: "coordinator".into(),
                    detail: format!(
                        "group {}: the subscription of member {} does not decode: {}",
                        self.group, member.member_id, error.0
                    ),
                })?;
            members.insert(member.member_id.clone(), subscription.topics);
        }
        let topics: Vec<String> = members.values().flatten().cloned().collect();
        let counts = self.partition_counts(&topics, deadline).await?;
        Ok(assignor
            .assign(&members, &counts)
            .into_iter()
            .map(|(member_id, partitions)| SyncGroupAssignment {
                member_id,
                assignment: Assignment {
                    partitions,
                    user_data: None,
                }
                .encode(),
            })
            .collect())
    }

    /// The partition counts of the topics that exist, from fresh metadata: a subscribed topic
    /// that does not exist is left out, as Kafka's assignors do.
    async fn partition_counts(
        &self,
        topics: &[String],
        deadline: Instant,
    ) -> Result<BTreeMap<String, u32>, ClientError> {
        let generation = {
            let mut metadata = self.cluster.metadata();
            metadata.want(topics.iter().cloned());
            metadata.generation()
        };
        tokio::time::timeout_at(deadline, self.cluster.refresh_metadata(generation))
            .await
            .map_err(|_| ClientError::Timeout {
                what: format!("metadata for the topics of group {}", self.group),
                after: self.cluster.config.request_timeout,
            })??;
        Ok(topics
            .iter()
            .filter_map(|topic| {
                let (count, _) = self.cluster.cached_partition_count(topic)?;
                Some((topic.clone(), count))
            })
            .collect())
    }

    /// Leaves the group (LeaveGroup): its partitions go to the others at once rather than
    /// after the session timeout.
    pub(crate) async fn leave(&self) -> Result<(), ClientError> {
        let member_id = self.membership().member_id().to_string();
        self.membership().left();
        if member_id.is_empty() {
            return Ok(());
        }
        let request = Request::LeaveGroup(LeaveGroupRequest {
            group_id: self.group.clone(),
            members: vec![LeavingMember {
                member_id: member_id.clone(),
                group_instance_id: None,
                reason: Some("the consumer is closing".into()),
            }],
        });
        let deadline = Instant::now() + self.cluster.config.request_timeout;
        let response = call_coordinator(
            &self.cluster,
            &self.group,
            request,
            Duration::ZERO,
            deadline,
        )
        .await?;
        let Response::LeaveGroup(response) = response else {
            return Err(refusal("LeaveGroup", &self.group, response));
        };
        match response.members.first().map(|m| m.error_code) {
            // Already gone (its session expired): nothing left to leave.
            Some(ErrorCode::NONE | ErrorCode::UNKNOWN_MEMBER_ID) | None => Ok(()),
            Some(code) => Err(ClientError::broker(
                format!("leave group {} as {member_id}", self.group),
                code,
                None,
            )),
        }
    }

    async fn send(&self, request: Request, server_wait: Duration) -> Result<Response, ClientError> {
        send_to_coordinator(&self.cluster, &self.group, request, server_wait).await
    }

    /// Sends a Heartbeat every `heartbeat_interval` while the member holds a generation, until
    /// the task is aborted. Errors wait for the next beat; a coordinator that moved or a lost
    /// connection refreshes the metadata first.
    pub(crate) async fn heartbeats(self: Arc<Self>) {
        let mut beats = tokio::time::interval(self.config.heartbeat_interval);
        beats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            beats.tick().await;
            let (generation, member_id) = {
                let membership = self.membership();
                match membership.generation() {
                    Some(generation) => (generation.id, membership.member_id().to_string()),
                    None => continue,
                }
            };
            let metadata_generation = self.cluster.metadata().generation();
            let request = Request::Heartbeat(HeartbeatRequest {
                group_id: self.group.clone(),
                generation_id: generation,
                member_id,
                group_instance_id: None,
            });
            let refresh = match self.send(request, Duration::ZERO).await {
                Ok(Response::Heartbeat(response)) => {
                    let verdict = self
                        .membership()
                        .on_answer(Some(generation), response.error_code);
                    verdict == Verdict::Coordinator
                }
                Ok(Response::Error(error)) => verdict(error.error_code) == Verdict::Coordinator,
                Ok(_) => false,
                Err(error) => error.needs_metadata_refresh(),
            };
            if refresh {
                let _ = self.cluster.refresh_metadata(metadata_generation).await;
            }
        }
    }

    /// Feeds an OffsetCommit's error to the membership (REBALANCE_IN_PROGRESS and the like ask
    /// for a rejoin), given the generation the commit carried.
    pub(crate) fn commit_failed(&self, generation_sent: i32, error: &ClientError) {
        if let Some(code) = error.error_code() {
            let sent = (generation_sent >= 0).then_some(generation_sent);
            self.membership().on_answer(sent, code);
        }
    }

    /// Asks for a rejoin from outside an answer (a new subscription).
    pub(crate) fn ask_rejoin(&self) {
        self.membership().ask_rejoin(Rejoin::REVOKE);
    }
}

/// Sends `request` once to the coordinator of `group`: the leader of its partition of the
/// offsets topic, as the cached metadata names it.
pub(crate) async fn send_to_coordinator(
    cluster: &Cluster,
    group: &str,
    request: Request,
    server_wait: Duration,
) -> Result<Response, ClientError> {
    let partition = TopicPartition::new(OFFSETS_TOPIC, partition_for(group));
    cluster.metadata().want([OFFSETS_TOPIC.to_string()]);
    let leader = cluster.leader(&partition).map_err(|unknown| {
        unknown_to_error(
            &format!("coordinator of group {group} ({partition})"),
            unknown,
        )
    })?;
    cluster
        .send_to_broker(leader.broker, request, server_wait)
        .await
}

/// Sends `request` to the coordinator of `group` until it answers other than with a coordinator
/// error (NOT_COORDINATOR and the like, for the request or its one group or member), retrying
/// with metadata refreshes until `deadline`.
pub(crate) async fn call_coordinator(
    cluster: &Cluster,
    group: &str,
    request: Request,
    server_wait: Duration,
    deadline: Instant,
) -> Result<Response, ClientError> {
    let api_key = request.api_key();
    let mut retry = Retry::new(cluster, deadline);
    loop {
        let generation = cluster.metadata().generation();
        let error = match send_to_coordinator(cluster, group, request.clone(), server_wait).await {
            Ok(Response::Error(error)) => ClientError::broker(
                format!("{api_key} of group {group}"),
                error.error_code,
                Some(error.message),
            ),
            Ok(response) => match coordinator_code(&response) {
                Some(code) if verdict(code) == Verdict::Coordinator => {
                    ClientError::broker(format!("{api_key} of group {group}"), code, None)
                }
                _ => return Ok(response),
            },
            Err(error) => error,
        };
        retry.after(error, generation).await?;
    }
}

/// The error code of a one-group answer that may say the coordinator moved.
fn coordinator_code(response: &Response) -> Option<ErrorCode> {
    match response {
        Response::JoinGroup(r) => Some(r.error_code),
        Response::SyncGroup(r) => Some(r.error_code),
        Response::Heartbeat(r) => Some(r.error_code),
        Response::LeaveGroup(r) => r.members.first().map(|m| m.error_code),
        Response::DescribeGroups(r) => r.groups.first().map(|g| g.error_code),
        Response::DeleteGroups(r) => r.results.first().map(|g| g.error_code),
        _ => None,
    }
}

/// The error for a group request refused whole (or answered with another API).
fn refusal(api: &str, group: &str, response: Response) -> ClientError {
    match response {
        Response::Error(error) => ClientError::broker(
            format!("{api} of group {group}"),
            error.error_code,
            Some(error.message),
        ),
        other => unexpected(api, &other),
    }
}
