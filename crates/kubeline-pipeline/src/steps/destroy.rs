//! Destroy: a confirmed request deletes the cluster's stacks in reverse apply order, one at a
//! time, in a Wait/Choice loop.

use kubeline_aws::executions::Executions;
use kubeline_aws::stacks::Stacks;
use kubeline_aws::store::ObjectStore;
use kubeline_core::errors::ErrorName;
use kubeline_core::pipeline::{Chat, Outcome, Phase, Route, RunResult};
use kubeline_core::validate;
use serde::{Deserialize, Serialize};

use super::bucket::{get_text, put_json, set_status, status_of, take_request, timestamp};
use super::changesets::{owned, stack_failure};
use super::request::{exact_key, take_turn};
use super::{Progress, Run, StartInput};
use crate::decide::destroy::{Decision, decide};
use crate::error::StepError;

/// A confirmed destroy: the run and the stacks to delete, in deletion order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DestroyPlan {
    /// The run.
    pub run: Run,
    /// Stacks in deletion order (the reverse of apply order).
    pub stacks: Vec<String>,
}

/// Destroy step 1: waits its turn; only a request that says `confirm: <cluster>` proceeds,
/// and only when no stack has termination protection.
pub async fn destroy_check<S: ObjectStore, C: Stacks, X: Executions>(
    store: &S,
    cfn: &C,
    sfn: &X,
    input: &StartInput,
) -> Result<DestroyPlan, StepError> {
    exact_key(Route::StartDestroy, &input.key, "destroy.yaml")?;
    let run = Run::for_request(input)?;
    // One run per cluster: a destroy waits for a running apply like an upload does.
    take_turn(store, sfn, &run.cluster, &run.run_id).await?;
    let cluster = run.cluster.as_str();
    let keys = run.keys();
    let text = take_request(
        store,
        input,
        &run.records().destroy_request(),
        ErrorName::DestroyNotConfirmed,
        "destroyed",
    )
    .await?;
    kubeline_core::pipeline::check_destroy(&text, cluster).map_err(|e| {
        StepError::new(
            ErrorName::DestroyNotConfirmed,
            format!("{}: {e}", input.key),
        )
    })?;
    // The stacks kubeline created: from the last successful run, else from the current render
    // (of the team's current upload, which may never have passed validation: hence `load`,
    // with the schema check, and the `schema` feature in the destroy function).
    let mut names: Vec<String> = status_of(store, cluster)
        .await?
        .map(|s| s.stacks.into_iter().map(|x| x.name).collect())
        .unwrap_or_default();
    if names.is_empty()
        && let Some(text) = get_text(store, &keys.config()).await?
        && let Some(c) = validate::load(&text).cluster
    {
        names = c.stack_names();
    }
    names.reverse();
    for name in &names {
        let info = cfn.describe_stack(name).await?;
        owned(info.as_ref(), cluster)?;
        if let Some(info) = info
            && info.termination_protection
        {
            return Err(StepError::new(
                ErrorName::TerminationProtected,
                format!(
                    "stack {name} has termination protection; nothing was deleted. Disable it with `aws cloudformation update-termination-protection --no-enable-termination-protection --stack-name {name}` and request the destroy again"
                ),
            ));
        }
    }
    set_status(store, &run, Phase::Destroying, |_| {}).await?;
    Ok(DestroyPlan { run, stacks: names })
}

/// Destroy step 2, called in a Wait/Choice loop: deletes the next stack and says when all are
/// gone.
pub async fn destroy_advance<S: ObjectStore, C: Stacks>(
    store: &S,
    cfn: &C,
    plan: &DestroyPlan,
) -> Result<Progress, StepError> {
    let mut observed = Vec::new();
    for name in &plan.stacks {
        let info = cfn.describe_stack(name).await?;
        owned(info.as_ref(), &plan.run.cluster)?;
        observed.push((name.as_str(), info.map(|i| i.status)));
    }
    match decide(&observed) {
        Decision::Wait(name) => return Ok(Progress::working(vec![name])),
        Decision::Delete(name) => {
            cfn.delete_stack(&name).await?;
            return Ok(Progress::working(vec![name]));
        }
        Decision::Failed(name) => {
            let cause = stack_failure(cfn, &name, "DELETE_FAILED").await;
            return Err(StepError::new(ErrorName::StackFailed, cause));
        }
        Decision::Done => {}
    }
    let run = &plan.run;
    set_status(store, run, Phase::Destroyed, |s| {
        s.stacks.clear();
        s.api_endpoint = None;
    })
    .await?;
    let mut result = RunResult::new(Outcome::Destroyed, timestamp());
    result.deleted = plan.stacks.clone();
    put_json(store, &run.records().result(), &result).await?;
    crate::telemetry::run_ended(
        &run.cluster,
        &run.run_id,
        &run.started_at,
        Outcome::Destroyed,
    );
    store.delete(&run.keys().destroy()).await?;
    Ok(Progress {
        done: true,
        in_progress: Vec::new(),
        notification: Some(
            Chat::destroyed(&run.cluster, &run.run_id, &plan.stacks)
                .to_json()
                .to_string(),
        ),
    })
}
