//! A partition served by its owner shard: the engine's [`Log`] and the replication crate's
//! [`Replica`] driven together. The replica decides (acks, the high watermark, who may fetch
//! what); this file carries out its intents on the log and says who gets which answer.
//!
//! With one broker the replica leads with an ISR of one, so every append commits at once; the
//! same code takes followers when the cluster issue adds them.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use ringlog_engine::{FileSlice, LeaderEpoch, Log, LogConfig, Offset};
use ringlog_replication::controller::Partition;
use ringlog_replication::partition::{
    Acks, FollowerConfig, LeaderConfig, LeaderOutput, LogState, ProduceError, ProduceId, Replica,
    ReplicaInput, ReplicaOutput,
};
use ringlog_replication::{BrokerId, Millis, PartitionEpoch, TopicPartition};

use crate::wire::ErrorCode;

/// The outcome of a produce to one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProduceOutcome {
    pub error: ErrorCode,
    pub message: Option<String>,
    pub base_offset: Option<Offset>,
    pub log_start_offset: Option<Offset>,
}

impl ProduceOutcome {
    fn error(error: ErrorCode, message: String) -> ProduceOutcome {
        ProduceOutcome {
            error,
            message: Some(message),
            base_offset: None,
            log_start_offset: None,
        }
    }
}

/// The outcome of a fetch from one partition: where the log stands and the batches to send.
#[derive(Clone, Debug, Default)]
pub struct FetchOutcome {
    pub error: ErrorCode,
    pub high_watermark: Option<Offset>,
    pub log_start_offset: Option<Offset>,
    pub log_end_offset: Option<Offset>,
    pub slices: Vec<FileSlice>,
    pub bytes: u64,
}

/// A produce waiting for the replica's answer, and what the client is told then.
#[derive(Debug)]
struct WaitingProduce<R> {
    reply: R,
    base_offset: Option<Offset>,
}

/// A partition on its owner shard. `R` is how the shard routes an answer back.
#[derive(Debug)]
pub struct ServedPartition<R> {
    pub topic_partition: TopicPartition,
    pub log: Log,
    replica: Replica,
    next_produce: u64,
    waiting: BTreeMap<ProduceId, WaitingProduce<R>>,
}

impl<R> ServedPartition<R> {
    /// Opens (recovering if needed) the partition's log in `dir` and takes the leadership as
    /// the only replica, in an epoch after any the log holds.
    pub fn open(
        me: BrokerId,
        topic_partition: TopicPartition,
        dir: &Path,
        log_config: LogConfig,
        leader_config: LeaderConfig,
        now: Millis,
    ) -> Result<ServedPartition<R>, ringlog_engine::Error> {
        let log = Log::open(dir, log_config)?;
        let state = log_state(&log);
        let epoch = state
            .last_epoch()
            .map_or(LeaderEpoch(0), |e| LeaderEpoch(e.0 + 1));
        let mut replica = Replica::new(me, leader_config, FollowerConfig::default(), state.clone());
        let partition = Partition::new(vec![me], Some(me), vec![me], epoch, PartitionEpoch(0));
        let outputs = replica.step(ReplicaInput::PartitionChanged {
            partition,
            log: state,
            now,
        });
        for output in outputs {
            match output {
                // A lone leader commits its whole log when it takes the role.
                ReplicaOutput::Leader(LeaderOutput::HighWatermark(hw)) => {
                    log.set_high_watermark(hw);
                }
                other => unreachable!("taking a lone leadership gave {other:?}"),
            }
        }
        Ok(ServedPartition {
            topic_partition,
            log,
            replica,
            next_produce: 0,
            waiting: BTreeMap::new(),
        })
    }

    pub fn high_watermark(&self) -> Offset {
        self.replica.high_watermark()
    }

    /// The leader epoch this broker leads the partition in.
    pub fn leader_epoch(&self) -> Option<LeaderEpoch> {
        self.replica.leader_epoch()
    }

    /// Appends `records` (RecordBatch v2 batches from a client) as the leader would. Returns
    /// the answers now due: this produce's, unless it must wait for the high watermark.
    pub fn produce(
        &mut self,
        records: Bytes,
        acks: Acks,
        timeout: Duration,
        now: Millis,
        reply: R,
    ) -> Vec<(R, ProduceOutcome)> {
        let id = ProduceId(self.next_produce);
        self.next_produce += 1;
        self.waiting.insert(
            id,
            WaitingProduce {
                reply,
                base_offset: None,
            },
        );
        let outputs = self.replica.step(ReplicaInput::Produce {
            id,
            acks,
            timeout,
            now,
        });
        let mut records = Some(records);
        self.carry_out(outputs, &mut records)
    }

    /// Time passed: produces past their deadline are answered.
    pub fn tick(&mut self, now: Millis) -> Vec<(R, ProduceOutcome)> {
        let outputs = self.replica.step(ReplicaInput::Tick { now });
        self.carry_out(outputs, &mut None)
    }

    /// Batches from `offset` below the high watermark, at most `max_bytes` (the first batch
    /// whole), for a consumer.
    pub fn fetch(&self, offset: Offset, max_bytes: u64) -> FetchOutcome {
        let high_watermark = self.high_watermark();
        let mut outcome = FetchOutcome {
            error: ErrorCode::NONE,
            high_watermark: Some(high_watermark),
            log_start_offset: Some(self.log.log_start_offset()),
            log_end_offset: Some(self.log.log_end_offset()),
            ..FetchOutcome::default()
        };
        if offset > high_watermark && offset <= self.log.log_end_offset() {
            return outcome;
        }
        match self.log.read(offset, max_bytes, high_watermark) {
            Ok(read) => {
                outcome.bytes = read.bytes;
                outcome.slices = read.slices;
            }
            Err(ringlog_engine::Error::OffsetOutOfRange { .. }) => {
                outcome.error = ErrorCode::OFFSET_OUT_OF_RANGE;
            }
            Err(error) => {
                tracing::error!(partition = %self.topic_partition, %error, "fetch failed");
                outcome.error = ErrorCode::KAFKA_STORAGE_ERROR;
            }
        }
        outcome
    }

    /// Carries out the replica's intents; returns the produce answers they give.
    fn carry_out(
        &mut self,
        outputs: Vec<ReplicaOutput>,
        records: &mut Option<Bytes>,
    ) -> Vec<(R, ProduceOutcome)> {
        let mut answers = Vec::new();
        let mut pending = outputs;
        while !pending.is_empty() {
            let mut next = Vec::new();
            for output in pending {
                match output {
                    ReplicaOutput::Leader(LeaderOutput::Append { id, leader_epoch }) => {
                        let batches = records.take().expect("one append per produce");
                        next.extend(self.append(id, batches, leader_epoch, &mut answers));
                    }
                    ReplicaOutput::Leader(LeaderOutput::Answer { id, result }) => {
                        if let Some(answer) = self.answer(id, result) {
                            answers.push(answer);
                        }
                    }
                    ReplicaOutput::Leader(LeaderOutput::HighWatermark(hw)) => {
                        self.log.set_high_watermark(hw);
                    }
                    // Followers, ISR proposals and fetch answers come with the cluster.
                    other => {
                        tracing::debug!(?other, "replica intent not carried out by a lone broker")
                    }
                }
            }
            pending = next;
        }
        answers
    }

    fn append(
        &mut self,
        id: ProduceId,
        batches: Bytes,
        leader_epoch: LeaderEpoch,
        answers: &mut Vec<(R, ProduceOutcome)>,
    ) -> Vec<ReplicaOutput> {
        // Acknowledged records are in the page cache (Kafka's promise: they survive the
        // broker process dying; `flush_policy` adds power loss): the engine's write pipeline
        // may still hold them in memory when `append` returns, so write them out first.
        let appended = self
            .log
            .append_owned(batches.to_vec(), leader_epoch)
            .and_then(|info| self.log.write_out().map(|_| info));
        match appended {
            Ok(info) => {
                if let Some(waiting) = self.waiting.get_mut(&id) {
                    waiting.base_offset = Some(info.first_offset);
                }
                self.replica.step(ReplicaInput::Appended {
                    id,
                    log_end_offset: self.log.log_end_offset(),
                })
            }
            Err(error) => {
                if let Some(waiting) = self.waiting.remove(&id) {
                    answers.push((waiting.reply, append_error(&error)));
                }
                Vec::new()
            }
        }
    }

    fn answer(
        &mut self,
        id: ProduceId,
        result: Result<Option<Offset>, ProduceError>,
    ) -> Option<(R, ProduceOutcome)> {
        let waiting = self.waiting.remove(&id)?;
        let outcome = match result {
            Ok(_) => ProduceOutcome {
                error: ErrorCode::NONE,
                message: None,
                base_offset: waiting.base_offset,
                log_start_offset: waiting.base_offset.map(|_| self.log.log_start_offset()),
            },
            Err(error) => {
                ProduceOutcome::error(ErrorCode::from(error.kafka_error()), error.to_string())
            }
        };
        Some((waiting.reply, outcome))
    }
}

/// The engine's error as a client sees it.
fn append_error(error: &ringlog_engine::Error) -> ProduceOutcome {
    use ringlog_engine::Error;
    let code = match error {
        Error::InvalidBatch { source, .. } => match source {
            ringlog_engine::format::BatchError::TooLarge { .. } => ErrorCode::MESSAGE_TOO_LARGE,
            _ => ErrorCode::CORRUPT_MESSAGE,
        },
        Error::EmptyAppend => ErrorCode::CORRUPT_MESSAGE,
        Error::AppendTooLarge { .. } => ErrorCode::RECORD_LIST_TOO_LARGE,
        _ => ErrorCode::KAFKA_STORAGE_ERROR,
    };
    ProduceOutcome::error(code, error.to_string())
}

/// What the replica knows of `log` when it takes a role.
fn log_state(log: &Log) -> LogState {
    let entries = log.epoch_entries();
    LogState {
        log_end_offset: log.log_end_offset(),
        high_watermark: log.high_watermark(),
        epochs: ringlog_engine::LeaderEpochCache::from_entries(entries)
            .expect("the log keeps its epoch cache ordered"),
    }
}
