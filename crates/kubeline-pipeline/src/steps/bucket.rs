//! The installation bucket as the steps use it: text and JSON records, credential folders, the
//! run's pinned cluster.yaml, and status.json written by the run that owns it.

use kubeline_aws::store::ObjectStore;
use kubeline_core::cluster::Cluster;
use kubeline_core::errors::ErrorName;
use kubeline_core::pipeline::{Phase, Status};
use kubeline_core::validate;
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::Run;
use crate::decide;
use crate::error::StepError;

pub(crate) const JSON: &str = "application/json";
pub(crate) const YAML: &str = "application/yaml";
/// Longest diagnostics text put into an error cause (Step Functions allows 32 KB).
const MAX_CAUSE: usize = 8_000;

/// Now, RFC 3339 (the one clock the steps read; decisions get it passed in).
pub(crate) fn timestamp() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// `s`, cut to what an error cause may carry.
pub(crate) fn clip(s: &str) -> String {
    if s.len() <= MAX_CAUSE {
        return s.to_owned();
    }
    let mut end = MAX_CAUSE;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}\n… (truncated)", &s[..end])
}

/// The object at `key` as text (`None`: it does not exist).
pub(crate) async fn get_text<S: ObjectStore>(
    store: &S,
    key: &str,
) -> Result<Option<String>, StepError> {
    get_text_version(store, key, None).await
}

/// Version `version` (the newest: `None`) of the object at `key` as text.
async fn get_text_version<S: ObjectStore>(
    store: &S,
    key: &str,
    version: Option<&str>,
) -> Result<Option<String>, StepError> {
    match store.get(key, version).await? {
        None => Ok(None),
        Some(o) => String::from_utf8(o.bytes).map(Some).map_err(|_| {
            StepError::new(
                ErrorName::RequestInvalid,
                format!("{key} is not UTF-8 text"),
            )
        }),
    }
}

/// The JSON record at `key`, if it exists and parses as `T`.
pub(crate) async fn get_json<S: ObjectStore, T: DeserializeOwned>(
    store: &S,
    key: &str,
) -> Result<Option<T>, StepError> {
    Ok(get_text(store, key)
        .await?
        .and_then(|t| serde_json::from_str(&t).ok()))
}

/// Writes `value` as JSON at `key`.
pub(crate) async fn put_json<S: ObjectStore, T: Serialize>(
    store: &S,
    key: &str,
    value: &T,
) -> Result<(), StepError> {
    let bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| StepError::new(ErrorName::Internal, format!("serialising {key}: {e}")))?;
    store.put(key, bytes, JSON).await?;
    Ok(())
}

/// The objects under `prefix` whose names (the rest of the key) `keep` accepts, by name, and
/// the names of those not stored with SSE-S3 (written before node objects were; a node role
/// cannot read them).
#[cfg(any(feature = "pki", feature = "render"))]
pub(crate) async fn read_prefix<S: ObjectStore>(
    store: &S,
    prefix: &str,
    keep: impl Fn(&str) -> bool,
) -> Result<
    (
        kubeline_core::credential_files::Files,
        std::collections::BTreeSet<String>,
    ),
    StepError,
> {
    let mut files = kubeline_core::credential_files::Files::new();
    let mut not_sse_s3 = std::collections::BTreeSet::new();
    for key in store.list(prefix).await? {
        let Some(name) = key.strip_prefix(prefix).filter(|n| keep(n)) else {
            continue;
        };
        if let Some(o) = store.get(&key, None).await? {
            if !o.sse_s3 {
                not_sse_s3.insert(name.to_owned());
            }
            files.insert(name.to_owned(), o.bytes);
        }
    }
    Ok((files, not_sse_s3))
}

/// The run's pinned cluster.yaml (copied into `runs/<id>/` by the start step).
pub(crate) async fn load_cluster<S: ObjectStore>(
    store: &S,
    run: &Run,
) -> Result<Cluster, StepError> {
    let key = run.records().config();
    let text = get_text(store, &key)
        .await?
        .ok_or_else(|| StepError::new(ErrorName::ConfigMissing, format!("{key} is missing")))?;
    validate::reload(&text).cluster.ok_or_else(|| {
        StepError::new(
            ErrorName::ConfigInvalid,
            format!("{key} no longer validates"),
        )
    })
}

/// A request a team uploaded (destroy.yaml, restore-etcd.yaml): the version the run is for
/// (the newest when the event named none), copied to the run's record `record` before
/// anything reads it. Gone: error `gone` (the request did nothing).
pub(crate) async fn take_request<S: ObjectStore>(
    store: &S,
    input: &super::StartInput,
    record: &str,
    gone: ErrorName,
    what: &str,
) -> Result<String, StepError> {
    let text = get_text_version(store, &input.key, input.version.as_deref())
        .await?
        .ok_or_else(|| StepError::new(gone, format!("{} is gone; nothing is {what}", input.key)))?;
    store.put(record, text.clone().into_bytes(), YAML).await?;
    Ok(text)
}

/// The cluster's status.json, if any.
pub(crate) async fn status_of<S: ObjectStore>(
    store: &S,
    cluster: &str,
) -> Result<Option<Status>, StepError> {
    get_json(
        store,
        &kubeline_core::pipeline::ClusterKeys::new(cluster).status(),
    )
    .await
}

/// Records `phase` (and whatever `edit` sets) in status.json for `run`, unless a newer run
/// owns it ([`decide::status::next`]); returns the status as it now stands.
pub(crate) async fn set_status<S: ObjectStore>(
    store: &S,
    run: &Run,
    phase: Phase,
    edit: impl FnOnce(&mut Status),
) -> Result<Status, StepError> {
    let previous = status_of(store, &run.cluster).await?;
    match decide::status::next(previous, &run.status_writer(), phase, &timestamp()) {
        decide::status::Next::NewerOwns(newer) => Ok(newer),
        decide::status::Next::Write(mut status) => {
            edit(&mut status);
            put_json(store, &run.keys().status(), &status).await?;
            Ok(status)
        }
    }
}
