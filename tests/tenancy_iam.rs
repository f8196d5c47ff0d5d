//! The IAM side of sharing an installation, evaluated from infra/template.yaml's policies with
//! negative controls: only the admins write the installation policy, the service role changes
//! only the allowed hosted zones, and the validate function reads the policy and the tags of
//! existing networks but writes neither.

use std::collections::BTreeMap;

use kubeline_tests::iam::{Decision, Pseudo, Request, decided, evaluate, policies_of};
use kubeline_tests::installation_template;
use serde_json::Value;

fn pseudo() -> Pseudo {
    let mut p = Pseudo::default();
    p.refs.insert("Bucket".into(), "kubeline-prod".into());
    p.refs.insert("NamePrefix".into(), "kubeline".into());
    p.refs.insert("AWS::StackName".into(), "kubeline".into());
    p.refs.insert(
        "DeadLetterQueue.Arn".into(),
        "arn:aws:sqs:eu-west-1:123456789012:dlq".into(),
    );
    p.refs.insert(
        "Key.Arn".into(),
        "arn:aws:kms:eu-west-1:123456789012:key/installation".into(),
    );
    p
}

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
                evaluate(&pseudo(), &policies, &change(id)),
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
    let mut p = pseudo();
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
        (Request::new("ec2:DescribeTags", "*"), Decision::Allow),
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
    ];
    for (r, want) in &cases {
        assert_eq!(evaluate(&pseudo(), &policies, r), *want, "{r:?}");
    }
}
