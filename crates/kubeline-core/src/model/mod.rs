//! The cluster.yaml file as written by users: kube-aws key names, serde defaults, JSON Schema.
//!
//! These types mirror the file one to one and hold unvalidated strings; [`crate::validate`]
//! turns them into a [`crate::cluster::Cluster`] whose fields are validated newtypes.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

mod gpu;
mod nodes;

pub use self::gpu::{DEFAULT_NVIDIA_DRIVER_SERIES, GpuConfig, NvidiaGpuConfig};
pub use self::nodes::{
    ArnRef, AutoScalingGroupConfig, Automated, ControllerConfig, DEFAULT_CONTROLLER_COUNT,
    DEFAULT_POOL_COUNT, DataVolumeConfig, EtcdConfig, EtcdSnapshotConfig, MixedInstancesConfig,
    NodeIamConfig, NodePoolConfig, NodeRoleConfig, PoolLoadBalancerConfig, PoolTargetGroupConfig,
    RollingStrategy, SnapshotInterval, SpotAllocationStrategy, Taint, TaintEffect, Tenancy,
    VolumeConfig, VolumeType, WaitSignalConfig, WorkerConfig,
};

/// Default Kubernetes version of new clusters.
pub const DEFAULT_KUBERNETES_VERSION: &str = "1.34.2";
/// Default etcd version.
pub const DEFAULT_ETCD_VERSION: &str = "3.5.21";

/// A kubeline cluster definition (cluster.yaml).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "kubeline cluster.yaml")]
pub struct ClusterConfig {
    /// Unique name of the cluster: a DNS label (lower-case letters, digits, hyphens), no dots.
    pub cluster_name: String,
    /// Where node configs and encrypted credentials are stored: `s3://bucket[/prefix]`.
    #[serde(rename = "s3URI")]
    pub s3_uri: String,
    /// AWS region, e.g. `eu-west-1`.
    pub region: String,
    /// Availability zone of the default subnet when `subnets` is omitted.
    #[serde(default)]
    pub availability_zone: Option<String>,
    /// EC2 key pair for SSH access to nodes (optional; SSH is closed unless
    /// `sshAccessAllowedSourceCIDRs` is set).
    #[serde(default)]
    pub key_name: Option<String>,
    /// ARN of the KMS key that encrypts the cluster's credentials.
    pub kms_key_arn: String,
    /// Flatcar AMI to use. When omitted the AMI of `releaseChannel` is resolved at apply time
    /// and passed as the stacks' `ImageId` parameter.
    #[serde(default)]
    pub ami_id: Option<String>,
    /// Flatcar release channel.
    #[serde(default)]
    pub release_channel: ReleaseChannel,
    /// Tags put on every stack (and so on every resource that supports tags).
    #[serde(default)]
    pub stack_tags: BTreeMap<String, String>,
    /// An existing VPC to build the cluster in.
    #[serde(default)]
    pub vpc: Option<ExistingRef>,
    /// CIDR of the VPC kubeline creates (not with `vpc.id`). Default `10.0.0.0/16`.
    #[serde(default, rename = "vpcCIDR")]
    pub vpc_cidr: Option<String>,
    /// CIDR of the default subnet when `subnets` is omitted. Default `10.0.0.0/24`.
    #[serde(default, rename = "instanceCIDR")]
    pub instance_cidr: Option<String>,
    /// Route table of an existing VPC used by the subnets kubeline creates (needs `vpc.id`).
    #[serde(default)]
    pub route_table_id: Option<String>,
    /// Internet gateway of an existing VPC.
    #[serde(default)]
    pub internet_gateway: Option<ExistingRef>,
    /// CIDR of Kubernetes services. Default `10.3.0.0/24`.
    #[serde(default = "default_service_cidr", rename = "serviceCIDR")]
    pub service_cidr: String,
    /// CIDR of pods. Default `10.2.0.0/16`.
    #[serde(default = "default_pod_cidr", rename = "podCIDR")]
    pub pod_cidr: String,
    /// Cluster DNS service address, inside `serviceCIDR`. Default `10.3.0.10`.
    #[serde(default = "default_dns_service_ip", rename = "dnsServiceIP")]
    pub dns_service_ip: String,
    /// Subnets of the cluster. Omitted: one public subnet in `availabilityZone`.
    #[serde(default)]
    pub subnets: Vec<SubnetConfig>,
    /// Kubernetes API endpoints, each with its load balancer. Nodes use the first private one;
    /// when none is private, kubeline adds a last, internal endpoint `nodes` that admits only
    /// the nodes, named `internal.<dnsName>` of the first endpoint whose record kubeline
    /// manages (`hostedZone` set, `recordSetManaged` true), in that zone (docs/api-endpoints.md).
    #[serde(default)]
    pub api_endpoints: Vec<ApiEndpointConfig>,
    /// The endpoint the admin kubeconfig names (kube-aws's `adminAPIEndpointName`). Default:
    /// the first endpoint.
    #[serde(default, rename = "adminAPIEndpointName")]
    pub admin_api_endpoint_name: Option<String>,
    /// Source CIDRs allowed to SSH into nodes. Default: none (SSH closed).
    #[serde(default, rename = "sshAccessAllowedSourceCIDRs")]
    pub ssh_access_allowed_source_cidrs: Vec<String>,
    /// Control-plane nodes.
    #[serde(default)]
    pub controller: ControllerConfig,
    /// Whether the controllers' rolling updates (and the group's creation) wait for each new
    /// controller to report itself ready: kube-aws's top-level `waitSignal`, with its meaning
    /// and defaults (pools have their own, `worker.nodePools[].waitSignal`).
    #[serde(default)]
    pub wait_signal: WaitSignalConfig,
    /// etcd members.
    #[serde(default)]
    pub etcd: EtcdConfig,
    /// Worker node pools.
    #[serde(default)]
    pub worker: WorkerConfig,
    /// Kubernetes version, e.g. `1.34.2`.
    #[serde(default = "default_kubernetes_version")]
    pub kubernetes_version: String,
    /// Lifetime of a generated CA certificate in days.
    #[serde(default = "default_ca_days", rename = "tlsCADurationDays")]
    pub tls_ca_duration_days: u32,
    /// Lifetime of generated leaf certificates in days.
    #[serde(default = "default_cert_days")]
    pub tls_cert_duration_days: u32,
    /// Key algorithm of generated keys (CA, certificates, service-account key).
    #[serde(default)]
    pub tls_key_algorithm: KeyAlgorithm,
    /// Extra kube-apiserver certificate names.
    #[serde(default)]
    pub custom_api_server_settings: CustomApiServerSettings,
    /// Kubernetes release artifacts fetched by nodes.
    #[serde(default)]
    pub kubernetes_artifacts: KubernetesArtifacts,
    /// How the pipeline applies changes to this cluster.
    #[serde(default)]
    pub pipeline: PipelineConfig,
    /// Cluster add-ons (networking, DNS, cloud provider): each may be disabled or pinned to a
    /// version; images may come from a registry mirror. See docs/addons.md.
    #[serde(default)]
    pub addons: AddonsConfig,
    /// kube-proxy's mode (kube-aws's key).
    #[serde(default)]
    pub kube_proxy: KubeProxyConfig,
    /// kube-aws's `customSettings`: free-form values an overridden template reads as
    /// `cluster.custom_settings` (the built-in templates read none).
    #[serde(default)]
    pub custom_settings: BTreeMap<String, serde_json::Value>,
    /// IAM roles for service accounts: each entry gives one Kubernetes service account an
    /// IAM role of its own, which its pods assume with their projected token (the successor
    /// of kube-aws's kiam and kube2iam; docs/service-accounts.md).
    #[serde(default)]
    pub service_accounts: Vec<ServiceAccountConfig>,
    /// kube-aws's `cloudWatchLogging`: every node's journal shipped to a CloudWatch Logs
    /// group of the cluster (docs/node-logs.md).
    #[serde(default)]
    pub cloud_watch_logging: CloudWatchLoggingConfig,
    /// kube-aws's `experimental` section: only `auditLog` is still taken (every other
    /// experimental feature has its own answer in docs/kube-aws.md).
    #[serde(default)]
    pub experimental: ExperimentalConfig,
}

/// `cloudWatchLogging`: kube-aws's keys and defaults (off; 7 days).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CloudWatchLoggingConfig {
    /// Ship every node's journal to the log group `/kubeline/<cluster>/nodes`.
    #[serde(default)]
    pub enabled: bool,
    /// Days CloudWatch Logs keeps the events: one of the values CloudWatch Logs accepts
    /// (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
    /// 2557, 2922, 3288, 3653).
    #[serde(default = "default_log_retention")]
    pub retention_in_days: u32,
}

fn default_log_retention() -> u32 {
    7
}

impl Default for CloudWatchLoggingConfig {
    fn default() -> Self {
        CloudWatchLoggingConfig {
            enabled: false,
            retention_in_days: default_log_retention(),
        }
    }
}

/// `experimental`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExperimentalConfig {
    /// The API server's audit log.
    #[serde(default)]
    pub audit_log: AuditLogConfig,
}

/// `experimental.auditLog`: kube-aws's keys, kubeline's defaults (on, 30 days, 10 files of
/// 100 MB) as the API server's `--audit-log-*` flags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditLogConfig {
    /// Write the audit log (default true; kube-aws's default was false).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The log file on the controller, under /var/log/.
    #[serde(default = "default_audit_log_path")]
    pub log_path: String,
    /// Days to keep rotated files.
    #[serde(default = "default_audit_max_age")]
    pub max_age: u32,
    /// Rotated files kept.
    #[serde(default = "default_audit_max_backup")]
    pub max_backup: u32,
    /// Megabytes before a file is rotated.
    #[serde(default = "default_audit_max_size")]
    pub max_size: u32,
}

fn default_audit_log_path() -> String {
    "/var/log/kubernetes/audit.log".into()
}
fn default_audit_max_age() -> u32 {
    30
}
fn default_audit_max_backup() -> u32 {
    10
}
fn default_audit_max_size() -> u32 {
    100
}

impl Default for AuditLogConfig {
    fn default() -> Self {
        AuditLogConfig {
            enabled: true,
            log_path: default_audit_log_path(),
            max_age: default_audit_max_age(),
            max_backup: default_audit_max_backup(),
            max_size: default_audit_max_size(),
        }
    }
}

fn default_service_cidr() -> String {
    "10.3.0.0/24".into()
}
fn default_pod_cidr() -> String {
    "10.2.0.0/16".into()
}
fn default_dns_service_ip() -> String {
    "10.3.0.10".into()
}
fn default_kubernetes_version() -> String {
    DEFAULT_KUBERNETES_VERSION.into()
}
fn default_ca_days() -> u32 {
    3650
}
fn default_cert_days() -> u32 {
    365
}
fn default_true() -> bool {
    true
}

/// Algorithm of generated private keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum KeyAlgorithm {
    /// ECDSA on NIST P-256 with SHA-256 signatures: small and fast, accepted by every component.
    #[default]
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
    /// RSA 2048-bit with PKCS#1 v1.5 SHA-256 signatures, for tools that still require RSA.
    #[serde(rename = "rsa-2048")]
    Rsa2048,
}

impl KeyAlgorithm {
    /// The cluster.yaml spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::EcdsaP256 => "ecdsa-p256",
            KeyAlgorithm::Rsa2048 => "rsa-2048",
        }
    }
}

/// Flatcar Container Linux release channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReleaseChannel {
    /// Production-ready releases.
    #[default]
    Stable,
    /// Upcoming stable releases.
    Beta,
    /// Newest features.
    Alpha,
    /// Long-term support.
    Lts,
}

/// A reference by AWS ID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdRef {
    /// The AWS resource ID.
    pub id: String,
}

/// A reference to a subnet of this cluster by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NameRef {
    /// The `name` of an entry of `subnets`.
    pub name: String,
}

/// `subnets[].natGateway` (kube-aws's keys): exactly one of `id`, `idFromStackOutput` and
/// `eipAllocationId`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NatGatewayConfig {
    /// Existing NAT gateway (`nat-...`) the subnet routes through.
    #[serde(default)]
    pub id: Option<String>,
    /// An existing NAT gateway another stack exports (the export's name).
    #[serde(default)]
    pub id_from_stack_output: Option<String>,
    /// Elastic IP allocation (`eipalloc-...`) of the NAT gateway kubeline creates for the
    /// subnet's zone, so its public address is known in advance (say, for a partner's
    /// allow-list).
    #[serde(default)]
    pub eip_allocation_id: Option<String>,
}

/// An existing resource, by its ID or by another stack's export of it (kube-aws's
/// `idFromStackOutput`): exactly one of the two.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExistingRef {
    /// The resource's ID.
    #[serde(default)]
    pub id: Option<String>,
    /// The name of another stack's export whose value is the ID (`Fn::ImportValue`; that
    /// stack cannot then change or delete the export while this cluster uses it).
    #[serde(default)]
    pub id_from_stack_output: Option<String>,
}

/// A subnet of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubnetConfig {
    /// Name other sections refer to this subnet by.
    pub name: String,
    /// Availability zone, e.g. `eu-west-1a`.
    pub availability_zone: String,
    /// CIDR of the subnet, inside `vpcCIDR`. Needed unless `id` is set.
    #[serde(default, rename = "instanceCIDR")]
    pub instance_cidr: Option<String>,
    /// A private subnet routes to the internet through a NAT gateway.
    #[serde(default)]
    pub private: bool,
    /// Use an existing subnet instead of creating one.
    #[serde(default)]
    pub id: Option<String>,
    /// Use an existing subnet another stack exports (the export's name).
    #[serde(default)]
    pub id_from_stack_output: Option<String>,
    /// A private subnet's NAT gateway: an existing one (`id`), or the one kubeline creates in
    /// the zone's public subnet with a pre-allocated Elastic IP (`eipAllocationId`).
    #[serde(default)]
    pub nat_gateway: Option<NatGatewayConfig>,
    /// Existing route table for this subnet.
    #[serde(default)]
    pub route_table: Option<ExistingRef>,
}

/// A Kubernetes API endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiEndpointConfig {
    /// Unique name of the endpoint.
    pub name: String,
    /// DNS name clients use to reach the API (in the apiserver certificate).
    pub dns_name: String,
    /// The load balancer in front of the controllers.
    #[serde(default)]
    pub load_balancer: LoadBalancerConfig,
}

/// Load balancer kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LoadBalancerType {
    /// Network load balancer (elbv2, TCP).
    #[default]
    Network,
    /// Classic load balancer (TCP listener).
    Classic,
}

/// An API endpoint's load balancer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoadBalancerConfig {
    /// Load balancer kind.
    #[serde(default, rename = "type")]
    pub kind: LoadBalancerType,
    /// Internal load balancer reachable from inside the VPC only. Nodes reach the API through
    /// the first private endpoint.
    #[serde(default)]
    pub private: bool,
    /// Subnets of the load balancer. Default: the public subnets (private ones for a
    /// private load balancer).
    #[serde(default)]
    pub subnets: Vec<NameRef>,
    /// Route53 hosted zone in which `dnsName` gets an alias record.
    #[serde(default)]
    pub hosted_zone: Option<IdRef>,
    /// Set to false to manage the DNS record yourself.
    #[serde(default = "default_true")]
    pub record_set_managed: bool,
    /// Source CIDRs allowed to reach the API through this load balancer, besides the cluster's
    /// nodes (admitted by security group).
    #[serde(default, rename = "apiAccessAllowedSourceCIDRs")]
    pub api_access_allowed_source_cidrs: Vec<String>,
}

impl Default for LoadBalancerConfig {
    fn default() -> Self {
        LoadBalancerConfig {
            kind: LoadBalancerType::default(),
            private: false,
            subnets: Vec::new(),
            hosted_zone: None,
            record_set_managed: true,
            api_access_allowed_source_cidrs: Vec::new(),
        }
    }
}

/// Extra apiserver certificate names (kube-aws dropped the DNS ones; kubeline keeps both).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CustomApiServerSettings {
    /// Extra DNS names.
    #[serde(default)]
    pub additional_dns_sans: Vec<String>,
    /// Extra IP addresses.
    #[serde(default, rename = "additionalIPAddressSans")]
    pub additional_ip_address_sans: Vec<String>,
}

/// Where nodes download Kubernetes binaries from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubernetesArtifacts {
    /// Base URL; `/v<version>/bin/linux/amd64/kubelet` is appended.
    #[serde(default = "default_artifacts_url", rename = "baseURL")]
    pub base_url: String,
    /// Checksum of the kubelet binary as published with the release, `sha256:<hex>` or
    /// `sha512:<hex>`; Ignition checks it before installing the binary.
    #[serde(default)]
    pub kubelet_hash: Option<String>,
}

fn default_artifacts_url() -> String {
    "https://dl.k8s.io/release".into()
}

impl Default for KubernetesArtifacts {
    fn default() -> Self {
        KubernetesArtifacts {
            base_url: default_artifacts_url(),
            kubelet_hash: None,
        }
    }
}

/// Approval mode of the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Approval {
    /// Apply the plan right away.
    #[default]
    Auto,
    /// Wait for an approval file before applying.
    Manual,
}

/// Pipeline behaviour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PipelineConfig {
    /// `auto` or `manual`.
    #[serde(default)]
    pub approval: Approval,
}

/// The JSON Schema of cluster.yaml, as pretty JSON.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(ClusterConfig)).unwrap_or_default()
}

/// One add-on's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddonConfig {
    /// Set to false to leave this add-on to you.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Image tag to use instead of the one kubeline pins for the cluster's Kubernetes minor,
    /// e.g. `v1.12.2`.
    #[serde(default)]
    pub version: Option<String>,
}

impl AddonConfig {
    /// An add-on that is off unless cluster.yaml turns it on.
    fn disabled() -> Self {
        AddonConfig {
            enabled: false,
            version: None,
        }
    }
}

impl Default for AddonConfig {
    fn default() -> Self {
        AddonConfig {
            enabled: true,
            version: None,
        }
    }
}

/// The add-ons kubeline applies from the controllers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddonsConfig {
    /// The pod network (flannel, VXLAN).
    #[serde(default)]
    pub flannel: AddonConfig,
    /// kube-proxy (Service routing on every node).
    #[serde(default)]
    pub kube_proxy: AddonConfig,
    /// CoreDNS at `dnsServiceIP`, with its proportional autoscaler.
    #[serde(default)]
    pub core_dns: AddonConfig,
    /// metrics-server, on by default as in kube-aws (`metricsServer.enabled`).
    #[serde(default)]
    pub metrics_server: AddonConfig,
    /// cluster-autoscaler, off by default as in kube-aws (`clusterAutoscaler.enabled`): it
    /// discovers the node pools by their Auto Scaling groups' tags.
    #[serde(default = "AddonConfig::disabled")]
    pub cluster_autoscaler: AddonConfig,
    /// The Amazon EBS CSI driver with a default encrypted gp3 StorageClass.
    #[serde(default)]
    pub ebs_csi_driver: AddonConfig,
    /// The AWS cloud-controller-manager (node addresses, `type: LoadBalancer` Services).
    #[serde(default)]
    pub cloud_controller_manager: AddonConfig,
    /// AWS Node Termination Handler in queue mode: cordons and drains a node before its
    /// instance is terminated by its Auto Scaling group (rolling updates, scale-in, capacity
    /// rebalancing) or a spot interruption (kube-aws's node drainer's job); see
    /// docs/addons.md.
    #[serde(default)]
    pub node_termination_handler: AddonConfig,
    /// NVIDIA's device plugin, applied while a node pool has `gpu.nvidia.enabled` (set
    /// `enabled: false` to bring your own, e.g. NVIDIA's GPU Operator with its driver and
    /// toolkit turned off; docs/gpu.md).
    #[serde(default)]
    pub nvidia_device_plugin: AddonConfig,
    /// A registry that mirrors every image nodes pull (add-ons, control plane, etcd, kubectl,
    /// the AWS CLI, the pause image) under the same path, e.g.
    /// `registry.example.com/mirror` (`registry.k8s.io/coredns/coredns:v1.12.1` becomes
    /// `registry.example.com/mirror/coredns/coredns:v1.12.1`).
    #[serde(default)]
    pub registry_mirror: Option<String>,
}

impl Default for AddonsConfig {
    fn default() -> Self {
        AddonsConfig {
            flannel: AddonConfig::default(),
            kube_proxy: AddonConfig::default(),
            core_dns: AddonConfig::default(),
            cloud_controller_manager: AddonConfig::default(),
            metrics_server: AddonConfig::default(),
            cluster_autoscaler: AddonConfig::disabled(),
            ebs_csi_driver: AddonConfig::default(),
            node_termination_handler: AddonConfig::default(),
            nvidia_device_plugin: AddonConfig::default(),
            registry_mirror: None,
        }
    }
}

/// kube-proxy settings (kube-aws's `kubeProxy`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubeProxyConfig {
    /// IPVS instead of iptables.
    #[serde(default)]
    pub ipvs_mode: IpvsModeConfig,
}

/// kube-proxy's IPVS mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IpvsModeConfig {
    /// Use IPVS.
    #[serde(default)]
    pub enabled: bool,
    /// IPVS scheduler (`rr`, `lc`, `dh`, `sh`, `sed`, `nq`).
    #[serde(default = "default_ipvs_scheduler")]
    pub scheduler: String,
    /// How often rules are refreshed, e.g. `60s`.
    #[serde(default = "default_ipvs_sync_period")]
    pub sync_period: String,
    /// Minimum interval between refreshes, e.g. `10s`.
    #[serde(default = "default_ipvs_min_sync_period")]
    pub min_sync_period: String,
}

fn default_ipvs_scheduler() -> String {
    "rr".into()
}

fn default_ipvs_sync_period() -> String {
    "60s".into()
}

fn default_ipvs_min_sync_period() -> String {
    "10s".into()
}

impl Default for IpvsModeConfig {
    fn default() -> Self {
        IpvsModeConfig {
            enabled: false,
            scheduler: default_ipvs_scheduler(),
            sync_period: default_ipvs_sync_period(),
            min_sync_period: default_ipvs_min_sync_period(),
        }
    }
}

/// One `serviceAccounts[]` entry: the service account and the policies of its role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceAccountConfig {
    /// The service account's namespace (a DNS label).
    pub namespace: String,
    /// The service account's name (a DNS subdomain name).
    pub name: String,
    /// Managed policies attached to its role (1 to 10), bounded by the installation's
    /// permissions boundary and, in a shared installation, by `iam.managedPolicyArns`.
    #[serde(default)]
    pub managed_policies: Vec<ArnRef>,
}
