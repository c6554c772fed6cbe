//! Users' SCRAM credentials and the ACL bindings as the metadata keeps them, pure: the rules
//! [`MetadataCommand::AlterScramCredentials`], [`MetadataCommand::CreateAcls`] and
//! [`MetadataCommand::DeleteAcls`] apply, which are Kafka's (its controller's
//! `ScramControlManager` and `AclControlManager`, KIP-554 for the credentials).
//!
//! A credential is what a server keeps of a password (salt, iterations, StoredKey, ServerKey,
//! RFC 5802): never the password, nor the salted password, which would log a user in. The
//! metadata log holds only that.
//!
//! [`MetadataCommand::AlterScramCredentials`]: crate::MetadataCommand::AlterScramCredentials
//! [`MetadataCommand::CreateAcls`]: crate::MetadataCommand::CreateAcls
//! [`MetadataCommand::DeleteAcls`]: crate::MetadataCommand::DeleteAcls

use std::collections::{BTreeMap, BTreeSet};

use ringlog_replication::KafkaError;
use ringlog_security::Principal;
use ringlog_security::acl::{
    AclBinding, AclFilter, CLUSTER_NAME, Operation, PatternType, Permission, ResourceType, WILDCARD,
};
use ringlog_security::scram::{MAX_ITERATIONS, MIN_ITERATIONS, Mechanism, ScramCredential};
use serde::{Deserialize, Serialize};

use crate::state::Refusal;

/// Every user's credentials: user name -> mechanism -> credential. A user is here while it
/// has at least one.
pub type Credentials = BTreeMap<String, BTreeMap<Mechanism, ScramCredential>>;

/// One change to a user's credentials, as AlterUserScramCredentials asks it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScramAlteration {
    /// Sets the user's credential for the credential's mechanism (replacing one there).
    Upsert {
        user: String,
        credential: ScramCredential,
    },
    /// Removes the user's credential for `mechanism`.
    Delete { user: String, mechanism: Mechanism },
}

impl ScramAlteration {
    /// The user it changes.
    pub fn user(&self) -> &str {
        match self {
            ScramAlteration::Upsert { user, .. } | ScramAlteration::Delete { user, .. } => user,
        }
    }
}

/// What an alteration did to one user: nothing if refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserOutcome {
    pub user: String,
    pub refusal: Option<Refusal>,
}

/// The length of StoredKey and ServerKey: the mechanism's digest.
fn key_len(mechanism: Mechanism) -> usize {
    match mechanism {
        Mechanism::ScramSha256 => 32,
        Mechanism::ScramSha512 => 64,
    }
}

/// Applies `alterations` to `credentials`, each user on its own: one outcome per user named,
/// in the order first named. As in Kafka, a user named twice in one request is refused
/// whole (DUPLICATE_RESOURCE), whatever the mechanisms.
pub(crate) fn alter_credentials(
    credentials: &mut Credentials,
    alterations: &[ScramAlteration],
) -> Vec<UserOutcome> {
    let mut named: BTreeMap<&str, usize> = BTreeMap::new();
    let mut order = Vec::new();
    for alteration in alterations {
        let count = named.entry(alteration.user()).or_insert(0);
        if *count == 0 {
            order.push(alteration.user());
        }
        *count += 1;
    }
    let mut refusals: BTreeMap<&str, Refusal> = BTreeMap::new();
    for alteration in alterations {
        let user = alteration.user();
        if named[user] > 1 {
            let message = format!(
                "user {user:?} is named {} times: a user's credentials can be altered once a \
                 request",
                named[user]
            );
            refusals.insert(user, Refusal::new(KafkaError::DuplicateResource, &message));
            continue;
        }
        if let Err(refusal) = alter_one(credentials, alteration) {
            refusals.insert(user, refusal);
        }
    }
    order
        .into_iter()
        .map(|user| UserOutcome {
            user: user.to_string(),
            refusal: refusals.remove(user),
        })
        .collect()
}

fn alter_one(credentials: &mut Credentials, alteration: &ScramAlteration) -> Result<(), Refusal> {
    match alteration {
        ScramAlteration::Upsert { user, credential } => {
            check_credential(user, credential)?;
            credentials
                .entry(user.clone())
                .or_default()
                .insert(credential.mechanism, credential.clone());
        }
        ScramAlteration::Delete { user, mechanism } => {
            let removed = credentials.get_mut(user).and_then(|m| m.remove(mechanism));
            if removed.is_none() {
                let message = format!("user {user:?} has no {} credential", mechanism.name());
                return Err(Refusal::new(KafkaError::ResourceNotFound, &message));
            }
            if credentials.get(user).is_some_and(BTreeMap::is_empty) {
                credentials.remove(user);
            }
        }
    }
    Ok(())
}

/// A credential Kafka would take: a named user, iterations in Kafka's range, a salt, keys of
/// the mechanism's length.
fn check_credential(user: &str, credential: &ScramCredential) -> Result<(), Refusal> {
    let unacceptable = |why: String| {
        let message = format!("user {user:?}: {why}");
        Err(Refusal::new(KafkaError::UnacceptableCredential, &message))
    };
    let mechanism = credential.mechanism;
    if user.is_empty() {
        return unacceptable("a user name must not be empty".to_string());
    }
    if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&credential.iterations) {
        return unacceptable(format!(
            "{} iterations is outside {MIN_ITERATIONS}..={MAX_ITERATIONS}",
            credential.iterations
        ));
    }
    if credential.salt.is_empty() {
        return unacceptable("the salt is empty".to_string());
    }
    let expected = key_len(mechanism);
    for (key, len) in [
        ("stored key", credential.stored_key.len()),
        ("server key", credential.server_key.len()),
    ] {
        if len != expected {
            return unacceptable(format!(
                "the {key} is {len} bytes, {} makes {expected}",
                mechanism.name()
            ));
        }
    }
    Ok(())
}

/// Panics unless every user has a credential, each filed under its own mechanism and one
/// Kafka would take.
pub(crate) fn check_credentials(credentials: &Credentials) {
    for (user, mechanisms) in credentials {
        assert!(!mechanisms.is_empty(), "user {user:?} has no credential");
        for (mechanism, credential) in mechanisms {
            assert_eq!(
                *mechanism, credential.mechanism,
                "user {user:?}: a credential filed under another mechanism"
            );
            if let Err(refusal) = check_credential(user, credential) {
                panic!("a stored credential is not acceptable: {refusal}");
            }
        }
    }
}

/// Creates `bindings`: one outcome per binding, in order. A binding already there is created
/// (Kafka's answer: success, nothing added); an invalid one is refused alone.
pub(crate) fn create_acls(
    acls: &mut BTreeSet<AclBinding>,
    bindings: &[AclBinding],
) -> Vec<Option<Refusal>> {
    bindings
        .iter()
        .map(|binding| match validate_binding(binding) {
            Ok(()) => {
                acls.insert(binding.clone());
                None
            }
            Err(refusal) => Some(refusal),
        })
        .collect()
}

/// Deletes every binding each filter matches: per filter, the bindings it matched (as they
/// were before the command, so a binding two filters match is in both answers, as in Kafka).
pub(crate) fn delete_acls(
    acls: &mut BTreeSet<AclBinding>,
    filters: &[AclFilter],
) -> Vec<Vec<AclBinding>> {
    let matched: Vec<Vec<AclBinding>> = filters
        .iter()
        .map(|filter| {
            acls.iter()
                .filter(|binding| filter_matches(filter, binding))
                .cloned()
                .collect()
        })
        .collect();
    for binding in matched.iter().flatten() {
        acls.remove(binding);
    }
    matched
}

/// A binding Kafka would store: a concrete resource type, pattern type (literal or
/// prefixed), operation and permission; a resource name (`kafka-cluster` for the cluster);
/// a principal `TYPE:NAME`. Refused with INVALID_REQUEST, as Kafka refuses them.
pub fn validate_binding(binding: &AclBinding) -> Result<(), Refusal> {
    let pattern = &binding.pattern;
    let entry = &binding.entry;
    let invalid = |why: String| Err(Refusal::new(KafkaError::InvalidRequest, &why));
    if pattern.resource_type == ResourceType::Any {
        return invalid("an acl names a resource type, not ANY".to_string());
    }
    if !matches!(
        pattern.pattern_type,
        PatternType::Literal | PatternType::Prefixed
    ) {
        return invalid(format!(
            "an acl's pattern type is LITERAL or PREFIXED, not {}",
            format!("{:?}", pattern.pattern_type).to_uppercase()
        ));
    }
    if entry.operation == Operation::Any {
        return invalid("an acl names an operation, not ANY".to_string());
    }
    if entry.permission == Permission::Any {
        return invalid("an acl's permission is ALLOW or DENY, not ANY".to_string());
    }
    if pattern.name.is_empty() {
        return invalid("an acl's resource name must not be empty".to_string());
    }
    if pattern.resource_type == ResourceType::Cluster && pattern.name != CLUSTER_NAME {
        return invalid(format!(
            "the cluster resource is named {CLUSTER_NAME}, not {:?}",
            pattern.name
        ));
    }
    if let Err(error) = Principal::parse(&entry.principal) {
        return invalid(error.to_string());
    }
    if entry.host.is_empty() {
        return invalid(format!(
            "an acl's host is an address or {WILDCARD}, not empty"
        ));
    }
    Ok(())
}

/// Whether `filter` names `binding` (Kafka's `AclBindingFilter.matches`): every field the
/// filter sets equals the binding's, except that a MATCH filter with a name names every
/// binding that would apply to a resource of that name: the literal name, the literal
/// wildcard `*`, and every prefix of it.
pub fn filter_matches(filter: &AclFilter, binding: &AclBinding) -> bool {
    let pattern = &binding.pattern;
    let entry = &binding.entry;
    let resource_type =
        filter.resource_type == ResourceType::Any || filter.resource_type == pattern.resource_type;
    let pattern_type = matches!(filter.pattern_type, PatternType::Any | PatternType::Match)
        || filter.pattern_type == pattern.pattern_type;
    if !(resource_type && pattern_type) {
        return false;
    }
    let name = match &filter.name {
        None => true,
        Some(name) if filter.pattern_type != PatternType::Match => *name == pattern.name,
        Some(name) => match pattern.pattern_type {
            PatternType::Literal => *name == pattern.name || pattern.name == WILDCARD,
            PatternType::Prefixed => name.starts_with(&pattern.name),
            PatternType::Any | PatternType::Match => false,
        },
    };
    name && filter
        .principal
        .as_ref()
        .is_none_or(|p| *p == entry.principal)
        && filter.host.as_ref().is_none_or(|h| *h == entry.host)
        && (filter.operation == Operation::Any || filter.operation == entry.operation)
        && (filter.permission == Permission::Any || filter.permission == entry.permission)
}

#[cfg(test)]
mod tests {
    use ringlog_security::acl::{AccessEntry, ResourcePattern};

    use super::*;

    fn binding(pattern_type: PatternType, name: &str) -> AclBinding {
        AclBinding {
            pattern: ResourcePattern {
                resource_type: ResourceType::Topic,
                name: name.to_string(),
                pattern_type,
            },
            entry: AccessEntry {
                principal: "User:alice".to_string(),
                host: "*".to_string(),
                operation: Operation::Read,
                permission: Permission::Allow,
            },
        }
    }

    fn any_filter() -> AclFilter {
        AclFilter {
            resource_type: ResourceType::Any,
            name: None,
            pattern_type: PatternType::Any,
            principal: None,
            host: None,
            operation: Operation::Any,
            permission: Permission::Any,
        }
    }

    #[test]
    fn a_match_filter_names_the_literal_the_wildcard_and_the_prefixes() {
        let filter = AclFilter {
            name: Some("orders-eu".to_string()),
            pattern_type: PatternType::Match,
            ..any_filter()
        };
        assert!(filter_matches(
            &filter,
            &binding(PatternType::Literal, "orders-eu")
        ));
        assert!(filter_matches(&filter, &binding(PatternType::Literal, "*")));
        assert!(filter_matches(
            &filter,
            &binding(PatternType::Prefixed, "orders-")
        ));
        assert!(filter_matches(
            &filter,
            &binding(PatternType::Prefixed, "orders-eu")
        ));
        assert!(!filter_matches(
            &filter,
            &binding(PatternType::Literal, "orders")
        ));
        assert!(!filter_matches(
            &filter,
            &binding(PatternType::Prefixed, "orders-us")
        ));
        // Without MATCH the name is compared as it is, whatever the pattern type.
        let any = AclFilter {
            name: Some("orders-".to_string()),
            ..any_filter()
        };
        assert!(filter_matches(
            &any,
            &binding(PatternType::Prefixed, "orders-")
        ));
        assert!(!filter_matches(
            &any,
            &binding(PatternType::Prefixed, "orders")
        ));
        let literal = AclFilter {
            pattern_type: PatternType::Literal,
            ..any
        };
        assert!(!filter_matches(
            &literal,
            &binding(PatternType::Prefixed, "orders-")
        ));
    }

    #[test]
    fn an_entry_filter_compares_each_field_it_sets() {
        let read = binding(PatternType::Literal, "t");
        assert!(filter_matches(&any_filter(), &read));
        let cases = [
            (
                AclFilter {
                    principal: Some("User:bob".to_string()),
                    ..any_filter()
                },
                false,
            ),
            (
                AclFilter {
                    host: Some("*".to_string()),
                    ..any_filter()
                },
                true,
            ),
            (
                AclFilter {
                    operation: Operation::Write,
                    ..any_filter()
                },
                false,
            ),
            (
                AclFilter {
                    permission: Permission::Deny,
                    ..any_filter()
                },
                false,
            ),
            (
                AclFilter {
                    resource_type: ResourceType::Group,
                    ..any_filter()
                },
                false,
            ),
        ];
        for (filter, expected) in cases {
            assert_eq!(filter_matches(&filter, &read), expected, "{filter:?}");
        }
    }

    #[test]
    fn bindings_kafka_refuses_are_refused() {
        assert_eq!(
            validate_binding(&binding(PatternType::Literal, "t")),
            Ok(())
        );
        let mut cases: Vec<(AclBinding, &str)> = Vec::new();
        let mut b = binding(PatternType::Match, "t");
        cases.push((b.clone(), "pattern type"));
        b = binding(PatternType::Literal, "");
        cases.push((b.clone(), "resource name"));
        b = binding(PatternType::Literal, "t");
        b.pattern.resource_type = ResourceType::Any;
        cases.push((b.clone(), "resource type"));
        b = binding(PatternType::Literal, "t");
        b.pattern.resource_type = ResourceType::Cluster;
        cases.push((b.clone(), "kafka-cluster"));
        b = binding(PatternType::Literal, "t");
        b.entry.operation = Operation::Any;
        cases.push((b.clone(), "operation"));
        b = binding(PatternType::Literal, "t");
        b.entry.permission = Permission::Any;
        cases.push((b.clone(), "permission"));
        b = binding(PatternType::Literal, "t");
        b.entry.principal = "alice".to_string();
        cases.push((b.clone(), "TYPE:NAME"));
        b = binding(PatternType::Literal, "t");
        b.entry.host = String::new();
        cases.push((b, "host"));
        for (binding, why) in cases {
            let refusal = validate_binding(&binding).unwrap_err();
            assert_eq!(refusal.code, KafkaError::InvalidRequest);
            assert!(refusal.message.contains(why), "{why}: {refusal}");
        }
    }
}
