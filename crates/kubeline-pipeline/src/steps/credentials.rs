//! Credentials: brings the cluster's PKI, tokens and encryption key up to date in the bucket,
//! sealed with KMS.

use kubeline_aws::kms::Kms;
use kubeline_aws::sealed;
use kubeline_aws::store::ObjectStore;
use kubeline_core::pipeline::{CertificateSummary, Phase};
use kubeline_core::reconcile::{self, CaSource, Change, Options};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::Run;
use super::bucket::{load_cluster, read_prefix, set_status};
use crate::error::StepError;

/// What [`credentials`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsOutput {
    /// Files created.
    pub created: usize,
    /// Certificates reissued.
    pub reissued: usize,
    /// Files kept.
    pub unchanged: usize,
    /// Objects written to the bucket.
    pub objects_written: usize,
    /// What the reconciler noted (no secrets).
    pub notes: Vec<String>,
}

/// Step 2 (certificates expiring within `renew_within_days` are renewed): brings the
/// cluster's credentials up to date in the bucket (sealed with KMS).
pub async fn credentials<S: ObjectStore, K: Kms>(
    store: &S,
    kms: &K,
    run: &Run,
    renew_within_days: u32,
) -> Result<CredentialsOutput, StepError> {
    let cluster = load_cluster(store, run).await?;
    let prefix = run.keys().credentials();
    let (stored, not_sse_s3) = read_prefix(store, &prefix, |_| true).await?;
    let plain = sealed::open(kms, &run.cluster, &stored).await?;
    let opts = Options {
        now: OffsetDateTime::now_utc(),
        renew_within_days,
    };
    let outcome = reconcile::reconcile(&cluster, &plain, CaSource::Generate, &opts)
        .map_err(|e| StepError::new(e.name(), format!("{e}; {}", e.fix())))?;
    let key_id = cluster.kms_key_arn.to_string();
    let sealed_now = sealed::seal(kms, &key_id, &run.cluster, &outcome.files, &stored).await?;
    let mut written = 0;
    for (name, bytes) in &sealed_now {
        // Unchanged files are rewritten (same bytes) only when stored before node objects
        // were SSE-S3, so nodes of existing clusters can read them; nothing else changes.
        if stored.get(name) != Some(bytes) || not_sse_s3.contains(name) {
            let content_type = if name.ends_with(".pem") {
                "application/x-pem-file"
            } else {
                "application/octet-stream"
            };
            store
                .put_node_object(
                    &format!("{prefix}{name}"),
                    bytes.clone(),
                    content_type,
                    false,
                )
                .await?;
            written += 1;
        }
    }
    for name in stored.keys().filter(|n| !sealed_now.contains_key(*n)) {
        store.delete(&format!("{prefix}{name}")).await?;
    }
    let summary =
        reconcile::earliest_certificate(&outcome.files).map(|(file, c)| CertificateSummary {
            file,
            not_after: c.not_after.format(&Rfc3339).unwrap_or_default(),
            days_left: c.days_left(opts.now),
        });
    set_status(store, run, Phase::Preparing, |s| {
        s.certificates = summary.clone()
    })
    .await?;
    let count = |f: fn(&Change) -> bool| outcome.entries.iter().filter(|e| f(&e.change)).count();
    Ok(CredentialsOutput {
        created: count(|c| matches!(c, Change::Created)),
        reissued: count(|c| matches!(c, Change::Replaced(_))),
        unchanged: count(|c| matches!(c, Change::Unchanged)),
        objects_written: written,
        notes: outcome.notes.clone(),
    })
}
