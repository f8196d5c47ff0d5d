//! `cloudWatchLogging`: every node ships its journal to its own cluster's log group, into
//! streams its role may write and no other node group's; the group keeps the configured
//! retention; the service role manages kubeline's log groups only; and the Fluent Bit
//! configuration uses only settings the pinned Fluent Bit has.

use std::collections::BTreeMap;

use kubeline_core::cluster::NodeLogs;
use kubeline_core::layout::NodeGroup;
use kubeline_core::render::FLUENT_BIT_IMAGE;
use kubeline_tests::iam::{Decision, Pseudo, Request, decided, evaluate, policies_of};
use kubeline_tests::{
    decode_ignition, inline_file, installation_template, node_groups, render_example, repo_root,
    stacks_of,
};
use serde_json::Value;

const UNIT: &str = "kubeline-journal-upload.service";
const CONFIG: &str = "/etc/kubeline/journal-upload.conf";
const LOGS: &str = "arn:aws:logs:eu-west-1:123456789012:log-group:";

fn migrated() -> (
    kubeline_core::cluster::Cluster,
    kubeline_core::render::Rendered,
) {
    render_example(&repo_root().join("examples/kube-aws-migrated/cluster.yaml")).expect("render")
}

/// `[section]` → `key` → value, as Fluent Bit's classic format reads them.
fn sections(text: &str) -> Vec<(String, BTreeMap<String, String>)> {
    let mut out: Vec<(String, BTreeMap<String, String>)> = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            out.push((name.to_owned(), BTreeMap::new()));
        } else {
            let (k, v) = line.split_once(' ').expect("key value");
            let last = out.last_mut().expect("a key before any section");
            last.1.insert(k.to_owned(), v.trim().to_owned());
        }
    }
    out
}

fn boundary() -> Value {
    installation_template()["Resources"]["NodeRoleBoundary"]["Properties"]["PolicyDocument"].clone()
}

#[test]
fn every_node_ships_its_journal_into_streams_only_its_own_group_may_write() {
    let (cluster, rendered) = migrated();
    let logs = cluster.node_logs.clone().expect("cloudWatchLogging is on");
    assert_eq!(logs.log_group, "/kubeline/migrated/nodes");
    let boundary = boundary();
    let groups = node_groups(&cluster);
    let kinds: Vec<String> = groups.iter().map(|g| g.kind()).collect();
    for group in &groups {
        let name = format!("userdata/{}.json", group.file_stem());
        let (files, units, _) = decode_ignition(&rendered.files[&name]);
        let unit = units
            .iter()
            .find(|u| u.name == UNIT)
            .unwrap_or_else(|| panic!("{name}: no {UNIT}"));
        let ign: Value = serde_json::from_slice(&rendered.files[&name]).expect("JSON");
        let enabled = ign["systemd"]["units"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|u| u["name"] == UNIT && u["enabled"] == true);
        assert!(enabled, "{name}: {UNIT} is not enabled");
        let text = unit.contents.as_deref().expect("unit text");
        assert!(text.contains(&format!(" {FLUENT_BIT_IMAGE} ")), "{text}");
        assert!(
            text.contains("EnvironmentFile=/run/metadata/flatcar"),
            "{text}"
        );
        assert!(
            text.contains("--network host"),
            "IMDSv2 needs the host network: {text}"
        );
        assert!(
            text.contains("/var/log/journal:/var/log/journal:ro"),
            "{text}"
        );
        // The stream the node writes: `<kind>/<instance ID>`.
        let stream = text
            .split("--env LOG_STREAM=")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .expect("LOG_STREAM");
        assert_eq!(
            stream,
            format!("{}/${{COREOS_EC2_INSTANCE_ID}}", group.kind()),
            "{name}"
        );

        let conf = sections(inline_file(&files, CONFIG).expect("Fluent Bit config"));
        let output = &conf.iter().find(|(s, _)| s == "OUTPUT").expect("OUTPUT").1;
        assert_eq!(output["name"], "cloudwatch_logs");
        assert_eq!(output["region"], cluster.region.as_str());
        assert_eq!(output["log_group_name"], logs.log_group);
        assert_eq!(output["log_stream_name"], "${LOG_STREAM}");
        assert_eq!(
            output["auto_create_group"], "false",
            "the stack owns the group"
        );
        let input = &conf.iter().find(|(s, _)| s == "INPUT").expect("INPUT").1;
        assert_eq!(input["name"], "systemd");
        assert_eq!(input["path"], "/var/log/journal");
        assert_eq!(
            output["match"], input["tag"],
            "the output takes the journal"
        );

        // What the node's role (within the installation's boundary) lets it do.
        let policies = kubeline_tests::role_policies(
            &rendered,
            &kubeline_core::layout::node_role_name(&cluster, *group),
        );
        let role = &policies[0];
        let own = format!(
            "{LOGS}{}:log-stream:{}/i-0123456789abcdef0",
            logs.log_group,
            group.kind()
        );
        let p = Pseudo::installation();
        let both = |action: &str, arn: &str| {
            let req = Request::new(action, arn);
            (
                evaluate(&p, &[role], &req),
                evaluate(&p, &[&boundary], &req),
            )
        };
        use Decision::{Allow, ImplicitDeny};
        assert_eq!(both("logs:CreateLogStream", &own), (Allow, Allow), "{name}");
        assert_eq!(both("logs:PutLogEvents", &own), (Allow, Allow), "{name}");
        // Negative controls: another group's streams, another cluster's group, any other
        // group in the account, and rights the shipper never needs.
        for other in kinds.iter().filter(|k| **k != group.kind()) {
            let theirs = format!("{LOGS}{}:log-stream:{other}/i-0123", logs.log_group);
            assert_eq!(
                evaluate(&p, &[role], &Request::new("logs:PutLogEvents", &theirs)),
                ImplicitDeny,
                "{name} writes {other}'s stream"
            );
        }
        let elsewhere = [
            format!(
                "{LOGS}{}:log-stream:{}/i-0123",
                NodeLogs::group_name("other"),
                group.kind()
            ),
            format!("{LOGS}/aws/lambda/kubeline-apply:log-stream:x"),
        ];
        for arn in &elsewhere {
            for action in ["logs:CreateLogStream", "logs:PutLogEvents"] {
                assert_eq!(
                    evaluate(&p, &[role], &Request::new(action, arn)),
                    ImplicitDeny,
                    "{name}: {action} {arn}"
                );
            }
        }
        assert_eq!(
            both(
                "logs:PutLogEvents",
                &format!("{LOGS}/aws/lambda/kubeline-apply:log-stream:x")
            )
            .1,
            ImplicitDeny,
            "the boundary keeps nodes out of every group but kubeline's"
        );
        for action in [
            "logs:CreateLogGroup",
            "logs:DeleteLogGroup",
            "logs:PutRetentionPolicy",
        ] {
            assert_eq!(
                both(action, &format!("{LOGS}{}:*", logs.log_group)),
                (ImplicitDeny, ImplicitDeny),
                "{name}: {action}"
            );
        }
    }
}

#[test]
fn the_group_lives_in_the_network_stack_and_keeps_the_retention() {
    let (_, rendered) = migrated();
    let stacks = stacks_of(&rendered);
    let g = &stacks["network"]["Resources"]["NodeLogs"];
    assert_eq!(g["Type"], "AWS::Logs::LogGroup");
    assert_eq!(g["Properties"]["LogGroupName"], "/kubeline/migrated/nodes");
    assert_eq!(g["Properties"]["RetentionInDays"], 30);
    for (name, t) in &stacks {
        if name != "network" {
            assert!(
                !t.to_string().contains("AWS::Logs::LogGroup"),
                "{name} declares a log group"
            );
        }
    }

    // Negative control: a cluster without cloudWatchLogging ships nothing and may write none.
    let (cluster, rendered) =
        render_example(&repo_root().join("examples/minimal/cluster.yaml")).expect("render");
    assert!(cluster.node_logs.is_none());
    for (name, bytes) in &rendered.files {
        let text = String::from_utf8_lossy(bytes);
        assert!(
            !text.contains("logs:"),
            "{name} grants CloudWatch Logs rights"
        );
        assert!(!text.contains("AWS::Logs::LogGroup"), "{name}");
    }
    for group in node_groups(&cluster) {
        let name = format!("userdata/{}.json", group.file_stem());
        let (_, units, _) = decode_ignition(&rendered.files[&name]);
        assert!(
            units.iter().all(|u| u.name != UNIT),
            "{name} ships its journal"
        );
    }
}

#[test]
fn the_service_role_manages_kubeline_log_groups_and_no_other() {
    let t = installation_template();
    let conditions = BTreeMap::from([("HasHostedZones", false)]);
    let policies: Vec<Value> = policies_of(&t, "ClusterStacksRole")
        .iter()
        .map(|p| decided(p, &conditions, &BTreeMap::new()))
        .collect();
    let policies: Vec<&Value> = policies.iter().collect();
    let p = Pseudo::installation();
    // What CloudFormation's AWS::Logs::LogGroup handlers call (create, update, delete).
    let handler = [
        "logs:CreateLogGroup",
        "logs:PutRetentionPolicy",
        "logs:DeleteRetentionPolicy",
        "logs:TagResource",
        "logs:UntagResource",
        "logs:ListTagsForResource",
        "logs:DeleteLogGroup",
        "logs:DeleteDataProtectionPolicy",
    ];
    for action in handler {
        for arn in [
            format!("{LOGS}/kubeline/migrated/nodes"),
            format!("{LOGS}/kubeline/migrated/nodes:*"),
        ] {
            assert_eq!(
                evaluate(&p, &policies, &Request::new(action, &arn)),
                Decision::Allow,
                "{action} {arn}"
            );
        }
        // Negative controls: the installation's own functions' groups, any other group.
        for arn in [
            format!("{LOGS}/aws/lambda/kubeline-apply"),
            format!("{LOGS}/aws/lambda/kubeline-apply:*"),
            format!("{LOGS}team-audit"),
            "arn:aws:logs:us-east-1:123456789012:log-group:/kubeline/migrated/nodes".to_owned(),
        ] {
            assert_ne!(
                evaluate(&p, &policies, &Request::new(action, &arn)),
                Decision::Allow,
                "{action} {arn}"
            );
        }
    }
    assert_eq!(
        evaluate(
            &p,
            &policies,
            &Request::new("logs:DescribeLogGroups", &format!("{LOGS}*"))
        ),
        Decision::Allow
    );
}

/// The settings of the pinned Fluent Bit (v5.1.1) that the configuration may use, by section,
/// from its source: the service's in include/fluent-bit/flb_config.h, every input's and
/// output's in src/flb_input.c and src/flb_output.c, and the plugins' config maps in
/// plugins/in_systemd/systemd.c and plugins/out_cloudwatch_logs/cloudwatch_logs.c.
fn known_keys(section: &str, plugin: &str) -> Vec<&'static str> {
    let mut keys = match section {
        "SERVICE" => vec!["flush", "log_level", "storage.path", "grace", "daemon"],
        "INPUT" => vec!["name", "tag", "log_level", "storage.type"],
        "OUTPUT" => vec![
            "name",
            "match",
            "log_level",
            "retry_limit",
            "storage.total_limit_size",
        ],
        other => panic!("unknown section {other}"),
    };
    keys.extend(match plugin {
        "systemd" => vec![
            "path",
            "max_fields",
            "max_entries",
            "systemd_filter_type",
            "systemd_filter",
            "read_from_tail",
            "lowercase",
            "strip_underscores",
            "db.sync",
            "db",
        ],
        "cloudwatch_logs" => vec![
            "region",
            "log_group_name",
            "log_stream_name",
            "log_stream_prefix",
            "log_group_template",
            "log_stream_template",
            "log_key",
            "log_format",
            "role_arn",
            "auto_create_group",
            "auto_retry_requests",
            "log_retention_days",
            "endpoint",
            "sts_endpoint",
        ],
        _ => vec![],
    });
    keys
}

#[test]
fn the_fluent_bit_configuration_uses_only_settings_fluent_bit_has() {
    let (cluster, rendered) = migrated();
    assert_eq!(FLUENT_BIT_IMAGE, "cr.fluentbit.io/fluent/fluent-bit:5.1.1");
    let name = format!("userdata/{}.json", NodeGroup::Controller.file_stem());
    let (files, _, _) = decode_ignition(&rendered.files[&name]);
    let conf = sections(inline_file(&files, CONFIG).expect("config"));
    assert_eq!(
        conf.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(),
        ["SERVICE", "INPUT", "OUTPUT"]
    );
    for (section, keys) in &conf {
        let plugin = keys.get("name").map(String::as_str).unwrap_or_default();
        let known = known_keys(section, plugin);
        for k in keys.keys() {
            assert!(
                known.contains(&k.as_str()),
                "[{section}] {plugin}: Fluent Bit 5.1.1 has no setting {k}"
            );
        }
    }
    // The negative control: a misspelt key is caught.
    assert!(!known_keys("OUTPUT", "cloudwatch_logs").contains(&"log_group"));
    // Bounded buffer on disk, retried without a limit: a network outage loses nothing
    // until 512 MB are queued.
    let output = &conf[2].1;
    assert_eq!(output["retry_limit"], "no_limits");
    assert_eq!(output["storage.total_limit_size"], "512M");
    assert_eq!(conf[1].1["storage.type"], "filesystem");
    assert!(cluster.node_logs.is_some());
}

/// What the AWS CLI prints on a node (a KMS-decrypted data key on its way to a file) never
/// reaches the journal, and so never the log group: every `aws()` wrapper of every node
/// script runs its container with `--log-driver none`, whatever Docker's default driver.
#[test]
fn the_aws_cli_on_nodes_never_logs_to_the_journal() {
    let mut wrappers = 0;
    for (example, path) in kubeline_tests::examples_and_demo() {
        let (cluster, rendered) = render_example(&path).expect("render");
        for group in node_groups(&cluster) {
            let name = format!("userdata/{}.json", group.file_stem());
            let (files, units, _) = decode_ignition(&rendered.files[&name]);
            let texts = files
                .iter()
                .filter_map(|f| f.text.clone())
                .chain(units.iter().filter_map(|u| u.contents.clone()));
            for text in texts {
                for body in text.split("aws() {").skip(1) {
                    let body = body.split("\n}").next().unwrap_or_default();
                    assert!(body.contains("docker run"), "{example} {name}: {body}");
                    assert!(
                        body.contains("docker run --rm --log-driver none "),
                        "{example} {name}: the AWS CLI's output reaches the journal: {body}"
                    );
                    wrappers += 1;
                }
            }
        }
    }
    // Every node group fetches its credentials through one: the check is not vacuous.
    assert!(wrappers >= 15, "only {wrappers} aws() wrappers found");
}
