//! The kernel's TLS (kTLS) under the TLS listeners: once rustls has done a connection's
//! handshake, its record layer moves into the kernel, which then encrypts what the broker
//! sends and decrypts what it receives. Fetches then go out by `sendfile`, as on a plaintext
//! listener, instead of being read and encrypted in user space.
//!
//! | part | owns |
//! |------|------|
//! | [`probe`] | once per broker, at start: whether the kernel offers TLS (`TCP_ULP` "tls", then `TLS_TX` and `TLS_RX`, on a loopback connection of its own) |
//! | [`cipher_of`] | which negotiated suites the kernel can take: AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305, TLS 1.2 or 1.3 (every suite of rustls's ring provider); any other stays in rustls |
//! | [`CryptoInfo`] | libc's `tls12_crypto_info_*` of one direction, from the negotiated version, the traffic secret rustls extracted and the record sequence number (pure) |
//! | [`RecordBoundary`] | whether the ciphertext handed to rustls so far ends where a TLS record ends (pure) |
//! | [`offload`] | `TCP_ULP`, `TLS_TX`, `TLS_RX` on a connection's socket |
//!
//! # The scheme
//!
//! - **When a connection moves.** After its handshake, at the end of a receive whose bytes end
//!   on a record boundary (rustls holds no part of a record the kernel would then miss),
//!   every plaintext rustls decrypted taken, and every record rustls has to send (the end of
//!   the handshake, TLS 1.3's session tickets) written to the socket; only then are the
//!   secrets extracted (which ends the rustls session) and set on the socket. A receive that
//!   ends inside a record leaves it in rustls until one that does not; so does a socket too
//!   full for rustls's records.
//! - **Receiving.** The kernel decrypts; the broker reads application data with the same
//!   `recv` as on a plaintext connection. A record of another type (an alert, close_notify
//!   included; a TLS 1.3 KeyUpdate or other post-handshake message) fails that `recv` with
//!   `EIO`, and the broker closes the connection, as rustls closes one on an alert. Of the
//!   post-handshake messages a client sends, only a KeyUpdate matters: rustls's client sends
//!   one near the AES-GCM confidentiality limit (2^24 records, up to 256 GiB, one way),
//!   and then reconnects. No client renegotiates with rustls's server (it refuses).
//! - **Sending.** `send` and `sendfile` as on a plaintext connection; the kernel cuts records
//!   of up to 16 KiB. The kernel never updates a key: a connection whose records sent reach
//!   half its suite's confidentiality limit (counted as one record per 16 KiB and per send)
//!   is closed once its responses owed are written, and its client reconnects.
//! - **Closing.** As a plaintext connection: no close_notify is sent.

use std::io;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};

use rustls::{
    CipherSuite, ConnectionTrafficSecrets, ExtractedSecrets, ProtocolVersion, SupportedCipherSuite,
};

/// The most plaintext a TLS record carries.
pub(crate) const RECORD_PLAINTEXT_MAX: u64 = 16 * 1024;
/// A TLS record's header: type (1), version (2), length (2, big-endian).
const RECORD_HEADER_LEN: usize = 5;

/// Whether the kernel offers TLS, as [`probe`] found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum KernelTls {
    Available,
    /// Why not: the step that failed and the kernel's error.
    Unavailable(String),
}

/// Tries the kernel's TLS on a loopback connection made for it: the TLS upper-layer protocol,
/// then a (zero) AES-128-GCM key for TLS 1.3 each way. A kernel built without `CONFIG_TLS`
/// fails the first with `ENOENT`.
pub(crate) fn probe() -> KernelTls {
    let unavailable =
        |step: &str, error: io::Error| KernelTls::Unavailable(format!("{step}: {error}"));
    let pair = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|listener| {
        let client = TcpStream::connect(listener.local_addr()?)?;
        let (server, _) = listener.accept()?;
        Ok((client, server))
    });
    let (client, _server) = match pair {
        Ok(pair) => pair,
        Err(error) => return unavailable("a loopback connection to try it on", error),
    };
    let fd = client.as_raw_fd();
    if let Err(error) = set_ulp(fd) {
        return unavailable("setsockopt(TCP_ULP, \"tls\")", error);
    }
    let info = || {
        CryptoInfo::Aes128Gcm(libc::tls12_crypto_info_aes_gcm_128 {
            info: libc::tls_crypto_info {
                version: libc::TLS_1_3_VERSION,
                cipher_type: libc::TLS_CIPHER_AES_GCM_128,
            },
            iv: [0; 8],
            key: [0; 16],
            salt: [0; 4],
            rec_seq: [0; 8],
        })
    };
    if let Err(error) = set_crypto_info(fd, libc::TLS_TX, &info()) {
        return unavailable("setsockopt(SOL_TLS, TLS_TX)", error);
    }
    if let Err(error) = set_crypto_info(fd, libc::TLS_RX, &info()) {
        return unavailable("setsockopt(SOL_TLS, TLS_RX)", error);
    }
    KernelTls::Available
}

/// The kernel's ciphers, one per AEAD rustls negotiates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cipher {
    Aes128Gcm,
    Aes256Gcm,
    Chacha20Poly1305,
}

/// The kernel cipher of a negotiated suite; none for a suite the kernel does not take (the
/// connection stays in rustls).
pub(crate) fn cipher_of(suite: CipherSuite) -> Option<Cipher> {
    match suite {
        CipherSuite::TLS13_AES_128_GCM_SHA256
        | CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        | CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => Some(Cipher::Aes128Gcm),
        CipherSuite::TLS13_AES_256_GCM_SHA384
        | CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
        | CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => Some(Cipher::Aes256Gcm),
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256
        | CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        | CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => {
            Some(Cipher::Chacha20Poly1305)
        }
        _ => None,
    }
}

/// How many records a connection of `suite` may send under the kernel's TLS: half its
/// confidentiality limit (the kernel never updates the key).
pub(crate) fn records_budget(suite: SupportedCipherSuite) -> u64 {
    let common = match suite {
        SupportedCipherSuite::Tls12(suite) => &suite.common,
        SupportedCipherSuite::Tls13(suite) => &suite.common,
    };
    common.confidentiality_limit / 2
}

/// The most records a send of `bytes` made: one per 16 KiB, and one more for a send that does
/// not end on a record's end.
pub(crate) fn records_sent(bytes: u64) -> u64 {
    bytes / RECORD_PLAINTEXT_MAX + 1
}

/// One direction's crypto info for `setsockopt(SOL_TLS, TLS_TX | TLS_RX)`: libc's structs,
/// which are `repr(C)` byte arrays after two `u16`s (no padding). Zeroed when dropped.
pub(crate) enum CryptoInfo {
    Aes128Gcm(libc::tls12_crypto_info_aes_gcm_128),
    Aes256Gcm(libc::tls12_crypto_info_aes_gcm_256),
    Chacha20Poly1305(libc::tls12_crypto_info_chacha20_poly1305),
}

impl CryptoInfo {
    /// The crypto info of a direction whose next record is number `seq`, of a connection of
    /// `version` with `secrets`. AES-GCM's 12-byte nonce base is split as the kernel wants it:
    /// its first 4 bytes are the salt, the other 8 the IV (TLS 1.2's explicit nonce part);
    /// ChaCha20-Poly1305 takes all 12 as its IV.
    pub(crate) fn new(
        version: ProtocolVersion,
        seq: u64,
        secrets: ConnectionTrafficSecrets,
    ) -> Result<CryptoInfo, String> {
        let version = match version {
            ProtocolVersion::TLSv1_2 => libc::TLS_1_2_VERSION,
            ProtocolVersion::TLSv1_3 => libc::TLS_1_3_VERSION,
            other => return Err(format!("{other:?}: the kernel takes TLS 1.2 and 1.3")),
        };
        let rec_seq = seq.to_be_bytes();
        let info = |cipher_type| libc::tls_crypto_info {
            version,
            cipher_type,
        };
        Ok(match secrets {
            ConnectionTrafficSecrets::Aes128Gcm { key, iv } => {
                let (salt, iv) = iv.as_ref().split_at(4);
                CryptoInfo::Aes128Gcm(libc::tls12_crypto_info_aes_gcm_128 {
                    info: info(libc::TLS_CIPHER_AES_GCM_128),
                    iv: exact(iv, "AES-128-GCM iv")?,
                    key: exact(key.as_ref(), "AES-128-GCM key")?,
                    salt: exact(salt, "AES-128-GCM salt")?,
                    rec_seq,
                })
            }
            ConnectionTrafficSecrets::Aes256Gcm { key, iv } => {
                let (salt, iv) = iv.as_ref().split_at(4);
                CryptoInfo::Aes256Gcm(libc::tls12_crypto_info_aes_gcm_256 {
                    info: info(libc::TLS_CIPHER_AES_GCM_256),
                    iv: exact(iv, "AES-256-GCM iv")?,
                    key: exact(key.as_ref(), "AES-256-GCM key")?,
                    salt: exact(salt, "AES-256-GCM salt")?,
                    rec_seq,
                })
            }
            ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => {
                CryptoInfo::Chacha20Poly1305(libc::tls12_crypto_info_chacha20_poly1305 {
                    info: info(libc::TLS_CIPHER_CHACHA20_POLY1305),
                    iv: exact(iv.as_ref(), "ChaCha20-Poly1305 iv")?,
                    key: exact(key.as_ref(), "ChaCha20-Poly1305 key")?,
                    salt: [],
                    rec_seq,
                })
            }
            _ => return Err("a cipher the kernel does not take".to_string()),
        })
    }

    /// The struct as the kernel reads it.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        let (ptr, len): (*const u8, usize) = match self {
            CryptoInfo::Aes128Gcm(info) => (std::ptr::from_ref(info).cast(), size_of_val(info)),
            CryptoInfo::Aes256Gcm(info) => (std::ptr::from_ref(info).cast(), size_of_val(info)),
            CryptoInfo::Chacha20Poly1305(info) => {
                (std::ptr::from_ref(info).cast(), size_of_val(info))
            }
        };
        // SAFETY: each struct is repr(C), two u16s then u8 arrays: `len` initialised bytes
        // with no padding, borrowed as long as `self`.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}

impl Drop for CryptoInfo {
    fn drop(&mut self) {
        let (ptr, len): (*mut u8, usize) = match self {
            CryptoInfo::Aes128Gcm(info) => (std::ptr::from_mut(info).cast(), size_of_val(info)),
            CryptoInfo::Aes256Gcm(info) => (std::ptr::from_mut(info).cast(), size_of_val(info)),
            CryptoInfo::Chacha20Poly1305(info) => {
                (std::ptr::from_mut(info).cast(), size_of_val(info))
            }
        };
        for i in 0..len {
            // SAFETY: within the struct (see `as_bytes`), written through a unique borrow;
            // volatile so the key's erasure is not optimised away.
            unsafe { ptr.add(i).write_volatile(0) };
        }
    }
}

/// `bytes` as an array of exactly `N`.
fn exact<const N: usize>(bytes: &[u8], what: &str) -> Result<[u8; N], String> {
    bytes
        .try_into()
        .map_err(|_| format!("{what} of {} bytes, the kernel takes {N}", bytes.len()))
}

/// Moves a connection's record layer into the kernel: the TLS upper-layer protocol, then each
/// direction's key, IV and next sequence number from `secrets`. On an error the socket is in
/// an unknown state, and the rustls session the secrets came from is gone: the connection is
/// to be closed.
pub(crate) fn offload(
    fd: RawFd,
    version: ProtocolVersion,
    secrets: ExtractedSecrets,
) -> io::Result<()> {
    let invalid = |error: String| io::Error::new(io::ErrorKind::InvalidInput, error);
    let ExtractedSecrets {
        tx: (tx_seq, tx),
        rx: (rx_seq, rx),
    } = secrets;
    let tx = CryptoInfo::new(version, tx_seq, tx).map_err(invalid)?;
    let rx = CryptoInfo::new(version, rx_seq, rx).map_err(invalid)?;
    set_ulp(fd).map_err(|error| context(error, "setsockopt(TCP_ULP, \"tls\")"))?;
    set_crypto_info(fd, libc::TLS_TX, &tx)
        .map_err(|error| context(error, "setsockopt(SOL_TLS, TLS_TX)"))?;
    set_crypto_info(fd, libc::TLS_RX, &rx)
        .map_err(|error| context(error, "setsockopt(SOL_TLS, TLS_RX)"))
}

fn context(error: io::Error, what: &str) -> io::Error {
    io::Error::new(error.kind(), format!("{what}: {error}"))
}

/// `setsockopt(fd, SOL_TCP, TCP_ULP, "tls")`.
fn set_ulp(fd: RawFd) -> io::Result<()> {
    setsockopt(fd, libc::SOL_TCP, libc::TCP_ULP, b"tls")
}

fn set_crypto_info(fd: RawFd, direction: libc::c_int, info: &CryptoInfo) -> io::Result<()> {
    setsockopt(fd, libc::SOL_TLS, direction, info.as_bytes())
}

fn setsockopt(fd: RawFd, level: libc::c_int, name: libc::c_int, value: &[u8]) -> io::Result<()> {
    let len = libc::socklen_t::try_from(value.len()).expect("a small option");
    // SAFETY: `value` is readable for `len` bytes for the call; `fd` is the caller's socket.
    let result = unsafe { libc::setsockopt(fd, level, name, value.as_ptr().cast(), len) };
    if result < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Follows the TLS records of a stream of ciphertext: whether the bytes seen so far end where
/// a record ends. Every record is a 5-byte header whose last two bytes give its body's length.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RecordBoundary {
    header: [u8; RECORD_HEADER_LEN],
    /// Header bytes of the current record seen, when its body has not begun.
    header_len: usize,
    /// Body bytes of the current record still to come.
    body_left: usize,
}

impl RecordBoundary {
    /// The next bytes of the stream.
    pub(crate) fn advance(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.body_left > 0 {
                let n = self.body_left.min(bytes.len());
                self.body_left -= n;
                bytes = &bytes[n..];
                continue;
            }
            let n = (RECORD_HEADER_LEN - self.header_len).min(bytes.len());
            self.header[self.header_len..self.header_len + n].copy_from_slice(&bytes[..n]);
            self.header_len += n;
            bytes = &bytes[n..];
            if self.header_len == RECORD_HEADER_LEN {
                self.body_left = usize::from(u16::from_be_bytes([self.header[3], self.header[4]]));
                self.header_len = 0;
            }
        }
    }

    /// Whether the bytes so far end at a record's end (or nothing was seen).
    pub(crate) fn at_boundary(&self) -> bool {
        self.header_len == 0 && self.body_left == 0
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rcgen::{CertificateParams, KeyPair};
    use rustls::crypto::CryptoProvider;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};

    use super::*;

    #[test]
    fn record_boundaries_are_found_across_any_split() {
        // Two records: 3 body bytes, then 0; then a third's header and 1 of its 2 body bytes.
        let stream = [
            23, 3, 3, 0, 3, 1, 2, 3, //
            21, 3, 3, 0, 0, //
            23, 3, 3, 0, 2, 9,
        ];
        let ends = [8, 13];
        for split in 0..=stream.len() {
            let mut whole = RecordBoundary::default();
            whole.advance(&stream[..split]);
            let expected = split == 0 || ends.contains(&split);
            assert_eq!(whole.at_boundary(), expected, "after {split} bytes");
            // The same bytes one at a time.
            let mut bytewise = RecordBoundary::default();
            for byte in &stream[..split] {
                bytewise.advance(std::slice::from_ref(byte));
            }
            assert_eq!(bytewise, whole, "after {split} bytes");
        }
        let mut boundary = RecordBoundary::default();
        boundary.advance(&stream);
        boundary.advance(&[9]);
        assert!(boundary.at_boundary());
    }

    #[test]
    fn records_are_counted_per_16_kib_and_per_send() {
        assert_eq!(records_sent(1), 1);
        assert_eq!(records_sent(16 * 1024 - 1), 1);
        assert_eq!(records_sent(16 * 1024), 2);
        assert_eq!(records_sent(1 << 20), 65);
        let tls13 = rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256;
        assert_eq!(records_budget(tls13), (1 << 24) / 2);
    }

    #[test]
    fn every_suite_of_the_provider_has_a_kernel_cipher() {
        for suite in ringlog_security::tls::crypto_provider()
            .cipher_suites
            .iter()
        {
            assert!(cipher_of(suite.suite()).is_some(), "{:?}", suite.suite());
        }
        assert_eq!(cipher_of(CipherSuite::TLS13_AES_128_CCM_SHA256), None);
        assert_eq!(
            cipher_of(CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384),
            Some(Cipher::Aes256Gcm)
        );
    }

    /// A client and a server of one suite and version, their handshake done in memory, each
    /// made with secret extraction on.
    fn handshake(
        suite: SupportedCipherSuite,
        version: &'static rustls::SupportedProtocolVersion,
    ) -> (ClientConnection, ServerConnection) {
        let key = KeyPair::generate().unwrap();
        let certificate = CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let provider = Arc::new(CryptoProvider {
            cipher_suites: vec![suite],
            ..(*ringlog_security::tls::crypto_provider()).clone()
        });
        let mut server = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[version])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![certificate.der().clone()],
                PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
            )
            .unwrap();
        server.enable_secret_extraction = true;
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from(certificate.der().to_vec()))
            .unwrap();
        let mut client = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[version])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        client.enable_secret_extraction = true;
        let name = ServerName::try_from("localhost").unwrap();
        let mut client = ClientConnection::new(Arc::new(client), name).unwrap();
        let mut server = ServerConnection::new(Arc::new(server)).unwrap();
        for _ in 0..10 {
            let mut bytes = Vec::new();
            client.write_tls(&mut bytes).unwrap();
            server.read_tls(&mut bytes.as_slice()).unwrap();
            server.process_new_packets().unwrap();
            let mut bytes = Vec::new();
            server.write_tls(&mut bytes).unwrap();
            client.read_tls(&mut bytes.as_slice()).unwrap();
            client.process_new_packets().unwrap();
        }
        assert!(!client.is_handshaking() && !server.is_handshaking());
        (client, server)
    }

    #[test]
    fn each_direction_gets_the_crypto_info_the_other_end_uses() {
        use rustls::crypto::ring::cipher_suite as suites;
        let cases = [
            (
                suites::TLS13_AES_128_GCM_SHA256,
                &rustls::version::TLS13,
                libc::TLS_CIPHER_AES_GCM_128,
                40,
            ),
            (
                suites::TLS13_AES_256_GCM_SHA384,
                &rustls::version::TLS13,
                libc::TLS_CIPHER_AES_GCM_256,
                56,
            ),
            (
                suites::TLS13_CHACHA20_POLY1305_SHA256,
                &rustls::version::TLS13,
                libc::TLS_CIPHER_CHACHA20_POLY1305,
                56,
            ),
            (
                suites::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
                &rustls::version::TLS12,
                libc::TLS_CIPHER_AES_GCM_128,
                40,
            ),
            (
                suites::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
                &rustls::version::TLS12,
                libc::TLS_CIPHER_AES_GCM_256,
                56,
            ),
            (
                suites::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
                &rustls::version::TLS12,
                libc::TLS_CIPHER_CHACHA20_POLY1305,
                56,
            ),
        ];
        for (suite, version, cipher_type, len) in cases {
            let (client, server) = handshake(suite, version);
            let negotiated = server.negotiated_cipher_suite().unwrap();
            assert!(cipher_of(negotiated.suite()).is_some(), "{suite:?}");
            let protocol = server.protocol_version().unwrap();
            let server = server.dangerous_extract_secrets().unwrap();
            let client = client.dangerous_extract_secrets().unwrap();
            assert_eq!(
                server.tx.0, client.rx.0,
                "{suite:?}: the next record's number"
            );
            assert_eq!(server.rx.0, client.tx.0, "{suite:?}");
            let server_tx = CryptoInfo::new(protocol, server.tx.0, server.tx.1).unwrap();
            let client_rx = CryptoInfo::new(protocol, client.rx.0, client.rx.1).unwrap();
            let server_rx = CryptoInfo::new(protocol, server.rx.0, server.rx.1).unwrap();
            let client_tx = CryptoInfo::new(protocol, client.tx.0, client.tx.1).unwrap();
            assert_eq!(server_tx.as_bytes(), client_rx.as_bytes(), "{suite:?}");
            assert_eq!(server_rx.as_bytes(), client_tx.as_bytes(), "{suite:?}");
            assert_ne!(server_tx.as_bytes(), server_rx.as_bytes(), "{suite:?}");
            let bytes = server_tx.as_bytes();
            assert_eq!(bytes.len(), len, "{suite:?}");
            let expected_version = if protocol == ProtocolVersion::TLSv1_3 {
                libc::TLS_1_3_VERSION
            } else {
                libc::TLS_1_2_VERSION
            };
            assert_eq!(u16::from_ne_bytes([bytes[0], bytes[1]]), expected_version);
            assert_eq!(u16::from_ne_bytes([bytes[2], bytes[3]]), cipher_type);
            // The record sequence number last, big-endian.
            assert_eq!(bytes[len - 8..], server.tx.0.to_be_bytes(), "{suite:?}");
        }
    }

    #[test]
    fn aes_gcm_nonces_split_into_salt_and_iv() {
        let iv: [u8; 12] = std::array::from_fn(|i| i as u8);
        let secrets = ConnectionTrafficSecrets::Aes256Gcm {
            key: [7u8; 32].into(),
            iv: iv.into(),
        };
        let info = CryptoInfo::new(ProtocolVersion::TLSv1_3, 0x0102, secrets).unwrap();
        let CryptoInfo::Aes256Gcm(raw) = &info else {
            panic!("AES-256-GCM")
        };
        assert_eq!(raw.salt, [0, 1, 2, 3]);
        assert_eq!(raw.iv, [4, 5, 6, 7, 8, 9, 10, 11]);
        assert_eq!(raw.key, [7; 32]);
        assert_eq!(raw.rec_seq, [0, 0, 0, 0, 0, 0, 1, 2]);
        let chacha = ConnectionTrafficSecrets::Chacha20Poly1305 {
            key: [7u8; 32].into(),
            iv: iv.into(),
        };
        let info = CryptoInfo::new(ProtocolVersion::TLSv1_2, 5, chacha).unwrap();
        let CryptoInfo::Chacha20Poly1305(raw) = &info else {
            panic!("ChaCha20-Poly1305")
        };
        assert_eq!(raw.iv, iv);
        assert_eq!(raw.info.version, libc::TLS_1_2_VERSION);
        let old = ConnectionTrafficSecrets::Aes256Gcm {
            key: [7u8; 32].into(),
            iv: iv.into(),
        };
        let error = CryptoInfo::new(ProtocolVersion::TLSv1_1, 0, old)
            .err()
            .unwrap();
        assert!(error.contains("TLS 1.2 and 1.3"), "{error}");
    }

    /// This project's machines run a kernel without `CONFIG_TLS`: the probe must say so
    /// cleanly. Where the kernel lists "tls" among its TCP upper-layer protocols it may be
    /// available; either way the probe returns.
    #[test]
    fn the_probe_reports_what_the_kernel_offers() {
        let listed =
            std::fs::read_to_string("/proc/sys/net/ipv4/tcp_available_ulp").unwrap_or_default();
        match probe() {
            KernelTls::Available => assert!(
                listed.split_whitespace().any(|ulp| ulp == "tls")
                    || std::path::Path::new("/sys/module/tls").exists()
                    || has_tls_module(),
                "available, yet no tls module: {listed:?}"
            ),
            KernelTls::Unavailable(reason) => {
                assert!(reason.starts_with("setsockopt("), "{reason}");
                if !has_tls_module() && !listed.contains("tls") {
                    assert!(reason.contains("TCP_ULP"), "{reason}");
                    assert!(reason.contains("os error 2"), "ENOENT: {reason}");
                }
            }
        }
    }

    /// Whether the running kernel has a tls module it could load.
    fn has_tls_module() -> bool {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let dir = std::path::Path::new("/lib/modules").join(release.trim());
        std::fs::read_to_string(dir.join("modules.builtin"))
            .into_iter()
            .chain(std::fs::read_to_string(dir.join("modules.dep")))
            .any(|list| list.contains("/tls.ko"))
    }
}
