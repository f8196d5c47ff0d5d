//! The apply reconciler against a simulated CloudFormation in virtual time: prints the modelled
//! wall-clock time of creating and of updating clusters with 1, 10 and 30 node pools, one stack
//! operation at a time (the reconciler before parallel apply: one move per call, waiting while
//! any stack is in progress) and with parallel moves (default limit, each rollout strategy).
//!
//! The clusters are rendered by the core (the ha example with N pools), so the stacks, their
//! dependencies and their resources are the real ones. A stack's duration is the critical path
//! of its resources (DependsOn, Ref and GetAtt edges) with these per-type durations; AWS
//! publishes no creation times, so each is an estimate from the source named:
//!
//! | resource | seconds | source |
//! |---|---|---|
//! | AWS::EC2::NatGateway | 180 | kops: "up to 5 min" (github.com/kubernetes/kops/pull/944); SDK waiter NatGatewayAvailable |
//! | AWS::ElasticLoadBalancingV2::LoadBalancer | 180 | "normally takes over 2 min" (github.com/kubernetes/kubernetes/issues/44695) |
//! | AWS::IAM::InstanceProfile | 120 | the provider's 2-minute propagation wait (github.com/hashicorp/terraform/issues/15341) |
//! | AWS::Route53::RecordSet | 60 | Route 53 propagates changes within 60 s (GetChange INSYNC) |
//! | AWS::AutoScaling::AutoScalingGroup | 240 per batch | boot to cfn-signal: EC2 ~40 s to boot (depot.dev/blog/faster-ec2-boot-time) + Ignition, downloads, kubelet/etcd ready; CreationPolicy / WaitOnResourceSignals |
//! | anything else | 10 | no published figure (IAM roles, security groups, launch templates, subnets) |
//!
//! An update (a new Kubernetes version, which changes every stack) replaces each group's
//! instances batch by batch: `ceil(desired / MaxBatchSize)` batches of 240 s, plus 10 s for
//! every other resource; change sets take 10 s to compute; the state machine polls every 15 s
//! (`WaitForStacks`). Run with `cargo bench -p kubeline-pipeline --bench rollout`.

use std::collections::BTreeMap;

use kubeline_core::pipeline::cfn::{ChangeSetStatus, ExecutionStatus, StackStatus};
use kubeline_core::render::{self, Templates};
use kubeline_core::validate;
use kubeline_pipeline::decide::ChangeSetView;
use kubeline_pipeline::decide::apply::{Move, StackView, decide};
use serde_json::Value;

const POLL: u64 = 15;
const CHANGE_SET: u64 = 10;
const BATCH: u64 = 240;

fn duration_of(kind: &str) -> u64 {
    match kind {
        "AWS::EC2::NatGateway" | "AWS::ElasticLoadBalancingV2::LoadBalancer" => 180,
        "AWS::IAM::InstanceProfile" => 120,
        "AWS::Route53::RecordSet" => 60,
        "AWS::AutoScaling::AutoScalingGroup" => BATCH,
        _ => 10,
    }
}

fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("Ref") {
                out.push(r.clone());
            }
            if let Some(Value::Array(a)) = m.get("Fn::GetAtt")
                && let Some(Value::String(r)) = a.first()
            {
                out.push(r.clone());
            }
            m.values().for_each(|x| refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

/// The critical path of a template, with `cost` per resource.
fn critical_path(template: &Value, cost: &dyn Fn(&Value) -> u64) -> u64 {
    let resources = template["Resources"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut memo: BTreeMap<String, u64> = BTreeMap::new();
    fn finish(
        id: &str,
        res: &serde_json::Map<String, Value>,
        cost: &dyn Fn(&Value) -> u64,
        memo: &mut BTreeMap<String, u64>,
        depth: usize,
    ) -> u64 {
        if let Some(t) = memo.get(id) {
            return *t;
        }
        let Some(r) = res.get(id) else { return 0 };
        let mut deps = Vec::new();
        refs(&r["Properties"], &mut deps);
        match &r["DependsOn"] {
            Value::String(s) => deps.push(s.clone()),
            Value::Array(a) => deps.extend(a.iter().filter_map(|x| x.as_str().map(str::to_owned))),
            _ => {}
        }
        let start = if depth > 200 {
            0
        } else {
            deps.iter()
                .filter(|d| d.as_str() != id)
                .map(|d| finish(d, res, cost, memo, depth + 1))
                .max()
                .unwrap_or(0)
        };
        let t = start + cost(r);
        memo.insert(id.to_owned(), t);
        t
    }
    let ids: Vec<String> = resources.keys().cloned().collect();
    ids.iter()
        .map(|id| finish(id, &resources, cost, &mut memo, 0))
        .max()
        .unwrap_or(0)
}

fn create_cost(r: &Value) -> u64 {
    duration_of(r["Type"].as_str().unwrap_or_default())
}

fn update_cost(r: &Value) -> u64 {
    if r["Type"] == "AWS::AutoScaling::AutoScalingGroup" {
        let p = &r["Properties"];
        let number = |v: &Value| v.as_str().and_then(|s| s.parse().ok()).or(v.as_u64());
        let desired = number(&p["DesiredCapacity"])
            .or(number(&p["MinSize"]))
            .unwrap_or(1)
            .max(1);
        let batch = number(&r["UpdatePolicy"]["AutoScalingRollingUpdate"]["MaxBatchSize"])
            .unwrap_or(1)
            .max(1);
        desired.div_ceil(batch) * BATCH
    } else {
        10
    }
}

struct Stack {
    name: String,
    depends_on: Vec<String>,
    wave: Option<u32>,
    create: u64,
    update: u64,
}

fn cluster(pools: usize, strategy: &str) -> Vec<Stack> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/ha/cluster.yaml"
    ))
    .expect("examples/ha/cluster.yaml");
    let (head, _) = text.split_once("worker:\n").expect("worker section");
    let tail = text
        .split_once("\nkubernetesVersion:")
        .map(|(_, t)| format!("kubernetesVersion:{t}"))
        .expect("kubernetesVersion");
    let zones = ["private-a", "private-b", "private-c"];
    let mut worker = format!("worker:\n  nodePoolRollingStrategy: {strategy}\n  nodePools:\n");
    for i in 0..pools {
        worker.push_str(&format!(
            "    - {{name: p{i}, count: 3, subnets: [{{name: {}}}]}}\n",
            zones[i % zones.len()]
        ));
    }
    let loaded = validate::load(&format!("{head}{worker}{tail}"));
    let c = loaded
        .cluster
        .unwrap_or_else(|| panic!("{}", loaded.diagnostics.render("cluster.yaml")));
    let r = render::render(&c, &Templates::builtin()).expect("render");
    r.stacks
        .iter()
        .map(|s| {
            let t: Value =
                serde_json::from_slice(&r.files[&format!("stack-templates/{}", s.template)])
                    .expect("template JSON");
            Stack {
                name: s.name.clone(),
                depends_on: s.depends_on.clone(),
                wave: s.rollout_wave,
                create: critical_path(&t, &create_cost),
                update: critical_path(&t, &update_cost),
            }
        })
        .collect()
}

#[derive(Clone)]
struct Sim {
    status: Option<StackStatus>,
    change_set: Option<(ChangeSetStatus, u64)>,
    execution: Option<ExecutionStatus>,
    executed: bool,
    busy_until: u64,
}

/// The modelled time (s) until the reconciler says done.
fn simulate(stacks: &[Stack], update: bool, max_parallel: usize) -> u64 {
    let mut sim: Vec<Sim> = stacks
        .iter()
        .enumerate()
        .map(|(i, _)| Sim {
            status: if update {
                Some(StackStatus::UpdateComplete)
            } else if i == 0 {
                Some(StackStatus::ReviewInProgress)
            } else {
                None
            },
            // The plan made the change sets of stacks whose dependencies exist.
            change_set: (update || i == 0).then_some((ChangeSetStatus::CreateComplete, 0)),
            execution: Some(ExecutionStatus::Available),
            executed: false,
            busy_until: 0,
        })
        .collect();
    let mut t = 0;
    loop {
        for s in sim.iter_mut() {
            if s.status.as_ref().is_some_and(StackStatus::in_progress) && t >= s.busy_until {
                s.status = Some(if update {
                    StackStatus::UpdateComplete
                } else {
                    StackStatus::CreateComplete
                });
                s.execution = Some(ExecutionStatus::ExecuteComplete);
            }
            if let Some((ChangeSetStatus::CreatePending, ready)) = s.change_set
                && t >= ready
            {
                s.change_set = Some((ChangeSetStatus::CreateComplete, 0));
                s.execution = Some(ExecutionStatus::Available);
            }
        }
        let views: Vec<StackView<'_>> = stacks
            .iter()
            .zip(&sim)
            .map(|(st, s)| StackView {
                name: &st.name,
                depends_on: &st.depends_on,
                wave: st.wave,
                status: s.status.clone(),
                change_set: s.change_set.as_ref().map(|(status, _)| ChangeSetView {
                    status: status.clone(),
                    reason: None,
                    execution: s.execution.clone(),
                }),
                executed: s.executed,
                planned: update,
            })
            .collect();
        let d = decide(&views, max_parallel);
        assert!(d.failed.is_empty(), "nothing fails in the simulation");
        if d.done {
            return t;
        }
        // Before parallel apply, the reconciler made one move per call.
        let moves = if max_parallel == 1 {
            &d.moves[..d.moves.len().min(1)]
        } else {
            &d.moves[..]
        };
        for (name, m) in moves {
            let i = stacks.iter().position(|s| &s.name == name).expect("stack");
            match m {
                Move::CreateChangeSet => {
                    sim[i].status = Some(StackStatus::ReviewInProgress);
                    sim[i].change_set = Some((ChangeSetStatus::CreatePending, t + CHANGE_SET));
                    sim[i].execution = Some(ExecutionStatus::Unavailable);
                }
                Move::DeleteEmptyChangeSet => sim[i].change_set = None,
                Move::Execute => {
                    sim[i].executed = true;
                    sim[i].execution = Some(ExecutionStatus::ExecuteInProgress);
                    sim[i].status = Some(if update {
                        StackStatus::UpdateInProgress
                    } else {
                        StackStatus::CreateInProgress
                    });
                    sim[i].busy_until = t + if update {
                        stacks[i].update
                    } else {
                        stacks[i].create
                    };
                }
            }
        }
        t += POLL;
    }
}

fn minutes(s: u64) -> String {
    format!("{:.0} min", s as f64 / 60.0)
}

fn main() {
    println!("modelled apply time (virtual time; durations and sources in benches/rollout.rs)");
    println!(
        "| pools | operation | one at a time (before) | parallel, limit 10 | parallel, limit 30 | Sequential | AvailabilityZone |"
    );
    println!("|---|---|---|---|---|---|---|");
    for pools in [1, 10, 30] {
        let parallel = cluster(pools, "Parallel");
        let sequential = cluster(pools, "Sequential");
        let by_zone = cluster(pools, "AvailabilityZone");
        for update in [false, true] {
            let op = if update { "update" } else { "create" };
            println!(
                "| {pools} | {op} | {} | {} | {} | {} | {} |",
                minutes(simulate(&parallel, update, 1)),
                minutes(simulate(&parallel, update, 10)),
                minutes(simulate(&parallel, update, 30)),
                minutes(simulate(&sequential, update, 10)),
                minutes(simulate(&by_zone, update, 10)),
            );
        }
    }
}
