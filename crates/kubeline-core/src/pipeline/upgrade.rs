//! Kubernetes upgrades: what a change of `kubernetesVersion` does to a running cluster, decided
//! against the version its control-plane stack reports (the `KubernetesVersion` output).
//!
//! Kubernetes' version skew policy (<https://kubernetes.io/releases/version-skew-policy/>):
//! a control plane is upgraded one minor version at a time, and kubelets may be up to three
//! minor versions older than the API server, never newer. kubeline's stacks already roll in
//! that order (the control plane, one controller at a time, before any node pool); this
//! module refuses what the policy forbids and says, for the plan and chat, what happens.

use serde::{Deserialize, Serialize};

use crate::cluster::Cluster;
use crate::types::KubeVersion;

/// The control-plane stack output that names the Kubernetes version it runs.
pub const KUBERNETES_VERSION_OUTPUT: &str = "KubernetesVersion";

/// A change of the cluster's Kubernetes version, as the plan and chat show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Upgrade {
    /// The deployed version.
    pub from: String,
    /// The version this run deploys.
    pub to: String,
    /// What happens, in order.
    pub steps: Vec<String>,
}

/// Why a version change is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A lower minor version than the one running.
    Downgrade {
        /// Deployed.
        from: KubeVersion,
        /// Asked for.
        to: KubeVersion,
    },
    /// More than one minor version at once.
    SkipsMinor {
        /// Deployed.
        from: KubeVersion,
        /// Asked for.
        to: KubeVersion,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Downgrade { from, to } => write!(
                f,
                "kubernetesVersion: the cluster runs Kubernetes {from} and {to} is an older minor version; Kubernetes does not support downgrading a control plane (its stored objects may already use {from}'s API versions). Keep kubernetesVersion at 1.{}.x: kubeline has no in-place way back",
                from.minor
            ),
            Refusal::SkipsMinor { from, to } => {
                let path: Vec<String> = (from.minor + 1..=to.minor)
                    .map(|m| format!("1.{m}.x"))
                    .collect();
                write!(
                    f,
                    "kubernetesVersion: the cluster runs Kubernetes {from} and {to} skips {}; a control plane is upgraded one minor version at a time. Upgrade in steps, one upload each, waiting for each to apply: {}",
                    if to.minor - from.minor == 2 {
                        format!("1.{}", from.minor + 1)
                    } else {
                        format!("1.{} to 1.{}", from.minor + 1, to.minor - 1)
                    },
                    path.join(" → ")
                )
            }
        }
    }
}

/// What changing the deployed version (`None`: a new cluster, or one deployed before the
/// output existed, or an output that is no version) to `cluster`'s does: nothing, an upgrade
/// (steps in rollout order), or a refusal.
pub fn plan_upgrade(deployed: Option<&str>, cluster: &Cluster) -> Result<Option<Upgrade>, Refusal> {
    let to = cluster.kubernetes_version;
    let Some(from) = deployed.and_then(|d| d.parse::<KubeVersion>().ok()) else {
        return Ok(None);
    };
    if from == to {
        return Ok(None);
    }
    if to.minor < from.minor {
        return Err(Refusal::Downgrade { from, to });
    }
    if to.minor > from.minor + 1 {
        return Err(Refusal::SkipsMinor { from, to });
    }
    let mut steps = vec![format!(
        "control plane {from} → {to}: controllers are replaced {} at a time (API server, controller-manager, scheduler and kubelet), with the add-on versions of Kubernetes 1.{}",
        cluster.controller.max_batch_size, to.minor
    )];
    for p in &cluster.node_pools {
        let v = p.kubernetes_version;
        steps.push(if v == to {
            format!(
                "node pool {}: nodes replaced with kubelet {to}, after the control plane",
                p.name
            )
        } else {
            format!(
                "node pool {}: stays at kubelet {v} (kubernetesVersion of the pool; {} minor version(s) behind the API server, within the supported skew of 3)",
                p.name,
                to.minor - v.minor
            )
        });
    }
    Ok(Some(Upgrade {
        from: from.to_string(),
        to: to.to_string(),
        steps,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(version: &str, pools: &[(&str, Option<&str>)]) -> Cluster {
        let mut yaml = format!(
            "clusterName: c\ns3URI: s3://bucket-b\nregion: eu-west-1\navailabilityZone: eu-west-1a\nkmsKeyArn: arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000\namiId: ami-0123456789abcdef0\nvpcCIDR: 10.0.0.0/16\ninstanceCIDR: 10.0.0.0/24\napiEndpoints:\n  - name: default\n    dnsName: k8s.example.com\n    loadBalancer:\n      hostedZone:\n        id: Z123456789\nkubernetesVersion: {version}\nworker:\n  nodePools:\n"
        );
        for (name, v) in pools {
            yaml.push_str(&format!("    - name: {name}\n"));
            if let Some(v) = v {
                yaml.push_str(&format!("      kubernetesVersion: {v}\n"));
            }
        }
        let loaded = crate::validate::load(&yaml);
        loaded
            .cluster
            .unwrap_or_else(|| panic!("{}", loaded.diagnostics.render("cluster.yaml")))
    }

    /// (deployed, wanted, pools) → the steps' beginnings, or the refusal's words.
    #[test]
    fn upgrades_go_one_minor_at_a_time_control_plane_first() {
        type Want = Result<Vec<&'static str>, &'static str>;
        type Pools = Vec<(&'static str, Option<&'static str>)>;
        let cases: Vec<(Option<&str>, &str, Pools, Want)> = vec![
            // A new cluster, or a stack from before the output: nothing to compare.
            (None, "1.34.2", vec![("a", None)], Ok(vec![])),
            (
                Some("not a version"),
                "1.34.2",
                vec![("a", None)],
                Ok(vec![]),
            ),
            (Some("1.34.2"), "1.34.2", vec![("a", None)], Ok(vec![])),
            // Patch releases, up or down, roll like any change.
            (
                Some("1.34.1"),
                "1.34.2",
                vec![("a", None)],
                Ok(vec![
                    "control plane 1.34.1 → 1.34.2",
                    "node pool a: nodes replaced with kubelet 1.34.2",
                ]),
            ),
            (
                Some("1.34.2"),
                "1.34.1",
                vec![("a", None)],
                Ok(vec!["control plane 1.34.2 → 1.34.1", "node pool a"]),
            ),
            // One minor: the control plane, then every pool that follows it; a pinned pool stays.
            (
                Some("1.33.3"),
                "1.34.2",
                vec![("a", None), ("b", Some("1.33.3"))],
                Ok(vec![
                    "control plane 1.33.3 → 1.34.2",
                    "node pool a: nodes replaced with kubelet 1.34.2, after the control plane",
                    "node pool b: stays at kubelet 1.33.3",
                ]),
            ),
            // Refused: skipping a minor, two, and going back.
            (
                Some("1.32.4"),
                "1.34.2",
                vec![("a", None)],
                Err("skips 1.33;"),
            ),
            (
                Some("1.31.0"),
                "1.34.2",
                vec![("a", None)],
                Err("1.32.x → 1.33.x → 1.34.x"),
            ),
            (
                Some("1.34.2"),
                "1.33.3",
                vec![("a", None)],
                Err("does not support downgrading"),
            ),
        ];
        for (deployed, wanted, pools, want) in cases {
            let c = cluster(wanted, &pools);
            let got = plan_upgrade(deployed, &c);
            match (&got, &want) {
                (Ok(None), Ok(w)) if w.is_empty() => {}
                (Ok(Some(u)), Ok(w)) => {
                    assert_eq!(u.steps.len(), w.len(), "{deployed:?} → {wanted}: {u:?}");
                    for (s, w) in u.steps.iter().zip(w) {
                        assert!(s.starts_with(w), "{deployed:?} → {wanted}: {s:?} vs {w:?}");
                    }
                    assert_eq!(u.to, wanted);
                }
                (Err(r), Err(w)) => {
                    let text = r.to_string();
                    assert!(text.contains(w), "{deployed:?} → {wanted}: {text}");
                    assert!(text.starts_with("kubernetesVersion: "), "{text}");
                }
                _ => panic!("{deployed:?} → {wanted}: got {got:?}, want {want:?}"),
            }
        }
    }
}
