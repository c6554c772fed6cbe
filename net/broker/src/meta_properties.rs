//! `data_dir/meta.properties`: which node a data dir belongs to, as Kafka keeps it in each log
//! dir (`version`, `node.id`; ringlog has no cluster id yet, so there is no `cluster.id`).
//!
//! The first start of a broker on a data dir writes it; every later start checks it, before
//! the controller starts. A data dir started under another node id would otherwise replay
//! another node's Raft log and partitions as its own: the controller, a voter of a quorum
//! whose log names another node, panicked in a loop and the broker never served nor exited.
//!
//! Format (Java properties, as Kafka writes it): `key=value` lines; blank lines and lines
//! starting with `#` or `!` are comments; keys this build does not know are kept out of the
//! check, so a newer build may add some.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use ringlog_replication::BrokerId;

/// The file's name in the data dir.
pub(crate) const META_PROPERTIES: &str = "meta.properties";
/// The version of the file this build writes and reads (Kafka's KRaft `version=1`).
pub(crate) const META_PROPERTIES_VERSION: u32 = 1;

/// What `meta.properties` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MetaProperties {
    pub node_id: BrokerId,
}

impl MetaProperties {
    /// The file's text.
    fn to_text(self) -> String {
        format!(
            "#ringlog: the node this data dir belongs to; a broker with another node_id refuses it\n\
             version={META_PROPERTIES_VERSION}\nnode.id={}\n",
            self.node_id
        )
    }

    /// Parses the file's text; `path` names it in errors.
    fn parse(path: &Path, text: &str) -> io::Result<MetaProperties> {
        let invalid = |what: String| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {what}", path.display()),
            )
        };
        let mut version = None;
        let mut node_id = None;
        for (number, line) in (1..).zip(text.lines()) {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(invalid(format!("line {number} is not key=value: {line:?}")));
            };
            let (key, value) = (key.trim(), value.trim());
            let number_of = |value: &str| {
                value.parse::<u32>().map_err(|_| {
                    invalid(format!(
                        "line {number}: {key} is {value:?}, expected a number"
                    ))
                })
            };
            match key {
                "version" => version = Some(number_of(value)?),
                "node.id" => node_id = Some(BrokerId(number_of(value)?)),
                _ => {}
            }
        }
        match version {
            Some(META_PROPERTIES_VERSION) => {}
            Some(other) => {
                return Err(invalid(format!(
                    "version {other}, this build reads version {META_PROPERTIES_VERSION}"
                )));
            }
            None => return Err(invalid("no version".to_string())),
        }
        let node_id = node_id.ok_or_else(|| invalid("no node.id".to_string()))?;
        Ok(MetaProperties { node_id })
    }
}

/// Checks that `data_dir` belongs to `node_id`, or claims it for `node_id` when it has no
/// `meta.properties` yet (a new data dir, or one written by a build before the file). The
/// caller holds the data dir's lock, so no other broker writes the file meanwhile.
pub(crate) fn check_or_claim(data_dir: &Path, node_id: BrokerId) -> io::Result<()> {
    let path = data_dir.join(META_PROPERTIES);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let stored = MetaProperties::parse(&path, &text)?;
            if stored.node_id != node_id {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "data dir {} belongs to node {} ({META_PROPERTIES}), not node {node_id}",
                        data_dir.display(),
                        stored.node_id
                    ),
                ));
            }
            Ok(())
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            write(data_dir, MetaProperties { node_id })
        }
        Err(error) => Err(io::Error::new(
            error.kind(),
            format!("read {}: {error}", path.display()),
        )),
    }
}

/// Writes the file whole or not at all: a temporary file, fsynced, renamed over it, the
/// directory fsynced, so a crash leaves either no file (the next start claims the dir again)
/// or the whole one.
fn write(data_dir: &Path, meta: MetaProperties) -> io::Result<()> {
    let path = data_dir.join(META_PROPERTIES);
    let temporary = data_dir.join(format!("{META_PROPERTIES}.tmp"));
    let mut file = File::create(&temporary).map_err(context("create", &temporary))?;
    file.write_all(meta.to_text().as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(context("write", &temporary))?;
    std::fs::rename(&temporary, &path).map_err(context("rename", &temporary))?;
    File::open(data_dir)
        .and_then(|dir| dir.sync_all())
        .map_err(context("fsync directory", data_dir))
}

/// An IO error's message with what was done to which file.
fn context<'a>(what: &'a str, at: &'a Path) -> impl FnOnce(io::Error) -> io::Error + 'a {
    move |error| io::Error::new(error.kind(), format!("{what} {}: {error}", at.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_start_claims_the_dir_and_later_starts_of_the_same_node_pass() {
        let dir = tempfile::tempdir().unwrap();
        check_or_claim(dir.path(), BrokerId(7)).unwrap();
        let text = std::fs::read_to_string(dir.path().join(META_PROPERTIES)).unwrap();
        assert!(text.contains("version=1\nnode.id=7\n"), "{text}");
        check_or_claim(dir.path(), BrokerId(7)).unwrap();
        assert!(!dir.path().join("meta.properties.tmp").exists());
    }

    #[test]
    fn another_node_id_is_refused_naming_the_owner() {
        let dir = tempfile::tempdir().unwrap();
        check_or_claim(dir.path(), BrokerId(1)).unwrap();
        let error = check_or_claim(dir.path(), BrokerId(2)).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(
            error.to_string(),
            format!(
                "data dir {} belongs to node 1 (meta.properties), not node 2",
                dir.path().display()
            )
        );
    }

    #[test]
    fn kafkas_spelling_is_read_and_unknown_keys_are_left_alone() {
        let text = "#\n#Tue Mar 01 10:00:00 UTC 2022\ncluster.id=abc\n node.id = 3\nversion=1\n\n";
        let meta = MetaProperties::parse(Path::new("m"), text).unwrap();
        assert_eq!(meta.node_id, BrokerId(3));
    }

    #[test]
    fn a_file_that_does_not_say_whose_it_is_is_refused_with_what_is_wrong() {
        let cases = [
            ("version=1\n", "m: no node.id"),
            ("node.id=1\n", "m: no version"),
            (
                "version=2\nnode.id=1\n",
                "m: version 2, this build reads version 1",
            ),
            (
                "version=1\nnode.id=one\n",
                "m: line 2: node.id is \"one\", expected a number",
            ),
            (
                "version=1\nnode.id\n",
                "m: line 2 is not key=value: \"node.id\"",
            ),
        ];
        for (text, expected) in cases {
            let error = MetaProperties::parse(Path::new("m"), text).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidData);
            assert_eq!(error.to_string(), expected, "{text:?}");
        }
    }
}
