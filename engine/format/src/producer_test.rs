use proptest::prelude::*;

use super::*;

fn batch(producer_id: i64, epoch: i16, first: i32, records: i32) -> ProducerBatch {
    ProducerBatch {
        producer_id,
        epoch,
        first_sequence: first,
        last_sequence: last_sequence(first, records - 1),
        max_timestamp: 1_000,
    }
}

/// Checks `batch` and, if new, applies it at the log end `*end`; returns the verdict.
fn offer(
    states: &mut ProducerStates,
    end: &mut u64,
    batch: &ProducerBatch,
    records: u64,
) -> Result<SequenceCheck, SequenceError> {
    let verdict = states.check(batch)?;
    if verdict == SequenceCheck::Append {
        states.apply(batch, Offset(*end), Offset(*end + records - 1));
        *end += records;
    }
    Ok(verdict)
}

#[test]
fn a_batch_that_is_not_idempotent_has_no_producer() {
    let header = BatchHeader {
        base_offset: 0,
        batch_length: 100,
        partition_leader_epoch: 0,
        magic: crate::MAGIC,
        crc: 0,
        attributes: 0,
        last_offset_delta: 2,
        base_timestamp: 1,
        max_timestamp: 5,
        producer_id: NO_PRODUCER_ID,
        producer_epoch: -1,
        base_sequence: -1,
        record_count: 3,
    };
    assert_eq!(ProducerBatch::of(&header), None);
    let idempotent = BatchHeader {
        producer_id: 7,
        producer_epoch: 2,
        base_sequence: 10,
        ..header
    };
    let expected = ProducerBatch {
        max_timestamp: 5,
        ..batch(7, 2, 10, 3)
    };
    assert_eq!(ProducerBatch::of(&idempotent), Some(expected));
    assert!(!is_transactional_or_control(&idempotent));
    assert!(is_transactional_or_control(&BatchHeader {
        attributes: 0x10,
        ..idempotent
    }));
    assert!(is_transactional_or_control(&BatchHeader {
        attributes: 0x20,
        ..idempotent
    }));
}

#[test]
fn a_retry_of_one_of_the_last_five_batches_is_a_duplicate_with_its_offsets() {
    let mut states = ProducerStates::new();
    let mut end = 100;
    for i in 0..7 {
        let b = batch(1, 0, i * 2, 2);
        assert_eq!(
            offer(&mut states, &mut end, &b, 2),
            Ok(SequenceCheck::Append)
        );
    }
    // The last five (sequences 4..=13) are kept; the batch at sequence 8 was at 104..=105.
    assert_eq!(
        states.check(&batch(1, 0, 8, 2)),
        Ok(SequenceCheck::Duplicate(KeptBatch {
            first_sequence: 8,
            last_sequence: 9,
            first_offset: Offset(108),
            last_offset: Offset(109),
        }))
    );
    // Older than the kept five: appended before, but no offsets to answer with.
    assert!(matches!(
        states.check(&batch(1, 0, 2, 2)),
        Err(SequenceError::DuplicateSequence {
            last: 13,
            got: 2,
            ..
        })
    ));
    // A gap: a batch in between was lost.
    assert!(matches!(
        states.check(&batch(1, 0, 15, 1)),
        Err(SequenceError::OutOfOrderSequence {
            expected: 14,
            got: 15,
            ..
        })
    ));
    assert_eq!(states.check(&batch(1, 0, 14, 1)), Ok(SequenceCheck::Append));
}

#[test]
fn epochs_fence_older_instances_and_start_new_ones_at_zero() {
    let mut states = ProducerStates::new();
    let mut end = 0;
    offer(&mut states, &mut end, &batch(1, 3, 0, 5), 5).unwrap();
    assert!(matches!(
        states.check(&batch(1, 2, 5, 1)),
        Err(SequenceError::InvalidProducerEpoch {
            epoch: 2,
            current: 3,
            ..
        })
    ));
    assert!(matches!(
        states.check(&batch(1, 4, 5, 1)),
        Err(SequenceError::OutOfOrderSequence {
            expected: 0,
            got: 5,
            ..
        })
    ));
    assert_eq!(
        offer(&mut states, &mut end, &batch(1, 4, 0, 1), 1),
        Ok(SequenceCheck::Append)
    );
    // The new epoch forgot the old one's batches: a retry from epoch 3 is fenced.
    assert_eq!(states.get(1).unwrap().batches.len(), 1);
    assert!(matches!(
        states.check(&batch(1, 3, 0, 5)),
        Err(SequenceError::InvalidProducerEpoch { .. })
    ));
}

#[test]
fn an_unknown_producer_may_start_only_at_zero() {
    let states = ProducerStates::new();
    assert_eq!(states.check(&batch(9, 0, 0, 3)), Ok(SequenceCheck::Append));
    assert_eq!(
        states.check(&batch(9, 0, 42, 3)),
        Err(SequenceError::UnknownProducerId {
            producer_id: 9,
            got: 42
        })
    );
}

#[test]
fn sequences_wrap_from_the_largest_to_zero() {
    let mut states = ProducerStates::new();
    let mut end = 0;
    states.apply(&batch(1, 0, i32::MAX - 1, 2), Offset(0), Offset(1));
    end += 2;
    assert_eq!(states.get(1).unwrap().last_sequence, i32::MAX);
    assert_eq!(
        offer(&mut states, &mut end, &batch(1, 0, 0, 3), 3),
        Ok(SequenceCheck::Append)
    );
    // A batch across the wrap ends at a small sequence.
    let across = batch(1, 0, i32::MAX, 3);
    assert_eq!(across.last_sequence, 1);
}

#[test]
fn a_log_start_past_a_producers_batches_keeps_its_last_sequence() {
    let mut states = ProducerStates::new();
    let mut end = 0;
    offer(&mut states, &mut end, &batch(1, 0, 0, 10), 10).unwrap(); // 0..=9
    offer(&mut states, &mut end, &batch(2, 0, 0, 10), 10).unwrap(); // 10..=19
    offer(&mut states, &mut end, &batch(1, 0, 10, 10), 10).unwrap(); // 20..=29
    states.forget_below(Offset(15));
    assert_eq!(states.get(1).unwrap().batches.len(), 1);
    assert_eq!(states.get(2).unwrap().batches.len(), 1);
    states.forget_below(Offset(20));
    let gone = states.get(2).unwrap();
    assert!(gone.batches.is_empty());
    assert_eq!(gone.last_sequence, 9);
    // A retry of its deleted batch was appended before; its next batch goes on in sequence.
    assert!(matches!(
        states.check(&batch(2, 0, 0, 10)),
        Err(SequenceError::DuplicateSequence {
            last: 9,
            got: 0,
            ..
        })
    ));
    assert_eq!(states.check(&batch(2, 0, 10, 1)), Ok(SequenceCheck::Append));
    assert_eq!(states.len(), 2);
}

#[test]
fn producers_idle_past_the_expiration_are_forgotten() {
    let mut states = ProducerStates::new();
    let mut old = batch(1, 0, 0, 1);
    old.max_timestamp = 1_000;
    let mut recent = batch(2, 0, 0, 1);
    recent.max_timestamp = 9_000;
    states.apply(&old, Offset(0), Offset(0));
    states.apply(&recent, Offset(1), Offset(1));
    assert_eq!(states.expire(10_000, 5_000), 1);
    assert!(states.get(1).is_none());
    assert!(states.get(2).is_some());
}

#[test]
fn a_damaged_snapshot_is_an_error() {
    let mut states = ProducerStates::new();
    states.apply(&batch(1, 0, 0, 3), Offset(0), Offset(2));
    let bytes = states.encode_snapshot(Offset(3));
    assert_eq!(
        ProducerStates::decode_snapshot(&bytes),
        Ok((states.clone(), Offset(3)))
    );
    assert!(matches!(
        ProducerStates::decode_snapshot(&bytes[..3]),
        Err(SnapshotError::Truncated { .. })
    ));
    let mut unknown = bytes.clone();
    unknown[1] = 9;
    assert_eq!(
        ProducerStates::decode_snapshot(&unknown),
        Err(SnapshotError::UnknownVersion(9))
    );
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        ProducerStates::decode_snapshot(&longer),
        Err(SnapshotError::CrcMismatch { .. })
    ));
}

/// One producer's retries as a network delivers them: any batch among those sent may arrive
/// again, and new batches leave in sequence order with at most five in flight.
#[derive(Clone, Debug)]
enum Delivery {
    /// The next batch the producer has not sent yet.
    Next { records: u8 },
    /// Again, one of the batches sent so far (by position, modulo how many were sent).
    Retry(usize),
}

fn deliveries() -> impl Strategy<Value = Vec<Delivery>> {
    let one = prop_oneof![
        (1u8..6).prop_map(|records| Delivery::Next { records }),
        any::<usize>().prop_map(Delivery::Retry),
    ];
    proptest::collection::vec(one, 1..80)
}

fn any_states() -> impl Strategy<Value = ProducerStates> {
    let batches = proptest::collection::vec((any::<i32>(), 0i32..100, 0u64..1_000), 0..7);
    let producer = (any::<i64>(), any::<i16>(), any::<i64>(), batches);
    proptest::collection::vec(producer, 0..6).prop_map(|producers| {
        let mut states = ProducerStates::new();
        for (producer_id, epoch, timestamp, batches) in producers {
            for (first, delta, offset) in batches {
                let b = ProducerBatch {
                    producer_id,
                    epoch,
                    first_sequence: first.max(0),
                    last_sequence: last_sequence(first.max(0), delta),
                    max_timestamp: timestamp,
                };
                states.apply(&b, Offset(offset), Offset(offset + delta as u64));
            }
        }
        states
    })
}

proptest! {
    /// Whatever arrives again, and in whatever order retries come, the log holds every batch
    /// the producer sent once, in its order; a retry of a batch still in the window gets the
    /// offsets of its first append, and one from before is refused, never appended.
    #[test]
    fn retries_never_duplicate_nor_reorder(deliveries in deliveries()) {
        let mut states = ProducerStates::new();
        let mut end = 0u64;
        // The producer's batches: (first sequence, records), and where each was appended.
        let mut sent: Vec<(i32, u8)> = Vec::new();
        let mut appended_at: Vec<Option<(u64, u64)>> = Vec::new();
        let mut log: Vec<usize> = Vec::new();
        for delivery in deliveries {
            let index = match delivery {
                Delivery::Next { records } => {
                    // At most five in flight: the sixth waits for the first to be appended.
                    if sent.len() >= log.len() + BATCHES_KEPT {
                        continue;
                    }
                    let first = sent.last().map_or(0, |(f, r)| f + i32::from(*r));
                    sent.push((first, records));
                    appended_at.push(None);
                    sent.len() - 1
                }
                Delivery::Retry(i) if !sent.is_empty() => i % sent.len(),
                Delivery::Retry(_) => continue,
            };
            let (first, records) = sent[index];
            let b = batch(1, 0, first, i32::from(records));
            match offer(&mut states, &mut end, &b, u64::from(records)) {
                Ok(SequenceCheck::Append) => {
                    prop_assert_eq!(index, log.len(), "appended out of order");
                    prop_assert!(appended_at[index].is_none(), "appended twice");
                    appended_at[index] = Some((end - u64::from(records), end - 1));
                    log.push(index);
                }
                Ok(SequenceCheck::Duplicate(kept)) => {
                    let (first_offset, last_offset) = appended_at[index]
                        .expect("a duplicate of a batch never appended");
                    prop_assert_eq!((kept.first_offset.0, kept.last_offset.0), (first_offset, last_offset));
                }
                Err(SequenceError::OutOfOrderSequence { .. }) => {
                    // Ahead of a batch not appended yet.
                    prop_assert!(index > log.len(), "batch {} refused out of order, {} appended", index, log.len());
                }
                Err(SequenceError::DuplicateSequence { .. }) => {
                    // A retry older than the kept five: appended, its offsets no longer kept.
                    prop_assert!(appended_at[index].is_some() && index + BATCHES_KEPT < log.len());
                }
                Err(other) => prop_assert!(false, "unexpected {:?}", other),
            }
        }
        prop_assert_eq!(log, (0..appended_at.iter().flatten().count()).collect::<Vec<_>>());
    }

    /// A snapshot reads back as the states it was written from; any one byte changed or
    /// missing is an error, never other states.
    #[test]
    fn snapshots_round_trip_and_damage_is_caught(
        states in any_states(),
        covered in any::<u64>(),
        flip in any::<prop::sample::Index>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let bytes = states.encode_snapshot(Offset(covered));
        prop_assert_eq!(
            ProducerStates::decode_snapshot(&bytes),
            Ok((states.clone(), Offset(covered)))
        );
        let mut flipped = bytes.clone();
        flipped[flip.index(bytes.len())] ^= 0x01;
        prop_assert!(ProducerStates::decode_snapshot(&flipped).is_err());
        let cut = cut.index(bytes.len());
        prop_assert!(ProducerStates::decode_snapshot(&bytes[..cut]).is_err());
    }
}
