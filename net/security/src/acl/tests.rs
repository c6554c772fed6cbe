//! Each rule of the authorizer on its own, the filters, what validation refuses, every enum's
//! codes, and the authorizer against a model: a linear scan written from the rules.

use super::*;
use proptest::prelude::*;
use std::collections::BTreeSet;
use std::sync::Arc;

const RESOURCE_TYPES: [ResourceType; 7] = [
    ResourceType::Any,
    ResourceType::Topic,
    ResourceType::Group,
    ResourceType::Cluster,
    ResourceType::TransactionalId,
    ResourceType::DelegationToken,
    ResourceType::User,
];
const PATTERN_TYPES: [PatternType; 4] = [
    PatternType::Any,
    PatternType::Match,
    PatternType::Literal,
    PatternType::Prefixed,
];
const OPERATIONS: [Operation; 14] = [
    Operation::Any,
    Operation::All,
    Operation::Read,
    Operation::Write,
    Operation::Create,
    Operation::Delete,
    Operation::Alter,
    Operation::Describe,
    Operation::ClusterAction,
    Operation::DescribeConfigs,
    Operation::AlterConfigs,
    Operation::IdempotentWrite,
    Operation::CreateTokens,
    Operation::DescribeTokens,
];
const PERMISSIONS: [Permission; 3] = [Permission::Any, Permission::Deny, Permission::Allow];

/// `from_code(code())` is the value for every value; every other code is refused, naming it.
fn check_codes<T: Copy + PartialEq + std::fmt::Debug>(
    values: &[T],
    code: impl Fn(T) -> i8,
    from_code: impl Fn(i8) -> Result<T, UnknownCode>,
) {
    for &value in values {
        assert_eq!(from_code(code(value)), Ok(value));
    }
    let mut known = 0;
    for raw in i8::MIN..=i8::MAX {
        match from_code(raw) {
            Ok(value) => {
                assert_eq!(code(value), raw);
                known += 1;
            }
            Err(error) => assert_eq!(error.code, raw),
        }
    }
    // Catches a variant missing from `values`.
    assert_eq!(known, values.len());
}

#[test]
fn codes_round_trip() {
    check_codes(&RESOURCE_TYPES, ResourceType::code, ResourceType::from_code);
    check_codes(&PATTERN_TYPES, PatternType::code, PatternType::from_code);
    check_codes(&OPERATIONS, Operation::code, Operation::from_code);
    check_codes(&PERMISSIONS, Permission::code, Permission::from_code);
    assert_eq!(
        Operation::from_code(0).unwrap_err().to_string(),
        "operation code 0 is not one ringlog knows"
    );
    for mechanism in [
        crate::scram::Mechanism::ScramSha256,
        crate::scram::Mechanism::ScramSha512,
    ] {
        assert_eq!(
            crate::scram::Mechanism::from_code(mechanism.code()),
            Some(mechanism)
        );
        assert_eq!(
            crate::scram::Mechanism::from_name(mechanism.name()),
            Some(mechanism)
        );
    }
    assert_eq!(crate::scram::Mechanism::from_code(0), None);
}

fn binding(
    resource_type: ResourceType,
    name: &str,
    pattern_type: PatternType,
    principal: &str,
    host: &str,
    operation: Operation,
    permission: Permission,
) -> AclBinding {
    AclBinding {
        pattern: ResourcePattern {
            resource_type,
            name: name.to_string(),
            pattern_type,
        },
        entry: AccessEntry {
            principal: principal.to_string(),
            host: host.to_string(),
            operation,
            permission,
        },
    }
}

fn allow_topic(name: &str, pattern_type: PatternType, operation: Operation) -> AclBinding {
    binding(
        ResourceType::Topic,
        name,
        pattern_type,
        "User:alice",
        "*",
        operation,
        Permission::Allow,
    )
}

fn deny_topic(name: &str, pattern_type: PatternType, operation: Operation) -> AclBinding {
    AclBinding {
        entry: AccessEntry {
            permission: Permission::Deny,
            ..allow_topic(name, pattern_type, operation).entry
        },
        ..allow_topic(name, pattern_type, operation)
    }
}

fn authorizer_of(bindings: Vec<AclBinding>) -> Authorizer {
    let mut authorizer = Authorizer::new(vec![Principal::user("root")], false);
    authorizer.set_acls(bindings).unwrap();
    authorizer.check_invariants();
    authorizer
}

fn topic_action<'a>(principal: &'a Principal, name: &'a str, operation: Operation) -> Action<'a> {
    Action {
        principal,
        host: "10.0.0.1",
        operation,
        resource_type: ResourceType::Topic,
        name,
    }
}

fn allowed(authorizer: &Authorizer, principal: &str, name: &str, operation: Operation) -> bool {
    let principal = Principal::parse(principal).unwrap();
    authorizer
        .authorize(&topic_action(&principal, name, operation))
        .is_allowed()
}

#[test]
fn super_users_may_do_anything() {
    let authorizer = authorizer_of(vec![deny_topic("*", PatternType::Literal, Operation::All)]);
    let root = Principal::user("root");
    let decision = authorizer.authorize(&topic_action(&root, "orders", Operation::Write));
    assert_eq!(decision, Decision::Allowed(Rule::SuperUser));
    assert!(!allowed(
        &authorizer,
        "User:alice",
        "orders",
        Operation::Write
    ));
}

#[test]
fn patterns_cover_their_resources() {
    let authorizer = authorizer_of(vec![
        allow_topic("orders", PatternType::Literal, Operation::Read),
        allow_topic("*", PatternType::Literal, Operation::Write),
        allow_topic("logs-", PatternType::Prefixed, Operation::Delete),
    ]);
    assert!(allowed(
        &authorizer,
        "User:alice",
        "orders",
        Operation::Read
    ));
    assert!(!allowed(
        &authorizer,
        "User:alice",
        "orders2",
        Operation::Read
    ));
    assert!(!allowed(
        &authorizer,
        "User:alice",
        "order",
        Operation::Read
    ));
    assert!(allowed(
        &authorizer,
        "User:alice",
        "anything",
        Operation::Write
    ));
    assert!(allowed(
        &authorizer,
        "User:alice",
        "logs-app",
        Operation::Delete
    ));
    assert!(allowed(
        &authorizer,
        "User:alice",
        "logs-",
        Operation::Delete
    ));
    assert!(!allowed(
        &authorizer,
        "User:alice",
        "logs",
        Operation::Delete
    ));
    // A literal `*` is the wildcard; a prefixed `*` covers the names starting with `*`.
    let authorizer = authorizer_of(vec![allow_topic(
        "*",
        PatternType::Prefixed,
        Operation::Read,
    )]);
    assert!(!allowed(
        &authorizer,
        "User:alice",
        "orders",
        Operation::Read
    ));
    assert!(allowed(
        &authorizer,
        "User:alice",
        "*orders",
        Operation::Read
    ));
}

#[test]
fn bindings_apply_to_their_resource_type_only() {
    let authorizer = authorizer_of(vec![binding(
        ResourceType::Group,
        "orders",
        PatternType::Literal,
        "User:alice",
        "*",
        Operation::Read,
        Permission::Allow,
    )]);
    assert!(!allowed(
        &authorizer,
        "User:alice",
        "orders",
        Operation::Read
    ));
}

#[test]
fn principals_and_hosts_match_exactly_or_by_wildcard() {
    let mut alice_from_elsewhere = allow_topic("a", PatternType::Literal, Operation::Read);
    alice_from_elsewhere.entry.host = "10.0.0.2".to_string();
    let mut everyone = allow_topic("b", PatternType::Literal, Operation::Read);
    everyone.entry.principal = WILDCARD_PRINCIPAL.to_string();
    let mut alice_from_here = allow_topic("c", PatternType::Literal, Operation::Read);
    alice_from_here.entry.host = "10.0.0.1".to_string();
    let authorizer = authorizer_of(vec![alice_from_elsewhere, everyone, alice_from_here]);

    assert!(!allowed(&authorizer, "User:alice", "a", Operation::Read));
    assert!(allowed(&authorizer, "User:alice", "c", Operation::Read));
    assert!(!allowed(&authorizer, "User:bob", "c", Operation::Read));
    // User:* is every principal, of any type.
    assert!(allowed(&authorizer, "User:bob", "b", Operation::Read));
    assert!(allowed(&authorizer, "Group:ops", "b", Operation::Read));
    // The type is part of the principal.
    assert!(!allowed(&authorizer, "Group:alice", "c", Operation::Read));
    assert!(!allowed(&authorizer, "User:alice:x", "c", Operation::Read));
}

#[test]
fn allows_imply_describe_and_denies_imply_nothing() {
    for granted in [
        Operation::Read,
        Operation::Write,
        Operation::Delete,
        Operation::Alter,
    ] {
        let authorizer = authorizer_of(vec![allow_topic("t", PatternType::Literal, granted)]);
        assert!(allowed(&authorizer, "User:alice", "t", Operation::Describe));
        assert!(!allowed(
            &authorizer,
            "User:alice",
            "t",
            Operation::DescribeConfigs
        ));
    }
    let authorizer = authorizer_of(vec![allow_topic(
        "t",
        PatternType::Literal,
        Operation::Create,
    )]);
    assert!(!allowed(
        &authorizer,
        "User:alice",
        "t",
        Operation::Describe
    ));
    let authorizer = authorizer_of(vec![allow_topic(
        "t",
        PatternType::Literal,
        Operation::AlterConfigs,
    )]);
    assert!(allowed(
        &authorizer,
        "User:alice",
        "t",
        Operation::DescribeConfigs
    ));
    assert!(!allowed(
        &authorizer,
        "User:alice",
        "t",
        Operation::Describe
    ));
    let authorizer = authorizer_of(vec![allow_topic("t", PatternType::Literal, Operation::All)]);
    for operation in OPERATIONS {
        assert!(
            allowed(&authorizer, "User:alice", "t", operation),
            "{operation:?}"
        );
    }

    // A deny of Read leaves Describe to the allows.
    let authorizer = authorizer_of(vec![
        allow_topic("t", PatternType::Literal, Operation::Write),
        deny_topic("t", PatternType::Literal, Operation::Read),
    ]);
    assert!(allowed(&authorizer, "User:alice", "t", Operation::Describe));
    assert!(!allowed(&authorizer, "User:alice", "t", Operation::Read));
    let authorizer = authorizer_of(vec![
        allow_topic("t", PatternType::Literal, Operation::All),
        deny_topic("t", PatternType::Literal, Operation::AlterConfigs),
    ]);
    assert!(allowed(
        &authorizer,
        "User:alice",
        "t",
        Operation::DescribeConfigs
    ));
    let authorizer = authorizer_of(vec![
        allow_topic("t", PatternType::Literal, Operation::Read),
        deny_topic("t", PatternType::Literal, Operation::All),
    ]);
    assert!(!allowed(
        &authorizer,
        "User:alice",
        "t",
        Operation::Describe
    ));
}

#[test]
fn a_deny_wins_over_every_allow() {
    let deny = deny_topic("ord", PatternType::Prefixed, Operation::Read);
    let authorizer = authorizer_of(vec![
        allow_topic("orders", PatternType::Literal, Operation::Read),
        allow_topic("*", PatternType::Literal, Operation::All),
        deny.clone(),
    ]);
    let alice = Principal::user("alice");
    assert_eq!(
        authorizer.authorize(&topic_action(&alice, "orders", Operation::Read)),
        Decision::Denied(Rule::Binding(Arc::new(deny)))
    );
    assert!(allowed(
        &authorizer,
        "User:alice",
        "orders",
        Operation::Write
    ));
}

#[test]
fn without_an_allow_the_default_decides() {
    let alice = Principal::user("alice");
    let bindings = vec![allow_topic("orders", PatternType::Literal, Operation::Read)];
    for allow_if_no_acl_found in [false, true] {
        let mut authorizer = Authorizer::new(Vec::new(), allow_if_no_acl_found);
        authorizer.set_acls(bindings.clone()).unwrap();
        // No binding on the resource: the default.
        let decision = authorizer.authorize(&topic_action(&alice, "other", Operation::Read));
        assert_eq!(decision.is_allowed(), allow_if_no_acl_found);
        assert_eq!(decision.rule(), &Rule::NoAclFound);
        // A binding on the resource, for another operation: denied whatever the default.
        let decision = authorizer.authorize(&topic_action(&alice, "orders", Operation::Write));
        assert_eq!(decision, Decision::Denied(Rule::NoMatchingAllow));
        let bob = Principal::user("bob");
        let decision = authorizer.authorize(&topic_action(&bob, "orders", Operation::Read));
        assert_eq!(decision, Decision::Denied(Rule::NoMatchingAllow));
    }
}

#[test]
fn authorize_any_needs_an_allow_no_deny_covers() {
    let alice = Principal::user("alice");
    let any = |bindings: Vec<AclBinding>| {
        authorizer_of(bindings).authorize_any(
            &alice,
            "10.0.0.1",
            Operation::Write,
            ResourceType::Topic,
        )
    };
    let (literal, prefixed) = (PatternType::Literal, PatternType::Prefixed);
    assert!(!any(vec![]), "nothing allows");
    assert!(any(vec![allow_topic("orders", literal, Operation::Write)]));
    assert!(any(vec![allow_topic("ord", prefixed, Operation::All)]));
    assert!(
        !any(vec![allow_topic("orders", literal, Operation::Read)]),
        "another operation"
    );
    let group = binding(
        ResourceType::Group,
        "g",
        literal,
        "User:alice",
        "*",
        Operation::Write,
        Permission::Allow,
    );
    assert!(!any(vec![group]), "another resource type");
    // Denies that cover the allowed resources whole.
    let allow = allow_topic("orders", literal, Operation::Write);
    assert!(!any(vec![
        allow.clone(),
        deny_topic("orders", literal, Operation::Write)
    ]));
    assert!(!any(vec![
        allow.clone(),
        deny_topic("or", prefixed, Operation::All)
    ]));
    assert!(!any(vec![
        allow.clone(),
        deny_topic("*", literal, Operation::Write)
    ]));
    let allow_prefix = allow_topic("orders-", prefixed, Operation::Write);
    assert!(!any(vec![
        allow_prefix.clone(),
        deny_topic("orders", prefixed, Operation::Write)
    ]));
    // Denies that leave some allowed resource.
    assert!(any(vec![
        allow.clone(),
        deny_topic("other", literal, Operation::Write)
    ]));
    assert!(any(vec![
        allow.clone(),
        deny_topic("orders", literal, Operation::Read)
    ]));
    assert!(
        any(vec![
            allow_prefix.clone(),
            deny_topic("orders-1", literal, Operation::Write)
        ]),
        "a literal deny leaves the rest of a prefix"
    );
    assert!(any(vec![
        allow_prefix,
        deny_topic("orders-x", prefixed, Operation::Write)
    ]));
    // A super user may, with no binding at all.
    assert!(authorizer_of(vec![]).authorize_any(
        &Principal::user("root"),
        "10.0.0.1",
        Operation::Write,
        ResourceType::Topic,
    ));
}

#[test]
fn decisions_read_well() {
    let allow = allow_topic("orders", PatternType::Literal, Operation::Read);
    let decision = Decision::Allowed(Rule::Binding(Arc::new(allow)));
    assert_eq!(
        decision.to_string(),
        "allowed by ACL Allow User:alice from host * Read on Topic Literal \"orders\""
    );
    assert_eq!(
        Decision::Denied(Rule::NoMatchingAllow).to_string(),
        "denied by default: no ACL allows it"
    );
}

#[test]
fn add_remove_and_filters_keep_the_index() {
    let mut authorizer = Authorizer::new(Vec::new(), false);
    let read = allow_topic("orders", PatternType::Literal, Operation::Read);
    let prefixed = allow_topic("ord", PatternType::Prefixed, Operation::Write);
    assert_eq!(authorizer.add(read.clone()), Ok(true));
    assert_eq!(authorizer.add(read.clone()), Ok(false));
    assert_eq!(authorizer.add(prefixed.clone()), Ok(true));
    authorizer.check_invariants();
    assert_eq!(authorizer.len(), 2);
    assert!(allowed(
        &authorizer,
        "User:alice",
        "orders",
        Operation::Write
    ));

    assert!(authorizer.remove(&prefixed));
    assert!(!authorizer.remove(&prefixed));
    authorizer.check_invariants();
    assert!(!allowed(
        &authorizer,
        "User:alice",
        "orders",
        Operation::Write
    ));

    let removed = authorizer.remove_matching(&AclFilter::any());
    assert_eq!(removed, vec![read]);
    assert!(authorizer.is_empty());
    authorizer.check_invariants();

    let invalid = allow_topic("", PatternType::Literal, Operation::Read);
    assert!(authorizer.add(invalid.clone()).is_err());
    assert!(authorizer.set_acls([prefixed.clone(), invalid]).is_err());
    assert!(authorizer.is_empty(), "a refused set_acls changes nothing");
}

#[test]
fn validate_refuses_what_kafka_refuses() {
    let good = allow_topic("orders", PatternType::Literal, Operation::Read);
    assert_eq!(good.validate(), Ok(()));
    assert_eq!(
        allow_topic("*", PatternType::Prefixed, Operation::Read).validate(),
        Ok(())
    );
    let cluster = binding(
        ResourceType::Cluster,
        CLUSTER_NAME,
        PatternType::Literal,
        "User:alice",
        "*",
        Operation::ClusterAction,
        Permission::Allow,
    );
    assert_eq!(cluster.validate(), Ok(()));

    let refused = |change: &dyn Fn(&mut AclBinding)| {
        let mut binding = good.clone();
        change(&mut binding);
        binding.validate().unwrap_err()
    };
    assert!(matches!(
        refused(&|b| b.pattern.resource_type = ResourceType::Any),
        AclError::ResourceTypeAny { .. }
    ));
    for pattern_type in [PatternType::Any, PatternType::Match] {
        assert!(matches!(
            refused(&|b| b.pattern.pattern_type = pattern_type),
            AclError::PatternType { .. }
        ));
    }
    assert!(matches!(
        refused(&|b| b.entry.operation = Operation::Any),
        AclError::OperationAny { .. }
    ));
    assert!(matches!(
        refused(&|b| b.entry.permission = Permission::Any),
        AclError::PermissionAny { .. }
    ));
    assert!(matches!(
        refused(&|b| b.pattern.name.clear()),
        AclError::EmptyName { .. }
    ));
    assert!(matches!(
        refused(&|b| b.entry.host.clear()),
        AclError::EmptyHost { .. }
    ));
    for principal in ["alice", "User:", ":alice", ""] {
        assert!(matches!(
            refused(&|b| b.entry.principal = principal.to_string()),
            AclError::Principal { .. }
        ));
    }
    let error = refused(&|b| {
        b.pattern.resource_type = ResourceType::Cluster;
        b.pattern.name = "my-cluster".to_string();
    });
    assert_eq!(
        error.to_string(),
        "ACL Allow User:alice from host * Read on Cluster Literal \"my-cluster\": \
         the only valid name for the Cluster resource is kafka-cluster"
    );
}

fn filter(resource_type: ResourceType, name: Option<&str>, pattern_type: PatternType) -> AclFilter {
    AclFilter {
        resource_type,
        name: name.map(str::to_string),
        pattern_type,
        ..AclFilter::any()
    }
}

#[test]
fn filters_match_as_kafkas() {
    let literal = allow_topic("orders", PatternType::Literal, Operation::Read);
    let wildcard = allow_topic("*", PatternType::Literal, Operation::Read);
    let prefixed = allow_topic("ord", PatternType::Prefixed, Operation::Read);
    let longer = allow_topic("orders-eu", PatternType::Prefixed, Operation::Read);
    let all = [&literal, &wildcard, &prefixed, &longer];
    let matched = |filter: &AclFilter| -> Vec<&AclBinding> {
        all.iter()
            .copied()
            .filter(|binding| filter.matches(binding))
            .collect()
    };

    assert_eq!(matched(&AclFilter::any()), all);
    let topic = ResourceType::Topic;
    // Match: the bindings that would apply to a topic named "orders".
    assert_eq!(
        matched(&filter(topic, Some("orders"), PatternType::Match)),
        [&literal, &wildcard, &prefixed]
    );
    // Any: the name itself, whatever the pattern type.
    assert_eq!(
        matched(&filter(topic, Some("ord"), PatternType::Any)),
        [&prefixed]
    );
    assert_eq!(
        matched(&filter(topic, Some("*"), PatternType::Literal)),
        [&wildcard]
    );
    assert_eq!(
        matched(&filter(topic, None, PatternType::Prefixed)),
        [&prefixed, &longer]
    );
    assert!(matched(&filter(ResourceType::Group, None, PatternType::Any)).is_empty());
    assert!(matched(&filter(topic, Some("orders"), PatternType::Prefixed)).is_empty());

    let entry_filter = AclFilter {
        principal: Some("User:alice".to_string()),
        host: Some("*".to_string()),
        operation: Operation::Read,
        permission: Permission::Allow,
        ..AclFilter::any()
    };
    assert_eq!(matched(&entry_filter).len(), 4);
    for changed in [
        AclFilter {
            principal: Some(WILDCARD_PRINCIPAL.to_string()),
            ..entry_filter.clone()
        },
        AclFilter {
            host: Some("10.0.0.1".to_string()),
            ..entry_filter.clone()
        },
        AclFilter {
            operation: Operation::All,
            ..entry_filter.clone()
        },
        AclFilter {
            permission: Permission::Deny,
            ..entry_filter.clone()
        },
    ] {
        assert!(matched(&changed).is_empty(), "{changed:?}");
    }
}

// The model: the rules of the module's doc, as a scan of every binding.

/// Whether the binding's pattern covers the resource.
fn model_covers(binding: &AclBinding, resource_type: ResourceType, name: &str) -> bool {
    binding.pattern.resource_type == resource_type
        && match binding.pattern.pattern_type {
            PatternType::Literal => binding.pattern.name == name || binding.pattern.name == "*",
            PatternType::Prefixed => name.starts_with(&binding.pattern.name),
            _ => unreachable!("a stored binding is literal or prefixed"),
        }
}

/// The operations an allow of each kind grants besides itself and All's everything.
fn model_granted_by_allow(asked: Operation) -> Vec<Operation> {
    match asked {
        Operation::Describe => vec![
            Operation::Describe,
            Operation::Read,
            Operation::Write,
            Operation::Delete,
            Operation::Alter,
        ],
        Operation::DescribeConfigs => vec![Operation::DescribeConfigs, Operation::AlterConfigs],
        other => vec![other],
    }
}

fn model_entry_applies(binding: &AclBinding, action: &Action<'_>) -> bool {
    let entry = &binding.entry;
    let principal_ok =
        entry.principal == action.principal.to_string() || entry.principal == "User:*";
    let host_ok = entry.host == "*" || entry.host == action.host;
    let operation_ok = entry.operation == Operation::All
        || match entry.permission {
            Permission::Deny => entry.operation == action.operation,
            Permission::Allow => {
                model_granted_by_allow(action.operation).contains(&entry.operation)
            }
            Permission::Any => unreachable!("a stored binding allows or denies"),
        };
    principal_ok && host_ok && operation_ok
}

#[derive(Debug)]
struct ModelDecision {
    super_user: bool,
    covering: Vec<AclBinding>,
    denies: Vec<AclBinding>,
    allows: Vec<AclBinding>,
}

fn model_decide(
    bindings: &BTreeSet<AclBinding>,
    super_users: &[Principal],
    action: &Action<'_>,
) -> ModelDecision {
    let covering: Vec<AclBinding> = bindings
        .iter()
        .filter(|b| model_covers(b, action.resource_type, action.name))
        .cloned()
        .collect();
    let applying = covering.iter().filter(|b| model_entry_applies(b, action));
    let (denies, allows) = applying
        .cloned()
        .partition(|b| b.entry.permission == Permission::Deny);
    ModelDecision {
        super_user: super_users.contains(action.principal),
        covering,
        denies,
        allows,
    }
}

/// The authorizer's decision is the model's, and the binding it names is one the model says
/// decides.
fn check_decision(
    decision: &Decision,
    model: &ModelDecision,
    allow_if_no_acl_found: bool,
) -> Result<(), TestCaseError> {
    let expected_allowed = if model.super_user {
        true
    } else if !model.denies.is_empty() {
        false
    } else if !model.allows.is_empty() {
        true
    } else {
        model.covering.is_empty() && allow_if_no_acl_found
    };
    prop_assert_eq!(decision.is_allowed(), expected_allowed, "{:?}", model);
    match decision.rule() {
        Rule::SuperUser => prop_assert!(model.super_user),
        Rule::Binding(binding) if decision.is_allowed() => {
            prop_assert!(model.allows.contains(binding), "{}", binding)
        }
        Rule::Binding(binding) => prop_assert!(model.denies.contains(binding), "{}", binding),
        Rule::NoAclFound => prop_assert!(model.covering.is_empty()),
        Rule::NoMatchingAllow => prop_assert!(
            !model.covering.is_empty() && model.allows.is_empty() && model.denies.is_empty()
        ),
    }
    Ok(())
}

/// Few names, over characters that share UTF-8 lead bytes, so patterns overlap.
fn names() -> impl Strategy<Value = String> {
    "[ab*éè]{1,3}"
}

fn bindings() -> impl Strategy<Value = AclBinding> {
    let topic_or_group = (
        prop_oneof![Just(ResourceType::Topic), Just(ResourceType::Group)],
        names(),
    );
    let cluster = Just((ResourceType::Cluster, CLUSTER_NAME.to_string()));
    (
        prop_oneof![4 => topic_or_group, 1 => cluster],
        prop_oneof![Just(PatternType::Literal), Just(PatternType::Prefixed)],
        prop::sample::select(vec!["User:alice", "User:bob", "User:*", "Group:ops"]),
        prop::sample::select(vec!["*", "10.0.0.1", "10.0.0.2"]),
        prop::sample::select(OPERATIONS[1..].to_vec()),
        prop_oneof![Just(Permission::Allow), Just(Permission::Deny)],
    )
        .prop_map(
            |((resource_type, name), pattern_type, principal, host, operation, permission)| {
                binding(
                    resource_type,
                    &name,
                    pattern_type,
                    principal,
                    host,
                    operation,
                    permission,
                )
            },
        )
}

#[derive(Clone, Debug)]
struct ActionCase {
    principal: Principal,
    host: &'static str,
    operation: Operation,
    resource_type: ResourceType,
    name: String,
}

fn actions() -> impl Strategy<Value = ActionCase> {
    let principals = prop::sample::select(vec![
        "User:alice",
        "User:bob",
        "User:root",
        "User:*",
        "Group:ops",
        "Group:alice",
    ]);
    let resources = prop_oneof![
        4 => (prop_oneof![Just(ResourceType::Topic), Just(ResourceType::Group)], names()),
        1 => Just((ResourceType::Cluster, CLUSTER_NAME.to_string())),
    ];
    (
        principals,
        prop::sample::select(vec!["10.0.0.1", "10.0.0.2"]),
        prop::sample::select(OPERATIONS[1..].to_vec()),
        resources,
    )
        .prop_map(
            |(principal, host, operation, (resource_type, name))| ActionCase {
                principal: Principal::parse(principal).unwrap(),
                host,
                operation,
                resource_type,
                name,
            },
        )
}

fn filters() -> impl Strategy<Value = AclFilter> {
    (
        prop::sample::select(vec![
            ResourceType::Any,
            ResourceType::Topic,
            ResourceType::Group,
        ]),
        prop::option::of(names()),
        prop::sample::select(PATTERN_TYPES.to_vec()),
        prop::option::of(prop::sample::select(vec!["User:alice", "User:*"])),
        prop::sample::select(vec![Operation::Any, Operation::Read, Operation::All]),
        prop::sample::select(PERMISSIONS.to_vec()),
    )
        .prop_map(
            |(resource_type, name, pattern_type, principal, operation, permission)| AclFilter {
                resource_type,
                name,
                pattern_type,
                principal: principal.map(str::to_string),
                host: None,
                operation,
                permission,
            },
        )
}

/// A change to the authorizer's bindings.
#[derive(Clone, Debug)]
enum Change {
    Add(AclBinding),
    /// Removes the binding at this position of the sorted set, if any.
    RemoveExisting(usize),
    Remove(AclBinding),
    RemoveMatching(AclFilter),
    Set(Vec<AclBinding>),
}

fn changes() -> impl Strategy<Value = Change> {
    prop_oneof![
        8 => bindings().prop_map(Change::Add),
        2 => any::<usize>().prop_map(Change::RemoveExisting),
        1 => bindings().prop_map(Change::Remove),
        1 => filters().prop_map(Change::RemoveMatching),
        1 => proptest::collection::vec(bindings(), 0..20).prop_map(Change::Set),
    ]
}

fn apply(
    authorizer: &mut Authorizer,
    model: &mut BTreeSet<AclBinding>,
    change: Change,
) -> Result<(), TestCaseError> {
    match change {
        Change::Add(binding) => {
            let added = authorizer.add(binding.clone()).unwrap();
            prop_assert_eq!(added, model.insert(binding));
        }
        Change::RemoveExisting(at) => {
            if let Some(binding) = model.iter().nth(at % model.len().max(1)).cloned() {
                prop_assert!(authorizer.remove(&binding));
                model.remove(&binding);
            }
        }
        Change::Remove(binding) => {
            prop_assert_eq!(authorizer.remove(&binding), model.remove(&binding));
        }
        Change::RemoveMatching(filter) => {
            let expected: Vec<AclBinding> = model
                .iter()
                .filter(|b| filter.matches(b))
                .cloned()
                .collect();
            model.retain(|b| !filter.matches(b));
            prop_assert_eq!(authorizer.remove_matching(&filter), expected);
        }
        Change::Set(bindings) => {
            authorizer.set_acls(bindings.clone()).unwrap();
            *model = bindings.into_iter().collect();
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn authorizer_agrees_with_the_model(
        changes in proptest::collection::vec(changes(), 0..40),
        actions in proptest::collection::vec(actions(), 1..40),
        allow_if_no_acl_found in any::<bool>(),
    ) {
        let super_users = vec![Principal::user("root")];
        let mut authorizer = Authorizer::new(super_users.clone(), allow_if_no_acl_found);
        let mut model = BTreeSet::new();
        for change in changes {
            apply(&mut authorizer, &mut model, change)?;
            authorizer.check_invariants();
            let listed = authorizer.acls(&AclFilter::any());
            prop_assert_eq!(listed, model.iter().cloned().collect::<Vec<_>>());
        }
        for case in &actions {
            let action = Action {
                principal: &case.principal,
                host: case.host,
                operation: case.operation,
                resource_type: case.resource_type,
                name: &case.name,
            };
            let decision = authorizer.authorize(&action);
            let expected = model_decide(&model, &super_users, &action);
            check_decision(&decision, &expected, allow_if_no_acl_found)?;

            // A Match filter on the resource lists exactly the bindings that cover it.
            let on_resource = AclFilter {
                resource_type: case.resource_type,
                name: Some(case.name.clone()),
                pattern_type: PatternType::Match,
                ..AclFilter::any()
            };
            prop_assert_eq!(authorizer.acls(&on_resource), expected.covering);
        }
    }
}
