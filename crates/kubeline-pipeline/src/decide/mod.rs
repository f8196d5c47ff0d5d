//! The pipeline's decisions, pure: typed observations in, typed moves out, no I/O and no clock
//! of their own (the time is passed in). The steps read what a decision needs, call it, and
//! carry out what it says; every decision is tested table-driven here, in milliseconds.

pub mod apply;
pub mod destroy;
pub mod plan;
pub mod rollout;
pub mod status;
pub mod turn;

use kubeline_core::pipeline::cfn::{ChangeSetStatus, ExecutionStatus, is_no_change_reason};

/// A change set of this run, as described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSetView {
    /// Its status.
    pub status: ChangeSetStatus,
    /// Why it failed, when it did.
    pub reason: Option<String>,
    /// Whether it can be executed, or how its execution went (`None`: not reported).
    pub execution: Option<ExecutionStatus>,
}

/// What a described change set means for the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeSetState {
    /// CloudFormation is still computing it.
    Pending,
    /// It holds changes and can be executed.
    Ready,
    /// It is empty (CloudFormation reports that as `FAILED`): nothing changes.
    Empty,
    /// It failed, for this reason.
    Failed(String),
    /// Its execution is running.
    Executing,
    /// It was executed (by this run, even if the run's record of it was lost).
    Executed,
    /// Its execution failed.
    ExecuteFailed,
    /// The stack changed after it was created: executing it would apply a stale plan.
    Obsolete,
}

impl ChangeSetView {
    /// What the change set means.
    pub fn state(&self) -> ChangeSetState {
        if self.status.is_pending() {
            ChangeSetState::Pending
        } else if self.status == ChangeSetStatus::Failed {
            if is_no_change_reason(self.reason.as_deref()) {
                ChangeSetState::Empty
            } else {
                ChangeSetState::Failed(self.reason.clone().unwrap_or_default())
            }
        } else {
            match self.execution {
                Some(ExecutionStatus::ExecuteInProgress) => ChangeSetState::Executing,
                Some(ExecutionStatus::ExecuteComplete) => ChangeSetState::Executed,
                Some(ExecutionStatus::ExecuteFailed) => ChangeSetState::ExecuteFailed,
                Some(ExecutionStatus::Obsolete) => ChangeSetState::Obsolete,
                Some(ExecutionStatus::Unavailable) => ChangeSetState::Pending,
                Some(ExecutionStatus::Available | ExecutionStatus::Unknown(_)) | None => {
                    ChangeSetState::Ready
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_set_states() {
        let cs = |status, reason: Option<&str>| ChangeSetView {
            status,
            reason: reason.map(str::to_owned),
            execution: None,
        };
        let ex = |execution| ChangeSetView {
            status: ChangeSetStatus::CreateComplete,
            reason: None,
            execution: Some(execution),
        };
        let table = [
            (
                cs(ChangeSetStatus::CreatePending, None),
                ChangeSetState::Pending,
            ),
            (
                cs(ChangeSetStatus::CreateInProgress, None),
                ChangeSetState::Pending,
            ),
            (
                cs(ChangeSetStatus::CreateComplete, None),
                ChangeSetState::Ready,
            ),
            (
                cs(
                    ChangeSetStatus::Failed,
                    Some("No updates are to be performed."),
                ),
                ChangeSetState::Empty,
            ),
            (
                cs(ChangeSetStatus::Failed, Some("Template error")),
                ChangeSetState::Failed("Template error".into()),
            ),
            (
                cs(ChangeSetStatus::Failed, None),
                ChangeSetState::Failed(String::new()),
            ),
            (ex(ExecutionStatus::Available), ChangeSetState::Ready),
            (ex(ExecutionStatus::Unavailable), ChangeSetState::Pending),
            (
                ex(ExecutionStatus::ExecuteInProgress),
                ChangeSetState::Executing,
            ),
            (
                ex(ExecutionStatus::ExecuteComplete),
                ChangeSetState::Executed,
            ),
            (
                ex(ExecutionStatus::ExecuteFailed),
                ChangeSetState::ExecuteFailed,
            ),
            (ex(ExecutionStatus::Obsolete), ChangeSetState::Obsolete),
        ];
        for (view, want) in table {
            assert_eq!(view.state(), want, "{view:?}");
        }
    }
}
