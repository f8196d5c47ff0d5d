//! The validated cluster: every field checked and every default resolved; rendering reads only this.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::Serialize;

use crate::model::{
    Approval, LoadBalancerType, ReleaseChannel, SpotAllocationStrategy, VolumeType,
};
use crate::types::{
    AvailabilityZone, Cidr, ClusterName, DnsName, KmsKeyArn, KubeVersion, Region, S3Uri,
};

/// A cluster ready to render.
#[derive(Debug, Clone, Serialize)]
pub struct Cluster {
    /// Cluster name.
    pub name: ClusterName,
    /// AWS region.
    pub region: Region,
    /// Asset location.
    pub s3: S3Uri,
    /// KMS key of the credentials.
    pub kms_key_arn: KmsKeyArn,
    /// EC2 key pair.
    pub key_name: Option<String>,
    /// Pinned AMI.
    pub ami_id: Option<String>,
    /// Flatcar channel.
    pub release_channel: ReleaseChannel,
    /// Tags of every stack.
    pub stack_tags: BTreeMap<String, String>,
    /// The VPC.
    pub vpc: Vpc,
    /// Subnets, in file order.
    pub subnets: Vec<Subnet>,
    /// Service CIDR.
    pub service_cidr: Cidr,
    /// Pod CIDR.
    pub pod_cidr: Cidr,
    /// Cluster DNS address.
    pub dns_service_ip: Ipv4Addr,
    /// Address of the `kubernetes` service (first of serviceCIDR).
    pub kubernetes_service_ip: Ipv4Addr,
    /// API endpoints.
    pub api_endpoints: Vec<ApiEndpoint>,
    /// The endpoint the admin kubeconfig names (`adminAPIEndpointName`; default the first).
    pub admin_api_endpoint_name: Option<String>,
    /// The endpoint the workers use (`worker.apiEndpointName`; default as
    /// [`Cluster::node_api_endpoint`] says).
    pub worker_api_endpoint_name: Option<String>,
    /// SSH sources.
    pub ssh_access_allowed_source_cidrs: Vec<Cidr>,
    /// Control plane.
    pub controller: Controller,
    /// etcd.
    pub etcd: Etcd,
    /// Worker pools.
    pub node_pools: Vec<NodePool>,
    /// How the pools roll out.
    pub node_pool_rolling: crate::model::RollingStrategy,
    /// Kubernetes version.
    pub kubernetes_version: KubeVersion,
    /// Certificate lifetimes.
    pub tls: Tls,
    /// Extra apiserver certificate names.
    pub api_server_sans: ApiServerSans,
    /// Kubelet download.
    pub kubelet_artifact: Artifact,
    /// Approval mode.
    pub approval: Approval,
    /// Add-ons applied from the controllers.
    pub addons: crate::addons::Addons,
    /// The API server's audit log (`experimental.auditLog`); `None` when disabled.
    pub audit_log: Option<AuditLog>,
    /// Where the nodes' journals go (`cloudWatchLogging`); `None` when disabled.
    pub node_logs: Option<NodeLogs>,
    /// `customSettings`, for overridden templates.
    pub custom_settings: BTreeMap<String, serde_json::Value>,
    /// `serviceAccounts`: the service accounts that get IAM roles of their own.
    pub service_accounts: Vec<ServiceAccountRole>,
}

/// A service account's IAM role (`serviceAccounts[]`; [`crate::oidc`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceAccountRole {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The role's name ([`crate::oidc::role_name`]).
    pub role_name: String,
    /// Managed policies attached to it.
    pub managed_policy_arns: Vec<String>,
}

/// The CloudWatch Logs group every node of the cluster ships its journal to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeLogs {
    /// `/kubeline/<cluster>/nodes`: one group per cluster, named from the cluster's name
    /// only, so no two clusters share one ([`NodeLogs::group_name`]).
    pub log_group: String,
    /// The group's `RetentionInDays`.
    pub retention_in_days: u32,
}

impl NodeLogs {
    /// The log group of cluster `name`.
    pub fn group_name(name: &str) -> String {
        format!("/kubeline/{name}/nodes")
    }
}

/// Where and how long the API server keeps its audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditLog {
    /// The file (`--audit-log-path`).
    pub path: String,
    /// Its directory, mounted into the API server's pod.
    pub dir: String,
    /// `--audit-log-maxage` (days).
    pub max_age: u32,
    /// `--audit-log-maxbackup` (files).
    pub max_backup: u32,
    /// `--audit-log-maxsize` (MB).
    pub max_size: u32,
}

/// An existing resource: its ID, or another stack's export of it (`idFromStackOutput`).
/// Templates see the ID itself or `{"Fn::ImportValue": export}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Existing {
    /// The resource's ID.
    Id(String),
    /// The name of the export that holds the ID.
    Export(String),
}

impl Existing {
    /// The literal ID, when given as one.
    pub fn id(&self) -> Option<&str> {
        match self {
            Existing::Id(id) => Some(id),
            Existing::Export(_) => None,
        }
    }
}

impl std::fmt::Display for Existing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Existing::Id(id) => f.write_str(id),
            Existing::Export(name) => write!(f, "the export {name}"),
        }
    }
}

impl Serialize for Existing {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Existing::Id(id) => s.serialize_str(id),
            Existing::Export(name) => {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("Fn::ImportValue", name)?;
                m.end()
            }
        }
    }
}

/// The cluster's VPC.
#[derive(Debug, Clone, Serialize)]
pub struct Vpc {
    /// Existing VPC, or None when kubeline creates one.
    pub existing_id: Option<Existing>,
    /// CIDR of a created VPC.
    pub cidr: Option<Cidr>,
    /// Existing route table for created subnets.
    pub route_table_id: Option<String>,
    /// Existing internet gateway.
    pub internet_gateway_id: Option<Existing>,
}

/// A subnet.
#[derive(Debug, Clone, Serialize)]
pub struct Subnet {
    /// Name from cluster.yaml.
    pub name: String,
    /// CloudFormation logical ID (`Subnet<Name>`).
    pub logical_id: String,
    /// Zone.
    pub availability_zone: AvailabilityZone,
    /// CIDR (known for created subnets and when given for existing ones).
    pub cidr: Option<Cidr>,
    /// Private subnets route through NAT.
    pub private: bool,
    /// Existing subnet.
    pub existing_id: Option<Existing>,
    /// Existing NAT gateway.
    pub nat_gateway_id: Option<Existing>,
    /// Pre-allocated Elastic IP of the NAT gateway kubeline creates for this (private)
    /// subnet's zone (`natGateway.eipAllocationId`).
    pub nat_eip_allocation_id: Option<String>,
    /// Existing route table.
    pub route_table_id: Option<Existing>,
}

/// An API endpoint and its load balancer.
#[derive(Debug, Clone, Serialize)]
pub struct ApiEndpoint {
    /// Endpoint name.
    pub name: String,
    /// CloudFormation logical ID suffix.
    pub logical_id: String,
    /// DNS name.
    pub dns_name: DnsName,
    /// LB kind.
    pub lb_type: LoadBalancerType,
    /// Internal LB.
    pub private: bool,
    /// Subnet indices.
    pub subnets: Vec<usize>,
    /// Hosted zone for the alias record (when managed).
    pub hosted_zone_id: Option<String>,
    /// Whether kubeline writes the record.
    pub record_set_managed: bool,
    /// Allowed sources besides the nodes' security groups.
    pub api_access_allowed_source_cidrs: Vec<Cidr>,
    /// Load balancer name.
    pub lb_name: String,
    /// Added by kubeline, not written in cluster.yaml: the internal endpoint of the nodes
    /// ([`NODES_ENDPOINT`]) when no endpoint of cluster.yaml is private.
    pub added_for_nodes: bool,
}

/// Name of the internal API endpoint kubeline adds for the nodes when cluster.yaml has no
/// private endpoint (see docs/api-endpoints.md).
pub const NODES_ENDPOINT: &str = "nodes";

/// Label kubeline puts before an endpoint's `dnsName` to name the nodes' endpoint
/// (`internal.api.example.com`): a name inside the same hosted zone.
pub const NODES_DNS_PREFIX: &str = "internal.";

/// An EBS volume.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Volume {
    /// GiB.
    pub size: u32,
    /// Type.
    #[serde(rename = "type")]
    pub kind: VolumeType,
    /// IOPS.
    pub iops: Option<u32>,
}

/// Group sizes.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct GroupSize {
    /// Desired.
    pub desired: u32,
    /// Minimum.
    pub min: u32,
    /// Maximum.
    pub max: u32,
    /// Kept in service during rolling updates.
    pub min_in_service: u32,
}

/// Control plane.
#[derive(Debug, Clone, Serialize)]
pub struct Controller {
    /// Instance type.
    pub instance_type: String,
    /// Root volume.
    pub root_volume: Volume,
    /// Subnet indices.
    pub subnets: Vec<usize>,
    /// Group sizes.
    pub size: GroupSize,
    /// Extra labels.
    pub node_labels: BTreeMap<String, String>,
    /// Rolling updates and the group's creation wait for each new controller's readiness
    /// signal (`controller.waitSignal.enabled`).
    pub wait_signal: bool,
    /// Instances a rolling update replaces at once (`waitSignal.maxBatchSize`; 1 without
    /// signals).
    pub max_batch_size: u32,
    /// Extra taints (`controller.taints`), besides the control-plane taint.
    pub taints: Vec<Taint>,
    /// Tenancy, extra security groups and managed policies.
    pub extras: GroupExtras,
}

/// What kube-aws let every node group add to what kubeline creates for it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GroupExtras {
    /// EC2 tenancy (`tenancy`).
    pub tenancy: crate::model::Tenancy,
    /// Existing security groups attached besides the group's own (`securityGroupIds`, and a
    /// pool's `loadBalancer` / `targetGroup` ones), at most 4.
    pub security_group_ids: Vec<String>,
    /// The cluster.yaml key each of `security_group_ids` comes from, in the same order.
    #[serde(skip)]
    pub security_group_keys: Vec<String>,
    /// Managed policies attached to the group's role (`iam.role.managedPolicies[].arn`).
    pub managed_policy_arns: Vec<String>,
    /// The group's role and instance profile.
    pub identity: NodeIdentity,
}

/// Which role and instance profile a node group's instances run with (kube-aws's
/// `iam.role.{name,strictName,manageExternally}` and `iam.instanceProfile.arn`). Every name
/// starts with `kubeline-<cluster>-`, so a cluster can name only its own (docs/node-iam.md).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NodeIdentity {
    /// Name of the role and of the instance profile, when not the default
    /// `kubeline-<cluster>-<kind>`.
    pub role_name: Option<String>,
    /// `manageExternally`: the role `role_name` exists; kubeline creates no role, only the
    /// instance profile around it, and puts the node policy on it as an inline policy.
    pub external_role: bool,
    /// `iam.instanceProfile.arn`: the existing instance profile the nodes use; kubeline
    /// creates neither role nor profile, and the profile's role must carry the node policy.
    pub instance_profile_arn: Option<String>,
}

/// The instance profile kubeline creates around the externally managed role `role`:
/// `<role>-profile`, since the IAM console creates a profile of the role's own name with
/// every EC2 role, which kubeline's would collide with.
pub fn external_profile_name(role: &str) -> String {
    format!("{role}-profile")
}

/// The name in an instance profile ARN (`arn:...:instance-profile/[PATH/]NAME`).
pub fn profile_name_of_arn(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

impl NodeIdentity {
    /// The name of the existing instance profile, else of the role kubeline names (`None`:
    /// kubeline's default name).
    pub fn name(&self) -> Option<&str> {
        self.instance_profile_arn
            .as_deref()
            .map(profile_name_of_arn)
            .or(self.role_name.as_deref())
    }
}

/// One etcd member, with a stable address and data volume.
#[derive(Debug, Clone, Serialize)]
pub struct EtcdMember {
    /// 0-based index.
    pub index: usize,
    /// Member name (`etcd0`).
    pub name: String,
    /// Subnet index.
    pub subnet: usize,
    /// Zone.
    pub availability_zone: AvailabilityZone,
    /// Fixed private address.
    pub private_ip: Ipv4Addr,
}

/// etcd cluster.
#[derive(Debug, Clone, Serialize)]
pub struct Etcd {
    /// Instance type.
    pub instance_type: String,
    /// Root volume.
    pub root_volume: Volume,
    /// Data volume (always encrypted).
    pub data_volume: Volume,
    /// Members.
    pub members: Vec<EtcdMember>,
    /// etcd version.
    pub version: String,
    /// Scheduled snapshots, when on.
    pub snapshots: Option<EtcdSnapshots>,
    /// Tenancy, extra security groups and managed policies.
    pub extras: GroupExtras,
}

/// Scheduled etcd snapshots: when the timer fires (`OnCalendar=`). Where they go is
/// [`Cluster::etcd_snapshot_prefix`].
#[derive(Debug, Clone, Serialize)]
pub struct EtcdSnapshots {
    /// How often, as written (`1h`).
    pub interval: String,
    /// systemd `OnCalendar=` expression.
    pub on_calendar: String,
}

/// Mixed instances of a pool.
#[derive(Debug, Clone, Serialize)]
pub struct Mixed {
    /// Instance types, the pool's own first.
    pub instance_types: Vec<String>,
    /// On-demand base.
    pub on_demand_base_capacity: u32,
    /// On-demand share above base.
    pub on_demand_percentage_above_base_capacity: u32,
    /// Spot strategy.
    pub spot_allocation_strategy: SpotAllocationStrategy,
    /// Spot pools.
    pub spot_instance_pools: Option<u32>,
    /// Maximum spot price.
    pub spot_max_price: Option<String>,
}

/// A taint.
#[derive(Debug, Clone, Serialize)]
pub struct Taint {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
    /// Effect.
    pub effect: crate::model::TaintEffect,
}

/// A worker pool.
#[derive(Debug, Clone, Serialize)]
pub struct NodePool {
    /// Pool name.
    pub name: String,
    /// Instance type.
    pub instance_type: String,
    /// Subnet indices.
    pub subnets: Vec<usize>,
    /// Root volume.
    pub root_volume: Volume,
    /// Group sizes.
    pub size: GroupSize,
    /// Spot/mixed policy.
    pub mixed: Option<Mixed>,
    /// Labels.
    pub node_labels: BTreeMap<String, String>,
    /// Taints.
    pub taints: Vec<Taint>,
    /// Kubelet version.
    pub kubernetes_version: KubeVersion,
    /// Ignition checksum of that kubelet (`sha256-<hex>`): the pool's own `kubeletHash`, or the
    /// cluster's when the pool runs the cluster's version.
    pub kubelet_hash: Option<String>,
    /// Rolling updates and the group's creation wait for each new node's readiness signal
    /// (`waitSignal.enabled`).
    pub wait_signal: bool,
    /// Instances a rolling update replaces at once (`waitSignal.maxBatchSize`; 1 without
    /// signals).
    pub max_batch_size: u32,
    /// Tenancy, extra security groups and managed policies.
    pub extras: GroupExtras,
    /// Existing Classic Load Balancers the group registers its nodes with.
    pub load_balancer_names: Vec<String>,
    /// Existing target groups the group registers its nodes with.
    pub target_group_arns: Vec<String>,
    /// `customSettings` of the pool, for overridden templates.
    pub custom_settings: BTreeMap<String, serde_json::Value>,
    /// NVIDIA drivers and the container toolkit (`gpu.nvidia.enabled`).
    pub gpu: Option<NvidiaGpu>,
    /// The endpoint its kubelets use, when not the workers' (`apiEndpointName`; validated to
    /// name an endpoint of the cluster).
    pub api_endpoint_name: Option<String>,
}

/// The NVIDIA software of a GPU pool's nodes (docs/gpu.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NvidiaGpu {
    /// The driver series (`570`).
    pub series: String,
    /// NVIDIA's open kernel modules (Turing and newer GPUs) rather than the proprietary ones
    /// (older GPUs, which the open modules do not drive).
    pub open_kernel_modules: bool,
    /// The name of Flatcar's official driver extension, as `/etc/flatcar/enabled-sysext.conf`
    /// lists it: `nvidia-drivers-570-open`.
    pub drivers_sysext: String,
    /// cluster-autoscaler's AWS GPU label value (`k8s.amazonaws.com/accelerator`), when every
    /// instance type of the pool carries the same GPU.
    pub accelerator: Option<String>,
}

/// Certificate lifetimes.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Tls {
    /// CA days.
    pub ca_duration_days: u32,
    /// Leaf days.
    pub cert_duration_days: u32,
    /// Algorithm of generated keys.
    pub key_algorithm: crate::model::KeyAlgorithm,
}

/// Extra apiserver SANs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ApiServerSans {
    /// DNS names.
    pub dns: Vec<DnsName>,
    /// Addresses.
    pub ips: Vec<Ipv4Addr>,
}

/// A downloaded binary.
#[derive(Debug, Clone, Serialize)]
pub struct Artifact {
    /// Base URL.
    pub base_url: String,
    /// Ignition verification hash (`sha256-<hex>` or `sha512-<hex>`).
    pub hash: Option<String>,
}

impl Cluster {
    /// Name of the CloudFormation stack of a part of the cluster (`<cluster>-<part>`).
    pub fn stack_name(&self, part: &str) -> String {
        stack_name(self.name.as_str(), part)
    }
    /// The S3 key prefix (no leading `/`, trailing `/`) of this cluster's objects.
    pub fn s3_cluster_prefix(&self) -> String {
        self.s3.key(&self.keys().prefix)
    }
    /// Key prefix of the cluster's etcd snapshots (`clusters/<name>/etcd-snapshots/` under the
    /// s3URI prefix).
    pub fn etcd_snapshot_prefix(&self) -> String {
        self.s3.key(&self.keys().etcd_snapshots())
    }
    /// This cluster's keys under its `s3URI` prefix (the installation layout, one definition).
    pub fn keys(&self) -> crate::pipeline::ClusterKeys {
        crate::pipeline::ClusterKeys::new(self.name.as_str())
    }
}

/// Prefix of every stack and IAM role kubeline creates, so that the installation's IAM
/// policies can name them (`stack/kubeline-*`, `role/kubeline-*`).
pub const STACK_PREFIX: &str = "kubeline-";

/// The name of cluster `cluster`'s stack `part` (`network`, `etcd`, `control-plane`,
/// `node-pool-<name>`).
pub fn stack_name(cluster: &str, part: &str) -> String {
    format!("{STACK_PREFIX}{cluster}-{part}")
}

/// Turns a name into a CloudFormation logical ID fragment: `public-a` becomes `PublicA`.
pub fn logical_id(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut cs = p.chars();
            match cs.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + cs.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

impl ApiEndpoint {
    /// The URL kubeconfigs name: `https://<dnsName>`.
    pub fn url(&self) -> String {
        format!("https://{}", self.dns_name)
    }
}

impl Cluster {
    /// The endpoint `name` names, if any.
    fn endpoint_named(&self, name: Option<&String>) -> Option<&ApiEndpoint> {
        name.and_then(|n| self.api_endpoints.iter().find(|e| &e.name == n))
    }

    /// The API endpoint nodes use: the one `worker.apiEndpointName` names, else the one named
    /// `nodes` (kubeline adds it when no endpoint is private), else the first private one,
    /// else the first. The control-plane stack exports
    /// it as `NodeApiEndpoint`.
    pub fn node_api_endpoint(&self) -> String {
        self.endpoint_named(self.worker_api_endpoint_name.as_ref())
            .or_else(|| self.api_endpoints.iter().find(|e| e.name == NODES_ENDPOINT))
            .or_else(|| self.api_endpoints.iter().find(|e| e.private))
            .or_else(|| self.api_endpoints.first())
            .map(ApiEndpoint::url)
            .unwrap_or_default()
    }

    /// The API endpoint `pool`'s kubelets use: its own `apiEndpointName`'s, else
    /// [`Cluster::node_api_endpoint`]. Its node-pool stack outputs it as `NodeApiEndpoint`.
    pub fn pool_api_endpoint(&self, pool: &NodePool) -> String {
        self.endpoint_named(pool.api_endpoint_name.as_ref())
            .map(ApiEndpoint::url)
            .unwrap_or_else(|| self.node_api_endpoint())
    }

    /// The URL of every API endpoint.
    pub fn api_endpoint_urls(&self) -> Vec<String> {
        self.api_endpoints.iter().map(ApiEndpoint::url).collect()
    }

    /// The DNS name the admin kubeconfig's server names: `adminAPIEndpointName`'s endpoint,
    /// else the first.
    pub fn admin_api_endpoint(&self) -> String {
        self.endpoint_named(self.admin_api_endpoint_name.as_ref())
            .or_else(|| self.api_endpoints.first())
            .map(|e| e.dns_name.to_string())
            .unwrap_or_default()
    }

    /// The names of the stacks a render makes, in apply order (without rendering).
    pub fn stack_names(&self) -> Vec<String> {
        ["network", "etcd", "control-plane"]
            .into_iter()
            .map(str::to_owned)
            .chain(
                self.node_pools
                    .iter()
                    .map(|p| format!("node-pool-{}", p.name)),
            )
            .map(|part| self.stack_name(&part))
            .collect()
    }
}
