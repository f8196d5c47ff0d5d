//! A run's request: the input every run starts from (the uploaded object, from EventBridge's
//! event), the cluster its key names, claiming its object version once, and taking the
//! cluster's turn. Shared by start, destroy, restore and approval.

use kubeline_aws::executions::Executions;
use kubeline_aws::store::ObjectStore;
use kubeline_core::errors::ErrorName;
use kubeline_core::model::Approval;
use kubeline_core::pipeline::{ClusterKeys, Route};
use serde::{Deserialize, Serialize};

use super::Run;
use super::bucket::{status_of, timestamp};
use crate::decide::turn::{self, Holder, Turn};
use crate::error::StepError;

/// The input of a run: the uploaded object (cluster.yaml, or destroy.yaml for a destroy run;
/// from the EventBridge "Object Created" event) and the execution that handles it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartInput {
    /// Installation bucket.
    pub bucket: String,
    /// `clusters/<name>/cluster.yaml`.
    pub key: String,
    /// The object version the run is for.
    #[serde(default)]
    pub version: Option<String>,
    /// Run id (the execution name).
    pub run_id: String,
    /// Execution ARN.
    #[serde(default)]
    pub execution_arn: Option<String>,
}

/// The part of EventBridge's S3 "Object Created" event's `detail` a run needs
/// (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html>).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventDetail {
    /// The bucket.
    pub bucket: EventBucket,
    /// The object.
    pub object: EventObject,
}

/// `detail.bucket`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventBucket {
    /// Its name.
    pub name: String,
}

/// `detail.object`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventObject {
    /// Its key.
    pub key: String,
    /// Its version.
    #[serde(default, rename = "version-id")]
    pub version_id: Option<String>,
}

impl StartInput {
    /// The input of a run from the EventBridge "Object Created" event's `detail`.
    pub fn from_event_detail(
        detail: &serde_json::Value,
        run_id: &str,
        execution_arn: Option<String>,
    ) -> Result<StartInput, StepError> {
        let d: EventDetail = serde_json::from_value(detail.clone()).map_err(|e| {
            StepError::new(
                ErrorName::RequestInvalid,
                format!("the event has no detail.bucket.name or detail.object.key: {e}"),
            )
        })?;
        Ok(StartInput::from_event(d, run_id, execution_arn))
    }

    /// The input of a run from the event's typed `detail`.
    pub fn from_event(d: EventDetail, run_id: &str, execution_arn: Option<String>) -> StartInput {
        StartInput {
            bucket: d.bucket.name,
            key: d.object.key,
            version: d.object.version_id,
            run_id: run_id.to_owned(),
            execution_arn,
        }
    }
}

impl Run {
    /// A run of the request `input` (an upload or a destroy request) for the cluster its key
    /// names, starting now; approval `auto` until the cluster.yaml says otherwise.
    pub(crate) fn for_request(input: &StartInput) -> Result<Run, StepError> {
        Ok(Run {
            cluster: cluster_of(&input.key)?.to_owned(),
            run_id: input.run_id.clone(),
            bucket: input.bucket.clone(),
            config_version: input.version.clone(),
            approval: Approval::Auto,
            execution_arn: input.execution_arn.clone(),
            started_at: timestamp(),
            upgrade: None,
        })
    }
}

/// The cluster a request key belongs to (`clusters/<name>/...`).
pub(crate) fn cluster_of(key: &str) -> Result<&str, StepError> {
    ClusterKeys::cluster_of(key).ok_or_else(|| {
        StepError::new(
            ErrorName::RequestInvalid,
            format!("{key} is not under clusters/<name>/"),
        )
    })
}

/// At most one run per uploaded version (a cluster.yaml, a restore request): the first run claims it (a conditional write); a
/// second execution for the same version (EventBridge delivers an event at least once) ends
/// at once as superseded. A retried Start of the claiming run passes.
pub(crate) async fn claim_version<S: ObjectStore>(
    store: &S,
    cluster: &str,
    input: &StartInput,
) -> Result<(), StepError> {
    let Some(version) = &input.version else {
        return Ok(());
    };
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Claim {
        run_id: String,
    }
    let key = ClusterKeys::new(cluster).version_claim(version);
    let claim = serde_json::to_vec(&Claim {
        run_id: input.run_id.clone(),
    })
    .unwrap_or_default();
    if store
        .put_if_absent(&key, claim, super::bucket::JSON)
        .await?
    {
        return Ok(());
    }
    let holder = super::bucket::get_json::<_, Claim>(store, &key)
        .await?
        .map(|c| c.run_id)
        .unwrap_or_default();
    if holder == input.run_id {
        return Ok(());
    }
    Err(StepError::new(
        ErrorName::Superseded,
        format!(
            "cluster.yaml version {version} is already handled by run {holder} (its upload event was delivered twice); this run changes nothing"
        ),
    ))
}

/// Refuses a key the bucket rule matched that is not exactly the layout's (EventBridge's `*`
/// also matches deeper keys such as `clusters/a/b/cluster.yaml`).
pub(crate) fn exact_key(route: Route, key: &str, expected: &str) -> Result<(), StepError> {
    if route.is_exact(key) {
        return Ok(());
    }
    Err(StepError::new(
        ErrorName::RequestInvalid,
        format!(
            "{key} is not a {expected} kubeline acts on; upload it as clusters/<name>/{expected}"
        ),
    ))
}

/// One run per cluster applies at a time: a run still in progress makes a newer one wait
/// (`RunInProgress`, retried by the state machine), except a run that waits for approval,
/// which the newer upload supersedes (its plan is rejected as stale).
pub(crate) async fn take_turn<S: ObjectStore, X: Executions>(
    store: &S,
    sfn: &X,
    cluster: &str,
    run_id: &str,
) -> Result<(), StepError> {
    let previous = status_of(store, cluster).await?;
    let holder = turn::holder(previous.as_ref(), run_id);
    let running = match &holder {
        Holder::Nobody => false,
        Holder::Maybe { arn, .. } => match sfn.describe_execution(arn).await {
            Ok(info) => info.status == "RUNNING",
            // Gone (or expired from the history): it holds nothing. Any other error says
            // nothing about it, so this run does not go ahead on a guess.
            Err(e) if e.code() == Some("ExecutionDoesNotExist") => false,
            Err(e) => return Err(e.into()),
        },
    };
    match (turn::decide(&holder, running), &holder) {
        (Turn::Go, _) | (_, Holder::Nobody) => Ok(()),
        (Turn::Supersede, Holder::Maybe { run_id: held, .. }) => {
            super::approval::reject_pending(
                store,
                sfn,
                cluster,
                held,
                &format!("superseded by run {run_id}: a newer cluster.yaml was uploaded"),
            )
            .await
        }
        (
            Turn::Wait,
            Holder::Maybe {
                run_id: held,
                phase,
                ..
            },
        ) => Err(StepError::new(
            ErrorName::RunInProgress,
            format!(
                "run {held} of {cluster} is still {phase:?}; this run ({run_id}) starts when it ends"
            ),
        )),
    }
}
