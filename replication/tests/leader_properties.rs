//! The partition leader under random inputs: produces of every acks, appends in order, follower
//! fetches, time passing, the controller committing or refusing proposals. After every step the
//! rules of `docs/replication.md` hold.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use proptest::prelude::*;
use ringlog_replication::controller::Partition;
use ringlog_replication::partition::{
    Acks, FollowerFetchAnswer, FollowerFetchRequest, Leader, LeaderConfig, LeaderInput,
    LeaderOutput, LogState, ProduceId,
};
use ringlog_replication::{BrokerId, LeaderEpoch, Millis, Offset, PartitionEpoch};

#[derive(Clone, Debug)]
enum Op {
    Produce { acks: u8, records: u64 },
    Fetch { follower: usize, progress: u8 },
    Tick { advance_ms: u64 },
    AnswerProposal { commit: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..3u8, 1..20u64).prop_map(|(acks, records)| Op::Produce { acks, records }),
        4 => (0..2usize, 0..=100u8).prop_map(|(follower, progress)| Op::Fetch { follower, progress }),
        2 => (0..40_000u64).prop_map(|advance_ms| Op::Tick { advance_ms }),
        1 => any::<bool>().prop_map(|commit| Op::AnswerProposal { commit }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_leader_keeps_the_replication_rules(ops in proptest::collection::vec(op(), 1..80), min in 1..=3usize) {
        let me = BrokerId(1);
        let followers = [BrokerId(2), BrokerId(3)];
        let config = LeaderConfig { min_insync_replicas: min, ..LeaderConfig::default() };
        let replicas = [me, followers[0], followers[1]];
        let partition = Partition::new(replicas.to_vec(), Some(me), replicas.to_vec(), LeaderEpoch(1), PartitionEpoch(1));
        let mut leader = Leader::new(me, config, &partition, LogState::default(), Millis(0));
        let mut now = 0u64;
        let mut next_id = 0u64;
        let mut leo = 0u64;
        let mut follower_leo = [0u64; 2];
        let mut committed_isr: Vec<BrokerId> = replicas.to_vec();
        let mut partition_epoch = 1u32;
        let mut proposal: Option<Vec<BrokerId>> = None;
        let mut hw = Offset(0);
        let mut answered = BTreeSet::new();
        let mut acks_of = BTreeMap::new();
        let mut isr_at_produce = BTreeMap::new();
        for op in ops {
            let mut outputs = Vec::new();
            match op {
                Op::Produce { acks, records } => {
                    let acks = [Acks::None, Acks::Leader, Acks::All][acks as usize];
                    let id = ProduceId(next_id);
                    next_id += 1;
                    acks_of.insert(id, acks);
                    isr_at_produce.insert(id, committed_isr.len());
                    let out = leader.step(LeaderInput::Produce { id, acks, timeout: Duration::from_secs(30), now: Millis(now) });
                    let appends = out.iter().any(|o| matches!(o, LeaderOutput::Append { .. }));
                    outputs.extend(out);
                    if appends {
                        leo += records;
                        outputs.extend(leader.step(LeaderInput::Appended { id, log_end_offset: Offset(leo) }));
                    }
                }
                Op::Fetch { follower, progress } => {
                    // A follower fetches somewhere between what it has and the leader's end.
                    let have = follower_leo[follower];
                    let offset = have + (leo - have) * u64::from(progress) / 100;
                    follower_leo[follower] = offset;
                    // Everything is written in epoch 1, the only epoch.
                    let request = FollowerFetchRequest {
                        fetch_offset: Offset(offset),
                        last_fetched_epoch: (offset > 0).then_some(LeaderEpoch(1)),
                        current_leader_epoch: LeaderEpoch(1),
                        log_start_offset: Offset::ZERO,
                    };
                    outputs.extend(leader.step(LeaderInput::FollowerFetch { replica: followers[follower], request, now: Millis(now) }));
                }
                Op::Tick { advance_ms } => {
                    now += advance_ms;
                    outputs.extend(leader.step(LeaderInput::Tick { now: Millis(now) }));
                }
                Op::AnswerProposal { commit } => {
                    if let Some(isr) = proposal.take() {
                        if commit {
                            partition_epoch += 1;
                            committed_isr = isr.clone();
                            outputs.extend(leader.step(LeaderInput::IsrCommitted { isr, partition_epoch: PartitionEpoch(partition_epoch) }));
                        } else {
                            outputs.extend(leader.step(LeaderInput::IsrRejected));
                        }
                    }
                }
            }
            for output in &outputs {
                match output {
                    LeaderOutput::ProposeIsr { isr, .. } => {
                        // The only proposal while one is in flight is that one again (its timeout).
                        prop_assert!(proposal.is_none() || proposal.as_ref() == Some(isr), "a second proposal while one is in flight");
                        prop_assert!(isr.contains(&me), "the leader proposed itself out");
                        proposal = Some(isr.clone());
                    }
                    LeaderOutput::HighWatermark(new) => {
                        prop_assert!(*new > hw, "high watermark went from {} to {}", hw, new);
                        hw = *new;
                    }
                    LeaderOutput::Answer { id, result } => {
                        prop_assert!(answered.insert(*id), "produce {:?} answered twice", id);
                        if let (Some(Acks::All), Ok(Some(offset))) = (acks_of.get(id), result) {
                            prop_assert!(*offset <= hw, "acks=all answered at {} above the high watermark {}", offset, hw);
                            prop_assert!(isr_at_produce[id] >= min, "acks=all accepted with isr {} below min {}", isr_at_produce[id], min);
                        }
                    }
                    LeaderOutput::Append { .. } => {}
                    LeaderOutput::AdvanceLogStart { .. } | LeaderOutput::DeleteAnswer { .. } => {
                        prop_assert!(false, "no DeleteRecords was sent, yet {:?}", output);
                    }
                    LeaderOutput::FetchAnswer { answer, .. } => {
                        let records = matches!(answer, FollowerFetchAnswer::Records { .. });
                        prop_assert!(records, "a fetch from a follower in step was answered {:?}", answer);
                    }
                }
            }
            prop_assert_eq!(leader.high_watermark(), hw);
            prop_assert!(hw.0 <= leo, "high watermark {} past the log end {}", hw, leo);
            for (i, f) in followers.iter().enumerate() {
                if committed_isr.contains(f) {
                    prop_assert!(hw.0 <= follower_leo[i], "high watermark {} past isr member {}'s log end {}", hw, f.0, follower_leo[i]);
                }
            }
            leader.check_invariants();
        }
    }
}
