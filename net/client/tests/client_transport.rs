//! The client's transport against a scripted broker on 127.0.0.1: bootstrap, pipelining and
//! in-order matching, a dropped connection, a request timeout, `max_frame_bytes`, an HTTP
//! server answering, an API the broker does not speak.

mod client_peer;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use client_peer::{Action, Bound, bounded, config, metadata};
use ringlog_client::{Client, ClientError};
use ringlog_wire::api::metadata::MetadataResponse;
use ringlog_wire::frame::{MAX_FRAME_BYTES_DEFAULT, split_request_frame};
use ringlog_wire::{ApiKey, Request, Response, decode_request, encode_response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[tokio::test]
async fn bootstrap_learns_the_brokers_and_describes_topics() {
    bounded(async {
        let bound = Bound::new(1).await;
        let brokers = [bound.broker()];
        let peer = bound.serve(move |seen| match seen.request {
            Request::Metadata(_) => Action::Reply(metadata(&brokers, &[("orders", &[1, 1])])),
            other => panic!("unexpected {other:?}"),
        });
        let client = Client::connect(config(&[&peer.address])).await.unwrap();
        let topics = client.admin().describe_topics(&["orders"]).await.unwrap();
        assert_eq!(topics[0].partitions.len(), 2);
        assert_eq!(topics[0].partitions[1].leader.map(|b| b.0), Some(1));
        // ApiVersions first on the connection, then the bootstrap Metadata with no topics.
        let received = peer.received();
        assert_eq!(received[0].request.api_key(), ApiKey::API_VERSIONS);
        assert!(matches!(&received[1].request, Request::Metadata(m) if m.topics == Some(vec![])));
    })
    .await;
}

/// A hand-driven broker: the test reads the requests and writes the answers itself.
struct Manual {
    listener: TcpListener,
    address: String,
}

impl Manual {
    async fn new() -> Manual {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        Manual { listener, address }
    }
}

/// Reads one request frame from `stream`.
async fn read_request(
    stream: &mut tokio::net::TcpStream,
    buf: &mut bytes::BytesMut,
) -> (ringlog_wire::RequestHeader, Request) {
    loop {
        if let Some((header, body)) = split_request_frame(buf, MAX_FRAME_BYTES_DEFAULT).unwrap() {
            return (header, decode_request(&header, body).unwrap());
        }
        assert_ne!(stream.read_buf(buf).await.unwrap(), 0, "client closed");
    }
}

/// Answers ApiVersions and the bootstrap Metadata on a freshly accepted connection.
async fn handshake(stream: &mut tokio::net::TcpStream, buf: &mut bytes::BytesMut) {
    let (header, request) = read_request(stream, buf).await;
    assert_eq!(request.api_key(), ApiKey::API_VERSIONS);
    let answer = Response::ApiVersions(client_peer::thin_listener_versions());
    stream
        .write_all(&encode_response(&answer, 0, header.correlation_id).unwrap())
        .await
        .unwrap();
    let (header, request) = read_request(stream, buf).await;
    assert_eq!(request.api_key(), ApiKey::METADATA);
    let answer = Response::Metadata(MetadataResponse {
        brokers: vec![],
        topics: vec![],
    });
    stream
        .write_all(&encode_response(&answer, 0, header.correlation_id).unwrap())
        .await
        .unwrap();
}

/// Answers Metadata requests naming the topic they asked about, so each caller can tell its
/// own answer.
fn echo_topics(request: &Request) -> Response {
    let Request::Metadata(request) = request else {
        panic!("unexpected {request:?}");
    };
    let names = request.topics.clone().unwrap_or_default();
    Response::Metadata(MetadataResponse {
        brokers: vec![],
        topics: names
            .into_iter()
            .map(|name| ringlog_wire::api::metadata::MetadataTopic {
                topic_id: ringlog_replication::TopicId::ZERO,
                error_code: ringlog_wire::ErrorCode::NONE,
                name,
                partitions: vec![],
            })
            .collect(),
    })
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order_and_each_caller_gets_its_own() {
    bounded(async {
        let manual = Manual::new().await;
        let address = manual.address.clone();
        let broker = tokio::spawn(async move {
            let (mut stream, _) = manual.listener.accept().await.unwrap();
            let mut buf = bytes::BytesMut::new();
            handshake(&mut stream, &mut buf).await;
            // Read all three before answering any: they were pipelined on one connection.
            let mut requests = Vec::new();
            for _ in 0..3 {
                requests.push(read_request(&mut stream, &mut buf).await);
            }
            let ids: Vec<u32> = requests.iter().map(|(h, _)| h.correlation_id.0).collect();
            assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
            for (header, request) in &requests {
                let frame =
                    encode_response(&echo_topics(request), 0, header.correlation_id).unwrap();
                stream.write_all(&frame).await.unwrap();
            }
            stream
        });
        let client = Client::connect(config(&[&address])).await.unwrap();
        let admin = client.admin();
        let (a, b, c) = tokio::join!(
            admin.describe_topics(&["a"]),
            admin.describe_topics(&["b"]),
            admin.describe_topics(&["c"]),
        );
        assert_eq!(a.unwrap()[0].name, "a");
        assert_eq!(b.unwrap()[0].name, "b");
        assert_eq!(c.unwrap()[0].name, "c");
        drop(broker.await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn an_answer_out_of_order_closes_the_connection_and_fails_what_is_in_flight() {
    bounded(async {
        let manual = Manual::new().await;
        let address = manual.address.clone();
        let broker = tokio::spawn(async move {
            let (mut stream, _) = manual.listener.accept().await.unwrap();
            let mut buf = bytes::BytesMut::new();
            handshake(&mut stream, &mut buf).await;
            let first = read_request(&mut stream, &mut buf).await;
            let second = read_request(&mut stream, &mut buf).await;
            // The second request's answer first: a protocol violation.
            let frame =
                encode_response(&echo_topics(&second.1), 0, second.0.correlation_id).unwrap();
            stream.write_all(&frame).await.unwrap();
            let _ = first;
            // Refuse reconnection attempts so the failure is final.
            drop(manual.listener);
            stream
        });
        let mut config = config(&[&address]);
        config.request_timeout = Duration::from_millis(300);
        let client = Client::connect(config).await.unwrap();
        let admin = client.admin();
        let (a, b) = tokio::join!(admin.describe_topics(&["a"]), admin.describe_topics(&["b"]));
        for result in [a, b] {
            let error = result.unwrap_err();
            // Retried on a new connection (refused), then given up: the first failure was a
            // retriable closed connection naming the mismatch.
            assert!(error.is_retriable(), "{error}");
        }
        drop(broker.await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn a_connection_dropped_mid_request_fails_it_with_a_retriable_error_naming_the_broker() {
    bounded(async {
        let bound = Bound::new(1).await;
        let brokers = [bound.broker()];
        let metadata_seen = Arc::new(Mutex::new(0));
        let seen_count = Arc::clone(&metadata_seen);
        let peer = bound.serve(move |_| {
            let mut count = seen_count.lock().unwrap();
            *count += 1;
            match *count {
                // Bootstrap answered; the next Metadata is dropped mid-request; then answered.
                1 | 3.. => Action::Reply(metadata(&brokers, &[("t", &[1])])),
                _ => Action::Close,
            }
        });
        let client = Client::connect(config(&[&peer.address])).await.unwrap();
        let topics = client.admin().describe_topics(&["t"]).await.unwrap();
        assert_eq!(topics[0].name, "t");
        // The dropped request failed retriably: the client refreshed its metadata on a second
        // connection, then sent the request again there.
        let connections: Vec<usize> = peer
            .requests(ApiKey::METADATA)
            .iter()
            .map(|r| r.connection)
            .collect();
        assert_eq!(connections, [0, 0, 1, 1]);
        assert_eq!(*metadata_seen.lock().unwrap(), 4);
    })
    .await;
}

#[tokio::test]
async fn a_request_with_no_answer_times_out_within_request_timeout() {
    bounded(async {
        let bound = Bound::new(1).await;
        let brokers = [bound.broker()];
        let peer = bound.serve(move |seen| match (seen.connection, seen.request) {
            (0, Request::Metadata(m)) if m.topics == Some(vec![]) => {
                Action::Reply(metadata(&brokers, &[]))
            }
            _ => Action::Silence,
        });
        let mut config = config(&[&peer.address]);
        config.request_timeout = Duration::from_millis(200);
        let client = Client::connect(config).await.unwrap();
        let started = Instant::now();
        let error = client.admin().list_topics().await.unwrap_err();
        let elapsed = started.elapsed();
        // Admin requests go to any broker; the only one timed out.
        let ClientError::NoBrokerReachable { last_error, .. } = &error else {
            panic!("expected no broker reachable, got {error}");
        };
        assert!(
            matches!(&**last_error, ClientError::Timeout { what, after } if what.starts_with("Metadata to 127.0.0.1:") && *after == Duration::from_millis(200)),
            "{error}"
        );
        assert!(error.is_retriable());
        assert!(error.to_string().ends_with("timed out after 200 ms"), "{error}");
        // Retried within request_timeout, never much past it.
        assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
        assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
    })
    .await;
}

#[tokio::test]
async fn a_response_over_max_frame_bytes_closes_the_connection_from_its_length_field() {
    bounded(async {
        let bound = Bound::new(1).await;
        let brokers = [bound.broker()];
        let names: Vec<String> = (0..200)
            .map(|i| format!("topic-with-a-long-name-{i}"))
            .collect();
        let peer = bound.serve(move |_| {
            let topics: Vec<(&str, &[u32])> =
                names.iter().map(|n| (n.as_str(), &[1u32][..])).collect();
            Action::Reply(metadata(&brokers, &topics))
        });
        let mut config = config(&[&peer.address]);
        config.max_frame_bytes = 1024;
        let error = Client::connect(config).await.unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("exceeds max_frame_bytes 1024"),
            "{message}"
        );
        assert!(
            matches!(error, ClientError::NoBrokerReachable { .. }),
            "{message}"
        );
    })
    .await;
}

/// Pointed at an HTTP server (the broker's metrics port, say), the client says so instead of
/// reporting `HTTP` read as a frame length (1213486160 bytes).
#[tokio::test]
async fn a_peer_answering_http_is_named_an_http_server() {
    bounded(async {
        let manual = Manual::new().await;
        let address = manual.address.clone();
        let server = tokio::spawn(async move {
            // Every connection the client opens (it retries) gets the same answer.
            loop {
                let (mut stream, _) = manual.listener.accept().await.unwrap();
                let mut request = [0u8; 64];
                let _ = stream.read(&mut request).await;
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    )
                    .await;
            }
        });
        let error = Client::connect(config(&[&address])).await.unwrap_err();
        server.abort();
        let message = error.to_string();
        assert!(
            message.contains(&format!(
                "{address} answered with HTTP, not ringlog's protocol: is this the metrics port?"
            )),
            "{message}"
        );
        assert!(!message.contains("1213486160"), "{message}");
    })
    .await;
}

#[tokio::test]
async fn an_api_the_broker_does_not_list_is_refused_before_sending() {
    bounded(async {
        let manual = Manual::new().await;
        let address = manual.address.clone();
        let broker = tokio::spawn(async move {
            let (mut stream, _) = manual.listener.accept().await.unwrap();
            let mut buf = bytes::BytesMut::new();
            let (header, _) = read_request(&mut stream, &mut buf).await;
            let mut versions = client_peer::thin_listener_versions();
            versions
                .api_keys
                .retain(|api| api.api_key != ApiKey::CREATE_TOPICS);
            let frame = encode_response(&Response::ApiVersions(versions), 0, header.correlation_id)
                .unwrap();
            stream.write_all(&frame).await.unwrap();
            let (header, request) = read_request(&mut stream, &mut buf).await;
            let frame = encode_response(&echo_topics(&request), 0, header.correlation_id).unwrap();
            stream.write_all(&frame).await.unwrap();
            // Nothing more arrives: CreateTopics is refused by the client itself.
            let mut rest = [0u8; 1];
            let more =
                tokio::time::timeout(Duration::from_millis(300), stream.read(&mut rest)).await;
            assert!(
                more.is_err(),
                "the client sent a request the broker does not speak"
            );
        });
        let client = Client::connect(config(&[&address])).await.unwrap();
        let error = client
            .admin()
            .create_topic("x", Some(1), Some(1), &[])
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("{address} does not speak CreateTopics at a version this client speaks")
        );
        broker.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn metadata_older_than_max_age_is_refreshed_without_an_error() {
    bounded(async {
        let bound = Bound::new(1).await;
        let brokers = [bound.broker()];
        let peer = bound.serve(move |seen| match seen.request {
            Request::Metadata(_) => Action::Reply(metadata(&brokers, &[("t", &[1])])),
            Request::Produce(_) => Action::Reply(Response::Produce(
                ringlog_wire::api::produce::ProduceResponse {
                    topics: vec![ringlog_wire::api::Topic {
                        name: "t".into(),
                        partitions: vec![ringlog_wire::api::produce::ProducePartitionResponse {
                            partition_index: 0,
                            error_code: ringlog_wire::ErrorCode::NONE,
                            base_offset: Some(ringlog_client::Offset(0)),
                            log_start_offset: Some(ringlog_client::Offset(0)),
                            error_message: None,
                        }],
                    }],
                },
            )),
            other => panic!("unexpected {other:?}"),
        });
        let mut config = config(&[&peer.address]);
        config.metadata_max_age = Duration::from_millis(50);
        let client = Client::connect(config).await.unwrap();
        let producer = client.producer(Default::default()).unwrap();
        let record = || ringlog_client::Record::new("t").value("v");
        producer.send(record()).await.unwrap().await.unwrap();
        let before = peer.requests(ApiKey::METADATA).len();
        // Nothing failed, but the metadata is older than 50 ms when the sender next wakes.
        tokio::time::sleep(Duration::from_millis(100)).await;
        producer.send(record()).await.unwrap().await.unwrap();
        // The refresh goes out in the background: wait for it, for a bounded time.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let mut after = peer.requests(ApiKey::METADATA).len();
        while after <= before && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
            after = peer.requests(ApiKey::METADATA).len();
        }
        assert!(after > before, "{before} then {after}");
    })
    .await;
}
