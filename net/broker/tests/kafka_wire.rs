//! The broker's Kafka listener in-process on a real socket on 127.0.0.1, spoken to byte by
//! byte: requests encoded and responses decoded with `kafka-protocol` (generated from Kafka's
//! schemas, not by ringlog), for what a well-behaved client never sends. Bad input gets
//! Kafka's answer, or a closed connection where Kafka closes it, and nothing stored is
//! damaged; fetched record bytes leave by `sendfile`.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    FetchRequest, FetchResponse, MetadataRequest, MetadataResponse, ProduceRequest,
    ProduceResponse, RequestHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use metrics_exporter_prometheus::PrometheusHandle;
use ringlog_broker::{Broker, ServerOptions};
use ringlog_engine::format::{BatchBuilder, Record};

const TIMEOUT: Duration = Duration::from_secs(10);

struct Harness {
    _dir: tempfile::TempDir,
    broker: Option<Broker>,
}

impl Harness {
    fn start() -> Harness {
        // The recorder first: what the broker counts before it is installed is lost.
        metrics();
        let dir = tempfile::tempdir().unwrap();
        let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let mut options = ServerOptions::new(dir.path().to_path_buf(), listen);
        options.shards = 2;
        options.max_frame_bytes = 1 << 20;
        // Long polls as long as a fetch asks: one that should end early and does not shows.
        options.fetch_wait_max = Duration::from_secs(60);
        let broker = Broker::start(options).expect("broker starts");
        broker.wait_ready(TIMEOUT).expect("broker registers");
        Harness {
            _dir: dir,
            broker: Some(broker),
        }
    }

    fn connect(&self) -> Kafka {
        let address = self
            .broker
            .as_ref()
            .unwrap()
            .kafka_addr()
            .expect("a Kafka listener");
        let stream = TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        Kafka {
            stream,
            next_correlation: 1,
        }
    }

    /// Creates `name` with one partition.
    fn create_topic(&self, name: &str) {
        let request = CreateTopicsRequest::default()
            .with_topics(vec![
                CreatableTopic::default()
                    .with_name(topic(name))
                    .with_num_partitions(1)
                    .with_replication_factor(1),
            ])
            .with_timeout_ms(10_000);
        let response: CreateTopicsResponse = self.connect().call(ApiKey::CreateTopics, 7, &request);
        assert_eq!(response.topics[0].error_code, 0, "{response:?}");
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(broker) = self.broker.take() {
            broker.stop().unwrap();
        }
    }
}

fn topic(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

/// A client that frames and heads requests as Kafka's do.
struct Kafka {
    stream: TcpStream,
    next_correlation: i32,
}

impl Kafka {
    /// Sends a request of `api` at `version`; returns its correlation id.
    fn send<M: Encodable>(&mut self, api: ApiKey, version: i16, body: &M) -> i32 {
        let correlation_id = self.next_correlation;
        self.next_correlation += 1;
        let header = RequestHeader::default()
            .with_request_api_key(api as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("kafka-wire-test")));
        let mut frame = BytesMut::new();
        header
            .encode(&mut frame, api.request_header_version(version))
            .unwrap();
        body.encode(&mut frame, version).unwrap();
        self.send_frame(&frame);
        correlation_id
    }

    /// Sends a request's header alone, at `header_version`: for an API or version this test's
    /// encoder (like the broker) does not know, whose body is never read.
    fn send_head(&mut self, api_key: i16, version: i16, header_version: i16) -> i32 {
        let correlation_id = self.next_correlation;
        self.next_correlation += 1;
        let mut frame = BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(api_key)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("kafka-wire-test")))
            .encode(&mut frame, header_version)
            .unwrap();
        self.send_frame(&frame);
        correlation_id
    }

    fn send_frame(&mut self, frame: &[u8]) {
        let mut out = Vec::with_capacity(4 + frame.len());
        out.put_i32(frame.len() as i32);
        out.extend_from_slice(frame);
        self.stream.write_all(&out).unwrap();
    }

    /// The next response frame: its correlation id and the bytes after the header, read at
    /// response header `header_version`.
    fn receive(&mut self, header_version: i16) -> Option<(i32, Bytes)> {
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).ok()?;
        let mut frame = vec![0u8; i32::from_be_bytes(size) as usize];
        self.stream.read_exact(&mut frame).ok()?;
        let mut frame = Bytes::from(frame);
        let correlation_id = frame.get_i32();
        if header_version >= 1 {
            assert_eq!(frame.get_u8(), 0, "no tagged fields in the response header");
        }
        Some((correlation_id, frame))
    }

    fn call<Req: Encodable, Resp: Decodable>(
        &mut self,
        api: ApiKey,
        version: i16,
        body: &Req,
    ) -> Resp {
        let sent = self.send(api, version, body);
        let (correlation_id, mut body) = self
            .receive(api.response_header_version(version))
            .expect("a response");
        assert_eq!(correlation_id, sent);
        Resp::decode(&mut body, version).expect("the response decodes")
    }

    /// Whether the broker closed the connection (nothing more to read).
    fn closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(self.stream.read(&mut byte), Ok(0) | Err(_))
    }
}

fn metrics() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        ringlog_broker::metrics::install_recorder().expect("no other recorder in this binary")
    })
}

/// `name{labels}` as the metrics render now; 0 when absent.
fn counter(series: &str) -> u64 {
    metrics()
        .render()
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0, |value| value.parse().unwrap())
}

/// One batch of `values`, as a producer sends it.
fn batch(values: &[&str]) -> Bytes {
    let mut builder = BatchBuilder::new();
    for value in values {
        builder.push(&Record {
            value: Some(value.as_bytes()),
            timestamp: 1_700_000_000_000,
            ..Record::default()
        });
    }
    Bytes::from(builder.finish())
}

fn produce(name: &str, records: Bytes, acks: i16) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(topic(name))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(records)),
                ]),
        ])
}

fn fetch(name: &str, offset: i64) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(kafka_protocol::messages::BrokerId(-1))
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(topic(name))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(offset)
                        .with_partition_max_bytes(1 << 20)
                        .with_current_leader_epoch(-1)
                        .with_last_fetched_epoch(-1)
                        .with_log_start_offset(-1),
                ]),
        ])
}

/// `fetched` is `produced` as stored: the same bytes but for the partition leader epoch
/// (bytes 12..16, outside the CRC), which the leader stamps.
fn assert_same_batch(fetched: Option<&[u8]>, produced: &[u8]) {
    let fetched = fetched.expect("records");
    assert_eq!(fetched.len(), produced.len());
    assert_eq!(fetched[..12], produced[..12]);
    assert_eq!(
        fetched[12..16],
        0_i32.to_be_bytes(),
        "leader epoch 0 stamped"
    );
    assert_eq!(fetched[16..], produced[16..]);
}

#[test]
fn api_versions_lists_what_is_served_and_answers_an_unknown_version_in_v0() {
    let harness = Harness::start();
    let mut kafka = harness.connect();
    let response: ApiVersionsResponse =
        kafka.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    assert_eq!(response.error_code, 0);
    let produce = response
        .api_keys
        .iter()
        .find(|api| api.api_key == ApiKey::Produce as i16)
        .unwrap();
    assert_eq!((produce.min_version, produce.max_version), (3, 13));
    let join = response
        .api_keys
        .iter()
        .find(|api| api.api_key == ApiKey::JoinGroup as i16)
        .expect("group membership is served");
    assert_eq!((join.min_version, join.max_version), (0, 9));
    let init_producer_id = response
        .api_keys
        .iter()
        .find(|api| api.api_key == ApiKey::InitProducerId as i16)
        .expect("idempotent producers are served");
    assert_eq!(
        (init_producer_id.min_version, init_producer_id.max_version),
        (0, 5)
    );
    assert!(
        response
            .api_keys
            .iter()
            .all(|api| api.api_key != ApiKey::AddPartitionsToTxn as i16),
        "transactions are not served, so not listed"
    );
    // KIP-511: a version the broker does not know, answered in v0 with the list.
    let sent = kafka.send_head(ApiKey::ApiVersions as i16, 99, 2);
    let (correlation_id, mut body) = kafka.receive(0).unwrap();
    assert_eq!(correlation_id, sent);
    let response = ApiVersionsResponse::decode(&mut body, 0).unwrap();
    assert_eq!(response.error_code, 35, "UNSUPPORTED_VERSION");
    assert!(!response.api_keys.is_empty());
}

#[test]
fn an_api_or_version_not_served_closes_the_connection_as_kafka_does() {
    let harness = Harness::start();
    let mut kafka = harness.connect();
    kafka.send_head(ApiKey::Metadata as i16, 42, 2);
    assert!(kafka.closed(), "a Metadata version not served");
    let mut kafka = harness.connect();
    // JoinGroup: not served yet. Its header only: the body is not read.
    kafka.send_head(ApiKey::JoinGroup as i16, 5, 1);
    assert!(kafka.closed(), "an API not served");
    let mut kafka = harness.connect();
    kafka.send_head(999, 0, 1);
    assert!(kafka.closed(), "an API key Kafka does not have");
    // The broker goes on serving others.
    let mut kafka = harness.connect();
    let response: MetadataResponse = kafka.call(ApiKey::Metadata, 12, &MetadataRequest::default());
    assert_eq!(response.brokers.len(), 1);
}

#[test]
fn a_frame_over_the_limit_or_a_body_that_does_not_decode_closes_the_connection() {
    let harness = Harness::start();
    let mut kafka = harness.connect();
    kafka
        .stream
        .write_all(&(2_i32 << 20).to_be_bytes())
        .unwrap();
    assert!(
        kafka.closed(),
        "a frame over socket_request_max_bytes (1 MiB here)"
    );
    let mut kafka = harness.connect();
    let mut frame = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(ApiKey::Produce as i16)
        .with_request_api_version(9)
        .with_correlation_id(1)
        .encode(&mut frame, 2)
        .unwrap();
    frame.put_slice(&[0xff, 0xff, 0xff]); // a body cut short
    kafka.send_frame(&frame);
    assert!(kafka.closed(), "a Produce body that does not decode");
}

#[test]
fn a_corrupt_batch_is_refused_with_corrupt_message_and_stores_nothing() {
    let harness = Harness::start();
    harness.create_topic("t");
    let mut kafka = harness.connect();
    let mut corrupt = BytesMut::from(&batch(&["lost"])[..]);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff; // a record byte the CRC covers
    let response: ProduceResponse =
        kafka.call(ApiKey::Produce, 9, &produce("t", corrupt.freeze(), -1));
    let partition = &response.responses[0].partition_responses[0];
    assert_eq!(partition.error_code, 2, "CORRUPT_MESSAGE: {response:?}");
    let response: ProduceResponse =
        kafka.call(ApiKey::Produce, 9, &produce("t", batch(&["kept"]), -1));
    let partition = &response.responses[0].partition_responses[0];
    assert_eq!((partition.error_code, partition.base_offset), (0, 0));
    let fetched: FetchResponse = kafka.call(ApiKey::Fetch, 12, &fetch("t", 0));
    let partition = &fetched.responses[0].partitions[0];
    assert_eq!(partition.high_watermark, 1);
    assert_same_batch(partition.records.as_deref(), &batch(&["kept"]));
}

#[test]
fn acks_zero_is_answered_by_nothing_and_the_next_request_by_its_own_answer() {
    let harness = Harness::start();
    harness.create_topic("t");
    let mut kafka = harness.connect();
    kafka.send(
        ApiKey::Produce,
        9,
        &produce("t", batch(&["fire", "forget"]), 0),
    );
    let metadata_sent = kafka.send(ApiKey::Metadata, 12, &MetadataRequest::default());
    let (correlation_id, _) = kafka.receive(1).unwrap();
    assert_eq!(correlation_id, metadata_sent, "the produce got no response");
    let fetched: FetchResponse = kafka.call(ApiKey::Fetch, 12, &fetch("t", 0));
    assert_eq!(fetched.responses[0].partitions[0].high_watermark, 2);
}

#[test]
fn fetch_errors_are_kafkas_and_record_bytes_leave_by_sendfile() {
    let harness = Harness::start();
    harness.create_topic("t");
    let mut kafka = harness.connect();
    let unknown: FetchResponse = kafka.call(ApiKey::Fetch, 12, &fetch("nowhere", 0));
    assert_eq!(
        unknown.responses[0].partitions[0].error_code, 3,
        "UNKNOWN_TOPIC_OR_PARTITION"
    );
    let out_of_range: FetchResponse = kafka.call(ApiKey::Fetch, 12, &fetch("t", 5));
    assert_eq!(
        out_of_range.responses[0].partitions[0].error_code, 1,
        "OFFSET_OUT_OF_RANGE"
    );
    let records = batch(&["zero", "copy"]);
    let _: ProduceResponse = kafka.call(ApiKey::Produce, 9, &produce("t", records.clone(), 1));
    let series = "ringlog_fetch_bytes_total{mode=\"zerocopy\"}";
    let before = counter(series);
    let fetched: FetchResponse = kafka.call(ApiKey::Fetch, 12, &fetch("t", 0));
    assert_same_batch(
        fetched.responses[0].partitions[0].records.as_deref(),
        &records,
    );
    // The shard counts a write once sendfile returns, which may be after the client has the
    // bytes: the count is awaited, not read once.
    let deadline = std::time::Instant::now() + TIMEOUT;
    let mut sent = counter(series) - before;
    while sent < records.len() as u64 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
        sent = counter(series) - before;
    }
    assert!(
        sent >= records.len() as u64,
        "every fetched record byte counted as zero copy: {sent} of {}",
        records.len()
    );
}

/// A fetch of partitions on both shards, one of them with data: `min_bytes` is met by it, and
/// the answer comes at once, not at the end of the long poll. (The parts of another shard were
/// sent after this shard's part had released the request, and one arriving after its release
/// waited the whole `max_wait`.)
#[test]
fn a_fetch_whose_min_bytes_are_met_is_answered_before_its_long_poll_ends() {
    let harness = Harness::start();
    let request = CreateTopicsRequest::default()
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(topic("spread"))
                .with_num_partitions(8)
                .with_replication_factor(1),
        ])
        .with_timeout_ms(10_000);
    let _: CreateTopicsResponse = harness.connect().call(ApiKey::CreateTopics, 7, &request);
    let mut producer = harness.connect();
    let _: ProduceResponse =
        producer.call(ApiKey::Produce, 9, &produce("spread", batch(&["x"]), 1));
    // Connections go to the shard with the fewest (the producer's holds one): of these four,
    // at least one is on each shard, so one is on the shard of partition 0, the one with data.
    let mut connections = [(); 4].map(|()| harness.connect());
    for kafka in &mut connections {
        let mut request = fetch("spread", 0)
            .with_max_wait_ms(30_000)
            .with_min_bytes(1);
        let partition = request.topics[0].partitions[0].clone();
        request.topics[0].partitions = (0..8)
            .map(|index| partition.clone().with_partition(index))
            .collect();
        let started = std::time::Instant::now();
        let fetched: FetchResponse = kafka.call(ApiKey::Fetch, 12, &request);
        assert_eq!(fetched.responses[0].partitions[0].high_watermark, 1);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "answered after {:?}, min_bytes was met at once",
            started.elapsed()
        );
    }
}

#[test]
fn a_fetch_session_keeps_its_partitions_between_incremental_fetches() {
    let harness = Harness::start();
    let request = CreateTopicsRequest::default()
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(topic("s"))
                .with_num_partitions(2)
                .with_replication_factor(1),
        ])
        .with_timeout_ms(10_000);
    let _: CreateTopicsResponse = harness.connect().call(ApiKey::CreateTopics, 7, &request);
    let mut kafka = harness.connect();
    let _: ProduceResponse = kafka.call(ApiKey::Produce, 9, &produce("s", batch(&["p0"]), 1));
    // A full fetch of both partitions that starts a session.
    let mut full = fetch("s", 0).with_session_id(0).with_session_epoch(0);
    let partition = full.topics[0].partitions[0].clone();
    full.topics[0].partitions = vec![partition.clone(), partition.clone().with_partition(1)];
    let started: FetchResponse = kafka.call(ApiKey::Fetch, 12, &full);
    assert_eq!(started.error_code, 0);
    assert_ne!(started.session_id, 0, "a session was started");
    assert_eq!(started.responses[0].partitions.len(), 2);
    // Incremental: partition 0 moved on; partition 1, unnamed, is fetched from the session.
    let mut incremental = fetch("s", 1)
        .with_session_id(started.session_id)
        .with_session_epoch(1);
    incremental.topics[0].partitions[0] = partition.clone().with_fetch_offset(1);
    let next: FetchResponse = kafka.call(ApiKey::Fetch, 12, &incremental);
    assert_eq!(next.error_code, 0);
    assert_eq!(next.session_id, started.session_id);
    let indexes: Vec<i32> = next.responses[0]
        .partitions
        .iter()
        .map(|p| p.partition_index)
        .collect();
    assert_eq!(indexes, [0, 1]);
    // The wrong epoch, and a session this connection does not have.
    let stale = fetch("s", 1)
        .with_session_id(started.session_id)
        .with_session_epoch(1);
    let refused: FetchResponse = kafka.call(ApiKey::Fetch, 12, &stale);
    assert_eq!(refused.error_code, 71, "INVALID_FETCH_SESSION_EPOCH");
    let elsewhere = fetch("s", 1)
        .with_session_id(started.session_id)
        .with_session_epoch(2);
    let refused: FetchResponse = harness.connect().call(ApiKey::Fetch, 12, &elsewhere);
    assert_eq!(refused.error_code, 70, "FETCH_SESSION_ID_NOT_FOUND");
}

/// Every version of ListOffsets answers, with a leader epoch from v4 only (the field is not in
/// the older layouts; setting it there made the response unencodable and the shard panic).
#[test]
fn list_offsets_answers_at_every_version_served() {
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
    let harness = Harness::start();
    harness.create_topic("t");
    let mut kafka = harness.connect();
    let _: ProduceResponse = kafka.call(ApiKey::Produce, 9, &produce("t", batch(&["a", "b"]), 1));
    for version in 1..=10 {
        let request = ListOffsetsRequest::default()
            .with_replica_id(kafka_protocol::messages::BrokerId(-1))
            .with_topics(vec![
                ListOffsetsTopic::default()
                    .with_name(topic("t"))
                    .with_partitions(vec![
                        ListOffsetsPartition::default()
                            .with_partition_index(0)
                            .with_timestamp(-1)
                            .with_current_leader_epoch(-1),
                    ]),
            ]);
        let response: ListOffsetsResponse = kafka.call(ApiKey::ListOffsets, version, &request);
        let partition = &response.topics[0].partitions[0];
        assert_eq!(
            (partition.error_code, partition.offset),
            (0, 2),
            "v{version}"
        );
        let epoch = if version >= 4 { 0 } else { -1 };
        assert_eq!(partition.leader_epoch, epoch, "v{version}");
    }
}
