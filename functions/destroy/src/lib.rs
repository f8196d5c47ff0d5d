//! The destroy Lambda's handler: `check` (a confirmed request, no termination protection),
//! `advance` (delete the next stack; call until done), `fail` (record a failed destroy).

use kubeline_aws::executions::Executions;
use kubeline_aws::stacks::Stacks;
use kubeline_aws::store::ObjectStore;
use kubeline_pipeline::StepError;
use kubeline_pipeline::steps::{self, DestroyPlan, FailInput, FailOutput, Progress, StartInput};
use kubeline_pipeline::telemetry::Operation;
use serde::{Deserialize, Serialize};

/// What the state machine asks.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// Check the destroy request.
    Check {
        /// The uploaded destroy.yaml.
        input: StartInput,
    },
    /// Delete the next stack; call until done.
    Advance {
        /// The confirmed destroy.
        plan: DestroyPlan,
    },
    /// Record a failed destroy.
    Fail(FailInput),
}

impl Operation for Request {
    fn op(&self) -> &'static str {
        match self {
            Request::Check { .. } => "check",
            Request::Advance { .. } => "advance",
            Request::Fail(_) => "fail",
        }
    }
    fn run(&self) -> Option<(&str, &str)> {
        match self {
            Request::Check { input } => Some((
                kubeline_core::pipeline::ClusterKeys::cluster_of(&input.key).unwrap_or(""),
                &input.run_id,
            )),
            Request::Advance { plan } => Some((&plan.run.cluster, &plan.run.run_id)),
            Request::Fail(f) => f.run_ref(),
        }
    }
}

/// What it answers.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Response {
    /// The confirmed destroy (check).
    Plan(DestroyPlan),
    /// Where the deletion is (advance).
    Progress(Progress),
    /// The failure's notification (fail).
    Failed(FailOutput),
}

/// The ports this function uses.
#[derive(Debug, Clone)]
pub struct Ports<S, C, X> {
    /// The installation bucket.
    pub store: S,
    /// CloudFormation.
    pub cfn: C,
    /// Step Functions (the turn of runs).
    pub sfn: X,
}

/// Handles one request.
pub async fn handler<S: ObjectStore, C: Stacks, X: Executions>(
    p: &Ports<S, C, X>,
    req: Request,
) -> Result<Response, StepError> {
    Ok(match req {
        Request::Check { input } => {
            Response::Plan(steps::destroy_check(&p.store, &p.cfn, &p.sfn, &input).await?)
        }
        Request::Advance { plan } => {
            Response::Progress(steps::destroy_advance(&p.store, &p.cfn, &plan).await?)
        }
        Request::Fail(input) => Response::Failed(steps::fail(&p.store, &p.cfn, &input).await?),
    })
}
