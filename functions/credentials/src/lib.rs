//! The credentials Lambda's handler: brings the cluster's PKI, tokens and encryption key up to
//! date in the bucket, sealed with KMS; and the daily certificate rotation.

use kubeline_aws::kms::Kms;
use kubeline_aws::store::ObjectStore;
use kubeline_pipeline::StepError;
use kubeline_pipeline::steps::{
    self, CredentialsOutput, RotationItem, RotationResult, RotationSummary, Run,
};
use kubeline_pipeline::telemetry::Operation;
use serde::{Deserialize, Serialize};

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
        /// Each cluster's result.
        results: Vec<RotationResult>,
    },
}

impl Operation for Request {
    fn op(&self) -> &'static str {
        match self {
            Request::Issue { .. } => "issue",
            Request::RotationList => "rotation-list",
            Request::RotationRenew { .. } => "rotation-renew",
            Request::RotationSummary { .. } => "rotation-summary",
        }
    }
    fn run(&self) -> Option<(&str, &str)> {
        match self {
            Request::Issue { run } => Some((&run.cluster, &run.run_id)),
            Request::RotationRenew { cluster } => Some((cluster, "")),
            _ => None,
        }
    }
}

/// The clusters the rotation looks at.
#[derive(Debug, Clone, Serialize)]
pub struct RotationList {
    /// Each cluster's earliest expiry.
    pub clusters: Vec<RotationItem>,
}

/// What it answers.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Response {
    /// What the credentials step did.
    Issued(CredentialsOutput),
    /// Every cluster's expiry.
    Listed(RotationList),
    /// A renewal started.
    Renewed(RotationResult),
    /// The day's summary.
    Summary(RotationSummary),
}

/// The ports this function uses.
#[derive(Debug, Clone)]
pub struct Ports<S, K> {
    /// The installation bucket.
    pub store: S,
    /// KMS.
    pub kms: K,
}

/// The installation's settings this function reads.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Certificates expiring within this many days are renewed.
    pub renew_within_days: u32,
}

/// Handles one request.
pub async fn handler<S: ObjectStore, K: Kms>(
    p: &Ports<S, K>,
    settings: &Settings,
    req: Request,
) -> Result<Response, StepError> {
    let within = settings.renew_within_days;
    Ok(match req {
        Request::Issue { run } => {
            Response::Issued(steps::credentials(&p.store, &p.kms, &run, within).await?)
        }
        Request::RotationList => {
            let now = time::OffsetDateTime::now_utc();
            let clusters = steps::rotation_list(&p.store, within, now).await?;
            Response::Listed(RotationList { clusters })
        }
        Request::RotationRenew { cluster } => {
            Response::Renewed(steps::rotation_renew(&p.store, &cluster).await?)
        }
        Request::RotationSummary { results } => {
            Response::Summary(steps::rotation_summary(&results))
        }
    })
}
