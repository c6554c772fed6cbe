//! The producer against scripted brokers on 127.0.0.1: leader moves, retries and their
//! deadline, ordering within a partition, acks, compression, the buffer, the partitioner.

mod client_peer;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use client_peer::{Action, Bound, Peer, bounded, config, metadata};
use ringlog_client::partitioner::partition_for_key;
use ringlog_client::{
    Acks, BufferFullPolicy, Client, ClientError, Compression, Offset, ProducerConfig, Record,
    TopicPartition,
};
use ringlog_format::{BatchIter, BatchRecords};
use ringlog_wire::api::Topic;
use ringlog_wire::api::produce::{ProducePartitionResponse, ProduceRequest, ProduceResponse};
use ringlog_wire::{ApiKey, ErrorCode, Request, Response};

/// Answers every partition of `request` with `code`, giving successful partitions the base
/// offset `next(topic, partition, record_count)` returns.
fn answer(
    request: &ProduceRequest,
    code: ErrorCode,
    mut next: impl FnMut(&str, u32, i64) -> i64,
) -> Response {
    let topics = request
        .topics
        .iter()
        .map(|topic| Topic {
            name: topic.name.clone(),
            partitions: topic
                .partitions
                .iter()
                .map(|partition| {
                    // A partition's backlog comes as several batches back to back.
                    let count: i64 = BatchIter::new(&partition.records, u32::MAX)
                        .map(|batch| i64::from(batch.unwrap().header.record_count))
                        .sum();
                    let ok = code.is_none() && request.acks != Acks::None;
                    let base = ok.then(|| {
                        Offset(next(&topic.name, partition.partition_index, count) as u64)
                    });
                    ProducePartitionResponse {
                        partition_index: partition.partition_index,
                        error_code: code,
                        base_offset: base,
                        log_start_offset: base.map(|_| Offset(0)),
                        error_message: None,
                    }
                })
                .collect(),
        })
        .collect();
    Response::Produce(ProduceResponse { topics })
}

/// A broker leading every partition of `topics`, appending at offsets counted per partition.
async fn single_broker(topics: &'static [(&'static str, &'static [u32])]) -> Peer {
    let bound = Bound::new(1).await;
    let brokers = [bound.broker()];
    let mut log_end: std::collections::HashMap<(String, u32), i64> = Default::default();
    bound.serve(move |seen| match seen.request {
        Request::Metadata(_) => Action::Reply(metadata(&brokers, topics)),
        Request::Produce(request) => Action::Reply(answer(request, ErrorCode::NONE, |t, p, n| {
            let end = log_end.entry((t.to_string(), p)).or_default();
            *end += n;
            *end - n
        })),
        other => panic!("unexpected {other:?}"),
    })
}

fn quick(config: ProducerConfig) -> ProducerConfig {
    ProducerConfig {
        linger: Duration::ZERO,
        delivery_timeout: Duration::from_secs(5),
        ..config
    }
}

#[tokio::test]
async fn not_leader_refreshes_metadata_and_the_retry_goes_to_the_new_leader() {
    bounded(async {
        let (first, second) = (Bound::new(1).await, Bound::new(2).await);
        let brokers = [first.broker(), second.broker()];
        let moved = Arc::new(Mutex::new(false));
        let (brokers_a, moved_a) = (brokers.clone(), Arc::clone(&moved));
        let old_leader = first.serve(move |seen| match seen.request {
            Request::Metadata(_) => {
                let leader = if *moved_a.lock().unwrap() { 2 } else { 1 };
                Action::Reply(metadata(&brokers_a, &[("orders", &[leader])]))
            }
            Request::Produce(request) => {
                *moved_a.lock().unwrap() = true;
                Action::Reply(answer(
                    request,
                    ErrorCode::NOT_LEADER_OR_FOLLOWER,
                    |_, _, _| 0,
                ))
            }
            other => panic!("unexpected {other:?}"),
        });
        let brokers_b = brokers.clone();
        let new_leader = second.serve(move |seen| match seen.request {
            Request::Metadata(_) => Action::Reply(metadata(&brokers_b, &[("orders", &[2])])),
            Request::Produce(request) => {
                Action::Reply(answer(request, ErrorCode::NONE, |_, _, _| 7))
            }
            other => panic!("unexpected {other:?}"),
        });
        let client = Client::connect(config(&[&old_leader.address]))
            .await
            .unwrap();
        let producer = client.producer(quick(ProducerConfig::default())).unwrap();
        let delivered = producer
            .send(Record::new("orders").value("v"))
            .await
            .unwrap()
            .await
            .unwrap();
        assert_eq!(
            (delivered.partition, delivered.offset),
            (0, Some(Offset(7)))
        );
        assert_eq!(old_leader.requests(ApiKey::PRODUCE).len(), 1);
        assert_eq!(new_leader.requests(ApiKey::PRODUCE).len(), 1);
        // The same batch bytes went to both.
        let sent = |peer: &Peer| match &peer.requests(ApiKey::PRODUCE)[0].request {
            Request::Produce(request) => request.topics[0].partitions[0].records.clone(),
            _ => unreachable!(),
        };
        assert_eq!(sent(&old_leader), sent(&new_leader));
    })
    .await;
}

/// What a program polls to say why its records wait: the partition, the broker's refusal
/// and the attempts, from the first failed attempt until one succeeds.
#[tokio::test]
async fn a_partition_being_retried_is_listed_with_its_last_error_until_it_succeeds() {
    bounded(async {
        let bound = Bound::new(1).await;
        let brokers = [bound.broker()];
        let refusing = Arc::new(Mutex::new(true));
        let refusing_script = Arc::clone(&refusing);
        let peer = bound.serve(move |seen| match seen.request {
            Request::Metadata(_) => Action::Reply(metadata(&brokers, &[("t", &[1])])),
            Request::Produce(request) if *refusing_script.lock().unwrap() => {
                let mut refused = answer(request, ErrorCode::NOT_ENOUGH_REPLICAS, |_, _, _| 0);
                if let Response::Produce(response) = &mut refused {
                    response.topics[0].partitions[0].error_message =
                        Some("isr has 1 member, min_insync_replicas is 2".into());
                }
                Action::Reply(refused)
            }
            Request::Produce(request) => {
                Action::Reply(answer(request, ErrorCode::NONE, |_, _, _| 3))
            }
            other => panic!("unexpected {other:?}"),
        });
        let client = Client::connect(config(&[&peer.address])).await.unwrap();
        let producer = client.producer(quick(ProducerConfig::default())).unwrap();
        assert!(producer.retrying().is_empty());
        let delivery = producer.send(Record::new("t").value("v")).await.unwrap();
        // Backoff 10, 20, 40 ms: a third attempt comes within 100 ms.
        let retrying = loop {
            let retrying = producer.retrying();
            if retrying.first().is_some_and(|r| r.attempts >= 3) {
                break retrying;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        assert_eq!(retrying.len(), 1, "{retrying:?}");
        let partition = &retrying[0];
        assert_eq!(partition.topic_partition, TopicPartition::new("t", 0));
        assert_eq!(
            partition.last_error.to_string(),
            "produce to t-0 on broker 1: broker answered NOT_ENOUGH_REPLICAS (19): \
             isr has 1 member, min_insync_replicas is 2"
        );
        assert!(
            partition.failing_for >= Duration::from_millis(30),
            "{partition:?}"
        );
        *refusing.lock().unwrap() = false;
        let delivered = delivery.await.unwrap();
        assert_eq!(delivered.offset, Some(Offset(3)));
        assert!(producer.retrying().is_empty(), "{:?}", producer.retrying());
    })
    .await;
}

// On the multi-thread runtime: the client runs on either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_dropped_mid_produce_is_retried_on_a_new_connection() {
    bounded(async {
        let bound = Bound::new(1).await;
        let brokers = [bound.broker()];
        let peer = bound.serve(move |seen| match (seen.request, seen.connection) {
            (Request::Metadata(_), _) => Action::Reply(metadata(&brokers, &[("t", &[1, 1, 1])])),
            // Three partitions' batches in flight when the connection drops.
            (Request::Produce(_), 0) => Action::Close,
            (Request::Produce(request), _) => {
                Action::Reply(answer(request, ErrorCode::NONE, |_, p, _| {
                    i64::from(p) * 100
                }))
            }
            (other, _) => panic!("unexpected {other:?}"),
        });
        let client = Client::connect(config(&[&peer.address])).await.unwrap();
        let producer = client.producer(quick(ProducerConfig::default())).unwrap();
        let mut deliveries = Vec::new();
        for partition in 0..3 {
            deliveries.push(
                producer
                    .send(Record::new("t").partition(partition).value("v"))
                    .await
                    .unwrap(),
            );
        }
        for (partition, delivery) in deliveries.into_iter().enumerate() {
            let delivered = delivery.await.unwrap();
            assert_eq!(delivered.offset, Some(Offset(partition as u64 * 100)));
        }
        let retried = peer
            .requests(ApiKey::PRODUCE)
            .iter()
            .filter(|r| r.connection > 0)
            .count();
        assert!(retried >= 1, "{retried}");
    })
    .await;
}

#[tokio::test]
async fn a_final_error_fails_the_record_naming_the_kafka_code() {
    bounded(async {
        let bound = Bound::new(1).await;
        let brokers = [bound.broker()];
        let peer = bound.serve(move |seen| match seen.request {
            Request::Metadata(_) => Action::Reply(metadata(&brokers, &[("t", &[1])])),
            Request::Produce(request) => {
                Action::Reply(answer(request, ErrorCode::MESSAGE_TOO_LARGE, |_, _, _| 0))
            }
            other => panic!("unexpected {other:?}"),
        });
        let client = Client::connect(config(&[&peer.address])).await.unwrap();
        let producer = client.producer(quick(ProducerConfig::default())).unwrap();
        let error = producer
            .send(Record::new("t").value("v"))
            .await
            .unwrap()
            .await
            .unwrap_err();
        assert_eq!(error.error_code(), Some(ErrorCode::MESSAGE_TOO_LARGE));
        assert_eq!(
            error.to_string(),
            "produce to t-0 on broker 1: broker answered MESSAGE_TOO_LARGE (10)"
        );
        assert_eq!(peer.requests(ApiKey::PRODUCE).len(), 1, "not retried");
    })
    .await;
}

#[tokio::test]
async fn retriable_errors_are_retried_with_backoff_until_the_delivery_timeout() {
    bounded(async {
        let bound = Bound::new(1).await;
        let brokers = [bound.broker()];
        let peer = bound.serve(move |seen| match seen.request {
            Request::Metadata(_) => Action::Reply(metadata(&brokers, &[("t", &[1])])),
            Request::Produce(request) => {
                Action::Reply(answer(request, ErrorCode::NOT_ENOUGH_REPLICAS, |_, _, _| 0))
            }
            other => panic!("unexpected {other:?}"),
        });
        let client = Client::connect(config(&[&peer.address])).await.unwrap();
        let producer = client
            .producer(ProducerConfig {
                delivery_timeout: Duration::from_millis(400),
                ..quick(ProducerConfig::default())
            })
            .unwrap();
        let started = Instant::now();
        let error = producer
            .send(Record::new("t").value("v"))
            .await
            .unwrap()
            .await
            .unwrap_err();
        let elapsed = started.elapsed();
        let ClientError::DeliveryTimeout {
            attempts,
            last_error,
            ..
        } = &error
        else {
            panic!("expected a delivery timeout, got {error}");
        };
        assert_eq!(
            last_error.as_ref().unwrap().error_code(),
            Some(ErrorCode::NOT_ENOUGH_REPLICAS)
        );
        let produces = peer.requests(ApiKey::PRODUCE);
        assert_eq!(*attempts as usize, produces.len());
        // Backoff 10, 20, 40, 50, 50... ms: several attempts within 400 ms, never more than
        // the schedule allows.
        assert!((3..=12).contains(&produces.len()), "{}", produces.len());
        let gaps: Vec<Duration> = produces.windows(2).map(|w| w[1].at - w[0].at).collect();
        assert!(gaps[0] >= Duration::from_millis(10), "{gaps:?}");
        assert!(gaps[1] >= Duration::from_millis(20), "{gaps:?}");
        assert!(
            elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(2),
            "{elapsed:?}"
        );
        assert!(
            error.to_string().contains("NOT_ENOUGH_REPLICAS (19)"),
            "{error}"
        );
        // Failed for good: no longer being retried.
        assert!(producer.retrying().is_empty(), "{:?}", producer.retrying());
    })
    .await;
}

// On the multi-thread runtime: the client runs on either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_idempotence_a_partition_has_one_request_at_a_time_and_acks_come_in_order() {
    bounded(async {
        let bound = Bound::new(1).await;
        let brokers = [bound.broker()];
        let mut end = 0i64;
        let mut first = true;
        let peer = bound.serve(move |seen| match seen.request {
            Request::Metadata(_) => Action::Reply(metadata(&brokers, &[("t", &[1])])),
            Request::Produce(request) => {
                let response = answer(request, ErrorCode::NONE, |_, _, n| {
                    end += n;
                    end - n
                });
                // Hold the first answer: a second batch of the partition must not be sent
                // while the first is out.
                let pause = if std::mem::take(&mut first) {
                    Duration::from_millis(150)
                } else {
                    Duration::ZERO
                };
                Action::ReplyAfter(pause, response)
            }
            other => panic!("unexpected {other:?}"),
        });
        let client = Client::connect(config(&[&peer.address])).await.unwrap();
        let producer = client
            .producer(ProducerConfig {
                batch_bytes: 200,
                idempotence: false,
                ..quick(ProducerConfig::default())
            })
            .unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut waiters = Vec::new();
        for i in 0..30u64 {
            let delivery = producer
                .send(Record::new("t").value(vec![i as u8; 40]))
                .await
                .unwrap();
            let order = Arc::clone(&order);
            waiters.push(tokio::spawn(async move {
                let delivered = delivery.await.unwrap();
                order.lock().unwrap().push((i, delivered.offset.unwrap().0));
            }));
        }
        for waiter in waiters {
            waiter.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        // Offsets follow send order: the i-th record is at offset i.
        assert!(order.iter().all(|(i, offset)| i == offset), "{order:?}");
        let produces = peer.requests(ApiKey::PRODUCE);
        assert!(produces.len() >= 2, "{} requests", produces.len());
        assert!(
            produces[1].at - produces[0].at >= Duration::from_millis(150),
            "the second request went out while the first was in flight"
        );
        // What queued while a request was out went in the next one, batches back to back.
        let batches: Vec<usize> = produces
            .iter()
            .map(|received| match &received.request {
                Request::Produce(request) => {
                    BatchIter::new(&request.topics[0].partitions[0].records, u32::MAX).count()
                }
                other => unreachable!("{other:?}"),
            })
            .collect();
        assert!(
            batches.iter().any(|&n| n > 1),
            "batches a request: {batches:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn acks_zero_resolves_without_an_offset() {
    bounded(async {
        let peer = single_broker(&[("t", &[1])]).await;
        let client = Client::connect(config(&[&peer.address])).await.unwrap();
        let producer = client
            .producer(ProducerConfig {
                acks: Acks::None,
                ..quick(ProducerConfig::default())
            })
            .unwrap();
        let delivered = producer
            .send(Record::new("t").value("v"))
            .await
            .unwrap()
            .await
            .unwrap();
        assert_eq!(delivered.offset, None);
        let Request::Produce(request) = &peer.requests(ApiKey::PRODUCE)[0].request else {
            unreachable!()
        };
        assert_eq!(request.acks, Acks::None);
    })
    .await;
}

#[tokio::test]
async fn batches_arrive_compressed_with_kafkas_attribute_codes() {
    bounded(async {
        for (codec, code) in [
            (Compression::Lz4, 3),
            (Compression::Zstd, 4),
            (Compression::None, 0),
        ] {
            let peer = single_broker(&[("t", &[1])]).await;
            let client = Client::connect(config(&[&peer.address])).await.unwrap();
            let producer = client
                .producer(ProducerConfig {
                    compression: codec,
                    linger: Duration::from_millis(50),
                    ..quick(ProducerConfig::default())
                })
                .unwrap();
            let mut deliveries = Vec::new();
            for i in 0..20 {
                let record = Record::new("t")
                    .key(format!("key-{i}"))
                    .value(vec![b'x'; 200]);
                deliveries.push(producer.send(record).await.unwrap());
            }
            producer.flush().await.unwrap();
            for delivery in deliveries {
                delivery.await.unwrap();
            }
            let mut values = 0;
            for received in peer.requests(ApiKey::PRODUCE) {
                let Request::Produce(request) = received.request else {
                    unreachable!()
                };
                let records = &request.topics[0].partitions[0].records;
                for batch in BatchIter::new(records, u32::MAX) {
                    let batch = batch.unwrap();
                    assert_eq!(batch.header.attributes & 7, code, "{codec}");
                    let read = BatchRecords::new(&records[batch.range], 1 << 20).unwrap();
                    for record in read.iter() {
                        assert_eq!(record.unwrap().value, Some(&[b'x'; 200][..]));
                        values += 1;
                    }
                }
            }
            assert_eq!(values, 20, "{codec}");
        }
    })
    .await;
}

#[tokio::test]
async fn a_full_buffer_fails_or_blocks_as_configured() {
    bounded(async {
        let bound = Bound::new(1).await;
        let brokers = [bound.broker()];
        let peer = bound.serve(move |seen| match seen.request {
            Request::Metadata(_) => Action::Reply(metadata(&brokers, &[("t", &[1])])),
            Request::Produce(request) => Action::ReplyAfter(
                Duration::from_millis(100),
                answer(request, ErrorCode::NONE, |_, _, _| 0),
            ),
            other => panic!("unexpected {other:?}"),
        });
        let client = Client::connect(config(&[&peer.address])).await.unwrap();
        let small = ProducerConfig {
            buffer_bytes: 4096,
            batch_bytes: 2048,
            max_request_bytes: 4096,
            ..quick(ProducerConfig::default())
        };
        let value = Bytes::from(vec![0u8; 1500]);
        let failing = client
            .producer(ProducerConfig {
                buffer_full: BufferFullPolicy::Error,
                ..small.clone()
            })
            .unwrap();
        let mut results = Vec::new();
        for _ in 0..4 {
            results.push(failing.send(Record::new("t").value(value.clone())).await);
        }
        let error = results
            .iter()
            .find_map(|r| r.as_ref().err())
            .expect("the buffer filled up");
        let ClientError::BufferFull {
            buffer_bytes,
            needed,
            used,
        } = error
        else {
            panic!("expected buffer full, got {error}");
        };
        assert_eq!(*buffer_bytes, 4096);
        assert!(used + needed > 4096, "{error}");
        // Blocking: every send goes through once answers free the buffer.
        let blocking = client.producer(small).unwrap();
        let started = Instant::now();
        let mut deliveries = Vec::new();
        for _ in 0..4 {
            deliveries.push(
                blocking
                    .send(Record::new("t").value(value.clone()))
                    .await
                    .unwrap(),
            );
        }
        assert!(
            started.elapsed() >= Duration::from_millis(100),
            "sends waited for room"
        );
        for delivery in deliveries {
            delivery.await.unwrap();
        }
        assert_eq!(blocking.buffered_bytes(), 0);
    })
    .await;
}

// On the current-thread runtime: the sends and the sender task share the one thread.
#[tokio::test]
async fn a_loop_of_sends_lets_batches_go_out_and_come_back_before_the_buffer_fills() {
    bounded(async {
        let peer = single_broker(&[("t", &[1])]).await;
        let client = Client::connect(config(&[&peer.address])).await.unwrap();
        let producer = client
            .producer(ProducerConfig {
                batch_bytes: 1024,
                ..quick(ProducerConfig::default())
            })
            .unwrap();
        // Far less than the 32 MiB buffer: no send ever waits for room.
        let mut buffered_before = 0;
        let mut acknowledged_during_the_loop = false;
        let mut deliveries = Vec::new();
        for _ in 0..20_000 {
            let delivery = producer.send(Record::new("t").value("v")).await.unwrap();
            deliveries.push(delivery);
            let buffered = producer.buffered_bytes();
            acknowledged_during_the_loop |= buffered < buffered_before;
            buffered_before = buffered;
        }
        assert!(
            acknowledged_during_the_loop,
            "no batch was acknowledged while the loop sent (the sender task never ran)"
        );
        for delivery in deliveries {
            delivery.await.unwrap();
        }
    })
    .await;
}

#[tokio::test]
async fn keyed_records_go_to_the_murmur2_partition_and_keyless_ones_round_robin() {
    bounded(async {
        let peer = single_broker(&[("t", &[1, 1, 1, 1])]).await;
        let client = Client::connect(config(&[&peer.address])).await.unwrap();
        let producer = client.producer(quick(ProducerConfig::default())).unwrap();
        for key in ["foobar", "user-1", "user-2"] {
            let delivered = producer
                .send(Record::new("t").key(key).value("v"))
                .await
                .unwrap()
                .await
                .unwrap();
            assert_eq!(
                delivered.partition,
                partition_for_key(key.as_bytes(), 4),
                "{key}"
            );
        }
        let mut partitions = Vec::new();
        for _ in 0..4 {
            let delivered = producer
                .send(Record::new("t").value("v"))
                .await
                .unwrap()
                .await
                .unwrap();
            partitions.push(delivered.partition);
        }
        partitions.sort();
        assert_eq!(partitions, [0, 1, 2, 3]);
        let error = producer
            .send(Record::new("t").partition(9).value("v"))
            .await
            .unwrap_err();
        assert_eq!(error.to_string(), "t-9: the topic has 4 partitions");
    })
    .await;
}

#[tokio::test]
async fn partitions_added_to_a_topic_are_used_after_the_next_metadata_refresh() {
    bounded(async {
        let bound = Bound::new(1).await;
        let brokers = [bound.broker()];
        let mut metadata_requests = 0;
        let peer = bound.serve(move |seen| match seen.request {
            Request::Metadata(_) => {
                metadata_requests += 1;
                // The topic grows from one partition to two after the first answer.
                let leaders: &'static [u32] = if metadata_requests == 1 {
                    &[1]
                } else {
                    &[1, 1]
                };
                Action::Reply(metadata(&brokers, &[("t", leaders)]))
            }
            Request::Produce(request) => {
                Action::Reply(answer(request, ErrorCode::NONE, |_, _, _| 0))
            }
            other => panic!("unexpected {other:?}"),
        });
        let client = Client::connect(config(&[&peer.address])).await.unwrap();
        let producer = client.producer(quick(ProducerConfig::default())).unwrap();
        let mut partitions = Vec::new();
        for _ in 0..2 {
            let delivery = producer.send(Record::new("t").value("v")).await.unwrap();
            partitions.push(delivery.await.unwrap().partition);
        }
        assert_eq!(partitions, [0, 0]);
        client.refresh_metadata().await.unwrap();
        // The round robin goes on from where it was (its third record), over two partitions.
        for _ in 0..2 {
            let delivery = producer.send(Record::new("t").value("v")).await.unwrap();
            partitions.push(delivery.await.unwrap().partition);
        }
        assert_eq!(partitions, [0, 0, 0, 1]);
    })
    .await;
}

#[tokio::test]
async fn a_closed_producer_refuses_records_after_delivering_the_rest() {
    bounded(async {
        let peer = single_broker(&[("t", &[1])]).await;
        let client = Client::connect(config(&[&peer.address])).await.unwrap();
        let producer = client
            .producer(ProducerConfig {
                linger: Duration::from_secs(60),
                ..quick(ProducerConfig::default())
            })
            .unwrap();
        let delivery = producer.send(Record::new("t").value("v")).await.unwrap();
        // close flushes: the record goes out despite the long linger.
        producer.close().await.unwrap();
        assert_eq!(delivery.await.unwrap().offset, Some(Offset(0)));
        let error = producer
            .send(Record::new("t").value("v"))
            .await
            .unwrap_err();
        assert!(matches!(error, ClientError::Closed), "{error}");
    })
    .await;
}

#[tokio::test]
async fn a_partition_without_a_leader_fails_its_records_at_the_delivery_timeout() {
    bounded(async {
        let bound = Bound::new(1).await;
        let brokers = [bound.broker()];
        let peer = bound.serve(move |seen| match seen.request {
            // Partition 0 is led by broker 9, which is not among the live brokers.
            Request::Metadata(_) => Action::Reply(metadata(&brokers, &[("t", &[9])])),
            other => panic!("unexpected {other:?}"),
        });
        let client = Client::connect(config(&[&peer.address])).await.unwrap();
        let producer = client
            .producer(ProducerConfig {
                delivery_timeout: Duration::from_millis(300),
                ..quick(ProducerConfig::default())
            })
            .unwrap();
        let started = Instant::now();
        let error = producer
            .send(Record::new("t").value("v"))
            .await
            .unwrap()
            .await
            .unwrap_err();
        assert!(
            started.elapsed() >= Duration::from_millis(300),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(
            error.to_string(),
            "t-0: record not delivered within delivery_timeout 300 ms (0 attempts)"
        );
        // Meanwhile the producer kept asking for the leader.
        assert!(peer.requests(ApiKey::METADATA).len() > 2);
        assert_eq!(producer.buffered_bytes(), 0);
    })
    .await;
}

#[tokio::test]
async fn a_sends_future_stays_small() {
    bounded(async {
        let peer = single_broker(&[("t", &[1])]).await;
        let client = Client::connect(config(&[&peer.address])).await.unwrap();
        let producer = client.producer(quick(ProducerConfig::default())).unwrap();
        // Set up and moved on every record: the waits, with their timers and metadata
        // requests, stay out of it (boxed), and the record is in it once.
        let send = producer.send(Record::new("t").value("v"));
        let size = std::mem::size_of_val(&send);
        assert!(size <= 2 * std::mem::size_of::<Record>(), "{size} bytes");
        send.await.unwrap().await.unwrap();
    })
    .await;
}

/// Each batch of a Produce request: its partition, producer id, epoch, base sequence and
/// record count.
fn batch_identities(request: &ProduceRequest) -> Vec<(u32, i64, i16, i32, i32)> {
    let mut found = Vec::new();
    for topic in &request.topics {
        for partition in &topic.partitions {
            for batch in BatchIter::new(&partition.records, u32::MAX) {
                let header = batch.unwrap().header;
                found.push((
                    partition.partition_index,
                    header.producer_id,
                    header.producer_epoch,
                    header.base_sequence,
                    header.record_count,
                ));
            }
        }
    }
    found
}

/// The identities of every batch the peer received, in the order it received them.
fn received_batches(peer: &Peer) -> Vec<(u32, i64, i16, i32, i32)> {
    peer.requests(ApiKey::PRODUCE)
        .iter()
        .flat_map(|received| match &received.request {
            Request::Produce(request) => batch_identities(request),
            other => unreachable!("{other:?}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotent_producer_keeps_five_batches_of_a_partition_out_numbered_in_order() {
    bounded(async {
        let bound = Bound::new(1).await;
        let brokers = [bound.broker()];
        let mut end = 0i64;
        let peer = bound.serve(move |seen| match seen.request {
            Request::Metadata(_) => Action::Reply(metadata(&brokers, &[("t", &[1])])),
            Request::Produce(request) => {
                let response = answer(request, ErrorCode::NONE, |_, _, n| {
                    end += n;
                    end - n
                });
                // Slow answers: the producer goes on sending while they are out.
                Action::ReplyAfter(Duration::from_millis(30), response)
            }
            other => panic!("unexpected {other:?}"),
        });
        let client = Client::connect(config(&[&peer.address])).await.unwrap();
        let producer = client
            .producer(ProducerConfig {
                batch_bytes: 200,
                ..quick(ProducerConfig::default())
            })
            .unwrap();
        let mut deliveries = Vec::new();
        for i in 0..40u64 {
            let record = Record::new("t").value(vec![i as u8; 40]);
            deliveries.push(producer.send(record).await.unwrap());
        }
        for (i, delivery) in deliveries.into_iter().enumerate() {
            assert_eq!(delivery.await.unwrap().offset, Some(Offset(i as u64)));
        }
        assert_eq!(producer.producer_id(), Some(client_peer::PRODUCER_ID));
        assert_eq!(peer.requests(ApiKey::INIT_PRODUCER_ID).len(), 1);
        // One batch a request, every one the producer's at epoch 0, sequences one after the
        // other in the order the broker received them.
        let batches = received_batches(&peer);
        let mut sequence = 0;
        for &(_, producer_id, epoch, base_sequence, records) in &batches {
            assert_eq!(
                (producer_id, epoch, base_sequence),
                (client_peer::PRODUCER_ID, 0, sequence)
            );
            sequence += records;
        }
        assert_eq!(sequence, 40);
        assert_eq!(batches.len(), peer.requests(ApiKey::PRODUCE).len());
        // Several were out at once: a request went before the one ahead of it was answered.
        let produces = peer.requests(ApiKey::PRODUCE);
        assert!(
            produces
                .windows(2)
                .any(|w| w[1].at - w[0].at < Duration::from_millis(30)),
            "every request waited for the one before"
        );
    })
    .await;
}

#[tokio::test]
async fn an_idempotent_retry_carries_the_same_sequence_and_sequence_refusals_are_handled() {
    bounded(async {
        let bound = Bound::new(1).await;
        let brokers = [bound.broker()];
        let mut produces = 0;
        let peer = bound.serve(move |seen| match seen.request {
            Request::Metadata(_) => Action::Reply(metadata(&brokers, &[("t", &[1])])),
            Request::Produce(request) => {
                produces += 1;
                match produces {
                    // The first attempt's answer is lost with its connection.
                    1 => Action::Close,
                    // The retry: appended before, its offsets answered.
                    2 => Action::Reply(answer(request, ErrorCode::NONE, |_, _, _| 0)),
                    // The second batch: the leader lost the producer (an unclean election,
                    // say); then, at the new epoch, it is appended.
                    3 => {
                        Action::Reply(answer(request, ErrorCode::UNKNOWN_PRODUCER_ID, |_, _, _| 0))
                    }
                    4 => Action::Reply(answer(request, ErrorCode::NONE, |_, _, _| 1)),
                    // The third: a retry whose records were deleted since, delivered.
                    _ => Action::Reply(answer(
                        request,
                        ErrorCode::DUPLICATE_SEQUENCE_NUMBER,
                        |_, _, _| 0,
                    )),
                }
            }
            other => panic!("unexpected {other:?}"),
        });
        let client = Client::connect(config(&[&peer.address])).await.unwrap();
        let producer = client.producer(quick(ProducerConfig::default())).unwrap();
        let send = |value: &'static str| producer.send(Record::new("t").value(value));
        let first = send("a").await.unwrap().await.unwrap();
        assert_eq!(first.offset, Some(Offset(0)));
        let second = send("b").await.unwrap().await.unwrap();
        assert_eq!(second.offset, Some(Offset(1)));
        let third = send("c").await.unwrap().await.unwrap();
        assert_eq!(third.offset, None, "delivered, where is not known");
        let id = client_peer::PRODUCER_ID;
        assert_eq!(
            received_batches(&peer),
            [
                (0, id, 0, 0, 1),
                (0, id, 0, 0, 1), // the same batch again
                (0, id, 0, 1, 1),
                (0, id, 1, 0, 1), // the partition's next epoch, from sequence 0
                (0, id, 1, 1, 1),
            ]
        );
    })
    .await;
}
