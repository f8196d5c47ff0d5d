//! Plan: one change set per stack whose dependencies exist (dependent new stacks are planned
//! from their templates and get their change sets during apply); the plan, status and chat.

use kubeline_aws::stacks::Stacks;
use kubeline_aws::store::ObjectStore;
use kubeline_core::cluster::stack_name;
use kubeline_core::errors::ErrorName;
use kubeline_core::model::Approval;
use kubeline_core::pipeline::{
    Chat, Outcome, Phase, Plan, RunResult, SNAPSHOT_ON_REQUEST_OUTPUT, StackAction, StackChange,
    pre_run_snapshot,
};
use serde::{Deserialize, Serialize};

use super::bucket::{put_json, set_status, status_of, timestamp};
use super::changesets::{self, change_set_failed};
use super::{RenderOutput, Run};
use crate::decide::plan::{PlanMove, plan_move};
use crate::error::StepError;

/// What [`plan`] says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanOutput {
    /// Every change set is ready (otherwise call again after a wait).
    pub ready: bool,
    /// Something changes.
    pub has_changes: bool,
    /// The run takes an etcd snapshot before it executes anything (the plan updates etcd or
    /// the control plane of a running cluster).
    #[serde(default)]
    pub snapshot_first: bool,
    /// The chat message to publish (when ready), as the SNS message text.
    #[serde(default)]
    pub notification: Option<String>,
}

/// Step 5: one change set per stack whose dependencies exist. Call until `ready`.
pub async fn plan<S: ObjectStore, C: Stacks>(
    store: &S,
    cfn: &C,
    run: &Run,
    rendered: &RenderOutput,
) -> Result<PlanOutput, StepError> {
    let mut ready = true;
    let mut stacks_plan = Vec::new();
    let etcd_stack = stack_name(&run.cluster, "etcd");
    let mut etcd_answers = false;
    for s in &rendered.stacks {
        let cs_name = run.change_set_name(&s.name);
        let info = cfn.describe_stack(&s.name).await?;
        changesets::owned(info.as_ref(), &run.cluster)?;
        if s.name == etcd_stack {
            etcd_answers = info.as_ref().is_some_and(|i| {
                i.outputs
                    .get(SNAPSHOT_ON_REQUEST_OUTPUT)
                    .map(String::as_str)
                    == Some("true")
            });
        }
        let status = info.map(|i| i.status);
        let mut change_set = cfn.describe_change_set(&s.name, &cs_name).await?;
        let mut deps_complete = true;
        if change_set.is_none() {
            for d in &s.depends_on {
                let dep = cfn.describe_stack(d).await?;
                deps_complete &= dep.is_some_and(|i| i.status.is_complete());
            }
        }
        let mut may_create = true;
        let planned = loop {
            let cs_view = change_set.as_ref().map(changesets::view);
            match plan_move(status.as_ref(), cs_view.as_ref(), deps_complete, may_create) {
                PlanMove::CreateChangeSet { create } => {
                    let req = changesets::request(store, run, s, create).await?;
                    cfn.create_change_set(&req).await?;
                    change_set = cfn.describe_change_set(&s.name, &cs_name).await?;
                    may_create = false;
                }
                other => break other,
            }
        };
        let change = |action, changes, change_set| StackChange {
            stack: s.name.clone(),
            action,
            changes,
            change_set,
        };
        match planned {
            PlanMove::Busy(st) => {
                return Err(StepError::new(
                    ErrorName::StackBusy,
                    format!("stack {} is {st}; the run waits for it", s.name),
                ));
            }
            PlanMove::Dead(st) => {
                return Err(StepError::new(
                    ErrorName::StackFailed,
                    format!(
                        "stack {} is {st} from an earlier failed create and cannot be updated; delete it (`aws cloudformation delete-stack --stack-name {}`) and upload cluster.yaml again",
                        s.name, s.name
                    ),
                ));
            }
            // (The loop above has carried out every CreateChangeSet.)
            PlanMove::Stuck(st) => {
                let fix = if st == kubeline_core::pipeline::cfn::StackStatus::DeleteFailed {
                    format!(
                        "finish the delete (`aws cloudformation delete-stack --stack-name {}`, retaining what cannot be deleted)",
                        s.name
                    )
                } else {
                    format!(
                        "finish the rollback (`aws cloudformation continue-update-rollback --stack-name {}`)",
                        s.name
                    )
                };
                return Err(StepError::new(
                    ErrorName::StackFailed,
                    format!(
                        "stack {} is {st} and takes no change until a person acts: {fix}; then upload cluster.yaml again",
                        s.name
                    ),
                ));
            }
            PlanMove::FromTemplate | PlanMove::CreateChangeSet { .. } => {
                let body = changesets::template(store, s).await.unwrap_or_default();
                let resources = changesets::template_resources(&body);
                stacks_plan.push(change(StackAction::Create, resources, None));
            }
            PlanMove::Wait => ready = false,
            PlanMove::NoChange => {
                cfn.delete_change_set(&s.name, &cs_name).await?;
                stacks_plan.push(change(StackAction::NoChange, vec![], None));
            }
            PlanMove::Failed(reason) => return Err(change_set_failed(&cs_name, &s.name, &reason)),
            PlanMove::Planned(action) => {
                let changes = change_set.map(|c| c.changes).unwrap_or_default();
                stacks_plan.push(change(action, changes, Some(cs_name.clone())));
            }
        }
    }
    if !ready {
        set_status(store, run, Phase::Planning, |_| {}).await?;
        return Ok(PlanOutput {
            ready: false,
            has_changes: false,
            snapshot_first: false,
            notification: None,
        });
    }
    // The add-on set this run deploys (the render's manifest.json) against the deployed one.
    let addons = rendered.addons.clone();
    let deployed = status_of(store, &run.cluster).await?.and_then(|s| s.addons);
    let etcd_snapshot = pre_run_snapshot(
        &stacks_plan,
        &etcd_stack,
        &stack_name(&run.cluster, "control-plane"),
        etcd_answers,
    );
    let plan = Plan {
        stacks: stacks_plan,
        addon_changes: kubeline_core::pipeline::addon_changes(deployed.as_deref(), &addons),
        addons,
        upgrade: run.upgrade.as_deref().cloned(),
        etcd_snapshot,
    };
    let records = run.records();
    put_json(store, &records.plan(), &plan).await?;
    let has_changes = plan.has_changes();
    let snapshot_first = has_changes && plan.etcd_snapshot.is_take();
    let notification = if !has_changes {
        set_status(store, run, Phase::NoChanges, |s| {
            s.plan = plan.counts();
            s.addon_changes = Vec::new();
        })
        .await?;
        let result = RunResult::new(Outcome::NoChanges, timestamp());
        put_json(store, &records.result(), &result).await?;
        crate::telemetry::run_ended(
            &run.cluster,
            &run.run_id,
            &run.started_at,
            Outcome::NoChanges,
        );
        Chat::no_changes(&run.cluster, &run.run_id)
    } else {
        let manual = run.approval == Approval::Manual;
        let phase = if manual {
            Phase::AwaitingApproval
        } else {
            Phase::Applying
        };
        set_status(store, run, phase, |s| {
            s.plan = plan.counts();
            s.addon_changes = plan.addon_changes.clone();
        })
        .await?;
        let approval_key = manual.then(|| run.keys().approval(&run.run_id));
        Chat::plan(&run.cluster, &run.run_id, &plan, approval_key.as_deref())
    };
    Ok(PlanOutput {
        ready: true,
        has_changes,
        snapshot_first,
        notification: Some(notification.to_json().to_string()),
    })
}
