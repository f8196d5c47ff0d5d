//! The `kubeline` binary end to end: init, validate, render stack and schema, in temp dirs.

use std::path::Path;
use std::process::{Command, Output};

fn kubeline(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubeline"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run kubeline")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const INIT: &[&str] = &[
    "init",
    "--cluster-name",
    "team-a",
    "--region",
    "eu-west-1",
    "--availability-zone",
    "eu-west-1a",
    "--external-dns-name",
    "api.team-a.example.com",
    "--kms-key-arn",
    "arn:aws:kms:eu-west-1:123456789012:key/0000-1111",
    "--s3-uri",
    "s3://my-kubeline-bucket/assets",
    "--hosted-zone-id",
    "Z0123456789ABCDEFGHIJ",
];

#[test]
fn init_validate_render_round_trip() {
    let tmp = tempfile::tempdir().expect("tmp");
    let d = tmp.path();
    let o = kubeline(d, INIT);
    assert!(o.status.success(), "{}", text(&o));
    assert!(d.join("cluster.yaml").is_file());

    let o = kubeline(d, INIT);
    assert!(!o.status.success(), "init overwrote without --force");
    assert!(text(&o).contains("--force"), "{}", text(&o));
    let mut forced = INIT.to_vec();
    forced.push("--force");
    assert!(kubeline(d, &forced).status.success());

    let o = kubeline(d, &["validate"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("valid; renders 4 stacks and 3 node configs"),
        "{}",
        text(&o)
    );
    let o = kubeline(d, &["validate", "--strict"]);
    assert!(
        !o.status.success(),
        "--strict must fail on the kubeletHash warning: {}",
        text(&o)
    );

    let o = kubeline(d, &["render", "stack"]);
    assert!(o.status.success(), "{}", text(&o));
    for f in [
        "stack-templates/network.json",
        "stack-templates/etcd.json",
        "stack-templates/control-plane.json",
        "stack-templates/node-pool-general.json",
        "userdata/controller.json",
        "userdata/etcd.json",
        "userdata/worker-general.json",
        "kubeconfig",
        "manifest.json",
    ] {
        assert!(d.join(f).is_file(), "{f} missing");
    }
    // Re-rendering an unchanged config rewrites nothing.
    let o = kubeline(d, &["render", "stack"]);
    assert!(
        !text(&o).contains("created") && !text(&o).contains("updated"),
        "{}",
        text(&o)
    );

    // Renaming the pool removes the stale pool stack and node config.
    let cfg = std::fs::read_to_string(d.join("cluster.yaml"))
        .expect("read")
        .replace("- name: general", "- name: apps");
    std::fs::write(d.join("cluster.yaml"), cfg).expect("write");
    let o = kubeline(d, &["render", "stack"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!d.join("stack-templates/node-pool-general.json").exists());
    assert!(!d.join("userdata/worker-general.json").exists());
    assert!(d.join("stack-templates/node-pool-apps.json").is_file());
    assert!(text(&o).contains("removed"), "{}", text(&o));
}

#[test]
fn init_with_invalid_flags_writes_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut args = INIT.to_vec();
    args[2] = "Team.A";
    let o = kubeline(tmp.path(), &args);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("clusterName: \"Team.A\" contains a dot"),
        "{}",
        text(&o)
    );
    assert!(!tmp.path().join("cluster.yaml").exists());
}

#[test]
fn invalid_config_renders_nothing_and_names_every_error() {
    let tmp = tempfile::tempdir().expect("tmp");
    let d = tmp.path();
    assert!(kubeline(d, INIT).status.success());
    let cfg = std::fs::read_to_string(d.join("cluster.yaml"))
        .expect("read")
        .replace("count: 3", "count: 2")
        .replace("releaseChannel: stable", "releaseChanel: stable");
    std::fs::write(d.join("cluster.yaml"), cfg).expect("write");
    let o = kubeline(d, &["render", "stack"]);
    assert_eq!(o.status.code(), Some(1));
    let t = text(&o);
    assert!(
        t.contains("cluster.yaml:")
            && t.contains("releaseChanel: unknown key; did you mean `releaseChannel`?"),
        "{t}"
    );
    assert!(
        t.contains("etcd.count: etcd needs an odd number of members, not 2"),
        "{t}"
    );
    assert!(t.contains("2 errors found; nothing was rendered"), "{t}");
    assert!(
        !d.join("stack-templates").exists(),
        "something was rendered"
    );
}

#[test]
fn templates_folder_overrides_built_in_templates() {
    let tmp = tempfile::tempdir().expect("tmp");
    let d = tmp.path();
    assert!(kubeline(d, INIT).status.success());
    std::fs::create_dir_all(d.join("templates/userdata")).expect("mkdir");
    std::fs::write(d.join("templates/userdata/worker.yaml.j2"), "files: []\nunits:\n  - name: custom.service\n    enabled: true\n    contents: |\n      [Service]\n      ExecStart=/usr/bin/true\n").expect("write");
    let o = kubeline(d, &["render", "stack"]);
    assert!(o.status.success(), "{}", text(&o));
    let worker = std::fs::read_to_string(d.join("userdata/worker-general.json")).expect("read");
    assert!(worker.contains("custom.service"));
    let manifest = std::fs::read_to_string(d.join("manifest.json")).expect("read");
    assert!(
        manifest.contains("userdata/worker.yaml.j2"),
        "manifest records the override"
    );

    std::fs::write(d.join("templates/userdata/wrker.yaml.j2"), "x").expect("write");
    let o = kubeline(d, &["render", "stack"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("templates/userdata/wrker.yaml.j2: no built-in template has this name"),
        "{}",
        text(&o)
    );
}

#[test]
fn schema_is_json_schema_of_cluster_yaml() {
    let tmp = tempfile::tempdir().expect("tmp");
    let o = kubeline(tmp.path(), &["schema"]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["title"], "kubeline cluster.yaml");
    for key in [
        "clusterName",
        "s3URI",
        "apiEndpoints",
        "worker",
        "sshAccessAllowedSourceCIDRs",
    ] {
        assert!(
            v["properties"].get(key).is_some(),
            "{key} missing from schema"
        );
    }
    assert_eq!(v["additionalProperties"], false);
}

#[test]
fn missing_config_is_a_clear_error() {
    let tmp = tempfile::tempdir().expect("tmp");
    let o = kubeline(tmp.path(), &["validate"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("cannot read cluster.yaml"),
        "{}",
        text(&o)
    );
}
