//! Start: waits its turn, validates the uploaded cluster.yaml (the pinned version), refuses a
//! move of the workers' API endpoint, records the run in `runs/<id>/` and starts status.json.
//! Only in the validate function (feature `schema`: it checks the upload against the schema).

use std::collections::BTreeMap;

use kubeline_aws::executions::Executions;
use kubeline_aws::networks::Networks;
use kubeline_aws::stacks::Stacks;
use kubeline_aws::store::ObjectStore;
use kubeline_core::cluster::Cluster;
use kubeline_core::errors::ErrorName;
use kubeline_core::layout::NodeGroup;
use kubeline_core::model::Approval;
use kubeline_core::pipeline::{ClusterKeys, Phase, Route};
use kubeline_core::policy::{self, CheckedExports, ExistingNetworks, Installation, NamedResource};
use kubeline_core::validate;

use super::Run;
use super::bucket::{YAML, clip, put_json, set_status, status_of};
use super::request::{StartInput, claim_version, cluster_of, exact_key, take_turn};
use crate::error::StepError;

/// A new cluster's name may neither extend nor be extended by another cluster's name followed
/// by `-` ([`kubeline_core::pipeline::shorter_names`] says why); a cluster with deployed stacks
/// keeps its name (its stacks are protected by their ownership tags).
async fn refuse_name_prefixes<S: ObjectStore>(
    store: &S,
    name: &str,
    key: &str,
) -> Result<(), StepError> {
    if status_of(store, name)
        .await?
        .is_some_and(|s| !s.stacks.is_empty())
    {
        return Ok(());
    }
    let mut others = Vec::new();
    for shorter in kubeline_core::pipeline::shorter_names(name) {
        if store
            .first_key(&ClusterKeys::new(shorter).prefix)
            .await?
            .is_some()
        {
            others.push(shorter.to_owned());
        }
    }
    if let Some(longer) = store.first_key(&format!("clusters/{name}-")).await?
        && let Some(other) = ClusterKeys::cluster_of(&longer)
    {
        others.push(other.to_owned());
    }
    match others.first() {
        None => Ok(()),
        Some(other) => Err(StepError::new(
            ErrorName::ConfigInvalid,
            format!(
                "{key}: clusterName `{name}` and this installation's cluster `{other}` would share derived names: every stack, role and load balancer is named `kubeline-<clusterName>-<part>` or `<clusterName>-<endpoint>`, and when one name is the other's followed by `-`, two different clusters can render the same one (for example cluster `prod` with node pool `x-network` and cluster `prod-node-pool-x` both render the stack `kubeline-prod-node-pool-x-network`); choose a name that is not another cluster's name followed by `-`, and whose own name followed by `-` starts no other cluster's name"
            ),
        )),
    }
}

/// The installation's deploy parameters Start applies (the validate function's environment).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartSettings {
    /// Every plan waits for approval, whatever cluster.yaml says (`RequireApproval`).
    pub require_approval: bool,
    /// The hosted zones clusters may use (`HostedZoneIds`); empty allows any.
    pub hosted_zone_ids: Vec<String>,
    /// The installation's KMS key, which clusters must use unless installation.yaml allows
    /// another (`None`: any key).
    pub kms_key_arn: Option<String>,
}

/// Refuses a cluster outside the installation policy (installation.yaml and the deploy
/// parameters), with every rule it breaks; under `network.existing: tagged`, every existing
/// network resource (given by id, or by an export Start resolves with ListExports) must be
/// tagged for the cluster or its team.
async fn check_policy<S: ObjectStore, C: Stacks, N: Networks>(
    store: &S,
    cfn: &C,
    net: &N,
    cluster: &Cluster,
    settings: &StartSettings,
    key: &str,
) -> Result<CheckedExports, StepError> {
    let params = || {
        Installation::without_policy(
            settings.hosted_zone_ids.clone(),
            settings.kms_key_arn.clone(),
        )
    };
    let inst = match store.get(policy::POLICY_KEY, None).await? {
        None => params(),
        Some(object) => {
            let text = String::from_utf8(object.bytes).map_err(|_| {
                StepError::new(
                    ErrorName::PolicyInvalid,
                    format!("{} is not UTF-8 text", policy::POLICY_KEY),
                )
            })?;
            Installation {
                policy: policy::parse(&text)
                    .map_err(|e| StepError::new(ErrorName::PolicyInvalid, clip(&e)))?,
                ..params()
            }
        }
    };
    let mut checked = CheckedExports::default();
    let mut refusals: Vec<String> = policy::check(cluster, &inst)
        .iter()
        .map(ToString::to_string)
        .collect();
    if inst.policy.network.existing == ExistingNetworks::Tagged {
        let mut named: Vec<NamedResource> = policy::existing_network(cluster)
            .into_iter()
            .map(|(path, id)| NamedResource {
                path,
                id: id.to_owned(),
                export: None,
            })
            .collect();
        // The resource an export names is checked like a given id; the stacks import the
        // same export (Fn::ImportValue), which its stack can then neither change nor delete.
        let exported = policy::imported_network(cluster);
        if !exported.is_empty() {
            let names: Vec<String> = exported.iter().map(|(_, n)| (*n).to_owned()).collect();
            let values = cfn.export_values(&names).await?;
            let (resolved, exports, missing) = policy::resolve_exports(&exported, &values);
            named.extend(resolved);
            refusals.extend(missing);
            checked = exports;
        }
        if !named.is_empty() {
            let name = cluster.name.as_str();
            let ids: Vec<String> = named.iter().map(|r| r.id.clone()).collect();
            let tenant = policy::tenant_of(&inst.policy, name);
            let tags = net
                .tags_of(&ids, &policy::giving_tags(name, tenant))
                .await?;
            refusals.extend(policy::untagged(&named, &tags, name, tenant));
        }
    }
    if refusals.is_empty() {
        return Ok(checked);
    }
    Err(StepError::new(
        ErrorName::PolicyRefused,
        clip(&format!(
            "{key}: this installation's policy refuses the cluster:\n- {}",
            refusals.join("\n- ")
        )),
    ))
}

/// A node group of cluster.yaml, its stack, and that stack's outputs when it exists: described
/// once per run and shared by the endpoint, upgrade and identity checks.
#[derive(Debug)]
struct DeployedGroup<'c> {
    /// Where cluster.yaml defines the group (`controller`, `etcd`, `worker.nodePools[i]`).
    path: String,
    group: NodeGroup<'c>,
    stack: String,
    outputs: Option<BTreeMap<String, String>>,
}

/// The controllers, etcd and every pool of `cluster` (in that order), each with its stack's
/// outputs: one DescribeStacks per group.
async fn describe_groups<'c, C: Stacks>(
    cfn: &C,
    cluster: &'c Cluster,
) -> Result<Vec<DeployedGroup<'c>>, StepError> {
    let mut groups = vec![
        (
            "controller".to_owned(),
            NodeGroup::Controller,
            "control-plane".to_owned(),
        ),
        ("etcd".to_owned(), NodeGroup::Etcd, "etcd".to_owned()),
    ];
    for (i, pool) in cluster.node_pools.iter().enumerate() {
        groups.push((
            format!("worker.nodePools[{i}]"),
            NodeGroup::Pool(&pool.name),
            format!("node-pool-{}", pool.name),
        ));
    }
    let mut described = Vec::with_capacity(groups.len());
    for (path, group, part) in groups {
        let stack = cluster.stack_name(&part);
        let outputs = cfn.describe_stack(&stack).await?.map(|s| s.outputs);
        described.push(DeployedGroup {
            path,
            group,
            stack,
            outputs,
        });
    }
    Ok(described)
}

/// The output `name` of a described stack.
fn output<'a>(outputs: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    outputs.get(name).map(String::as_str)
}

/// Refuses what the running stacks cannot take without cutting off running nodes: a move of
/// the workers' API endpoint (the control plane's, and each pool's), and a Kubernetes version
/// change of more than one minor or back; returns the upgrade plan.
fn check_endpoints_and_version(
    cluster: &Cluster,
    groups: &[DeployedGroup<'_>],
    key: &str,
) -> Result<Option<Box<kubeline_core::pipeline::Upgrade>>, StepError> {
    use kubeline_core::pipeline::{KUBERNETES_VERSION_OUTPUT, NODE_API_ENDPOINT_OUTPUT};
    let Some(deployed) = groups
        .iter()
        .find(|g| g.group == NodeGroup::Controller)
        .and_then(|g| g.outputs.as_ref())
    else {
        return Ok(None);
    };
    let workers_endpoint = cluster.node_api_endpoint();
    kubeline_core::pipeline::check_node_endpoint(
        output(deployed, NODE_API_ENDPOINT_OUTPUT),
        &workers_endpoint,
    )
    .map_err(|e| StepError::new(ErrorName::ConfigInvalid, e))?;
    // Nor does any pool lose the endpoint its running nodes use.
    let endpoints = cluster.api_endpoint_urls();
    for g in groups {
        if let (NodeGroup::Pool(pool), Some(outputs)) = (g.group, &g.outputs) {
            kubeline_core::pipeline::check_pool_endpoint(
                pool,
                output(outputs, NODE_API_ENDPOINT_OUTPUT),
                &endpoints,
            )
            .map_err(|e| StepError::new(ErrorName::ConfigInvalid, format!("{key}: {e}")))?;
        }
    }
    // A Kubernetes version change goes one minor at a time, never back.
    Ok(
        kubeline_core::pipeline::plan_upgrade(output(deployed, KUBERNETES_VERSION_OUTPUT), cluster)
            .map_err(|e| StepError::new(ErrorName::ConfigInvalid, format!("{key}: {e}")))?
            .map(Box::new),
    )
}

/// Refuses a move of any node group's role or instance profile that the running stacks
/// cannot make without breaking nodes (`pipeline::check_identity_moves`): each group of
/// cluster.yaml against its stack's `NodeIdentity` output, and the pools gone from
/// cluster.yaml (their stacks, as status.json lists them, are deleted in this run).
async fn check_identities<S: ObjectStore>(
    store: &S,
    cluster: &Cluster,
    groups: &[DeployedGroup<'_>],
    key: &str,
) -> Result<(), StepError> {
    use kubeline_core::pipeline::{IdentityMove, NODE_IDENTITY_OUTPUT, StackIdentity};
    let mut rows: Vec<(&str, Option<&str>, Option<StackIdentity>)> = groups
        .iter()
        .map(|g| {
            (
                g.path.as_str(),
                g.outputs
                    .as_ref()
                    .and_then(|o| output(o, NODE_IDENTITY_OUTPUT)),
                Some(StackIdentity::of(cluster, g.group)),
            )
        })
        .collect();
    let pools = cluster.stack_name("node-pool-");
    let status = status_of(store, cluster.name.as_str()).await?;
    for gone in status
        .iter()
        .flat_map(|s| &s.stacks)
        .filter(|s| s.name.starts_with(&pools) && !groups.iter().any(|g| g.stack == s.name))
    {
        rows.push((
            gone.name.as_str(),
            output(&gone.outputs, NODE_IDENTITY_OUTPUT),
            None,
        ));
    }
    let moves: Vec<IdentityMove<'_>> = rows
        .iter()
        .map(|(group, deployed, rendered)| IdentityMove {
            group,
            deployed: *deployed,
            rendered: rendered.as_ref(),
        })
        .collect();
    kubeline_core::pipeline::check_identity_moves(&moves)
        .map_err(|e| StepError::new(ErrorName::ConfigInvalid, format!("{key}: {e}")))
}

/// Step 1: waits its turn, validates the uploaded cluster.yaml (the pinned version), checks it
/// against the installation policy and that it does not move running workers to another API
/// endpoint or a node group to a role or profile its stack cannot move to, records it in
/// `runs/<id>/`, and starts `status.json`. With `settings.require_approval` every plan waits
/// for approval, whatever cluster.yaml says.
pub async fn start<S: ObjectStore, X: Executions, C: Stacks, N: Networks>(
    store: &S,
    sfn: &X,
    cfn: &C,
    net: &N,
    input: &StartInput,
    settings: &StartSettings,
) -> Result<Run, StepError> {
    exact_key(Route::StartPipeline, &input.key, "cluster.yaml")?;
    let cluster_name = cluster_of(&input.key)?;
    // Events can arrive out of order: only the newest upload is applied. Decided before the
    // turn, so a stale upload ends at once instead of waiting for a running apply.
    if let Some(v) = &input.version
        && let Some(latest) = store.get(&input.key, None).await?
        && latest.version.as_ref().is_some_and(|l| l != v)
    {
        return Err(StepError::new(
            ErrorName::Superseded,
            format!(
                "cluster.yaml version {v} was replaced by version {} before this run started; the newer upload's run applies it",
                latest.version.unwrap_or_default()
            ),
        ));
    }
    claim_version(store, cluster_name, input).await?;
    take_turn(store, sfn, cluster_name, &input.run_id).await?;
    let object = store
        .get(&input.key, input.version.as_deref())
        .await?
        .ok_or_else(|| {
            StepError::new(
                ErrorName::ConfigMissing,
                format!(
                    "s3://{}/{} (version {}) no longer exists",
                    input.bucket,
                    input.key,
                    input.version.as_deref().unwrap_or("latest")
                ),
            )
        })?;
    let mut run = Run::for_request(input)?;
    run.config_version = object.version.clone().or(run.config_version);
    let records = run.records();
    store
        .put(&records.config(), object.bytes.clone(), YAML)
        .await?;
    let text = String::from_utf8(object.bytes).map_err(|_| {
        StepError::new(
            ErrorName::ConfigInvalid,
            format!("{} is not UTF-8 text", input.key),
        )
    })?;
    let loaded = validate::load(&text);
    let Some(cluster) = loaded.cluster else {
        return Err(StepError::new(
            ErrorName::ConfigInvalid,
            clip(&loaded.diagnostics.render(&input.key)),
        ));
    };
    if cluster.name.as_str() != cluster_name {
        return Err(StepError::new(
            ErrorName::ConfigInvalid,
            format!(
                "{}: clusterName is `{}` but the file is under clusters/{cluster_name}/; make them equal",
                input.key, cluster.name
            ),
        ));
    }
    if cluster.s3.bucket != input.bucket || !cluster.s3.prefix.is_empty() {
        return Err(StepError::new(
            ErrorName::ConfigInvalid,
            format!(
                "{}: s3URI is s3://{}/{} but this installation keeps clusters in s3://{}; set `s3URI: s3://{}`",
                input.key, cluster.s3.bucket, cluster.s3.prefix, input.bucket, input.bucket
            ),
        ));
    }
    refuse_name_prefixes(store, cluster_name, &input.key).await?;
    let exports = check_policy(store, cfn, net, &cluster, settings, &input.key).await?;
    if !exports.values.is_empty() {
        put_json(store, &records.exports(), &exports).await?;
    }
    if cluster.ami_id.is_none() {
        let channel = format!("{:?}", cluster.release_channel).to_lowercase();
        return Err(StepError::new(
            ErrorName::ConfigInvalid,
            format!(
                "{}: amiId is required by the pipeline (the stacks need the Flatcar AMI of {}); \
                 take the `{}` channel's AMI for {} from \
                 https://{}.release.flatcar-linux.net/amd64-usr/current/flatcar_production_ami_all.json \
                 and set `amiId: ami-...`",
                input.key, cluster.region, channel, cluster.region, channel,
            ),
        ));
    }
    // The workers' API endpoint never moves in one run (running workers would be cut off),
    // and no group's role or instance profile moves in a way that deletes what its nodes run
    // with or creates a name IAM already holds (docs/node-iam.md): refused before anything,
    // credentials included, changes.
    let groups = describe_groups(cfn, &cluster).await?;
    run.upgrade = check_endpoints_and_version(&cluster, &groups, &input.key)?;
    check_identities(store, &cluster, &groups, &input.key).await?;
    // The installation may require approval of every plan (its RequireApproval parameter).
    run.approval = if settings.require_approval {
        Approval::Manual
    } else {
        cluster.approval
    };
    put_json(store, &records.run(), &run).await?;
    set_status(store, &run, Phase::Preparing, |s| {
        s.execution_arn = run.execution_arn.clone();
        s.config_version = run.config_version.clone();
    })
    .await?;
    Ok(run)
}
