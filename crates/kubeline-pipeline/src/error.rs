//! Step errors and their stable PascalCase names (the error names in statemachine/*.asl.json).

use kubeline_aws::error::AwsError;
use kubeline_aws::kms::KmsError;
use kubeline_aws::sealed::SealError;

/// Every error name a step can end with. The contract test checks that every name used in a
/// Retry or Catch of the state machines is in this list.
pub const ERROR_NAMES: &[&str] = &[
    "ConfigInvalid",
    "ConfigMissing",
    "CredentialsInvalid",
    "CredentialsNoCa",
    "CredentialsTampered",
    "TemplateInvalid",
    "HostedZoneMissing",
    "ChangeSetFailed",
    "StackFailed",
    "StackBusy",
    "RunInProgress",
    "TerminationProtected",
    "DestroyNotConfirmed",
    "PlanRejected",
    "Superseded",
    "RequestInvalid",
    "Throttled",
    "AccessDenied",
    "AwsRequestInvalid",
    "AwsUnavailable",
    "KmsKeyDisabled",
    "KmsAccessDenied",
    "KmsKeyNotFound",
    "KmsInvalidCiphertext",
    "KmsUnavailable",
    "Internal",
];

/// Why a step failed: a stable name and a cause that says what happened and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}: {cause}")]
pub struct StepError {
    /// Stable PascalCase name (one of [`ERROR_NAMES`]).
    pub name: &'static str,
    /// Human-readable cause (no secrets).
    pub cause: String,
}

impl StepError {
    /// An error named `name`.
    pub fn new(name: &'static str, cause: impl Into<String>) -> StepError {
        debug_assert!(
            ERROR_NAMES.contains(&name),
            "{name} is not a known error name"
        );
        StepError {
            name,
            cause: cause.into(),
        }
    }

    /// Whether the state machine retries it (throttling and transient service errors only).
    pub fn is_transient(&self) -> bool {
        matches!(
            self.name,
            "Throttled" | "AwsUnavailable" | "KmsUnavailable" | "StackBusy" | "RunInProgress"
        )
    }
}

impl From<AwsError> for StepError {
    fn from(e: AwsError) -> StepError {
        StepError::new(e.name(), e.to_string())
    }
}

impl From<KmsError> for StepError {
    fn from(e: KmsError) -> StepError {
        StepError::new(e.name(), e.to_string())
    }
}

impl From<SealError> for StepError {
    fn from(e: SealError) -> StepError {
        StepError::new(e.name(), e.to_string())
    }
}

/// A step's output as JSON (what the state machine receives).
pub fn to_json<T: serde::Serialize>(v: T) -> Result<serde_json::Value, StepError> {
    serde_json::to_value(v).map_err(|e| StepError::new("Internal", e.to_string()))
}
