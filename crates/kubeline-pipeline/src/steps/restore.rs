//! etcd restore: a confirmed request (`clusters/<name>/restore-etcd.yaml`) writes the order the
//! etcd members and controllers poll for, then one look per round of the state machine's
//! Wait/Choice loop at the members' reports ([`kubeline_core::pipeline::restore_wait`]
//! decides). The order is deleted when the run ends, whichever way; the controllers then start
//! their control plane again.

use kubeline_aws::executions::Executions;
use kubeline_aws::stacks::Stacks;
use kubeline_aws::store::ObjectStore;
use kubeline_core::cluster::stack_name;
use kubeline_core::errors::ErrorName;
use kubeline_core::pipeline::{
    Chat, MemberRestoreRequest, Outcome, Phase, RESTORE_HOLD_SECONDS, RESTORE_ON_REQUEST_OUTPUT,
    RESTORE_WAIT_MINUTES, RestoreProgress, RestoreWait, Route, RunResult, check_restore, key_time,
    restore_members, restore_wait,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::bucket::{get_text, put_json, set_status, take_request, timestamp};
use super::request::{exact_key, take_turn};
use super::{Run, StartInput};
use crate::error::StepError;

/// A restore run, passed from one round of the loop to the next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestorePlan {
    /// The run.
    pub run: Run,
    /// The order the members carry out.
    pub order: MemberRestoreRequest,
    /// When the run stops waiting (`YYYYMMDDTHHMMSSZ`).
    pub deadline: String,
    /// Members that reported their data restored.
    pub restored: usize,
    /// Members that reported the restored cluster healthy.
    pub healthy: usize,
    /// Every member is restored and healthy.
    pub done: bool,
    /// The chat message to publish at this point (start and end), as the SNS message text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification: Option<String>,
}

impl RestorePlan {
    fn progress(&self) -> RestoreProgress {
        RestoreProgress {
            snapshot: self.order.snapshot.clone(),
            members: self.order.members.clone(),
            restored: self.restored,
            healthy: self.healthy,
        }
    }
}

/// What a restore run records (`runs/<id>/etcd-restore.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreRecord {
    /// The order the members carried out.
    pub order: MemberRestoreRequest,
    /// The members' reports (keys) when the run ended.
    pub reports: Vec<String>,
}

fn unavailable(why: String) -> StepError {
    StepError::new(ErrorName::EtcdRestoreUnavailable, why)
}

/// Restore step 1: waits its turn; only a request that confirms the cluster and names one of
/// its snapshots proceeds, and only when the deployed etcd members answer restore orders. Then
/// writes the order (SSE-S3, as every object nodes read) and records the run.
pub async fn restore_start<S: ObjectStore, C: Stacks, X: Executions>(
    store: &S,
    cfn: &C,
    sfn: &X,
    input: &StartInput,
) -> Result<RestorePlan, StepError> {
    exact_key(Route::StartRestore, &input.key, "restore-etcd.yaml")?;
    let run = Run::for_request(input)?;
    // One run per uploaded request: a replayed event must never restore a second time.
    super::request::claim_version(store, &run.cluster, input).await?;
    take_turn(store, sfn, &run.cluster, &run.run_id).await?;
    let keys = run.keys();
    let text = take_request(
        store,
        input,
        &run.records().restore_request(),
        ErrorName::RestoreNotConfirmed,
        "restored",
    )
    .await?;
    let request = check_restore(&text, &run.cluster, &keys.etcd_snapshots()).map_err(|e| {
        StepError::new(
            ErrorName::RestoreNotConfirmed,
            format!("{}: {e}; nothing is restored", input.key),
        )
    })?;
    if !store
        .list(&request.snapshot)
        .await?
        .contains(&request.snapshot)
    {
        return Err(unavailable(format!(
            "{}: snapshot {} does not exist; nothing is restored (list the snapshots with `aws s3 ls s3://{}/{}`)",
            input.key,
            request.snapshot,
            run.bucket,
            keys.etcd_snapshots()
        )));
    }
    let etcd = stack_name(&run.cluster, "etcd");
    let info = cfn.describe_stack(&etcd).await?.ok_or_else(|| {
        unavailable(format!(
            "{}: cluster {} has no etcd stack ({etcd}); there is nothing to restore",
            input.key, run.cluster
        ))
    })?;
    super::changesets::owned(Some(&info), &run.cluster)?;
    let members = restore_members(
        info.outputs
            .get(RESTORE_ON_REQUEST_OUTPUT)
            .map(String::as_str),
    );
    if members.is_empty() {
        return Err(unavailable(format!(
            "{}: the deployed etcd members do not answer restore orders ({etcd} has no {RESTORE_ON_REQUEST_OUTPUT} output: they predate the feature); upload cluster.yaml to roll them to this version first, or restore by hand (docs/etcd-backup.md, the runbook)",
            input.key
        )));
    }
    let now = OffsetDateTime::now_utc();
    let order_key = keys.etcd_restore_request();
    // A retried step keeps this run's order as it is (its time decides when members act).
    let existing = get_text(store, &order_key)
        .await?
        .and_then(|t| MemberRestoreRequest::parse(&t))
        .filter(|o| o.run_id == run.run_id);
    let order = match existing {
        Some(o) => o,
        None => {
            let order = MemberRestoreRequest {
                run_id: run.run_id.clone(),
                requested_at: key_time(now),
                snapshot: request.snapshot.clone(),
                members,
            };
            store
                .put_node_object(&order_key, order.to_env().into_bytes(), "text/plain", false)
                .await?;
            order
        }
    };
    let deadline = key_time(
        now + time::Duration::minutes(RESTORE_WAIT_MINUTES)
            + time::Duration::seconds(RESTORE_HOLD_SECONDS),
    );
    let plan = RestorePlan {
        notification: Some(
            Chat::restore_started(&run.cluster, &run.run_id, &order.snapshot, &order.members)
                .to_json()
                .to_string(),
        ),
        run,
        order,
        deadline,
        restored: 0,
        healthy: 0,
        done: false,
    };
    let progress = plan.progress();
    set_status(store, &plan.run, Phase::Restoring, |s| {
        s.etcd_restore = Some(progress)
    })
    .await?;
    tracing::info!(
        snapshot = plan.order.snapshot,
        members = plan.order.members.join(","),
        "ordered the etcd members to restore"
    );
    Ok(plan)
}

/// Restore step 2, called in a Wait/Choice loop: one look at the members' reports. Done (the
/// order deleted, the run recorded), not yet, or failed (the order deleted; the error names
/// the member and its reason).
pub async fn restore_check<S: ObjectStore>(
    store: &S,
    plan: &RestorePlan,
) -> Result<RestorePlan, StepError> {
    let run = &plan.run;
    let keys = run.keys();
    let reports_prefix = keys.etcd_restore_run_reports(&run.run_id);
    let reports = store.list(&reports_prefix).await?;
    let now = key_time(OffsetDateTime::now_utc());
    let decision = restore_wait(
        &reports_prefix,
        &plan.order.members,
        &plan.deadline,
        &now,
        &reports,
    );
    match decision {
        RestoreWait::Waiting { restored, healthy } => {
            let next = RestorePlan {
                restored,
                healthy,
                notification: None,
                ..plan.clone()
            };
            if (restored, healthy) != (plan.restored, plan.healthy) {
                let progress = next.progress();
                set_status(store, run, Phase::Restoring, |s| {
                    s.etcd_restore = Some(progress)
                })
                .await?;
            }
            Ok(next)
        }
        RestoreWait::Failed { member, report } => {
            let why = get_text(store, &report).await?.unwrap_or_default();
            let why = why.trim();
            close_order(store, plan, &reports).await?;
            Err(StepError::new(
                ErrorName::EtcdRestoreFailed,
                format!(
                    "etcd member {member} could not restore from {}: {}. The order is withdrawn and the controllers start their control plane again; members that restored keep the restored data. Fix the cause (on {member}: `journalctl -u etcd-restore-request.service`) and upload the restore request again: every member restores again from the snapshot",
                    plan.order.snapshot,
                    if why.is_empty() {
                        "it gave no reason"
                    } else {
                        why
                    }
                ),
            ))
        }
        RestoreWait::TimedOut { missing } => {
            close_order(store, plan, &reports).await?;
            Err(StepError::new(
                ErrorName::EtcdRestoreTimedOut,
                format!(
                    "etcd members {} did not report a healthy restored cluster within {RESTORE_WAIT_MINUTES} minutes of the order (restoring from {}); the order is withdrawn and the controllers start their control plane again. On those members, `journalctl -u etcd-restore-request.service` says why (S3 or KMS access, the snapshot, no quorum yet); fix that and upload the restore request again",
                    missing.join(", "),
                    plan.order.snapshot
                ),
            ))
        }
        RestoreWait::Done => {
            close_order(store, plan, &reports).await?;
            let members = plan.order.members.len();
            let progress = RestoreProgress {
                restored: members,
                healthy: members,
                ..plan.progress()
            };
            set_status(store, run, Phase::Restored, |s| {
                s.etcd_restore = Some(progress);
                s.last_error = None;
            })
            .await?;
            put_json(
                store,
                &run.records().result(),
                &RunResult::new(Outcome::Restored, timestamp()),
            )
            .await?;
            crate::telemetry::run_ended(
                &run.cluster,
                &run.run_id,
                &run.started_at,
                Outcome::Restored,
            );
            store.delete(&keys.restore_request()).await?;
            tracing::info!(snapshot = plan.order.snapshot, "etcd is restored");
            Ok(RestorePlan {
                restored: members,
                healthy: members,
                done: true,
                notification: Some(
                    Chat::restored(&run.cluster, &run.run_id, &plan.order.snapshot)
                        .to_json()
                        .to_string(),
                ),
                ..plan.clone()
            })
        }
    }
}

/// Records what the members reported and withdraws the order.
async fn close_order<S: ObjectStore>(
    store: &S,
    plan: &RestorePlan,
    reports: &[String],
) -> Result<(), StepError> {
    let record = RestoreRecord {
        order: plan.order.clone(),
        reports: reports.to_vec(),
    };
    put_json(store, &plan.run.records().etcd_restore(), &record).await?;
    store
        .delete(&plan.run.keys().etcd_restore_request())
        .await
        .map_err(StepError::from)
}

/// Withdraws the restore order of `run`, if it still stands (a restore run that failed at any
/// step): the members stop acting on it and the controllers start their control plane again.
pub(crate) async fn withdraw_order<S: ObjectStore>(store: &S, run: &Run) -> Result<(), StepError> {
    let key = run.keys().etcd_restore_request();
    if let Some(order) = get_text(store, &key)
        .await?
        .and_then(|t| MemberRestoreRequest::parse(&t))
        && order.run_id == run.run_id
    {
        store.delete(&key).await?;
    }
    Ok(())
}
