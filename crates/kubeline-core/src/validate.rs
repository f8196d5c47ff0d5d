//! Semantic validation: turns a parsed [`ClusterConfig`] into a [`Cluster`], reporting every rule it breaks.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::str::FromStr;

use crate::check;
use crate::cluster::{
    ApiEndpoint, ApiServerSans, Artifact, Cluster, Controller, Etcd, EtcdMember, GroupSize, Mixed,
    NODES_DNS_PREFIX, NODES_ENDPOINT, NodePool, Subnet, Taint, Tls, Volume, Vpc, logical_id,
};
use crate::diag::{Diagnostic, Diagnostics, Severity};
use crate::model::{
    AutoScalingGroupConfig, ClusterConfig, NameRef, TaintEffect, VolumeConfig, VolumeType,
};
use crate::types::{
    AvailabilityZone, Cidr, ClusterName, DnsName, Invalid, KmsKeyArn, KubeVersion, Region, S3Uri,
    check_aws_id, is_dns_label,
};
use crate::yaml::{self, Located, Path};

/// Most source ranges per security group: AWS's default quota is 60 inbound rules per group
/// and kubeline's own rules need a few.
pub const MAX_SOURCE_CIDRS: usize = 50;

/// The outcome of loading a cluster.yaml.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The validated cluster, when there was no error.
    pub cluster: Option<Cluster>,
    /// The file as parsed (with defaults), when its shape was right.
    pub config: Option<ClusterConfig>,
    /// Every error and warning, sorted by position.
    pub diagnostics: Diagnostics,
}

/// Parses and validates cluster.yaml text. Never panics on any input.
pub fn load(text: &str) -> Loaded {
    let mut doc = match yaml::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            return Loaded {
                cluster: None,
                config: None,
                diagnostics: Diagnostics(vec![Diagnostic {
                    severity: Severity::Error,
                    pos: e.pos,
                    path: Path::root(),
                    message: format!("invalid YAML: {}", e.message),
                    hint: "fix the YAML syntax at this position".into(),
                }]),
            };
        }
    };
    null_as_empty(&mut doc.value);
    // With structural errors, the semantic rules still run on the rest of the file: the broken
    // settings are dropped (so defaults apply) and findings under them are ignored.
    let mut diags = check::structure(&doc);
    let broken: Vec<Path> = diags.iter().map(|d| d.path.clone()).collect();
    let value = if broken.is_empty() {
        Some(doc.value.clone())
    } else {
        repair(&doc.value, &broken)
    };
    let config = match value.map(serde_json::from_value::<ClusterConfig>) {
        Some(Ok(config)) => Some(config),
        Some(Err(e)) if broken.is_empty() => {
            diags.push(Diagnostic {
                severity: Severity::Error,
                pos: doc.value_pos(&Path::root()),
                path: Path::root(),
                message: e.to_string(),
                hint: "see `kubeline schema` for the expected shape".into(),
            });
            None
        }
        _ => None,
    };
    let mut cluster = None;
    if let Some(config) = &config {
        let mut ctx = Ctx {
            doc: &doc,
            diags: Vec::new(),
        };
        cluster = ctx.cluster(config);
        diags.extend(ctx.diags.into_iter().filter(|d| {
            !broken
                .iter()
                .any(|b| d.path.0.starts_with(&b.0) || b.0.starts_with(&d.path.0))
        }));
    }
    let mut diagnostics = Diagnostics(diags);
    diagnostics.sort();
    let clean = !diagnostics.has_errors();
    Loaded {
        cluster: cluster.filter(|_| clean),
        config: config.filter(|_| broken.is_empty()),
        diagnostics,
    }
}

/// A key written without a value (`sshAccessAllowedSourceCIDRs:`, i.e. YAML null) means
/// "none", as in kube-aws: wherever the schema expects a list or a mapping (and does not
/// accept null), a null mapping value becomes `[]` or `{}`, so the key reads as empty and any
/// defaults of a mapping apply. Done once on the whole tree, guided by the schema, so every
/// list- and map-typed key behaves the same. Null list items and a null document are kept.
fn null_as_empty(value: &mut serde_json::Value) {
    use serde_json::Value;
    static SCHEMA: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    let schema = SCHEMA.get_or_init(crate::model::json_schema);
    fn resolve<'s>(root: &'s Value, mut node: &'s Value) -> &'s Value {
        for _ in 0..16 {
            let Some(r) = node.get("$ref").and_then(Value::as_str) else {
                break;
            };
            match root.pointer(r.trim_start_matches('#')) {
                Some(n) => node = n,
                None => break,
            }
        }
        // An optional value (`anyOf: [T, null]`): look into T.
        let branches = node.get("anyOf").or_else(|| node.get("oneOf"));
        if let Some(Value::Array(bs)) = branches {
            let non_null: Vec<&Value> = bs
                .iter()
                .filter(|b| b.get("type").and_then(Value::as_str) != Some("null"))
                .collect();
            if let [only] = non_null.as_slice() {
                return resolve(root, only);
            }
        }
        node
    }
    fn walk(root: &Value, schema: &Value, value: &mut Value) {
        let schema = resolve(root, schema);
        match value {
            Value::Object(map) => {
                let props = schema.get("properties");
                let extra = schema.get("additionalProperties").filter(|a| a.is_object());
                for (k, v) in map.iter_mut() {
                    let Some(child) = props.and_then(|p| p.get(k.as_str())).or(extra) else {
                        continue;
                    };
                    if v.is_null() {
                        // Only a plain `type: array|object`; `[T, null]` keeps its null.
                        match resolve(root, child).get("type").and_then(Value::as_str) {
                            Some("array") => *v = Value::Array(Vec::new()),
                            Some("object") => *v = Value::Object(serde_json::Map::new()),
                            _ => {}
                        }
                    }
                    walk(root, child, v);
                }
            }
            Value::Array(items) => {
                if let Some(item) = schema.get("items").filter(|i| i.is_object()) {
                    for v in items {
                        walk(root, item, v);
                    }
                }
            }
            _ => {}
        }
    }
    walk(schema, schema, value);
}

/// Removes the mapping keys at `paths`; gives up (None) when a path ends in a list index.
fn repair(value: &serde_json::Value, paths: &[Path]) -> Option<serde_json::Value> {
    use crate::yaml::Seg;
    let mut v = value.clone();
    for p in paths {
        let Some((Seg::Key(last), parent)) = p.0.split_last() else {
            return None;
        };
        let mut node = &mut v;
        for seg in parent {
            node = match seg {
                Seg::Key(k) => node.get_mut(k.as_str())?,
                Seg::Index(i) => node.get_mut(*i)?,
            };
        }
        node.as_object_mut()?.remove(last);
    }
    Some(v)
}

struct Ctx<'a> {
    doc: &'a Located,
    diags: Vec<Diagnostic>,
}

fn root() -> Path {
    Path::root()
}

impl Ctx<'_> {
    fn push(&mut self, severity: Severity, path: Path, message: String, hint: String) {
        let pos = self.doc.value_pos(&path);
        self.diags.push(Diagnostic {
            severity,
            pos,
            path,
            message,
            hint,
        });
    }
    fn err(&mut self, path: Path, message: impl Into<String>, hint: impl Into<String>) {
        self.push(Severity::Error, path, message.into(), hint.into());
    }
    fn warn(&mut self, path: Path, message: impl Into<String>, hint: impl Into<String>) {
        self.push(Severity::Warning, path, message.into(), hint.into());
    }
    /// Is `path` written in the file (rather than defaulted)?
    fn present(&self, path: &Path) -> bool {
        let mut v = &self.doc.value;
        for seg in &path.0 {
            let next = match seg {
                crate::yaml::Seg::Key(k) => v.get(k.as_str()),
                crate::yaml::Seg::Index(i) => v.get(*i),
            };
            match next {
                Some(n) => v = n,
                None => return false,
            }
        }
        true
    }
    fn invalid(&mut self, path: Path, e: Invalid) {
        self.err(path, e.reason, e.hint);
    }
    fn parse<T: FromStr<Err = Invalid>>(&mut self, path: Path, s: &str) -> Option<T> {
        match s.parse() {
            Ok(v) => Some(v),
            Err(e) => {
                self.invalid(path, e);
                None
            }
        }
    }
    fn id(&mut self, path: Path, s: &str, prefix: &str) -> Option<String> {
        match check_aws_id(s, prefix) {
            Ok(()) => Some(s.to_owned()),
            Err(e) => {
                self.invalid(path, e);
                None
            }
        }
    }
    fn cidrs(&mut self, path: Path, list: &[String]) -> Vec<Cidr> {
        list.iter()
            .enumerate()
            .filter_map(|(i, s)| self.parse(path.index(i), s))
            .collect()
    }

    fn cluster(&mut self, c: &ClusterConfig) -> Option<Cluster> {
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
        let controller = self.controller(c, &subnets);
        let kube: Option<KubeVersion> =
            self.parse(root().key("kubernetesVersion"), &c.kubernetes_version);
        let etcd = self.etcd(c, &subnets, kube);
        let node_pools = self.node_pools(c, name.as_ref(), &subnets, kube);
        let tls = self.tls(c);
        let api_server_sans = self.sans(c);
        let kubelet_artifact = self.artifacts(c);
        let addons = kube.and_then(|k| self.addons(c, &k));

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
            ssh_access_allowed_source_cidrs: ssh,
            controller: controller?,
            etcd: etcd?,
            node_pools: node_pools?,
            kubernetes_version: kube?,
            tls,
            api_server_sans,
            kubelet_artifact,
            approval: c.pipeline.approval,
            addons: addons?,
        })
    }

    fn addons(&mut self, c: &ClusterConfig, k8s: &KubeVersion) -> Option<crate::addons::Addons> {
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
            };
            if !a.enabled {
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

    fn ip(&mut self, path: Path, s: &str) -> Option<Ipv4Addr> {
        match s.parse() {
            Ok(ip) => Some(ip),
            Err(_) => {
                self.err(
                    path,
                    format!("{s:?} is not an IPv4 address"),
                    "write it as four numbers, e.g. 10.3.0.10",
                );
                None
            }
        }
    }

    fn stack_tags(&mut self, tags: &BTreeMap<String, String>) {
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
            if k.to_ascii_lowercase().starts_with("aws:") {
                self.err(
                    p.clone(),
                    "the aws: prefix is reserved for AWS",
                    "use another prefix",
                );
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

    fn vpc(&mut self, c: &ClusterConfig) -> Vpc {
        let existing_id = c
            .vpc
            .as_ref()
            .and_then(|v| self.id(root().key("vpc").key("id"), &v.id, "vpc-"));
        let mut cidr = None;
        if c.vpc.is_some() && c.vpc_cidr.is_some() {
            self.err(
                root().key("vpcCIDR"),
                "vpcCIDR cannot be set together with vpc.id",
                "remove vpcCIDR: an existing VPC keeps its own CIDR",
            );
        } else if c.vpc.is_none() {
            cidr = self.parse::<Cidr>(
                root().key("vpcCIDR"),
                c.vpc_cidr.as_deref().unwrap_or("10.0.0.0/16"),
            );
            if let Some(v) = cidr
                && !(16..=28).contains(&v.net().prefix_len())
            {
                self.err(
                    root().key("vpcCIDR"),
                    format!("{v}: VPC blocks must be /16 to /28"),
                    "use a /16 such as 10.0.0.0/16",
                );
                cidr = None;
            }
        }
        let route_table_id = c
            .route_table_id
            .as_ref()
            .and_then(|r| self.id(root().key("routeTableId"), r, "rtb-"));
        if c.route_table_id.is_some() && c.vpc.is_none() {
            self.err(
                root().key("routeTableId"),
                "routeTableId needs vpc.id",
                "set vpc.id to the VPC of the route table, or remove routeTableId",
            );
        }
        let internet_gateway_id = c
            .internet_gateway
            .as_ref()
            .and_then(|g| self.id(root().key("internetGateway").key("id"), &g.id, "igw-"));
        if c.internet_gateway.is_some() && c.vpc.is_none() {
            self.err(
                root().key("internetGateway").key("id"),
                "internetGateway.id needs vpc.id",
                "set vpc.id, or remove internetGateway",
            );
        }
        Vpc {
            existing_id,
            cidr,
            route_table_id,
            internet_gateway_id,
        }
    }

    fn subnets(&mut self, c: &ClusterConfig, region: &Region, vpc: &Vpc) -> Vec<Subnet> {
        let mut out = Vec::new();
        if c.subnets.is_empty() {
            let Some(az) = &c.availability_zone else {
                self.err(
                    root().key("availabilityZone"),
                    "availabilityZone is required when subnets is omitted",
                    format!("add `availabilityZone: {region}a` or list subnets"),
                );
                return out;
            };
            let Ok(az) = AvailabilityZone::parse_in(az, region)
                .map_err(|e| self.invalid(root().key("availabilityZone"), e))
            else {
                return out;
            };
            let Some(cidr) = self.parse::<Cidr>(
                root().key("instanceCIDR"),
                c.instance_cidr.as_deref().unwrap_or("10.0.0.0/24"),
            ) else {
                return out;
            };
            if let Some(v) = vpc.cidr
                && !v.contains(&cidr)
            {
                self.err(
                    root().key("instanceCIDR"),
                    format!("{cidr} is outside vpcCIDR {v}"),
                    "choose a block inside the VPC",
                );
            }
            out.push(Subnet {
                name: "Subnet0".into(),
                logical_id: "Subnet0".into(),
                availability_zone: az,
                cidr: Some(cidr),
                private: false,
                existing_id: None,
                nat_gateway_id: None,
                route_table_id: None,
            });
            return out;
        }
        if let Some(az) = &c.availability_zone
            && let Err(e) = AvailabilityZone::parse_in(az, region)
        {
            self.invalid(root().key("availabilityZone"), e);
        }
        if c.instance_cidr.is_some() {
            self.warn(
                root().key("instanceCIDR"),
                "instanceCIDR is ignored when subnets are listed",
                "set instanceCIDR on each subnet instead",
            );
        }
        let mut names: BTreeMap<String, usize> = BTreeMap::new();
        let mut ids: BTreeMap<String, usize> = BTreeMap::new();
        let mut placed: Vec<(usize, Cidr)> = Vec::new();
        for (i, s) in c.subnets.iter().enumerate() {
            let p = root().key("subnets").index(i);
            let lid = format!("Subnet{}", logical_id(&s.name));
            if s.name.is_empty() || s.name.len() > 64 || lid == "Subnet" {
                self.err(
                    p.key("name"),
                    format!("{:?} is not a usable subnet name", s.name),
                    "use 1-64 letters, digits and hyphens",
                );
            } else if let Some(prev) = names.insert(s.name.clone(), i) {
                self.err(
                    p.key("name"),
                    format!(
                        "subnet name {:?} is already used by subnets[{prev}]",
                        s.name
                    ),
                    "give every subnet its own name",
                );
            } else if let Some(prev) = ids.insert(lid.clone(), i) {
                self.err(
                    p.key("name"),
                    format!(
                        "{:?} and subnets[{prev}] give the same resource ID {lid}",
                        s.name
                    ),
                    "rename one of them",
                );
            }
            let az = AvailabilityZone::parse_in(&s.availability_zone, region)
                .map_err(|e| self.invalid(p.key("availabilityZone"), e))
                .ok();
            let cidr = s
                .instance_cidr
                .as_ref()
                .and_then(|x| self.parse::<Cidr>(p.key("instanceCIDR"), x));
            let existing_id =
                s.id.as_ref()
                    .and_then(|x| self.id(p.key("id"), x, "subnet-"));
            if s.id.is_some() && vpc.existing_id.is_none() && c.vpc.is_none() {
                self.err(
                    p.key("id"),
                    "an existing subnet needs the existing VPC it belongs to",
                    "set vpc.id, or remove id to let kubeline create the subnet",
                );
            }
            if s.id.is_none() && s.instance_cidr.is_none() {
                self.err(p.clone(), "a subnet kubeline creates needs instanceCIDR", "add `instanceCIDR: 10.0.N.0/24` inside vpcCIDR, or `id:` of an existing subnet");
            }
            if let Some(cidr) = cidr {
                if let Some(v) = vpc.cidr
                    && !v.contains(&cidr)
                {
                    self.err(
                        p.key("instanceCIDR"),
                        format!("{cidr} is outside vpcCIDR {v}"),
                        "choose a block inside the VPC",
                    );
                }
                if !(16..=28).contains(&cidr.net().prefix_len()) {
                    self.err(
                        p.key("instanceCIDR"),
                        format!("{cidr}: subnet blocks must be /16 to /28"),
                        "use a /24 or similar",
                    );
                }
                if let Some((j, other)) = placed.iter().find(|(_, o)| o.overlaps(&cidr)) {
                    self.err(
                        p.key("instanceCIDR"),
                        format!("{cidr} overlaps subnets[{j}] ({other})"),
                        "give each subnet its own block",
                    );
                }
                placed.push((i, cidr));
            }
            let nat_gateway_id = s
                .nat_gateway
                .as_ref()
                .and_then(|n| self.id(p.key("natGateway").key("id"), &n.id, "nat-"));
            if s.nat_gateway.is_some() && !s.private {
                self.err(
                    p.key("natGateway"),
                    "only private subnets use a NAT gateway",
                    "set `private: true` or remove natGateway",
                );
            }
            let route_table_id = s
                .route_table
                .as_ref()
                .and_then(|r| self.id(p.key("routeTable").key("id"), &r.id, "rtb-"));
            if let Some(az) = az {
                out.push(Subnet {
                    name: s.name.clone(),
                    logical_id: lid,
                    availability_zone: az,
                    cidr,
                    private: s.private,
                    existing_id,
                    nat_gateway_id,
                    route_table_id,
                });
            }
        }
        if out.len() != c.subnets.len() {
            // Keep indices aligned with the file; an invalid subnet already produced an error.
            return Vec::new();
        }
        out
    }

    /// Every created subnet must have a way out: an internet gateway for public ones and
    /// a NAT gateway (or an existing route table) for private ones.
    fn network_paths(&mut self, c: &ClusterConfig, vpc: &Vpc, subnets: &[Subnet]) {
        for (i, s) in subnets.iter().enumerate() {
            if s.existing_id.is_some() || s.route_table_id.is_some() {
                continue;
            }
            let p = if c.subnets.is_empty() {
                root().key("vpc").key("id")
            } else {
                root().key("subnets").index(i)
            };
            if !s.private
                && vpc.existing_id.is_some()
                && vpc.internet_gateway_id.is_none()
                && vpc.route_table_id.is_none()
            {
                self.err(
                    p.clone(),
                    "a public subnet in an existing VPC needs its internet gateway",
                    "set internetGateway.id or routeTableId (or routeTable.id on the subnet)",
                );
            }
            if s.private
                && let Some((j, other)) = subnets.iter().enumerate().take(i).find(|(_, o)| {
                    o.private
                        && o.existing_id.is_none()
                        && o.route_table_id.is_none()
                        && o.availability_zone == s.availability_zone
                        && o.nat_gateway_id != s.nat_gateway_id
                })
            {
                self.err(p.key("natGateway"), format!("private subnets of {} share one route table, but subnets[{j}] ({:?}) uses a different NAT gateway", s.availability_zone, other.name), "give the private subnets of one zone the same natGateway.id (or none)");
            }
            if s.private && s.nat_gateway_id.is_none() {
                let has_public = subnets
                    .iter()
                    .any(|o| !o.private && o.availability_zone == s.availability_zone);
                if !has_public {
                    self.err(p, format!("private subnet {:?} has no public subnet in {} for its NAT gateway", s.name, s.availability_zone), "add a public subnet in the same zone, or set natGateway.id or routeTable.id");
                }
            }
        }
    }

    fn refs(
        &mut self,
        path: Path,
        refs: &[NameRef],
        subnets: &[Subnet],
        default: impl Fn(&Subnet) -> bool,
    ) -> Vec<usize> {
        if refs.is_empty() {
            let picked: Vec<usize> = subnets
                .iter()
                .enumerate()
                .filter(|(_, s)| default(s))
                .map(|(i, _)| i)
                .collect();
            if picked.is_empty() {
                return (0..subnets.len()).collect();
            }
            return picked;
        }
        let mut out = Vec::new();
        for (i, r) in refs.iter().enumerate() {
            match subnets.iter().position(|s| s.name == r.name) {
                Some(idx) if out.contains(&idx) => self.err(
                    path.index(i).key("name"),
                    format!("subnet {:?} is listed twice", r.name),
                    "list each subnet once",
                ),
                Some(idx) => out.push(idx),
                None => {
                    let names: Vec<&str> = subnets.iter().map(|s| s.name.as_str()).collect();
                    let hint = match crate::diag::did_you_mean(&r.name, names.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("use one of the names under subnets: {}", names.join(", ")),
                    };
                    self.err(
                        path.index(i).key("name"),
                        format!("no subnet is named {:?}", r.name),
                        hint,
                    );
                }
            }
        }
        out
    }

    fn api_endpoints(
        &mut self,
        c: &ClusterConfig,
        name: Option<&ClusterName>,
        subnets: &[Subnet],
    ) -> Option<Vec<ApiEndpoint>> {
        if c.api_endpoints.is_empty() {
            self.err(
                root().key("apiEndpoints"),
                "at least one API endpoint is required",
                "add `apiEndpoints: [{name: default, dnsName: api.example.com, loadBalancer: {hostedZone: {id: Z0123456789ABCDEFGHIJ}}}]`",
            );
            return None;
        }
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        let mut ok = true;
        // Load balancers are named `<cluster>-<endpoint>`, and an ELB name may not begin with
        // `internal-` (CreateLoadBalancer).
        if name.is_some_and(|n| n.as_str() == "internal") {
            self.err(
                root().key("clusterName"),
                "load balancers are named `<clusterName>-<endpoint>`, and AWS refuses load balancer names that begin with `internal-`",
                "choose another cluster name, e.g. `internal-tools`",
            );
            ok = false;
        }
        for (i, e) in c.api_endpoints.iter().enumerate() {
            let p = root().key("apiEndpoints").index(i);
            if !is_dns_label(&e.name) {
                self.err(
                    p.key("name"),
                    format!("{:?} is not a DNS label", e.name),
                    "use lower-case letters, digits and hyphens, e.g. `public`",
                );
                ok = false;
            } else if !seen.insert(e.name.clone()) {
                self.err(
                    p.key("name"),
                    format!("endpoint name {:?} is used twice", e.name),
                    "give every endpoint its own name",
                );
                ok = false;
            }
            let dns: Option<DnsName> = self.parse(p.key("dnsName"), &e.dns_name);
            let lb = &e.load_balancer;
            let lp = p.key("loadBalancer");
            let private = lb.private;
            let idx = self.refs(lp.key("subnets"), &lb.subnets, subnets, |s| {
                s.private == private
            });
            if !private && !lb.subnets.is_empty() {
                for &s in &idx {
                    if subnets.get(s).is_some_and(|s| s.private) {
                        self.err(
                            lp.key("subnets"),
                            format!(
                                "an internet-facing load balancer cannot use private subnet {:?}",
                                subnets[s].name
                            ),
                            "use public subnets or set `private: true`",
                        );
                    }
                }
            }
            if !private && !subnets.is_empty() && !subnets.iter().any(|s| !s.private) {
                self.err(lp.key("private"), "an internet-facing load balancer needs a public subnet, and every subnet is private", "set `private: true` or add a public subnet");
            }
            let hosted_zone_id = match &lb.hosted_zone {
                Some(z) => {
                    // Route53 documents IDs only as at most 32 characters (AWS issues them
                    // with a leading Z; emulators do not).
                    let ok_id = !z.id.is_empty()
                        && z.id.len() <= 32
                        && z.id
                            .chars()
                            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
                    if !ok_id {
                        self.err(
                            lp.key("hostedZone").key("id"),
                            format!("{:?} is not a Route53 hosted zone ID", z.id),
                            "use an ID like Z0123456789ABCDEFGHIJ (without /hostedzone/)",
                        );
                    }
                    Some(z.id.clone())
                }
                None => None,
            };
            if lb.record_set_ttl == 0 {
                self.err(
                    lp.key("recordSetTTL"),
                    "TTL 0 disables caching of the API address",
                    "use 60 or more",
                );
            }
            let access = self.cidrs(
                lp.key("apiAccessAllowedSourceCIDRs"),
                &lb.api_access_allowed_source_cidrs,
            );
            if access.len() > MAX_SOURCE_CIDRS {
                self.err(
                    lp.key("apiAccessAllowedSourceCIDRs"),
                    format!(
                        "{} ranges; a security group holds 60 inbound rules by default",
                        access.len()
                    ),
                    format!("list at most {MAX_SOURCE_CIDRS} ranges"),
                );
            }
            if private && access.iter().any(|c| c.net().prefix_len() == 0) {
                self.warn(
                    lp.key("apiAccessAllowedSourceCIDRs"),
                    "0.0.0.0/0 on a private load balancer allows every peered network",
                    "list the networks that need the API",
                );
            }
            let lb_name = format!(
                "{}-{}",
                name.map(ClusterName::as_str).unwrap_or("x"),
                e.name
            );
            if name.is_some() && lb_name.len() > 32 {
                self.err(
                    p.key("name"),
                    format!(
                        "the load balancer name {lb_name:?} has {} characters; AWS allows 32",
                        lb_name.len()
                    ),
                    format!(
                        "shorten the endpoint name to at most {} characters",
                        32usize.saturating_sub(lb_name.len() - e.name.len())
                    ),
                );
                ok = false;
            }
            match dns {
                Some(dns_name) if ok => out.push(ApiEndpoint {
                    name: e.name.clone(),
                    logical_id: logical_id(&e.name),
                    dns_name,
                    lb_type: lb.kind,
                    private,
                    subnets: idx,
                    hosted_zone_id: if lb.record_set_managed {
                        hosted_zone_id
                    } else {
                        None
                    },
                    record_set_managed: lb.record_set_managed && lb.hosted_zone.is_some(),
                    api_access_allowed_source_cidrs: access,
                    lb_name,
                    added_for_nodes: false,
                }),
                _ => ok = false,
            }
        }
        if !c.api_endpoints.iter().any(|e| e.load_balancer.private) {
            match self.nodes_endpoint(c, name, subnets, &out, ok) {
                Some(nodes) => out.push(nodes),
                None => ok = false,
            }
        }
        let ids: BTreeSet<&str> = out.iter().map(|e| e.logical_id.as_str()).collect();
        if ids.len() != out.len() && ok {
            self.err(
                root().key("apiEndpoints"),
                "two endpoint names give the same resource ID",
                "make the names differ by more than punctuation",
            );
            return None;
        }
        ok.then_some(out)
    }

    /// The internal endpoint of the nodes, for a cluster.yaml without a private endpoint.
    ///
    /// Nodes must reach the API by private address: security-group rules that reference a
    /// security group match only traffic from private addresses, so a private worker that
    /// reaches an internet-facing load balancer through its NAT gateway (or a public one by its
    /// public address) is admitted only if `apiAccessAllowedSourceCIDRs` happens to hold that
    /// address. An internal load balancer admits the node security groups whatever the CIDRs
    /// say. Its record is `internal.<dnsName>` of the first endpoint whose record kubeline
    /// writes, in the same hosted zone; without one there is no name kubeline can give it, an
    /// error. `out` holds the resolved endpoints (all of them when `ok`). See
    /// docs/api-endpoints.md.
    fn nodes_endpoint(
        &mut self,
        c: &ClusterConfig,
        name: Option<&ClusterName>,
        subnets: &[Subnet],
        out: &[ApiEndpoint],
        ok: bool,
    ) -> Option<ApiEndpoint> {
        let eps = root().key("apiEndpoints");
        let mut good = ok;
        if let Some(i) = c
            .api_endpoints
            .iter()
            .position(|e| e.name == NODES_ENDPOINT)
        {
            self.err(
                eps.index(i).key("name"),
                format!("{NODES_ENDPOINT:?} is the name of the internal endpoint kubeline adds for nodes when no endpoint is private"),
                "rename this endpoint, or make it private (`loadBalancer.private: true`) so that nodes use it",
            );
            good = false;
        }
        let Some(base) = c.api_endpoints.iter().position(|e| {
            e.load_balancer.record_set_managed && e.load_balancer.hosted_zone.is_some()
        }) else {
            self.err(
                eps,
                "nodes need an endpoint they reach by private address, and no endpoint is private or has a DNS record kubeline manages",
                format!("add a private endpoint (`loadBalancer.private: true`), or give an endpoint a `hostedZone` (with recordSetManaged left true) so kubeline can add `{NODES_DNS_PREFIX}<dnsName>` for nodes"),
            );
            return None;
        };
        if !good || out.len() != c.api_endpoints.len() {
            return None;
        }
        let first = &out[base];
        let text = format!("{NODES_DNS_PREFIX}{}", first.dns_name);
        let Ok(dns_name) = text.parse::<DnsName>() else {
            self.err(
                eps.index(base).key("dnsName"),
                format!(
                    "{text:?}, the name of the nodes' internal endpoint, has {} characters; DNS allows 253",
                    text.len()
                ),
                format!(
                    "shorten dnsName to at most {} characters, or add a private endpoint for nodes",
                    253 - NODES_DNS_PREFIX.len()
                ),
            );
            return None;
        };
        if let Some(i) = out.iter().position(|e| e.dns_name == dns_name) {
            self.err(
                eps.index(i).key("dnsName"),
                format!("{dns_name} is the name kubeline gives the nodes' internal endpoint"),
                "use another dnsName, or make this endpoint private (`loadBalancer.private: true`) so that nodes use it",
            );
            return None;
        }
        // One subnet per zone (a load balancer takes at most one per zone), the zone's first
        // private subnet, else its first public one.
        let mut by_zone: Vec<usize> = Vec::new();
        for (i, s) in subnets.iter().enumerate() {
            match by_zone
                .iter_mut()
                .find(|j| subnets[**j].availability_zone == s.availability_zone)
            {
                None => by_zone.push(i),
                Some(j) if s.private && !subnets[*j].private => *j = i,
                Some(_) => {}
            }
        }
        by_zone.sort_unstable();
        Some(ApiEndpoint {
            name: NODES_ENDPOINT.to_owned(),
            logical_id: logical_id(NODES_ENDPOINT),
            dns_name,
            lb_type: first.lb_type,
            private: true,
            subnets: by_zone,
            hosted_zone_id: first.hosted_zone_id.clone(),
            record_set_managed: true,
            api_access_allowed_source_cidrs: Vec::new(),
            lb_name: format!(
                "{}-{NODES_ENDPOINT}",
                name.map(ClusterName::as_str).unwrap_or("x")
            ),
            added_for_nodes: true,
        })
    }

    fn instance_type(&mut self, path: Path, t: &str) {
        let valid = t.split_once('.').is_some_and(|(fam, size)| {
            !fam.is_empty()
                && fam.starts_with(|c: char| c.is_ascii_lowercase())
                && fam
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !size.is_empty()
                && size
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
        if !valid {
            self.err(
                path,
                format!("{t:?} is not an EC2 instance type"),
                "use a type such as m7i.large",
            );
            return;
        }
        let fam = t.split('.').next().unwrap_or_default();
        // Graviton families carry a `g` right after the generation digit (m7g, c6gn, t4g, r8gd).
        let graviton = fam
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit())
            .is_some_and(|(i, _)| fam[i + 1..].starts_with('g'));
        if graviton {
            self.err(
                path,
                format!("{t} is an arm64 (Graviton) type; kubeline renders x86_64 nodes"),
                "use an x86_64 type such as m7i.large",
            );
        }
    }

    fn volume(&mut self, path: Path, v: &VolumeConfig, root_volume: bool) -> Option<Volume> {
        self.volume_rules(path, v.size, v.kind, v.iops, root_volume)
            .then_some(Volume {
                size: v.size,
                kind: v.kind,
                iops: v.iops,
            })
    }

    fn volume_rules(
        &mut self,
        path: Path,
        size: u32,
        kind: VolumeType,
        iops: Option<u32>,
        root_volume: bool,
    ) -> bool {
        let before = self.diags.len();
        let (min, max) = match kind {
            VolumeType::Gp3 | VolumeType::Gp2 => (1, 16384),
            VolumeType::Io1 => (4, 16384),
            VolumeType::Io2 => (4, 65536),
            VolumeType::St1 | VolumeType::Sc1 => (125, 16384),
            VolumeType::Standard => (1, 1024),
        };
        let tname = serde_json::to_value(kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        if root_volume && matches!(kind, VolumeType::St1 | VolumeType::Sc1) {
            self.err(
                path.key("type"),
                format!("{tname} volumes cannot be boot volumes"),
                "use gp3",
            );
        }
        if root_volume && size < 8 {
            self.err(
                path.key("size"),
                format!("{size} GiB is too small for Flatcar"),
                "use at least 8 GiB (30 recommended)",
            );
        } else if !(min..=max).contains(&size) {
            self.err(
                path.key("size"),
                format!("{tname} volumes are {min}-{max} GiB, not {size}"),
                format!("use a size in {min}..={max}"),
            );
        }
        match (kind, iops) {
            (VolumeType::Gp3, Some(i)) => {
                if !(3000..=80000).contains(&i) {
                    self.err(
                        path.key("iops"),
                        format!("gp3 IOPS are 3000-80000, not {i}"),
                        "use 3000 (the baseline) or more",
                    );
                } else if u64::from(i) > 500 * u64::from(size) {
                    self.err(
                        path.key("iops"),
                        format!(
                            "gp3 allows 500 IOPS per GiB: {i} needs at least {} GiB",
                            i.div_ceil(500)
                        ),
                        "raise size or lower iops",
                    );
                }
            }
            (VolumeType::Io1 | VolumeType::Io2, None) => {
                self.err(
                    path.key("iops"),
                    format!("{tname} volumes need iops"),
                    "set iops, e.g. 3000",
                );
            }
            (VolumeType::Io1 | VolumeType::Io2, Some(i)) => {
                let per_gib = if kind == VolumeType::Io1 { 50 } else { 1000 };
                if !(100..=256_000).contains(&i) {
                    self.err(
                        path.key("iops"),
                        format!("{tname} IOPS are 100-256000, not {i}"),
                        "use a value in range",
                    );
                } else if u64::from(i) > per_gib * u64::from(size) {
                    self.err(
                        path.key("iops"),
                        format!(
                            "{tname} allows {per_gib} IOPS per GiB: {i} needs at least {} GiB",
                            u64::from(i).div_ceil(per_gib)
                        ),
                        "raise size or lower iops",
                    );
                }
            }
            (_, Some(_)) => {
                self.err(
                    path.key("iops"),
                    format!("{tname} volumes take no iops setting"),
                    "remove iops or use gp3/io1/io2",
                );
            }
            (_, None) => {}
        }
        self.diags.len() == before
    }

    /// Sizes of an Auto Scaling group.
    ///
    /// kube-aws's rule: `autoScalingGroup.minSize`/`maxSize` are used in place of `count`, and
    /// the desired size is then `minSize`. Without them `count` (or `default_count`) is the
    /// size; with both, `count` must lie between them. A `maxSize` of 0 is an error unless
    /// `may_be_empty` (node pools kept at zero on purpose), where it is a warning.
    fn group(
        &mut self,
        path: Path,
        count: Option<u32>,
        default_count: u32,
        asg: &AutoScalingGroupConfig,
        may_be_empty: bool,
    ) -> Option<GroupSize> {
        let ap = path.key("autoScalingGroup");
        let count_path = path.key("count");
        let (desired, min, max) = match count {
            Some(n) => {
                let min = asg.min_size.unwrap_or(n);
                (n, min, asg.max_size.unwrap_or(n.max(min)))
            }
            None => {
                let min = asg.min_size.unwrap_or_else(|| {
                    asg.max_size.map_or(default_count, |m| m.min(default_count))
                });
                (min, min, asg.max_size.unwrap_or(default_count.max(min)))
            }
        };
        let mut ok = true;
        if min > max {
            self.err(
                ap.key("minSize"),
                format!("minSize {min} is more than maxSize {max}"),
                "make minSize <= maxSize",
            );
            ok = false;
        } else if desired < min || desired > max {
            self.err(
                count_path.clone(),
                format!("count {desired} is outside minSize {min} .. maxSize {max}"),
                "make minSize <= count <= maxSize",
            );
            ok = false;
        }
        if max == 0 {
            let at = if asg.max_size.is_some() {
                ap.key("maxSize")
            } else {
                count_path
            };
            if may_be_empty {
                self.warn(
                    at,
                    "a group of at most 0 instances runs nothing: this pool stays empty",
                    "raise maxSize (and minSize) when the pool should run nodes",
                );
            } else {
                self.err(
                    at,
                    "a group of at most 0 instances runs nothing",
                    "use a maxSize of 1 or more",
                );
                ok = false;
            }
        }
        let min_in_service = asg
            .rolling_update_min_instances_in_service
            .unwrap_or(desired.saturating_sub(1));
        if ok && min_in_service > 0 && min_in_service >= max {
            self.err(ap.key("rollingUpdateMinInstancesInService"), format!("{min_in_service} instances in service leaves no room to replace one (maxSize {max})"), format!("use at most {}", max.saturating_sub(1)));
            ok = false;
        }
        ok.then_some(GroupSize {
            desired,
            min,
            max,
            min_in_service,
        })
    }

    fn labels(&mut self, path: Path, labels: &BTreeMap<String, String>) {
        for (k, v) in labels {
            let p = path.key(k);
            if let Err(m) = label_key(k) {
                self.err(
                    p.clone(),
                    format!("label key {k:?} {m}"),
                    "use [prefix/]name with name of up to 63 of A-Z a-z 0-9 - _ .",
                );
            }
            if !label_value(v) {
                self.err(
                    p,
                    format!("label value {v:?} is not a valid Kubernetes label value"),
                    "use up to 63 of A-Z a-z 0-9 - _ ., starting and ending alphanumeric",
                );
            }
        }
    }

    fn controller(&mut self, c: &ClusterConfig, subnets: &[Subnet]) -> Option<Controller> {
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

    fn etcd(
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
        if e.snapshot.automated || e.disaster_recovery.automated {
            self.warn(
                p.key("snapshot"),
                "automated snapshots and disaster recovery are not implemented yet and are ignored",
                "take snapshots with etcdctl until kubeline supports them",
            );
        }
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
            snapshot_automated: e.snapshot.automated,
            disaster_recovery_automated: e.disaster_recovery.automated,
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

    fn node_pools(
        &mut self,
        c: &ClusterConfig,
        name: Option<&ClusterName>,
        subnets: &[Subnet],
        kube: Option<KubeVersion>,
    ) -> Option<Vec<NodePool>> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        let mut ok = true;
        for (i, np) in c.worker.node_pools.iter().enumerate() {
            let p = root().key("worker").key("nodePools").index(i);
            let before = self
                .diags
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .count();
            if !is_dns_label(&np.name) {
                self.err(
                    p.key("name"),
                    format!("{:?} is not a DNS label", np.name),
                    "use lower-case letters, digits and hyphens, e.g. `general`",
                );
            } else if !seen.insert(np.name.clone()) {
                self.err(
                    p.key("name"),
                    format!("node pool name {:?} is used twice", np.name),
                    "give every pool its own name",
                );
            } else if let Some(n) = name {
                let role = crate::layout::NodeGroup::Pool(&np.name).iam_role_name(n);
                if role.len() > 64 {
                    self.err(
                        p.key("name"),
                        format!(
                            "the IAM role name {role:?} has {} characters; AWS allows 64",
                            role.len()
                        ),
                        format!(
                            "shorten the pool name to at most {} characters",
                            64 - (role.len() - np.name.len())
                        ),
                    );
                }
            }
            self.instance_type(p.key("instanceType"), &np.instance_type);
            let root_volume = self.volume(p.key("rootVolume"), &np.root_volume, true);
            let idx = self.refs(p.key("subnets"), &np.subnets, subnets, |s| s.private);
            let size = self.group(
                p.clone(),
                np.count,
                crate::model::DEFAULT_POOL_COUNT,
                &np.auto_scaling_group,
                true,
            );
            self.labels(p.key("nodeLabels"), &np.node_labels);
            let mut taints = Vec::new();
            for (t, taint) in np.taints.iter().enumerate() {
                let tp = p.key("taints").index(t);
                if let Err(m) = label_key(&taint.key) {
                    self.err(
                        tp.key("key"),
                        format!("taint key {:?} {m}", taint.key),
                        "use [prefix/]name like dedicated or example.com/gpu",
                    );
                }
                if !taint.value.is_empty() && !label_value(&taint.value) {
                    self.err(
                        tp.key("value"),
                        format!("taint value {:?} is not valid", taint.value),
                        "use up to 63 of A-Z a-z 0-9 - _ .",
                    );
                }
                let effect = match taint.effect.as_str() {
                    "NoSchedule" => Some(TaintEffect::NoSchedule),
                    "PreferNoSchedule" => Some(TaintEffect::PreferNoSchedule),
                    "NoExecute" => Some(TaintEffect::NoExecute),
                    other => {
                        let hint = match crate::diag::did_you_mean(
                            other,
                            ["NoSchedule", "PreferNoSchedule", "NoExecute"],
                        ) {
                            Some(s) => format!("did you mean `{s}`?"),
                            None => "use NoSchedule, PreferNoSchedule or NoExecute".into(),
                        };
                        self.err(
                            tp.key("effect"),
                            format!("{other:?} is not a taint effect"),
                            hint,
                        );
                        None
                    }
                };
                if let Some(effect) = effect {
                    taints.push(Taint {
                        key: taint.key.clone(),
                        value: taint.value.clone(),
                        effect,
                    });
                }
            }
            let spot_price = np.spot_price.as_ref().and_then(|sp| {
                let valid = sp.parse::<f64>().is_ok_and(|f| f > 0.0 && f < 1000.0)
                    && sp.chars().all(|c| c.is_ascii_digit() || c == '.');
                if valid {
                    Some(sp.clone())
                } else {
                    self.err(
                        p.key("spotPrice"),
                        format!("{sp:?} is not a price"),
                        "write the maximum hourly price in USD, e.g. \"0.05\"",
                    );
                    None
                }
            });
            let mut mixed = None;
            let mi = np
                .auto_scaling_group
                .mixed_instances
                .as_ref()
                .filter(|m| m.enabled);
            if let Some(m) = mi {
                let mp = p.key("autoScalingGroup").key("mixedInstances");
                let mut types = vec![np.instance_type.clone()];
                for (k, t) in m.instance_types.iter().enumerate() {
                    self.instance_type(mp.key("instanceTypes").index(k), t);
                    if types.contains(t) {
                        if *t != np.instance_type {
                            self.err(
                                mp.key("instanceTypes").index(k),
                                format!("{t} is listed twice"),
                                "list each type once",
                            );
                        }
                    } else {
                        types.push(t.clone());
                    }
                }
                if types.len() > 40 {
                    self.err(
                        mp.key("instanceTypes"),
                        "at most 40 instance types are allowed",
                        "remove some",
                    );
                }
                if m.on_demand_percentage_above_base_capacity > 100 {
                    self.err(
                        mp.key("onDemandPercentageAboveBaseCapacity"),
                        "a percentage is at most 100",
                        "use 0-100",
                    );
                }
                if m.spot_instance_pools.is_some()
                    && m.spot_allocation_strategy
                        != crate::model::SpotAllocationStrategy::LowestPrice
                {
                    self.err(
                        mp.key("spotInstancePools"),
                        "spotInstancePools applies only to the lowest-price strategy",
                        "remove it or set spotAllocationStrategy: lowest-price",
                    );
                }
                if m.spot_instance_pools
                    .is_some_and(|n| !(1..=20).contains(&n))
                {
                    self.err(
                        mp.key("spotInstancePools"),
                        "spotInstancePools is 1-20",
                        "use a value in range",
                    );
                }
                mixed = Some(Mixed {
                    instance_types: types,
                    on_demand_base_capacity: m.on_demand_base_capacity,
                    on_demand_percentage_above_base_capacity: m
                        .on_demand_percentage_above_base_capacity,
                    spot_allocation_strategy: m.spot_allocation_strategy,
                    spot_instance_pools: m.spot_instance_pools,
                    spot_max_price: spot_price.clone(),
                });
            } else if spot_price.is_some() {
                // A plain spot pool: all capacity from spot, one type.
                mixed = Some(Mixed {
                    instance_types: vec![np.instance_type.clone()],
                    on_demand_base_capacity: 0,
                    on_demand_percentage_above_base_capacity: 0,
                    spot_allocation_strategy: Default::default(),
                    spot_instance_pools: None,
                    spot_max_price: spot_price,
                });
            }
            let version = match &np.kubernetes_version {
                Some(v) => self.parse::<KubeVersion>(p.key("kubernetesVersion"), v),
                None => kube,
            };
            if let (Some(v), Some(k)) = (version, kube)
                && (v.minor > k.minor || k.minor - v.minor > 3)
            {
                self.err(
                    p.key("kubernetesVersion"),
                    format!("kubelet {v} is outside the supported skew of control plane {k}"),
                    format!(
                        "use 1.{}.x to 1.{}.x (kubelets may be up to 3 minors older, never newer)",
                        k.minor.saturating_sub(3),
                        k.minor
                    ),
                );
            }
            let after = self
                .diags
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .count();
            if after != before {
                ok = false;
                continue;
            }
            if let (Some(root_volume), Some(size), Some(kubernetes_version)) =
                (root_volume, size, version)
            {
                out.push(NodePool {
                    name: np.name.clone(),
                    instance_type: np.instance_type.clone(),
                    subnets: idx,
                    root_volume,
                    size,
                    mixed,
                    node_labels: np.node_labels.clone(),
                    taints,
                    kubernetes_version,
                });
            }
        }
        ok.then_some(out)
    }

    fn tls(&mut self, c: &ClusterConfig) -> Tls {
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

    fn sans(&mut self, c: &ClusterConfig) -> ApiServerSans {
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

    fn artifacts(&mut self, c: &ClusterConfig) -> Artifact {
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

/// Checks a Kubernetes label key (`[prefix/]name`).
fn label_key(k: &str) -> Result<(), &'static str> {
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    if let Some(p) = prefix
        && (p.is_empty() || p.len() > 253 || p.parse::<DnsName>().is_err() && !is_dns_label(p))
    {
        return Err("has an invalid prefix (a DNS subdomain is expected)");
    }
    if name.is_empty() || !label_value(name) {
        return Err("has an invalid name");
    }
    Ok(())
}

/// Checks a Kubernetes label value.
fn label_value(v: &str) -> bool {
    v.is_empty()
        || (v.len() <= 63
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && v.starts_with(|c: char| c.is_ascii_alphanumeric())
            && v.ends_with(|c: char| c.is_ascii_alphanumeric()))
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
