//! One TCP connection to one broker (TLS over it with a [`ClientTls`]), with pipelined
//! requests. Public for programs that speak
//! the protocol below the [`Client`](crate::Client): ringlog's broker uses it for its
//! follower fetches.
//!
//! A writer task takes requests from a bounded channel, gives each the next correlation id,
//! records it in flight and writes it; a reader task cuts response frames (refusing any over
//! `max_frame_bytes` from its length field alone), matches each to the oldest request in
//! flight and decodes it as that request's API. At most `max_in_flight` requests are queued or
//! in flight at once (a semaphore whose permit each request holds until answered).
//!
//! When the connection ends (closed by the broker, a read or write error, a protocol
//! violation, a request that timed out, the [`Connection`] dropped) every request in flight
//! fails at once with [`ClientError::ConnectionClosed`], which is retriable, and so does every
//! later request on it: the client's cluster (its connections per broker) opens a new connection.
//!
//! The first request on a connection is ApiVersions (at version 0); every later request goes
//! at the highest version both this build and the broker speak (`negotiate`), and one the
//! broker does not speak at any version this build does is refused before sending.
//!
//! With a [`ClientSasl`], the connection logs in right after ApiVersions (SaslHandshake, then
//! the mechanism's messages in SaslAuthenticate) before it takes any request; a broker whose
//! listener asks for SASL (it lists SaslHandshake) refuses a connection without it, and the
//! client says so rather than have its first request close the connection. When the login's
//! session expires (`connections_max_reauth_ms`), the connection logs in again at 85% of its
//! lifetime, before the next request that comes after then: while that runs no other request
//! is queued, because the broker closes a connection that sends one during the exchange.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::ClientError;
use crate::in_flight::{CorrelationIds, InFlight};
use crate::sasl::{ClientSasl, Login, Next};
use crate::tls::ClientTls;
use ringlog_wire::api::api_versions::ApiVersionsRequest;
use ringlog_wire::api::sasl_authenticate::SaslAuthenticateRequest;
use ringlog_wire::api::sasl_handshake::SaslHandshakeRequest;
use ringlog_wire::frame::{self, CORRELATION_ID_AT, LENGTH_PREFIX_LEN};
use ringlog_wire::{ApiKey, Request, Response, VersionRange, decode_response, encode_request};

/// The version of ApiVersions, the first request, sent before the broker's versions are known.
const API_VERSIONS_VERSION: u16 = 0;
/// How much the reader asks the socket for when it does not know the next frame's size yet.
const READ_CHUNK_BYTES: usize = 64 * 1024;
/// How an HTTP server's answer (`HTTP/1.1 400 Bad Request`) starts: read as a frame's length
/// field, 1213486160 bytes, over any sensible `max_frame_bytes`. Pointing a client at the
/// broker's metrics port is an easy mistake; the error says so rather than give that number.
const HTTP_ANSWER: &[u8] = b"HTTP";
/// How a TLS alert record starts (content type 21, version 3.x): what a TLS listener answers
/// a plaintext request with before it closes. Read as a length field it is over 350 MB.
const TLS_ALERT: &[u8] = &[0x15, 0x03];
/// The share of a session's lifetime after which the connection logs in again (Kafka's
/// clients pick 85% to 95%): the rest leaves room for the requests in flight and the exchange.
const RENEW_AT_PERCENT: u32 = 85;
/// A login's SaslAuthenticate round trips at most: SCRAM's two (PLAIN takes one).
const LOGIN_ROUND_TRIPS_MAX: usize = 2;

/// The limits of one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// How long opening the TCP connection and its ApiVersions exchange may take.
    pub connect_timeout: Duration,
    /// How long a request may wait for its answer, beyond the wait the request itself asks of
    /// the broker.
    pub request_timeout: Duration,
    /// Requests queued or in flight at once, at least 1.
    pub max_in_flight: usize,
    /// The largest response frame accepted, from its length field alone.
    pub max_frame_bytes: u32,
}

/// A connection to one broker. Cheap to share behind an `Arc`; dropping the last one stops
/// its tasks and fails what is in flight.
#[derive(Debug)]
pub struct Connection {
    address: String,
    limits: ConnectionLimits,
    outgoing: mpsc::Sender<Outgoing>,
    permits: Arc<Semaphore>,
    shared: Arc<Shared>,
    /// The versions the broker speaks, from ApiVersions.
    versions: HashMap<ApiKey, VersionRange>,
    /// Who the connection logs in as, if its listener asks for SASL.
    sasl: Option<ClientSasl>,
    /// When the login is to be renewed (`None`: never). Every request holds it shared while it
    /// is queued, a renewal holds it alone for its whole exchange.
    renew_at: tokio::sync::RwLock<Option<tokio::time::Instant>>,
    tasks: [JoinHandle<()>; 2],
}

/// A request on its way to the writer: the encoded frame (its correlation id still to be
/// written) and how to answer the caller.
#[derive(Debug)]
struct Outgoing {
    frame: Vec<u8>,
    pending: Pending,
}

/// What a request in flight needs to be answered.
#[derive(Debug)]
struct Pending {
    api_key: ApiKey,
    /// The version it was sent at, which its response is decoded at.
    api_version: u16,
    reply: oneshot::Sender<Result<Response, ClientError>>,
    /// Released when the request is answered or fails.
    _permit: OwnedSemaphorePermit,
}

/// What the caller, the writer and the reader share.
#[derive(Debug)]
struct Shared {
    address: String,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    in_flight: InFlight<Pending>,
    /// Set once, when the connection ends: the error every later request gets.
    closed: Option<ClientError>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("connection state lock poisoned")
    }

    /// Ends the connection: every request in flight fails with a `ConnectionClosed` naming
    /// `reason`, and so will every later one. Idempotent: the first reason stays.
    fn close(&self, reason: &str) {
        let mut state = self.lock();
        if state.closed.is_some() {
            return;
        }
        let error = ClientError::ConnectionClosed {
            address: self.address.clone(),
            in_flight: state.in_flight.len(),
            reason: reason.to_string(),
        };
        for pending in state.in_flight.drain() {
            let _ = pending.reply.send(Err(error.clone()));
        }
        state.closed = Some(error);
    }

    fn closed_error(&self) -> Option<ClientError> {
        self.lock().closed.clone()
    }
}

impl Connection {
    /// Opens a connection to `address` (`host:port`), over TLS with `tls`, asks the broker
    /// which versions it speaks, and logs in with `sasl`.
    pub async fn connect(
        address: &str,
        limits: ConnectionLimits,
        tls: Option<&ClientTls>,
        sasl: Option<&ClientSasl>,
    ) -> Result<Connection, ClientError> {
        assert!(limits.max_in_flight > 0, "max_in_flight must be at least 1");
        let connect_error = |source| ClientError::Connect {
            address: address.to_string(),
            source: Arc::new(source),
        };
        let stream = tokio::time::timeout(limits.connect_timeout, TcpStream::connect(address))
            .await
            .map_err(|_| ClientError::Timeout {
                what: format!("connect to {address}"),
                after: limits.connect_timeout,
            })?
            .map_err(connect_error)?;
        stream.set_nodelay(true).map_err(connect_error)?;
        let mut connection = match tls {
            None => {
                let (read, write) = stream.into_split();
                Connection::start(address, read, write, limits)
            }
            Some(tls) => {
                let handshake = tls.handshake(address, stream);
                let stream = tokio::time::timeout(limits.connect_timeout, handshake)
                    .await
                    .map_err(|_| ClientError::Timeout {
                        what: format!("TLS handshake with {address}"),
                        after: limits.connect_timeout,
                    })?
                    .map_err(connect_error)?;
                let (read, write) = tokio::io::split(stream);
                Connection::start(address, read, write, limits)
            }
        };
        connection.versions = connection.api_versions().await?;
        connection.sasl = sasl.cloned();
        let renew_at = connection.log_in().await?;
        *connection.renew_at.get_mut() = renew_at;
        Ok(connection)
    }

    /// Starts the writer and the reader on the connection's two halves (a TCP socket's own,
    /// or TLS's).
    fn start(
        address: &str,
        read: impl AsyncRead + Unpin + Send + 'static,
        write: impl AsyncWrite + Unpin + Send + 'static,
        limits: ConnectionLimits,
    ) -> Connection {
        let shared = Arc::new(Shared {
            address: address.to_string(),
            state: Mutex::default(),
        });
        let (outgoing, requests) = mpsc::channel(limits.max_in_flight);
        let writer = tokio::spawn(write_loop(Arc::clone(&shared), requests, write));
        let reader = tokio::spawn(read_loop(Arc::clone(&shared), read, limits.max_frame_bytes));
        Connection {
            address: address.to_string(),
            limits,
            outgoing,
            permits: Arc::new(Semaphore::new(limits.max_in_flight)),
            shared,
            versions: HashMap::new(),
            sasl: None,
            renew_at: tokio::sync::RwLock::new(None),
            tasks: [writer, reader],
        }
    }

    /// Logs in as the connection's [`ClientSasl`], if it has one: when to log in again, if the
    /// session expires. A listener that asks for SASL and a client without it (or the
    /// reverse) is an error here, before any other request.
    async fn log_in(&self) -> Result<Option<tokio::time::Instant>, ClientError> {
        let asks_sasl = self.versions.contains_key(&ApiKey::SASL_HANDSHAKE);
        let sasl = match (&self.sasl, asks_sasl) {
            (None, false) => return Ok(None),
            (Some(sasl), true) => sasl,
            (None, true) => {
                return Err(self.authentication(
                    None,
                    "its listener asks for a SASL login (THIN_SASL_PLAINTEXT or THIN_SASL_SSL): \
                     set ClientConfig::sasl (the CLI's --sasl-mechanism, --sasl-username, \
                     --sasl-password)"
                        .to_string(),
                ));
            }
            (Some(sasl), false) => {
                return Err(self.authentication(
                    Some(sasl),
                    "its listener does not ask for SASL (it lists no SaslHandshake): connect \
                     to the broker's THIN_SASL_PLAINTEXT or THIN_SASL_SSL listener, or leave \
                     SASL out"
                        .to_string(),
                ));
            }
        };
        let handshake = Request::SaslHandshake(SaslHandshakeRequest {
            mechanism: sasl.mechanism.name().to_string(),
        });
        match self.send_now(handshake, Duration::ZERO).await? {
            Response::SaslHandshake(_) => {}
            Response::Error(error) => return Err(self.authentication(Some(sasl), error.message)),
            other => return Err(self.unexpected(ApiKey::SASL_HANDSHAKE, &other)),
        }
        let (mut login, mut message) = Login::start(sasl, &mut ring::rand::SystemRandom::new());
        for _ in 0..LOGIN_ROUND_TRIPS_MAX {
            let request = Request::SaslAuthenticate(SaslAuthenticateRequest {
                auth_bytes: message,
            });
            let answer = match self.send_now(request, Duration::ZERO).await? {
                Response::SaslAuthenticate(answer) => answer,
                Response::Error(error) => {
                    return Err(self.authentication(Some(sasl), error.message));
                }
                other => return Err(self.unexpected(ApiKey::SASL_AUTHENTICATE, &other)),
            };
            match login.answer(&answer.auth_bytes) {
                Ok(Next::Send(next)) => message = next,
                Ok(Next::Done) => {
                    let lifetime = answer.session_lifetime;
                    let renew_in = lifetime * RENEW_AT_PERCENT / 100;
                    return Ok(
                        (!lifetime.is_zero()).then(|| tokio::time::Instant::now() + renew_in)
                    );
                }
                Err(why) => {
                    self.shared.close(&why);
                    return Err(self.authentication(Some(sasl), why));
                }
            }
        }
        let why = format!(
            "the {} exchange did not end within {LOGIN_ROUND_TRIPS_MAX} round trips",
            sasl.mechanism
        );
        self.shared.close(&why);
        Err(self.authentication(Some(sasl), why))
    }

    /// Logs in again if the session is due for it (another request may have done it while
    /// this one waited). A failure closes the connection, as the broker does.
    async fn renew_login(&self) -> Result<(), ClientError> {
        let mut renew_at = self.renew_at.write().await;
        if renew_at.is_some_and(|at| tokio::time::Instant::now() >= at) {
            *renew_at = self.log_in().await.inspect_err(|error| {
                self.shared
                    .close(&format!("the SASL login renewal failed: {error}"));
            })?;
        }
        Ok(())
    }

    /// A failed login (or a client and a listener that disagree on SASL): not retriable.
    fn authentication(&self, sasl: Option<&ClientSasl>, reason: String) -> ClientError {
        ClientError::Authentication {
            address: self.address.clone(),
            user: sasl.map(|sasl| sasl.username.clone()),
            reason,
        }
    }

    async fn api_versions(&self) -> Result<HashMap<ApiKey, VersionRange>, ClientError> {
        let request = Request::ApiVersions(ApiVersionsRequest);
        match self.send_now(request, Duration::ZERO).await? {
            Response::ApiVersions(response) => Ok(response
                .api_keys
                .into_iter()
                .map(|api| (api.api_key, api.versions))
                .collect()),
            Response::Error(error) => Err(ClientError::broker(
                format!("ApiVersions to {}", self.address),
                error.error_code,
                Some(error.message),
            )),
            other => Err(self.unexpected(ApiKey::API_VERSIONS, &other)),
        }
    }

    /// Whether the connection has ended; a closed connection fails every request.
    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed.is_some()
    }

    /// Sends `request` and waits for its response, at most `request_timeout` plus
    /// `server_wait` (the time the request itself lets the broker wait: a fetch's `max_wait`,
    /// an acks=all produce's timeout). A request that times out after it was sent closes the
    /// connection, as Kafka's client does: its answer would still arrive, in order, later.
    pub async fn send(
        &self,
        request: Request,
        server_wait: Duration,
    ) -> Result<Response, ClientError> {
        self.enqueue(request, server_wait).await?.wait().await
    }

    /// Queues `request` to be written after every request queued before it, and returns its
    /// answer to wait for ([`send`](Self::send) is both). A caller that needs its requests to
    /// reach the broker in its order (an idempotent producer's batches of one partition)
    /// queues them one after the other and waits for the answers in any order.
    pub async fn enqueue(
        &self,
        request: Request,
        server_wait: Duration,
    ) -> Result<Answer, ClientError> {
        loop {
            let renew_at = self.renew_at.read().await;
            if !renew_at.is_some_and(|at| tokio::time::Instant::now() >= at) {
                let answer = self.enqueue_now(request, server_wait).await;
                drop(renew_at);
                return answer;
            }
            drop(renew_at);
            self.renew_login().await?;
        }
    }

    /// [`send`](Self::send) without waiting for a login renewal: the login's own requests.
    async fn send_now(
        &self,
        request: Request,
        server_wait: Duration,
    ) -> Result<Response, ClientError> {
        self.enqueue_now(request, server_wait).await?.wait().await
    }

    /// [`enqueue`](Self::enqueue) without waiting for a login renewal.
    async fn enqueue_now(
        &self,
        request: Request,
        server_wait: Duration,
    ) -> Result<Answer, ClientError> {
        let api_key = request.api_key();
        let api_version = self.version_for(api_key)?;
        let timeout = self.limits.request_timeout + server_wait;
        let timed_out = || ClientError::Timeout {
            what: format!("{api_key} to {}", self.address),
            after: timeout,
        };
        let deadline = tokio::time::Instant::now() + timeout;
        let frame = encode_request(&request, api_version, frame::CorrelationId(0))
            .map_err(ClientError::Encode)?;
        let permit = tokio::time::timeout_at(deadline, Arc::clone(&self.permits).acquire_owned())
            .await
            .map_err(|_| timed_out())?
            .expect("the semaphore is never closed");
        if let Some(error) = self.shared.closed_error() {
            return Err(error);
        }
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            api_key,
            api_version,
            reply,
            _permit: permit,
        };
        if self
            .outgoing
            .send(Outgoing { frame, pending })
            .await
            .is_err()
        {
            return Err(self.closed_or("the writer stopped"));
        }
        Ok(Answer {
            shared: Arc::clone(&self.shared),
            api_key,
            timeout,
            deadline,
            answer,
        })
    }

    /// The version to send `api_key` at; an API the broker does not speak is refused.
    fn version_for(&self, api_key: ApiKey) -> Result<u16, ClientError> {
        if api_key == ApiKey::API_VERSIONS || self.versions.is_empty() {
            return Ok(API_VERSIONS_VERSION);
        }
        let ours = api_key.versions();
        let theirs = self.versions.get(&api_key).copied();
        negotiate(ours, theirs).ok_or_else(|| ClientError::UnsupportedApi {
            address: self.address.clone(),
            api_key,
        })
    }

    fn closed_or(&self, reason: &str) -> ClientError {
        self.shared.close(reason);
        self.shared.closed_error().expect("just closed")
    }

    /// The error for a response of another API than the request's: the codec decodes by the
    /// request's api key, so this is a bug in the client.
    pub fn unexpected(&self, api_key: ApiKey, response: &Response) -> ClientError {
        ClientError::Protocol {
            address: self.address.clone(),
            detail: format!("{api_key} answered with {:?}", response.api_key()),
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.shared.close("the client dropped the connection");
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Writes requests in the order they arrive, recording each in flight before writing it so a
/// response can never arrive before its request is known. Flushes when no other request is
/// waiting, so pipelined requests share writes.
async fn write_loop(
    shared: Arc<Shared>,
    mut requests: mpsc::Receiver<Outgoing>,
    write: impl AsyncWrite + Unpin,
) {
    let mut ids = CorrelationIds::default();
    let mut write = BufWriter::new(write);
    while let Some(Outgoing { mut frame, pending }) = requests.recv().await {
        let correlation_id = ids.next();
        frame[CORRELATION_ID_AT..CORRELATION_ID_AT + 4]
            .copy_from_slice(&correlation_id.0.to_be_bytes());
        {
            let mut state = shared.lock();
            if let Some(error) = &state.closed {
                let _ = pending.reply.send(Err(error.clone()));
                continue;
            }
            state.in_flight.push(correlation_id, pending);
        }
        let mut written = write.write_all(&frame).await;
        if written.is_ok() && requests.is_empty() {
            written = write.flush().await;
        }
        if let Err(error) = written {
            shared.close(&format!("write failed: {error}"));
            break;
        }
    }
    // Whatever is still queued fails like the requests in flight.
    requests.close();
    while let Ok(Outgoing { pending, .. }) = requests.try_recv() {
        let error = shared.closed_error();
        let _ = pending.reply.send(Err(error.unwrap_or_else(|| {
            ClientError::ConnectionClosed {
                address: shared.address.clone(),
                in_flight: 0,
                reason: "the writer stopped".into(),
            }
        })));
    }
}

/// Reads response frames and answers the requests in flight, in order, until the connection
/// ends; then closes it with the reason.
async fn read_loop(shared: Arc<Shared>, mut read: impl AsyncRead + Unpin, max_frame_bytes: u32) {
    let mut buf = BytesMut::with_capacity(READ_CHUNK_BYTES);
    let reason = loop {
        match answer_frames(&shared, &mut buf, max_frame_bytes) {
            Ok(()) => {}
            Err(reason) => break reason,
        }
        reserve_for_next_frame(&mut buf);
        match read.read_buf(&mut buf).await {
            Ok(0) if buf.is_empty() => break "closed by the broker".to_string(),
            Ok(0) => {
                break format!(
                    "closed by the broker inside a frame ({} bytes of it read)",
                    buf.len()
                );
            }
            Ok(_) => {}
            Err(error) => break format!("read failed: {error}"),
        }
    };
    shared.close(&reason);
}

/// Answers every whole frame in `buf`. An error is the reason to close the connection; the
/// request it concerned (if any) is answered with a protocol error first.
fn answer_frames(shared: &Shared, buf: &mut BytesMut, max_frame_bytes: u32) -> Result<(), String> {
    loop {
        let (correlation_id, body) = match frame::split_response_frame(buf, max_frame_bytes) {
            Ok(Some(frame)) => frame,
            Ok(None) => return Ok(()),
            Err(_) if buf.starts_with(HTTP_ANSWER) => {
                return Err(format!(
                    "{} answered with HTTP, not ringlog's protocol: is this the metrics port?",
                    shared.address
                ));
            }
            Err(_) if buf.starts_with(TLS_ALERT) => {
                return Err(format!(
                    "{} answered with a TLS alert: its listener speaks TLS (THIN_SSL); connect \
                     with TLS (ClientConfig::tls, the CLI's --tls-ca)",
                    shared.address
                ));
            }
            Err(error) => return Err(format!("bad response frame: {error}")),
        };
        let pending = shared
            .lock()
            .in_flight
            .complete(correlation_id)
            .map_err(|mismatch| mismatch.to_string())?;
        match decode_response(pending.api_key, pending.api_version, body) {
            Ok(response) => {
                let _ = pending.reply.send(Ok(response));
            }
            Err(error) => {
                let detail = format!(
                    "{} response (correlation id {correlation_id}) does not decode: {error}",
                    pending.api_key
                );
                let _ = pending.reply.send(Err(ClientError::Protocol {
                    address: shared.address.clone(),
                    detail: detail.clone(),
                }));
                return Err(detail);
            }
        }
    }
}

/// The highest version in both ranges, if they meet.
fn negotiate(ours: Option<VersionRange>, theirs: Option<VersionRange>) -> Option<u16> {
    let (ours, theirs) = (ours?, theirs?);
    let version = ours.max.min(theirs.max);
    (version >= ours.min.max(theirs.min)).then_some(version)
}

/// Makes room for the rest of the frame at the start of `buf` (its length field was checked
/// against `max_frame_bytes` already), or for a chunk when its length is not known yet.
fn reserve_for_next_frame(buf: &mut BytesMut) {
    let wanted = match buf.get(..LENGTH_PREFIX_LEN) {
        Some(length) => {
            let length = u32::from_be_bytes(length.try_into().expect("4 bytes"));
            (LENGTH_PREFIX_LEN + length as usize).saturating_sub(buf.len())
        }
        None => READ_CHUNK_BYTES,
    };
    buf.reserve(wanted.max(1));
}

/// The answer to a request [`Connection::enqueue`] queued.
#[derive(Debug)]
pub struct Answer {
    shared: Arc<Shared>,
    api_key: ApiKey,
    timeout: Duration,
    deadline: tokio::time::Instant,
    answer: oneshot::Receiver<Result<Response, ClientError>>,
}

impl Answer {
    /// Waits for the response, at most the request's timeout from when it was queued. A
    /// request that times out after it was sent closes the connection, as Kafka's client
    /// does: its answer would still arrive, in order, later.
    pub async fn wait(self) -> Result<Response, ClientError> {
        match tokio::time::timeout_at(self.deadline, self.answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => {
                self.shared.close("the request was dropped");
                Err(self.shared.closed_error().expect("just closed"))
            }
            Err(_) => {
                self.shared.close(&format!(
                    "{} request timed out after {} ms",
                    self.api_key,
                    self.timeout.as_millis()
                ));
                Err(ClientError::Timeout {
                    what: format!("{} to {}", self.api_key, self.shared.address),
                    after: self.timeout,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringlog_wire::api::metadata::MetadataResponse;
    use ringlog_wire::{CorrelationId, ErrorCode, encode_response};

    fn shared() -> Shared {
        Shared {
            address: "127.0.0.1:9".into(),
            state: Mutex::default(),
        }
    }

    /// Records a request in flight; returns where its answer will arrive.
    fn in_flight(
        shared: &Shared,
        id: u32,
        api_key: ApiKey,
    ) -> oneshot::Receiver<Result<Response, ClientError>> {
        let (reply, answer) = oneshot::channel();
        let permit = Arc::new(Semaphore::new(1)).try_acquire_owned().unwrap();
        let pending = Pending {
            api_key,
            api_version: 0,
            reply,
            _permit: permit,
        };
        shared.lock().in_flight.push(CorrelationId(id), pending);
        answer
    }

    fn metadata_frame(id: u32) -> Vec<u8> {
        let response = Response::Metadata(MetadataResponse {
            brokers: vec![],
            topics: vec![],
        });
        encode_response(&response, 0, CorrelationId(id)).unwrap()
    }

    #[test]
    fn frames_answer_the_requests_in_flight_in_order_decoded_as_their_api() {
        let shared = shared();
        let mut first = in_flight(&shared, 1, ApiKey::METADATA);
        let mut second = in_flight(&shared, 2, ApiKey::CREATE_TOPICS);
        let refusal = Response::Error(ringlog_wire::ErrorResponse {
            error_code: ErrorCode::UNSUPPORTED_VERSION,
            message: "no".into(),
        });
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&metadata_frame(1));
        let second_frame = encode_response(&refusal, 0, CorrelationId(2)).unwrap();
        // The second frame arrives in two reads.
        buf.extend_from_slice(&second_frame[..5]);
        answer_frames(&shared, &mut buf, 1 << 20).unwrap();
        assert!(matches!(first.try_recv(), Ok(Ok(Response::Metadata(_)))));
        assert!(
            second.try_recv().is_err(),
            "not answered before its frame is whole"
        );
        buf.extend_from_slice(&second_frame[5..]);
        answer_frames(&shared, &mut buf, 1 << 20).unwrap();
        assert_eq!(second.try_recv().unwrap().unwrap(), refusal);
        assert!(buf.is_empty());
    }

    #[test]
    fn a_frame_out_of_order_is_a_reason_to_close() {
        let shared = shared();
        let _first = in_flight(&shared, 1, ApiKey::METADATA);
        let _second = in_flight(&shared, 2, ApiKey::METADATA);
        let mut buf = BytesMut::from(&metadata_frame(2)[..]);
        let reason = answer_frames(&shared, &mut buf, 1 << 20).unwrap_err();
        assert_eq!(
            reason,
            "response with correlation id 2, expected 1 (responses come in request order)"
        );
    }

    #[test]
    fn a_frame_over_max_frame_bytes_is_refused_from_its_length_field() {
        let shared = shared();
        let _first = in_flight(&shared, 1, ApiKey::METADATA);
        // Only the length field has arrived.
        let mut buf = BytesMut::from(&metadata_frame(1)[..4]);
        let reason = answer_frames(&shared, &mut buf, 8).unwrap_err();
        assert_eq!(
            reason,
            "bad response frame: frame of 14 bytes exceeds max_frame_bytes 8"
        );
    }

    #[test]
    fn an_http_answer_is_named_as_such_not_as_a_frame_length() {
        let shared = shared();
        let _first = in_flight(&shared, 1, ApiKey::API_VERSIONS);
        let mut buf = BytesMut::from(&b"HTTP/1.1 400 Bad Request\r\n"[..]);
        let reason = answer_frames(&shared, &mut buf, 1 << 20).unwrap_err();
        assert_eq!(
            reason,
            "127.0.0.1:9 answered with HTTP, not ringlog's protocol: is this the metrics port?"
        );
    }

    #[test]
    fn an_undecodable_body_fails_its_request_with_a_protocol_error() {
        let shared = shared();
        let mut answer = in_flight(&shared, 1, ApiKey::METADATA);
        let mut frame = metadata_frame(1);
        frame.push(0); // a trailing byte
        frame[3] += 1;
        let mut buf = BytesMut::from(&frame[..]);
        let reason = answer_frames(&shared, &mut buf, 1 << 20).unwrap_err();
        assert!(reason.contains("does not decode"), "{reason}");
        let error = answer.try_recv().unwrap().unwrap_err();
        assert!(matches!(error, ClientError::Protocol { .. }), "{error}");
    }

    #[test]
    fn closing_fails_every_request_in_flight_and_every_later_one() {
        let shared = shared();
        let mut answers: Vec<_> = (1..=3)
            .map(|id| in_flight(&shared, id, ApiKey::FETCH))
            .collect();
        shared.close("closed by the broker");
        shared.close("a second reason is ignored");
        for answer in &mut answers {
            let error = answer.try_recv().unwrap().unwrap_err();
            assert!(error.is_retriable());
            assert_eq!(
                error.to_string(),
                "connection to 127.0.0.1:9 closed with 3 requests in flight: closed by the broker"
            );
        }
        assert!(shared.closed_error().is_some());
        assert_eq!(shared.lock().in_flight.len(), 0);
    }

    #[test]
    fn requests_go_at_the_highest_version_both_sides_speak() {
        let range = |min, max| Some(VersionRange { min, max });
        assert_eq!(negotiate(range(0, 1), range(0, 0)), Some(0));
        assert_eq!(negotiate(range(0, 1), range(0, 3)), Some(1));
        assert_eq!(negotiate(range(2, 3), range(0, 1)), None);
        assert_eq!(negotiate(range(0, 1), None), None);
    }

    #[test]
    fn the_reader_reserves_the_rest_of_a_frame_or_a_chunk() {
        let mut buf = BytesMut::new();
        reserve_for_next_frame(&mut buf);
        assert!(buf.capacity() >= READ_CHUNK_BYTES);
        let mut buf = BytesMut::from(&[0u8, 1, 0, 0][..]);
        reserve_for_next_frame(&mut buf);
        assert!(buf.capacity() >= 4 + 0x1_0000);
    }
}
