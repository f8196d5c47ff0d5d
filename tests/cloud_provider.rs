//! The external AWS cloud provider, end to end in the rendered output: every kubelet and the
//! kube-controller-manager run with `--cloud-provider=external` (the kube-apiserver has no such
//! flag since 1.33), kubelets register under the instance's private DNS name (the name the AWS
//! cloud-controller-manager looks instances up by), the kube-controller-manager hands every Node
//! a podCIDR for flannel, the cloud-controller-manager add-on runs the pinned release on the
//! controllers and tolerates the taint it removes, and its IAM rights are exactly upstream's,
//! on its own role (IAM roles for service accounts) and on no node role. Negative controls
//! check that each check can fail.

use std::collections::BTreeSet;
use std::process::Command;

use kubeline_core::addons::{AddonName, pinned_version};
use kubeline_core::cluster::Cluster;
use kubeline_core::layout::NodeGroup;
use kubeline_core::render::{self, Rendered, Templates};
use kubeline_tests::iam::{Decision, Pseudo, Request, evaluate};
use kubeline_tests::{
    IgnUnit, UnitFile, decode_ignition, examples_and_demo, generated_credentials, inline_file,
    make_executable, node_groups, outcome, render_example, repo_root, roles, run,
};
use serde_json::Value;

/// The control-plane policy of cloud-provider-aws, `docs/prerequisites.md` at tags v1.33.4
/// (0b0457010967) and v1.34.3 (933230259c8e), identical in both (upstream lists
/// `elasticloadbalancing:AddTags` twice; once here). The master branch (63ec440c) adds
/// `elasticloadbalancing:SetSecurityGroups`, which no pinned release needs.
///
/// Less than upstream, on purpose: the volume actions (`ec2:CreateVolume`, `ModifyVolume`,
/// `AttachVolume`, `DetachVolume`, `DeleteVolume`, `DescribeVolumes`) are left out. They served
/// the in-tree EBS volume plugin, removed from Kubernetes; cloud-provider-aws v1.34.3 makes no
/// such call outside its tests, and on `Resource: *` they would let a controller detach or
/// delete the etcd members' data volumes. EBS volumes belong to the EBS CSI driver.
const CCM_VOLUME_ACTIONS_LEFT_OUT: &[&str] = &[
    "ec2:CreateVolume",
    "ec2:ModifyVolume",
    "ec2:AttachVolume",
    "ec2:DetachVolume",
    "ec2:DeleteVolume",
    "ec2:DescribeVolumes",
];
const CCM_CONTROL_PLANE_ACTIONS: &[&str] = &[
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeLaunchConfigurations",
    "autoscaling:DescribeTags",
    "ec2:DescribeInstances",
    "ec2:DescribeRegions",
    "ec2:DescribeRouteTables",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeAvailabilityZones",
    "ec2:CreateSecurityGroup",
    "ec2:CreateTags",
    "ec2:ModifyInstanceAttribute",
    "ec2:AuthorizeSecurityGroupIngress",
    "ec2:CreateRoute",
    "ec2:DeleteRoute",
    "ec2:DeleteSecurityGroup",
    "ec2:RevokeSecurityGroupIngress",
    "ec2:DescribeVpcs",
    "ec2:DescribeInstanceTopology",
    "elasticloadbalancing:AddTags",
    "elasticloadbalancing:AttachLoadBalancerToSubnets",
    "elasticloadbalancing:ApplySecurityGroupsToLoadBalancer",
    "elasticloadbalancing:CreateLoadBalancer",
    "elasticloadbalancing:CreateLoadBalancerPolicy",
    "elasticloadbalancing:CreateLoadBalancerListeners",
    "elasticloadbalancing:ConfigureHealthCheck",
    "elasticloadbalancing:DeleteLoadBalancer",
    "elasticloadbalancing:DeleteLoadBalancerListeners",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeLoadBalancerAttributes",
    "elasticloadbalancing:DetachLoadBalancerFromSubnets",
    "elasticloadbalancing:DeregisterInstancesFromLoadBalancer",
    "elasticloadbalancing:ModifyLoadBalancerAttributes",
    "elasticloadbalancing:RegisterInstancesWithLoadBalancer",
    "elasticloadbalancing:SetLoadBalancerPoliciesForBackendServer",
    "elasticloadbalancing:CreateListener",
    "elasticloadbalancing:CreateTargetGroup",
    "elasticloadbalancing:DeleteListener",
    "elasticloadbalancing:DeleteTargetGroup",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeLoadBalancerPolicies",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetHealth",
    "elasticloadbalancing:ModifyListener",
    "elasticloadbalancing:ModifyTargetGroup",
    "elasticloadbalancing:RegisterTargets",
    "elasticloadbalancing:DeregisterTargets",
    "elasticloadbalancing:SetLoadBalancerPoliciesOfListener",
    "iam:CreateServiceLinkedRole",
    "kms:DescribeKey",
];

const SID: &str = "CloudControllerManager";
const CCM_FILE: &str = "addons/cloud-controller-manager.yaml";
const UNINITIALIZED: &str = "node.cloudprovider.kubernetes.io/uninitialized";
/// The override every kubelet registers with: the private DNS name from IMDS meta-data/hostname,
/// as coreos-metadata.service (afterburn) writes it to /run/metadata/flatcar.
const HOSTNAME_OVERRIDE: &str = "--hostname-override=${COREOS_EC2_HOSTNAME}";
const KCM: &str = "/etc/kubernetes/manifests/kube-controller-manager.yaml";
const APISERVER: &str = "/etc/kubernetes/manifests/kube-apiserver.yaml";

fn is_mutating(action: &str) -> bool {
    let name = action.split_once(':').map_or(action, |(_, n)| n);
    !name.starts_with("Describe")
}

// ---------------------------------------------------------------------------------------------
// The kubelet unit.

/// What is wrong with a kubelet unit for the external cloud provider; empty when nothing is.
fn kubelet_problems(unit: &str) -> Vec<String> {
    let s = UnitFile::parse(unit);
    let args = s.names("Service", "ExecStart");
    let mut out = Vec::new();
    if args.first() != Some(&"/opt/bin/kubelet") {
        out.push(format!("ExecStart is not the kubelet: {args:?}"));
    }
    let cloud: Vec<&&str> = args
        .iter()
        .filter(|a| a.starts_with("--cloud-provider"))
        .collect();
    if cloud != [&"--cloud-provider=external"] {
        out.push(format!("cloud provider flags {cloud:?}"));
    }
    let names: Vec<&&str> = args
        .iter()
        .filter(|a| a.starts_with("--hostname-override"))
        .collect();
    if names != [&HOSTNAME_OVERRIDE] {
        out.push(format!("hostname override {names:?}"));
    }
    if s.names("Service", "EnvironmentFile") != ["/run/metadata/flatcar"] {
        out.push("no EnvironmentFile=/run/metadata/flatcar (which must exist)".into());
    }
    for key in ["Requires", "After"] {
        if !s.names("Unit", key).contains(&"coreos-metadata.service") {
            out.push(format!("no {key}=coreos-metadata.service"));
        }
    }
    // The node name is the kubelet's alone: no config-file override competes with the flag.
    if args.iter().any(|a| a.starts_with("--provider-id")) {
        out.push("a --provider-id flag".into());
    }
    out
}

fn kubelet_unit(units: &[IgnUnit]) -> Option<&str> {
    units
        .iter()
        .find(|u| u.name == "kubelet.service")
        .and_then(|u| u.contents.as_deref())
}

#[test]
fn every_kubelet_is_external_and_registers_under_the_private_dns_name() {
    let mut checked = 0;
    for (example, path) in examples_and_demo() {
        let (c, rendered) = render_example(&path).expect("render");
        for group in node_groups(&c) {
            let name = format!("userdata/{}.json", group.file_stem());
            let (_, units, _) = decode_ignition(&rendered.files[&name]);
            let unit = kubelet_unit(&units);
            if group == NodeGroup::Etcd {
                assert!(unit.is_none(), "{example}/{name}: etcd runs no kubelet");
                continue;
            }
            let unit = unit.unwrap_or_else(|| panic!("{example}/{name}: no kubelet.service"));
            let found = kubelet_problems(unit);
            assert!(found.is_empty(), "{example}/{name}:\n{}", found.join("\n"));
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} kubelets checked");
}

#[test]
fn the_kubelet_check_finds_a_kubelet_of_the_in_tree_era() {
    let old = "[Unit]\nRequires=containerd.service\nAfter=containerd.service\n[Service]\n\
               ExecStart=/opt/bin/kubelet \\\n  --config=/etc/kubernetes/kubelet-config.yaml \\\n  \
               --cloud-provider=aws\n";
    let found = kubelet_problems(old).join("\n");
    for wanted in [
        "cloud provider flags [\"--cloud-provider=aws\"]",
        "hostname override []",
        "no EnvironmentFile",
        "no Requires=coreos-metadata.service",
        "no After=coreos-metadata.service",
    ] {
        assert!(found.contains(wanted), "{wanted:?} not in:\n{found}");
    }
    // A second, conflicting flag is caught too, and a good unit passes.
    let good = "[Unit]\nRequires=coreos-metadata.service\nAfter=coreos-metadata.service\n\
                [Service]\nEnvironmentFile=/run/metadata/flatcar\nExecStart=/opt/bin/kubelet \\\n  \
                --cloud-provider=external \\\n  --hostname-override=${COREOS_EC2_HOSTNAME}\n";
    assert!(
        kubelet_problems(good).is_empty(),
        "{:?}",
        kubelet_problems(good)
    );
    let twice = good.replace(
        "--cloud-provider=external",
        "--cloud-provider=external --cloud-provider=aws",
    );
    assert!(
        kubelet_problems(&twice)
            .join("\n")
            .contains("cloud provider flags")
    );
}

// ---------------------------------------------------------------------------------------------
// The control plane's static pods.

/// The command of the one container of a static pod manifest.
fn command(manifest: &str) -> Vec<String> {
    let v: Value = serde_saphyr::from_str(manifest).expect("static pod is YAML");
    v["spec"]["containers"][0]["command"]
        .as_array()
        .expect("a command")
        .iter()
        .map(|a| a.as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The value of `--flag=` in `cmd`, if given once; panics if given twice.
fn flag<'a>(cmd: &'a [String], name: &str) -> Option<&'a str> {
    let prefix = format!("{name}=");
    let values: Vec<&str> = cmd.iter().filter_map(|a| a.strip_prefix(&prefix)).collect();
    assert!(values.len() <= 1, "{name} given {} times", values.len());
    values.first().copied()
}

/// The most Nodes a cluster can have: every group at its maximum size.
fn max_nodes(c: &Cluster) -> u64 {
    u64::from(c.controller.size.max)
        + c.node_pools
            .iter()
            .map(|p| u64::from(p.size.max))
            .sum::<u64>()
}

#[test]
fn the_control_plane_runs_no_in_tree_cloud_provider_and_allocates_pod_cidrs() {
    let mut checked = 0;
    for (example, path) in examples_and_demo() {
        let (c, rendered) = render_example(&path).expect("render");
        let (files, _, _) = decode_ignition(&rendered.files["userdata/controller.json"]);
        let kcm = command(inline_file(&files, KCM).expect("kube-controller-manager manifest"));
        assert_eq!(
            flag(&kcm, "--cloud-provider"),
            Some("external"),
            "{example}"
        );
        assert_eq!(
            flag(&kcm, "--allocate-node-cidrs"),
            Some("true"),
            "{example}"
        );
        // flannel's --kube-subnet-mgr takes each Node's podCIDR out of this block.
        let pod_cidr = c.pod_cidr.to_string();
        assert_eq!(
            flag(&kcm, "--cluster-cidr"),
            Some(pod_cidr.as_str()),
            "{example}"
        );
        let mask: u8 = flag(&kcm, "--node-cidr-mask-size")
            .unwrap_or("24")
            .parse()
            .expect("a mask size");
        // Each Node's block fits in podCIDR, and there are blocks for every Node the groups can
        // grow to (kube-controller-manager refuses a mask shorter than podCIDR's prefix).
        let prefix = c.pod_cidr.net().prefix_len();
        assert!(
            prefix < mask,
            "{example}: podCIDR /{prefix} and Node blocks /{mask}"
        );
        let blocks = 1u64 << (mask - prefix);
        assert!(
            blocks >= max_nodes(&c),
            "{example}: {blocks} Node blocks of /{mask} in {pod_cidr} for up to {} Nodes",
            max_nodes(&c)
        );
        // kube-apiserver: no --cloud-provider at all. It has used no cloud provider since 1.31
        // and refuses the flag since 1.33 (kubernetes/kubernetes#130162: "unknown flag").
        let apiserver = command(inline_file(&files, APISERVER).expect("kube-apiserver manifest"));
        assert!(
            !apiserver
                .iter()
                .any(|a| a.starts_with("--cloud-provider") || a.starts_with("--cloud-config")),
            "{example}: {apiserver:?}"
        );
        checked += 1;
    }
    assert!(checked >= 5);
    // Negative control: the flag lookup sees a missing and a doubled flag.
    let cmd: Vec<String> = ["kube-controller-manager", "--cluster-cidr=10.2.0.0/16"]
        .map(String::from)
        .to_vec();
    assert_eq!(flag(&cmd, "--cloud-provider"), None);
    let doubled = [cmd.clone(), vec!["--cluster-cidr=10.9.0.0/16".into()]].concat();
    assert!(
        std::panic::catch_unwind(|| flag(&doubled, "--cluster-cidr").map(str::to_owned)).is_err()
    );
}

// ---------------------------------------------------------------------------------------------
// The add-on.

/// The objects of a multi-document YAML text.
fn objects(text: &str) -> Vec<Value> {
    text.split("\n---\n")
        .filter_map(|d| serde_saphyr::from_str::<Value>(d).ok())
        .filter(|v| !v.is_null())
        .collect()
}

fn object<'a>(objs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objs.iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// Whether `tolerations` let a pod onto a Node with taint `key` of `effect`.
fn tolerates(tolerations: &Value, key: &str, effect: &str) -> bool {
    tolerations.as_array().into_iter().flatten().any(|t| {
        let key_ok = match t["key"].as_str() {
            None | Some("") => t["operator"] == "Exists",
            Some(k) => k == key,
        };
        let effect_ok = match t["effect"].as_str() {
            None | Some("") => true,
            Some(e) => e == effect,
        };
        key_ok && effect_ok
    })
}

/// The label `key=value` pairs of a kubelet's `--node-labels`.
fn node_labels(unit: &str) -> Vec<(String, String)> {
    let s = UnitFile::parse(unit);
    s.names("Service", "ExecStart")
        .iter()
        .filter_map(|a| a.strip_prefix("--node-labels="))
        .flat_map(|l| l.split(','))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn the_cloud_controller_manager_runs_the_pinned_release_on_the_controllers() {
    let mut checked = 0;
    for (example, path) in examples_and_demo() {
        let (c, rendered) = render_example(&path).expect("render");
        let addon = c
            .addons
            .get(AddonName::CloudControllerManager)
            .unwrap_or_else(|| panic!("{example}: the cloud-controller-manager is disabled"));
        let pinned = pinned_version(AddonName::CloudControllerManager, &c.kubernetes_version)
            .unwrap_or_else(|| panic!("{example}: no pinned release"));
        assert_eq!(
            addon.version, pinned,
            "{example}: a release of another minor"
        );
        let text = String::from_utf8(rendered.files[CCM_FILE].clone()).expect("utf8");
        let objs = objects(&text);
        let ds = object(&objs, "DaemonSet", "cloud-controller-manager");
        let pod = &ds["spec"]["template"]["spec"];
        let container = &pod["containers"][0];
        let image = container["image"].as_str().expect("image");
        assert!(
            image.ends_with(&format!("/provider-aws/cloud-controller-manager:{pinned}")),
            "{example}: {image}"
        );
        // It must run before any Node is initialised, its own included, and on the controllers,
        // which carry the control-plane taint.
        assert!(
            tolerates(&pod["tolerations"], UNINITIALIZED, "NoSchedule"),
            "{example}"
        );
        assert!(
            tolerates(
                &pod["tolerations"],
                "node-role.kubernetes.io/control-plane",
                "NoSchedule"
            ),
            "{example}"
        );
        // No pod network yet: the host's network (where IMDSv2 answers at hop limit 1, for the
        // instance's region and VPC); no cluster DNS (CoreDNS waits for it).
        assert_eq!(pod["hostNetwork"], true, "{example}");
        assert_eq!(pod["dnsPolicy"], "Default", "{example}");
        // It selects a label no kubelet can set on its own Node (NodeRestriction refuses
        // `node-restriction.kubernetes.io/` labels from kubelets), which each controller's
        // addons-apply sets on its own Node with the administrator identity: a worker cannot
        // attract it by relabelling itself.
        let selector = pod["nodeSelector"].as_object().expect("a nodeSelector");
        let (files, units, _) = decode_ignition(&rendered.files["userdata/controller.json"]);
        let script = inline_file(&files, "/opt/kubeline/bin/addons-apply").expect("addons-apply");
        let mut admin_set = 0;
        for (k, v) in selector {
            if k == "kubernetes.io/os" {
                continue;
            }
            assert!(
                k.starts_with("node-restriction.kubernetes.io/"),
                "{example}: {k} is a label kubelets may set themselves"
            );
            assert!(
                script.contains(&format!("'{k}={}'", v.as_str().unwrap_or_default())),
                "{example}: addons-apply does not set {k}={v}"
            );
            admin_set += 1;
        }
        assert_eq!(admin_set, 1, "{example}: {selector:?}");
        let mut kubelets = vec![node_labels(
            kubelet_unit(&units).expect("controller kubelet"),
        )];
        for pool in &c.node_pools {
            let (_, units, _) =
                decode_ignition(&rendered.files[&format!("userdata/worker-{}.json", pool.name)]);
            kubelets.push(node_labels(kubelet_unit(&units).expect("worker kubelet")));
        }
        for labels in &kubelets {
            assert!(
                !labels
                    .iter()
                    .any(|(k, _)| k.starts_with("node-restriction.kubernetes.io/")),
                "{example}: a kubelet registers with {labels:?}"
            );
        }
        let args: Vec<&str> = container["args"]
            .as_array()
            .expect("args")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for wanted in [
            "--cloud-provider=aws".to_owned(),
            format!("--cluster-name={}", c.name),
            "--configure-cloud-routes=false".to_owned(),
            // Its controllers run as the manager itself (superset role): no right to mint
            // other accounts' tokens.
            "--use-service-account-credentials=false".to_owned(),
            "--leader-elect=true".to_owned(),
        ] {
            assert!(
                args.contains(&wanted.as_str()),
                "{example}: no {wanted} in {args:?}"
            );
        }
        let role = object(&objs, "ClusterRole", "system:cloud-controller-manager");
        for rule in role["rules"].as_array().expect("rules") {
            let resources = rule["resources"].to_string();
            assert!(
                !resources.contains("serviceaccounts"),
                "{example}: the manager may touch service accounts: {rule}"
            );
        }
        // Its cluster name is the one the instances are tagged with
        // (kubernetes.io/cluster/<name>, which the provider reads from its own instance).
        let cp: Value =
            serde_json::from_slice(&rendered.files["stack-templates/control-plane.json"])
                .expect("json");
        let tags = cp["Resources"]["LaunchTemplate"]["Properties"]["LaunchTemplateData"]
            ["TagSpecifications"]
            .to_string();
        assert!(
            tags.contains(&format!("\"kubernetes.io/cluster/{}\"", c.name)),
            "{example}: {tags}"
        );
        // Bound to its rights, and applied from the controllers.
        let binding = object(
            &objs,
            "ClusterRoleBinding",
            "system:cloud-controller-manager",
        );
        assert_eq!(
            binding["roleRef"]["name"],
            "system:cloud-controller-manager"
        );
        assert_eq!(
            binding["subjects"][0]["name"], pod["serviceAccountName"],
            "{example}"
        );
        object(&objs, "ClusterRole", "system:cloud-controller-manager");
        object(&objs, "ServiceAccount", "cloud-controller-manager");
        let reader = object(
            &objs,
            "RoleBinding",
            "cloud-controller-manager:apiserver-authentication-reader",
        );
        assert_eq!(
            reader["roleRef"]["name"],
            "extension-apiserver-authentication-reader"
        );
        let (files, _, _) = decode_ignition(&rendered.files["userdata/controller.json"]);
        assert!(
            files
                .iter()
                .any(|f| f.path.ends_with("-cloud-controller-manager.yaml")
                    && f.text.as_deref().map(str::trim_end) == Some(text.trim_end())),
            "{example}: the controllers do not carry the add-on"
        );
        checked += 1;
    }
    assert!(checked >= 5);
    // Negative controls of the toleration check.
    let t: Value = serde_json::json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]);
    assert!(!tolerates(&t, UNINITIALIZED, "NoSchedule"));
    assert!(tolerates(
        &serde_json::json!([{"operator": "Exists"}]),
        UNINITIALIZED,
        "NoSchedule"
    ));
    assert!(!tolerates(
        &serde_json::json!([{"key": UNINITIALIZED, "effect": "NoExecute"}]),
        UNINITIALIZED,
        "NoSchedule"
    ));
}

// ---------------------------------------------------------------------------------------------
// IAM.

fn statements(docs: &[Value]) -> Vec<&Value> {
    docs.iter()
        .flat_map(|d| d["Statement"].as_array().into_iter().flatten())
        .collect()
}

fn as_strings(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a
            .iter()
            .map(|x| x.as_str().unwrap_or_default().to_owned())
            .collect(),
        Value::String(s) => vec![s.clone()],
        _ => vec![],
    }
}

/// A resource of the action's service that no kubeline statement names: only a `*` statement
/// (or a condition-free wildcard over the service) could allow a request on it.
fn unrelated_resource(action: &str) -> String {
    let acct = "eu-west-1:123456789012";
    match action.split_once(':').map_or("", |(s, _)| s) {
        "ec2" => format!("arn:aws:ec2:{acct}:security-group/sg-0123456789abcdef0"),
        "elasticloadbalancing" => {
            format!("arn:aws:elasticloadbalancing:{acct}:loadbalancer/app/x/0123456789abcdef")
        }
        "autoscaling" => format!(
            "arn:aws:autoscaling:{acct}:autoScalingGroup:0:autoScalingGroupName/someone-else"
        ),
        "iam" => "arn:aws:iam::123456789012:role/aws-service-role/elasticloadbalancing.amazonaws.com/AWSServiceRoleForElasticLoadBalancing".into(),
        "kms" => format!("arn:aws:kms:{acct}:key/00000000-1111-2222-3333-444444444444"),
        other => panic!("no resource for service {other}"),
    }
}

/// Checks the CCM rights of one rendered cluster; returns what is wrong. `ccm` says whether
/// kubeline's cloud-controller-manager is enabled (its rights follow the add-on).
fn iam_problems(c: &Cluster, rendered: &Rendered, ccm: bool) -> Vec<String> {
    let mut out = Vec::new();
    let pseudo = Pseudo::default();
    let table: BTreeSet<&str> = CCM_CONTROL_PLANE_ACTIONS.iter().copied().collect();
    let all = roles(rendered);
    // The add-on's own role (IAM roles for service accounts): exactly upstream's rights.
    let ccm_role =
        kubeline_core::oidc::role_name(c.name.as_str(), "kube-system", "cloud-controller-manager");
    match (all.iter().find(|(n, _)| *n == ccm_role), ccm) {
        (None, true) => out.push(format!("no role {ccm_role}")),
        (Some(_), false) => out.push(format!("role {ccm_role} without the add-on")),
        (None, false) => {}
        (Some((_, docs)), true) => {
            let kind = "the cloud-controller-manager's role";
            let refs: Vec<&Value> = docs.iter().collect();
            let sts = statements(docs);
            let ccm_sts: Vec<&&Value> = sts.iter().filter(|s| s["Sid"] == SID).collect();
            if sts.len() != ccm_sts.len() {
                out.push(format!("{kind} has statements besides {SID}"));
            }
            match ccm_sts.as_slice() {
                [st] => {
                    let actions = as_strings(&st["Action"]);
                    let set: BTreeSet<&str> = actions.iter().map(String::as_str).collect();
                    if set.len() != actions.len() {
                        out.push(format!("{kind}: {SID} lists an action twice"));
                    }
                    for missing in table.difference(&set) {
                        out.push(format!("{kind}: {SID} lacks {missing}"));
                    }
                    for extra in set.difference(&table) {
                        out.push(format!(
                            "{kind}: {SID} has {extra}, which upstream does not list"
                        ));
                    }
                    if st["Effect"] != "Allow" || st["Resource"] != "*" {
                        out.push(format!("{kind}: {SID} is not an Allow on \"*\""));
                    }
                    if st.get("Condition").is_some() || st.get("NotAction").is_some() {
                        out.push(format!("{kind}: {SID} has a Condition or NotAction"));
                    }
                }
                other => out.push(format!("{kind}: {} {SID} statements", other.len())),
            }
            // What the policy evaluates to: every action allowed on anything, nothing beyond.
            for a in CCM_CONTROL_PLANE_ACTIONS {
                let req = Request::new(a, &unrelated_resource(a));
                if evaluate(&pseudo, &refs, &req) != Decision::Allow {
                    out.push(format!("{kind}: {a} is not allowed"));
                }
            }
            for a in [
                "ec2:RunInstances",
                "ec2:TerminateInstances",
                "elasticloadbalancing:SetSecurityGroups",
                "iam:PassRole",
            ] {
                if evaluate(&pseudo, &refs, &Request::new(a, &unrelated_resource(a)))
                    == Decision::Allow
                {
                    out.push(format!(
                        "{kind}: {a} is allowed, and the CCM does not need it"
                    ));
                }
            }
        }
    }
    // No node role has any of it, the controllers' included: the CCM's pods assume their own
    // role, and whatever else runs on a controller's host network gets none of its rights.
    for group in node_groups(c) {
        let name = kubeline_core::layout::node_role_name(c, group);
        let Some((_, docs)) = all.iter().find(|(n, _)| *n == name) else {
            out.push(format!("no role {name}"));
            continue;
        };
        let refs: Vec<&Value> = docs.iter().collect();
        let sts = statements(docs);
        let ccm_sts: Vec<&&Value> = sts.iter().filter(|s| s["Sid"] == SID).collect();
        let kind = group.kind();
        if !ccm_sts.is_empty() {
            out.push(format!("{kind} has a {SID} statement"));
        }
        // Workers get nothing of it: with --cloud-provider=external their kubelets make no AWS
        // call (node addresses, zone labels and the providerID come from the
        // cloud-controller-manager; ECR pulls would need the separate credential provider).
        // etcd members keep their own Describe calls (FindMemberResources), so for them only
        // the mutating actions are checked; their attach rights are conditioned on their own
        // member resources and never reach an unrelated one.
        for a in CCM_CONTROL_PLANE_ACTIONS {
            if group == NodeGroup::Etcd && !is_mutating(a) {
                continue;
            }
            let req = Request::new(a, &unrelated_resource(a));
            if evaluate(&pseudo, &refs, &req) == Decision::Allow {
                out.push(format!("{kind} is allowed {a}"));
            }
        }
    }
    out
}

#[test]
fn cloud_controller_manager_rights_are_upstream_s_on_its_own_role_only() {
    let mut checked = 0;
    for (example, path) in examples_and_demo() {
        let (c, rendered) = render_example(&path).expect("render");
        let found = iam_problems(&c, &rendered, true);
        assert!(found.is_empty(), "{example}:\n{}", found.join("\n"));
        checked += 1;
    }
    assert!(checked >= 5);
    assert_eq!(
        CCM_CONTROL_PLANE_ACTIONS.len(),
        CCM_CONTROL_PLANE_ACTIONS
            .iter()
            .collect::<BTreeSet<_>>()
            .len(),
        "the table lists an action twice"
    );
    assert_eq!(CCM_CONTROL_PLANE_ACTIONS.len(), 50);
    for left_out in CCM_VOLUME_ACTIONS_LEFT_OUT {
        assert!(!CCM_CONTROL_PLANE_ACTIONS.contains(left_out), "{left_out}");
    }
}

/// Renders the minimal example with `edit` applied to its cluster.yaml.
fn render_edited(edit: impl Fn(String) -> String) -> (Cluster, Rendered) {
    let path = repo_root().join("examples/minimal/cluster.yaml");
    let text = edit(std::fs::read_to_string(path).expect("read"));
    let loaded = kubeline_core::validate::load(&text);
    let c = loaded
        .cluster
        .unwrap_or_else(|| panic!("invalid:\n{}", loaded.diagnostics.render("cluster.yaml")));
    let r = render::render(&c, &Templates::builtin()).expect("render");
    (c, r)
}

#[test]
fn the_iam_check_finds_a_missing_an_extra_and_a_leaked_right() {
    let (c, rendered) = render_edited(|t| t);
    assert!(iam_problems(&c, &rendered, true).is_empty());
    let cp = "stack-templates/control-plane.json";
    let edit = |f: &dyn Fn(&mut Value)| {
        let mut r = rendered.clone();
        let mut v: Value = serde_json::from_slice(&r.files[cp]).expect("json");
        let id = kubeline_core::oidc::roles(&c)
            .into_iter()
            .find(|r| r.name == "cloud-controller-manager")
            .expect("the CCM's role")
            .logical_id;
        f(&mut v["Resources"][&id]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]);
        r.files
            .insert(cp.into(), serde_json::to_vec(&v).expect("ser"));
        iam_problems(&c, &r, true).join("\n")
    };
    let ccm_actions = |sts: &mut Value| -> Vec<Value> {
        let st = sts
            .as_array_mut()
            .expect("statements")
            .iter_mut()
            .find(|s| s["Sid"] == SID)
            .expect("the CCM statement");
        st["Action"].as_array().expect("actions").clone()
    };
    let set_actions = |sts: &mut Value, actions: Vec<Value>| {
        for s in sts.as_array_mut().expect("statements") {
            if s["Sid"] == SID {
                s["Action"] = Value::Array(actions.clone());
            }
        }
    };
    let missing = edit(&|sts| {
        let mut a = ccm_actions(sts);
        a.retain(|x| x != "ec2:CreateRoute");
        set_actions(sts, a);
    });
    assert!(missing.contains("lacks ec2:CreateRoute"), "{missing}");
    assert!(
        missing.contains("ec2:CreateRoute is not allowed"),
        "{missing}"
    );
    let extra = edit(&|sts| {
        let mut a = ccm_actions(sts);
        a.push("ec2:RunInstances".into());
        set_actions(sts, a);
    });
    assert!(extra.contains("has ec2:RunInstances"), "{extra}");
    assert!(extra.contains("ec2:RunInstances is allowed"), "{extra}");
    // The CCM's rights on a worker role.
    let pool = "stack-templates/node-pool-general.json";
    let mut r = rendered.clone();
    let mut v: Value = serde_json::from_slice(&r.files[pool]).expect("json");
    v["Resources"]["Role"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        .as_array_mut()
        .expect("statements")
        .push(serde_json::json!({"Effect": "Allow", "Action": ["ec2:DescribeInstances", "elasticloadbalancing:*"], "Resource": "*"}));
    r.files
        .insert(pool.into(), serde_json::to_vec(&v).expect("ser"));
    let leaked = iam_problems(&c, &r, true).join("\n");
    for wanted in [
        "pool-general is allowed ec2:DescribeInstances",
        "pool-general is allowed elasticloadbalancing:CreateLoadBalancer",
    ] {
        assert!(leaked.contains(wanted), "{wanted:?} not in:\n{leaked}");
    }
}

// ---------------------------------------------------------------------------------------------
// Disabled.

#[test]
fn without_kubeline_s_cloud_controller_manager_the_nodes_stay_external_and_the_rights_go() {
    // The EBS CSI driver and the node drainer are off too: they share a read-only call
    // (ec2:DescribeInstances; the driver also DescribeAvailabilityZones) with the
    // cloud-controller-manager (tests/node_drain.rs checks the drainer's own rights).
    let (c, rendered) = render_edited(|t| {
        format!(
            "{t}\naddons:\n  cloudControllerManager:\n    enabled: false\n  ebsCsiDriver:\n    enabled: false\n  nodeTerminationHandler:\n    enabled: false\n"
        )
    });
    assert!(c.addons.get(AddonName::CloudControllerManager).is_none());
    assert!(!rendered.files.contains_key(CCM_FILE));
    let (files, units, _) = decode_ignition(&rendered.files["userdata/controller.json"]);
    assert!(
        !files
            .iter()
            .any(|f| f.path.ends_with("-cloud-controller-manager.yaml")),
        "the controllers still carry the add-on"
    );
    // You run your own: the kubelets and kube-controller-manager still expect one.
    let found = kubelet_problems(kubelet_unit(&units).expect("kubelet"));
    assert!(found.is_empty(), "{found:?}");
    let kcm = command(inline_file(&files, KCM).expect("kcm"));
    assert_eq!(flag(&kcm, "--cloud-provider"), Some("external"));
    // And no role holds the rights of kubeline's.
    let found = iam_problems(&c, &rendered, false);
    assert!(found.is_empty(), "{}", found.join("\n"));
    let controller = roles(&rendered)
        .into_iter()
        .find(|(n, _)| *n == kubeline_core::layout::node_role_name(&c, NodeGroup::Controller))
        .expect("controller role");
    assert!(
        !statements(&controller.1).iter().any(|s| s["Sid"] == SID),
        "the controller role keeps {SID}"
    );
}

// ---------------------------------------------------------------------------------------------
// The controllers' kubelet identity.

/// Stands in for `curl` against IMDSv2: a token for the PUT, then the private IPv4 and the
/// private DNS name (meta-data/hostname and local-hostname agree on a default VPC domain).
const IMDS_CURL_SHIM: &str = r#"#!/bin/bash
set -euo pipefail
args="$*"
case "${args}" in
  *"--request PUT"*/latest/api/token) echo -n imds-token ;;
  *"X-aws-ec2-metadata-token: imds-token"*/latest/meta-data/local-ipv4) echo -n 10.0.1.23 ;;
  *"X-aws-ec2-metadata-token: imds-token"*/latest/meta-data/local-hostname) echo -n ip-10-0-1-23.eu-west-1.compute.internal ;;
  *"X-aws-ec2-metadata-token: imds-token"*/latest/meta-data/hostname) echo -n ip-10-0-1-23.eu-west-1.compute.internal ;;
  *) echo "curl: (22) The requested URL returned error: 404" >&2; exit 22 ;;
esac
"#;

/// The private DNS name the shims and the metadata file give, which the kubelet registers as.
const PRIVATE_DNS_NAME: &str = "ip-10-0-1-23.eu-west-1.compute.internal";

/// The controllers' kubelet client certificate must name the Node the kubelet registers as:
/// the Node authorizer and NodeRestriction let system:node:X write only Node X. The kubelet
/// registers as ${COREOS_EC2_HOSTNAME} (the private DNS name); Flatcar's hostname on EC2 is
/// DHCP's short `ip-a-b-c-d`. The script runs in a sandbox: `hostname` answers the short name,
/// IMDSv2 and /run/metadata/flatcar the private DNS name.
#[test]
fn controllers_issue_their_kubelet_client_certificate_for_the_name_the_kubelet_registers_as() {
    let (c, rendered) =
        render_example(&repo_root().join("examples/ha/cluster.yaml")).expect("render");
    let (files, units, _) = decode_ignition(&rendered.files["userdata/controller.json"]);
    assert!(kubelet_problems(kubelet_unit(&units).expect("kubelet")).is_empty());
    let script =
        inline_file(&files, "/opt/kubeline/bin/kubelet-identity").expect("kubelet-identity");
    let tmp = tempfile::tempdir().expect("tmp");
    let d = tmp.path();
    for sub in ["ssl", "pki", "bin", "run", "metadata"] {
        std::fs::create_dir_all(d.join(sub)).expect("mkdir");
    }
    for (name, bytes) in &generated_credentials(&c) {
        std::fs::write(d.join("ssl").join(name), bytes).expect("write");
    }
    let metadata = d.join("metadata/flatcar");
    std::fs::write(
        &metadata,
        format!(
            "COREOS_EC2_HOSTNAME={PRIVATE_DNS_NAME}\nCOREOS_EC2_IPV4_LOCAL=10.0.1.23\n\
             COREOS_EC2_INSTANCE_ID=i-0123456789abcdef0\nCOREOS_EC2_REGION=eu-west-1\n"
        ),
    )
    .expect("write");
    let hostname = d.join("bin/hostname");
    std::fs::write(&hostname, "#!/bin/sh\necho ip-10-0-1-23\n").expect("write");
    make_executable(&hostname);
    let curl = d.join("bin/curl");
    std::fs::write(&curl, IMDS_CURL_SHIM).expect("write");
    make_executable(&curl);
    let sandboxed = script
        .replace("/etc/kubernetes/ssl", &d.join("ssl").display().to_string())
        .replace("/var/lib/kubelet/pki", &d.join("pki").display().to_string())
        .replace("/run/metadata/flatcar", &metadata.display().to_string())
        .replace("-p /run ", &format!("-p '{}' ", d.join("run").display()));
    std::fs::write(d.join("kubelet-identity"), sandboxed).expect("write");
    let (ok, out) = outcome(&run(Command::new("bash")
        .arg(d.join("kubelet-identity"))
        .env("PATH", kubeline_tests::path_with(&d.join("bin")))));
    assert!(ok, "kubelet-identity failed:\n{out}");
    let (ok, subject) = outcome(&run(Command::new("openssl")
        .args(["x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in"])
        .arg(d.join("pki/kubelet-client.pem"))));
    assert!(ok, "{subject}");
    assert!(
        subject.contains(&format!("CN=system:node:{PRIVATE_DNS_NAME},O=system:nodes")),
        "the controllers' kubelet registers as {PRIVATE_DNS_NAME} (${{COREOS_EC2_HOSTNAME}}) but \
         kubelet-identity issued its client certificate as {}: NodeRestriction would refuse its \
         Node. kubelet-identity.sh.j2 must take the node name from the same source (the \
         /run/metadata/flatcar COREOS_EC2_HOSTNAME, or IMDS meta-data/hostname), not `hostname`.\n\
         script output:\n{out}",
        subject.trim()
    );
}
