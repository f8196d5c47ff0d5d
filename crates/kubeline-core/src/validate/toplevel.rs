//! The top-level keys of cluster.yaml (name, region, S3 URI, KMS key, key pair, AMI, stack
//! tags, service and pod ranges, DNS service address, SSH access) and the assembly of the
//! whole [`Cluster`] from every section's rules.

use std::collections::BTreeMap;

use super::{Ctx, MAX_SOURCE_CIDRS, root};
use crate::cluster::Cluster;
use crate::model::ClusterConfig;
use crate::types::{Cidr, ClusterName, KmsKeyArn, KubeVersion, Region, S3Uri};

impl Ctx<'_> {
    pub(super) fn cluster(&mut self, c: &ClusterConfig) -> Option<Cluster> {
        let name: Option<ClusterName> = self.parse(root().key("clusterName"), &c.cluster_name);
        let region: Option<Region> = self.parse(root().key("region"), &c.region);
        let s3: Option<S3Uri> = self.parse(root().key("s3URI"), &c.s3_uri);
        let kms = region.as_ref().and_then(|r| {
            KmsKeyArn::parse_in(&c.kms_key_arn, r)
                .map_err(|e| self.invalid(root().key("kmsKeyArn"), e))
                .ok()
        });
        if let Some(k) = &c.key_name
            && (k.is_empty() || k.len() > 255)
        {
            self.err(
                root().key("keyName"),
                "key pair names have 1-255 characters",
                "fix the name or remove keyName",
            );
        }
        let ami_id = c
            .ami_id
            .as_ref()
            .and_then(|a| self.id(root().key("amiId"), a, "ami-"));
        self.stack_tags(&c.stack_tags);

        let vpc = self.vpc(c);
        let subnets = region
            .as_ref()
            .map(|r| self.subnets(c, r, &vpc))
            .unwrap_or_default();
        self.network_paths(c, &vpc, &subnets);

        let service_cidr: Option<Cidr> = self.parse(root().key("serviceCIDR"), &c.service_cidr);
        let pod_cidr: Option<Cidr> = self.parse(root().key("podCIDR"), &c.pod_cidr);
        let dns_ip = self.ip(root().key("dnsServiceIP"), &c.dns_service_ip);
        let mut kubernetes_service_ip = None;
        if let Some(pod) = pod_cidr
            && pod.net().prefix_len() > 22
        {
            // kube-controller-manager gives every node a /24 of podCIDR.
            self.err(
                root().key("podCIDR"),
                format!("{pod} holds fewer than four /24 node ranges (kube-controller-manager gives each node a /24)"),
                "use a /22 or larger block, e.g. 10.2.0.0/16",
            );
        }
        if let (Some(svc), Some(pod)) = (service_cidr, pod_cidr) {
            if svc.overlaps(&pod) {
                self.err(
                    root().key("podCIDR"),
                    format!("{pod} overlaps serviceCIDR {svc}"),
                    "choose blocks that do not overlap",
                );
            }
            if let Some(v) = vpc.cidr {
                if svc.overlaps(&v) {
                    self.err(
                        root().key("serviceCIDR"),
                        format!("{svc} overlaps the VPC {v}"),
                        "choose a block outside vpcCIDR, e.g. 10.3.0.0/24",
                    );
                }
                if pod.overlaps(&v) {
                    self.err(
                        root().key("podCIDR"),
                        format!("{pod} overlaps the VPC {v}"),
                        "choose a block outside vpcCIDR, e.g. 10.2.0.0/16",
                    );
                }
            }
            if svc.size() < 16 {
                self.err(
                    root().key("serviceCIDR"),
                    format!("{svc} is too small for services"),
                    "use a /28 or larger, e.g. a /24",
                );
            }
            kubernetes_service_ip = svc.nth(1);
            if let Some(ip) = dns_ip {
                if !svc.contains_ip(ip) {
                    // A defaulted address is fixed where the user wrote something: serviceCIDR.
                    let (path, what, fix) = if self.present(&root().key("dnsServiceIP")) {
                        (root().key("dnsServiceIP"), ip.to_string(), "use an address")
                    } else {
                        (
                            root().key("serviceCIDR"),
                            format!("the default dnsServiceIP {ip}"),
                            "set dnsServiceIP to an address",
                        )
                    };
                    self.err(
                        path,
                        format!("{what} is outside serviceCIDR {svc}"),
                        format!("{fix} inside {svc}, e.g. {}", svc.nth(10).unwrap_or(ip)),
                    );
                } else if Some(ip) == svc.nth(0) || Some(ip) == svc.nth(1) {
                    self.err(
                        root().key("dnsServiceIP"),
                        format!("{ip} is reserved (network address or the kubernetes service)"),
                        format!(
                            "use another address of {svc}, e.g. {}",
                            svc.nth(10).unwrap_or(ip)
                        ),
                    );
                }
            }
        }

        let ssh = self.cidrs(
            root().key("sshAccessAllowedSourceCIDRs"),
            &c.ssh_access_allowed_source_cidrs,
        );
        if ssh.len() > MAX_SOURCE_CIDRS {
            self.err(root().key("sshAccessAllowedSourceCIDRs"), format!("{} ranges; a security group holds 60 inbound rules by default and kubeline needs some of them", ssh.len()), format!("list at most {MAX_SOURCE_CIDRS} ranges (summarise them, or use a bastion)"));
        }
        if ssh.iter().any(|c| c.net().prefix_len() == 0) {
            self.warn(
                root().key("sshAccessAllowedSourceCIDRs"),
                "SSH is open to the whole internet",
                "allow only your bastion or office ranges",
            );
        }
        let api_endpoints = self.api_endpoints(c, name.as_ref(), &subnets);
        let (admin_api_endpoint_name, worker_api_endpoint_name) = match &api_endpoints {
            Some(eps) => self.endpoint_names(c, eps),
            None => (None, None),
        };
        let controller = self.controller(c, &subnets);
        let kube: Option<KubeVersion> =
            self.parse(root().key("kubernetesVersion"), &c.kubernetes_version);
        let etcd = self.etcd(c, &subnets, kube);
        let kubelet_artifact = self.artifacts(c);
        let node_pools = self.node_pools(c, name.as_ref(), &subnets, kube, &kubelet_artifact);
        self.distinct_node_identities(controller.as_ref(), etcd.as_ref(), node_pools.as_deref());
        let tls = self.tls(c);
        let api_server_sans = self.sans(c);
        let audit_log = self.audit_log(c);
        let node_logs = self.node_logs(c, name.as_ref().map(|n| n.as_str()));
        let custom_settings =
            self.custom_settings(root().key("customSettings"), &c.custom_settings);
        let addons = kube.and_then(|k| self.addons(c, &k));
        let service_accounts = self.service_accounts(
            name.as_ref().map(|n| n.as_str()),
            &c.service_accounts,
            crate::types::partition_of(&c.region),
        );

        Some(Cluster {
            name: name?,
            region: region?,
            s3: s3?,
            kms_key_arn: kms?,
            key_name: c.key_name.clone(),
            ami_id,
            release_channel: c.release_channel,
            stack_tags: c.stack_tags.clone(),
            vpc: vpc.clone(),
            subnets,
            service_cidr: service_cidr?,
            pod_cidr: pod_cidr?,
            dns_service_ip: dns_ip?,
            kubernetes_service_ip: kubernetes_service_ip?,
            api_endpoints: api_endpoints?,
            admin_api_endpoint_name,
            worker_api_endpoint_name,
            ssh_access_allowed_source_cidrs: ssh,
            controller: controller?,
            etcd: etcd?,
            node_pools: node_pools?,
            node_pool_rolling: c.worker.node_pool_rolling_strategy,
            kubernetes_version: kube?,
            tls,
            api_server_sans,
            kubelet_artifact,
            approval: c.pipeline.approval,
            addons: addons?,
            audit_log,
            node_logs,
            custom_settings,
            service_accounts,
        })
    }

    fn stack_tags(&mut self, tags: &BTreeMap<String, String>) {
        // kubeline adds its own tags to every stack (`render::output`).
        if tags.len() > 50 {
            self.err(
                root().key("stackTags"),
                format!("{} tags; CloudFormation allows 50", tags.len()),
                "remove some tags",
            );
        }
        for (k, v) in tags {
            let p = root().key("stackTags").key(k);
            if k.is_empty() || k.len() > 128 {
                self.err(
                    p.clone(),
                    "tag keys have 1-128 characters",
                    "shorten the key",
                );
            }
            let lower = k.to_ascii_lowercase();
            if lower.starts_with("aws:") {
                self.err(
                    p.clone(),
                    "the aws: prefix is reserved for AWS",
                    "use another prefix",
                );
            } else if let Some(reserved) =
                RESERVED_TAG_PREFIXES.iter().find(|r| lower.starts_with(*r))
            {
                self.err(
                    p.clone(),
                    format!(
                        "the {reserved} prefix is kubeline's own: its tags say which cluster owns a resource, and a stack tag naming another cluster would claim that cluster's resources"
                    ),
                    "use another prefix; kubeline sets these tags itself",
                );
            }
            for (what, text) in [("key", k.as_str()), ("value", v.as_str())] {
                if !text.chars().all(is_tag_char) {
                    self.err(
                        p.clone(),
                        format!(
                            "the tag {what} {text:?} has a character tags do not allow (a CloudFormation dynamic reference `{{{{resolve:...}}}}` among them)"
                        ),
                        "use letters, digits, spaces and _ . : / = + - @ only",
                    );
                }
            }
            if v.len() > 256 {
                self.err(
                    p,
                    "tag values have at most 256 characters",
                    "shorten the value",
                );
            }
        }
    }
}

/// Tag prefixes only kubeline itself may set: `kubeline.io/` (ownership), and the cluster tags
/// the cloud provider and the cluster-autoscaler act on.
const RESERVED_TAG_PREFIXES: &[&str] = &[
    "kubeline.io/",
    "kubernetes.io/cluster/",
    "k8s.io/cluster-autoscaler/",
];

/// The characters AWS allows in tag keys and values: letters, digits, spaces and `_.:/=+-@`
/// (the standard set across AWS services,
/// <https://docs.aws.amazon.com/personalize/latest/dg/personalize-managing-tags.html>).
fn is_tag_char(c: char) -> bool {
    c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c)
}
