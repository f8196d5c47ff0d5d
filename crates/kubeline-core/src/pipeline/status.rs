//! `status.json`: where a cluster's run is, what is deployed, and the last error and drift check.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::plan::{AddonChange, AddonVersion};

/// Where a cluster's run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Checking cluster.yaml, issuing credentials, rendering, checking templates.
    Preparing,
    /// Creating change sets.
    Planning,
    /// Waiting for an approval file.
    AwaitingApproval,
    /// Executing change sets.
    Applying,
    /// Every stack is up to date.
    Succeeded,
    /// The plan had no changes; nothing was touched.
    NoChanges,
    /// The run failed; see `lastError`.
    Failed,
    /// The plan was rejected.
    Rejected,
    /// Deleting stacks.
    Destroying,
    /// Every stack is deleted.
    Destroyed,
    /// Rebuilding etcd from a snapshot (a restore request).
    Restoring,
    /// etcd is restored from a snapshot and healthy.
    Restored,
}

impl Phase {
    /// Whether a run in this phase has ended.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Phase::Succeeded
                | Phase::NoChanges
                | Phase::Failed
                | Phase::Rejected
                | Phase::Destroyed
                | Phase::Restored
        )
    }
}

/// Where an etcd restore run is, in `status.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreProgress {
    /// The snapshot every member restores from.
    pub snapshot: String,
    /// The members that take part.
    pub members: Vec<String>,
    /// How many reported their data restored.
    pub restored: usize,
    /// How many reported the restored cluster healthy.
    pub healthy: usize,
}

/// One stack in `status.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StackState {
    /// Stack name.
    pub name: String,
    /// CloudFormation status (`CREATE_COMPLETE`, ...), or `NOT_CREATED`.
    pub status: String,
    /// Its outputs.
    #[serde(default)]
    pub outputs: BTreeMap<String, String>,
}

/// A node group being rolled, as status.json and chat show it: the newest event of its Auto
/// Scaling group in the stack's events (CloudFormation reports each step of a rolling update
/// there: instances launched, signals received, instances terminated).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutProgress {
    /// Stack.
    pub stack: String,
    /// The group's logical ID (`AutoScalingGroup`, `Member0AutoScalingGroup`, ...).
    pub group: String,
    /// Its resource status (`UPDATE_IN_PROGRESS`, ...).
    pub status: String,
    /// What CloudFormation last said about it.
    pub reason: String,
    /// When (RFC 3339).
    pub at: String,
}

/// The error that ended a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunError {
    /// Stable error name (the state machine's).
    pub error: String,
    /// What happened and how to fix it.
    pub cause: String,
}

/// The earliest-expiring certificate, for `status.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateSummary {
    /// Its file.
    pub file: String,
    /// Its end, RFC 3339.
    pub not_after: String,
    /// Days left.
    pub days_left: i64,
}

/// A resource that differs from its template (CloudFormation drift detection).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftedResource {
    /// Logical ID.
    pub logical_id: String,
    /// Type.
    pub resource_type: String,
    /// `MODIFIED` or `DELETED`.
    pub drift_status: String,
    /// The differing properties (`path: expected → actual`).
    pub differences: Vec<String>,
}

/// The last drift check of a cluster's stacks, in `status.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftReport {
    /// When it was checked (RFC 3339).
    pub checked_at: String,
    /// Drifted resources by stack (empty: everything is in sync).
    pub drifted: BTreeMap<String, Vec<DriftedResource>>,
}

/// `clusters/<name>/status.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// Cluster name.
    pub cluster: String,
    /// Where the run is.
    pub phase: Phase,
    /// The run (its execution name).
    pub run_id: String,
    /// The Step Functions execution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_arn: Option<String>,
    /// The cluster.yaml object version the run was started for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_version: Option<String>,
    /// Stacks in apply order.
    #[serde(default)]
    pub stacks: Vec<StackState>,
    /// The API endpoint (DNS name), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_endpoint: Option<String>,
    /// Earliest certificate expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificates: Option<CertificateSummary>,
    /// Counts of the plan's resource actions.
    #[serde(default)]
    pub plan: BTreeMap<String, usize>,
    /// The add-on set of the last successful apply (`None` before the first one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addons: Option<Vec<AddonVersion>>,
    /// How the running plan changes it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addon_changes: Vec<AddonChange>,
    /// The node groups being rolled while the run applies (empty otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rollout: Vec<RolloutProgress>,
    /// The etcd snapshot taken before this run's changes (its key), once there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etcd_snapshot: Option<String>,
    /// Where an etcd restore run is (restore runs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etcd_restore: Option<RestoreProgress>,
    /// When the run started (RFC 3339).
    pub started_at: String,
    /// When this status was written (RFC 3339).
    pub updated_at: String,
    /// What ended the run, if it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<RunError>,
    /// The last daily drift check (nothing is changed because of it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<DriftReport>,
}
