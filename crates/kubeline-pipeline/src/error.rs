//! Step errors: a stable [`ErrorName`] (the error names in statemachine/*.asl.json) and a cause
//! that says what happened and how to fix it.

use kubeline_aws::error::AwsError;
use kubeline_aws::kms::KmsError;
use kubeline_aws::sealed::SealError;
pub use kubeline_core::errors::ErrorName;

/// Why a step failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}: {cause}")]
pub struct StepError {
    /// Stable name, what the state machine's Retry and Catch match.
    pub name: ErrorName,
    /// Human-readable cause (no secrets).
    pub cause: String,
}

impl StepError {
    /// An error named `name`.
    pub fn new(name: ErrorName, cause: impl Into<String>) -> StepError {
        StepError {
            name,
            cause: cause.into(),
        }
    }

    /// Whether the state machine retries it (throttling and transient service errors only).
    pub fn is_transient(&self) -> bool {
        self.name.is_transient()
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
    serde_json::to_value(v).map_err(|e| StepError::new(ErrorName::Internal, e.to_string()))
}
