//! Rendering of the examples: insta snapshots of every stack and node config (node configs
//! with their data URLs decoded so reviews can read them), determinism, template overrides,
//! template errors and size limits.

use std::path::{Path, PathBuf};

use kubeline_core::render::{self, RenderError, Templates};
use kubeline_core::validate;

const EXAMPLES: [&str; 6] = [
    "kube-aws-migrated",
    "minimal",
    "ha",
    "spot-pool",
    "two-endpoints",
    "existing-vpc",
];

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn load(path: &Path) -> kubeline_core::cluster::Cluster {
    let text = std::fs::read_to_string(path).expect("read example");
    let loaded = validate::load(&text);
    loaded.cluster.unwrap_or_else(|| {
        panic!(
            "{} invalid:\n{}",
            path.display(),
            loaded.diagnostics.render("cluster.yaml")
        )
    })
}

/// The built-in templates with `name` replaced by `edit` of its built-in source.
fn edited(name: &str, edit: impl FnOnce(&str) -> String) -> Templates {
    let mut t = Templates::builtin();
    let src = edit(t.source(name).expect("built-in template"));
    t.set(name, src).expect("known template");
    t
}

/// The minimal example, validated.
fn minimal() -> kubeline_core::cluster::Cluster {
    load(&examples_dir().join("minimal/cluster.yaml"))
}

/// An Ignition config with every data URL replaced by its decoded text, for review.
fn readable_ignition(bytes: &[u8]) -> String {
    let mut v: serde_json::Value = serde_json::from_slice(bytes).expect("json");
    if let Some(files) = v["storage"]["files"].as_array_mut() {
        for f in files {
            let src = f["contents"]["source"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if let Some(text) = render::ignition::decode_data_url(&src) {
                f["contents"]["source"] = serde_json::json!("data:,<decoded below>");
                f["contents"]["decoded"] = serde_json::json!(text.lines().collect::<Vec<_>>());
            }
        }
    }
    if let Some(units) = v["systemd"]["units"].as_array_mut() {
        for u in units {
            if let Some(text) = u["contents"].as_str().map(str::to_owned) {
                u["contents"] = serde_json::json!(text.lines().collect::<Vec<_>>());
            }
        }
    }
    // Canonical (sorted keys): the same text whatever serde_json features the build unifies.
    String::from_utf8(render::canonical_json(&v)).expect("utf8")
}

#[test]
fn examples_render_to_the_reviewed_snapshots() {
    insta::glob!("../../../examples", "*/cluster.yaml", |path| {
        let example = path
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let cluster = load(path);
        let rendered = render::render(&cluster, &Templates::builtin()).expect("render");
        assert!(
            !rendered.has_limit_errors(),
            "{example}: {:?}",
            rendered.limits
        );
        for (file, bytes) in &rendered.files {
            let name = format!("{example}__{}", file.replace('/', "__"));
            let body = if file.starts_with("userdata/") {
                readable_ignition(bytes)
            } else {
                String::from_utf8(bytes.clone()).expect("utf8")
            };
            insta::with_settings!({snapshot_suffix => "", prepend_module_to_snapshot => false, omit_expression => true}, {
                insta::assert_snapshot!(name, body);
            });
        }
    });
}

#[test]
fn rendering_is_deterministic() {
    for e in EXAMPLES {
        let c = load(&examples_dir().join(e).join("cluster.yaml"));
        let a = render::render(&c, &Templates::builtin()).expect("render");
        let b = render::render(
            &load(&examples_dir().join(e).join("cluster.yaml")),
            &Templates::builtin(),
        )
        .expect("render");
        assert_eq!(a.files, b.files, "{e}: two renders differ");
    }
}

#[test]
fn stacks_are_ordered_by_dependency_and_tagged() {
    let c = load(&examples_dir().join("spot-pool/cluster.yaml"));
    let r = render::render(&c, &Templates::builtin()).expect("render");
    let names: Vec<&str> = r.stacks.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "kubeline-batch-network",
            "kubeline-batch-etcd",
            "kubeline-batch-control-plane",
            "kubeline-batch-node-pool-system",
            "kubeline-batch-node-pool-spot",
            "kubeline-batch-node-pool-legacy-spot"
        ]
    );
    for (i, s) in r.stacks.iter().enumerate() {
        for d in &s.depends_on {
            let pos = names
                .iter()
                .position(|n| n == d)
                .expect("dependency exists");
            assert!(pos < i, "{} depends on later stack {d}", s.name);
        }
        assert_eq!(
            s.tags.get("kubeline.io/cluster").map(String::as_str),
            Some("batch")
        );
    }
    // Stacks are joined only by exports/imports: every import names an export of an earlier stack.
    let mut exports = std::collections::BTreeSet::new();
    for s in &r.stacks {
        let v: serde_json::Value =
            serde_json::from_slice(&r.files[&format!("stack-templates/{}", s.template)])
                .expect("json");
        let text = v.to_string();
        for imp in text.split("\"Fn::ImportValue\":\"").skip(1) {
            let name = imp.split('"').next().unwrap_or_default();
            assert!(
                exports.contains(name),
                "{} imports {name} before any stack exports it",
                s.name
            );
        }
        if let Some(outs) = v["Outputs"].as_object() {
            for o in outs.values() {
                if let Some(n) = o["Export"]["Name"].as_str() {
                    assert!(exports.insert(n.to_owned()), "export {n} defined twice");
                }
            }
        }
        assert!(
            !text.contains("Fn::GetAZs") && !text.contains("Fn::Cidr"),
            "{}: zones and CIDRs must be concrete",
            s.name
        );
        assert!(
            !text.contains("AWS::CloudFormation::Stack"),
            "{}: no nested stacks",
            s.name
        );
    }
}

#[test]
fn every_launch_template_requires_imdsv2_with_one_hop_and_encrypts_volumes() {
    for e in EXAMPLES {
        let c = load(&examples_dir().join(e).join("cluster.yaml"));
        let r = render::render(&c, &Templates::builtin()).expect("render");
        for s in &r.stacks {
            let v: serde_json::Value =
                serde_json::from_slice(&r.files[&format!("stack-templates/{}", s.template)])
                    .expect("json");
            for (id, res) in v["Resources"].as_object().expect("resources") {
                match res["Type"].as_str() {
                    Some("AWS::EC2::LaunchTemplate") => {
                        let d = &res["Properties"]["LaunchTemplateData"];
                        assert_eq!(d["MetadataOptions"]["HttpTokens"], "required", "{e}/{id}");
                        // One hop: a pod's packets (one more hop through the node) never get
                        // the node role's credentials from the metadata service.
                        assert_eq!(
                            d["MetadataOptions"]["HttpPutResponseHopLimit"], 1,
                            "{e}/{id}"
                        );
                        for bdm in d["BlockDeviceMappings"].as_array().expect("bdm") {
                            assert_eq!(bdm["Ebs"]["Encrypted"], true, "{e}/{id}");
                        }
                        let ud = d["UserData"].as_str().expect("userdata");
                        assert!(ud.len() < 16 * 1024 * 4 / 3, "{e}/{id}: userdata too large");
                    }
                    Some("AWS::EC2::Volume") => {
                        assert_eq!(res["Properties"]["Encrypted"], true, "{e}/{id}")
                    }
                    Some("AWS::EC2::SecurityGroup") | Some("AWS::EC2::SecurityGroupIngress") => {
                        let text = res.to_string();
                        if text.contains("0.0.0.0/0") {
                            assert!(
                                !text.contains("\"FromPort\":22"),
                                "{e}/{id}: SSH open to the world"
                            );
                        }
                    }
                    Some("AWS::IAM::Role") => {
                        let text = res.to_string();
                        assert!(!text.contains("\"Action\":\"*\""), "{e}/{id}: wildcard IAM");
                        // `Resource: *` only where AWS offers nothing narrower: EC2's Describe
                        // calls support no resource-level permissions.
                        // A serviceAccounts role has managed policies only.
                        let policies = res["Properties"]["Policies"].as_array();
                        for p in policies.into_iter().flatten() {
                            for st in p["PolicyDocument"]["Statement"].as_array().expect("st") {
                                // The AWS cloud-controller-manager's documented policy is on
                                // `*` (its own role's); tests/cloud_provider.rs pins its exact
                                // action list. So are cluster-autoscaler's read-only calls;
                                // tests/addons.rs checks them.
                                let ccm = s.template == "control-plane.json"
                                    && id.starts_with("ServiceAccountRole")
                                    && (st["Sid"] == "CloudControllerManager"
                                        || st["Sid"] == "ClusterAutoscalerDescribe");
                                if st["Resource"] == "*" && !ccm {
                                    let actions = st["Action"].as_array().expect("action list");
                                    assert!(
                                        actions.iter().all(|a| a
                                            .as_str()
                                            .is_some_and(|a| a.starts_with("ec2:Describe"))),
                                        "{e}/{id}: wildcard resource for {actions:?}"
                                    );
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

#[test]
fn a_template_override_changes_only_what_it_overrides() {
    let c = minimal();
    let base = render::render(&c, &Templates::builtin()).expect("render");
    let t = edited("stack-templates/node-pool.json.j2", |s| {
        s.replace("\"PauseTime\": \"PT12M\"", "\"PauseTime\": \"PT9M\"")
    });
    let custom = render::render(&c, &t).expect("render");
    for (file, bytes) in &base.files {
        let changed = custom.files[file] != *bytes;
        let expect = file == "stack-templates/node-pool-general.json" || file == "manifest.json";
        assert_eq!(changed, expect, "{file}");
    }
    assert!(
        String::from_utf8_lossy(&custom.files["stack-templates/node-pool-general.json"])
            .contains("PT9M")
    );
}

/// kube-aws's `customSettings` reach overridden templates: the cluster's as
/// `cluster.custom_settings`, a pool's as `pool.custom_settings`; bad names and dynamic
/// references are refused.
/// The minimal example with `settings_yaml` (top-level YAML, such as the cluster's
/// `customSettings`) written before its `worker` section and `pool_settings` as the
/// `customSettings` of pool general, validated, and its node-pool-general stack rendered with
/// the node-pool template edited by `template_edit` (the first occurrence of `.0` replaced by
/// `.1`): the cluster and that stack.
fn render_pool_stack_with(
    settings_yaml: &str,
    pool_settings: &str,
    template_edit: (&str, &str),
) -> (kubeline_core::cluster::Cluster, serde_json::Value) {
    let text = std::fs::read_to_string(examples_dir().join("minimal/cluster.yaml"))
        .expect("example")
        .replace(
            "worker:\n  nodePools:\n    - name: general\n",
            &format!(
                "{settings_yaml}worker:\n  nodePools:\n    - name: general\n      customSettings: {pool_settings}\n"
            ),
        );
    let loaded = validate::load(&text);
    let c = loaded
        .cluster
        .unwrap_or_else(|| panic!("{}", loaded.diagnostics.render("cluster.yaml")));
    let (from, to) = template_edit;
    let t = edited("stack-templates/node-pool.json.j2", |s| {
        s.replacen(from, to, 1)
    });
    let rendered = render::render(&c, &t).expect("render");
    let stack: serde_json::Value =
        serde_json::from_slice(&rendered.files["stack-templates/node-pool-general.json"])
            .expect("json");
    (c, stack)
}

#[test]
fn custom_settings_reach_overridden_templates() {
    let (c, stack) = render_pool_stack_with(
        "customSettings: {costCenter: \"4711\"}\n",
        "{team: {name: search, oncall: [ana]}}",
        (
            "\"Description\": {{ (\"kubeline \" ~ c.name ~ \": node pool \" ~ p.name) | tojson }},",
            "\"Description\": {{ (\"cost \" ~ cluster.custom_settings.costCenter ~ \" team \" ~ p.custom_settings.team.name ~ \" \" ~ p.custom_settings.team.oncall[0]) | tojson }},",
        ),
    );
    assert_eq!(stack["Description"], "cost 4711 team search ana");
    // The built-in templates read none of it: the same stacks as without.
    let plain = validate::load(
        &std::fs::read_to_string(examples_dir().join("minimal/cluster.yaml")).expect("example"),
    )
    .cluster
    .expect("valid");
    let builtin = render::render(&c, &Templates::builtin()).expect("render");
    let without = render::render(&plain, &Templates::builtin()).expect("render");
    assert_eq!(builtin.files, without.files);
    for (bad, message) in [
        ("{\"cost-center\": x}", "is not a name a template can use"),
        (
            "{secret: \"{{resolve:secretsmanager:db}}\"}",
            "dynamic reference",
        ),
        ("{ami: {\"Fn::ImportValue\": other}}", "dynamic reference"),
    ] {
        let text = format!(
            "{}customSettings: {bad}\n",
            std::fs::read_to_string(examples_dir().join("minimal/cluster.yaml")).expect("example")
        );
        let l = validate::load(&text);
        assert!(l.cluster.is_none(), "{bad} accepted");
        assert!(
            l.diagnostics.render("cluster.yaml").contains(message),
            "{bad}: {}",
            l.diagnostics.render("cluster.yaml")
        );
    }
}

/// The existing-vpc example with its VPC, internet gateway and first subnet named by other
/// stacks' exports, and two subnets kubeline creates on an exported route table and behind an
/// exported NAT gateway.
fn existing_vpc_from_stack_outputs() -> kubeline_core::cluster::Cluster {
    let text = std::fs::read_to_string(examples_dir().join("existing-vpc/cluster.yaml"))
        .expect("example")
        .replace(
            "vpc:\n  id: vpc-0a1b2c3d4e5f67890",
            "vpc:\n  idFromStackOutput: network-VpcId",
        )
        .replace(
            "internetGateway:\n  id: igw-0a1b2c3d4e5f67890",
            "internetGateway:\n  idFromStackOutput: network-IgwId",
        )
        .replace(
            "    id: subnet-0a1b2c3d4e5f67891\n",
            "    idFromStackOutput: network-SubnetA\n",
        )
        // Two subnets kubeline creates: one on the network team's route table, one private
        // behind its NAT gateway.
        .replace(
            "    instanceCIDR: 172.16.100.0/24\n",
            "    instanceCIDR: 172.16.100.0/24\n  - name: edge-b\n    availabilityZone: us-east-1b\n    instanceCIDR: 172.16.101.0/24\n    routeTable: {idFromStackOutput: network-EdgeRouteTable}\n  - name: private-c\n    availabilityZone: us-east-1c\n    instanceCIDR: 172.16.102.0/24\n    private: true\n    natGateway: {idFromStackOutput: network-NatC}\n",
        );
    let loaded = validate::load(&text);
    loaded
        .cluster
        .unwrap_or_else(|| panic!("{}", loaded.diagnostics.render("cluster.yaml")))
}

/// The exports [`existing_vpc_from_stack_outputs`] imports.
const IMPORTED_EXPORTS: [&str; 5] = [
    "network-VpcId",
    "network-IgwId",
    "network-SubnetA",
    "network-EdgeRouteTable",
    "network-NatC",
];

/// kube-aws's `idFromStackOutput`: an existing VPC, internet gateway, subnet, NAT gateway or
/// route table named by another stack's export reaches the network stack as
/// `Fn::ImportValue` of that export, wherever its ID would have been.
#[test]
fn id_from_stack_output_imports_the_exported_ids() {
    let c = existing_vpc_from_stack_outputs();
    let rendered = render::render(&c, &Templates::builtin()).expect("render");
    let stack: serde_json::Value =
        serde_json::from_slice(&rendered.files["stack-templates/network.json"]).expect("json");
    let text = stack.to_string();
    for export in IMPORTED_EXPORTS {
        assert!(
            text.contains(&format!("{{\"Fn::ImportValue\":\"{export}\"}}")),
            "{export} is not imported:\n{text}"
        );
    }
    assert!(
        !text.contains("vpc-0a1b2c3d4e5f67890"),
        "the literal VPC ID is left"
    );
    assert!(
        !text.contains("subnet-0a1b2c3d4e5f67891"),
        "the literal subnet ID is left"
    );
    // The imported subnet is re-exported for the other stacks like an existing one.
    let outputs = stack["Outputs"].as_object().expect("outputs");
    assert!(
        outputs
            .values()
            .any(|o| o["Value"]["Fn::ImportValue"] == "network-SubnetA")
    );
    for (bad, message) in [
        (
            "vpc:\n  id: vpc-0a1b2c3d4e5f67890\n  idFromStackOutput: x",
            "name the same resource twice",
        ),
        (
            "vpc:\n  idFromStackOutput: \"net-${AWS::Region}\"",
            "is not an export name kubeline takes",
        ),
        ("vpc: {}", "needs its id or idFromStackOutput"),
    ] {
        let text = std::fs::read_to_string(examples_dir().join("existing-vpc/cluster.yaml"))
            .expect("example")
            .replace("vpc:\n  id: vpc-0a1b2c3d4e5f67890", bad);
        let l = validate::load(&text);
        assert!(l.cluster.is_none(), "{bad} accepted");
        let d = l.diagnostics.render("cluster.yaml");
        assert!(d.contains(message), "{bad}: {d}");
    }
}

#[test]
fn unknown_override_names_are_rejected_with_the_known_names() {
    let err = Templates::builtin()
        .set("stack-templates/netwrok.json.j2", String::new())
        .expect_err("unknown");
    let msg = err.to_string();
    assert!(
        msg.contains("netwrok.json.j2") && msg.contains("stack-templates/network.json.j2"),
        "{msg}"
    );
}

#[test]
fn a_template_that_renders_invalid_json_is_named_with_the_line() {
    let c = minimal();
    let t = edited("stack-templates/etcd.json.j2", |s| {
        s.replacen("\"Resources\": {", "\"Resources\": {,", 1)
    });
    match render::render(&c, &t) {
        Err(RenderError::InvalidOutput {
            name,
            format,
            line,
            excerpt,
            ..
        }) => {
            assert_eq!(
                (name.as_str(), format),
                ("stack-templates/etcd.json.j2", "JSON")
            );
            assert!(
                line > 1 && excerpt.contains("Resources"),
                "line {line}: {excerpt}"
            );
        }
        other => panic!("expected InvalidOutput, got {other:?}"),
    }
}

#[test]
fn a_template_syntax_error_is_named() {
    let c = minimal();
    let t = edited("userdata/worker.yaml.j2", |_| {
        "files: {{ cluster.nam }".into()
    });
    let err = render::render(&c, &t).expect_err("broken");
    let msg = err.to_string();
    assert!(
        msg.contains("userdata/worker.yaml.j2") && msg.contains("syntax error"),
        "{msg}"
    );
}

#[test]
fn size_limits_are_reported() {
    // 50 SSH source ranges (the most validation allows) push the network stack over the
    // TemplateBody limit: it must then go by S3 URL, which is a note, not an error.
    let text = std::fs::read_to_string(examples_dir().join("minimal/cluster.yaml")).expect("read");
    let mut extra = String::from("sshAccessAllowedSourceCIDRs:\n");
    for i in 0..50 {
        extra.push_str(&format!("  - 10.{}.{}.0/24\n", 100 + i / 250, i % 250));
    }
    let c = validate::load(&format!("{text}{extra}"))
        .cluster
        .expect("valid");
    let r = render::render(&c, &Templates::builtin()).expect("render");
    let net = r
        .stacks
        .iter()
        .find(|s| s.name.ends_with("-network"))
        .expect("network");
    assert!(
        net.size > render::TEMPLATE_BODY_LIMIT && net.needs_template_url,
        "{} bytes",
        net.size
    );
    assert!(r.limits.iter().any(|l| !l.error
        && l.file == "stack-templates/network.json"
        && l.message.contains("TemplateURL")));
    assert!(!r.has_limit_errors());

    // 51 ranges are refused by validation, naming the AWS quota.
    let c51 = format!("{text}{extra}  - 10.200.0.0/24\n");
    let d = validate::load(&c51).diagnostics.render("cluster.yaml");
    assert!(d.contains("sshAccessAllowedSourceCIDRs: 51 ranges"), "{d}");
}

#[test]
fn resource_and_size_overflows_are_errors() {
    // A customised template that emits 501 resources and over 1 MB: both limits are errors.
    let c = minimal();
    let padding = "x".repeat(2100);
    let t = edited("stack-templates/node-pool.json.j2", |s| {
        s.replacen(
        "\"Resources\": {",
        &format!("\"Resources\": {{ {{% for i in range(501) %}}\"Pad{{{{ i }}}}\": {{\"Type\": \"AWS::CloudFormation::WaitConditionHandle\", \"Metadata\": {{\"pad\": \"{padding}\"}}}},{{% endfor %}}"),
        1,
    )
    });
    let r = render::render(&c, &t).expect("render");
    let errors: Vec<&str> = r
        .limits
        .iter()
        .filter(|l| l.error)
        .map(|l| l.message.as_str())
        .collect();
    assert!(
        errors
            .iter()
            .any(|m| m.contains("resources; CloudFormation allows 500")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|m| m.contains("at most 1000000")),
        "{errors:?}"
    );
    assert!(r.has_limit_errors());
}

#[test]
fn a_fifty_pool_cluster_renders_within_limits() {
    let text = std::fs::read_to_string(examples_dir().join("ha/cluster.yaml")).expect("read");
    let mut pools = String::new();
    for i in 0..49 {
        pools.push_str(&format!("    - name: pool{i}\n      count: 1\n"));
    }
    let text = text.replacen("  nodePools:\n", &format!("  nodePools:\n{pools}"), 1);
    let c = validate::load(&text).cluster.expect("valid");
    assert_eq!(c.node_pools.len(), 50);
    let r = render::render(&c, &Templates::builtin()).expect("render");
    assert_eq!(r.stacks.len(), 53);
    assert!(!r.has_limit_errors());
}

/// The ha example with pools `a` (zone a), `b` (zone b) and `a2` (zone a, listed last), rolled
/// out by `strategy`; `a2_subnets` replaces a2's subnets.
fn pools_by(strategy: &str, a2_subnets: &str) -> Result<kubeline_core::cluster::Cluster, String> {
    let text = std::fs::read_to_string(examples_dir().join("ha/cluster.yaml")).expect("read");
    let (head, _) = text.split_once("worker:\n").expect("worker section");
    let tail = text
        .split_once("\nkubernetesVersion:")
        .map(|(_, t)| format!("kubernetesVersion:{t}"))
        .expect("kubernetesVersion");
    let worker = format!(
        "worker:\n  nodePoolRollingStrategy: {strategy}\n  nodePools:\n    - {{name: a, subnets: [{{name: private-a}}]}}\n    - {{name: b, subnets: [{{name: private-b}}]}}\n    - {{name: a2, subnets: [{a2_subnets}]}}\n"
    );
    let loaded = validate::load(&format!("{head}{worker}{tail}"));
    loaded
        .cluster
        .ok_or_else(|| loaded.diagnostics.render("cluster.yaml"))
}

#[test]
fn node_pools_roll_out_in_the_waves_their_strategy_says() {
    let waves = |strategy: &str| -> Vec<(String, Option<u32>)> {
        let c = pools_by(strategy, "{name: private-a}").unwrap_or_else(|e| panic!("{e}"));
        render::render(&c, &Templates::builtin())
            .expect("render")
            .stacks
            .into_iter()
            .map(|s| (s.name, s.rollout_wave))
            .collect()
    };
    let names = [
        "network",
        "etcd",
        "control-plane",
        "node-pool-a",
        "node-pool-b",
        "node-pool-a2",
    ];
    // (strategy, waves of the three pools)
    let table = [
        ("Parallel", [0, 0, 0]),
        ("Sequential", [0, 1, 2]),
        ("AvailabilityZone", [0, 1, 0]),
    ];
    for (strategy, pools) in table {
        let got = waves(strategy);
        let want: Vec<Option<u32>> = [None, None, None]
            .into_iter()
            .chain(pools.map(Some))
            .collect();
        assert_eq!(
            got.iter().map(|(_, w)| *w).collect::<Vec<_>>(),
            want,
            "{strategy}"
        );
        for ((name, _), part) in got.iter().zip(names) {
            assert!(name.ends_with(part), "{name} is not {part}");
        }
    }
    // Rolling by zone needs every pool in one zone; the error names the pool and the fix.
    let e = pools_by("AvailabilityZone", "{name: private-a}, {name: private-b}")
        .expect_err("a pool in two zones");
    assert!(
        e.contains("worker.nodePools[2].subnets") && e.contains("eu-west-1a, eu-west-1b"),
        "{e}"
    );
    assert!(pools_by("Sequential", "{name: private-a}, {name: private-b}").is_ok());
    let e = pools_by("parallel", "{name: private-a}").expect_err("kube-aws's exact spelling");
    assert!(e.contains("nodePoolRollingStrategy"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Snapshots of single kube-aws keys: the focused part of the output each key changes.

/// Asserts the reviewed snapshot `key__<key>` (tests/snapshots/key__<key>.snap), its header
/// saying what it shows.
fn key_snapshot(key: &str, shows: &str, body: &str) {
    insta::with_settings!({prepend_module_to_snapshot => false, omit_expression => true, description => shows}, {
        insta::assert_snapshot!(format!("key__{key}"), body);
    });
}

/// Every `{"Fn::ImportValue": ...}` under `v`, as (JSON pointer, export name).
fn imports(v: &serde_json::Value, at: &str, out: &mut Vec<(String, String)>) {
    match v {
        serde_json::Value::Object(map) => {
            if let Some(name) = map.get("Fn::ImportValue").and_then(|n| n.as_str()) {
                out.push((at.to_owned(), name.to_owned()));
            }
            for (k, child) in map {
                let k = k.replace('~', "~0").replace('/', "~1");
                imports(child, &format!("{at}/{k}"), out);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                imports(child, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// `idFromStackOutput`: where each stack imports an export the cluster.yaml named, and what
/// the network stack re-exports it as for kubeline's other stacks.
#[test]
fn id_from_stack_output_snapshot() {
    let c = existing_vpc_from_stack_outputs();
    let rendered = render::render(&c, &Templates::builtin()).expect("render");
    let mut body = String::new();
    let mut seen = std::collections::BTreeSet::new();
    for s in &rendered.stacks {
        let file = format!("stack-templates/{}", s.template);
        let v: serde_json::Value = serde_json::from_slice(&rendered.files[&file]).expect("json");
        let mut found = Vec::new();
        imports(&v, "", &mut found);
        // Sorted: the same listing whatever key order serde_json keeps.
        let found: std::collections::BTreeSet<_> = found
            .into_iter()
            .filter(|(_, name)| IMPORTED_EXPORTS.contains(&name.as_str()))
            .collect();
        if found.is_empty() {
            continue;
        }
        body.push_str(&format!("{file}\n"));
        for (at, name) in found {
            seen.insert(name.clone());
            let export = at
                .strip_suffix("/Value")
                .filter(|o| o.starts_with("/Outputs/"))
                .and_then(|o| v.pointer(&format!("{o}/Export/Name")))
                .and_then(|n| n.as_str())
                .map(|n| format!(" (re-exported as {n})"))
                .unwrap_or_default();
            body.push_str(&format!("  {at}: Fn::ImportValue {name}{export}\n"));
        }
    }
    assert_eq!(
        seen.len(),
        IMPORTED_EXPORTS.len(),
        "every named export is imported somewhere:\n{body}"
    );
    key_snapshot(
        "idFromStackOutput",
        "existing-vpc with vpc, internetGateway, subnets[shared-a], subnets[edge-b].routeTable and subnets[private-c].natGateway given by idFromStackOutput: every place a stack imports those exports",
        &body,
    );
}

/// `worker.nodePoolRollingStrategy`: the rollout wave manifest.json gives each stack (the
/// apply step executes a pool's change set only once every pool of an earlier wave has
/// settled), for pools `a` (zone a), `b` (zone b) and `a2` (zone a) under each strategy.
#[test]
fn node_pool_rolling_strategy_snapshot() {
    let mut body = String::new();
    for strategy in ["Parallel", "Sequential", "AvailabilityZone"] {
        let c = pools_by(strategy, "{name: private-a}").unwrap_or_else(|e| panic!("{e}"));
        let rendered = render::render(&c, &Templates::builtin()).expect("render");
        let manifest: serde_json::Value =
            serde_json::from_slice(&rendered.files["manifest.json"]).expect("manifest");
        body.push_str(&format!("nodePoolRollingStrategy: {strategy}\n"));
        let mut waves: std::collections::BTreeMap<u64, Vec<String>> = Default::default();
        for s in manifest["stacks"].as_array().expect("stacks") {
            let name = s["name"].as_str().expect("name");
            let pool = name.rsplit_once("-node-pool-").map(|(_, p)| p);
            let zone = pool
                .and_then(|p| c.node_pools.iter().find(|np| np.name == p))
                .and_then(|np| np.subnets.first())
                .map(|i| format!(" {}", c.subnets[*i].availability_zone.as_str()))
                .unwrap_or_default();
            let wave = match s["rolloutWave"].as_u64() {
                Some(w) => {
                    waves
                        .entry(w)
                        .or_default()
                        .push(pool.unwrap_or(name).into());
                    format!("wave {w}")
                }
                None => "no wave (dependency order only)".into(),
            };
            body.push_str(&format!("  {name}{zone}: {wave}\n"));
        }
        for (w, pools) in waves {
            body.push_str(&format!(
                "  wave {w} rolls together: {}\n",
                pools.join(", ")
            ));
        }
    }
    key_snapshot(
        "nodePoolRollingStrategy",
        "the ha example with pools a (eu-west-1a), b (eu-west-1b), a2 (eu-west-1a): manifest.json's rolloutWave of every stack under each strategy",
        &body,
    );
}

/// `customSettings`: the values an overridden template reads, as `cluster.custom_settings`
/// and `pool.custom_settings` (types kept), and what an overridden node-pool template that
/// prints them renders.
#[test]
fn custom_settings_snapshot() {
    let (_, stack) = render_pool_stack_with(
        "customSettings:\n  costCenter: \"4711\"\n  retentionDays: 30\n  compliance: {pci: false, owners: [platform, security]}\n",
        "{team: {name: search, oncall: [ana, bo]}, spotShare: 0.5}",
        (
            "\"Metadata\": {{ lint_metadata | tojson }},",
            "\"Metadata\": {\"CustomSettings\": {\"cluster\": {{ cluster.custom_settings | tojson }}, \"pool\": {{ p.custom_settings | tojson }}, \"line\": {{ (\"cost \" ~ cluster.custom_settings.costCenter ~ \", \" ~ cluster.custom_settings.retentionDays ~ \" days, team \" ~ p.custom_settings.team.name ~ \", on call \" ~ p.custom_settings.team.oncall | join(\"/\")) | tojson }}}},",
        ),
    );
    let shown = &stack["Metadata"]["CustomSettings"];
    assert!(shown.is_object(), "the override did not apply:\n{stack}");
    let body = format!(
        "stack-templates/node-pool-general.json /Metadata/CustomSettings (overridden template):\n{}",
        String::from_utf8(render::canonical_json(shown)).expect("utf8")
    );
    key_snapshot(
        "customSettings",
        "minimal with customSettings on the cluster and on pool general, read by an overridden node-pool template that prints them into the stack's Metadata",
        &body,
    );
}
