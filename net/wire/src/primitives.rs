//! The field types every message is built from, and the [`Reader`] and [`Writer`] that
//! decode and encode them. Big-endian throughout; no varints, no tagged fields.
//!
//! | type               | size       | encoding                                                       |
//! |--------------------|------------|----------------------------------------------------------------|
//! | u8, bool           | 1          | bool is 0 or 1; any other value is refused                     |
//! | u16, i16           | 2          | big-endian                                                     |
//! | u32, i32           | 4          | big-endian                                                     |
//! | i64                | 8          | big-endian                                                     |
//! | string             | 2 + n      | u16 byte length n (0 to 65534), then n bytes of UTF-8          |
//! | nullable string    | 2 (+ n)    | as string; length 0xFFFF is null                               |
//! | bytes              | 4 + n      | u32 byte length n (0 to 2^32 - 2), then n raw bytes            |
//! | array of T         | 4 + ...    | u32 count (0 to 2^32 - 2), then count T's back to back        |
//! | nullable array     | 4 (+ ...)  | as array; count 0xFFFF_FFFF is null                            |
//! | offset             | 8          | i64, at least 0                                                |
//! | optional offset    | 8          | i64, at least 0, or -1 for none                                |
//! | leader epoch       | 4          | i32, at least 0 (optional: -1 for none)                        |
//! | broker id          | 4          | i32, at least 0 (optional: -1 for none)                        |
//! | timestamp          | 8          | i64 ms since the Unix epoch, at least 0 (optional: -1 for none)|
//! | duration           | 4          | u32 milliseconds                                               |
//! | optional count     | 4 or 2     | i32 or i16, at least 0, or -1 for none (the receiver's default) |
//! | error code         | 2          | i16, see [`ErrorCode`]                                         |
//!
//! Every length and count is checked against the bytes that remain before anything is
//! allocated: an array of `count` elements needs at least `count * MIN_LEN` bytes (each element
//! type states the fewest bytes it can take, [`Wire::MIN_LEN`], at least 1), so a hostile count
//! is refused instead of reserving gigabytes. What a decode allocates is therefore bounded by a
//! small multiple of the frame's size.

use std::time::Duration;

use bytes::{Buf, Bytes};
use ringlog_format::{LeaderEpoch, Offset, Timestamp};
use ringlog_replication::BrokerId;

use crate::api_key::ApiKey;
use crate::error::WireError;
use crate::error_code::ErrorCode;

/// A nullable string's length field when it is null.
pub(crate) const NULL_STRING_LEN: u16 = u16::MAX;
/// The longest string, in bytes.
pub(crate) const STRING_LEN_MAX: usize = NULL_STRING_LEN as usize - 1;
/// A nullable array's count (or a byte array's length) when it is null.
pub(crate) const NULL_COUNT: u32 = u32::MAX;
/// The largest array count or byte array length.
pub(crate) const COUNT_MAX: usize = NULL_COUNT as usize - 1;
/// The fewest bytes a string takes (its length field).
pub(crate) const STRING_MIN_LEN: usize = 2;
/// The fewest bytes an array or byte array takes (its count or length field).
pub(crate) const ARRAY_MIN_LEN: usize = 4;
/// Optional offsets, epochs, broker ids and timestamps are -1 when absent.
const ABSENT: i64 = -1;

/// A message or part of one that can be written and read. A body whose layout differs between
/// versions of its API reads the version off the [`Reader`] or [`Writer`]; every other body
/// ignores it.
pub(crate) trait Wire: Sized {
    /// The fewest bytes one encoding takes (at any version); array counts are checked against
    /// it.
    const MIN_LEN: usize;

    fn encode(&self, w: &mut Writer) -> Result<(), WireError>;

    fn decode(r: &mut Reader) -> Result<Self, WireError>;
}

/// Decodes fields from the front of a frame body of one version of its API. Byte arrays come
/// out as [`Bytes`] slices of the body, without a copy. Never panics, whatever the bytes.
pub(crate) struct Reader {
    buf: Bytes,
    version: u16,
}

impl Reader {
    /// A reader of `buf`, a body at `version` of its API.
    pub(crate) fn new(buf: Bytes, version: u16) -> Reader {
        Reader { buf, version }
    }

    /// The version of the API the body is at (the request's, for a response too).
    pub(crate) fn version(&self) -> u16 {
        self.version
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Checks that the whole body was read.
    pub(crate) fn finish(self, api_key: ApiKey, api_version: u16) -> Result<(), WireError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(WireError::TrailingBytes {
                api_key,
                api_version,
                count: self.buf.len(),
            })
        }
    }

    fn need(&self, field: &'static str, needed: usize) -> Result<(), WireError> {
        if self.buf.len() < needed {
            return Err(WireError::Truncated {
                field,
                needed: needed as u64,
                remaining: self.buf.len(),
            });
        }
        Ok(())
    }

    fn take(&mut self, field: &'static str, len: usize) -> Result<Bytes, WireError> {
        self.need(field, len)?;
        Ok(self.buf.split_to(len))
    }

    fn fixed<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], WireError> {
        self.need(field, N)?;
        let mut out = [0; N];
        self.buf.copy_to_slice(&mut out);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, WireError> {
        Ok(self.fixed::<1>(field)?[0])
    }

    /// 16 bytes as they are (a UUID).
    pub(crate) fn uuid(&mut self, field: &'static str) -> Result<[u8; 16], WireError> {
        self.fixed::<16>(field)
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(self.fixed(field)?))
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.fixed(field)?))
    }

    pub(crate) fn i16(&mut self, field: &'static str) -> Result<i16, WireError> {
        Ok(i16::from_be_bytes(self.fixed(field)?))
    }

    pub(crate) fn i32(&mut self, field: &'static str) -> Result<i32, WireError> {
        Ok(i32::from_be_bytes(self.fixed(field)?))
    }

    pub(crate) fn i64(&mut self, field: &'static str) -> Result<i64, WireError> {
        Ok(i64::from_be_bytes(self.fixed(field)?))
    }

    pub(crate) fn bool(&mut self, field: &'static str) -> Result<bool, WireError> {
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(WireError::InvalidValue {
                field,
                value: i64::from(value),
                expected: "0 or 1",
            }),
        }
    }

    pub(crate) fn string(&mut self, field: &'static str) -> Result<String, WireError> {
        self.nullable_string(field)?
            .ok_or(WireError::UnexpectedNull { field })
    }

    pub(crate) fn nullable_string(
        &mut self,
        field: &'static str,
    ) -> Result<Option<String>, WireError> {
        let len = self.u16(field)?;
        if len == NULL_STRING_LEN {
            return Ok(None);
        }
        let bytes = self.take(field, usize::from(len))?;
        match std::str::from_utf8(&bytes) {
            Ok(text) => Ok(Some(text.to_owned())),
            Err(error) => Err(WireError::InvalidUtf8 {
                field,
                valid_up_to: error.valid_up_to(),
            }),
        }
    }

    /// A byte array, as a slice of the body (no copy).
    pub(crate) fn bytes(&mut self, field: &'static str) -> Result<Bytes, WireError> {
        let len = self.u32(field)?;
        if len == NULL_COUNT {
            return Err(WireError::UnexpectedNull { field });
        }
        self.take(field, len as usize)
    }

    pub(crate) fn array<T: Wire>(&mut self, field: &'static str) -> Result<Vec<T>, WireError> {
        self.array_with(field, T::MIN_LEN, T::decode)
    }

    /// An array whose elements `decode` reads, each taking at least `min_element_len` bytes.
    pub(crate) fn array_with<T>(
        &mut self,
        field: &'static str,
        min_element_len: usize,
        decode: impl FnMut(&mut Reader) -> Result<T, WireError>,
    ) -> Result<Vec<T>, WireError> {
        self.nullable_array_with(field, min_element_len, decode)?
            .ok_or(WireError::UnexpectedNull { field })
    }

    pub(crate) fn nullable_array_with<T>(
        &mut self,
        field: &'static str,
        min_element_len: usize,
        mut decode: impl FnMut(&mut Reader) -> Result<T, WireError>,
    ) -> Result<Option<Vec<T>>, WireError> {
        debug_assert!(min_element_len > 0, "{field}: elements take no bytes");
        let count = self.u32(field)?;
        if count == NULL_COUNT {
            return Ok(None);
        }
        let needed = u64::from(count).saturating_mul(min_element_len as u64);
        if needed > self.remaining() as u64 {
            return Err(WireError::CountTooLarge {
                field,
                count,
                needed,
                remaining: self.remaining(),
            });
        }
        let mut items = Vec::with_capacity(count as usize);
        for _ in 0..count {
            items.push(decode(self)?);
        }
        Ok(Some(items))
    }

    pub(crate) fn offset(&mut self, field: &'static str) -> Result<Offset, WireError> {
        let value = self.i64(field)?;
        u64::try_from(value)
            .map(Offset)
            .map_err(|_| WireError::InvalidValue {
                field,
                value,
                expected: "an offset of at least 0",
            })
    }

    pub(crate) fn optional_offset(
        &mut self,
        field: &'static str,
    ) -> Result<Option<Offset>, WireError> {
        let value = self.i64(field)?;
        optional(field, value, "an offset of at least 0, or -1", |v| {
            u64::try_from(v).ok().map(Offset)
        })
    }

    pub(crate) fn leader_epoch(&mut self, field: &'static str) -> Result<LeaderEpoch, WireError> {
        let value = self.i32(field)?;
        u32::try_from(value)
            .map(LeaderEpoch)
            .map_err(|_| WireError::InvalidValue {
                field,
                value: i64::from(value),
                expected: "a leader epoch of at least 0",
            })
    }

    pub(crate) fn optional_leader_epoch(
        &mut self,
        field: &'static str,
    ) -> Result<Option<LeaderEpoch>, WireError> {
        let value = i64::from(self.i32(field)?);
        optional(field, value, "a leader epoch of at least 0, or -1", |v| {
            u32::try_from(v).ok().map(LeaderEpoch)
        })
    }

    pub(crate) fn broker_id(&mut self, field: &'static str) -> Result<BrokerId, WireError> {
        let value = self.i32(field)?;
        u32::try_from(value)
            .map(BrokerId)
            .map_err(|_| WireError::InvalidValue {
                field,
                value: i64::from(value),
                expected: "a broker id of at least 0",
            })
    }

    pub(crate) fn optional_broker_id(
        &mut self,
        field: &'static str,
    ) -> Result<Option<BrokerId>, WireError> {
        let value = i64::from(self.i32(field)?);
        optional(field, value, "a broker id of at least 0, or -1", |v| {
            u32::try_from(v).ok().map(BrokerId)
        })
    }

    pub(crate) fn optional_timestamp(
        &mut self,
        field: &'static str,
    ) -> Result<Option<Timestamp>, WireError> {
        let value = self.i64(field)?;
        optional(field, value, "a timestamp of at least 0, or -1", |v| {
            (v >= 0).then_some(Timestamp(v))
        })
    }

    /// A count carried as i32: at least 0, or -1 for none (the receiver's default).
    pub(crate) fn optional_i32_count(
        &mut self,
        field: &'static str,
    ) -> Result<Option<u32>, WireError> {
        let value = i64::from(self.i32(field)?);
        optional(field, value, "a count of at least 0, or -1", |v| {
            u32::try_from(v).ok()
        })
    }

    /// A count carried as i16: at least 0, or -1 for none (the receiver's default).
    pub(crate) fn optional_i16_count(
        &mut self,
        field: &'static str,
    ) -> Result<Option<u16>, WireError> {
        let value = i64::from(self.i16(field)?);
        optional(field, value, "a count of at least 0, or -1", |v| {
            u16::try_from(v).ok()
        })
    }

    /// A duration carried as u32 milliseconds.
    pub(crate) fn duration_ms(&mut self, field: &'static str) -> Result<Duration, WireError> {
        Ok(Duration::from_millis(u64::from(self.u32(field)?)))
    }

    pub(crate) fn error_code(&mut self, field: &'static str) -> Result<ErrorCode, WireError> {
        Ok(ErrorCode(self.i16(field)?))
    }
}

/// -1 is `None`; `present` maps any other value, or refuses it with `None`.
fn optional<T>(
    field: &'static str,
    value: i64,
    expected: &'static str,
    present: impl FnOnce(i64) -> Option<T>,
) -> Result<Option<T>, WireError> {
    if value == ABSENT {
        return Ok(None);
    }
    match present(value) {
        Some(v) => Ok(Some(v)),
        None => Err(WireError::InvalidValue {
            field,
            value,
            expected,
        }),
    }
}

/// Encodes fields at the end of a growing buffer, for a body at one version of its API. Fails
/// only on values the wire cannot carry (over-long strings and arrays, offsets above
/// `i64::MAX`, a field the version does not have, ...).
pub(crate) struct Writer {
    buf: Vec<u8>,
    version: u16,
}

impl Writer {
    /// An empty writer of a body at `version` of its API.
    pub(crate) fn new(version: u16) -> Writer {
        Writer {
            buf: Vec::new(),
            version,
        }
    }

    /// The version of the API the body is at (the request's, for a response too).
    pub(crate) fn version(&self) -> u16 {
        self.version
    }

    pub(crate) fn into_inner(self) -> Vec<u8> {
        self.buf
    }

    /// Refuses `field` in a body older than `since`, the first version that carries it,
    /// unless it holds its default (`is_default`): such a body leaves it out, and the receiver
    /// reads the default.
    pub(crate) fn since(
        &self,
        field: &'static str,
        since: u16,
        is_default: bool,
    ) -> Result<(), WireError> {
        if self.version < since && !is_default {
            return Err(WireError::NotInVersion {
                field,
                api_version: self.version,
                since,
            });
        }
        Ok(())
    }

    /// Hands out what was written so far and starts over with an empty buffer.
    pub(crate) fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    pub(crate) fn u8(&mut self, value: u8) {
        self.buf.push(value);
    }

    pub(crate) fn u16(&mut self, value: u16) {
        self.raw(&value.to_be_bytes());
    }

    pub(crate) fn u32(&mut self, value: u32) {
        self.raw(&value.to_be_bytes());
    }

    pub(crate) fn i16(&mut self, value: i16) {
        self.raw(&value.to_be_bytes());
    }

    pub(crate) fn i32(&mut self, value: i32) {
        self.raw(&value.to_be_bytes());
    }

    pub(crate) fn i64(&mut self, value: i64) {
        self.raw(&value.to_be_bytes());
    }

    pub(crate) fn bool(&mut self, value: bool) {
        self.u8(u8::from(value));
    }

    pub(crate) fn string(&mut self, field: &'static str, value: &str) -> Result<(), WireError> {
        let len = checked_len(field, value.len(), STRING_LEN_MAX)?;
        self.u16(len as u16);
        self.raw(value.as_bytes());
        Ok(())
    }

    pub(crate) fn nullable_string(
        &mut self,
        field: &'static str,
        value: Option<&str>,
    ) -> Result<(), WireError> {
        match value {
            Some(value) => self.string(field, value),
            None => {
                self.u16(NULL_STRING_LEN);
                Ok(())
            }
        }
    }

    pub(crate) fn bytes(&mut self, field: &'static str, value: &[u8]) -> Result<(), WireError> {
        self.bytes_len(field, value.len())?;
        self.raw(value);
        Ok(())
    }

    /// Only the length field of a byte array of `len` bytes; the caller supplies the bytes.
    pub(crate) fn bytes_len(&mut self, field: &'static str, len: usize) -> Result<(), WireError> {
        let len = checked_len(field, len, COUNT_MAX)?;
        self.u32(len as u32);
        Ok(())
    }

    pub(crate) fn array<T: Wire>(
        &mut self,
        field: &'static str,
        items: &[T],
    ) -> Result<(), WireError> {
        self.array_with(field, items, T::encode)
    }

    pub(crate) fn array_with<T>(
        &mut self,
        field: &'static str,
        items: &[T],
        mut encode: impl FnMut(&T, &mut Writer) -> Result<(), WireError>,
    ) -> Result<(), WireError> {
        self.count(field, items.len())?;
        for item in items {
            encode(item, self)?;
        }
        Ok(())
    }

    /// Only the count field of an array of `count` elements; the caller writes the elements.
    pub(crate) fn count(&mut self, field: &'static str, count: usize) -> Result<(), WireError> {
        let count = checked_len(field, count, COUNT_MAX)?;
        self.u32(count as u32);
        Ok(())
    }

    pub(crate) fn nullable_array_with<T>(
        &mut self,
        field: &'static str,
        items: Option<&[T]>,
        encode: impl FnMut(&T, &mut Writer) -> Result<(), WireError>,
    ) -> Result<(), WireError> {
        match items {
            Some(items) => self.array_with(field, items, encode),
            None => {
                self.u32(NULL_COUNT);
                Ok(())
            }
        }
    }

    pub(crate) fn offset(&mut self, field: &'static str, offset: Offset) -> Result<(), WireError> {
        let value = i64::try_from(offset.0).map_err(|_| WireError::OutOfRange {
            field,
            value: i128::from(offset.0),
            min: 0,
            max: i128::from(i64::MAX),
        })?;
        self.i64(value);
        Ok(())
    }

    pub(crate) fn optional_offset(
        &mut self,
        field: &'static str,
        offset: Option<Offset>,
    ) -> Result<(), WireError> {
        match offset {
            Some(offset) => self.offset(field, offset),
            None => {
                self.i64(ABSENT);
                Ok(())
            }
        }
    }

    pub(crate) fn leader_epoch(
        &mut self,
        field: &'static str,
        epoch: LeaderEpoch,
    ) -> Result<(), WireError> {
        self.i32(non_negative_i32(field, epoch.0)?);
        Ok(())
    }

    pub(crate) fn optional_leader_epoch(
        &mut self,
        field: &'static str,
        epoch: Option<LeaderEpoch>,
    ) -> Result<(), WireError> {
        match epoch {
            Some(epoch) => self.leader_epoch(field, epoch),
            None => {
                self.i32(ABSENT as i32);
                Ok(())
            }
        }
    }

    pub(crate) fn broker_id(&mut self, field: &'static str, id: BrokerId) -> Result<(), WireError> {
        self.i32(non_negative_i32(field, id.0)?);
        Ok(())
    }

    pub(crate) fn optional_broker_id(
        &mut self,
        field: &'static str,
        id: Option<BrokerId>,
    ) -> Result<(), WireError> {
        match id {
            Some(id) => self.broker_id(field, id),
            None => {
                self.i32(ABSENT as i32);
                Ok(())
            }
        }
    }

    pub(crate) fn optional_timestamp(
        &mut self,
        field: &'static str,
        timestamp: Option<Timestamp>,
    ) -> Result<(), WireError> {
        match timestamp {
            Some(Timestamp(value)) if value < 0 => Err(WireError::OutOfRange {
                field,
                value: i128::from(value),
                min: 0,
                max: i128::from(i64::MAX),
            }),
            Some(Timestamp(value)) => {
                self.i64(value);
                Ok(())
            }
            None => {
                self.i64(ABSENT);
                Ok(())
            }
        }
    }

    /// A count as i32, -1 for `None`; above `i32::MAX` it is refused.
    pub(crate) fn optional_i32_count(
        &mut self,
        field: &'static str,
        count: Option<u32>,
    ) -> Result<(), WireError> {
        match count {
            Some(count) => self.i32(non_negative_i32(field, count)?),
            None => self.i32(ABSENT as i32),
        }
        Ok(())
    }

    /// A count as i16, -1 for `None`; above `i16::MAX` it is refused.
    pub(crate) fn optional_i16_count(
        &mut self,
        field: &'static str,
        count: Option<u16>,
    ) -> Result<(), WireError> {
        match count {
            Some(count) => {
                let value = i16::try_from(count).map_err(|_| WireError::OutOfRange {
                    field,
                    value: i128::from(count),
                    min: 0,
                    max: i128::from(i16::MAX),
                })?;
                self.i16(value);
            }
            None => self.i16(ABSENT as i16),
        }
        Ok(())
    }

    /// A duration as u32 milliseconds; sub-millisecond parts are dropped.
    pub(crate) fn duration_ms(
        &mut self,
        field: &'static str,
        duration: Duration,
    ) -> Result<(), WireError> {
        let millis = duration.as_millis();
        let value = u32::try_from(millis).map_err(|_| WireError::OutOfRange {
            field,
            value: i128::try_from(millis).unwrap_or(i128::MAX),
            min: 0,
            max: i128::from(u32::MAX),
        })?;
        self.u32(value);
        Ok(())
    }

    pub(crate) fn error_code(&mut self, code: ErrorCode) {
        self.i16(code.0);
    }
}

fn checked_len(field: &'static str, len: usize, max: usize) -> Result<usize, WireError> {
    if len > max {
        return Err(WireError::TooLong {
            field,
            len: len as u64,
            max: max as u64,
        });
    }
    Ok(len)
}

fn non_negative_i32(field: &'static str, value: u32) -> Result<i32, WireError> {
    i32::try_from(value).map_err(|_| WireError::OutOfRange {
        field,
        value: i128::from(value),
        min: 0,
        max: i128::from(i32::MAX),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(bytes: &[u8]) -> Reader {
        Reader::new(Bytes::copy_from_slice(bytes), 0)
    }

    #[test]
    fn integers_are_big_endian() {
        let mut w = Writer::new(0);
        w.u16(0x0102);
        w.i32(-2);
        w.i64(0x0102_0304_0506_0708);
        assert_eq!(
            w.into_inner(),
            [1, 2, 0xff, 0xff, 0xff, 0xfe, 1, 2, 3, 4, 5, 6, 7, 8]
        );
    }

    #[test]
    fn strings_are_a_u16_length_then_utf8_and_null_is_ffff() {
        let mut w = Writer::new(0);
        w.string("name", "hé").unwrap();
        w.nullable_string("rack", None).unwrap();
        let bytes = w.into_inner();
        assert_eq!(bytes, [0, 3, b'h', 0xc3, 0xa9, 0xff, 0xff]);
        let mut r = reader(&bytes);
        assert_eq!(r.string("name").unwrap(), "hé");
        assert_eq!(r.nullable_string("rack").unwrap(), None);
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn a_null_in_a_non_nullable_string_is_refused() {
        let error = reader(&[0xff, 0xff]).string("name").unwrap_err();
        assert_eq!(error, WireError::UnexpectedNull { field: "name" });
    }

    #[test]
    fn invalid_utf8_is_refused() {
        let error = reader(&[0, 2, b'a', 0xff]).string("name").unwrap_err();
        assert_eq!(
            error,
            WireError::InvalidUtf8 {
                field: "name",
                valid_up_to: 1
            }
        );
    }

    #[test]
    fn a_hostile_count_is_refused_before_allocating() {
        // 0xFFFF_FFFE elements of at least 8 bytes each, with 4 bytes left.
        let mut r = reader(&[0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 0]);
        let error = r.array_with("offsets", 8, |r| r.i64("offset")).unwrap_err();
        assert_eq!(
            error,
            WireError::CountTooLarge {
                field: "offsets",
                count: 0xffff_fffe,
                needed: 0xffff_fffe * 8,
                remaining: 4
            }
        );
    }

    #[test]
    fn a_byte_array_longer_than_the_body_is_truncated() {
        let error = reader(&[0, 0, 1, 0, 1, 2]).bytes("records").unwrap_err();
        assert_eq!(
            error,
            WireError::Truncated {
                field: "records",
                needed: 256,
                remaining: 2
            }
        );
    }

    #[test]
    fn byte_arrays_are_slices_of_the_body() {
        let body = Bytes::from_static(&[0, 0, 0, 2, 7, 8, 9]);
        let mut r = Reader::new(body.clone(), 0);
        let bytes = r.bytes("records").unwrap();
        assert_eq!(&bytes[..], &[7, 8]);
        assert_eq!(bytes.as_ptr(), body[4..].as_ptr());
    }

    #[test]
    fn optional_fields_are_minus_one_when_absent() {
        let mut w = Writer::new(0);
        w.optional_offset("high_watermark", None).unwrap();
        w.optional_leader_epoch("leader_epoch", None).unwrap();
        w.optional_broker_id("leader_id", Some(BrokerId(3)))
            .unwrap();
        let bytes = w.into_inner();
        assert_eq!(
            bytes,
            [0xff; 8]
                .iter()
                .chain(&[0xff; 4])
                .chain(&[0, 0, 0, 3])
                .copied()
                .collect::<Vec<_>>()
        );
        let mut r = reader(&bytes);
        assert_eq!(r.optional_offset("high_watermark").unwrap(), None);
        assert_eq!(r.optional_leader_epoch("leader_epoch").unwrap(), None);
        assert_eq!(
            r.optional_broker_id("leader_id").unwrap(),
            Some(BrokerId(3))
        );
    }

    #[test]
    fn optional_counts_are_minus_one_for_the_receivers_default() {
        let mut w = Writer::new(0);
        w.optional_i32_count("num_partitions", None).unwrap();
        w.optional_i16_count("replication_factor", None).unwrap();
        w.optional_i32_count("num_partitions", Some(i32::MAX as u32))
            .unwrap();
        w.optional_i16_count("replication_factor", Some(3)).unwrap();
        let bytes = w.into_inner();
        assert_eq!(
            bytes,
            [
                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0, 3
            ]
        );
        let mut r = reader(&bytes);
        assert_eq!(r.optional_i32_count("num_partitions").unwrap(), None);
        assert_eq!(r.optional_i16_count("replication_factor").unwrap(), None);
        assert_eq!(
            r.optional_i32_count("num_partitions").unwrap(),
            Some(i32::MAX as u32)
        );
        assert_eq!(r.optional_i16_count("replication_factor").unwrap(), Some(3));
        let error = reader(&(-2i32).to_be_bytes())
            .optional_i32_count("num_partitions")
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid num_partitions -2: expected a count of at least 0, or -1"
        );
        let error = reader(&i16::MIN.to_be_bytes())
            .optional_i16_count("replication_factor")
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid replication_factor -32768: expected a count of at least 0, or -1"
        );
    }

    #[test]
    fn negative_values_other_than_minus_one_are_refused() {
        let error = reader(&(-2i64).to_be_bytes())
            .optional_offset("log_start_offset")
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid log_start_offset -2: expected an offset of at least 0, or -1"
        );
        let error = reader(&(-1i64).to_be_bytes())
            .offset("fetch_offset")
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid fetch_offset -1: expected an offset of at least 0"
        );
        let error = reader(&[2]).bool("validate_only").unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid validate_only 2: expected 0 or 1"
        );
    }

    #[test]
    fn values_the_wire_cannot_carry_are_refused_on_encode() {
        let mut w = Writer::new(0);
        assert!(matches!(
            w.offset("fetch_offset", Offset(u64::MAX)),
            Err(WireError::OutOfRange { .. })
        ));
        assert!(matches!(
            w.string("name", &"x".repeat(STRING_LEN_MAX + 1)),
            Err(WireError::TooLong {
                len: 65535,
                max: 65534,
                ..
            })
        ));
        assert!(matches!(
            w.duration_ms("timeout_ms", Duration::from_secs(u64::MAX)),
            Err(WireError::OutOfRange { .. })
        ));
        assert!(matches!(
            w.leader_epoch("leader_epoch", LeaderEpoch(u32::MAX)),
            Err(WireError::OutOfRange { .. })
        ));
        assert!(matches!(
            w.optional_i32_count("num_partitions", Some(1 << 31)),
            Err(WireError::OutOfRange { .. })
        ));
        assert!(matches!(
            w.optional_i16_count("replication_factor", Some(1 << 15)),
            Err(WireError::OutOfRange { .. })
        ));
        assert_eq!(w.len(), 0, "a refused field writes nothing");
    }
}
