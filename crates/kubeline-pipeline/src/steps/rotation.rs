//! Rotation: the daily certificate check lists every cluster's earliest expiry, starts a run
//! for each one inside the renewal window (by writing its cluster.yaml again), and summarises.

use kubeline_aws::store::ObjectStore;
use kubeline_core::errors::ErrorName;
use kubeline_core::pipeline::{Chat, ClusterKeys};
use serde::{Deserialize, Serialize};

use super::bucket::YAML;
use super::fail::StateError;
use crate::error::StepError;

/// A cluster's certificate expiry, for the daily rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RotationItem {
    /// Cluster name.
    pub cluster: String,
    /// A certificate expires within the window.
    pub due: bool,
    /// Days left of the earliest-expiring certificate.
    pub days_left: i64,
    /// That certificate's file.
    pub file: String,
}

/// How the rotation went for one cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RotationOutcome {
    /// A run renews its certificates.
    Renewed,
    /// Nothing is due.
    Fine,
    /// Starting the run failed.
    Failed,
}

/// One cluster's rotation (the Map iteration's output).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RotationResult {
    /// Cluster name.
    pub cluster: String,
    /// How it went.
    pub outcome: RotationOutcome,
    /// The cluster.yaml version written (renewed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_for: Option<String>,
    /// Why it failed (failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<StateError>,
}

/// The day's summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RotationSummary {
    /// Clusters a run renews.
    pub renewed: Vec<String>,
    /// Clusters with nothing due.
    pub fine: Vec<String>,
    /// Clusters whose renewal could not start.
    pub failed: Vec<String>,
    /// The chat message, as the SNS message text.
    pub notification: String,
}

#[cfg(feature = "pki")]
/// Rotation step 1: every cluster with credentials in the bucket and its earliest certificate
/// expiry at `now`; `due` when it is within `within_days`.
pub async fn rotation_list<S: ObjectStore>(
    store: &S,
    within_days: u32,
    now: time::OffsetDateTime,
) -> Result<Vec<RotationItem>, StepError> {
    // One delimited listing of the clusters, never a walk of their runs and assets.
    let clusters: Vec<String> = store
        .list_folders("clusters/")
        .await?
        .iter()
        .filter_map(|k| ClusterKeys::cluster_of(k).map(str::to_owned))
        .collect();
    let mut out = Vec::new();
    for cluster in clusters {
        let prefix = ClusterKeys::new(&cluster).credentials();
        // Certificates are stored in plain: no KMS call is needed to read their expiry.
        let (certs, _) =
            super::bucket::read_prefix(store, &prefix, |name| name.ends_with(".pem")).await?;
        if let Some((file, cert)) = kubeline_core::reconcile::earliest_certificate(&certs) {
            let days_left = cert.days_left(now);
            out.push(RotationItem {
                cluster,
                due: days_left <= i64::from(within_days),
                days_left,
                file,
            });
        }
    }
    Ok(out)
}

/// Rotation step 2 (for a due cluster): starts a run as an upload would, by writing the current
/// cluster.yaml again (a new version; the pipeline's credentials step renews what is inside the
/// window, and plan, approval and apply follow as usual).
pub async fn rotation_renew<S: ObjectStore>(
    store: &S,
    cluster: &str,
) -> Result<RotationResult, StepError> {
    let key = ClusterKeys::new(cluster).config();
    let object = store.get(&key, None).await?.ok_or_else(|| {
        StepError::new(
            ErrorName::ConfigMissing,
            format!(
                "{key} is gone: certificates of {cluster} cannot be renewed through the pipeline"
            ),
        )
    })?;
    let version = store.put(&key, object.bytes, YAML).await?;
    Ok(RotationResult {
        cluster: cluster.to_owned(),
        outcome: RotationOutcome::Renewed,
        run_for: version,
        error: None,
    })
}

/// Rotation step 3: the day's summary as a chat message.
pub fn rotation_summary(results: &[RotationResult]) -> RotationSummary {
    let pick = |o: RotationOutcome| -> Vec<String> {
        results
            .iter()
            .filter(|r| r.outcome == o)
            .map(|r| r.cluster.clone())
            .collect()
    };
    let renewed = pick(RotationOutcome::Renewed);
    let fine = pick(RotationOutcome::Fine);
    let failed = pick(RotationOutcome::Failed);
    let chat = Chat::daily(
        "rotation",
        "Rotation",
        format!(
            "kubeline: certificate rotation: {} renewed, {} fine, {} failed",
            renewed.len(),
            fine.len(),
            failed.len()
        ),
        format!(
            "renewed (a run applies the new certificates): {}\nfine: {}\nfailed: {}",
            list_or_none(&renewed),
            list_or_none(&fine),
            list_or_none(&failed)
        ),
    );
    RotationSummary {
        renewed,
        fine,
        failed,
        notification: chat.to_json().to_string(),
    }
}

pub(crate) fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}
