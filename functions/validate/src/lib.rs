//! The validate Lambda's handler: `config` checks the uploaded cluster.yaml and starts the run;
//! `templates` checks the rendered stacks with CloudFormation and the hosted zones.

use kubeline_aws::dns::Dns;
use kubeline_aws::executions::Executions;
use kubeline_aws::stacks::Stacks;
use kubeline_aws::store::ObjectStore;
use kubeline_pipeline::steps::{self, RenderOutput, Run, StartInput};
use kubeline_pipeline::{StepError, to_json};
use serde::Deserialize;
use serde_json::Value;

/// What the state machine asks.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// Validate the uploaded cluster.yaml and start the run.
    #[serde(rename_all = "camelCase")]
    Config {
        /// The EventBridge "Object Created" event's detail.
        detail: Value,
        /// The run id (execution name).
        run_id: String,
        /// The execution ARN.
        #[serde(default)]
        execution_arn: Option<String>,
    },
    /// Validate the rendered templates.
    Templates {
        /// The run.
        run: Run,
        /// The render.
        rendered: RenderOutput,
    },
}

/// The ports this function uses.
#[derive(Debug, Clone)]
pub struct Ports<S, C, D, X> {
    /// The installation bucket.
    pub store: S,
    /// CloudFormation.
    pub cfn: C,
    /// Route53.
    pub dns: D,
    /// Step Functions (one run per cluster at a time).
    pub sfn: X,
    /// The installation requires approval of every plan.
    pub require_approval: bool,
}

/// Handles one request.
pub async fn handler<S: ObjectStore, C: Stacks, D: Dns, X: Executions>(
    p: &Ports<S, C, D, X>,
    req: Request,
) -> Result<Value, StepError> {
    match req {
        Request::Config {
            detail,
            run_id,
            execution_arn,
        } => {
            let input = StartInput::from_event_detail(&detail, &run_id, execution_arn)?;
            to_json(steps::start(&p.store, &p.sfn, &p.cfn, &input, p.require_approval).await?)
        }
        Request::Templates { run, rendered } => {
            steps::check_templates(&p.store, &p.cfn, &p.dns, &run, &rendered).await
        }
    }
}
