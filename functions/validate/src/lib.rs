//! The validate Lambda's handler: `config` checks the uploaded cluster.yaml and starts the run;
//! `templates` checks the rendered stacks with CloudFormation and the hosted zones.

use kubeline_aws::dns::Dns;
use kubeline_aws::executions::Executions;
use kubeline_aws::networks::Networks;
use kubeline_aws::notify::Notifier;
use kubeline_aws::stacks::Stacks;
use kubeline_aws::store::ObjectStore;
use kubeline_pipeline::StepError;
use kubeline_pipeline::steps::{
    self, CheckOutput, ConfigDeletedOutput, EventDetail, RenderOutput, Run, StartInput,
    StartSettings,
};
use kubeline_pipeline::telemetry::Operation;
use serde::{Deserialize, Serialize};

/// What the state machine asks.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// Check the uploaded cluster.yaml and start the run.
    #[serde(rename_all = "camelCase")]
    Config {
        /// The EventBridge event's `detail` (bucket and object).
        detail: EventDetail,
        /// The execution name.
        run_id: String,
        /// The execution ARN.
        #[serde(default)]
        execution_arn: Option<String>,
    },
    /// A cluster.yaml was deleted (the EventBridge rule's input): tell the chat that nothing
    /// was destroyed.
    ConfigDeleted {
        /// `detail.object.key`.
        key: String,
    },
    /// Check the rendered templates.
    Templates {
        /// The run.
        run: Run,
        /// The render.
        rendered: RenderOutput,
    },
}

impl Operation for Request {
    fn op(&self) -> &'static str {
        match self {
            Request::Config { .. } => "config",
            Request::ConfigDeleted { .. } => "config-deleted",
            Request::Templates { .. } => "templates",
        }
    }
    fn run(&self) -> Option<(&str, &str)> {
        match self {
            Request::Config { run_id, .. } => Some(("", run_id)),
            Request::ConfigDeleted { .. } => None,
            Request::Templates { run, .. } => Some((&run.cluster, &run.run_id)),
        }
    }
}

/// What it answers.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Response {
    /// The run (config).
    Run(Run),
    /// Whether the chat was told (config-deleted).
    Deleted(ConfigDeletedOutput),
    /// What was checked (templates).
    Checked(CheckOutput),
}

/// The ports this function uses.
#[derive(Debug, Clone)]
pub struct Ports<S, C, D, X, N, M> {
    /// The installation bucket.
    pub store: S,
    /// CloudFormation.
    pub cfn: C,
    /// Route 53.
    pub dns: D,
    /// Step Functions (the turn of runs).
    pub sfn: X,
    /// EC2 (the tags of existing VPCs and subnets).
    pub net: N,
    /// The chat topic.
    pub chat: M,
}

/// The installation's settings this function reads (its deploy parameters).
pub type Settings = StartSettings;

/// Handles one request.
pub async fn handler<S: ObjectStore, C: Stacks, D: Dns, X: Executions, N: Networks, M: Notifier>(
    p: &Ports<S, C, D, X, N, M>,
    settings: &Settings,
    req: Request,
) -> Result<Response, StepError> {
    match req {
        Request::Config {
            detail,
            run_id,
            execution_arn,
        } => {
            let input = StartInput::from_event(detail, &run_id, execution_arn);
            let run = steps::start(&p.store, &p.sfn, &p.cfn, &p.net, &input, settings);
            Ok(Response::Run(run.await?))
        }
        Request::ConfigDeleted { key } => Ok(Response::Deleted(
            steps::config_deleted(&p.chat, &key).await?,
        )),
        Request::Templates { run, rendered } => {
            let checked = steps::check_templates(&p.store, &p.cfn, &p.dns, &run, &rendered);
            Ok(Response::Checked(checked.await?))
        }
    }
}
