//! The pod network, read from every example's rendered output: flannel's network is the
//! cluster's podCIDR over VXLAN on UDP 8472; every Kubernetes node (controllers and workers)
//! downloads the pinned reference CNI plugins, checked against their SHA-256, and unpacks them
//! before containerd and the kubelet start; UDP 8472 is open between every two Kubernetes node
//! security groups and from nothing else; subnets kubeline creates carry the AWS cloud
//! provider's load balancer role tags. Each check also gets a broken input, to prove it can
//! fail.

use std::collections::BTreeMap;
use std::process::Command;

use kubeline_core::cluster::Cluster;
use kubeline_core::layout::NodeGroup;
use kubeline_core::render::Rendered;
use kubeline_tests::{
    UnitFile, decode_ignition, examples_and_demo, node_groups, render_example, run, stacks_of, tool,
};
use serde_json::{Value, json};

/// The reference CNI plugins release and its SHA-256 (the release's `.tgz.sha256`, as kubespray
/// `roles/kubespray_defaults/vars/main/checksums.yml` and kops
/// `pkg/assets/assetdata/cni-1.7.yaml` record it).
const CNI_URL: &str = "https://github.com/containernetworking/plugins/releases/download/v1.7.1/cni-plugins-linux-amd64-v1.7.1.tgz";
const CNI_HASH: &str = "sha256-1a28a0506bfe5bcdc981caf1a49eeab7e72da8321f1119b7be85f22621013098";
/// The unit that unpacks them.
const CNI_UNIT: &str = "kubeline-cni-plugins.service";
/// flannel's VXLAN port (the Linux kernel's default, written out in net-conf.json).
const VXLAN_PORT: i64 = 8472;
/// The security groups of the Kubernetes nodes (etcd members run no pod network).
const NODE_SGS: [&str; 2] = ["ControllerSecurityGroup", "WorkerSecurityGroup"];

struct Example {
    name: String,
    cluster: Cluster,
    rendered: Rendered,
}

fn all() -> Vec<Example> {
    examples_and_demo()
        .into_iter()
        .map(|(name, path)| {
            let (cluster, rendered) = render_example(&path).expect("example renders");
            Example {
                name,
                cluster,
                rendered,
            }
        })
        .collect()
}

fn file<'a>(ex: &'a Example, name: &str) -> &'a [u8] {
    ex.rendered
        .files
        .get(name)
        .unwrap_or_else(|| panic!("{}: no {name}", ex.name))
}

// ---------------------------------------------------------------------------------------------
// flannel's ConfigMap and DaemonSet

/// The documents of a multi-document YAML text.
fn documents(text: &str) -> Vec<Value> {
    let mut docs = vec![String::new()];
    for line in text.split_inclusive('\n') {
        if line.trim_end() == "---" {
            docs.push(String::new());
        } else if let Some(d) = docs.last_mut() {
            d.push_str(line);
        }
    }
    docs.iter()
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_saphyr::from_str::<Value>(d).expect("add-on YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

fn object<'a>(docs: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
}

fn json_in(v: &Value) -> Option<Value> {
    v.as_str().and_then(|s| serde_json::from_str(s).ok())
}

/// What is wrong with flannel's manifests for a cluster whose podCIDR is `pod_cidr`.
fn flannel_problems(pod_cidr: &str, docs: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    let Some(cm) = object(docs, "ConfigMap", "kube-flannel-cfg") else {
        return vec!["no ConfigMap kube-flannel-cfg".into()];
    };
    match json_in(&cm["data"]["net-conf.json"]) {
        None => out.push("net-conf.json is not JSON".into()),
        Some(net) => {
            if net["Network"] != pod_cidr {
                out.push(format!(
                    "net-conf.json Network is {}, podCIDR is {pod_cidr}",
                    net["Network"]
                ));
            }
            let backend = &net["Backend"];
            if backend["Type"] != "vxlan" || backend["Port"] != VXLAN_PORT {
                out.push(format!(
                    "net-conf.json Backend is {backend}, not vxlan on {VXLAN_PORT}"
                ));
            }
        }
    }
    match json_in(&cm["data"]["cni-conf.json"]) {
        None => out.push("cni-conf.json is not JSON".into()),
        Some(cni) => {
            let types: Vec<&str> = cni["plugins"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["type"].as_str())
                .collect();
            if types != ["flannel", "portmap"] {
                out.push(format!(
                    "cni-conf.json chains {types:?}, not flannel then portmap"
                ));
            }
        }
    }
    let Some(ds) = object(docs, "DaemonSet", "kube-flannel") else {
        out.push("no DaemonSet kube-flannel".into());
        return out;
    };
    let spec = &ds["spec"]["template"]["spec"];
    if spec["hostNetwork"] != true {
        out.push("kube-flannel is not on the host network".into());
    }
    // It must run before the cloud provider initialises the node.
    let tolerates = spec["tolerations"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|t| {
            let key_ok =
                t["key"].is_null() || t["key"] == "node.cloudprovider.kubernetes.io/uninitialized";
            let effect_ok = t["effect"].is_null() || t["effect"] == "NoSchedule";
            key_ok && effect_ok && t["operator"] == "Exists"
        });
    if !tolerates {
        out.push(
            "kube-flannel does not tolerate node.cloudprovider.kubernetes.io/uninitialized".into(),
        );
    }
    let main = spec["containers"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "kube-flannel"));
    let args: Vec<&str> = main
        .and_then(|c| c["args"].as_array())
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !args.contains(&"--kube-subnet-mgr") {
        out.push(format!(
            "kube-flannel runs with {args:?}, without --kube-subnet-mgr"
        ));
    }
    let installs_conflist = spec["initContainers"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| {
            c["args"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == "/etc/cni/net.d/10-flannel.conflist"))
        });
    if !installs_conflist {
        out.push("no init container installs /etc/cni/net.d/10-flannel.conflist".into());
    }
    out
}

#[test]
fn flannel_runs_the_pod_cidr_over_vxlan_on_8472() {
    let examples = all();
    for ex in &examples {
        let text = String::from_utf8(file(ex, "addons/flannel.yaml").to_vec()).expect("UTF-8");
        let pod_cidr = ex.cluster.pod_cidr.to_string();
        let problems = flannel_problems(&pod_cidr, &documents(&text));
        assert!(problems.is_empty(), "{}: {problems:#?}", ex.name);
    }
    // examples/existing-vpc sets its own podCIDR: the template does not hard-code one.
    let cidrs: std::collections::BTreeSet<String> = examples
        .iter()
        .map(|e| e.cluster.pod_cidr.to_string())
        .collect();
    assert!(cidrs.len() > 1, "every example has podCIDR {cidrs:?}");

    // Negative controls, each on the first example's manifests.
    let ex = &examples[0];
    let text = String::from_utf8(file(ex, "addons/flannel.yaml").to_vec()).expect("UTF-8");
    let pod_cidr = ex.cluster.pod_cidr.to_string();
    let mutate = |f: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut docs = documents(&text);
        for d in &mut docs {
            if d["kind"] == "ConfigMap" && d["metadata"]["name"] == "kube-flannel-cfg" {
                let mut net = json_in(&d["data"]["net-conf.json"]).expect("net-conf");
                f(net.as_object_mut().expect("object"));
                d["data"]["net-conf.json"] = json!(net.to_string());
            }
        }
        flannel_problems(&pod_cidr, &docs)
    };
    let wrong_network = mutate(&|n| {
        n.insert("Network".into(), json!("10.244.0.0/16"));
    });
    assert!(
        wrong_network.iter().any(|p| p.contains("Network")),
        "the check accepted another Network: {wrong_network:?}"
    );
    let default_port = mutate(&|n| {
        n.insert("Backend".into(), json!({"Type": "vxlan", "Port": 4789}));
    });
    assert!(
        default_port.iter().any(|p| p.contains("Backend")),
        "the check accepted VXLAN on 4789: {default_port:?}"
    );
    let mut docs = documents(&text);
    for d in &mut docs {
        if d["kind"] == "DaemonSet" {
            d["spec"]["template"]["spec"]["tolerations"] =
                json!([{"key": "CriticalAddonsOnly", "operator": "Exists"}]);
        }
    }
    let untolerated = flannel_problems(&pod_cidr, &docs);
    assert!(
        untolerated.iter().any(|p| p.contains("uninitialized")),
        "the check accepted a DaemonSet that waits for the cloud provider: {untolerated:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// The reference CNI plugins on every Kubernetes node

/// What is wrong with the CNI plugins of a Kubernetes node's Ignition config.
fn cni_problems(ign: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let (files, units, _) = decode_ignition(ign);
    let tarballs: Vec<_> = files
        .iter()
        .filter(|f| f.source.contains("containernetworking/plugins"))
        .collect();
    let [tarball] = tarballs.as_slice() else {
        return vec![format!("{} CNI plugins tarballs", tarballs.len())];
    };
    if tarball.source != CNI_URL {
        out.push(format!(
            "the tarball comes from {}, not {CNI_URL}",
            tarball.source
        ));
    }
    if tarball.hash.as_deref() != Some(CNI_HASH) {
        out.push(format!(
            "{} is verified by {:?}, not {CNI_HASH}",
            tarball.path, tarball.hash
        ));
    }
    let raw: Value = serde_json::from_slice(ign).expect("ignition JSON");
    let enabled = raw["systemd"]["units"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|u| u["name"] == CNI_UNIT && u["enabled"] == true);
    if !enabled {
        out.push(format!("{CNI_UNIT} is missing or not enabled"));
    }
    let Some(text) = units
        .iter()
        .find(|u| u.name == CNI_UNIT)
        .and_then(|u| u.contents.as_deref())
    else {
        out.push(format!("no {CNI_UNIT} with contents"));
        return out;
    };
    let s = UnitFile::parse(text);
    let before = s.names("Unit", "Before");
    for dep in ["containerd.service", "kubelet.service"] {
        if !before.contains(&dep) {
            out.push(format!(
                "{CNI_UNIT} is not Before={dep} (Before={before:?})"
            ));
        }
    }
    let exec = s.values("Service", "ExecStart");
    let unpacks = exec.iter().any(|e| {
        e.starts_with("/usr/bin/tar ") && e.contains(&tarball.path) && e.contains("-C /opt/cni/bin")
    });
    if !unpacks {
        out.push(format!(
            "{CNI_UNIT} does not unpack {} into /opt/cni/bin: {exec:?}",
            tarball.path
        ));
    }
    // Skipped once this version is unpacked: the marker it checks is the one it writes, and it
    // names the version.
    match s.names("Unit", "ConditionPathExists").as_slice() {
        [c] if c.starts_with('!') && c.contains("v1.7.1") => {
            let marker = &c[1..];
            if !exec
                .iter()
                .any(|e| e.ends_with(marker) && e.contains("touch"))
            {
                out.push(format!("{CNI_UNIT} never writes its marker {marker}"));
            }
        }
        other => out.push(format!("{CNI_UNIT} has ConditionPathExists={other:?}")),
    }
    out
}

#[test]
fn every_kubernetes_node_unpacks_the_pinned_cni_plugins_before_its_kubelet() {
    let examples = all();
    let mut checked = 0;
    for ex in &examples {
        for g in node_groups(&ex.cluster) {
            let name = format!("userdata/{}.json", g.file_stem());
            let ign = file(ex, &name);
            if g == NodeGroup::Etcd {
                // etcd members run no kubelet and no pod network.
                let (files, _, _) = decode_ignition(ign);
                assert!(
                    !files
                        .iter()
                        .any(|f| f.source.contains("containernetworking")),
                    "{}/{name}: an etcd member downloads CNI plugins",
                    ex.name
                );
                continue;
            }
            let problems = cni_problems(ign);
            assert!(problems.is_empty(), "{}/{name}: {problems:#?}", ex.name);
            checked += 1;
        }
        // The node subnets flannel takes come from kube-controller-manager's allocations in
        // the same podCIDR.
        let (files, _, _) = decode_ignition(file(ex, "userdata/controller.json"));
        let kcm = files
            .iter()
            .find(|f| f.path == "/etc/kubernetes/manifests/kube-controller-manager.yaml")
            .and_then(|f| f.text.clone())
            .unwrap_or_default();
        let cidr = format!("--cluster-cidr={}", ex.cluster.pod_cidr);
        assert!(
            kcm.contains("--allocate-node-cidrs=true") && kcm.contains(&cidr),
            "{}: kube-controller-manager does not allocate node CIDRs from {}",
            ex.name,
            ex.cluster.pod_cidr
        );
    }
    assert!(
        checked >= 2 * examples.len(),
        "only {checked} node configs checked"
    );

    // Negative controls on the first example's first worker.
    let ex = &examples[0];
    let pool = &ex.cluster.node_pools[0].name;
    let ign: Value =
        serde_json::from_slice(file(ex, &format!("userdata/worker-{pool}.json"))).expect("JSON");
    let broken = |f: &dyn Fn(&mut Value)| {
        let mut v = ign.clone();
        f(&mut v);
        cni_problems(&serde_json::to_vec(&v).expect("ser"))
    };
    let tarball = |v: &mut Value| -> usize {
        v["storage"]["files"]
            .as_array()
            .and_then(|a| {
                a.iter()
                    .position(|f| f["contents"]["source"].as_str() == Some(CNI_URL))
            })
            .expect("the tarball")
    };
    let unit = |v: &mut Value| -> usize {
        v["systemd"]["units"]
            .as_array()
            .and_then(|a| a.iter().position(|u| u["name"] == CNI_UNIT))
            .expect("the unit")
    };
    let p = broken(&|v| {
        let i = tarball(v);
        v["storage"]["files"][i]["contents"]["verification"]["hash"] =
            json!(format!("sha256-{}", "0".repeat(64)));
    });
    assert!(
        p.iter().any(|p| p.contains("verified by")),
        "another hash passed: {p:?}"
    );
    let p = broken(&|v| {
        let i = tarball(v);
        v["storage"]["files"][i]["contents"]
            .as_object_mut()
            .expect("contents")
            .remove("verification");
    });
    assert!(
        p.iter().any(|p| p.contains("verified by")),
        "no hash passed: {p:?}"
    );
    let p = broken(&|v| {
        let i = unit(v);
        let text = v["systemd"]["units"][i]["contents"]
            .as_str()
            .unwrap_or_default();
        let text = text.replace(
            "Before=containerd.service kubelet.service",
            "Before=containerd.service",
        );
        v["systemd"]["units"][i]["contents"] = json!(text);
    });
    assert!(
        p.iter().any(|p| p.contains("Before=kubelet.service")),
        "a unit unordered with the kubelet passed: {p:?}"
    );
    let p = broken(&|v| {
        let i = unit(v);
        v["systemd"]["units"]
            .as_array_mut()
            .expect("units")
            .remove(i);
    });
    assert!(!p.is_empty(), "a config without the unit passed");
}

#[test]
fn ignition_validate_accepts_the_cni_plugins_download() {
    let tmp = tempfile::tempdir().expect("tmp");
    let ex = all().into_iter().next().expect("an example");
    let pool = &ex.cluster.node_pools[0].name;
    let bytes = file(&ex, &format!("userdata/worker-{pool}.json")).to_vec();
    let validate = |name: &str, bytes: &[u8]| {
        let f = tmp.path().join(name);
        std::fs::write(&f, bytes).expect("write");
        let out = run(Command::new(tool("ignition-validate")).arg(&f));
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (ok, text) = validate("worker.json", &bytes);
    assert!(ok, "ignition-validate: {text}");

    // The same entry with a hash function Ignition does not know fails.
    let mut v: Value = serde_json::from_slice(&bytes).expect("JSON");
    for f in v["storage"]["files"].as_array_mut().into_iter().flatten() {
        if f["contents"]["source"] == CNI_URL {
            f["contents"]["verification"]["hash"] = json!("md5-0123456789abcdef0123456789abcdef");
        }
    }
    let (ok, text) = validate("broken.json", &serde_json::to_vec(&v).expect("ser"));
    assert!(
        !ok,
        "ignition-validate accepted an md5 verification: {text}"
    );
}

// ---------------------------------------------------------------------------------------------
// Security groups: VXLAN between the Kubernetes nodes only

/// One ingress rule of any stack.
#[derive(Debug)]
struct Ingress {
    /// `stack/resource`.
    at: String,
    /// The group it opens (logical ID of a node group's security group, or of another one).
    group: String,
    protocol: String,
    from: Option<i64>,
    to: Option<i64>,
    /// The source security group, when the source is one.
    source: Option<String>,
    /// Whether the source is an address range (CidrIp, CidrIpv6, SourcePrefixListId).
    cidr: bool,
}

impl Ingress {
    fn allows_vxlan(&self) -> bool {
        match self.protocol.as_str() {
            "-1" => true,
            "udp" | "17" => {
                self.from.is_some_and(|f| f <= VXLAN_PORT)
                    && self.to.is_some_and(|t| t >= VXLAN_PORT)
            }
            _ => false,
        }
    }
}

/// A security group reference as a logical ID: `{"Ref": ID}` in the network stack, or the
/// import of its export (`<cluster>-ID`) elsewhere.
fn sg_id(cluster: &str, v: &Value) -> Option<String> {
    if let Some(r) = v["Ref"].as_str() {
        return Some(r.to_owned());
    }
    v["Fn::ImportValue"]
        .as_str()
        .and_then(|e| e.strip_prefix(&format!("{cluster}-")))
        .map(str::to_owned)
}

fn ingress_rules(cluster: &str, stacks: &BTreeMap<String, Value>) -> Vec<Ingress> {
    let mut out = Vec::new();
    let rule = |at: String, group: String, p: &Value| Ingress {
        at,
        group,
        protocol: match &p["IpProtocol"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        },
        from: p["FromPort"].as_i64(),
        to: p["ToPort"].as_i64(),
        source: sg_id(cluster, &p["SourceSecurityGroupId"]),
        cidr: ["CidrIp", "CidrIpv6", "SourcePrefixListId"]
            .iter()
            .any(|k| !p[*k].is_null()),
    };
    for (stack, v) in stacks {
        for (id, r) in v["Resources"].as_object().into_iter().flatten() {
            let p = &r["Properties"];
            match r["Type"].as_str() {
                Some("AWS::EC2::SecurityGroupIngress") => out.push(rule(
                    format!("{stack}/{id}"),
                    sg_id(cluster, &p["GroupId"]).unwrap_or_else(|| p["GroupId"].to_string()),
                    p,
                )),
                Some("AWS::EC2::SecurityGroup") => {
                    for (i, inline) in p["SecurityGroupIngress"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .enumerate()
                    {
                        out.push(rule(format!("{stack}/{id}[{i}]"), id.clone(), inline));
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// What is wrong with VXLAN's reach in a cluster's stacks.
fn vxlan_problems(cluster: &str, stacks: &BTreeMap<String, Value>) -> Vec<String> {
    let rules = ingress_rules(cluster, stacks);
    let mut out = Vec::new();
    for dst in NODE_SGS {
        for src in NODE_SGS {
            let explicit = rules.iter().any(|r| {
                r.group == dst
                    && r.source.as_deref() == Some(src)
                    && matches!(r.protocol.as_str(), "udp" | "17")
                    && r.allows_vxlan()
            });
            if !explicit {
                out.push(format!("no UDP {VXLAN_PORT} rule into {dst} from {src}"));
            }
        }
    }
    for r in rules.iter().filter(|r| r.allows_vxlan()) {
        if r.cidr {
            out.push(format!("{}: UDP {VXLAN_PORT} from an address range", r.at));
        }
        if !NODE_SGS.contains(&r.group.as_str()) {
            out.push(format!(
                "{}: UDP {VXLAN_PORT} into {}, not a Kubernetes node",
                r.at, r.group
            ));
        }
        if !r.source.as_deref().is_some_and(|s| NODE_SGS.contains(&s)) && !r.cidr {
            out.push(format!(
                "{}: UDP {VXLAN_PORT} from {:?}, not a Kubernetes node",
                r.at, r.source
            ));
        }
    }
    out
}

#[test]
fn vxlan_is_open_between_every_two_kubernetes_node_groups_and_from_nothing_else() {
    let examples = all();
    for ex in &examples {
        let stacks = stacks_of(&ex.rendered);
        let problems = vxlan_problems(&ex.cluster.name.to_string(), &stacks);
        assert!(problems.is_empty(), "{}: {problems:#?}", ex.name);
    }

    let ex = &examples[0];
    let name = ex.cluster.name.to_string();
    let stacks = stacks_of(&ex.rendered);
    let with = |f: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut s = stacks.clone();
        let resources = s
            .get_mut("network")
            .and_then(|n| n["Resources"].as_object_mut())
            .expect("network resources");
        f(resources);
        vxlan_problems(&name, &s)
    };
    // One direction missing.
    let p = with(&|r| {
        let vxlan: Vec<String> = r
            .iter()
            .filter(|(_, v)| {
                v["Properties"]["FromPort"] == VXLAN_PORT
                    && v["Properties"]["GroupId"]["Ref"] == "WorkerSecurityGroup"
                    && v["Properties"]["SourceSecurityGroupId"]["Ref"] == "ControllerSecurityGroup"
            })
            .map(|(k, _)| k.clone())
            .collect();
        assert!(
            !vxlan.is_empty(),
            "no controller-to-worker VXLAN rule to remove"
        );
        for k in vxlan {
            r.remove(&k);
        }
    });
    assert!(
        p.iter()
            .any(|p| p.contains("into WorkerSecurityGroup from ControllerSecurityGroup")),
        "a missing direction passed: {p:?}"
    );
    // VXLAN from the internet, and from the etcd members.
    let p = with(&|r| {
        r.insert(
            "OpenVxlan".into(),
            json!({"Type": "AWS::EC2::SecurityGroupIngress", "Properties": {"GroupId": {"Ref": "WorkerSecurityGroup"}, "IpProtocol": "udp", "FromPort": 8000, "ToPort": 9000, "CidrIp": "0.0.0.0/0"}}),
        );
    });
    assert!(
        p.iter()
            .any(|p| p.contains("network/OpenVxlan: UDP 8472 from an address range")),
        "VXLAN from 0.0.0.0/0 passed: {p:?}"
    );
    let p = with(&|r| {
        r.insert(
            "EtcdVxlan".into(),
            json!({"Type": "AWS::EC2::SecurityGroupIngress", "Properties": {"GroupId": {"Ref": "EtcdSecurityGroup"}, "IpProtocol": "-1", "SourceSecurityGroupId": {"Ref": "WorkerSecurityGroup"}}}),
        );
    });
    assert!(
        p.iter()
            .any(|p| p.contains("network/EtcdVxlan: UDP 8472 into EtcdSecurityGroup")),
        "VXLAN into etcd passed: {p:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Subnet role tags

/// What is wrong with the tags of the subnets the network stack creates.
fn subnet_problems(cluster: &Cluster, network: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let cluster_tag = format!("kubernetes.io/cluster/{}", cluster.name);
    for s in &cluster.subnets {
        let r = &network["Resources"][&s.logical_id];
        if s.existing_id.is_some() {
            // An existing subnet is no resource of the stack: nothing can tag it.
            if !r.is_null() {
                out.push(format!(
                    "{}: the existing subnet {} is a resource",
                    s.name, s.logical_id
                ));
            }
            continue;
        }
        if r["Type"] != "AWS::EC2::Subnet" {
            out.push(format!("{}: no subnet {}", s.name, s.logical_id));
            continue;
        }
        let tags: BTreeMap<&str, &str> = r["Properties"]["Tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| Some((t["Key"].as_str()?, t["Value"].as_str()?)))
            .collect();
        if tags.get(cluster_tag.as_str()) != Some(&"owned") {
            out.push(format!(
                "{}: {cluster_tag} is {:?}",
                s.name,
                tags.get(cluster_tag.as_str())
            ));
        }
        let (want, not) = if s.private {
            ("kubernetes.io/role/internal-elb", "kubernetes.io/role/elb")
        } else {
            ("kubernetes.io/role/elb", "kubernetes.io/role/internal-elb")
        };
        let kind = if s.private { "private" } else { "public" };
        if tags.get(want) != Some(&"1") {
            out.push(format!("{}: a {kind} subnet without {want}: \"1\"", s.name));
        }
        if tags.contains_key(not) {
            out.push(format!("{}: a {kind} subnet tagged {not}", s.name));
        }
    }
    out
}

#[test]
fn created_subnets_carry_the_load_balancer_role_tags() {
    let examples = all();
    let (mut public, mut private) = (0, 0);
    for ex in &examples {
        let network: Value =
            serde_json::from_slice(file(ex, "stack-templates/network.json")).expect("JSON");
        let problems = subnet_problems(&ex.cluster, &network);
        assert!(problems.is_empty(), "{}: {problems:#?}", ex.name);
        for s in ex
            .cluster
            .subnets
            .iter()
            .filter(|s| s.existing_id.is_none())
        {
            if s.private {
                private += 1;
            } else {
                public += 1;
            }
        }
    }
    assert!(
        public > 0 && private > 0,
        "created subnets: {public} public, {private} private"
    );

    // Negative control: each created subnet's role tag swapped for the other kind's.
    let mut swapped = 0;
    for ex in &examples {
        let network: Value =
            serde_json::from_slice(file(ex, "stack-templates/network.json")).expect("JSON");
        for s in ex
            .cluster
            .subnets
            .iter()
            .filter(|s| s.existing_id.is_none())
        {
            let mut v = network.clone();
            for t in v["Resources"][&s.logical_id]["Properties"]["Tags"]
                .as_array_mut()
                .into_iter()
                .flatten()
            {
                let k = t["Key"].as_str().unwrap_or_default();
                let other = match k {
                    "kubernetes.io/role/elb" => "kubernetes.io/role/internal-elb",
                    "kubernetes.io/role/internal-elb" => "kubernetes.io/role/elb",
                    _ => continue,
                };
                t["Key"] = json!(other);
            }
            let p = subnet_problems(&ex.cluster, &v);
            assert!(
                p.iter().any(|p| p.starts_with(&format!("{}: ", s.name))),
                "{}: swapped role tags on {} passed",
                ex.name,
                s.name
            );
            swapped += 1;
        }
    }
    assert!(swapped > 0);
}
