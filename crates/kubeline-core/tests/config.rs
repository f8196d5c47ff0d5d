//! cluster.yaml handling: the schema stays in sync with the model, `init` output validates,
//! defaults follow kube-aws, and arbitrary input never panics.

use kubeline_core::init::{InitOptions, cluster_yaml};
use kubeline_core::validate;

#[test]
fn the_committed_schema_matches_the_model() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/cluster.schema.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let current = String::from_utf8(kubeline_core::render::canonical_json(
        &kubeline_core::model::json_schema(),
    ))
    .expect("utf8");
    assert!(
        committed == current,
        "docs/cluster.schema.json is stale: run `cargo run -p kubeline -- schema > docs/cluster.schema.json`"
    );
}

fn init_opts() -> InitOptions {
    InitOptions {
        cluster_name: "team-a".into(),
        region: "eu-west-1".into(),
        availability_zone: "eu-west-1b".into(),
        external_dns_name: "api.team-a.example.com".into(),
        kms_key_arn: "arn:aws:kms:eu-west-1:123456789012:key/0000-1111".into(),
        s3_uri: "s3://my-kubeline-bucket/assets".into(),
        key_name: Some("ops".into()),
        hosted_zone_id: Some("Z0123456789ABCDEFGHIJ".into()),
        no_record_set: false,
    }
}

#[test]
fn init_writes_a_commented_file_that_validates() {
    let text = cluster_yaml(&init_opts());
    assert!(
        text.lines()
            .filter(|l| l.trim_start().starts_with('#'))
            .count()
            > 20,
        "not commented:\n{text}"
    );
    let loaded = validate::load(&text);
    let cluster = loaded
        .cluster
        .unwrap_or_else(|| panic!("{}", loaded.diagnostics.render("cluster.yaml")));
    assert_eq!(cluster.name.as_str(), "team-a");
    assert_eq!(
        cluster.subnets.len(),
        1,
        "omitted subnets give one public subnet"
    );
    assert_eq!(cluster.subnets[0].availability_zone.as_str(), "eu-west-1b");
    assert!(!cluster.subnets[0].private);
    assert_eq!(
        cluster.api_endpoints[0].hosted_zone_id.as_deref(),
        Some("Z0123456789ABCDEFGHIJ")
    );
    assert!(cluster.api_endpoints[0].record_set_managed);
    assert_eq!(cluster.key_name.as_deref(), Some("ops"));
}

#[test]
fn init_no_record_set_and_hostile_values_are_quoted() {
    let mut o = init_opts();
    o.no_record_set = true;
    o.key_name = Some("key: with\nnewline".into());
    let text = cluster_yaml(&o);
    let loaded = validate::load(&text);
    let cluster = loaded.cluster.expect("valid");
    assert!(!cluster.api_endpoints[0].record_set_managed);
    assert_eq!(
        cluster.key_name.as_deref(),
        Some("key: with\nnewline"),
        "value kept verbatim, not injected"
    );
}

/// Without a record kubeline writes, `init` adds a private endpoint for nodes (kubeline could
/// not name its own); with one, kubeline adds `nodes` itself.
#[test]
fn init_gives_nodes_a_private_endpoint() {
    let mut without_zone = init_opts();
    without_zone.hosted_zone_id = None;
    let mut no_record = init_opts();
    no_record.no_record_set = true;
    for o in [without_zone, no_record] {
        let text = cluster_yaml(&o);
        let (c, _) = accepted(&text);
        let names: Vec<(&str, &str, bool, bool)> = c
            .api_endpoints
            .iter()
            .map(|e| {
                (
                    e.name.as_str(),
                    e.dns_name.as_str(),
                    e.private,
                    e.record_set_managed,
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                ("default", "api.team-a.example.com", false, false),
                ("internal", "internal.api.team-a.example.com", true, false)
            ],
            "{text}"
        );
    }
    let (c, _) = accepted(&cluster_yaml(&init_opts()));
    let e = c.api_endpoints.last().expect("endpoints");
    assert!(e.added_for_nodes && e.private, "{:?}", c.api_endpoints);
    assert_eq!(e.dns_name.as_str(), "internal.api.team-a.example.com");
    assert_eq!(c.api_endpoints.len(), 2);
}

#[test]
fn defaults_are_modern() {
    let text = cluster_yaml(&init_opts());
    let cfg = validate::load(&text).config.expect("parsed");
    assert_eq!(
        cfg.release_channel,
        kubeline_core::model::ReleaseChannel::Stable
    );
    assert_eq!(
        cfg.controller.root_volume.kind,
        kubeline_core::model::VolumeType::Gp3
    );
    assert_eq!(cfg.service_cidr, "10.3.0.0/24");
    assert_eq!(cfg.tls_cert_duration_days, 365);
    assert_eq!(cfg.tls_ca_duration_days, 3650);
}

#[test]
fn warnings_for_non_ha_choices() {
    let text = cluster_yaml(&init_opts()).replace(
        "  count: 2\n  instanceType: t3.medium\n\netcd:\n  count: 3",
        "  count: 1\n  instanceType: t3.medium\n\netcd:\n  count: 1",
    );
    let loaded = validate::load(&text);
    assert!(loaded.cluster.is_some(), "warnings do not reject");
    let w = loaded.diagnostics.render("cluster.yaml");
    assert!(
        w.contains("warning: controller.count: one controller is not highly available"),
        "{w}"
    );
    assert!(
        w.contains("warning: etcd.count: one etcd member is not highly available"),
        "{w}"
    );
}

#[test]
fn garbage_never_panics() {
    // A deterministic pseudo-random walk over YAML-ish fragments (the cargo-fuzz target in
    // fuzz/ explores far more; this keeps a quick guard in the test suite).
    let pieces = [
        "clusterName: ",
        "a",
        "\n",
        "  ",
        "- ",
        ": ",
        "[",
        "]",
        "{",
        "}",
        "'",
        "\"",
        "&x ",
        "*x",
        "<<: *x\n",
        "subnets:\n",
        "  - name: a\n",
        "worker:\n  nodePools:\n",
        "    - name: p\n",
        "10.0.0.0/16",
        "-1",
        "99999999999999999999999",
        "~",
        "!!binary x",
        "\t",
        "#",
        "etcd: {count: 2}\n",
        "vpc: {id: 1}\n",
    ];
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..3000 {
        let mut s = String::new();
        for _ in 0..(seed % 40) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            s.push_str(pieces[(seed % pieces.len() as u64) as usize]);
        }
        let loaded = validate::load(&s);
        if let Some(c) = loaded.cluster {
            let _ = kubeline_core::render::render(&c, &kubeline_core::render::Templates::builtin());
        }
    }
}

/// A small valid cluster.yaml; `extra` is appended as further top-level settings.
fn with(extra: &str) -> String {
    format!(
        "clusterName: demo
s3URI: s3://kubeline-assets-123456789012/kubeline
region: eu-west-1
availabilityZone: eu-west-1a
kmsKeyArn: arn:aws:kms:eu-west-1:123456789012:key/1b3c5d7e-0000-4000-8000-000000000001
kubernetesArtifacts:
  kubeletHash: sha256:37f9093ed2b4669cccf5474718e43ec412833e1267c84b01e662df2c4e5d7aaa
{extra}"
    )
}

const ENDPOINT: &str = "apiEndpoints:
  - name: default
    dnsName: api.demo.example.com
    loadBalancer: {hostedZone: {id: Z0123456789ABCDEFGHIJ}}
";

fn accepted(text: &str) -> (kubeline_core::cluster::Cluster, String) {
    let loaded = validate::load(text);
    let rendered = loaded.diagnostics.render("cluster.yaml");
    let cluster = loaded
        .cluster
        .unwrap_or_else(|| panic!("rejected:\n{rendered}\n--- input:\n{text}"));
    (cluster, rendered)
}

fn rejected(text: &str) -> String {
    let loaded = validate::load(text);
    let rendered = loaded.diagnostics.render("cluster.yaml");
    assert!(loaded.cluster.is_none(), "accepted:\n{text}\n{rendered}");
    rendered
}

#[test]
fn auto_scaling_group_min_and_max_replace_count() {
    // (pool settings, desired, min, max, min in service)
    let cases = [
        // kube-aws: minSize/maxSize instead of count; the group starts at minSize.
        ("autoScalingGroup: {minSize: 2, maxSize: 5}", 2, 2, 5, 1),
        ("autoScalingGroup: {minSize: 0, maxSize: 3}", 0, 0, 3, 0),
        ("autoScalingGroup: {minSize: 3}", 3, 3, 3, 2),
        ("autoScalingGroup: {maxSize: 4}", 1, 1, 4, 0),
        (
            "autoScalingGroup: {minSize: 3, maxSize: 6, rollingUpdateMinInstancesInService: 1}",
            3,
            3,
            6,
            1,
        ),
        // count alone, and count consistent with minSize/maxSize, behave as before.
        ("count: 3", 3, 3, 3, 2),
        ("instanceType: t3.medium", 1, 1, 1, 0),
        (
            "count: 4\n      autoScalingGroup: {minSize: 2, maxSize: 6}",
            4,
            2,
            6,
            3,
        ),
    ];
    for (settings, desired, min, max, min_in_service) in cases {
        let text = with(&format!(
            "{ENDPOINT}worker:\n  nodePools:\n    - name: general\n      {settings}\n"
        ));
        let (cluster, rendered) = accepted(&text);
        let s = &cluster.node_pools[0].size;
        assert_eq!(
            (s.desired, s.min, s.max, s.min_in_service),
            (desired, min, max, min_in_service),
            "{settings}\n{rendered}"
        );
        assert!(!rendered.contains(".count:"), "{settings}: {rendered}");
    }
    // The controller follows the same rule (its default count is 2).
    let cases = [
        ("autoScalingGroup: {minSize: 3, maxSize: 5}", 3, 3, 5, 2),
        ("autoScalingGroup: {maxSize: 4}", 2, 2, 4, 1),
        ("count: 3", 3, 3, 3, 2),
    ];
    for (settings, desired, min, max, min_in_service) in cases {
        let (cluster, rendered) =
            accepted(&with(&format!("{ENDPOINT}controller:\n  {settings}\n")));
        let s = &cluster.controller.size;
        assert_eq!(
            (s.desired, s.min, s.max, s.min_in_service),
            (desired, min, max, min_in_service),
            "{settings}\n{rendered}"
        );
    }
    let (_, w) = accepted(&with(&format!(
        "{ENDPOINT}controller:\n  autoScalingGroup: {{minSize: 1, maxSize: 3}}\n"
    )));
    assert!(
        w.contains(
            "warning: controller.autoScalingGroup.minSize: one controller is not highly available"
        ),
        "{w}"
    );
    let e = rejected(&with(&format!(
        "{ENDPOINT}controller:\n  autoScalingGroup: {{minSize: 0, maxSize: 3}}\n"
    )));
    assert!(
        e.contains("controller.autoScalingGroup.minSize: a cluster needs at least one controller"),
        "{e}"
    );
    // count outside minSize/maxSize is still refused where it is written.
    let e = rejected(&with(&format!(
        "{ENDPOINT}worker:\n  nodePools:\n    - name: general\n      count: 9\n      autoScalingGroup: {{minSize: 1, maxSize: 5}}\n"
    )));
    assert!(
        e.contains("worker.nodePools[0].count: count 9 is outside minSize 1 .. maxSize 5"),
        "{e}"
    );
}

#[test]
fn a_pool_kept_at_zero_is_accepted_with_a_warning() {
    for settings in [
        "autoScalingGroup: {minSize: 0, maxSize: 0}",
        "autoScalingGroup: {maxSize: 0}",
        "count: 0\n      autoScalingGroup: {minSize: 0, maxSize: 0}",
    ] {
        let text = with(&format!(
            "{ENDPOINT}worker:\n  nodePools:\n    - name: standby\n      {settings}\n"
        ));
        let (cluster, w) = accepted(&text);
        let s = &cluster.node_pools[0].size;
        assert_eq!(
            (s.desired, s.min, s.max, s.min_in_service),
            (0, 0, 0, 0),
            "{settings}"
        );
        assert!(
            w.contains(
                ": warning: worker.nodePools[0].autoScalingGroup.maxSize: a group of at most 0 instances runs nothing"
            ),
            "{settings}: {w}"
        );
    }
    // Controllers cannot be kept at zero.
    let e = rejected(&with(&format!(
        "{ENDPOINT}controller:\n  autoScalingGroup: {{minSize: 0, maxSize: 0}}\n"
    )));
    assert!(
        e.contains(
            "controller.autoScalingGroup.maxSize: a group of at most 0 instances runs nothing"
        ),
        "{e}"
    );
}

#[test]
fn etcd_versions_follow_kubernetes_support() {
    // (etcd.version, kubernetesVersion, Ok(normalised) or Err(message part))
    let cases: [(&str, Option<&str>, Result<&str, &str>); 9] = [
        ("3.5.21", None, Ok("3.5.21")),
        ("v3.5.21", None, Ok("3.5.21")),
        ("v3.6.4", None, Ok("3.6.4")),
        ("3.5.15", Some("1.31.0"), Ok("3.5.15")),
        (
            "v3.4.30",
            None,
            Err("etcd.version: etcd 3.4.30 is too old: Kubernetes 1.34 requires etcd 3.5 or newer"),
        ),
        (
            "3.4.30",
            Some("1.31.0"),
            Err("etcd 3.4.30 is too old: Kubernetes 1.31 requires etcd 3.5 or newer"),
        ),
        (
            "3.7.0",
            None,
            Err("etcd 3.7.0 is not supported by Kubernetes 1.34, which supports etcd 3.5 to 3.6"),
        ),
        ("v2.3.8", None, Err("\"v2.3.8\" is not an etcd 3.x version")),
        (
            "vv3.5.21",
            None,
            Err("\"vv3.5.21\" is not an etcd 3.x version"),
        ),
    ];
    for (version, kube, want) in cases {
        // kubeline pins no cloud-controller-manager or CoreDNS for 1.31 (docs/addons.md).
        let kube = kube.map_or(String::new(), |k| {
            format!("kubernetesVersion: {k}\naddons:\n  cloudControllerManager:\n    enabled: false\n  coreDns:\n    version: v1.11.3\n")
        });
        let text = with(&format!("{ENDPOINT}{kube}etcd:\n  version: {version}\n"));
        match want {
            Ok(v) => {
                let (cluster, _) = accepted(&text);
                assert_eq!(cluster.etcd.version, v, "{version}");
                // The image tag is `registry.k8s.io/etcd:<version>-0`: no `v`.
                let out = kubeline_core::render::render(
                    &cluster,
                    &kubeline_core::render::Templates::builtin(),
                )
                .expect("renders");
                let all: String = out
                    .files
                    .values()
                    .map(|f| String::from_utf8_lossy(f).into_owned())
                    .collect();
                assert!(
                    all.contains(&format!("registry.k8s.io/etcd:{v}-0")),
                    "{version}"
                );
                assert!(!all.contains("registry.k8s.io/etcd:v3"), "{version}");
                // etcd's own release image (etcdutl) is tagged with the `v`.
                assert!(
                    all.contains(&format!("gcr.io/etcd-development/etcd:v{v}")),
                    "{version}"
                );
            }
            Err(m) => {
                let e = rejected(&text);
                assert!(e.contains(m), "{version}: {e}");
            }
        }
    }
}

#[test]
fn a_key_without_a_value_means_an_empty_list_or_mapping() {
    let text = with(
        "sshAccessAllowedSourceCIDRs:
stackTags:
apiEndpoints:
  - name: default
    dnsName: api.demo.example.com
    loadBalancer:
      hostedZone: {id: Z0123456789ABCDEFGHIJ}
      apiAccessAllowedSourceCIDRs:
      subnets:
controller:
  subnets:
  nodeLabels:
worker:
  nodePools:
    - name: general
      nodeLabels:
      taints:
",
    );
    let (cluster, rendered) = accepted(&text);
    assert!(!rendered.contains("null"), "{rendered}");
    assert!(cluster.ssh_access_allowed_source_cidrs.is_empty());
    assert!(
        cluster.api_endpoints[0]
            .api_access_allowed_source_cidrs
            .is_empty()
    );
    assert!(cluster.stack_tags.is_empty());
    assert!(cluster.node_pools[0].node_labels.is_empty());
    assert!(cluster.node_pools[0].taints.is_empty());
    // The same as writing the empty value.
    let explicit = text
        .replace("CIDRs:\n", "CIDRs: []\n")
        .replace("subnets:\n", "subnets: []\n");
    let (same, _) = accepted(&explicit);
    assert_eq!(
        format!("{:?}", same.api_endpoints),
        format!("{:?}", cluster.api_endpoints)
    );
    // A required list written empty is still reported as missing, not as a type error.
    let e = rejected(&with("apiEndpoints:\n"));
    assert!(
        e.contains("apiEndpoints: at least one API endpoint is required"),
        "{e}"
    );
    // Scalars are not affected: a bare string key is still a type error.
    let e = rejected(&with(&format!("{ENDPOINT}kubernetesVersion:\n")));
    assert!(
        e.contains("kubernetesVersion: expected a string, found nothing (null)"),
        "{e}"
    );
}

/// Three zones: a has a public and a private subnet, b a public and two private ones, c only a
/// public one (the fixture of the nodes-endpoint cases).
const ZONED_SUBNETS: &str = "subnets:
  - {name: public-a, availabilityZone: eu-west-1a, instanceCIDR: 10.0.0.0/24}
  - {name: private-a, availabilityZone: eu-west-1a, instanceCIDR: 10.0.10.0/24, private: true}
  - {name: public-b, availabilityZone: eu-west-1b, instanceCIDR: 10.0.1.0/24}
  - {name: private-b1, availabilityZone: eu-west-1b, instanceCIDR: 10.0.11.0/24, private: true}
  - {name: private-b2, availabilityZone: eu-west-1b, instanceCIDR: 10.0.12.0/24, private: true}
  - {name: public-c, availabilityZone: eu-west-1c, instanceCIDR: 10.0.2.0/24}
";

/// What kubeline makes of `apiEndpoints` for nodes: `Ok` lists the expected added endpoint
/// (None: none added, nodes use a private endpoint of the file), `Err` a part of the error.
#[test]
fn the_nodes_endpoint_is_added_only_without_a_private_one() {
    struct Added {
        dns: &'static str,
        lb_type: &'static str,
        zone: &'static str,
        subnets: &'static [&'static str],
    }
    const ZONE: &str = "{hostedZone: {id: Z0123456789ABCDEFGHIJ}}";
    // 252 characters: a valid name, but internal.<it> has 261.
    let long_dns = format!(
        "{0}.{0}.{0}.{1}.example.com",
        "a".repeat(63),
        "b".repeat(48)
    );
    assert_eq!(long_dns.len(), 252);
    let dup = "apiEndpoints:
  - {name: public, dnsName: api.demo.example.com, loadBalancer: {hostedZone: {id: Z0123456789ABCDEFGHIJ}}}
  - {name: other, dnsName: internal.api.demo.example.com}
";
    /// (what, apiEndpoints, subnets, expected)
    type Case = (
        &'static str,
        String,
        &'static str,
        Result<Option<Added>, &'static str>,
    );
    let cases: Vec<Case> = vec![
        (
            "public endpoint with a managed record: one internal subnet per zone, private first",
            "apiEndpoints:\n  - {name: public, dnsName: api.demo.example.com, loadBalancer: {hostedZone: {id: Z0123456789ABCDEFGHIJ}, apiAccessAllowedSourceCIDRs: [203.0.113.0/24]}}\n".to_owned(),
            ZONED_SUBNETS,
            Ok(Some(Added {
                dns: "internal.api.demo.example.com",
                lb_type: "Network",
                zone: "Z0123456789ABCDEFGHIJ",
                subnets: &["private-a", "private-b1", "public-c"],
            })),
        ),
        (
            "the first endpoint with a managed record gives name, type and zone",
            "apiEndpoints:
  - {name: a, dnsName: a.demo.example.com, loadBalancer: {recordSetManaged: false, hostedZone: {id: Z0AAAAAAAAAAAAAAAAAAA}}}
  - {name: b, dnsName: b.demo.example.com, loadBalancer: {type: classic, hostedZone: {id: Z0BBBBBBBBBBBBBBBBBBB}}}
".to_owned(),
            "",
            Ok(Some(Added {
                dns: "internal.b.demo.example.com",
                lb_type: "Classic",
                zone: "Z0BBBBBBBBBBBBBBBBBBB",
                subnets: &["Subnet0"],
            })),
        ),
        (
            "a private endpoint: nodes use it, nothing is added",
            "apiEndpoints:
  - {name: public, dnsName: api.demo.example.com}
  - {name: internal, dnsName: k8s.demo.internal, loadBalancer: {private: true, recordSetManaged: false}}
".to_owned(),
            ZONED_SUBNETS,
            Ok(None),
        ),
        (
            "a private endpoint may be named nodes",
            "apiEndpoints:\n  - {name: nodes, dnsName: api.demo.example.com, loadBalancer: {private: true}}\n".to_owned(),
            ZONED_SUBNETS,
            Ok(None),
        ),
        (
            "no private endpoint and no record kubeline manages",
            "apiEndpoints:\n  - {name: public, dnsName: api.demo.example.com}\n".to_owned(),
            "",
            Err("apiEndpoints: nodes need an endpoint they reach by private address, and no endpoint is private or has a DNS record kubeline manages; add a private endpoint (`loadBalancer.private: true`), or give an endpoint a `hostedZone`"),
        ),
        (
            "a hosted zone whose record kubeline does not manage does not count",
            "apiEndpoints:\n  - {name: public, dnsName: api.demo.example.com, loadBalancer: {recordSetManaged: false, hostedZone: {id: Z0123456789ABCDEFGHIJ}}}\n".to_owned(),
            "",
            Err("apiEndpoints: nodes need an endpoint they reach by private address"),
        ),
        (
            "nodes is reserved while no endpoint is private",
            format!("apiEndpoints:\n  - {{name: nodes, dnsName: api.demo.example.com, loadBalancer: {ZONE}}}\n"),
            "",
            Err("apiEndpoints[0].name: \"nodes\" is the name of the internal endpoint kubeline adds for nodes when no endpoint is private; rename this endpoint, or make it private"),
        ),
        (
            "internal.<dnsName> must stay a DNS name",
            format!("apiEndpoints:\n  - {{name: public, dnsName: {long_dns}, loadBalancer: {ZONE}}}\n"),
            "",
            Err("apiEndpoints[0].dnsName: \"internal.aaaa"),
        ),
        (
            "internal.<dnsName> is taken by another endpoint",
            dup.to_owned(),
            "",
            Err("apiEndpoints[1].dnsName: internal.api.demo.example.com is the name kubeline gives the nodes' internal endpoint"),
        ),
    ];
    for (what, endpoints, subnets, want) in cases {
        let text = with(&format!("{endpoints}{subnets}"));
        match want {
            Ok(added) => {
                let (c, _) = accepted(&text);
                let nodes: Vec<_> = c
                    .api_endpoints
                    .iter()
                    .filter(|e| e.added_for_nodes)
                    .collect();
                let Some(a) = added else {
                    assert!(nodes.is_empty(), "{what}: {nodes:?}");
                    continue;
                };
                assert_eq!(nodes.len(), 1, "{what}: {:?}", c.api_endpoints);
                let e = c.api_endpoints.last().expect("endpoints");
                assert!(e.added_for_nodes, "{what}: the nodes endpoint comes last");
                assert!(!c.api_endpoints[0].added_for_nodes, "{what}");
                assert_eq!(e.name.as_str(), "nodes", "{what}");
                assert_eq!(e.logical_id, "Nodes", "{what}");
                assert_eq!(e.lb_name, "demo-nodes", "{what}");
                assert_eq!(e.dns_name.as_str(), a.dns, "{what}");
                assert_eq!(format!("{:?}", e.lb_type), a.lb_type, "{what}");
                assert!(e.private, "{what}");
                assert!(e.record_set_managed, "{what}");
                assert_eq!(e.hosted_zone_id.as_deref(), Some(a.zone), "{what}");
                assert!(e.api_access_allowed_source_cidrs.is_empty(), "{what}");
                let names: Vec<&str> = e
                    .subnets
                    .iter()
                    .map(|&i| c.subnets[i].name.as_str())
                    .collect();
                assert_eq!(names, a.subnets, "{what}");
                let zones: std::collections::BTreeSet<_> = e
                    .subnets
                    .iter()
                    .map(|&i| &c.subnets[i].availability_zone)
                    .collect();
                assert_eq!(zones.len(), e.subnets.len(), "{what}: one subnet per zone");
            }
            Err(part) => {
                let e = rejected(&text);
                assert!(e.contains(part), "{what}: {e}");
            }
        }
    }
}

/// A cluster.yaml with endpoints `public` and `vpn` (private), the last key `apiEndpoints`.
fn two_endpoints() -> String {
    [
        "clusterName: demo",
        "s3URI: s3://kubeline-assets",
        "region: eu-west-1",
        "availabilityZone: eu-west-1a",
        "kmsKeyArn: arn:aws:kms:eu-west-1:123456789012:key/k",
        "apiEndpoints:",
        "  - name: public",
        "    dnsName: api.demo.example.com",
        "    loadBalancer: {hostedZone: {id: Z0123456789ABCDEFGHIJ}}",
        "  - name: vpn",
        "    dnsName: vpn.demo.example.com",
        "    loadBalancer: {private: true, hostedZone: {id: Z0123456789ABCDEFGHIJ}}",
        "",
    ]
    .join("\n")
}

/// kube-aws's `adminAPIEndpointName` and `worker.apiEndpointName`: which endpoint the admin
/// kubeconfig and the workers use, table-driven `(keys, admin server, workers' server,
/// diagnostics)`.
#[test]
fn the_endpoint_name_keys_pick_the_admin_and_worker_endpoints() {
    let base = two_endpoints();
    // (cluster.yaml extra, (admin server, workers' server) or refused, a diagnostic).
    type Case<'a> = (&'a str, Option<(&'a str, &'a str)>, &'a str);
    let cases: [Case; 5] = [
        (
            "",
            Some(("api.demo.example.com", "https://vpn.demo.example.com")),
            "",
        ),
        (
            "adminAPIEndpointName: vpn\n",
            Some(("vpn.demo.example.com", "https://vpn.demo.example.com")),
            "",
        ),
        (
            "worker: {apiEndpointName: public}\n",
            Some(("api.demo.example.com", "https://api.demo.example.com")),
            "warning: worker.apiEndpointName: workers reach the public endpoint \"public\"",
        ),
        (
            "adminAPIEndpointName: pubilc\n",
            None,
            "adminAPIEndpointName: no API endpoint is named \"pubilc\"; did you mean `public`?",
        ),
        (
            "worker: {apiEndpointName: nowhere}\n",
            None,
            "worker.apiEndpointName: no API endpoint is named \"nowhere\"; use one of public, vpn",
        ),
    ];
    for (extra, want, diag) in cases {
        let loaded = validate::load(&format!("{base}{extra}"));
        let rendered = loaded.diagnostics.render("cluster.yaml");
        assert!(rendered.contains(diag), "{extra}: {rendered}");
        match (want, loaded.cluster) {
            (Some((admin, workers)), Some(c)) => {
                assert_eq!(c.admin_api_endpoint(), admin, "{extra}");
                assert_eq!(c.node_api_endpoint(), workers, "{extra}");
            }
            (None, None) => {}
            (want, got) => panic!(
                "{extra}: expected {want:?}, got {:?}\n{rendered}",
                got.is_some()
            ),
        }
    }
}

/// kube-aws's `worker.nodePools[].apiEndpointName`: a pool's kubelets use its own endpoint,
/// the workers' otherwise; its node-pool stack outputs the endpoint (the pipeline keeps it in
/// apiEndpoints while the pool runs on it). Table-driven `(worker keys, pool a's server,
/// pool b's server or refused, a diagnostic)`.
#[test]
fn a_pool_may_name_its_own_api_endpoint() {
    let base = format!(
        "{}  - name: batch\n    dnsName: batch.demo.example.com\n    loadBalancer: {{private: true, hostedZone: {{id: Z0123456789ABCDEFGHIJ}}}}\n",
        two_endpoints()
    );
    let vpn = "https://vpn.demo.example.com";
    let batch = "https://batch.demo.example.com";
    type Case<'a> = (&'a str, Option<(&'a str, &'a str)>, &'a str);
    let cases: [Case; 4] = [
        ("a: {apiEndpointName: batch}", Some((batch, vpn)), ""),
        ("a: {}, apiEndpointName: batch", Some((batch, batch)), ""),
        (
            "a: {apiEndpointName: public}",
            Some(("https://api.demo.example.com", vpn)),
            "warning: worker.nodePools[0].apiEndpointName: workers reach the public endpoint \"public\"",
        ),
        (
            "a: {apiEndpointName: bacth}",
            None,
            "worker.nodePools[0].apiEndpointName: no API endpoint is named \"bacth\"; did you mean `batch`?",
        ),
    ];
    for (keys, want, diag) in cases {
        // `a: {...}` is pool a's keys; anything after the first `}` goes on worker.
        let (a, worker) = keys.split_once('}').expect("pool a's keys");
        let a = a.trim_start_matches("a: {");
        let sep = if a.is_empty() { "" } else { ", " };
        let text = format!(
            "{base}worker:\n  nodePools:\n    - {{name: a{sep}{a}}}\n    - {{name: b}}\n{}",
            worker
                .trim_start_matches(", ")
                .split(", ")
                .filter(|s| !s.is_empty())
                .map(|s| format!("  {s}\n"))
                .collect::<String>()
        );
        let loaded = validate::load(&text);
        let report = loaded.diagnostics.render("cluster.yaml");
        assert!(report.contains(diag), "{keys}: {report}");
        match (want, loaded.cluster) {
            (Some((a, b)), Some(c)) => {
                assert_eq!(c.pool_api_endpoint(&c.node_pools[0]), a, "{keys}");
                assert_eq!(c.pool_api_endpoint(&c.node_pools[1]), b, "{keys}");
                let out =
                    kubeline_core::render::render(&c, &kubeline_core::render::Templates::builtin())
                        .expect("render");
                for (pool, server) in [("a", a), ("b", b)] {
                    let stack: serde_json::Value = serde_json::from_slice(
                        &out.files[&format!("stack-templates/node-pool-{pool}.json")],
                    )
                    .expect("json");
                    assert_eq!(
                        stack["Outputs"]["NodeApiEndpoint"]["Value"], server,
                        "{keys}"
                    );
                    let ign = String::from_utf8_lossy(
                        &out.files[&format!("userdata/worker-{pool}.json")],
                    )
                    .into_owned();
                    let names = |url: &str| {
                        ign.contains(url)
                            || ign.contains(&url.replace(':', "%3A").replace('/', "%2F"))
                    };
                    assert!(
                        names(server),
                        "{keys}: pool {pool}'s node config does not name {server}"
                    );
                    let other = if pool == "a" { b } else { a };
                    assert!(
                        other == server || !names(other),
                        "{keys}: pool {pool}'s node config names {other}"
                    );
                }
            }
            (None, None) => {}
            (want, got) => panic!(
                "{keys}: expected {want:?}, got {:?}\n{report}",
                got.is_some()
            ),
        }
    }
}

/// Endpoint names: kube-aws's camelCase names (`versionedPublic`) are taken as they are, in
/// the load balancer's name and the stack's logical IDs; names that would share a load
/// balancer name or logical ID are refused, table-driven `(names, diagnostic or accepted)`.
#[test]
fn endpoint_names_take_kube_aws_camel_case_and_never_collide() {
    let text = |names: &[&str]| {
        let eps: String = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                format!(
                    "  - name: {n}\n    dnsName: api{i}.demo.example.com\n    loadBalancer: {{private: true, hostedZone: {{id: Z0123456789ABCDEFGHIJ}}}}\n"
                )
            })
            .collect();
        with(&format!("apiEndpoints:\n{eps}"))
    };
    let cases: [(&[&str], Option<&str>); 7] = [
        (&["versionedPublic"], None),
        (&["versionedPublic", "internal"], None),
        (
            &["versioned-public", "versionedPublic"],
            Some(
                "apiEndpoints[1].name: endpoint name \"versionedPublic\" and apiEndpoints[0]'s \"versioned-public\" would name the same load balancer or CloudFormation resources (VersionedPublic)",
            ),
        ),
        (
            &["public", "Public"],
            Some("apiEndpoints[1].name: endpoint name \"Public\" and apiEndpoints[0]'s \"public\""),
        ),
        (
            &["public", "public"],
            Some("apiEndpoints[1].name: endpoint name \"public\" is used twice"),
        ),
        (
            &["1st"],
            Some("apiEndpoints[0].name: \"1st\" is not an endpoint name"),
        ),
        (
            &["with_underscore"],
            Some("apiEndpoints[0].name: \"with_underscore\" is not an endpoint name"),
        ),
    ];
    for (names, refusal) in cases {
        let t = text(names);
        match refusal {
            None => {
                let (c, _) = accepted(&t);
                let e = &c.api_endpoints[0];
                assert_eq!(e.name, names[0]);
                assert_eq!(e.lb_name, format!("demo-{}", names[0]), "{names:?}");
                let rendered =
                    kubeline_core::render::render(&c, &kubeline_core::render::Templates::builtin())
                        .expect("render");
                let cp: serde_json::Value =
                    serde_json::from_slice(&rendered.files["stack-templates/control-plane.json"])
                        .expect("JSON");
                let named: Vec<&str> = cp["Resources"]
                    .as_object()
                    .expect("resources")
                    .values()
                    .filter_map(|r| r["Properties"]["Name"].as_str())
                    .collect();
                assert!(
                    named.contains(&"demo-versionedPublic"),
                    "{names:?}: {named:?}"
                );
                assert!(
                    cp["Resources"]["VersionedPublicLoadBalancer"].is_object()
                        && cp["Outputs"]["VersionedPublicEndpoint"].is_object(),
                    "{names:?}: no VersionedPublic resources"
                );
            }
            Some(says) => {
                let d = rejected(&t);
                assert!(d.contains(says), "{names:?}: {says:?} not in\n{d}");
            }
        }
    }
}

/// A pool of another kubelet version cannot pass the cluster's `kubeletHash` (the checksum of
/// the cluster's version): it brings its own, which its node config then checks.
#[test]
fn a_pool_of_another_kubelet_version_brings_its_own_checksum() {
    const OWN: &str = "sha256:0c5f5e8ea0c3c2a2bf1dbc2cbd5b0d0e7c3e05f3b1e5b4bda0b68e4b8e7c9a11";
    let pool = |extra: &str| {
        with(&format!(
            "{ENDPOINT}kubernetesVersion: 1.33.3\nworker:\n  nodePools:\n    - name: old\n{extra}"
        ))
    };
    // (pool settings, error expected at, or the hash the pool's kubelet is checked with)
    let cases: [(String, Result<&str, &str>); 4] = [
        (
            "      kubernetesVersion: 1.32.7\n".into(),
            Err(
                "worker.nodePools[0].kubernetesVersion: kubelet 1.32.7 cannot pass kubernetesArtifacts.kubeletHash",
            ),
        ),
        (
            format!("      kubernetesVersion: 1.32.7\n      kubeletHash: {OWN}\n"),
            Ok("sha256-0c5f5e8e"),
        ),
        (
            format!("      kubeletHash: {OWN}\n"),
            Err("worker.nodePools[0].kubeletHash: this pool runs the cluster's kubelet 1.33.3"),
        ),
        (String::new(), Ok("sha256-37f9093e")),
    ];
    for (settings, want) in cases {
        let text = pool(&settings);
        match want {
            Err(at) => assert!(
                rejected(&text).contains(at),
                "{settings}: {}",
                rejected(&text)
            ),
            Ok(prefix) => {
                let (c, _) = accepted(&text);
                let hash = c.node_pools[0].kubelet_hash.as_deref().unwrap_or_default();
                assert!(hash.starts_with(prefix), "{settings}: {hash}");
            }
        }
    }
}
