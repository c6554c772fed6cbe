//! TLS for the client's connections, to a broker's `THIN_SSL` listener: rustls (on *ring*, as
//! the broker), the brokers' certificates checked against the CAs given, and the client's own
//! certificate for a listener that asks for one (`ssl_client_auth`).

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::error::ClientError;

/// How the client speaks TLS: which CAs it trusts and who it is. Cheap to clone; two are
/// equal when they are the same config.
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<ClientConfig>,
}

impl ClientTls {
    /// TLS with a rustls config made by the caller.
    pub fn new(config: Arc<ClientConfig>) -> ClientTls {
        ClientTls { config }
    }

    /// The rustls config it connects with.
    pub fn rustls_config(&self) -> Arc<ClientConfig> {
        self.config.clone()
    }

    /// TLS trusting the CA certificates of the PEM file `ca`, and with `identity` (a PEM
    /// certificate chain and a PEM private key, which may be one file) the client's own
    /// certificate for listeners that ask for one.
    pub fn from_pem_files(
        ca: &Path,
        identity: Option<(&Path, &Path)>,
    ) -> Result<ClientTls, ClientError> {
        let problem = |path: &Path, what: String| {
            ClientError::Config(format!("TLS: {}: {what}", path.display()))
        };
        let mut roots = RootCertStore::empty();
        for certificate in certificates(ca).map_err(|what| problem(ca, what))? {
            roots
                .add(certificate)
                .map_err(|error| problem(ca, format!("a CA certificate: {error}")))?;
        }
        let builder = ClientConfig::builder_with_provider(ringlog_security::tls::crypto_provider())
            .with_safe_default_protocol_versions()
            .map_err(|error| ClientError::Config(format!("TLS: {error}")))?
            .with_root_certificates(roots);
        let config = match identity {
            None => builder.with_no_client_auth(),
            Some((chain, key)) => {
                let chain_certificates =
                    certificates(chain).map_err(|what| problem(chain, what))?;
                let key_der = PrivateKeyDer::from_pem_file(key).map_err(|error| {
                    problem(key, format!("no private key (PEM) in it: {error}"))
                })?;
                builder
                    .with_client_auth_cert(chain_certificates, key_der)
                    .map_err(|error| {
                        problem(chain, format!("the certificate and its key: {error}"))
                    })?
            }
        };
        Ok(ClientTls::new(Arc::new(config)))
    }

    /// TLS over `stream` to the broker at `address` (`host:port`), whose certificate must
    /// name `host`: for a caller speaking to a `THIN_SSL` listener itself (the CLI's raw
    /// requests).
    pub async fn handshake(
        &self,
        address: &str,
        stream: TcpStream,
    ) -> std::io::Result<TlsStream<TcpStream>> {
        let name = ringlog_security::tls::server_name(address)
            .map_err(|why| std::io::Error::new(std::io::ErrorKind::InvalidInput, why))?;
        TlsConnector::from(self.config.clone())
            .connect(name, stream)
            .await
    }
}

impl PartialEq for ClientTls {
    fn eq(&self, other: &ClientTls) -> bool {
        Arc::ptr_eq(&self.config, &other.config)
    }
}

impl Eq for ClientTls {}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls")
            .field(
                "client_certificate",
                &self.config.client_auth_cert_resolver.has_certs(),
            )
            .finish_non_exhaustive()
    }
}

/// Every certificate of a PEM file; none is an error.
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let found = CertificateDer::pem_file_iter(path)
        .map_err(|error| format!("cannot read it: {error}"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("a certificate that is not PEM: {error}"))?;
    if found.is_empty() {
        return Err("no certificate in it (PEM: BEGIN CERTIFICATE)".to_string());
    }
    Ok(found)
}
