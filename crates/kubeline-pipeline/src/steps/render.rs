//! Render: stacks and node configs from the pinned cluster.yaml and the stored credentials;
//! node configs are uploaded content-addressed, templates under `assets/<content-hash>/`.

use kubeline_aws::store::ObjectStore;
use kubeline_core::credential_files::SA_JWKS;
use kubeline_core::errors::ErrorName;
use kubeline_core::render::{self, Templates};
use kubeline_core::types::Region;
use sha2::{Digest, Sha256};

use super::bucket::{JSON, load_cluster, put_json, read_prefix};
use super::{RenderOutput, RenderedStack, Run};
use crate::error::StepError;

/// Step 3: renders stacks and node configs; uploads node configs (content-addressed) and the
/// stack templates under `assets/<content-hash>/`.
/// `bucket_region` is the installation bucket's region (the function's), where the
/// service-account issuer is served from.
pub async fn render<S: ObjectStore>(
    store: &S,
    run: &Run,
    bucket_region: Option<&Region>,
) -> Result<RenderOutput, StepError> {
    let cluster = load_cluster(store, run).await?;
    // Public certificates and the secrets' fingerprints: never a secret.
    let (stored, _) = read_prefix(store, &run.keys().credentials(), |name| {
        !name.ends_with(kubeline_core::envelope::ENC_SUFFIX)
    })
    .await?;
    let inputs = render::Inputs {
        credentials_generation: render::credentials_generation(&stored),
        bucket_region: bucket_region.cloned(),
        service_account_jwks: stored
            .get(SA_JWKS)
            .and_then(|b| String::from_utf8(b.clone()).ok()),
    };
    let rendered = render::render_with(&cluster, &Templates::builtin(), &inputs)
        .map_err(|e| StepError::new(ErrorName::TemplateInvalid, e.to_string()))?;
    if rendered.has_limit_errors() {
        let msgs: Vec<String> = rendered
            .limits
            .iter()
            .filter(|l| l.error)
            .map(|l| format!("{}: {}", l.file, l.message))
            .collect();
        return Err(StepError::new(ErrorName::TemplateInvalid, msgs.join("\n")));
    }
    let mut hasher = Sha256::new();
    for (name, bytes) in &rendered.files {
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(bytes);
    }
    let hash = hex::encode(&hasher.finalize()[..8]);
    let assets = run.keys().assets(&hash);
    for up in &rendered.uploads {
        if let Some(bytes) = rendered.files.get(&up.file) {
            store
                .put_node_object(&up.key, bytes.clone(), JSON, true)
                .await?;
        }
    }
    // The service-account issuer's documents: SSE-S3 (anonymous readers cannot use KMS), no
    // asset tag (they never expire), at the two keys the bucket policy lets anyone read.
    for up in &rendered.published {
        if let Some(bytes) = rendered.files.get(&up.file) {
            store
                .put_node_object(&up.key, bytes.clone(), JSON, false)
                .await?;
        }
    }
    for (name, bytes) in &rendered.files {
        if !name.starts_with("userdata/") && !name.starts_with("oidc/") {
            store
                .put_asset(&format!("{assets}{name}"), bytes.clone(), JSON)
                .await?;
        }
    }
    // The add-on set, from the manifest just rendered (the plan compares it with the deployed).
    #[derive(serde::Deserialize)]
    struct Manifest {
        #[serde(default)]
        addons: Vec<kubeline_core::pipeline::AddonVersion>,
    }
    let addons = rendered
        .files
        .get("manifest.json")
        .and_then(|m| serde_json::from_slice::<Manifest>(m).ok())
        .map(|m| m.addons)
        .unwrap_or_default();
    let out = RenderOutput {
        addons,
        stacks: rendered
            .stacks
            .iter()
            .map(|s| RenderedStack {
                name: s.name.clone(),
                template_key: format!("{assets}stack-templates/{}", s.template),
                depends_on: s.depends_on.clone(),
                tags: s.tags.clone(),
                needs_template_url: s.needs_template_url,
                rollout_wave: s.rollout_wave,
                parameters: s.parameters.clone(),
            })
            .collect(),
        assets,
    };
    put_json(store, &run.records().render(), &out).await?;
    Ok(out)
}
