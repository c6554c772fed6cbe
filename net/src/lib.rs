//! ringlog-net: the broker's network side. So far the wire protocol, as a pure codec; the
//! broker server (shards, connections, handlers) and the client library (Producer, Consumer,
//! Admin) come with their own issues, on top of it.
//!
//! | module   | owns                                                                        |
//! |----------|-----------------------------------------------------------------------------|
//! | [`wire`] | the thin binary protocol: frames, every API's request and response, error codes, the zero-copy fetch response encoder. Pure: encode and decode over byte slices, no IO. `net/PROTOCOL.md` is its spec |
//! | [`client`] | the client library on tokio: [`client::Producer`], [`client::Consumer`], [`client::Admin`] over a [`client::Client`] that routes each partition's requests to its leader; [`client::ClientError`] is its error family |
//!
//! [`WireError`] is the crate's one error family.

pub mod client;
pub mod wire;

pub use wire::WireError;
