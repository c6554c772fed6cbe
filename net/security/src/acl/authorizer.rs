//! The authorizer: every binding, indexed so that one decision looks at the bindings that
//! apply to the resource and no others.
//!
//! - Literal bindings (the wildcard `*` among them) sit in a hash map by resource type and
//!   name: two lookups per decision, the name and `*`.
//! - Prefixed bindings sit in a sorted map by resource type and prefix. The prefixes of a name
//!   sort at or before it, so a walk down from the name finds them; a key that is not a
//!   prefix sends the walk straight to the part it shares with the name (Kafka's
//!   `StandardAuthorizerData.findAclRule` does the same over one sorted set). A decision costs
//!   at most two sorted-map lookups per byte of the name, however many bindings there are.

use super::{
    AccessEntry, AclBinding, AclError, AclFilter, Action, Operation, PatternType, Permission,
    ResourceType, WILDCARD, WILDCARD_PRINCIPAL,
};
use crate::Principal;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::ops::{Bound, ControlFlow};
use std::sync::Arc;

/// What [`Authorizer::authorize`] decided, and by which rule (for the audit log).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Allowed(Rule),
    Denied(Rule),
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed(_))
    }

    /// Which rule decided.
    pub fn rule(&self) -> &Rule {
        match self {
            Decision::Allowed(rule) | Decision::Denied(rule) => rule,
        }
    }
}

impl fmt::Display for Decision {
    /// `allowed by ACL Allow User:alice ...`, `denied: no ACL allows it`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.is_allowed() {
            "allowed"
        } else {
            "denied"
        };
        write!(f, "{verdict} {}", self.rule())
    }
}

/// Why a decision went the way it did (Kafka's `MatchingRule`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rule {
    /// The principal is a super user.
    SuperUser,
    /// This binding applies: a deny, or (when no deny applies) an allow.
    Binding(Arc<AclBinding>),
    /// No binding applies to the resource, for any principal: `allow_if_no_acl_found`
    /// decided.
    NoAclFound,
    /// Bindings apply to the resource, but none allows this principal, host and operation.
    NoMatchingAllow,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::SuperUser => f.write_str("as a super user"),
            Rule::Binding(binding) => write!(f, "by ACL {binding}"),
            Rule::NoAclFound => f.write_str("by default: no ACL on the resource"),
            Rule::NoMatchingAllow => f.write_str("by default: no ACL allows it"),
        }
    }
}

/// Bindings that share a resource type and a pattern name.
type Bucket = Vec<Arc<AclBinding>>;

/// Kafka's authorizer over a set of bindings.
#[derive(Debug)]
pub struct Authorizer {
    super_users: HashSet<Principal>,
    allow_if_no_acl_found: bool,
    /// Every binding, once; what [`Authorizer::acls`] lists.
    bindings: BTreeSet<Arc<AclBinding>>,
    literal: HashMap<ResourceType, HashMap<String, Bucket>>,
    prefixed: HashMap<ResourceType, BTreeMap<String, Bucket>>,
}

impl Authorizer {
    /// An authorizer with no bindings. `super_users` may do anything (Kafka's `super.users`);
    /// `allow_if_no_acl_found` allows an action on a resource no binding applies to (Kafka's
    /// `allow.everyone.if.no.acl.found`).
    pub fn new(super_users: Vec<Principal>, allow_if_no_acl_found: bool) -> Authorizer {
        Authorizer {
            super_users: super_users.into_iter().collect(),
            allow_if_no_acl_found,
            bindings: BTreeSet::new(),
            literal: HashMap::new(),
            prefixed: HashMap::new(),
        }
    }

    /// Replaces every binding. All are validated first: on an error nothing changes.
    /// Duplicates count once.
    pub fn set_acls(
        &mut self,
        bindings: impl IntoIterator<Item = AclBinding>,
    ) -> Result<(), AclError> {
        let bindings: Vec<AclBinding> = bindings.into_iter().collect();
        bindings.iter().try_for_each(AclBinding::validate)?;
        self.bindings.clear();
        self.literal.clear();
        self.prefixed.clear();
        for binding in bindings {
            self.insert(binding);
        }
        #[cfg(debug_assertions)]
        self.check_invariants();
        Ok(())
    }

    /// Adds a binding; `false` if it was there already.
    pub fn add(&mut self, binding: AclBinding) -> Result<bool, AclError> {
        binding.validate()?;
        Ok(self.insert(binding))
    }

    /// Removes a binding; `false` if it was not there.
    pub fn remove(&mut self, binding: &AclBinding) -> bool {
        let Some(stored) = self.bindings.take(binding) else {
            return false;
        };
        let pattern = &stored.pattern;
        let removed = match pattern.pattern_type {
            PatternType::Literal => {
                remove_from_map(&mut self.literal, pattern.resource_type, &stored)
            }
            PatternType::Prefixed => {
                remove_from_map(&mut self.prefixed, pattern.resource_type, &stored)
            }
            PatternType::Any | PatternType::Match => false,
        };
        assert!(removed, "ACL {stored} was in the set but not in the index");
        true
    }

    /// Removes the bindings `filter` matches (DeleteAcls); what was removed, sorted.
    pub fn remove_matching(&mut self, filter: &AclFilter) -> Vec<AclBinding> {
        let removed = self.acls(filter);
        for binding in &removed {
            self.remove(binding);
        }
        removed
    }

    /// The bindings `filter` matches (DescribeAcls), sorted. A scan of every binding:
    /// DescribeAcls is rare, and its filters rarely name one resource.
    pub fn acls(&self, filter: &AclFilter) -> Vec<AclBinding> {
        self.bindings
            .iter()
            .filter(|binding| filter.matches(binding))
            .map(|binding| AclBinding::clone(binding))
            .collect()
    }

    /// How many bindings there are.
    pub fn len(&self) -> usize {
        self.bindings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bindings.is_empty()
    }

    /// Decides an action by Kafka's rules (see the `acl` module).
    pub fn authorize(&self, action: &Action<'_>) -> Decision {
        if self.super_users.contains(action.principal) {
            return Decision::Allowed(Rule::SuperUser);
        }
        let mut any_binding = false;
        let mut allow = None;
        let flow = self.visit_applicable(action.resource_type, action.name, |binding| {
            any_binding = true;
            if !entry_applies(&binding.entry, action) {
                return ControlFlow::Continue(());
            }
            match binding.entry.permission {
                Permission::Deny => return ControlFlow::Break(binding),
                Permission::Allow => {
                    allow.get_or_insert(binding);
                }
                Permission::Any => {}
            }
            ControlFlow::Continue(())
        });
        if let ControlFlow::Break(deny) = flow {
            return Decision::Denied(Rule::Binding(Arc::clone(deny)));
        }
        match allow {
            Some(binding) => Decision::Allowed(Rule::Binding(Arc::clone(binding))),
            None if any_binding => Decision::Denied(Rule::NoMatchingAllow),
            None if self.allow_if_no_acl_found => Decision::Allowed(Rule::NoAclFound),
            None => Decision::Denied(Rule::NoAclFound),
        }
    }

    /// Whether the principal may do `operation` on at least one resource of `resource_type`
    /// (Kafka's `authorizeByResourceType`, which InitProducerId asks with Write on topics,
    /// KIP-679): a super user may; otherwise an allow that applies to the principal, host and
    /// operation must cover some resource no deny covers whole. A literal allow of a name is
    /// covered by a literal deny of that name or a prefixed deny of a prefix of it; a prefixed
    /// allow by a prefixed deny of a prefix of its prefix; anything by a literal deny of `*`.
    /// `allow_if_no_acl_found` plays no part, as in Kafka.
    pub fn authorize_any(
        &self,
        principal: &Principal,
        host: &str,
        operation: Operation,
        resource_type: ResourceType,
    ) -> bool {
        if self.super_users.contains(principal) {
            return true;
        }
        let action = Action {
            principal,
            host,
            operation,
            resource_type,
            name: "",
        };
        let literal = self.literal.get(&resource_type);
        let prefixed = self.prefixed.get(&resource_type);
        let applying = |bucket: &'_ Bucket, permission: Permission| {
            bucket
                .iter()
                .any(|b| b.entry.permission == permission && entry_applies(&b.entry, &action))
        };
        let literal_deny = |name: &str| {
            literal
                .and_then(|by_name| by_name.get(name))
                .is_some_and(|bucket| applying(bucket, Permission::Deny))
        };
        let prefix_deny = |name: &str| {
            prefixed.is_some_and(|by_prefix| {
                Prefixes::new(by_prefix, name).any(|bucket| applying(bucket, Permission::Deny))
            })
        };
        if literal_deny(WILDCARD) {
            return false;
        }
        let literal_allowed = literal.into_iter().flatten().any(|(name, bucket)| {
            applying(bucket, Permission::Allow) && !literal_deny(name) && !prefix_deny(name)
        });
        literal_allowed
            || prefixed
                .into_iter()
                .flatten()
                .any(|(prefix, bucket)| applying(bucket, Permission::Allow) && !prefix_deny(prefix))
    }

    /// Panics if the index and the set of bindings disagree, or a binding is invalid. Tests
    /// and the simulator call it after each change; debug builds after [`Self::set_acls`].
    pub fn check_invariants(&self) {
        let mut indexed = 0;
        for (resource_type, by_name) in &self.literal {
            indexed += self.check_buckets(*resource_type, PatternType::Literal, by_name.iter());
        }
        for (resource_type, by_prefix) in &self.prefixed {
            indexed += self.check_buckets(*resource_type, PatternType::Prefixed, by_prefix.iter());
        }
        assert_eq!(
            indexed,
            self.bindings.len(),
            "the index holds {indexed} bindings, the set {}",
            self.bindings.len()
        );
        for binding in &self.bindings {
            if let Err(error) = binding.validate() {
                panic!("an invalid binding is stored: {error}");
            }
        }
    }

    /// Checks that each binding in the buckets is in the set and sits under its own type,
    /// pattern type and name, once, and that no bucket is empty; how many bindings there were.
    fn check_buckets<'a>(
        &self,
        resource_type: ResourceType,
        pattern_type: PatternType,
        buckets: impl Iterator<Item = (&'a String, &'a Bucket)>,
    ) -> usize {
        let mut count = 0;
        for (name, bucket) in buckets {
            assert!(
                !bucket.is_empty(),
                "empty {pattern_type:?} bucket for {resource_type:?} {name:?}"
            );
            let distinct: HashSet<&AclBinding> = bucket.iter().map(|b| &**b).collect();
            assert_eq!(
                distinct.len(),
                bucket.len(),
                "{pattern_type:?} bucket for {resource_type:?} {name:?} holds a binding twice"
            );
            for binding in bucket {
                let pattern = &binding.pattern;
                assert!(
                    pattern.resource_type == resource_type
                        && pattern.pattern_type == pattern_type
                        && pattern.name == *name,
                    "ACL {binding} is in the {pattern_type:?} bucket for {resource_type:?} {name:?}"
                );
                assert!(
                    self.bindings.contains(&**binding),
                    "ACL {binding} is in the index but not in the set"
                );
            }
            count += bucket.len();
        }
        count
    }

    /// Stores a valid binding; `false` if it was there already.
    fn insert(&mut self, binding: AclBinding) -> bool {
        if self.bindings.contains(&binding) {
            return false;
        }
        let binding = Arc::new(binding);
        let pattern = &binding.pattern;
        let bucket = match pattern.pattern_type {
            PatternType::Literal => self
                .literal
                .entry(pattern.resource_type)
                .or_default()
                .entry(pattern.name.clone())
                .or_default(),
            PatternType::Prefixed => self
                .prefixed
                .entry(pattern.resource_type)
                .or_default()
                .entry(pattern.name.clone())
                .or_default(),
            PatternType::Any | PatternType::Match => {
                panic!("ACL {binding} passed validation with a filter's pattern type")
            }
        };
        bucket.push(Arc::clone(&binding));
        self.bindings.insert(binding);
        true
    }

    /// Calls `visit` with each binding whose pattern covers the resource, until it breaks:
    /// literal with the name, literal `*`, then prefixed with a prefix of the name, longest
    /// first.
    fn visit_applicable<'a, B>(
        &'a self,
        resource_type: ResourceType,
        name: &str,
        mut visit: impl FnMut(&'a Arc<AclBinding>) -> ControlFlow<B>,
    ) -> ControlFlow<B> {
        if let Some(by_name) = self.literal.get(&resource_type) {
            let wildcard = (name != WILDCARD).then_some(WILDCARD);
            for key in std::iter::once(name).chain(wildcard) {
                by_name
                    .get(key)
                    .into_iter()
                    .flatten()
                    .try_for_each(&mut visit)?;
            }
        }
        if let Some(by_prefix) = self.prefixed.get(&resource_type) {
            Prefixes::new(by_prefix, name)
                .flatten()
                .try_for_each(&mut visit)?;
        }
        ControlFlow::Continue(())
    }
}

/// The buckets of a prefixed index whose key is a prefix of `name`, longest first.
///
/// The walk goes down from the name: each key found at or below the bound is a prefix (yield
/// it, go below it) or not (every prefix still unseen is a prefix of what the key shares with
/// the name, so the bound drops there). The bound is always a prefix of the name, kept as its
/// length.
struct Prefixes<'a, 'n> {
    by_prefix: &'a BTreeMap<String, Bucket>,
    name: &'n str,
    /// The bound is `name[..bound_len]`, inclusive or not; `None` when the walk is over.
    bound_len: Option<usize>,
    inclusive: bool,
    /// How many times the walk has searched the map: each search yields a prefix or shortens
    /// the bound, so at most twice the name's length in bytes, plus one, however many keys
    /// there are.
    lookups: usize,
}

impl<'a, 'n> Prefixes<'a, 'n> {
    fn new(by_prefix: &'a BTreeMap<String, Bucket>, name: &'n str) -> Prefixes<'a, 'n> {
        Prefixes {
            by_prefix,
            name,
            bound_len: Some(name.len()),
            inclusive: true,
            lookups: 0,
        }
    }
}

impl<'a> Iterator for Prefixes<'a, '_> {
    type Item = &'a Bucket;

    fn next(&mut self) -> Option<&'a Bucket> {
        while let Some(bound_len) = self.bound_len {
            let bound = &self.name[..bound_len];
            let upper = match self.inclusive {
                true => Bound::Included(bound),
                false => Bound::Excluded(bound),
            };
            self.lookups += 1;
            let mut below = self.by_prefix.range::<str, _>((Bound::Unbounded, upper));
            let Some((key, bucket)) = below.next_back() else {
                self.bound_len = None;
                break;
            };
            if self.name.starts_with(key.as_str()) {
                self.bound_len = Some(key.len());
                self.inclusive = false;
                return Some(bucket);
            }
            self.bound_len = Some(shared_prefix_len(self.name, key));
            self.inclusive = true;
        }
        None
    }
}

/// Whether the entry of a binding whose pattern covers the resource applies to the action.
fn entry_applies(entry: &AccessEntry, action: &Action<'_>) -> bool {
    principal_matches(&entry.principal, action.principal)
        && (entry.host == WILDCARD || entry.host == action.host)
        && operation_matches(entry.operation, entry.permission, action.operation)
}

/// `TYPE:NAME` equals the principal, without formatting it; `User:*` is every principal.
fn principal_matches(written: &str, principal: &Principal) -> bool {
    if written == WILDCARD_PRINCIPAL {
        return true;
    }
    let (kind, name) = (principal.kind.as_bytes(), principal.name.as_bytes());
    let written = written.as_bytes();
    written.len() == kind.len() + 1 + name.len()
        && written.starts_with(kind)
        && written[kind.len()] == b':'
        && written.ends_with(name)
}

/// Whether a binding's operation covers the asked one: itself, `All`, and for an allow the
/// operations that imply `Describe` or `DescribeConfigs`.
fn operation_matches(granted: Operation, permission: Permission, asked: Operation) -> bool {
    if granted == Operation::All || granted == asked {
        return true;
    }
    permission == Permission::Allow
        && match asked {
            Operation::Describe => matches!(
                granted,
                Operation::Read | Operation::Write | Operation::Delete | Operation::Alter
            ),
            Operation::DescribeConfigs => granted == Operation::AlterConfigs,
            _ => false,
        }
}

/// The length of the longest common prefix of `name` and `key` that ends on a character
/// boundary of `name` (a stored prefix, being a whole string, ends on one).
fn shared_prefix_len(name: &str, key: &str) -> usize {
    let mut len = name
        .bytes()
        .zip(key.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    while !name.is_char_boundary(len) {
        len -= 1;
    }
    len
}

/// Removes `binding` from its bucket, dropping the bucket and the type's map when they empty.
fn remove_from_map<M: NameMap>(
    by_type: &mut HashMap<ResourceType, M>,
    resource_type: ResourceType,
    binding: &AclBinding,
) -> bool {
    let Some(by_name) = by_type.get_mut(&resource_type) else {
        return false;
    };
    let Some(bucket) = by_name.bucket_mut(&binding.pattern.name) else {
        return false;
    };
    let Some(at) = bucket.iter().position(|stored| **stored == *binding) else {
        return false;
    };
    bucket.swap_remove(at);
    if bucket.is_empty() {
        by_name.remove_bucket(&binding.pattern.name);
    }
    if by_name.is_empty() {
        by_type.remove(&resource_type);
    }
    true
}

/// The literal index's hash map and the prefixed index's sorted map, for [`remove_from_map`].
trait NameMap {
    fn bucket_mut(&mut self, name: &str) -> Option<&mut Bucket>;
    fn remove_bucket(&mut self, name: &str);
    fn is_empty(&self) -> bool;
}

impl NameMap for HashMap<String, Bucket> {
    fn bucket_mut(&mut self, name: &str) -> Option<&mut Bucket> {
        self.get_mut(name)
    }
    fn remove_bucket(&mut self, name: &str) {
        self.remove(name);
    }
    fn is_empty(&self) -> bool {
        HashMap::is_empty(self)
    }
}

impl NameMap for BTreeMap<String, Bucket> {
    fn bucket_mut(&mut self, name: &str) -> Option<&mut Bucket> {
        self.get_mut(name)
    }
    fn remove_bucket(&mut self, name: &str) {
        self.remove(name);
    }
    fn is_empty(&self) -> bool {
        BTreeMap::is_empty(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index_of(keys: impl IntoIterator<Item = String>) -> BTreeMap<String, Bucket> {
        keys.into_iter().map(|key| (key, Bucket::new())).collect()
    }

    fn walk<'a>(index: &'a BTreeMap<String, Bucket>, name: &str) -> (Vec<&'a String>, usize) {
        let mut walk = Prefixes::new(index, name);
        let mut found = Vec::new();
        for bucket in walk.by_ref() {
            let key = index
                .iter()
                .find(|(_, b)| std::ptr::eq(*b, bucket))
                .unwrap()
                .0;
            found.push(key);
        }
        (found, walk.lookups)
    }

    #[test]
    fn the_prefix_walk_jumps_over_keys_that_are_not_prefixes() {
        let index = index_of((0..10_000).map(|i| format!("topic-{i:05}")));
        // One lookup per digit the walk backs over, not one per key.
        let (found, lookups) = walk(&index, "topic-04242-orders");
        assert_eq!(found, ["topic-04242"]);
        assert!(lookups <= 7, "{lookups} lookups");
        let (found, lookups) = walk(&index, "zzz");
        assert!(found.is_empty());
        assert!(lookups <= 3, "{lookups} lookups");
    }

    #[test]
    fn the_prefix_walk_finds_every_prefix_longest_first() {
        let keys = ["a", "ab", "abc", "abd", "abcd", "b", "aa", "éa", "é", "è"];
        let index = index_of(keys.map(String::from));
        assert_eq!(walk(&index, "abcde").0, ["abcd", "abc", "ab", "a"]);
        assert_eq!(walk(&index, "abd").0, ["abd", "ab", "a"]);
        // 'é' and 'è' share their first byte: the jump lands on a character boundary.
        assert_eq!(walk(&index, "éax").0, ["éa", "é"]);
        assert_eq!(walk(&index, "èa").0, ["è"]);
        assert!(walk(&index, "").0.is_empty());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// The walk finds what a scan finds, longest first, in at most 2 * len + 1 lookups.
        #[test]
        fn the_prefix_walk_finds_what_a_scan_finds(
            keys in proptest::collection::btree_set("[abé*è]{1,4}", 0..30),
            name in "[abé*è]{0,6}",
        ) {
            let index = index_of(keys.iter().cloned());
            let (found, lookups) = walk(&index, &name);
            let mut expected: Vec<&String> =
                keys.iter().filter(|key| name.starts_with(key.as_str())).collect();
            expected.sort_by_key(|key| std::cmp::Reverse(key.len()));
            proptest::prop_assert_eq!(found, expected);
            proptest::prop_assert!(lookups <= 2 * name.len() + 1, "{} lookups", lookups);
        }
    }

    #[test]
    fn shared_prefixes_end_on_character_boundaries() {
        assert_eq!(shared_prefix_len("abc", "abd"), 2);
        assert_eq!(shared_prefix_len("é", "è"), 0);
        assert_eq!(shared_prefix_len("xé", "xè"), 1);
        assert_eq!(shared_prefix_len("ab", "abc"), 2);
    }
}
