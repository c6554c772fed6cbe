//! A partition's log start offset, high watermark and log end offset, for `topic describe`.
//! The client library offers none of them directly; a Fetch answer carries all three, so each
//! leader is asked over a connection of its own (TLS when the command was given a CA), opened
//! for each of the two requests:
//!
//! 1. ListOffsets latest: the high watermark, an offset certainly in range to fetch from;
//! 2. Fetch from there with no wait and `max_bytes` 0: a consumer reads only below the high
//!    watermark, so no records come back, only the marks.
//!
//! The two answers are not one snapshot (the high watermark may move in between); the Fetch's
//! marks are the ones reported, and they are consistent with each other.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use bytes::BytesMut;
use ringlog_client::{BrokerId, ClientTls, Offset};
use ringlog_wire::api::Topic;
use ringlog_wire::api::fetch::{FetchPartition, FetchRequest};
use ringlog_wire::api::list_offsets::{ListOffsetsPartition, ListOffsetsRequest, OffsetSpec};
use ringlog_wire::api::metadata::MetadataRequest;
use ringlog_wire::frame::{CorrelationId, MAX_FRAME_BYTES_DEFAULT, split_response_frame};
use ringlog_wire::{Request, Response, decode_response, encode_request};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// The longest one request may take, connecting included.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// One partition's marks, as its leader reported them in one Fetch answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Marks {
    pub log_start_offset: Offset,
    pub high_watermark: Offset,
    pub log_end_offset: Offset,
}

/// The marks of `topic`'s partitions, asking each partition's leader in `leaders`. A partition
/// whose leader cannot be reached or answers with an error is left out, with a warning on
/// stderr: the rest of the description is still worth printing.
pub(super) async fn partition_marks(
    bootstrap: &[String],
    tls: Option<&ClientTls>,
    topic: &str,
    leaders: &BTreeMap<u32, BrokerId>,
) -> Result<BTreeMap<u32, Marks>> {
    let addresses = broker_addresses(bootstrap, tls, topic).await?;
    let mut by_leader: BTreeMap<BrokerId, Vec<u32>> = BTreeMap::new();
    for (&partition, &leader) in leaders {
        by_leader.entry(leader).or_default().push(partition);
    }
    let mut marks = BTreeMap::new();
    for (leader, partitions) in by_leader {
        let Some(address) = addresses.get(&leader) else {
            tracing::warn!("{topic}: leader {leader} is not in the metadata's broker list");
            continue;
        };
        match leader_marks(address, tls, topic, &partitions).await {
            Ok(found) => marks.extend(found),
            Err(e) => tracing::warn!("{topic}: offsets from broker {leader}: {e:#}"),
        }
    }
    Ok(marks)
}

/// Every broker's `host:port`, from the first bootstrap address that answers Metadata.
async fn broker_addresses(
    bootstrap: &[String],
    tls: Option<&ClientTls>,
    topic: &str,
) -> Result<BTreeMap<BrokerId, String>> {
    let mut last_error = anyhow!("no bootstrap address");
    for address in bootstrap {
        let request = Request::Metadata(MetadataRequest {
            topics: Some(vec![topic.to_string()]),
        });
        match call(address, tls, request).await {
            Ok(Response::Metadata(metadata)) => {
                return Ok(metadata
                    .brokers
                    .into_iter()
                    .map(|broker| {
                        let address = if broker.host.contains(':') {
                            format!("[{}]:{}", broker.host, broker.port)
                        } else {
                            format!("{}:{}", broker.host, broker.port)
                        };
                        (broker.broker_id, address)
                    })
                    .collect());
            }
            Ok(other) => last_error = anyhow!("Metadata answered with {:?}", other.api_key()),
            Err(e) => last_error = e,
        }
    }
    Err(last_error)
}

/// The marks of `partitions`, all led by the broker at `address`.
async fn leader_marks(
    address: &str,
    tls: Option<&ClientTls>,
    topic: &str,
    partitions: &[u32],
) -> Result<BTreeMap<u32, Marks>> {
    let request = Request::ListOffsets(ListOffsetsRequest {
        topics: vec![Topic {
            name: topic.to_string(),
            partitions: partitions
                .iter()
                .map(|&partition_index| ListOffsetsPartition {
                    partition_index,
                    current_leader_epoch: None,
                    spec: OffsetSpec::Latest,
                })
                .collect(),
        }],
    });
    let Response::ListOffsets(listed) = call(address, tls, request).await? else {
        bail!("ListOffsets to {address} answered with another API");
    };
    let mut fetch_from = Vec::new();
    for p in listed.topics.into_iter().flat_map(|t| t.partitions) {
        match p.offset {
            Some(offset) if p.error_code.is_none() => fetch_from.push(FetchPartition {
                partition_index: p.partition_index,
                current_leader_epoch: None,
                fetch_offset: offset,
                last_fetched_epoch: None,
                log_start_offset: None,
                partition_max_bytes: 0,
            }),
            _ => tracing::warn!(
                "{topic}-{}: ListOffsets answered {}",
                p.partition_index,
                p.error_code
            ),
        }
    }
    if fetch_from.is_empty() {
        return Ok(BTreeMap::new());
    }
    let request = Request::Fetch(FetchRequest {
        replica_id: None,
        max_wait: Duration::ZERO,
        min_bytes: 0,
        max_bytes: 0,
        topics: vec![Topic {
            name: topic.to_string(),
            partitions: fetch_from,
        }],
    });
    let Response::Fetch(fetched) = call(address, tls, request).await? else {
        bail!("Fetch to {address} answered with another API");
    };
    let mut marks = BTreeMap::new();
    for p in fetched.topics.into_iter().flat_map(|t| t.partitions) {
        match (p.log_start_offset, p.high_watermark, p.log_end_offset) {
            (Some(log_start_offset), Some(high_watermark), Some(log_end_offset))
                if p.error_code.is_none() =>
            {
                let found = Marks {
                    log_start_offset,
                    high_watermark,
                    log_end_offset,
                };
                marks.insert(p.partition_index, found);
            }
            _ => tracing::warn!(
                "{topic}-{}: Fetch answered {}",
                p.partition_index,
                p.error_code
            ),
        }
    }
    Ok(marks)
}

/// One request on a fresh connection to `address` (over TLS with `tls`), and its answer; a
/// whole-request refusal is an error naming its code.
async fn call(address: &str, tls: Option<&ClientTls>, request: Request) -> Result<Response> {
    let api_key = request.api_key();
    let answer = async {
        let stream = TcpStream::connect(address)
            .await
            .with_context(|| format!("connect to {address}"))?;
        match tls {
            Some(tls) => {
                let stream = tls
                    .handshake(address, stream)
                    .await
                    .with_context(|| format!("TLS to {address}"))?;
                exchange(stream, address, &request).await
            }
            None => exchange(stream, address, &request).await,
        }
    };
    let response = tokio::time::timeout(CALL_TIMEOUT, answer)
        .await
        .map_err(|_| {
            anyhow!(
                "{api_key} to {address} timed out after {} ms",
                CALL_TIMEOUT.as_millis()
            )
        })??;
    if let Response::Error(refusal) = &response {
        bail!(
            "{api_key} to {address}: broker answered {}: {}",
            refusal.error_code,
            refusal.message
        );
    }
    Ok(response)
}

/// `request` over `stream` to `address`, and its answer.
async fn exchange(
    mut stream: impl AsyncRead + AsyncWrite + Unpin,
    address: &str,
    request: &Request,
) -> Result<Response> {
    let api_key = request.api_key();
    let correlation_id = CorrelationId(1);
    stream
        .write_all(&encode_request(request, 0, correlation_id)?)
        .await
        .with_context(|| format!("send {api_key} to {address}"))?;
    let mut buffer = BytesMut::with_capacity(4096);
    loop {
        if let Some((answered, body)) = split_response_frame(&mut buffer, MAX_FRAME_BYTES_DEFAULT)?
        {
            if answered != correlation_id {
                bail!("{address} answered correlation id {answered:?}, not {correlation_id:?}");
            }
            return Ok(decode_response(api_key, 0, body)?);
        }
        let read = stream
            .read_buf(&mut buffer)
            .await
            .with_context(|| format!("read the answer to {api_key} from {address}"))?;
        if read == 0 {
            bail!("{address} closed the connection before answering {api_key}");
        }
    }
}
