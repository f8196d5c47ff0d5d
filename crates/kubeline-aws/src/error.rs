//! The error every AWS port returns (except KMS, which has its own): a few kinds with stable
//! PascalCase names that the state machine's Retry and Catch use.

/// Why an AWS call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AwsError {
    /// Rate limited even after the SDK's retries.
    #[error("{service} is throttling requests ({message})")]
    Throttled {
        /// Service.
        service: &'static str,
        /// AWS's message.
        message: String,
    },
    /// The caller lacks a permission.
    #[error("{service} denied access ({message})")]
    AccessDenied {
        /// Service.
        service: &'static str,
        /// AWS's message.
        message: String,
    },
    /// A request AWS refused as invalid (bad template, missing export, ...).
    #[error("{service} refused the request: {code}: {message}")]
    Invalid {
        /// Service.
        service: &'static str,
        /// AWS's error code.
        code: String,
        /// AWS's message.
        message: String,
    },
    /// Network, timeouts, 5xx.
    #[error("{service} is unavailable ({message})")]
    Unavailable {
        /// Service.
        service: &'static str,
        /// What happened.
        message: String,
    },
}

impl AwsError {
    /// Stable PascalCase name (Step Functions error name).
    pub fn name(&self) -> kubeline_core::errors::ErrorName {
        use kubeline_core::errors::ErrorName;
        match self {
            AwsError::Throttled { .. } => ErrorName::Throttled,
            AwsError::AccessDenied { .. } => ErrorName::AccessDenied,
            AwsError::Invalid { .. } => ErrorName::AwsRequestInvalid,
            AwsError::Unavailable { .. } => ErrorName::AwsUnavailable,
        }
    }

    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            AwsError::Throttled { .. } | AwsError::Unavailable { .. }
        )
    }

    /// The AWS error code of an `Invalid` error.
    pub fn code(&self) -> Option<&str> {
        match self {
            AwsError::Invalid { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// Maps an SDK error of `service` by its error code.
#[cfg(any(
    feature = "kms",
    feature = "s3",
    feature = "cloudformation",
    feature = "sfn",
    feature = "route53",
    feature = "tagging",
    feature = "sns"
))]
pub(crate) fn classify<E, R>(
    service: &'static str,
    err: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> AwsError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_smithy_types::error::metadata::ProvideErrorMetadata as _;
    let code = err.code().unwrap_or_default().to_owned();
    let message = err
        .message()
        .map(str::to_owned)
        .unwrap_or_else(|| aws_smithy_types::error::display::DisplayErrorContext(err).to_string());
    match code.as_str() {
        "Throttling"
        | "ThrottlingException"
        | "TooManyRequestsException"
        | "RequestLimitExceeded"
        | "SlowDown"
        | "ThrottledException"
        | "PriorRequestNotComplete" => AwsError::Throttled { service, message },
        "AccessDenied"
        | "AccessDeniedException"
        | "UnauthorizedOperation"
        | "InvalidClientTokenId"
        | "UnrecognizedClientException"
        | "SignatureDoesNotMatch"
        | "InvalidAccessKeyId" => AwsError::AccessDenied { service, message },
        // No code: the request never got an AWS answer (network, timeout, unparseable reply).
        "InternalFailure"
        | "InternalError"
        | "InternalServiceException"
        | "ServiceUnavailable"
        | "InternalServerError"
        | "" => AwsError::Unavailable { service, message },
        _ => AwsError::Invalid {
            service,
            code,
            message,
        },
    }
}
