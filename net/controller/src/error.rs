//! [`ControllerError`]: the controller's one error family.

use std::path::PathBuf;
use std::time::Duration;

/// Why the controller could not start, or could not carry out a submit.
///
/// A command the metadata rules refuse is not one of these: it is applied as a
/// [`Refusal`](super::Refusal) inside the [`CommandOutcome`](super::CommandOutcome).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControllerError {
    /// An entry of `controller_quorum_voters` that is not `id@host:port`, or a repeated id.
    #[error("controller_quorum_voters entry {entry:?}: {reason}")]
    InvalidVoters { entry: String, reason: String },

    /// A configuration the controller cannot run with.
    #[error("controller config: {reason}")]
    InvalidConfig { reason: String },

    /// A file or socket operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A storage file in `__cluster_metadata/` failed its checks.
    #[error("{}: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },

    /// The log refuses writes after a failed write or fsync, until it is reopened.
    #[error("{}: refusing writes after a failed {op}; restart the controller to recover", path.display())]
    Poisoned { path: PathBuf, op: String },

    /// An atomic write of a storage file failed.
    #[error("controller storage: {0}")]
    Storage(#[from] ringlog_engine::Error),

    /// No leader took the command before the submit deadline.
    #[error("no controller leader took the command within {waited:?}; last: {last}")]
    NoLeader { waited: Duration, last: String },

    /// A controller answered a request with an error code instead of a result.
    #[error("controller {peer} refused the request: error code {code}: {message}")]
    Rejected {
        peer: String,
        code: i16,
        message: String,
    },

    /// A request to another controller failed on the way (connect, send, receive, decode).
    #[error("controller rpc to {peer}: {reason}")]
    Rpc { peer: String, reason: String },

    /// The Raft node failed (a storage error, or a panic in it) and serves no more.
    #[error("controller raft: {0}")]
    Raft(String),

    /// The controller was shut down.
    #[error("the controller is shut down")]
    ShutDown,
}
