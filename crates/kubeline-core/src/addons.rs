//! Cluster add-ons: which ones run, at which pinned version for the cluster's Kubernetes minor,
//! and from which registry. The versions table is documented, with its sources, in
//! docs/addons.md; a test keeps the two equal.

use serde::Serialize;

use crate::types::KubeVersion;

/// An add-on kubeline applies from the controllers, in apply order (networking first: CoreDNS
/// and the cloud provider's pods need it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AddonName {
    /// kube-proxy: Service routing on every node.
    KubeProxy,
    /// flannel: the pod network (VXLAN).
    Flannel,
    /// The AWS cloud-controller-manager.
    CloudControllerManager,
    /// CoreDNS and its proportional autoscaler.
    #[serde(rename = "coredns")]
    CoreDns,
    /// metrics-server (`kubectl top`, the Horizontal Pod Autoscaler's resource metrics).
    MetricsServer,
    /// cluster-autoscaler (off by default, as in kube-aws): sizes the node pools.
    ClusterAutoscaler,
    /// The Amazon EBS CSI driver and the default StorageClass.
    #[serde(rename = "aws-ebs-csi-driver")]
    EbsCsiDriver,
    /// AWS Node Termination Handler (queue mode): drains a node before its instance goes
    /// (Auto Scaling termination, spot interruption).
    #[serde(rename = "aws-node-termination-handler")]
    NodeTerminationHandler,
    /// NVIDIA's device plugin: advertises each GPU node's `nvidia.com/gpu` resource. Applied
    /// only while the cluster has a GPU pool (`gpu.nvidia.enabled`).
    NvidiaDevicePlugin,
}

impl AddonName {
    /// Every add-on, in apply order.
    pub const ALL: [AddonName; 9] = [
        AddonName::KubeProxy,
        AddonName::Flannel,
        AddonName::CloudControllerManager,
        AddonName::CoreDns,
        AddonName::MetricsServer,
        AddonName::ClusterAutoscaler,
        AddonName::EbsCsiDriver,
        AddonName::NodeTerminationHandler,
        AddonName::NvidiaDevicePlugin,
    ];

    /// The add-on's name in files, labels and notifications (`coredns`).
    pub fn as_str(self) -> &'static str {
        match self {
            AddonName::KubeProxy => "kube-proxy",
            AddonName::Flannel => "flannel",
            AddonName::CloudControllerManager => "cloud-controller-manager",
            AddonName::CoreDns => "coredns",
            AddonName::MetricsServer => "metrics-server",
            AddonName::ClusterAutoscaler => "cluster-autoscaler",
            AddonName::EbsCsiDriver => "aws-ebs-csi-driver",
            AddonName::NodeTerminationHandler => "aws-node-termination-handler",
            AddonName::NvidiaDevicePlugin => "nvidia-device-plugin",
        }
    }

    /// Its key under `addons:` in cluster.yaml.
    pub fn config_key(self) -> &'static str {
        match self {
            AddonName::KubeProxy => "kubeProxy",
            AddonName::Flannel => "flannel",
            AddonName::CloudControllerManager => "cloudControllerManager",
            AddonName::CoreDns => "coreDns",
            AddonName::MetricsServer => "metricsServer",
            AddonName::ClusterAutoscaler => "clusterAutoscaler",
            AddonName::EbsCsiDriver => "ebsCsiDriver",
            AddonName::NodeTerminationHandler => "nodeTerminationHandler",
            AddonName::NvidiaDevicePlugin => "nvidiaDevicePlugin",
        }
    }

    /// The template that renders its manifests.
    pub fn template(self) -> String {
        format!("addons/{}.yaml.j2", self.as_str())
    }
}

impl std::fmt::Display for AddonName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The image tag kubeline pins for an add-on's main image on a Kubernetes minor; `None` when
/// no version is known for that minor (cluster.yaml must then pin one or disable the add-on).
pub fn pinned_version(addon: AddonName, k8s: &KubeVersion) -> Option<String> {
    let v = match addon {
        // kube-proxy is released with Kubernetes itself.
        AddonName::KubeProxy => return Some(format!("v{k8s}")),
        AddonName::Flannel => FLANNEL,
        // What kubeadm installs for the minor (only minors confirmed from a source; see
        // docs/addons.md).
        AddonName::CoreDns => match k8s.minor {
            33 => "v1.12.0",
            34 => "v1.12.1",
            _ => return None,
        },
        // The EBS CSI driver supports every upstream-supported Kubernetes (its README).
        AddonName::EbsCsiDriver => EBS_CSI_DRIVER,
        // NTH talks to SQS, EC2 and Auto Scaling and drains with the core and apps APIs only.
        AddonName::NodeTerminationHandler => NODE_TERMINATION_HANDLER,
        // The device plugin speaks the kubelet's v1beta1 device-plugin API (Kubernetes 1.10+).
        AddonName::NvidiaDevicePlugin => NVIDIA_DEVICE_PLUGIN,
        // metrics-server 0.8.x supports Kubernetes 1.31 and later (its compatibility matrix).
        AddonName::MetricsServer => METRICS_SERVER,
        // cluster-autoscaler's release for the minor (its README's compatibility table).
        AddonName::ClusterAutoscaler => match k8s.minor {
            33 => "v1.33.6",
            34 => "v1.34.5",
            _ => return None,
        },
        // cloud-provider-aws releases one line per Kubernetes minor, compatible only with it.
        AddonName::CloudControllerManager => match k8s.minor {
            33 => "v1.33.4",
            34 => "v1.34.3",
            _ => return None,
        },
    };
    Some(v.to_owned())
}

/// flannel's release (it supports every Kubernetes since 1.17).
pub const FLANNEL: &str = "v0.28.9";
/// The EBS CSI driver's release.
pub const EBS_CSI_DRIVER: &str = "v1.64.0";
/// AWS Node Termination Handler's release (v1.25.6, 2026-04-02; chart 0.27.6).
pub const NODE_TERMINATION_HANDLER: &str = "v1.25.6";
/// metrics-server's release (0.8.x: Kubernetes 1.31+; 0.9.x would need 1.34+).
pub const METRICS_SERVER: &str = "v0.8.1";
/// NVIDIA's device plugin release (v0.20.0, 2026-08-19).
pub const NVIDIA_DEVICE_PLUGIN: &str = "v0.20.0";
/// The flannel CNI plugin image of that release.
pub const FLANNEL_CNI_PLUGIN: &str = "v1.9.1-flannel3";
/// cluster-proportional-autoscaler, which scales CoreDNS.
pub const PROPORTIONAL_AUTOSCALER: &str = "v1.10.3";

/// One enabled add-on of a cluster, resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Addon {
    /// Which.
    pub name: AddonName,
    /// The version of its main image.
    pub version: String,
}

/// The add-ons of a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Addons {
    /// Enabled add-ons, in apply order.
    pub enabled: Vec<Addon>,
    /// The registry mirror every image comes from, if any (no trailing `/`).
    pub registry_mirror: Option<String>,
    /// kube-proxy's mode.
    pub kube_proxy: ProxyMode,
}

/// kube-proxy's mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum ProxyMode {
    /// iptables (the default).
    Iptables,
    /// IPVS with a scheduler and sync periods.
    Ipvs {
        /// Scheduler.
        scheduler: String,
        /// Sync period.
        sync_period: String,
        /// Minimum sync period.
        min_sync_period: String,
    },
}

impl Addons {
    /// The enabled add-on `name`, if any.
    pub fn get(&self, name: AddonName) -> Option<&Addon> {
        self.enabled.iter().find(|a| a.name == name)
    }

    /// `image` (`registry/path:tag`) as nodes pull it: from the mirror when one is set (the
    /// registry host replaced, the path kept).
    pub fn image(&self, image: &str) -> String {
        match &self.registry_mirror {
            Some(m) => match image.split_once('/') {
                Some((_, path)) => format!("{m}/{path}"),
                None => format!("{m}/{image}"),
            },
            None => image.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k8s(minor: u32) -> KubeVersion {
        KubeVersion {
            major: 1,
            minor,
            patch: 2,
        }
    }

    #[test]
    fn versions_follow_the_kubernetes_minor() {
        for (addon, minor, want) in [
            (AddonName::KubeProxy, 34, Some("v1.34.2")),
            (AddonName::CoreDns, 33, Some("v1.12.0")),
            (AddonName::CoreDns, 34, Some("v1.12.1")),
            (AddonName::CoreDns, 35, None),
            (AddonName::CloudControllerManager, 33, Some("v1.33.4")),
            (AddonName::CloudControllerManager, 34, Some("v1.34.3")),
            (AddonName::CloudControllerManager, 32, None),
            (AddonName::Flannel, 31, Some(FLANNEL)),
        ] {
            assert_eq!(
                pinned_version(addon, &k8s(minor)).as_deref(),
                want,
                "{addon} on 1.{minor}"
            );
        }
    }

    #[test]
    fn names_serialise_as_they_are_written() {
        for name in AddonName::ALL {
            assert_eq!(
                serde_json::to_value(name).expect("json"),
                serde_json::json!(name.as_str())
            );
        }
    }

    #[test]
    fn a_mirror_replaces_the_registry_host() {
        let mut a = Addons {
            enabled: vec![],
            registry_mirror: None,
            kube_proxy: ProxyMode::Iptables,
        };
        let image = "registry.k8s.io/coredns/coredns:v1.12.1";
        assert_eq!(a.image(image), image);
        a.registry_mirror = Some("mirror.example.com/k8s".into());
        assert_eq!(
            a.image(image),
            "mirror.example.com/k8s/coredns/coredns:v1.12.1"
        );
        assert_eq!(
            a.image("ghcr.io/flannel-io/flannel:v0.28.9"),
            "mirror.example.com/k8s/flannel-io/flannel:v0.28.9"
        );
    }
}
