//! A client connection to another controller: one request at a time, connected on first use
//! and again after any failure, every call bounded by a timeout; over TLS when the quorum
//! speaks it ([`crate::ControllerTls`]).

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::rpc::{self, FRAME_BYTES_MAX, ResponseBody};
use ringlog_wire::ApiKey;
use ringlog_wire::frame::{CorrelationId, split_response_frame};

/// Why a call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CallError {
    /// Nothing was sent: the request frame is larger than [`FRAME_BYTES_MAX`].
    #[error("request frame of {len} bytes exceeds {FRAME_BYTES_MAX}")]
    TooLarge { len: usize },
    /// Connect, send or receive failed or timed out; the connection was dropped.
    #[error("{0}")]
    Transport(String),
    /// The peer answered with an error code instead of a result.
    #[error("error code {code}: {message}")]
    Refused { code: i16, message: String },
}

/// What a controller connection runs over: a socket, or TLS over one.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send + Sync {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Stream for T {}

pub(crate) struct Connection {
    addr: String,
    /// TLS to the peer, with this node's certificate.
    tls: Option<Arc<rustls::ClientConfig>>,
    stream: Option<Box<dyn Stream>>,
    buf: BytesMut,
    next_correlation_id: u32,
    /// A call's exchange is under way; still set when the next call starts if the last one was
    /// cancelled midway, which leaves the stream unusable (half a frame sent, or an answer
    /// unread).
    in_flight: bool,
}

impl Connection {
    pub(crate) fn new(addr: String, tls: Option<Arc<rustls::ClientConfig>>) -> Connection {
        Connection {
            addr,
            tls,
            stream: None,
            buf: BytesMut::new(),
            next_correlation_id: 0,
            in_flight: false,
        }
    }

    pub(crate) fn addr(&self) -> &str {
        &self.addr
    }

    /// Sends `body` as a request of `api_key` and returns the JSON of the answer. On any
    /// transport failure the connection is dropped, to be made anew by the next call.
    pub(crate) async fn call(
        &mut self,
        api_key: ApiKey,
        body: &impl Serialize,
        timeout: Duration,
    ) -> Result<Bytes, CallError> {
        let correlation_id = CorrelationId(self.next_correlation_id);
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let frame = rpc::encode_request(api_key, correlation_id, body);
        if frame.len() > FRAME_BYTES_MAX as usize {
            return Err(CallError::TooLarge { len: frame.len() });
        }
        if self.in_flight {
            self.stream = None;
        }
        self.in_flight = true;
        let exchange = self.exchange(&frame, correlation_id);
        let result = match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {timeout:?}")),
        };
        self.in_flight = false;
        let body = result.map_err(|reason| {
            self.stream = None;
            CallError::Transport(format!("{}: {reason}", self.addr))
        })?;
        match rpc::decode_response_body(body) {
            Ok(ResponseBody::Json(json)) => Ok(json),
            Ok(ResponseBody::Refused { code, message }) => Err(CallError::Refused {
                code: code.0,
                message,
            }),
            Err(reason) => {
                self.stream = None;
                Err(CallError::Transport(format!("{}: {reason}", self.addr)))
            }
        }
    }

    async fn exchange(
        &mut self,
        frame: &[u8],
        correlation_id: CorrelationId,
    ) -> Result<Bytes, String> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(&self.addr)
                .await
                .map_err(|e| format!("connect: {e}"))?;
            stream
                .set_nodelay(true)
                .map_err(|e| format!("set nodelay: {e}"))?;
            let stream: Box<dyn Stream> = match &self.tls {
                None => Box::new(stream),
                Some(tls) => {
                    let name = ringlog_security::tls::server_name(&self.addr)?;
                    let connector = tokio_rustls::TlsConnector::from(Arc::clone(tls));
                    let stream = connector
                        .connect(name, stream)
                        .await
                        .map_err(|e| format!("TLS: {e}"))?;
                    Box::new(stream)
                }
            };
            self.buf.clear();
            self.stream = Some(stream);
        }
        let stream = self.stream.as_mut().expect("connected above");
        stream
            .write_all(frame)
            .await
            .map_err(|e| format!("send: {e}"))?;
        loop {
            let split = split_response_frame(&mut self.buf, FRAME_BYTES_MAX);
            match split.map_err(|e| format!("receive: {e}"))? {
                Some((received, body)) if received == correlation_id => return Ok(body),
                Some((received, _)) => {
                    return Err(format!(
                        "response to correlation id {received} where {correlation_id} was expected"
                    ));
                }
                None => {}
            }
            let read = stream
                .read_buf(&mut self.buf)
                .await
                .map_err(|e| format!("receive: {e}"))?;
            if read == 0 {
                return Err("connection closed by the peer".to_string());
            }
        }
    }
}
