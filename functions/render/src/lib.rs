//! The render Lambda's handler: renders the run's cluster into the bucket (node configs
//! content-addressed, stack templates under `assets/<hash>/`).

use kubeline_aws::store::ObjectStore;
use kubeline_core::types::Region;
use kubeline_pipeline::StepError;
use kubeline_pipeline::steps::{self, RenderOutput, Run};
use kubeline_pipeline::telemetry::Operation;
use serde::Deserialize;

/// What the state machine asks.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// Render the run's cluster.
    Render {
        /// The run.
        run: Run,
    },
}

impl Operation for Request {
    fn op(&self) -> &'static str {
        "render"
    }
    fn run(&self) -> Option<(&str, &str)> {
        let Request::Render { run } = self;
        Some((&run.cluster, &run.run_id))
    }
}

/// The ports this function uses.
#[derive(Debug, Clone)]
pub struct Ports<S> {
    /// The installation bucket.
    pub store: S,
    /// Its region (the function's), where the service-account issuer is served from.
    pub bucket_region: Option<Region>,
}

/// Handles one request.
pub async fn handler<S: ObjectStore>(
    p: &Ports<S>,
    req: Request,
) -> Result<RenderOutput, StepError> {
    match req {
        Request::Render { run } => steps::render(&p.store, &run, p.bucket_region.as_ref()).await,
    }
}
