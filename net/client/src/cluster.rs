//! The client's view of the cluster and its connections: one [`Connection`] per broker
//! address, opened on first use and replaced once closed; the [`MetadataCache`], refreshed
//! from any reachable broker; and [`Retry`], the backoff loop every client call shares.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ringlog_replication::{BrokerId, TopicPartition};
use tokio::time::Instant;

use crate::ClientConfig;
use crate::backoff::{self, Backoff, RetryDecision};
use crate::connection::{Connection, ConnectionLimits};
use crate::error::{ClientError, partitions};
use crate::metadata_cache::{LeaderUnknown, MetadataCache, PartitionLeader};
use ringlog_wire::api::metadata::{MetadataRequest, MetadataResponse};
use ringlog_wire::{ErrorCode, Request, Response};

/// One broker address's connection, behind its own lock so connecting to one slow broker
/// does not hold up requests to the others.
type Slot = Arc<tokio::sync::Mutex<Option<Arc<Connection>>>>;

/// Connections, metadata and the configuration they share.
#[derive(Debug)]
pub(crate) struct Cluster {
    pub config: ClientConfig,
    metadata: Mutex<MetadataCache>,
    /// The metadata's generation, readable without its lock: the producer checks on every
    /// record that what it routes by is current. Stored under the lock after each change.
    metadata_generation: AtomicU64,
    connections: Mutex<HashMap<String, Slot>>,
    /// Held while a Metadata request is out, so concurrent refreshes make one request.
    refreshing: tokio::sync::Mutex<()>,
}

impl Cluster {
    /// Checks the configuration and learns the brokers from the first bootstrap address that
    /// answers a Metadata request.
    pub(crate) async fn bootstrap(config: ClientConfig) -> Result<Arc<Cluster>, ClientError> {
        config.validate()?;
        let cluster = Arc::new(Cluster {
            config,
            metadata: Mutex::default(),
            metadata_generation: AtomicU64::new(0),
            connections: Mutex::default(),
            refreshing: tokio::sync::Mutex::new(()),
        });
        cluster.refresh_metadata(0).await?;
        Ok(cluster)
    }

    pub(crate) fn backoff(&self) -> Backoff {
        Backoff {
            initial: self.config.retry_backoff,
            max: self.config.retry_backoff_max,
        }
    }

    fn limits(&self) -> ConnectionLimits {
        ConnectionLimits {
            connect_timeout: self.config.connect_timeout,
            request_timeout: self.config.request_timeout,
            max_in_flight: self.config.max_in_flight_requests,
            max_frame_bytes: self.config.max_frame_bytes,
        }
    }

    pub(crate) fn metadata(&self) -> MutexGuard<'_, MetadataCache> {
        self.metadata.lock().expect("metadata lock poisoned")
    }

    /// The open connection to `address`, or a new one.
    pub(crate) async fn connection(&self, address: &str) -> Result<Arc<Connection>, ClientError> {
        let slot = Arc::clone(
            self.connections
                .lock()
                .expect("connections lock poisoned")
                .entry(address.to_string())
                .or_default(),
        );
        let mut slot = slot.lock().await;
        if let Some(connection) = slot.as_ref().filter(|c| !c.is_closed()) {
            return Ok(Arc::clone(connection));
        }
        let (tls, sasl) = (self.config.tls.as_ref(), self.config.sasl.as_ref());
        let connection = Arc::new(Connection::connect(address, self.limits(), tls, sasl).await?);
        *slot = Some(Arc::clone(&connection));
        Ok(connection)
    }

    /// Sends `request` to `broker`, by its address in the metadata.
    pub(crate) async fn send_to_broker(
        &self,
        broker: BrokerId,
        request: Request,
        server_wait: Duration,
    ) -> Result<Response, ClientError> {
        self.enqueue_to_broker(broker, request, server_wait)
            .await?
            .wait()
            .await
    }

    /// Queues `request` on `broker`'s connection behind the requests queued before it (see
    /// [`Connection::enqueue`]); its answer comes back to wait for.
    pub(crate) async fn enqueue_to_broker(
        &self,
        broker: BrokerId,
        request: Request,
        server_wait: Duration,
    ) -> Result<crate::connection::Answer, ClientError> {
        let address = self.metadata().broker(broker).map(|a| a.to_socket_string());
        let Some(address) = address else {
            return Err(ClientError::broker(
                format!("broker {broker}"),
                ErrorCode::LEADER_NOT_AVAILABLE,
                Some("not among the live brokers in the metadata".into()),
            ));
        };
        self.connection(&address)
            .await?
            .enqueue(request, server_wait)
            .await
    }

    /// Sends `request` to any broker: an open connection first, then the known brokers, then
    /// the bootstrap addresses, moving on while connecting fails.
    pub(crate) async fn send_to_any(
        &self,
        request: Request,
        server_wait: Duration,
    ) -> Result<Response, ClientError> {
        let candidates = self.candidates();
        let mut last_error = None;
        for address in &candidates {
            let attempt = match self.connection(address).await {
                Ok(connection) => connection.send(request.clone(), server_wait).await,
                Err(error) => Err(error),
            };
            match attempt {
                Err(
                    error @ (ClientError::Connect { .. }
                    | ClientError::ConnectionClosed { .. }
                    | ClientError::Timeout { .. }),
                ) => last_error = Some(error),
                answer => return answer,
            }
        }
        Err(ClientError::NoBrokerReachable {
            tried: candidates,
            last_error: Box::new(last_error.expect("validate keeps bootstrap non-empty")),
        })
    }

    /// Addresses to try, open connections first, each once.
    fn candidates(&self) -> Vec<String> {
        let mut open: Vec<String> = Vec::new();
        for (address, slot) in self
            .connections
            .lock()
            .expect("connections lock poisoned")
            .iter()
        {
            let is_open = slot
                .try_lock()
                .is_ok_and(|slot| slot.as_ref().is_some_and(|c| !c.is_closed()));
            if is_open {
                open.push(address.clone());
            }
        }
        open.sort();
        let known = self
            .metadata()
            .brokers()
            .map(|(_, a)| a.to_socket_string())
            .collect::<Vec<_>>();
        let mut candidates = Vec::new();
        for address in open
            .into_iter()
            .chain(known)
            .chain(self.config.bootstrap.iter().cloned())
        {
            if !candidates.contains(&address) {
                candidates.push(address);
            }
        }
        candidates
    }

    /// Refreshes the metadata unless a refresh newer than `seen_generation` already happened
    /// (someone else saw the same stale answer first).
    pub(crate) async fn refresh_metadata(&self, seen_generation: u64) -> Result<(), ClientError> {
        let _one_at_a_time = self.refreshing.lock().await;
        if self.metadata().generation() > seen_generation {
            return Ok(());
        }
        let topics = Some(self.metadata().wanted());
        let response = self.metadata_request(topics).await?;
        let mut metadata = self.metadata();
        metadata.apply(&response, std::time::Instant::now());
        self.metadata_generation
            .store(metadata.generation(), Ordering::Release);
        Ok(())
    }

    /// Refreshes the metadata in the background once it is older than `metadata_max_age`, so
    /// leaders and partitions that changed without an error telling the client are learned
    /// too. Errors are left for the next request to meet.
    pub(crate) fn refresh_if_stale(self: &Arc<Self>) {
        let (stale, generation) = {
            let metadata = self.metadata();
            let now = std::time::Instant::now();
            (
                metadata.is_stale(self.config.metadata_max_age, now),
                metadata.generation(),
            )
        };
        if stale {
            let cluster = Arc::clone(self);
            tokio::spawn(async move {
                let _ = cluster.refresh_metadata(generation).await;
            });
        }
    }

    /// One Metadata request to any broker; `None`: every topic.
    pub(crate) async fn metadata_request(
        &self,
        topics: Option<Vec<String>>,
    ) -> Result<MetadataResponse, ClientError> {
        match self
            .send_to_any(
                Request::Metadata(MetadataRequest { topics }),
                Duration::ZERO,
            )
            .await?
        {
            Response::Metadata(response) => Ok(response),
            Response::Error(error) => Err(ClientError::broker(
                "metadata",
                error.error_code,
                Some(error.message),
            )),
            other => Err(unexpected("Metadata", &other)),
        }
    }

    /// The topic's partition count if the cache holds it, and the generation it was read at:
    /// the producer routes by it until the generation changes. Neither waits nor registers
    /// interest (a cached topic is wanted already).
    pub(crate) fn cached_partition_count(&self, topic: &str) -> Option<(u32, u64)> {
        let metadata = self.metadata();
        let count = metadata.partition_count(topic).ok()?;
        Some((count, metadata.generation()))
    }

    /// The metadata's generation (see [`MetadataCache::generation`]), without taking its lock.
    pub(crate) fn metadata_generation(&self) -> u64 {
        self.metadata_generation.load(Ordering::Acquire)
    }

    /// The topic's partition count, refreshing the metadata until `deadline` while the topic
    /// is not known yet (or reported with a retriable error, such as a topic just created).
    pub(crate) async fn partition_count(
        &self,
        topic: &str,
        deadline: Instant,
    ) -> Result<u32, ClientError> {
        let mut retry = Retry::new(self, deadline);
        loop {
            let (answer, generation) = {
                let mut metadata = self.metadata();
                metadata.want([topic.to_string()]);
                (metadata.partition_count(topic), metadata.generation())
            };
            let error = match answer {
                Ok(count) => return Ok(count),
                Err(LeaderUnknown::TopicNotCached) => match self.refresh_metadata(generation).await
                {
                    Ok(()) => continue,
                    Err(error) => error,
                },
                Err(unknown) => unknown_to_error(&format!("metadata for topic {topic}"), unknown),
            };
            retry.after(error, generation).await?;
        }
    }

    /// The partition's leader from the cache.
    pub(crate) fn leader(
        &self,
        topic_partition: &TopicPartition,
    ) -> Result<PartitionLeader, LeaderUnknown> {
        self.metadata().leader(topic_partition)
    }
}

/// A leader lookup that failed, as an error about `context`.
pub(crate) fn unknown_to_error(context: &str, unknown: LeaderUnknown) -> ClientError {
    match unknown {
        LeaderUnknown::TopicNotCached => ClientError::broker(
            context,
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
            Some("no metadata for the topic yet".into()),
        ),
        LeaderUnknown::Error(code) => ClientError::broker(context, code, None),
        LeaderUnknown::NoSuchPartition { partition_count } => ClientError::broker(
            context,
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
            Some(format!("the topic has {}", partitions(partition_count))),
        ),
    }
}

/// A response of another API than the request's: the codec decodes by the request's key, so
/// only a bug gets here.
pub(crate) fn unexpected(api: &str, response: &Response) -> ClientError {
    ClientError::Protocol {
        address: "broker".into(),
        detail: format!("{api} answered with a response of {:?}", response.api_key()),
    }
}

/// The backoff loop of one client call: after each failure, [`after`](Retry::after) either
/// waits (refreshing metadata when the error asks for it) or hands the error back.
#[derive(Debug)]
pub(crate) struct Retry<'a> {
    cluster: &'a Cluster,
    deadline: Instant,
    retries: u32,
}

impl<'a> Retry<'a> {
    pub(crate) fn new(cluster: &'a Cluster, deadline: Instant) -> Retry<'a> {
        Retry {
            cluster,
            deadline,
            retries: 0,
        }
    }

    /// Waits before the next attempt, or returns `error` when it is final or the next attempt
    /// would start after the deadline. `generation` is the metadata the failed attempt used.
    pub(crate) async fn after(
        &mut self,
        error: ClientError,
        generation: u64,
    ) -> Result<(), ClientError> {
        let now = Instant::now();
        let decision = backoff::decide(
            self.cluster.backoff(),
            &error,
            self.retries,
            now.into_std(),
            self.deadline.into_std(),
        );
        let RetryDecision::RetryAt {
            at,
            refresh_metadata,
        } = decision
        else {
            return Err(error);
        };
        self.retries += 1;
        if refresh_metadata {
            // A failed refresh shows up as the next attempt's error.
            let _ =
                tokio::time::timeout_at(self.deadline, self.cluster.refresh_metadata(generation))
                    .await;
        }
        tokio::time::sleep_until(Instant::from_std(at)).await;
        Ok(())
    }
}
