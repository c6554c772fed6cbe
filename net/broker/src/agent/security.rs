//! The agent's security requests: users' SCRAM credentials and ACL bindings, changed through
//! the controller quorum ([`MetadataCommand::AlterScramCredentials`],
//! [`MetadataCommand::CreateAcls`], [`MetadataCommand::DeleteAcls`]), each entry answered on
//! its own. A change is answered once this broker's catalog shows it (at most
//! `request_timeout_ms` later), so a describe sent here next sees it. A quorum out of reach
//! fails every entry, as it fails every topic of a topic request.

use std::collections::BTreeSet;
use std::sync::Arc;

use ringlog_controller::security::ScramAlteration;
use ringlog_controller::{Applied, Controller, MetadataCommand, MetadataImage, Refusal as Denial};
use ringlog_replication::driver::Refusal;
use ringlog_security::acl::{AclBinding, AclFilter};

use super::{submit_applied, wait_for_catalog};
use crate::bus::Shared;
use crate::ops::AdminOutcome;

/// AlterUserScramCredentials: per user named, in the order first named, its refusal if any.
pub(super) async fn alter_scram_credentials(
    shared: &Arc<Shared>,
    controller: &Controller,
    alterations: Vec<ScramAlteration>,
) -> AdminOutcome {
    let mut users: Vec<String> = Vec::new();
    for alteration in &alterations {
        if !users.iter().any(|u| u == alteration.user()) {
            users.push(alteration.user().to_string());
        }
    }
    if alterations.is_empty() {
        return AdminOutcome::Users(Vec::new());
    }
    let command = MetadataCommand::AlterScramCredentials {
        alterations: alterations.clone(),
    };
    let applied = match submit_applied(controller, command).await {
        Ok(applied) => applied,
        Err(refusal) => {
            let failed = users.into_iter().map(|u| (u, Some(refusal.clone())));
            return AdminOutcome::Users(failed.collect());
        }
    };
    let done: BTreeSet<&str> = applied
        .users
        .iter()
        .filter(|u| u.refusal.is_none())
        .map(|u| u.user.as_str())
        .collect();
    let shown = |image: &MetadataImage| {
        let held = &image.state.scram_credentials;
        alterations
            .iter()
            .filter(|a| done.contains(a.user()))
            .all(|alteration| match alteration {
                ScramAlteration::Upsert { user, credential } => {
                    held.get(user).and_then(|m| m.get(&credential.mechanism)) == Some(credential)
                }
                ScramAlteration::Delete { user, mechanism } => {
                    held.get(user).is_none_or(|m| !m.contains_key(mechanism))
                }
            })
    };
    wait_until_shown(shared, controller, shown).await;
    let outcome = applied
        .users
        .into_iter()
        .map(|u| (u.user, u.refusal.map(refusal)))
        .collect();
    AdminOutcome::Users(outcome)
}

/// CreateAcls: per binding, in order, its refusal if any.
pub(super) async fn create_acls(
    shared: &Arc<Shared>,
    controller: &Controller,
    bindings: Vec<AclBinding>,
) -> AdminOutcome {
    if bindings.is_empty() {
        return AdminOutcome::AclsCreated(Vec::new());
    }
    let command = MetadataCommand::CreateAcls {
        bindings: bindings.clone(),
    };
    let applied: Applied = match submit_applied(controller, command).await {
        Ok(applied) => applied,
        Err(refusal) => {
            return AdminOutcome::AclsCreated(vec![Some(refusal); bindings.len()]);
        }
    };
    let created: Vec<&AclBinding> = bindings
        .iter()
        .zip(&applied.acl_creations)
        .filter(|(_, refusal)| refusal.is_none())
        .map(|(binding, _)| binding)
        .collect();
    wait_until_shown(shared, controller, |image| {
        created.iter().all(|b| image.state.acls.contains(*b))
    })
    .await;
    let outcome = applied.acl_creations.into_iter().map(|r| r.map(refusal));
    AdminOutcome::AclsCreated(outcome.collect())
}

/// DeleteAcls: per filter, in order, the bindings it deleted.
pub(super) async fn delete_acls(
    shared: &Arc<Shared>,
    controller: &Controller,
    filters: Vec<AclFilter>,
) -> AdminOutcome {
    if filters.is_empty() {
        return AdminOutcome::AclsDeleted(Vec::new());
    }
    let count = filters.len();
    let command = MetadataCommand::DeleteAcls { filters };
    let applied = match submit_applied(controller, command).await {
        Ok(applied) => applied,
        Err(refusal) => return AdminOutcome::AclsDeleted(vec![Err(refusal); count]),
    };
    let deleted = &applied.acl_deletions;
    wait_until_shown(shared, controller, |image| {
        deleted
            .iter()
            .flatten()
            .all(|b| !image.state.acls.contains(b))
    })
    .await;
    AdminOutcome::AclsDeleted(applied.acl_deletions.into_iter().map(Ok).collect())
}

/// Waits until this broker's catalog shows an image where `shown` holds, at most
/// `request_timeout_ms`: the change is made either way, and a later change by another
/// request may hide it for good.
async fn wait_until_shown(
    shared: &Shared,
    controller: &Controller,
    shown: impl Fn(&MetadataImage) -> bool,
) {
    let timeout = shared.options.config.request_timeout;
    let waited = tokio::time::timeout(timeout, wait_for_catalog(shared, controller, shown)).await;
    if waited.is_err() {
        tracing::info!(
            timeout_ms = timeout.as_millis(),
            "a security change is made but not shown in this broker's catalog yet"
        );
    }
}

/// The controller's refusal of one entry as the frontends take refusals.
fn refusal(denial: Denial) -> Refusal {
    Refusal::new(denial.code, denial.message)
}
