//! The pipeline's records and messages, pure: the bucket layout of an installation, a run's
//! plan (every change set's changes), `status.json`, approval, destroy and etcd restore requests, and the
//! chat notifications (the Amazon Q Developer in chat applications JSON shape).

pub mod cfn;
mod chat;
mod identity;
mod keys;
mod plan;
mod requests;
mod restore;
mod result;
mod route;
mod snapshot;
mod status;
mod upgrade;

pub use self::chat::Chat;
pub use self::identity::{
    IdentityMove, NODE_IDENTITY_OUTPUT, StackIdentity, check_identity_change, check_identity_moves,
};
pub use self::keys::{ClusterKeys, RunKeys};
pub use self::plan::{
    AddonChange, AddonVersion, Plan, ResourceChange, StackAction, StackChange, addon_changes,
};
pub use self::requests::{
    APPROVER_TAG, ApprovalRecord, ApprovalRequest, Decision, approver_of, check_destroy,
    parse_approval,
};
pub use self::restore::{
    MemberReport, MemberRestoreRequest, RESTORE_HOLD_SECONDS, RESTORE_ON_REQUEST_OUTPUT,
    RESTORE_WAIT_MINUTES, RestoreRequest, RestoreWait, check_restore, is_snapshot_key,
    restore_members, restore_request_yaml, restore_wait,
};
pub use self::result::{Outcome, RunResult};
pub use self::route::{BucketEvent, EventKind, ROUTES, Route, Rule, route, wildcard_matches};
pub use self::snapshot::{
    PreRunSnapshot, SNAPSHOT_ON_REQUEST_OUTPUT, SNAPSHOT_WAIT_MINUTES, SnapshotRequest,
    SnapshotWait, key_time, pre_run_snapshot, snapshot_listings, snapshot_wait,
};
pub use self::status::{
    CertificateSummary, DriftReport, DriftedResource, Phase, RestoreProgress, RolloutProgress,
    RunError, StackState, Status,
};
pub use self::upgrade::{KUBERNETES_VERSION_OUTPUT, Refusal, Upgrade, plan_upgrade};

/// The stack tag naming the cluster a stack belongs to (every stack kubeline creates has it).
pub const CLUSTER_TAG: &str = "kubeline.io/cluster";

/// The stack parameter through which the pipeline gives node roles the installation's
/// permissions boundary (its `NodeRoleBoundary` managed policy).
pub const NODE_ROLE_BOUNDARY_PARAMETER: &str = "NodeRoleBoundary";

/// The stack parameter through which the pipeline gives the roles of `serviceAccounts` the
/// installation's permissions boundary for workloads (its `ServiceAccountRoleBoundary`).
pub const SERVICE_ACCOUNT_ROLE_BOUNDARY_PARAMETER: &str = "ServiceAccountRoleBoundary";

/// The template parameters the pipeline supplies (from the installation's settings) when a
/// template declares them; every other parameter keeps its default.
pub const PIPELINE_PARAMETERS: [&str; 2] = [
    NODE_ROLE_BOUNDARY_PARAMETER,
    SERVICE_ACCOUNT_ROLE_BOUNDARY_PARAMETER,
];

/// Whether the existing stack `stack`, tagged `tags`, belongs to `cluster`: a stack of another
/// cluster, or one kubeline did not create (no tag), is never changed, executed or deleted by
/// this cluster's runs. The error says whose it is and what to do.
pub fn check_owner(
    stack: &str,
    tags: &std::collections::BTreeMap<String, String>,
    cluster: &str,
) -> Result<(), String> {
    match tags.get(CLUSTER_TAG) {
        Some(owner) if owner == cluster => Ok(()),
        Some(owner) => Err(format!(
            "stack {stack} belongs to cluster {owner} (its {CLUSTER_TAG} tag), not {cluster}; this run changes nothing of it. Two clusters render the same stack name: rename this cluster or its node pool"
        )),
        None => Err(format!(
            "stack {stack} exists but has no {CLUSTER_TAG} tag: kubeline did not create it, and this run changes nothing of it. Delete or rename that stack, or rename this cluster"
        )),
    }
}

/// The names a new cluster `name` must not share an installation with: every name it extends
/// at a `-` (`a` and `a-b` for `a-b-c`). Every name kubeline derives is `<prefix><cluster>-<part>`
/// (stacks, roles, load balancers, exports), so two clusters can render the same name only
/// when one's name is the other's followed by `-`: cluster `prod` with node pool `x-network` and
/// cluster `prod-node-pool-x` both render the stack `kubeline-prod-node-pool-x-network`. The
/// Start step refuses a new cluster whose name extends, or is extended by, another cluster's
/// (the other direction is the listing prefix `clusters/<name>-`).
pub fn shorter_names(name: &str) -> Vec<&str> {
    name.match_indices('-').map(|(i, _)| &name[..i]).collect()
}

/// The control-plane stack output that names the API endpoint the workers use.
pub const NODE_API_ENDPOINT_OUTPUT: &str = "NodeApiEndpoint";

/// Whether a run may move the workers from the API endpoint `deployed` (the running cluster's
/// `NodeApiEndpoint` output; `None` for a new cluster or one deployed before the output existed)
/// to `rendered`. Moving them in one run would cut running workers off: the control-plane stack
/// (its load balancer, record and the API server's certificate names) changes before the node
/// pools are replaced. The error says how to keep the endpoint.
pub fn check_node_endpoint(deployed: Option<&str>, rendered: &str) -> Result<(), String> {
    match deployed {
        Some(old) if !old.is_empty() && old != rendered => {
            let host = old.trim_start_matches("https://");
            Err(format!(
                "apiEndpoints: the workers reach the API at {old}, and this cluster.yaml moves them to {rendered} in one run: CloudFormation would change the control plane (and drop {host} from the load balancers, DNS records or certificate) before the node pools are replaced, and running workers would lose the API. Keep {host} as the endpoint nodes use: list it in apiEndpoints first among the private ones, or, if kubeline added it, as `{{name: {nodes}, dnsName: {host}, loadBalancer: {{private: true, ...}}}}` with the type, hostedZone and subnets of the one kubeline added (the plan then shows no change); when worker.apiEndpointName is set, set it to the endpoint whose dnsName is {host}",
                nodes = crate::cluster::NODES_ENDPOINT,
            ))
        }
        _ => Ok(()),
    }
}

/// Whether a run may go on while node pool `pool` runs on the API endpoint `deployed` (its
/// node-pool stack's `NodeApiEndpoint` output; `None` for a new pool or one deployed before
/// the output existed) and the rendered cluster has the endpoints `endpoints`. A pool may move
/// to another endpoint (its stack replaces the nodes, old ones keep theirs meanwhile), but the
/// endpoint its running nodes use must not go in the same run: the control plane drops it
/// before the pool's nodes are replaced.
pub fn check_pool_endpoint(
    pool: &str,
    deployed: Option<&str>,
    endpoints: &[String],
) -> Result<(), String> {
    match deployed {
        Some(old) if !old.is_empty() && !endpoints.iter().any(|e| e == old) => {
            let host = old.trim_start_matches("https://");
            Err(format!(
                "apiEndpoints: node pool {pool:?} reaches the API at {old}, and this cluster.yaml removes that endpoint in the same run: the control plane would drop {host} before the pool's nodes are replaced, and they would lose the API. Keep the endpoint whose dnsName is {host} in apiEndpoints for this run (the pool's apiEndpointName may already name another one), and remove it in a later run"
            ))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn a_pool_may_move_endpoints_but_never_lose_the_one_it_runs_on() {
        let a = "https://internal.api.example.com";
        let b = "https://private.example.com";
        let both = [a.to_owned(), b.to_owned()];
        let only_b = [b.to_owned()];
        for (deployed, endpoints, ok) in [
            (None, &only_b[..], true),
            (Some(""), &only_b[..], true),
            (Some(a), &both[..], true),
            (Some(b), &both[..], true),
            (Some(b), &only_b[..], true),
            (Some(a), &only_b[..], false),
        ] {
            let got = check_pool_endpoint("gpu", deployed, endpoints);
            assert_eq!(got.is_ok(), ok, "{deployed:?} with {endpoints:?}: {got:?}");
            if let Err(e) = got {
                assert!(
                    e.contains(
                        "node pool \"gpu\" reaches the API at https://internal.api.example.com"
                    ),
                    "{e}"
                );
                assert!(
                    e.contains("Keep the endpoint whose dnsName is internal.api.example.com"),
                    "{e}"
                );
            }
        }
    }

    fn plan() -> Plan {
        Plan {
            stacks: vec![
                StackChange {
                    stack: "demo-network".into(),
                    action: StackAction::Update,
                    changes: vec![
                        ResourceChange {
                            action: "Modify".into(),
                            logical_id: "Vpc".into(),
                            resource_type: "AWS::EC2::VPC".into(),
                            replacement: Some("True".into()),
                        },
                        ResourceChange {
                            action: "Add".into(),
                            logical_id: "SubnetB".into(),
                            resource_type: "AWS::EC2::Subnet".into(),
                            replacement: None,
                        },
                    ],
                    change_set: Some("cs".into()),
                },
                StackChange {
                    stack: "demo-etcd".into(),
                    action: StackAction::NoChange,
                    changes: vec![],
                    change_set: None,
                },
            ],
            ..Plan::default()
        }
    }

    #[test]
    fn a_new_name_conflicts_with_every_name_it_extends() {
        assert_eq!(shorter_names("a-b-c"), ["a", "a-b"]);
        assert_eq!(
            shorter_names("prod-node-pool-x"),
            ["prod", "prod-node", "prod-node-pool"]
        );
        assert!(shorter_names("prod").is_empty());
    }

    #[test]
    fn only_a_cluster_s_own_stacks_are_its_to_change() {
        let tags = |owner: Option<&str>| {
            owner
                .map(|o| BTreeMap::from([(CLUSTER_TAG.to_owned(), o.to_owned())]))
                .unwrap_or_default()
        };
        // (tag, cluster) → Ok, or a fragment of the error.
        let table: [(Option<&str>, &str, Result<(), &str>); 4] = [
            (Some("prod"), "prod", Ok(())),
            (
                Some("prod-node-pool-x"),
                "prod",
                Err("belongs to cluster prod-node-pool-x"),
            ),
            (Some("Prod"), "prod", Err("belongs to cluster Prod")),
            (None, "prod", Err("has no kubeline.io/cluster tag")),
        ];
        for (owner, cluster, want) in table {
            let got = check_owner("kubeline-prod-network", &tags(owner), cluster);
            match (got, want) {
                (Ok(()), Ok(())) => {}
                (Err(e), Err(w)) => assert!(e.contains(w), "{e}"),
                (got, want) => panic!("{owner:?} {cluster}: {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn keys_follow_the_bucket_layout() {
        let k = ClusterKeys::new("demo");
        assert_eq!(k.config(), "clusters/demo/cluster.yaml");
        assert_eq!(k.approval("r1"), "clusters/demo/approvals/r1.yaml");
        assert_eq!(k.run("r1").prefix(), "clusters/demo/runs/r1/");
        assert_eq!(
            ClusterKeys::cluster_of("clusters/demo/destroy.yaml"),
            Some("demo")
        );
        assert_eq!(ClusterKeys::cluster_of("other/demo/x"), None);
        assert_eq!(ClusterKeys::cluster_of("clusters//x"), None);
    }

    #[test]
    fn plan_table_and_counts() {
        let p = plan();
        assert!(p.has_changes());
        assert_eq!(p.counts()["Modify"], 1);
        let t = p.table();
        assert!(
            t.contains("| demo-network | update | 1 | 1 | 0 | 1 |"),
            "{t}"
        );
        assert!(
            t.contains("| demo-etcd | no change | 0 | 0 | 0 | 0 |"),
            "{t}"
        );
        let none = Plan {
            stacks: vec![p.stacks[1].clone()],
            ..Plan::default()
        };
        assert!(!none.has_changes());
    }

    #[test]
    fn chat_messages_have_the_chatbot_shape() {
        let c = Chat::plan(
            "demo",
            "run-1",
            &plan(),
            Some("clusters/demo/approvals/run-1.yaml"),
        );
        let v = c.to_json();
        assert_eq!(v["version"], "1.0");
        assert_eq!(v["source"], "custom");
        assert_eq!(v["content"]["textType"], "client-markdown");
        assert_eq!(v["metadata"]["threadId"], "kubeline-demo");
        assert!(
            v["content"]["title"]
                .as_str()
                .is_some_and(|t| t.contains("demo"))
        );
        assert!(
            v["content"]["nextSteps"][0]
                .as_str()
                .is_some_and(|s| s.contains("approvals/run-1.yaml"))
        );
        let f = Chat::failed(
            "demo",
            "run-1",
            &RunError {
                error: "ConfigInvalid".into(),
                cause: "cluster.yaml:3:1: x".into(),
            },
        );
        assert!(
            f.to_json()["content"]["description"]
                .as_str()
                .is_some_and(|d| d.contains("ConfigInvalid"))
        );
    }

    #[test]
    fn requests_are_checked() {
        assert_eq!(
            parse_approval("decision: approve\nby: alice\n")
                .expect("ok")
                .decision,
            Decision::Approve
        );
        assert!(parse_approval("decision: maybe\n").is_err());
        assert!(parse_approval("approve: true\n").is_err());
        assert!(check_destroy("confirm: demo\n", "demo").is_ok());
        let e = check_destroy("confirm: prod\n", "demo").expect_err("wrong");
        assert!(e.contains("confirm: demo"), "{e}");
        assert!(check_destroy("yes\n", "demo").is_err());
    }

    #[test]
    fn status_round_trips() {
        let s = Status {
            cluster: "demo".into(),
            phase: Phase::AwaitingApproval,
            run_id: "r".into(),
            execution_arn: None,
            config_version: Some("v1".into()),
            stacks: vec![],
            api_endpoint: None,
            certificates: None,
            plan: BTreeMap::new(),
            addons: Some(vec![AddonVersion {
                name: "coredns".into(),
                version: "v1.12.1".into(),
            }]),
            addon_changes: vec![],
            rollout: vec![],
            etcd_snapshot: None,
            etcd_restore: None,
            started_at: "2026-11-25T00:00:00Z".into(),
            updated_at: "2026-11-25T00:00:00Z".into(),
            last_error: None,
            drift: None,
        };
        let text = serde_json::to_string(&s).expect("json");
        assert!(text.contains("\"phase\":\"awaiting-approval\""), "{text}");
        assert_eq!(serde_json::from_str::<Status>(&text).expect("back"), s);
    }

    #[test]
    fn the_workers_endpoint_never_moves_in_one_run() {
        let a = "https://internal.api.example.com";
        let b = "https://private.example.com";
        for (deployed, rendered, ok) in [
            (None, a, true),
            (Some(""), a, true),
            (Some(a), a, true),
            (Some(a), b, false),
            (Some(b), a, false),
        ] {
            let got = check_node_endpoint(deployed, rendered);
            assert_eq!(got.is_ok(), ok, "{deployed:?} -> {rendered}: {got:?}");
            if let Err(e) = got {
                let host = deployed.unwrap_or_default().trim_start_matches("https://");
                assert!(e.contains(&format!("Keep {host} as the endpoint")), "{e}");
            }
        }
    }

    #[test]
    fn add_on_changes_name_what_moved() {
        let v = |n: &str, ver: &str| AddonVersion {
            name: n.into(),
            version: ver.into(),
        };
        let set = [v("coredns", "v1.12.1"), v("flannel", "v0.28.9")];
        for (deployed, rendered, want) in [
            (None, vec![v("coredns", "v1.12.1")], vec![]),
            (Some(set.to_vec()), set.to_vec(), vec![]),
            (
                Some(set.to_vec()),
                vec![v("coredns", "v1.12.2"), v("flannel", "v0.28.9")],
                vec!["coredns v1.12.1 → v1.12.2"],
            ),
            (
                Some(set.to_vec()),
                vec![v("coredns", "v1.12.1"), v("kube-proxy", "v1.34.2")],
                vec!["flannel v0.28.9 removed", "kube-proxy v1.34.2 added"],
            ),
        ] {
            let got: Vec<String> = addon_changes(deployed.as_deref(), &rendered)
                .iter()
                .map(ToString::to_string)
                .collect();
            assert_eq!(got, want, "{deployed:?} -> {rendered:?}");
        }
        let plan = Plan {
            addon_changes: addon_changes(Some(&set), &[v("coredns", "v1.12.2")]),
            upgrade: None,
            ..Plan::default()
        };
        assert!(
            plan.table()
                .contains("add-ons: coredns v1.12.1 → v1.12.2, flannel v0.28.9 removed"),
            "{}",
            plan.table()
        );
    }
}
