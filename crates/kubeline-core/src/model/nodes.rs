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
    /// Periodic snapshots to S3.
    #[serde(default)]
    pub snapshot: Automated,
    /// Automatic restore from the latest snapshot.
    #[serde(default)]
    pub disaster_recovery: Automated,
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
            snapshot: Automated::default(),
            disaster_recovery: Automated::default(),
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
}

/// Nodes of a pool when neither `count` nor `autoScalingGroup.minSize` says otherwise.
pub const DEFAULT_POOL_COUNT: u32 = 1;
