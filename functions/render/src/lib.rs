//! The render Lambda's handler: renders the run's cluster into the bucket (node configs
//! content-addressed, stack templates under `assets/<hash>/`).

use kubeline_aws::store::ObjectStore;
use kubeline_pipeline::steps::{self, Run};
use kubeline_pipeline::{StepError, to_json};
use serde::Deserialize;
use serde_json::Value;

/// What the state machine asks.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// Render and upload.
    Render {
        /// The run.
        run: Run,
    },
}

/// The ports this function uses.
#[derive(Debug, Clone)]
pub struct Ports<S> {
    /// The installation bucket.
    pub store: S,
}

/// Handles one request.
pub async fn handler<S: ObjectStore>(p: &Ports<S>, req: Request) -> Result<Value, StepError> {
    match req {
        Request::Render { run } => to_json(steps::render(&p.store, &run).await?),
    }
}
