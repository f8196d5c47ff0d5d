//! The apply Lambda's handler: `plan` (change sets, described into the plan), `await-approval`
//! and `approval` (the manual approval), `apply` (one move of the apply reconciler), `fail`
//! (records a failed run).

use kubeline_aws::executions::Executions;
use kubeline_aws::stacks::Stacks;
use kubeline_aws::store::ObjectStore;
use kubeline_pipeline::steps::{self, DriftItem, FailInput, RenderOutput, Run};
use kubeline_pipeline::{StepError, to_json};
use serde::Deserialize;
use serde_json::Value;

/// What the state machine (or the approval rule) asks.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// Create and describe the change sets; call until ready.
    Plan {
        /// The run.
        run: Run,
        /// The render.
        rendered: RenderOutput,
    },
    /// Remember the task token of the approval step.
    #[serde(rename_all = "camelCase")]
    AwaitApproval {
        /// The run.
        run: Run,
        /// The `.waitForTaskToken` token.
        task_token: String,
    },
    /// An approval file was uploaded.
    Approval {
        /// Its key.
        key: String,
    },
    /// Advance the apply by one move; call until done.
    Apply {
        /// The run.
        run: Run,
        /// The render.
        rendered: RenderOutput,
    },
    /// Record a failed run.
    Fail(FailInput),
    /// Daily drift check: the clusters with deployed stacks.
    DriftList,
    /// Daily drift check: start detection on a cluster's stacks.
    DriftStart {
        /// The cluster and its stacks.
        item: DriftItem,
    },
    /// Daily drift check: record the result once detection is complete.
    DriftCheck {
        /// The cluster, its stacks and detections.
        item: DriftItem,
    },
    /// Daily drift check: the summary notification.
    DriftSummary {
        /// Each cluster's check result.
        results: Vec<Value>,
    },
}

/// The ports this function uses.
#[derive(Debug, Clone)]
pub struct Ports<S, C, X> {
    /// The installation bucket.
    pub store: S,
    /// CloudFormation.
    pub cfn: C,
    /// Step Functions (task tokens).
    pub sfn: X,
}

/// Handles one request.
pub async fn handler<S: ObjectStore, C: Stacks, X: Executions>(
    p: &Ports<S, C, X>,
    req: Request,
) -> Result<Value, StepError> {
    match req {
        Request::Plan { run, rendered } => {
            to_json(steps::plan(&p.store, &p.cfn, &run, &rendered).await?)
        }
        Request::AwaitApproval { run, task_token } => {
            steps::await_approval(&p.store, &p.sfn, &run, &task_token).await
        }
        Request::Approval { key } => steps::approval_request(&p.store, &p.sfn, &key).await,
        Request::Apply { run, rendered } => {
            to_json(steps::apply(&p.store, &p.cfn, &run, &rendered).await?)
        }
        Request::Fail(input) => steps::fail(&p.store, &p.cfn, &input).await,
        Request::DriftList => to_json(serde_json::json!({
            "clusters": steps::drift_list(&p.store).await?
        })),
        Request::DriftStart { item } => to_json(steps::drift_start(&p.cfn, &item).await?),
        Request::DriftCheck { item } => steps::drift_check(&p.store, &p.cfn, &item).await,
        Request::DriftSummary { results } => Ok(steps::drift_summary(&results)),
    }
}
