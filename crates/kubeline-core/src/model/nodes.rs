//! The node sections of cluster.yaml: controllers, etcd members, worker node pools, their
//! volumes, Auto Scaling groups, taints and rolling strategy.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{DEFAULT_ETCD_VERSION, NameRef, default_true};

/// EBS volume type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VolumeType {
    /// General purpose SSD, current generation.
    #[default]
    Gp3,
    /// General purpose SSD, previous generation.
    Gp2,
    /// Provisioned IOPS SSD.
    Io1,
    /// Provisioned IOPS SSD, current generation.
    Io2,
    /// Throughput-optimised HDD (not bootable).
    St1,
    /// Cold HDD (not bootable).
    Sc1,
    /// Magnetic, previous generation.
    Standard,
}

/// An EBS volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VolumeConfig {
    /// Size in GiB.
    #[serde(default = "default_volume_size")]
    pub size: u32,
    /// Volume type.
    #[serde(default, rename = "type")]
    pub kind: VolumeType,
    /// Provisioned IOPS (gp3, io1, io2 only).
    #[serde(default)]
    pub iops: Option<u32>,
}

fn default_volume_size() -> u32 {
    30
}

impl Default for VolumeConfig {
    fn default() -> Self {
        VolumeConfig {
            size: default_volume_size(),
            kind: VolumeType::Gp3,
            iops: None,
        }
    }
}

/// An etcd data volume: always encrypted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataVolumeConfig {
    /// Size in GiB.
    #[serde(default = "default_volume_size")]
    pub size: u32,
    /// Volume type.
    #[serde(default, rename = "type")]
    pub kind: VolumeType,
    /// Provisioned IOPS (gp3, io1, io2 only).
    #[serde(default)]
    pub iops: Option<u32>,
    /// Must stay true: etcd holds every secret of the cluster.
    #[serde(default = "default_true")]
    pub encrypted: bool,
}

impl Default for DataVolumeConfig {
    fn default() -> Self {
        DataVolumeConfig {
            size: default_volume_size(),
            kind: VolumeType::Gp3,
            iops: None,
            encrypted: true,
        }
    }
}

/// Auto Scaling group sizes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AutoScalingGroupConfig {
    /// Minimum size. Default: the group's count. As in kube-aws, `minSize`/`maxSize` may be
    /// given instead of `count`; the group then starts at `minSize` instances.
    #[serde(default)]
    pub min_size: Option<u32>,
    /// Maximum size. Default: the group's count. `0` keeps a node pool empty (with a warning).
    #[serde(default)]
    pub max_size: Option<u32>,
    /// Instances kept in service during a rolling update. Default: the desired size - 1.
    #[serde(default)]
    pub rolling_update_min_instances_in_service: Option<u32>,
    /// Mixed instance types and spot (node pools only).
    #[serde(default)]
    pub mixed_instances: Option<MixedInstancesConfig>,
}

/// Spot allocation strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SpotAllocationStrategy {
    /// Least likely to be interrupted, then cheapest.
    #[default]
    PriceCapacityOptimized,
    /// Pools with most capacity.
    CapacityOptimized,
    /// Cheapest pools.
    LowestPrice,
}

/// A MixedInstancesPolicy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MixedInstancesConfig {
    /// Turn the mixed instances policy on.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Instance types to choose from (the pool's instanceType is always included).
    #[serde(default)]
    pub instance_types: Vec<String>,
    /// On-demand instances before any spot.
    #[serde(default)]
    pub on_demand_base_capacity: u32,
    /// Percentage of on-demand above the base (0 = all spot).
    #[serde(default)]
    pub on_demand_percentage_above_base_capacity: u32,
    /// How spot capacity is chosen.
    #[serde(default)]
    pub spot_allocation_strategy: SpotAllocationStrategy,
    /// Number of spot pools (lowest-price strategy only).
    #[serde(default)]
    pub spot_instance_pools: Option<u32>,
}

/// Control-plane nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ControllerConfig {
    /// Number of controllers. Default: `autoScalingGroup.minSize` when that is set, else 2.
    #[serde(default)]
    pub count: Option<u32>,
    /// EC2 instance type.
    #[serde(default = "default_instance_type")]
    pub instance_type: String,
    /// Root volume.
    #[serde(default)]
    pub root_volume: VolumeConfig,
    /// Subnets to run in. Default: all private subnets, or all subnets when none is private.
    #[serde(default)]
    pub subnets: Vec<NameRef>,
    /// Auto Scaling group sizes.
    #[serde(default)]
    pub auto_scaling_group: AutoScalingGroupConfig,
    /// Extra kubelet labels.
    #[serde(default)]
    pub node_labels: BTreeMap<String, String>,
    /// Extra taints, besides `node-role.kubernetes.io/control-plane:NoSchedule` (kube-aws's
    /// `controller.taints`); kubeline's control-plane add-ons tolerate them.
    #[serde(default)]
    pub taints: Vec<Taint>,
    /// EC2 tenancy of the controllers.
    #[serde(default)]
    pub tenancy: Tenancy,
    /// Existing security groups attached to the controllers too (at most 4).
    #[serde(default)]
    pub security_group_ids: Vec<String>,
    /// IAM: extra managed policies on the controllers' role.
    #[serde(default)]
    pub iam: NodeIamConfig,
}

/// EC2 tenancy of a node group's instances (kube-aws's `tenancy`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Tenancy {
    /// Shared hardware (EC2's default).
    #[default]
    Default,
    /// Dedicated Instances: hardware dedicated to this account.
    Dedicated,
}

impl Tenancy {
    /// The value EC2 takes (`Placement.Tenancy`).
    pub fn as_str(self) -> &'static str {
        match self {
            Tenancy::Default => "default",
            Tenancy::Dedicated => "dedicated",
        }
    }
}

/// kube-aws's `iam` of a node group: the role kubeline creates (its name, managed policies),
/// an externally managed role, or an existing instance profile (docs/node-iam.md).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeIamConfig {
    /// The group's role.
    #[serde(default)]
    pub role: NodeRoleConfig,
    /// An existing instance profile the nodes use instead of one kubeline creates; its name
    /// must start with `kubeline-<clusterName>-` and its role must carry the node policy.
    #[serde(default)]
    pub instance_profile: Option<ArnRef>,
}

/// `iam.role`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeRoleConfig {
    /// Name of the role and its instance profile: `kubeline-<clusterName>-<name>`, or `name`
    /// itself with `strictName` or `manageExternally` (it must then start with
    /// `kubeline-<clusterName>-`). Default: `kubeline-<clusterName>-<controller|etcd|pool-NAME>`.
    #[serde(default)]
    pub name: Option<String>,
    /// Use `name` verbatim.
    #[serde(default)]
    pub strict_name: bool,
    /// The role `name` exists and is managed outside kubeline: kubeline creates only the
    /// instance profile around it and puts its node policy on it as an inline policy.
    #[serde(default)]
    pub manage_externally: bool,
    /// Managed policies attached to the role (at most 10, IAM's default quota), bounded by
    /// the installation's permissions boundary.
    #[serde(default)]
    pub managed_policies: Vec<ArnRef>,
}

/// A reference by ARN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArnRef {
    /// The ARN.
    pub arn: String,
}

/// kube-aws's `worker.nodePools[].loadBalancer`: existing Classic Load Balancers the pool's
/// group registers its nodes with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PoolLoadBalancerConfig {
    /// Attach the load balancers (default false: `names` are then ignored, as kube-aws did).
    #[serde(default)]
    pub enabled: bool,
    /// Names of the Classic Load Balancers.
    #[serde(default)]
    pub names: Vec<String>,
    /// Existing security groups attached to the pool's nodes so the load balancers reach them.
    #[serde(default)]
    pub security_group_ids: Vec<String>,
}

/// kube-aws's `worker.nodePools[].targetGroup`: existing ALB/NLB target groups the pool's
/// group registers its nodes with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PoolTargetGroupConfig {
    /// Attach the target groups (default false: `arns` are then ignored, as kube-aws did).
    #[serde(default)]
    pub enabled: bool,
    /// ARNs of the target groups.
    #[serde(default)]
    pub arns: Vec<String>,
    /// Existing security groups attached to the pool's nodes so the load balancers reach them.
    #[serde(default)]
    pub security_group_ids: Vec<String>,
}

/// kube-aws's `waitSignal`: with `enabled` (the default) CloudFormation waits for each new
/// instance of the group to report itself ready before it replaces the next batch, and rolls
/// the update back when one does not; see docs/node-boot.md.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WaitSignalConfig {
    /// Wait for readiness signals (default true). `false` rolls the group on a fixed pause
    /// without signals, one instance at a time.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Instances replaced at once in a rolling update (default 1, at most the group's
    /// `maxSize`). Only with `enabled`.
    #[serde(default)]
    pub max_batch_size: Option<u32>,
}

impl Default for WaitSignalConfig {
    fn default() -> Self {
        WaitSignalConfig {
            enabled: true,
            max_batch_size: None,
        }
    }
}

/// Controllers when neither `count` nor `autoScalingGroup.minSize` says otherwise.
pub const DEFAULT_CONTROLLER_COUNT: u32 = 2;
fn default_instance_type() -> String {
    "t3.medium".into()
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            count: None,
            instance_type: default_instance_type(),
            root_volume: VolumeConfig::default(),
            subnets: Vec::new(),
            auto_scaling_group: AutoScalingGroupConfig::default(),
            node_labels: BTreeMap::new(),
            taints: Vec::new(),
            tenancy: Tenancy::default(),
            security_group_ids: Vec::new(),
            iam: NodeIamConfig::default(),
        }
    }
}

/// etcd snapshots.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Automated {
    /// Turn it on.
    #[serde(default)]
    pub automated: bool,
}

/// Scheduled etcd snapshots (kube-aws's `etcd.snapshot`, with an interval).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EtcdSnapshotConfig {
    /// Take snapshots on a schedule (default true; kube-aws's default was false). The
    /// current leader takes each one and uploads it, encrypted with the cluster's KMS key, to
    /// `clusters/<name>/etcd-snapshots/`; see docs/etcd-backup.md.
    #[serde(default = "default_true")]
    pub automated: bool,
    /// How often: `15m`, `30m`, `1h` (default), `2h`, `3h`, `4h`, `6h`, `8h`, `12h` or `24h`.
    /// Snapshots are taken at fixed UTC times (every interval from midnight).
    #[serde(default)]
    pub interval: SnapshotInterval,
}

impl Default for EtcdSnapshotConfig {
    fn default() -> Self {
        EtcdSnapshotConfig {
            automated: true,
            interval: SnapshotInterval::default(),
        }
    }
}

/// How often etcd is snapshotted: intervals that divide a day, so every day starts with one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SnapshotInterval {
    /// Every 15 minutes.
    #[serde(rename = "15m")]
    Minutes15,
    /// Every 30 minutes.
    #[serde(rename = "30m")]
    Minutes30,
    /// Every hour.
    #[default]
    #[serde(rename = "1h")]
    Hours1,
    /// Every 2 hours.
    #[serde(rename = "2h")]
    Hours2,
    /// Every 3 hours.
    #[serde(rename = "3h")]
    Hours3,
    /// Every 4 hours.
    #[serde(rename = "4h")]
    Hours4,
    /// Every 6 hours.
    #[serde(rename = "6h")]
    Hours6,
    /// Every 8 hours.
    #[serde(rename = "8h")]
    Hours8,
    /// Every 12 hours.
    #[serde(rename = "12h")]
    Hours12,
    /// Once a day, at midnight UTC.
    #[serde(rename = "24h")]
    Hours24,
}

impl SnapshotInterval {
    /// The systemd `OnCalendar=` expression (systemd.time(7)): every interval from 00:00 UTC.
    pub fn on_calendar(self) -> &'static str {
        match self {
            SnapshotInterval::Minutes15 => "*-*-* *:00/15:00 UTC",
            SnapshotInterval::Minutes30 => "*-*-* *:00/30:00 UTC",
            SnapshotInterval::Hours1 => "*-*-* *:00:00 UTC",
            SnapshotInterval::Hours2 => "*-*-* 00/2:00:00 UTC",
            SnapshotInterval::Hours3 => "*-*-* 00/3:00:00 UTC",
            SnapshotInterval::Hours4 => "*-*-* 00/4:00:00 UTC",
            SnapshotInterval::Hours6 => "*-*-* 00/6:00:00 UTC",
            SnapshotInterval::Hours8 => "*-*-* 00/8:00:00 UTC",
            SnapshotInterval::Hours12 => "*-*-* 00/12:00:00 UTC",
            SnapshotInterval::Hours24 => "*-*-* 00:00:00 UTC",
        }
    }
    /// Every interval, in minutes.
    pub fn minutes(self) -> u32 {
        match self {
            SnapshotInterval::Minutes15 => 15,
            SnapshotInterval::Minutes30 => 30,
            SnapshotInterval::Hours1 => 60,
            SnapshotInterval::Hours2 => 120,
            SnapshotInterval::Hours3 => 180,
            SnapshotInterval::Hours4 => 240,
            SnapshotInterval::Hours6 => 360,
            SnapshotInterval::Hours8 => 480,
            SnapshotInterval::Hours12 => 720,
            SnapshotInterval::Hours24 => 1440,
        }
    }
    /// Every interval, as written in cluster.yaml.
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotInterval::Minutes15 => "15m",
            SnapshotInterval::Minutes30 => "30m",
            SnapshotInterval::Hours1 => "1h",
            SnapshotInterval::Hours2 => "2h",
            SnapshotInterval::Hours3 => "3h",
            SnapshotInterval::Hours4 => "4h",
            SnapshotInterval::Hours6 => "6h",
            SnapshotInterval::Hours8 => "8h",
            SnapshotInterval::Hours12 => "12h",
            SnapshotInterval::Hours24 => "24h",
        }
    }
    /// Every interval, for tests and docs.
    pub const ALL: [SnapshotInterval; 10] = [
        SnapshotInterval::Minutes15,
        SnapshotInterval::Minutes30,
        SnapshotInterval::Hours1,
        SnapshotInterval::Hours2,
        SnapshotInterval::Hours3,
        SnapshotInterval::Hours4,
        SnapshotInterval::Hours6,
        SnapshotInterval::Hours8,
        SnapshotInterval::Hours12,
        SnapshotInterval::Hours24,
    ];
}

/// etcd members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EtcdConfig {
    /// Number of members (odd). Default 3.
    #[serde(default = "default_etcd_count")]
    pub count: u32,
    /// EC2 instance type.
    #[serde(default = "default_instance_type")]
    pub instance_type: String,
    /// Root volume.
    #[serde(default)]
    pub root_volume: VolumeConfig,
    /// Data volume, one per member, kept when the instance is replaced.
    #[serde(default)]
    pub data_volume: DataVolumeConfig,
    /// Subnets to spread members over (they need `instanceCIDR`).
    #[serde(default)]
    pub subnets: Vec<NameRef>,
    /// etcd version, `3.5.21` or kube-aws's `v3.5.21`; it must be supported by the
    /// Kubernetes version (3.5.x or 3.6.x for Kubernetes 1.31 and newer).
    #[serde(default = "default_etcd_version")]
    pub version: String,
    /// Scheduled snapshots to S3 (on by default, hourly).
    #[serde(default)]
    pub snapshot: EtcdSnapshotConfig,
    /// Automatic restore from the latest snapshot.
    #[serde(default)]
    pub disaster_recovery: Automated,
    /// EC2 tenancy of the members.
    #[serde(default)]
    pub tenancy: Tenancy,
    /// Existing security groups attached to the members too (at most 4).
    #[serde(default)]
    pub security_group_ids: Vec<String>,
    /// IAM: extra managed policies on the members' role.
    #[serde(default)]
    pub iam: NodeIamConfig,
}

fn default_etcd_count() -> u32 {
    3
}
fn default_etcd_version() -> String {
    DEFAULT_ETCD_VERSION.into()
}

impl Default for EtcdConfig {
    fn default() -> Self {
        EtcdConfig {
            count: default_etcd_count(),
            instance_type: default_instance_type(),
            root_volume: VolumeConfig::default(),
            data_volume: DataVolumeConfig::default(),
            subnets: Vec::new(),
            version: default_etcd_version(),
            snapshot: EtcdSnapshotConfig::default(),
            disaster_recovery: Automated::default(),
            tenancy: Tenancy::default(),
            security_group_ids: Vec::new(),
            iam: NodeIamConfig::default(),
        }
    }
}

/// Worker nodes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkerConfig {
    /// Node pools, one stack each.
    #[serde(default)]
    pub node_pools: Vec<NodePoolConfig>,
    /// How node pools roll out when they change (kube-aws's key): `Parallel` (default) updates
    /// every pool at once, once the control plane is up to date; `Sequential` one pool at a
    /// time in the order listed; `AvailabilityZone` the pools of one zone at a time (zones in
    /// the order they first appear; every pool must then sit in one zone).
    #[serde(default)]
    pub node_pool_rolling_strategy: RollingStrategy,
    /// The endpoint every pool's kubelets use (kube-aws's `worker.apiEndpointName`). Default:
    /// the endpoint named `nodes`, else the first private one (docs/api-endpoints.md).
    #[serde(default)]
    pub api_endpoint_name: Option<String>,
}

/// How node pools roll out (`worker.nodePoolRollingStrategy`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum RollingStrategy {
    /// Every pool at once.
    #[default]
    Parallel,
    /// One pool at a time, in the order listed.
    Sequential,
    /// The pools of one availability zone at a time.
    AvailabilityZone,
}

/// Taint effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum TaintEffect {
    /// Do not schedule pods without a toleration.
    NoSchedule,
    /// Avoid scheduling pods without a toleration.
    PreferNoSchedule,
    /// Evict running pods without a toleration.
    NoExecute,
}

impl TaintEffect {
    /// The effect as Kubernetes spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            TaintEffect::NoSchedule => "NoSchedule",
            TaintEffect::PreferNoSchedule => "PreferNoSchedule",
            TaintEffect::NoExecute => "NoExecute",
        }
    }
}

/// A node taint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Taint {
    /// Taint key.
    pub key: String,
    /// Taint value.
    #[serde(default)]
    pub value: String,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    pub effect: String,
}

/// A worker node pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodePoolConfig {
    /// Unique name of the pool.
    pub name: String,
    /// Desired number of nodes. Default: `autoScalingGroup.minSize` when that is set, else 1.
    /// When given together with minSize/maxSize it must lie between them.
    #[serde(default)]
    pub count: Option<u32>,
    /// EC2 instance type.
    #[serde(default = "default_instance_type")]
    pub instance_type: String,
    /// Subnets to run in. Default: as for controllers.
    #[serde(default)]
    pub subnets: Vec<NameRef>,
    /// Root volume.
    #[serde(default)]
    pub root_volume: VolumeConfig,
    /// Maximum spot price per hour in USD (turns the pool into a spot pool).
    #[serde(default)]
    pub spot_price: Option<String>,
    /// Auto Scaling group sizes and mixed instances.
    #[serde(default)]
    pub auto_scaling_group: AutoScalingGroupConfig,
    /// Kubelet labels.
    #[serde(default)]
    pub node_labels: BTreeMap<String, String>,
    /// Kubelet taints.
    #[serde(default)]
    pub taints: Vec<Taint>,
    /// Kubelet version of this pool (for skewed upgrades). Default: the cluster's.
    #[serde(default)]
    pub kubernetes_version: Option<String>,
    /// Checksum of this pool's kubelet (`sha256:<hex>` or `sha512:<hex>`) when its
    /// `kubernetesVersion` differs from the cluster's, whose `kubernetesArtifacts.kubeletHash`
    /// checks only the cluster's version.
    #[serde(default)]
    pub kubelet_hash: Option<String>,
    /// Whether rolling updates (and the group's creation) wait for each new node to report
    /// itself Ready (kube-aws's `worker.nodePools[].waitSignal`).
    #[serde(default)]
    pub wait_signal: WaitSignalConfig,
    /// EC2 tenancy of the pool's nodes.
    #[serde(default)]
    pub tenancy: Tenancy,
    /// Existing security groups attached to the pool's nodes too (at most 4, together with
    /// those of `loadBalancer` and `targetGroup`).
    #[serde(default)]
    pub security_group_ids: Vec<String>,
    /// IAM: extra managed policies on the pool's role.
    #[serde(default)]
    pub iam: NodeIamConfig,
    /// Existing Classic Load Balancers to register the nodes with.
    #[serde(default)]
    pub load_balancer: PoolLoadBalancerConfig,
    /// Existing target groups to register the nodes with.
    #[serde(default)]
    pub target_group: PoolTargetGroupConfig,
    /// kube-aws's `customSettings`: free-form values an overridden node-pool template reads
    /// as `pool.custom_settings`.
    #[serde(default)]
    pub custom_settings: BTreeMap<String, serde_json::Value>,
    /// GPU drivers and the device plugin (kube-aws's `gpu.nvidia`; docs/gpu.md).
    #[serde(default)]
    pub gpu: super::GpuConfig,
    /// The API endpoint this pool's kubelets use (kube-aws's
    /// `worker.nodePools[].apiEndpointName`). Default: `worker.apiEndpointName`'s.
    #[serde(default)]
    pub api_endpoint_name: Option<String>,
}

/// Nodes of a pool when neither `count` nor `autoScalingGroup.minSize` says otherwise.
pub const DEFAULT_POOL_COUNT: u32 = 1;
