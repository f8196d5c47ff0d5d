//! Cluster-wide settings outside the node groups: certificate lifetimes (`tls*`), extra API
//! server SANs (`customApiServerSettings`), the kubelet download (`kubernetesArtifacts`) and
//! the API server's audit log (`experimental.auditLog`), the nodes' CloudWatch Logs group
//! (`cloudWatchLogging`) and `customSettings`.

use std::collections::BTreeMap;

use super::{Ctx, root};
use crate::cluster::{ApiServerSans, Artifact, AuditLog, NodeLogs, Tls};
use crate::model::ClusterConfig;
use crate::types::DnsName;
use crate::yaml::Path;

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
            Some(h) => self.kubelet_hash(p.key("kubeletHash"), h),
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

    /// A kubelet checksum as published with the release (`sha256:<hex>` or `sha512:<hex>`),
    /// in Ignition's form (`sha256-<hex>`); an error at `path` otherwise.
    pub(super) fn kubelet_hash(&mut self, path: Path, h: &str) -> Option<String> {
        let parsed = h.split_once(':').filter(|(alg, hex)| {
            let len = match *alg {
                "sha256" => 64,
                "sha512" => 128,
                _ => 0,
            };
            len > 0 && hex.len() == len && hex.chars().all(|c| c.is_ascii_hexdigit())
        });
        if parsed.is_none() {
            self.err(
                path,
                format!("{h:?} is not sha256:<64 hex digits> or sha512:<128 hex digits>"),
                "copy the checksum published with the release (kubelet.sha256 or kubelet.sha512)",
            );
        }
        parsed.map(|(alg, hex)| format!("{alg}-{}", hex.to_ascii_lowercase()))
    }
}

impl Ctx<'_> {
    /// kube-aws's `experimental.auditLog`: a file under /var/log/ (its directory is mounted
    /// into the API server's pod; the path reaches a static pod's flags, so only safe
    /// characters), rotation limits, or no audit log at all (warned about).
    pub(super) fn audit_log(&mut self, c: &ClusterConfig) -> Option<AuditLog> {
        let a = &c.experimental.audit_log;
        let p = root().key("experimental").key("auditLog");
        if !a.enabled {
            self.warn(
                p.key("enabled"),
                "without the API server's audit log nobody can tell who changed what in the cluster",
                "remove `enabled: false` (kubeline keeps the audit log on by default)",
            );
            return None;
        }
        if a.max_age == 0 && a.max_backup == 0 {
            self.warn(
                p.clone(),
                "with maxAge and maxBackup both 0 the API server keeps every rotated audit file until the controller's disk is full",
                "set maxAge (days) or maxBackup (files)",
            );
        }
        let path = a.log_path.as_str();
        let safe = path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._/-".contains(&b));
        let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or_default();
        let file = path.rsplit('/').next().unwrap_or_default();
        if !safe
            || !path.starts_with("/var/log/")
            || path.split('/').any(|seg| seg == "..")
            || file.is_empty()
            || !dir.starts_with("/var/log/")
        {
            self.err(
                p.key("logPath"),
                format!("{path:?} is not a file in a directory of its own under /var/log/ (the directory is mounted into the API server's pod, so /var/log itself would expose every log of the node)"),
                "use a path such as /var/log/kubernetes/audit.log (letters, digits, . _ - /); kube-aws's /var/log/kube-apiserver-audit.log becomes /var/log/kube-apiserver/audit.log",
            );
            return None;
        }
        Some(AuditLog {
            path: path.to_owned(),
            dir: dir.to_owned(),
            max_age: a.max_age,
            max_backup: a.max_backup,
            max_size: a.max_size,
        })
    }
}

/// Most bytes of one `customSettings` map (as JSON): the values end up in templates, and a
/// stack template is at most 1 MB.
pub const MAX_CUSTOM_SETTINGS_BYTES: usize = 16 * 1024;

impl Ctx<'_> {
    /// kube-aws's `customSettings`: names a template can address (`[A-Za-z_][A-Za-z0-9_]*`),
    /// at most 16 KiB, and no CloudFormation dynamic reference in any text (a template that
    /// copies a value into a stack must not let it fetch secrets at deploy time).
    pub(super) fn custom_settings(
        &mut self,
        path: Path,
        settings: &BTreeMap<String, serde_json::Value>,
    ) -> BTreeMap<String, serde_json::Value> {
        let mut ok = true;
        for (k, v) in settings {
            let name_ok = k.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !name_ok {
                self.err(
                    path.key(k),
                    format!("{k:?} is not a name a template can use"),
                    "use letters, digits and _, starting with a letter or _",
                );
                ok = false;
            }
            if let Some(bad) = dynamic_reference(v) {
                self.err(
                    path.key(k),
                    format!("{bad:?} holds a CloudFormation dynamic reference or intrinsic"),
                    "write the value itself",
                );
                ok = false;
            }
        }
        let size = serde_json::to_string(settings).map_or(0, |s| s.len());
        if size > MAX_CUSTOM_SETTINGS_BYTES {
            self.err(
                path.clone(),
                format!("{size} bytes of customSettings; at most {MAX_CUSTOM_SETTINGS_BYTES}"),
                "keep large data out of cluster.yaml",
            );
            ok = false;
        }
        if ok {
            settings.clone()
        } else {
            BTreeMap::new()
        }
    }
}

/// The first text in `v` (keys included) that looks like a CloudFormation dynamic reference
/// (`{{resolve:`) or an intrinsic function key (`Fn::`, `Ref`).
fn dynamic_reference(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) if s.contains("{{resolve:") => Some(s.clone()),
        serde_json::Value::Array(items) => items.iter().find_map(dynamic_reference),
        serde_json::Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.starts_with("Fn::") || k == "Ref" || k.contains("{{resolve:") {
                Some(k.clone())
            } else {
                dynamic_reference(v)
            }
        }),
        _ => None,
    }
}

impl Ctx<'_> {
    /// kube-aws's `cloudWatchLogging`: the cluster's log group and a retention CloudWatch
    /// Logs accepts (`RetentionInDays` takes only these values).
    pub(super) fn node_logs(&mut self, c: &ClusterConfig, name: Option<&str>) -> Option<NodeLogs> {
        let l = &c.cloud_watch_logging;
        if !l.enabled {
            return None;
        }
        if !LOG_RETENTION_DAYS.contains(&l.retention_in_days) {
            let days: Vec<String> = LOG_RETENTION_DAYS.iter().map(u32::to_string).collect();
            self.err(
                root().key("cloudWatchLogging").key("retentionInDays"),
                format!(
                    "{} days is not a retention CloudWatch Logs offers",
                    l.retention_in_days
                ),
                format!("use one of {}", days.join(", ")),
            );
            return None;
        }
        Some(NodeLogs {
            log_group: NodeLogs::group_name(name?),
            retention_in_days: l.retention_in_days,
        })
    }
}

/// The retentions (days) CloudWatch Logs accepts (`PutRetentionPolicy`, and the
/// `AWS::Logs::LogGroup` resource's `RetentionInDays`).
pub const LOG_RETENTION_DAYS: [u32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];
