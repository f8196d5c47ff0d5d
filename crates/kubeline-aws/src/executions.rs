//! The Step Functions port: answering task tokens (approvals, the local worker) and starting
//! and following executions; its adapter over aws-sdk-sfn.

use std::future::Future;

use crate::error::AwsError;

/// One event of an execution's history, reduced to what a progress display needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEvent {
    /// Event id (increasing).
    pub id: i64,
    /// Event type, e.g. `TaskStateEntered`.
    pub kind: String,
    /// State name, for state events.
    pub state: Option<String>,
    /// Error name, for failures.
    pub error: Option<String>,
    /// Error cause, for failures.
    pub cause: Option<String>,
}

/// An execution as described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionInfo {
    /// ARN.
    pub arn: String,
    /// `RUNNING`, `SUCCEEDED`, `FAILED`, `TIMED_OUT`, `ABORTED`.
    pub status: String,
    /// Output JSON when succeeded.
    pub output: Option<String>,
    /// Error name when failed.
    pub error: Option<String>,
    /// Cause when failed.
    pub cause: Option<String>,
}

/// Step Functions.
pub trait Executions: Send + Sync {
    /// Completes a task token with `output` (JSON).
    fn send_task_success(
        &self,
        token: &str,
        output: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Fails a task token with an error name and cause.
    fn send_task_failure(
        &self,
        token: &str,
        error: &str,
        cause: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Starts an execution named `name` with `input` (JSON); returns its ARN.
    fn start_execution(
        &self,
        state_machine_arn: &str,
        name: &str,
        input: &str,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;
    /// Describes an execution.
    fn describe_execution(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<ExecutionInfo, AwsError>> + Send;
    /// The execution's history after event `after`.
    fn history(
        &self,
        arn: &str,
        after: i64,
    ) -> impl Future<Output = Result<Vec<HistoryEvent>, AwsError>> + Send;
    /// ARNs of the state machine's executions with `status` (e.g. `RUNNING`).
    fn list_executions(
        &self,
        state_machine_arn: &str,
        status: &str,
    ) -> impl Future<Output = Result<Vec<String>, AwsError>> + Send;
}

#[cfg(feature = "sfn")]
pub use self::sfn::StepFunctions;

#[cfg(feature = "sfn")]
mod sfn {
    use aws_sdk_sfn::Client;
    use aws_sdk_sfn::types::ExecutionStatus;

    use super::{ExecutionInfo, Executions, HistoryEvent};
    use crate::error::{AwsError, classify};

    const SERVICE: &str = "Step Functions";

    /// [`Executions`] over aws-sdk-sfn.
    #[derive(Debug, Clone)]
    pub struct StepFunctions {
        client: Client,
    }

    impl StepFunctions {
        /// Wraps a configured client.
        pub fn new(client: Client) -> StepFunctions {
            StepFunctions { client }
        }
    }

    impl Executions for StepFunctions {
        async fn send_task_success(&self, token: &str, output: &str) -> Result<(), AwsError> {
            self.client
                .send_task_success()
                .task_token(token)
                .output(output)
                .send()
                .await
                .map_err(|e| classify(SERVICE, &e))?;
            Ok(())
        }

        async fn send_task_failure(
            &self,
            token: &str,
            error: &str,
            cause: &str,
        ) -> Result<(), AwsError> {
            // Step Functions limits: error 256 characters, cause 32,768.
            let cause: String = cause.chars().take(32_000).collect();
            let error: String = error.chars().take(256).collect();
            self.client
                .send_task_failure()
                .task_token(token)
                .error(error)
                .cause(cause)
                .send()
                .await
                .map_err(|e| classify(SERVICE, &e))?;
            Ok(())
        }

        async fn start_execution(
            &self,
            state_machine_arn: &str,
            name: &str,
            input: &str,
        ) -> Result<String, AwsError> {
            let out = self
                .client
                .start_execution()
                .state_machine_arn(state_machine_arn)
                .name(name)
                .input(input)
                .send()
                .await
                .map_err(|e| classify(SERVICE, &e))?;
            Ok(out.execution_arn().to_owned())
        }

        async fn describe_execution(&self, arn: &str) -> Result<ExecutionInfo, AwsError> {
            let out = self
                .client
                .describe_execution()
                .execution_arn(arn)
                .send()
                .await
                .map_err(|e| classify(SERVICE, &e))?;
            Ok(ExecutionInfo {
                arn: out.execution_arn().to_owned(),
                status: out.status().as_str().to_owned(),
                output: out.output().map(str::to_owned),
                error: out.error().map(str::to_owned),
                cause: out.cause().map(str::to_owned),
            })
        }

        async fn history(&self, arn: &str, after: i64) -> Result<Vec<HistoryEvent>, AwsError> {
            let mut events = Vec::new();
            let mut token = None;
            loop {
                let out = self
                    .client
                    .get_execution_history()
                    .execution_arn(arn)
                    .set_next_token(token)
                    .send()
                    .await
                    .map_err(|e| classify(SERVICE, &e))?;
                for e in out.events() {
                    if e.id() <= after {
                        continue;
                    }
                    let state = e
                        .state_entered_event_details()
                        .map(|d| d.name().to_owned())
                        .or_else(|| e.state_exited_event_details().map(|d| d.name().to_owned()));
                    let (error, cause) = if let Some(d) = e.execution_failed_event_details() {
                        (d.error().map(str::to_owned), d.cause().map(str::to_owned))
                    } else if let Some(d) = e.task_failed_event_details() {
                        (d.error().map(str::to_owned), d.cause().map(str::to_owned))
                    } else {
                        (None, None)
                    };
                    events.push(HistoryEvent {
                        id: e.id(),
                        kind: e.r#type().as_str().to_owned(),
                        state,
                        error,
                        cause,
                    });
                }
                token = out.next_token().map(str::to_owned);
                if token.is_none() {
                    break;
                }
            }
            Ok(events)
        }

        async fn list_executions(
            &self,
            state_machine_arn: &str,
            status: &str,
        ) -> Result<Vec<String>, AwsError> {
            let out = self
                .client
                .list_executions()
                .state_machine_arn(state_machine_arn)
                .status_filter(ExecutionStatus::from(status))
                .send()
                .await
                .map_err(|e| classify(SERVICE, &e))?;
            Ok(out
                .executions()
                .iter()
                .map(|e| e.execution_arn().to_owned())
                .collect())
        }
    }
}
