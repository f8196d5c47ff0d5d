//! The rules of `controller`: instance type, root volume, subnets, group size and node labels
//! of the controllers.

use super::{Ctx, root};
use crate::cluster::{Controller, Subnet};
use crate::model::ClusterConfig;

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
        Some(Controller {
            instance_type: ct.instance_type.clone(),
            root_volume: root_volume?,
            subnets: idx,
            size: size?,
            node_labels: ct.node_labels.clone(),
        })
    }
}
