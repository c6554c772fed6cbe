//! ringlog-net: the wire protocol (a pure codec), the broker server and the client library
//! (Producer, Consumer, Admin).
//!
//! Nothing is built here yet; the broker lands with its own issue.
