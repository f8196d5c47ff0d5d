//! The rules of `etcd`: member count and placement (fixed addresses in their subnets),
//! volumes, the etcd version a Kubernetes release supports, and kube-aws's extras.

use std::collections::BTreeSet;

use super::{Ctx, root};
use crate::cluster::{Etcd, EtcdMember, EtcdSnapshots, Subnet, Volume};
use crate::model::ClusterConfig;
use crate::types::KubeVersion;
use crate::yaml::Path;

impl Ctx<'_> {
    pub(super) fn etcd(
        &mut self,
        c: &ClusterConfig,
        subnets: &[Subnet],
        kube: Option<KubeVersion>,
    ) -> Option<Etcd> {
        let p = root().key("etcd");
        let e = &c.etcd;
        self.instance_type(p.key("instanceType"), &e.instance_type);
        let root_volume = self.volume(p.key("rootVolume"), &e.root_volume, true);
        let dv = &e.data_volume;
        let data_ok = self.volume_rules(p.key("dataVolume"), dv.size, dv.kind, dv.iops, false);
        if !dv.encrypted {
            self.err(
                p.key("dataVolume").key("encrypted"),
                "etcd data volumes hold every secret of the cluster and must be encrypted",
                "remove `encrypted: false`",
            );
        }
        if e.count == 0 || e.count.is_multiple_of(2) {
            self.err(
                p.key("count"),
                format!("etcd needs an odd number of members, not {}", e.count),
                "use 1, 3 or 5 (3 recommended)",
            );
            return None;
        }
        if e.count > 9 {
            self.err(
                p.key("count"),
                format!("{} members slow every write", e.count),
                "use 3, 5 or 7",
            );
        }
        if e.count == 1 {
            self.warn(
                p.key("count"),
                "one etcd member is not highly available: losing it loses the cluster state",
                "use 3 members",
            );
        }
        let version = self.etcd_version(p.key("version"), &e.version, kube);
        let idx = self.refs(p.key("subnets"), &e.subnets, subnets, |s| s.private);
        let mut members = Vec::new();
        for (k, &s) in idx.iter().enumerate() {
            let sub = &subnets[s];
            if sub.cidr.is_none() {
                let path = if e.subnets.is_empty() {
                    p.key("subnets")
                } else {
                    p.key("subnets").index(k)
                };
                self.err(path, format!("subnet {:?} has no instanceCIDR, so etcd members cannot get fixed addresses in it", sub.name), "set instanceCIDR on the subnet (also for existing ones)");
                return None;
            }
        }
        if idx.is_empty() {
            return None;
        }
        for i in 0..e.count as usize {
            let s = idx[i % idx.len()];
            let sub = &subnets[s];
            let slot = 10 + (i / idx.len()) as u32;
            let Some(ip) = sub.cidr.and_then(|c| c.nth(slot)) else {
                self.err(
                    p.key("count"),
                    format!("subnet {:?} is too small for etcd member {i}", sub.name),
                    "use larger subnets",
                );
                return None;
            };
            members.push(EtcdMember {
                index: i,
                name: format!("etcd{i}"),
                subnet: s,
                availability_zone: sub.availability_zone.clone(),
                private_ip: ip,
            });
        }
        let zones: BTreeSet<&str> = members
            .iter()
            .map(|m| m.availability_zone.as_str())
            .collect();
        if e.count >= 3 && zones.len() == 1 {
            self.warn(
                p.key("subnets"),
                "every etcd member is in one availability zone: a zone outage stops the cluster",
                "spread etcd over subnets in three zones",
            );
        }
        if !e.snapshot.automated {
            self.warn(
                p.key("snapshot").key("automated"),
                "without scheduled snapshots a lost etcd quorum loses the cluster's state",
                "remove `automated: false` (snapshots are hourly by default)",
            );
        }
        if e.disaster_recovery.automated {
            self.err(
                p.key("disasterRecovery").key("automated"),
                "kubeline never restores etcd on its own: a restore rolls the whole cluster back to a snapshot, so a person chooses the snapshot",
                "remove it (or set false) and restore with `kubeline restore etcd <cluster> --snapshot <file> --yes` (docs/etcd-backup.md)",
            );
        }
        let extras = self.group_extras(
            &p,
            e.tenancy,
            &[(p.key("securityGroupIds"), &e.security_group_ids)],
            &e.iam,
            super::node_iam::Owner {
                group: crate::layout::NodeGroup::Etcd,
                cluster: &c.cluster_name,
                partition: crate::types::partition_of(&c.region),
                has_vpc: c.vpc.is_some(),
            },
        );
        Some(Etcd {
            instance_type: e.instance_type.clone(),
            root_volume: root_volume?,
            data_volume: if data_ok {
                Volume {
                    size: dv.size,
                    kind: dv.kind,
                    iops: dv.iops,
                }
            } else {
                return None;
            },
            members,
            version: version?,
            snapshots: e.snapshot.automated.then(|| EtcdSnapshots {
                interval: e.snapshot.interval.as_str().to_owned(),
                on_calendar: e.snapshot.interval.on_calendar().to_owned(),
            }),
            extras,
        })
    }

    /// Checks `etcd.version` and returns it without kube-aws's leading `v` (`v3.5.21` and
    /// `3.5.21` are the same release; images are tagged `registry.k8s.io/etcd:3.5.21-0`).
    ///
    /// Which etcd a Kubernetes release supports follows kubeadm's table of etcd versions per
    /// Kubernetes release (<https://kubernetes.io/docs/setup/production-environment/tools/kubeadm/>,
    /// "etcd versions" in kubeadm's version skew policy) and etcd's own support policy
    /// (<https://etcd.io/docs/v3.6/op-guide/versioning/>: the current and the previous minor
    /// release are maintained, so 3.4 went out of support with 3.6). Kept simple on purpose:
    /// Kubernetes 1.31 and newer (every release kubeline supports) need etcd 3.5 or 3.6;
    /// Kubernetes 1.34, the default, recommends 3.5.21 or newer 3.5.x, or 3.6.x.
    fn etcd_version(
        &mut self,
        path: Path,
        written: &str,
        kube: Option<KubeVersion>,
    ) -> Option<String> {
        let v = written.strip_prefix('v').unwrap_or(written);
        let nums: Vec<Option<u32>> = v.split('.').map(|x| x.parse().ok()).collect();
        let [Some(3), Some(minor), Some(_)] = nums.as_slice() else {
            self.err(
                path,
                format!("{written:?} is not an etcd 3.x version"),
                "use a release such as 3.5.21",
            );
            return None;
        };
        let minor = *minor;
        // (oldest, newest) etcd 3.x minor supported; before 1.31 kubeadm still allowed 3.4.
        let supported = |k: KubeVersion| if k.minor >= 31 { (5, 6) } else { (4, 6) };
        if let Some(k) = kube {
            let (oldest, newest) = supported(k);
            if minor < oldest {
                self.err(
                    path,
                    format!(
                        "etcd {v} is too old: Kubernetes {}.{} requires etcd 3.{oldest} or newer",
                        k.major, k.minor
                    ),
                    "use etcd 3.5.21 or a newer 3.5.x, or 3.6.x",
                );
                return None;
            }
            if minor > newest {
                self.err(
                    path,
                    format!(
                        "etcd {v} is not supported by Kubernetes {}.{}, which supports etcd 3.{oldest} to 3.{newest}",
                        k.major, k.minor
                    ),
                    "use etcd 3.5.21 or a newer 3.5.x, or 3.6.x",
                );
                return None;
            }
        }
        Some(v.to_owned())
    }
}
