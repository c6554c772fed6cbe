//! A subscribed consumer's membership of its group, as a pure state machine: what it knows
//! (member id, generation) and what the coordinator's answers make it do. The IO that sends
//! JoinGroup, SyncGroup and Heartbeat and acts on the decisions is in `group`.
//!
//! The rules are Kafka's consumer's (AbstractCoordinator, the eager protocol):
//! - a new member joins with no id, is answered MEMBER_ID_REQUIRED with one, and joins again
//!   with it;
//! - REBALANCE_IN_PROGRESS (heartbeat, commit, sync) asks for a rejoin; the partitions are
//!   revoked, their positions committed first, and the member keeps its id;
//! - ILLEGAL_GENERATION and UNKNOWN_MEMBER_ID mean the group went on without this member: its
//!   partitions are lost (no commit: the coordinator would refuse it), and for UNKNOWN_MEMBER_ID
//!   the member joins again as a new one;
//! - NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE and COORDINATOR_LOAD_IN_PROGRESS mean look up
//!   the coordinator again (a metadata refresh) and retry;
//! - anything else (FENCED_INSTANCE_ID, INVALID_SESSION_TIMEOUT, ...) is final.

use ringlog_wire::ErrorCode;

/// What to do after a group answer's error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// No error.
    Ok,
    /// Find the coordinator again (refresh the metadata) and retry.
    Coordinator,
    /// Rejoin the group.
    Rejoin(Rejoin),
    /// Give up with this error.
    Fatal,
}

/// Why the member must join (again), and what it keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rejoin {
    /// The partitions are lost rather than revoked: their positions are not committed.
    pub lost: bool,
    /// The member id is dropped: the member joins as a new one.
    pub reset_member_id: bool,
}

impl Rejoin {
    /// A rebalance the member takes part in with its partitions still its own.
    pub(crate) const REVOKE: Rejoin = Rejoin {
        lost: false,
        reset_member_id: false,
    };
}

/// The verdict on `code` from any group request.
pub(crate) fn verdict(code: ErrorCode) -> Verdict {
    match code {
        ErrorCode::NONE => Verdict::Ok,
        ErrorCode::NOT_COORDINATOR
        | ErrorCode::COORDINATOR_NOT_AVAILABLE
        | ErrorCode::COORDINATOR_LOAD_IN_PROGRESS => Verdict::Coordinator,
        ErrorCode::REBALANCE_IN_PROGRESS => Verdict::Rejoin(Rejoin::REVOKE),
        ErrorCode::ILLEGAL_GENERATION => Verdict::Rejoin(Rejoin {
            lost: true,
            reset_member_id: false,
        }),
        ErrorCode::UNKNOWN_MEMBER_ID => Verdict::Rejoin(Rejoin {
            lost: true,
            reset_member_id: true,
        }),
        _ => Verdict::Fatal,
    }
}

/// A generation the member joined and synced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Generation {
    pub id: i32,
}

/// The member's view of its group membership.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Membership {
    /// "" until the coordinator gives one.
    member_id: String,
    /// The generation whose assignment the member holds; `None` while (re)joining.
    generation: Option<Generation>,
    /// Set when the member must (re)join before it fetches again.
    rejoin: Option<Rejoin>,
}

impl Membership {
    /// A member that has not joined yet and must.
    pub(crate) fn new() -> Membership {
        Membership {
            member_id: String::new(),
            generation: None,
            rejoin: Some(Rejoin::REVOKE),
        }
    }

    pub(crate) fn member_id(&self) -> &str {
        &self.member_id
    }

    pub(crate) fn generation(&self) -> Option<Generation> {
        self.generation
    }

    /// The rejoin asked for, if any.
    pub(crate) fn rejoin(&self) -> Option<Rejoin> {
        self.rejoin
    }

    /// What an OffsetCommit carries: the generation and member id, or -1 and "" when the
    /// member holds no generation.
    pub(crate) fn commit_identity(&self) -> (i32, String) {
        match self.generation {
            Some(generation) => (generation.id, self.member_id.clone()),
            None => (-1, String::new()),
        }
    }

    /// The member starts a JoinGroup: it holds no generation until the sync completes.
    pub(crate) fn joining(&mut self) {
        if self.rejoin.is_some_and(|r| r.reset_member_id) {
            self.member_id.clear();
        }
        self.generation = None;
        self.check_invariants();
    }

    /// The coordinator gave the member its id (with MEMBER_ID_REQUIRED or a join).
    pub(crate) fn member_id_given(&mut self, member_id: String) {
        self.member_id = member_id;
        self.check_invariants();
    }

    /// The sync of generation `id` completed: the member holds its assignment.
    pub(crate) fn synced(&mut self, id: i32) {
        assert!(
            !self.member_id.is_empty(),
            "synced generation {id} without a member id"
        );
        self.generation = Some(Generation { id });
        self.rejoin = None;
        self.check_invariants();
    }

    /// A group answer about `generation_sent` came back with `code`; returns the verdict. An
    /// answer about an earlier generation than the one held changes nothing.
    pub(crate) fn on_answer(&mut self, generation_sent: Option<i32>, code: ErrorCode) -> Verdict {
        let verdict = verdict(code);
        let current = self.generation.map(|g| g.id);
        if generation_sent != current {
            return verdict;
        }
        if let Verdict::Rejoin(rejoin) = verdict {
            self.ask_rejoin(rejoin);
        }
        verdict
    }

    /// Asks for a rejoin; a lost or reset one is not weakened by a later plain one.
    pub(crate) fn ask_rejoin(&mut self, rejoin: Rejoin) {
        let held = self.rejoin.unwrap_or(Rejoin::REVOKE);
        self.rejoin = Some(Rejoin {
            lost: held.lost || rejoin.lost,
            reset_member_id: held.reset_member_id || rejoin.reset_member_id,
        });
        if rejoin.reset_member_id {
            self.member_id.clear();
            self.generation = None;
        }
        self.check_invariants();
    }

    /// The member left the group: no id, no generation, nothing to rejoin until it
    /// subscribes again.
    pub(crate) fn left(&mut self) {
        self.member_id.clear();
        self.generation = None;
        self.rejoin = None;
        self.check_invariants();
    }

    fn check_invariants(&self) {
        debug_assert!(
            self.generation.is_none() || !self.member_id.is_empty(),
            "a generation is held only with a member id: {self:?}"
        );
        debug_assert!(
            self.generation.is_none_or(|g| g.id >= 0),
            "generations are not negative: {self:?}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(id: i32) -> Membership {
        let mut membership = Membership::new();
        membership.joining();
        membership.member_id_given("m-1".into());
        membership.synced(id);
        membership
    }

    #[test]
    fn a_new_member_must_join_and_holds_nothing() {
        let membership = Membership::new();
        assert_eq!(membership.rejoin(), Some(Rejoin::REVOKE));
        assert_eq!(membership.commit_identity(), (-1, String::new()));
    }

    #[test]
    fn a_synced_member_commits_with_its_generation_and_id() {
        let membership = joined(4);
        assert_eq!(membership.rejoin(), None);
        assert_eq!(membership.commit_identity(), (4, "m-1".into()));
    }

    #[test]
    fn rebalance_in_progress_asks_a_rejoin_that_keeps_the_id_and_revokes() {
        let mut membership = joined(4);
        let verdict = membership.on_answer(Some(4), ErrorCode::REBALANCE_IN_PROGRESS);
        assert_eq!(verdict, Verdict::Rejoin(Rejoin::REVOKE));
        assert_eq!(membership.rejoin(), Some(Rejoin::REVOKE));
        // Still in generation 4 until it joins: the revoke's commit carries it.
        assert_eq!(membership.commit_identity(), (4, "m-1".into()));
        membership.joining();
        assert_eq!(membership.member_id(), "m-1");
        assert_eq!(membership.generation(), None);
    }

    #[test]
    fn illegal_generation_loses_the_partitions_and_keeps_the_id() {
        let mut membership = joined(4);
        membership.on_answer(Some(4), ErrorCode::ILLEGAL_GENERATION);
        let rejoin = membership.rejoin().unwrap();
        assert!(rejoin.lost && !rejoin.reset_member_id);
        membership.joining();
        assert_eq!(membership.member_id(), "m-1");
    }

    #[test]
    fn unknown_member_id_loses_the_partitions_and_the_id() {
        let mut membership = joined(4);
        membership.on_answer(Some(4), ErrorCode::UNKNOWN_MEMBER_ID);
        assert_eq!(
            membership.rejoin(),
            Some(Rejoin {
                lost: true,
                reset_member_id: true
            })
        );
        assert_eq!(membership.member_id(), "");
        assert_eq!(membership.commit_identity(), (-1, String::new()));
        // A plain rebalance after it does not make the partitions revocable again.
        membership.ask_rejoin(Rejoin::REVOKE);
        assert!(membership.rejoin().unwrap().lost);
    }

    #[test]
    fn an_answer_about_an_older_generation_changes_nothing() {
        let mut membership = joined(5);
        let before = membership.clone();
        let verdict = membership.on_answer(Some(4), ErrorCode::ILLEGAL_GENERATION);
        assert!(matches!(verdict, Verdict::Rejoin(_)));
        assert_eq!(membership, before);
    }

    #[test]
    fn coordinator_errors_retry_and_others_are_final() {
        for code in [
            ErrorCode::NOT_COORDINATOR,
            ErrorCode::COORDINATOR_NOT_AVAILABLE,
            ErrorCode::COORDINATOR_LOAD_IN_PROGRESS,
        ] {
            assert_eq!(verdict(code), Verdict::Coordinator, "{code}");
        }
        assert_eq!(verdict(ErrorCode::FENCED_INSTANCE_ID), Verdict::Fatal);
        assert_eq!(verdict(ErrorCode::NONE), Verdict::Ok);
        let mut membership = joined(1);
        assert_eq!(
            membership.on_answer(Some(1), ErrorCode::NOT_COORDINATOR),
            Verdict::Coordinator
        );
        assert_eq!(membership.rejoin(), None);
    }

    #[test]
    fn leaving_forgets_the_member() {
        let mut membership = joined(2);
        membership.left();
        assert_eq!(membership.member_id(), "");
        assert_eq!(membership.rejoin(), None);
        assert_eq!(membership.commit_identity(), (-1, String::new()));
    }
}
