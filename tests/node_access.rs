//! What a booting node may read, judged by evaluating each rendered node role's policy (and the
//! installation bucket's policy) for the exact requests the node makes: GetObject of its node
//! config and of every credential file, the KMS Decrypt of each envelope's data key with
//! kubeline's encryption context, and, with negative controls, everything it must not reach:
//! another cluster's or another group's objects, another role's secrets, another key, and a
//! decrypt through S3 with the bucket key's context (node objects are SSE-S3, so none is needed).

use kubeline_core::cluster::Cluster;
use kubeline_core::layout::{NodeGroup, credential_key, node_credentials};
use kubeline_tests::iam::{Decision, Pseudo, Request, evaluate};
use kubeline_tests::{examples_and_demo, node_groups, render_example, repo_root, role_policies};
use serde_json::Value;

fn s3_arn(c: &Cluster, key: &str) -> String {
    format!("arn:aws:s3:::{}/{key}", c.s3.bucket)
}

fn decrypt(key: &str, cluster: &str, asset: &str) -> Request {
    Request::new("kms:Decrypt", key)
        .with("kms:EncryptionContext:cluster", cluster)
        .with("kms:EncryptionContext:asset", asset)
}

#[test]
fn every_node_role_reads_exactly_what_its_node_needs() {
    let pseudo = Pseudo::default();
    let mut checked = 0;
    for (example, path) in examples_and_demo() {
        let (c, rendered) = render_example(&path).expect("render");
        let key_arn = c.kms_key_arn.to_string();
        for group in node_groups(&c) {
            let policies =
                role_policies(&rendered, &kubeline_core::layout::node_role_name(&c, group));
            let refs: Vec<&Value> = policies.iter().collect();
            let allow = |req: &Request, what: &str| {
                assert_eq!(
                    evaluate(&pseudo, &refs, req),
                    Decision::Allow,
                    "{example}: {} must be allowed {what}: {req:?}",
                    group.kind()
                );
            };
            let deny = |req: &Request, what: &str| {
                assert_ne!(
                    evaluate(&pseudo, &refs, req),
                    Decision::Allow,
                    "{example}: {} must not be allowed {what}: {req:?}",
                    group.kind()
                );
            };
            // 1. Its node config, at the content-addressed key its userdata stub names.
            let config = format!("userdata/{}.json", group.file_stem());
            let upload = rendered
                .uploads
                .iter()
                .find(|u| u.file == config)
                .expect("each group's node config is uploaded");
            allow(
                &Request::new("s3:GetObject", &s3_arn(&c, &upload.key)),
                "its node config",
            );
            // 2. Every credential it installs; 3. every envelope's data key, with kubeline's
            // context, on the cluster's key.
            let creds = node_credentials(group.role());
            for name in &creds.public {
                allow(
                    &Request::new(
                        "s3:GetObject",
                        &s3_arn(&c, &credential_key(&c, name, false)),
                    ),
                    "a certificate",
                );
            }
            for name in &creds.secret {
                allow(
                    &Request::new("s3:GetObject", &s3_arn(&c, &credential_key(&c, name, true))),
                    "an envelope",
                );
                allow(&decrypt(&key_arn, c.name.as_str(), name), "its data key");
                // Negative controls: another cluster's context, another key, no context.
                deny(
                    &decrypt(&key_arn, "other", name),
                    "another cluster's data key",
                );
                deny(
                    &decrypt(
                        "arn:aws:kms:eu-west-1:123456789012:key/00000000-1111-2222-3333-444444444444",
                        c.name.as_str(),
                        name,
                    ),
                    "another key",
                );
                deny(
                    &Request::new("kms:Decrypt", &key_arn),
                    "a decrypt without context",
                );
            }
            // Another role's secrets (the CA key is for controllers only).
            for name in ["ca-key.pem", "admin-key.pem", "service-account-key.pem"] {
                if !creds.secret.contains(&name) {
                    deny(
                        &Request::new("s3:GetObject", &s3_arn(&c, &credential_key(&c, name, true))),
                        "another role's secret",
                    );
                    deny(
                        &decrypt(&key_arn, c.name.as_str(), name),
                        "another role's data key",
                    );
                }
            }
            // Another cluster's objects under the same bucket, and another group's node config.
            let other = credential_key(&c, creds.public[0], false)
                .replace(&format!("clusters/{}/", c.name), "clusters/other/");
            assert_ne!(other, credential_key(&c, creds.public[0], false));
            deny(
                &Request::new("s3:GetObject", &s3_arn(&c, &other)),
                "another cluster's credentials",
            );
            for g in node_groups(&c).into_iter().filter(|g| *g != group) {
                let theirs = format!("userdata/{}.json", g.file_stem());
                if let Some(u) = rendered.uploads.iter().find(|u| u.file == theirs) {
                    deny(
                        &Request::new("s3:GetObject", &s3_arn(&c, &u.key)),
                        "another group's node config",
                    );
                }
            }
            // Pool `a` must not read pool `a-b`'s configs (a prefix of its name).
            let longer = upload.key.replace(
                &format!("/{}-", group.file_stem()),
                &format!("/{}-b-", group.file_stem()),
            );
            deny(
                &Request::new("s3:GetObject", &s3_arn(&c, &longer)),
                "the config of a group whose name extends its own",
            );
            // Node objects are SSE-S3: the role holds no decrypt through S3 with the bucket
            // key's context, so a node object written with SSE-KMS would be unreadable (the
            // bucket policy below refuses such writes).
            deny(
                &Request::new("kms:Decrypt", &key_arn)
                    .with("kms:ViaService", "s3.eu-west-1.amazonaws.com")
                    .with(
                        "kms:EncryptionContext:aws:s3:arn",
                        &format!("arn:aws:s3:::{}", c.s3.bucket),
                    ),
                "a decrypt through S3",
            );
            // A node that cannot start marks itself unhealthy: only in its own Auto Scaling
            // group (every etcd member's group of one carries the etcd group's tag).
            let asg = "arn:aws:autoscaling:eu-west-1:123456789012:autoScalingGroup:1a2b:autoScalingGroupName/x";
            let health = Request::new("autoscaling:SetInstanceHealth", asg);
            let tag = group.asg_group_tag(&c.name);
            allow(
                &health
                    .clone()
                    .with("autoscaling:ResourceTag/kubeline.io/node-group", &tag),
                "marking its own group's instance unhealthy",
            );
            deny(
                &health.clone().with(
                    "autoscaling:ResourceTag/kubeline.io/node-group",
                    "other/controller",
                ),
                "marking another group's instance unhealthy",
            );
            let sibling = format!("{}/pool-not-{}", c.name, group.kind());
            deny(
                &health
                    .clone()
                    .with("autoscaling:ResourceTag/kubeline.io/node-group", &sibling),
                "marking a sibling group's instance unhealthy",
            );
            // Nothing is writable.
            deny(
                &Request::new("s3:PutObject", &s3_arn(&c, &upload.key)),
                "writing its node config",
            );
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} node groups checked");
}

/// The installation's bucket policy refuses node objects that are not SSE-S3, so the writes
/// and the node roles cannot drift apart; other objects keep the bucket's SSE-KMS default.
#[test]
fn the_bucket_policy_keeps_node_objects_sse_s3() {
    let text = std::fs::read_to_string(repo_root().join("infra/template.yaml")).expect("template");
    let json = text
        .lines()
        .skip_while(|l| l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let t: Value = serde_json::from_str(&json).expect("template JSON");
    let policy = &t["Resources"]["BucketPolicy"]["Properties"]["PolicyDocument"];
    let mut pseudo = Pseudo::default();
    pseudo.refs.insert("Bucket".into(), "inst".into());
    pseudo
        .refs
        .insert("AWS::StackName".into(), "kubeline".into());
    // As the functions write them (only they may: the bucket policy).
    let put = |key: &str, sse: Option<&str>| {
        let mut r = Request::new("s3:PutObject", &format!("arn:aws:s3:::inst/{key}"))
            .with("aws:SecureTransport", "true")
            .with(
                "aws:PrincipalArn",
                "arn:aws:iam::123456789012:role/kubeline-RenderFunctionRole-1A2B3C4D5E6F",
            );
        if let Some(s) = sse {
            r = r.with("s3:x-amz-server-side-encryption", s);
        }
        evaluate(&pseudo, &[policy], &r)
    };
    for key in [
        "clusters/a/userdata/worker-x-0123456789abcdef.json",
        "clusters/a/credentials/ca.pem",
        "clusters/a/credentials/worker-key.pem.enc",
    ] {
        assert_eq!(put(key, None), Decision::ExplicitDeny, "{key} without SSE");
        assert_eq!(
            put(key, Some("aws:kms")),
            Decision::ExplicitDeny,
            "{key} SSE-KMS"
        );
        assert_ne!(
            put(key, Some("AES256")),
            Decision::ExplicitDeny,
            "{key} SSE-S3"
        );
    }
    // Negative control: the rule is scoped to node objects.
    for key in ["clusters/a/cluster.yaml", "clusters/a/runs/r1/run.json"] {
        assert_ne!(put(key, None), Decision::ExplicitDeny, "{key}");
    }
}

/// etcd members attach their member's network interface and data volume at boot: only this
/// cluster's member resources, only to instances running with the etcd instance profile. Every
/// other role gets no attach right at all.
#[test]
fn etcd_members_attach_only_their_own_cluster_s_member_resources() {
    let pseudo = Pseudo::default();
    let ec2 = |kind: &str, id: &str| format!("arn:aws:ec2:eu-west-1:123456789012:{kind}/{id}");
    let mut checked = 0;
    for (example, path) in examples_and_demo() {
        let (c, rendered) = render_example(&path).expect("render");
        let profile_of = |g: NodeGroup<'_>| {
            format!(
                "arn:aws:iam::123456789012:instance-profile/{}",
                kubeline_core::layout::node_profile_name(&c, g)
            )
        };
        let profile = profile_of(NodeGroup::Etcd);
        let controller_profile = profile_of(NodeGroup::Controller);
        let profile = profile.as_str();
        for group in node_groups(&c) {
            let policies =
                role_policies(&rendered, &kubeline_core::layout::node_role_name(&c, group));
            let refs: Vec<&Value> = policies.iter().collect();
            let decide = |r: &Request| evaluate(&pseudo, &refs, r);
            let own = format!("{}/etcd0", c.name);
            let member = |action: &str, kind: &str, tag: &str| {
                Request::new(action, &ec2(kind, "x-1"))
                    .with("aws:ResourceTag/kubeline.io/etcd-member", tag)
            };
            let instance = |action: &str, p: &str| {
                Request::new(action, &ec2("instance", "i-1")).with("ec2:InstanceProfile", p)
            };
            for (action, kind) in [
                ("ec2:AttachNetworkInterface", "network-interface"),
                ("ec2:AttachVolume", "volume"),
                ("ec2:DetachVolume", "volume"),
            ] {
                let cases = [
                    (member(action, kind, &own), "its member's resource"),
                    (
                        member(action, kind, "other/etcd0"),
                        "another cluster's member",
                    ),
                    (
                        member(action, kind, &format!("{}x/etcd0", c.name)),
                        "a cluster whose name it prefixes",
                    ),
                    (
                        Request::new(action, &ec2(kind, "x-2")),
                        "an untagged resource",
                    ),
                    (instance(action, profile), "an etcd instance of its cluster"),
                    (
                        instance(action, &controller_profile),
                        "an instance with another profile",
                    ),
                    (
                        Request::new(action, &ec2("instance", "i-2")),
                        "an instance without a profile",
                    ),
                ];
                for (i, (req, what)) in cases.iter().enumerate() {
                    let wanted = group.kind() == "etcd" && (i == 0 || i == 4);
                    assert_eq!(
                        decide(req) == Decision::Allow,
                        wanted,
                        "{example}: {} attaching {what}: {req:?}",
                        group.kind()
                    );
                }
            }
            let signal = |stack: &str| {
                Request::new(
                    "cloudformation:SignalResource",
                    &format!("arn:aws:cloudformation:eu-west-1:123456789012:stack/{stack}/abc"),
                )
            };
            assert_eq!(
                decide(&signal(&c.stack_name("etcd"))) == Decision::Allow,
                group.kind() == "etcd",
                "{example}: {} signalling the etcd stack",
                group.kind()
            );
            // Controllers signal their own readiness to the control-plane stack (waitSignal).
            assert_eq!(
                decide(&signal(&c.stack_name("control-plane"))) == Decision::Allow,
                group.kind() == "controller",
                "{example}: {} signalling the control-plane stack",
                group.kind()
            );
            assert_ne!(
                decide(&signal(&c.stack_name("network"))),
                Decision::Allow,
                "{example}: signalling another stack"
            );
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} node groups checked");
}
