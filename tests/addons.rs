//! The add-on set, from what is rendered to what the controllers do with it: CoreDNS at
//! `dnsServiceIP` (the kubelets' clusterDNS), kube-proxy on the nodes' endpoint and the pod
//! network, every image pinned and from the registry mirror when one is set, disabled add-ons
//! absent, pinned versions honoured; and the controllers' `addons-apply` script, run for real
//! with a `docker` stand-in for kubectl and the API: it waits for the API server, applies every
//! file in order and prunes exactly the labelled objects the set no longer lists.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use kubeline_core::layout::NodeGroup;
use kubeline_core::render::{self, Rendered, Templates};
use kubeline_core::validate;
use kubeline_tests::{
    decode_ignition, examples_and_demo, make_executable, outcome, render_example, repo_root,
    role_policies, run, tool,
};
use serde_json::Value;

fn load(text: &str) -> (kubeline_core::cluster::Cluster, Rendered) {
    let loaded = validate::load(text);
    let cluster = loaded
        .cluster
        .unwrap_or_else(|| panic!("{}", loaded.diagnostics.render("cluster.yaml")));
    let rendered = render::render(&cluster, &Templates::builtin()).expect("render");
    (cluster, rendered)
}

fn ha_with(extra: &str) -> (kubeline_core::cluster::Cluster, Rendered) {
    let text = std::fs::read_to_string(repo_root().join("examples/ha/cluster.yaml")).expect("ha");
    load(&format!("{text}\n{extra}"))
}

/// The YAML documents of a rendered add-on file.
fn docs(rendered: &Rendered, addon: &str) -> Vec<Value> {
    let text =
        String::from_utf8(rendered.files[&format!("addons/{addon}.yaml")].clone()).expect("utf-8");
    text.split("\n---\n")
        .filter(|d| d.lines().any(|l| l.starts_with("kind:")))
        .map(|d| serde_saphyr::from_str(d).expect("yaml"))
        .collect()
}

fn object<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn images(rendered: &Rendered) -> Vec<String> {
    rendered
        .files
        .iter()
        .filter(|(n, _)| n.starts_with("addons/"))
        .flat_map(|(_, b)| {
            String::from_utf8_lossy(b)
                .lines()
                .filter_map(|l| l.trim().strip_prefix("image: ").map(str::to_owned))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn coredns_serves_the_kubelets_cluster_dns_and_kube_proxy_the_pod_network() {
    for (name, path) in examples_and_demo() {
        let (c, rendered) = render_example(&path).expect("render");
        let dns = docs(&rendered, "coredns");
        let svc = object(&dns, "Service", "kube-dns");
        assert_eq!(
            svc["spec"]["clusterIP"],
            c.dns_service_ip.to_string(),
            "{name}"
        );
        // The kubelets' clusterDNS, in every node config that runs a kubelet.
        for (file, bytes) in rendered
            .files
            .iter()
            .filter(|(f, _)| f.starts_with("userdata/") && *f != "userdata/etcd.json")
        {
            let (files, _, _) = decode_ignition(bytes);
            let kubelet = files
                .iter()
                .find(|f| f.path == "/etc/kubernetes/kubelet-config.yaml")
                .and_then(|f| f.text.clone())
                .unwrap_or_else(|| panic!("{name}: no kubelet config in {file}"));
            let k: Value = serde_saphyr::from_str(&kubelet).expect("kubelet config");
            assert_eq!(
                k["clusterDNS"][0],
                c.dns_service_ip.to_string(),
                "{name} {file}"
            );
        }
        // Two replicas at least, spread over nodes, and a disruption budget.
        let cm = object(&dns, "ConfigMap", "coredns-autoscaler");
        let linear: Value =
            serde_json::from_str(cm["data"]["linear"].as_str().expect("linear")).expect("json");
        assert!(linear["min"].as_u64() >= Some(2), "{name}: {linear}");
        let deploy = object(&dns, "Deployment", "coredns");
        assert!(
            deploy["spec"]["template"]["spec"]["topologySpreadConstraints"]
                .as_array()
                .is_some_and(|t| t
                    .iter()
                    .any(|c| c["topologyKey"] == "kubernetes.io/hostname"))
        );
        assert_eq!(
            object(&dns, "PodDisruptionBudget", "coredns")["spec"]["minAvailable"],
            1
        );

        let proxy = docs(&rendered, "kube-proxy");
        let cm = object(&proxy, "ConfigMap", "kube-proxy");
        let conf: Value = serde_saphyr::from_str(cm["data"]["config.conf"].as_str().expect("conf"))
            .expect("yaml");
        assert_eq!(conf["clusterCIDR"], c.pod_cidr.to_string(), "{name}");
        assert_eq!(conf["mode"], "iptables", "{name}");
        let kubeconfig: Value =
            serde_saphyr::from_str(cm["data"]["kubeconfig.conf"].as_str().expect("kubeconfig"))
                .expect("yaml");
        assert_eq!(
            kubeconfig["clusters"][0]["cluster"]["server"],
            c.node_api_endpoint(),
            "{name}: kube-proxy must use the nodes' endpoint"
        );
        // Every image pinned to an exact release.
        for image in images(&rendered) {
            let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or_default();
            assert!(
                tag.starts_with('v') && tag != "latest" && !image.contains('@'),
                "{name}: {image} is not pinned"
            );
        }
        let version = format!("v{}", c.kubernetes_version);
        assert!(images(&rendered).contains(&format!("registry.k8s.io/kube-proxy:{version}")));
    }
}

#[test]
fn add_ons_can_be_disabled_pinned_and_mirrored_and_kube_proxy_can_use_ipvs() {
    let (_, plain) = ha_with("");
    let (_, changed) = ha_with(
        "addons:\n  registryMirror: mirror.example.com/k8s/\n  coreDns:\n    version: v1.12.2\n  cloudControllerManager:\n    enabled: false\nkubeProxy:\n  ipvsMode:\n    enabled: true\n    scheduler: lc\n",
    );
    assert!(
        plain
            .files
            .contains_key("addons/cloud-controller-manager.yaml")
    );
    assert!(
        !changed
            .files
            .contains_key("addons/cloud-controller-manager.yaml")
    );
    let imgs = images(&changed);
    assert!(!imgs.is_empty());
    for image in &imgs {
        assert!(
            image.starts_with("mirror.example.com/k8s/"),
            "{image} not from the mirror"
        );
    }
    // Every image a node pulls comes from the mirror: the static pods, etcd, kubectl, the AWS
    // CLI and containerd's sandbox image too.
    for (file, bytes) in changed
        .files
        .iter()
        .filter(|(f, _)| f.starts_with("userdata/"))
    {
        let (files, units, _) = decode_ignition(bytes);
        let texts = files
            .iter()
            .filter_map(|f| f.text.clone())
            .chain(units.iter().filter_map(|u| u.contents.clone()));
        for text in texts {
            for registry in ["registry.k8s.io/", "public.ecr.aws/", "ghcr.io/"] {
                for (i, _) in text.match_indices(registry) {
                    let before = &text[..i];
                    assert!(
                        before.ends_with("mirror.example.com/k8s/")
                            || before.ends_with("https://")
                            || before.ends_with("mirror.example.com/k8s/aws-cli/"),
                        "{file}: an image from {registry} bypasses the mirror: ...{}",
                        &text[i.saturating_sub(40)..(i + 60).min(text.len())]
                    );
                }
            }
        }
    }
    assert!(
        imgs.contains(&"mirror.example.com/k8s/coredns/coredns:v1.12.2".to_owned()),
        "{imgs:?}"
    );
    let proxy = docs(&changed, "kube-proxy");
    let conf: Value = serde_saphyr::from_str(
        object(&proxy, "ConfigMap", "kube-proxy")["data"]["config.conf"]
            .as_str()
            .expect("conf"),
    )
    .expect("yaml");
    assert_eq!(conf["mode"], "ipvs");
    assert_eq!(conf["ipvs"]["scheduler"], "lc");
    // The manifest names the set.
    let manifest: Value = serde_json::from_slice(&changed.files["manifest.json"]).expect("json");
    let set: Vec<String> = manifest["addons"]
        .as_array()
        .expect("addons")
        .iter()
        .map(|a| {
            format!(
                "{} {}",
                a["name"].as_str().unwrap_or("?"),
                a["version"].as_str().unwrap_or("?")
            )
        })
        .collect();
    assert!(set.contains(&"coredns v1.12.2".to_owned()), "{set:?}");
    assert!(
        !set.iter()
            .any(|s| s.starts_with("cloud-controller-manager")),
        "{set:?}"
    );

    // Bad settings are refused with the path and a fix.
    for (extra, wanted) in [
        (
            "addons:\n  coreDns:\n    version: latest\n",
            "addons.coreDns.version: \"latest\" is not an image tag",
        ),
        (
            "addons:\n  registryMirror: https://mirror.example.com\n",
            "addons.registryMirror",
        ),
        (
            "kubeProxy:\n  ipvsMode:\n    enabled: true\n    scheduler: fastest\n",
            "kubeProxy.ipvsMode.scheduler",
        ),
    ] {
        let text =
            std::fs::read_to_string(repo_root().join("examples/ha/cluster.yaml")).expect("ha");
        let loaded = validate::load(&format!("{text}\n{extra}"));
        let out = loaded.diagnostics.render("cluster.yaml");
        assert!(
            loaded.cluster.is_none() && out.contains(wanted),
            "{extra}: {out}"
        );
    }
}

// ---- addons-apply, run for real ----

/// `docker run ... kubectl ...`: answers like kubectl against an API server whose /readyz
/// fails READY_AFTER times; `get RESOURCE` lists `$STATE/RESOURCE` (the labelled objects);
/// every call is logged to $STATE/calls.
const DOCKER_SHIM: &str = r#"#!/bin/bash
args=()
for a in "$@"; do
  case "$a" in
    run|--rm|--network|host|--volume|/etc/kubernetes:/etc/kubernetes:ro|registry.k8s.io/kubectl:*|--kubeconfig=*|--request-timeout=*) ;;
    *) args+=("$a") ;;
  esac
done
echo "${args[*]}" >>"${STATE}/calls"
case "${args[0]} ${args[1]}" in
  "get --raw")
    n=$(( $(cat "${STATE}/readyz" 2>/dev/null || echo 0) + 1 )); echo "$n" >"${STATE}/readyz"
    (( n > READY_AFTER )) || { echo "connection refused" >&2; exit 1; } ;;
  "apply --server-side")
    if [[ -n "${FAIL_FILE:-}" && "${args[*]}" == *"${FAIL_FILE}"* ]]; then
      echo "the Service \"kube-dns\" is invalid: spec.clusterIP: field is immutable" >&2; exit 1
    fi ;;
  "get nodes")
    [[ "${args[2]}" == --selector=node-restriction.kubernetes.io/kubeline-role=controller ]] || { echo "shim: unexpected ${args[*]}" >&2; exit 2; }
    cat "${STATE}/nodes" 2>/dev/null || true ;;
  "get node")
    n=$(( $(cat "${STATE}/node-gets" 2>/dev/null || echo 0) + 1 )); echo "$n" >"${STATE}/node-gets"
    (( n > NODE_AFTER )) || { echo "nodes \"${args[2]}\" not found" >&2; exit 1; } ;;
  "get "*)
    [[ "${args[2]}" == --all-namespaces && "${args[3]}" == --selector=app.kubernetes.io/managed-by=kubeline,kubeline.io/addon ]] || { echo "shim: unexpected get ${args[*]}" >&2; exit 2; }
    cat "${STATE}/${args[1]}" 2>/dev/null || true ;;
  "delete "*) ;;
  "label node") ;;
  *) echo "shim: unexpected ${args[*]}" >&2; exit 2 ;;
esac
"#;

struct Controller {
    dir: tempfile::TempDir,
    script: PathBuf,
}

impl Controller {
    /// The ha example's controller: its add-on files, inventory and script, as installed.
    fn new() -> Controller {
        let (_, rendered) =
            render_example(&repo_root().join("examples/ha/cluster.yaml")).expect("render");
        let (files, _, _) = decode_ignition(&rendered.files["userdata/controller.json"]);
        let dir = tempfile::tempdir().expect("tmp");
        let d = dir.path();
        for sub in ["addons", "bin", "state"] {
            std::fs::create_dir_all(d.join(sub)).expect("mkdir");
        }
        let mut script = PathBuf::new();
        for f in files {
            let text = f.text.unwrap_or_default();
            if let Some(name) = f.path.strip_prefix("/etc/kubernetes/addons/") {
                std::fs::write(d.join("addons").join(name), text).expect("write");
            } else if f.path == "/opt/kubeline/bin/addons-apply" {
                script = d.join("addons-apply");
                std::fs::write(&script, text).expect("write");
            }
        }
        std::fs::write(d.join("bin/docker"), DOCKER_SHIM).expect("write");
        // What afterburn writes on EC2.
        std::fs::write(
            d.join("metadata"),
            "COREOS_EC2_HOSTNAME=IP-10-0-1-23.eu-west-1.compute.internal\nCOREOS_EC2_IPV4_LOCAL=10.0.1.23\n",
        )
        .expect("write");
        make_executable(&d.join("bin/docker"));
        Controller { dir, script }
    }

    fn state(&self, name: &str, text: &str) {
        std::fs::write(self.dir.path().join("state").join(name), text).expect("write");
    }

    fn run(&self, ready_after: u32, attempts: u32) -> (bool, String) {
        self.run_failing(ready_after, attempts, "")
    }

    fn run_failing(&self, ready_after: u32, attempts: u32, fail_file: &str) -> (bool, String) {
        let d = self.dir.path();
        let path = kubeline_tests::path_with(&d.join("bin"));
        outcome(&run(Command::new(tool("bash"))
            .arg(&self.script)
            .env("PATH", path)
            .env("STATE", d.join("state"))
            .env("READY_AFTER", ready_after.to_string())
            .env("KUBELINE_ADDONS_DIR", d.join("addons"))
            .env("KUBELINE_ADDONS_ATTEMPTS", attempts.to_string())
            .env("KUBELINE_ADDONS_DELAY", "0")
            .env("FAIL_FILE", fail_file)
            .env("NODE_AFTER", "2")
            .env("KUBELINE_METADATA", d.join("metadata"))
            .env("KUBELINE_ADDONS_MARKER", d.join("run/addons-applied"))))
    }

    /// What the script left in its marker (absent: kubeline-addons.timer runs it again).
    fn marker(&self) -> Option<String> {
        std::fs::read_to_string(self.dir.path().join("run/addons-applied")).ok()
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("state/calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn inventory(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("addons/inventory")).expect("inventory")
    }
}

fn addon_dir(c: &Controller) -> PathBuf {
    c.dir.path().join("addons")
}

#[test]
fn the_controllers_apply_every_add_on_in_order_and_prune_only_what_the_set_dropped() {
    let node = Controller::new();
    let inventory = node.inventory();
    assert!(
        inventory.contains("deployments.apps kube-system coredns\n"),
        "{inventory}"
    );
    assert!(
        inventory.contains("daemonsets.apps kube-system kube-proxy\n"),
        "{inventory}"
    );
    // The cluster holds the current objects and two the set no longer has.
    node.state(
        "deployments.apps",
        "kube-system coredns\nkube-system coredns-old\n",
    );
    node.state(
        "clusterroles.rbac.authorization.k8s.io",
        " system:coredns\n kubeline:obsolete\n",
    );
    let (ok, out) = node.run(3, 10);
    assert!(ok, "{out}");
    let calls = node.calls();
    // Waited for the API server.
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.starts_with("get --raw /readyz"))
            .count(),
        4,
        "{calls:#?}"
    );
    // Labelled its own Node, once registered, with the label kubelets cannot set themselves
    // (the one the cloud-controller-manager selects), before applying anything.
    let label = calls
        .iter()
        .position(|c| {
            c == "label node ip-10-0-1-23.eu-west-1.compute.internal node-restriction.kubernetes.io/kubeline-role=controller --overwrite"
        })
        .unwrap_or_else(|| panic!("no label call: {calls:#?}"));
    assert_eq!(
        calls.iter().filter(|c| c.starts_with("get node ")).count(),
        3,
        "{calls:#?}"
    );
    assert!(
        label
            < calls
                .iter()
                .position(|c| c.starts_with("apply "))
                .expect("apply")
    );
    let ccm = std::fs::read_to_string(
        std::fs::read_dir(addon_dir(&node))
            .expect("dir")
            .flatten()
            .find(|e| {
                e.file_name()
                    .to_string_lossy()
                    .ends_with("cloud-controller-manager.yaml")
            })
            .expect("the CCM file")
            .path(),
    )
    .expect("read");
    assert!(ccm.contains("node-restriction.kubernetes.io/kubeline-role: controller"));
    // Applied every file, in name order, server-side as `kubeline`.
    let applied: Vec<String> = calls
        .iter()
        .filter_map(|c| {
            c.strip_prefix(
                "apply --server-side --force-conflicts --field-manager=kubeline --filename=",
            )
        })
        .map(|f| {
            Path::new(f)
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let mut on_disk: Vec<String> = std::fs::read_dir(addon_dir(&node))
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    on_disk.sort();
    assert_eq!(applied, on_disk);
    assert_eq!(applied[0], "00-kubelet-bootstrap-rbac.yaml");
    assert!(
        applied.iter().position(|f| f.ends_with("kube-proxy.yaml"))
            < applied.iter().position(|f| f.ends_with("coredns.yaml"))
    );
    // Pruned exactly the two objects the set dropped, after every apply.
    let deletes: Vec<&String> = calls.iter().filter(|c| c.starts_with("delete ")).collect();
    assert_eq!(
        deletes,
        [
            "delete clusterroles.rbac.authorization.k8s.io kubeline:obsolete --ignore-not-found",
            "delete deployments.apps --namespace=kube-system coredns-old --ignore-not-found",
        ],
        "{out}"
    );
    let last_apply = calls
        .iter()
        .rposition(|c| c.starts_with("apply "))
        .expect("apply");
    assert!(calls.iter().position(|c| c.starts_with("delete ")) > Some(last_apply));
    // Every kind the add-ons may create is listed for pruning.
    let listed: BTreeMap<String, ()> = calls
        .iter()
        .filter_map(|c| {
            c.strip_prefix("get ")
                .and_then(|c| c.split(' ').next())
                .filter(|r| *r != "--raw")
        })
        .map(|r| (r.to_owned(), ()))
        .collect();
    for (_, _, resource, _) in kubeline_core::render::addons::KINDS {
        assert!(listed.contains_key(*resource), "{resource} not pruned");
    }
}

/// During an upgrade, a new controller's add-ons wait for the old API servers to go (kube-proxy
/// and the cloud-controller-manager must not be newer than any API server), and a restarted old
/// controller never rolls a newer set back.
#[test]
fn add_ons_wait_for_the_whole_control_plane_and_never_roll_back() {
    let node = Controller::new();
    let (cluster, _) =
        load(&std::fs::read_to_string(repo_root().join("examples/ha/cluster.yaml")).expect("read"));
    let v = cluster.kubernetes_version.to_string();
    let (major, minor, patch) = {
        let p: Vec<u32> = v.split('.').map(|x| x.parse().expect("number")).collect();
        (p[0], p[1], p[2])
    };
    let applies = |n: &Controller| n.calls().iter().filter(|c| c.starts_with("apply ")).count();

    // One controller of the previous minor still serves: deferred, nothing applied, no marker.
    node.state(
        "nodes",
        &format!("ip-10-0-1-23.eu-west-1.compute.internal v{v}\nip-10-0-2-9.eu-west-1.compute.internal v{major}.{}.9\n", minor - 1),
    );
    let (ok, out) = node.run(0, 3);
    assert!(ok, "{out}");
    assert!(
        out.contains("deferring") && out.contains("ip-10-0-2-9"),
        "{out}"
    );
    assert_eq!(applies(&node), 0, "{:#?}", node.calls());
    assert_eq!(node.marker(), None);

    // An older patch of the same minor is within the policy: applied, marker written.
    node.state(
        "nodes",
        &format!("ip-10-0-1-23.eu-west-1.compute.internal v{v}\nip-10-0-2-9.eu-west-1.compute.internal v{major}.{minor}.{}\n", patch.saturating_sub(1)),
    );
    let (ok, out) = node.run(0, 3);
    assert!(ok, "{out}");
    assert!(applies(&node) > 0, "{out}");
    assert_eq!(
        node.marker().as_deref(),
        Some(format!("applied v{v}\n").as_str())
    );

    // A newer controller exists: this one is stale and applies nothing, prunes nothing.
    let stale = Controller::new();
    stale.state(
        "nodes",
        &format!(
            "ip-10-0-3-7.eu-west-1.compute.internal v{major}.{}.0\n",
            minor + 1
        ),
    );
    let (ok, out) = stale.run(0, 3);
    assert!(ok, "{out}");
    assert!(out.contains("newer than this controller"), "{out}");
    assert!(
        !stale
            .calls()
            .iter()
            .any(|c| c.starts_with("apply ") || c.starts_with("delete ")),
        "{:#?}",
        stale.calls()
    );
    // No marker: after a rolled-back upgrade the timer applies this set once no newer
    // controller serves.
    assert_eq!(stale.marker(), None);

    // A Node without a readable version is an error, not a guess.
    let odd = Controller::new();
    odd.state("nodes", "ip-10-0-3-7.eu-west-1.compute.internal unknown\n");
    let (ok, out) = odd.run(0, 3);
    assert!(!ok && out.contains("reports no version"), "{out}");
    assert_eq!(applies(&odd), 0);

    // The unit runs only while the marker is absent, and a timer retries a deferred apply.
    let (_, rendered) =
        render_example(&repo_root().join("examples/ha/cluster.yaml")).expect("render");
    let (_, units, _) = decode_ignition(&rendered.files["userdata/controller.json"]);
    let unit = |name: &str| {
        units
            .iter()
            .find(|u| u.name == name)
            .and_then(|u| u.contents.clone())
            .unwrap_or_else(|| panic!("no {name}"))
    };
    let service = unit("kubeline-addons.service");
    assert!(service.contains("ConditionPathExists=!/run/kubeline/addons-applied"));
    // A timer-started run never starts the credentials unit (and its failure path) again.
    assert!(
        !service.contains("Requires=kubeline-credentials"),
        "{service}"
    );
    assert!(!unit("kubeline-addons.service").contains("RemainAfterExit"));
    assert!(unit("kubeline-addons.timer").contains("OnUnitInactiveSec=5min"));
}

#[test]
fn an_api_server_that_never_answers_gets_nothing_applied() {
    let node = Controller::new();
    let (ok, out) = node.run(100, 3);
    assert!(!ok && out.contains("did not become ready"), "{out}");
    assert!(
        !node
            .calls()
            .iter()
            .any(|c| c.starts_with("apply ") || c.starts_with("delete "))
    );
}

/// metrics-server serves the resource metrics API through the aggregation layer and verifies
/// the kubelets it reads (every kubelet's serving certificate is signed by the cluster CA).
#[test]
fn metrics_server_is_registered_and_verifies_kubelets() {
    for (name, path) in examples_and_demo() {
        let (_, rendered) = render_example(&path).expect("render");
        let ms = docs(&rendered, "metrics-server");
        let api = object(&ms, "APIService", "v1beta1.metrics.k8s.io");
        assert_eq!(api["spec"]["service"]["name"], "metrics-server", "{name}");
        assert_eq!(api["spec"]["service"]["namespace"], "kube-system", "{name}");
        let svc = object(&ms, "Service", "metrics-server");
        assert_eq!(svc["spec"]["ports"][0]["port"], 443);
        let deploy = object(&ms, "Deployment", "metrics-server");
        let args = deploy["spec"]["template"]["spec"]["containers"][0]["args"].to_string();
        assert!(!args.contains("--kubelet-insecure-tls"), "{name}: {args}");
        assert!(
            args.contains("--kubelet-preferred-address-types=InternalIP"),
            "{name}: {args}"
        );
    }
    // kube-aws's key turns it off.
    let (_, off) = ha_with("addons:\n  metricsServer:\n    enabled: false\n");
    assert!(!off.files.contains_key("addons/metrics-server.yaml"));
}

/// docs/addons.md's versions table is the code's.
#[test]
fn the_documented_versions_are_the_pinned_ones() {
    use kubeline_core::addons::{AddonName, pinned_version};
    use kubeline_core::types::KubeVersion;
    let doc = std::fs::read_to_string(repo_root().join("docs/addons.md")).expect("docs");
    let mut documented = BTreeMap::new();
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() > 4 && cells[2].starts_with("1.") && cells[3].starts_with('v') {
            documented.insert(
                (cells[1].to_owned(), cells[2].to_owned()),
                cells[3].to_owned(),
            );
        }
    }
    let mut pinned = BTreeMap::new();
    for name in AddonName::ALL {
        if name == AddonName::KubeProxy {
            continue;
        }
        for minor in KubeVersion::MIN_MINOR..=KubeVersion::MAX_MINOR {
            let k = KubeVersion {
                major: 1,
                minor,
                patch: 0,
            };
            if let Some(v) = pinned_version(name, &k) {
                pinned.insert((name.as_str().to_owned(), format!("1.{minor}")), v);
            }
        }
    }
    assert!(pinned.len() >= 8, "{pinned:?}");
    assert_eq!(documented, pinned);
}

/// A file the API server refuses does not keep the others from being applied, but the run
/// fails and prunes nothing (a partial set must not delete the rest).
#[test]
fn a_refused_file_fails_the_run_after_the_others_and_prunes_nothing() {
    let node = Controller::new();
    node.state(
        "deployments.apps",
        "kube-system coredns\nkube-system coredns-old\n",
    );
    let (ok, out) = node.run_failing(0, 3, "coredns.yaml");
    assert!(
        !ok && out.contains("1 add-on file(s) failed: 13-coredns.yaml"),
        "{out}"
    );
    let calls = node.calls();
    let applied = calls.iter().filter(|c| c.starts_with("apply ")).count();
    let files = std::fs::read_dir(addon_dir(&node))
        .expect("dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".yaml"))
        .count();
    assert_eq!(applied, files, "every file was tried: {calls:#?}");
    assert!(
        !calls
            .iter()
            .any(|c| c.starts_with("delete ") || c.starts_with("get deployments")),
        "{calls:#?}"
    );
}

/// cluster-autoscaler is off unless cluster.yaml turns it on (kube-aws's
/// `addons.clusterAutoscaler.enabled`); on, it discovers this cluster's pools by their tags and
/// its role may resize those and no other group.
#[test]
fn cluster_autoscaler_is_opt_in_and_resizes_only_its_own_pools() {
    use kubeline_tests::iam::{Decision, Pseudo, Request, evaluate};
    /// The read-only calls of cluster-autoscaler's recommended AWS policy
    /// (cloudprovider/aws/README.md at cluster-autoscaler-1.34.5), without `eks:DescribeNodegroup`
    /// (kubeline's pools are no EKS node groups).
    const DESCRIBE: [&str; 8] = [
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:DescribeAutoScalingInstances",
        "autoscaling:DescribeLaunchConfigurations",
        "autoscaling:DescribeScalingActivities",
        "ec2:DescribeImages",
        "ec2:DescribeInstanceTypes",
        "ec2:DescribeLaunchTemplateVersions",
        "ec2:GetInstanceTypesFromInstanceRequirements",
    ];
    // Its rights are its own role's (IAM roles for service accounts), never a node role's.
    let autoscaler_role = |c: &kubeline_core::cluster::Cluster| {
        kubeline_core::oidc::role_name(c.name.as_str(), "kube-system", "cluster-autoscaler")
    };
    let (off_cluster, off) = ha_with("");
    assert!(!off.files.contains_key("addons/cluster-autoscaler.yaml"));
    assert!(
        !String::from_utf8_lossy(&off.files["stack-templates/control-plane.json"])
            .contains("ClusterAutoscaler")
    );
    assert!(
        !kubeline_tests::roles(&off)
            .iter()
            .any(|(n, _)| *n == autoscaler_role(&off_cluster))
    );

    let (c, on) = ha_with("addons:\n  clusterAutoscaler:\n    enabled: true\n");
    let ca = docs(&on, "cluster-autoscaler");
    let deploy = object(&ca, "Deployment", "cluster-autoscaler");
    let command = deploy["spec"]["template"]["spec"]["containers"][0]["command"].to_string();
    assert!(
        command.contains(&format!(
            "--node-group-auto-discovery=asg:tag=k8s.io/cluster-autoscaler/enabled,k8s.io/cluster-autoscaler/{}",
            c.name
        )),
        "{command}"
    );
    assert!(command.contains("--cloud-provider=aws"));
    // Every pool's group carries the discovery tags and its kubelets' labels as node templates.
    for p in &c.node_pools {
        let t: Value = serde_json::from_slice(
            &on.files[&format!("stack-templates/node-pool-{}.json", p.name)],
        )
        .expect("json");
        let tags = t["Resources"]["AutoScalingGroup"]["Properties"]["Tags"].to_string();
        for want in [
            format!("k8s.io/cluster-autoscaler/{}", c.name),
            "k8s.io/cluster-autoscaler/enabled".to_owned(),
            "k8s.io/cluster-autoscaler/node-template/label/kubeline.io/node-pool".to_owned(),
        ] {
            assert!(tags.contains(&want), "{}: no {want}", p.name);
        }
    }
    assert!(
        !role_policies(
            &on,
            &kubeline_core::layout::node_role_name(&c, NodeGroup::Controller)
        )
        .iter()
        .any(|p| p.to_string().contains("ClusterAutoscaler")),
        "the controller role keeps the autoscaler's rights"
    );
    let policies = role_policies(&on, &autoscaler_role(&c));
    let describe = policies
        .iter()
        .flat_map(|p| p["Statement"].as_array().cloned().unwrap_or_default())
        .find(|s| s["Sid"] == "ClusterAutoscalerDescribe")
        .expect("describe statement");
    let mut actions: Vec<String> = describe["Action"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| a.as_str().unwrap_or_default().to_owned())
        .collect();
    actions.sort();
    let mut want: Vec<String> = DESCRIBE.iter().map(|a| (*a).to_owned()).collect();
    want.sort();
    assert_eq!(actions, want);
    let refs: Vec<&Value> = policies.iter().collect();
    let pseudo = Pseudo::default();
    let asg =
        "arn:aws:autoscaling:eu-west-1:123456789012:autoScalingGroup:1a2b:autoScalingGroupName/x";
    let tag = format!(
        "autoscaling:ResourceTag/k8s.io/cluster-autoscaler/{}",
        c.name
    );
    for action in [
        "autoscaling:SetDesiredCapacity",
        "autoscaling:TerminateInstanceInAutoScalingGroup",
    ] {
        let own = Request::new(action, asg).with(&tag, "owned");
        assert_eq!(evaluate(&pseudo, &refs, &own), Decision::Allow, "{action}");
        let other = Request::new(action, asg).with(
            "autoscaling:ResourceTag/k8s.io/cluster-autoscaler/other",
            "owned",
        );
        assert_ne!(
            evaluate(&pseudo, &refs, &other),
            Decision::Allow,
            "{action}: another cluster"
        );
        let untagged = Request::new(action, asg);
        assert_ne!(
            evaluate(&pseudo, &refs, &untagged),
            Decision::Allow,
            "{action}: untagged"
        );
    }
}

/// The EBS CSI driver: a default encrypted gp3 StorageClass bound where the pod lands, and a
/// controller role that may create volumes only with the tags the driver puts on them and
/// touch only volumes carrying them: never etcd's data volumes, never another cluster's.
#[test]
fn ebs_volumes_are_encrypted_gp3_and_the_driver_touches_only_its_own() {
    use kubeline_tests::iam::{Decision, Pseudo, Request, evaluate};
    let (c, rendered) = ha_with("");
    let ebs = docs(&rendered, "aws-ebs-csi-driver");
    let sc = object(&ebs, "StorageClass", "gp3");
    assert_eq!(
        sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"],
        "true"
    );
    assert_eq!(sc["provisioner"], "ebs.csi.aws.com");
    assert_eq!(sc["parameters"]["type"], "gp3");
    assert_eq!(sc["parameters"]["encrypted"], "true");
    assert_eq!(sc["volumeBindingMode"], "WaitForFirstConsumer");
    let controller = object(&ebs, "Deployment", "ebs-csi-controller");
    let args = controller["spec"]["template"]["spec"]["containers"][0]["args"].to_string();
    for want in [
        format!("--k8s-tag-cluster-id={}", c.name),
        format!("--extra-tags=kubeline.io/cluster={}", c.name),
    ] {
        assert!(args.contains(&want), "{args}");
    }
    let node = object(&ebs, "DaemonSet", "ebs-csi-node");
    let node_args = node["spec"]["template"]["spec"]["containers"][0]["args"].to_string();
    assert!(
        node_args.contains("--metadata-sources=kubernetes"),
        "the node plugin cannot reach IMDS at hop limit 1: {node_args}"
    );

    // The controller's rights are its own role's (IAM roles for service accounts).
    assert!(
        !role_policies(
            &rendered,
            &kubeline_core::layout::node_role_name(&c, NodeGroup::Controller)
        )
        .iter()
        .any(|p| p.to_string().contains("EbsCsiDriver")),
        "the controller role keeps the driver's rights"
    );
    let policies = role_policies(
        &rendered,
        &kubeline_core::oidc::role_name(c.name.as_str(), "kube-system", "ebs-csi-controller-sa"),
    );
    let refs: Vec<&Value> = policies.iter().collect();
    let pseudo = Pseudo::default();
    let volume = "arn:aws:ec2:eu-west-1:123456789012:volume/vol-1";
    let instance = "arn:aws:ec2:eu-west-1:123456789012:instance/i-1";
    let decide = |r: &Request| evaluate(&pseudo, &refs, r);
    let own_cluster_tag = format!("aws:ResourceTag/kubernetes.io/cluster/{}", c.name);
    let csi = |r: Request, cluster: &str| {
        r.with("aws:ResourceTag/ebs.csi.aws.com/cluster", "true")
            .with("aws:ResourceTag/kubeline.io/cluster", cluster)
    };
    let create = Request::new("ec2:CreateVolume", volume)
        .with("aws:RequestTag/ebs.csi.aws.com/cluster", "true")
        .with("aws:RequestTag/kubeline.io/cluster", c.name.as_str());
    assert_eq!(decide(&create), Decision::Allow, "creating its volume");
    let untagged = Request::new("ec2:CreateVolume", volume)
        .with("aws:RequestTag/ebs.csi.aws.com/cluster", "true");
    assert_ne!(
        decide(&untagged),
        Decision::Allow,
        "a volume without the cluster tag"
    );
    for action in [
        "ec2:AttachVolume",
        "ec2:DetachVolume",
        "ec2:ModifyVolume",
        "ec2:DeleteVolume",
    ] {
        assert_eq!(
            decide(&csi(Request::new(action, volume), c.name.as_str())),
            Decision::Allow,
            "{action} on its own volume"
        );
        assert_ne!(
            decide(&csi(Request::new(action, volume), "other")),
            Decision::Allow,
            "{action} on another cluster's volume"
        );
        // etcd's data volume: the cluster's ownership tag and its member tag, no CSI tag.
        let etcd = Request::new(action, volume)
            .with(&own_cluster_tag, "owned")
            .with(
                "aws:ResourceTag/kubeline.io/etcd-member",
                &format!("{}/etcd0", c.name),
            );
        assert_ne!(
            decide(&etcd),
            Decision::Allow,
            "{action} on etcd's data volume"
        );
    }
    for action in ["ec2:AttachVolume", "ec2:DetachVolume"] {
        let own = Request::new(action, instance).with(&own_cluster_tag, "owned");
        assert_eq!(
            decide(&own),
            Decision::Allow,
            "{action} to its own instance"
        );
        let other = Request::new(action, instance)
            .with("aws:ResourceTag/kubernetes.io/cluster/other", "owned");
        assert_ne!(
            decide(&other),
            Decision::Allow,
            "{action} to another cluster's instance"
        );
    }
    // Exactly the driver's documented actions (docs/example-iam-policy.json at v1.64.0 without
    // the snapshot ones, plus install.md's KMS statement), in the EbsCsiDriver statements only.
    const EBS_ACTIONS: [&str; 14] = [
        "ec2:AttachVolume",
        "ec2:CreateTags",
        "ec2:CreateVolume",
        "ec2:DeleteVolume",
        "ec2:DescribeAvailabilityZones",
        "ec2:DescribeInstances",
        "ec2:DescribeSnapshots",
        "ec2:DescribeTags",
        "ec2:DescribeVolumes",
        "ec2:DescribeVolumesModifications",
        "ec2:DetachVolume",
        "ec2:ModifyVolume",
        "kms:CreateGrant",
        "kms:Decrypt",
    ];
    let mut granted: Vec<String> = policies
        .iter()
        .flat_map(|p| p["Statement"].as_array().cloned().unwrap_or_default())
        .filter(|st| {
            st["Sid"]
                .as_str()
                .is_some_and(|s| s.starts_with("EbsCsiDriver"))
        })
        .flat_map(|st| match &st["Action"] {
            Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect(),
            Value::String(one) => vec![one.clone()],
            _ => vec![],
        })
        .collect();
    granted.sort();
    granted.dedup();
    let mut want: Vec<String> = EBS_ACTIONS.iter().map(|a| (*a).to_owned()).collect();
    want.push("kms:GenerateDataKeyWithoutPlaintext".into());
    want.sort();
    assert_eq!(granted, want);
    // Encrypted volumes: KMS only through EC2, grants only for AWS resources.
    let key = "arn:aws:kms:eu-west-1:123456789012:key/1b3c5d7e-0000-4000-8000-000000000001";
    let via_ec2 = |action: &str| {
        Request::new(action, key).with("kms:ViaService", "ec2.eu-west-1.amazonaws.com")
    };
    assert_eq!(
        decide(&via_ec2("kms:CreateGrant").with("kms:GrantIsForAWSResource", "true")),
        Decision::Allow
    );
    assert_ne!(
        decide(&via_ec2("kms:CreateGrant")),
        Decision::Allow,
        "a grant for anyone"
    );
    for action in ["kms:Decrypt", "kms:GenerateDataKeyWithoutPlaintext"] {
        assert_eq!(
            decide(&via_ec2(action)),
            Decision::Allow,
            "{action} through EC2"
        );
        // Not through EC2: any other key of the account stays closed.
        let other = "arn:aws:kms:eu-west-1:123456789012:key/00000000-1111-2222-3333-444444444444";
        let direct = Request::new(action, other);
        assert_ne!(decide(&direct), Decision::Allow, "{action} outside EC2");
        let via_s3 =
            Request::new(action, other).with("kms:ViaService", "s3.eu-west-1.amazonaws.com");
        assert_ne!(decide(&via_s3), Decision::Allow, "{action} through S3");
    }
    // Off: no driver, no rights.
    let (_, off) = ha_with("addons:\n  ebsCsiDriver:\n    enabled: false\n");
    assert!(!off.files.contains_key("addons/aws-ebs-csi-driver.yaml"));
    assert!(
        !String::from_utf8_lossy(&off.files["stack-templates/control-plane.json"])
            .contains("EbsCsiDriver")
    );
}

/// Every add-on workload runs as a ServiceAccount of its set that some binding grants a role,
/// and every binding names a role of the set or one the API server defines itself.
#[test]
fn every_add_on_service_account_is_bound_to_a_role_that_exists() {
    for (name, path) in examples_and_demo() {
        let (_, rendered) = render_example(&path).expect("render");
        let mut all = Vec::new();
        for file in rendered.files.keys().filter(|f| f.starts_with("addons/")) {
            let addon = file
                .trim_start_matches("addons/")
                .trim_end_matches(".yaml")
                .to_owned();
            all.extend(docs(&rendered, &addon));
        }
        let defined = |kind: &str, n: &str| {
            all.iter()
                .any(|d| d["kind"] == kind && d["metadata"]["name"] == n)
        };
        let mut checked = 0;
        for w in all
            .iter()
            .filter(|d| d["kind"] == "Deployment" || d["kind"] == "DaemonSet")
        {
            let sa = w["spec"]["template"]["spec"]["serviceAccountName"]
                .as_str()
                .unwrap_or_else(|| {
                    panic!(
                        "{name}: {} runs as the default account",
                        w["metadata"]["name"]
                    )
                });
            assert!(
                defined("ServiceAccount", sa),
                "{name}: no ServiceAccount {sa}"
            );
            let bound = all.iter().any(|b| {
                (b["kind"] == "ClusterRoleBinding" || b["kind"] == "RoleBinding")
                    && b["subjects"].as_array().is_some_and(|s| {
                        s.iter()
                            .any(|s| s["kind"] == "ServiceAccount" && s["name"] == sa)
                    })
            });
            // A workload that makes no API call gets no token, and then needs no role.
            let tokenless = w["spec"]["template"]["spec"]["automountServiceAccountToken"] == false
                && all.iter().any(|d| {
                    d["kind"] == "ServiceAccount"
                        && d["metadata"]["name"] == sa
                        && d["automountServiceAccountToken"] == false
                });
            assert!(bound || tokenless, "{name}: {sa} is bound to no role");
            checked += 1;
        }
        assert!(checked >= 6, "{name}: {checked} workloads");
        for b in all
            .iter()
            .filter(|d| d["kind"] == "ClusterRoleBinding" || d["kind"] == "RoleBinding")
        {
            let kind = b["roleRef"]["kind"].as_str().unwrap_or_default();
            let role = b["roleRef"]["name"].as_str().unwrap_or_default();
            // Roles the API server bootstraps itself.
            let builtin = [
                "system:node-proxier",
                "system:auth-delegator",
                "extension-apiserver-authentication-reader",
            ]
            .contains(&role);
            assert!(
                defined(kind, role) || builtin,
                "{name}: {} names {kind} {role}, which nothing defines",
                b["metadata"]["name"]
            );
        }
    }
}

/// The EBS CSI driver's and cluster-autoscaler's mutating rights live on their own roles only
/// (IAM roles for service accounts): evaluated for each example, no node role (controllers,
/// etcd members, every pool) is allowed them, even on resources tagged as the add-ons' own;
/// the add-on's role is (the negative control that the requests can be allowed at all).
#[test]
fn no_node_role_has_the_ebs_driver_s_or_the_autoscaler_s_rights() {
    use kubeline_tests::iam::{Decision, Pseudo, Request, evaluate};
    let pseudo = Pseudo::default();
    let mut checked = 0;
    for (example, path) in examples_and_demo() {
        let (c, rendered) = render_example(&path).expect("render");
        let name = c.name.as_str();
        let volume = "arn:aws:ec2:eu-west-1:123456789012:volume/vol-1";
        let asg = "arn:aws:autoscaling:eu-west-1:123456789012:autoScalingGroup:1a2b:autoScalingGroupName/x";
        let tagged = |r: Request| {
            r.with("aws:ResourceTag/ebs.csi.aws.com/cluster", "true")
                .with("aws:ResourceTag/kubeline.io/cluster", name)
                .with(
                    &format!("aws:ResourceTag/kubernetes.io/cluster/{name}"),
                    "owned",
                )
                .with(
                    &format!("autoscaling:ResourceTag/k8s.io/cluster-autoscaler/{name}"),
                    "owned",
                )
                .with(
                    "autoscaling:ResourceTag/k8s.io/cluster-autoscaler/enabled",
                    "true",
                )
        };
        let ebs = [
            Request::new("ec2:CreateVolume", volume)
                .with("aws:RequestTag/ebs.csi.aws.com/cluster", "true")
                .with("aws:RequestTag/kubeline.io/cluster", name),
            tagged(Request::new("ec2:DeleteVolume", volume)),
            tagged(Request::new("ec2:ModifyVolume", volume)),
            tagged(Request::new("ec2:AttachVolume", volume)),
            tagged(Request::new("ec2:DetachVolume", volume)),
        ];
        let autoscaler = [
            tagged(Request::new("autoscaling:SetDesiredCapacity", asg)),
            tagged(Request::new(
                "autoscaling:TerminateInstanceInAutoScalingGroup",
                asg,
            )),
        ];
        for group in kubeline_tests::node_groups(&c) {
            let policies =
                role_policies(&rendered, &kubeline_core::layout::node_role_name(&c, group));
            assert!(
                !policies.is_empty(),
                "{example}: no policies of {}",
                group.kind()
            );
            let refs: Vec<&Value> = policies.iter().collect();
            for r in ebs.iter().chain(&autoscaler) {
                assert_ne!(
                    evaluate(&pseudo, &refs, r),
                    Decision::Allow,
                    "{example}: the {} role is allowed {r:?}",
                    group.kind()
                );
            }
        }
        for (service_account, requests) in [
            ("ebs-csi-controller-sa", &ebs[..]),
            ("cluster-autoscaler", &autoscaler[..]),
        ] {
            let role = kubeline_core::oidc::role_name(name, "kube-system", service_account);
            if !kubeline_tests::roles(&rendered)
                .iter()
                .any(|(n, _)| *n == role)
            {
                continue; // the add-on is off in this example
            }
            let policies = role_policies(&rendered, &role);
            let refs: Vec<&Value> = policies.iter().collect();
            for r in requests {
                assert_eq!(
                    evaluate(&pseudo, &refs, r),
                    Decision::Allow,
                    "{example}: {role} is not allowed {r:?}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 6, "add-on roles checked: {checked}");
}
