//! Apply: one round of the apply reconciler. It observes every stack, asks
//! [`crate::decide::apply::decide`] for every ready move, carries them out and says whether the
//! apply is done; the state machine calls it in a Wait/Choice loop.

use kubeline_aws::stacks::Stacks;
use kubeline_aws::store::ObjectStore;
use kubeline_core::errors::ErrorName;
use kubeline_core::pipeline::{Chat, Outcome, Phase, Plan, RunResult, StackAction, StackState};
use kubeline_core::policy::{self, CheckedExports};

use super::bucket::{get_json, load_cluster, put_json, set_status, status_of, timestamp};
use super::changesets::{self, change_set_failed, stack_failure};
use super::{Progress, RenderOutput, Run};
use crate::decide::apply::{Failure, Move, StackView, decide};
use crate::decide::rollout;
use crate::error::StepError;

/// The installation's apply settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplySettings {
    /// At most this many stack operations of one cluster run at once.
    pub max_parallel_stacks: usize,
}

impl Default for ApplySettings {
    fn default() -> ApplySettings {
        ApplySettings {
            max_parallel_stacks: 10,
        }
    }
}

/// Refuses to execute anything when an export Start checked (`runs/<id>/exports.json`) names
/// another resource now: until the network stack imports it, the export's own stack may change
/// it, and its new value was never checked against the installation policy.
async fn exports_unchanged<S: ObjectStore, C: Stacks>(
    store: &S,
    cfn: &C,
    run: &Run,
) -> Result<(), StepError> {
    let records = run.records();
    let Some(checked) = get_json::<_, CheckedExports>(store, &records.exports()).await? else {
        return Ok(());
    };
    let names: Vec<String> = checked.values.keys().cloned().collect();
    let now = cfn.export_values(&names).await?;
    let changed = policy::changed_exports(&checked, &now);
    if changed.is_empty() {
        return Ok(());
    }
    Err(StepError::new(
        ErrorName::PolicyRefused,
        format!(
            "{} (until the network stack imports an export, its own stack may change it); nothing more of run {} was executed; upload cluster.yaml again so that Start checks the resource it names now",
            changed.join("; "),
            run.run_id
        ),
    ))
}

/// Step 6: makes every move that is ready (executes the change sets whose dependencies have
/// settled, creates those of new stacks whose dependencies now exist) and says whether every
/// stack is done.
pub async fn apply<S: ObjectStore, C: Stacks>(
    store: &S,
    cfn: &C,
    run: &Run,
    rendered: &RenderOutput,
    settings: &ApplySettings,
) -> Result<Progress, StepError> {
    let records = run.records();
    let mut executed: Vec<String> = get_json(store, &records.executed())
        .await?
        .unwrap_or_default();
    // The change sets this run planned (a planned change set that vanished is an error).
    let plan: Option<Plan> = get_json(store, &records.plan()).await?;
    // A plan that needs an etcd snapshot first executes nothing without one (the state machine
    // takes it before Apply; this keeps the rule when a run is driven any other way).
    if plan.as_ref().is_some_and(|p| p.etcd_snapshot.is_take())
        && get_json::<_, super::SnapshotRecord>(store, &records.etcd_snapshot())
            .await?
            .is_none()
    {
        return Err(StepError::new(
            ErrorName::Internal,
            format!(
                "the plan of {} needs an etcd snapshot before its changes and {} does not exist; nothing was executed",
                run.run_id,
                records.etcd_snapshot()
            ),
        ));
    }
    let planned = |stack: &str| {
        plan.as_ref().is_some_and(|p| {
            p.stacks
                .iter()
                .any(|c| c.stack == stack && c.change_set.is_some())
        })
    };
    let mut observed = Vec::new();
    for s in &rendered.stacks {
        let info = cfn.describe_stack(&s.name).await?;
        changesets::owned(info.as_ref(), &run.cluster)?;
        // While an operation runs its change set does not matter; otherwise it says whether
        // this run's execution happened (and finished) or what is left to do.
        let busy = info.as_ref().is_some_and(|i| i.status.in_progress());
        let change_set = if busy {
            None
        } else {
            cfn.describe_change_set(&s.name, &run.change_set_name(&s.name))
                .await?
        };
        observed.push((info, change_set));
    }
    let stack_views: Vec<StackView<'_>> = rendered
        .stacks
        .iter()
        .zip(&observed)
        .map(|(s, (info, cs))| StackView {
            name: &s.name,
            depends_on: &s.depends_on,
            wave: s.rollout_wave,
            status: info.as_ref().map(|i| i.status.clone()),
            change_set: cs.as_ref().map(changesets::view),
            executed: executed.contains(&s.name),
            planned: planned(&s.name),
        })
        .collect();
    let decision = decide(&stack_views, settings.max_parallel_stacks);
    if decision.has_failed() {
        let mut causes = Vec::new();
        let mut name = ErrorName::ChangeSetFailed;
        for (stack, f) in &decision.failed {
            match f {
                Failure::Stack(st) => {
                    name = ErrorName::StackFailed;
                    causes.push(stack_failure(cfn, stack, st.as_str()).await);
                }
                Failure::ChangeSet(reason) => {
                    let cs = run.change_set_name(stack);
                    causes.push(change_set_failed(&cs, stack, reason).cause);
                }
            }
        }
        return Err(StepError::new(name, causes.join("\n")));
    }
    if decision.moves.iter().any(|(_, m)| *m == Move::Execute) {
        exports_unchanged(store, cfn, run).await?;
    }
    let mut started = false;
    for (stack, m) in &decision.moves {
        let Some(s) = rendered.stacks.iter().find(|s| &s.name == stack) else {
            continue;
        };
        let cs = run.change_set_name(stack);
        match m {
            Move::CreateChangeSet => {
                let req = changesets::request(store, run, s, true).await?;
                cfn.create_change_set(&req).await?;
            }
            Move::DeleteEmptyChangeSet => cfn.delete_change_set(stack, &cs).await?,
            Move::Execute => {
                cfn.execute_change_set(stack, &cs).await?;
                executed.push(stack.clone());
                // Recorded after each execution: a later failure in this round loses none.
                put_json(store, &records.executed(), &executed).await?;
                started = true;
            }
        }
    }
    if !decision.done {
        // The node groups being rolled, from the events of the stacks this run updates.
        let updating = |stack: &str| {
            plan.as_ref().is_some_and(|p| {
                p.stacks
                    .iter()
                    .any(|c| c.stack == stack && c.action == StackAction::Update)
            })
        };
        let mut rollout = Vec::new();
        for stack in decision.in_progress.iter().filter(|s| updating(s)) {
            let events = cfn.resource_events(stack).await?;
            rollout.extend(rollout::groups_in_progress(stack, &events));
        }
        let previous = status_of(store, &run.cluster)
            .await?
            .filter(|s| s.run_id == run.run_id)
            .map(|s| s.rollout)
            .unwrap_or_default();
        if started || previous != rollout {
            set_status(store, run, Phase::Applying, |s| s.rollout = rollout.clone()).await?;
        }
        let mut working = decision.in_progress.clone();
        working.extend(decision.moves.iter().map(|(s, _)| s.clone()));
        let mut progress = Progress::working(working);
        if rollout::announce(&previous, &rollout) {
            progress.notification = Some(
                Chat::rollout(&run.cluster, &run.run_id, &rollout)
                    .to_json()
                    .to_string(),
            );
        }
        return Ok(progress);
    }
    // Every stack is complete: record them and their outputs.
    let cluster = load_cluster(store, run).await?;
    let states: Vec<StackState> = rendered
        .stacks
        .iter()
        .zip(observed)
        .map(|(s, (info, _))| StackState {
            name: s.name.clone(),
            status: info
                .as_ref()
                .map(|i| i.status.to_string())
                .unwrap_or_else(|| "NOT_CREATED".into()),
            outputs: info.map(|i| i.outputs).unwrap_or_default(),
        })
        .collect();
    let api = cluster
        .api_endpoints
        .first()
        .map(|e| e.dns_name.to_string());
    // The add-on set now deployed is the one this run planned.
    let status = set_status(store, run, Phase::Succeeded, |st| {
        st.stacks = states.clone();
        st.api_endpoint = api.clone();
        if let Some(p) = plan {
            st.addons = Some(p.addons);
        }
        st.addon_changes = Vec::new();
        st.rollout = Vec::new();
    })
    .await?;
    let mut result = RunResult::new(Outcome::Succeeded, timestamp());
    result.stacks = states;
    result.executed = executed;
    put_json(store, &records.result(), &result).await?;
    crate::telemetry::run_ended(
        &run.cluster,
        &run.run_id,
        &run.started_at,
        Outcome::Succeeded,
    );
    Ok(Progress {
        done: true,
        in_progress: Vec::new(),
        notification: Some(
            Chat::succeeded(&run.cluster, &run.run_id, &status)
                .to_json()
                .to_string(),
        ),
    })
}
