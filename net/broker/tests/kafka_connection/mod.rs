//! One connection to a broker's Kafka listener for the broker's Kafka tests: a request, encoded
//! by the `kafka-protocol` crate at a version, and its response decoded whole.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};

/// How long a response may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// What a Kafka connection runs over: a socket, or TLS over one.
pub(crate) trait Stream: Read + Write {}

impl<T: Read + Write> Stream for T {}

/// One connection to a broker's Kafka listener: a request at a version, its response.
pub(crate) struct Kafka {
    stream: Box<dyn Stream>,
    correlation_id: i32,
}

impl Kafka {
    #[allow(dead_code, reason = "not every test file connects in plaintext")]
    pub(crate) fn connect(addr: SocketAddr) -> Kafka {
        Kafka::over(connect_socket(addr))
    }

    /// A connection over `stream` (TLS over a socket of [`connect_socket`]).
    #[allow(dead_code, reason = "the TLS tests'")]
    pub(crate) fn over(stream: impl Stream + 'static) -> Kafka {
        Kafka {
            stream: Box::new(stream),
            correlation_id: 0,
        }
    }

    pub(crate) fn call<R: Request>(&mut self, version: i16, request: &R) -> R::Response {
        self.try_call(version, request)
            .unwrap_or_else(|error| panic!("{:?} v{version}: {error}", R::KEY))
    }

    /// [`Self::call`], or the error of a connection the broker closed (or reset) instead of
    /// answering.
    pub(crate) fn try_call<R: Request>(
        &mut self,
        version: i16,
        request: &R,
    ) -> std::io::Result<R::Response> {
        self.correlation_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("ringlog-broker-test")));
        let mut body = BytesMut::new();
        header
            .encode(&mut body, R::header_version(version))
            .unwrap();
        request.encode(&mut body, version).unwrap();
        let mut frame = BytesMut::new();
        frame.put_i32(i32::try_from(body.len()).unwrap());
        frame.extend_from_slice(&body);
        self.stream.write_all(&frame)?;

        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size)?;
        let mut response = vec![0u8; i32::from_be_bytes(size) as usize];
        self.stream.read_exact(&mut response)?;
        let mut response = Bytes::from(response);
        let header =
            ResponseHeader::decode(&mut response, R::Response::header_version(version)).unwrap();
        assert_eq!(header.correlation_id, self.correlation_id);
        let decoded = R::Response::decode(&mut response, version).unwrap();
        assert_eq!(response.remaining(), 0, "the response is decoded whole");
        Ok(decoded)
    }

    /// Whether the broker closed the connection: nothing more to read (or a reset), within
    /// the test's timeout.
    #[allow(dead_code, reason = "the SASL tests'")]
    pub(crate) fn is_closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        match self.stream.read(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(error) => matches!(
                error.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::BrokenPipe
            ),
        }
    }
}

/// A socket to `addr` whose reads give up after the test's timeout.
pub(crate) fn connect_socket(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream
}
