//! The record framing of every file in `__cluster_metadata/`, pure: encode and scan over byte
//! slices, no IO. Big-endian.
//!
//! | field   | offset | size   | type  | notes                                             |
//! |---------|-------:|-------:|-------|---------------------------------------------------|
//! | length  |      0 |      4 | u32   | payload bytes; at most [`RECORD_PAYLOAD_MAX`]     |
//! | crc     |      4 |      4 | u32   | CRC-32C of the payload                            |
//! | payload |      8 | length | bytes | serde_json of the file's record type              |
//!
//! The files:
//!
//! | file             | records                                          | written by                  |
//! |------------------|--------------------------------------------------|-----------------------------|
//! | `raft-log`       | a `Purged` log id first if the log was purged, then one per entry, indexes consecutive | appends (fsynced before openraft hears of them); truncation cuts the file; a purge rewrites it atomically |
//! | `raft-vote`      | exactly one: the vote                            | `write_atomic`              |
//! | `raft-committed` | exactly one: the last committed log id           | `write_atomic`              |
//! | `snapshot`       | exactly two: the snapshot's meta, then the state | `write_atomic`              |
//!
//! A scan of the log tells a torn tail from damage: a record cut short by the end of the file,
//! or the last record of the file failing its checksum, is a tail whose write did not complete
//! (the log cuts it); a record failing its checksum with more bytes after it is damage to data
//! that was synced, an error naming its position. A length field damaged so that its record
//! runs past the end of the file cannot be told from a torn write and is cut as one.

use ringlog_engine::format::crc32c;

/// The header before each payload.
pub(crate) const LENGTH_AT: usize = 0;
pub(crate) const CRC_AT: usize = LENGTH_AT + 4;
pub(crate) const RECORD_HEADER_LEN: usize = CRC_AT + 4;
const _: () = assert!(RECORD_HEADER_LEN == 8);

/// The largest payload a record may hold: far above any metadata entry or snapshot of a
/// cluster this controller serves, small enough that a damaged length cannot be trusted.
pub(crate) const RECORD_PAYLOAD_MAX: u32 = 256 << 20;

/// A record found by [`scan`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Record<'a> {
    /// Where the record starts in the file.
    pub(crate) position: u64,
    pub(crate) payload: &'a [u8],
}

/// What a scan of a whole file found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Scan<'a> {
    pub(crate) records: Vec<Record<'a>>,
    /// The bytes holding whole, valid records: where a torn tail starts, else the file's length.
    pub(crate) valid_len: u64,
    /// Why the bytes from `valid_len` on are a torn tail, if there are any.
    pub(crate) torn_tail: Option<String>,
}

/// Damage before the tail: a record failing its checks with more bytes after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Damage {
    pub(crate) position: u64,
    pub(crate) reason: String,
}

/// The record holding `payload`.
///
/// # Panics
/// If the payload is larger than [`RECORD_PAYLOAD_MAX`]: no reader would accept it.
pub(crate) fn encode(payload: &[u8], out: &mut Vec<u8>) {
    let length = u32::try_from(payload.len())
        .ok()
        .filter(|&length| length <= RECORD_PAYLOAD_MAX)
        .unwrap_or_else(|| {
            panic!(
                "record payload of {} bytes exceeds {RECORD_PAYLOAD_MAX}",
                payload.len()
            )
        });
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&crc32c(payload).to_be_bytes());
    out.extend_from_slice(payload);
}

/// Every record of a file, up to a torn tail; an error at the first damaged record that is not
/// the tail.
pub(crate) fn scan(bytes: &[u8]) -> Result<Scan<'_>, Damage> {
    let mut records = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let position = at as u64;
        match record_at(bytes, at) {
            Ok(payload) => {
                records.push(Record { position, payload });
                at += RECORD_HEADER_LEN + payload.len();
            }
            Err(RecordError::Incomplete(reason)) => {
                return Ok(Scan {
                    records,
                    valid_len: position,
                    torn_tail: Some(reason),
                });
            }
            Err(RecordError::Invalid { reason, end }) if end == bytes.len() => {
                return Ok(Scan {
                    records,
                    valid_len: position,
                    torn_tail: Some(reason),
                });
            }
            Err(RecordError::Invalid { reason, .. }) => return Err(Damage { position, reason }),
        }
    }
    Ok(Scan {
        records,
        valid_len: bytes.len() as u64,
        torn_tail: None,
    })
}

/// The payloads of a file written whole (atomically): exactly `count` valid records and nothing
/// else, or the reason it is not.
pub(crate) fn decode_exact(bytes: &[u8], count: usize) -> Result<Vec<&[u8]>, String> {
    let scan = scan(bytes).map_err(|damage| {
        format!(
            "record at file position {}: {}",
            damage.position, damage.reason
        )
    })?;
    if let Some(reason) = scan.torn_tail {
        return Err(format!(
            "record at file position {}: {reason}",
            scan.valid_len
        ));
    }
    if scan.records.len() != count {
        return Err(format!(
            "{} records where {count} were expected",
            scan.records.len()
        ));
    }
    Ok(scan.records.iter().map(|record| record.payload).collect())
}

enum RecordError {
    /// The record runs past the end of the bytes.
    Incomplete(String),
    /// The record is whole but fails its checks; `end` is where it ends.
    Invalid { reason: String, end: usize },
}

fn record_at(bytes: &[u8], at: usize) -> Result<&[u8], RecordError> {
    let rest = &bytes[at..];
    if rest.len() < RECORD_HEADER_LEN {
        return Err(RecordError::Incomplete(format!(
            "{} bytes where a record header takes {RECORD_HEADER_LEN}",
            rest.len()
        )));
    }
    let length = be_u32(rest, LENGTH_AT);
    let stored = be_u32(rest, CRC_AT);
    let end = RECORD_HEADER_LEN as u64 + u64::from(length);
    if end > rest.len() as u64 {
        return Err(RecordError::Incomplete(format!(
            "record of {length} bytes with {} bytes left in the file",
            rest.len() - RECORD_HEADER_LEN
        )));
    }
    let end = end as usize;
    if length > RECORD_PAYLOAD_MAX {
        return Err(RecordError::Invalid {
            reason: format!("record length {length} exceeds {RECORD_PAYLOAD_MAX}"),
            end: at + end,
        });
    }
    let payload = &rest[RECORD_HEADER_LEN..end];
    let computed = crc32c(payload);
    if stored != computed {
        return Err(RecordError::Invalid {
            reason: format!("crc mismatch (stored {stored:#010x}, computed {computed:#010x})"),
            end: at + end,
        });
    }
    Ok(payload)
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn file(payloads: &[&[u8]]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for payload in payloads {
            encode(payload, &mut bytes);
        }
        bytes
    }

    #[test]
    fn record_known_answer() {
        let bytes = file(&[b"{}"]);
        let crc = crc32c(b"{}").to_be_bytes();
        assert_eq!(&bytes[..4], &[0, 0, 0, 2]);
        assert_eq!(&bytes[4..8], &crc);
        assert_eq!(&bytes[8..], b"{}");
    }

    #[test]
    fn whole_records_scan_back_with_their_positions() {
        let bytes = file(&[b"one", b"", b"three"]);
        let scan = scan(&bytes).unwrap();
        let payloads: Vec<&[u8]> = scan.records.iter().map(|r| r.payload).collect();
        assert_eq!(payloads, [&b"one"[..], b"", b"three"]);
        let positions: Vec<u64> = scan.records.iter().map(|r| r.position).collect();
        assert_eq!(positions, [0, 11, 19]);
        assert_eq!(scan.valid_len, bytes.len() as u64);
        assert_eq!(scan.torn_tail, None);
    }

    #[test]
    fn a_record_cut_short_is_a_torn_tail_at_its_start() {
        let whole = file(&[b"one", b"two"]);
        for cut in 12..whole.len() {
            let scan = scan(&whole[..cut]).unwrap();
            assert_eq!(scan.records.len(), 1, "cut at {cut}");
            assert_eq!(scan.valid_len, 11);
            assert!(scan.torn_tail.is_some());
        }
    }

    #[test]
    fn a_bad_last_record_is_a_torn_tail() {
        let mut bytes = file(&[b"one", b"two"]);
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        let scan = scan(&bytes).unwrap();
        assert_eq!(scan.records.len(), 1);
        assert_eq!(scan.valid_len, 11);
        assert!(scan.torn_tail.unwrap().starts_with("crc mismatch"));
    }

    #[test]
    fn a_bad_record_before_the_tail_is_damage_at_its_position() {
        let mut bytes = file(&[b"one", b"two", b"three"]);
        bytes[11 + RECORD_HEADER_LEN] ^= 0xff;
        let damage = scan(&bytes).unwrap_err();
        assert_eq!(damage.position, 11);
        assert!(
            damage.reason.starts_with("crc mismatch (stored 0x"),
            "{damage:?}"
        );
    }

    #[test]
    fn a_file_written_whole_must_hold_exactly_its_records() {
        let bytes = file(&[b"meta", b"state"]);
        assert_eq!(decode_exact(&bytes, 2).unwrap(), [&b"meta"[..], b"state"]);
        assert_eq!(
            decode_exact(&bytes, 1).unwrap_err(),
            "2 records where 1 were expected"
        );
        assert!(decode_exact(&bytes[..bytes.len() - 1], 2).is_err());
        assert!(decode_exact(&[], 1).is_err());
    }

    proptest! {
        /// Scanning never panics, and what it accepts re-encodes to the valid prefix.
        #[test]
        fn scan_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            if let Ok(scan) = scan(&bytes) {
                let payloads: Vec<&[u8]> = scan.records.iter().map(|r| r.payload).collect();
                prop_assert_eq!(file(&payloads), &bytes[..scan.valid_len as usize]);
            }
        }
    }
}
