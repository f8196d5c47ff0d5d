//! The plan of one stack: refuse a busy or dead stack, create its change set, wait for it, or
//! record what it changes.

use kubeline_core::pipeline::StackAction;
use kubeline_core::pipeline::cfn::StackStatus;

use super::{ChangeSetState, ChangeSetView};

/// What to do for one stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanMove {
    /// Another operation runs on it (`StackBusy`, retried).
    Busy(StackStatus),
    /// A failed create left it; it must be deleted by hand (`StackFailed`).
    Dead(StackStatus),
    /// A rollback or delete failed; a person must finish it (`StackFailed`).
    Stuck(StackStatus),
    /// Create this run's change set (`create`: a CREATE change set for a new stack), then
    /// describe it and decide again.
    CreateChangeSet {
        /// CREATE (new stack) or UPDATE.
        create: bool,
    },
    /// A new stack whose dependencies do not exist yet: planned from its template, its change
    /// set is created during apply.
    FromTemplate,
    /// CloudFormation is computing the change set: plan again after a wait.
    Wait,
    /// The change set is empty: delete it; nothing changes.
    NoChange,
    /// The change set failed (`ChangeSetFailed`).
    Failed(String),
    /// The change set is ready: the stack is created or updated as it says.
    Planned(StackAction),
}

/// The move for a stack in `status` (`None`: it does not exist) with this run's change set
/// `change_set`, when its dependencies are `deps_complete`. `may_create` is false right after
/// this run created the change set (a change set that is still not there is planned from the
/// template).
pub fn plan_move(
    status: Option<&StackStatus>,
    change_set: Option<&ChangeSetView>,
    deps_complete: bool,
    may_create: bool,
) -> PlanMove {
    if let Some(s) = status {
        if s.in_progress() {
            return PlanMove::Busy(s.clone());
        }
        if s.is_dead() {
            return PlanMove::Dead(s.clone());
        }
        if s.is_stuck() {
            return PlanMove::Stuck(s.clone());
        }
    }
    let exists = status.is_some_and(StackStatus::takes_update);
    let Some(cs) = change_set else {
        return if may_create && (exists || deps_complete) {
            PlanMove::CreateChangeSet { create: !exists }
        } else {
            PlanMove::FromTemplate
        };
    };
    match cs.state() {
        ChangeSetState::Pending => PlanMove::Wait,
        ChangeSetState::Empty => PlanMove::NoChange,
        ChangeSetState::Failed(reason) => PlanMove::Failed(reason),
        ChangeSetState::Ready if exists => PlanMove::Planned(StackAction::Update),
        ChangeSetState::Ready => PlanMove::Planned(StackAction::Create),
        ChangeSetState::Obsolete => {
            PlanMove::Failed("the stack changed after this run created its change set".into())
        }
        // This run's change set was executed (a retried plan after an apply cannot happen:
        // the state machine plans before it applies), so the stack is busy or changed.
        ChangeSetState::Executing | ChangeSetState::Executed | ChangeSetState::ExecuteFailed => {
            PlanMove::Failed("this run's change set was already executed".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubeline_core::pipeline::cfn::ChangeSetStatus as C;
    use kubeline_core::pipeline::cfn::StackStatus as S;

    fn cs(status: C, reason: &str) -> Option<ChangeSetView> {
        Some(ChangeSetView {
            status,
            reason: Some(reason.to_owned()).filter(|r| !r.is_empty()),
            execution: None,
        })
    }

    #[test]
    fn plan_moves() {
        let empty = "The submitted information didn't contain changes.";
        // (stack, change set, deps complete, may create) → move
        let table = [
            (
                Some(S::UpdateInProgress),
                None,
                true,
                true,
                PlanMove::Busy(S::UpdateInProgress),
            ),
            (
                Some(S::ReviewInProgress),
                None,
                false,
                true,
                PlanMove::FromTemplate,
            ),
            (
                Some(S::ReviewInProgress),
                None,
                true,
                true,
                PlanMove::CreateChangeSet { create: true },
            ),
            (
                Some(S::RollbackComplete),
                None,
                true,
                true,
                PlanMove::Dead(S::RollbackComplete),
            ),
            (
                Some(S::RollbackFailed),
                None,
                true,
                true,
                PlanMove::Dead(S::RollbackFailed),
            ),
            (
                None,
                None,
                true,
                true,
                PlanMove::CreateChangeSet { create: true },
            ),
            (None, None, false, true, PlanMove::FromTemplate),
            (None, None, true, false, PlanMove::FromTemplate),
            (
                Some(S::CreateComplete),
                None,
                false,
                true,
                PlanMove::CreateChangeSet { create: false },
            ),
            (
                Some(S::UpdateRollbackComplete),
                None,
                false,
                true,
                PlanMove::CreateChangeSet { create: false },
            ),
            (
                Some(S::DeleteComplete),
                None,
                true,
                true,
                PlanMove::CreateChangeSet { create: true },
            ),
            (
                Some(S::CreateComplete),
                cs(C::CreatePending, ""),
                true,
                true,
                PlanMove::Wait,
            ),
            (
                Some(S::CreateComplete),
                cs(C::CreateInProgress, ""),
                true,
                true,
                PlanMove::Wait,
            ),
            (
                Some(S::CreateComplete),
                cs(C::Failed, empty),
                true,
                true,
                PlanMove::NoChange,
            ),
            (
                Some(S::CreateComplete),
                cs(C::Failed, "bad"),
                true,
                true,
                PlanMove::Failed("bad".into()),
            ),
            (
                Some(S::CreateComplete),
                cs(C::CreateComplete, ""),
                true,
                true,
                PlanMove::Planned(StackAction::Update),
            ),
            (
                Some(S::ReviewInProgress),
                cs(C::CreateComplete, ""),
                true,
                true,
                PlanMove::Planned(StackAction::Create),
            ),
            (
                None,
                cs(C::CreateComplete, ""),
                true,
                false,
                PlanMove::Planned(StackAction::Create),
            ),
        ];
        for (stack, change_set, deps, may_create, want) in table {
            assert_eq!(
                plan_move(stack.as_ref(), change_set.as_ref(), deps, may_create),
                want,
                "{stack:?} {change_set:?} deps={deps} may_create={may_create}"
            );
        }
    }
}
