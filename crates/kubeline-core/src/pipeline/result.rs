//! `runs/<id>/result.json`: how a run ended, one type for every outcome.

use serde::{Deserialize, Serialize};

use super::status::{RunError, StackState};
use crate::errors::ErrorName;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Every stack is up to date.
    Succeeded,
    /// The plan had no changes; nothing was touched.
    NoChanges,
    /// A step failed.
    Failed,
    /// The plan was rejected (by an approver, or superseded while it waited).
    Rejected,
    /// A newer upload replaced this one before its run started.
    Superseded,
    /// Every stack is deleted.
    Destroyed,
    /// etcd is restored from a snapshot.
    Restored,
}

impl Outcome {
    /// The outcome of a run that ended with error `name` (`None`: one of Step Functions' own
    /// errors, such as `States.Timeout`).
    pub fn of_error(name: Option<ErrorName>) -> Outcome {
        match name {
            Some(ErrorName::PlanRejected) => Outcome::Rejected,
            Some(ErrorName::Superseded) => Outcome::Superseded,
            _ => Outcome::Failed,
        }
    }
}

/// `runs/<id>/result.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunResult {
    /// How it ended.
    pub outcome: Outcome,
    /// When (RFC 3339).
    pub finished_at: String,
    /// The stacks after a successful apply, with their outputs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stacks: Vec<StackState>,
    /// The stacks whose change sets this run executed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub executed: Vec<String>,
    /// The stacks a destroy deleted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deleted: Vec<String>,
    /// What ended a failed, rejected or superseded run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RunError>,
}

impl RunResult {
    /// A result with only its outcome and time.
    pub fn new(outcome: Outcome, finished_at: String) -> RunResult {
        RunResult {
            outcome,
            finished_at,
            stacks: Vec::new(),
            executed: Vec::new(),
            deleted: Vec::new(),
            error: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_of_errors() {
        let table = [
            (Some(ErrorName::PlanRejected), Outcome::Rejected),
            (Some(ErrorName::Superseded), Outcome::Superseded),
            (Some(ErrorName::StackFailed), Outcome::Failed),
            (None, Outcome::Failed),
        ];
        for (name, want) in table {
            assert_eq!(Outcome::of_error(name), want, "{name:?}");
        }
    }

    #[test]
    fn results_serialise_with_kebab_outcomes() {
        let r = RunResult::new(Outcome::NoChanges, "2026-12-02T00:00:00Z".into());
        let v = serde_json::to_value(&r).unwrap_or_default();
        assert_eq!(v["outcome"], "no-changes");
        assert!(v.get("stacks").is_none());
        let back: RunResult = serde_json::from_value(v).unwrap_or_else(|_| r.clone());
        assert_eq!(back, r);
    }
}
