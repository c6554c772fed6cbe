//! Users' SCRAM credentials and ACLs: [`Admin::set_scram_credential`] (salted here: the
//! password never leaves the process), [`Admin::delete_scram_credential`],
//! [`Admin::scram_users`], [`Admin::create_acls`], [`Admin::describe_acls`],
//! [`Admin::delete_acls`]. They are stored by the controller quorum, not enforced yet.

use std::num::NonZeroU32;

use bytes::Bytes;
use ring::rand::{SecureRandom, SystemRandom};
use ringlog_security::acl::{AclBinding, AclFilter};
use ringlog_security::scram::{Mechanism, salted_password};
use ringlog_wire::api::alter_user_scram_credentials::{
    AlterUserScramCredentialsRequest, ScramDeletion, ScramUpsertion, UserResult,
};
use ringlog_wire::api::create_acls::CreateAclsRequest;
use ringlog_wire::api::delete_acls::DeleteAclsRequest;
use ringlog_wire::api::describe_acls::DescribeAclsRequest;
use ringlog_wire::api::describe_user_scram_credentials::DescribeUserScramCredentialsRequest;
use ringlog_wire::{Request, Response};

use super::{Admin, missing_user};
use crate::cluster::unexpected;
use crate::error::ClientError;

/// How many random bytes salt a password: 256 bits, as many as SHA-256 gives.
pub const SALT_LEN: usize = 32;

/// A user's SCRAM credentials as the brokers describe them: each mechanism and its
/// iterations, never a salt or a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScramUser {
    /// The user's name.
    pub name: String,
    /// Each mechanism the user has a credential for, and its iterations.
    pub credentials: Vec<(Mechanism, u32)>,
}

impl Admin {
    /// Sets `user`'s credential for `mechanism` from `password`, replacing one there: the
    /// password is salted here with [`SALT_LEN`] random bytes and `iterations` of PBKDF2
    /// (4096 to 16384, Kafka's bounds), and only the salted password goes to the broker.
    pub async fn set_scram_credential(
        &self,
        user: &str,
        mechanism: Mechanism,
        password: &[u8],
        iterations: u32,
    ) -> Result<(), ClientError> {
        let mut salt = vec![0; SALT_LEN];
        SystemRandom::new()
            .fill(&mut salt)
            .map_err(|_| ClientError::Config("no system random number generator".into()))?;
        let rounds = NonZeroU32::new(iterations)
            .ok_or_else(|| ClientError::Config("0 iterations salt nothing".into()))?;
        let salted = salted_password(mechanism, password, &salt, rounds);
        let upsertion = ScramUpsertion {
            name: user.to_string(),
            mechanism,
            iterations,
            salt: Bytes::from(salt),
            salted_password: Bytes::from(salted),
        };
        let request = AlterUserScramCredentialsRequest {
            deletions: Vec::new(),
            upsertions: vec![upsertion],
        };
        self.alter_user(user, request, "set the SCRAM credential of")
            .await
    }

    /// Removes `user`'s credential for `mechanism` (RESOURCE_NOT_FOUND if it has none).
    pub async fn delete_scram_credential(
        &self,
        user: &str,
        mechanism: Mechanism,
    ) -> Result<(), ClientError> {
        let request = AlterUserScramCredentialsRequest {
            deletions: vec![ScramDeletion {
                name: user.to_string(),
                mechanism,
            }],
            upsertions: Vec::new(),
        };
        self.alter_user(user, request, "delete the SCRAM credential of")
            .await
    }

    async fn alter_user(
        &self,
        user: &str,
        request: AlterUserScramCredentialsRequest,
        what: &str,
    ) -> Result<(), ClientError> {
        let request = Request::AlterUserScramCredentials(request);
        let wait = self.cluster.config.request_timeout;
        match self.request(request, wait).await? {
            Response::AlterUserScramCredentials(response) => {
                user_result(&response.results, user, what)
            }
            other => Err(unexpected("AlterUserScramCredentials", &other)),
        }
    }

    /// Every user with a SCRAM credential, by name.
    pub async fn scram_users(&self) -> Result<Vec<ScramUser>, ClientError> {
        let request = Request::DescribeUserScramCredentials(DescribeUserScramCredentialsRequest {
            users: Vec::new(),
        });
        match self.request(request, std::time::Duration::ZERO).await? {
            Response::DescribeUserScramCredentials(response) => response
                .users
                .into_iter()
                .map(|user| {
                    if !user.error_code.is_none() {
                        let context = format!("describe the SCRAM credentials of {}", user.name);
                        return Err(ClientError::broker(
                            context,
                            user.error_code,
                            user.error_message,
                        ));
                    }
                    Ok(ScramUser {
                        name: user.name,
                        credentials: user
                            .credentials
                            .into_iter()
                            .map(|c| (c.mechanism, c.iterations))
                            .collect(),
                    })
                })
                .collect(),
            other => Err(unexpected("DescribeUserScramCredentials", &other)),
        }
    }

    /// Adds `bindings` (one already there is added again without error); the first one
    /// refused is the error, the others are added all the same.
    pub async fn create_acls(&self, bindings: &[AclBinding]) -> Result<(), ClientError> {
        let request = Request::CreateAcls(CreateAclsRequest {
            bindings: bindings.to_vec(),
        });
        let wait = self.cluster.config.request_timeout;
        match self.request(request, wait).await? {
            Response::CreateAcls(response) => {
                for (binding, result) in bindings.iter().zip(&response.results) {
                    if !result.error_code.is_none() {
                        let (pattern, entry) = (&binding.pattern, &binding.entry);
                        let what = format!(
                            "create acl {:?} {} {:?} on {:?} {} ({:?}) from {}",
                            entry.permission,
                            entry.principal,
                            entry.operation,
                            pattern.resource_type,
                            pattern.name,
                            pattern.pattern_type,
                            entry.host
                        );
                        return Err(ClientError::broker(
                            what,
                            result.error_code,
                            result.error_message.clone(),
                        ));
                    }
                }
                if response.results.len() != bindings.len() {
                    return Err(ClientError::Protocol {
                        address: "broker".into(),
                        detail: format!(
                            "CreateAcls answered {} results for {} bindings",
                            response.results.len(),
                            bindings.len()
                        ),
                    });
                }
                Ok(())
            }
            other => Err(unexpected("CreateAcls", &other)),
        }
    }

    /// The bindings `filter` matches, in their order.
    pub async fn describe_acls(&self, filter: &AclFilter) -> Result<Vec<AclBinding>, ClientError> {
        let request = Request::DescribeAcls(DescribeAclsRequest {
            filter: filter.clone(),
        });
        match self.request(request, std::time::Duration::ZERO).await? {
            Response::DescribeAcls(response) => Ok(response.bindings),
            other => Err(unexpected("DescribeAcls", &other)),
        }
    }

    /// Removes the bindings `filter` matches; they are the answer.
    pub async fn delete_acls(&self, filter: &AclFilter) -> Result<Vec<AclBinding>, ClientError> {
        let request = Request::DeleteAcls(DeleteAclsRequest {
            filters: vec![filter.clone()],
        });
        let wait = self.cluster.config.request_timeout;
        match self.request(request, wait).await? {
            Response::DeleteAcls(response) => {
                let Some(result) = response.results.into_iter().next() else {
                    return Err(ClientError::Protocol {
                        address: "broker".into(),
                        detail: "DeleteAcls answered no result for its filter".into(),
                    });
                };
                if !result.error_code.is_none() {
                    return Err(ClientError::broker(
                        "delete acls",
                        result.error_code,
                        result.error_message,
                    ));
                }
                Ok(result.bindings)
            }
            other => Err(unexpected("DeleteAcls", &other)),
        }
    }
}

/// The named user's outcome in an AlterUserScramCredentials response.
fn user_result(results: &[UserResult], user: &str, what: &str) -> Result<(), ClientError> {
    let result = results
        .iter()
        .find(|result| result.name == user)
        .ok_or_else(|| missing_user(what, user))?;
    if result.error_code.is_none() {
        return Ok(());
    }
    Err(ClientError::broker(
        format!("{what} {user}"),
        result.error_code,
        result.error_message.clone(),
    ))
}
