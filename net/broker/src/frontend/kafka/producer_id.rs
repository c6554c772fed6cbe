//! InitProducerId (v0 to v5, key 22): an idempotent producer's id. Without a transactional id,
//! every request gets a fresh id at epoch 0, as Kafka gives them (the agent takes it from the
//! blocks the controller quorum allocates this broker, so no other producer ever had it);
//! the producer and epoch a v3+ request names (KIP-360) are ignored then, as Kafka ignores
//! them, and the client bumps its epoch itself. With no id to give in time the answer is
//! COORDINATOR_LOAD_IN_PROGRESS, Kafka's answer when its block is used up (clients retry it).
//!
//! An idempotent producer needs IdempotentWrite on the cluster or Write on some topic
//! (KIP-679), else CLUSTER_AUTHORIZATION_FAILED.
//!
//! A transactional id is refused with INVALID_REQUEST: ringlog has no transaction coordinator
//! (FindCoordinator answers transactional keys COORDINATOR_NOT_AVAILABLE, so a client that
//! asks it first never sends this). The response has no message field; the broker logs why.
//! `docs/kafka.md` says why this code and not another.

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use ringlog_security::acl::{CLUSTER_NAME, Operation, ResourceType};

use super::{CLUSTER_AUTHORIZATION_FAILED, Head, Plan, Planned, count_errors, respond};
use crate::connection::OutPiece;
use crate::frontend::access::Access;
use crate::ops::{AdminOp, AdminOutcome};

/// Kafka's INVALID_REQUEST.
const INVALID_REQUEST: i16 = 42;
/// Kafka's "no producer id" and "no producer epoch", the answer's fields with an error.
const NO_PRODUCER_ID: i64 = -1;
const NO_PRODUCER_EPOCH: i16 = -1;

/// A request for an idempotent producer's id goes to the agent; a transactional one, or one
/// naming a producer id without its epoch (or the reverse), is refused at once.
pub(super) fn plan(
    access: &Access,
    head: &Head,
    client_id: &str,
    request: InitProducerIdRequest,
) -> Plan {
    if let Some(transactional_id) = &request.transactional_id {
        tracing::warn!(
            client = client_id,
            transactional_id = %transactional_id.0.as_str(),
            "InitProducerId refused with INVALID_REQUEST: transactions are not supported \
             (ringlog has no transaction coordinator); an idempotent producer sets no \
             transactional.id"
        );
        return Plan::Respond(answer(head, Err(INVALID_REQUEST)));
    }
    let named = (
        request.producer_id.0 != NO_PRODUCER_ID,
        request.producer_epoch != NO_PRODUCER_EPOCH,
    );
    if named.0 != named.1 {
        // Kafka's own check: a producer id and its epoch come together or not at all.
        return Plan::Respond(answer(head, Err(INVALID_REQUEST)));
    }
    let may_write = access.shows(
        Operation::IdempotentWrite,
        ResourceType::Cluster,
        CLUSTER_NAME,
    ) || access.allows_some(Operation::Write, ResourceType::Topic);
    if !may_write {
        return Plan::Respond(answer(head, Err(CLUSTER_AUTHORIZATION_FAILED)));
    }
    Plan::Admin(AdminOp::InitProducerId, Planned::ProducerId)
}

/// The answer from the agent's outcome: the new id at epoch 0, or its refusal's code.
pub(super) fn finish(head: &Head, outcome: AdminOutcome) -> Vec<OutPiece> {
    let AdminOutcome::ProducerId(outcome) = outcome else {
        unreachable!("InitProducerId's outcome is a producer id")
    };
    answer(head, outcome.map_err(|refusal| refusal.error.code()))
}

/// The response: a producer id at epoch 0, or an error code with no id.
fn answer(head: &Head, id: Result<i64, i16>) -> Vec<OutPiece> {
    let (producer_id, producer_epoch, error_code) = match id {
        Ok(id) => (id, 0, 0),
        Err(code) => (NO_PRODUCER_ID, NO_PRODUCER_EPOCH, code),
    };
    count_errors(head, [error_code]);
    let response = InitProducerIdResponse::default()
        .with_error_code(error_code)
        .with_producer_id(ProducerId(producer_id))
        .with_producer_epoch(producer_epoch);
    respond(head, &response)
}
