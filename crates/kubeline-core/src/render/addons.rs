//! Add-on manifests: each enabled add-on's template renders to one multi-document YAML file,
//! checked here to hold only objects kubeline knows how to prune, each labelled as kubeline's;
//! the inventory of those objects is what the controllers prune against.

use serde::Serialize;
use serde_json::Value;

use crate::addons::{Addon, AddonName, Addons, FLANNEL_CNI_PLUGIN, PROPORTIONAL_AUTOSCALER};

/// The label every add-on object carries, with value [`MANAGED_BY`]; pruning selects by it.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Its value.
pub const MANAGED_BY: &str = "kubeline";
/// The label naming the add-on an object belongs to.
pub const ADDON_LABEL: &str = "kubeline.io/addon";

/// Kinds an add-on may create: `(apiVersion group, kind, kubectl resource, namespaced)`. Every
/// kind here is pruned when a newer add-on set no longer has its objects, so a kind an add-on
/// stops using stays listed.
pub const KINDS: &[(&str, &str, &str, bool)] = &[
    ("", "Namespace", "namespaces", false),
    ("", "ServiceAccount", "serviceaccounts", true),
    ("", "ConfigMap", "configmaps", true),
    ("", "Service", "services", true),
    (
        "rbac.authorization.k8s.io",
        "ClusterRole",
        "clusterroles.rbac.authorization.k8s.io",
        false,
    ),
    (
        "rbac.authorization.k8s.io",
        "ClusterRoleBinding",
        "clusterrolebindings.rbac.authorization.k8s.io",
        false,
    ),
    (
        "rbac.authorization.k8s.io",
        "Role",
        "roles.rbac.authorization.k8s.io",
        true,
    ),
    (
        "rbac.authorization.k8s.io",
        "RoleBinding",
        "rolebindings.rbac.authorization.k8s.io",
        true,
    ),
    ("apps", "DaemonSet", "daemonsets.apps", true),
    ("apps", "Deployment", "deployments.apps", true),
    (
        "policy",
        "PodDisruptionBudget",
        "poddisruptionbudgets.policy",
        true,
    ),
    (
        "apiregistration.k8s.io",
        "APIService",
        "apiservices.apiregistration.k8s.io",
        false,
    ),
    (
        "storage.k8s.io",
        "CSIDriver",
        "csidrivers.storage.k8s.io",
        false,
    ),
    (
        "storage.k8s.io",
        "StorageClass",
        "storageclasses.storage.k8s.io",
        false,
    ),
];

/// One object of an add-on, as the prune step names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ObjectRef {
    /// kubectl resource (`deployments.apps`).
    pub resource: &'static str,
    /// Namespace, `-` for cluster-scoped objects.
    pub namespace: String,
    /// Name.
    pub name: String,
}

/// One rendered add-on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RenderedAddon {
    /// Which, at which version.
    #[serde(flatten)]
    pub addon: Addon,
    /// The manifests (multi-document YAML).
    #[serde(skip)]
    pub text: String,
    /// Its objects.
    #[serde(skip)]
    pub objects: Vec<ObjectRef>,
}

/// The images of an add-on, by role, as nodes pull them (from the mirror when set).
pub fn images(addons: &Addons, addon: &Addon) -> Value {
    let v = &addon.version;
    let pairs: Vec<(&str, String)> = match addon.name {
        AddonName::KubeProxy => vec![("kube_proxy", format!("registry.k8s.io/kube-proxy:{v}"))],
        AddonName::Flannel => vec![
            ("flannel", format!("ghcr.io/flannel-io/flannel:{v}")),
            (
                "cni_plugin",
                format!("ghcr.io/flannel-io/flannel-cni-plugin:{FLANNEL_CNI_PLUGIN}"),
            ),
        ],
        AddonName::CloudControllerManager => vec![(
            "ccm",
            format!("registry.k8s.io/provider-aws/cloud-controller-manager:{v}"),
        )],
        AddonName::EbsCsiDriver => vec![
            (
                "driver",
                format!("registry.k8s.io/provider-aws/aws-ebs-csi-driver:{v}"),
            ),
            (
                "provisioner",
                "registry.k8s.io/sig-storage/csi-provisioner:v6.3.0".into(),
            ),
            (
                "attacher",
                "registry.k8s.io/sig-storage/csi-attacher:v4.12.0".into(),
            ),
            (
                "resizer",
                "registry.k8s.io/sig-storage/csi-resizer:v2.2.1".into(),
            ),
            (
                "liveness",
                "registry.k8s.io/sig-storage/livenessprobe:v2.19.0".into(),
            ),
            (
                "registrar",
                "registry.k8s.io/sig-storage/csi-node-driver-registrar:v2.17.0".into(),
            ),
        ],
        AddonName::ClusterAutoscaler => vec![(
            "cluster_autoscaler",
            format!("registry.k8s.io/autoscaling/cluster-autoscaler:{v}"),
        )],
        AddonName::NodeTerminationHandler => vec![(
            "nth",
            format!("public.ecr.aws/aws-ec2/aws-node-termination-handler:{v}"),
        )],
        AddonName::NvidiaDevicePlugin => vec![(
            "device_plugin",
            format!("nvcr.io/nvidia/k8s-device-plugin:{v}"),
        )],
        AddonName::MetricsServer => vec![(
            "metrics_server",
            format!("registry.k8s.io/metrics-server/metrics-server:{v}"),
        )],
        AddonName::CoreDns => vec![
            ("coredns", format!("registry.k8s.io/coredns/coredns:{v}")),
            (
                "autoscaler",
                format!(
                    "registry.k8s.io/cpa/cluster-proportional-autoscaler:{PROPORTIONAL_AUTOSCALER}"
                ),
            ),
        ],
    };
    Value::Object(
        pairs
            .into_iter()
            .map(|(k, i)| (k.to_owned(), Value::String(addons.image(&i))))
            .collect(),
    )
}

/// Splits `text` into its YAML documents and checks each: a known kind, a name, kubeline's
/// labels for `addon`. Returns the objects, or what is wrong.
pub fn inventory(addon: AddonName, text: &str) -> Result<Vec<ObjectRef>, String> {
    let mut out = Vec::new();
    for (i, doc) in documents(text).into_iter().enumerate() {
        let v: Value =
            serde_saphyr::from_str(doc).map_err(|e| format!("document {}: {e}", i + 1))?;
        if v.is_null() {
            continue;
        }
        let kind = v["kind"].as_str().unwrap_or_default();
        let group = v["apiVersion"]
            .as_str()
            .and_then(|a| a.rsplit_once('/').map(|(g, _)| g))
            .unwrap_or_default();
        let Some(&(_, _, resource, namespaced)) =
            KINDS.iter().find(|(g, k, _, _)| *g == group && *k == kind)
        else {
            return Err(format!(
                "document {}: kind {kind:?} of {:?} is not one kubeline prunes; add it to render::addons::KINDS",
                i + 1,
                v["apiVersion"].as_str().unwrap_or_default()
            ));
        };
        let meta = &v["metadata"];
        let name = meta["name"].as_str().unwrap_or_default();
        if name.is_empty() {
            return Err(format!("document {}: {kind} without metadata.name", i + 1));
        }
        let labels = &meta["labels"];
        if labels[MANAGED_BY_LABEL] != MANAGED_BY || labels[ADDON_LABEL] != addon.as_str() {
            return Err(format!(
                "{kind} {name}: labels {MANAGED_BY_LABEL}: {MANAGED_BY} and {ADDON_LABEL}: {addon} are missing"
            ));
        }
        let namespace = match (namespaced, meta["namespace"].as_str()) {
            (true, Some(ns)) if !ns.is_empty() => ns.to_owned(),
            (true, _) => return Err(format!("{kind} {name}: no metadata.namespace")),
            (false, None) => "-".to_owned(),
            (false, Some(_)) => return Err(format!("{kind} {name} is cluster-scoped")),
        };
        out.push(ObjectRef {
            resource,
            namespace,
            name: name.to_owned(),
        });
    }
    Ok(out)
}

/// The documents of a multi-document YAML text (separated by `---` lines).
fn documents(text: &str) -> Vec<&str> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if line.trim_end() == "---" {
            docs.push(&text[start..offset]);
            start = offset + line.len();
        }
        offset += line.len();
    }
    docs.push(&text[start..]);
    docs.into_iter().filter(|d| !d.trim().is_empty()).collect()
}

/// The inventory file the controllers prune against: `RESOURCE NAMESPACE NAME` per line.
pub fn inventory_file(addons: &[RenderedAddon]) -> String {
    let mut lines: Vec<String> = addons
        .iter()
        .flat_map(|a| &a.objects)
        .map(|o| format!("{} {} {}", o.resource, o.namespace, o.name))
        .collect();
    lines.sort();
    lines.dedup();
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// The resources the prune step lists (every kind in [`KINDS`]).
pub fn prune_resources() -> String {
    KINDS.iter().map(|(_, _, r, _)| format!("{r}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LABELS: &str =
        "  labels:\n    app.kubernetes.io/managed-by: kubeline\n    kubeline.io/addon: coredns\n";

    #[test]
    fn objects_need_a_known_kind_a_name_and_the_labels() {
        let sa = format!(
            "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: coredns\n  namespace: kube-system\n{LABELS}"
        );
        let cr = format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: system:coredns\n{LABELS}"
        );
        let ok = inventory(AddonName::CoreDns, &format!("{sa}---\n{cr}")).expect("valid");
        assert_eq!(
            ok.iter()
                .map(|o| format!("{} {} {}", o.resource, o.namespace, o.name))
                .collect::<Vec<_>>(),
            [
                "serviceaccounts kube-system coredns",
                "clusterroles.rbac.authorization.k8s.io - system:coredns"
            ]
        );
        for (text, wanted) in [
            (sa.replace("coredns\n", "x\n"), "labels"),
            (
                sa.replace("ServiceAccount", "Secret"),
                "not one kubeline prunes",
            ),
            (
                sa.replace("  namespace: kube-system\n", ""),
                "no metadata.namespace",
            ),
            (format!("{cr}  namespace: x\n"), "cluster-scoped"),
        ] {
            match inventory(AddonName::CoreDns, &text) {
                Err(e) => assert!(e.contains(wanted), "{e}"),
                Ok(_) => assert!(wanted.is_empty(), "accepted:\n{text}"),
            }
        }
    }
}
