//! The Lambda side shared by every function's `main.rs`: the AWS config, the installation
//! bucket from the environment, and the runtime loop that decodes a request, calls the
//! handler and maps a [`StepError`] to the error name the state machine sees.

use std::future::Future;

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::StepError;

/// The environment variable naming the installation bucket.
pub const BUCKET_ENV: &str = "KUBELINE_BUCKET";

/// The shared AWS configuration (region, credentials, `AWS_ENDPOINT_URL`).
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// The installation bucket, from `KUBELINE_BUCKET`.
pub fn bucket() -> Result<String, lambda_runtime::Error> {
    std::env::var(BUCKET_ENV).map_err(|_| format!("{BUCKET_ENV} is not set").into())
}

/// Whether the environment variable `name` is `true` (an installation parameter).
pub fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "true")
}

/// The number in the environment variable `name`, if set; an error names a bad value.
pub fn env_number(name: &str) -> Result<Option<u32>, lambda_runtime::Error> {
    match std::env::var(name) {
        Err(_) => Ok(None),
        Ok(v) => v
            .parse()
            .map(Some)
            .map_err(|_| format!("{name} is {v:?}, not a whole number").into()),
    }
}

fn diagnostic(e: StepError) -> Diagnostic {
    Diagnostic {
        error_type: e.name.to_owned(),
        error_message: e.cause,
    }
}

/// Runs the Lambda loop: each event is decoded as `Req` (a bad payload is `RequestInvalid`)
/// and passed to `handler`.
pub async fn serve<Req, Res, F, Fut>(handler: F) -> Result<(), lambda_runtime::Error>
where
    Req: DeserializeOwned + Send + 'static,
    Res: Serialize + Send + 'static,
    F: Fn(Req) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Res, StepError>> + Send,
{
    let handler = &handler;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let req: Req = serde_json::from_value(event.payload).map_err(|e| {
                diagnostic(StepError::new(
                    "RequestInvalid",
                    format!("bad request: {e}"),
                ))
            })?;
            handler(req).await.map_err(diagnostic)
        },
    ))
    .await
}
