//! The crypto rustls runs on, for the broker's listeners and ringlog's client alike.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::ServerName;

/// rustls's provider on *ring*: it builds with a C compiler alone (aws-lc-rs, rustls's default,
/// wants more of a build machine) and gives TLS 1.2 and 1.3 with the usual cipher suites. rustls
/// 0.23.48 marks it deprecated because it offers no post-quantum key exchange
/// (X25519MLKEM768); moving to aws-lc-rs is the way to get one.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    #[allow(deprecated)]
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The name a TLS peer at `address` (`host:port`, `[v6]:port`) must show in its certificate:
/// the host, a DNS name or an IP address.
pub fn server_name(address: &str) -> Result<ServerName<'static>, String> {
    let host = address
        .rsplit_once(':')
        .map_or(address, |(host, _)| host)
        .trim_start_matches('[')
        .trim_end_matches(']');
    ServerName::try_from(host.to_string())
        .map_err(|error| format!("{host:?} cannot be checked against a certificate: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_name_is_the_host_of_an_address() {
        assert_eq!(
            server_name("broker1.example.com:9093").unwrap(),
            ServerName::try_from("broker1.example.com").unwrap()
        );
        assert_eq!(
            server_name("127.0.0.1:9093").unwrap(),
            ServerName::try_from("127.0.0.1").unwrap()
        );
        assert_eq!(
            server_name("[::1]:9093").unwrap(),
            ServerName::try_from("::1").unwrap()
        );
        assert!(server_name("bad name:1").is_err());
    }
}
