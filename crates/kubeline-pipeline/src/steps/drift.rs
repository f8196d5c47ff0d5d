//! Drift: the daily check starts drift detection on every deployed stack, records what drifted
//! in status.json (nothing is changed in the cluster) and summarises the day.

use std::collections::BTreeMap;

use kubeline_aws::stacks::Stacks;
use kubeline_aws::store::ObjectStore;
use kubeline_core::errors::ErrorName;
use kubeline_core::pipeline::cfn::{DriftDetectionStatus, StackDriftStatus};
use kubeline_core::pipeline::{Chat, ClusterKeys, DriftReport, Phase, Status};
use serde::{Deserialize, Serialize};

use super::bucket::{get_json, put_json, status_of, timestamp};
use super::fail::StateError;
use crate::error::StepError;

/// A cluster whose stacks the daily drift check looks at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftItem {
    /// Cluster name.
    pub cluster: String,
    /// Its stacks.
    pub stacks: Vec<String>,
    /// Drift detection ids by stack, once started.
    #[serde(default)]
    pub detections: BTreeMap<String, String>,
}

/// What [`drift_check`] says; once `done`, also a cluster's result for the summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftCheck {
    /// Every detection is complete.
    #[serde(default)]
    pub done: bool,
    /// The item to check again (not done).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<DriftItem>,
    /// Cluster name.
    pub cluster: String,
    /// Drifted resources.
    #[serde(default)]
    pub drifted: usize,
    /// What drifted (done).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<DriftReport>,
    /// The check failed (set by the state machine's Catch).
    #[serde(default)]
    pub failed: bool,
    /// Why (set by the state machine's Catch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<StateError>,
}

/// The day's summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftSummary {
    /// Clusters with drifted resources.
    pub drifted: usize,
    /// The chat message, as the SNS message text.
    pub notification: String,
}

/// Drift step 1: every cluster with deployed stacks (from status.json).
pub async fn drift_list<S: ObjectStore>(store: &S) -> Result<Vec<DriftItem>, StepError> {
    let mut out = Vec::new();
    // One delimited listing of the clusters, never a walk of their runs and assets.
    for folder in store.list_folders("clusters/").await? {
        let key = format!("{folder}status.json");
        let Some(status) = get_json::<_, Status>(store, &key).await? else {
            continue;
        };
        if !status.stacks.is_empty() && status.phase != Phase::Destroyed {
            out.push(DriftItem {
                cluster: status.cluster,
                stacks: status.stacks.into_iter().map(|s| s.name).collect(),
                detections: BTreeMap::new(),
            });
        }
    }
    Ok(out)
}

/// Drift step 2: starts drift detection on each of the cluster's stacks.
pub async fn drift_start<C: Stacks>(cfn: &C, item: &DriftItem) -> Result<DriftItem, StepError> {
    let mut started = item.clone();
    for stack in &item.stacks {
        let id = cfn.detect_drift(stack).await?;
        started.detections.insert(stack.clone(), id);
    }
    Ok(started)
}

/// Drift step 3 (called in a Wait/Choice loop until `done`): when every detection is complete,
/// records the drifted resources in status.json; nothing is changed in the cluster.
pub async fn drift_check<S: ObjectStore, C: Stacks>(
    store: &S,
    cfn: &C,
    item: &DriftItem,
) -> Result<DriftCheck, StepError> {
    let mut drifted = BTreeMap::new();
    for (stack, id) in &item.detections {
        let d = cfn.drift_detection(id).await?;
        match d.status {
            DriftDetectionStatus::InProgress => {
                return Ok(DriftCheck {
                    done: false,
                    item: Some(item.clone()),
                    cluster: item.cluster.clone(),
                    drifted: 0,
                    report: None,
                    failed: false,
                    error: None,
                });
            }
            DriftDetectionStatus::Failed if d.stack_drift_status.is_none() => {
                return Err(StepError::new(
                    ErrorName::AwsRequestInvalid,
                    format!(
                        "drift detection of {stack} failed: {}",
                        d.reason.unwrap_or_default()
                    ),
                ));
            }
            _ => {}
        }
        if d.stack_drift_status != Some(StackDriftStatus::InSync) {
            let resources = cfn.drifted_resources(stack).await?;
            if !resources.is_empty() {
                drifted.insert(stack.clone(), resources);
            }
        }
    }
    let report = DriftReport {
        checked_at: timestamp(),
        drifted,
    };
    if let Some(mut status) = status_of(store, &item.cluster).await? {
        status.drift = Some(report.clone());
        status.updated_at = timestamp();
        put_json(store, &ClusterKeys::new(&item.cluster).status(), &status).await?;
    }
    Ok(DriftCheck {
        done: true,
        item: None,
        cluster: item.cluster.clone(),
        drifted: report.drifted.values().map(Vec::len).sum(),
        report: Some(report),
        failed: false,
        error: None,
    })
}

/// Drift step 4: the day's summary as a chat message (drifted resources named; nothing changed).
pub fn drift_summary(results: &[DriftCheck]) -> DriftSummary {
    let drifted: Vec<&DriftCheck> = results.iter().filter(|r| r.drifted > 0).collect();
    let mut d = String::new();
    for r in &drifted {
        d.push_str(&format!("**{}**\n", r.cluster));
        for (stack, resources) in r.report.iter().flat_map(|rep| &rep.drifted) {
            for res in resources {
                d.push_str(&format!(
                    "- {stack}: {} ({}) {}\n",
                    res.logical_id, res.resource_type, res.drift_status
                ));
            }
        }
    }
    if d.is_empty() {
        d = "Every stack matches its template.".into();
    } else {
        d.push_str("\nNothing was changed: upload cluster.yaml again to put the stacks back, or change cluster.yaml to keep the change.");
    }
    let chat = Chat::daily(
        "drift",
        "Drift",
        format!(
            "kubeline: drift check: {} of {} clusters drifted",
            drifted.len(),
            results.len()
        ),
        d,
    );
    DriftSummary {
        drifted: drifted.len(),
        notification: chat.to_json().to_string(),
    }
}
