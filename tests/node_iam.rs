//! kube-aws's `iam` settings against the installation's real policies (infra/template.yaml),
//! evaluated with negative controls: the service role can do exactly what each identity mode
//! needs within the cluster's names, the bucket lets only etcd's role (named `*-etcd`) write
//! snapshots, and the rendered modes send the node policy where the nodes get it
//! (docs/node-iam.md).

use kubeline_core::layout::{NodeGroup, node_profile_name};
use kubeline_tests::iam::{Decision, Pseudo, Request, evaluate, service_role};
use kubeline_tests::{installation_template, render_example, repo_root, stacks_of};
use serde_json::Value;

const BOUNDARY: &str = "arn:aws:iam::123456789012:policy/kubeline-node-role-boundary";

fn installation() -> Pseudo {
    let mut p = Pseudo::installation();
    p.refs.insert("NodeRoleBoundary".into(), BOUNDARY.into());
    p.refs.insert(
        "ServiceAccountRoleBoundary".into(),
        "arn:aws:iam::123456789012:policy/kubeline-service-account-role-boundary".into(),
    );
    p
}

/// What CloudFormation does for each mode, as the service role: an externally managed role
/// gets the node policy only while it carries the boundary; the instance profile around it,
/// and an existing profile's role, are passed to EC2 only when named `kubeline-*`.
#[test]
fn the_service_role_serves_each_identity_mode_only_within_kubeline_s_names() {
    let policies = service_role();
    let policies: Vec<&Value> = policies.iter().collect();
    let role = |n: &str| format!("arn:aws:iam::123456789012:role/{n}");
    let profile = |n: &str| format!("arn:aws:iam::123456789012:instance-profile/{n}");
    let external = role("kubeline-migrated-gpu-nodes");
    let cases = [
        // manageExternally: the inline node policy, only onto a role with the boundary.
        (
            Request::new("iam:PutRolePolicy", &external).with("iam:PermissionsBoundary", BOUNDARY),
            Decision::Allow,
        ),
        (
            Request::new("iam:PutRolePolicy", &external),
            Decision::ImplicitDeny,
        ),
        (
            Request::new("iam:DeleteRolePolicy", &external),
            Decision::Allow,
        ),
        // ... and the profile around it, to which the role is added (needs PassRole).
        (
            Request::new(
                "iam:CreateInstanceProfile",
                &profile("kubeline-migrated-gpu-nodes"),
            ),
            Decision::Allow,
        ),
        (
            Request::new(
                "iam:AddRoleToInstanceProfile",
                &profile("kubeline-migrated-gpu-nodes"),
            ),
            Decision::Allow,
        ),
        (
            Request::new("iam:PassRole", &external)
                .with("iam:PassedToService", "ec2.amazonaws.com"),
            Decision::Allow,
        ),
        // instanceProfile.arn: launching with it passes its role to EC2: kubeline-* only.
        (
            Request::new("iam:PassRole", &role("kubeline-migrated-members-etcd"))
                .with("iam:PassedToService", "ec2.amazonaws.com"),
            Decision::Allow,
        ),
        // Negative controls: kube-aws-era names, and the team's other roles.
        (
            Request::new("iam:PassRole", &role("migrated-eu-west-1-etcd"))
                .with("iam:PassedToService", "ec2.amazonaws.com"),
            Decision::ImplicitDeny,
        ),
        (
            Request::new("iam:PutRolePolicy", &role("team-admin"))
                .with("iam:PermissionsBoundary", BOUNDARY),
            Decision::ImplicitDeny,
        ),
        (
            Request::new("iam:CreateInstanceProfile", &profile("migrated-web")),
            Decision::ImplicitDeny,
        ),
        (
            Request::new("iam:AddRoleToInstanceProfile", &profile("team-profile")),
            Decision::ImplicitDeny,
        ),
    ];
    for (req, want) in &cases {
        assert_eq!(evaluate(&installation(), &policies, req), *want, "{req:?}");
    }
}

/// The bucket exempts `role/kubeline-*-etcd` from its deny on the pipeline's records (etcd
/// members write snapshots): why validation requires etcd's custom role names to end in
/// `-etcd` and refuses that ending (and pools named `etcd` or `*-etcd`) everywhere else.
#[test]
fn only_roles_ending_in_etcd_write_snapshots_which_is_why_the_names_are_kept() {
    let t = installation_template();
    let policy = &t["Resources"]["BucketPolicy"]["Properties"]["PolicyDocument"];
    let mut pseudo = Pseudo::default();
    pseudo.refs.insert("Bucket".into(), "kubeline-prod".into());
    pseudo
        .refs
        .insert("AWS::StackName".into(), "kubeline".into());
    let key = "arn:aws:s3:::kubeline-prod/clusters/legacy/etcd-snapshots/x.db";
    let put = |role: &str| {
        Request::new("s3:PutObject", key)
            .with("s3:x-amz-server-side-encryption", "aws:kms")
            .with(
                "aws:PrincipalArn",
                &format!("arn:aws:iam::123456789012:role/{role}"),
            )
    };
    let cases = [
        ("kubeline-legacy-etcd", false),
        ("kubeline-legacy-members-etcd", false),
        // What the refused names would be: exempt from the deny like etcd's own.
        ("kubeline-legacy-pool-etcd", false),
        ("kubeline-legacy-web-etcd", false),
        // A custom etcd name without the suffix: its members could take no snapshot.
        ("kubeline-legacy-members", true),
        ("kubeline-legacy-pool-web", true),
    ];
    for (role, denied) in cases {
        assert_eq!(
            evaluate(&pseudo, &[policy], &put(role)) == Decision::ExplicitDeny,
            denied,
            "{role}"
        );
    }
    for (yaml, refused) in [
        ("etcd:\n  iam: {role: {name: members}}\n", true),
        ("etcd:\n  iam: {role: {name: members-etcd}}\n", false),
        (
            "worker:\n  nodePools:\n    - {name: web, iam: {role: {name: web-etcd}}}\n",
            true,
        ),
        ("worker:\n  nodePools:\n    - name: etcd\n", true),
    ] {
        let text = format!(
            "{}{yaml}",
            std::fs::read_to_string(
                repo_root().join("tests/kube-aws-configs/13-refused-iam-names.yaml")
            )
            .expect("corpus")
            .split("controller:")
            .next()
            .expect("head")
        );
        let loaded = kubeline_core::validate::load(&text);
        assert_eq!(
            loaded.cluster.is_none(),
            refused,
            "{yaml}\n{}",
            loaded.diagnostics.render("cluster.yaml")
        );
    }
}

/// In the kube-aws-migrated example every group's node policy sits where its nodes get it: the
/// role kubeline creates, the externally managed role's inline policy, or the existing
/// profile's metadata; and each launch template names the group's profile.
#[test]
fn each_identity_mode_renders_its_node_policy_and_profile_where_nodes_get_them() {
    let (c, rendered) =
        render_example(&repo_root().join("examples/kube-aws-migrated/cluster.yaml"))
            .expect("render");
    let stacks = stacks_of(&rendered);
    let members = "arn:aws:iam::123456789012:instance-profile/kubeline-migrated-members";
    // (group, stack, resources that hold the node policy, launch template's profile)
    let cases = [
        (NodeGroup::Controller, "control-plane", "Role", None),
        (NodeGroup::Etcd, "etcd", "NodePolicy", Some(members)),
        (NodeGroup::Pool("web"), "node-pool-web", "Role", None),
        (NodeGroup::Pool("gpu"), "node-pool-gpu", "RolePolicy", None),
    ];
    for (group, stack, holder, profile) in cases {
        let t = &stacks[stack];
        let res = t["Resources"].as_object().expect("resources");
        let policy = match holder {
            "Role" => &res["Role"]["Properties"]["Policies"][0]["PolicyDocument"],
            "RolePolicy" => &res["RolePolicy"]["Properties"]["PolicyDocument"],
            _ => res
                .iter()
                .find(|(id, _)| id.starts_with("NodePolicy"))
                .map(|(_, r)| &r["Metadata"]["kubeline.io/node-policy"])
                .expect("NodePolicy<hash>"),
        };
        let sids: Vec<&str> = policy["Statement"]
            .as_array()
            .expect("statements")
            .iter()
            .filter_map(|s| s["Sid"].as_str())
            .collect();
        assert!(
            sids.contains(&"ReadOwnNodeAssets") && sids.contains(&"DecryptOwnCredentials"),
            "{stack}: {sids:?}"
        );
        // Only one place per group, and no role where kubeline creates none.
        for other in ["Role", "RolePolicy", "NodePolicy"]
            .iter()
            .filter(|o| **o != holder)
        {
            assert!(
                !res.keys()
                    .any(|id| id == *other || (*other == "NodePolicy" && id.starts_with(*other))),
                "{stack} also has {other}"
            );
        }
        let name = node_profile_name(&c, group);
        for (id, r) in res
            .iter()
            .filter(|(_, r)| r["Type"] == "AWS::EC2::LaunchTemplate")
        {
            let arn = &r["Properties"]["LaunchTemplateData"]["IamInstanceProfile"]["Arn"];
            match profile {
                Some(p) => assert_eq!(arn, p, "{stack} {id}"),
                None => {
                    assert_eq!(arn["Fn::GetAtt"][0], "InstanceProfile", "{stack} {id}");
                    assert_eq!(
                        res["InstanceProfile"]["Properties"]["InstanceProfileName"],
                        name.as_str()
                    );
                }
            }
        }
    }
    // The externally managed role: the profile waits for the policy, and holds that role.
    let gpu = &stacks["node-pool-gpu"]["Resources"];
    assert_eq!(gpu["InstanceProfile"]["DependsOn"], "RolePolicy");
    assert_eq!(
        gpu["InstanceProfile"]["Properties"]["Roles"][0],
        "kubeline-migrated-gpu-nodes"
    );
    assert_eq!(
        gpu["RolePolicy"]["Properties"]["RoleName"],
        "kubeline-migrated-gpu-nodes"
    );
    // The existing profile's policy is named by its hash: a change of it is a new resource.
    let ids = |stacks: &std::collections::BTreeMap<String, Value>| -> Vec<String> {
        stacks["etcd"]["Resources"]
            .as_object()
            .expect("resources")
            .keys()
            .filter(|id| id.starts_with("NodePolicy"))
            .cloned()
            .collect()
    };
    let before = ids(&stacks);
    assert_eq!(before.len(), 1, "{before:?}");
    let mut changed = c.clone();
    changed.node_logs = None;
    let again =
        kubeline_core::render::render(&changed, &kubeline_core::render::Templates::builtin())
            .expect("render");
    let after = ids(&stacks_of(&again));
    assert_eq!(after.len(), 1);
    assert_ne!(before, after, "a policy change must rename NodePolicy");
    // etcd's members attach only to instances of the existing profile.
    let etcd = stacks["etcd"].to_string();
    assert!(
        etcd.contains(&format!("\"ec2:InstanceProfile\":\"{members}\"")),
        "{etcd}"
    );
}

/// Start (the validate function) reads the outputs of every running node stack: the
/// control plane's endpoint and version, and each node stack's `NodeIdentity` and
/// `NodeApiEndpoint`. Its role may describe exactly the node stacks of kubeline's clusters
/// (moto does not enforce IAM, so this evaluation is the check).
#[test]
fn start_may_read_the_node_stacks_it_checks_and_no_other_stack() {
    let t = installation_template();
    let policies = kubeline_tests::iam::policies_of(&t, "ValidateFunction");
    let policies: Vec<&Value> = policies.iter().collect();
    let stack =
        |name: &str| format!("arn:aws:cloudformation:eu-west-1:123456789012:stack/{name}/0a1b2c3d");
    for (name, want) in [
        ("kubeline-demo-control-plane", Decision::Allow),
        ("kubeline-demo-etcd", Decision::Allow),
        ("kubeline-demo-node-pool-general", Decision::Allow),
        // Negative controls: stacks Start never reads.
        ("kubeline-demo-network", Decision::ImplicitDeny),
        ("kubeline", Decision::ImplicitDeny),
        ("payments-etcd", Decision::ImplicitDeny),
    ] {
        let req = Request::new("cloudformation:DescribeStacks", &stack(name));
        assert_eq!(evaluate(&installation(), &policies, &req), want, "{name}");
    }
}
