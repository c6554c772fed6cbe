//! Kafka's ACLs: CreateAcls (key 30) and DeleteAcls (key 31), carried out by the agent through
//! the controller quorum, and DescribeAcls (key 29), answered from the catalog; v1 to v3 of
//! each (Kafka 4 and `kafka-protocol` have no v0; v1 brought prefixed patterns).
//!
//! Each binding of a CreateAcls and each filter of a DeleteAcls is answered on its own. A code
//! that names no resource type, pattern type, operation or permission (Kafka's UNKNOWN, 0,
//! among them), and a binding Kafka would not store (a filter's ANY or MATCH in a binding, an
//! empty resource name, a cluster not named `kafka-cluster`, a principal that is not
//! `TYPE:NAME`), are INVALID_REQUEST, as in Kafka; so is an empty host, which Kafka would
//! store and no client could match (`*` is any host). A binding already there is created
//! again without error. Describing the ACLs needs Describe on the cluster, creating or
//! deleting them Alter (else CLUSTER_AUTHORIZATION_FAILED, for the request or each entry).

use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{
    CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DescribeAclsRequest, DescribeAclsResponse,
};
use kafka_protocol::protocol::StrBytes;
use ringlog_controller::security::{filter_matches, validate_binding};
use ringlog_security::acl::{
    AccessEntry, AclBinding, AclFilter, Operation, PatternType, Permission, ResourcePattern,
    ResourceType, UnknownCode,
};

use super::{
    CLUSTER_AUTHORIZATION_FAILED, Head, Plan, Planned as AnyPlanned, count_errors, respond,
};
use crate::bus::Shared;
use crate::connection::OutPiece;
use crate::frontend::access::Access;
use crate::ops::{AdminOp, AdminOutcome};

/// What the answer needs beyond the agent's outcome: the entries the frontend refused, by
/// their place in the request (ascending), with the message why.
#[derive(Debug, Default)]
pub(super) struct Planned {
    refused: Vec<(usize, String)>,
}

fn str_bytes(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

fn invalid(error: UnknownCode) -> String {
    error.to_string()
}

/// A creation as a binding, refused (why) if Kafka would not store it.
fn binding(creation: &AclCreation) -> Result<AclBinding, String> {
    let binding = AclBinding {
        pattern: ResourcePattern {
            resource_type: ResourceType::from_code(creation.resource_type).map_err(invalid)?,
            name: creation.resource_name.to_string(),
            pattern_type: PatternType::from_code(creation.resource_pattern_type)
                .map_err(invalid)?,
        },
        entry: AccessEntry {
            principal: creation.principal.to_string(),
            host: creation.host.to_string(),
            operation: Operation::from_code(creation.operation).map_err(invalid)?,
            permission: Permission::from_code(creation.permission_type).map_err(invalid)?,
        },
    };
    validate_binding(&binding).map_err(|refusal| refusal.message)?;
    Ok(binding)
}

/// CreateAcls: the valid bindings go to the agent.
pub(super) fn plan_create(access: &Access, head: &Head, request: CreateAclsRequest) -> Plan {
    if !access.allows_cluster(Operation::Alter) {
        let results: Vec<AclCreationResult> = request
            .creations
            .iter()
            .map(|_| {
                AclCreationResult::default()
                    .with_error_code(CLUSTER_AUTHORIZATION_FAILED)
                    .with_error_message(Some(str_bytes(NOT_AUTHORIZED_TO_ALTER)))
            })
            .collect();
        count_errors(head, results.iter().map(|r| r.error_code));
        return Plan::Respond(respond(
            head,
            &CreateAclsResponse::default().with_results(results),
        ));
    }
    let mut planned = Planned::default();
    let mut bindings = Vec::new();
    for (position, creation) in request.creations.iter().enumerate() {
        match binding(creation) {
            Ok(binding) => bindings.push(binding),
            Err(why) => planned.refused.push((position, why)),
        }
    }
    Plan::Admin(AdminOp::CreateAcls { bindings }, AnyPlanned::Acls(planned))
}

/// `answered` with each refused entry put back at its place.
fn merge<T>(
    refused: Vec<(usize, String)>,
    answered: Vec<T>,
    mut make: impl FnMut(String) -> T,
) -> Vec<T> {
    let mut all = answered;
    for (position, why) in refused {
        let at = position.min(all.len());
        all.insert(at, make(why));
    }
    all
}

/// An error code and message.
fn refusal_fields(code: i16, message: String) -> (i16, Option<StrBytes>) {
    (code, Some(str_bytes(message)))
}

/// Kafka's INVALID_REQUEST: an entry the frontend refused.
const INVALID_REQUEST: i16 = 42;

/// The answer to CreateAcls or DeleteAcls from the agent's outcome, per entry in order.
pub(super) fn finish(head: &Head, planned: Planned, outcome: AdminOutcome) -> Vec<OutPiece> {
    match outcome {
        AdminOutcome::AclsCreated(created) => {
            let answered = created
                .into_iter()
                .map(|refusal| match refusal {
                    None => (0, None),
                    Some(r) => refusal_fields(r.error.code(), r.message),
                })
                .collect();
            let results: Vec<AclCreationResult> = merge(planned.refused, answered, |why| {
                refusal_fields(INVALID_REQUEST, why)
            })
            .into_iter()
            .map(|(code, message)| {
                AclCreationResult::default()
                    .with_error_code(code)
                    .with_error_message(message)
            })
            .collect();
            count_errors(head, results.iter().map(|r| r.error_code));
            respond(head, &CreateAclsResponse::default().with_results(results))
        }
        AdminOutcome::AclsDeleted(deleted) => {
            let answered = deleted
                .into_iter()
                .map(|result| match result {
                    Ok(bindings) => DeleteAclsFilterResult::default()
                        .with_matching_acls(bindings.iter().map(matching_acl).collect()),
                    Err(r) => filter_refused(r.error.code(), r.message),
                })
                .collect();
            let results = merge(planned.refused, answered, |why| {
                filter_refused(INVALID_REQUEST, why)
            });
            count_errors(head, results.iter().map(|r| r.error_code));
            respond(
                head,
                &DeleteAclsResponse::default().with_filter_results(results),
            )
        }
        _ => unreachable!("an ACL request's outcome is per binding or per filter"),
    }
}

fn filter_refused(code: i16, message: String) -> DeleteAclsFilterResult {
    DeleteAclsFilterResult::default()
        .with_error_code(code)
        .with_error_message(Some(str_bytes(message)))
}

fn matching_acl(binding: &AclBinding) -> DeleteAclsMatchingAcl {
    DeleteAclsMatchingAcl::default()
        .with_resource_type(binding.pattern.resource_type.code())
        .with_resource_name(str_bytes(binding.pattern.name.clone()))
        .with_pattern_type(binding.pattern.pattern_type.code())
        .with_principal(str_bytes(binding.entry.principal.clone()))
        .with_host(str_bytes(binding.entry.host.clone()))
        .with_operation(binding.entry.operation.code())
        .with_permission_type(binding.entry.permission.code())
}

/// A filter from its fields on the wire.
fn filter(
    resource_type: i8,
    name: Option<&StrBytes>,
    pattern_type: i8,
    principal: Option<&StrBytes>,
    host: Option<&StrBytes>,
    operation: i8,
    permission: i8,
) -> Result<AclFilter, String> {
    Ok(AclFilter {
        resource_type: ResourceType::from_code(resource_type).map_err(invalid)?,
        name: name.map(|n| n.to_string()),
        pattern_type: PatternType::from_code(pattern_type).map_err(invalid)?,
        principal: principal.map(|p| p.to_string()),
        host: host.map(|h| h.to_string()),
        operation: Operation::from_code(operation).map_err(invalid)?,
        permission: Permission::from_code(permission).map_err(invalid)?,
    })
}

fn delete_filter(f: &DeleteAclsFilter) -> Result<AclFilter, String> {
    filter(
        f.resource_type_filter,
        f.resource_name_filter.as_ref(),
        f.pattern_type_filter,
        f.principal_filter.as_ref(),
        f.host_filter.as_ref(),
        f.operation,
        f.permission_type,
    )
}

/// What a client without Alter on the cluster is told.
const NOT_AUTHORIZED_TO_ALTER: &str = "not authorized to alter the cluster's ACLs";

/// DeleteAcls: the filters that decode go to the agent.
pub(super) fn plan_delete(access: &Access, head: &Head, request: DeleteAclsRequest) -> Plan {
    if !access.allows_cluster(Operation::Alter) {
        let results: Vec<DeleteAclsFilterResult> = request
            .filters
            .iter()
            .map(|_| {
                let why = NOT_AUTHORIZED_TO_ALTER.to_string();
                filter_refused(CLUSTER_AUTHORIZATION_FAILED, why)
            })
            .collect();
        count_errors(head, results.iter().map(|r| r.error_code));
        let response = DeleteAclsResponse::default().with_filter_results(results);
        return Plan::Respond(respond(head, &response));
    }
    let mut planned = Planned::default();
    let mut filters = Vec::new();
    for (position, wire) in request.filters.iter().enumerate() {
        match delete_filter(wire) {
            Ok(filter) => filters.push(filter),
            Err(why) => planned.refused.push((position, why)),
        }
    }
    Plan::Admin(AdminOp::DeleteAcls { filters }, AnyPlanned::Acls(planned))
}

/// DescribeAcls: the bindings the filter matches, grouped by resource pattern.
pub(super) fn describe(
    shared: &Shared,
    access: &Access,
    head: &Head,
    request: DescribeAclsRequest,
) -> Vec<OutPiece> {
    if !access.allows_cluster(Operation::Describe) {
        let response = DescribeAclsResponse::default()
            .with_error_code(CLUSTER_AUTHORIZATION_FAILED)
            .with_error_message(Some(str_bytes(
                "not authorized to describe the cluster's ACLs",
            )));
        count_errors(head, [CLUSTER_AUTHORIZATION_FAILED]);
        return respond(head, &response);
    }
    let filter = filter(
        request.resource_type_filter,
        request.resource_name_filter.as_ref(),
        request.pattern_type_filter,
        request.principal_filter.as_ref(),
        request.host_filter.as_ref(),
        request.operation,
        request.permission_type,
    );
    let response = match filter {
        Err(why) => DescribeAclsResponse::default()
            .with_error_code(INVALID_REQUEST)
            .with_error_message(Some(str_bytes(why))),
        Ok(filter) => {
            let catalog = shared.catalog();
            let matched = catalog
                .security()
                .acls
                .iter()
                .filter(|binding| filter_matches(&filter, binding));
            DescribeAclsResponse::default().with_resources(grouped(matched))
        }
    };
    count_errors(head, [response.error_code]);
    respond(head, &response)
}

/// Bindings in their order (by pattern first) as Kafka answers them: one resource per
/// pattern, its entries under it.
fn grouped<'a>(bindings: impl Iterator<Item = &'a AclBinding>) -> Vec<DescribeAclsResource> {
    let mut resources: Vec<(&ResourcePattern, Vec<AclDescription>)> = Vec::new();
    for binding in bindings {
        let entry = &binding.entry;
        let description = AclDescription::default()
            .with_principal(str_bytes(entry.principal.clone()))
            .with_host(str_bytes(entry.host.clone()))
            .with_operation(entry.operation.code())
            .with_permission_type(entry.permission.code());
        match resources.last_mut() {
            Some((pattern, acls)) if **pattern == binding.pattern => acls.push(description),
            _ => resources.push((&binding.pattern, vec![description])),
        }
    }
    resources
        .into_iter()
        .map(|(pattern, acls)| {
            DescribeAclsResource::default()
                .with_resource_type(pattern.resource_type.code())
                .with_resource_name(str_bytes(pattern.name.clone()))
                .with_pattern_type(pattern.pattern_type.code())
                .with_acls(acls)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creation(resource_type: i8, pattern_type: i8, name: &str, principal: &str) -> AclCreation {
        AclCreation::default()
            .with_resource_type(resource_type)
            .with_resource_name(str_bytes(name))
            .with_resource_pattern_type(pattern_type)
            .with_principal(str_bytes(principal))
            .with_host(str_bytes("*"))
            .with_operation(3)
            .with_permission_type(3)
    }

    #[test]
    fn creations_decode_to_bindings_or_say_why_not() {
        let read = binding(&creation(2, 3, "t", "User:alice")).unwrap();
        assert_eq!(read.pattern.resource_type, ResourceType::Topic);
        assert_eq!(read.entry.operation, Operation::Read);
        assert_eq!(read.entry.permission, Permission::Allow);
        // UNKNOWN (0) and codes past the last are refused, as are filters' ANY and MATCH.
        for (wire, why) in [
            (creation(0, 3, "t", "User:alice"), "resource type code 0"),
            (creation(2, 9, "t", "User:alice"), "pattern type code 9"),
            (creation(1, 3, "t", "User:alice"), "Any is for filters only"),
            (creation(2, 2, "t", "User:alice"), "Match"),
            (creation(4, 3, "t", "User:alice"), "kafka-cluster"),
            (creation(2, 3, "t", "alice"), "TYPE:NAME"),
        ] {
            let refused = binding(&wire).unwrap_err();
            assert!(refused.contains(why), "{why}: {refused}");
        }
    }

    #[test]
    fn refused_entries_go_back_to_their_places() {
        let merged = merge(
            vec![(0, "a".into()), (3, "d".into())],
            vec!["b".to_string(), "c".to_string()],
            |w| w,
        );
        assert_eq!(merged, ["a", "b", "c", "d"]);
    }

    #[test]
    fn bindings_are_described_one_resource_per_pattern() {
        let mut alice = binding(&creation(2, 3, "t", "User:alice")).unwrap();
        let bob = AclBinding {
            entry: AccessEntry {
                principal: "User:bob".to_string(),
                ..alice.entry.clone()
            },
            ..alice.clone()
        };
        let other = binding(&creation(2, 4, "t", "User:alice")).unwrap();
        let set: std::collections::BTreeSet<AclBinding> =
            [alice.clone(), bob, other].into_iter().collect();
        let resources = grouped(set.iter());
        assert_eq!(resources.len(), 2);
        assert_eq!(resources[0].acls.len(), 2);
        assert_eq!(resources[0].pattern_type, 3);
        assert_eq!(resources[1].pattern_type, 4);
        alice.pattern.name = "u".to_string();
        assert!(!set.contains(&alice));
    }
}
