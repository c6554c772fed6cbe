//! The controller's listener: one task per connection, reading request frames, answering each
//! in turn. A frame that breaks the framing (too large, too short) closes its connection; a
//! whole frame that cannot be served (an unknown api key, a body that does not decode, a Raft
//! RPC to an observer) gets a refusal with an error code, and the connection goes on.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use serde::de::DeserializeOwned;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::node::Node;
use crate::raft_types::{NodeId, Raft, TypeConfig};
use crate::rpc::{self, FRAME_BYTES_MAX, FetchMetadataRequest, SubmitRequest};
use crate::transport::Stream;
use ringlog_wire::error_code::ErrorCode;
use ringlog_wire::frame::{RequestHeader, split_request_frame};

/// The most connections served at once; more are closed as they are accepted. With
/// [`FRAME_BYTES_MAX`] it bounds what the listener buffers: 64 x 16 MiB.
const CONNECTIONS_MAX: usize = 64;
/// The longest a forwarded submit may ask this node to wait for its command.
const SUBMIT_WAIT_MAX: Duration = Duration::from_secs(60);

/// How long a TLS handshake may take before its connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts connections until the runtime stops; with `tls`, each speaks TLS and shows a
/// certificate `tls` trusts (else it is dropped before a frame is read).
pub(crate) async fn serve(
    listener: TcpListener,
    node: Arc<Node>,
    tls: Option<Arc<rustls::ServerConfig>>,
) {
    let permits = Arc::new(Semaphore::new(CONNECTIONS_MAX));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: wait, rather than spin.
                tracing::warn!(%error, "controller: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            tracing::warn!(%peer, "controller: too many connections; closing a new one");
            continue;
        };
        let node = Arc::clone(&node);
        let tls = tls.clone();
        tokio::spawn(async move {
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(%peer, %error, "controller: connection closed");
                return;
            }
            let stream: Box<dyn Stream> = match tls {
                None => Box::new(stream),
                Some(tls) => {
                    let accept = tokio_rustls::TlsAcceptor::from(tls).accept(stream);
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, accept).await {
                        Ok(Ok(stream)) => Box::new(stream),
                        Ok(Err(error)) => {
                            // A peer without the cluster's credentials: it may not vote, submit
                            // or read the metadata.
                            tracing::warn!(%peer, %error, "controller: TLS handshake refused");
                            return;
                        }
                        Err(_) => {
                            tracing::warn!(%peer, "controller: TLS handshake timed out");
                            return;
                        }
                    }
                }
            };
            if let Err(reason) = serve_connection(stream, &node).await {
                tracing::debug!(%peer, %reason, "controller: connection closed");
            }
            drop(permit);
        });
    }
}

async fn serve_connection(mut stream: Box<dyn Stream>, node: &Node) -> Result<(), String> {
    let mut buf = BytesMut::new();
    loop {
        let split = split_request_frame(&mut buf, FRAME_BYTES_MAX).map_err(|e| e.to_string())?;
        let Some((header, body)) = split else {
            let read = stream.read_buf(&mut buf).await.map_err(|e| e.to_string())?;
            if read == 0 {
                return Ok(());
            }
            continue;
        };
        let response = answer(node, header, body).await;
        stream
            .write_all(&response)
            .await
            .map_err(|e| e.to_string())?;
    }
}

/// The response frame to one request.
async fn answer(node: &Node, header: RequestHeader, body: Bytes) -> Vec<u8> {
    let correlation_id = header.correlation_id;
    let refuse =
        |code: ErrorCode, message: String| rpc::encode_refusal(correlation_id, code, &message);
    if header.api_version != rpc::API_VERSION {
        let message = format!(
            "api key {} version {}: only version {} is spoken",
            header.api_key.0,
            header.api_version,
            rpc::API_VERSION
        );
        return refuse(ErrorCode::UNSUPPORTED_VERSION, message);
    }
    let raft = node.raft.as_ref();
    let result = match header.api_key {
        rpc::VOTE => serve_raft(raft, node, header, &body, vote).await,
        rpc::APPEND_ENTRIES => serve_raft(raft, node, header, &body, append_entries).await,
        rpc::INSTALL_SNAPSHOT => serve_raft(raft, node, header, &body, install_snapshot).await,
        rpc::SUBMIT => match decode::<SubmitRequest>(&body) {
            Ok(request) => {
                let wait = Duration::from_millis(request.timeout_ms).min(SUBMIT_WAIT_MAX);
                let answer = node.propose(request.command, wait).await;
                Ok(rpc::encode_response(correlation_id, &answer))
            }
            Err(reason) => Err((ErrorCode::INVALID_REQUEST, reason)),
        },
        rpc::FETCH_METADATA => match decode::<FetchMetadataRequest>(&body) {
            Ok(request) => {
                let answer = node.fetch_metadata(request).await;
                Ok(rpc::encode_response(correlation_id, &answer))
            }
            Err(reason) => Err((ErrorCode::INVALID_REQUEST, reason)),
        },
        other => Err((
            ErrorCode::UNSUPPORTED_VERSION,
            format!("api key {} is not a controller api", other.0),
        )),
    };
    match result {
        Ok(frame) => frame,
        Err((code, message)) => refuse(code, message),
    }
}

type Served = Result<Vec<u8>, (ErrorCode, String)>;

/// Decodes a Raft RPC, hands it to this node's Raft and answers its `Result` as the JSON body.
async fn serve_raft<Request, Fut, Response>(
    raft: Option<&Raft>,
    node: &Node,
    header: RequestHeader,
    body: &[u8],
    call: fn(Raft, Request) -> Fut,
) -> Served
where
    Request: DeserializeOwned,
    Fut: Future<Output = Response>,
    Response: serde::Serialize,
{
    let Some(raft) = raft else {
        let message = format!(
            "controller {} is an observer: it takes no raft rpc",
            node.id
        );
        return Err((ErrorCode::INVALID_REQUEST, message));
    };
    let request = decode::<Request>(body).map_err(|reason| (ErrorCode::INVALID_REQUEST, reason))?;
    let response = call(raft.clone(), request).await;
    Ok(rpc::encode_response(header.correlation_id, &response))
}

async fn vote(
    raft: Raft,
    request: VoteRequest<NodeId>,
) -> Result<openraft::raft::VoteResponse<NodeId>, RaftError<NodeId>> {
    raft.vote(request).await
}

async fn append_entries(
    raft: Raft,
    request: AppendEntriesRequest<TypeConfig>,
) -> Result<openraft::raft::AppendEntriesResponse<NodeId>, RaftError<NodeId>> {
    raft.append_entries(request).await
}

async fn install_snapshot(
    raft: Raft,
    request: InstallSnapshotRequest<TypeConfig>,
) -> Result<openraft::raft::InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>
{
    raft.install_snapshot(request).await
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("request body does not decode: {e}"))
}
