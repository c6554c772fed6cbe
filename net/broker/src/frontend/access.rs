//! Authorization: whether who sent a request may do what it asks, by the ACLs, with
//! `authorizer_enabled`. Protocol-free: a frontend makes an [`Access`] for each request from
//! its connection's principal and host, asks it about each resource the request touches, and
//! answers a denial with its protocol's error (Kafka's TOPIC_AUTHORIZATION_FAILED,
//! GROUP_AUTHORIZATION_FAILED, CLUSTER_AUTHORIZATION_FAILED). The decisions are
//! `ringlog_security::acl::Authorizer`'s, over the catalog's bindings; which operation each
//! request needs on which resource is Kafka's (the table in `docs/security.md`).
//!
//! Without `authorizer_enabled` every question is answered yes at once, without a look at the
//! catalog: the ACLs are stored, and nothing is checked.
//!
//! A denial is logged (at INFO to the `ringlog::audit` target, which the `ringlog` binary
//! shows by default, as Kafka's authorizer logs it: principal, host, operation, resource and
//! the rule that decided; never a secret) and counted in
//! `ringlog_authorization_denials_total`, except where a request lists what it may see
//! ([`Access::shows`]: Metadata of every topic, ListGroups): what it may not see is left out
//! silently, as Kafka leaves it (its `logIfDenied = false`).

use std::net::IpAddr;
use std::sync::Arc;

use ringlog_security::Principal;
use ringlog_security::acl::{Action, Authorizer, CLUSTER_NAME, Decision, Operation, ResourceType};

use crate::bus::Shared;

/// Who asks, and the authorizer that decides, for one request.
#[derive(Clone, Debug)]
pub(crate) struct Access {
    /// `None`: the authorizer is off, everything is allowed.
    checked: Option<Checked>,
}

#[derive(Clone, Debug)]
struct Checked {
    authorizer: Arc<Authorizer>,
    principal: Principal,
    host: String,
}

impl Access {
    /// The access of a request from `principal` (asked only with the authorizer on) at
    /// `address` (the client's; ACLs name hosts by it).
    pub(crate) fn new(
        shared: &Shared,
        principal: impl FnOnce() -> Principal,
        address: IpAddr,
    ) -> Access {
        if !shared.options.config.authorizer_enabled {
            return Access::open();
        }
        let catalog = shared.catalog();
        // The agent sets the authorizer in every catalog it builds with the authorizer on;
        // the catalog before the first image has none, and no topic, user or ACL: deny all
        // but super users until it comes.
        let authorizer = catalog.authorizer().cloned().unwrap_or_else(|| {
            let config = &shared.options.config;
            let empty = Authorizer::new(config.super_users.clone(), false);
            Arc::new(empty)
        });
        Access {
            checked: Some(Checked {
                authorizer,
                principal: principal(),
                host: address.to_string(),
            }),
        }
    }

    /// Everything allowed: the authorizer is off.
    pub(crate) fn open() -> Access {
        Access { checked: None }
    }

    /// Whether `operation` on the resource of `resource_type` named `name` is allowed; a
    /// denial is logged and counted.
    pub(crate) fn allows(
        &self,
        operation: Operation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        self.decide(operation, resource_type, name, true)
    }

    /// Whether `operation` on the cluster is allowed; a denial is logged and counted.
    pub(crate) fn allows_cluster(&self, operation: Operation) -> bool {
        self.allows(operation, ResourceType::Cluster, CLUSTER_NAME)
    }

    /// Whether the client may create the topic `name`: Create on the cluster, or on the
    /// topic (a denial of the latter is logged and counted).
    pub(crate) fn may_create_topic(&self, name: &str) -> bool {
        self.shows(Operation::Create, ResourceType::Cluster, CLUSTER_NAME)
            || self.allows(Operation::Create, ResourceType::Topic, name)
    }

    /// Whether a listing may show the resource: [`Self::allows`] without logging or counting
    /// a denial (a listing leaves out what it may not show, unasked).
    pub(crate) fn shows(
        &self,
        operation: Operation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        self.decide(operation, resource_type, name, false)
    }

    /// Whether `operation` is allowed on at least one resource of `resource_type` (Kafka's
    /// `authorizeByResourceType`); a denial is logged and counted against the type.
    pub(crate) fn allows_some(&self, operation: Operation, resource_type: ResourceType) -> bool {
        let Some(checked) = &self.checked else {
            return true;
        };
        let allowed = checked.authorizer.authorize_any(
            &checked.principal,
            &checked.host,
            operation,
            resource_type,
        );
        if !allowed {
            checked.denied(operation, resource_type, "(any)", "no ACL allows it on any");
        }
        allowed
    }

    /// The operations the client may do on the resource, as Kafka's authorized-operations
    /// bit field (bit `1 << code` per operation) of the operations the resource type has:
    /// what Metadata, DescribeCluster and DescribeGroups answer when asked. Every one with the
    /// authorizer off.
    pub(crate) fn authorized_operations(&self, resource_type: ResourceType, name: &str) -> i32 {
        supported_operations(resource_type)
            .iter()
            .filter(|&&operation| self.shows(operation, resource_type, name))
            .fold(0, |bits, operation| bits | 1 << operation.code())
    }

    fn decide(
        &self,
        operation: Operation,
        resource_type: ResourceType,
        name: &str,
        log_if_denied: bool,
    ) -> bool {
        let Some(checked) = &self.checked else {
            return true;
        };
        let decision = checked.authorizer.authorize(&Action {
            principal: &checked.principal,
            host: &checked.host,
            operation,
            resource_type,
            name,
        });
        match decision {
            Decision::Allowed(_) => true,
            Decision::Denied(rule) => {
                if log_if_denied {
                    checked.denied(operation, resource_type, name, &rule.to_string());
                }
                false
            }
        }
    }
}

impl Checked {
    fn denied(&self, operation: Operation, resource_type: ResourceType, name: &str, rule: &str) {
        tracing::info!(
            target: crate::frontend::sasl::AUDIT,
            principal = %self.principal,
            host = %self.host,
            operation = operation.name(),
            resource_type = resource_type.name(),
            resource = name,
            "denied {rule}"
        );
        crate::metrics_hooks::authorization_denied(resource_type, operation);
    }
}

/// The operations a resource type has (Kafka's `AclEntry.supportedOperations`).
fn supported_operations(resource_type: ResourceType) -> &'static [Operation] {
    use Operation::*;
    match resource_type {
        ResourceType::Topic => &[
            Read,
            Write,
            Create,
            Describe,
            Delete,
            Alter,
            DescribeConfigs,
            AlterConfigs,
        ],
        ResourceType::Group => &[Read, Describe, Delete],
        ResourceType::Cluster => &[
            Create,
            ClusterAction,
            DescribeConfigs,
            AlterConfigs,
            IdempotentWrite,
            Alter,
            Describe,
        ],
        ResourceType::TransactionalId => &[Describe, Write],
        ResourceType::DelegationToken => &[Describe],
        ResourceType::User => &[CreateTokens, DescribeTokens],
        ResourceType::Any => &[],
    }
}
