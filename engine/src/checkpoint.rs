//! Checkpoint files: the small files a partition directory keeps beside its segments, written
//! atomically and checksummed. Text, so an operator can read one with `cat`.
//!
//! | file (= kind)                      | fields per entry      | entries                     | meaning                                  |
//! |------------------------------------|-----------------------|-----------------------------|------------------------------------------|
//! | `recovery-point-offset-checkpoint` | offset                | exactly 1                   | offsets below it are known to be fsynced |
//! | `log-start-offset-checkpoint`      | offset                | exactly 1                   | the log start offset                     |
//! | `replication-offset-checkpoint`    | offset                | exactly 1                   | the high watermark                       |
//! | `leader-epoch-checkpoint`          | epoch, start offset   | 0 to [`EPOCH_ENTRIES_MAX`]  | the [`LeaderEpochCache`], oldest first   |
//!
//! Every file has the same layout, one `\n` ending each line:
//!
//! | line | content                                   | type                   | example                     |
//! |------|-------------------------------------------|------------------------|-----------------------------|
//! | 1    | `<kind> <version>`                        | file name, decimal u32 | `leader-epoch-checkpoint 1` |
//! | 2    | `<entry count>`                           | decimal u64            | `2`                         |
//! | 3 .. | one entry: its fields, one space between  | decimal u64 each       | `0 0`, then `1 100`         |
//! | last | `crc32 <checksum>`                        | 8 lowercase hex digits | `crc32 88f1db66`            |
//!
//! - The checksum is CRC-32 (IEEE, as `crc32fast` computes it) of every byte before the crc
//!   line: header, count and entries, newlines included.
//! - Numbers are ASCII digits only (no sign, no spaces around them). Offsets must fit in an
//!   `i64` and epochs in an `i32`, Kafka's types; leader epochs and their start offsets must
//!   strictly increase. These are checked when a file is encoded and again when it is decoded.
//! - [`VERSION`] is 1; a reader refuses any other, so a format change must bump it.
//!
//! Writes go through [`write_atomic`]: `<file>.tmp` is written and fsynced, renamed over the
//! file, and the directory is fsynced, so a crash leaves the old file or the new one, never a
//! mix. A leftover `<file>.tmp` is ignored by readers and overwritten by the next write. One
//! writer per file: the log holds its directory's lock.
//!
//! The codec (`encode_*`, `decode_*`) is pure; `read_*` and `write_*` add the file IO.
//!
//! [`LeaderEpochCache`]: crate::epoch_cache::LeaderEpochCache

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use crate::epoch_cache::{self, EpochEntry};
use crate::error::{Error, Result};
use crate::types::{LeaderEpoch, Offset};

/// Offsets below the recovery point are known to be fsynced; recovery re-scans from here.
pub const RECOVERY_POINT_FILE: &str = "recovery-point-offset-checkpoint";
/// The log start offset (moved by retention and `delete_records`).
pub const LOG_START_OFFSET_FILE: &str = "log-start-offset-checkpoint";
/// The high watermark (Kafka's name for this file).
pub const HIGH_WATERMARK_FILE: &str = "replication-offset-checkpoint";
/// The leader-epoch cache: epoch -> start offset.
pub const LEADER_EPOCH_FILE: &str = "leader-epoch-checkpoint";

/// The format version written on line 1; the only one read.
pub const VERSION: u32 = 1;
/// The most entries a leader-epoch checkpoint may hold. Each leader change with data still in
/// the log adds one; retention removes them again, so real logs stay far below this.
pub const EPOCH_ENTRIES_MAX: usize = 1 << 20;
/// The largest checkpoint file a reader accepts, so a damaged file cannot make it allocate
/// without bound. Fits the longest possible leader-epoch checkpoint.
pub const CHECKPOINT_BYTES_MAX: u64 = 64 << 20;

/// The longest entry line: a u32 epoch, a space, a u64 offset, a newline.
const EPOCH_LINE_LEN_MAX: usize = 10 + 1 + 20 + 1;
const _: () =
    assert!((EPOCH_ENTRIES_MAX * EPOCH_LINE_LEN_MAX + 4096) as u64 <= CHECKPOINT_BYTES_MAX);

/// The crc line: this prefix, 8 hex digits, a newline.
const CRC_PREFIX: &[u8] = b"crc32 ";
const CRC_HEX_LEN: usize = 8;
const CRC_LINE_LEN: usize = CRC_PREFIX.len() + CRC_HEX_LEN + 1;
const _: () = assert!(CRC_LINE_LEN == 15);

/// How much of a bad field a reason quotes.
const EXCERPT_CHARS_MAX: usize = 40;

/// Writes `bytes` to `path` so that a crash leaves either the old content or the new: writes
/// `<path>.tmp`, fsyncs it, renames it over `path`, then fsyncs the directory so the rename
/// itself is durable. When it returns `Ok`, the new content is durable.
///
/// A failure can leave `<path>.tmp` behind; readers ignore it and the next write truncates it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = tmp_path(path);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| Error::io("create", &tmp, e))?;
    file.write_all(bytes)
        .map_err(|e| Error::io("write", &tmp, e))?;
    file.sync_all().map_err(|e| Error::io("fsync", &tmp, e))?;
    drop(file);
    fs::rename(&tmp, path).map_err(|e| Error::io("rename", &tmp, e))?;
    sync_parent_dir(path)
}

/// The checkpoint bytes holding one offset, kind `kind` (the file name).
///
/// # Panics
/// If `kind` is not a single printable token, or `offset` does not fit in an `i64`: either
/// would write a file no reader accepts.
pub fn encode_offset(kind: &str, offset: Offset) -> Vec<u8> {
    assert_offset_fits(kind, offset);
    encode(kind, &[[offset.0]])
}

/// The offset held by checkpoint bytes of kind `kind`, or the reason they are not one.
pub fn decode_offset(kind: &str, bytes: &[u8]) -> Result<Offset, String> {
    let rows = decode::<1>(kind, bytes, 1..=1)?;
    offset_from(rows[0][0], "offset")
}

/// The leader-epoch checkpoint bytes holding `entries`.
///
/// # Panics
/// If the entries break the epoch cache's invariant, are more than [`EPOCH_ENTRIES_MAX`], or
/// hold an epoch beyond `i32` or an offset beyond `i64`: such a file would be refused on read.
pub fn encode_epochs(entries: &[EpochEntry]) -> Vec<u8> {
    assert!(
        entries.len() <= EPOCH_ENTRIES_MAX,
        "{LEADER_EPOCH_FILE}: {} entries exceed the maximum {EPOCH_ENTRIES_MAX}",
        entries.len()
    );
    if let Err(reason) = epoch_cache::check_order(entries) {
        panic!("{LEADER_EPOCH_FILE}: refusing to write entries out of order: {reason}");
    }
    let rows: Vec<[u64; 2]> = entries
        .iter()
        .map(|entry| {
            assert!(
                i32::try_from(entry.epoch.0).is_ok(),
                "{LEADER_EPOCH_FILE}: epoch {} exceeds i32::MAX",
                entry.epoch
            );
            assert_offset_fits(LEADER_EPOCH_FILE, entry.start_offset);
            [u64::from(entry.epoch.0), entry.start_offset.0]
        })
        .collect();
    encode(LEADER_EPOCH_FILE, &rows)
}

/// The entries held by leader-epoch checkpoint bytes, or the reason they are not valid ones
/// (including entries that break the epoch cache's invariant).
pub fn decode_epochs(bytes: &[u8]) -> Result<Vec<EpochEntry>, String> {
    let rows = decode::<2>(LEADER_EPOCH_FILE, bytes, 0..=EPOCH_ENTRIES_MAX)?;
    let entries = rows
        .iter()
        .enumerate()
        .map(|(index, &[epoch, start_offset])| {
            let epoch = u32::try_from(epoch)
                .ok()
                .filter(|&epoch| i32::try_from(epoch).is_ok())
                .ok_or_else(|| format!("entry {index}: epoch {epoch} exceeds i32::MAX"))?;
            Ok(EpochEntry {
                epoch: LeaderEpoch(epoch),
                start_offset: offset_from(start_offset, &format!("entry {index}: start offset"))?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    epoch_cache::check_order(&entries)?;
    Ok(entries)
}

/// Atomically writes `offset` to `dir/file`; the file name is the checkpoint's kind.
pub fn write_offset(dir: &Path, file: &str, offset: Offset) -> Result<()> {
    write_atomic(&dir.join(file), &encode_offset(file, offset))
}

/// The offset in `dir/file`: `Ok(None)` if the file does not exist, [`Error::Checkpoint`]
/// naming the path and the reason if it cannot be decoded.
pub fn read_offset(dir: &Path, file: &str) -> Result<Option<Offset>> {
    let path = dir.join(file);
    let Some(bytes) = read_bounded(&path)? else {
        return Ok(None);
    };
    decode_offset(file, &bytes)
        .map(Some)
        .map_err(|reason| Error::Checkpoint { path, reason })
}

/// Atomically writes the leader-epoch cache's entries to `dir/leader-epoch-checkpoint`.
pub fn write_epochs(dir: &Path, entries: &[EpochEntry]) -> Result<()> {
    write_atomic(&dir.join(LEADER_EPOCH_FILE), &encode_epochs(entries))
}

/// The entries in `dir/leader-epoch-checkpoint`: `Ok(None)` if the file does not exist,
/// [`Error::Checkpoint`] naming the path and the reason if it cannot be decoded.
pub fn read_epochs(dir: &Path) -> Result<Option<Vec<EpochEntry>>> {
    let path = dir.join(LEADER_EPOCH_FILE);
    let Some(bytes) = read_bounded(&path)? else {
        return Ok(None);
    };
    decode_epochs(&bytes)
        .map(Some)
        .map_err(|reason| Error::Checkpoint { path, reason })
}

/// `<path>.tmp`: the name is extended, not replaced, so it never collides with another file.
fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

/// Makes a rename in `path`'s directory durable.
fn sync_parent_dir(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let handle = File::open(dir).map_err(|e| Error::io("open directory", dir, e))?;
    handle
        .sync_all()
        .map_err(|e| Error::io("fsync directory", dir, e))
}

/// The whole file, `None` if it does not exist; refuses files over [`CHECKPOINT_BYTES_MAX`].
fn read_bounded(path: &Path) -> Result<Option<Vec<u8>>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("open", path, e)),
    };
    let mut bytes = Vec::new();
    file.take(CHECKPOINT_BYTES_MAX + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io("read", path, e))?;
    if bytes.len() as u64 > CHECKPOINT_BYTES_MAX {
        return Err(Error::Checkpoint {
            path: path.to_owned(),
            reason: format!("file is larger than the maximum {CHECKPOINT_BYTES_MAX} bytes"),
        });
    }
    Ok(Some(bytes))
}

fn assert_offset_fits(kind: &str, offset: Offset) {
    assert!(
        i64::try_from(offset.0).is_ok(),
        "{kind}: offset {offset} exceeds i64::MAX"
    );
}

fn offset_from(value: u64, what: &str) -> Result<Offset, String> {
    match i64::try_from(value) {
        Ok(_) => Ok(Offset(value)),
        Err(_) => Err(format!("{what} {value} exceeds i64::MAX")),
    }
}

/// The file: header, count, one line per row, crc line.
fn encode<const N: usize>(kind: &str, rows: &[[u64; N]]) -> Vec<u8> {
    // A kind with a space or newline, or named like the crc line, would not parse back.
    assert!(
        !kind.is_empty() && kind.bytes().all(|b| b.is_ascii_graphic()),
        "checkpoint kind {kind:?} is not a single printable token"
    );
    assert!(kind != "crc32", "checkpoint kind may not be \"crc32\"");
    let mut text = format!("{kind} {VERSION}\n{}\n", rows.len());
    for row in rows {
        text.push_str(&row.map(|field| field.to_string()).join(" "));
        text.push('\n');
    }
    let crc = crc32fast::hash(text.as_bytes());
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(CRC_PREFIX);
    bytes.extend_from_slice(format!("{crc:08x}\n").as_bytes());
    bytes
}

/// The rows of a file of kind `kind` with `N` fields per entry and an entry count in
/// `count_range`. The checksum is verified before anything else is parsed, so damage shows up
/// as a crc mismatch rather than as whatever the damaged text happens to look like.
fn decode<const N: usize>(
    kind: &str,
    bytes: &[u8],
    count_range: RangeInclusive<usize>,
) -> Result<Vec<[u64; N]>, String> {
    let body = verified_body(bytes)?;
    let text = std::str::from_utf8(body)
        .map_err(|e| format!("not text: invalid utf-8 at byte {}", e.valid_up_to()))?;
    // The body is empty or ends with '\n' (the crc line starts a line).
    let mut lines = text.split_terminator('\n');

    let header = lines.next().ok_or("missing header line")?;
    let (found_kind, version) = header
        .split_once(' ')
        .ok_or_else(|| format!("header line {} is not `<kind> <version>`", excerpt(header)))?;
    if found_kind != kind {
        return Err(format!(
            "wrong kind {}, expected {kind:?}",
            excerpt(found_kind)
        ));
    }
    let version = parse_number(version, "version")?;
    if version != u64::from(VERSION) {
        return Err(format!("unsupported version {version}, expected {VERSION}"));
    }

    let count = lines.next().ok_or("missing entry count line")?;
    let count = parse_number(count, "entry count")?;
    if !usize::try_from(count).is_ok_and(|count| count_range.contains(&count)) {
        return Err(format!(
            "bad entry count {count}, expected {} to {}",
            count_range.start(),
            count_range.end()
        ));
    }

    let rows = lines
        .enumerate()
        .map(|(index, line)| parse_row::<N>(index, line))
        .collect::<Result<Vec<_>, String>>()?;
    if rows.len() as u64 != count {
        return Err(format!(
            "entry count {count} but {} entry lines",
            rows.len()
        ));
    }
    Ok(rows)
}

/// The bytes before the crc line, once the checksum over them matches and nothing follows it.
fn verified_body(bytes: &[u8]) -> Result<&[u8], String> {
    if bytes.is_empty() {
        return Err("file is empty".to_owned());
    }
    let crc_at = find_crc_line(bytes).ok_or("missing crc line")?;
    let crc_line = &bytes[crc_at..];
    let stored = crc_line
        .get(CRC_PREFIX.len()..CRC_PREFIX.len() + CRC_HEX_LEN)
        .and_then(parse_lower_hex)
        .filter(|_| crc_line.get(CRC_LINE_LEN - 1) == Some(&b'\n'))
        .ok_or_else(|| {
            let line = crc_line.split(|&b| b == b'\n').next().unwrap_or_default();
            format!(
                "bad crc line {}, expected `crc32 <8 lowercase hex digits>`",
                excerpt(&String::from_utf8_lossy(line))
            )
        })?;
    let body = &bytes[..crc_at];
    let computed = crc32fast::hash(body);
    if stored != computed {
        return Err(format!(
            "crc mismatch (stored {stored:#010x}, computed {computed:#010x})"
        ));
    }
    let trailing = crc_line.len() - CRC_LINE_LEN;
    if trailing > 0 {
        return Err(format!("{trailing} trailing bytes after the crc line"));
    }
    Ok(body)
}

/// Where the first line starting with `crc32 ` begins. No other line can start so: the header
/// starts with the kind (a token other than `crc32`), the others with digits.
fn find_crc_line(bytes: &[u8]) -> Option<usize> {
    let mut line_start = 0;
    loop {
        if bytes[line_start..].starts_with(CRC_PREFIX) {
            return Some(line_start);
        }
        let newline = bytes[line_start..].iter().position(|&b| b == b'\n')?;
        line_start += newline + 1;
    }
}

fn parse_lower_hex(digits: &[u8]) -> Option<u32> {
    let lower_hex = |b: &u8| b.is_ascii_digit() || (b'a'..=b'f').contains(b);
    if !digits.iter().all(lower_hex) {
        return None;
    }
    let digits = std::str::from_utf8(digits).ok()?;
    u32::from_str_radix(digits, 16).ok()
}

fn parse_row<const N: usize>(index: usize, line: &str) -> Result<[u64; N], String> {
    let found = line.split(' ').count();
    if found != N {
        return Err(format!(
            "entry {index}: expected {N} fields, found {found} in {}",
            excerpt(line)
        ));
    }
    let mut row = [0; N];
    for (slot, field) in row.iter_mut().zip(line.split(' ')) {
        *slot = parse_number(field, &format!("entry {index}"))?;
    }
    Ok(row)
}

/// A decimal u64 written as ASCII digits only (`str::parse` would also take a leading `+`).
fn parse_number(field: &str, what: &str) -> Result<u64, String> {
    if field.is_empty() || !field.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{what}: bad number {}", excerpt(field)));
    }
    field
        .parse()
        .map_err(|_| format!("{what}: number {} exceeds u64::MAX", excerpt(field)))
}

/// `text` quoted, cut to [`EXCERPT_CHARS_MAX`] characters, control characters escaped.
fn excerpt(text: &str) -> String {
    let cut: String = text.chars().take(EXCERPT_CHARS_MAX).collect();
    if cut.len() < text.len() {
        format!("{cut:?}...")
    } else {
        format!("{cut:?}")
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn entry(epoch: u32, start_offset: u64) -> EpochEntry {
        EpochEntry {
            epoch: LeaderEpoch(epoch),
            start_offset: Offset(start_offset),
        }
    }

    /// `body` followed by its correct crc line, for testing what the parser does past the crc.
    fn sealed(body: &str) -> Vec<u8> {
        let mut bytes = body.as_bytes().to_vec();
        bytes.extend(format!("crc32 {:08x}\n", crc32fast::hash(body.as_bytes())).into_bytes());
        bytes
    }

    #[test]
    fn offset_checkpoint_is_the_documented_text() {
        let bytes = encode_offset(HIGH_WATERMARK_FILE, Offset(4096));
        let body = "replication-offset-checkpoint 1\n1\n4096\n";
        let expected = format!("{body}crc32 {:08x}\n", crc32fast::hash(body.as_bytes()));
        assert_eq!(String::from_utf8(bytes).unwrap(), expected);
    }

    #[test]
    fn epoch_checkpoint_is_the_documented_text() {
        let bytes = encode_epochs(&[entry(0, 0), entry(1, 100)]);
        let body = "leader-epoch-checkpoint 1\n2\n0 0\n1 100\n";
        let expected = format!("{body}crc32 {:08x}\n", crc32fast::hash(body.as_bytes()));
        assert_eq!(String::from_utf8(bytes).unwrap(), expected);
    }

    #[test]
    fn documented_example_crc_is_right() {
        let bytes = encode_epochs(&[entry(0, 0), entry(1, 100)]);
        assert!(
            bytes.ends_with(b"crc32 88f1db66\n"),
            "{:?}",
            String::from_utf8_lossy(&bytes)
        );
    }

    #[test]
    fn empty_epoch_checkpoint_round_trips() {
        assert_eq!(decode_epochs(&encode_epochs(&[])), Ok(vec![]));
    }

    #[test]
    fn crc_mismatch_is_reported_with_both_values() {
        let mut bytes = encode_offset(RECOVERY_POINT_FILE, Offset(1234));
        let digit = bytes.iter().position(|&b| b == b'2').unwrap();
        bytes[digit] = b'3';
        let stored = crc32fast::hash(b"recovery-point-offset-checkpoint 1\n1\n1234\n");
        let computed = crc32fast::hash(b"recovery-point-offset-checkpoint 1\n1\n1334\n");
        assert_eq!(
            decode_offset(RECOVERY_POINT_FILE, &bytes),
            Err(format!(
                "crc mismatch (stored {stored:#010x}, computed {computed:#010x})"
            ))
        );
    }

    #[test]
    fn wrong_kind_is_refused_naming_both() {
        let bytes = encode_offset(LOG_START_OFFSET_FILE, Offset(7));
        assert_eq!(
            decode_offset(HIGH_WATERMARK_FILE, &bytes),
            Err(
                "wrong kind \"log-start-offset-checkpoint\", expected \"replication-offset-checkpoint\""
                    .to_owned()
            )
        );
    }

    #[test]
    fn unsupported_version_is_refused() {
        let bytes = sealed("replication-offset-checkpoint 2\n1\n5\n");
        assert_eq!(
            decode_offset(HIGH_WATERMARK_FILE, &bytes),
            Err("unsupported version 2, expected 1".to_owned())
        );
    }

    #[test]
    fn offset_checkpoint_must_hold_exactly_one_entry() {
        let bytes = sealed("replication-offset-checkpoint 1\n2\n5\n6\n");
        assert_eq!(
            decode_offset(HIGH_WATERMARK_FILE, &bytes),
            Err("bad entry count 2, expected 1 to 1".to_owned())
        );
    }

    #[test]
    fn entry_count_must_match_the_entry_lines() {
        let bytes = sealed("leader-epoch-checkpoint 1\n3\n0 0\n1 100\n");
        assert_eq!(
            decode_epochs(&bytes),
            Err("entry count 3 but 2 entry lines".to_owned())
        );
    }

    #[test]
    fn entry_with_wrong_field_count_is_refused() {
        let bytes = sealed("leader-epoch-checkpoint 1\n1\n0 0 0\n");
        assert_eq!(
            decode_epochs(&bytes),
            Err("entry 0: expected 2 fields, found 3 in \"0 0 0\"".to_owned())
        );
    }

    #[test]
    fn non_digit_number_is_refused() {
        let bytes = sealed("log-start-offset-checkpoint 1\n1\n+5\n");
        assert_eq!(
            decode_offset(LOG_START_OFFSET_FILE, &bytes),
            Err("entry 0: bad number \"+5\"".to_owned())
        );
    }

    #[test]
    fn number_beyond_u64_is_refused() {
        let bytes = sealed("log-start-offset-checkpoint 1\n1\n99999999999999999999\n");
        assert_eq!(
            decode_offset(LOG_START_OFFSET_FILE, &bytes),
            Err("entry 0: number \"99999999999999999999\" exceeds u64::MAX".to_owned())
        );
    }

    #[test]
    fn offset_beyond_i64_is_refused() {
        let bytes = sealed(&format!("log-start-offset-checkpoint 1\n1\n{}\n", u64::MAX));
        assert_eq!(
            decode_offset(LOG_START_OFFSET_FILE, &bytes),
            Err(format!("offset {} exceeds i64::MAX", u64::MAX))
        );
    }

    #[test]
    fn epoch_beyond_i32_is_refused() {
        let bytes = sealed(&format!("leader-epoch-checkpoint 1\n1\n{} 0\n", 1u64 << 31));
        assert_eq!(
            decode_epochs(&bytes),
            Err(format!("entry 0: epoch {} exceeds i32::MAX", 1u64 << 31))
        );
    }

    #[test]
    fn epochs_out_of_order_are_refused_naming_both_entries() {
        let bytes = sealed("leader-epoch-checkpoint 1\n2\n5 100\n4 200\n");
        assert_eq!(
            decode_epochs(&bytes),
            Err(
                "entry 1 (epoch 4, start offset 200) does not follow entry 0 \
                 (epoch 5, start offset 100): epochs must strictly increase"
                    .to_owned()
            )
        );
    }

    #[test]
    fn trailing_bytes_after_crc_line_are_refused() {
        let mut bytes = encode_offset(HIGH_WATERMARK_FILE, Offset(5));
        bytes.extend_from_slice(b"xy");
        assert_eq!(
            decode_offset(HIGH_WATERMARK_FILE, &bytes),
            Err("2 trailing bytes after the crc line".to_owned())
        );
    }

    #[test]
    fn truncated_file_has_no_crc_line() {
        let bytes = encode_offset(HIGH_WATERMARK_FILE, Offset(5));
        let cut = bytes.len() - CRC_LINE_LEN;
        assert_eq!(
            decode_offset(HIGH_WATERMARK_FILE, &bytes[..cut]),
            Err("missing crc line".to_owned())
        );
    }

    #[test]
    fn crc_line_cut_short_is_refused() {
        let bytes = encode_offset(HIGH_WATERMARK_FILE, Offset(5));
        let err = decode_offset(HIGH_WATERMARK_FILE, &bytes[..bytes.len() - 3]).unwrap_err();
        assert!(err.starts_with("bad crc line \"crc32 "), "{err}");
    }

    #[test]
    fn uppercase_crc_is_refused() {
        let bytes = b"replication-offset-checkpoint 1\n1\n5\ncrc32 ABCDEF01\n";
        assert_eq!(
            decode_offset(HIGH_WATERMARK_FILE, bytes),
            Err(
                "bad crc line \"crc32 ABCDEF01\", expected `crc32 <8 lowercase hex digits>`"
                    .to_owned()
            )
        );
    }

    #[test]
    fn empty_file_is_refused() {
        assert_eq!(
            decode_offset(HIGH_WATERMARK_FILE, b""),
            Err("file is empty".to_owned())
        );
    }

    #[test]
    fn long_garbage_is_quoted_in_part() {
        let kind = "k".repeat(100);
        let bytes = sealed(&format!("{kind} 1\n1\n5\n"));
        let err = decode_offset(HIGH_WATERMARK_FILE, &bytes).unwrap_err();
        assert!(
            err.starts_with(&format!("wrong kind \"{}\"...,", "k".repeat(40))),
            "{err}"
        );
    }

    #[test]
    #[should_panic(expected = "offset 9223372036854775808 exceeds i64::MAX")]
    fn encoding_an_offset_beyond_i64_is_a_bug() {
        encode_offset(HIGH_WATERMARK_FILE, Offset(1 << 63));
    }

    #[test]
    #[should_panic(expected = "refusing to write entries out of order")]
    fn encoding_epochs_out_of_order_is_a_bug() {
        encode_epochs(&[entry(2, 0), entry(1, 10)]);
    }

    #[test]
    #[should_panic(expected = "is not a single printable token")]
    fn kind_with_a_space_is_a_bug() {
        encode_offset("two words", Offset(1));
    }

    #[test]
    fn missing_file_reads_as_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_offset(dir.path(), RECOVERY_POINT_FILE).unwrap(), None);
        assert_eq!(read_epochs(dir.path()).unwrap(), None);
    }

    #[test]
    fn written_offset_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        write_offset(dir.path(), LOG_START_OFFSET_FILE, Offset(42)).unwrap();
        assert_eq!(
            read_offset(dir.path(), LOG_START_OFFSET_FILE).unwrap(),
            Some(Offset(42))
        );
        assert!(!tmp_path(&dir.path().join(LOG_START_OFFSET_FILE)).exists());
    }

    #[test]
    fn written_epochs_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let entries = [entry(0, 0), entry(3, 100), entry(4, 250)];
        write_epochs(dir.path(), &entries).unwrap();
        assert_eq!(read_epochs(dir.path()).unwrap(), Some(entries.to_vec()));
    }

    #[test]
    fn rewrite_replaces_the_previous_content() {
        let dir = tempfile::tempdir().unwrap();
        write_offset(dir.path(), HIGH_WATERMARK_FILE, Offset(10)).unwrap();
        write_offset(dir.path(), HIGH_WATERMARK_FILE, Offset(20)).unwrap();
        assert_eq!(
            read_offset(dir.path(), HIGH_WATERMARK_FILE).unwrap(),
            Some(Offset(20))
        );
    }

    #[test]
    fn leftover_tmp_file_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(HIGH_WATERMARK_FILE);
        write_offset(dir.path(), HIGH_WATERMARK_FILE, Offset(10)).unwrap();
        fs::write(tmp_path(&path), b"half a checkp").unwrap();
        assert_eq!(
            read_offset(dir.path(), HIGH_WATERMARK_FILE).unwrap(),
            Some(Offset(10))
        );
    }

    #[test]
    fn leftover_tmp_file_without_target_reads_as_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LEADER_EPOCH_FILE);
        fs::write(tmp_path(&path), encode_epochs(&[entry(1, 0)])).unwrap();
        assert_eq!(read_epochs(dir.path()).unwrap(), None);
    }

    #[test]
    fn next_write_overwrites_leftover_tmp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(HIGH_WATERMARK_FILE);
        fs::write(tmp_path(&path), vec![b'x'; 10_000]).unwrap();
        write_offset(dir.path(), HIGH_WATERMARK_FILE, Offset(30)).unwrap();
        assert_eq!(
            read_offset(dir.path(), HIGH_WATERMARK_FILE).unwrap(),
            Some(Offset(30))
        );
        assert!(!tmp_path(&path).exists());
    }

    #[test]
    fn write_atomic_into_missing_directory_names_the_operation_and_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent").join("file");
        let err = write_atomic(&path, b"x").unwrap_err();
        assert!(
            matches!(&err, Error::Io { op: "create", path: p, .. } if *p == tmp_path(&path)),
            "{err:?}"
        );
    }

    #[test]
    fn corrupt_file_is_a_checkpoint_error_naming_path_and_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(RECOVERY_POINT_FILE);
        fs::write(&path, b"garbage\n").unwrap();
        let err = read_offset(dir.path(), RECOVERY_POINT_FILE).unwrap_err();
        assert!(
            matches!(&err, Error::Checkpoint { path: p, reason } if *p == path && reason == "missing crc line"),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!("checkpoint {}: missing crc line", path.display())
        );
    }

    #[test]
    fn file_over_the_size_limit_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LEADER_EPOCH_FILE);
        let file = File::create(&path).unwrap();
        file.set_len(CHECKPOINT_BYTES_MAX + 1).unwrap();
        let err = read_epochs(dir.path()).unwrap_err();
        assert!(
            matches!(&err, Error::Checkpoint { reason, .. } if reason.contains("larger than the maximum")),
            "{err:?}"
        );
    }

    fn increasing_entries() -> impl Strategy<Value = Vec<EpochEntry>> {
        proptest::collection::vec((1u32..1000, 1u64..1_000_000_000), 0..50).prop_map(|steps| {
            let mut epoch = 0u32;
            let mut offset = 0u64;
            steps
                .into_iter()
                .map(|(epoch_step, offset_step)| {
                    epoch += epoch_step;
                    offset += offset_step;
                    entry(epoch, offset)
                })
                .collect()
        })
    }

    fn kind() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            RECOVERY_POINT_FILE,
            LOG_START_OFFSET_FILE,
            HIGH_WATERMARK_FILE,
        ])
    }

    proptest! {
        #[test]
        fn offset_round_trips(kind in kind(), offset in 0..=i64::MAX as u64) {
            let bytes = encode_offset(kind, Offset(offset));
            prop_assert_eq!(decode_offset(kind, &bytes), Ok(Offset(offset)));
        }

        #[test]
        fn epochs_round_trip(entries in increasing_entries()) {
            let bytes = encode_epochs(&entries);
            prop_assert_eq!(decode_epochs(&bytes), Ok(entries));
        }

        #[test]
        fn decoders_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode_offset(HIGH_WATERMARK_FILE, &bytes);
            let _ = decode_epochs(&bytes);
        }

        /// Arbitrary text behind a valid crc line reaches the body parser.
        #[test]
        fn decoders_never_panic_on_sealed_arbitrary_text(
            header in prop::sample::select(vec!["", "leader-epoch-checkpoint 1\n", "replication-offset-checkpoint 1\n"]),
            rest in "[a-z0-9 \\-\n+]{0,120}",
        ) {
            let bytes = sealed(&format!("{header}{rest}"));
            let _ = decode_offset(HIGH_WATERMARK_FILE, &bytes);
            let _ = decode_epochs(&bytes);
        }

        #[test]
        fn decoders_never_panic_on_mutated_valid_files(
            entries in increasing_entries(),
            mutations in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        ) {
            let mut bytes = encode_epochs(&entries);
            for (at, value) in mutations {
                let at = at.index(bytes.len());
                bytes[at] = value;
            }
            let _ = decode_epochs(&bytes);
            let _ = decode_offset(HIGH_WATERMARK_FILE, &bytes);
        }

        #[test]
        fn any_single_byte_change_is_detected(
            entries in increasing_entries(),
            at in any::<prop::sample::Index>(),
            value in any::<u8>(),
        ) {
            let original = encode_epochs(&entries);
            let mut bytes = original.clone();
            let at = at.index(bytes.len());
            prop_assume!(bytes[at] != value);
            bytes[at] = value;
            prop_assert!(decode_epochs(&bytes).is_err());
        }
    }
}
