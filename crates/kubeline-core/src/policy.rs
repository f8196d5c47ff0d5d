//! The installation policy: what the platform team allows every cluster of a shared
//! installation (`installation.yaml` at the bucket's root, plus the deploy parameters that
//! IAM must know), and the pure check of a cluster against it.
//!
//! Start reads the policy and refuses a cluster outside it before anything changes; each
//! refusal names the setting and the rule (`docs/security.md`, "Installation policy").

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::arn::ArnFields;
use crate::cluster::{Cluster, Existing, GroupExtras};

/// The bucket key of the policy file (outside `clusters/`, so no team's folder grant covers
/// it; the bucket policy lets only the installation's admins write it).
pub const POLICY_KEY: &str = "installation.yaml";

/// The tag that gives an existing VPC or subnet to one cluster.
pub const CLUSTER_TAG: &str = crate::pipeline::CLUSTER_TAG;

/// The tag that gives an existing VPC or subnet to every cluster of one team.
pub const TENANT_TAG: &str = "kubeline.io/tenant";

/// `installation.yaml`. Every section is optional; an absent file allows what kubeline
/// always allowed (any existing VPC, any instance type), within the deploy parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InstallationPolicy {
    /// DNS names.
    #[serde(default)]
    pub dns: DnsPolicy,
    /// Existing VPCs and subnets.
    #[serde(default)]
    pub network: NetworkPolicy,
    /// KMS keys.
    #[serde(default)]
    pub kms: KmsPolicy,
    /// Node roles.
    #[serde(default)]
    pub iam: IamPolicy,
    /// Sizes and instance types.
    #[serde(default)]
    pub quotas: Quotas,
    /// Teams: each team's cluster names (exact, or a prefix followed by `*`).
    #[serde(default)]
    pub tenants: BTreeMap<String, Vec<String>>,
}

/// `dns`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DnsPolicy {
    /// Every API endpoint's `dnsName` is `<clusterName>.<baseDomain>` or ends with
    /// `.<clusterName>.<baseDomain>`, so no cluster claims another's names.
    #[serde(default)]
    pub base_domain: Option<String>,
}

/// `network`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkPolicy {
    /// Whether clusters may use existing network resources: VPCs, subnets, internet and NAT
    /// gateways, route tables, security groups and Elastic IPs, given by id or by another
    /// stack's export (`idFromStackOutput`).
    #[serde(default)]
    pub existing: ExistingNetworks,
}

/// `network.existing`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ExistingNetworks {
    /// Only VPCs and subnets tagged `kubeline.io/cluster=<clusterName>` or
    /// `kubeline.io/tenant=<the cluster's team>` (the default of a policy file).
    #[default]
    Tagged,
    /// None: every cluster creates its own VPC and subnets.
    Refused,
    /// Any (an installation without a policy file).
    Any,
}

/// `kms`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KmsPolicy {
    /// Keys clusters may use besides the installation's own (the credentials function must
    /// also be granted `kms:GenerateDataKey` and `kms:Decrypt` on them).
    #[serde(default)]
    pub allowed_key_arns: Vec<String>,
}

/// `iam`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IamPolicy {
    /// Managed policies clusters may attach to their roles: node groups'
    /// `iam.role.managedPolicies` and `serviceAccounts[].managedPolicies`; none when absent.
    /// The permissions boundaries cap them anyway, but a boundary is one ceiling for every
    /// cluster: a broad policy could reach another cluster's resources.
    #[serde(default)]
    pub managed_policy_arns: Vec<String>,
    /// Any managed policy (an installation without a policy file).
    #[serde(skip)]
    pub any_managed_policy: bool,
    /// Whether node groups may run with roles kubeline does not create (kube-aws's
    /// `iam.role.manageExternally` and `iam.instanceProfile.arn`; default false). Their
    /// rights are whatever their owner gave them, beyond kubeline's node policy and, for an
    /// existing profile, beyond the boundary. Without a policy file, allowed.
    #[serde(default)]
    pub existing_roles: bool,
}

impl IamPolicy {
    /// The managed policies allowed, or `None` for any.
    pub fn allowed_managed_policies(&self) -> Option<&[String]> {
        (!self.any_managed_policy).then_some(self.managed_policy_arns.as_slice())
    }
}

/// `quotas`: tighter than kubeline's own caps (docs/quotas.md), never looser.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Quotas {
    /// Node pools per cluster.
    #[serde(default)]
    pub max_node_pools: Option<usize>,
    /// Nodes per cluster: controllers' and pools' `maxSize` plus etcd members.
    #[serde(default)]
    pub max_nodes: Option<u64>,
    /// `maxSize` of any one pool.
    #[serde(default)]
    pub max_nodes_per_pool: Option<u32>,
    /// Instance families (the part of an instance type before `.`, such as `m7i`) every
    /// node may use; empty allows any.
    #[serde(default)]
    pub instance_families: Vec<String>,
}

/// Parses `installation.yaml`; the error names the file, the setting and the fix.
pub fn parse(text: &str) -> Result<InstallationPolicy, String> {
    let policy = serde_saphyr::from_str::<Option<InstallationPolicy>>(text)
        .map(Option::unwrap_or_default)
        .map_err(|e| format!("{POLICY_KEY}: {e}; see docs/security.md, \"Installation policy\""))?;
    for (team, patterns) in &policy.tenants {
        for p in patterns {
            let name = p.strip_suffix("-*").unwrap_or(p);
            if name.parse::<crate::types::ClusterName>().is_err() {
                return Err(format!(
                    "{POLICY_KEY}: tenants.{team}: `{p}` is neither a cluster name nor a prefix followed by `-*` (such as `payments-*`); a bare `*` or a prefix without `-` would give the team other teams' clusters"
                ));
            }
        }
    }
    Ok(policy)
}

/// Everything Start checks a cluster against: the policy file and the deploy parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Installation {
    /// `installation.yaml` ([`ExistingNetworks::Any`] when there is none).
    pub policy: InstallationPolicy,
    /// The `HostedZoneIds` parameter: the only zones the service role may change; empty
    /// allows any.
    pub hosted_zone_ids: Vec<String>,
    /// The installation's own KMS key (`None` outside AWS: any key).
    pub kms_key_arn: Option<String>,
}

impl Installation {
    /// The installation without a policy file.
    pub fn without_policy(hosted_zone_ids: Vec<String>, kms_key_arn: Option<String>) -> Self {
        let mut policy = InstallationPolicy::default();
        policy.network.existing = ExistingNetworks::Any;
        policy.iam.any_managed_policy = true;
        policy.iam.existing_roles = true;
        Installation {
            policy,
            hosted_zone_ids,
            kms_key_arn,
        }
    }
}

/// One rule a cluster breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The cluster.yaml key that breaks it.
    pub path: String,
    /// The installation setting.
    pub setting: &'static str,
    /// What the rule says and how to comply.
    pub rule: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} (installation setting `{}`)",
            self.path, self.rule, self.setting
        )
    }
}

/// The teams whose patterns match a cluster's name (one, for a well-made policy: [`check`]
/// refuses a cluster two teams claim).
pub fn tenants_of<'a>(policy: &'a InstallationPolicy, cluster: &str) -> Vec<&'a str> {
    policy
        .tenants
        .iter()
        .filter(|(_, patterns)| {
            patterns.iter().any(|p| match p.strip_suffix('*') {
                Some(prefix) => cluster.starts_with(prefix),
                None => p == cluster,
            })
        })
        .map(|(team, _)| team.as_str())
        .collect()
}

/// The team a cluster belongs to, if exactly one team claims it.
pub fn tenant_of<'a>(policy: &'a InstallationPolicy, cluster: &str) -> Option<&'a str> {
    match tenants_of(policy, cluster).as_slice() {
        [one] => Some(one),
        _ => None,
    }
}

/// The tags any one of which gives an existing network resource to `cluster` (see
/// [`network_is_given`]): `kubeline.io/cluster=<cluster>`, and `kubeline.io/tenant=<team>`
/// when the cluster belongs to one team.
pub fn giving_tags(cluster: &str, tenant: Option<&str>) -> Vec<(String, String)> {
    let mut out = vec![(CLUSTER_TAG.to_owned(), cluster.to_owned())];
    if let Some(t) = tenant {
        out.push((TENANT_TAG.to_owned(), t.to_owned()));
    }
    out
}

/// Whether an existing VPC or subnet with `tags` is the cluster's to use.
pub fn network_is_given(
    tags: &BTreeMap<String, String>,
    cluster: &str,
    tenant: Option<&str>,
) -> bool {
    tags.get(CLUSTER_TAG).is_some_and(|c| c == cluster)
        || tenant.is_some_and(|t| tags.get(TENANT_TAG).is_some_and(|v| v == t))
}

/// Every existing EC2 resource a cluster names, with the cluster.yaml key that names it: the
/// VPC (`vpc.id`), its internet gateway (`internetGateway.id`), route tables (`routeTableId`,
/// `subnets[].routeTable.id`), subnets (`subnets[].id`), NAT gateways and their Elastic IPs
/// (`subnets[].natGateway.id`, `.eipAllocationId`) and the node groups' existing security groups
/// (`securityGroupIds`, with a pool's `loadBalancer`/`targetGroup` ones). Each must be
/// given to the cluster or its team when the policy says `network.existing: tagged`.
pub fn existing_network(cluster: &Cluster) -> Vec<(String, &str)> {
    let mut out: Vec<(String, &str)> = Vec::new();
    if let Some(v) = cluster.vpc.existing_id.as_ref().and_then(Existing::id) {
        out.push(("vpc.id".into(), v));
    }
    if let Some(v) = cluster
        .vpc
        .internet_gateway_id
        .as_ref()
        .and_then(Existing::id)
    {
        out.push(("internetGateway.id".into(), v));
    }
    if let Some(v) = cluster.vpc.route_table_id.as_deref() {
        out.push(("routeTableId".into(), v));
    }
    for (i, s) in cluster.subnets.iter().enumerate() {
        if let Some(id) = s.existing_id.as_ref().and_then(Existing::id) {
            out.push((format!("subnets[{i}].id"), id));
        }
        // Another team's NAT gateway or route table would carry this cluster's traffic (and
        // a route table's other routes would apply to it).
        if let Some(id) = s.nat_gateway_id.as_ref().and_then(Existing::id) {
            out.push((format!("subnets[{i}].natGateway.id"), id));
        }
        if let Some(id) = s.route_table_id.as_ref().and_then(Existing::id) {
            out.push((format!("subnets[{i}].routeTable.id"), id));
        }
        if let Some(id) = s.nat_eip_allocation_id.as_deref() {
            out.push((format!("subnets[{i}].natGateway.eipAllocationId"), id));
        }
    }
    for (path, extras) in groups_of(cluster) {
        for (i, id) in extras.security_group_ids.iter().enumerate() {
            let key = extras
                .security_group_keys
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("{path}.securityGroupIds"));
            out.push((key, id.as_str()));
        }
    }
    out
}

/// Each node group's cluster.yaml key and its kube-aws extras.
fn groups_of(cluster: &Cluster) -> Vec<(String, &GroupExtras)> {
    let mut groups = vec![
        ("controller".to_owned(), &cluster.controller.extras),
        ("etcd".to_owned(), &cluster.etcd.extras),
    ];
    for (i, p) in cluster.node_pools.iter().enumerate() {
        groups.push((format!("worker.nodePools[{i}]"), &p.extras));
    }
    groups
}

/// Every existing network resource a cluster takes from another stack's export
/// (`idFromStackOutput`): the cluster.yaml key and the export's name.
pub fn imported_network(cluster: &Cluster) -> Vec<(String, &str)> {
    let mut out = Vec::new();
    fn exported(e: &Option<Existing>) -> Option<&str> {
        match e {
            Some(Existing::Export(name)) => Some(name),
            _ => None,
        }
    }
    if let Some(e) = exported(&cluster.vpc.existing_id) {
        out.push(("vpc.idFromStackOutput".to_owned(), e));
    }
    if let Some(e) = exported(&cluster.vpc.internet_gateway_id) {
        out.push(("internetGateway.idFromStackOutput".to_owned(), e));
    }
    for (i, s) in cluster.subnets.iter().enumerate() {
        if let Some(e) = exported(&s.existing_id) {
            out.push((format!("subnets[{i}].idFromStackOutput"), e));
        }
        if let Some(e) = exported(&s.nat_gateway_id) {
            out.push((format!("subnets[{i}].natGateway.idFromStackOutput"), e));
        }
        if let Some(e) = exported(&s.route_table_id) {
            out.push((format!("subnets[{i}].routeTable.idFromStackOutput"), e));
        }
    }
    out
}

/// The exports Start resolved and whose resources it checked (`runs/<id>/exports.json`), by
/// export name. Apply compares them with the exports' values just before it executes a change
/// set: until the network stack imports an export, its own stack may still change it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CheckedExports {
    /// Export name → the value Start checked.
    pub values: BTreeMap<String, String>,
}

/// Every export whose value `now` (ListExports' answer for the same names) is not the one Start
/// checked, as a sentence; empty when none changed.
pub fn changed_exports(checked: &CheckedExports, now: &BTreeMap<String, String>) -> Vec<String> {
    checked
        .values
        .iter()
        .filter_map(|(name, was)| match now.get(name) {
            Some(value) if value == was => None,
            Some(value) => Some(format!(
                "the export {name} now names {value}, not the {was} Start checked"
            )),
            None => Some(format!(
                "the export {name} (which named {was} at Start) no longer exists"
            )),
        })
        .collect()
}

/// An existing network resource a cluster names: its cluster.yaml key, its id, and the export
/// it was taken from (for `idFromStackOutput`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedResource {
    /// The cluster.yaml key.
    pub path: String,
    /// The resource id.
    pub id: String,
    /// The export that named it.
    pub export: Option<String>,
}

/// Start's reading of the exports a cluster takes (`values`: ListExports' answer): the
/// resources they name, what was checked (recorded for apply), and a refusal for each export
/// nothing makes.
pub fn resolve_exports(
    exported: &[(String, &str)],
    values: &BTreeMap<String, String>,
) -> (Vec<NamedResource>, CheckedExports, Vec<String>) {
    let (mut named, mut checked, mut refusals) =
        (Vec::new(), CheckedExports::default(), Vec::new());
    for (path, export) in exported {
        match values.get(*export) {
            Some(id) => {
                checked.values.insert((*export).to_owned(), id.clone());
                named.push(NamedResource {
                    path: path.clone(),
                    id: id.clone(),
                    export: Some((*export).to_owned()),
                });
            }
            None => refusals.push(format!(
                "{path}: no stack of this Region and account exports {export}; name another export (aws cloudformation list-exports) or give the resource's id (installation setting `network.existing`)"
            )),
        }
    }
    (named, checked, refusals)
}

/// A refusal for each resource of `named` that `tags` (by id) does not give to `cluster` or
/// its `tenant` under `network.existing: tagged`.
pub fn untagged(
    named: &[NamedResource],
    tags: &BTreeMap<String, BTreeMap<String, String>>,
    cluster: &str,
    tenant: Option<&str>,
) -> Vec<String> {
    let wanted = match tenant {
        Some(t) => format!("`{CLUSTER_TAG}={cluster}` or `{TENANT_TAG}={t}`"),
        None => format!("`{CLUSTER_TAG}={cluster}`"),
    };
    named
        .iter()
        .filter(|r| {
            !tags
                .get(&r.id)
                .is_some_and(|t| network_is_given(t, cluster, tenant))
        })
        .map(|r| {
            let path = &r.path;
            let own = if path.contains("securityGroupIds") || path.ends_with("eipAllocationId") {
                "or remove it"
            } else if path.starts_with("vpc.")
                || path.ends_with("].id")
                || path.ends_with("].idFromStackOutput")
            {
                "or give a CIDR so the cluster creates its own"
            } else {
                "or remove it so the cluster creates its own"
            };
            let via = r
                .export
                .as_ref()
                .map(|e| format!(" (the value of the export {e})"))
                .unwrap_or_default();
            format!(
                "{path}: {}{via} is not tagged {wanted} (or does not exist); ask the installation's admins to tag it for this cluster, {own} (installation setting `network.existing`)",
                r.id
            )
        })
        .collect()
}

/// The Region and account of a KMS key ARN (`arn:aws:kms:REGION:ACCOUNT:key/ID`).
fn key_scope(arn: &str) -> Option<(&str, &str)> {
    ArnFields::split(arn).map(|f| (f.region, f.account))
}

/// The account field of an ARN (empty when it is none).
fn account_of(arn: &str) -> &str {
    ArnFields::split(arn).map_or("", |f| f.account)
}

fn family(instance_type: &str) -> &str {
    instance_type.split('.').next().unwrap_or(instance_type)
}

/// Every rule of `inst` that `cluster` breaks, except the tags of existing networks and
/// security groups (which need EC2: [`existing_network`], [`network_is_given`]) and the
/// resources behind exports (which Start resolves first: [`imported_network`]).
pub fn check(cluster: &Cluster, inst: &Installation) -> Vec<Violation> {
    let mut out = Vec::new();
    let name = cluster.name.as_str();
    let mut refuse = |path: String, setting: &'static str, rule: String| {
        out.push(Violation {
            path,
            setting,
            rule,
        });
    };
    for (i, ep) in cluster.api_endpoints.iter().enumerate() {
        if ep.added_for_nodes {
            continue;
        }
        let path = format!("apiEndpoints[{i}]");
        if let Some(zone) = &ep.hosted_zone_id
            && !inst.hosted_zone_ids.is_empty()
            && !inst.hosted_zone_ids.iter().any(|z| z == zone)
        {
            refuse(
                format!("{path}.loadBalancer.hostedZone.id"),
                "HostedZoneIds",
                format!(
                    "hosted zone {zone} is not one this installation's clusters may use; use one of {}",
                    inst.hosted_zone_ids.join(", ")
                ),
            );
        }
        if let Some(base) = &inst.policy.dns.base_domain {
            let base = base.trim_end_matches('.').to_ascii_lowercase();
            let own = format!("{name}.{base}");
            let dns = ep
                .dns_name
                .as_str()
                .trim_end_matches('.')
                .to_ascii_lowercase();
            if dns != own && !dns.ends_with(&format!(".{own}")) {
                refuse(
                    format!("{path}.dnsName"),
                    "dns.baseDomain",
                    format!(
                        "`{dns}` is outside this cluster's domain; use `{own}` or a name ending in `.{own}`"
                    ),
                );
            }
        }
    }
    if let Some(own) = &inst.kms_key_arn
        && cluster.kms_key_arn.as_str() != own
        && !inst
            .policy
            .kms
            .allowed_key_arns
            .iter()
            .any(|k| k == cluster.kms_key_arn.as_str())
    {
        refuse(
            "kmsKeyArn".into(),
            "kms.allowedKeyArns",
            format!(
                "key {} is neither the installation's key nor one it allows; use {own}",
                cluster.kms_key_arn.as_str()
            ),
        );
    }
    if let Some(own) = &inst.kms_key_arn
        && cluster.kms_key_arn.as_str() != own
    {
        // Node roles may use only this account's keys of this Region (NodeRoleBoundary).
        if key_scope(cluster.kms_key_arn.as_str()) != key_scope(own) {
            refuse(
                "kmsKeyArn".into(),
                "kms.allowedKeyArns",
                format!(
                    "key {} is not in this installation's account and Region, whose node roles may use only their own account's keys; use {own}",
                    cluster.kms_key_arn.as_str()
                ),
            );
        }
    }
    let teams = tenants_of(&inst.policy, name);
    if teams.len() > 1 {
        refuse(
            "clusterName".into(),
            "tenants",
            format!(
                "`{name}` is claimed by the teams {}; ask the installation's admins to make their patterns exclusive",
                teams.join(" and ")
            ),
        );
    }
    if inst.policy.network.existing == ExistingNetworks::Refused {
        for (path, id) in existing_network(cluster) {
            let rule = if path.ends_with("eipAllocationId") {
                format!("this installation's NAT gateways take new addresses; remove {id}")
            } else if path.contains("securityGroupIds") {
                format!(
                    "this installation's nodes carry only their cluster's own security groups; remove {id}"
                )
            } else {
                "this installation's clusters create their own VPC and subnets; remove the id and give a CIDR instead".to_owned()
            };
            refuse(path, "network.existing", rule);
        }
        for (path, export) in imported_network(cluster) {
            refuse(
                path,
                "network.existing",
                format!(
                    "this installation's clusters create their own network; do not take the export {export} (and give the subnets a CIDR)"
                ),
            );
        }
    }
    // Under `tagged`, Start resolves each export (ListExports) and checks the tags of the
    // resource it names like those of an id.
    if inst.policy.network.existing != ExistingNetworks::Any {
        // EC2 tags cannot show who owns a load balancer or target group: attaching a pool to
        // one would put its nodes behind another team's traffic.
        for (i, p) in cluster.node_pools.iter().enumerate() {
            let path = format!("worker.nodePools[{i}]");
            if !p.load_balancer_names.is_empty() {
                refuse(
                    format!("{path}.loadBalancer.names"),
                    "network.existing",
                    "only an installation with `network.existing: any` lets pools join existing load balancers; expose the pool with a Service of type LoadBalancer instead".into(),
                );
            }
            if !p.target_group_arns.is_empty() {
                refuse(
                    format!("{path}.targetGroup.arns"),
                    "network.existing",
                    "only an installation with `network.existing: any` lets pools join existing target groups; expose the pool with a Service of type LoadBalancer instead".into(),
                );
            }
        }
    }
    // The installation's account: its KMS key's.
    let own_account = inst
        .kms_key_arn
        .as_deref()
        .and_then(|k| key_scope(k).map(|(_, account)| account));
    // IAM attaches only AWS managed policies and the role's own account's.
    if let Some(own) = own_account {
        for (path, arns) in attached_policies(cluster) {
            for (j, arn) in arns.iter().enumerate() {
                let account = account_of(arn);
                if account != "aws" && account != own {
                    refuse(
                        format!("{path}[{j}].arn"),
                        "iam.managedPolicyArns",
                        format!(
                            "{arn} belongs to account {account}, and IAM attaches to this installation's roles (account {own}) only its own and AWS managed policies"
                        ),
                    );
                }
            }
        }
    }
    if let Some(allowed) = inst.policy.iam.allowed_managed_policies() {
        for (path, arns) in attached_policies(cluster) {
            for (j, arn) in arns.iter().enumerate() {
                if !allowed.iter().any(|a| a == arn) {
                    let rule = if allowed.is_empty() {
                        format!(
                            "{arn} may not be attached: this installation allows no managed policies on the roles of its clusters"
                        )
                    } else {
                        format!(
                            "{arn} may not be attached to the roles of this installation's clusters; use one of {}",
                            allowed.join(", ")
                        )
                    };
                    refuse(format!("{path}[{j}].arn"), "iam.managedPolicyArns", rule);
                }
            }
        }
    }
    for (path, extras) in groups_of(cluster) {
        let identity = &extras.identity;
        if let Some(arn) = &identity.instance_profile_arn {
            let account = account_of(arn);
            if let Some(own) = own_account
                && account != own
            {
                refuse(
                    format!("{path}.iam.instanceProfile.arn"),
                    "iam.existingRoles",
                    format!(
                        "{arn} belongs to account {account}; EC2 launches this installation's nodes (account {own}) only with its own account's instance profiles"
                    ),
                );
            } else if !inst.policy.iam.existing_roles {
                refuse(
                    format!("{path}.iam.instanceProfile.arn"),
                    "iam.existingRoles",
                    "this installation runs nodes only with roles kubeline creates; an existing instance profile's role has rights no boundary kubeline sets caps. Remove it (kubeline creates the role), or ask the platform team to set iam.existingRoles: true".into(),
                );
            }
        } else if identity.external_role && !inst.policy.iam.existing_roles {
            refuse(
                format!("{path}.iam.role.manageExternally"),
                "iam.existingRoles",
                "this installation runs nodes only with roles kubeline creates. Remove manageExternally (kubeline creates the role under iam.role.name), or ask the platform team to set iam.existingRoles: true".into(),
            );
        }
    }
    check_quotas(cluster, &inst.policy.quotas, &mut refuse);
    out
}

/// Every list of managed policies cluster.yaml attaches to a role, with its path: the node
/// groups' `iam.role.managedPolicies` and each `serviceAccounts[].managedPolicies`.
fn attached_policies(cluster: &Cluster) -> Vec<(String, &[String])> {
    let mut out: Vec<(String, &[String])> = groups_of(cluster)
        .into_iter()
        .map(|(path, extras)| {
            (
                format!("{path}.iam.role.managedPolicies"),
                extras.managed_policy_arns.as_slice(),
            )
        })
        .collect();
    out.extend(cluster.service_accounts.iter().enumerate().map(|(i, sa)| {
        (
            format!("serviceAccounts[{i}].managedPolicies"),
            sa.managed_policy_arns.as_slice(),
        )
    }));
    out
}

fn check_quotas(
    cluster: &Cluster,
    q: &Quotas,
    refuse: &mut impl FnMut(String, &'static str, String),
) {
    if let Some(max) = q.max_node_pools
        && cluster.node_pools.len() > max
    {
        refuse(
            "worker.nodePools".into(),
            "quotas.maxNodePools",
            format!(
                "{} node pools; this installation allows at most {max} per cluster",
                cluster.node_pools.len()
            ),
        );
    }
    for (i, pool) in cluster.node_pools.iter().enumerate() {
        if let Some(max) = q.max_nodes_per_pool
            && pool.size.max > max
        {
            refuse(
                format!("worker.nodePools[{i}].autoScalingGroup.maxSize"),
                "quotas.maxNodesPerPool",
                format!(
                    "pool `{}` may grow to {} nodes; this installation allows at most {max} per pool",
                    pool.name, pool.size.max
                ),
            );
        }
    }
    if let Some(max) = q.max_nodes {
        let nodes = u64::from(cluster.controller.size.max)
            + cluster.etcd.members.len() as u64
            + cluster
                .node_pools
                .iter()
                .map(|p| u64::from(p.size.max))
                .sum::<u64>();
        if nodes > max {
            refuse(
                "worker.nodePools".into(),
                "quotas.maxNodes",
                format!(
                    "the cluster may grow to {nodes} nodes (controllers, etcd members and every pool's maxSize); this installation allows at most {max}"
                ),
            );
        }
    }
    if q.instance_families.is_empty() {
        return;
    }
    let allowed = |t: &str| q.instance_families.iter().any(|f| f == family(t));
    let mut types = vec![
        (
            "controller.instanceType".to_owned(),
            &cluster.controller.instance_type,
        ),
        ("etcd.instanceType".to_owned(), &cluster.etcd.instance_type),
    ];
    for (i, pool) in cluster.node_pools.iter().enumerate() {
        types.push((
            format!("worker.nodePools[{i}].instanceType"),
            &pool.instance_type,
        ));
        for (j, t) in pool
            .mixed
            .iter()
            .flat_map(|m| &m.instance_types)
            .enumerate()
        {
            types.push((
                format!("worker.nodePools[{i}].autoScalingGroup.mixedInstances.instanceTypes[{j}]"),
                t,
            ));
        }
    }
    for (path, t) in types {
        if !allowed(t) {
            refuse(
                path,
                "quotas.instanceFamilies",
                format!(
                    "instance type {t} is not in an allowed family; use one of {}",
                    q.instance_families.join(", ")
                ),
            );
        }
    }
}
