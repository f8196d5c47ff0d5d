//! The steps of a run, one module each, in state-machine order: start (load and validate the
//! pinned cluster.yaml), credentials, render, check templates, plan, approval, apply (a
//! reconciler the state machine calls until it says done) and fail (records any error); then
//! destroy, and the daily rotation and drift checks. Each step reads what it needs, calls a pure
//! decision ([`crate::decide`]) and writes what it says; the state machine passes only the
//! small typed records defined here between steps.

mod apply;
mod approval;
mod bucket;
mod changesets;
mod check;
#[cfg(feature = "pki")]
mod credentials;
mod deleted;
// Destroy falls back to the team's current upload, which it checks with `validate::load`.
#[cfg(feature = "schema")]
mod destroy;
mod drift;
mod fail;
mod plan;
#[cfg(feature = "render")]
mod render;
mod request;
mod restore;
mod rotation;
mod snapshot;
#[cfg(feature = "schema")]
mod start;

use std::collections::BTreeMap;

use kubeline_core::model::Approval;
use kubeline_core::pipeline::{ClusterKeys, RunKeys};
use serde::{Deserialize, Serialize};

pub use self::apply::{ApplySettings, apply};
pub use self::approval::{ApprovalOutput, approval_request, await_approval};
pub use self::check::{CheckOutput, check_templates};
#[cfg(feature = "pki")]
pub use self::credentials::{CredentialsOutput, credentials};
pub use self::deleted::{ConfigDeletedOutput, config_deleted, deleted_cluster};
#[cfg(feature = "schema")]
pub use self::destroy::{DestroyPlan, destroy_advance, destroy_check};
pub use self::drift::{
    DriftCheck, DriftItem, DriftSummary, drift_check, drift_list, drift_start, drift_summary,
};
pub use self::fail::{FailInput, FailOutput, StateError, fail};
pub use self::plan::{PlanOutput, plan};
#[cfg(feature = "render")]
pub use self::render::render;
pub use self::request::{EventBucket, EventDetail, EventObject, StartInput};
pub use self::restore::{RestorePlan, RestoreRecord, restore_check, restore_start};
#[cfg(feature = "pki")]
pub use self::rotation::rotation_list;
pub use self::rotation::{
    RotationItem, RotationOutcome, RotationResult, RotationSummary, rotation_renew,
    rotation_summary,
};
pub use self::snapshot::{SnapshotProgress, SnapshotRecord, snapshot_check, snapshot_request};
#[cfg(feature = "schema")]
pub use self::start::{StartSettings, start};

/// What every later step gets: which run of which cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    /// Cluster name.
    pub cluster: String,
    /// Run id.
    pub run_id: String,
    /// Installation bucket.
    pub bucket: String,
    /// Pinned cluster.yaml version.
    #[serde(default)]
    pub config_version: Option<String>,
    /// Whether the plan waits for an approval file.
    pub approval: Approval,
    /// Execution ARN.
    #[serde(default)]
    pub execution_arn: Option<String>,
    /// When the run started.
    pub started_at: String,
    /// The Kubernetes version change the run makes (decided at Start, against the deployed
    /// control plane; shown in the plan and chat).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<Box<kubeline_core::pipeline::Upgrade>>,
}

impl Run {
    /// The cluster's keys.
    pub fn keys(&self) -> ClusterKeys {
        ClusterKeys::new(&self.cluster)
    }

    /// This run's records.
    pub fn records(&self) -> RunKeys {
        self.keys().run(&self.run_id)
    }

    /// The change set name of this run for `stack` (CloudFormation: a letter first, then
    /// letters, digits and `-`, at most 128). Unique per stack, which keeps emulators that
    /// look change sets up by name alone right.
    pub fn change_set_name(&self, stack: &str) -> String {
        let clean = |s: &str, n: usize| -> String {
            s.chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .take(n)
                .collect()
        };
        format!("kubeline-{}-{}", clean(&self.run_id, 60), clean(stack, 60))
    }

    fn status_writer(&self) -> crate::decide::status::Writer<'_> {
        crate::decide::status::Writer {
            cluster: &self.cluster,
            run_id: &self.run_id,
            started_at: &self.started_at,
            execution_arn: self.execution_arn.as_deref(),
            config_version: self.config_version.as_deref(),
        }
    }
}

/// Where a reconciler loop is (apply, destroy): done, or which stacks are being worked on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// Every stack is done.
    pub done: bool,
    /// The stacks being worked on, when not done.
    #[serde(default)]
    pub in_progress: Vec<String>,
    /// The chat message to publish (when done), as the SNS message text.
    #[serde(default)]
    pub notification: Option<String>,
}

impl Progress {
    fn working(stacks: Vec<String>) -> Progress {
        Progress {
            done: false,
            in_progress: stacks,
            notification: None,
        }
    }
}

/// A chat message to publish, as the SNS message text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// The message.
    pub notification: String,
}

/// One stack of a render, for the later steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenderedStack {
    /// Stack name.
    pub name: String,
    /// Key of its template in the bucket.
    pub template_key: String,
    /// Stacks it imports from.
    pub depends_on: Vec<String>,
    /// Stack tags.
    pub tags: BTreeMap<String, String>,
    /// Over 51,200 bytes: passed by URL.
    pub needs_template_url: bool,
    /// Its rollout wave (node pools; see `worker.nodePoolRollingStrategy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_wave: Option<u32>,
    /// The parameters the pipeline supplies that its template declares
    /// ([`kubeline_core::pipeline::PIPELINE_PARAMETERS`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<String>,
}

/// What the render step produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenderOutput {
    /// `clusters/<name>/assets/<hash>/`.
    pub assets: String,
    /// Stacks in apply order.
    pub stacks: Vec<RenderedStack>,
    /// The add-on set the render deploys (its manifest's `addons`).
    #[serde(default)]
    pub addons: Vec<kubeline_core::pipeline::AddonVersion>,
}

impl RenderOutput {
    /// The render's manifest (`manifest.json`: stacks, uploads, add-on set).
    pub fn manifest_key(&self) -> String {
        format!("{}manifest.json", self.assets)
    }
}
