//! The credentials Lambda's handler: brings the cluster's PKI, tokens and encryption key up to
//! date in the bucket, sealed with KMS.

use kubeline_aws::kms::Kms;
use kubeline_aws::store::ObjectStore;
use kubeline_pipeline::steps::{self, Run};
use kubeline_pipeline::{StepError, to_json};
use serde::Deserialize;
use serde_json::Value;

/// What the state machine asks.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// Create what is missing, keep what is valid, renew what expires.
    Issue {
        /// The run.
        run: Run,
    },
    /// Daily rotation: every cluster's earliest certificate expiry.
    RotationList,
    /// Daily rotation: start a run for a cluster with certificates in the window.
    RotationRenew {
        /// Cluster name.
        cluster: String,
    },
    /// Daily rotation: the summary notification.
    RotationSummary {
        /// Each cluster's `{cluster, outcome}`.
        results: Vec<Value>,
    },
}

/// The ports this function uses.
#[derive(Debug, Clone)]
pub struct Ports<S, K> {
    /// The installation bucket.
    pub store: S,
    /// KMS.
    pub kms: K,
    /// Certificates expiring within this many days are renewed.
    pub renew_within_days: u32,
}

/// Handles one request.
pub async fn handler<S: ObjectStore, K: Kms>(
    p: &Ports<S, K>,
    req: Request,
) -> Result<Value, StepError> {
    match req {
        Request::Issue { run } => {
            steps::credentials(&p.store, &p.kms, &run, p.renew_within_days).await
        }
        Request::RotationList => {
            let items = steps::rotation_list(&p.store, p.renew_within_days).await?;
            to_json(serde_json::json!({ "clusters": items }))
        }
        Request::RotationRenew { cluster } => steps::rotation_renew(&p.store, &cluster).await,
        Request::RotationSummary { results } => Ok(steps::rotation_summary(&results)),
    }
}
