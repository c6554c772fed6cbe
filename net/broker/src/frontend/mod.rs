//! Protocol frontends: one per protocol the broker speaks. A frontend cuts and decodes a
//! connection's requests, turns each into the broker's operations (partition parts the owner
//! shards run and admin operations for the agent, [`crate::ops`]; answers from the catalog)
//! and their results into its protocol's response. Below it nothing knows a protocol: the shards route parts, the partition driver
//! refuses in `KafkaError`s, and the frontend turns those into its error codes.
//!
//! | file      | protocol                                                              |
//! |-----------|-----------------------------------------------------------------------|
//! | [`thin`]  | ringlog's thin protocol (`net/PROTOCOL.md`): read a request, plan it, finish it, encode, ApiVersions |
//!
//! Kafka's wire protocol is the next frontend: its own listener and framing, the same steps
//! and operations (`docs/architecture.md`, "The frontend seam").

pub(crate) mod kafka;
pub(crate) mod thin;
