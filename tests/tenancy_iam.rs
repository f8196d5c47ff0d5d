//! The IAM side of sharing an installation, evaluated from infra/template.yaml's policies with
//! negative controls: only the admins write the installation policy, the service role changes
//! only the allowed hosted zones, and the validate function reads the policy and the tags of
//! existing networks but writes neither.

use std::collections::BTreeMap;

use kubeline_tests::iam::{
    Decision, Pseudo, Request, decided, evaluate, policies_of, service_role,
};
use kubeline_tests::installation_template;
use serde_json::Value;

#[test]
fn the_service_role_changes_only_the_allowed_hosted_zones() {
    let t = installation_template();
    let zone = |id: &str| format!("arn:aws:route53:::hostedzone/{id}");
    let change = |id: &str| Request::new("route53:ChangeResourceRecordSets", &zone(id));
    for (zones, cases) in [
        (
            vec!["Z0TEAMS", "Z0PLATFORM"],
            vec![
                ("Z0TEAMS", Decision::Allow),
                ("Z0PLATFORM", Decision::Allow),
                ("Z0CORPORATE", Decision::ImplicitDeny),
                ("Z0TEAMSX", Decision::ImplicitDeny),
            ],
        ),
        // No parameter: any zone (kubeline's behaviour before the parameter).
        (vec![], vec![("Z0CORPORATE", Decision::Allow)]),
    ] {
        let conditions = BTreeMap::from([("HasHostedZones", !zones.is_empty())]);
        let lists = BTreeMap::from([("HostedZoneIds", zones.clone())]);
        let policies: Vec<Value> = policies_of(&t, "ClusterStacksRole")
            .iter()
            .map(|p| decided(p, &conditions, &lists))
            .collect();
        let policies: Vec<&Value> = policies.iter().collect();
        for (id, want) in cases {
            assert_eq!(
                evaluate(&Pseudo::installation(), &policies, &change(id)),
                want,
                "{id} with {zones:?}"
            );
        }
    }
    // The validate function receives the same list, which Start checks cluster.yaml against.
    let env = &t["Resources"]["ValidateFunction"]["Properties"]["Environment"]["Variables"];
    let lists = BTreeMap::from([("HostedZoneIds", vec!["Z0TEAMS", "Z0PLATFORM"])]);
    assert_eq!(
        decided(&env["KUBELINE_HOSTED_ZONE_IDS"], &BTreeMap::new(), &lists),
        "Z0TEAMS,Z0PLATFORM"
    );
    assert_eq!(env["KUBELINE_KMS_KEY_ARN"]["Fn::GetAtt"][0], "Key");
}

#[test]
fn only_the_admins_write_the_installation_policy() {
    let t = installation_template();
    let statements = t["Resources"]["BucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        .as_array()
        .expect("statements")
        .clone();
    let admins = "arn:aws:iam::123456789012:role/platform-*";
    let bucket_policy = |has_admins: bool| {
        let conditions = BTreeMap::from([("HasAdmins", has_admins), ("HasApprovers", false)]);
        let kept: Vec<Value> = statements
            .iter()
            .map(|s| decided(s, &conditions, &BTreeMap::new()))
            .filter(|s| s.get("Ref").is_none())
            .collect();
        serde_json::json!({ "Statement": kept })
    };
    // A team may write its own folder and (through a careless grant) the bucket's root; the
    // bucket policy decides.
    let team_policy = serde_json::json!({"Statement": [{"Effect": "Allow",
        "Action": ["s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"],
        "Resource": "arn:aws:s3:::kubeline-prod/*"}]});
    let mut p = Pseudo::installation();
    p.refs.insert("AdminPrincipalArns".into(), admins.into());
    let req = |action: &str, key: &str, who: &str| {
        Request::new(action, &format!("arn:aws:s3:::kubeline-prod/{key}"))
            .with("aws:PrincipalArn", who)
            .with("aws:SecureTransport", "true")
    };
    let admin = "arn:aws:iam::123456789012:role/platform-admins";
    let team = "arn:aws:iam::123456789012:role/team-a";
    let guarded = bucket_policy(true);
    let cases = [
        (
            req("s3:PutObject", "installation.yaml", admin),
            Decision::Allow,
        ),
        (
            req("s3:PutObject", "installation.yaml", team),
            Decision::ExplicitDeny,
        ),
        (
            req("s3:DeleteObject", "installation.yaml", team),
            Decision::ExplicitDeny,
        ),
        (
            req("s3:DeleteObjectVersion", "installation.yaml", team),
            Decision::ExplicitDeny,
        ),
        (
            req("s3:PutObject", "clusters/a/cluster.yaml", team),
            Decision::Allow,
        ),
    ];
    for (r, want) in &cases {
        assert_eq!(evaluate(&p, &[&team_policy, &guarded], r), *want, "{r:?}");
    }
    // Negative control: without AdminPrincipalArns nothing guards the file.
    let open = bucket_policy(false);
    let r = req("s3:PutObject", "installation.yaml", team);
    assert_eq!(evaluate(&p, &[&team_policy, &open], &r), Decision::Allow);
}

#[test]
fn the_validate_function_reads_the_policy_and_network_tags_and_writes_neither() {
    let t = installation_template();
    let policies = policies_of(&t, "ValidateFunction");
    let policies: Vec<&Value> = policies.iter().collect();
    let obj = |key: &str| format!("arn:aws:s3:::kubeline-prod/{key}");
    let cases = [
        (
            Request::new("s3:GetObject", &obj("installation.yaml")),
            Decision::Allow,
        ),
        // It reads existing networks' tags through the Resource Groups Tagging API, and
        // nothing more of EC2 or of tagging.
        (Request::new("tag:GetResources", "*"), Decision::Allow),
        (
            Request::new("ec2:DescribeTags", "*"),
            Decision::ImplicitDeny,
        ),
        (
            Request::new("tag:TagResources", "*"),
            Decision::ImplicitDeny,
        ),
        // It resolves the exports a cluster takes its network from (idFromStackOutput).
        (
            Request::new("cloudformation:ListExports", "*"),
            Decision::Allow,
        ),
        (
            Request::new("s3:PutObject", &obj("installation.yaml")),
            Decision::ImplicitDeny,
        ),
        (
            Request::new("s3:DeleteObject", &obj("installation.yaml")),
            Decision::ImplicitDeny,
        ),
        (
            Request::new("s3:GetObject", &obj("other.yaml")),
            Decision::ImplicitDeny,
        ),
        (Request::new("ec2:CreateTags", "*"), Decision::ImplicitDeny),
        // It tells the chat of a deleted cluster.yaml, on the installation's topic only.
        (
            Request::new(
                "sns:Publish",
                "arn:aws:sns:eu-west-1:123456789012:kubeline-chat",
            ),
            Decision::Allow,
        ),
        (
            Request::new("sns:Publish", "arn:aws:sns:eu-west-1:123456789012:other"),
            Decision::ImplicitDeny,
        ),
    ];
    for (r, want) in &cases {
        assert_eq!(
            evaluate(&Pseudo::installation(), &policies, r),
            *want,
            "{r:?}"
        );
    }
}

const BOUNDARY: &str = "arn:aws:iam::123456789012:policy/kubeline-node-role-boundary";

const SA_BOUNDARY: &str = "arn:aws:iam::123456789012:policy/kubeline-service-account-role-boundary";

fn with_boundary() -> Pseudo {
    let mut p = Pseudo::installation();
    p.refs.insert("NodeRoleBoundary".into(), BOUNDARY.into());
    p.refs
        .insert("ServiceAccountRoleBoundary".into(), SA_BOUNDARY.into());
    p
}

#[test]
fn the_service_role_creates_node_roles_only_within_the_boundary_and_passes_them_only_to_ec2() {
    let policies = service_role();
    let policies: Vec<&Value> = policies.iter().collect();
    let role = "arn:aws:iam::123456789012:role/kubeline-demo-controller";
    let other_policy = "arn:aws:iam::123456789012:policy/AdministratorAccess";
    let r = |action: &str| Request::new(action, role);
    let cases = [
        (
            r("iam:CreateRole").with("iam:PermissionsBoundary", BOUNDARY),
            Decision::Allow,
        ),
        (r("iam:CreateRole"), Decision::ImplicitDeny),
        (
            r("iam:CreateRole").with("iam:PermissionsBoundary", other_policy),
            Decision::ImplicitDeny,
        ),
        // A serviceAccounts role: with the workloads' boundary.
        (
            r("iam:CreateRole").with("iam:PermissionsBoundary", SA_BOUNDARY),
            Decision::Allow,
        ),
        (
            r("iam:AttachRolePolicy").with("iam:PermissionsBoundary", SA_BOUNDARY),
            Decision::Allow,
        ),
        // Inline policies (node and add-on roles, and kube-aws's manageExternally roles) only
        // onto a role with the node boundary: one with the workloads' boundary would take the
        // node policy and then deny its node the bucket and the key.
        (
            r("iam:PutRolePolicy").with("iam:PermissionsBoundary", SA_BOUNDARY),
            Decision::ImplicitDeny,
        ),
        // Service-account issuers: this installation's bucket's, nobody else's.
        (
            Request::new(
                "iam:CreateOpenIDConnectProvider",
                "arn:aws:iam::123456789012:oidc-provider/kubeline-prod.s3.eu-west-1.amazonaws.com/clusters/demo/oidc",
            ),
            Decision::Allow,
        ),
        (
            Request::new(
                "iam:DeleteOpenIDConnectProvider",
                "arn:aws:iam::123456789012:oidc-provider/kubeline-prod.s3.eu-west-1.amazonaws.com/clusters/demo/oidc",
            ),
            Decision::Allow,
        ),
        (
            Request::new(
                "iam:CreateOpenIDConnectProvider",
                "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com",
            ),
            Decision::ImplicitDeny,
        ),
        (
            Request::new(
                "iam:DeleteOpenIDConnectProvider",
                "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC",
            ),
            Decision::ImplicitDeny,
        ),
        (
            r("iam:PutRolePermissionsBoundary").with("iam:PermissionsBoundary", BOUNDARY),
            Decision::Allow,
        ),
        (
            r("iam:PutRolePermissionsBoundary").with("iam:PermissionsBoundary", other_policy),
            Decision::ImplicitDeny,
        ),
        (
            r("iam:PutRolePolicy").with("iam:PermissionsBoundary", BOUNDARY),
            Decision::Allow,
        ),
        // A role without the boundary (or with another) gets no new rights.
        (r("iam:PutRolePolicy"), Decision::ImplicitDeny),
        (
            r("iam:PutRolePolicy").with("iam:PermissionsBoundary", other_policy),
            Decision::ImplicitDeny,
        ),
        // Managed policies (kube-aws's iam.role.managedPolicies) only onto a role with the
        // boundary, which caps what they grant.
        (
            r("iam:AttachRolePolicy").with("iam:PermissionsBoundary", BOUNDARY),
            Decision::Allow,
        ),
        (r("iam:AttachRolePolicy"), Decision::ImplicitDeny),
        (
            r("iam:AttachRolePolicy").with("iam:PermissionsBoundary", other_policy),
            Decision::ImplicitDeny,
        ),
        (
            Request::new(
                "iam:AttachRolePolicy",
                "arn:aws:iam::123456789012:role/kubeline-cluster-stacks",
            )
            .with("iam:PermissionsBoundary", BOUNDARY),
            Decision::ExplicitDeny,
        ),
        (r("iam:DetachRolePolicy"), Decision::Allow),
        // Taking rights away, and deleting (CloudFormation removes the boundary when it
        // deletes a role), stay possible.
        (r("iam:DeleteRolePolicy"), Decision::Allow),
        (r("iam:DeleteRolePermissionsBoundary"), Decision::Allow),
        (r("iam:DeleteRole"), Decision::Allow),
        (
            r("iam:PassRole").with("iam:PassedToService", "ec2.amazonaws.com"),
            Decision::Allow,
        ),
        (
            r("iam:PassRole").with("iam:PassedToService", "lambda.amazonaws.com"),
            Decision::ImplicitDeny,
        ),
        (r("iam:PassRole"), Decision::ImplicitDeny),
        // The boundary itself is the installation's: the service role cannot change it.
        (
            Request::new("iam:CreatePolicyVersion", BOUNDARY),
            Decision::ImplicitDeny,
        ),
        (
            Request::new("iam:DeletePolicy", BOUNDARY),
            Decision::ImplicitDeny,
        ),
        // Nor any role outside kubeline's node roles, with or without the boundary.
        (
            Request::new("iam:CreateRole", "arn:aws:iam::123456789012:role/admin")
                .with("iam:PermissionsBoundary", BOUNDARY),
            Decision::ImplicitDeny,
        ),
        (
            Request::new(
                "iam:PutRolePolicy",
                "arn:aws:iam::123456789012:role/kubeline-cluster-stacks",
            )
            .with("iam:PermissionsBoundary", BOUNDARY),
            Decision::ExplicitDeny,
        ),
    ];
    for (req, want) in &cases {
        assert_eq!(evaluate(&with_boundary(), &policies, req), *want, "{req:?}");
    }
    // The apply function hands the boundary to the stacks (their NodeRoleBoundary parameter).
    let t = installation_template();
    let env = &t["Resources"]["ApplyFunction"]["Properties"]["Environment"]["Variables"];
    assert_eq!(
        env["KUBELINE_NODE_ROLE_BOUNDARY_ARN"]["Ref"],
        "NodeRoleBoundary"
    );
}

/// Every node role of every rendered scenario (the render snapshots) declares the boundary,
/// and every right it is given lies within it, so the boundary never breaks a node; a right
/// kubeline never renders is outside it.
#[test]
fn every_rendered_node_right_lies_within_the_boundary() {
    let t = installation_template();
    let boundary = &t["Resources"]["NodeRoleBoundary"]["Properties"]["PolicyDocument"];
    let mut roles = 0;
    let mut rights = 0;
    // Every example with every add-on, as an installation deploys it: s3URI is the
    // installation's bucket itself (Start refuses a prefix).
    for (example, path) in kubeline_tests::examples_and_demo() {
        let text = std::fs::read_to_string(&path).expect("example");
        let text: String = text
            .lines()
            .map(|l| {
                if l.starts_with("s3URI:") {
                    "s3URI: s3://kubeline-prod".to_owned()
                } else {
                    l.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let loaded = kubeline_core::validate::load(&text);
        let cluster = loaded
            .cluster
            .unwrap_or_else(|| panic!("{example}: {}", loaded.diagnostics.render("cluster.yaml")));
        let rendered =
            kubeline_core::render::render(&cluster, &kubeline_core::render::Templates::builtin())
                .expect("render");
        for (name, template) in kubeline_tests::stacks_of(&rendered) {
            let name = format!("{example} {name}");
            let body = template.to_string();
            let mut p = Pseudo::installation();
            // The installation's region is the cluster's (its stacks are created there).
            if let Some(region) = body
                .split("arn:aws:kms:")
                .nth(1)
                .and_then(|rest| rest.split(':').next())
            {
                p.region = region.to_owned();
            }
            p.refs.insert("Bucket".into(), "kubeline-prod".into());
            for (id, r) in template["Resources"].as_object().into_iter().flatten() {
                let docs: Vec<&Value> = match r["Type"].as_str() {
                    Some("AWS::IAM::Role") => {
                        // Node and add-on roles: the node boundary; serviceAccounts roles
                        // (managed policies only): the workloads' (tests/service_accounts.rs).
                        let bound = if r["Properties"]["Policies"].is_null() {
                            "ServiceAccountRoleBoundary"
                        } else {
                            "NodeRoleBoundary"
                        };
                        assert_eq!(
                            r["Properties"]["PermissionsBoundary"]["Fn::If"][1]["Ref"], bound,
                            "{name} {id} has no boundary"
                        );
                        r["Properties"]["Policies"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|pol| &pol["PolicyDocument"])
                            .collect()
                    }
                    // The node policy of a role kubeline does not create (kube-aws's
                    // manageExternally, and instanceProfile.arn's role): that role must carry
                    // the node boundary, which the resource names (docs/node-iam.md).
                    Some("AWS::IAM::RolePolicy" | "AWS::CloudFormation::WaitConditionHandle") => {
                        assert_eq!(
                            r["Metadata"]["kubeline.io/role-boundary"]["Fn::If"][1]["Ref"],
                            "NodeRoleBoundary",
                            "{name} {id} names no boundary"
                        );
                        match r["Metadata"].get("kubeline.io/node-policy") {
                            Some(doc) => vec![doc],
                            None => vec![&r["Properties"]["PolicyDocument"]],
                        }
                    }
                    _ => continue,
                };
                roles += 1;
                for pol in docs {
                    for st in pol["Statement"].as_array().into_iter().flatten() {
                        let actions = match &st["Action"] {
                            Value::Array(a) => a.clone(),
                            a => vec![a.clone()],
                        };
                        let resources = match &st["Resource"] {
                            Value::Array(a) => a.clone(),
                            a => vec![a.clone()],
                        };
                        for a in &actions {
                            for res in &resources {
                                // A concrete request the rendered statement allows: its ARN with
                                // each wildcard filled, and its condition values as context.
                                let arn = match res {
                                    Value::String(s) => s.clone(),
                                    // `Fn::Sub`, or a `Fn::GetAtt` of the stack's own resource.
                                    Value::Object(m) => m
                                        .get("Fn::Sub")
                                        .and_then(Value::as_str)
                                        .unwrap_or("*")
                                        .to_owned(),
                                    _ => continue,
                                };
                                let arn = arn
                                    .replace("${AWS::Partition}", "aws")
                                    .replace("${AWS::Region}", &p.region)
                                    .replace("${AWS::AccountId}", "123456789012")
                                    .replace('*', "x");
                                let action = a.as_str().expect("action");
                                // `*`: a resource of the action's own service, as AWS would see it.
                                let arn = if arn == "x" {
                                    let svc = action.split(':').next().unwrap_or_default();
                                    let kind = if svc == "kms" { "key/x" } else { "x" };
                                    format!("arn:aws:{svc}:{}:123456789012:{kind}", p.region)
                                } else {
                                    arn
                                };
                                let mut req = Request::new(action, &arn);
                                // The one service-linked role nodes create: Elastic Load
                                // Balancing's, which the cloud-controller-manager's `*` covers.
                                if action == "iam:CreateServiceLinkedRole" {
                                    req = Request::new(action, "arn:aws:iam::123456789012:role/aws-service-role/elasticloadbalancing.amazonaws.com/AWSServiceRoleForElasticLoadBalancing")
                                    .with("iam:AWSServiceName", "elasticloadbalancing.amazonaws.com");
                                }
                                for (_, keys) in st["Condition"].as_object().into_iter().flatten() {
                                    for (k, v) in keys.as_object().into_iter().flatten() {
                                        let v = match v {
                                            Value::Array(a) => a[0].clone(),
                                            v => v.clone(),
                                        };
                                        if let Some(v) = v.as_str() {
                                            req = req.with(k, &v.replace('*', "x"));
                                        }
                                    }
                                }
                                let mut concrete = st.clone();
                                concrete["Resource"] = Value::String(req.resource.clone());
                                let one = serde_json::json!({"Statement": [concrete]});
                                if evaluate(&p, &[&one], &req) != Decision::Allow {
                                    continue;
                                }
                                rights += 1;
                                assert_eq!(
                                    evaluate(&p, &[boundary], &req),
                                    Decision::Allow,
                                    "{name} {id}: {req:?} is outside NodeRoleBoundary"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(
        roles >= 15 && rights >= 100,
        "{roles} roles, {rights} rights checked"
    );
    // Negative controls: what no node may ever do.
    let p = {
        let mut p = Pseudo::installation();
        p.refs.insert("Bucket".into(), "kubeline-assets".into());
        p
    };
    for req in [
        Request::new("iam:CreateRole", "arn:aws:iam::123456789012:role/x"),
        Request::new("iam:PassRole", "arn:aws:iam::123456789012:role/x"),
        Request::new("s3:GetObject", "arn:aws:s3:::someone-elses-bucket/secret"),
        Request::new(
            "s3:DeleteObject",
            "arn:aws:s3:::kubeline-assets/clusters/a/cluster.yaml",
        ),
        Request::new(
            "s3:GetObject",
            "arn:aws:s3:::kubeline-assets/installation.yaml",
        ),
        Request::new(
            "ec2:RunInstances",
            "arn:aws:ec2:eu-west-1:123456789012:instance/x",
        ),
        Request::new(
            "kms:ScheduleKeyDeletion",
            "arn:aws:kms:eu-west-1:123456789012:key/x",
        ),
        Request::new("sts:AssumeRole", "arn:aws:iam::123456789012:role/x"),
        Request::new(
            "iam:CreateServiceLinkedRole",
            "arn:aws:iam::123456789012:role/aws-service-role/x",
        )
        .with("iam:AWSServiceName", "spot.amazonaws.com"),
    ] {
        assert_ne!(
            evaluate(&p, &[boundary], &req),
            Decision::Allow,
            "{req:?} is within the boundary"
        );
    }
}

/// A team cannot rewrite what the pipeline checked or rendered (its run's copy of
/// cluster.yaml, the rendered templates, status.json, credentials, node configs, the etcd
/// orders and snapshots): only the functions (and the etcd members, for their snapshots and
/// reports) write there, whatever the team's own grant on its folder says.
#[test]
fn only_the_pipeline_writes_its_records_and_renders() {
    let t = installation_template();
    let statements: Vec<Value> =
        t["Resources"]["BucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
            .as_array()
            .expect("statements")
            .iter()
            .filter(|s| {
                s["Sid"] == "OnlyThePipelineWritesItsRecords"
                    || s["Sid"] == "OnlyThePipelineAndEtcdMembersWriteEtcdRecords"
            })
            .cloned()
            .collect();
    assert_eq!(statements.len(), 2);
    let bucket_policy = serde_json::json!({ "Statement": statements });
    let grant = serde_json::json!({"Statement": [{"Effect": "Allow",
        "Action": ["s3:PutObject", "s3:DeleteObject", "s3:PutObjectTagging"],
        "Resource": "arn:aws:s3:::kubeline-prod/clusters/*"}]});
    let team = "arn:aws:iam::123456789012:role/team-a";
    let render = "arn:aws:iam::123456789012:role/kubeline-RenderFunctionRole-1A2B3C4D5E6F";
    let etcd = "arn:aws:iam::123456789012:role/kubeline-a-etcd";
    let worker = "arn:aws:iam::123456789012:role/kubeline-a-pool-general";
    let req = |action: &str, key: &str, who: &str| {
        Request::new(
            action,
            &format!("arn:aws:s3:::kubeline-prod/clusters/a/{key}"),
        )
        .with("aws:PrincipalArn", who)
    };
    use Decision::{Allow, ExplicitDeny};
    let cases = [
        (req("s3:PutObject", "cluster.yaml", team), Allow),
        (req("s3:PutObject", "destroy.yaml", team), Allow),
        (req("s3:PutObject", "restore-etcd.yaml", team), Allow),
        (req("s3:PutObject", "approvals/r1.yaml", team), Allow),
        (
            req("s3:PutObject", "runs/r1/cluster.yaml", team),
            ExplicitDeny,
        ),
        (
            req(
                "s3:PutObject",
                "assets/0123abcd/stack-templates/network.json",
                team,
            ),
            ExplicitDeny,
        ),
        (req("s3:DeleteObject", "status.json", team), ExplicitDeny),
        (req("s3:PutObject", "versions/v1.json", team), ExplicitDeny),
        (
            req("s3:PutObject", "credentials/ca.pem", team),
            ExplicitDeny,
        ),
        (
            req("s3:PutObject", "userdata/worker-general-0123.json", team),
            ExplicitDeny,
        ),
        (
            req("s3:PutObject", "etcd-restore-request.env", team),
            ExplicitDeny,
        ),
        (
            req("s3:PutObjectTagging", "etcd-snapshots/hourly/x.db", team),
            ExplicitDeny,
        ),
        (
            req("s3:PutObject", "etcd-snapshots/hourly/x.db", worker),
            ExplicitDeny,
        ),
        (req("s3:PutObject", "runs/r1/cluster.yaml", render), Allow),
        (
            req(
                "s3:PutObject",
                "assets/0123abcd/stack-templates/network.json",
                render,
            ),
            Allow,
        ),
        (
            req("s3:PutObject", "etcd-snapshots/hourly/x.db", etcd),
            Allow,
        ),
        (
            req("s3:PutObject", "etcd-restore/r1/member-0.json", etcd),
            Allow,
        ),
        // The etcd members' exemption covers their snapshots and reports only: a role named
        // like etcd's cannot rewrite node configs, credentials or the pipeline's records.
        (
            req("s3:PutObject", "userdata/worker-general-0123.json", etcd),
            ExplicitDeny,
        ),
        (
            req("s3:PutObject", "credentials/ca.pem", etcd),
            ExplicitDeny,
        ),
        (req("s3:PutObject", "status.json", etcd), ExplicitDeny),
        (
            req("s3:PutObject", "runs/r1/cluster.yaml", etcd),
            ExplicitDeny,
        ),
        (
            req("s3:PutObject", "etcd-restore-request.env", etcd),
            ExplicitDeny,
        ),
    ];
    for (r, want) in &cases {
        assert_eq!(
            evaluate(&Pseudo::installation(), &[&grant, &bucket_policy], r),
            *want,
            "{r:?}"
        );
    }
}

/// No node can give a VPC or subnet to a cluster: the boundary denies kubeline.io/ tags on
/// EC2, while the cloud provider keeps tagging with its own keys.
#[test]
fn no_node_sets_kubeline_tags() {
    let t = installation_template();
    let boundary = &t["Resources"]["NodeRoleBoundary"]["Properties"]["PolicyDocument"];
    let tag = |keys: &str| {
        Request::new(
            "ec2:CreateTags",
            "arn:aws:ec2:eu-west-1:123456789012:vpc/vpc-0123456789abcdef0",
        )
        .with("aws:TagKeys", keys)
    };
    let cases = [
        (tag("kubernetes.io/cluster/demo"), Decision::Allow),
        (tag("kubeline.io/cluster"), Decision::ExplicitDeny),
        (tag("Name,kubeline.io/tenant"), Decision::ExplicitDeny),
        (
            Request::new(
                "ec2:DeleteTags",
                "arn:aws:ec2:eu-west-1:123456789012:subnet/subnet-1",
            )
            .with("aws:TagKeys", "kubeline.io/cluster"),
            Decision::ExplicitDeny,
        ),
    ];
    for (r, want) in &cases {
        assert_eq!(
            evaluate(&Pseudo::installation(), &[boundary], r),
            *want,
            "{r:?}"
        );
    }
}
