//! The consumer and the admin against scripted brokers on 127.0.0.1: positions from committed
//! offsets and the reset policy, long-poll fetches, decompression and CRC rejection on
//! receipt, leader moves, commits; topic administration.

mod client_peer;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use client_peer::{Action, Bound, bounded, config, metadata};
use ringlog_client::{Client, ClientError, ConsumerConfig, Offset, OffsetReset, TopicPartition};
use ringlog_format::{BatchBuilder, Compression, Record, batch};
use ringlog_wire::api::Topic;
use ringlog_wire::api::TopicResult;
use ringlog_wire::api::create_topics::CreateTopicsResponse;
use ringlog_wire::api::describe_configs::{
    DescribeConfigsResponse, DescribeConfigsResult, DescribedConfig,
};
use ringlog_wire::api::fetch::{FetchPartitionResponse, FetchRequest, FetchResponse};
use ringlog_wire::api::list_offsets::{
    ListOffsetsPartitionResponse, ListOffsetsResponse, OffsetSpec,
};
use ringlog_wire::api::offset_commit::{OffsetCommitPartitionResponse, OffsetCommitResponse};
use ringlog_wire::api::offset_fetch::{OffsetFetchPartitionResponse, OffsetFetchResponse};
use ringlog_wire::{ApiKey, ErrorCode, Request, Response};

/// The offsets topic, every partition led by broker 1: the group coordinator of every group.
const OFFSETS: (&str, &[u32]) = ("__consumer_offsets", &[1; 8]);

/// A batch of `values` at `base_offset`, stamped with leader epoch 1.
fn batch_of(base_offset: u64, values: &[&str], codec: Compression) -> Vec<u8> {
    let mut builder = BatchBuilder::new().with_compression(codec);
    for value in values {
        builder.push(&Record {
            value: Some(value.as_bytes()),
            timestamp: 5,
            ..Record::default()
        });
    }
    let mut bytes = builder.finish();
    batch::set_base_offset(&mut bytes, base_offset as i64);
    batch::set_partition_leader_epoch(&mut bytes, 1);
    bytes
}

/// A fetch answer for the request's single partition.
fn fetched(request: &FetchRequest, code: ErrorCode, records: Vec<u8>) -> Response {
    let topic = &request.topics[0];
    let partition = topic.partitions[0].partition_index;
    let ok = code.is_none();
    Response::Fetch(FetchResponse {
        topics: vec![Topic {
            name: topic.name.clone(),
            partitions: vec![FetchPartitionResponse {
                partition_index: partition,
                error_code: code,
                high_watermark: ok.then_some(Offset(100)),
                log_start_offset: ok.then_some(Offset(0)),
                log_end_offset: ok.then_some(Offset(100)),
                diverging_epoch: None,
                records: Bytes::from(records),
            }],
        }],
    })
}

fn fetch_offset(request: &FetchRequest) -> u64 {
    request.topics[0].partitions[0].fetch_offset.0
}

fn committed(offset: Option<u64>) -> Response {
    Response::OffsetFetch(OffsetFetchResponse {
        topics: vec![Topic {
            name: "orders".into(),
            partitions: vec![OffsetFetchPartitionResponse {
                partition_index: 0,
                committed_offset: offset.map(Offset),
                committed_leader_epoch: None,
                metadata: None,
                error_code: ErrorCode::NONE,
            }],
        }],
    })
}

fn listed(offset: u64) -> Response {
    Response::ListOffsets(ListOffsetsResponse {
        topics: vec![Topic {
            name: "orders".into(),
            partitions: vec![ListOffsetsPartitionResponse {
                partition_index: 0,
                error_code: ErrorCode::NONE,
                timestamp: None,
                offset: Some(Offset(offset)),
                leader_epoch: None,
            }],
        }],
    })
}

fn orders_0() -> TopicPartition {
    TopicPartition::new("orders", 0)
}

fn values(records: &[ringlog_client::ConsumerRecord]) -> Vec<(u64, String)> {
    records
        .iter()
        .map(|r| {
            (
                r.offset.0,
                String::from_utf8(r.value.as_deref().unwrap().to_vec()).unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_starts_at_the_committed_offset_decompresses_and_commits_the_position() {
    bounded(async {
        let bound = Bound::new(1).await;
        let brokers = [bound.broker()];
        let peer = bound.serve(move |seen| match seen.request {
            Request::Metadata(_) => Action::Reply(metadata(&brokers, &[("orders", &[1]), OFFSETS])),
            Request::OffsetFetch(request) => {
                assert_eq!(request.group_id, "g");
                Action::Reply(committed(Some(4)))
            }
            // The next round, sent as the poll returns: nothing more yet.
            Request::Fetch(request) if fetch_offset(request) == 8 => {
                Action::Reply(fetched(request, ErrorCode::NONE, Vec::new()))
            }
            Request::Fetch(request) => {
                assert_eq!(fetch_offset(request), 4);
                // The first batch starts before the position: offsets 3 and earlier are skipped.
                let mut records = batch_of(2, &["c", "d", "e"], Compression::None);
                records.extend(batch_of(5, &["f", "g"], Compression::Zstd));
                records.extend(batch_of(7, &["h"], Compression::Lz4));
                Action::Reply(fetched(request, ErrorCode::NONE, records))
            }
            Request::OffsetCommit(request) => {
                let partition = &request.topics[0].partitions[0];
                assert_eq!(partition.committed_offset, Offset(8));
                assert_eq!(partition.committed_leader_epoch.map(|e| e.0), Some(1));
                Action::Reply(Response::OffsetCommit(OffsetCommitResponse {
                    topics: vec![Topic {
                        name: "orders".into(),
                        partitions: vec![OffsetCommitPartitionResponse {
                            partition_index: 0,
                            error_code: ErrorCode::NONE,
                        }],
                    }],
                }))
            }
            other => panic!("unexpected {other:?}"),
        });
        let client = Client::connect(config(&[&peer.address])).await.unwrap();
        let consumer = client.consumer(ConsumerConfig {
            group: Some("g".into()),
            auto_offset_reset: OffsetReset::None,
            ..ConsumerConfig::default()
        });
        consumer.assign(&[orders_0()]).await.unwrap();
        let records = consumer.poll(Duration::from_secs(2)).await.unwrap();
        let expected: Vec<(u64, String)> = [(4, "e"), (5, "f"), (6, "g"), (7, "h")]
            .iter()
            .map(|(o, v)| (*o, v.to_string()))
            .collect();
        assert_eq!(values(&records), expected);
        assert_eq!(
            consumer.position(&orders_0()).await.unwrap(),
            Some(Offset(8))
        );
        consumer.commit().await.unwrap();
        assert_eq!(peer.requests(ApiKey::OFFSET_COMMIT).len(), 1);
    })
    .await;
}

/// The offsets of the fetches `peer` received, once there are `count`.
async fn fetched_from(peer: &client_peer::Peer, count: usize) -> Vec<u64> {
    loop {
        let offsets: Vec<u64> = peer
            .requests(ApiKey::FETCH)
            .iter()
            .map(|received| match &received.request {
                Request::Fetch(request) => fetch_offset(request),
                other => unreachable!("{other:?}"),
            })
            .collect();
        if offsets.len() >= count {
            return offsets;
        }
        // `bounded` ends the test if they never come.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_poll_with_records_sends_the_next_fetch_and_a_seek_drops_its_answer() {
    bounded(async {
        let bound = Bound::new(1).await;
        let brokers = [bound.broker()];
        let peer = bound.serve(move |seen| match seen.request {
            Request::Metadata(_) => Action::Reply(metadata(&brokers, &[("orders", &[1])])),
            Request::Fetch(request) => {
                // Every fetch finds two records where it asks.
                let at = fetch_offset(request);
                let (a, b) = (format!("v{at}"), format!("v{}", at + 1));
                let records = batch_of(at, &[&a, &b], Compression::None);
                Action::Reply(fetched(request, ErrorCode::NONE, records))
            }
            other => panic!("unexpected {other:?}"),
        });
        let client = Client::connect(config(&[&peer.address])).await.unwrap();
        let consumer = client.consumer(ConsumerConfig::default());
        consumer.assign(&[orders_0()]).await.unwrap();
        consumer.seek(&orders_0(), Offset(0)).await.unwrap();
        let pairs = |list: &[(u64, &str)]| -> Vec<(u64, String)> {
            list.iter().map(|(o, v)| (*o, v.to_string())).collect()
        };

        let first = consumer.poll(Duration::from_secs(5)).await.unwrap();
        assert_eq!(values(&first), pairs(&[(0, "v0"), (1, "v1")]));
        // The next round went out as the poll returned, from the new position.
        assert_eq!(fetched_from(&peer, 2).await, [0, 2]);
        let second = consumer.poll(Duration::from_secs(5)).await.unwrap();
        assert_eq!(values(&second), pairs(&[(2, "v2"), (3, "v3")]));
        assert_eq!(fetched_from(&peer, 3).await, [0, 2, 4]);

        // The answer fetched from offset 4 is not for a partition moved to 10.
        consumer.seek(&orders_0(), Offset(10)).await.unwrap();
        let third = consumer.poll(Duration::from_secs(5)).await.unwrap();
        assert_eq!(values(&third), pairs(&[(10, "v10"), (11, "v11")]));
        assert_eq!(fetched_from(&peer, 4).await[..4], [0, 2, 4, 10]);
    })
    .await;
}

#[tokio::test]
async fn a_leader_holding_its_fetch_does_not_hold_up_records_another_leader_sent() {
    bounded(async {
        let (first, second) = (Bound::new(1).await, Bound::new(2).await);
        let brokers = [first.broker(), second.broker()];
        let topics: [(&str, &[u32]); 1] = [("orders", &[1, 2])];
        let brokers_a = brokers.clone();
        let quick = first.serve(move |seen| match seen.request {
            Request::Metadata(_) => Action::Reply(metadata(&brokers_a, &topics)),
            Request::Fetch(request) => {
                let at = fetch_offset(request);
                let records = batch_of(at, &["from-1"], Compression::None);
                Action::Reply(fetched(request, ErrorCode::NONE, records))
            }
            other => panic!("unexpected {other:?}"),
        });
        // Broker 2 has nothing: it holds each fetch for long.
        let holding = second.serve(move |seen| match seen.request {
            Request::Metadata(_) => Action::Reply(metadata(&brokers, &topics)),
            Request::Fetch(request) => Action::ReplyAfter(
                Duration::from_secs(3),
                fetched(request, ErrorCode::NONE, Vec::new()),
            ),
            other => panic!("unexpected {other:?}"),
        });
        let client = Client::connect(config(&[&quick.address])).await.unwrap();
        let consumer = client.consumer(ConsumerConfig {
            fetch_max_wait: Duration::from_secs(3),
            ..ConsumerConfig::default()
        });
        let partitions = [orders_0(), TopicPartition::new("orders", 1)];
        consumer.assign(&partitions).await.unwrap();
        for partition in &partitions {
            consumer.seek(partition, Offset(0)).await.unwrap();
        }
        let started = std::time::Instant::now();
        for expected in 0..3 {
            let records = consumer.poll(Duration::from_secs(10)).await.unwrap();
            assert_eq!(values(&records), [(expected, "from-1".to_string())]);
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "waited {:?} for the held fetch",
            started.elapsed()
        );
        // One fetch out to broker 2 the whole time: it was not sent again each poll.
        assert_eq!(holding.requests(ApiKey::FETCH).len(), 1);
    })
    .await;
}

#[tokio::test]
async fn fetches_long_poll_with_the_configured_limits_and_return_empty_at_the_timeout() {
    bounded(async {
        let bound = Bound::new(1).await;
        let brokers = [bound.broker()];
        let peer = bound.serve(move |seen| match seen.request {
            Request::Metadata(_) => Action::Reply(metadata(&brokers, &[("orders", &[1])])),
            Request::ListOffsets(request) => {
                assert_eq!(request.topics[0].partitions[0].spec, OffsetSpec::Earliest);
                Action::Reply(listed(0))
            }
            // Nothing to read: the broker holds the fetch for its max_wait.
            Request::Fetch(request) => {
                Action::ReplyAfter(request.max_wait, fetched(request, ErrorCode::NONE, vec![]))
            }
            other => panic!("unexpected {other:?}"),
        });
        let client = Client::connect(config(&[&peer.address])).await.unwrap();
        let consumer = client.consumer(ConsumerConfig {
            auto_offset_reset: OffsetReset::Earliest,
            fetch_max_wait: Duration::from_millis(100),
            fetch_min_bytes: 10,
            fetch_max_bytes: 1000,
            max_partition_fetch_bytes: 500,
            ..ConsumerConfig::default()
        });
        consumer.assign(&[orders_0()]).await.unwrap();
        let started = std::time::Instant::now();
        let records = consumer.poll(Duration::from_millis(250)).await.unwrap();
        let elapsed = started.elapsed();
        assert!(records.is_empty());
        assert!(
            elapsed >= Duration::from_millis(250) && elapsed < Duration::from_secs(1),
            "{elapsed:?}"
        );
        let fetches = peer.requests(ApiKey::FETCH);
        assert!(fetches.len() >= 2, "{}", fetches.len());
        for fetch in &fetches {
            let Request::Fetch(request) = &fetch.request else {
                unreachable!()
            };
            assert!(
                request.max_wait <= Duration::from_millis(100),
                "{:?}",
                request.max_wait
            );
            assert_eq!((request.min_bytes, request.max_bytes), (10, 1000));
            assert_eq!(request.topics[0].partitions[0].partition_max_bytes, 500);
            assert_eq!(request.replica_id, None);
        }
    })
    .await;
}

#[tokio::test]
async fn offset_out_of_range_resets_by_policy_or_fails_without_one() {
    bounded(async {
        let bound = Bound::new(1).await;
        let brokers = [bound.broker()];
        let peer = bound.serve(move |seen| match seen.request {
            Request::Metadata(_) => Action::Reply(metadata(&brokers, &[("orders", &[1])])),
            Request::ListOffsets(request) => {
                assert_eq!(request.topics[0].partitions[0].spec, OffsetSpec::Latest);
                Action::Reply(listed(10))
            }
            Request::Fetch(request) => match fetch_offset(request) {
                10 => Action::Reply(fetched(request, ErrorCode::NONE, batch_of(10, &["k"], Compression::None))),
                _ => Action::Reply(fetched(request, ErrorCode::OFFSET_OUT_OF_RANGE, vec![])),
            },
            other => panic!("unexpected {other:?}"),
        });
        let client = Client::connect(config(&[&peer.address])).await.unwrap();
        let consumer = client.consumer(ConsumerConfig {
            auto_offset_reset: OffsetReset::Latest,
            ..ConsumerConfig::default()
        });
        consumer.assign(&[orders_0()]).await.unwrap();
        consumer.seek(&orders_0(), Offset(500)).await.unwrap();
        let records = consumer.poll(Duration::from_secs(2)).await.unwrap();
        assert_eq!(values(&records), [(10, "k".to_string())]);

        let strict = client.consumer(ConsumerConfig {
            auto_offset_reset: OffsetReset::None,
            ..ConsumerConfig::default()
        });
        strict.assign(&[orders_0()]).await.unwrap();
        strict.seek(&orders_0(), Offset(500)).await.unwrap();
        let error = strict.poll(Duration::from_secs(2)).await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "orders-0: no valid offset to fetch from (the offset is out of range) and auto_offset_reset is none"
        );
    })
    .await;
}

#[tokio::test]
async fn a_corrupt_batch_is_rejected_naming_topic_partition_and_offset_after_the_good_ones() {
    bounded(async {
        let bound = Bound::new(1).await;
        let brokers = [bound.broker()];
        let peer = bound.serve(move |seen| match seen.request {
            Request::Metadata(_) => Action::Reply(metadata(&brokers, &[("orders", &[1])])),
            Request::Fetch(request) => {
                let offset = fetch_offset(request);
                let mut records = Vec::new();
                if offset == 0 {
                    records.extend(batch_of(0, &["a", "b"], Compression::None));
                }
                let mut bad = batch_of(2, &["c"], Compression::Lz4);
                let last = bad.len() - 2;
                bad[last] ^= 0xff;
                records.extend(bad);
                Action::Reply(fetched(request, ErrorCode::NONE, records))
            }
            other => panic!("unexpected {other:?}"),
        });
        let client = Client::connect(config(&[&peer.address])).await.unwrap();
        let consumer = client.consumer(ConsumerConfig::default());
        consumer.assign(&[orders_0()]).await.unwrap();
        consumer.seek(&orders_0(), Offset(0)).await.unwrap();
        let records = consumer.poll(Duration::from_secs(2)).await.unwrap();
        assert_eq!(
            values(&records),
            [(0, "a".to_string()), (1, "b".to_string())]
        );
        let error = consumer.poll(Duration::from_secs(2)).await.unwrap_err();
        assert!(
            matches!(error, ClientError::CorruptBatch { offset: 2, .. }),
            "{error}"
        );
        assert!(
            error
                .to_string()
                .starts_with("orders-0: batch at offset 2 rejected: crc mismatch"),
            "{error}"
        );
        // The position stays at the bad batch until the application seeks past it.
        assert_eq!(
            consumer.position(&orders_0()).await.unwrap(),
            Some(Offset(2))
        );
        let error = consumer.poll(Duration::from_secs(2)).await.unwrap_err();
        assert!(
            matches!(error, ClientError::CorruptBatch { offset: 2, .. }),
            "{error}"
        );
    })
    .await;
}

#[tokio::test]
async fn not_leader_on_fetch_refreshes_metadata_and_fetches_from_the_new_leader() {
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
            Request::Fetch(request) => {
                *moved_a.lock().unwrap() = true;
                Action::Reply(fetched(request, ErrorCode::NOT_LEADER_OR_FOLLOWER, vec![]))
            }
            other => panic!("unexpected {other:?}"),
        });
        let brokers_b = brokers.clone();
        let new_leader = second.serve(move |seen| match seen.request {
            Request::Metadata(_) => Action::Reply(metadata(&brokers_b, &[("orders", &[2])])),
            Request::Fetch(request) => Action::Reply(fetched(
                request,
                ErrorCode::NONE,
                batch_of(0, &["x"], Compression::Zstd),
            )),
            other => panic!("unexpected {other:?}"),
        });
        let client = Client::connect(config(&[&old_leader.address]))
            .await
            .unwrap();
        let consumer = client.consumer(ConsumerConfig::default());
        consumer.assign(&[orders_0()]).await.unwrap();
        consumer.seek(&orders_0(), Offset(0)).await.unwrap();
        let records = consumer.poll(Duration::from_secs(3)).await.unwrap();
        assert_eq!(values(&records), [(0, "x".to_string())]);
        assert_eq!(old_leader.requests(ApiKey::FETCH).len(), 1);
        assert_eq!(new_leader.requests(ApiKey::FETCH).len(), 1);
    })
    .await;
}

#[tokio::test]
async fn seek_to_end_asks_the_leader_and_committed_the_group_coordinator() {
    bounded(async {
        let bound = Bound::new(1).await;
        let brokers = [bound.broker()];
        let peer = bound.serve(move |seen| match seen.request {
            Request::Metadata(_) => Action::Reply(metadata(&brokers, &[("orders", &[1]), OFFSETS])),
            Request::ListOffsets(_) => Action::Reply(listed(42)),
            Request::OffsetFetch(_) => Action::Reply(committed(None)),
            other => panic!("unexpected {other:?}"),
        });
        let client = Client::connect(config(&[&peer.address])).await.unwrap();
        let consumer = client.consumer(ConsumerConfig {
            group: Some("g".into()),
            ..ConsumerConfig::default()
        });
        consumer.assign(&[orders_0()]).await.unwrap();
        consumer.seek_to_end(&[]).await.unwrap();
        assert_eq!(
            consumer.position(&orders_0()).await.unwrap(),
            Some(Offset(42))
        );
        let committed = consumer.committed(&[orders_0()]).await.unwrap();
        assert_eq!(committed[&orders_0()], None);
        let error = consumer
            .seek(&TopicPartition::new("orders", 5), Offset(0))
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "orders-5 is not assigned to this consumer"
        );
        let error = consumer
            .assign(&[TopicPartition::new("orders", 5)])
            .await
            .unwrap_err();
        assert_eq!(error.to_string(), "orders-5: the topic has 1 partition");
    })
    .await;
}

#[tokio::test]
async fn admin_creates_describes_and_alters_topics_and_reports_topic_errors() {
    bounded(async {
        let bound = Bound::new(1).await;
        let brokers = [bound.broker()];
        let peer = bound.serve(move |seen| match seen.request {
            Request::Metadata(_) => Action::Reply(metadata(&brokers, &[("orders", &[1, 1, 1])])),
            Request::CreateTopics(request) => {
                let topic = &request.topics[0];
                let code = if topic.name == "orders" {
                    ErrorCode::TOPIC_ALREADY_EXISTS
                } else {
                    ErrorCode::NONE
                };
                assert_eq!(
                    (topic.num_partitions, topic.replication_factor),
                    (Some(3), Some(1))
                );
                Action::Reply(Response::CreateTopics(CreateTopicsResponse {
                    topics: vec![TopicResult {
                        name: topic.name.clone(),
                        error_code: code,
                        error_message: None,
                    }],
                }))
            }
            Request::DescribeConfigs(_) => {
                Action::Reply(Response::DescribeConfigs(DescribeConfigsResponse {
                    topics: vec![DescribeConfigsResult {
                        name: "orders".into(),
                        error_code: ErrorCode::NONE,
                        error_message: None,
                        configs: vec![DescribedConfig {
                            name: "retention_ms".into(),
                            value: Some("86400000".into()),
                            is_default: false,
                        }],
                    }],
                }))
            }
            Request::AlterConfigs(request) => {
                assert_eq!(request.topics[0].configs[0].value, None);
                Action::Reply(Response::AlterConfigs(
                    ringlog_wire::api::alter_configs::AlterConfigsResponse {
                        topics: vec![TopicResult {
                            name: "orders".into(),
                            error_code: ErrorCode::INVALID_CONFIG,
                            error_message: Some("unknown key bogus".into()),
                        }],
                    },
                ))
            }
            other => panic!("unexpected {other:?}"),
        });
        let client = Client::connect(config(&[&peer.address])).await.unwrap();
        let admin = client.admin();
        admin
            .create_topic("payments", Some(3), Some(1), &[("retention_ms", "1000")])
            .await
            .unwrap();
        let error = admin
            .create_topic("orders", Some(3), Some(1), &[])
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "create topic orders: broker answered TOPIC_ALREADY_EXISTS (36)"
        );
        assert_eq!(admin.list_topics().await.unwrap(), ["orders"]);
        let configs = admin.describe_configs("orders", None).await.unwrap();
        assert_eq!(configs[0].value.as_deref(), Some("86400000"));
        let error = admin
            .alter_configs("orders", &[("bogus", None)])
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "alter configs of orders: broker answered INVALID_CONFIG (40): unknown key bogus"
        );
        let Request::CreateTopics(request) = &peer.requests(ApiKey::CREATE_TOPICS)[0].request
        else {
            unreachable!()
        };
        assert_eq!(request.topics[0].configs[0].name, "retention_ms");
    })
    .await;
}
