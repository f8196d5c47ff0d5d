//! Rendered-output rules a node and its load balancer need on real AWS and Flatcar, checked on
//! every example: Flatcar's own updates and reboots are off on every node (kubeline rolls OS
//! updates through a new amiId); the kubelet's volume plugin directory is writable on Flatcar;
//! network load balancers have an explicit health-check timeout below their interval and no
//! deletion protection (which would make every confirmed destroy fail). Sources in
//! docs/node-boot.md.

use kubeline_tests::{decode_ignition, examples_and_demo, node_groups, render_example};
use serde_json::Value;

/// The raw Ignition units (name → JSON) of a node config.
fn raw_units(bytes: &[u8]) -> Vec<Value> {
    let v: Value = serde_json::from_slice(bytes).expect("ignition JSON");
    v["systemd"]["units"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn flatcar_never_updates_or_reboots_a_node_by_itself() {
    let mut checked = 0;
    for (example, path) in examples_and_demo() {
        let (c, rendered) = render_example(&path).expect("render");
        for g in node_groups(&c) {
            let bytes = &rendered.files[&format!("userdata/{}.json", g.file_stem())];
            let (files, _, _) = decode_ignition(bytes);
            let conf = files
                .iter()
                .find(|f| f.path == "/etc/flatcar/update.conf")
                .unwrap_or_else(|| panic!("{example}/{}: no update.conf", g.kind()));
            let text = conf.text.clone().unwrap_or_default();
            assert!(
                text.lines().any(|l| l == "REBOOT_STRATEGY=off"),
                "{example}/{}: {text}",
                g.kind()
            );
            let units = raw_units(bytes);
            for name in ["update-engine.service", "locksmithd.service"] {
                let u = units
                    .iter()
                    .find(|u| u["name"] == name)
                    .unwrap_or_else(|| panic!("{example}/{}: {name} not configured", g.kind()));
                assert_eq!(
                    u["mask"],
                    true,
                    "{example}/{}: {name} must be masked",
                    g.kind()
                );
                assert!(u.get("contents").is_none() && u["enabled"] != true);
            }
            checked += 1;
        }
    }
    assert!(checked >= 15);
}

#[test]
fn kubelets_use_a_writable_volume_plugin_dir() {
    for (example, path) in examples_and_demo() {
        let (_, rendered) = render_example(&path).expect("render");
        for (name, bytes) in rendered
            .files
            .iter()
            .filter(|(n, _)| n.starts_with("userdata/") && n.as_str() != "userdata/etcd.json")
        {
            let (files, _, _) = decode_ignition(bytes);
            let Some(cfg) = files
                .iter()
                .find(|f| f.path == "/etc/kubernetes/kubelet-config.yaml")
            else {
                continue;
            };
            let text = cfg.text.clone().unwrap_or_default();
            let dir = text
                .lines()
                .find_map(|l| l.strip_prefix("volumePluginDir: "))
                .unwrap_or_else(|| panic!("{example}/{name}: no volumePluginDir"));
            // Flatcar mounts /usr read-only; /var is writable and persistent.
            assert!(dir.starts_with("/var/"), "{example}/{name}: {dir}");
        }
    }
}

#[test]
fn network_load_balancers_can_be_deleted_and_time_out_explicitly() {
    let mut nlbs = 0;
    for (example, path) in examples_and_demo() {
        let (_, rendered) = render_example(&path).expect("render");
        for (name, bytes) in rendered
            .files
            .iter()
            .filter(|(n, _)| n.starts_with("stack-templates/"))
        {
            let t: Value = serde_json::from_slice(bytes).expect("JSON");
            for (id, r) in t["Resources"].as_object().into_iter().flatten() {
                let p = &r["Properties"];
                match r["Type"].as_str() {
                    Some("AWS::ElasticLoadBalancingV2::LoadBalancer") => {
                        nlbs += 1;
                        let attrs = p["LoadBalancerAttributes"].as_array().expect("attributes");
                        let protection = attrs
                            .iter()
                            .find(|a| a["Key"] == "deletion_protection.enabled")
                            .map(|a| a["Value"].clone());
                        assert_ne!(
                            protection,
                            Some(Value::from("true")),
                            "{example}/{name}/{id}: deletion protection blocks DeleteStack"
                        );
                    }
                    Some("AWS::ElasticLoadBalancingV2::TargetGroup") => {
                        let timeout = p["HealthCheckTimeoutSeconds"]
                            .as_u64()
                            .unwrap_or_else(|| panic!("{example}/{name}/{id}: no timeout"));
                        let interval = p["HealthCheckIntervalSeconds"].as_u64().expect("interval");
                        // AWS: timeout 2..=120 s and not above the interval.
                        assert!((2..=120).contains(&timeout) && timeout <= interval);
                    }
                    _ => {}
                }
            }
        }
    }
    assert!(nlbs > 0, "no example has a network load balancer");
}

/// The API server calls kubelets as the common name of apiserver.pem; that user is bound to
/// `system:kubelet-api-admin` in the add-ons every controller applies.
#[test]
fn the_api_server_may_use_the_kubelet_api() {
    for (example, path) in examples_and_demo() {
        let (c, rendered) = render_example(&path).expect("render");
        let cn = kubeline_core::credentials::leaf_certificates(&c)
            .into_iter()
            .find(|s| s.name == "apiserver")
            .expect("apiserver certificate")
            .common_name;
        let (files, _, _) = decode_ignition(&rendered.files["userdata/controller.json"]);
        let bound = files
            .iter()
            .filter(|f| f.path.starts_with("/etc/kubernetes/addons/"))
            .filter_map(|f| f.text.clone())
            .flat_map(|t| {
                t.split("\n---\n")
                    .map(str::to_owned)
                    .collect::<Vec<String>>()
            })
            .filter_map(|doc| serde_saphyr::from_str::<Value>(&doc).ok())
            .any(|d| {
                d["kind"] == "ClusterRoleBinding"
                    && d["roleRef"]["name"] == "system:kubelet-api-admin"
                    && d["subjects"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|s| s["kind"] == "User" && s["name"] == cn.as_str())
            });
        assert!(
            bound,
            "{example}: {cn} is not bound to system:kubelet-api-admin"
        );
    }
}
