//! Users' SCRAM credentials (KIP-554): DescribeUserScramCredentials (v0, key 50), answered
//! from the catalog, and AlterUserScramCredentials (v0, key 51), carried out by the agent
//! through the controller quorum.
//!
//! The client salts: an upsertion carries the mechanism, the iterations, the salt and the
//! salted password, never the password. The broker derives the credential the metadata keeps
//! (StoredKey and ServerKey, RFC 5802) and drops the salted password there: it would log the
//! user in, so it is kept nowhere. A describe answers each user's mechanisms and iterations
//! only, as Kafka does: never a salt or a key.
//!
//! Each user is answered on its own, with Kafka's errors: a user named twice in one request
//! DUPLICATE_RESOURCE (whatever the entries), a mechanism that is not SCRAM-SHA-256 or
//! SCRAM-SHA-512 UNSUPPORTED_SASL_MECHANISM, a credential outside Kafka's bounds (iterations
//! below 4096 or above 16384, an empty salt or user name) UNACCEPTABLE_CREDENTIAL, the deletion
//! of a credential that is not there (or a describe of a user with none) RESOURCE_NOT_FOUND.

use std::collections::BTreeMap;

use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};
use kafka_protocol::protocol::StrBytes;
use ringlog_controller::security::{Credentials, ScramAlteration};
use ringlog_replication::KafkaError;
use ringlog_security::scram::{Mechanism, ScramCredential};

use super::{Head, Plan, Planned as AnyPlanned, count_errors, respond};
use crate::bus::Shared;
use crate::connection::OutPiece;
use crate::ops::{AdminOp, AdminOutcome};

/// A user's answer: an error code (0 for none) and its message.
type Answer = (i16, Option<String>);

fn error(error: KafkaError, message: String) -> Answer {
    (error.code(), Some(message))
}

/// What the answer needs beyond the agent's outcome: every user named, in the order first
/// named (deletions, then upsertions), and those the frontend refused.
#[derive(Debug, Default)]
pub(super) struct Planned {
    users: Vec<String>,
    refused: BTreeMap<String, Answer>,
}

/// AlterUserScramCredentials: the entries this broker can check alone are checked here (a
/// user named twice, the mechanism, the credential derived from the salted password); the
/// rest go to the controller, which checks them against the credentials it holds.
pub(super) fn plan_alter(request: AlterUserScramCredentialsRequest) -> Plan {
    let deletions = request
        .deletions
        .into_iter()
        .map(|d| (d.name.to_string(), d.mechanism, None));
    let upsertions = request.upsertions.into_iter().map(|u| {
        let upsertion = (u.iterations, u.salt.to_vec(), u.salted_password.to_vec());
        (u.name.to_string(), u.mechanism, Some(upsertion))
    });
    let entries: Vec<_> = deletions.chain(upsertions).collect();
    let mut planned = Planned::default();
    let mut named: BTreeMap<&str, usize> = BTreeMap::new();
    for (user, _, _) in &entries {
        let count = named.entry(user).or_insert(0);
        if *count == 0 {
            planned.users.push(user.clone());
        }
        *count += 1;
    }
    let mut alterations = Vec::new();
    for (user, code, upsertion) in &entries {
        if named[user.as_str()] > 1 {
            let message = format!(
                "user {user:?} is named {} times: a user's credentials can be altered once a \
                 request",
                named[user.as_str()]
            );
            let answer = error(KafkaError::DuplicateResource, message);
            planned.refused.insert(user.clone(), answer);
            continue;
        }
        match alteration(user, *code, upsertion.as_ref()) {
            Ok(alteration) => alterations.push(alteration),
            Err(answer) => {
                planned.refused.insert(user.clone(), answer);
            }
        }
    }
    let op = AdminOp::AlterScramCredentials { alterations };
    Plan::Admin(op, AnyPlanned::Scram(planned))
}

/// One entry as the controller takes it: a deletion, or the credential of an upsertion's
/// salted password.
fn alteration(
    user: &str,
    code: i8,
    upsertion: Option<&(i32, Vec<u8>, Vec<u8>)>,
) -> Result<ScramAlteration, Answer> {
    let Some(mechanism) = Mechanism::from_code(code) else {
        let message = format!(
            "user {user:?}: mechanism {code} is not SCRAM-SHA-256 (1) or SCRAM-SHA-512 (2)"
        );
        return Err(error(KafkaError::UnsupportedSaslMechanism, message));
    };
    let Some((iterations, salt, salted_password)) = upsertion else {
        return Ok(ScramAlteration::Delete {
            user: user.to_string(),
            mechanism,
        });
    };
    let unacceptable = |why: String| {
        let message = format!("user {user:?}: {why}");
        error(KafkaError::UnacceptableCredential, message)
    };
    if user.is_empty() {
        return Err(unacceptable("a user name must not be empty".to_string()));
    }
    let iterations = u32::try_from(*iterations)
        .map_err(|_| unacceptable(format!("{iterations} iterations is negative")))?;
    let credential =
        ScramCredential::from_salted_password(mechanism, salted_password, salt.clone(), iterations)
            .map_err(|e| unacceptable(e.to_string()))?;
    Ok(ScramAlteration::Upsert {
        user: user.to_string(),
        credential,
    })
}

/// The answer: per user, in the order first named.
pub(super) fn finish_alter(head: &Head, planned: Planned, outcome: AdminOutcome) -> Vec<OutPiece> {
    let AdminOutcome::Users(outcome) = outcome else {
        unreachable!("AlterUserScramCredentials' outcome is per user")
    };
    let mut answered: BTreeMap<String, Answer> = outcome
        .into_iter()
        .map(|(user, refusal)| {
            let answer = refusal.map_or((0, None), |r| (r.error.code(), Some(r.message)));
            (user, answer)
        })
        .collect();
    let mut refused = planned.refused;
    let results: Vec<AlterUserScramCredentialsResult> = planned
        .users
        .into_iter()
        .map(|user| {
            let (code, message) = refused
                .remove(&user)
                .or_else(|| answered.remove(&user))
                .unwrap_or((0, None));
            AlterUserScramCredentialsResult::default()
                .with_user(StrBytes::from_string(user))
                .with_error_code(code)
                .with_error_message(message.map(StrBytes::from_string))
        })
        .collect();
    count_errors(head, results.iter().map(|r| r.error_code));
    respond(
        head,
        &AlterUserScramCredentialsResponse::default().with_results(results),
    )
}

/// DescribeUserScramCredentials: every user with a credential (no users named, or none),
/// or the users named, each once; a user named twice is DUPLICATE_RESOURCE.
pub(super) fn describe(
    shared: &Shared,
    head: &Head,
    request: DescribeUserScramCredentialsRequest,
) -> Vec<OutPiece> {
    let catalog = shared.catalog();
    let held = &catalog.security().scram_credentials;
    let named: Vec<String> = request
        .users
        .unwrap_or_default()
        .iter()
        .map(|u| u.name.to_string())
        .collect();
    let results: Vec<DescribeUserScramCredentialsResult> = if named.is_empty() {
        held.keys().map(|user| described(held, user)).collect()
    } else {
        let mut seen: Vec<&str> = Vec::new();
        named
            .iter()
            .filter(|user| {
                let first = !seen.contains(&user.as_str());
                seen.push(user);
                first
            })
            .map(|user| {
                let times = named.iter().filter(|u| *u == user).count();
                if times > 1 {
                    let message = format!(
                        "user {user:?} is named {times} times: describe a user once a request"
                    );
                    refused(user, KafkaError::DuplicateResource, message)
                } else {
                    described(held, user)
                }
            })
            .collect()
    };
    count_errors(head, results.iter().map(|r| r.error_code));
    respond(
        head,
        &DescribeUserScramCredentialsResponse::default().with_results(results),
    )
}

/// A user's mechanisms and iterations, or RESOURCE_NOT_FOUND for a user without any.
fn described(held: &Credentials, user: &str) -> DescribeUserScramCredentialsResult {
    let Some(mechanisms) = held.get(user) else {
        let message = format!("user {user:?} has no SCRAM credential");
        return refused(user, KafkaError::ResourceNotFound, message);
    };
    let infos = mechanisms
        .values()
        .map(|credential| {
            CredentialInfo::default()
                .with_mechanism(credential.mechanism.code())
                .with_iterations(i32::try_from(credential.iterations).unwrap_or(i32::MAX))
        })
        .collect();
    DescribeUserScramCredentialsResult::default()
        .with_user(StrBytes::from_string(user.to_string()))
        .with_credential_infos(infos)
}

fn refused(user: &str, error: KafkaError, message: String) -> DescribeUserScramCredentialsResult {
    DescribeUserScramCredentialsResult::default()
        .with_user(StrBytes::from_string(user.to_string()))
        .with_error_code(error.code())
        .with_error_message(Some(StrBytes::from_string(message)))
}
