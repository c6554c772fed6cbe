//! The crypto rustls runs on, for the broker's listeners and ringlog's client alike.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;

/// rustls's provider on *ring*: it builds with a C compiler alone (aws-lc-rs, rustls's default,
/// wants more of a build machine) and gives TLS 1.2 and 1.3 with the usual cipher suites. rustls
/// 0.23.48 marks it deprecated because it offers no post-quantum key exchange
/// (X25519MLKEM768); moving to aws-lc-rs is the way to get one.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    #[allow(deprecated)]
    Arc::new(rustls::crypto::ring::default_provider())
}
