//! CloudFormation's states as types: stack, change-set, execution and drift-detection statuses,
//! parsed once where the adapter reads them, so that no decision matches on text.
//!
//! The values are CloudFormation's API enums: <https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_Stack.html>
//! (`StackStatus`), <https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeChangeSet.html>
//! (`Status`, `ExecutionStatus`) and <https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStackDriftDetectionStatus.html>.

use serde::{Deserialize, Serialize};

macro_rules! aws_enum {
    ($(#[doc = $doc:literal])* $ty:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[doc = $doc])*
        ///
        /// A value this version does not know is `Unknown` with the text kept.
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $ty {
            $(#[doc = concat!("`", $text, "`")] $variant,)+
            /// A value this version of kubeline does not know.
            Unknown(String),
        }

        impl $ty {
            /// Every known value.
            pub const KNOWN: &'static [$ty] = &[$($ty::$variant),+];

            /// Parses AWS's text.
            pub fn parse(s: &str) -> $ty {
                match s {
                    $($text => $ty::$variant,)+
                    other => $ty::Unknown(other.to_owned()),
                }
            }

            /// AWS's text.
            pub fn as_str(&self) -> &str {
                match self {
                    $($ty::$variant => $text,)+
                    $ty::Unknown(s) => s,
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                let s = String::deserialize(d)?;
                Ok($ty::parse(&s))
            }
        }
    };
}

aws_enum! {
    /// A stack's status.
    StackStatus {
        CreateInProgress = "CREATE_IN_PROGRESS",
        CreateFailed = "CREATE_FAILED",
        CreateComplete = "CREATE_COMPLETE",
        RollbackInProgress = "ROLLBACK_IN_PROGRESS",
        RollbackFailed = "ROLLBACK_FAILED",
        RollbackComplete = "ROLLBACK_COMPLETE",
        DeleteInProgress = "DELETE_IN_PROGRESS",
        DeleteFailed = "DELETE_FAILED",
        DeleteComplete = "DELETE_COMPLETE",
        UpdateInProgress = "UPDATE_IN_PROGRESS",
        UpdateCompleteCleanupInProgress = "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
        UpdateComplete = "UPDATE_COMPLETE",
        UpdateFailed = "UPDATE_FAILED",
        UpdateRollbackInProgress = "UPDATE_ROLLBACK_IN_PROGRESS",
        UpdateRollbackFailed = "UPDATE_ROLLBACK_FAILED",
        UpdateRollbackCompleteCleanupInProgress = "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
        UpdateRollbackComplete = "UPDATE_ROLLBACK_COMPLETE",
        ReviewInProgress = "REVIEW_IN_PROGRESS",
        ImportInProgress = "IMPORT_IN_PROGRESS",
        ImportComplete = "IMPORT_COMPLETE",
        ImportRollbackInProgress = "IMPORT_ROLLBACK_IN_PROGRESS",
        ImportRollbackFailed = "IMPORT_ROLLBACK_FAILED",
        ImportRollbackComplete = "IMPORT_ROLLBACK_COMPLETE",
    }
}

aws_enum! {
    /// A change set's status.
    ChangeSetStatus {
        CreatePending = "CREATE_PENDING",
        CreateInProgress = "CREATE_IN_PROGRESS",
        CreateComplete = "CREATE_COMPLETE",
        DeletePending = "DELETE_PENDING",
        DeleteInProgress = "DELETE_IN_PROGRESS",
        DeleteComplete = "DELETE_COMPLETE",
        DeleteFailed = "DELETE_FAILED",
        Failed = "FAILED",
    }
}

aws_enum! {
    /// Whether a change set can be executed.
    ExecutionStatus {
        Unavailable = "UNAVAILABLE",
        Available = "AVAILABLE",
        ExecuteInProgress = "EXECUTE_IN_PROGRESS",
        ExecuteComplete = "EXECUTE_COMPLETE",
        ExecuteFailed = "EXECUTE_FAILED",
        Obsolete = "OBSOLETE",
    }
}

aws_enum! {
    /// Where a drift detection is.
    DriftDetectionStatus {
        InProgress = "DETECTION_IN_PROGRESS",
        Failed = "DETECTION_FAILED",
        Complete = "DETECTION_COMPLETE",
    }
}

aws_enum! {
    /// Whether a stack differs from its template.
    StackDriftStatus {
        Drifted = "DRIFTED",
        InSync = "IN_SYNC",
        Indeterminate = "UNKNOWN",
        NotChecked = "NOT_CHECKED",
    }
}

impl StackStatus {
    /// An operation is running (a stack that only holds a change set, `REVIEW_IN_PROGRESS`,
    /// is not busy).
    pub fn in_progress(&self) -> bool {
        self != &StackStatus::ReviewInProgress && self.as_str().ends_with("_IN_PROGRESS")
    }

    /// Final and good: the last operation succeeded, so the stack's resources are what its
    /// latest template says (an `UPDATE_ROLLBACK_COMPLETE` stack is stable but its update failed).
    pub fn is_complete(&self) -> bool {
        matches!(
            self,
            StackStatus::CreateComplete | StackStatus::UpdateComplete | StackStatus::ImportComplete
        )
    }

    /// The stack holds resources and takes an UPDATE change set (it is neither only a change
    /// set's placeholder nor deleted).
    pub fn takes_update(&self) -> bool {
        !matches!(
            self,
            StackStatus::ReviewInProgress | StackStatus::DeleteComplete
        )
    }

    /// A rollback or delete failed: CloudFormation takes nothing until a person acts
    /// (`continue-update-rollback`, or a delete with the failed resources retained).
    pub fn is_stuck(&self) -> bool {
        matches!(
            self,
            StackStatus::UpdateRollbackFailed | StackStatus::DeleteFailed
        )
    }

    /// A failed create left it: it cannot be updated, only deleted.
    pub fn is_dead(&self) -> bool {
        matches!(
            self,
            StackStatus::RollbackComplete | StackStatus::RollbackFailed
        )
    }
}

impl ChangeSetStatus {
    /// CloudFormation is still computing the changes.
    pub fn is_pending(&self) -> bool {
        matches!(
            self,
            ChangeSetStatus::CreatePending | ChangeSetStatus::CreateInProgress
        )
    }
}

/// Whether a failed change set's reason says only that nothing would change (CloudFormation
/// reports an empty change set as `FAILED`).
pub fn is_no_change_reason(reason: Option<&str>) -> bool {
    reason.is_some_and(|r| {
        r.contains("didn't contain changes") || r.contains("No updates are to be performed")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_value_round_trips() {
        for s in StackStatus::KNOWN {
            assert_eq!(&StackStatus::parse(s.as_str()), s);
        }
        for s in ChangeSetStatus::KNOWN {
            assert_eq!(&ChangeSetStatus::parse(s.as_str()), s);
        }
        let odd = StackStatus::parse("SOMETHING_NEW_IN_PROGRESS");
        assert_eq!(odd.as_str(), "SOMETHING_NEW_IN_PROGRESS");
        assert!(odd.in_progress() && !odd.is_complete());
        let json = serde_json::to_string(&StackStatus::UpdateComplete).unwrap_or_default();
        assert_eq!(json, "\"UPDATE_COMPLETE\"");
    }

    #[test]
    fn stack_status_classes() {
        use StackStatus as S;
        // (status, in progress, complete, takes update, dead)
        let table = [
            (S::CreateInProgress, true, false, true, false),
            (S::CreateComplete, false, true, true, false),
            (S::CreateFailed, false, false, true, false),
            (S::RollbackComplete, false, false, true, true),
            (S::RollbackFailed, false, false, true, true),
            (S::ReviewInProgress, false, false, false, false),
            (S::UpdateComplete, false, true, true, false),
            (S::UpdateRollbackComplete, false, false, true, false),
            (S::UpdateRollbackFailed, false, false, true, false),
            (S::UpdateCompleteCleanupInProgress, true, false, true, false),
            (S::DeleteComplete, false, false, false, false),
            (S::DeleteInProgress, true, false, true, false),
            (S::ImportComplete, false, true, true, false),
        ];
        for (s, busy, complete, update, dead) in table {
            assert_eq!(
                (
                    s.in_progress(),
                    s.is_complete(),
                    s.takes_update(),
                    s.is_dead()
                ),
                (busy, complete, update, dead),
                "{s}"
            );
        }
    }

    #[test]
    fn empty_change_sets_are_recognised() {
        assert!(is_no_change_reason(Some(
            "The submitted information didn't contain changes. Submit different information to create a change set."
        )));
        assert!(is_no_change_reason(Some("No updates are to be performed.")));
        assert!(!is_no_change_reason(Some("Template format error")));
        assert!(!is_no_change_reason(None));
    }
}
