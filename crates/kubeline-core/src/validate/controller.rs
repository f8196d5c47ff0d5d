//! The rules of `controller`: instance type, root volume, subnets, group size, node labels,
//! taints, kube-aws's extras and rolling-update signals (`waitSignal`, shared with the node
//! pools) of the controllers.

use super::{Ctx, root};
use crate::cluster::{Controller, Subnet};
use crate::model::ClusterConfig;
use crate::yaml::Path;

impl Ctx<'_> {
    pub(super) fn controller(
        &mut self,
        c: &ClusterConfig,
        subnets: &[Subnet],
    ) -> Option<Controller> {
        let p = root().key("controller");
        let ct = &c.controller;
        self.instance_type(p.key("instanceType"), &ct.instance_type);
        let root_volume = self.volume(p.key("rootVolume"), &ct.root_volume, true);
        let idx = self.refs(p.key("subnets"), &ct.subnets, subnets, |s| s.private);
        if ct.count == Some(0) {
            self.err(
                p.key("count"),
                "a cluster needs at least one controller",
                "use 2 or more for high availability",
            );
            return None;
        }
        let asg = &ct.auto_scaling_group;
        let size = self.group(
            p.clone(),
            ct.count,
            crate::model::DEFAULT_CONTROLLER_COUNT,
            asg,
            false,
        );
        // Without `count`, the desired size comes from minSize (or a small maxSize).
        let size_path = match (ct.count, asg.min_size, asg.max_size) {
            (None, Some(_), _) => p.key("autoScalingGroup").key("minSize"),
            (None, None, Some(_)) => p.key("autoScalingGroup").key("maxSize"),
            _ => p.key("count"),
        };
        match size.as_ref().map(|s| s.desired) {
            Some(0) => {
                self.err(
                    size_path,
                    "a cluster needs at least one controller",
                    "use a minSize of 1 or more (2 or more for high availability)",
                );
                return None;
            }
            Some(1) => self.warn(
                size_path,
                "one controller is not highly available: the API is down while it is replaced",
                "use 2 or more controllers",
            ),
            _ => {}
        }
        if ct.auto_scaling_group.mixed_instances.is_some() {
            self.err(
                p.key("autoScalingGroup").key("mixedInstances"),
                "controllers cannot use mixed or spot instances",
                "remove mixedInstances",
            );
        }
        self.labels(p.key("nodeLabels"), &ct.node_labels);
        let taints = self.taints(p.key("taints"), &ct.taints, true);
        let extras = self.group_extras(
            &p,
            ct.tenancy,
            &[(p.key("securityGroupIds"), &ct.security_group_ids)],
            &ct.iam,
            super::node_iam::Owner {
                group: crate::layout::NodeGroup::Controller,
                cluster: &c.cluster_name,
                partition: crate::types::partition_of(&c.region),
                has_vpc: c.vpc.is_some(),
            },
        );
        // kube-aws's top-level `waitSignal` is the controllers'.
        let signals = self.wait_signal(
            root().key("waitSignal"),
            c.wait_signal.enabled,
            c.wait_signal.max_batch_size,
            size.as_ref().map(|s| s.max),
        );
        let waiting =
            c.wait_signal.enabled || c.worker.node_pools.iter().any(|p| p.wait_signal.enabled);
        if waiting && !c.addons.flannel.enabled {
            // A node's Ready condition needs a pod network (the container runtime's network
            // must be ready); kubeline installs none but flannel.
            self.warn(
                root().key("addons").key("flannel").key("enabled"),
                "without kubeline's pod network a node becomes Ready only once another one runs, and groups with waitSignal wait for Ready nodes: creating them and every rolling update fail at their timeout until then",
                "keep flannel, or set `waitSignal: {enabled: false}` at the top level (the controllers) and on each pool",
            );
        }
        let (wait_signal, max_batch_size) = signals?;
        Some(Controller {
            instance_type: ct.instance_type.clone(),
            root_volume: root_volume?,
            subnets: idx,
            size: size?,
            node_labels: ct.node_labels.clone(),
            wait_signal,
            max_batch_size,
            taints,
            extras,
        })
    }

    /// A group's `waitSignal` (kube-aws's key and defaults): whether its rolling updates and
    /// creation wait for each new instance's readiness signal, and how many instances an update
    /// replaces at once (`maxBatchSize`, default 1, at most the group's `max_size`; always 1
    /// without signals, as kube-aws rolled such groups).
    pub(super) fn wait_signal(
        &mut self,
        path: Path,
        enabled: bool,
        max_batch_size: Option<u32>,
        max_size: Option<u32>,
    ) -> Option<(bool, u32)> {
        let at = path.key("maxBatchSize");
        match (enabled, max_batch_size) {
            (false, Some(_)) => {
                self.warn(
                    at,
                    "maxBatchSize has no effect without signals: the group is replaced one instance at a time",
                    "remove maxBatchSize, or set waitSignal.enabled: true",
                );
                Some((false, 1))
            }
            (false, None) => Some((false, 1)),
            (true, Some(0)) => {
                self.err(
                    at,
                    "a maxBatchSize of 0 replaces no instance, so a rolling update could never finish",
                    "use 1 (one instance at a time, the default) or more",
                );
                None
            }
            (true, Some(n)) => match max_size {
                Some(max) if max > 0 && n > max => {
                    self.err(
                        at,
                        format!("maxBatchSize {n} is more than the group's maxSize {max}"),
                        format!(
                            "use at most {max} (the whole group at once), or raise the group's autoScalingGroup.maxSize"
                        ),
                    );
                    None
                }
                _ => Some((true, n)),
            },
            (true, None) => Some((true, 1)),
        }
    }
}
