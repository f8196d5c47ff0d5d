//! The destroy Lambda's handler: `check` (a confirmed request, no termination protection),
//! `advance` (delete the next stack; call until done), `fail` (record a failed destroy).

use kubeline_aws::stacks::Stacks;
use kubeline_aws::store::ObjectStore;
use kubeline_pipeline::steps::{self, DestroyPlan, FailInput, StartInput};
use kubeline_pipeline::{StepError, to_json};
use serde::Deserialize;
use serde_json::Value;

/// What the destroy state machine asks.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// Check the request.
    Check {
        /// The request.
        input: StartInput,
    },
    /// Delete the next stack.
    Advance {
        /// The confirmed destroy.
        plan: DestroyPlan,
    },
    /// Record a failed destroy.
    Fail(FailInput),
}

/// The ports this function uses.
#[derive(Debug, Clone)]
pub struct Ports<S, C> {
    /// The installation bucket.
    pub store: S,
    /// CloudFormation.
    pub cfn: C,
}

/// Handles one request.
pub async fn handler<S: ObjectStore, C: Stacks>(
    p: &Ports<S, C>,
    req: Request,
) -> Result<Value, StepError> {
    match req {
        Request::Check { input } => to_json(steps::destroy_check(&p.store, &p.cfn, &input).await?),
        Request::Advance { plan } => {
            to_json(steps::destroy_advance(&p.store, &p.cfn, &plan).await?)
        }
        Request::Fail(input) => steps::fail(&p.store, &p.cfn, &input).await,
    }
}
