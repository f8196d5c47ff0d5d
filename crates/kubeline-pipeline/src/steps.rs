//! The steps of a run, in state-machine order: start (load and validate the pinned cluster.yaml),
//! credentials, render, check templates, plan, approval, apply (a reconciler the state machine
//! calls until it says done), and fail (records any error). Each reads what it needs from the
//! bucket, so the state machine passes only small references between them.

use std::collections::BTreeMap;

use kubeline_aws::dns::Dns;
use kubeline_aws::executions::Executions;
use kubeline_aws::kms::Kms;
use kubeline_aws::sealed;
use kubeline_aws::stacks::{self, ChangeSetRequest, Stacks};
use kubeline_aws::store::ObjectStore;
use kubeline_core::cluster::Cluster;
use kubeline_core::model::Approval;
use kubeline_core::pipeline::{
    AddonVersion, CertificateSummary, Chat, ClusterKeys, Decision, Phase, Plan, ResourceChange,
    RunError, StackAction, StackChange, StackState, Status,
};
use kubeline_core::reconcile::{self, CaSource, Change, Files, Options};
use kubeline_core::render::{self, Templates};
use kubeline_core::validate;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::StepError;

const JSON: &str = "application/json";
const YAML: &str = "application/yaml";
/// Longest diagnostics text put into an error cause (Step Functions allows 32 KB).
const MAX_CAUSE: usize = 8_000;

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn timestamp() -> String {
    now().format(&Rfc3339).unwrap_or_default()
}

fn clip(s: &str) -> String {
    if s.len() <= MAX_CAUSE {
        return s.to_owned();
    }
    let mut end = MAX_CAUSE;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}\n… (truncated)", &s[..end])
}

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

impl StartInput {
    /// The input of a run from the EventBridge "Object Created" event's `detail`.
    pub fn from_event_detail(
        detail: &Value,
        run_id: &str,
        execution_arn: Option<String>,
    ) -> Result<StartInput, StepError> {
        let bucket = detail["bucket"]["name"].as_str();
        let key = detail["object"]["key"].as_str();
        let (Some(bucket), Some(key)) = (bucket, key) else {
            return Err(StepError::new(
                "RequestInvalid",
                "the event has no detail.bucket.name or detail.object.key",
            ));
        };
        Ok(StartInput {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            version: detail["object"]["version-id"].as_str().map(str::to_owned),
            run_id: run_id.to_owned(),
            execution_arn,
        })
    }
}

/// What every later step gets: which run of which cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    /// Cluster name.
    pub cluster: String,
    /// Run id.
    pub run_id: String,
    /// Installation bucket.
    pub bucket: String,
    /// Pinned cluster.yaml version.
    #[serde(default)]
    pub config_version: Option<String>,
    /// Whether the plan waits for an approval file.
    pub approval: Approval,
    /// Execution ARN.
    #[serde(default)]
    pub execution_arn: Option<String>,
    /// When the run started.
    pub started_at: String,
}

impl Run {
    /// A run of the request `input` (an upload or a destroy request) for the cluster its key
    /// names, starting now; approval `auto` until the cluster.yaml says otherwise.
    fn for_request(input: &StartInput) -> Result<Run, StepError> {
        Ok(Run {
            cluster: cluster_of(&input.key)?.to_owned(),
            run_id: input.run_id.clone(),
            bucket: input.bucket.clone(),
            config_version: input.version.clone(),
            approval: Approval::Auto,
            execution_arn: input.execution_arn.clone(),
            started_at: timestamp(),
        })
    }

    fn keys(&self) -> ClusterKeys {
        ClusterKeys::new(&self.cluster)
    }
    /// The change set name of this run for `stack` (CloudFormation: a letter first, then
    /// letters, digits and `-`, at most 128). Unique per stack, which keeps emulators that
    /// look change sets up by name alone right.
    pub fn change_set_name(&self, stack: &str) -> String {
        let clean = |s: &str, n: usize| -> String {
            s.chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .take(n)
                .collect()
        };
        format!("kubeline-{}-{}", clean(&self.run_id, 60), clean(stack, 60))
    }
}

async fn get_text<S: ObjectStore>(store: &S, key: &str) -> Result<Option<String>, StepError> {
    match store.get(key, None).await? {
        None => Ok(None),
        Some(o) => String::from_utf8(o.bytes)
            .map(Some)
            .map_err(|_| StepError::new("RequestInvalid", format!("{key} is not UTF-8 text"))),
    }
}

async fn put_json<S: ObjectStore, T: Serialize>(
    store: &S,
    key: &str,
    value: &T,
) -> Result<(), StepError> {
    let bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| StepError::new("Internal", format!("serialising {key}: {e}")))?;
    store.put(key, bytes, JSON).await?;
    Ok(())
}

/// The objects under `prefix` whose names (the rest of the key) `keep` accepts, by name.
async fn read_prefix<S: ObjectStore>(
    store: &S,
    prefix: &str,
    keep: impl Fn(&str) -> bool,
) -> Result<Files, StepError> {
    Ok(read_prefix_sse(store, prefix, keep).await?.0)
}

/// Like [`read_prefix`], also naming the files not stored with SSE-S3 (written before node
/// objects were; a node role cannot read them).
async fn read_prefix_sse<S: ObjectStore>(
    store: &S,
    prefix: &str,
    keep: impl Fn(&str) -> bool,
) -> Result<(Files, std::collections::BTreeSet<String>), StepError> {
    let mut files = Files::new();
    let mut not_sse_s3 = std::collections::BTreeSet::new();
    for key in store.list(prefix).await? {
        let Some(name) = key.strip_prefix(prefix).filter(|n| keep(n)) else {
            continue;
        };
        if let Some(o) = store.get(&key, None).await? {
            if !o.sse_s3 {
                not_sse_s3.insert(name.to_owned());
            }
            files.insert(name.to_owned(), o.bytes);
        }
    }
    Ok((files, not_sse_s3))
}

/// Loads the run's pinned cluster.yaml (copied into `runs/<id>/` by [`start`]).
async fn load_cluster<S: ObjectStore>(store: &S, run: &Run) -> Result<Cluster, StepError> {
    let key = format!("{}cluster.yaml", run.keys().run(&run.run_id));
    let text = get_text(store, &key)
        .await?
        .ok_or_else(|| StepError::new("ConfigMissing", format!("{key} is missing")))?;
    validate::load(&text)
        .cluster
        .ok_or_else(|| StepError::new("ConfigInvalid", format!("{key} no longer validates")))
}

/// Updates `status.json` for `run` with `phase` and whatever `edit` sets.
async fn set_status<S: ObjectStore>(
    store: &S,
    run: &Run,
    phase: Phase,
    edit: impl FnOnce(&mut Status),
) -> Result<Status, StepError> {
    let key = run.keys().status();
    let previous: Option<Status> = get_text(store, &key)
        .await?
        .and_then(|t| serde_json::from_str(&t).ok());
    let started = |t: &str| OffsetDateTime::parse(t, &Rfc3339).ok();
    if let Some(p) = &previous
        && p.run_id != run.run_id
        && started(&p.started_at) > started(&run.started_at)
    {
        // A newer run owns status.json; this run's record is in runs/<id>/ only.
        return Ok(p.clone());
    }
    let mut status = match previous {
        Some(s) if s.run_id == run.run_id => s,
        other => Status {
            cluster: run.cluster.clone(),
            phase,
            run_id: run.run_id.clone(),
            execution_arn: run.execution_arn.clone(),
            config_version: run.config_version.clone(),
            // Keep what is known about the deployed cluster from the previous run.
            stacks: other.as_ref().map(|s| s.stacks.clone()).unwrap_or_default(),
            api_endpoint: other.as_ref().and_then(|s| s.api_endpoint.clone()),
            certificates: other.as_ref().and_then(|s| s.certificates.clone()),
            plan: BTreeMap::new(),
            addons: other.as_ref().and_then(|s| s.addons.clone()),
            addon_changes: Vec::new(),
            started_at: run.started_at.clone(),
            updated_at: String::new(),
            last_error: None,
            drift: other.as_ref().and_then(|s| s.drift.clone()),
        },
    };
    status.phase = phase;
    status.updated_at = timestamp();
    edit(&mut status);
    put_json(store, &key, &status).await?;
    Ok(status)
}

/// One run per cluster applies at a time: a run still in progress makes a newer one wait
/// (`RunInProgress`, retried by the state machine), except a run that waits for approval,
/// which the newer upload supersedes (its plan is rejected as stale).
async fn take_turn<S: ObjectStore, X: Executions>(
    store: &S,
    sfn: &X,
    cluster: &str,
    run_id: &str,
) -> Result<(), StepError> {
    let keys = ClusterKeys::new(cluster);
    let Some(prev) = get_text(store, &keys.status())
        .await?
        .and_then(|t| serde_json::from_str::<Status>(&t).ok())
    else {
        return Ok(());
    };
    if prev.run_id == run_id || prev.phase.is_final() {
        return Ok(());
    }
    let alive = match &prev.execution_arn {
        Some(arn) => match sfn.describe_execution(arn).await {
            Ok(info) => info.status == "RUNNING",
            Err(e) if e.is_transient() => return Err(e.into()),
            Err(_) => false,
        },
        None => false,
    };
    if !alive {
        return Ok(()); // a run that died without recording its end holds nothing
    }
    if prev.phase == Phase::AwaitingApproval {
        let key = pending_key(cluster);
        if let Some(p) = get_text(store, &key)
            .await?
            .and_then(|t| serde_json::from_str::<PendingApproval>(&t).ok())
            .filter(|p| p.run_id == prev.run_id)
        {
            sfn.send_task_failure(
                &p.task_token,
                "PlanRejected",
                &format!("superseded by run {run_id}: a newer cluster.yaml was uploaded"),
            )
            .await?;
            store.delete(&key).await?;
        }
        return Ok(());
    }
    Err(StepError::new(
        "RunInProgress",
        format!(
            "run {} of {cluster} is still {:?}; this run ({run_id}) starts when it ends",
            prev.run_id, prev.phase
        ),
    ))
}

/// The cluster a request key belongs to (`clusters/<name>/...`).
fn cluster_of(key: &str) -> Result<&str, StepError> {
    ClusterKeys::cluster_of(key).ok_or_else(|| {
        StepError::new(
            "RequestInvalid",
            format!("{key} is not under clusters/<name>/"),
        )
    })
}

/// Step 1: waits its turn, validates the uploaded cluster.yaml (the pinned version) and that it
/// does not move running workers to another API endpoint, records it in `runs/<id>/`, and
/// starts `status.json`. With `require_approval` (the installation's
/// policy) every plan waits for approval, whatever cluster.yaml says.
pub async fn start<S: ObjectStore, X: Executions, C: Stacks>(
    store: &S,
    sfn: &X,
    cfn: &C,
    input: &StartInput,
    require_approval: bool,
) -> Result<Run, StepError> {
    let cluster_name = cluster_of(&input.key)?;
    let keys = ClusterKeys::new(cluster_name);
    take_turn(store, sfn, cluster_name, &input.run_id).await?;
    let object = store
        .get(&input.key, input.version.as_deref())
        .await?
        .ok_or_else(|| {
            StepError::new(
                "ConfigMissing",
                format!(
                    "s3://{}/{} (version {}) no longer exists",
                    input.bucket,
                    input.key,
                    input.version.as_deref().unwrap_or("latest")
                ),
            )
        })?;
    // Events can arrive out of order: only the newest upload is applied.
    if let Some(v) = &input.version
        && let Some(latest) = store.get(&input.key, None).await?
        && latest.version.as_ref().is_some_and(|l| l != v)
    {
        return Err(StepError::new(
            "Superseded",
            format!(
                "cluster.yaml version {v} was replaced by version {} before this run started; the newer upload's run applies it",
                latest.version.unwrap_or_default()
            ),
        ));
    }
    let mut run = Run::for_request(input)?;
    run.config_version = object.version.clone().or(run.config_version);
    let run_prefix = keys.run(&run.run_id);
    store
        .put(
            &format!("{run_prefix}cluster.yaml"),
            object.bytes.clone(),
            YAML,
        )
        .await?;
    let text = String::from_utf8(object.bytes)
        .map_err(|_| StepError::new("ConfigInvalid", format!("{} is not UTF-8 text", input.key)))?;
    let loaded = validate::load(&text);
    let Some(cluster) = loaded.cluster else {
        return Err(StepError::new(
            "ConfigInvalid",
            clip(&loaded.diagnostics.render(&input.key)),
        ));
    };
    if cluster.name.as_str() != cluster_name {
        return Err(StepError::new(
            "ConfigInvalid",
            format!(
                "{}: clusterName is `{}` but the file is under clusters/{cluster_name}/; make them equal",
                input.key, cluster.name
            ),
        ));
    }
    if cluster.s3.bucket != input.bucket || !cluster.s3.prefix.is_empty() {
        return Err(StepError::new(
            "ConfigInvalid",
            format!(
                "{}: s3URI is s3://{}/{} but this installation keeps clusters in s3://{}; set `s3URI: s3://{}`",
                input.key, cluster.s3.bucket, cluster.s3.prefix, input.bucket, input.bucket
            ),
        ));
    }
    if cluster.ami_id.is_none() {
        let channel = format!("{:?}", cluster.release_channel).to_lowercase();
        return Err(StepError::new(
            "ConfigInvalid",
            format!(
                "{}: amiId is required by the pipeline (the stacks need the Flatcar AMI of {}); \
                 take the `{}` channel's AMI for {} from \
                 https://{}.release.flatcar-linux.net/amd64-usr/current/flatcar_production_ami_all.json \
                 and set `amiId: ami-...`",
                input.key, cluster.region, channel, cluster.region, channel,
            ),
        ));
    }
    // The workers' API endpoint never moves in one run (running workers would be
    // cut off): refused before anything, credentials included, changes.
    let control_plane = cluster.stack_name("control-plane");
    if let Some(deployed) = cfn.describe_stack(&control_plane).await? {
        let workers_endpoint = kubeline_core::render::node_api_endpoint(&cluster);
        kubeline_core::pipeline::check_node_endpoint(
            deployed
                .outputs
                .get(kubeline_core::pipeline::NODE_API_ENDPOINT_OUTPUT)
                .map(String::as_str),
            &workers_endpoint,
        )
        .map_err(|e| StepError::new("ConfigInvalid", e))?;
    }
    // The installation may require approval of every plan (its RequireApproval parameter).
    run.approval = if require_approval {
        Approval::Manual
    } else {
        cluster.approval
    };
    put_json(store, &format!("{run_prefix}run.json"), &run).await?;
    set_status(store, &run, Phase::Preparing, |s| {
        s.execution_arn = run.execution_arn.clone();
        s.config_version = run.config_version.clone();
    })
    .await?;
    Ok(run)
}

/// Step 2 (certificates expiring within `renew_within_days` are renewed): brings the
/// cluster's credentials up to date in the bucket (sealed with KMS).
pub async fn credentials<S: ObjectStore, K: Kms>(
    store: &S,
    kms: &K,
    run: &Run,
    renew_within_days: u32,
) -> Result<Value, StepError> {
    let cluster = load_cluster(store, run).await?;
    let prefix = run.keys().credentials();
    let (stored, not_sse_s3) = read_prefix_sse(store, &prefix, |_| true).await?;
    let plain = sealed::open(kms, &run.cluster, &stored).await?;
    let opts = Options {
        now: now(),
        renew_within_days,
    };
    let outcome = reconcile::reconcile(&cluster, &plain, CaSource::Generate, &opts)
        .map_err(|e| StepError::new(e.name(), format!("{e}; {}", e.fix())))?;
    let key_id = cluster.kms_key_arn.to_string();
    let sealed_now = sealed::seal(kms, &key_id, &run.cluster, &outcome.files, &stored).await?;
    let mut written = 0;
    for (name, bytes) in &sealed_now {
        // Unchanged files are rewritten (same bytes) only when stored before node objects
        // were SSE-S3, so nodes of existing clusters can read them; nothing else changes.
        if stored.get(name) != Some(bytes) || not_sse_s3.contains(name) {
            let content_type = if name.ends_with(".pem") {
                "application/x-pem-file"
            } else {
                "application/octet-stream"
            };
            store
                .put_node_object(
                    &format!("{prefix}{name}"),
                    bytes.clone(),
                    content_type,
                    false,
                )
                .await?;
            written += 1;
        }
    }
    for name in stored.keys().filter(|n| !sealed_now.contains_key(*n)) {
        store.delete(&format!("{prefix}{name}")).await?;
    }
    let summary =
        reconcile::earliest_certificate(&outcome.files).map(|(file, c)| CertificateSummary {
            file,
            not_after: c.not_after.format(&Rfc3339).unwrap_or_default(),
            days_left: c.days_left(opts.now),
        });
    set_status(store, run, Phase::Preparing, |s| {
        s.certificates = summary.clone()
    })
    .await?;
    let count = |f: fn(&Change) -> bool| outcome.entries.iter().filter(|e| f(&e.change)).count();
    Ok(json!({
        "created": count(|c| matches!(c, Change::Created)),
        "reissued": count(|c| matches!(c, Change::Replaced(_))),
        "unchanged": count(|c| matches!(c, Change::Unchanged)),
        "objectsWritten": written,
        "notes": outcome.notes,
    }))
}

/// A digest per node role of the credentials that role receives (certificates' bytes and the
/// secrets' plaintext fingerprints), from the bucket.
async fn credentials_generation<S: ObjectStore>(
    store: &S,
    run: &Run,
) -> Result<BTreeMap<String, String>, StepError> {
    use kubeline_core::layout::{NodeRole, node_credentials};
    let prefix = run.keys().credentials();
    let mut out = BTreeMap::new();
    for role in [NodeRole::Controller, NodeRole::Etcd, NodeRole::Worker] {
        let creds = node_credentials(role);
        let mut h = Sha256::new();
        let names = creds.public.iter().map(|n| (*n).to_owned()).chain(
            creds
                .secret
                .iter()
                .map(|n| format!("{n}{}", sealed::FINGERPRINT_SUFFIX)),
        );
        for name in names {
            let bytes = store
                .get(&format!("{prefix}{name}"), None)
                .await?
                .map(|o| o.bytes)
                .unwrap_or_default();
            h.update(name.as_bytes());
            h.update([0]);
            h.update(&bytes);
            h.update([0]);
        }
        out.insert(
            render::role_name(role).to_owned(),
            hex::encode(&h.finalize()[..16]),
        );
    }
    Ok(out)
}

/// One stack of a render, for the later steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenderedStack {
    /// Stack name.
    pub name: String,
    /// Key of its template in the bucket.
    pub template_key: String,
    /// Stacks it imports from.
    pub depends_on: Vec<String>,
    /// Stack tags.
    pub tags: BTreeMap<String, String>,
    /// Over 51,200 bytes: passed by URL.
    pub needs_template_url: bool,
}

/// What [`render`] produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenderOutput {
    /// `clusters/<name>/assets/<hash>/`.
    pub assets: String,
    /// Stacks in apply order.
    pub stacks: Vec<RenderedStack>,
}

/// Step 3: renders stacks and node configs; uploads node configs (content-addressed) and the
/// stack templates under `assets/<content-hash>/`.
pub async fn render<S: ObjectStore>(store: &S, run: &Run) -> Result<RenderOutput, StepError> {
    let cluster = load_cluster(store, run).await?;
    let inputs = render::Inputs {
        credentials_generation: credentials_generation(store, run).await?,
    };
    let rendered = render::render_with(&cluster, &Templates::builtin(), &inputs)
        .map_err(|e| StepError::new("TemplateInvalid", e.to_string()))?;
    if rendered.has_limit_errors() {
        let msgs: Vec<String> = rendered
            .limits
            .iter()
            .filter(|l| l.error)
            .map(|l| format!("{}: {}", l.file, l.message))
            .collect();
        return Err(StepError::new("TemplateInvalid", msgs.join("\n")));
    }
    let mut hasher = Sha256::new();
    for (name, bytes) in &rendered.files {
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(bytes);
    }
    let hash = hex::encode(&hasher.finalize()[..8]);
    let assets = run.keys().assets(&hash);
    for up in &rendered.uploads {
        if let Some(bytes) = rendered.files.get(&up.file) {
            store
                .put_node_object(&up.key, bytes.clone(), JSON, true)
                .await?;
        }
    }
    for (name, bytes) in &rendered.files {
        if !name.starts_with("userdata/") {
            store
                .put_asset(&format!("{assets}{name}"), bytes.clone(), JSON)
                .await?;
        }
    }
    let out = RenderOutput {
        stacks: rendered
            .stacks
            .iter()
            .map(|s| RenderedStack {
                name: s.name.clone(),
                template_key: format!("{assets}stack-templates/{}", s.template),
                depends_on: s.depends_on.clone(),
                tags: s.tags.clone(),
                needs_template_url: s.needs_template_url,
            })
            .collect(),
        assets,
    };
    put_json(
        store,
        &format!("{}render.json", run.keys().run(&run.run_id)),
        &out,
    )
    .await?;
    Ok(out)
}

/// Step 4: CloudFormation's ValidateTemplate on every stack, and the hosted zones of managed
/// DNS records must exist.
pub async fn check_templates<S: ObjectStore, C: Stacks, D: Dns>(
    store: &S,
    cfn: &C,
    dns: &D,
    run: &Run,
    rendered: &RenderOutput,
) -> Result<Value, StepError> {
    let cluster = load_cluster(store, run).await?;
    let mut checked = 0;
    for s in &rendered.stacks {
        let body = get_text(store, &s.template_key).await?.ok_or_else(|| {
            StepError::new("TemplateInvalid", format!("{} is missing", s.template_key))
        })?;
        if !s.needs_template_url {
            cfn.validate_template(&body).await.map_err(|e| {
                if e.is_transient() {
                    StepError::from(e)
                } else {
                    StepError::new("TemplateInvalid", format!("{}: {e}", s.name))
                }
            })?;
            checked += 1;
        }
    }
    for ep in &cluster.api_endpoints {
        if let (true, Some(zone)) = (ep.record_set_managed, ep.hosted_zone_id.as_deref())
            && !dns.hosted_zone_exists(zone).await?
        {
            return Err(StepError::new(
                "HostedZoneMissing",
                format!(
                    "apiEndpoints `{}`: hosted zone {zone} does not exist; create it or set recordSetManaged: false",
                    ep.name
                ),
            ));
        }
    }
    Ok(json!({"validated": checked}))
}

/// What [`plan`] says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanOutput {
    /// Every change set is ready (otherwise call again after a wait).
    pub ready: bool,
    /// Something changes.
    pub has_changes: bool,
    /// The chat message to publish (when ready), as the SNS message text.
    #[serde(default)]
    pub notification: Option<String>,
}

fn no_changes_reason(reason: Option<&str>) -> bool {
    reason.is_some_and(|r| {
        r.contains("didn't contain changes") || r.contains("No updates are to be performed")
    })
}

/// Whether a stack exists in a state that takes an UPDATE change set.
fn exists(info: Option<&stacks::StackInfo>) -> bool {
    info.is_some_and(|i| i.status != "REVIEW_IN_PROGRESS" && i.status != "DELETE_COMPLETE")
}

fn template_resources(body: &str) -> Vec<ResourceChange> {
    let v: Value = serde_json::from_str(body).unwrap_or_default();
    v["Resources"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(id, r)| ResourceChange {
                    action: "Add".into(),
                    logical_id: id.clone(),
                    resource_type: r["Type"].as_str().unwrap_or_default().to_owned(),
                    replacement: None,
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn change_set_request<S: ObjectStore>(
    store: &S,
    run: &Run,
    s: &RenderedStack,
    create: bool,
) -> Result<ChangeSetRequest, StepError> {
    let body = get_text(store, &s.template_key).await?.ok_or_else(|| {
        StepError::new("TemplateInvalid", format!("{} is missing", s.template_key))
    })?;
    let (template_body, template_url) = if s.needs_template_url {
        (
            None,
            Some(format!(
                "https://{}.s3.amazonaws.com/{}",
                run.bucket, s.template_key
            )),
        )
    } else {
        (Some(body), None)
    };
    Ok(ChangeSetRequest {
        stack: s.name.clone(),
        name: run.change_set_name(&s.name),
        template_body,
        template_url,
        create,
        tags: s.tags.clone(),
    })
}

/// Step 5: one change set per stack whose dependencies exist (dependent new stacks are planned
/// from their templates and get their change sets during apply). Call until `ready`.
pub async fn plan<S: ObjectStore, C: Stacks>(
    store: &S,
    cfn: &C,
    run: &Run,
    rendered: &RenderOutput,
) -> Result<PlanOutput, StepError> {
    let mut ready = true;
    let mut stacks_plan = Vec::new();
    for s in &rendered.stacks {
        let cs = run.change_set_name(&s.name);
        let info = cfn.describe_stack(&s.name).await?;
        if let Some(i) = &info {
            if i.status.ends_with("_IN_PROGRESS") && i.status != "REVIEW_IN_PROGRESS" {
                return Err(StepError::new(
                    "StackBusy",
                    format!("stack {} is {}; the run waits for it", s.name, i.status),
                ));
            }
            if i.status == "ROLLBACK_COMPLETE" || i.status == "ROLLBACK_FAILED" {
                return Err(StepError::new(
                    "StackFailed",
                    format!(
                        "stack {} is {} from an earlier failed create and cannot be updated; delete it (`aws cloudformation delete-stack --stack-name {}`) and upload cluster.yaml again",
                        s.name, i.status, s.name
                    ),
                ));
            }
        }
        let existing = cfn.describe_change_set(&s.name, &cs).await?;
        let info_cs = match existing {
            Some(c) => Some(c),
            None => {
                let mut deps_ready = true;
                for d in &s.depends_on {
                    let dep = cfn.describe_stack(d).await?;
                    deps_ready &= dep.is_some_and(|i| stacks::is_complete(&i.status));
                }
                if exists(info.as_ref()) || deps_ready {
                    let req = change_set_request(store, run, s, !exists(info.as_ref())).await?;
                    cfn.create_change_set(&req).await?;
                    cfn.describe_change_set(&s.name, &cs).await?
                } else {
                    None
                }
            }
        };
        match info_cs {
            None => {
                let body = get_text(store, &s.template_key).await?.unwrap_or_default();
                stacks_plan.push(StackChange {
                    stack: s.name.clone(),
                    action: StackAction::Create,
                    changes: template_resources(&body),
                    change_set: None,
                });
            }
            Some(c) if c.status == "CREATE_PENDING" || c.status == "CREATE_IN_PROGRESS" => {
                ready = false;
            }
            Some(c) if c.status == "FAILED" && no_changes_reason(c.reason.as_deref()) => {
                cfn.delete_change_set(&s.name, &cs).await?;
                stacks_plan.push(StackChange {
                    stack: s.name.clone(),
                    action: StackAction::NoChange,
                    changes: vec![],
                    change_set: None,
                });
            }
            Some(c) if c.status == "FAILED" => {
                return Err(StepError::new(
                    "ChangeSetFailed",
                    format!(
                        "change set {cs} of stack {} failed: {}",
                        s.name,
                        c.reason.unwrap_or_default()
                    ),
                ));
            }
            Some(c) => stacks_plan.push(StackChange {
                stack: s.name.clone(),
                action: if exists(info.as_ref()) {
                    StackAction::Update
                } else {
                    StackAction::Create
                },
                changes: c.changes,
                change_set: Some(cs.clone()),
            }),
        }
    }
    if !ready {
        set_status(store, run, Phase::Planning, |_| {}).await?;
        return Ok(PlanOutput {
            ready: false,
            has_changes: false,
            notification: None,
        });
    }
    // The add-on set this run deploys (the render's manifest.json) against the deployed one.
    let addons: Vec<AddonVersion> = get_text(store, &format!("{}manifest.json", rendered.assets))
        .await?
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|m| serde_json::from_value(m["addons"].clone()).ok())
        .unwrap_or_default();
    let deployed: Option<Vec<AddonVersion>> = get_text(store, &run.keys().status())
        .await?
        .and_then(|t| serde_json::from_str::<Status>(&t).ok())
        .and_then(|s| s.addons);
    let plan = Plan {
        stacks: stacks_plan,
        addon_changes: kubeline_core::pipeline::addon_changes(deployed.as_deref(), &addons),
        addons,
    };
    let keys = run.keys();
    put_json(store, &format!("{}plan.json", keys.run(&run.run_id)), &plan).await?;
    let has_changes = plan.has_changes();
    let notification = if !has_changes {
        set_status(store, run, Phase::NoChanges, |s| {
            s.plan = plan.counts();
            s.addon_changes = Vec::new();
        })
        .await?;
        put_json(
            store,
            &format!("{}result.json", keys.run(&run.run_id)),
            &json!({"outcome": "no-changes", "finishedAt": timestamp()}),
        )
        .await?;
        Chat::no_changes(&run.cluster, &run.run_id)
    } else if run.approval == Approval::Manual {
        set_status(store, run, Phase::AwaitingApproval, |s| {
            s.plan = plan.counts();
            s.addon_changes = plan.addon_changes.clone();
        })
        .await?;
        Chat::plan(
            &run.cluster,
            &run.run_id,
            &plan,
            Some(&keys.approval(&run.run_id)),
        )
    } else {
        set_status(store, run, Phase::Applying, |s| {
            s.plan = plan.counts();
            s.addon_changes = plan.addon_changes.clone();
        })
        .await?;
        Chat::plan(&run.cluster, &run.run_id, &plan, None)
    };
    Ok(PlanOutput {
        ready: true,
        has_changes,
        notification: Some(notification.to_json().to_string()),
    })
}

/// The approval a run waits for: its task token, kept until a decision arrives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PendingApproval {
    run_id: String,
    task_token: String,
}

fn pending_key(cluster: &str) -> String {
    format!("{}pending-approval.json", ClusterKeys::new(cluster).prefix)
}

/// Approval step (a `.waitForTaskToken` task): remembers the task token until an approval
/// file arrives. A newer run waiting for approval supersedes an older one.
pub async fn await_approval<S: ObjectStore, X: Executions>(
    store: &S,
    sfn: &X,
    run: &Run,
    task_token: &str,
) -> Result<Value, StepError> {
    let key = pending_key(&run.cluster);
    if let Some(old) = get_text(store, &key)
        .await?
        .and_then(|t| serde_json::from_str::<PendingApproval>(&t).ok())
        && old.run_id != run.run_id
    {
        sfn.send_task_failure(
            &old.task_token,
            "PlanRejected",
            &format!("superseded by run {} (a newer cluster.yaml)", run.run_id),
        )
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
    let approval_key = ClusterKeys::new(&run.cluster).approval(&run.run_id);
    if let Some(text) = get_text(store, &approval_key).await?
        && let Ok(request) = kubeline_core::pipeline::parse_approval(&text)
    {
        decide(store, sfn, &key, &pending, &request).await?;
        return Ok(json!({"decidedBy": approval_key}));
    }
    Ok(json!({"waitingFor": ClusterKeys::new(&run.cluster).approval(&run.run_id)}))
}

/// Sends an approval decision to the waiting task and forgets the token.
async fn decide<S: ObjectStore, X: Executions>(
    store: &S,
    sfn: &X,
    pending_key: &str,
    pending: &PendingApproval,
    request: &kubeline_core::pipeline::ApprovalRequest,
) -> Result<(), StepError> {
    match request.decision {
        Decision::Approve => {
            let out = json!({"decision": "approve", "by": request.by, "comment": request.comment});
            sfn.send_task_success(&pending.task_token, &out.to_string())
                .await?;
        }
        Decision::Reject => {
            let cause = format!(
                "rejected by {}{}",
                request.by.as_deref().unwrap_or("an approver"),
                request
                    .comment
                    .as_deref()
                    .map(|c| format!(": {c}"))
                    .unwrap_or_default()
            );
            sfn.send_task_failure(&pending.task_token, "PlanRejected", &cause)
                .await?;
        }
    }
    store.delete(pending_key).await?;
    Ok(())
}

/// Handles an approval file (`clusters/<name>/approvals/<run-id>.yaml`): resumes or rejects the
/// waiting run. A decision that arrives before the run waits is kept and taken up by
/// [`await_approval`]. Returns what was done, for the log.
pub async fn approval_request<S: ObjectStore, X: Executions>(
    store: &S,
    sfn: &X,
    key: &str,
) -> Result<Value, StepError> {
    let cluster = ClusterKeys::cluster_of(key).ok_or_else(|| {
        StepError::new(
            "RequestInvalid",
            format!("{key} is not under clusters/<name>/"),
        )
    })?;
    let run_id = key
        .rsplit('/')
        .next()
        .and_then(|f| f.strip_suffix(".yaml"))
        .ok_or_else(|| {
            StepError::new(
                "RequestInvalid",
                format!("{key}: expected approvals/<run-id>.yaml"),
            )
        })?;
    let text = get_text(store, key)
        .await?
        .ok_or_else(|| StepError::new("RequestInvalid", format!("{key} is gone")))?;
    let request = kubeline_core::pipeline::parse_approval(&text)
        .map_err(|e| StepError::new("RequestInvalid", format!("{key}: {e}")))?;
    let pending_key = pending_key(cluster);
    let pending: Option<PendingApproval> = get_text(store, &pending_key)
        .await?
        .and_then(|t| serde_json::from_str(&t).ok())
        .filter(|p: &PendingApproval| p.run_id == run_id);
    let Some(pending) = pending else {
        let status: Option<Status> = get_text(store, &ClusterKeys::new(cluster).status())
            .await?
            .and_then(|t| serde_json::from_str(&t).ok());
        return match status {
            Some(s) if s.run_id == run_id && !s.phase.is_final() => Ok(json!({
                "cluster": cluster,
                "runId": run_id,
                "decision": request.decision,
                "note": "recorded; the run takes it up when it waits for approval",
            })),
            _ => Err(StepError::new(
                "RequestInvalid",
                format!("{key}: no run {run_id} of {cluster} is waiting for approval"),
            )),
        };
    };
    decide(store, sfn, &pending_key, &pending, &request).await?;
    Ok(json!({"cluster": cluster, "runId": run_id, "decision": request.decision}))
}

/// What [`apply`] says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyOutput {
    /// Every stack is complete.
    pub done: bool,
    /// The stack being worked on, when not done.
    #[serde(default)]
    pub current: Option<String>,
    /// The chat message to publish (when done), as the SNS message text.
    #[serde(default)]
    pub notification: Option<String>,
}

async fn stack_failure<C: Stacks>(cfn: &C, stack: &str, status: &str) -> StepError {
    let reasons = match cfn.failed_resources(stack).await {
        Ok(f) if !f.is_empty() => f
            .iter()
            .take(5)
            .map(|r| {
                format!(
                    "{} ({}): {}: {}",
                    r.logical_id, r.resource_type, r.status, r.reason
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        _ => "no failed resource events".into(),
    };
    StepError::new(
        "StackFailed",
        format!("stack {stack} is {status}: {reasons}"),
    )
}

/// Step 6: advances the apply by one move (execute the next change set, create the change set
/// of a stack whose dependencies just appeared) and says whether every stack is done. The state
/// machine calls it in a Wait/Choice loop.
pub async fn apply<S: ObjectStore, C: Stacks>(
    store: &S,
    cfn: &C,
    run: &Run,
    rendered: &RenderOutput,
) -> Result<ApplyOutput, StepError> {
    let keys = run.keys();
    let executed_key = format!("{}executed.json", keys.run(&run.run_id));
    let mut executed: Vec<String> = get_text(store, &executed_key)
        .await?
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    for s in &rendered.stacks {
        let cs = run.change_set_name(&s.name);
        let info = cfn.describe_stack(&s.name).await?;
        let status = info.as_ref().map(|i| i.status.as_str()).unwrap_or("");
        let ran_here = executed.contains(&s.name);
        if status.ends_with("_IN_PROGRESS") && status != "REVIEW_IN_PROGRESS" {
            return Ok(ApplyOutput {
                done: false,
                current: Some(s.name.clone()),
                notification: None,
            });
        }
        if ran_here {
            if stacks::is_complete(status) {
                continue;
            }
            return Err(stack_failure(cfn, &s.name, status).await);
        }
        let change_set = cfn.describe_change_set(&s.name, &cs).await?;
        match change_set {
            None if exists(info.as_ref()) => continue, // planned as no change
            None => {
                let req = change_set_request(store, run, s, true).await?;
                cfn.create_change_set(&req).await?;
                return Ok(ApplyOutput {
                    done: false,
                    current: Some(s.name.clone()),
                    notification: None,
                });
            }
            Some(c) if c.status == "CREATE_PENDING" || c.status == "CREATE_IN_PROGRESS" => {
                return Ok(ApplyOutput {
                    done: false,
                    current: Some(s.name.clone()),
                    notification: None,
                });
            }
            Some(c) if c.status == "FAILED" && no_changes_reason(c.reason.as_deref()) => {
                cfn.delete_change_set(&s.name, &cs).await?;
                continue;
            }
            Some(c) if c.status == "FAILED" => {
                return Err(StepError::new(
                    "ChangeSetFailed",
                    format!(
                        "change set {cs} of stack {} failed: {}",
                        s.name,
                        c.reason.unwrap_or_default()
                    ),
                ));
            }
            Some(_) => {
                cfn.execute_change_set(&s.name, &cs).await?;
                executed.push(s.name.clone());
                put_json(store, &executed_key, &executed).await?;
                set_status(store, run, Phase::Applying, |_| {}).await?;
                return Ok(ApplyOutput {
                    done: false,
                    current: Some(s.name.clone()),
                    notification: None,
                });
            }
        }
    }
    // Every stack is complete: record them and their outputs.
    let cluster = load_cluster(store, run).await?;
    let mut states = Vec::new();
    for s in &rendered.stacks {
        let info = cfn.describe_stack(&s.name).await?;
        states.push(StackState {
            name: s.name.clone(),
            status: info
                .as_ref()
                .map(|i| i.status.clone())
                .unwrap_or_else(|| "NOT_CREATED".into()),
            outputs: info.map(|i| i.outputs).unwrap_or_default(),
        });
    }
    let api = cluster
        .api_endpoints
        .first()
        .map(|e| e.dns_name.to_string());
    // The add-on set now deployed is the one this run planned.
    let planned: Option<Plan> = get_text(store, &format!("{}plan.json", keys.run(&run.run_id)))
        .await?
        .and_then(|t| serde_json::from_str(&t).ok());
    let status = set_status(store, run, Phase::Succeeded, |st| {
        st.stacks = states.clone();
        st.api_endpoint = api.clone();
        if let Some(p) = planned {
            st.addons = Some(p.addons);
        }
        st.addon_changes = Vec::new();
    })
    .await?;
    put_json(
        store,
        &format!("{}result.json", keys.run(&run.run_id)),
        &json!({"outcome": "succeeded", "stacks": states, "executed": executed, "finishedAt": timestamp()}),
    )
    .await?;
    Ok(ApplyOutput {
        done: true,
        current: None,
        notification: Some(
            Chat::succeeded(&run.cluster, &run.run_id, &status)
                .to_json()
                .to_string(),
        ),
    })
}

/// The Catch of every state: what failed, and the run (when it got that far).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailInput {
    /// The run, if `start` succeeded.
    #[serde(default)]
    pub run: Option<Run>,
    /// Otherwise the start input.
    #[serde(default)]
    pub input: Option<StartInput>,
    /// Step Functions' error object: `{"Error": ..., "Cause": ...}`.
    pub error: Value,
}

/// Removes what a run that ends before applying leaves in CloudFormation: its change sets, and
/// the empty stacks (REVIEW_IN_PROGRESS) that its CREATE change sets made.
async fn clean_up<S: ObjectStore, C: Stacks>(
    store: &S,
    cfn: &C,
    run: &Run,
) -> Result<(), StepError> {
    let rendered: Option<RenderOutput> = get_text(
        store,
        &format!("{}render.json", run.keys().run(&run.run_id)),
    )
    .await?
    .and_then(|t| serde_json::from_str(&t).ok());
    let Some(rendered) = rendered else {
        return Ok(());
    };
    for s in &rendered.stacks {
        let cs = run.change_set_name(&s.name);
        if let Some(c) = cfn.describe_change_set(&s.name, &cs).await?
            && c.execution_status.as_deref() != Some("EXECUTE_COMPLETE")
        {
            cfn.delete_change_set(&s.name, &cs).await.ok();
        }
        if let Some(info) = cfn.describe_stack(&s.name).await?
            && info.status == "REVIEW_IN_PROGRESS"
        {
            cfn.delete_stack(&s.name).await?;
        }
    }
    Ok(())
}

/// Records a failed, rejected or superseded run in `status.json` (unless a newer run owns it)
/// and `runs/<id>/result.json`, after removing the run's unexecuted change sets and empty
/// stacks; returns `{"notification": <chat message text>}`.
pub async fn fail<S: ObjectStore, C: Stacks>(
    store: &S,
    cfn: &C,
    input: &FailInput,
) -> Result<Value, StepError> {
    let run = match (&input.run, &input.input) {
        (Some(r), _) => r.clone(),
        (None, Some(i)) => Run::for_request(i)?,
        (None, None) => {
            return Err(StepError::new(
                "RequestInvalid",
                "fail needs the run or the start input",
            ));
        }
    };
    let name = input.error["Error"]
        .as_str()
        .unwrap_or("Internal")
        .to_owned();
    let raw_cause = input.error["Cause"].as_str().unwrap_or_default();
    // Lambda errors arrive as JSON ({"errorMessage": ...}); the local worker sends plain text.
    let cause = serde_json::from_str::<Value>(raw_cause)
        .ok()
        .and_then(|v| v["errorMessage"].as_str().map(str::to_owned))
        .unwrap_or_else(|| raw_cause.to_owned());
    let error = RunError {
        error: name.clone(),
        cause: clip(&cause),
    };
    clean_up(store, cfn, &run).await?;
    let outcome = match name.as_str() {
        "PlanRejected" => "rejected",
        "Superseded" => "superseded",
        _ => "failed",
    };
    match outcome {
        // A superseded run never started: the newer run owns status.json.
        "superseded" => {}
        "rejected" => {
            set_status(store, &run, Phase::Rejected, |s| s.last_error = None).await?;
        }
        _ => {
            set_status(store, &run, Phase::Failed, |s| {
                s.last_error = Some(error.clone())
            })
            .await?;
        }
    }
    put_json(
        store,
        &format!("{}result.json", run.keys().run(&run.run_id)),
        &json!({"outcome": outcome, "error": error, "finishedAt": timestamp()}),
    )
    .await?;
    let chat = match outcome {
        "rejected" => Chat::rejected(&run.cluster, &run.run_id, None, Some(&error.cause)),
        "superseded" => Chat::superseded(&run.cluster, &run.run_id, &error.cause),
        _ => Chat::failed(&run.cluster, &run.run_id, &error),
    };
    Ok(json!({"notification": chat.to_json().to_string()}))
}

/// A confirmed destroy: the run and the stacks to delete, in deletion order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DestroyPlan {
    /// The run.
    pub run: Run,
    /// Stacks in deletion order (the reverse of apply order).
    pub stacks: Vec<String>,
}

/// Destroy step 1: only a request that says `confirm: <cluster>` proceeds, and only when no
/// stack has termination protection.
pub async fn destroy_check<S: ObjectStore, C: Stacks>(
    store: &S,
    cfn: &C,
    input: &StartInput,
) -> Result<DestroyPlan, StepError> {
    let run = Run::for_request(input)?;
    let cluster = run.cluster.as_str();
    let keys = ClusterKeys::new(cluster);
    let text = get_text(store, &input.key).await?.ok_or_else(|| {
        StepError::new(
            "DestroyNotConfirmed",
            format!("{} is gone; nothing is destroyed", input.key),
        )
    })?;
    store
        .put(
            &format!("{}destroy.yaml", keys.run(&run.run_id)),
            text.clone().into_bytes(),
            YAML,
        )
        .await?;
    kubeline_core::pipeline::check_destroy(&text, cluster)
        .map_err(|e| StepError::new("DestroyNotConfirmed", format!("{}: {e}", input.key)))?;
    // The stacks kubeline created: from the last successful run, else from the current render.
    let status: Option<Status> = get_text(store, &keys.status())
        .await?
        .and_then(|t| serde_json::from_str(&t).ok());
    let mut names: Vec<String> = status
        .map(|s| s.stacks.into_iter().map(|x| x.name).collect())
        .unwrap_or_default();
    if names.is_empty()
        && let Some(text) = get_text(store, &keys.config()).await?
        && let Some(c) = validate::load(&text).cluster
        && let Ok(r) = render::render(&c, &Templates::builtin())
    {
        names = r.stacks.into_iter().map(|s| s.name).collect();
    }
    names.reverse();
    for name in &names {
        if let Some(info) = cfn.describe_stack(name).await?
            && info.termination_protection
        {
            return Err(StepError::new(
                "TerminationProtected",
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
) -> Result<ApplyOutput, StepError> {
    for name in &plan.stacks {
        let Some(info) = cfn.describe_stack(name).await? else {
            continue;
        };
        match info.status.as_str() {
            "DELETE_COMPLETE" => continue,
            "DELETE_IN_PROGRESS" => {
                return Ok(ApplyOutput {
                    done: false,
                    current: Some(name.clone()),
                    notification: None,
                });
            }
            "DELETE_FAILED" => return Err(stack_failure(cfn, name, "DELETE_FAILED").await),
            s if s.ends_with("_IN_PROGRESS") && s != "REVIEW_IN_PROGRESS" => {
                return Ok(ApplyOutput {
                    done: false,
                    current: Some(name.clone()),
                    notification: None,
                });
            }
            _ => {
                cfn.delete_stack(name).await?;
                return Ok(ApplyOutput {
                    done: false,
                    current: Some(name.clone()),
                    notification: None,
                });
            }
        }
    }
    let run = &plan.run;
    let keys = run.keys();
    set_status(store, run, Phase::Destroyed, |s| {
        s.stacks.clear();
        s.api_endpoint = None;
    })
    .await?;
    put_json(
        store,
        &format!("{}result.json", keys.run(&run.run_id)),
        &json!({"outcome": "destroyed", "stacks": plan.stacks, "finishedAt": timestamp()}),
    )
    .await?;
    store.delete(&keys.destroy()).await?;
    Ok(ApplyOutput {
        done: true,
        current: None,
        notification: Some(
            Chat::destroyed(&run.cluster, &run.run_id, &plan.stacks)
                .to_json()
                .to_string(),
        ),
    })
}

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

/// Rotation step 1: every cluster with credentials in the bucket and its earliest certificate
/// expiry; `due` when it is within `within_days`.
pub async fn rotation_list<S: ObjectStore>(
    store: &S,
    within_days: u32,
) -> Result<Vec<RotationItem>, StepError> {
    let mut clusters: Vec<String> = store
        .list("clusters/")
        .await?
        .iter()
        .filter(|k| k.ends_with("/credentials/ca.pem"))
        .filter_map(|k| ClusterKeys::cluster_of(k).map(str::to_owned))
        .collect();
    clusters.dedup();
    let mut out = Vec::new();
    for cluster in clusters {
        let prefix = ClusterKeys::new(&cluster).credentials();
        // Certificates are stored in plain: no KMS call is needed to read their expiry.
        let certs = read_prefix(store, &prefix, |name| name.ends_with(".pem")).await?;
        let earliest = reconcile::earliest_certificate(&certs);
        if let Some((file, cert)) = earliest {
            let days_left = cert.days_left(now());
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
pub async fn rotation_renew<S: ObjectStore>(store: &S, cluster: &str) -> Result<Value, StepError> {
    let key = ClusterKeys::new(cluster).config();
    let object = store.get(&key, None).await?.ok_or_else(|| {
        StepError::new(
            "ConfigMissing",
            format!(
                "{key} is gone: certificates of {cluster} cannot be renewed through the pipeline"
            ),
        )
    })?;
    let version = store.put(&key, object.bytes, YAML).await?;
    Ok(json!({"cluster": cluster, "outcome": "renewed", "runFor": version}))
}

/// Rotation step 3: the day's summary as a chat message.
pub fn rotation_summary(results: &[Value]) -> Value {
    let pick = |o: &str| -> Vec<String> {
        results
            .iter()
            .filter(|r| r["outcome"] == o)
            .filter_map(|r| r["cluster"].as_str().map(str::to_owned))
            .collect()
    };
    let (renewed, fine, failed) = (pick("renewed"), pick("fine"), pick("failed"));
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
    json!({
        "renewed": renewed,
        "fine": fine,
        "failed": failed,
        "notification": chat.to_json().to_string(),
    })
}

fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

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

/// Drift step 1: every cluster with deployed stacks (from status.json).
pub async fn drift_list<S: ObjectStore>(store: &S) -> Result<Vec<DriftItem>, StepError> {
    let mut out = Vec::new();
    for key in store.list("clusters/").await? {
        if !key.ends_with("/status.json") {
            continue;
        }
        let Some(status) = get_text(store, &key)
            .await?
            .and_then(|t| serde_json::from_str::<Status>(&t).ok())
        else {
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
) -> Result<Value, StepError> {
    let mut drifted = BTreeMap::new();
    for (stack, id) in &item.detections {
        let d = cfn.drift_detection(id).await?;
        match d.status.as_str() {
            "DETECTION_IN_PROGRESS" => return Ok(json!({"done": false, "item": item})),
            "DETECTION_FAILED" if d.stack_drift_status.is_none() => {
                return Err(StepError::new(
                    "AwsRequestInvalid",
                    format!(
                        "drift detection of {stack} failed: {}",
                        d.reason.unwrap_or_default()
                    ),
                ));
            }
            _ => {}
        }
        if d.stack_drift_status.as_deref() != Some("IN_SYNC") {
            let resources = cfn.drifted_resources(stack).await?;
            if !resources.is_empty() {
                drifted.insert(stack.clone(), resources);
            }
        }
    }
    let report = kubeline_core::pipeline::DriftReport {
        checked_at: timestamp(),
        drifted,
    };
    let key = ClusterKeys::new(&item.cluster).status();
    if let Some(mut status) = get_text(store, &key)
        .await?
        .and_then(|t| serde_json::from_str::<Status>(&t).ok())
    {
        status.drift = Some(report.clone());
        status.updated_at = timestamp();
        put_json(store, &key, &status).await?;
    }
    let count: usize = report.drifted.values().map(Vec::len).sum();
    Ok(json!({"done": true, "cluster": item.cluster, "drifted": count, "report": report}))
}

/// Drift step 4: the day's summary as a chat message (drifted resources named; nothing changed).
pub fn drift_summary(results: &[Value]) -> Value {
    let drifted: Vec<&Value> = results
        .iter()
        .filter(|r| r["drifted"].as_u64().unwrap_or(0) > 0)
        .collect();
    let mut d = String::new();
    for r in &drifted {
        d.push_str(&format!(
            "**{}**\n",
            r["cluster"].as_str().unwrap_or_default()
        ));
        for (stack, resources) in r["report"]["drifted"].as_object().into_iter().flatten() {
            for res in resources.as_array().into_iter().flatten() {
                d.push_str(&format!(
                    "- {stack}: {} ({}) {}\n",
                    res["logicalId"].as_str().unwrap_or_default(),
                    res["resourceType"].as_str().unwrap_or_default(),
                    res["driftStatus"].as_str().unwrap_or_default()
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
    json!({"drifted": drifted.len(), "notification": chat.to_json().to_string()})
}
