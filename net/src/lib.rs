//! ringlog-net: the broker's network side. So far the wire protocol, as a pure codec; the
//! broker server (shards, connections, handlers) and the client library (Producer, Consumer,
//! Admin) come with their own issues, on top of it.
//!
//! | module   | owns                                                                        |
//! |----------|-----------------------------------------------------------------------------|
//! | [`wire`] | the thin binary protocol: frames, every API's request and response, error codes, the zero-copy fetch response encoder. Pure: encode and decode over byte slices, no IO. `net/PROTOCOL.md` is its spec |
//! | [`server`] | the broker: its configuration (TOML file, overrides, topic configs) and Prometheus metrics; shards, connections and handlers to come |
//!
//! [`WireError`] is the crate's one error family.

pub mod server;
pub mod wire;

pub use wire::WireError;
