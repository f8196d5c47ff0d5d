//! The pipeline's decisions, pure: typed observations in, typed moves out, no I/O and no clock
//! of their own (the time is passed in). The steps read what a decision needs, call it, and
//! carry out what it says; every decision is tested table-driven here, in milliseconds.

pub mod apply;
pub mod destroy;
pub mod plan;
pub mod status;
pub mod turn;

use kubeline_core::pipeline::cfn::{ChangeSetStatus, is_no_change_reason};

/// A change set of this run, as described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSetView {
    /// Its status.
    pub status: ChangeSetStatus,
    /// Why it failed, when it did.
    pub reason: Option<String>,
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
            ChangeSetState::Ready
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
        ];
        for (view, want) in table {
            assert_eq!(view.state(), want, "{view:?}");
        }
    }
}
