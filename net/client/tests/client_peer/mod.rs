//! A scripted broker for the client's transport tests: a real TCP listener on 127.0.0.1
//! port 0 that decodes each request with `ringlog_wire` and answers what the test's
//! script says, in request order, as the protocol requires. It answers ApiVersions itself.
//! Only for scripting answers (errors, drops, delays); the real broker's tests come later.

#![allow(dead_code, reason = "each test file uses a different part of the peer")]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use ringlog_client::{BrokerId, ClientConfig};
use ringlog_format::LeaderEpoch;
use ringlog_wire::api::api_versions::ApiVersionsResponse;
use ringlog_wire::api::init_producer_id::InitProducerIdResponse;
use ringlog_wire::api::metadata::{
    MetadataBroker, MetadataPartition, MetadataResponse, MetadataTopic,
};
use ringlog_wire::frame::{MAX_FRAME_BYTES_DEFAULT, split_request_frame};
use ringlog_wire::{
    ApiKey, CorrelationId, ErrorCode, Request, Response, decode_request, encode_response,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The producer id the peer gives every InitProducerId.
pub(crate) const PRODUCER_ID: i64 = 7_000;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Every test's bound on its own run time.
pub(crate) const TEST_TIMEOUT: Duration = Duration::from_secs(20);

/// What the script does with one request.
pub(crate) enum Action {
    /// Answer now (after the answers before it).
    Reply(Response),
    /// Answer after a pause; later answers wait behind it.
    ReplyAfter(Duration, Response),
    /// Close the connection without answering this request or any after it.
    Close,
    /// Never answer this request (nor any after it on this connection).
    Silence,
}

/// What the script sees about a request.
pub(crate) struct Seen<'a> {
    pub request: &'a Request,
    /// Which accepted connection, from 0.
    pub connection: usize,
    pub received: Instant,
}

type Script = Box<dyn FnMut(Seen<'_>) -> Action + Send>;

/// A request as received, for the test's assertions.
#[derive(Clone, Debug)]
pub(crate) struct Received {
    pub request: Request,
    pub connection: usize,
    pub at: Instant,
}

/// A listener bound before its script exists, so several brokers can name each other's ports
/// in their Metadata answers.
pub(crate) struct Bound {
    pub id: u32,
    pub port: u16,
    listener: TcpListener,
}

impl Bound {
    pub(crate) async fn new(id: u32) -> Bound {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        Bound { id, port, listener }
    }

    pub(crate) fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub(crate) fn broker(&self) -> MetadataBroker {
        MetadataBroker {
            broker_id: BrokerId(self.id),
            host: "127.0.0.1".into(),
            port: self.port,
            rack: None,
        }
    }

    /// Starts answering with `script`.
    pub(crate) fn serve(self, script: impl FnMut(Seen<'_>) -> Action + Send + 'static) -> Peer {
        let received = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Mutex<Script>> = Arc::new(Mutex::new(Box::new(script)));
        let address = self.address();
        let task = tokio::spawn(accept_loop(self.listener, script, Arc::clone(&received)));
        Peer {
            address,
            received,
            task,
        }
    }
}

/// A running scripted broker; stops when dropped.
pub(crate) struct Peer {
    pub address: String,
    received: Arc<Mutex<Vec<Received>>>,
    task: JoinHandle<()>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Peer {
    /// Every request received so far (ApiVersions included), in order.
    pub(crate) fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The requests of one API received so far.
    pub(crate) fn requests(&self, api_key: ApiKey) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.request.api_key() == api_key)
            .collect()
    }
}

async fn accept_loop(
    listener: TcpListener,
    script: Arc<Mutex<Script>>,
    received: Arc<Mutex<Vec<Received>>>,
) {
    let mut connections = Vec::new();
    for connection in 0.. {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let script = Arc::clone(&script);
        let received = Arc::clone(&received);
        connections.push(tokio::spawn(serve_connection(
            stream, connection, script, received,
        )));
    }
}

/// Reads requests as they come and hands the answers to a writer that sends them in order.
async fn serve_connection(
    stream: TcpStream,
    connection: usize,
    script: Arc<Mutex<Script>>,
    received: Arc<Mutex<Vec<Received>>>,
) {
    let (mut read, mut write) = stream.into_split();
    let (answers, mut to_send) =
        mpsc::unbounded_channel::<(CorrelationId, Option<Duration>, Response)>();
    let writer = tokio::spawn(async move {
        while let Some((correlation_id, pause, response)) = to_send.recv().await {
            if let Some(pause) = pause {
                tokio::time::sleep(pause).await;
            }
            let frame = encode_response(&response, 0, correlation_id).unwrap();
            if write.write_all(&frame).await.is_err() {
                return;
            }
        }
    });
    let mut buf = BytesMut::new();
    loop {
        let frame = split_request_frame(&mut buf, MAX_FRAME_BYTES_DEFAULT).unwrap();
        let Some((header, body)) = frame else {
            if read.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                break;
            }
            continue;
        };
        let request = decode_request(&header, body).unwrap();
        let at = Instant::now();
        received.lock().unwrap().push(Received {
            request: request.clone(),
            connection,
            at,
        });
        let action = if request.api_key() == ApiKey::API_VERSIONS {
            Action::Reply(Response::ApiVersions(thin_listener_versions()))
        } else if request.api_key() == ApiKey::INIT_PRODUCER_ID {
            // Every producer is idempotent by default and asks for its id first.
            Action::Reply(Response::InitProducerId(InitProducerIdResponse {
                producer_id: PRODUCER_ID,
                producer_epoch: 0,
            }))
        } else {
            let seen = Seen {
                request: &request,
                connection,
                received: at,
            };
            (script.lock().unwrap())(seen)
        };
        let id = header.correlation_id;
        let sent = match action {
            Action::Reply(response) => answers.send((id, None, response)),
            Action::ReplyAfter(pause, response) => answers.send((id, Some(pause), response)),
            Action::Close => break,
            Action::Silence => {
                // Keep the connection open, never answer again; a closed writer half would
                // look like a close to the client.
                loop {
                    if read.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                        return;
                    }
                }
            }
        };
        if sent.is_err() {
            break;
        }
    }
    writer.abort();
}

/// A client config for `bootstrap` with short timeouts and backoffs, so failing paths end
/// quickly.
pub(crate) fn config(bootstrap: &[&str]) -> ClientConfig {
    ClientConfig {
        bootstrap: bootstrap.iter().map(|a| a.to_string()).collect(),
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(2),
        retry_backoff: Duration::from_millis(10),
        retry_backoff_max: Duration::from_millis(50),
        ..ClientConfig::default()
    }
}

/// A Metadata answer: `brokers`, and topics with each partition's leader.
pub(crate) fn metadata(brokers: &[MetadataBroker], topics: &[(&str, &[u32])]) -> Response {
    Response::Metadata(MetadataResponse {
        brokers: brokers.to_vec(),
        topics: topics
            .iter()
            .map(|(name, leaders)| MetadataTopic {
                topic_id: ringlog_replication::TopicId::ZERO,
                error_code: ErrorCode::NONE,
                name: name.to_string(),
                partitions: leaders
                    .iter()
                    .enumerate()
                    .map(|(index, leader)| MetadataPartition {
                        error_code: ErrorCode::NONE,
                        partition_index: index as u32,
                        leader_id: Some(BrokerId(*leader)),
                        leader_epoch: Some(LeaderEpoch(1)),
                        replica_nodes: vec![BrokerId(*leader)],
                        isr_nodes: vec![BrokerId(*leader)],
                        offline_replicas: vec![],
                    })
                    .collect(),
            })
            .collect(),
    })
}

/// Runs `test` with the time bound every client test has.
pub(crate) async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(TEST_TIMEOUT, test)
        .await
        .expect("the test ran past its time bound")
}

/// What a broker's `THIN` listener advertises: every API the codec speaks but the SASL ones,
/// which only a `THIN_SASL_*` listener lists (and a client seeing them would log in first).
pub(crate) fn thin_listener_versions() -> ApiVersionsResponse {
    let mut versions = ApiVersionsResponse::supported();
    let sasl = [ApiKey::SASL_HANDSHAKE, ApiKey::SASL_AUTHENTICATE];
    versions.api_keys.retain(|api| !sasl.contains(&api.api_key));
    versions
}
