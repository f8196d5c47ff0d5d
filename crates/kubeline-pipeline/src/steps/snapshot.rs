//! The etcd snapshot before a run's changes: the request the etcd members poll for, then one
//! look per round of the state machine's Wait/Choice loop for a snapshot taken after it
//! ([`kubeline_core::pipeline::snapshot_wait`] decides).

use kubeline_aws::store::ObjectStore;
use kubeline_core::errors::ErrorName;
use kubeline_core::pipeline::{
    Phase, SNAPSHOT_WAIT_MINUTES, SnapshotRequest, SnapshotWait, key_time, snapshot_listings,
    snapshot_wait,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::Run;
use super::bucket::{get_text, put_json, set_status};
use crate::error::StepError;

/// Where the wait for the snapshot is, passed from one round to the next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotProgress {
    /// When the run asked (`YYYYMMDDTHHMMSSZ`).
    pub requested_at: String,
    /// When it stops waiting (same format).
    pub deadline: String,
    /// A snapshot taken after the request exists.
    pub taken: bool,
    /// Its key, once taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// The record of the snapshot a run took before its changes (`runs/<id>/etcd-snapshot.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotRecord {
    /// The snapshot's key.
    pub key: String,
    /// When the run asked for it.
    pub requested_at: String,
}

/// Asks the etcd members for a snapshot: writes the request they poll for (encrypted with
/// SSE-S3, as every object nodes read is) and starts the wait.
pub async fn snapshot_request<S: ObjectStore>(
    store: &S,
    run: &Run,
) -> Result<SnapshotProgress, StepError> {
    let now = OffsetDateTime::now_utc();
    let deadline = key_time(now + time::Duration::minutes(SNAPSHOT_WAIT_MINUTES));
    let key = run.keys().etcd_snapshot_request();
    // A retried step keeps this run's request as it is: a member that answered it must not
    // see a new request time its snapshot predates.
    let existing = get_text(store, &key)
        .await?
        .and_then(|t| SnapshotRequest::parse(&t))
        .filter(|r| r.run_id == run.run_id);
    let requested_at = match existing {
        Some(r) => r.requested_at,
        None => {
            let requested_at = key_time(now);
            let request = SnapshotRequest {
                run_id: run.run_id.clone(),
                requested_at: requested_at.clone(),
            };
            store
                .put_node_object(&key, request.to_env().into_bytes(), "text/plain", false)
                .await?;
            requested_at
        }
    };
    set_status(store, run, Phase::Applying, |_| {}).await?;
    tracing::info!(requested_at, "asked the etcd members for a snapshot");
    Ok(SnapshotProgress {
        requested_at,
        deadline,
        taken: false,
        key: None,
    })
}

/// One look for the requested snapshot: taken (recorded in the run and status.json, the
/// request removed), not yet, or too late (the run fails before it changes anything).
pub async fn snapshot_check<S: ObjectStore>(
    store: &S,
    run: &Run,
    progress: &SnapshotProgress,
) -> Result<SnapshotProgress, StepError> {
    let now = key_time(OffsetDateTime::now_utc());
    let keys = run.keys();
    let prefix = keys.etcd_snapshots();
    let mut found = Vec::new();
    for listing in snapshot_listings(&prefix, &progress.requested_at, &now) {
        found.extend(store.list(&listing).await?);
    }
    match snapshot_wait(
        &prefix,
        &progress.requested_at,
        &progress.deadline,
        &now,
        &found,
    ) {
        SnapshotWait::Waiting => Ok(progress.clone()),
        SnapshotWait::TimedOut => Err(StepError::new(
            ErrorName::EtcdSnapshotTimedOut,
            format!(
                "no etcd member uploaded a snapshot to {prefix} within {SNAPSHOT_WAIT_MINUTES} minutes of the request ({}, at {}); nothing was changed. On an etcd node, `journalctl -u etcd-snapshot-request.service` says why (no leader, no quorum, S3 or KMS access); fix that, or take a snapshot by hand (docs/etcd-backup.md), and upload cluster.yaml again",
                keys.etcd_snapshot_request(),
                progress.requested_at
            ),
        )),
        SnapshotWait::Taken(key) => {
            let record = SnapshotRecord {
                key: key.clone(),
                requested_at: progress.requested_at.clone(),
            };
            put_json(store, &run.records().etcd_snapshot(), &record).await?;
            set_status(store, run, Phase::Applying, |s| {
                s.etcd_snapshot = Some(key.clone());
            })
            .await?;
            store.delete(&keys.etcd_snapshot_request()).await?;
            tracing::info!(key, "the etcd snapshot before the changes is taken");
            Ok(SnapshotProgress {
                taken: true,
                key: Some(key),
                ..progress.clone()
            })
        }
    }
}
