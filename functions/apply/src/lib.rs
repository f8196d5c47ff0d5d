//! The apply Lambda's handler: `plan` (change sets, described into the plan), `await-approval`
//! and `approval` (the manual approval), `snapshot-request` and `snapshot-check` (the etcd
//! snapshot before changes to etcd or the control plane), `apply` (one round of the apply reconciler), `fail`
//! (records a failed run), `restore-start` and `restore-check` (an etcd restore request), and
//! the daily drift check.

use kubeline_aws::executions::Executions;
use kubeline_aws::stacks::Stacks;
use kubeline_aws::store::ObjectStore;
use kubeline_pipeline::StepError;
use kubeline_pipeline::steps::{
    self, ApplySettings, ApprovalOutput, DriftCheck, DriftItem, DriftSummary, EventDetail,
    FailInput, FailOutput, PlanOutput, Progress, RenderOutput, RestorePlan, Run, SnapshotProgress,
    StartInput,
};
use kubeline_pipeline::telemetry::Operation;
use serde::{Deserialize, Serialize};

/// What the state machine (or the approval rule) asks.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// Create and describe the change sets; call until ready.
    Plan {
        /// The run.
        run: Run,
        /// The render.
        rendered: RenderOutput,
    },
    /// Remember the task token of the approval step.
    #[serde(rename_all = "camelCase")]
    AwaitApproval {
        /// The run.
        run: Run,
        /// The `.waitForTaskToken` token.
        task_token: String,
    },
    /// An approval file was uploaded.
    Approval {
        /// Its key.
        key: String,
    },
    /// Ask the etcd members for a snapshot before the changes.
    SnapshotRequest {
        /// The run.
        run: Run,
    },
    /// Look for the requested snapshot; call until taken.
    SnapshotCheck {
        /// The run.
        run: Run,
        /// Where the wait is.
        snapshot: SnapshotProgress,
    },
    /// Make every ready move of the apply; call until done.
    Apply {
        /// The run.
        run: Run,
        /// The render.
        rendered: RenderOutput,
    },
    /// Record a failed run.
    Fail(FailInput),
    /// An etcd restore request was uploaded: check it and order the members to restore.
    #[serde(rename_all = "camelCase")]
    RestoreStart {
        /// The EventBridge event's `detail` (bucket and object, with its version).
        detail: EventDetail,
        /// The execution name.
        run_id: String,
        /// The execution ARN.
        #[serde(default)]
        execution_arn: Option<String>,
    },
    /// Look at the members' restore reports; call until done.
    RestoreCheck {
        /// The restore run.
        plan: RestorePlan,
    },
    /// Daily drift check: the clusters with deployed stacks.
    DriftList,
    /// Daily drift check: start detection on a cluster's stacks.
    DriftStart {
        /// The cluster and its stacks.
        item: DriftItem,
    },
    /// Daily drift check: record the result once detection is complete.
    DriftCheck {
        /// The cluster, its stacks and detections.
        item: DriftItem,
    },
    /// Daily drift check: the summary notification.
    DriftSummary {
        /// Each cluster's check result.
        results: Vec<DriftCheck>,
    },
}

impl Operation for Request {
    fn op(&self) -> &'static str {
        match self {
            Request::Plan { .. } => "plan",
            Request::AwaitApproval { .. } => "await-approval",
            Request::Approval { .. } => "approval",
            Request::SnapshotRequest { .. } => "snapshot-request",
            Request::SnapshotCheck { .. } => "snapshot-check",
            Request::Apply { .. } => "apply",
            Request::Fail(_) => "fail",
            Request::RestoreStart { .. } => "restore-start",
            Request::RestoreCheck { .. } => "restore-check",
            Request::DriftList => "drift-list",
            Request::DriftStart { .. } => "drift-start",
            Request::DriftCheck { .. } => "drift-check",
            Request::DriftSummary { .. } => "drift-summary",
        }
    }
    fn run(&self) -> Option<(&str, &str)> {
        match self {
            Request::Plan { run, .. }
            | Request::AwaitApproval { run, .. }
            | Request::SnapshotRequest { run }
            | Request::SnapshotCheck { run, .. }
            | Request::Apply { run, .. } => Some((&run.cluster, &run.run_id)),
            Request::Approval { key } => Some((
                kubeline_core::pipeline::ClusterKeys::cluster_of(key).unwrap_or(""),
                "",
            )),
            Request::Fail(f) => f.run_ref(),
            Request::RestoreStart { detail, run_id, .. } => Some((
                kubeline_core::pipeline::ClusterKeys::cluster_of(&detail.object.key).unwrap_or(""),
                run_id,
            )),
            Request::RestoreCheck { plan } => Some((&plan.run.cluster, &plan.run.run_id)),
            Request::DriftStart { item } | Request::DriftCheck { item } => {
                Some((&item.cluster, ""))
            }
            Request::DriftList | Request::DriftSummary { .. } => None,
        }
    }
}

/// The clusters the drift check looks at.
#[derive(Debug, Clone, Serialize)]
pub struct DriftList {
    /// Each cluster and its stacks.
    pub clusters: Vec<DriftItem>,
}

/// What it answers.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Response {
    /// The plan (plan).
    Planned(PlanOutput),
    /// An approval step or request (await-approval, approval).
    Approval(ApprovalOutput),
    /// Where the wait for the etcd snapshot is (snapshot-request, snapshot-check).
    Snapshot(SnapshotProgress),
    /// Where the apply is (apply).
    Progress(Progress),
    /// The failure's notification (fail).
    Failed(FailOutput),
    /// Where the etcd restore is (restore-start, restore-check).
    Restore(RestorePlan),
    /// The drift check's clusters.
    DriftListed(DriftList),
    /// Detection started.
    DriftStarted(DriftItem),
    /// A cluster's drift check.
    DriftChecked(DriftCheck),
    /// The day's drift summary.
    DriftSummary(DriftSummary),
}

/// The ports this function uses.
#[derive(Debug, Clone)]
pub struct Ports<S, C, X> {
    /// The installation bucket.
    pub store: S,
    /// CloudFormation.
    pub cfn: C,
    /// Step Functions (task tokens).
    pub sfn: X,
}

/// Handles one request.
pub async fn handler<S: ObjectStore, C: Stacks, X: Executions>(
    p: &Ports<S, C, X>,
    settings: &ApplySettings,
    req: Request,
) -> Result<Response, StepError> {
    let (store, cfn, sfn) = (&p.store, &p.cfn, &p.sfn);
    Ok(match req {
        Request::Plan { run, rendered } => {
            Response::Planned(steps::plan(store, cfn, &run, &rendered).await?)
        }
        Request::AwaitApproval { run, task_token } => {
            Response::Approval(steps::await_approval(store, sfn, &run, &task_token).await?)
        }
        Request::Approval { key } => {
            Response::Approval(steps::approval_request(store, sfn, &key).await?)
        }
        Request::SnapshotRequest { run } => {
            Response::Snapshot(steps::snapshot_request(store, &run).await?)
        }
        Request::SnapshotCheck { run, snapshot } => {
            Response::Snapshot(steps::snapshot_check(store, &run, &snapshot).await?)
        }
        Request::Apply { run, rendered } => {
            Response::Progress(steps::apply(store, cfn, &run, &rendered, settings).await?)
        }
        Request::Fail(input) => Response::Failed(steps::fail(store, cfn, &input).await?),
        Request::RestoreStart {
            detail,
            run_id,
            execution_arn,
        } => {
            let input = StartInput::from_event(detail, &run_id, execution_arn);
            Response::Restore(steps::restore_start(store, cfn, sfn, &input).await?)
        }
        Request::RestoreCheck { plan } => {
            Response::Restore(steps::restore_check(store, &plan).await?)
        }
        Request::DriftList => Response::DriftListed(DriftList {
            clusters: steps::drift_list(store).await?,
        }),
        Request::DriftStart { item } => {
            Response::DriftStarted(steps::drift_start(cfn, &item).await?)
        }
        Request::DriftCheck { item } => {
            Response::DriftChecked(steps::drift_check(store, cfn, &item).await?)
        }
        Request::DriftSummary { results } => Response::DriftSummary(steps::drift_summary(&results)),
    })
}
