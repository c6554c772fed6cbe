//! Zigzag varints (`i32`) and varlongs (`i64`), protobuf style, as Kafka's record format uses
//! them.
//!
//! A signed value is first zigzag-mapped to an unsigned one, so that small magnitudes of either
//! sign stay short: `zigzag(n) = (n << 1) ^ (n >> (bits - 1))`, i.e. 0, -1, 1, -2, 2, ... map to
//! 0, 1, 2, 3, 4, .... The unsigned value is then written 7 bits at a time, least significant
//! group first:
//!
//! | byte part | bits | meaning                                               |
//! |-----------|-----:|-------------------------------------------------------|
//! | payload   |  0-6 | the next 7 bits of the zigzag value, low groups first |
//! | more      |    7 | 1 = another byte follows, 0 = this is the last byte   |
//!
//! | value        | zigzag       | bytes            |
//! |--------------|--------------|------------------|
//! | 0            | 0            | `00`             |
//! | -1           | 1            | `01`             |
//! | 1            | 2            | `02`             |
//! | -64          | 127          | `7f`             |
//! | 64           | 128          | `80 01`          |
//! | `i32::MAX`   | `0xfffffffe` | `fe ff ff ff 0f` |
//! | `i32::MIN`   | `0xffffffff` | `ff ff ff ff 0f` |
//!
//! A varint takes at most [`VARINT_LEN_MAX`] (5) bytes, a varlong at most [`VARLONG_LEN_MAX`]
//! (10). Decoding refuses a longer run of continuation bytes, and a final byte whose payload
//! carries bits beyond the type's width (Kafka's Java decoder drops those bits silently; no
//! encoder writes them, so here they mark damaged bytes). Non-minimal encodings that stay within
//! the length limit (`80 00` for 0) are accepted, as Kafka and protobuf accept them.

/// The longest encoding of an `i32`: 32 bits in 7-bit groups.
pub const VARINT_LEN_MAX: usize = 5;
/// The longest encoding of an `i64`: 64 bits in 7-bit groups.
pub const VARLONG_LEN_MAX: usize = 10;

const _: () = assert!(VARINT_LEN_MAX == 32_usize.div_ceil(7));
const _: () = assert!(VARLONG_LEN_MAX == 64_usize.div_ceil(7));

const PAYLOAD_MASK: u8 = 0x7f;
const MORE: u8 = 0x80;

/// Why bytes are not a varint. A varint cut short by the end of the input is not an error: the
/// decoders return `Ok(None)` for it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VarintError {
    /// More continuation bytes than the type can need.
    #[error("varint is longer than {len_max} bytes")]
    TooLong { len_max: usize },
    /// The last byte carries bits beyond the type's width.
    #[error("varint overflows {bits} bits: its final byte is {byte:#04x}")]
    Overflow { bits: u32, byte: u8 },
}

/// Appends `value` as a zigzag varint.
#[inline]
pub fn put_varint(buf: &mut Vec<u8>, value: i32) {
    put_unsigned(buf, u64::from(zigzag32(value)));
}

/// Appends `value` as a zigzag varlong.
#[inline]
pub fn put_varlong(buf: &mut Vec<u8>, value: i64) {
    put_unsigned(buf, zigzag64(value));
}

/// The number of bytes [`put_varint`] writes for `value`.
#[inline]
pub fn varint_len(value: i32) -> usize {
    unsigned_len(u64::from(zigzag32(value)))
}

/// The number of bytes [`put_varlong`] writes for `value`.
#[inline]
pub fn varlong_len(value: i64) -> usize {
    unsigned_len(zigzag64(value))
}

/// Decodes a zigzag varint at the start of `buf`: the value and the bytes it took, or
/// `Ok(None)` when `buf` ends before the varint does.
#[inline]
pub fn get_varint(buf: &[u8]) -> Result<Option<(i32, usize)>, VarintError> {
    let decoded = get_unsigned(buf, VARINT_LEN_MAX, 32)?;
    Ok(decoded.map(|(zigzag, len)| {
        let zigzag = u32::try_from(zigzag).expect("get_unsigned keeps the value within 32 bits");
        (unzigzag32(zigzag), len)
    }))
}

/// Decodes a zigzag varlong at the start of `buf`: the value and the bytes it took, or
/// `Ok(None)` when `buf` ends before the varlong does.
#[inline]
pub fn get_varlong(buf: &[u8]) -> Result<Option<(i64, usize)>, VarintError> {
    let decoded = get_unsigned(buf, VARLONG_LEN_MAX, 64)?;
    Ok(decoded.map(|(zigzag, len)| (unzigzag64(zigzag), len)))
}

fn zigzag32(value: i32) -> u32 {
    ((value << 1) ^ (value >> 31)) as u32
}

fn zigzag64(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag32(zigzag: u32) -> i32 {
    ((zigzag >> 1) as i32) ^ -((zigzag & 1) as i32)
}

fn unzigzag64(zigzag: u64) -> i64 {
    ((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64)
}

fn put_unsigned(buf: &mut Vec<u8>, mut value: u64) {
    while value >= u64::from(MORE) {
        buf.push((value as u8 & PAYLOAD_MASK) | MORE);
        value >>= 7;
    }
    buf.push(value as u8);
}

fn unsigned_len(value: u64) -> usize {
    let bits = (u64::BITS - value.leading_zeros()).max(1);
    bits.div_ceil(7) as usize
}

/// Decodes an unsigned varint of at most `len_max` bytes holding at most `bits` bits.
fn get_unsigned(
    buf: &[u8],
    len_max: usize,
    bits: u32,
) -> Result<Option<(u64, usize)>, VarintError> {
    let mut value = 0u64;
    for (i, &byte) in buf.iter().take(len_max).enumerate() {
        let payload = u64::from(byte & PAYLOAD_MASK);
        let shift = 7 * i as u32;
        // Only the final possible byte can reach past the type's width.
        if i + 1 == len_max && payload >> (bits - shift) != 0 {
            return Err(VarintError::Overflow { bits, byte });
        }
        value |= payload << shift;
        if byte & MORE == 0 {
            return Ok(Some((value, i + 1)));
        }
    }
    if buf.len() >= len_max {
        return Err(VarintError::TooLong { len_max });
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn varint_bytes(value: i32) -> Vec<u8> {
        let mut buf = Vec::new();
        put_varint(&mut buf, value);
        buf
    }

    fn varlong_bytes(value: i64) -> Vec<u8> {
        let mut buf = Vec::new();
        put_varlong(&mut buf, value);
        buf
    }

    #[test]
    fn encodings_match_the_module_table() {
        let table: &[(i32, &[u8])] = &[
            (0, &[0x00]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (-64, &[0x7f]),
            (64, &[0x80, 0x01]),
            (i32::MAX, &[0xfe, 0xff, 0xff, 0xff, 0x0f]),
            (i32::MIN, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
        ];
        for &(value, bytes) in table {
            assert_eq!(varint_bytes(value), bytes, "varint {value}");
            assert_eq!(get_varint(bytes), Ok(Some((value, bytes.len()))));
            assert_eq!(varlong_bytes(i64::from(value)), bytes, "varlong {value}");
        }
    }

    #[test]
    fn varlong_extremes_take_ten_bytes() {
        let max = [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        let min = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(varlong_bytes(i64::MAX), max);
        assert_eq!(varlong_bytes(i64::MIN), min);
        assert_eq!(get_varlong(&max), Ok(Some((i64::MAX, 10))));
        assert_eq!(get_varlong(&min), Ok(Some((i64::MIN, 10))));
    }

    #[test]
    fn cut_short_varint_needs_more_bytes() {
        assert_eq!(get_varint(&[]), Ok(None));
        assert_eq!(get_varint(&[0x80, 0x80]), Ok(None));
        assert_eq!(get_varlong(&[0xff; 9]), Ok(None));
    }

    #[test]
    fn over_long_varint_is_refused() {
        let six = [0x80, 0x80, 0x80, 0x80, 0x80, 0x00];
        assert_eq!(get_varint(&six), Err(VarintError::TooLong { len_max: 5 }));
    }

    #[test]
    fn over_long_varlong_is_refused() {
        let mut eleven = vec![0x80; 10];
        eleven.push(0x00);
        assert_eq!(
            get_varlong(&eleven),
            Err(VarintError::TooLong { len_max: 10 })
        );
    }

    #[test]
    fn bits_beyond_the_width_are_refused() {
        let err = get_varint(&[0xff, 0xff, 0xff, 0xff, 0x1f]).unwrap_err();
        assert_eq!(
            err,
            VarintError::Overflow {
                bits: 32,
                byte: 0x1f
            }
        );
        assert_eq!(
            err.to_string(),
            "varint overflows 32 bits: its final byte is 0x1f"
        );
        let mut long = vec![0xff; 9];
        long.push(0x02);
        assert_eq!(
            get_varlong(&long),
            Err(VarintError::Overflow {
                bits: 64,
                byte: 0x02
            })
        );
    }

    #[test]
    fn non_minimal_encoding_within_the_limit_is_accepted() {
        assert_eq!(get_varint(&[0x80, 0x00]), Ok(Some((0, 2))));
    }

    #[test]
    fn decoding_stops_at_the_last_byte() {
        assert_eq!(get_varint(&[0x02, 0xff, 0xff]), Ok(Some((1, 1))));
    }

    proptest! {
        #[test]
        fn varint_round_trips(value in any::<i32>(), tail in proptest::collection::vec(any::<u8>(), 0..4)) {
            let mut buf = varint_bytes(value);
            prop_assert_eq!(buf.len(), varint_len(value));
            let len = buf.len();
            buf.extend(tail);
            prop_assert_eq!(get_varint(&buf), Ok(Some((value, len))));
            prop_assert_eq!(get_varint(&buf[..len - 1]), Ok(None));
        }

        #[test]
        fn varlong_round_trips(value in any::<i64>(), tail in proptest::collection::vec(any::<u8>(), 0..4)) {
            let mut buf = varlong_bytes(value);
            prop_assert_eq!(buf.len(), varlong_len(value));
            let len = buf.len();
            buf.extend(tail);
            prop_assert_eq!(get_varlong(&buf), Ok(Some((value, len))));
            prop_assert_eq!(get_varlong(&buf[..len - 1]), Ok(None));
        }

        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
            if let Ok(Some((_, len))) = get_varint(&bytes) {
                prop_assert!(len <= VARINT_LEN_MAX);
                prop_assert!(len <= bytes.len());
            }
            if let Ok(Some((_, len))) = get_varlong(&bytes) {
                prop_assert!(len <= VARLONG_LEN_MAX);
                prop_assert!(len <= bytes.len());
            }
        }
    }
}
