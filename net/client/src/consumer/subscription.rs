//! Subscribe mode: the [`Consumer`] as a member of its group. [`Consumer::subscribe`] makes it
//! one; each [`Consumer::poll`] first keeps the membership (`keep_membership`): commits the
//! positions when `auto_commit_interval` passed, and rejoins when the heartbeat task or a
//! commit was told of a rebalance, revoking every partition (eager protocol) and taking the
//! new assignment. [`Consumer::close`] commits, revokes and leaves.

use std::fmt;
use std::sync::Arc;

use ringlog_format::{LeaderEpoch, Offset};
use ringlog_replication::TopicPartition;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{Consumer, State, known_positions, set_assignment};
use crate::error::ClientError;
use crate::group::{GroupMember, MemberConfig, RebalanceListener};
use crate::membership::Rejoin;
use ringlog_wire::ErrorCode;

/// A subscribed consumer's topics and membership.
pub(super) struct Subscribed {
    topics: Vec<String>,
    member: Arc<GroupMember>,
    listener: Option<Arc<dyn RebalanceListener>>,
    /// Aborted when the subscription ends (close, or the consumer dropped).
    heartbeat: JoinHandle<()>,
    next_auto_commit: Instant,
}

impl Drop for Subscribed {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

impl fmt::Debug for Subscribed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscribed")
            .field("topics", &self.topics)
            .field("member", &self.member)
            .field("listener", &self.listener.is_some())
            .finish_non_exhaustive()
    }
}

impl Consumer {
    /// Subscribes to `topics` as a member of the consumer's group (Kafka's classic protocol,
    /// protocol type "consumer"): the group's members share the topics' partitions. The join
    /// happens in the next [`poll`](Consumer::poll), which returns records once the group gave
    /// this member partitions; heartbeats go out in the background from then on. Subscribing
    /// again replaces the topics (a rebalance). Fails without a group, in assign mode, or with
    /// an invalid group configuration.
    pub async fn subscribe(&self, topics: &[&str]) -> Result<(), ClientError> {
        self.subscribe_with(topics, None).await
    }

    /// [`subscribe`](Consumer::subscribe), with `listener` told of each rebalance.
    pub async fn subscribe_with_listener(
        &self,
        topics: &[&str],
        listener: Arc<dyn RebalanceListener>,
    ) -> Result<(), ClientError> {
        self.subscribe_with(topics, Some(listener)).await
    }

    async fn subscribe_with(
        &self,
        topics: &[&str],
        listener: Option<Arc<dyn RebalanceListener>>,
    ) -> Result<(), ClientError> {
        let group = self.group()?.to_string();
        self.check_member_config()?;
        if topics.is_empty() {
            return Err(ClientError::Config("subscribe to no topic".into()));
        }
        let topics: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
        let mut state = self.state.lock().await;
        if let Some(subscribed) = &mut state.subscription {
            subscribed.topics = topics;
            subscribed.listener = listener;
            subscribed.member.ask_rejoin();
            return Ok(());
        }
        if !state.positions.is_empty() {
            return Err(ClientError::Config(
                "subscribe on a consumer with partitions assigned: assign none first".into(),
            ));
        }
        let member = Arc::new(GroupMember::new(
            Arc::clone(&self.cluster),
            group,
            MemberConfig {
                client_id: self.config.client_id.clone(),
                session_timeout: self.config.session_timeout,
                rebalance_timeout: self.config.rebalance_timeout,
                heartbeat_interval: self.config.heartbeat_interval,
                assignors: self.config.assignors.clone(),
            },
        ));
        let heartbeat = tokio::spawn(Arc::clone(&member).heartbeats());
        state.subscription = Some(Subscribed {
            topics,
            member,
            listener,
            heartbeat,
            next_auto_commit: Instant::now() + self.config.auto_commit_interval,
        });
        Ok(())
    }

    fn check_member_config(&self) -> Result<(), ClientError> {
        let config = &self.config;
        if config.heartbeat_interval.is_zero()
            || config.heartbeat_interval >= config.session_timeout
        {
            return Err(ClientError::Config(format!(
                "heartbeat_interval {} ms must be above 0 and below session_timeout {} ms",
                config.heartbeat_interval.as_millis(),
                config.session_timeout.as_millis()
            )));
        }
        if config.auto_commit_interval.is_zero() || config.rebalance_timeout.is_zero() {
            return Err(ClientError::Config(
                "auto_commit_interval and rebalance_timeout must not be zero".into(),
            ));
        }
        if config.assignors.is_empty() {
            return Err(ClientError::Config("assignors is empty".into()));
        }
        Ok(())
    }

    /// The subscribed topics; empty in assign mode.
    pub async fn subscription(&self) -> Vec<String> {
        let state = self.state.lock().await;
        state
            .subscription
            .as_ref()
            .map(|s| s.topics.clone())
            .unwrap_or_default()
    }

    /// Subscribed: the member id the coordinator gave and the generation held, once joined.
    pub async fn group_member(&self) -> Option<(String, i32)> {
        let state = self.state.lock().await;
        let membership = state.subscription.as_ref()?.member.membership().clone();
        let generation = membership.generation()?;
        Some((membership.member_id().to_string(), generation.id))
    }

    /// Subscribed: commits the positions (with `enable_auto_commit`), revokes the partitions,
    /// leaves the group (its partitions go to the others at once) and stops the heartbeats;
    /// the consumer is back in assign mode with nothing assigned. Assign mode: nothing to do.
    /// The commit's error, else the leave's, is returned; both are attempted.
    pub async fn close(&self) -> Result<(), ClientError> {
        let mut state = self.state.lock().await;
        let Some(subscribed) = state.subscription.as_ref() else {
            return Ok(());
        };
        let member = Arc::clone(&subscribed.member);
        let listener = subscribed.listener.clone();
        let holds_generation = member.membership().generation().is_some();
        let committed = if self.config.enable_auto_commit && holds_generation {
            self.commit_positions(&state).await
        } else {
            Ok(())
        };
        let owned: Vec<TopicPartition> = state.positions.keys().cloned().collect();
        if let Some(listener) = listener {
            listener.on_partitions_revoked(&owned);
        }
        let left = member.leave().await;
        state.subscription = None;
        set_assignment(&mut state, &[]);
        committed.and(left)
    }

    /// Auto-commits when due and rejoins when asked; called by `poll` before each fetch round.
    pub(super) async fn keep_membership(&self, state: &mut State) -> Result<(), ClientError> {
        let subscribed = state.subscription.as_ref().expect("subscribed");
        let member = Arc::clone(&subscribed.member);
        let due = Instant::now() >= subscribed.next_auto_commit;
        let holds_generation = member.membership().generation().is_some();
        if self.config.enable_auto_commit && due && holds_generation {
            // A failed auto-commit is not the caller's error, as in Kafka's consumer: a
            // rebalance it revealed is taken below, anything else waits for the next one.
            let _ = self.commit_positions(state).await;
            self.schedule_auto_commit(state);
        }
        let rejoin = member.membership().rejoin();
        match rejoin {
            Some(rejoin) => self.rebalance(state, rejoin).await,
            None => Ok(()),
        }
    }

    fn schedule_auto_commit(&self, state: &mut State) {
        let subscribed = state.subscription.as_mut().expect("subscribed");
        subscribed.next_auto_commit = Instant::now() + self.config.auto_commit_interval;
    }

    /// Revokes (or loses) every partition, joins, and takes the new assignment.
    async fn rebalance(&self, state: &mut State, rejoin: Rejoin) -> Result<(), ClientError> {
        let subscribed = state.subscription.as_ref().expect("subscribed");
        let (member, listener) = (Arc::clone(&subscribed.member), subscribed.listener.clone());
        let topics = subscribed.topics.clone();
        let owned: Vec<TopicPartition> = state.positions.keys().cloned().collect();
        if rejoin.lost {
            if let Some(listener) = &listener {
                listener.on_partitions_lost(&owned);
            }
        } else {
            let holds_generation = member.membership().generation().is_some();
            if self.config.enable_auto_commit && holds_generation && !owned.is_empty() {
                // Refused only if the group already went on without this member, in which
                // case the partitions are lost and the next owner starts from the last commit.
                let _ = self.commit_positions(state).await;
            }
            if let Some(listener) = &listener {
                listener.on_partitions_revoked(&owned);
            }
        }
        // Eager: nothing is kept across a rebalance; the new assignment starts from the
        // group's committed offsets.
        set_assignment(state, &[]);
        let assigned = member.join(&topics).await?;
        set_assignment(state, &assigned);
        self.schedule_auto_commit(state);
        if let Some(listener) = &listener {
            listener.on_partitions_assigned(&assigned);
        }
        Ok(())
    }

    /// Commits the known positions as the member of the generation it holds.
    pub(super) async fn commit_positions(&self, state: &State) -> Result<(), ClientError> {
        let subscribed = state.subscription.as_ref().expect("subscribed");
        self.commit_as_member(subscribed, &known_positions(state))
            .await
    }

    /// Commits `offsets` with the member's generation and id; an error about the membership
    /// (REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION, ...) asks for a rejoin too.
    pub(super) async fn commit_as_member(
        &self,
        subscribed: &Subscribed,
        offsets: &[(TopicPartition, Offset, Option<LeaderEpoch>)],
    ) -> Result<(), ClientError> {
        let identity = subscribed.member.membership().commit_identity();
        let generation = identity.0;
        if generation < 0 {
            return Err(ClientError::broker(
                format!("commit for group {}", subscribed.member.group),
                ErrorCode::REBALANCE_IN_PROGRESS,
                Some("the consumer holds no generation of the group yet".into()),
            ));
        }
        if offsets.is_empty() {
            return Ok(());
        }
        let result = self.commit_with_epochs(offsets, identity).await;
        if let Err(error) = &result {
            subscribed.member.commit_failed(generation, error);
        }
        result
    }
}
