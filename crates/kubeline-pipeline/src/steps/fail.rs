//! Fail: the Catch of every state. Records a failed, rejected or superseded run in status.json
//! (unless a newer run owns it) and `runs/<id>/result.json`, after removing the run's
//! unexecuted change sets and empty stacks, and withdrawing its etcd restore order.

use kubeline_aws::stacks::Stacks;
use kubeline_aws::store::ObjectStore;
use kubeline_core::errors::ErrorName;
use kubeline_core::pipeline::cfn::{ExecutionStatus, StackStatus};
use kubeline_core::pipeline::{Chat, ClusterKeys, Outcome, Phase, RunError, RunResult};
use serde::{Deserialize, Serialize};

use super::bucket::{clip, get_json, put_json, set_status, status_of, timestamp};
use super::{Notification, RenderOutput, Run, StartInput};
use crate::error::StepError;

/// Step Functions' error object, as a Catch passes it on.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StateError {
    /// The error name: one of ours ([`ErrorName`]), or Step Functions' own (`States.Timeout`).
    #[serde(rename = "Error", default)]
    pub error: String,
    /// The cause: a Lambda error's JSON (`{"errorMessage": ...}`) or plain text.
    #[serde(rename = "Cause", default)]
    pub cause: String,
}

impl StateError {
    /// Our name for it, if it is one of ours.
    pub fn name(&self) -> Option<ErrorName> {
        ErrorName::parse(&self.error)
    }

    /// The cause as text (a Lambda error's `errorMessage`).
    pub fn message(&self) -> String {
        #[derive(Deserialize)]
        struct LambdaError {
            #[serde(rename = "errorMessage")]
            error_message: String,
        }
        serde_json::from_str::<LambdaError>(&self.cause)
            .map(|e| e.error_message)
            .unwrap_or_else(|_| self.cause.clone())
    }
}

/// The Catch of every state: what failed, and the run (when it got that far).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailInput {
    /// The run, if `start` succeeded.
    #[serde(default)]
    pub run: Option<Run>,
    /// Otherwise the start input.
    #[serde(default)]
    pub input: Option<StartInput>,
    /// Step Functions' error object.
    pub error: StateError,
}

impl FailInput {
    /// The cluster and run id, for the logs.
    pub fn run_ref(&self) -> Option<(&str, &str)> {
        match (&self.run, &self.input) {
            (Some(r), _) => Some((&r.cluster, &r.run_id)),
            (None, Some(i)) => Some((ClusterKeys::cluster_of(&i.key).unwrap_or(""), &i.run_id)),
            (None, None) => None,
        }
    }
}

/// What [`fail`] says.
pub type FailOutput = Notification;

/// Removes what a run that ends before applying leaves in CloudFormation: its change sets, and
/// the empty stacks (REVIEW_IN_PROGRESS) that its CREATE change sets made.
async fn clean_up<S: ObjectStore, C: Stacks>(
    store: &S,
    cfn: &C,
    run: &Run,
) -> Result<(), StepError> {
    let Some(rendered) = get_json::<_, RenderOutput>(store, &run.records().render()).await? else {
        return Ok(());
    };
    for s in &rendered.stacks {
        let cs = run.change_set_name(&s.name);
        if let Some(c) = cfn.describe_change_set(&s.name, &cs).await?
            && c.execution_status != Some(ExecutionStatus::ExecuteComplete)
        {
            cfn.delete_change_set(&s.name, &cs).await.ok();
        }
        // Another cluster's stack of the same name is never deleted.
        if let Some(info) = cfn.describe_stack(&s.name).await?
            && info.status == StackStatus::ReviewInProgress
            && super::changesets::owned(Some(&info), &run.cluster).is_ok()
        {
            cfn.delete_stack(&s.name).await?;
        }
    }
    Ok(())
}

/// Records the failed run and returns the chat message.
pub async fn fail<S: ObjectStore, C: Stacks>(
    store: &S,
    cfn: &C,
    input: &FailInput,
) -> Result<FailOutput, StepError> {
    let run = match (&input.run, &input.input) {
        (Some(r), _) => r.clone(),
        (None, Some(i)) => Run::for_request(i)?,
        (None, None) => {
            return Err(StepError::new(
                ErrorName::RequestInvalid,
                "fail needs the run or the start input",
            ));
        }
    };
    let name = if input.error.error.is_empty() {
        ErrorName::Internal.as_str().to_owned()
    } else {
        input.error.error.clone()
    };
    let error = RunError {
        error: name,
        cause: clip(&input.error.message()),
    };
    clean_up(store, cfn, &run).await?;
    super::restore::withdraw_order(store, &run).await?;
    let outcome = Outcome::of_error(input.error.name());
    let owner = status_of(store, &run.cluster).await?;
    let may_record = crate::decide::status::may_record_failure(owner.as_ref(), &run.run_id);
    match outcome {
        // A superseded run never started: the newer run owns status.json. A run that failed
        // while another one applies leaves it to that run.
        Outcome::Superseded => {}
        _ if !may_record => {}
        Outcome::Rejected => {
            set_status(store, &run, Phase::Rejected, |s| s.last_error = None).await?;
        }
        _ => {
            set_status(store, &run, Phase::Failed, |s| {
                s.last_error = Some(error.clone())
            })
            .await?;
        }
    }
    let mut result = RunResult::new(outcome, timestamp());
    result.error = Some(error.clone());
    put_json(store, &run.records().result(), &result).await?;
    crate::telemetry::run_ended(&run.cluster, &run.run_id, &run.started_at, outcome);
    let chat = match outcome {
        Outcome::Rejected => Chat::rejected(&run.cluster, &run.run_id, None, Some(&error.cause)),
        Outcome::Superseded => Chat::superseded(&run.cluster, &run.run_id, &error.cause),
        _ => Chat::failed(&run.cluster, &run.run_id, &error),
    };
    Ok(Notification {
        notification: chat.to_json().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_errors_read_lambda_and_plain_causes() {
        let table = [
            (
                StateError {
                    error: "StackFailed".into(),
                    cause: r#"{"errorType":"StackFailed","errorMessage":"stack x failed"}"#.into(),
                },
                Some(ErrorName::StackFailed),
                "stack x failed",
            ),
            (
                StateError {
                    error: "States.Timeout".into(),
                    cause: "timed out".into(),
                },
                None,
                "timed out",
            ),
            (StateError::default(), None, ""),
        ];
        for (e, name, message) in table {
            assert_eq!((e.name(), e.message().as_str()), (name, message), "{e:?}");
        }
    }
}
