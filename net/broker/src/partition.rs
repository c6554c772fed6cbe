//! A partition served by its owner shard: the engine's [`Log`] and the replication crate's
//! [`Replica`] driven together. The replica decides (its role from the controller's state of
//! the partition, acks, the high watermark, who may fetch what, when to fetch from the
//! leader, what to truncate); this file carries out its intents on the log and hands the
//! shard what must travel elsewhere ([`Effects`]: produce answers, the answer to a
//! follower's fetch, fetches to send to the leader, ISR proposals).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use ringlog_engine::format::{BatchHeader, BatchIter};
use ringlog_engine::{FileSlice, LeaderEpoch, Log, LogConfig, Offset};
use ringlog_replication::controller::{IsrProposal, Partition};
use ringlog_replication::partition::{
    Acks, BatchMeta, DivergingEpoch, FetchError, FetchId, FetchResponse, FollowerConfig,
    FollowerFetchAnswer, FollowerFetchRequest, FollowerOutput, LeaderConfig, LeaderOutput,
    LogState, ProduceError, ProduceId, Replica, ReplicaInput, ReplicaOutput,
};
use ringlog_replication::{BrokerId, Millis, TopicPartition};

use ringlog_wire::ErrorCode;
use ringlog_wire::api::fetch::{EpochEndOffset, FetchPartitionResponse};

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
    /// For a follower whose log has a suffix the leader's lacks: truncate to this.
    pub diverging_epoch: Option<EpochEndOffset>,
    pub slices: Vec<FileSlice>,
    pub bytes: u64,
}

impl FetchOutcome {
    /// A fetch refused with `error`.
    pub fn refused(error: ErrorCode) -> FetchOutcome {
        FetchOutcome {
            error,
            ..FetchOutcome::default()
        }
    }
}

/// What a step asks of the shard beyond the log, which this file has already written.
#[derive(Debug)]
pub struct Effects<R> {
    /// Produce answers now due.
    pub answers: Vec<(R, ProduceOutcome)>,
    /// The leader's answer to the follower fetch being handled.
    pub fetch_answer: Option<FollowerFetchAnswer>,
    /// Fetches this follower must send to its leader.
    pub send_fetches: Vec<(FetchId, BrokerId, FollowerFetchRequest)>,
    /// ISR changes this leader asks the controller for.
    pub isr_proposals: Vec<IsrProposal>,
    /// The log end offset or the high watermark moved: waiting fetches may have data now.
    pub progressed: bool,
}

impl<R> Default for Effects<R> {
    fn default() -> Self {
        Effects {
            answers: Vec::new(),
            fetch_answer: None,
            send_fetches: Vec::new(),
            isr_proposals: Vec::new(),
            progressed: false,
        }
    }
}

/// A produce waiting for the replica's answer, and what the client is told then.
#[derive(Debug)]
struct WaitingProduce<R> {
    reply: R,
    base_offset: Option<Offset>,
}

/// The bytes an intent may need: a produce's batches, or a leader's fetch response.
enum Payload {
    None,
    Produce(Bytes),
    Fetched(Bytes),
}

/// A partition on its owner shard. `R` is how the shard routes an answer back.
#[derive(Debug)]
pub struct ServedPartition<R> {
    pub topic_partition: TopicPartition,
    pub log: Log,
    me: BrokerId,
    replica: Replica,
    next_produce: u64,
    waiting: BTreeMap<ProduceId, WaitingProduce<R>>,
}

impl<R> ServedPartition<R> {
    /// Opens (recovering if needed) the partition's log in `dir`. The replica takes no role
    /// until the controller's state of the partition is applied ([`Self::apply_state`]).
    pub fn open(
        me: BrokerId,
        topic_partition: TopicPartition,
        dir: &Path,
        log_config: LogConfig,
        leader_config: LeaderConfig,
        follower_config: FollowerConfig,
    ) -> Result<ServedPartition<R>, ringlog_engine::Error> {
        let log = Log::open(dir, log_config)?;
        let replica = Replica::new(me, leader_config, follower_config, log_state(&log));
        Ok(ServedPartition {
            topic_partition,
            log,
            me,
            replica,
            next_produce: 0,
            waiting: BTreeMap::new(),
        })
    }

    pub fn high_watermark(&self) -> Offset {
        self.replica.high_watermark()
    }

    /// The last state of the partition the controller committed, as applied here.
    pub fn state(&self) -> Option<&Partition> {
        self.replica.partition()
    }

    /// The leader epoch this broker leads the partition in, if it leads it.
    pub fn leader_epoch(&self) -> Option<LeaderEpoch> {
        self.replica.as_leader().map(|leader| leader.leader_epoch())
    }

    /// Whether this broker leads the partition.
    pub fn is_leader(&self) -> bool {
        self.replica.as_leader().is_some()
    }

    /// How far the slowest ISR follower is behind, when this broker leads.
    pub fn isr_lag(&self) -> Option<u64> {
        self.replica.as_leader().map(|leader| leader.isr_lag())
    }

    /// The ISR this broker leads with, when it leads.
    pub fn isr(&self) -> Option<&[BrokerId]> {
        self.replica.as_leader().map(|leader| leader.isr())
    }

    /// Applies the controller's state of the partition: the replica takes the role it gives
    /// this broker (or keeps it, when the state is not newer than the last one applied).
    pub fn apply_state(&mut self, partition: Partition, now: Millis) -> Effects<R> {
        let input = ReplicaInput::PartitionChanged {
            partition,
            log: log_state(&self.log),
            now,
        };
        let outputs = self.replica.step(input);
        let mut effects = self.carry_out(outputs, Payload::None);
        // Produces waiting on a leadership this broker no longer has were answered by the
        // replica; nothing else can answer them now.
        effects.progressed = true;
        effects
    }

    /// Appends `records` (RecordBatch v2 batches from a client) as the leader would. The
    /// effects carry this produce's answer, unless it waits for the high watermark.
    pub fn produce(
        &mut self,
        records: Bytes,
        acks: Acks,
        timeout: Duration,
        now: Millis,
        reply: R,
    ) -> Effects<R> {
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
        self.carry_out(outputs, Payload::Produce(records))
    }

    /// Time passed: produces past their deadline are answered, lagging followers leave the
    /// ISR, a follower's lost fetch is sent again.
    pub fn tick(&mut self, now: Millis) -> Effects<R> {
        let outputs = self.replica.step(ReplicaInput::Tick { now });
        self.carry_out(outputs, Payload::None)
    }

    /// A follower's fetch arrived; the effects carry the leader's answer to it.
    pub fn follower_fetch(
        &mut self,
        replica: BrokerId,
        request: FollowerFetchRequest,
        now: Millis,
    ) -> Effects<R> {
        let outputs = self.replica.step(ReplicaInput::FollowerFetch {
            replica,
            request,
            now,
        });
        self.carry_out(outputs, Payload::None)
    }

    /// The leader answered this follower's fetch `fetch_id`.
    pub fn fetch_response(
        &mut self,
        fetch_id: FetchId,
        answer: FetchPartitionResponse<Bytes>,
        now: Millis,
    ) -> Effects<R> {
        let (response, records) = match decode_fetch_answer(
            answer,
            self.me,
            self.log.config().max_batch_bytes,
        ) {
            Ok(decoded) => decoded,
            Err(error) => {
                tracing::warn!(partition = %self.topic_partition, %error, "unusable fetch response from the leader");
                // Answered as refused: the follower backs off and fetches again.
                let refused =
                    FetchResponse::Refused(FetchError::NotLeaderOrFollower { replica: self.me });
                (refused, Bytes::new())
            }
        };
        if let FetchResponse::Refused(error) = &response {
            tracing::debug!(partition = %self.topic_partition, %error, "the leader refused a fetch");
        }
        let outputs = self.replica.step(ReplicaInput::FetchResponse {
            fetch_id,
            response,
            now,
        });
        self.carry_out(outputs, Payload::Fetched(records))
    }

    /// The controller refused this leader's ISR proposal.
    pub fn isr_rejected(&mut self) -> Effects<R> {
        let outputs = self.replica.step(ReplicaInput::IsrRejected);
        self.carry_out(outputs, Payload::None)
    }

    /// Answers every produce still waiting with `error`: the partition is closing.
    pub fn abandon(&mut self, error: ErrorCode) -> Vec<(R, ProduceOutcome)> {
        std::mem::take(&mut self.waiting)
            .into_values()
            .map(|waiting| {
                let message = format!(
                    "partition {} closed while the produce waited",
                    self.topic_partition
                );
                (waiting.reply, ProduceOutcome::error(error, message))
            })
            .collect()
    }

    /// Batches from `offset` below the high watermark, at most `max_bytes` (the first batch
    /// whole), for a consumer. Only the leader serves consumers; a consumer that names a
    /// leader epoch learns whether its view is stale.
    pub fn fetch(
        &self,
        offset: Offset,
        max_bytes: u64,
        current_leader_epoch: Option<LeaderEpoch>,
    ) -> FetchOutcome {
        let Some(epoch) = self.leader_epoch() else {
            return FetchOutcome::refused(ErrorCode::NOT_LEADER_OR_FOLLOWER);
        };
        match current_leader_epoch {
            Some(asked) if asked < epoch => {
                return FetchOutcome::refused(ErrorCode::FENCED_LEADER_EPOCH);
            }
            Some(asked) if asked > epoch => {
                return FetchOutcome::refused(ErrorCode::UNKNOWN_LEADER_EPOCH);
            }
            _ => {}
        }
        self.read(offset, max_bytes, self.high_watermark())
    }

    /// Batches from `offset` up to the log end, for a follower whose fetch the leader
    /// accepted at `offset`.
    pub fn fetch_for_follower(&self, offset: Offset, max_bytes: u64) -> FetchOutcome {
        if !self.is_leader() {
            return FetchOutcome::refused(ErrorCode::NOT_LEADER_OR_FOLLOWER);
        }
        self.read(offset, max_bytes, self.log.log_end_offset())
    }

    fn read(&self, offset: Offset, max_bytes: u64, upper_bound: Offset) -> FetchOutcome {
        let mut outcome = FetchOutcome {
            error: ErrorCode::NONE,
            high_watermark: Some(self.high_watermark()),
            log_start_offset: Some(self.log.log_start_offset()),
            log_end_offset: Some(self.log.log_end_offset()),
            ..FetchOutcome::default()
        };
        if offset >= upper_bound && offset <= self.log.log_end_offset() {
            return outcome;
        }
        match self.log.read(offset, max_bytes, upper_bound) {
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

    /// Carries out the replica's intents on the log; returns what is left for the shard.
    fn carry_out(&mut self, outputs: Vec<ReplicaOutput>, payload: Payload) -> Effects<R> {
        let mut effects = Effects::default();
        let mut payload = payload;
        let mut pending = outputs;
        while !pending.is_empty() {
            let mut next = Vec::new();
            for output in pending {
                match output {
                    ReplicaOutput::Leader(output) => {
                        next.extend(self.carry_out_leader(output, &mut payload, &mut effects));
                    }
                    ReplicaOutput::Follower(output) => {
                        self.carry_out_follower(output, &payload, &mut effects);
                    }
                }
            }
            pending = next;
        }
        effects
    }

    fn carry_out_leader(
        &mut self,
        output: LeaderOutput,
        payload: &mut Payload,
        effects: &mut Effects<R>,
    ) -> Vec<ReplicaOutput> {
        match output {
            LeaderOutput::Append { id, leader_epoch } => {
                let Payload::Produce(batches) = std::mem::replace(payload, Payload::None) else {
                    unreachable!("one append per produce, with its batches");
                };
                effects.progressed = true;
                return self.append(id, batches, leader_epoch, &mut effects.answers);
            }
            LeaderOutput::Answer { id, result } => {
                if let Some(answer) = self.answer(id, result) {
                    effects.answers.push(answer);
                }
            }
            LeaderOutput::HighWatermark(hw) => {
                self.log.set_high_watermark(hw);
                effects.progressed = true;
            }
            LeaderOutput::ProposeIsr {
                isr,
                leader_epoch,
                partition_epoch,
            } => effects.isr_proposals.push(IsrProposal {
                leader: self.me,
                leader_epoch,
                partition_epoch,
                new_isr: isr,
            }),
            LeaderOutput::FetchAnswer { answer, .. } => effects.fetch_answer = Some(answer),
        }
        Vec::new()
    }

    fn carry_out_follower(
        &mut self,
        output: FollowerOutput,
        payload: &Payload,
        effects: &mut Effects<R>,
    ) {
        let result = match output {
            FollowerOutput::SendFetch {
                fetch_id,
                leader,
                request,
            } => {
                effects.send_fetches.push((fetch_id, leader, request));
                Ok(())
            }
            FollowerOutput::AppendReplicated {
                base_offset,
                end_offset,
            } => {
                let Payload::Fetched(records) = payload else {
                    unreachable!("a replicated append follows a fetch response");
                };
                effects.progressed = true;
                self.append_replicated(records, base_offset, end_offset)
            }
            FollowerOutput::Truncate { end_offset } => {
                let cut = self.log.log_end_offset().0.saturating_sub(end_offset.0);
                if cut > 0 {
                    // Records this replica had that the leader's log does not: written by an
                    // earlier leader and never committed, or lost to an unclean election.
                    tracing::warn!(
                        partition = %self.topic_partition,
                        from = end_offset.0,
                        records = cut,
                        "truncating where the log diverges from the leader's"
                    );
                    super::metrics::record_truncated(cut);
                }
                self.log.truncate_to(end_offset).map(|_| ())
            }
            FollowerOutput::TruncateFullyAndStartAt { offset } => {
                self.log.truncate_fully_and_start_at(offset)
            }
            FollowerOutput::HighWatermark(hw) => {
                self.log.set_high_watermark(hw);
                Ok(())
            }
        };
        if let Err(error) = result {
            // The replica believes the log did what it was told; it did not. Nothing
            // stored is trusted past this point: stop serving the partition loudly.
            panic!(
                "partition {}: the log refused a follower's intent: {error}",
                self.topic_partition
            );
        }
    }

    /// Appends the batches of `records` from `base_offset` to `end_offset`, and writes them
    /// out: the next fetch tells the leader they are here.
    fn append_replicated(
        &mut self,
        records: &Bytes,
        base_offset: Offset,
        end_offset: Offset,
    ) -> Result<(), ringlog_engine::Error> {
        let range = batch_range(records, base_offset, end_offset);
        self.log.append_replicated(&records[range])?;
        self.log.write_out()?;
        Ok(())
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
    answer: FetchPartitionResponse<Bytes>,
    me: BrokerId,
    max_batch_bytes: u32,
) -> Result<(FetchResponse, Bytes), String> {
    let high_watermark = answer.high_watermark.unwrap_or(Offset::ZERO);
    let refused = |error| Ok((FetchResponse::Refused(error), Bytes::new()));
    let unknown = LeaderEpoch(0);
    match answer.error_code {
        ErrorCode::NONE => {}
        ErrorCode::OFFSET_OUT_OF_RANGE => {
            let log_start_offset = answer
                .log_start_offset
                .ok_or("OFFSET_OUT_OF_RANGE without the leader's log start offset")?;
            return Ok((
                FetchResponse::OffsetOutOfRange { log_start_offset },
                Bytes::new(),
            ));
        }
        ErrorCode::FENCED_LEADER_EPOCH => {
            return refused(FetchError::FencedLeaderEpoch {
                requested: unknown,
                current: unknown,
            });
        }
        ErrorCode::UNKNOWN_LEADER_EPOCH => {
            return refused(FetchError::UnknownLeaderEpoch {
                requested: unknown,
                current: unknown,
            });
        }
        // The leader does not hold the partition (yet, or any more): the metadata will say
        // who does.
        ErrorCode::NOT_LEADER_OR_FOLLOWER | ErrorCode::UNKNOWN_TOPIC_OR_PARTITION => {
            return refused(FetchError::NotLeaderOrFollower { replica: me });
        }
        other => {
            return Err(format!("the leader answered {other}"));
        }
    }
    if let Some(diverging) = answer.diverging_epoch {
        let diverging = DivergingEpoch {
            epoch: diverging.epoch,
            end_offset: diverging.end_offset,
        };
        return Ok((
            FetchResponse::Diverging {
                diverging,
                high_watermark,
            },
            Bytes::new(),
        ));
    }
    // Every batch is checked whole (CRC included) before the replica hears of it, so a
    // damaged response is refused here and never reaches the log.
    let records = answer.records;
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
    Ok((
        FetchResponse::Records {
            batches,
            high_watermark,
        },
        records,
    ))
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
