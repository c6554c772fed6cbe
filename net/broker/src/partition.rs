//! A partition served by its owner shard: the replication crate's [`PartitionDriver`] (the
//! same code the deterministic simulator runs) over the engine's [`Log`] ([`EngineLog`]).
//! The driver decides and writes the log; this file gives it the engine's log, reads for
//! consumers and followers (file slices the shard sends with `sendfile`), turns a leader's
//! fetch response into the replica's terms (every batch checked whole first), and hands the
//! shard its effects with their refusals as error codes.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use ringlog_engine::format::{BatchHeader, BatchIter};
use ringlog_engine::{LeaderEpoch, Log, LogConfig, Offset, TimestampOffset};
use ringlog_replication::KafkaError;
use ringlog_replication::controller::{IsrProposal, Partition};
use ringlog_replication::driver::{self, DeleteOutcome, DriverLog, LeaderAppend, PartitionDriver};
use ringlog_replication::partition::{
    Acks, BatchMeta, DivergingEpoch, FetchError, FetchId, FetchResponse, FollowerConfig,
    FollowerFetchAnswer, FollowerFetchRequest, LeaderConfig, LogState,
};
use ringlog_replication::{BrokerId, Millis, TopicPartition};

pub(crate) use crate::ops::ProduceOutcome;
use crate::ops::{FetchOutcome, LeaderAnswer, OffsetSpec, PartResult};

/// What a step asks of the shard beyond the log, which the driver has already written.
#[derive(Debug)]
pub(crate) struct Effects<R> {
    /// Produce answers now due.
    pub answers: Vec<(R, ProduceOutcome)>,
    /// DeleteRecords answers now due.
    pub delete_answers: Vec<(R, DeleteOutcome)>,
    /// The leader's answer to the follower fetch being handled.
    pub fetch_answer: Option<FollowerFetchAnswer>,
    /// Fetches this follower must send to its leader.
    pub send_fetches: Vec<(FetchId, BrokerId, FollowerFetchRequest)>,
    /// ISR changes this leader asks the controller for.
    pub isr_proposals: Vec<IsrProposal>,
    /// The log end offset or the high watermark moved: waiting fetches may have data now.
    pub progressed: bool,
}

/// The engine's [`Log`] as the partition driver's log: appends written out before they
/// count (acknowledged records are in the page cache: Kafka's promise that they survive the
/// broker process dying; `flush_policy` adds power loss).
#[derive(Debug)]
pub(crate) struct EngineLog {
    log: Log,
}

impl DriverLog for EngineLog {
    type Records = Bytes;
    type Error = ringlog_engine::Error;

    fn state(&self) -> LogState {
        log_state(&self.log)
    }

    fn log_start_offset(&self) -> Offset {
        self.log.log_start_offset()
    }

    fn log_end_offset(&self) -> Offset {
        self.log.log_end_offset()
    }

    fn append_as_leader(
        &mut self,
        records: Bytes,
        leader_epoch: LeaderEpoch,
    ) -> Result<LeaderAppend, ringlog_engine::Error> {
        // The engine's write pipeline may still hold the batches in memory when `append`
        // returns: write them out before the replica counts them.
        let info = self.log.append_owned(records.to_vec(), leader_epoch)?;
        if info.duplicate {
            crate::metrics::record_produce_duplicate();
        }
        self.log.write_out()?;
        Ok(LeaderAppend::Done {
            first_offset: info.first_offset,
            log_end_offset: self.log.log_end_offset(),
        })
    }

    fn append_replicated(
        &mut self,
        records: &Bytes,
        base_offset: Offset,
        end_offset: Offset,
    ) -> Result<(), ringlog_engine::Error> {
        let range = batch_range(records, base_offset, end_offset);
        self.log.append_replicated(&records[range])?;
        // Written out: the next fetch tells the leader they are here.
        self.log.write_out()?;
        Ok(())
    }

    fn truncate_to(&mut self, end_offset: Offset) -> Result<(), ringlog_engine::Error> {
        self.log.truncate_to(end_offset).map(|_| ())
    }

    fn truncate_fully_and_start_at(&mut self, offset: Offset) -> Result<(), ringlog_engine::Error> {
        self.log.truncate_fully_and_start_at(offset)
    }

    fn set_high_watermark(&mut self, high_watermark: Offset) {
        self.log.set_high_watermark(high_watermark);
    }

    fn advance_log_start(&mut self, log_start_offset: Offset) -> Result<(), ringlog_engine::Error> {
        // The engine writes the log start checkpoint before it deletes a segment: the new
        // start is durable when this returns.
        self.log.delete_records(log_start_offset).map(|_| ())
    }

    fn append_refusal(error: &ringlog_engine::Error) -> KafkaError {
        use ringlog_engine::Error;
        use ringlog_engine::format::SequenceError;
        match error {
            Error::InvalidBatch { source, .. } => match source {
                ringlog_engine::format::BatchError::TooLarge { .. } => KafkaError::MessageTooLarge,
                _ => KafkaError::CorruptMessage,
            },
            Error::EmptyAppend => KafkaError::CorruptMessage,
            Error::AppendTooLarge { .. } => KafkaError::RecordListTooLarge,
            Error::Sequence(refused) => match refused {
                SequenceError::OutOfOrderSequence { .. } => KafkaError::OutOfOrderSequenceNumber,
                SequenceError::InvalidProducerEpoch { .. } => KafkaError::InvalidProducerEpoch,
                SequenceError::UnknownProducerId { .. } => KafkaError::UnknownProducerId,
                SequenceError::DuplicateSequence { .. } => KafkaError::DuplicateSequenceNumber,
            },
            Error::TransactionsUnsupported { .. } | Error::IdempotentAppendOfManyBatches { .. } => {
                KafkaError::InvalidRecord
            }
            _ => KafkaError::KafkaStorageError,
        }
    }
}

/// A partition on its owner shard: the replication crate's partition driver over the
/// engine's log. `R` is how the shard routes an answer back.
#[derive(Debug)]
pub(crate) struct ServedPartition<R> {
    driver: PartitionDriver<EngineLog, R>,
}

impl<R> ServedPartition<R> {
    /// Opens (recovering if needed) the partition's log in `dir`. The replica takes no role
    /// until the controller's state of the partition is applied ([`Self::apply_state`]).
    pub(crate) fn open(
        me: BrokerId,
        topic_partition: TopicPartition,
        dir: &Path,
        log_config: LogConfig,
        leader_config: LeaderConfig,
        follower_config: FollowerConfig,
    ) -> Result<ServedPartition<R>, ringlog_engine::Error> {
        let log = EngineLog {
            log: Log::open(dir, log_config)?,
        };
        let driver = PartitionDriver::new(me, topic_partition, log, leader_config, follower_config);
        Ok(ServedPartition { driver })
    }

    pub(crate) fn topic_partition(&self) -> &TopicPartition {
        self.driver.topic_partition()
    }

    /// The partition's log, for reads and the log's own upkeep (ticks, retention).
    pub(crate) fn log(&self) -> &Log {
        &self.driver.log().log
    }

    /// Closes the log cleanly; produces still waiting must have been abandoned first.
    pub(crate) fn close(self) -> Result<(), ringlog_engine::Error> {
        self.driver.into_log().log.close()
    }

    pub(crate) fn high_watermark(&self) -> Offset {
        self.driver.high_watermark()
    }

    /// The last state of the partition the controller committed, as applied here.
    pub(crate) fn state(&self) -> Option<&Partition> {
        self.driver.state()
    }

    /// Whether this broker leads the partition.
    pub(crate) fn is_leader(&self) -> bool {
        self.driver.is_leader()
    }

    /// How far the slowest ISR follower is behind, when this broker leads.
    pub(crate) fn isr_lag(&self) -> Option<u64> {
        self.driver.isr_lag()
    }

    /// Applies the controller's state of the partition: the replica takes the role it gives
    /// this broker (or keeps it, when the state is not newer than the last one applied).
    pub(crate) fn apply_state(&mut self, partition: Partition, now: Millis) -> Effects<R> {
        let effects = self.driver.apply_state(partition, now);
        self.effects(effects)
    }

    /// Appends `records` (RecordBatch v2 batches from a client) as the leader would. The
    /// effects carry this produce's answer, unless it waits for the high watermark.
    pub(crate) fn produce(
        &mut self,
        records: Bytes,
        acks: Acks,
        timeout: Duration,
        now: Millis,
        reply: R,
    ) -> Effects<R> {
        let effects = self.driver.produce(records, acks, timeout, now, reply);
        self.effects(effects)
    }

    /// Time passed: produces past their deadline are answered, lagging followers leave the
    /// ISR, a follower's lost fetch is sent again.
    pub(crate) fn tick(&mut self, now: Millis) -> Effects<R> {
        let effects = self.driver.tick(now);
        self.effects(effects)
    }

    /// A follower's fetch arrived; the effects carry the leader's answer to it.
    pub(crate) fn follower_fetch(
        &mut self,
        replica: BrokerId,
        request: FollowerFetchRequest,
        now: Millis,
    ) -> Effects<R> {
        let effects = self.driver.follower_fetch(replica, request, now);
        self.effects(effects)
    }

    /// The leader answered this follower's fetch `fetch_id`.
    pub(crate) fn fetch_response(
        &mut self,
        fetch_id: FetchId,
        answer: LeaderAnswer,
        now: Millis,
    ) -> Effects<R> {
        let me = self.driver.me();
        let max_batch_bytes = self.log().config().max_batch_bytes;
        let (response, records) = match decode_fetch_answer(answer, me, max_batch_bytes) {
            Ok(decoded) => decoded,
            Err(error) => {
                tracing::warn!(partition = %self.driver.topic_partition(), %error, "unusable fetch response from the leader");
                // Answered as refused: the follower backs off and fetches again.
                let refused =
                    FetchResponse::Refused(FetchError::NotLeaderOrFollower { replica: me });
                (refused, Bytes::new())
            }
        };
        if let FetchResponse::Refused(error) = &response {
            tracing::debug!(partition = %self.driver.topic_partition(), %error, "the leader refused a fetch");
        }
        let effects = self.driver.fetch_response(fetch_id, response, records, now);
        self.effects(effects)
    }

    /// The controller refused this leader's ISR proposal.
    pub(crate) fn isr_rejected(&mut self) -> Effects<R> {
        let effects = self.driver.isr_rejected();
        self.effects(effects)
    }

    /// Answers every produce and DeleteRecords still waiting with `error`: the partition is
    /// closing.
    pub(crate) fn abandon(&mut self, error: KafkaError) -> Effects<R> {
        let effects = self.driver.abandon(error);
        self.effects(effects)
    }

    /// A DeleteRecords (Kafka's): the log start moves up to `offset` (`None`: the high
    /// watermark) at once on this leader; the effects carry the answer once every ISR
    /// replica's log starts there too, or `timeout` passed.
    pub(crate) fn delete_records(
        &mut self,
        offset: Option<Offset>,
        timeout: Duration,
        now: Millis,
        reply: R,
    ) -> Effects<R> {
        let effects = self.driver.delete_records(offset, timeout, now, reply);
        self.effects(effects)
    }

    /// OffsetForLeaderEpoch on the partition's owner: where `requested` ends in the leader's
    /// log, behind the leader-epoch fence.
    pub(crate) fn end_offset_for_epoch(
        &self,
        current_leader_epoch: Option<LeaderEpoch>,
        requested: Option<LeaderEpoch>,
    ) -> PartResult {
        let end = match requested {
            Some(requested) => self
                .driver
                .end_offset_for_epoch(current_leader_epoch, requested),
            // Kafka's UNDEFINED_EPOCH: no epoch to look up, after the same checks.
            None => self.driver.leading(current_leader_epoch).map(|_| None),
        };
        match end {
            Ok(end) => PartResult::EpochEndOffset { error: None, end },
            Err(error) => PartResult::EpochEndOffset {
                error: Some(error),
                end: None,
            },
        }
    }

    /// Batches from `offset` below the high watermark, at most `max_bytes` (the first batch
    /// whole), for a consumer. Only the leader serves consumers; a consumer that names a
    /// leader epoch learns whether its view is stale.
    pub(crate) fn fetch(
        &self,
        offset: Offset,
        max_bytes: u64,
        current_leader_epoch: Option<LeaderEpoch>,
    ) -> FetchOutcome {
        match self.driver.consumer_read_end(current_leader_epoch) {
            Ok(end) => self.read(offset, max_bytes, end),
            Err(error) => FetchOutcome::refused(error),
        }
    }

    /// Batches from `offset` up to the log end, for a follower whose fetch the leader
    /// accepted at `offset`.
    pub(crate) fn fetch_for_follower(&self, offset: Offset, max_bytes: u64) -> FetchOutcome {
        match self.driver.follower_read_end() {
            Ok(end) => self.read(offset, max_bytes, end),
            Err(error) => FetchOutcome::refused(error),
        }
    }

    /// ListOffsets on the partition's owner, behind the leader-epoch fence: earliest is the
    /// log start, latest the high watermark (what a consumer can read), a timestamp the first
    /// record at or after it, max timestamp the record with the largest; each with the epoch
    /// of the leader that wrote the offset (the current one for latest), as Kafka answers.
    /// Lookups by time answer only below the high watermark, as Kafka's do.
    pub(crate) fn list_offsets(
        &self,
        spec: OffsetSpec,
        current_leader_epoch: Option<LeaderEpoch>,
    ) -> PartResult {
        let refused = |error| PartResult::ListOffsets {
            error: Some(error),
            offset: None,
            timestamp: None,
            leader_epoch: None,
        };
        let leader_epoch = match self.driver.leading(current_leader_epoch) {
            Ok(leader) => leader.leader_epoch(),
            Err(error) => return refused(error),
        };
        let log = self.log();
        let by_time = |found: Result<Option<TimestampOffset>, ringlog_engine::Error>| {
            found.map(|found| {
                found
                    .filter(|found| found.offset < self.high_watermark())
                    .map(|found| (found.offset, Some(found.timestamp)))
            })
        };
        let found = match spec {
            OffsetSpec::Latest => {
                return PartResult::ListOffsets {
                    error: None,
                    offset: Some(self.high_watermark()),
                    timestamp: None,
                    leader_epoch: Some(leader_epoch),
                };
            }
            OffsetSpec::Earliest => Ok(Some((log.log_start_offset(), None))),
            OffsetSpec::LatestTiered => Ok(None),
            OffsetSpec::Timestamp(target) => by_time(log.offset_for_timestamp(target)),
            OffsetSpec::MaxTimestamp => by_time(log.max_timestamp_offset()),
        };
        match found {
            Ok(found) => PartResult::ListOffsets {
                error: None,
                offset: found.map(|(offset, _)| offset),
                timestamp: found.and_then(|(_, timestamp)| timestamp),
                leader_epoch: found.and_then(|(offset, _)| log.epoch_for_offset(offset)),
            },
            Err(error) => {
                tracing::error!(partition = %self.topic_partition(), ?spec, %error, "list offsets failed");
                refused(KafkaError::KafkaStorageError)
            }
        }
    }

    fn read(&self, offset: Offset, max_bytes: u64, upper_bound: Offset) -> FetchOutcome {
        let log = self.log();
        let mut outcome = FetchOutcome {
            error: None,
            high_watermark: Some(self.high_watermark()),
            log_start_offset: Some(log.log_start_offset()),
            log_end_offset: Some(log.log_end_offset()),
            ..FetchOutcome::default()
        };
        if offset >= upper_bound && offset <= log.log_end_offset() {
            return outcome;
        }
        match log.read(offset, max_bytes, upper_bound) {
            Ok(read) => {
                outcome.bytes = read.bytes;
                outcome.slices = read.slices;
            }
            Err(ringlog_engine::Error::OffsetOutOfRange { .. }) => {
                outcome.error = Some(KafkaError::OffsetOutOfRange);
            }
            Err(error) => {
                tracing::error!(partition = %self.driver.topic_partition(), %error, "fetch failed");
                outcome.error = Some(KafkaError::KafkaStorageError);
            }
        }
        outcome
    }

    /// The driver's effects as the shard takes them.
    fn effects(&self, effects: driver::Effects<R>) -> Effects<R> {
        assert!(
            effects.appends_pending.is_empty(),
            "the engine's appends complete before they return"
        );
        if effects.truncated > 0 {
            tracing::warn!(
                partition = %self.driver.topic_partition(),
                log_end_offset = self.log().log_end_offset().0,
                records = effects.truncated,
                "truncated where the log diverged from the leader's"
            );
            super::metrics::record_truncated(effects.truncated);
        }
        Effects {
            answers: effects.answers,
            delete_answers: effects.delete_answers,
            fetch_answer: effects.fetch_answer,
            send_fetches: effects.send_fetches,
            isr_proposals: effects.isr_proposals,
            progressed: effects.progressed,
        }
    }
}

/// The byte range of the batches of `records` from `base_offset` up to `end_offset`.
fn batch_range(records: &[u8], base_offset: Offset, end_offset: Offset) -> std::ops::Range<usize> {
    let mut start = None;
    let mut position = 0;
    while let Some(header) = BatchHeader::decode(&records[position..]) {
        let next = position + header.total_len();
        if header.base_offset as u64 == base_offset.0 {
            start = Some(position);
        }
        if header.next_offset() as u64 == end_offset.0 {
            return start.expect("the range starts at a batch boundary")..next;
        }
        position = next;
    }
    unreachable!("the follower appends only batches its response holds")
}

/// A leader's answer to a follower's fetch, as the replica takes it, and its record bytes.
fn decode_fetch_answer(
    answer: LeaderAnswer,
    me: BrokerId,
    max_batch_bytes: u32,
) -> Result<(FetchResponse, Bytes), String> {
    let refused = |error| Ok((FetchResponse::Refused(error), Bytes::new()));
    let unknown = LeaderEpoch(0);
    let (high_watermark, log_start_offset, records) = match answer {
        LeaderAnswer::Records {
            high_watermark,
            log_start_offset,
            records,
        } => (high_watermark, log_start_offset, records),
        LeaderAnswer::Diverging {
            epoch,
            end_offset,
            high_watermark,
        } => {
            let diverging = DivergingEpoch { epoch, end_offset };
            let response = FetchResponse::Diverging {
                diverging,
                high_watermark,
            };
            return Ok((response, Bytes::new()));
        }
        LeaderAnswer::OffsetOutOfRange { log_start_offset } => {
            let log_start_offset = log_start_offset
                .ok_or("OFFSET_OUT_OF_RANGE without the leader's log start offset")?;
            let response = FetchResponse::OffsetOutOfRange { log_start_offset };
            return Ok((response, Bytes::new()));
        }
        LeaderAnswer::FencedLeaderEpoch => {
            return refused(FetchError::FencedLeaderEpoch {
                requested: unknown,
                current: unknown,
            });
        }
        LeaderAnswer::UnknownLeaderEpoch => {
            return refused(FetchError::UnknownLeaderEpoch {
                requested: unknown,
                current: unknown,
            });
        }
        // The leader does not hold the partition (yet, or any more): the metadata will say
        // who does.
        LeaderAnswer::NotLeader => {
            return refused(FetchError::NotLeaderOrFollower { replica: me });
        }
        LeaderAnswer::Unusable(reason) => return Err(reason),
    };
    // Every batch is checked whole (CRC included) before the replica hears of it, so a
    // damaged response is refused here and never reaches the log.
    let mut batches = Vec::new();
    for batch in BatchIter::new(&records, max_batch_bytes) {
        let header = batch
            .map_err(|error| format!("a bad batch from the leader: {error}"))?
            .header;
        batches.push(BatchMeta {
            base_offset: Offset(header.base_offset as u64),
            last_offset: Offset(header.last_offset() as u64),
            leader_epoch: LeaderEpoch(header.partition_leader_epoch as u32),
        });
    }
    let response = FetchResponse::Records {
        batches,
        high_watermark,
        // A leader that did not say where its log starts teaches nothing.
        log_start_offset: log_start_offset.unwrap_or(Offset::ZERO),
    };
    Ok((response, records))
}

/// What the replica knows of `log` when it takes a role.
fn log_state(log: &Log) -> LogState {
    let entries = log.epoch_entries();
    LogState {
        log_start_offset: log.log_start_offset(),
        log_end_offset: log.log_end_offset(),
        high_watermark: log.high_watermark(),
        epochs: ringlog_engine::LeaderEpochCache::from_entries(entries)
            .expect("the log keeps its epoch cache ordered"),
    }
}
