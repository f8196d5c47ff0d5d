//! The stable names of every error a pipeline step can end with: the only source of the names
//! the state machines' Retry and Catch rules use (a contract test checks every definition).

use serde::{Deserialize, Serialize};

macro_rules! error_names {
    ($($(#[doc = $doc:literal])* $name:ident),+ $(,)?) => {
        /// Why a pipeline step failed, as the state machine sees it (the Lambda error type).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum ErrorName {
            $($(#[doc = $doc])* $name,)+
        }

        impl ErrorName {
            /// Every name, in declaration order.
            pub const ALL: &'static [ErrorName] = &[$(ErrorName::$name),+];

            /// The PascalCase name (`ConfigInvalid`).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorName::$name => stringify!($name),)+
                }
            }
        }
    };
}

error_names! {
    /// cluster.yaml does not validate, or does not fit this installation.
    ConfigInvalid,
    /// The uploaded object (or the run's pinned copy) is gone.
    ConfigMissing,
    /// cluster.yaml breaks a rule of the installation policy (installation.yaml, or a
    /// deploy parameter such as HostedZoneIds); the message names the setting and the rule.
    PolicyRefused,
    /// installation.yaml cannot be read as the installation policy.
    PolicyInvalid,
    /// Stored credentials are malformed or do not match the cluster.
    CredentialsInvalid,
    /// The cluster has no CA and may not generate one.
    CredentialsNoCa,
    /// A sealed credential failed its integrity check.
    CredentialsTampered,
    /// A rendered template is refused (by kubeline's limits or ValidateTemplate).
    TemplateInvalid,
    /// A hosted zone the cluster's records go into does not exist.
    HostedZoneMissing,
    /// CloudFormation could not create a change set.
    ChangeSetFailed,
    /// A stack ended in a failed or rolled-back state.
    StackFailed,
    /// A stack is in progress outside this run; retried.
    StackBusy,
    /// Another run of the cluster holds the turn; retried.
    RunInProgress,
    /// No etcd snapshot arrived in time for a run that changes etcd or the control plane.
    EtcdSnapshotTimedOut,
    /// A stack the run would change belongs to another cluster (or to none: kubeline did not
    /// create it).
    StackNotOwned,
    /// A stack to delete has termination protection.
    TerminationProtected,
    /// A destroy request does not confirm the cluster.
    DestroyNotConfirmed,
    /// An etcd restore request does not confirm the cluster or name one of its snapshots.
    RestoreNotConfirmed,
    /// The cluster's etcd members cannot carry out a restore order (none deployed, or
    /// rendered before restore orders existed), or the snapshot does not exist.
    EtcdRestoreUnavailable,
    /// An etcd member reported that its restore failed.
    EtcdRestoreFailed,
    /// Not every etcd member was restored and healthy in time.
    EtcdRestoreTimedOut,
    /// The plan was rejected (by an approver, or superseded while waiting).
    PlanRejected,
    /// A newer upload replaced this one before its run started.
    Superseded,
    /// A request (event, approval file, payload) is malformed.
    RequestInvalid,
    /// AWS throttled the requests even after the SDK's retries; retried.
    Throttled,
    /// AWS denied a call.
    AccessDenied,
    /// AWS refused a request as invalid.
    AwsRequestInvalid,
    /// AWS did not answer (network, timeout, 5xx); retried.
    AwsUnavailable,
    /// The cluster's KMS key is disabled.
    KmsKeyDisabled,
    /// KMS denied a call.
    KmsAccessDenied,
    /// The cluster's KMS key does not exist.
    KmsKeyNotFound,
    /// A sealed credential does not decrypt with the cluster's key.
    KmsInvalidCiphertext,
    /// KMS did not answer; retried.
    KmsUnavailable,
    /// A bug: kubeline could not serialise its own record.
    Internal,
}

impl ErrorName {
    /// The name `s`, if it is one of ours (Step Functions' own `States.*` and Lambda's
    /// `Lambda.*` errors are not).
    pub fn parse(s: &str) -> Option<ErrorName> {
        ErrorName::ALL.iter().copied().find(|n| n.as_str() == s)
    }

    /// Whether the state machine retries it: throttling, transient service errors, and waiting
    /// for a busy stack or another run.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorName::Throttled
                | ErrorName::AwsUnavailable
                | ErrorName::KmsUnavailable
                | ErrorName::StackBusy
                | ErrorName::RunInProgress
        )
    }
}

impl std::fmt::Display for ErrorName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_serialise_as_written() {
        for n in ErrorName::ALL {
            assert_eq!(ErrorName::parse(n.as_str()), Some(*n));
            assert_eq!(
                serde_json::to_value(n).ok(),
                Some(serde_json::Value::String(n.as_str().to_owned()))
            );
        }
        assert_eq!(ErrorName::parse("States.Timeout"), None);
        assert_eq!(ErrorName::parse("configinvalid"), None);
    }

    #[test]
    fn transient_names_are_the_retried_ones() {
        let transient: Vec<&str> = ErrorName::ALL
            .iter()
            .filter(|n| n.is_transient())
            .map(|n| n.as_str())
            .collect();
        assert_eq!(
            transient,
            [
                "StackBusy",
                "RunInProgress",
                "Throttled",
                "AwsUnavailable",
                "KmsUnavailable"
            ]
        );
    }
}
