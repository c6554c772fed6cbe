//! The applied metadata and its snapshots: openraft's [`RaftStateMachine`] over a
//! [`MetadataState`], with the snapshot in the file `snapshot` of `__cluster_metadata/`.
//!
//! Applying does not persist: the snapshot does. On open the state is the snapshot's, and
//! openraft replays the log from there up to the committed index it stored. After every applied
//! batch, installed snapshot and on open, a [`MetadataImage`] of the state is published.
//!
//! The snapshot file holds two records (framing in [`super::format`]): openraft's snapshot meta
//! (last applied log id, last membership, snapshot id), then the serialized state, which is also
//! the snapshot data sent to a follower that lags behind the purged log.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder, StorageIOError};
use ringlog_replication::controller::LivenessConfig;
use tokio::sync::watch;

use crate::MetadataImage;
use crate::error::ControllerError;
use crate::format;
use crate::log_store::{corrupt, read_records};
use crate::raft_types::{
    Entry, LogId, Snapshot, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};
use crate::state::{Applied, CommandOutcome, MetadataState};

pub(crate) const SNAPSHOT_FILE: &str = "snapshot";

/// A snapshot as stored: its meta and the serialized state.
#[derive(Clone)]
struct StoredSnapshot {
    meta: SnapshotMeta,
    data: Vec<u8>,
}

/// The current snapshot, shared with the snapshot builders (which openraft runs as tasks of
/// their own); its lock also serializes writes of the snapshot file.
type CurrentSnapshot = Arc<Mutex<Option<StoredSnapshot>>>;

pub(crate) struct StateMachineStore {
    snapshot_path: PathBuf,
    state: MetadataState,
    last_applied: Option<LogId>,
    last_membership: StoredMembership,
    current: CurrentSnapshot,
    images: watch::Sender<Arc<MetadataImage>>,
}

impl StateMachineStore {
    /// Opens the state machine in `dir`: the stored snapshot's state, else an empty cluster with
    /// `liveness`. Publishes its image on `images`.
    pub(crate) fn open(
        dir: &Path,
        liveness: LivenessConfig,
        images: watch::Sender<Arc<MetadataImage>>,
    ) -> Result<StateMachineStore, ControllerError> {
        let snapshot_path = dir.join(SNAPSHOT_FILE);
        let stored = read_snapshot(&snapshot_path)?;
        let mut store = StateMachineStore {
            snapshot_path,
            state: MetadataState::new(liveness),
            last_applied: None,
            last_membership: StoredMembership::default(),
            current: Arc::new(Mutex::new(None)),
            images,
        };
        if let Some((snapshot, state)) = stored {
            store.restore(snapshot, state);
        }
        store.publish();
        Ok(store)
    }

    fn restore(&mut self, snapshot: StoredSnapshot, state: MetadataState) {
        if cfg!(debug_assertions) {
            state.check_invariants();
        }
        self.state = state;
        self.last_applied = snapshot.meta.last_log_id;
        self.last_membership = snapshot.meta.last_membership.clone();
        *self.current.lock().expect("a snapshot user panicked") = Some(snapshot);
    }

    fn publish(&self) {
        let image = MetadataImage {
            offset: self.last_applied.map_or(0, |log_id| log_id.index),
            state: self.state.clone(),
        };
        self.images.send_replace(Arc::new(image));
    }

    fn apply_entry(&mut self, entry: Entry) -> CommandOutcome {
        self.last_applied = Some(entry.log_id);
        match entry.payload {
            // Blank and membership entries answer no client: their outcome is never read.
            EntryPayload::Blank => Ok(Applied::default()),
            EntryPayload::Membership(membership) => {
                self.last_membership = StoredMembership::new(Some(entry.log_id), membership);
                Ok(Applied::default())
            }
            EntryPayload::Normal(command) => {
                let outcome = self.state.apply(&command);
                match &outcome {
                    Ok(applied) => log_unclean_elections(applied, entry.log_id.index),
                    Err(refusal) => {
                        tracing::debug!(index = entry.log_id.index, %refusal, "controller: command refused");
                    }
                }
                outcome
            }
        }
    }
}

fn log_unclean_elections(applied: &Applied, index: u64) {
    for change in applied.changes.iter().filter(|c| c.unclean_election) {
        tracing::warn!(
            index,
            partition = %change.topic_partition,
            leader = ?change.partition.leader(),
            "controller: unclean leader election; records the old isr acknowledged may be lost"
        );
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        Ok((self.last_applied, self.last_membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<CommandOutcome>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let outcomes: Vec<CommandOutcome> = entries
            .into_iter()
            .map(|entry| self.apply_entry(entry))
            .collect();
        self.publish();
        Ok(outcomes)
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        SnapshotBuilder {
            snapshot_path: self.snapshot_path.clone(),
            current: Arc::clone(&self.current),
            last_applied: self.last_applied,
            last_membership: self.last_membership.clone(),
            data: serde_json::to_vec(&self.state).expect("the metadata state serializes"),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        let state: MetadataState = serde_json::from_slice(&data)
            .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &e))?;
        let snapshot = StoredSnapshot {
            meta: meta.clone(),
            data,
        };
        store_snapshot(&self.snapshot_path, &self.current, &snapshot, true)
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        self.restore(snapshot, state);
        self.publish();
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        let current = self.current.lock().expect("a snapshot user panicked");
        Ok(current.as_ref().map(|stored| Snapshot {
            meta: stored.meta.clone(),
            snapshot: Box::new(Cursor::new(stored.data.clone())),
        }))
    }
}

/// A view of the state as it was when openraft asked for a snapshot.
pub(crate) struct SnapshotBuilder {
    snapshot_path: PathBuf,
    current: CurrentSnapshot,
    last_applied: Option<LogId>,
    last_membership: StoredMembership,
    data: Vec<u8>,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        let built_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_millis());
        let snapshot_id = match self.last_applied {
            Some(log_id) => format!("{}-{}-{built_at}", log_id.leader_id, log_id.index),
            None => format!("none-{built_at}"),
        };
        let meta = SnapshotMeta {
            last_log_id: self.last_applied,
            last_membership: self.last_membership.clone(),
            snapshot_id,
        };
        let snapshot = StoredSnapshot {
            meta: meta.clone(),
            data: std::mem::take(&mut self.data),
        };
        store_snapshot(&self.snapshot_path, &self.current, &snapshot, false)
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(snapshot.data)),
        })
    }
}

/// Makes `snapshot` the current one and writes its file, unless (for a built one, `replace`
/// false) the current one is newer: an installed snapshot can overtake a build in progress.
fn store_snapshot(
    path: &Path,
    current: &CurrentSnapshot,
    snapshot: &StoredSnapshot,
    replace: bool,
) -> Result<(), ControllerError> {
    let mut current = current.lock().expect("a snapshot user panicked");
    let newer_exists = current
        .as_ref()
        .is_some_and(|c| c.meta.last_log_id > snapshot.meta.last_log_id);
    if newer_exists && !replace {
        return Ok(());
    }
    let mut bytes = Vec::new();
    let meta = serde_json::to_vec(&snapshot.meta).expect("snapshot meta serializes");
    format::encode(&meta, &mut bytes);
    format::encode(&snapshot.data, &mut bytes);
    ringlog_engine::checkpoint::write_atomic(path, &bytes)?;
    *current = Some(snapshot.clone());
    Ok(())
}

/// The snapshot stored at `path` and its decoded state; `None` if there is none.
fn read_snapshot(path: &Path) -> Result<Option<(StoredSnapshot, MetadataState)>, ControllerError> {
    let Some(mut records) = read_records(path, 2)? else {
        return Ok(None);
    };
    let data = records.pop().expect("two records");
    let meta: SnapshotMeta =
        serde_json::from_slice(&records[0]).map_err(|e| corrupt(path, format!("meta: {e}")))?;
    let state: MetadataState =
        serde_json::from_slice(&data).map_err(|e| corrupt(path, format!("state: {e}")))?;
    Ok(Some((StoredSnapshot { meta, data }, state)))
}
