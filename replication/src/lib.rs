//! ringlog-replication: the replication protocol as pure state machines (no IO, no clock, no
//! sockets): leader and follower, ISR, high watermark, acks, `min_insync_replicas`, leader epochs
//! and truncation, elections, replica placement and the controller's metadata state.
//!
//! Nothing is built here yet; the protocol lands with its own issue. See `docs/` and the
//! workspace DESIGN for where it is going.
