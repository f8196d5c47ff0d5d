//! The cluster's TLS identities: which certificates exist (kube-aws's set and file names), and
//! each one's subject, names, key usages and lifetime, derived from the validated cluster.
//!
//! This is the plan only; issuing keys and certificates from it is the PKI's job.

use std::net::{IpAddr, Ipv4Addr};

use serde::Serialize;

use crate::cluster::Cluster;

/// What a certificate may be used for (extended key usage).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Usage {
    /// TLS server authentication.
    Server,
    /// TLS client authentication.
    Client,
    /// Both (peers, and servers that also call others).
    ServerAndClient,
}

impl Usage {
    /// Whether the server-auth EKU is present.
    pub fn server(self) -> bool {
        matches!(self, Usage::Server | Usage::ServerAndClient)
    }
    /// Whether the client-auth EKU is present.
    pub fn client(self) -> bool {
        matches!(self, Usage::Client | Usage::ServerAndClient)
    }
}

/// One certificate to issue from the cluster CA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertSpec {
    /// File stem: `NAME.pem` and `NAME-key.pem` under `credentials/`.
    pub name: &'static str,
    /// Subject common name (the Kubernetes user name for client certificates).
    pub common_name: String,
    /// Subject organisation (the Kubernetes group), if any.
    pub organization: Option<&'static str>,
    /// DNS subject alternative names.
    pub dns_names: Vec<String>,
    /// IP subject alternative names.
    pub ip_addresses: Vec<IpAddr>,
    /// Extended key usage.
    pub usage: Usage,
    /// Lifetime in days.
    pub validity_days: u32,
    /// Which component presents it (for docs and `show certificates`).
    pub used_by: &'static str,
}

/// The CA certificate's subject common name (as in kube-aws).
pub const CA_COMMON_NAME: &str = "kube-ca";

/// The user the controllers' add-ons unit authenticates as (group system:masters).
pub const ADDONS_COMMON_NAME: &str = "kubeline:addons";

/// The user name kube-apiserver's `--requestheader-allowed-names` accepts for the aggregator.
pub const AGGREGATOR_COMMON_NAME: &str = "aggregator";

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Every leaf certificate of the cluster, in a stable order.
pub fn leaf_certificates(c: &Cluster) -> Vec<CertSpec> {
    let days = c.tls.cert_duration_days;
    let mut apiserver_dns: Vec<String> = [
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    apiserver_dns.extend(c.api_endpoints.iter().map(|e| e.dns_name.to_string()));
    // kube-aws dropped additionalDnsSans silently; kubeline keeps them.
    apiserver_dns.extend(c.api_server_sans.dns.iter().map(|d| d.to_string()));
    dedup(&mut apiserver_dns);
    let mut apiserver_ips = vec![IpAddr::V4(c.kubernetes_service_ip), LOCALHOST];
    apiserver_ips.extend(c.api_server_sans.ips.iter().map(|ip| IpAddr::V4(*ip)));
    dedup(&mut apiserver_ips);

    // etcd members are reached by their fixed addresses (and on 127.0.0.1 by local tools).
    let mut etcd_ips: Vec<IpAddr> = c
        .etcd
        .members
        .iter()
        .map(|m| IpAddr::V4(m.private_ip))
        .collect();
    etcd_ips.push(LOCALHOST);
    let etcd_dns = vec!["localhost".to_owned()];

    let region = c.region.as_str();
    let mut worker_dns = vec![format!("*.{region}.compute.internal")];
    if region == "us-east-1" {
        worker_dns.push("*.ec2.internal".to_owned());
    }

    vec![
        CertSpec {
            name: "apiserver",
            common_name: "kube-apiserver".into(),
            organization: None,
            dns_names: apiserver_dns,
            ip_addresses: apiserver_ips,
            // Also the apiserver's client identity towards kubelets (--kubelet-client-certificate).
            usage: Usage::ServerAndClient,
            validity_days: days,
            used_by: "kube-apiserver (serving, and as client of kubelets)",
        },
        CertSpec {
            name: "apiserver-aggregator",
            common_name: AGGREGATOR_COMMON_NAME.into(),
            organization: None,
            dns_names: vec![],
            ip_addresses: vec![],
            usage: Usage::Client,
            validity_days: days,
            used_by: "kube-apiserver as front proxy of aggregated APIs",
        },
        CertSpec {
            name: "etcd",
            common_name: "etcd".into(),
            organization: None,
            dns_names: etcd_dns,
            ip_addresses: etcd_ips,
            usage: Usage::ServerAndClient,
            validity_days: days,
            used_by: "etcd members (clients and peers)",
        },
        CertSpec {
            name: "etcd-client",
            common_name: "etcd-client".into(),
            organization: None,
            dns_names: vec![],
            ip_addresses: vec![],
            usage: Usage::Client,
            validity_days: days,
            used_by: "kube-apiserver as client of etcd",
        },
        CertSpec {
            name: "worker",
            common_name: "kube-worker".into(),
            organization: None,
            dns_names: worker_dns,
            ip_addresses: vec![],
            usage: Usage::ServerAndClient,
            validity_days: days,
            used_by: "kubelet (serving its API, and as client of the API server)",
        },
        CertSpec {
            name: "admin",
            common_name: "kube-admin".into(),
            organization: Some("system:masters"),
            dns_names: vec![],
            ip_addresses: vec![],
            usage: Usage::Client,
            validity_days: days,
            used_by: "the administrator's kubeconfig",
        },
        CertSpec {
            name: "kube-controller-manager",
            common_name: "system:kube-controller-manager".into(),
            organization: None,
            dns_names: vec![],
            ip_addresses: vec![],
            usage: Usage::Client,
            validity_days: days,
            used_by: "kube-controller-manager",
        },
        CertSpec {
            name: "kube-addons",
            common_name: ADDONS_COMMON_NAME.into(),
            organization: Some("system:masters"),
            dns_names: vec![],
            ip_addresses: vec![],
            usage: Usage::Client,
            validity_days: days,
            used_by: "the add-ons unit on controllers (applies the kubelet bootstrap RBAC and add-ons)",
        },
        CertSpec {
            name: "kube-scheduler",
            common_name: "system:kube-scheduler".into(),
            organization: None,
            dns_names: vec![],
            ip_addresses: vec![],
            usage: Usage::Client,
            validity_days: days,
            used_by: "kube-scheduler",
        },
    ]
}

fn dedup<T: PartialEq + Clone>(v: &mut Vec<T>) {
    let mut seen: Vec<T> = Vec::with_capacity(v.len());
    v.retain(|x| {
        if seen.contains(x) {
            false
        } else {
            seen.push(x.clone());
            true
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{NodeRole, node_credentials};
    use crate::validate::load;

    fn cluster(extra: &str) -> Cluster {
        let text = format!(
            "clusterName: demo\ns3URI: s3://kubeline-assets-123456789012\nregion: us-east-1\n\
             availabilityZone: us-east-1a\nkmsKeyArn: arn:aws:kms:us-east-1:123456789012:key/abc\n\
             apiEndpoints:\n  - name: public\n    dnsName: api.demo.example.com\n  - name: internal\n    dnsName: k8s.demo.internal.example.com\n    loadBalancer: {{private: true}}\n{extra}"
        );
        let l = load(&text);
        l.cluster
            .unwrap_or_else(|| panic!("{}", l.diagnostics.render("cluster.yaml")))
    }

    fn spec<'a>(all: &'a [CertSpec], name: &str) -> &'a CertSpec {
        all.iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{name} missing"))
    }

    #[test]
    fn apiserver_names_cover_services_endpoints_and_additional_sans() {
        let c = cluster(
            "customApiServerSettings:\n  additionalDnsSans: [extra.example.com]\n  additionalIPAddressSans: [10.0.0.100]\n",
        );
        let all = leaf_certificates(&c);
        let api = spec(&all, "apiserver");
        for dns in [
            "kubernetes",
            "kubernetes.default.svc.cluster.local",
            "api.demo.example.com",
            "k8s.demo.internal.example.com",
            "extra.example.com",
        ] {
            assert!(
                api.dns_names.iter().any(|d| d == dns),
                "{dns} missing: {:?}",
                api.dns_names
            );
        }
        for ip in ["10.3.0.1", "127.0.0.1", "10.0.0.100"] {
            let ip: IpAddr = ip.parse().expect("ip");
            assert!(api.ip_addresses.contains(&ip), "{ip} missing");
        }
        assert!(api.usage.server() && api.usage.client());
    }

    #[test]
    fn etcd_names_every_member_address() {
        let c = cluster("");
        let all = leaf_certificates(&c);
        let etcd = spec(&all, "etcd");
        assert_eq!(c.etcd.members.len(), 3);
        for m in &c.etcd.members {
            assert!(
                etcd.ip_addresses.contains(&IpAddr::V4(m.private_ip)),
                "{} missing",
                m.private_ip
            );
        }
        assert!(etcd.ip_addresses.contains(&LOCALHOST));
        assert_eq!(spec(&all, "etcd-client").usage, Usage::Client);
    }

    #[test]
    fn client_identities_match_kubernetes_users_and_groups() {
        let all = leaf_certificates(&cluster("tlsCertDurationDays: 90\n"));
        assert_eq!(spec(&all, "admin").organization, Some("system:masters"));
        assert_eq!(
            spec(&all, "kube-controller-manager").common_name,
            "system:kube-controller-manager"
        );
        assert_eq!(
            spec(&all, "kube-scheduler").common_name,
            "system:kube-scheduler"
        );
        assert_eq!(
            spec(&all, "apiserver-aggregator").common_name,
            AGGREGATOR_COMMON_NAME
        );
        assert!(
            spec(&all, "worker")
                .dns_names
                .contains(&"*.ec2.internal".to_owned())
        );
        assert!(all.iter().all(|s| s.validity_days == 90));
    }

    #[test]
    fn every_certificate_a_node_receives_is_planned() {
        let all = leaf_certificates(&cluster(""));
        for role in [NodeRole::Controller, NodeRole::Etcd, NodeRole::Worker] {
            let creds = node_credentials(role);
            for file in creds.public.iter().filter(|f| **f != "ca.pem") {
                let stem = file.trim_end_matches(".pem");
                assert!(
                    all.iter().any(|s| s.name == stem),
                    "{file} shipped to {role:?} has no plan"
                );
                let key = format!("{stem}-key.pem");
                assert!(
                    creds.secret.contains(&key.as_str()),
                    "{role:?} gets {file} without {key}"
                );
            }
        }
        // The apiserver template names the aggregator as the only allowed front proxy.
        let tmpl = include_str!("../templates/userdata/manifests/kube-apiserver.yaml.j2");
        assert!(tmpl.contains(&format!(
            "--requestheader-allowed-names={AGGREGATOR_COMMON_NAME}"
        )));
    }
}
