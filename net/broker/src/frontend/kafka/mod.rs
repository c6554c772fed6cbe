//! Apache Kafka's wire protocol: framing and headers ([`frame`]), the Fetch response ([`fetch_response`]).
// Used once the Kafka frontend lands.
#![allow(dead_code)]

pub(crate) mod fetch_response;
pub(crate) mod frame;
