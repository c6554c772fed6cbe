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
//! Describing credentials needs Describe on the cluster, altering them Alter (else
//! CLUSTER_AUTHORIZATION_FAILED, for the request or each user).

use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};
use kafka_protocol::protocol::StrBytes;
use ringlog_security::scram::Mechanism;

use ringlog_security::acl::Operation;

use super::{CLUSTER_AUTHORIZATION_FAILED, Head, Plan, Planned, count_errors, respond};
use crate::bus::Shared;
use crate::connection::OutPiece;
use crate::frontend::access::Access;
use crate::frontend::security::{ScramEntry, Upsertion, describe_users, plan_alterations};
use crate::ops::AdminOutcome;

/// AlterUserScramCredentials: what this broker can check alone is checked here
/// ([`plan_alterations`]); the rest goes to the controller, which checks it against the
/// credentials it holds.
pub(super) fn plan_alter(
    access: &Access,
    head: &Head,
    request: AlterUserScramCredentialsRequest,
) -> Plan {
    if !access.allows_cluster(Operation::Alter) {
        let mut users: Vec<&StrBytes> = Vec::new();
        let named = request.deletions.iter().map(|d| &d.name);
        for user in named.chain(request.upsertions.iter().map(|u| &u.name)) {
            if !users.contains(&user) {
                users.push(user);
            }
        }
        let results: Vec<AlterUserScramCredentialsResult> = users
            .into_iter()
            .map(|user| {
                AlterUserScramCredentialsResult::default()
                    .with_user(user.clone())
                    .with_error_code(CLUSTER_AUTHORIZATION_FAILED)
                    .with_error_message(Some(StrBytes::from_static_str(
                        "not authorized to alter users' credentials",
                    )))
            })
            .collect();
        count_errors(head, results.iter().map(|r| r.error_code));
        let response = AlterUserScramCredentialsResponse::default().with_results(results);
        return Plan::Respond(respond(head, &response));
    }
    let deletions = request.deletions.into_iter().map(|d| ScramEntry {
        user: d.name.to_string(),
        mechanism: Mechanism::from_code(d.mechanism).ok_or(d.mechanism),
        upsertion: None,
    });
    let upsertions = request.upsertions.into_iter().map(|u| ScramEntry {
        user: u.name.to_string(),
        mechanism: Mechanism::from_code(u.mechanism).ok_or(u.mechanism),
        upsertion: Some(Upsertion {
            iterations: i64::from(u.iterations),
            salt: u.salt.to_vec(),
            salted_password: u.salted_password.to_vec(),
        }),
    });
    let op = plan_alterations(deletions.chain(upsertions).collect());
    Plan::Admin(op, Planned::Scram)
}

/// The answer: per user, in the order first named.
pub(super) fn finish_alter(head: &Head, outcome: AdminOutcome) -> Vec<OutPiece> {
    let AdminOutcome::Users(outcome) = outcome else {
        unreachable!("AlterUserScramCredentials' outcome is per user")
    };
    let results: Vec<AlterUserScramCredentialsResult> = outcome
        .into_iter()
        .map(|(user, refusal)| {
            let result =
                AlterUserScramCredentialsResult::default().with_user(StrBytes::from_string(user));
            match refusal {
                None => result,
                Some(refusal) => result
                    .with_error_code(refusal.error.code())
                    .with_error_message(Some(StrBytes::from_string(refusal.message))),
            }
        })
        .collect();
    count_errors(head, results.iter().map(|r| r.error_code));
    respond(
        head,
        &AlterUserScramCredentialsResponse::default().with_results(results),
    )
}

/// DescribeUserScramCredentials: every user with a credential (no users named, or none),
/// or the users named, each once.
pub(super) fn describe(
    shared: &Shared,
    access: &Access,
    head: &Head,
    request: DescribeUserScramCredentialsRequest,
) -> Vec<OutPiece> {
    if !access.allows_cluster(Operation::Describe) {
        let response = DescribeUserScramCredentialsResponse::default()
            .with_error_code(CLUSTER_AUTHORIZATION_FAILED)
            .with_error_message(Some(StrBytes::from_static_str(
                "not authorized to describe users' credentials",
            )));
        count_errors(head, [CLUSTER_AUTHORIZATION_FAILED]);
        return respond(head, &response);
    }
    let catalog = shared.catalog();
    let named: Vec<String> = request
        .users
        .unwrap_or_default()
        .iter()
        .map(|u| u.name.to_string())
        .collect();
    let results: Vec<DescribeUserScramCredentialsResult> =
        describe_users(&catalog.security().scram_credentials, &named)
            .into_iter()
            .map(|(user, outcome)| {
                let result = DescribeUserScramCredentialsResult::default()
                    .with_user(StrBytes::from_string(user));
                match outcome {
                    Ok(mechanisms) => result.with_credential_infos(
                        mechanisms
                            .into_iter()
                            .map(|(mechanism, iterations)| {
                                CredentialInfo::default()
                                    .with_mechanism(mechanism.code())
                                    .with_iterations(i32::try_from(iterations).unwrap_or(i32::MAX))
                            })
                            .collect(),
                    ),
                    Err(refusal) => result
                        .with_error_code(refusal.error.code())
                        .with_error_message(Some(StrBytes::from_string(refusal.message))),
                }
            })
            .collect();
    count_errors(head, results.iter().map(|r| r.error_code));
    respond(
        head,
        &DescribeUserScramCredentialsResponse::default().with_results(results),
    )
}
