//! ringlog-net: the broker's network side: the wire protocol as a pure codec, and the broker
//! server on io_uring. The client library (Producer, Consumer, Admin) comes next.
//!
//! | module   | owns                                                                        |
//! |----------|-----------------------------------------------------------------------------|
//! | [`wire`] | the thin binary protocol: frames, every API's request and response, error codes, the zero-copy fetch response encoder. Pure: encode and decode over byte slices, no IO. `net/PROTOCOL.md` is its spec |
//! | [`server`] | the broker: io_uring shards, connections, partitions served through the engine and the replication crate, the topic catalog, configuration, metrics |
//!
//! Errors: [`WireError`] for the codec; the server's modules each keep their own family
//! (`ConfigError`, `TopicConfigError`, `MetricsError`, `CatalogError`).

pub mod server;
pub mod wire;

pub use wire::WireError;
