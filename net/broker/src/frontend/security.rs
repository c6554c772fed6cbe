//! What both frontends share of users' SCRAM credentials: an AlterUserScramCredentials made
//! into the agent's operation (each user named once, the checks this broker can make alone:
//! a user named twice, the mechanism, the credential derived from the salted password), and
//! a DescribeUserScramCredentials answered from the catalog. Kafka's semantics (KIP-554),
//! whichever protocol asked.

use std::collections::BTreeMap;

use ringlog_controller::security::{Credentials, ScramAlteration};
use ringlog_replication::KafkaError;
use ringlog_replication::driver::Refusal;
use ringlog_security::scram::{Mechanism, ScramCredential};

use crate::ops::AdminOp;

/// One entry of an AlterUserScramCredentials as a protocol carries it.
#[derive(Debug)]
pub(crate) struct ScramEntry {
    pub user: String,
    /// The mechanism, or the code of one that is not SCRAM-SHA-256 or SCRAM-SHA-512.
    pub mechanism: Result<Mechanism, i8>,
    /// `None`: a deletion.
    pub upsertion: Option<Upsertion>,
}

/// What an upsertion carries: the password salted by the client.
pub(crate) struct Upsertion {
    pub iterations: i64,
    pub salt: Vec<u8>,
    pub salted_password: Vec<u8>,
}

impl std::fmt::Debug for Upsertion {
    /// The salted password logs the user in: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upsertion")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// The agent's operation for `entries` (deletions first, as both protocols order them): a
/// user named twice is DUPLICATE_RESOURCE, whatever its entries; an unknown mechanism
/// UNSUPPORTED_SASL_MECHANISM; a credential that cannot be derived UNACCEPTABLE_CREDENTIAL.
/// The controller checks the rest against what it holds.
pub(crate) fn plan_alterations(entries: Vec<ScramEntry>) -> AdminOp {
    let mut named: BTreeMap<String, usize> = BTreeMap::new();
    let mut users = Vec::new();
    for entry in &entries {
        let count = named.entry(entry.user.clone()).or_insert(0);
        if *count == 0 {
            users.push(entry.user.clone());
        }
        *count += 1;
    }
    let mut refused = Vec::new();
    let mut alterations = Vec::new();
    for entry in entries {
        let times = named[&entry.user];
        if times > 1 {
            if !refused.iter().any(|(user, _)| *user == entry.user) {
                let message = format!(
                    "user {:?} is named {times} times: a user's credentials can be altered \
                     once a request",
                    entry.user
                );
                let refusal = Refusal::new(KafkaError::DuplicateResource, message);
                refused.push((entry.user, refusal));
            }
            continue;
        }
        match alteration(entry) {
            Ok(alteration) => alterations.push(alteration),
            Err((user, refusal)) => refused.push((user, refusal)),
        }
    }
    AdminOp::AlterScramCredentials {
        users,
        refused,
        alterations,
    }
}

/// One entry as the controller takes it, or the user and why not.
fn alteration(entry: ScramEntry) -> Result<ScramAlteration, (String, Refusal)> {
    let ScramEntry {
        user,
        mechanism,
        upsertion,
    } = entry;
    let mechanism = match mechanism {
        Ok(mechanism) => mechanism,
        Err(code) => {
            let message = format!(
                "user {user:?}: mechanism {code} is not SCRAM-SHA-256 (1) or SCRAM-SHA-512 (2)"
            );
            return Err((
                user,
                Refusal::new(KafkaError::UnsupportedSaslMechanism, message),
            ));
        }
    };
    let Some(upsertion) = upsertion else {
        return Ok(ScramAlteration::Delete { user, mechanism });
    };
    let unacceptable = |user: String, why: String| {
        let message = format!("user {user:?}: {why}");
        Err((
            user,
            Refusal::new(KafkaError::UnacceptableCredential, message),
        ))
    };
    if user.is_empty() {
        return unacceptable(user, "a user name must not be empty".to_string());
    }
    let Ok(iterations) = u32::try_from(upsertion.iterations) else {
        let why = format!("{} iterations is out of range", upsertion.iterations);
        return unacceptable(user, why);
    };
    match ScramCredential::from_salted_password(
        mechanism,
        &upsertion.salted_password,
        upsertion.salt,
        iterations,
    ) {
        Ok(credential) => Ok(ScramAlteration::Upsert { user, credential }),
        Err(error) => unacceptable(user, error.to_string()),
    }
}

/// A user as DescribeUserScramCredentials answers it: each mechanism and its iterations, or
/// why none.
pub(crate) type DescribedUser = (String, Result<Vec<(Mechanism, u32)>, Refusal>);

/// Every user with a credential (`named` empty), or the users named, each once: a user
/// without any is RESOURCE_NOT_FOUND, one named twice DUPLICATE_RESOURCE. Never a salt or a
/// key.
pub(crate) fn describe_users(held: &Credentials, named: &[String]) -> Vec<DescribedUser> {
    if named.is_empty() {
        return held.keys().map(|user| described(held, user)).collect();
    }
    let mut answered: Vec<&str> = Vec::new();
    let mut users = Vec::new();
    for user in named {
        if answered.contains(&user.as_str()) {
            continue;
        }
        answered.push(user);
        let times = named.iter().filter(|u| *u == user).count();
        if times > 1 {
            let message =
                format!("user {user:?} is named {times} times: describe a user once a request");
            let refusal = Refusal::new(KafkaError::DuplicateResource, message);
            users.push((user.clone(), Err(refusal)));
        } else {
            users.push(described(held, user));
        }
    }
    users
}

fn described(held: &Credentials, user: &str) -> DescribedUser {
    let outcome = match held.get(user) {
        Some(mechanisms) => Ok(mechanisms
            .values()
            .map(|credential| (credential.mechanism, credential.iterations))
            .collect()),
        None => Err(Refusal::new(
            KafkaError::ResourceNotFound,
            format!("user {user:?} has no SCRAM credential"),
        )),
    };
    (user.to_string(), outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upsert(user: &str, mechanism: Result<Mechanism, i8>, iterations: i64) -> ScramEntry {
        ScramEntry {
            user: user.to_string(),
            mechanism,
            upsertion: Some(Upsertion {
                iterations,
                salt: b"salt".to_vec(),
                salted_password: vec![1; 32],
            }),
        }
    }

    fn delete(user: &str) -> ScramEntry {
        ScramEntry {
            user: user.to_string(),
            mechanism: Ok(Mechanism::ScramSha256),
            upsertion: None,
        }
    }

    #[test]
    fn what_the_broker_can_check_alone_is_refused_before_the_controller() {
        let sha256 = Ok(Mechanism::ScramSha256);
        let op = plan_alterations(vec![
            delete("alice"),
            delete("bob"),
            upsert("alice", sha256, 4096),
            upsert("carol", Err(3), 4096),
            upsert("dave", sha256, -1),
            upsert("erin", sha256, 4095),
            // 32 bytes is SHA-256's length, not SHA-512's.
            upsert("frank", Ok(Mechanism::ScramSha512), 4096),
            upsert("", sha256, 4096),
            upsert("grace", sha256, 8192),
        ]);
        let AdminOp::AlterScramCredentials {
            users,
            refused,
            alterations,
        } = op
        else {
            panic!("{op:?}")
        };
        assert_eq!(
            users,
            [
                "alice", "bob", "carol", "dave", "erin", "frank", "", "grace"
            ]
        );
        let codes: Vec<(&str, i16)> = refused
            .iter()
            .map(|(user, refusal)| (user.as_str(), refusal.error.code()))
            .collect();
        assert_eq!(
            codes,
            [
                ("alice", 92),
                ("carol", 33),
                ("dave", 93),
                ("erin", 93),
                ("frank", 93),
                ("", 93)
            ]
        );
        let sent: Vec<&str> = alterations.iter().map(ScramAlteration::user).collect();
        assert_eq!(sent, ["bob", "grace"]);
    }

    #[test]
    fn users_are_described_once_each_without_keys() {
        let credential = ScramCredential::from_salted_password(
            Mechanism::ScramSha512,
            &[7; 64],
            b"salt".to_vec(),
            10_000,
        )
        .unwrap();
        let held: Credentials = BTreeMap::from([(
            "alice".to_string(),
            BTreeMap::from([(Mechanism::ScramSha512, credential)]),
        )]);
        let all = describe_users(&held, &[]);
        assert_eq!(
            all,
            vec![(
                "alice".to_string(),
                Ok(vec![(Mechanism::ScramSha512, 10_000)])
            )]
        );
        let named: Vec<String> = ["bob", "alice", "bob"].map(String::from).to_vec();
        let codes: Vec<(String, i16)> = describe_users(&held, &named)
            .into_iter()
            .map(|(user, outcome)| (user, outcome.err().map_or(0, |r| r.error.code())))
            .collect();
        assert_eq!(codes, [("bob".to_string(), 92), ("alice".to_string(), 0)]);
    }
}
