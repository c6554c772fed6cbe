//! TLS on the broker's listeners (`SSL`, `THIN_SSL`): rustls with ring, no OpenSSL.
//!
//! [`ServerTls`] holds the rustls server config every new TLS connection starts from, made
//! from `ssl_keystore_location` (the private key and certificate chain, PEM),
//! `ssl_truststore_location` (CAs for client certificates, PEM) and `ssl_client_auth`. The
//! agent looks at the files every `ssl_reload_interval_ms` ([`ServerTls::reload_if_changed`]):
//! a change is loaded whole for the connections that come after it, the open ones keep theirs,
//! and a change that does not load (a half-written file, a key that is not the
//! certificate's) is logged and the config in use stays.
//!
//! On a connection ([`crate::connection::Connection`]) rustls sits between the socket and the
//! frontend: received bytes are decrypted before frames are cut, responses are encrypted as
//! they are written. Record bytes a fetch would `sendfile` are read from the segment file
//! instead: plain TLS cannot be zero-copy.
//!
//! Unless `ssl_kernel_offload` is `off`, [`ServerTls::load`] asks the kernel once whether it
//! offers TLS ([`crate::ktls::probe`]), logs the answer and sets the
//! `ringlog_tls_kernel_offload` gauge. Where it does, connections move to the kernel's TLS
//! after their handshake and fetches go out by `sendfile` again ([`crate::ktls`] has the
//! scheme); where it does not, every connection stays in rustls as above.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

use crate::config::{BrokerConfig, ClientAuth};

/// Why the TLS config cannot be made; each names the file and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TlsError {
    #[error("ssl_keystore_location {path}: {reason}")]
    Keystore { path: PathBuf, reason: String },
    #[error("ssl_truststore_location {path}: {reason}")]
    Truststore { path: PathBuf, reason: String },
    #[error("the TLS config: {0}")]
    Config(String),
}

/// The files a TLS config is made from.
#[derive(Clone, Debug)]
struct TlsFiles {
    keystore: PathBuf,
    truststore: Option<PathBuf>,
    client_auth: ClientAuth,
}

impl TlsFiles {
    fn paths(&self) -> impl Iterator<Item = &Path> {
        std::iter::once(self.keystore.as_path()).chain(self.truststore.as_deref())
    }

    /// Each file's modification time now (`None`: unreadable).
    fn stamps(&self) -> Vec<Option<SystemTime>> {
        self.paths()
            .map(|path| std::fs::metadata(path).and_then(|m| m.modified()).ok())
            .collect()
    }
}

/// The TLS listeners' server config, reloaded when its files change. See the module docs.
#[derive(Debug)]
pub(crate) struct ServerTls {
    files: TlsFiles,
    /// Connections move to the kernel's TLS after their handshake: `ssl_kernel_offload` is
    /// auto and the kernel offers it (decided once, at start).
    kernel_offload: bool,
    current: RwLock<Arc<ServerConfig>>,
    /// The files' modification times when `current` was made.
    stamps: Mutex<Vec<Option<SystemTime>>>,
}

impl ServerTls {
    /// The TLS config of `config`, if a listener speaks TLS.
    pub(crate) fn load(config: &BrokerConfig) -> Result<Option<ServerTls>, TlsError> {
        if !config.listeners.any_tls() {
            return Ok(None);
        }
        let keystore = config.ssl_keystore_location.clone().ok_or_else(|| {
            TlsError::Config("a TLS listener needs ssl_keystore_location".to_string())
        })?;
        let files = TlsFiles {
            keystore,
            truststore: config.ssl_truststore_location.clone(),
            client_auth: config.ssl_client_auth,
        };
        let stamps = files.stamps();
        let kernel_offload = config.ssl_kernel_offload && kernel_offload_available();
        crate::metrics_hooks::tls_kernel_offload(kernel_offload);
        let server = server_config(&files, kernel_offload)?;
        Ok(Some(ServerTls {
            files,
            kernel_offload,
            current: RwLock::new(Arc::new(server)),
            stamps: Mutex::new(stamps),
        }))
    }

    /// Whether connections move to the kernel's TLS after their handshake.
    pub(crate) fn kernel_offload(&self) -> bool {
        self.kernel_offload
    }

    /// The config a connection accepted now starts from.
    pub(crate) fn config(&self) -> Arc<ServerConfig> {
        self.current.read().expect("not poisoned").clone()
    }

    /// Makes the config again if a file changed since the last time: `Ok(true)` if it did
    /// and the new config is in use, an error (the old config stays) if it did not load.
    pub(crate) fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let stamps = self.files.stamps();
        let mut seen = self.stamps.lock().expect("not poisoned");
        if *seen == stamps {
            return Ok(false);
        }
        // Whatever comes of it, this change has been looked at: a bad file is reported once,
        // and looked at again when it changes again.
        *seen = stamps;
        let server = server_config(&self.files, self.kernel_offload)?;
        *self.current.write().expect("not poisoned") = Arc::new(server);
        Ok(true)
    }
}

/// Asks the kernel whether it offers TLS, and logs which path TLS connections take.
fn kernel_offload_available() -> bool {
    match crate::ktls::probe() {
        crate::ktls::KernelTls::Available => {
            tracing::info!(
                "TLS: the kernel's TLS (kTLS) is available: connections move to it after \
                 their handshake, and fetches go out by sendfile"
            );
            true
        }
        crate::ktls::KernelTls::Unavailable(reason) => {
            tracing::info!(
                %reason,
                "TLS: the kernel's TLS (kTLS) is unavailable: every connection stays in rustls, \
                 and fetches are read and encrypted in user space"
            );
            false
        }
    }
}

/// TLS to the other brokers when the thin listener speaks it (followers fetch from their
/// leaders' thin listeners): their certificates are checked against `ssl_truststore_location`,
/// and this broker shows its own keystore's, for listeners that require one. The keystore is
/// read once, at start.
pub(crate) fn peer_tls(
    config: &BrokerConfig,
) -> Result<Option<ringlog_client::ClientTls>, ringlog_client::ClientError> {
    if !config.listeners.thin_security.tls() {
        return Ok(None);
    }
    let missing = |key: &str| {
        ringlog_client::ClientError::Config(format!(
            "listener {} makes brokers fetch from each other over TLS: set {key}",
            config.listeners.thin_name()
        ))
    };
    let truststore = config
        .ssl_truststore_location
        .as_deref()
        .ok_or_else(|| missing("ssl_truststore_location"))?;
    let keystore = config
        .ssl_keystore_location
        .as_deref()
        .ok_or_else(|| missing("ssl_keystore_location"))?;
    ringlog_client::ClientTls::from_pem_files(truststore, Some((keystore, keystore))).map(Some)
}

/// TLS between the controller quorum's nodes when `controller_security_protocol` is SSL: the
/// listener requires a certificate `ssl_truststore_location`'s CAs signed (a node without the
/// cluster's credentials can neither vote nor read the metadata), and this node shows its
/// keystore's to the others. Read once, at start.
pub(crate) fn controller_tls(
    config: &BrokerConfig,
) -> Result<Option<ringlog_controller::ControllerTls>, TlsError> {
    if !config.controller_security_protocol.tls() {
        return Ok(None);
    }
    let missing = |key: &str| {
        TlsError::Config(format!(
            "controller_security_protocol SSL makes the controllers check each other's \
             certificates: set {key}"
        ))
    };
    let files = TlsFiles {
        keystore: config
            .ssl_keystore_location
            .clone()
            .ok_or_else(|| missing("ssl_keystore_location"))?,
        truststore: Some(
            config
                .ssl_truststore_location
                .clone()
                .ok_or_else(|| missing("ssl_truststore_location"))?,
        ),
        client_auth: ClientAuth::Required,
    };
    let server = Arc::new(server_config(&files, false)?);
    let truststore = files.truststore.as_deref().expect("set above");
    let client = ringlog_client::ClientTls::from_pem_files(
        truststore,
        Some((&files.keystore, &files.keystore)),
    )
    .map_err(|error| TlsError::Config(error.to_string()))?;
    Ok(Some(ringlog_controller::ControllerTls {
        server,
        client: client.rustls_config(),
    }))
}

/// The rustls server config of `files`; its traffic secrets extractable with `kernel_offload`
/// (to hand them to the kernel).
fn server_config(files: &TlsFiles, kernel_offload: bool) -> Result<ServerConfig, TlsError> {
    let keystore_error = |reason: String| TlsError::Keystore {
        path: files.keystore.clone(),
        reason,
    };
    let chain = read_certificates(&files.keystore).map_err(keystore_error)?;
    let key = PrivateKeyDer::from_pem_file(&files.keystore).map_err(|error| {
        keystore_error(format!(
            "no private key (PEM: PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY): {error}"
        ))
    })?;
    let provider = ringlog_security::tls::crypto_provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|error| TlsError::Config(error.to_string()))?;
    let builder = match files.client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::Requested | ClientAuth::Required => {
            let path = files.truststore.as_ref().ok_or_else(|| {
                TlsError::Config(
                    "ssl_client_auth checks client certificates: set ssl_truststore_location"
                        .to_string(),
                )
            })?;
            let truststore_error = |reason: String| TlsError::Truststore {
                path: path.clone(),
                reason,
            };
            let mut roots = RootCertStore::empty();
            for certificate in read_certificates(path).map_err(truststore_error)? {
                roots
                    .add(certificate)
                    .map_err(|error| truststore_error(format!("a CA certificate: {error}")))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if files.client_auth == ClientAuth::Requested {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier
                .build()
                .map_err(|error| truststore_error(error.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut server = builder
        .with_single_cert(chain, key)
        .map_err(|error| keystore_error(format!("the key and certificate chain: {error}")))?;
    server.enable_secret_extraction = kernel_offload;
    Ok(server)
}

/// Every certificate of a PEM file; none is an error.
fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|error| format!("cannot read it: {error}"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("a certificate that is not PEM: {error}"))?;
    if certificates.is_empty() {
        return Err("no certificate in it (PEM: BEGIN CERTIFICATE)".to_string());
    }
    Ok(certificates)
}
