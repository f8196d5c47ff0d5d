//! `gpu.nvidia`: a GPU pool's nodes get Flatcar's NVIDIA driver extension with the kernel
//! modules their GPUs take, the NVIDIA Container Toolkit as containerd's default runtime (the
//! config checked by the real containerd), and the device plugin runs on exactly those nodes;
//! instance types kubeline cannot drive are refused as kube-aws refused non-GPU types.

use std::process::Command;

use kubeline_core::addons::NVIDIA_DEVICE_PLUGIN;
use kubeline_core::render::NVIDIA_RUNTIME_SYSEXT;
use kubeline_core::validate;
use kubeline_tests::{
    UnitFile, decode_ignition, inline_file, render_example, repo_root, run, tool,
};
use serde_json::Value;

const SYSEXT_CONF: &str = "/etc/flatcar/enabled-sysext.conf";
const RUNTIME_RAW: &str = "/etc/extensions/nvidia-runtime.raw";
const DEVICE_PLUGIN: &str = "addons/nvidia-device-plugin.yaml";
/// The drop-in the nvidia-runtime extension ships for containerd.service
/// (flatcar/sysext-bakery nvidia-runtime.sysext/files/usr/lib/systemd/system/
/// containerd.service.d/), which points containerd at the extension's own config.
const EXTENSION_DROPIN: &str = "10-nvidia.conf";

fn migrated_text() -> String {
    std::fs::read_to_string(repo_root().join("examples/kube-aws-migrated/cluster.yaml"))
        .expect("example")
}

fn render_text(
    text: &str,
) -> (
    kubeline_core::cluster::Cluster,
    kubeline_core::render::Rendered,
) {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("cluster.yaml");
    std::fs::write(&path, text).expect("write");
    render_example(&path).expect("render")
}

fn node_config(rendered: &kubeline_core::render::Rendered, pool: &str) -> Value {
    serde_json::from_slice(&rendered.files[&format!("userdata/worker-{pool}.json")])
        .expect("ignition")
}

/// `containerd --config <config> config dump`: how the real containerd reads a node's
/// /etc/containerd/config.toml, merged with its defaults.
fn containerd_config_dump(config: &str) -> std::process::Output {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("config.toml");
    std::fs::write(&path, config).expect("write");
    run(Command::new(tool("containerd"))
        .arg("--config")
        .arg(&path)
        .args(["config", "dump"]))
}

/// The dump of a config containerd must accept.
fn containerd_dump(config: &str) -> String {
    let out = containerd_config_dump(config);
    assert!(
        out.status.success(),
        "containerd refused the config:\n{config}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The kubelet's `--node-labels` and `--register-with-taints` of a node config.
fn kubelet_flags(units: &[kubeline_tests::IgnUnit]) -> (Vec<String>, Vec<String>) {
    let kubelet = units
        .iter()
        .find(|u| u.name == "kubelet.service")
        .and_then(|u| u.contents.clone())
        .expect("kubelet.service");
    let flag = |name: &str| -> Vec<String> {
        kubelet
            .split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("--{name}=")))
            .map(|v| v.split(',').map(str::to_owned).collect())
            .unwrap_or_default()
    };
    (flag("node-labels"), flag("register-with-taints"))
}

#[test]
fn a_gpu_pool_gets_flatcars_driver_the_toolkit_and_containerds_nvidia_runtime() {
    let (cluster, rendered) = render_text(&migrated_text());
    let gpu = cluster
        .node_pools
        .iter()
        .find(|p| p.name == "gpu")
        .and_then(|p| p.gpu.clone())
        .expect("the example's gpu pool");
    // A T4 (g4dn) takes NVIDIA's open kernel modules.
    assert_eq!(gpu.drivers_sysext, "nvidia-drivers-570-open");

    let (files, units, _) = decode_ignition(&rendered.files["userdata/worker-gpu.json"]);
    assert_eq!(
        inline_file(&files, SYSEXT_CONF).map(str::trim),
        Some("nvidia-drivers-570-open")
    );
    let raw = files
        .iter()
        .find(|f| f.path == RUNTIME_RAW)
        .expect("the nvidia-runtime extension");
    assert_eq!(raw.source, NVIDIA_RUNTIME_SYSEXT);
    assert!(
        raw.source
            .starts_with("https://extensions.flatcar.org/extensions/nvidia-runtime-v")
            && raw.source.ends_with("-x86-64.raw"),
        "{}",
        raw.source
    );

    // containerd's default runtime is the toolkit's, as the device plugin requires, and the
    // node's pause image and cgroup driver stay.
    let dump = containerd_dump(inline_file(&files, "/etc/containerd/config.toml").expect("config"));
    assert!(
        dump.contains(r#"default_runtime_name = "nvidia""#),
        "{dump}"
    );
    assert!(
        dump.contains(r#"[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia]"#),
        "{dump}"
    );
    assert!(
        dump.contains(r#"BinaryName = "/usr/bin/nvidia-container-runtime""#),
        "{dump}"
    );
    assert!(dump.contains(r#"sandbox_image = "registry.k8s.io/pause:3.10""#));
    assert_eq!(dump.matches("SystemdCgroup = true").count(), 2, "{dump}");

    // Its drop-in sorts after the extension's and starts containerd with kubeline's config,
    // once the driver is loaded.
    let ign = node_config(&rendered, "gpu");
    let containerd = ign["systemd"]["units"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|u| u["name"] == "containerd.service")
        .expect("containerd.service");
    let dropins: Vec<(&str, &str)> = containerd["dropins"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            (
                d["name"].as_str().unwrap_or_default(),
                d["contents"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    let last = dropins.iter().max_by_key(|(n, _)| *n).expect("drop-ins");
    assert!(
        last.0 > EXTENSION_DROPIN,
        "{} sorts before {EXTENSION_DROPIN}",
        last.0
    );
    let unit = UnitFile::parse(last.1);
    assert_eq!(
        unit.values("Service", "ExecStart"),
        ["", "/usr/bin/containerd --config ${CONTAINERD_CONFIG}"]
    );
    // A node whose driver fails never starts containerd, so its kubelet never reports Ready.
    assert_eq!(unit.values("Unit", "After"), ["nvidia.service"]);
    assert_eq!(unit.values("Unit", "Requires"), ["nvidia.service"]);
    let base = dropins
        .iter()
        .find(|(n, _)| *n == "10-kubeline.conf")
        .expect("10-kubeline.conf");
    assert_eq!(
        UnitFile::parse(base.1).values("Service", "Environment"),
        ["CONTAINERD_CONFIG=/etc/containerd/config.toml"]
    );

    let (labels, taints) = kubelet_flags(&units);
    assert!(labels.contains(&"nvidia.com/gpu.present=true".to_owned()));
    assert!(labels.contains(&"k8s.amazonaws.com/accelerator=nvidia-tesla-t4".to_owned()));
    assert_eq!(taints, ["nvidia.com/gpu=true:NoSchedule"]);

    // The other pool has none of it.
    let (files, units, _) = decode_ignition(&rendered.files["userdata/worker-web.json"]);
    assert!(
        files
            .iter()
            .all(|f| f.path != SYSEXT_CONF && f.path != RUNTIME_RAW)
    );
    let dump = containerd_dump(inline_file(&files, "/etc/containerd/config.toml").expect("config"));
    assert!(dump.contains(r#"default_runtime_name = "runc""#), "{dump}");
    assert!(!dump.contains("nvidia"), "{dump}");
    let (labels, _) = kubelet_flags(&units);
    assert!(
        labels
            .iter()
            .all(|l| !l.starts_with("nvidia.com/") && !l.starts_with("k8s.amazonaws.com/"))
    );
}

#[test]
fn containerd_refuses_a_broken_config() {
    // The negative control of containerd_dump: containerd does parse what it is given.
    let out = containerd_config_dump("version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"\n");
    assert!(!out.status.success(), "containerd accepted broken TOML");
}

/// Does `tol` tolerate the taint `key=value:effect`?
fn tolerates(tol: &Value, taint: &str) -> bool {
    let (kv, effect) = taint.rsplit_once(':').expect("key=value:effect");
    let (key, value) = kv.split_once('=').unwrap_or((kv, ""));
    let s = |k: &str| tol[k].as_str().unwrap_or_default();
    let exists = s("operator") == "Exists";
    (s("key").is_empty() && exists || s("key") == key && (exists || s("value") == value))
        && (s("effect").is_empty() || s("effect") == effect)
}

#[test]
fn the_device_plugin_runs_on_exactly_the_gpu_nodes_and_tolerates_their_taints() {
    let (_, rendered) = render_text(&migrated_text());
    let text = String::from_utf8(rendered.files[DEVICE_PLUGIN].clone()).expect("utf-8");
    let docs: Vec<Value> = text
        .split("\n---\n")
        .filter(|d| d.lines().any(|l| l.starts_with("kind:")))
        .map(|d| serde_saphyr::from_str(d).expect("yaml"))
        .collect();
    assert_eq!(docs.len(), 2, "{text}");
    let ds = docs
        .iter()
        .find(|d| d["kind"] == "DaemonSet")
        .expect("the DaemonSet");
    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert_eq!(pod["priorityClassName"], "system-node-critical");
    let c = &pod["containers"][0];
    assert_eq!(
        c["image"],
        format!("nvcr.io/nvidia/k8s-device-plugin:{NVIDIA_DEVICE_PLUGIN}")
    );
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(
        pod["volumes"][0]["hostPath"]["path"],
        "/var/lib/kubelet/device-plugins"
    );
    assert_eq!(
        c["volumeMounts"][0]["mountPath"],
        "/var/lib/kubelet/device-plugins"
    );

    let selector = pod["nodeSelector"].as_object().expect("nodeSelector");
    for (pool, runs_there) in [("gpu", true), ("web", false)] {
        let (_, units, _) =
            decode_ignition(&rendered.files[&format!("userdata/worker-{pool}.json")]);
        let (mut labels, taints) = kubelet_flags(&units);
        // The kubelet sets kubernetes.io/os itself.
        labels.push("kubernetes.io/os=linux".into());
        let selected = selector
            .iter()
            .all(|(k, v)| labels.contains(&format!("{k}={}", v.as_str().unwrap_or_default())));
        assert_eq!(
            selected, runs_there,
            "{pool}: {labels:?} against {selector:?}"
        );
        let tolerations = pod["tolerations"].as_array().expect("tolerations");
        for t in &taints {
            assert!(
                tolerations.iter().any(|tol| tolerates(tol, t)),
                "{pool}'s taint {t} is not tolerated"
            );
        }
    }
    // The matcher's negative control.
    let narrow = serde_json::json!({"key": "other", "operator": "Exists"});
    assert!(!tolerates(&narrow, "nvidia.com/gpu=true:NoSchedule"));
}

#[test]
fn without_a_gpu_pool_nothing_nvidia_is_rendered_and_the_plugin_can_be_left_out() {
    let (_, rendered) = render_example(&repo_root().join("examples/ha/cluster.yaml")).expect("ha");
    assert!(!rendered.files.contains_key(DEVICE_PLUGIN));
    for (name, bytes) in &rendered.files {
        if name.starts_with("userdata/") {
            let (files, _, _) = decode_ignition(bytes);
            assert!(files.iter().all(|f| f.path != SYSEXT_CONF), "{name}");
        }
    }
    // Bring your own plugin (the GPU Operator with its driver and toolkit off): the nodes
    // still get the driver.
    let text = migrated_text() + "addons:\n  nvidiaDevicePlugin:\n    enabled: false\n";
    let (_, rendered) = render_text(&text);
    assert!(!rendered.files.contains_key(DEVICE_PLUGIN));
    let (files, _, _) = decode_ignition(&rendered.files["userdata/worker-gpu.json"]);
    assert!(inline_file(&files, SYSEXT_CONF).is_some());
}

const BASE: &str = "clusterName: demo
s3URI: s3://kubeline-assets-123456789012/kubeline
region: eu-west-1
availabilityZone: eu-west-1a
kmsKeyArn: arn:aws:kms:eu-west-1:123456789012:key/1b3c5d7e-0000-4000-8000-000000000001
apiEndpoints:
  - name: default
    dnsName: api.demo.example.com
    loadBalancer: {hostedZone: {id: Z0123456789ABCDEFGHIJ}}
worker:
  nodePools:
    - name: gpu
";

#[test]
fn gpu_pools_take_only_types_whose_gpus_flatcars_drivers_run() {
    // (pool keys, the driver extension or the message of the error or warning)
    let cases: &[(&str, &str)] = &[
        (
            "instanceType: g4dn.xlarge\ngpu: {nvidia: {enabled: true}}",
            "ok nvidia-drivers-570-open nvidia-tesla-t4",
        ),
        (
            "instanceType: g6e.2xlarge\ngpu: {nvidia: {enabled: true, version: 550}}",
            "ok nvidia-drivers-550-open nvidia-l40s",
        ),
        (
            "instanceType: p3.2xlarge\ngpu: {nvidia: {enabled: true, version: \"535\"}}",
            "ok nvidia-drivers-535 nvidia-tesla-v100",
        ),
        (
            "instanceType: g5.xlarge\nautoScalingGroup: {minSize: 1, maxSize: 2, mixedInstances: {enabled: true, instanceTypes: [g6.xlarge]}}\ngpu: {nvidia: {enabled: true}}",
            "ok nvidia-drivers-570-open -",
        ),
        (
            "instanceType: g4dn.xlarge\ngpu: {nvidia: {enabled: true, version: 384.111}}",
            "384.111 is a driver release; Flatcar ships prebuilt driver series",
        ),
        (
            "instanceType: g4dn.xlarge\ngpu: {nvidia: {enabled: true, version: latest}}",
            "\"latest\" is not an NVIDIA driver series Flatcar ships",
        ),
        (
            "instanceType: m7i.large\ngpu: {nvidia: {enabled: true}}",
            "kubeline knows no NVIDIA GPU in the m7i family, and gpu.nvidia.enabled needs one",
        ),
        (
            "instanceType: p4d.24xlarge\ngpu: {nvidia: {enabled: true}}",
            "NVSwitch systems need NVIDIA Fabric Manager",
        ),
        (
            "instanceType: p2.xlarge\ngpu: {nvidia: {enabled: true}}",
            "ended with the 470 series",
        ),
        (
            "instanceType: g4ad.xlarge\ngpu: {nvidia: {enabled: true}}",
            "g4ad.xlarge carries an AMD Radeon Pro V520, not an NVIDIA GPU",
        ),
        (
            "instanceType: g6f.large\ngpu: {nvidia: {enabled: true}}",
            "GRID (vGPU) driver",
        ),
        (
            "instanceType: g5.xlarge\nautoScalingGroup: {minSize: 1, maxSize: 2, mixedInstances: {enabled: true, instanceTypes: [p3.2xlarge]}}\ngpu: {nvidia: {enabled: true}}",
            "p3.2xlarge needs NVIDIA's proprietary kernel modules and g5.xlarge the open ones",
        ),
        (
            "instanceType: g5.xlarge",
            "warning: worker.nodePools[0].instanceType: g5.xlarge carries an NVIDIA A10G (Ampere), but gpu.nvidia.enabled is false",
        ),
        (
            "instanceType: g5g.xlarge\ngpu: {nvidia: {enabled: true}}",
            "g5g.xlarge carries an NVIDIA T4G on Graviton (arm64): Flatcar's NVIDIA driver extensions are built for amd64 only",
        ),
    ];
    for (pool, want) in cases {
        let pool = pool.replace('\n', "\n      ");
        let text = format!("{BASE}      {pool}\n");
        let loaded = validate::load(&text);
        let report = loaded.diagnostics.render("cluster.yaml");
        match want.strip_prefix("ok ") {
            Some(ok) => {
                let (sysext, accelerator) = ok.split_once(' ').expect("sysext accelerator");
                let c = loaded
                    .cluster
                    .unwrap_or_else(|| panic!("{pool}:\n{report}"));
                let gpu = c.node_pools[0].gpu.clone().expect("gpu");
                assert_eq!(gpu.drivers_sysext, sysext, "{pool}");
                let labels = &c.node_pools[0].node_labels;
                assert_eq!(labels["nvidia.com/gpu.present"], "true", "{pool}");
                // cluster-autoscaler's GPU label, only when the pool's types share one GPU.
                assert_eq!(
                    labels
                        .get("k8s.amazonaws.com/accelerator")
                        .map(String::as_str)
                        .unwrap_or("-"),
                    accelerator,
                    "{pool}"
                );
            }
            None => {
                assert!(report.contains(want), "{pool}: want {want:?} in\n{report}");
                if !want.starts_with("warning") {
                    assert!(loaded.cluster.is_none(), "{pool} was accepted");
                }
            }
        }
    }
}
