//! The partition leader's step, the replication work a broker does per produce and per
//! follower fetch: one acks=all produce through append to commit (a produce, its append, and
//! the two follower fetches that commit it), on a 3-replica partition. Pure code, no IO: the
//! number is what the state machine adds on top of the log and the network. Also a follower's
//! step: a fetch response with one batch, its append, and the next fetch.
//!
//! The baseline in the same group, `crc32c_100Bx1000`, is the least work a broker does per
//! produce of a 100 B × 1000 batch whatever its replication: the batch's CRC-32C, checked on
//! arrival. The ratio says how small the state machine's share is next to it.

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ringlog_bench::batch_template;
use ringlog_engine::format::crc32c;
use ringlog_replication::controller::Partition;
use ringlog_replication::partition::{
    Acks, BatchMeta, FetchResponse, Follower, FollowerConfig, FollowerFetchRequest, FollowerInput,
    FollowerOutput, Leader, LeaderConfig, LeaderInput, LogState, ProduceId,
};
use ringlog_replication::{BrokerId, LeaderEpoch, Millis, Offset, PartitionEpoch};

fn leader() -> Leader {
    let replicas = [BrokerId(1), BrokerId(2), BrokerId(3)];
    let config = LeaderConfig {
        min_insync_replicas: 2,
        ..LeaderConfig::default()
    };
    let partition = Partition::new(
        replicas.to_vec(),
        Some(BrokerId(1)),
        replicas.to_vec(),
        LeaderEpoch(1),
        PartitionEpoch(1),
    );
    Leader::new(
        BrokerId(1),
        config,
        &partition,
        LogState::default(),
        Millis(0),
    )
}

fn produce_to_commit(c: &mut Criterion) {
    let mut group = c.benchmark_group("replication_step");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(1));
    group.bench_function("acks_all_produce_to_commit", |b| {
        let mut l = leader();
        let mut id = 0u64;
        let mut leo = 0u64;
        b.iter(|| {
            id += 1;
            leo += 1000;
            let now = Millis(id);
            let mut outputs = l.step(LeaderInput::Produce {
                id: ProduceId(id),
                acks: Acks::All,
                timeout: Duration::from_secs(30),
                now,
            });
            outputs.extend(l.step(LeaderInput::Appended {
                id: ProduceId(id),
                log_end_offset: Offset(leo),
            }));
            for replica in [2, 3] {
                let request = FollowerFetchRequest {
                    fetch_offset: Offset(leo),
                    last_fetched_epoch: Some(LeaderEpoch(1)),
                    current_leader_epoch: LeaderEpoch(1),
                    log_start_offset: Offset::ZERO,
                };
                outputs.extend(l.step(LeaderInput::FollowerFetch {
                    replica: BrokerId(replica),
                    request,
                    now,
                }));
            }
            std::hint::black_box(outputs)
        })
    });
    group.bench_function("follower_response_to_next_fetch", |b| {
        let config = FollowerConfig::default();
        let mut f = Follower::new(
            BrokerId(2),
            config,
            BrokerId(1),
            LeaderEpoch(1),
            LogState::default(),
        );
        let mut fetch_id = match f.step(FollowerInput::Tick { now: Millis(0) }).pop() {
            Some(FollowerOutput::SendFetch { fetch_id, .. }) => fetch_id,
            other => panic!("the first tick sends a fetch, got {other:?}"),
        };
        let mut leo = 0u64;
        b.iter(|| {
            let batch = BatchMeta {
                base_offset: Offset(leo),
                last_offset: Offset(leo + 999),
                leader_epoch: LeaderEpoch(1),
            };
            leo += 1000;
            let response = FetchResponse::Records {
                batches: vec![batch],
                high_watermark: Offset(leo),
                log_start_offset: Offset::ZERO,
            };
            let outputs = f.step(FollowerInput::FetchResponse {
                fetch_id,
                response,
                now: Millis(leo),
            });
            if let Some(FollowerOutput::SendFetch { fetch_id: next, .. }) = outputs.last() {
                fetch_id = *next;
            }
            std::hint::black_box(outputs)
        })
    });
    let batch = batch_template(1000, 100);
    group.bench_function("crc32c_100Bx1000", |b| {
        b.iter(|| crc32c(std::hint::black_box(&batch)))
    });
    group.finish();
}

criterion_group!(benches, produce_to_commit);
criterion_main!(benches);
