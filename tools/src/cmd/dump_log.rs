//! `ringlog dump-log PATH`: the record batches of a `.log` segment file, or of every segment of
//! a partition directory in base-offset order, read directly and read-only.
//!
//! This never goes through `Log::open`, which would recover the log (cut a torn tail, rewrite
//! indexes and checkpoints): what is printed is what is on disk, and dumping a log a broker has
//! open is safe.
//!
//! Each batch is checked as the engine checks it on the way in (header fields, length, CRC),
//! and against the one before it (offsets continue, leader epochs do not go back; the first
//! batch starts at the base offset the file is named after). A problem is printed where it is
//! found, with file and position. A batch whose header or length is bad, or whose CRC does not
//! match, ends the walk of that file: the next batch boundary cannot be trusted. With
//! `--verify`, any problem makes the command fail (exit code 1) once every file is walked.

use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use ringlog_engine::Offset;
use ringlog_engine::format::{BatchHeader, HEADER_LEN, batch};
use ringlog_engine::segment::{LOG_SUFFIX, parse_file_name};
use serde::Serialize;

/// How much of a file is read at a time.
const READ_CHUNK: usize = 1 << 20;
/// Problems listed in the `--verify` failure message (all are printed on stdout).
const PROBLEMS_IN_ERROR_MAX: usize = 10;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// A `.log` segment file, or a partition directory (every `*.log` in it, by base offset).
    path: PathBuf,
    /// Fail (exit code 1) if any batch is invalid, truncated or out of order.
    #[arg(long)]
    verify: bool,
    /// Print one JSON object per line: each batch (`"kind": "batch"`), each problem
    /// (`"problem"`) and each file's summary (`"summary"`).
    #[arg(long)]
    json: bool,
}

/// One segment file to walk.
struct SegmentFile {
    path: PathBuf,
    /// The base offset in the file's name, when it is named like a segment.
    base_offset: Option<Offset>,
}

/// One batch as found on disk.
#[derive(Serialize, Debug)]
struct BatchLine<'a> {
    kind: &'static str,
    file: &'a str,
    position: u64,
    base_offset: i64,
    last_offset: i64,
    count: i32,
    bytes: usize,
    leader_epoch: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    /// -1 for a batch of a producer that is not idempotent.
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    crc_ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Something wrong at a place in a file.
#[derive(Serialize, Debug, Clone)]
struct Problem {
    kind: &'static str,
    file: String,
    position: u64,
    error: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: bad batch at file position {}: {}",
            self.file, self.position, self.error
        )
    }
}

/// What one file held.
#[derive(Serialize, Debug)]
struct Summary<'a> {
    kind: &'static str,
    file: &'a str,
    batches: u64,
    records: u64,
    /// Bytes of the batches walked (valid or not).
    bytes: u64,
    file_bytes: u64,
    first_offset: Option<i64>,
    last_offset: Option<i64>,
    problems: usize,
}

pub(crate) fn run(args: Args) -> Result<()> {
    let files = segment_files(&args.path)?;
    let mut out = Printer {
        out: BufWriter::new(io::stdout().lock()),
        json: args.json,
    };
    let mut problems = Vec::new();
    // The offset the next file should start at, once one file was walked.
    let mut expected_next: Option<i64> = None;
    for file in &files {
        let walk = walk_file(file, expected_next, &mut out)?;
        // After a walk that stopped early, where that file really ends is unknown.
        expected_next = walk.next_offset;
        problems.extend(walk.problems);
    }
    out.out.flush()?;
    if args.verify && !problems.is_empty() {
        let listed: Vec<String> = problems
            .iter()
            .take(PROBLEMS_IN_ERROR_MAX)
            .map(|p| p.to_string())
            .collect();
        bail!(
            "verification failed: {} problem(s) in {}:\n  {}",
            problems.len(),
            args.path.display(),
            listed.join("\n  ")
        );
    }
    Ok(())
}

/// The segment files `path` names: itself, or every `*.log` segment in it by base offset.
fn segment_files(path: &Path) -> Result<Vec<SegmentFile>> {
    let meta = std::fs::metadata(path).with_context(|| format!("stat {}", path.display()))?;
    if !meta.is_dir() {
        let base_offset = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(parse_file_name)
            .filter(|(_, suffix)| *suffix == LOG_SUFFIX)
            .map(|(base, _)| base);
        return Ok(vec![SegmentFile {
            path: path.to_path_buf(),
            base_offset,
        }]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).with_context(|| format!("list {}", path.display()))? {
        let entry = entry.with_context(|| format!("list {}", path.display()))?;
        let name = entry.file_name();
        if let Some((base, LOG_SUFFIX)) = name.to_str().and_then(parse_file_name) {
            files.push(SegmentFile {
                path: entry.path(),
                base_offset: Some(base),
            });
        }
    }
    if files.is_empty() {
        bail!("{}: no segment (*.log) files", path.display());
    }
    files.sort_by_key(|f| f.base_offset);
    Ok(files)
}

/// What walking one file found, for the checks across files.
struct Walk {
    /// The offset after the last batch, when the walk reached the end of the file.
    next_offset: Option<i64>,
    problems: Vec<Problem>,
}

/// Prints every batch of `file` and its summary; see the module docs for what is checked.
/// `expected_base` is where the previous file ended.
fn walk_file(
    file: &SegmentFile,
    expected_base: Option<i64>,
    out: &mut Printer<impl Write>,
) -> Result<Walk> {
    let name = file.path.display().to_string();
    let mut reader = ChunkReader::open(&file.path)?;
    out.file_start(&name, reader.len)?;
    let mut problems = Vec::new();
    let mut problem = |out: &mut Printer<_>, position: u64, error: String| {
        let p = Problem {
            kind: "problem",
            file: name.clone(),
            position,
            error,
        };
        let printed = out.problem(&p);
        problems.push(p);
        printed
    };
    if let (Some(base), Some(expected)) = (file.base_offset, expected_base)
        && base.as_i64() != expected
    {
        let error = format!("segment starts at offset {base}, the previous one ends at {expected}");
        problem(out, 0, error)?;
    }
    let mut summary = Summary {
        kind: "summary",
        file: &name,
        batches: 0,
        records: 0,
        bytes: 0,
        file_bytes: reader.len,
        first_offset: None,
        last_offset: None,
        problems: 0,
    };
    let mut expected = file.base_offset.map(|b| b.as_i64());
    let mut last_epoch: Option<i32> = None;
    let mut position = 0u64;
    let mut complete = true;
    while position < reader.len {
        let header = match next_header(&mut reader, position) {
            Ok(h) => h,
            Err(error) => {
                problem(out, position, error)?;
                complete = false;
                break;
            }
        };
        let bytes = reader.bytes(position, header.total_len())?;
        let check = batch::validate_batch(bytes, u32::MAX).err();
        out.batch(&BatchLine {
            kind: "batch",
            file: &name,
            position,
            base_offset: header.base_offset,
            last_offset: header.last_offset(),
            count: header.record_count,
            bytes: header.total_len(),
            leader_epoch: header.partition_leader_epoch,
            base_timestamp: header.base_timestamp,
            max_timestamp: header.max_timestamp,
            producer_id: header.producer_id,
            producer_epoch: header.producer_epoch,
            base_sequence: header.base_sequence,
            crc_ok: check.is_none(),
            error: check.as_ref().map(|e| e.to_string()),
        })?;
        summary.batches += 1;
        summary.bytes += header.total_len() as u64;
        if let Some(e) = check {
            problem(out, position, e.to_string())?;
            complete = false;
            break;
        }
        if let Some(error) = continuity(&header, expected, last_epoch) {
            problem(out, position, error)?;
        }
        summary.records += header.record_count as u64;
        summary.first_offset = summary.first_offset.or(Some(header.base_offset));
        summary.last_offset = Some(header.last_offset());
        expected = Some(header.next_offset());
        if header.partition_leader_epoch >= 0 {
            last_epoch = Some(header.partition_leader_epoch);
        }
        position += header.total_len() as u64;
    }
    summary.problems = problems.len();
    out.summary(&summary)?;
    let next_offset = match summary.last_offset {
        Some(last) => Some(last + 1),
        None => file.base_offset.map(|b| b.as_i64()),
    };
    Ok(Walk {
        next_offset: next_offset.filter(|_| complete),
        problems,
    })
}

/// The header of the batch at `position`, when its fields are valid and the whole batch lies
/// in the file; else why not.
fn next_header(reader: &mut ChunkReader, position: u64) -> Result<BatchHeader, String> {
    let available = reader.len - position;
    if available < HEADER_LEN as u64 {
        return Err(format!(
            "truncated header: {available} bytes left, a header takes {HEADER_LEN}"
        ));
    }
    let head = reader
        .bytes(position, HEADER_LEN)
        .map_err(|e| format!("read failed: {e}"))?;
    let header = BatchHeader::decode(head).expect("a whole header was read");
    header.validate(u32::MAX).map_err(|e| e.to_string())?;
    let len = header.total_len() as u64;
    if len > available {
        return Err(format!(
            "truncated batch: {len} bytes long, {available} left in the file"
        ));
    }
    Ok(header)
}

/// Why `header` does not follow the batch before it (as recovery checks it), if it does not.
fn continuity(
    header: &BatchHeader,
    expected: Option<i64>,
    last_epoch: Option<i32>,
) -> Option<String> {
    if let Some(expected) = expected
        && header.base_offset != expected
    {
        return Some(format!(
            "batch base offset {} where offset {expected} was expected",
            header.base_offset
        ));
    }
    if let Some(last) = last_epoch
        && header.partition_leader_epoch < last
    {
        return Some(format!(
            "leader epoch {} after a batch of epoch {last}",
            header.partition_leader_epoch
        ));
    }
    None
}

/// Reads a file front to back in large chunks, read-only.
struct ChunkReader {
    file: File,
    path: PathBuf,
    /// The file's length when opened: a log being appended to is walked up to there.
    len: u64,
    buf: Vec<u8>,
    /// File position of `buf[0]`.
    buf_pos: u64,
}

impl ChunkReader {
    fn open(path: &Path) -> Result<ChunkReader> {
        let file = File::open(path).with_context(|| format!("open {}", path.display()))?;
        let len = file
            .metadata()
            .with_context(|| format!("stat {}", path.display()))?
            .len();
        Ok(ChunkReader {
            file,
            path: path.to_path_buf(),
            len,
            buf: Vec::new(),
            buf_pos: 0,
        })
    }

    /// The `len` bytes at `at`, which the caller keeps within the file.
    fn bytes(&mut self, at: u64, len: usize) -> Result<&[u8]> {
        assert!(
            at + len as u64 <= self.len,
            "read of {len} bytes at {at} past the end {}",
            self.len
        );
        let buffered_end = self.buf_pos + self.buf.len() as u64;
        if at < self.buf_pos || at + len as u64 > buffered_end {
            let read = len.max(READ_CHUNK).min((self.len - at) as usize);
            self.buf.resize(read, 0);
            self.buf_pos = at;
            self.file
                .read_exact_at(&mut self.buf, at)
                .with_context(|| format!("read {read} bytes at {at} of {}", self.path.display()))?;
        }
        let from = (at - self.buf_pos) as usize;
        Ok(&self.buf[from..from + len])
    }
}

/// Prints lines as text or as JSON objects.
struct Printer<W: Write> {
    out: W,
    json: bool,
}

impl<W: Write> Printer<W> {
    /// Text only: a line naming the file its batch lines belong to.
    fn file_start(&mut self, file: &str, file_bytes: u64) -> io::Result<()> {
        if self.json {
            return Ok(());
        }
        writeln!(self.out, "file {file} ({file_bytes} bytes)")
    }

    fn batch(&mut self, b: &BatchLine<'_>) -> io::Result<()> {
        if self.json {
            return self.json_line(b);
        }
        let crc = match &b.error {
            None => "ok".to_string(),
            Some(e) => format!("bad: {e}"),
        };
        writeln!(
            self.out,
            "base_offset {} last_offset {} count {} bytes {} position {} leader_epoch {} \
             base_timestamp {} max_timestamp {} producer_id {} producer_epoch {} \
             base_sequence {} crc {crc}",
            b.base_offset,
            b.last_offset,
            b.count,
            b.bytes,
            b.position,
            b.leader_epoch,
            b.base_timestamp,
            b.max_timestamp,
            b.producer_id,
            b.producer_epoch,
            b.base_sequence
        )
    }

    fn problem(&mut self, p: &Problem) -> io::Result<()> {
        if self.json {
            return self.json_line(p);
        }
        writeln!(self.out, "problem: {p}")
    }

    fn summary(&mut self, s: &Summary<'_>) -> io::Result<()> {
        if self.json {
            return self.json_line(s);
        }
        let offsets = match (s.first_offset, s.last_offset) {
            (Some(first), Some(last)) => format!("first_offset {first} last_offset {last}"),
            _ => "no offsets".to_string(),
        };
        writeln!(
            self.out,
            "summary {}: batches {} records {} bytes {} of {} {offsets} problems {}",
            s.file, s.batches, s.records, s.bytes, s.file_bytes, s.problems
        )
    }

    fn json_line(&mut self, value: &impl Serialize) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, value)?;
        writeln!(self.out)
    }
}
