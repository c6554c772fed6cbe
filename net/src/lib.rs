//! ringlog-net: the broker's network side: the wire protocol as a pure codec, the broker
//! server on io_uring, and the client library (Producer, Consumer, Admin) on tokio.
//!
//! | module   | owns                                                                        |
//! |----------|-----------------------------------------------------------------------------|
//! | [`wire`] | the thin binary protocol: frames, every API's request and response, error codes, the zero-copy fetch response encoder. Pure: encode and decode over byte slices, no IO. `net/PROTOCOL.md` is its spec |
//! | [`server`] | the broker: io_uring shards, connections, partitions served through the engine and the replication crate, the topic catalog, configuration, metrics |
//! | [`controller`] | the cluster-metadata controller quorum: the replication crate's controller rules replicated with Raft (openraft), its storage in `__cluster_metadata/`, its APIs on ringlog's frames, observers |
//! | [`client`] | the client library on tokio: [`client::Producer`], [`client::Consumer`], [`client::Admin`] over a [`client::Client`] that routes each partition's requests to its leader; [`client::ClientError`] is its error family |
//!
//! Errors: [`WireError`] for the codec, [`client::ClientError`] for the client; the server's
//! modules each keep their own family (`ConfigError`, `TopicConfigError`, `MetricsError`,
//! `CatalogError`).

pub mod client;
pub mod controller;
pub mod server;
pub mod wire;

pub use wire::WireError;
