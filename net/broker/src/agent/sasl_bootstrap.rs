//! `sasl_bootstrap_users`: the first users' SCRAM credentials, written into a new cluster's
//! metadata, so that someone can log in to a cluster whose only Kafka listener asks for SASL
//! and create the other users (AlterUserScramCredentials) and ACLs. Kafka writes them when it
//! formats the metadata log (`kafka-storage format --add-scram`); ringlog's brokers format
//! their metadata themselves, so the broker writes them once registered, if the metadata holds
//! no SCRAM credential of any user yet. A cluster with users never gets them again: a
//! password changed or a user deleted stays so, and the key can leave the file once the users
//! exist.
//!
//! Each credential is salted here with a fresh salt (the password goes no further), and
//! written with its own AlterScramCredentials (a user named twice in one would be refused). A
//! quorum out of reach is tried again every [`RETRY_INTERVAL`], at most [`ATTEMPTS_MAX`]
//! times. Two brokers of a new cluster may both write them: the last write wins, and each
//! holds the configured password.

use std::sync::Arc;
use std::time::Duration;

use ring::rand::SystemRandom;
use ringlog_controller::security::ScramAlteration;
use ringlog_controller::{Controller, MetadataCommand, MetadataImage};
use ringlog_security::scram::ScramCredential;

use super::submit_applied;
use crate::bus::Shared;

/// How long a write refused for want of a quorum waits before it is tried again.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// How many times a write is tried before the broker gives up (and says so).
const ATTEMPTS_MAX: u32 = 60;

/// Whether the bootstrap users are to be written now: some are configured, this broker is
/// registered (`registered`), and the metadata holds no user's credential.
pub(super) fn due(shared: &Shared, image: &MetadataImage, registered: bool) -> bool {
    registered
        && !shared.options.config.sasl_bootstrap_users.is_empty()
        && image.state.scram_credentials.is_empty()
}

/// Writes every bootstrap user's credential through the controller quorum.
pub(super) async fn write(shared: Arc<Shared>, controller: Controller) {
    let mut random = SystemRandom::new();
    for user in &shared.options.config.sasl_bootstrap_users {
        let credential = match ScramCredential::generate(
            user.mechanism,
            &user.password,
            user.iterations,
            &mut random,
        ) {
            Ok(credential) => credential,
            Err(error) => {
                // The config's parse checked what `generate` checks: a bug if it happens.
                tracing::error!(user = %user.name, mechanism = %user.mechanism, %error, "a bootstrap user's credential cannot be made");
                continue;
            }
        };
        let alterations = vec![ScramAlteration::Upsert {
            user: user.name.clone(),
            credential,
        }];
        for attempt in 1..=ATTEMPTS_MAX {
            let command = MetadataCommand::AlterScramCredentials {
                alterations: alterations.clone(),
            };
            let outcome = match submit_applied(&controller, command).await {
                Ok(applied) => match applied.users.into_iter().find_map(|u| u.refusal) {
                    None => Ok(()),
                    Some(refusal) => Err((refusal.code, refusal.message)),
                },
                Err(refusal) if attempt < ATTEMPTS_MAX => {
                    tracing::debug!(%refusal, attempt, "bootstrap user not written yet; trying again");
                    tokio::time::sleep(RETRY_INTERVAL).await;
                    continue;
                }
                Err(refusal) => Err((refusal.error, refusal.message)),
            };
            match outcome {
                Ok(()) => tracing::info!(
                    user = %user.name,
                    mechanism = %user.mechanism,
                    iterations = user.iterations,
                    "bootstrap user's SCRAM credential written (sasl_bootstrap_users)"
                ),
                Err((code, message)) => tracing::error!(
                    user = %user.name,
                    mechanism = %user.mechanism,
                    ?code,
                    %message,
                    "bootstrap user's SCRAM credential refused"
                ),
            }
            break;
        }
    }
}
