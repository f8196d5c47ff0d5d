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
