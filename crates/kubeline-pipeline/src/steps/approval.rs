//! Approval: the `.waitForTaskToken` step remembers the task token until an approval file
//! arrives; an approval file resumes or rejects the waiting run.

use kubeline_aws::executions::Executions;
use kubeline_aws::store::ObjectStore;
use kubeline_core::errors::ErrorName;
use kubeline_core::pipeline::{
    ApprovalRecord, ClusterKeys, Decision, Phase, Route, approver_of, parse_approval,
};
use serde::{Deserialize, Serialize};

use super::Run;
use super::bucket::{get_json, put_json, set_status, status_of};
use super::request::{cluster_of, exact_key};
use crate::error::StepError;

/// The approval a run waits for: its task token, kept until a decision arrives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PendingApproval {
    run_id: String,
    task_token: String,
}

/// What an approval step or request did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalOutput {
    /// The cluster.
    pub cluster: String,
    /// The run decided on (or waiting).
    pub run_id: String,
    /// The decision, once one was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// The approval file the run waits for, or that decided it.
    pub approval_key: String,
    /// A decision that arrived before the run waited is recorded and taken up later.
    #[serde(default)]
    pub recorded_for_later: bool,
}

/// Rejects the plan of `run_id` if it waits for approval (a newer upload supersedes it).
pub(crate) async fn reject_pending<S: ObjectStore, X: Executions>(
    store: &S,
    sfn: &X,
    cluster: &str,
    run_id: &str,
    why: &str,
) -> Result<(), StepError> {
    let key = ClusterKeys::new(cluster).pending_approval();
    if let Some(p) = get_json::<_, PendingApproval>(store, &key)
        .await?
        .filter(|p| p.run_id == run_id)
    {
        sfn.send_task_failure(&p.task_token, ErrorName::PlanRejected.as_str(), why)
            .await?;
        store.delete(&key).await?;
    }
    Ok(())
}

/// Approval step (a `.waitForTaskToken` task): remembers the task token until an approval
/// file arrives. A newer run waiting for approval supersedes an older one.
pub async fn await_approval<S: ObjectStore, X: Executions>(
    store: &S,
    sfn: &X,
    run: &Run,
    task_token: &str,
) -> Result<ApprovalOutput, StepError> {
    let keys = run.keys();
    let key = keys.pending_approval();
    if let Some(old) = get_json::<_, PendingApproval>(store, &key).await?
        && old.run_id != run.run_id
    {
        let why = format!("superseded by run {} (a newer cluster.yaml)", run.run_id);
        sfn.send_task_failure(&old.task_token, ErrorName::PlanRejected.as_str(), &why)
            .await
            .ok();
    }
    let pending = PendingApproval {
        run_id: run.run_id.clone(),
        task_token: task_token.to_owned(),
    };
    put_json(store, &key, &pending).await?;
    set_status(store, run, Phase::AwaitingApproval, |_| {}).await?;
    // A decision uploaded before this step ran is taken up now.
    // (A file that is no decision was refused when it arrived; it is ignored here.)
    let approval_key = keys.approval(&run.run_id);
    let mut decision = None;
    if let Some(Ok(record)) = read_approval(store, &approval_key).await? {
        decide(
            store,
            sfn,
            run.records().approval(),
            &key,
            &pending,
            &record,
        )
        .await?;
        decision = Some(record.decision);
    }
    Ok(ApprovalOutput {
        cluster: run.cluster.clone(),
        run_id: run.run_id.clone(),
        decision,
        approval_key,
        recorded_for_later: false,
    })
}

/// Reads the approval file at `key` and the approver its tag names: `None` when there is no
/// file, `Some(Err)` (the reason) when it is not a decision.
async fn read_approval<S: ObjectStore>(
    store: &S,
    key: &str,
) -> Result<Option<Result<ApprovalRecord, String>>, StepError> {
    let Some(object) = store.get(key, None).await? else {
        return Ok(None);
    };
    let Ok(text) = String::from_utf8(object.bytes) else {
        return Ok(Some(Err(format!("{key} is not UTF-8 text"))));
    };
    let request = match parse_approval(&text) {
        Ok(r) => r,
        Err(e) => return Ok(Some(Err(format!("{key}: {e}")))),
    };
    // The tags of the version read, not of a newer one.
    let tags = store.tags(key, object.version.as_deref()).await?;
    Ok(Some(approver_of(key, &tags).map(|approver| {
        ApprovalRecord {
            decision: request.decision,
            approver: approver.to_owned(),
            by: request.by,
            comment: request.comment,
            key: key.to_owned(),
            version: object.version,
        }
    })))
}

/// Records the decision in the run's audit folder, sends it to the waiting task and forgets
/// the token.
async fn decide<S: ObjectStore, X: Executions>(
    store: &S,
    sfn: &X,
    record_key: String,
    pending_key: &str,
    pending: &PendingApproval,
    record: &ApprovalRecord,
) -> Result<(), StepError> {
    put_json(store, &record_key, record).await?;
    match record.decision {
        Decision::Approve => {
            let out = serde_json::to_string(record)
                .map_err(|e| StepError::new(ErrorName::Internal, e.to_string()))?;
            sfn.send_task_success(&pending.task_token, &out).await?;
        }
        Decision::Reject => {
            let cause = format!(
                "rejected by {}{}",
                record.who(),
                record
                    .comment
                    .as_deref()
                    .map(|c| format!(": {c}"))
                    .unwrap_or_default()
            );
            sfn.send_task_failure(
                &pending.task_token,
                ErrorName::PlanRejected.as_str(),
                &cause,
            )
            .await?;
        }
    }
    store.delete(pending_key).await?;
    Ok(())
}

/// Handles an approval file (`clusters/<name>/approvals/<run-id>.yaml`): resumes or rejects the
/// waiting run. A decision that arrives before the run waits is kept and taken up by
/// [`await_approval`].
pub async fn approval_request<S: ObjectStore, X: Executions>(
    store: &S,
    sfn: &X,
    key: &str,
) -> Result<ApprovalOutput, StepError> {
    exact_key(Route::Approval, key, "approvals/<run-id>.yaml")?;
    let cluster = cluster_of(key)?;
    let run_id = key
        .rsplit('/')
        .next()
        .and_then(|f| f.strip_suffix(".yaml"))
        .unwrap_or_default();
    let record = read_approval(store, key)
        .await?
        .ok_or_else(|| StepError::new(ErrorName::RequestInvalid, format!("{key} is gone")))?
        .map_err(|e| StepError::new(ErrorName::RequestInvalid, e))?;
    let pending_key = ClusterKeys::new(cluster).pending_approval();
    let pending = get_json::<_, PendingApproval>(store, &pending_key)
        .await?
        .filter(|p| p.run_id == run_id);
    let mut out = ApprovalOutput {
        cluster: cluster.to_owned(),
        run_id: run_id.to_owned(),
        decision: Some(record.decision),
        approval_key: key.to_owned(),
        recorded_for_later: false,
    };
    let Some(pending) = pending else {
        return match status_of(store, cluster).await? {
            Some(s) if s.run_id == run_id && !s.phase.is_final() => {
                out.recorded_for_later = true;
                Ok(out)
            }
            _ => Err(StepError::new(
                ErrorName::RequestInvalid,
                format!("{key}: no run {run_id} of {cluster} is waiting for approval"),
            )),
        };
    };
    let record_key = ClusterKeys::new(cluster).run(run_id).approval();
    decide(store, sfn, record_key, &pending_key, &pending, &record).await?;
    Ok(out)
}
