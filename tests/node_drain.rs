//! Nodes are drained before their instances go: every controller and pool group has a
//! termination lifecycle hook that outlasts the drainer's drain (etcd members, which run no
//! pods, have none); the control-plane stack routes exactly this cluster's hook events (and the
//! account's spot interruption warnings) to its own queue, which only
//! those rules may write; the drainer (aws-node-termination-handler in queue mode) reads that
//! queue, acts only on this cluster's instances and completes only this cluster's lifecycle
//! actions (IAM evaluated, with negative controls). Disabling the add-on removes all of it.

use kubeline_core::layout::NodeGroup;
use kubeline_core::render::{DRAIN_HOOK_HEARTBEAT_SECONDS, DRAIN_TIMEOUT_SECONDS};
use kubeline_tests::iam::{Decision, Pseudo, Request, evaluate};
use kubeline_tests::{examples, render_example, repo_root, role_policies, roles, stacks_of};
use serde_json::Value;

fn groups(stack: &Value) -> Vec<(&String, &Value)> {
    stack["Resources"]
        .as_object()
        .expect("resources")
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::AutoScaling::AutoScalingGroup")
        .collect()
}

/// The drainer's Deployment environment, by name.
fn drainer_env(text: &str) -> std::collections::BTreeMap<String, String> {
    let deployment = text
        .split("\n---\n")
        .find(|d| d.contains("kind: Deployment"))
        .expect("a Deployment");
    let v: Value = serde_saphyr::from_str(deployment).expect("yaml");
    v["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .expect("env")
        .iter()
        .filter_map(|e| {
            Some((
                e["name"].as_str()?.to_owned(),
                e["value"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

#[test]
fn every_controller_and_pool_group_waits_for_the_drain_of_its_terminating_node() {
    for (name, path) in examples() {
        let (c, rendered) = render_example(&path).expect("render");
        let hook = format!("kubeline-{}-node-drain", c.name);
        let env = drainer_env(&String::from_utf8_lossy(
            &rendered.files["addons/aws-node-termination-handler.yaml"],
        ));
        let drain: u32 = env["NODE_TERMINATION_GRACE_PERIOD"]
            .parse()
            .expect("number");
        assert_eq!(drain, DRAIN_TIMEOUT_SECONDS);
        for (stem, stack) in stacks_of(&rendered) {
            for (id, g) in groups(&stack) {
                let hooks = g["Properties"]["LifecycleHookSpecificationList"].as_array();
                if stem == "etcd" {
                    assert!(
                        hooks.is_none(),
                        "{name}/{stem}/{id}: etcd runs no pods to drain"
                    );
                    continue;
                }
                let hooks = hooks.unwrap_or_else(|| panic!("{name}/{stem}/{id}: no hook"));
                assert_eq!(hooks.len(), 1, "{name}/{stem}/{id}");
                let h = &hooks[0];
                assert_eq!(h["LifecycleHookName"], hook.as_str());
                assert_eq!(
                    h["LifecycleTransition"],
                    "autoscaling:EC2_INSTANCE_TERMINATING"
                );
                // CloudFormation's default is ABANDON; a drainer that is down must not keep
                // a node from going.
                assert_eq!(h["DefaultResult"], "CONTINUE", "{name}/{stem}/{id}");
                let heartbeat = h["HeartbeatTimeout"].as_u64().expect("timeout");
                assert_eq!(heartbeat, u64::from(DRAIN_HOOK_HEARTBEAT_SECONDS));
                // The whole drain fits in the hook's wait, with room for the queue and a
                // restarting drainer; AWS allows 30 to 7200 seconds.
                assert!(heartbeat >= u64::from(drain) + 120 && heartbeat <= 7200);
            }
        }
    }
}

#[test]
fn only_this_cluster_s_hooks_and_the_account_s_spot_notices_reach_its_queue() {
    let (c, rendered) = render_example(&repo_root().join("examples/ha/cluster.yaml")).expect("r");
    let cp = &stacks_of(&rendered)["control-plane"];
    let res = &cp["Resources"];
    let hook = format!("kubeline-{}-node-drain", c.name);
    let queue = &res["NodeDrainQueue"]["Properties"];
    assert_eq!(queue["QueueName"], hook.as_str());
    assert_eq!(queue["SqsManagedSseEnabled"], true);
    // Kept longer than a hook waits: a drainer restarting on a new controller finds them.
    assert!(
        queue["MessageRetentionPeriod"].as_u64().unwrap_or(0)
            > u64::from(DRAIN_HOOK_HEARTBEAT_SECONDS)
    );
    let lifecycle = &res["NodeDrainLifecycleRule"]["Properties"]["EventPattern"];
    assert_eq!(lifecycle["source"], serde_json::json!(["aws.autoscaling"]));
    assert_eq!(
        lifecycle["detail-type"],
        serde_json::json!(["EC2 Instance-terminate Lifecycle Action"])
    );
    // An exact hook name, not a prefix: cluster `prod` never gets `prod-x`'s events.
    assert_eq!(
        lifecycle["detail"]["LifecycleHookName"],
        serde_json::json!([hook])
    );
    let spot = &res["NodeDrainSpotRule"]["Properties"]["EventPattern"];
    // Not rebalance recommendations: NTH would drain such a node for good, and the spot
    // pools' CapacityRebalance replaces it through the group (and the hook) anyway.
    assert_eq!(
        spot["detail-type"],
        serde_json::json!(["EC2 Spot Instance Interruption Warning"])
    );
    for rule in ["NodeDrainLifecycleRule", "NodeDrainSpotRule"] {
        assert_eq!(
            res[rule]["Properties"]["Targets"][0]["Arn"]["Fn::GetAtt"],
            serde_json::json!(["NodeDrainQueue", "Arn"])
        );
    }
    // The queue takes messages from those two rules only.
    let policy = &res["NodeDrainQueuePolicy"]["Properties"]["PolicyDocument"];
    let mut pseudo = Pseudo::default();
    let queue_arn = format!("arn:aws:sqs:eu-west-1:123456789012:{hook}");
    pseudo
        .refs
        .insert("NodeDrainQueue.Arn".into(), queue_arn.clone());
    for rule in ["NodeDrainLifecycleRule", "NodeDrainSpotRule"] {
        pseudo.refs.insert(
            format!("{rule}.Arn"),
            format!("arn:aws:events:eu-west-1:123456789012:rule/{rule}"),
        );
    }
    let send =
        |source: &str| Request::new("sqs:SendMessage", &queue_arn).with("aws:SourceArn", source);
    assert_eq!(
        evaluate(
            &pseudo,
            &[policy],
            &send("arn:aws:events:eu-west-1:123456789012:rule/NodeDrainSpotRule")
        ),
        Decision::Allow
    );
    assert_eq!(
        evaluate(
            &pseudo,
            &[policy],
            &send("arn:aws:events:eu-west-1:123456789012:rule/other")
        ),
        Decision::ImplicitDeny
    );
    assert_eq!(
        policy["Statement"][0]["Principal"]["Service"],
        "events.amazonaws.com"
    );
    // The drainer is told that queue, in this cluster's account and region.
    let env = drainer_env(&String::from_utf8_lossy(
        &rendered.files["addons/aws-node-termination-handler.yaml"],
    ));
    assert_eq!(
        env["QUEUE_URL"],
        format!(
            "https://sqs.{}.amazonaws.com/{}/{hook}",
            c.region,
            c.kms_key_arn.account()
        )
    );
    // It acts on this cluster's instances only (every one carries the tag), found by the
    // name they register with (so an instance that never became a node is let go at once).
    assert_eq!(
        env["MANAGED_TAG"],
        format!("kubernetes.io/cluster/{}", c.name)
    );
    assert_eq!(env["CHECK_TAG_BEFORE_DRAINING"], "true");
    assert_eq!(env["USE_PROVIDER_ID"], "false");
    assert_eq!(env["DELETE_SQS_MSG_IF_NODE_NOT_FOUND"], "true");
    assert_eq!(env["IGNORE_DAEMON_SETS"], "true");
    for (stem, stack) in stacks_of(&rendered) {
        for (id, g) in groups(&stack) {
            let tagged = g["Properties"]["Tags"]
                .as_array()
                .expect("tags")
                .iter()
                .any(|t| {
                    t["Key"] == format!("kubernetes.io/cluster/{}", c.name)
                        && t["PropagateAtLaunch"] == true
                });
            assert!(
                tagged,
                "{stem}/{id}: instances without the cluster tag are never drained"
            );
        }
    }
}

#[test]
fn the_drainer_reads_its_own_queue_and_completes_only_its_own_cluster_s_actions() {
    let (c, rendered) = render_example(&repo_root().join("examples/ha/cluster.yaml")).expect("r");
    let queue_arn = format!(
        "arn:aws:sqs:eu-west-1:123456789012:kubeline-{}-node-drain",
        c.name
    );
    let mut pseudo = Pseudo::default();
    pseudo
        .refs
        .insert("NodeDrainQueue.Arn".into(), queue_arn.clone());
    let asg =
        "arn:aws:autoscaling:eu-west-1:123456789012:autoScalingGroup:u:autoScalingGroupName/g";
    let owned = format!("autoscaling:ResourceTag/kubernetes.io/cluster/{}", c.name);
    let drainer = role_policies(
        &rendered,
        &kubeline_core::oidc::role_name(
            c.name.as_str(),
            "kube-system",
            "aws-node-termination-handler",
        ),
    );
    let drainer: Vec<&Value> = drainer.iter().collect();
    let controller = role_policies(
        &rendered,
        &kubeline_core::layout::node_role_name(&c, NodeGroup::Controller),
    );
    let controller: Vec<&Value> = controller.iter().collect();
    let pool = role_policies(
        &rendered,
        &kubeline_core::layout::node_role_name(&c, NodeGroup::Pool(&c.node_pools[0].name)),
    );
    let pool: Vec<&Value> = pool.iter().collect();
    let cases = [
        (
            Request::new("sqs:ReceiveMessage", &queue_arn),
            Decision::Allow,
        ),
        (
            Request::new("sqs:DeleteMessage", &queue_arn),
            Decision::Allow,
        ),
        (
            Request::new(
                "sqs:ReceiveMessage",
                "arn:aws:sqs:eu-west-1:123456789012:other",
            ),
            Decision::ImplicitDeny,
        ),
        (
            Request::new("sqs:SendMessage", &queue_arn),
            Decision::ImplicitDeny,
        ),
        (
            Request::new("autoscaling:CompleteLifecycleAction", asg).with(&owned, "owned"),
            Decision::Allow,
        ),
        (
            Request::new("autoscaling:CompleteLifecycleAction", asg).with(
                "autoscaling:ResourceTag/kubernetes.io/cluster/other",
                "owned",
            ),
            Decision::ImplicitDeny,
        ),
        (
            Request::new("autoscaling:CompleteLifecycleAction", asg),
            Decision::ImplicitDeny,
        ),
        (
            Request::new("autoscaling:DeleteLifecycleHook", asg).with(&owned, "owned"),
            Decision::ImplicitDeny,
        ),
        (Request::new("ec2:DescribeInstances", "*"), Decision::Allow),
    ];
    for (req, want) in &cases {
        assert_eq!(
            evaluate(&pseudo, &drainer, req),
            *want,
            "the drainer's service-account role: {req:?}"
        );
        if req.action != "ec2:DescribeInstances" {
            assert_ne!(
                evaluate(&pseudo, &controller, req),
                Decision::Allow,
                "controllers: {req:?}"
            );
            assert_ne!(
                evaluate(&pseudo, &pool, req),
                Decision::Allow,
                "workers: {req:?}"
            );
        }
    }
}

#[test]
fn without_the_drainer_no_group_waits_and_nothing_of_it_is_rendered() {
    let dir = tempfile::tempdir().expect("tmp");
    let yaml = std::fs::read_to_string(repo_root().join("examples/ha/cluster.yaml")).expect("r");
    let off = if yaml.contains("\naddons:\n") {
        yaml.replacen(
            "\naddons:\n",
            "\naddons:\n  nodeTerminationHandler:\n    enabled: false\n",
            1,
        )
    } else {
        format!("{yaml}addons:\n  nodeTerminationHandler:\n    enabled: false\n")
    };
    let path = dir.path().join("cluster.yaml");
    std::fs::write(&path, off).expect("w");
    let (c, rendered) = render_example(&path).expect("render");
    assert!(
        !rendered
            .files
            .contains_key("addons/aws-node-termination-handler.yaml")
    );
    let stacks = stacks_of(&rendered);
    for (stem, stack) in &stacks {
        assert!(stack["Resources"].get("NodeDrainQueue").is_none(), "{stem}");
        for (id, g) in groups(stack) {
            assert!(
                g["Properties"]
                    .get("LifecycleHookSpecificationList")
                    .is_none(),
                "{stem}/{id}: a hook nobody completes delays every termination"
            );
        }
    }
    let controller = role_policies(
        &rendered,
        &kubeline_core::layout::node_role_name(&c, NodeGroup::Controller),
    );
    assert!(
        !serde_json::to_string(&controller)
            .expect("json")
            .contains("NodeDrain")
    );
    let drainer = kubeline_core::oidc::role_name(
        c.name.as_str(),
        "kube-system",
        "aws-node-termination-handler",
    );
    assert!(!roles(&rendered).iter().any(|(n, _)| *n == drainer));
}
