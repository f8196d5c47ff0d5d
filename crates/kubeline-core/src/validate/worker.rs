//! The rules of `worker.nodePools`: names, sizes, labels and taints (with kube-aws's extras
//! and existing load balancers), spot and mixed instances, GPU drivers,
//! the kubelet version skew and the rolling-update signals (`waitSignal`) of each node pool.

use std::collections::BTreeSet;

use super::{Ctx, root};
use crate::cluster::{Artifact, Mixed, NodePool, Subnet};
use crate::diag::Severity;
use crate::model::ClusterConfig;
use crate::types::{ClusterName, KubeVersion, is_dns_label};
use crate::yaml::Path;

impl Ctx<'_> {
    pub(super) fn node_pools(
        &mut self,
        c: &ClusterConfig,
        name: Option<&ClusterName>,
        subnets: &[Subnet],
        kube: Option<KubeVersion>,
        kubelet: &Artifact,
    ) -> Option<Vec<NodePool>> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        let mut ok = true;
        for (i, np) in c.worker.node_pools.iter().enumerate() {
            let p = root().key("worker").key("nodePools").index(i);
            let before = self
                .diags
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .count();
            if !is_dns_label(&np.name) {
                self.err(
                    p.key("name"),
                    format!("{:?} is not a DNS label", np.name),
                    "use lower-case letters, digits and hyphens, e.g. `general`",
                );
            } else if !seen.insert(np.name.clone()) {
                self.err(
                    p.key("name"),
                    format!("node pool name {:?} is used twice", np.name),
                    "give every pool its own name",
                );
            } else if np.name == "etcd" || np.name.ends_with("-etcd") {
                self.err(
                    p.key("name"),
                    format!("the pool name {:?} would give its nodes a role named kubeline-<cluster>-pool-{}, and the installation's bucket lets kubeline-*-etcd roles write etcd snapshots", np.name, np.name),
                    "pick a name that does not end in etcd, such as `etcd-clients`",
                );
            } else if let Some(n) =
                name.filter(|_| np.iam.role.name.is_none() && np.iam.instance_profile.is_none())
            {
                let role = crate::layout::NodeGroup::Pool(&np.name).iam_role_name(n);
                if role.len() > 64 {
                    self.err(
                        p.key("name"),
                        format!(
                            "the IAM role name {role:?} has {} characters; AWS allows 64",
                            role.len()
                        ),
                        format!(
                            "shorten the pool name to at most {} characters",
                            64 - (role.len() - np.name.len())
                        ),
                    );
                }
            }
            self.instance_type(p.key("instanceType"), &np.instance_type);
            let root_volume = self.volume(p.key("rootVolume"), &np.root_volume, true);
            let idx = self.refs(p.key("subnets"), &np.subnets, subnets, |s| s.private);
            if c.worker.node_pool_rolling_strategy
                == crate::model::RollingStrategy::AvailabilityZone
            {
                let zones: BTreeSet<&str> = idx
                    .iter()
                    .filter_map(|i| subnets.get(*i))
                    .map(|s| s.availability_zone.as_str())
                    .collect();
                if zones.len() > 1 {
                    self.err(
                        p.key("subnets"),
                        format!(
                            "the pool spans {} zones ({}) but worker.nodePoolRollingStrategy is AvailabilityZone, which rolls one zone at a time",
                            zones.len(),
                            zones.into_iter().collect::<Vec<_>>().join(", ")
                        ),
                        "give the pool subnets of one zone (one pool per zone), or use Parallel or Sequential",
                    );
                }
            }
            let size = self.group(
                p.clone(),
                np.count,
                crate::model::DEFAULT_POOL_COUNT,
                &np.auto_scaling_group,
                true,
            );
            self.labels(p.key("nodeLabels"), &np.node_labels);
            let signals = self.wait_signal(
                p.key("waitSignal"),
                np.wait_signal.enabled,
                np.wait_signal.max_batch_size,
                size.as_ref().map(|s| s.max),
            );
            let taints = self.taints(p.key("taints"), &np.taints, false);
            // The glue groups of an attachment go on the nodes only with the attachment, as
            // in kube-aws.
            let no_groups: &[String] = &[];
            let extras = self.group_extras(
                &p,
                np.tenancy,
                &[
                    (p.key("securityGroupIds"), &np.security_group_ids),
                    (
                        p.key("loadBalancer").key("securityGroupIds"),
                        if np.load_balancer.enabled {
                            &np.load_balancer.security_group_ids
                        } else {
                            no_groups
                        },
                    ),
                    (
                        p.key("targetGroup").key("securityGroupIds"),
                        if np.target_group.enabled {
                            &np.target_group.security_group_ids
                        } else {
                            no_groups
                        },
                    ),
                ],
                &np.iam,
                super::node_iam::Owner {
                    group: crate::layout::NodeGroup::Pool(&np.name),
                    cluster: &c.cluster_name,
                    partition: crate::types::partition_of(&c.region),
                    has_vpc: c.vpc.is_some(),
                },
            );
            let custom_settings =
                self.custom_settings(p.key("customSettings"), &np.custom_settings);
            let (load_balancer_names, target_group_arns) = self.attachments(
                &p,
                &np.load_balancer,
                &np.target_group,
                Some(&c.region),
                c.vpc.is_some(),
            );
            let spot_price = np.spot_price.as_ref().and_then(|sp| {
                let valid = sp.parse::<f64>().is_ok_and(|f| f > 0.0 && f < 1000.0)
                    && sp.chars().all(|c| c.is_ascii_digit() || c == '.');
                if valid {
                    Some(sp.clone())
                } else {
                    self.err(
                        p.key("spotPrice"),
                        format!("{sp:?} is not a price"),
                        "write the maximum hourly price in USD, e.g. \"0.05\"",
                    );
                    None
                }
            });
            let mut mixed = None;
            // Every instance type the pool may launch, each with its key (the GPU rules).
            let mut all_types = vec![(p.key("instanceType"), np.instance_type.as_str())];
            let mi = np
                .auto_scaling_group
                .mixed_instances
                .as_ref()
                .filter(|m| m.enabled);
            if let Some(m) = mi {
                let mp = p.key("autoScalingGroup").key("mixedInstances");
                for (k, t) in m.instance_types.iter().enumerate() {
                    self.instance_type(mp.key("instanceTypes").index(k), t);
                    if all_types.iter().any(|(_, seen)| seen == t) {
                        if *t != np.instance_type {
                            self.err(
                                mp.key("instanceTypes").index(k),
                                format!("{t} is listed twice"),
                                "list each type once",
                            );
                        }
                    } else {
                        all_types.push((mp.key("instanceTypes").index(k), t.as_str()));
                    }
                }
                if all_types.len() > 40 {
                    self.err(
                        mp.key("instanceTypes"),
                        "at most 40 instance types are allowed",
                        "remove some",
                    );
                }
                if m.on_demand_percentage_above_base_capacity > 100 {
                    self.err(
                        mp.key("onDemandPercentageAboveBaseCapacity"),
                        "a percentage is at most 100",
                        "use 0-100",
                    );
                }
                if m.spot_instance_pools.is_some()
                    && m.spot_allocation_strategy
                        != crate::model::SpotAllocationStrategy::LowestPrice
                {
                    self.err(
                        mp.key("spotInstancePools"),
                        "spotInstancePools applies only to the lowest-price strategy",
                        "remove it or set spotAllocationStrategy: lowest-price",
                    );
                }
                if m.spot_instance_pools
                    .is_some_and(|n| !(1..=20).contains(&n))
                {
                    self.err(
                        mp.key("spotInstancePools"),
                        "spotInstancePools is 1-20",
                        "use a value in range",
                    );
                }
                mixed = Some(Mixed {
                    instance_types: all_types.iter().map(|(_, t)| (*t).to_owned()).collect(),
                    on_demand_base_capacity: m.on_demand_base_capacity,
                    on_demand_percentage_above_base_capacity: m
                        .on_demand_percentage_above_base_capacity,
                    spot_allocation_strategy: m.spot_allocation_strategy,
                    spot_instance_pools: m.spot_instance_pools,
                    spot_max_price: spot_price.clone(),
                });
            } else if spot_price.is_some() {
                // A plain spot pool: all capacity from spot, one type.
                mixed = Some(Mixed {
                    instance_types: vec![np.instance_type.clone()],
                    on_demand_base_capacity: 0,
                    on_demand_percentage_above_base_capacity: 0,
                    spot_allocation_strategy: Default::default(),
                    spot_instance_pools: None,
                    spot_max_price: spot_price,
                });
            }
            let gpu = self.nvidia_gpu(&p, &np.gpu.nvidia, &all_types);
            let mut node_labels = np.node_labels.clone();
            if let Some(g) = &gpu {
                // NVIDIA's own label for "schedule the device plugin here" (its Helm chart's
                // node affinity); the device-plugin add-on selects it.
                node_labels
                    .entry("nvidia.com/gpu.present".to_owned())
                    .or_insert_with(|| "true".to_owned());
                // cluster-autoscaler's AWS GPU label: a node with it counts as a GPU node
                // still starting until its device plugin reports the GPUs, so pending GPU pods
                // do not scale the pool up twice.
                if let Some(a) = &g.accelerator {
                    node_labels
                        .entry("k8s.amazonaws.com/accelerator".to_owned())
                        .or_insert_with(|| a.clone());
                }
            }
            let version = match &np.kubernetes_version {
                Some(v) => self.parse::<KubeVersion>(p.key("kubernetesVersion"), v),
                None => kube,
            };
            // Only a kubelet within the supported skew gets its checksum checked.
            let mut versions = version.zip(kube);
            if let Some((v, k)) = versions
                && (v.minor > k.minor || k.minor - v.minor > 3)
            {
                versions = None;
                self.err(
                    p.key("kubernetesVersion"),
                    format!("kubelet {v} is outside the supported skew of control plane {k}"),
                    format!(
                        "use 1.{}.x to 1.{}.x (kubelets may be up to 3 minors older, never newer)",
                        k.minor.saturating_sub(3),
                        k.minor
                    ),
                );
            }
            let kubelet_hash = versions.and_then(|vk| self.pool_kubelet_hash(&p, np, vk, kubelet));
            let after = self
                .diags
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .count();
            if after != before {
                ok = false;
                continue;
            }
            if let (Some(root_volume), Some(size), Some(kubernetes_version), Some(signals)) =
                (root_volume, size, version, signals)
            {
                let (wait_signal, max_batch_size) = signals;
                out.push(NodePool {
                    name: np.name.clone(),
                    instance_type: np.instance_type.clone(),
                    subnets: idx,
                    root_volume,
                    size,
                    mixed,
                    node_labels,
                    taints,
                    kubernetes_version,
                    kubelet_hash,
                    wait_signal,
                    max_batch_size,
                    extras,
                    load_balancer_names,
                    target_group_arns,
                    custom_settings,
                    gpu,
                    api_endpoint_name: np.api_endpoint_name.clone(),
                });
            }
        }
        let pools_path = root().key("worker").key("nodePools");
        if c.worker.node_pools.len() > super::limits::MAX_NODE_POOLS {
            self.err(
                pools_path.clone(),
                format!(
                    "{} node pools; kubeline allows {} per cluster: each pool is a CloudFormation stack, an IAM role and an instance profile, which count against the account's quotas (docs/quotas.md)",
                    c.worker.node_pools.len(),
                    super::limits::MAX_NODE_POOLS
                ),
                "merge pools that differ only in size (mixed instances cover several types in one pool)",
            );
            ok = false;
        }
        let nodes: u64 = out.iter().map(|p| u64::from(p.size.max)).sum();
        if nodes > super::limits::MAX_CLUSTER_NODES {
            self.err(
                pools_path,
                format!(
                    "the node pools grow to {nodes} nodes; Kubernetes supports clusters of up to {} (kubernetes.io/docs/setup/best-practices/cluster-large/)",
                    super::limits::MAX_CLUSTER_NODES
                ),
                "lower the pools' maxSize, or split the workloads over several clusters",
            );
            ok = false;
        }
        ok.then_some(out)
    }

    /// The checksum Ignition checks this pool's kubelet against: the pool's own
    /// `kubeletHash` when it runs a kubelet of its own version, else the cluster's
    /// `kubernetesArtifacts.kubeletHash` (which is the checksum of the cluster's version, so a
    /// pool of another version must bring its own or the node would fail Ignition's check and
    /// never boot).
    fn pool_kubelet_hash(
        &mut self,
        p: &Path,
        np: &crate::model::NodePoolConfig,
        (v, k): (KubeVersion, KubeVersion),
        kubelet: &Artifact,
    ) -> Option<String> {
        let own = np
            .kubelet_hash
            .as_deref()
            .map(|h| (h, self.kubelet_hash(p.key("kubeletHash"), h)));
        match own {
            Some(_) if v == k => {
                self.err(
                    p.key("kubeletHash"),
                    format!("this pool runs the cluster's kubelet {k}, whose checksum is kubernetesArtifacts.kubeletHash"),
                    "remove it (a pool's kubeletHash is the checksum of its own kubernetesVersion)",
                );
                None
            }
            Some((_, parsed)) => parsed,
            None if v != k && kubelet.hash.is_some() => {
                self.err(
                    p.key("kubernetesVersion"),
                    format!("kubelet {v} cannot pass kubernetesArtifacts.kubeletHash, the checksum of the cluster's kubelet {k}: Ignition would refuse the download and the nodes would never boot"),
                    format!("set kubeletHash in this pool to the checksum published at dl.k8s.io/release/v{v}/bin/linux/amd64/kubelet.sha256"),
                );
                None
            }
            None if v == k => kubelet.hash.clone(),
            None => None,
        }
    }
}
