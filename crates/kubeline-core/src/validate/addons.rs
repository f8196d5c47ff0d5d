//! The rules of `addons` and `kubeProxy`: enabled add-ons and their versions, the registry
//! mirror and kube-proxy's IPVS mode.

use super::{Ctx, root};
use crate::model::ClusterConfig;
use crate::types::KubeVersion;

impl Ctx<'_> {
    pub(super) fn addons(
        &mut self,
        c: &ClusterConfig,
        k8s: &KubeVersion,
    ) -> Option<crate::addons::Addons> {
        use crate::addons::{Addon, AddonName, Addons, ProxyMode, pinned_version};
        let cfg = &c.addons;
        let mut ok = true;
        let mut enabled = Vec::new();
        for name in AddonName::ALL {
            let a = match name {
                AddonName::KubeProxy => &cfg.kube_proxy,
                AddonName::Flannel => &cfg.flannel,
                AddonName::CloudControllerManager => &cfg.cloud_controller_manager,
                AddonName::CoreDns => &cfg.core_dns,
                AddonName::MetricsServer => &cfg.metrics_server,
                AddonName::ClusterAutoscaler => &cfg.cluster_autoscaler,
                AddonName::EbsCsiDriver => &cfg.ebs_csi_driver,
                AddonName::NodeTerminationHandler => &cfg.node_termination_handler,
                AddonName::NvidiaDevicePlugin => &cfg.nvidia_device_plugin,
            };
            if !a.enabled {
                continue;
            }
            let gpu_pools = c.worker.node_pools.iter().any(|p| p.gpu.nvidia.enabled);
            if name == AddonName::NvidiaDevicePlugin && !gpu_pools {
                continue;
            }
            let p = root().key("addons").key(name.config_key());
            let version = match &a.version {
                Some(v) => {
                    if !is_image_tag(v) {
                        self.err(
                            p.key("version"),
                            format!("{v:?} is not an image tag of the form vMAJOR.MINOR.PATCH"),
                            "write the release's tag, e.g. v1.12.2",
                        );
                        ok = false;
                    }
                    v.clone()
                }
                None => match pinned_version(name, k8s) {
                    Some(v) => v,
                    None => {
                        self.err(
                            p.clone(),
                            format!("kubeline pins no {name} version for Kubernetes 1.{}", k8s.minor),
                            format!("set `addons.{}.version` to a release for Kubernetes 1.{} (see docs/addons.md), or `enabled: false`", name.config_key(), k8s.minor),
                        );
                        ok = false;
                        continue;
                    }
                },
            };
            enabled.push(Addon { name, version });
        }
        let registry_mirror = match &cfg.registry_mirror {
            Some(m) => {
                let m = m.trim_end_matches('/');
                let valid = !m.is_empty()
                    && !m.contains("://")
                    && m.chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || "-._/:".contains(ch))
                    && m.split('/')
                        .next()
                        .is_some_and(|host| host.contains('.') || host.contains(':'));
                if !valid {
                    self.err(
                        root().key("addons").key("registryMirror"),
                        format!("{m:?} is not a registry host with an optional path"),
                        "write it without a scheme, e.g. registry.example.com/mirror",
                    );
                    ok = false;
                }
                Some(m.to_owned())
            }
            None => None,
        };
        let ipvs = &c.kube_proxy.ipvs_mode;
        let kube_proxy = if ipvs.enabled {
            const SCHEDULERS: [&str; 6] = ["rr", "lc", "dh", "sh", "sed", "nq"];
            if !SCHEDULERS.contains(&ipvs.scheduler.as_str()) {
                self.err(
                    root().key("kubeProxy").key("ipvsMode").key("scheduler"),
                    format!("{:?} is not an IPVS scheduler", ipvs.scheduler),
                    format!("use one of {}", SCHEDULERS.join(", ")),
                );
                ok = false;
            }
            for (key, v) in [
                ("syncPeriod", &ipvs.sync_period),
                ("minSyncPeriod", &ipvs.min_sync_period),
            ] {
                let digits = v.strip_suffix('s').or_else(|| v.strip_suffix('m'));
                if !digits.is_some_and(|d| !d.is_empty() && d.chars().all(|ch| ch.is_ascii_digit()))
                {
                    self.err(
                        root().key("kubeProxy").key("ipvsMode").key(key),
                        format!("{v:?} is not a duration"),
                        "write seconds or minutes, e.g. 30s or 1m",
                    );
                    ok = false;
                }
            }
            ProxyMode::Ipvs {
                scheduler: ipvs.scheduler.clone(),
                sync_period: ipvs.sync_period.clone(),
                min_sync_period: ipvs.min_sync_period.clone(),
            }
        } else {
            ProxyMode::Iptables
        };
        ok.then_some(Addons {
            enabled,
            registry_mirror,
            kube_proxy,
        })
    }
}

/// An image tag `vMAJOR.MINOR.PATCH` with an optional `-suffix`.
fn is_image_tag(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('v') else {
        return false;
    };
    let core = rest.split_once('-').map_or(rest, |(c, _)| c);
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        && rest.len() <= 120
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
}
