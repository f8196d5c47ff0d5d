//! Rolling updates wait for readiness: every controller and pool group waits for its new
//! instances' signals (`waitSignal`, on by default), and the rendered node-ready script that
//! sends them runs for real against shims (a `docker` shim standing in for the kubectl and AWS
//! CLI images, a `curl` shim for IMDSv2). A node that becomes Ready signals SUCCESS once, for
//! its own instance, stack and group; one that does not signals FAILURE after its wait; a
//! controller must also serve /readyz; AccessDenied fails the unit and a refused signal (no
//! update in progress) is only logged. The groups' PauseTime outlasts the script, the roles may
//! signal only their own stack, and `waitSignal: {enabled: false}` restores the fixed pause.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use kubeline_core::cluster::Cluster;
use kubeline_core::layout::NodeGroup;
use kubeline_core::render::{self, Rendered, Templates};
use kubeline_core::validate;
use kubeline_tests::iam::{Decision, Pseudo, Request, evaluate};
use kubeline_tests::{
    UnitFile, decode_ignition, examples_and_demo, inline_file, make_executable, outcome, repo_root,
    role_policies, run, stacks_of, tool,
};
use serde_json::Value;

const SCRIPT: &str = "/opt/kubeline/bin/node-ready";
const UNIT: &str = "kubeline-node-ready.service";
/// Processes the UpdatePolicy documentation says to suspend during a rolling update.
const SUSPENDED: [&str; 5] = [
    "HealthCheck",
    "ReplaceUnhealthy",
    "AZRebalance",
    "AlarmNotification",
    "ScheduledActions",
];
/// What the launch, Ignition and the boot up to the unit's start may take, at most.
const BOOT_ALLOWANCE: u64 = 180;

// ---- rendering ----

/// An example's cluster.yaml with CHANGE applied to it (as a JSON tree: JSON is YAML).
fn changed(example: &str, change: impl FnOnce(&mut Value)) -> (Cluster, Rendered) {
    let path = repo_root().join(format!("examples/{example}/cluster.yaml"));
    let text = std::fs::read_to_string(&path).expect("example");
    let mut tree: Value = serde_saphyr::from_str(&text).expect("yaml");
    change(&mut tree);
    let text = serde_json::to_string_pretty(&tree).expect("json");
    let loaded = validate::load(&text);
    let cluster = loaded
        .cluster
        .unwrap_or_else(|| panic!("{}", loaded.diagnostics.render("cluster.yaml")));
    let rendered = render::render(&cluster, &Templates::builtin()).expect("render");
    (cluster, rendered)
}

/// Sets `waitSignal` on the controllers and every pool.
fn wait_signal_everywhere(tree: &mut Value, wait_signal: &Value) {
    tree["waitSignal"] = wait_signal.clone();
    for p in tree["worker"]["nodePools"]
        .as_array_mut()
        .expect("pools")
        .iter_mut()
    {
        p["waitSignal"] = wait_signal.clone();
    }
}

/// The groups that roll: `(stack stem, node config file, node role, desired, max, batch)`.
fn groups(c: &Cluster) -> Vec<(String, String, &'static str, u32, u32, u32)> {
    let mut out = vec![(
        "control-plane".to_owned(),
        "userdata/controller.json".to_owned(),
        "controller",
        c.controller.size.desired,
        c.controller.size.max,
        c.controller.max_batch_size,
    )];
    for p in &c.node_pools {
        out.push((
            format!("node-pool-{}", p.name),
            format!("userdata/{}.json", NodeGroup::Pool(&p.name).file_stem()),
            "worker",
            p.size.desired,
            p.size.max,
            p.max_batch_size,
        ));
    }
    out
}

/// A file of a rendered node config, if it has it.
fn node_file(rendered: &Rendered, config: &str, path: &str) -> Option<String> {
    let (files, _, _) = decode_ignition(&rendered.files[config]);
    inline_file(&files, path).map(str::to_owned)
}

/// A unit of a rendered node config, parsed, if it has it.
fn node_unit(rendered: &Rendered, config: &str, name: &str) -> Option<UnitFile> {
    let (_, units, _) = decode_ignition(&rendered.files[config]);
    units
        .into_iter()
        .find(|u| u.name == name)
        .and_then(|u| u.contents)
        .map(|t| UnitFile::parse(&t))
}

/// A `readonly NAME='VALUE'` or `readonly NAME="${KUBELINE_X:-VALUE}"` of a rendered script.
fn script_value(script: &str, name: &str) -> String {
    let line = script
        .lines()
        .find_map(|l| l.strip_prefix(&format!("readonly {name}=")))
        .unwrap_or_else(|| panic!("no readonly {name}"));
    let v = line.trim_matches(['\'', '"']);
    match v.split_once(":-") {
        Some((_, default)) => default.trim_end_matches('}').to_owned(),
        None => v.to_owned(),
    }
}

/// Seconds of an ISO 8601 duration `PT#H#M#S`.
fn iso_seconds(d: &str) -> u64 {
    let mut rest = d
        .strip_prefix("PT")
        .unwrap_or_else(|| panic!("duration {d}"));
    let mut total = 0;
    while !rest.is_empty() {
        let at = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or_else(|| panic!("duration {d}"));
        let n: u64 = rest[..at]
            .parse()
            .unwrap_or_else(|_| panic!("duration {d}"));
        total += n * match &rest[at..=at] {
            "H" => 3600,
            "M" => 60,
            "S" => 1,
            other => panic!("duration {d}: unit {other}"),
        };
        rest = &rest[at + 1..];
    }
    total
}

/// Why a group would not wait for its new instances' readiness, if it would not. `script` is
/// the node-ready script its instances run, `unit` its unit.
fn waits_for_readiness(
    group: &Value,
    script: &str,
    unit: &UnitFile,
    desired: u32,
    batch: u32,
) -> Result<(), String> {
    let u = &group["UpdatePolicy"]["AutoScalingRollingUpdate"];
    if u["WaitOnResourceSignals"] != true {
        return Err("no WaitOnResourceSignals".into());
    }
    let pause = iso_seconds(u["PauseTime"].as_str().ok_or("no PauseTime")?);
    let wait: u64 = script_value(script, "READY_WAIT")
        .parse()
        .map_err(|_| "READY_WAIT")?;
    let retries: u64 = script_value(script, "SIGNAL_RETRIES")
        .parse()
        .map_err(|_| "SIGNAL_RETRIES")?;
    if pause < BOOT_ALLOWANCE + wait + retries {
        return Err(format!(
            "PauseTime {pause}s is shorter than the boot ({BOOT_ALLOWANCE}s), the script's wait ({wait}s) and its signal retries ({retries}s)"
        ));
    }
    if pause > 3600 {
        return Err(format!("PauseTime {pause}s is over CloudFormation's PT1H"));
    }
    let timeout = match unit.values("Service", "TimeoutStartSec").as_slice() {
        [t] => t
            .parse::<u64>()
            .map_err(|_| format!("TimeoutStartSec {t}"))?,
        other => return Err(format!("TimeoutStartSec {other:?}")),
    };
    if timeout <= wait + retries || timeout >= pause {
        return Err(format!(
            "the unit's TimeoutStartSec {timeout}s does not lie between the script's {}s and the PauseTime {pause}s",
            wait + retries
        ));
    }
    let suspended: BTreeSet<&str> = u["SuspendProcesses"]
        .as_array()
        .ok_or("no SuspendProcesses")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    if suspended != SUSPENDED.into_iter().collect() {
        return Err(format!("suspends {suspended:?}"));
    }
    if u["MaxBatchSize"] != batch {
        return Err(format!("MaxBatchSize {} is not {batch}", u["MaxBatchSize"]));
    }
    let created = &group["CreationPolicy"]["ResourceSignal"];
    if desired > 0 && (created["Count"] != desired || created["Timeout"] != u["PauseTime"]) {
        return Err(format!(
            "CreationPolicy {created} does not wait for {desired} signals"
        ));
    }
    if desired == 0 && group.get("CreationPolicy").is_some() {
        return Err("an empty group waits for signals at creation".into());
    }
    Ok(())
}

#[test]
fn every_controller_and_pool_group_waits_for_readiness_longer_than_its_script() {
    let mut checked = 0;
    for (example, path) in examples_and_demo() {
        let (c, rendered) = kubeline_tests::render_example(&path).expect("render");
        let stacks = stacks_of(&rendered);
        for (stem, config, node_role, desired, max, batch) in groups(&c) {
            let group = &stacks[&stem]["Resources"]["AutoScalingGroup"];
            let u = &group["UpdatePolicy"]["AutoScalingRollingUpdate"];
            if max == 0 {
                assert!(group.get("UpdatePolicy").is_none(), "{example}/{stem}");
                continue;
            }
            assert_eq!(batch, 1, "{example}/{stem}: maxBatchSize defaults to 1");
            let script = node_file(&rendered, &config, SCRIPT)
                .unwrap_or_else(|| panic!("{example}/{config}: no {SCRIPT}"));
            let unit = node_unit(&rendered, &config, UNIT)
                .unwrap_or_else(|| panic!("{example}/{config}: no {UNIT}"));
            waits_for_readiness(group, &script, &unit, desired, batch)
                .unwrap_or_else(|e| panic!("{example}/{stem}: {e}"));
            // The script signals this stack's group, which is what waits.
            assert_eq!(script_value(&script, "STACK"), c.stack_name(&stem));
            assert_eq!(script_value(&script, "RESOURCE"), "AutoScalingGroup");
            assert!(
                rendered
                    .stacks
                    .iter()
                    .any(|s| s.name == c.stack_name(&stem)),
                "{example}: no stack {stem}"
            );
            assert_eq!(
                script.contains("/readyz"),
                node_role == "controller",
                "{example}/{stem}"
            );
            // MinInstancesInService is kept as rollingUpdateMinInstancesInService says.
            let in_service = if node_role == "controller" {
                c.controller.size.min_in_service
            } else {
                c.node_pools
                    .iter()
                    .find(|p| stem == format!("node-pool-{}", p.name))
                    .map(|p| p.size.min_in_service)
                    .expect("pool")
            };
            assert_eq!(u["MinInstancesInService"], in_service, "{example}/{stem}");
            // Negative controls: each weakening is caught.
            let mut short = group.clone();
            short["UpdatePolicy"]["AutoScalingRollingUpdate"]["PauseTime"] = "PT5M".into();
            assert!(waits_for_readiness(&short, &script, &unit, desired, batch).is_err());
            let mut unsignalled = group.clone();
            unsignalled["UpdatePolicy"]["AutoScalingRollingUpdate"]["WaitOnResourceSignals"] =
                false.into();
            assert!(waits_for_readiness(&unsignalled, &script, &unit, desired, batch).is_err());
            let mut unsuspended = group.clone();
            unsuspended["UpdatePolicy"]["AutoScalingRollingUpdate"]["SuspendProcesses"] =
                serde_json::json!(["HealthCheck"]);
            assert!(waits_for_readiness(&unsuspended, &script, &unit, desired, batch).is_err());
            let slow = script.replace(
                &format!(
                    "KUBELINE_READY_WAIT:-{}}}",
                    script_value(&script, "READY_WAIT")
                ),
                "KUBELINE_READY_WAIT:-3000}",
            );
            assert!(waits_for_readiness(group, &slow, &unit, desired, batch).is_err());
            checked += 1;
        }
    }
    assert!(checked >= 12, "only {checked} groups checked");
}

#[test]
fn without_wait_signal_groups_roll_on_a_fixed_pause_as_before() {
    let (c, rendered) = changed("spot-pool", |t| {
        wait_signal_everywhere(t, &serde_json::json!({"enabled": false}));
    });
    assert!(!c.controller.wait_signal);
    let stacks = stacks_of(&rendered);
    for (stem, config, node_role, _, max, batch) in groups(&c) {
        let group = &stacks[&stem]["Resources"]["AutoScalingGroup"];
        assert_eq!(batch, 1, "{stem}");
        assert!(group.get("CreationPolicy").is_none(), "{stem}");
        assert!(node_file(&rendered, &config, SCRIPT).is_none(), "{config}");
        assert!(node_unit(&rendered, &config, UNIT).is_none(), "{config}");
        if max == 0 {
            continue;
        }
        let pause = if node_role == "controller" {
            "PT5M"
        } else {
            "PT2M"
        };
        let u = &group["UpdatePolicy"]["AutoScalingRollingUpdate"];
        let keys: BTreeSet<&str> = u
            .as_object()
            .expect("policy")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            ["MaxBatchSize", "MinInstancesInService", "PauseTime"]
                .into_iter()
                .collect(),
            "{stem}: {u}"
        );
        assert_eq!(u["PauseTime"], pause, "{stem}");
        assert_eq!(u["MaxBatchSize"], 1, "{stem}");
    }
    // No role but etcd's may signal anything; etcd's members keep their health signal.
    for group in kubeline_tests::node_groups(&c) {
        let policies = role_policies(&rendered, &kubeline_core::layout::node_role_name(&c, group));
        let text = serde_json::to_string(&policies).expect("json");
        assert_eq!(
            text.contains("cloudformation:SignalResource"),
            group == NodeGroup::Etcd,
            "{}",
            group.kind()
        );
    }
    // Disabled per group: the others still wait.
    let (c, rendered) = changed("spot-pool", |t| {
        t["worker"]["nodePools"][1]["waitSignal"] = serde_json::json!({"enabled": false});
    });
    let stacks = stacks_of(&rendered);
    for p in &c.node_pools {
        let u = &stacks[&format!("node-pool-{}", p.name)]["Resources"]["AutoScalingGroup"]["UpdatePolicy"]
            ["AutoScalingRollingUpdate"];
        assert_eq!(
            u["WaitOnResourceSignals"] == true,
            p.name != "spot",
            "{}",
            p.name
        );
    }
}

#[test]
fn max_batch_size_comes_from_wait_signal() {
    let (c, rendered) = changed("ha", |t| {
        t["waitSignal"] = serde_json::json!({"maxBatchSize": 2});
        t["worker"]["nodePools"][0]["waitSignal"] =
            serde_json::json!({"enabled": true, "maxBatchSize": 3});
    });
    assert!(c.controller.wait_signal && c.node_pools[0].wait_signal);
    let stacks = stacks_of(&rendered);
    let batch = |stem: &str| {
        stacks[stem]["Resources"]["AutoScalingGroup"]["UpdatePolicy"]["AutoScalingRollingUpdate"]
            ["MaxBatchSize"]
            .clone()
    };
    assert_eq!(batch("control-plane"), 2);
    assert_eq!(batch(&format!("node-pool-{}", c.node_pools[0].name)), 3);

    // maxBatchSize without signals has no effect, and says so.
    let text = std::fs::read_to_string(repo_root().join("examples/ha/cluster.yaml")).expect("ha");
    let mut tree: Value = serde_saphyr::from_str(&text).expect("yaml");
    tree["waitSignal"] = serde_json::json!({"enabled": false, "maxBatchSize": 2});
    let loaded = validate::load(&serde_json::to_string(&tree).expect("json"));
    let c = loaded.cluster.expect("accepted");
    assert_eq!(
        (c.controller.wait_signal, c.controller.max_batch_size),
        (false, 1)
    );
    let diags = loaded.diagnostics.render("cluster.yaml");
    assert!(
        diags.contains(
            "warning: waitSignal.maxBatchSize: maxBatchSize has no effect without signals"
        ),
        "{diags}"
    );
    // The defaults, written nowhere: on, one at a time.
    let (c, _) = changed("minimal", |_| {});
    assert!(c.controller.wait_signal && c.node_pools.iter().all(|p| p.wait_signal));
    assert_eq!(c.controller.max_batch_size, 1);
    // Without flannel no node becomes Ready by itself: a warning says so.
    let text = std::fs::read_to_string(repo_root().join("examples/minimal/cluster.yaml"))
        .expect("minimal");
    let mut tree: Value = serde_saphyr::from_str(&text).expect("yaml");
    tree["addons"]["flannel"] = serde_json::json!({"enabled": false});
    let diags = validate::load(&serde_json::to_string(&tree).expect("json"))
        .diagnostics
        .render("cluster.yaml");
    assert!(
        diags.contains("warning: addons.flannel.enabled: without kubeline's pod network"),
        "{diags}"
    );
    wait_signal_everywhere(&mut tree, &serde_json::json!({"enabled": false}));
    let diags = validate::load(&serde_json::to_string(&tree).expect("json"))
        .diagnostics
        .render("cluster.yaml");
    assert!(!diags.contains("addons.flannel.enabled"), "{diags}");
}

// ---- IAM: each role signals its own stack only ----

#[test]
fn each_role_may_signal_only_its_own_stack() {
    let pseudo = Pseudo::default();
    let signal = |stack: &str| {
        Request::new(
            "cloudformation:SignalResource",
            &format!(
                "arn:aws:cloudformation:eu-west-1:123456789012:stack/{stack}/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
            ),
        )
    };
    let (c, rendered) =
        kubeline_tests::render_example(&repo_root().join("examples/spot-pool/cluster.yaml"))
            .expect("render");
    assert!(c.node_pools.len() >= 2);
    let own_stack = |g: NodeGroup<'_>| match g {
        NodeGroup::Controller => c.stack_name("control-plane"),
        NodeGroup::Etcd => c.stack_name("etcd"),
        NodeGroup::Pool(p) => c.stack_name(&format!("node-pool-{p}")),
    };
    let all = kubeline_tests::node_groups(&c);
    let mut checked = 0;
    for &group in &all {
        let policies = role_policies(&rendered, &kubeline_core::layout::node_role_name(&c, group));
        let refs: Vec<&Value> = policies.iter().collect();
        let decide = |stack: &str| evaluate(&pseudo, &refs, &signal(stack));
        let own = own_stack(group);
        assert_eq!(
            decide(&own),
            Decision::Allow,
            "{}: its own stack",
            group.kind()
        );
        // Negative controls: every other group's stack of this cluster, the same stack of
        // another cluster, and a stack whose name merely starts with its own.
        for &other in all.iter().filter(|g| **g != group) {
            assert_ne!(
                decide(&own_stack(other)),
                Decision::Allow,
                "{} signalling {}",
                own,
                own_stack(other)
            );
        }
        let other_cluster = own.replacen(c.name.as_str(), "other", 1);
        assert_ne!(other_cluster, own);
        assert_ne!(
            decide(&other_cluster),
            Decision::Allow,
            "{own}: another cluster"
        );
        assert_ne!(
            decide(&format!("{own}-b")),
            Decision::Allow,
            "{own}: a longer name"
        );
        // And nothing but signals on its stack.
        let other_action = Request::new("cloudformation:UpdateStack", &signal(&own).resource);
        assert_ne!(evaluate(&pseudo, &refs, &other_action), Decision::Allow);
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} roles checked");

    // A pool without signals may not signal at all.
    let (c, rendered) = changed("spot-pool", |t| {
        t["worker"]["nodePools"][0]["waitSignal"] = serde_json::json!({"enabled": false});
    });
    let p = &c.node_pools[0];
    let policies = role_policies(
        &rendered,
        &kubeline_core::layout::node_role_name(&c, NodeGroup::Pool(&p.name)),
    );
    let refs: Vec<&Value> = policies.iter().collect();
    assert_ne!(
        evaluate(
            &pseudo,
            &refs,
            &signal(&c.stack_name(&format!("node-pool-{}", p.name)))
        ),
        Decision::Allow
    );
}

// ---- the script, run for real ----

/// `docker run [options] IMAGE ARGS...`. The kubectl image answers as the API server would:
/// /readyz fails unless API_READY=yes; the Node named NODE is not found for the first
/// $NOT_FOUND reads, then not Ready until read number READY_AT (never when READY_AT is 0).
/// Every kubectl call must use the kubeconfig KUBECONFIG_WANT. The AWS CLI image logs the
/// signal to STATE/signals and fails the first $SIGNAL_FAILS of them with $SIGNAL_ERROR.
const DOCKER_SHIM: &str = r#"#!/bin/bash
set -euo pipefail
[[ "$1" == run ]] || { echo "docker shim: only run" >&2; exit 2; }
while [[ $# -gt 0 && "$1" != "${KUBECTL_IMAGE}" && "$1" != "${AWS_IMAGE}" ]]; do shift; done
[[ $# -gt 0 ]] || { echo "docker shim: no known image" >&2; exit 2; }
image="$1"
shift
if [[ "${image}" == "${AWS_IMAGE}" ]]; then
  while [[ "$1" == --cli-* ]]; do shift 2; done
  echo "aws $*" >>"${STATE}/signals"
  n="$(wc -l <"${STATE}/signals")"
  if ((n <= ${SIGNAL_FAILS:-0})); then
    echo "${SIGNAL_ERROR}" >&2
    exit 254
  fi
  exit 0
fi
echo "kubectl $*" >>"${STATE}/kubectl"
[[ "$1" == "--kubeconfig=${KUBECONFIG_WANT}" ]] || { echo "error: wrong kubeconfig $1" >&2; exit 1; }
case "$*" in
  *" get --raw /readyz")
    [[ "$*" == *"--server=https://127.0.0.1:443 "* ]] || { echo "not the local API server" >&2; exit 1; }
    [[ "${API_READY:-no}" == yes ]] && { echo ok; exit 0; }
    echo 'Error from server (InternalError): an error on the server ("[-]etcd failed") has prevented the request from succeeding' >&2
    exit 1 ;;
  *" get node "*)
    all="$*"; name="${all#* get node }"; name="${name%% *}"
    [[ "${name}" == "${NODE}" ]] || { echo "Error from server (Forbidden): nodes \"${name}\" is forbidden: node can only read its own Node" >&2; exit 1; }
    echo x >>"${STATE}/reads"
    n="$(wc -l <"${STATE}/reads")"
    if ((n <= ${NOT_FOUND:-0})); then
      echo "Error from server (NotFound): nodes \"${name}\" not found" >&2
      exit 1
    fi
    if ((READY_AT > 0 && n >= READY_AT)); then echo -n True; else echo -n False; fi ;;
  *) echo "kubectl shim: unexpected $*" >&2; exit 2 ;;
esac
"#;

/// IMDSv2: a token for the PUT; the instance id and the host name (as IMDS may spell it) for
/// GETs that carry it.
const CURL_SHIM: &str = r#"#!/bin/bash
set -euo pipefail
case "$*" in
  *"--request PUT"*"X-aws-ec2-metadata-token-ttl-seconds: 300"*/latest/api/token) echo -n imds-token ;;
  *"X-aws-ec2-metadata-token: imds-token"*/latest/meta-data/instance-id) echo -n i-0123456789abcdef0 ;;
  *"X-aws-ec2-metadata-token: imds-token"*/latest/meta-data/hostname) echo -n IP-10-0-1-23.EU-WEST-1.compute.internal ;;
  *) echo "curl: (22) The requested URL returned error: 401" >&2; exit 22 ;;
esac
"#;

/// The name the kubelet registers under for that host name.
const NODE: &str = "ip-10-0-1-23.eu-west-1.compute.internal";
const INSTANCE: &str = "i-0123456789abcdef0";

struct Node {
    dir: tempfile::TempDir,
    script: String,
}

/// How a run went.
struct Run {
    ok: bool,
    code: Option<i32>,
    text: String,
    signals: Vec<String>,
    kubectl: Vec<String>,
    seconds: f64,
}

impl Node {
    /// The node-ready script of a rendered node config, with its shims.
    fn new(rendered: &Rendered, config: &str) -> Node {
        let script = node_file(rendered, config, SCRIPT).expect("node-ready");
        let dir = tempfile::tempdir().expect("tmp");
        let d = dir.path();
        for sub in ["bin", "state", "root"] {
            std::fs::create_dir_all(d.join(sub)).expect("mkdir");
        }
        for (name, text) in [("docker", DOCKER_SHIM), ("curl", CURL_SHIM)] {
            std::fs::write(d.join("bin").join(name), text).expect("write");
            make_executable(&d.join("bin").join(name));
        }
        std::fs::write(d.join("node-ready"), &script).expect("write");
        Node { dir, script }
    }

    fn run(&self, env: &[(&str, &str)]) -> Run {
        let d = self.dir.path();
        let lines = |f: &str| -> Vec<String> {
            std::fs::read_to_string(d.join("state").join(f))
                .unwrap_or_default()
                .lines()
                .map(str::to_owned)
                .collect()
        };
        for f in ["signals", "kubectl", "reads"] {
            let _ = std::fs::remove_file(d.join("state").join(f));
        }
        let start = Instant::now();
        let out = run(Command::new(tool("bash"))
            .arg(d.join("node-ready"))
            .env("PATH", kubeline_tests::path_with(&d.join("bin")))
            .env("KUBELINE_ROOT", d.join("root"))
            .env("STATE", d.join("state"))
            .env("AWS_IMAGE", script_value(&self.script, "AWS_IMAGE"))
            .env("KUBECTL_IMAGE", script_value(&self.script, "KUBECTL_IMAGE"))
            .env(
                "KUBECONFIG_WANT",
                script_value(&self.script, "KUBELET_KUBECONFIG"),
            )
            .env("NODE", NODE)
            .env("READY_AT", "1")
            .env("KUBELINE_READY_WAIT", "30")
            .env("KUBELINE_POLL_SECONDS", "0")
            .env("KUBELINE_RETRY_ATTEMPTS", "3")
            .env("KUBELINE_RETRY_DELAY", "0")
            .envs(env.iter().copied()));
        let (ok, text) = outcome(&out);
        Run {
            ok,
            code: out.status.code(),
            text,
            signals: lines("signals"),
            kubectl: lines("kubectl"),
            seconds: start.elapsed().as_secs_f64(),
        }
    }
}

fn signal_of(stack: &str, status: &str) -> String {
    format!(
        "aws cloudformation signal-resource --stack-name {stack} --logical-resource-id AutoScalingGroup --unique-id {INSTANCE} --status {status}"
    )
}

/// The spot-pool example: its controllers' and its first pool's node-ready.
fn spot_pool() -> (Cluster, Rendered, String) {
    let (c, r) =
        kubeline_tests::render_example(&repo_root().join("examples/spot-pool/cluster.yaml"))
            .expect("render");
    let pool = c.node_pools[0].name.clone();
    (c, r, pool)
}

#[test]
fn a_worker_that_becomes_ready_signals_success_once_for_itself() {
    let (c, r, pool) = spot_pool();
    let node = Node::new(&r, &format!("userdata/worker-{pool}.json"));
    // Registered after two reads, Ready at the fourth.
    let got = node.run(&[("NOT_FOUND", "2"), ("READY_AT", "4")]);
    assert!(got.ok, "{}", got.text);
    let stack = c.stack_name(&format!("node-pool-{pool}"));
    assert_eq!(got.signals, [signal_of(&stack, "SUCCESS")], "{}", got.text);
    assert!(got.text.contains("waiting: its Node"), "{}", got.text);
    // As the kubelet, about its own Node only; a worker has no local API server to ask.
    assert!(
        got.kubectl.iter().all(|k| k.contains(&format!(
            "--kubeconfig=/var/lib/kubelet/kubeconfig --request-timeout=10s get node {NODE} "
        ))),
        "{:?}",
        got.kubectl
    );
    assert_eq!(got.kubectl.len(), 4);
}

#[test]
fn a_worker_that_never_becomes_ready_signals_failure_after_its_wait() {
    let (c, r, pool) = spot_pool();
    let node = Node::new(&r, &format!("userdata/worker-{pool}.json"));
    let got = node.run(&[
        ("READY_AT", "0"),
        ("KUBELINE_READY_WAIT", "2"),
        ("KUBELINE_POLL_SECONDS", "1"),
    ]);
    assert!(!got.ok, "{}", got.text);
    assert!(got.seconds >= 1.0, "gave up after {}s", got.seconds);
    let stack = c.stack_name(&format!("node-pool-{pool}"));
    assert_eq!(got.signals, [signal_of(&stack, "FAILURE")], "{}", got.text);
    assert!(
        got.text.contains(&format!("{NODE} is not ready after 2s")),
        "{}",
        got.text
    );
}

#[test]
fn a_controller_is_ready_only_when_its_api_server_is_too() {
    let (c, r, _) = spot_pool();
    let node = Node::new(&r, "userdata/controller.json");
    let stack = c.stack_name("control-plane");
    // The Node is Ready, but the local API server does not answer /readyz.
    let got = node.run(&[
        ("API_READY", "no"),
        ("KUBELINE_READY_WAIT", "2"),
        ("KUBELINE_POLL_SECONDS", "1"),
    ]);
    assert!(!got.ok, "{}", got.text);
    assert_eq!(got.signals, [signal_of(&stack, "FAILURE")], "{}", got.text);
    assert!(
        got.text.contains("the local API server is not ready"),
        "{}",
        got.text
    );
    // Both ready: SUCCESS, having asked the local API server with the kubelet's kubeconfig.
    let got = node.run(&[("API_READY", "yes")]);
    assert!(got.ok, "{}", got.text);
    assert_eq!(got.signals, [signal_of(&stack, "SUCCESS")], "{}", got.text);
    assert_eq!(
        got.kubectl[0],
        "kubectl --kubeconfig=/etc/kubernetes/kubeconfig/kubelet.yaml --request-timeout=10s --server=https://127.0.0.1:443 get --raw /readyz"
    );
    // Negative control: the worker's script never asks for /readyz, so it would pass here.
    let (_, r, pool) = spot_pool();
    let worker = Node::new(&r, &format!("userdata/worker-{pool}.json"));
    let got = worker.run(&[("API_READY", "no")]);
    assert!(got.ok, "{}", got.text);
}

#[test]
fn access_denied_fails_the_unit_without_retrying() {
    let (c, r, pool) = spot_pool();
    let node = Node::new(&r, &format!("userdata/worker-{pool}.json"));
    let got = node.run(&[
        ("SIGNAL_FAILS", "9"),
        (
            "SIGNAL_ERROR",
            "An error occurred (AccessDenied) when calling the SignalResource operation: User: arn:aws:sts::123456789012:assumed-role/x/i-0123456789abcdef0 is not authorized to perform: cloudformation:SignalResource",
        ),
    ]);
    assert!(!got.ok, "{}", got.text);
    assert_eq!(got.code, Some(1), "{}", got.text);
    let stack = c.stack_name(&format!("node-pool-{pool}"));
    assert_eq!(got.signals, [signal_of(&stack, "SUCCESS")], "{}", got.text);
    assert!(
        got.text.contains("this role may not signal"),
        "{}",
        got.text
    );
}

#[test]
fn a_refused_signal_outside_an_update_is_logged_not_retried() {
    let (_, r, pool) = spot_pool();
    let node = Node::new(&r, &format!("userdata/worker-{pool}.json"));
    let got = node.run(&[
        ("SIGNAL_FAILS", "9"),
        (
            "SIGNAL_ERROR",
            "An error occurred (ValidationError) when calling the SignalResource operation: Resource AutoScalingGroup is in UPDATE_COMPLETE state and cannot be signaled",
        ),
    ]);
    assert!(got.ok, "{}", got.text);
    assert_eq!(got.signals.len(), 1, "{}", got.text);
    assert!(
        got.text.contains("CloudFormation took no signal"),
        "{}",
        got.text
    );
}

#[test]
fn a_throttled_signal_is_retried_and_lost_signals_fail_the_unit() {
    let (c, r, pool) = spot_pool();
    let node = Node::new(&r, &format!("userdata/worker-{pool}.json"));
    let throttled = "An error occurred (Throttling) when calling the SignalResource operation (reached max retries: 2): Rate exceeded";
    let got = node.run(&[("SIGNAL_FAILS", "1"), ("SIGNAL_ERROR", throttled)]);
    assert!(got.ok, "{}", got.text);
    let stack = c.stack_name(&format!("node-pool-{pool}"));
    assert_eq!(
        got.signals,
        vec![signal_of(&stack, "SUCCESS"); 2],
        "{}",
        got.text
    );
    // Every attempt throttled: the unit fails as a temporary failure.
    let got = node.run(&[("SIGNAL_FAILS", "9"), ("SIGNAL_ERROR", throttled)]);
    assert_eq!(got.code, Some(75), "{}", got.text);
    assert_eq!(got.signals.len(), 3, "{}", got.text);
}

#[test]
fn shellcheck_passes_both_node_ready_scripts() {
    let (_, r, pool) = spot_pool();
    let tmp = tempfile::tempdir().expect("tmp");
    let mut paths = Vec::new();
    for config in [
        "userdata/controller.json".to_owned(),
        format!("userdata/worker-{pool}.json"),
    ] {
        let p = tmp.path().join(
            Path::new(&config)
                .with_extension("sh")
                .file_name()
                .expect("name"),
        );
        std::fs::write(&p, node_file(&r, &config, SCRIPT).expect("script")).expect("write");
        paths.push(p);
    }
    let out = run(Command::new(tool("shellcheck"))
        .args(["--shell=bash", "--severity=style"])
        .args(&paths));
    assert!(
        out.status.success(),
        "shellcheck:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
