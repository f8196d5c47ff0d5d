//! Cluster-wide settings outside the node groups: certificate lifetimes (`tls*`), extra API
//! server SANs (`customApiServerSettings`) and the kubelet download (`kubernetesArtifacts`).

use super::{Ctx, root};
use crate::cluster::{ApiServerSans, Artifact, Tls};
use crate::model::ClusterConfig;
use crate::types::DnsName;

impl Ctx<'_> {
    pub(super) fn tls(&mut self, c: &ClusterConfig) -> Tls {
        if c.tls_cert_duration_days == 0 {
            self.err(
                root().key("tlsCertDurationDays"),
                "certificates need a lifetime of at least 1 day",
                "use 365",
            );
        } else if c.tls_cert_duration_days > 825 {
            self.warn(
                root().key("tlsCertDurationDays"),
                "certificates of more than 825 days are refused by many clients",
                "use 365 and rotate",
            );
        }
        if c.tls_ca_duration_days <= c.tls_cert_duration_days {
            self.err(
                root().key("tlsCADurationDays"),
                format!(
                    "the CA ({} days) must outlive the certificates it signs ({} days)",
                    c.tls_ca_duration_days, c.tls_cert_duration_days
                ),
                "make tlsCADurationDays larger than tlsCertDurationDays",
            );
        }
        Tls {
            ca_duration_days: c.tls_ca_duration_days,
            cert_duration_days: c.tls_cert_duration_days,
            key_algorithm: c.tls_key_algorithm,
        }
    }

    pub(super) fn sans(&mut self, c: &ClusterConfig) -> ApiServerSans {
        let p = root().key("customApiServerSettings");
        let s = &c.custom_api_server_settings;
        let dns = s
            .additional_dns_sans
            .iter()
            .enumerate()
            .filter_map(|(i, n)| self.parse::<DnsName>(p.key("additionalDnsSans").index(i), n))
            .collect();
        let ips = s
            .additional_ip_address_sans
            .iter()
            .enumerate()
            .filter_map(|(i, n)| self.ip(p.key("additionalIPAddressSans").index(i), n))
            .collect();
        ApiServerSans { dns, ips }
    }

    pub(super) fn artifacts(&mut self, c: &ClusterConfig) -> Artifact {
        let p = root().key("kubernetesArtifacts");
        let a = &c.kubernetes_artifacts;
        if !a.base_url.starts_with("https://") || a.base_url.len() <= "https://".len() {
            self.err(
                p.key("baseURL"),
                format!("{:?} is not an https:// URL", a.base_url),
                "nodes download binaries over HTTPS only",
            );
        }
        let hash = match &a.kubelet_hash {
            Some(h) => {
                let parsed = h.split_once(':').filter(|(alg, hex)| {
                    let len = match *alg {
                        "sha256" => 64,
                        "sha512" => 128,
                        _ => 0,
                    };
                    len > 0 && hex.len() == len && hex.chars().all(|c| c.is_ascii_hexdigit())
                });
                if parsed.is_none() {
                    self.err(p.key("kubeletHash"), format!("{h:?} is not sha256:<64 hex digits> or sha512:<128 hex digits>"), "copy the checksum published with the release (kubelet.sha256 or kubelet.sha512)");
                }
                parsed.map(|(alg, hex)| format!("{alg}-{}", hex.to_ascii_lowercase()))
            }
            None => {
                self.warn(p, "kubeletHash is not set, so nodes install the kubelet without checking its checksum", "set kubernetesArtifacts.kubeletHash to the release's published sha256 or sha512");
                None
            }
        };
        Artifact {
            base_url: a.base_url.trim_end_matches('/').to_owned(),
            hash,
        }
    }
}
