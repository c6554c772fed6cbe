//! InitProducerId (key 22): a new idempotent producer's id. Every request gets a fresh id, no
//! other producer's (the brokers hand them out of blocks the controller quorum allocates),
//! at epoch 0; the producer numbers each partition's batches from sequence 0 under it. Sent
//! to any broker. There are no transactions, so no transactional id.
//!
//! Request body: empty.
//!
//! Response body (after the response's error code, see [`crate`]):
//!
//! | field          | type | notes                                               |
//! |----------------|------|-----------------------------------------------------|
//! | producer_id    | i64  | at least 0                                          |
//! | producer_epoch | i16  | at least 0; a new id starts at 0                    |
//!
//! A broker that has no id to give yet (its block from the controller has not come within
//! the broker's `request_timeout_ms`) refuses the request whole with
//! COORDINATOR_LOAD_IN_PROGRESS, which is retriable.

use crate::error::WireError;
use crate::primitives::{Reader, Wire, Writer};

/// A request for a new producer id. No fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InitProducerIdRequest;

/// A new producer's identity: what its idempotent batches carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InitProducerIdResponse {
    /// At least 0.
    pub producer_id: i64,
    /// At least 0.
    pub producer_epoch: i16,
}

impl Wire for InitProducerIdRequest {
    const MIN_LEN: usize = 0;

    fn encode(&self, _: &mut Writer) -> Result<(), WireError> {
        Ok(())
    }

    fn decode(_: &mut Reader) -> Result<Self, WireError> {
        Ok(InitProducerIdRequest)
    }
}

impl Wire for InitProducerIdResponse {
    const MIN_LEN: usize = 8 + 2;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        check_producer_id(self.producer_id)?;
        check_producer_epoch(self.producer_epoch)?;
        w.i64(self.producer_id);
        w.i16(self.producer_epoch);
        Ok(())
    }

    fn decode(r: &mut Reader) -> Result<Self, WireError> {
        let producer_id = check_producer_id(r.i64("producer_id")?)?;
        let producer_epoch = check_producer_epoch(r.i16("producer_epoch")?)?;
        Ok(InitProducerIdResponse {
            producer_id,
            producer_epoch,
        })
    }
}

fn check_producer_id(value: i64) -> Result<i64, WireError> {
    if value < 0 {
        return Err(WireError::InvalidValue {
            field: "producer_id",
            value,
            expected: "a producer id of at least 0",
        });
    }
    Ok(value)
}

fn check_producer_epoch(value: i16) -> Result<i16, WireError> {
    if value < 0 {
        return Err(WireError::InvalidValue {
            field: "producer_epoch",
            value: i64::from(value),
            expected: "a producer epoch of at least 0",
        });
    }
    Ok(value)
}
