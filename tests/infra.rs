//! The installation template (infra/template.yaml, AWS SAM): cfn-lint with zero errors and
//! warnings, checkov with zero failed checks (every skip reasoned), `sam validate --lint`, the
//! IAM rules (no `*` action, no `*` resource for actions that can name their resources), and
//! its contract with the state machines and the function crates.

use std::collections::BTreeSet;
use std::process::Command;

use kubeline_tests::iam::{policies_of, template_statements as statements};
use kubeline_tests::{installation_template, outcome, repo_root, run, tool};
use serde_json::Value;

fn template_path() -> std::path::PathBuf {
    repo_root().join("infra/template.yaml")
}

fn template() -> Value {
    installation_template()
}

#[test]
fn cfn_lint_finds_nothing() {
    let (ok, out) = outcome(&run(Command::new(tool("cfn-lint")).arg(template_path())));
    assert!(ok && out.trim().is_empty(), "cfn-lint:\n{out}");
}

#[test]
fn checkov_fails_no_check_and_every_skip_has_a_reason() {
    let out = run(Command::new(tool("checkov"))
        .args([
            "--framework",
            "cloudformation",
            "--skip-download",
            "--compact",
            "--quiet",
            "-o",
            "json",
            "-f",
        ])
        .arg(template_path()));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "checkov output: {e}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let summary = &v["summary"];
    assert_eq!(
        summary["failed"], 0,
        "checkov failed checks:\n{}",
        v["results"]["failed_checks"]
    );
    assert!(summary["passed"].as_u64().unwrap_or(0) >= 30, "{summary}");
    let t = template();
    for (name, r) in t["Resources"].as_object().expect("Resources") {
        for s in r["Metadata"]["checkov"]["skip"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let comment = s["comment"].as_str().unwrap_or_default();
            assert!(
                comment.len() > 30,
                "{name}: skip {} without a reason",
                s["id"]
            );
        }
    }
}

#[test]
fn sam_validate_lint_passes() {
    let sam = repo_root().join(".tools/deploy-venv/bin/sam");
    assert!(
        sam.is_file(),
        "sam is not installed: run `cargo xtask test`"
    );
    let (ok, out) = outcome(&run(Command::new(sam)
        .args(["validate", "--lint", "--template-file"])
        .arg(template_path())
        .env("AWS_DEFAULT_REGION", "eu-west-1")
        .env("SAM_CLI_TELEMETRY", "0")));
    assert!(ok && out.contains("is a valid SAM Template"), "{out}");
}

/// Actions that can name their resources (so `"Resource": "*"` is not needed for them).
const RESOURCE_LEVEL: &[&str] = &[
    "s3:",
    "kms:",
    "sns:",
    "sqs:",
    "lambda:",
    "iam:",
    "route53:",
    "ssm:",
    "states:StartExecution",
    "states:DescribeExecution",
    "cloudformation:CreateChangeSet",
    "cloudformation:DescribeChangeSet",
    "cloudformation:ExecuteChangeSet",
    "cloudformation:DeleteChangeSet",
    "cloudformation:DescribeStacks",
    "cloudformation:DescribeStackEvents",
    "cloudformation:DeleteStack",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
];

fn as_list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    }
}

#[test]
fn iam_has_no_wildcard_action_and_no_wildcard_resource_where_a_narrower_arn_exists() {
    let t = template();
    let all = statements(&t);
    assert!(all.len() >= 25, "too few statements found: {}", all.len());
    // ServiceAccountRoleBoundary is a ceiling, not a grant (tests/service_accounts.rs checks
    // what it keeps out of reach).
    for (name, s) in all
        .iter()
        .filter(|(n, _)| n != "ServiceAccountRoleBoundary")
    {
        if s["Effect"] != "Allow" {
            continue;
        }
        let actions: Vec<String> = as_list(&s["Action"])
            .iter()
            .map(|a| a.as_str().unwrap_or_default().to_owned())
            .collect();
        assert!(!actions.iter().any(|a| a == "*"), "{name}: Action \"*\"");
        let star = as_list(&s["Resource"]).iter().any(|r| r == "*");
        if star {
            for a in &actions {
                assert!(
                    !RESOURCE_LEVEL.iter().any(|p| a.starts_with(p)),
                    "{name}: {a} supports resource-level permissions but has Resource \"*\" ({})",
                    s["Sid"]
                );
            }
        }
    }
    // Negative control: the check catches a wildcard resource on s3.
    let bad = serde_json::json!({"Resources": {"R": {"Type": "AWS::IAM::Role", "Properties": {"Policies": [{"PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}]}}]}}}});
    let caught = statements(&bad).iter().any(|(_, s)| {
        as_list(&s["Resource"]).iter().any(|r| r == "*")
            && as_list(&s["Action"])
                .iter()
                .any(|a| a.as_str().is_some_and(|a| a.starts_with("s3:")))
    });
    assert!(caught);
    // The Lambdas never hold the rights to build clusters: only the CloudFormation service role.
    // (The boundaries grant nothing: they are ceilings, see tenancy_iam.rs.)
    for (name, s) in all
        .iter()
        .filter(|(n, _)| n != "NodeRoleBoundary" && n != "ServiceAccountRoleBoundary")
    {
        let actions = as_list(&s["Action"]);
        if actions.iter().any(|a| {
            a.as_str().is_some_and(|a| {
                (a.starts_with("ec2:") && !a.starts_with("ec2:Describe"))
                    || a.starts_with("iam:Create")
            })
        }) {
            assert_eq!(
                name, "ClusterStacksRole",
                "{name} holds cluster-building rights"
            );
        }
    }
}

fn substitutions_used(definition: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = definition;
    while let Some(i) = rest.find("${") {
        let tail = &rest[i + 2..];
        if let Some(j) = tail.find('}') {
            out.insert(tail[..j].to_owned());
            rest = &tail[j..];
        } else {
            break;
        }
    }
    out
}

#[test]
fn the_template_provides_every_substitution_and_names_only_existing_functions() {
    let t = template();
    let resources = t["Resources"].as_object().expect("Resources");
    let mut machines = 0;
    for (name, r) in resources {
        if r["Type"] == "AWS::Serverless::StateMachine" {
            machines += 1;
            let uri = r["Properties"]["DefinitionUri"]
                .as_str()
                .expect("DefinitionUri");
            let path = repo_root().join("infra").join(uri);
            let def =
                std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {uri}: {e}"));
            let provided: BTreeSet<String> = r["Properties"]["DefinitionSubstitutions"]
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
            let used = substitutions_used(&def);
            assert!(!used.is_empty(), "{uri}");
            assert_eq!(
                used, provided,
                "{name}: {uri} uses {used:?}, the template provides {provided:?}"
            );
        }
        if r["Type"] == "AWS::Serverless::Function" {
            let code = r["Properties"]["CodeUri"].as_str().expect("CodeUri");
            let function = code
                .strip_prefix("../target/lambda/")
                .and_then(|c| c.strip_suffix("/bootstrap.zip"))
                .unwrap_or_else(|| panic!("{name}: CodeUri {code} is not cargo-lambda's output"));
            assert!(
                repo_root()
                    .join("functions")
                    .join(function)
                    .join("Cargo.toml")
                    .is_file(),
                "{name}: no crate functions/{function}"
            );
        }
    }
    assert_eq!(
        machines, 5,
        "pipeline, destroy, restore, rotation and drift"
    );
    // Every function crate is deployed.
    let crates: BTreeSet<String> = std::fs::read_dir(repo_root().join("functions"))
        .expect("functions/")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let deployed: BTreeSet<String> = resources
        .values()
        .filter(|r| r["Type"] == "AWS::Serverless::Function")
        .filter_map(|r| r["Properties"]["CodeUri"].as_str())
        .filter_map(|c| c.split('/').nth(3).map(str::to_owned))
        .collect();
    assert_eq!(crates, deployed);
}

#[test]
fn functions_log_json_and_the_dashboard_and_alarm_read_the_emitted_metrics() {
    let t = template();
    let resources = t["Resources"].as_object().expect("Resources");
    let functions: Vec<(&String, &Value)> = resources
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .collect();
    assert_eq!(functions.len(), 5);
    for (name, f) in &functions {
        // Lambda's advanced logging controls: JSON lines, filtered at INFO; the system log stays
        // at INFO so the REPORT line (Init Duration) is kept.
        assert_eq!(
            f["Properties"]["LoggingConfig"],
            serde_json::json!({"LogFormat": "JSON", "ApplicationLogLevel": "INFO", "SystemLogLevel": "INFO"}),
            "{name}"
        );
    }
    let apply = &resources["ApplyFunction"]["Properties"]["Environment"]["Variables"];
    assert_eq!(
        apply["KUBELINE_MAX_PARALLEL_STACKS"],
        serde_json::json!({"Ref": "MaxParallelStacks"})
    );

    // What the functions emit (the EMF documents' namespace, metric and dimension names)...
    let step = kubeline_pipeline::telemetry::emf_document(
        &serde_json::from_value(serde_json::json!({"metric": "step", "function": "apply", "op": "plan", "duration_ms": 1, "error": ""}))
            .expect("fields"),
        0,
    )
    .expect("a step document");
    let run = kubeline_pipeline::telemetry::emf_document(
        &serde_json::from_value(
            serde_json::json!({"metric": "run", "outcome": "failed", "duration_s": 1}),
        )
        .expect("fields"),
        0,
    )
    .expect("a run document");
    let directive = |d: &Value| d["_aws"]["CloudWatchMetrics"][0].clone();
    let ns = kubeline_pipeline::telemetry::NAMESPACE;
    assert_eq!(directive(&step)["Namespace"], ns);
    // ...is what the alarm and the dashboard read.
    let alarm = &resources["FailedRunsAlarm"]["Properties"];
    assert_eq!(alarm["Namespace"], ns);
    assert_eq!(alarm["MetricName"], directive(&run)["Metrics"][0]["Name"]);
    assert_eq!(
        alarm["Dimensions"][0]["Name"],
        directive(&run)["Dimensions"][0][0]
    );
    assert_eq!(alarm["Dimensions"][0]["Value"], run["Outcome"]);
    let body = resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
        .as_str()
        .expect("a dashboard body");
    let dashboard: Value = serde_json::from_str(body).expect("the dashboard body is JSON");
    let text = dashboard.to_string();
    for needle in [
        format!("{{{ns},Function,Op}} MetricName=\\\"Duration\\\""),
        format!("{{{ns},Function,Op}} MetricName=\\\"Errors\\\""),
        format!("[\"{ns}\",\"Runs\",\"Outcome\",\"failed\"]"),
        format!("[\"{ns}\",\"RunDuration\",\"Outcome\",\"succeeded\""),
    ] {
        assert!(
            text.contains(&needle),
            "the dashboard does not read {needle}: {text}"
        );
    }
}

/// The apply function may write and delete the etcd snapshot request (the pre-change
/// snapshot) and the etcd restore order, delete a carried-out restore request, and nothing
/// else of a cluster's it does not own: never a snapshot, never a member's report, never
/// cluster.yaml. Every allow has a negative control.
#[test]
fn the_apply_function_may_ask_for_etcd_snapshots_and_restores_and_touch_no_snapshot() {
    use kubeline_tests::iam::{Decision, Pseudo, Request, evaluate};
    let t = template();
    let policies = policies_of(&t, "ApplyFunction");
    assert!(!policies.is_empty());
    let policies: Vec<&Value> = policies.iter().collect();
    let mut pseudo = Pseudo::default();
    pseudo.refs.insert("Bucket".into(), "kubeline-prod".into());
    pseudo.refs.insert("NamePrefix".into(), "kubeline".into());
    let key = |k: &str| format!("arn:aws:s3:::kubeline-prod/{k}");
    let keys = kubeline_core::pipeline::ClusterKeys::new("a");
    let request = key(&keys.etcd_snapshot_request());
    let order = key(&keys.etcd_restore_request());
    let restore_request = key(&keys.restore_request());
    let report = key(&format!(
        "{}etcd0.healthy",
        keys.etcd_restore_run_reports("r")
    ));
    let cases = [
        (Request::new("s3:PutObject", &order), Decision::Allow),
        (Request::new("s3:DeleteObject", &order), Decision::Allow),
        (
            Request::new("s3:DeleteObject", &restore_request),
            Decision::Allow,
        ),
        (
            Request::new("s3:PutObject", &restore_request),
            Decision::ImplicitDeny,
        ),
        (
            Request::new("s3:PutObject", &report),
            Decision::ImplicitDeny,
        ),
        (
            Request::new("s3:DeleteObject", &report),
            Decision::ImplicitDeny,
        ),
        (
            Request::new(
                "states:DescribeExecution",
                "arn:aws:states:eu-west-1:123456789012:execution:kubeline-restore:r",
            ),
            Decision::Allow,
        ),
        (Request::new("s3:PutObject", &request), Decision::Allow),
        (Request::new("s3:DeleteObject", &request), Decision::Allow),
        // Before it executes a change set it re-reads the exports Start checked.
        (
            Request::new("cloudformation:ListExports", "*"),
            Decision::Allow,
        ),
        (
            Request::new(
                "s3:PutObject",
                &key("clusters/a/etcd-snapshots/20261203T000000Z-etcd0.db"),
            ),
            Decision::ImplicitDeny,
        ),
        (
            Request::new(
                "s3:DeleteObject",
                &key("clusters/a/etcd-snapshots/20261203T000000Z-etcd0.db"),
            ),
            Decision::ImplicitDeny,
        ),
        (
            Request::new("s3:PutObject", &key("clusters/a/cluster.yaml")),
            Decision::ImplicitDeny,
        ),
        (
            Request::new("s3:DeleteObject", &key("clusters/a/status.json")),
            Decision::ImplicitDeny,
        ),
    ];
    for (req, want) in &cases {
        assert_eq!(evaluate(&pseudo, &policies, req), *want, "{req:?}");
    }
}

/// With approvers named (`ApproverPrincipalArns`), only they may write approval files: the
/// bucket policy denies every other principal, whatever its own IAM policy allows; without
/// approvers the statement is absent. Negative controls: a team's role is denied, and its
/// cluster.yaml upload is not.
#[test]
fn only_the_named_approvers_may_approve() {
    use kubeline_tests::iam::{Decision, Pseudo, Request, evaluate};
    let t = template();
    let statements = t["Resources"]["BucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        .as_array()
        .expect("statements")
        .clone();
    let guarded = statements
        .iter()
        .find_map(|s| {
            let branches = s["Fn::If"].as_array()?;
            (branches[0] == "HasApprovers").then(|| (branches[1].clone(), branches[2].clone()))
        })
        .expect("the approvers statement");
    assert_eq!(guarded.1, serde_json::json!({"Ref": "AWS::NoValue"}));
    assert_eq!(guarded.0["Sid"], "OnlyApproversApprove");
    // The team may write anything in its folder (its own IAM policy); the bucket policy decides.
    let team_policy = serde_json::json!({"Statement": [{"Effect": "Allow", "Action": "s3:PutObject",
        "Resource": "arn:aws:s3:::kubeline-prod/clusters/a/*"}]});
    let bucket_policy = serde_json::json!({"Statement": [guarded.0]});
    let mut pseudo = Pseudo::default();
    pseudo.refs.insert("Bucket".into(), "kubeline-prod".into());
    pseudo.refs.insert(
        "ApproverPrincipalArns".into(),
        "arn:aws:iam::123456789012:role/platform-approvers".into(),
    );
    let put = |key: &str, who: &str| {
        Request::new("s3:PutObject", &format!("arn:aws:s3:::kubeline-prod/{key}"))
            .with("aws:PrincipalArn", who)
    };
    let approver = "arn:aws:iam::123456789012:role/platform-approvers";
    let team = "arn:aws:iam::123456789012:role/team-a";
    let cases = [
        (
            put("clusters/a/approvals/r1.yaml", approver),
            Decision::Allow,
        ),
        (
            put("clusters/a/approvals/r1.yaml", team),
            Decision::ExplicitDeny,
        ),
        (
            put("clusters/a/approvals/x/r1.yaml", team),
            Decision::ExplicitDeny,
        ),
        (put("clusters/a/cluster.yaml", team), Decision::Allow),
    ];
    for (req, want) in &cases {
        assert_eq!(
            evaluate(&pseudo, &[&team_policy, &bucket_policy], req),
            *want,
            "{req:?}"
        );
    }
}

/// An approval file names its writer: the bucket policy refuses an approval (or a re-tagging
/// of one) whose `kubeline.io/approver` tag is not the caller's own `aws:userid`, and the tag
/// cannot be removed, so the approval step's record of who approved is the principal S3
/// authenticated, not what the file says. Negative controls: an approver's correctly tagged
/// approval and a team's untagged cluster.yaml are allowed.
#[test]
fn an_approval_names_its_writer_and_keeps_that_name() {
    use kubeline_tests::iam::{Decision, Pseudo, Request, evaluate};
    let t = template();
    let statements = t["Resources"]["BucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        .as_array()
        .expect("statements")
        .clone();
    let by_sid = |sid: &str| {
        statements
            .iter()
            .find(|s| s["Sid"] == sid)
            .cloned()
            .unwrap_or_else(|| panic!("statement {sid}"))
    };
    let approvers = statements
        .iter()
        .find_map(|s| {
            let branches = s["Fn::If"].as_array()?;
            (branches[0] == "HasApprovers").then(|| branches[1].clone())
        })
        .expect("the approvers statement");
    let bucket_policy = serde_json::json!({"Statement": [
        by_sid("ApprovalsNameTheirWriter"), by_sid("ApprovalTagsStay"), approvers]});
    // Everyone's own IAM policy allows every object action in the bucket.
    let own_policy = serde_json::json!({"Statement": [{"Effect": "Allow", "Action": "s3:*",
        "Resource": "arn:aws:s3:::kubeline-prod/*"}]});
    let mut pseudo = Pseudo::installation();
    pseudo.refs.insert(
        "ApproverPrincipalArns".into(),
        "arn:aws:iam::123456789012:role/platform-approvers".into(),
    );
    let approver = (
        "arn:aws:iam::123456789012:role/platform-approvers",
        "AROAAPPROVERS:alice",
    );
    let other_approver = (
        "arn:aws:iam::123456789012:role/platform-approvers",
        "AROAAPPROVERS:bob",
    );
    let team = ("arn:aws:iam::123456789012:role/team-a", "AROATEAMA:carol");
    let req = |action: &str, key: &str, who: (&str, &str), tag: Option<&str>| {
        let r = Request::new(action, &format!("arn:aws:s3:::kubeline-prod/{key}"))
            .with("aws:PrincipalArn", who.0)
            .with("aws:userid", who.1);
        match tag {
            Some(v) => r.with("s3:RequestObjectTag/kubeline.io/approver", v),
            None => r,
        }
    };
    let approval = "clusters/a/approvals/r1.yaml";
    use Decision::{Allow, ExplicitDeny};
    let cases = [
        // Tagged with the writer's own id: the one way in.
        (
            req("s3:PutObject", approval, approver, Some(approver.1)),
            Allow,
        ),
        // Untagged, or naming another approver: refused.
        (req("s3:PutObject", approval, approver, None), ExplicitDeny),
        (
            req("s3:PutObject", approval, approver, Some(other_approver.1)),
            ExplicitDeny,
        ),
        // Re-tagging an approval with another name: refused, whoever does it.
        (
            req(
                "s3:PutObjectTagging",
                approval,
                other_approver,
                Some(approver.1),
            ),
            ExplicitDeny,
        ),
        (
            req(
                "s3:PutObjectVersionTagging",
                approval,
                approver,
                Some(other_approver.1),
            ),
            ExplicitDeny,
        ),
        // A team may not claim an approval by tagging it with its own id.
        (
            req("s3:PutObjectTagging", approval, team, Some(team.1)),
            ExplicitDeny,
        ),
        // The tag stays.
        (
            req("s3:DeleteObjectTagging", approval, approver, None),
            ExplicitDeny,
        ),
        (
            req("s3:DeleteObjectVersionTagging", approval, approver, None),
            ExplicitDeny,
        ),
        // Negative controls: other objects need no tag, and the step may read the tags.
        (
            req("s3:PutObject", "clusters/a/cluster.yaml", team, None),
            Allow,
        ),
        (req("s3:GetObjectTagging", approval, team, None), Allow),
    ];
    for (r, want) in &cases {
        assert_eq!(
            evaluate(&pseudo, &[&own_policy, &bucket_policy], r),
            *want,
            "{r:?}"
        );
    }
    // The apply function, which reads the tag, may read it.
    let apply = kubeline_tests::iam::policies_of(&t, "ApplyFunction");
    let apply: Vec<&serde_json::Value> = apply.iter().collect();
    assert_eq!(
        evaluate(
            &pseudo,
            &apply,
            &Request::new(
                "s3:GetObjectVersionTagging",
                "arn:aws:s3:::kubeline-prod/clusters/a/approvals/r1.yaml"
            )
        ),
        Allow
    );
}

/// The CloudFormation service role builds node roles (`role/kubeline-*`) but never touches the
/// installation's own roles, even when the stack and `NamePrefix` are named `kubeline` (as
/// README's deploy command does, so the node-role pattern matches them): its own role and the
/// functions' and state machines' generated roles are denied every IAM action. Node roles
/// (lower-case DNS labels) cannot match the denied patterns, which carry upper-case logical ids.
#[test]
fn the_service_role_cannot_touch_the_installations_roles() {
    use kubeline_tests::iam::{Decision, Pseudo, Request, decided, evaluate};
    let t = template();
    let conditions = std::collections::BTreeMap::from([("HasHostedZones", false)]);
    let policies: Vec<Value> = policies_of(&t, "ClusterStacksRole")
        .iter()
        .map(|p| decided(p, &conditions, &Default::default()))
        .collect();
    let policies: Vec<&Value> = policies.iter().collect();
    let mut pseudo = Pseudo::default();
    pseudo.refs.insert("NamePrefix".into(), "kubeline".into());
    pseudo
        .refs
        .insert("AWS::StackName".into(), "kubeline".into());
    pseudo.refs.insert(
        "NodeRoleBoundary".into(),
        "arn:aws:iam::123456789012:policy/kubeline-node-role-boundary".into(),
    );
    pseudo.refs.insert(
        "ServiceAccountRoleBoundary".into(),
        "arn:aws:iam::123456789012:policy/kubeline-service-account-role-boundary".into(),
    );
    pseudo.refs.insert("Bucket".into(), "kubeline-prod".into());
    let role = |name: &str| format!("arn:aws:iam::123456789012:role/{name}");
    let cases = [
        (
            "iam:PutRolePolicy",
            "kubeline-demo-controller",
            Decision::Allow,
        ),
        (
            "iam:PassRole",
            "kubeline-demo-pool-function-x",
            Decision::Allow,
        ),
        (
            "iam:PutRolePolicy",
            "kubeline-cluster-stacks",
            Decision::ExplicitDeny,
        ),
        (
            "iam:UpdateAssumeRolePolicy",
            "kubeline-cluster-stacks",
            Decision::ExplicitDeny,
        ),
        (
            "iam:PutRolePolicy",
            "kubeline-ApplyFunctionRole-1A2B3C4D5E6F",
            Decision::ExplicitDeny,
        ),
        (
            "iam:PassRole",
            "kubeline-PipelineStateMachineRole-1A2B3C4D5E6F",
            Decision::ExplicitDeny,
        ),
        ("iam:PutRolePolicy", "someone-else", Decision::ImplicitDeny),
    ];
    for (action, name, want) in cases {
        // With the keys kubeline's own requests carry: the role has the installation's
        // boundary and is passed to EC2. The installation's roles stay denied even so.
        let req = Request::new(action, &role(name))
            .with(
                "iam:PermissionsBoundary",
                "arn:aws:iam::123456789012:policy/kubeline-node-role-boundary",
            )
            .with("iam:PassedToService", "ec2.amazonaws.com");
        assert_eq!(evaluate(&pseudo, &policies, &req), want, "{action} {name}");
    }
}

/// A run's rendered files expire, but never while a run may still read them, and what nodes
/// read (node configs, tagged as assets) keeps its current version forever.
#[test]
fn rendered_files_expire_after_every_run_and_node_configs_never_do() {
    let t = template();
    let rules = t["Resources"]["Bucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
        .as_array()
        .expect("rules")
        .clone();
    let rule_of = |tag: &str| {
        let (k, v) = tag.split_once('=').expect("key=value");
        rules
            .iter()
            .find(|r| r["TagFilters"][0]["Key"] == k && r["TagFilters"][0]["Value"] == v)
            .unwrap_or_else(|| panic!("no lifecycle rule for {tag}"))
            .clone()
    };
    let rendered = rule_of(kubeline_aws::store::RENDERED_ASSET_TAG);
    assert_eq!(
        rendered["ExpirationInDays"]["Ref"],
        "RenderedAssetRetentionDays"
    );
    let min_days = t["Parameters"]["RenderedAssetRetentionDays"]["MinValue"]
        .as_u64()
        .expect("MinValue");
    let pipeline: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("statemachine/pipeline.asl.json"))
            .expect("pipeline definition"),
    )
    .expect("JSON");
    let run_limit = pipeline["TimeoutSeconds"].as_u64().expect("TimeoutSeconds");
    assert!(
        min_days * 86_400 > run_limit,
        "rendered files may expire ({min_days} days) before a run ends ({run_limit} s)"
    );
    let node_configs = rule_of(kubeline_aws::store::ASSET_TAG);
    assert!(
        node_configs.get("ExpirationInDays").is_none(),
        "{node_configs}"
    );
    assert!(node_configs.get("NoncurrentVersionExpiration").is_some());
}
