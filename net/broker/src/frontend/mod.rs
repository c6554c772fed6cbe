//! Protocol frontends: one per protocol the broker speaks. A frontend turns a decoded request
//! into the broker's operations (partition parts the owner shards run, [`crate::ops`]; admin
//! requests for the agent; answers from the catalog) and their results into its protocol's
//! response. Below it nothing knows a protocol: the shards route parts, the partition driver
//! refuses in `KafkaError`s, and the frontend turns those into its error codes.
//!
//! | file      | protocol                                                              |
//! |-----------|-----------------------------------------------------------------------|
//! | [`thin`]  | ringlog's thin protocol (`net/PROTOCOL.md`): plan, finish, encode, ApiVersions |
//!
//! Kafka's wire protocol is the next frontend: its own listener and framing, the same
//! operations.

pub(crate) mod thin;
