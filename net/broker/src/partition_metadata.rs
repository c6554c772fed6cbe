//! `<topic>-<partition>/partition.metadata`: the id of the topic a partition directory belongs
//! to, as Kafka keeps it (KIP-516). A topic deleted and created again under the same name
//! while a broker was down has a new id: the broker finds the old id in the directory it kept,
//! sets that directory aside and starts the new topic's replica empty, instead of serving the
//! old topic's records as the new one's.
//!
//! Format (Kafka's, text):
//!
//! ```text
//! version: 0
//! topic_id: <the id, URL-safe base64 without padding>
//! ```
//!
//! Written atomically (a temporary file renamed over it, fsynced) when a partition is opened
//! with a topic id and the file is missing.

use std::io;
use std::path::Path;

use ringlog_replication::TopicId;

/// The file's name in a partition directory.
pub(crate) const PARTITION_METADATA: &str = "partition.metadata";
/// The only version of the file.
const VERSION: u32 = 0;

/// The topic id `dir`'s file names; `Ok(None)` when there is no file (or no directory).
pub(crate) fn read(dir: &Path) -> io::Result<Option<TopicId>> {
    let path = dir.join(PARTITION_METADATA);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    parse(&text).map(Some).map_err(|problem| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {problem}", path.display()),
        )
    })
}

/// Writes `dir`'s file naming `id`.
pub(crate) fn write(dir: &Path, id: TopicId) -> Result<(), ringlog_engine::Error> {
    let text = format!("version: {VERSION}\ntopic_id: {id}\n");
    ringlog_engine::checkpoint::write_atomic(&dir.join(PARTITION_METADATA), text.as_bytes())
}

/// The topic id in the file's text, or what is wrong with it.
fn parse(text: &str) -> Result<TopicId, String> {
    let mut version = None;
    let mut topic_id = None;
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        let (key, value) = line
            .split_once(':')
            .ok_or_else(|| format!("line {line:?} is not `key: value`"))?;
        match key.trim() {
            "version" => version = Some(value.trim().to_string()),
            "topic_id" => topic_id = Some(value.trim().parse::<TopicId>()?),
            other => return Err(format!("unknown key {other:?}")),
        }
    }
    match version.as_deref() {
        Some("0") => {}
        Some(other) => return Err(format!("version {other} is not {VERSION}")),
        None => return Err("no version".to_string()),
    }
    topic_id.ok_or_else(|| "no topic_id".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_round_trips_and_reads_as_kafka_writes_it() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
        let id = TopicId::from_random([9; 16]);
        write(dir.path(), id).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Some(id));
        // Kafka's own file for topic id AQIDBAUGBwgJCgsMDQ4PEA.
        let kafka = "version: 0\ntopic_id: AQIDBAUGBwgJCgsMDQ4PEA\n";
        assert_eq!(
            parse(kafka),
            Ok(TopicId(std::array::from_fn(|i| i as u8 + 1)))
        );
    }

    #[test]
    fn a_bad_file_says_what_is_wrong() {
        assert_eq!(
            parse("topic_id: AQIDBAUGBwgJCgsMDQ4PEA\n"),
            Err("no version".into())
        );
        assert_eq!(
            parse("version: 1\ntopic_id: AQIDBAUGBwgJCgsMDQ4PEA\n"),
            Err("version 1 is not 0".into())
        );
        assert_eq!(parse("version: 0\n"), Err("no topic_id".into()));
        assert!(
            parse("version: 0\ntopic_id: xyz\n")
                .unwrap_err()
                .contains("topic id")
        );
        assert_eq!(
            parse("version: 0\ncolour: blue\n"),
            Err("unknown key \"colour\"".into())
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(PARTITION_METADATA), "garbage").unwrap();
        let error = read(dir.path()).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert!(error.to_string().contains("partition.metadata"), "{error}");
    }
}
