//! `kubeline init`: a commented cluster.yaml from kube-aws's init flags.

use minijinja::{AutoEscape, Environment};
use serde::Serialize;

/// kube-aws's `init` flags.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InitOptions {
    /// `--cluster-name`
    pub cluster_name: String,
    /// `--region`
    pub region: String,
    /// `--availability-zone`
    pub availability_zone: String,
    /// `--external-dns-name`
    pub external_dns_name: String,
    /// `--kms-key-arn`
    pub kms_key_arn: String,
    /// `--s3-uri`
    pub s3_uri: String,
    /// `--key-name`
    pub key_name: Option<String>,
    /// `--hosted-zone-id`
    pub hosted_zone_id: Option<String>,
    /// `--no-record-set`
    pub no_record_set: bool,
}

/// The cluster.yaml text for the options. Values are quoted as YAML scalars where needed.
pub fn cluster_yaml(opts: &InitOptions) -> String {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::None);
    let src = include_str!("../templates/init/cluster.yaml.j2");
    // Every interpolated value goes through yaml_scalar so flags cannot inject YAML.
    let quoted = InitOptions {
        cluster_name: yaml_scalar(&opts.cluster_name),
        region: yaml_scalar(&opts.region),
        availability_zone: yaml_scalar(&opts.availability_zone),
        external_dns_name: yaml_scalar(&opts.external_dns_name),
        kms_key_arn: yaml_scalar(&opts.kms_key_arn),
        s3_uri: yaml_scalar(&opts.s3_uri),
        key_name: opts.key_name.as_deref().map(yaml_scalar),
        hosted_zone_id: opts.hosted_zone_id.as_deref().map(yaml_scalar),
        no_record_set: opts.no_record_set,
    };
    let ctx = serde_json::json!({
        "kubernetes_version": crate::model::DEFAULT_KUBERNETES_VERSION,
        "cluster_name": quoted.cluster_name,
        "region": quoted.region,
        "availability_zone": quoted.availability_zone,
        "external_dns_name": quoted.external_dns_name,
        "kms_key_arn": quoted.kms_key_arn,
        "s3_uri": quoted.s3_uri,
        "key_name": quoted.key_name,
        "hosted_zone_id": quoted.hosted_zone_id,
        "no_record_set": quoted.no_record_set,
        "internal_dns_name": yaml_scalar(&format!(
            "{}{}",
            crate::cluster::NODES_DNS_PREFIX,
            opts.external_dns_name
        )),
    });
    env.render_str(src, minijinja::value::Serde(&ctx))
        .unwrap_or_else(|e| format!("# kubeline init failed to render: {e}\n"))
}

/// `s` as a YAML scalar: plain when safe, else double-quoted JSON (a YAML subset).
fn yaml_scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':'))
        && !s.starts_with(['-', ':', '.'])
        && !s.contains(": ")
        && !matches!(s, "true" | "false" | "null" | "~")
        && s.parse::<f64>().is_err();
    if plain {
        s.to_owned()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}
