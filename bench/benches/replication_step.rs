//! The partition leader's step, the replication work a broker does per produce and per
//! follower fetch: one acks=all produce through append to commit (a produce, its append, and
//! the two follower fetches that commit it), on a 3-replica partition. Pure code, no IO: the
//! number is what the state machine adds on top of the log and the network.

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ringlog_replication::partition::{Acks, Leader, LeaderConfig, LeaderInput, ProduceId};
use ringlog_replication::{BrokerId, LeaderEpoch, Millis, Offset, PartitionEpoch};

fn leader() -> Leader {
    let replicas = [BrokerId(1), BrokerId(2), BrokerId(3)];
    let config = LeaderConfig {
        min_insync_replicas: 2,
        ..LeaderConfig::default()
    };
    Leader::new(
        BrokerId(1),
        config,
        LeaderEpoch(1),
        PartitionEpoch(1),
        &replicas,
        replicas.to_vec(),
        Offset(0),
        Offset(0),
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
                outputs.extend(l.step(LeaderInput::FollowerFetch {
                    replica: BrokerId(replica),
                    fetch_offset: Offset(leo),
                    now,
                }));
            }
            std::hint::black_box(outputs)
        })
    });
    group.finish();
}

criterion_group!(benches, produce_to_commit);
criterion_main!(benches);
