//! What a render produces: the output types, CloudFormation's and EC2's size limits, canonical
//! JSON, and the builder that stores stacks and node configs and checks their limits.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha512};

use super::ignition;
use crate::cluster::Cluster;
use crate::layout::{self, NodeGroup};

/// CloudFormation's limit for a template passed in the request body.
pub const TEMPLATE_BODY_LIMIT: usize = 51_200;
/// CloudFormation's limit for a template passed by S3 URL.
pub const TEMPLATE_URL_LIMIT: usize = 1_000_000;
/// EC2's limit for userdata (before base64).
pub const USERDATA_LIMIT: usize = 16 * 1024;
/// CloudFormation's limit of resources per template.
pub const RESOURCE_LIMIT: usize = 500;

/// A finding about the rendered output's size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LimitFinding {
    /// True when the output cannot be deployed.
    pub error: bool,
    /// The file concerned.
    pub file: String,
    /// What was measured and what it means.
    pub message: String,
}

/// A stack to deploy, in dependency order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StackPlan {
    /// Stack name.
    pub name: String,
    /// Template file under `stack-templates/`.
    pub template: String,
    /// Stacks whose exports it imports.
    pub depends_on: Vec<String>,
    /// Stack tags.
    pub tags: BTreeMap<String, String>,
    /// Template size in bytes.
    pub size: usize,
    /// Must be passed by S3 URL (over 51,200 bytes).
    pub needs_template_url: bool,
    /// A node pool's rollout wave (`worker.nodePoolRollingStrategy`): the pool's change set
    /// executes only once every pool of an earlier wave has settled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout_wave: Option<u32>,
    /// The [`crate::pipeline::PIPELINE_PARAMETERS`] its template declares.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<String>,
}

/// A file that must be uploaded to S3 before the stacks are applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Upload {
    /// File in the rendered output.
    pub file: String,
    /// Destination key in the cluster's bucket.
    pub key: String,
    /// SHA-512 of the content (hex).
    pub sha512: String,
}

/// Everything rendered for a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Output files by relative path (`stack-templates/network.json`, `userdata/etcd.json`, ...).
    pub files: BTreeMap<String, Vec<u8>>,
    /// Stacks in apply order.
    pub stacks: Vec<StackPlan>,
    /// Node configs to upload.
    pub uploads: Vec<Upload>,
    /// The service-account issuer's documents, published for anyone to read (never an asset
    /// that expires; [`crate::oidc`]).
    pub published: Vec<Upload>,
    /// Size findings.
    pub limits: Vec<LimitFinding>,
}

impl Rendered {
    /// Is any size limit exceeded?
    pub fn has_limit_errors(&self) -> bool {
        self.limits.iter().any(|l| l.error)
    }
}

/// `v` with every object's keys in sorted order, whatever order serde_json keeps (its
/// `preserve_order` feature is switched on by other crates in some builds).
fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let keys: BTreeMap<&String, Value> = m.iter().map(|(k, v)| (k, sorted(v))).collect();
            Value::Object(keys.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// Canonical JSON: sorted keys, two-space indent, trailing newline.
pub fn canonical_json(v: &Value) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(&sorted(v)).unwrap_or_default();
    out.push(b'\n');
    out
}

/// Compact canonical JSON: sorted keys, no whitespace (for size-limited places like userdata).
pub fn compact_canonical_json(v: &Value) -> Vec<u8> {
    serde_json::to_vec(&sorted(v)).unwrap_or_default()
}

/// SHA-512 of `bytes` as lower-case hex.
pub fn sha512_hex(bytes: &[u8]) -> String {
    hex::encode(Sha512::digest(bytes))
}

/// What rendering produces, gathered as it goes.
#[derive(Default)]
pub(super) struct Output {
    pub(super) files: BTreeMap<String, Vec<u8>>,
    pub(super) stacks: Vec<StackPlan>,
    pub(super) uploads: Vec<Upload>,
    pub(super) published: Vec<Upload>,
    pub(super) limits: Vec<LimitFinding>,
}

impl Output {
    fn limit(&mut self, error: bool, file: &str, message: String) {
        self.limits.push(LimitFinding {
            error,
            file: file.to_owned(),
            message,
        });
    }

    /// Stores a full node config (content-addressed in S3) and returns the base64 userdata
    /// stub that replaces itself with it.
    pub(super) fn node_config(&mut self, c: &Cluster, group: NodeGroup<'_>, ign: &Value) -> String {
        let bytes = canonical_json(ign);
        let hash = sha512_hex(&bytes);
        let key = layout::userdata_key(c, &group.file_stem(), &hash);
        let file = format!("userdata/{}.json", group.file_stem());
        self.files.insert(file.clone(), bytes);
        let stub = compact_canonical_json(&ignition::stub(
            &format!("s3://{}/{key}", c.s3.bucket),
            &hash,
        ));
        if stub.len() > USERDATA_LIMIT {
            let msg = format!(
                "userdata stub is {} bytes; EC2 allows {USERDATA_LIMIT}",
                stub.len()
            );
            self.limit(true, &file, msg);
        }
        self.uploads.push(Upload {
            file,
            key,
            sha512: hash,
        });
        ignition::base64(&stub)
    }

    /// Stores a stack template, checks its limits and records it in apply order.
    /// Stores a document the bucket publishes (the service-account issuer's) under `file`.
    pub(super) fn publish(&mut self, file: &str, key: &str, bytes: Vec<u8>) {
        self.published.push(Upload {
            file: file.into(),
            key: key.into(),
            sha512: sha512_hex(&bytes),
        });
        self.files.insert(file.into(), bytes);
    }

    pub(super) fn stack(
        &mut self,
        c: &Cluster,
        part: &str,
        value: &Value,
        depends_on: Vec<String>,
    ) {
        let bytes = canonical_json(value);
        let file = format!("stack-templates/{part}.json");
        let size = bytes.len();
        let resources = value["Resources"].as_object().map_or(0, |m| m.len());
        if size > TEMPLATE_URL_LIMIT {
            let msg = format!(
                "{size} bytes; CloudFormation accepts at most {TEMPLATE_URL_LIMIT} even by S3 URL"
            );
            self.limit(true, &file, msg);
        } else if size > TEMPLATE_BODY_LIMIT {
            let msg = format!(
                "{size} bytes is over the {TEMPLATE_BODY_LIMIT}-byte TemplateBody limit, so it is uploaded to S3 and passed by TemplateURL"
            );
            self.limit(false, &file, msg);
        }
        if resources > RESOURCE_LIMIT {
            let msg =
                format!("{resources} resources; CloudFormation allows {RESOURCE_LIMIT} per stack");
            self.limit(true, &file, msg);
        }
        self.files.insert(file, bytes);
        let mut tags = c.stack_tags.clone();
        tags.insert("kubeline.io/cluster".into(), c.name.to_string());
        tags.insert("kubeline.io/stack".into(), part.to_owned());
        self.stacks.push(StackPlan {
            name: c.stack_name(part),
            template: format!("{part}.json"),
            depends_on,
            tags,
            size,
            needs_template_url: size > TEMPLATE_BODY_LIMIT,
            rollout_wave: None,
            parameters: crate::pipeline::PIPELINE_PARAMETERS
                .iter()
                .filter(|p| value["Parameters"].get(**p).is_some())
                .map(|p| (*p).to_owned())
                .collect(),
        });
    }
}
