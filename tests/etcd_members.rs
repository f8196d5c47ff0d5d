//! etcd members can be replaced, proven with what really runs: three real etcd processes on
//! loopback addresses, configured by the rendered etcd-identity script (its `etcdctl` is the
//! real one, behind a `docker` shim standing in for the etcd image). A member restarted with its
//! data keeps its identity; a member whose data is wiped is removed and added back and joins as
//! `existing`, with every key written before readable through it. The rendered etcd stack
//! replaces members one at a time and only after the previous one reported healthy, and the
//! attach script gives a new instance the member's interface and volume (AWS behind a shim).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use kubeline_tests::etcd_lab::{Lab, loopback_cluster, node_file};
use kubeline_tests::{make_executable, outcome, render_example, run, tool};
use serde_json::Value;

#[test]
fn a_member_that_lost_its_data_is_removed_and_added_back() {
    let mut lab = Lab::new();
    // A new cluster: nobody answers, so every member starts `new`.
    // The members boot together, as a new cluster's instances do.
    let runs: Vec<(bool, String)> = std::thread::scope(|s| {
        let lab = &lab;
        let handles: Vec<_> = (0..3).map(|i| s.spawn(move || lab.identity(i))).collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("identity"))
            .collect()
    });
    for (i, (ok, out)) in runs.iter().enumerate() {
        assert!(
            *ok && out.contains("cluster state new"),
            "member {i}: {out}"
        );
        assert_eq!(lab.env(i)["ETCD_INITIAL_CLUSTER_STATE"], "new");
    }
    for i in 0..3 {
        lab.start(i);
    }
    for i in 0..3 {
        lab.wait_healthy(i);
    }
    for k in 0..20 {
        let (ok, out) = lab.etcdctl(0, &["put", &format!("/kubeline/k{k}"), &format!("v{k}")]);
        assert!(ok, "{out}");
    }
    let (before, unstarted) = lab.member_list(0);
    assert_eq!((before.len(), unstarted), (3, 0), "{before:?}");

    // A replacement that got the member's volume back: same member, same ID, `existing`.
    lab.stop(2);
    let (ok, out) = lab.identity(2);
    assert!(ok && out.contains("cluster state existing"), "{out}");
    assert!(!out.contains("removing"), "{out}");
    lab.start(2);
    lab.wait_healthy(2);
    assert_eq!(
        lab.member_list(0).0,
        before,
        "a member with its data changed identity"
    );

    // A member whose data is gone (a new or wiped volume).
    lab.stop(1);
    let data = lab.root(1).join("var/lib/etcd");
    std::fs::remove_dir_all(&data).expect("wipe");
    std::fs::create_dir_all(&data).expect("mkdir");
    let (ok, out) = lab.identity(1);
    assert!(ok, "{out}");
    assert!(
        out.contains("removing it to add it back") && out.contains("cluster state existing"),
        "{out}"
    );
    assert_eq!(lab.env(1)["ETCD_INITIAL_CLUSTER_STATE"], "existing");
    let (now, unstarted) = lab.member_list(0);
    assert_eq!(unstarted, 1, "the member was not added back");
    assert!(
        !now.contains_key(&lab.members[1].0),
        "the old member was not removed"
    );
    // A run that stopped before etcd started: the added member is joined as it is.
    let (ok, out) = lab.identity(1);
    assert!(
        ok && out.contains("never started; joining as it is"),
        "{out}"
    );
    assert_eq!(lab.member_list(0).1, 1, "the member was added twice");

    lab.start(1);
    lab.wait_healthy(1);
    let (after, unstarted) = lab.member_list(0);
    assert_eq!((after.len(), unstarted), (3, 0), "{after:?}");
    assert_ne!(
        after[&lab.members[1].0], before[&lab.members[1].0],
        "member 1 should have rejoined with a new ID"
    );
    assert_eq!(after[&lab.members[0].0], before[&lab.members[0].0]);
    // Every key written before, read linearizably through the member that lost its data.
    for k in 0..20 {
        let (ok, out) = lab.etcdctl(
            1,
            &["get", &format!("/kubeline/k{k}"), "--print-value-only"],
        );
        assert!(ok && out.trim() == format!("v{k}"), "k{k}: {out}");
    }
    for i in 0..3 {
        assert!(lab.etcdctl(i, &["endpoint", "health"]).0, "member {i}");
    }

    // No quorum (two members down) and a member without data: it must not start `new` (its
    // old ID with an empty log); it waits until a quorum can add it back.
    lab.stop(1);
    lab.stop(2);
    let data = lab.root(2).join("var/lib/etcd");
    std::fs::remove_dir_all(&data).expect("wipe");
    std::fs::create_dir_all(&data).expect("mkdir");
    std::fs::remove_file(lab.root(2).join("run/kubeline/etcd.env")).expect("rm env");
    let (ok, out) = lab.identity(2);
    assert!(!ok && out.contains("has no quorum"), "{out}");
    assert!(!lab.root(2).join("run/kubeline/etcd.env").exists(), "{out}");
    lab.start(1);
    lab.wait_healthy(1);
    let (ok, out) = lab.identity(2);
    assert!(ok && out.contains("cluster state existing"), "{out}");
    lab.start(2);
    lab.wait_healthy(2);
    let (ok, out) = lab.etcdctl(2, &["get", "/kubeline/k7", "--print-value-only"]);
    assert!(ok && out.trim() == "v7", "{out}");
}

/// The data volume's device may appear long after boot (attached once the replaced instance let
/// go of it, then formatted): its mount must wait for it, not fail after systemd's default 90 s.
#[test]
fn the_data_volume_mount_waits_for_the_attached_volume() {
    let c = loopback_cluster();
    let dropin = node_file(
        &c,
        "/etc/systemd/system/dev-disk-by\\x2dlabel-etcd\\x2ddata.device.d/10-kubeline-timeout.conf",
    );
    let minutes: u32 = dropin
        .lines()
        .find_map(|l| l.strip_prefix("JobRunningTimeoutSec="))
        .and_then(|v| v.strip_suffix("min"))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no JobRunningTimeoutSec in minutes:\n{dropin}"));
    // etcd-attach waits up to 600 s per resource, format-etcd-data up to 300 s.
    assert!(minutes * 60 >= 2 * 600 + 300, "{minutes} min");
    // The unit name is systemd's escaping of the mount's What=.
    let out = run(Command::new(tool("systemd-escape")).args([
        "--path",
        "--suffix=device",
        "/dev/disk/by-label/etcd-data",
    ]));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "dev-disk-by\\x2dlabel-etcd\\x2ddata.device"
    );
}

// ---- the etcd stack: one member at a time ----

fn etcd_stacks() -> Vec<(String, Value)> {
    kubeline_tests::examples_and_demo()
        .into_iter()
        .map(|(name, path)| {
            let (_, r) = render_example(&path).expect("render");
            let v = serde_json::from_slice(&r.files["stack-templates/etcd.json"]).expect("json");
            (name, v)
        })
        .collect()
}

/// Why a stack could replace two members in one step, if it could.
fn one_member_at_a_time(stack: &Value) -> Result<usize, String> {
    let res = stack["Resources"].as_object().ok_or("no resources")?;
    if let Some((l, _)) = res.iter().find(|(_, r)| r["Type"] == "AWS::EC2::Instance") {
        return Err(format!(
            "{l} is a bare instance: replaced create-first, on its ENI"
        ));
    }
    let groups: Vec<(&String, &Value)> = res
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::AutoScaling::AutoScalingGroup")
        .collect();
    for (l, g) in &groups {
        let p = &g["Properties"];
        if p["MaxSize"] != "1" || p["MinSize"] != "1" || p["DesiredCapacity"] != "1" {
            return Err(format!("{l} is not a group of one"));
        }
        if p.get("AutoScalingGroupName").is_some() {
            // A named group is replaced (a new group beside the old) when anything forces it.
            return Err(format!("{l} has a fixed name"));
        }
        let u = &g["UpdatePolicy"]["AutoScalingRollingUpdate"];
        if u["MaxBatchSize"] != 1 || u["MinInstancesInService"] != 0 {
            return Err(format!("{l}: not one instance at a time, old one first"));
        }
        if u["WaitOnResourceSignals"] != true {
            return Err(format!(
                "{l} does not wait for the new member's health signal"
            ));
        }
        if g.get("CreationPolicy").is_some() {
            // Members of a new cluster cannot be healthy one by one (no quorum yet).
            return Err(format!("{l} waits for a signal at creation"));
        }
    }
    // The groups form one chain: each depends on exactly one other, no two on the same one.
    let mut depends: BTreeMap<&str, &str> = BTreeMap::new();
    for (l, g) in &groups {
        match &g["DependsOn"] {
            Value::Null => {}
            Value::String(d) => {
                depends.insert(l.as_str(), d.as_str());
            }
            other => return Err(format!("{l} depends on {other}")),
        }
    }
    let roots = groups.len() - depends.len();
    let mut targets: Vec<&str> = depends.values().copied().collect();
    targets.sort();
    targets.dedup();
    if roots != 1 || targets.len() != depends.len() {
        return Err(format!("the member groups are no chain: {depends:?}"));
    }
    for d in depends.values() {
        if !groups.iter().any(|(l, _)| l.as_str() == *d) {
            return Err(format!("a member group depends on {d}, not a member group"));
        }
    }
    Ok(groups.len())
}

#[test]
fn the_etcd_stack_replaces_one_member_at_a_time() {
    for (name, stack) in etcd_stacks() {
        let members = one_member_at_a_time(&stack).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (c, _) = kubeline_tests::examples_and_demo()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| render_example(&p).expect("render"))
            .expect("example");
        assert_eq!(members, c.etcd.members.len(), "{name}");
        // Negative controls: each weakening is caught.
        let ha = &stack;
        if members < 2 {
            continue;
        }
        let mut parallel = ha.clone();
        parallel["Resources"]["Member1AutoScalingGroup"]
            .as_object_mut()
            .expect("group")
            .remove("DependsOn");
        assert!(one_member_at_a_time(&parallel).is_err(), "{name}: parallel");
        let mut unsignalled = ha.clone();
        unsignalled["Resources"]["Member0AutoScalingGroup"]["UpdatePolicy"]["AutoScalingRollingUpdate"]
            ["WaitOnResourceSignals"] = Value::Bool(false);
        assert!(
            one_member_at_a_time(&unsignalled).is_err(),
            "{name}: signals"
        );
        let mut batch = ha.clone();
        batch["Resources"]["Member0AutoScalingGroup"]["Properties"]["MaxSize"] = "2".into();
        assert!(one_member_at_a_time(&batch).is_err(), "{name}: size");
    }
}

// ---- etcd-attach: a new instance takes the member's interface and volume ----

/// AWS, IMDS and networkd behind shims. `aws` answers from files in STATE: the ENI is held by
/// the old instance for HELD_FOR describe calls; an attach "hot-plugs" the interface under
/// KUBELINE_ROOT/sys/class/net; `ip` shows the address once networkd was reconfigured.
const AWS_SHIM: &str = r#"#!/bin/bash
# docker run ... IMAGE aws-args...: drop everything up to the image.
while [[ "$1" != "${AWS_IMAGE}" ]]; do shift; done
shift
echo "aws $*" >>"${STATE}/calls"
case "$1 $2" in
  "ec2 describe-tags")
    case "$*" in
      *etcd-network-interface*) echo eni-0123 ;;
      *etcd-data-volume*) echo vol-0456 ;;
    esac ;;
  "ec2 describe-network-interfaces")
    n=$(( $(cat "${STATE}/eni-describes" 2>/dev/null || echo 0) + 1 )); echo "$n" >"${STATE}/eni-describes"
    if [[ -f "${STATE}/eni-attached" ]]; then printf 'in-use\ti-new\t0a:1b:2c:3d:4e:5f\t10.0.1.10\tsubnet-7\n'
    elif (( n <= HELD_FOR )); then printf 'in-use\ti-old\t0a:1b:2c:3d:4e:5f\t10.0.1.10\tsubnet-7\n'
    else printf 'available\tNone\t0a:1b:2c:3d:4e:5f\t10.0.1.10\tsubnet-7\n'; fi ;;
  "ec2 describe-subnets") echo 10.0.1.0/24 ;;
  "ec2 attach-network-interface")
    touch "${STATE}/eni-attached"
    mkdir -p "${KUBELINE_ROOT}/sys/class/net/eth1"
    echo 0a:1b:2c:3d:4e:5f >"${KUBELINE_ROOT}/sys/class/net/eth1/address"
    echo '{"AttachmentId": "eni-attach-1"}' ;;
  "ec2 describe-volumes")
    if [[ -f "${STATE}/vol-attached" ]]; then printf 'in-use\ti-new\n'
    elif [[ -n "${VOLUME_HELD:-}" && ! -f "${STATE}/vol-detached" ]]; then printf 'in-use\ti-old\n'
    else printf 'available\tNone\n'; fi ;;
  "ec2 describe-instances") echo "${OLD_STATE}" ;;
  "ec2 detach-volume") touch "${STATE}/vol-detached"; echo '{"State": "detaching"}' ;;
  "ec2 attach-volume") touch "${STATE}/vol-attached"; echo '{"State": "attaching"}' ;;
  *) echo "aws shim: unexpected $*" >&2; exit 2 ;;
esac
"#;
const CURL_SHIM: &str = r#"#!/bin/bash
case "$*" in
  *api/token*) echo token ;;
  *meta-data/instance-id*) echo i-new ;;
  *) exit 22 ;;
esac
"#;
const NETWORKCTL_SHIM: &str = r#"#!/bin/bash
echo "networkctl $*" >>"${STATE}/calls"
[[ "$1" == reconfigure ]] && touch "${STATE}/configured-$2"
exit 0
"#;
const ATTACH_IP_SHIM: &str = r#"#!/bin/bash
if [[ -f "${STATE}/configured-eth1" ]]; then
  echo "3: eth1    inet 10.0.1.10/24 scope global eth1\       valid_lft forever preferred_lft forever"
fi
"#;

struct Instance {
    dir: tempfile::TempDir,
    script: PathBuf,
}

impl Instance {
    fn new() -> Instance {
        let c = loopback_cluster();
        let dir = tempfile::tempdir().expect("tmp");
        let d = dir.path();
        std::fs::create_dir_all(d.join("bin")).expect("mkdir");
        std::fs::create_dir_all(d.join("state")).expect("mkdir");
        std::fs::create_dir_all(d.join("root/sys/class/net/eth0")).expect("mkdir");
        std::fs::write(
            d.join("root/sys/class/net/eth0/address"),
            "0a:00:00:00:00:01\n",
        )
        .expect("w");
        for (name, text) in [
            ("docker", AWS_SHIM),
            ("curl", CURL_SHIM),
            ("networkctl", NETWORKCTL_SHIM),
            ("ip", ATTACH_IP_SHIM),
        ] {
            std::fs::write(d.join("bin").join(name), text).expect("write");
            make_executable(&d.join("bin").join(name));
        }
        // The member's address is etcd0's; etcd1 shares its subnet, etcd2 is in another.
        std::fs::create_dir_all(d.join("root/etc/kubeline")).expect("mkdir");
        std::fs::write(
            d.join("root/etc/kubeline/etcd-members"),
            "etcd0=10.0.1.10\netcd1=10.0.1.20\netcd2=10.0.2.30\n",
        )
        .expect("w");
        let script = d.join("etcd-attach");
        std::fs::write(&script, node_file(&c, "/opt/kubeline/bin/etcd-attach")).expect("w");
        Instance { dir, script }
    }

    fn run(&self, held_for: u32, wait: u32) -> (bool, String, Option<i32>) {
        self.run_with(held_for, wait, &[])
    }

    fn run_with(
        &self,
        held_for: u32,
        wait: u32,
        env: &[(&str, &str)],
    ) -> (bool, String, Option<i32>) {
        let d = self.dir.path();
        let rendered = std::fs::read_to_string(&self.script).expect("script");
        let image = rendered
            .lines()
            .find_map(|l| l.strip_prefix("readonly AWS_IMAGE='"))
            .and_then(|l| l.strip_suffix('\''))
            .expect("AWS_IMAGE")
            .to_owned();
        let path = kubeline_tests::path_with(&d.join("bin"));
        let out = run(Command::new(tool("bash"))
            .arg(&self.script)
            .env("PATH", path)
            .env("KUBELINE_ROOT", d.join("root"))
            .env("STATE", d.join("state"))
            .env("AWS_IMAGE", image)
            .env("HELD_FOR", held_for.to_string())
            .env("KUBELINE_ATTACH_WAIT", wait.to_string())
            .env("KUBELINE_POLL_SECONDS", "0")
            .env("KUBELINE_RETRY_ATTEMPTS", "2")
            .env("KUBELINE_RETRY_DELAY", "0")
            .envs(env.iter().copied()));
        let (ok, text) = outcome(&out);
        (ok, text, out.status.code())
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("state/calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn network_file(&self) -> String {
        std::fs::read_to_string(
            self.dir
                .path()
                .join("root/etc/systemd/network/00-kubeline-etcd.network"),
        )
        .expect("network file")
    }
}

/// The `[Section] Key=Value` pairs of a networkd file, in order.
fn ini(text: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.to_owned();
        } else if let Some((k, v)) = line.split_once('=')
            && !line.starts_with('#')
        {
            out.push((section.clone(), k.to_owned(), v.to_owned()));
        }
    }
    out
}

#[test]
fn a_new_instance_waits_for_and_attaches_the_member_s_interface_and_volume() {
    let node = Instance::new();
    let (ok, out, _) = node.run(2, 60);
    assert!(ok, "{out}");
    assert!(out.contains("held by i-old); waiting for it"), "{out}");
    let calls = node.calls();
    let pos = |needle: &str| {
        calls
            .iter()
            .position(|c| c.contains(needle))
            .unwrap_or_else(|| panic!("no call {needle}: {calls:#?}"))
    };
    // The interface is attached second (an Auto Scaling group launched the first), once the old
    // instance let go of it, and networkd knows its config before it appears.
    assert!(calls[pos("attach-network-interface")].contains("--device-index 1"));
    assert!(calls[pos("attach-network-interface")].contains("--instance-id i-new"));
    assert!(pos("networkctl reload") < pos("attach-network-interface"));
    assert!(pos("attach-network-interface") < pos("networkctl reconfigure eth1"));
    assert!(calls[pos("attach-volume")].contains("--device /dev/xvdf"));
    assert!(calls[pos("attach-volume")].contains("--volume-id vol-0456"));

    let net = ini(&node.network_file());
    let has = |s: &str, k: &str, v: &str| {
        assert!(
            net.iter().any(|(a, b, c)| a == s && b == k && c == v),
            "[{s}] {k}={v} missing: {net:?}"
        )
    };
    has("Match", "MACAddress", "0a:1b:2c:3d:4e:5f");
    has("Network", "DHCP", "no");
    has("Address", "Address", "10.0.1.10/24");
    // No route of the member's interface in the main table: the instance's own interface
    // keeps it, and the member's address gets a table and a rule of its own.
    has("Address", "AddPrefixRoute", "no");
    has("Route", "Destination", "10.0.1.0/24");
    has("Route", "Gateway", "10.0.1.1");
    has("RoutingPolicyRule", "From", "10.0.1.10/32");
    let tables: Vec<&str> = net
        .iter()
        .filter(|(_, k, _)| k == "Table")
        .map(|(_, _, v)| v.as_str())
        .collect();
    assert!(
        tables.len() == 3 && tables.iter().all(|t| *t == tables[0]),
        "{tables:?}"
    );
    assert_ne!(tables[0], "main");
    // Connections to the other members leave from the member's address (etcd's peer listener
    // checks the source against the peer certificate's addresses): a main-table route each,
    // on the link for a peer in the subnet, through the VPC router for the others.
    let text = node.network_file();
    let routes: Vec<&str> = text.split("[Route]").skip(1).collect();
    let peer = |dest: &str| {
        routes
            .iter()
            .find(|r| r.contains(&format!("Destination={dest}\n")))
            .unwrap_or_else(|| panic!("no route to {dest}:\n{text}"))
    };
    for dest in ["10.0.1.20/32", "10.0.2.30/32"] {
        let r = peer(dest);
        assert!(
            r.contains("PreferredSource=10.0.1.10\n") && !r.contains("Table="),
            "{r}"
        );
    }
    assert!(peer("10.0.1.20/32").contains("Scope=link"));
    assert!(peer("10.0.2.30/32").contains("Gateway=10.0.1.1\nGatewayOnLink=yes"));
    assert!(
        !text.contains("Destination=10.0.1.10/32"),
        "a route to itself:\n{text}"
    );

    // Run again on the same instance: nothing is attached twice.
    let before = node.calls().len();
    let (ok, out, _) = node.run(0, 60);
    assert!(ok, "{out}");
    let again = &node.calls()[before..];
    assert!(
        !again.iter().any(|c| c.contains("attach-")),
        "attached twice: {again:?}"
    );
}

#[test]
fn an_interface_that_stays_held_makes_the_instance_ask_for_a_replacement() {
    let node = Instance::new();
    let (ok, out, code) = node.run(1000, 1);
    assert!(!ok, "{out}");
    assert_eq!(code, Some(75), "{out}");
    assert!(out.contains("still in-use (held by i-old)"), "{out}");
    assert!(!node.calls().iter().any(|c| c.contains("attach-")));
}

/// A volume left attached to a dead instance (impaired hardware) is force-detached once that
/// instance is terminated; one still held by a running instance never is.
#[test]
fn a_volume_held_by_a_dead_instance_is_force_detached() {
    let node = Instance::new();
    let dead = [
        ("VOLUME_HELD", "yes"),
        ("OLD_STATE", "terminated"),
        ("KUBELINE_FORCE_AFTER", "0"),
    ];
    let (ok, out, _) = node.run_with(0, 60, &dead);
    assert!(ok, "{out}");
    let calls = node.calls();
    let detach = calls
        .iter()
        .position(|c| c.contains("detach-volume"))
        .unwrap_or_else(|| panic!("no detach: {calls:#?}"));
    assert!(calls[detach].contains("--volume-id vol-0456 --instance-id i-old --force"));
    let attach = calls
        .iter()
        .position(|c| c.contains("attach-volume"))
        .expect("attach");
    assert!(detach < attach, "{calls:#?}");

    let node = Instance::new();
    let alive = [
        ("VOLUME_HELD", "yes"),
        ("OLD_STATE", "running"),
        ("KUBELINE_FORCE_AFTER", "0"),
    ];
    let (ok, out, code) = node.run_with(0, 1, &alive);
    assert!(!ok && code == Some(75), "{out}");
    assert!(
        !node.calls().iter().any(|c| c.contains("detach-volume")),
        "{out}"
    );
}
