//! openraft's network over the controller APIs: one [`Connection`] per replication stream or
//! election client openraft makes, each RPC bounded by the time openraft gives it.

use std::error::Error;
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, PayloadTooLarge, RPCError, RaftError, RemoteError,
    Unreachable,
};
use openraft::network::{Backoff, RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{AnyError, BasicNode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::raft_types::{NodeId, TypeConfig};
use crate::rpc;
use crate::transport::{CallError, Connection};
use ringlog_wire::ApiKey;

/// Makes a [`PeerClient`] for each target openraft talks to.
pub(crate) struct Network {
    /// How long openraft waits before retrying an unreachable peer.
    pub(crate) retry_unreachable: Duration,
    /// TLS to the peers, if the quorum speaks it.
    pub(crate) tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> PeerClient {
        PeerClient {
            target,
            connection: Connection::new(node.addr.clone(), self.tls.clone()),
            retry_unreachable: self.retry_unreachable,
        }
    }
}

pub(crate) struct PeerClient {
    target: NodeId,
    connection: Connection,
    retry_unreachable: Duration,
}

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>;

impl PeerClient {
    /// Sends `request` and decodes the peer's `Result<T, RaftError<E>>`. `entries` is how many
    /// log entries the request carries, for openraft to split one that is too large.
    async fn call<T, E>(
        &mut self,
        api_key: ApiKey,
        request: &impl Serialize,
        option: &RPCOption,
        entries: usize,
    ) -> RpcResult<T, E>
    where
        T: DeserializeOwned,
        E: Error + DeserializeOwned,
    {
        let json = match self
            .connection
            .call(api_key, request, option.hard_ttl())
            .await
        {
            Ok(json) => json,
            Err(CallError::TooLarge { .. }) if entries > 1 => {
                let hint = (entries / 2) as u64;
                return Err(PayloadTooLarge::new_entries_hint(hint).into());
            }
            Err(error @ CallError::Transport(_)) => {
                return Err(Unreachable::new(&error).into());
            }
            Err(error) => return Err(NetworkError::new(&error).into()),
        };
        let answer: Result<T, RaftError<NodeId, E>> =
            serde_json::from_slice(&json).map_err(|e| {
                NetworkError::from(AnyError::error(format!("{}: {e}", self.connection.addr())))
            })?;
        answer.map_err(|error| RemoteError::new(self.target, error).into())
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        request: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        let entries = request.entries.len();
        self.call(rpc::APPEND_ENTRIES, &request, &option, entries)
            .await
    }

    async fn install_snapshot(
        &mut self,
        request: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        self.call(rpc::INSTALL_SNAPSHOT, &request, &option, 0).await
    }

    async fn vote(
        &mut self,
        request: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>> {
        self.call(rpc::VOTE, &request, &option, 0).await
    }

    fn backoff(&self) -> Backoff {
        Backoff::new(std::iter::repeat(self.retry_unreachable))
    }
}
