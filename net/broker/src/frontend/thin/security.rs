//! Users' SCRAM credentials and ACLs on the thin protocol (`net/PROTOCOL.md` section 5.22):
//! the same operations and answers as Kafka's APIs of the same keys. The describes are
//! answered from the catalog; the changes go to the agent, whose per-entry outcome becomes
//! the response ([`response`]).

use ringlog_controller::security::filter_matches;
use ringlog_replication::driver::Refusal;
use ringlog_wire::api::EntryResult;
use ringlog_wire::api::alter_user_scram_credentials::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse, UserResult,
};
use ringlog_wire::api::create_acls::CreateAclsResponse;
use ringlog_wire::api::delete_acls::{DeleteAclsResponse, DeleteAclsResult};
use ringlog_wire::api::describe_acls::{DescribeAclsRequest, DescribeAclsResponse};
use ringlog_wire::api::describe_user_scram_credentials::{
    CredentialInfo, DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
    UserCredentials,
};
use ringlog_wire::{ErrorCode, Response};

use crate::bus::Shared;
use crate::frontend::security::{ScramEntry, Upsertion, describe_users, plan_alterations};
use crate::ops::{AdminOp, AdminOutcome};

/// AlterUserScramCredentials as the agent's operation.
pub(super) fn plan_alter(request: &AlterUserScramCredentialsRequest) -> AdminOp {
    let deletions = request.deletions.iter().map(|d| ScramEntry {
        user: d.name.clone(),
        mechanism: Ok(d.mechanism),
        upsertion: None,
    });
    let upsertions = request.upsertions.iter().map(|u| ScramEntry {
        user: u.name.clone(),
        mechanism: Ok(u.mechanism),
        upsertion: Some(Upsertion {
            iterations: i64::from(u.iterations),
            salt: u.salt.to_vec(),
            salted_password: u.salted_password.to_vec(),
        }),
    });
    plan_alterations(deletions.chain(upsertions).collect())
}

/// DescribeUserScramCredentials, from the catalog.
pub(super) fn describe_credentials(
    shared: &Shared,
    request: &DescribeUserScramCredentialsRequest,
) -> Response {
    let catalog = shared.catalog();
    let users = describe_users(&catalog.security().scram_credentials, &request.users)
        .into_iter()
        .map(|(name, outcome)| match outcome {
            Ok(mechanisms) => UserCredentials {
                name,
                error_code: ErrorCode::NONE,
                error_message: None,
                credentials: mechanisms
                    .into_iter()
                    .map(|(mechanism, iterations)| CredentialInfo {
                        mechanism,
                        iterations,
                    })
                    .collect(),
            },
            Err(refusal) => UserCredentials {
                name,
                error_code: ErrorCode::from(refusal.error),
                error_message: Some(refusal.message),
                credentials: Vec::new(),
            },
        })
        .collect();
    Response::DescribeUserScramCredentials(DescribeUserScramCredentialsResponse { users })
}

/// DescribeAcls, from the catalog.
pub(super) fn describe_acls(shared: &Shared, request: &DescribeAclsRequest) -> Response {
    let catalog = shared.catalog();
    let bindings = catalog
        .security()
        .acls
        .iter()
        .filter(|binding| filter_matches(&request.filter, binding))
        .cloned()
        .collect();
    Response::DescribeAcls(DescribeAclsResponse { bindings })
}

fn fields(refusal: Option<Refusal>) -> (ErrorCode, Option<String>) {
    match refusal {
        None => (ErrorCode::NONE, None),
        Some(refusal) => (ErrorCode::from(refusal.error), Some(refusal.message)),
    }
}

/// The response to AlterUserScramCredentials, CreateAcls or DeleteAcls from the agent's
/// outcome; the outcome back for one of another operation.
pub(super) fn response(outcome: AdminOutcome) -> Result<Response, AdminOutcome> {
    let response = match outcome {
        AdminOutcome::Users(users) => {
            let results = users
                .into_iter()
                .map(|(name, refusal)| {
                    let (error_code, error_message) = fields(refusal);
                    UserResult {
                        name,
                        error_code,
                        error_message,
                    }
                })
                .collect();
            Response::AlterUserScramCredentials(AlterUserScramCredentialsResponse { results })
        }
        AdminOutcome::AclsCreated(created) => {
            let results = created
                .into_iter()
                .map(|refusal| {
                    let (error_code, error_message) = fields(refusal);
                    EntryResult {
                        error_code,
                        error_message,
                    }
                })
                .collect();
            Response::CreateAcls(CreateAclsResponse { results })
        }
        AdminOutcome::AclsDeleted(deleted) => {
            let results = deleted
                .into_iter()
                .map(|outcome| match outcome {
                    Ok(bindings) => DeleteAclsResult {
                        error_code: ErrorCode::NONE,
                        error_message: None,
                        bindings,
                    },
                    Err(refusal) => DeleteAclsResult {
                        error_code: ErrorCode::from(refusal.error),
                        error_message: Some(refusal.message),
                        bindings: Vec::new(),
                    },
                })
                .collect();
            Response::DeleteAcls(DeleteAclsResponse { results })
        }
        other => return Err(other),
    };
    Ok(response)
}
