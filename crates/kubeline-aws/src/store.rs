//! The object store port (the installation bucket) and its S3 adapter.

use std::future::Future;

use crate::error::AwsError;

/// An object as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// Content.
    pub bytes: Vec<u8>,
    /// Version id (versioned buckets).
    pub version: Option<String>,
    /// Stored with SSE-S3 (readable by a node role without any KMS right), as
    /// [`ObjectStore::put_node_object`] writes; objects written before that are SSE-KMS.
    pub sse_s3: bool,
}

/// The tag of objects nodes read (node configs; URL-encoded tag set), matched by the bucket's
/// lifecycle rule that expires their overwritten versions (the current one stays: nodes that
/// boot later read it).
pub const ASSET_TAG: &str = "kubeline-lifecycle=asset";

/// The tag of a run's rendered files under `clusters/<name>/assets/<hash>/`, which only the
/// run that rendered them reads: the bucket's lifecycle rule expires them after
/// `RenderedAssetRetentionDays` (longer than a run may last), so they do not pile up.
pub const RENDERED_ASSET_TAG: &str = "kubeline-lifecycle=rendered-asset";

/// The installation bucket.
pub trait ObjectStore: Send + Sync {
    /// Reads `key` (a given `version`, or the latest); `None` when it does not exist.
    fn get(
        &self,
        key: &str,
        version: Option<&str>,
    ) -> impl Future<Output = Result<Option<Object>, AwsError>> + Send;
    /// Writes `key`; returns the new version id, if the bucket is versioned.
    fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> impl Future<Output = Result<Option<String>, AwsError>> + Send;
    /// Writes a run's rendered file: like [`ObjectStore::put`], tagged [`RENDERED_ASSET_TAG`]
    /// so the bucket's lifecycle rule expires it once no run can need it (audit records are
    /// never tagged).
    fn put_asset(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> impl Future<Output = Result<Option<String>, AwsError>> + Send {
        self.put(key, bytes, content_type)
    }
    /// Writes an object that nodes read with their instance role (node configs, credentials):
    /// like [`ObjectStore::put`] (tagged as an asset when `asset`), but encrypted with SSE-S3
    /// instead of the bucket's default SSE-KMS key, so a node's GetObject needs no KMS right on
    /// the installation key. Secrets among them are kubeline envelopes (KMS data key bound to
    /// `{cluster, asset}`) and node configs hold no secret; see docs/node-boot.md.
    fn put_node_object(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
        asset: bool,
    ) -> impl Future<Output = Result<Option<String>, AwsError>> + Send {
        async move {
            if asset {
                self.put_asset(key, bytes, content_type).await
            } else {
                self.put(key, bytes, content_type).await
            }
        }
    }
    /// Writes `key` with object tags (`(key, value)` pairs): a request whose tags the bucket
    /// policy checks, such as an approval file's writer tag.
    fn put_with_tags(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
        tags: &[(&str, &str)],
    ) -> impl Future<Output = Result<Option<String>, AwsError>> + Send;
    /// The object tags of `key` (a given `version`, or the latest); empty when it has none.
    fn tags(
        &self,
        key: &str,
        version: Option<&str>,
    ) -> impl Future<Output = Result<Vec<(String, String)>, AwsError>> + Send;
    /// Every key under `prefix`, sorted.
    fn list(&self, prefix: &str) -> impl Future<Output = Result<Vec<String>, AwsError>> + Send;
    /// Deletes `key` (no error when absent).
    fn delete(&self, key: &str) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Writes `key` only if no object has that key: `true` when written, `false` when one
    /// exists (S3's conditional write, `If-None-Match: *`). The in-memory default is not atomic.
    fn put_if_absent(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> impl Future<Output = Result<bool, AwsError>> + Send {
        async move {
            if self.get(key, None).await?.is_some() {
                return Ok(false);
            }
            self.put(key, bytes, content_type).await?;
            Ok(true)
        }
    }
    /// The "folders" directly under `prefix` (`clusters/` → `clusters/a/`, `clusters/b/`), from
    /// a listing with the `/` delimiter: its cost grows with the folders, not with what is in
    /// them.
    fn list_folders(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<String>, AwsError>> + Send {
        async move {
            let mut out: Vec<String> = self
                .list(prefix)
                .await?
                .iter()
                .filter_map(|k| {
                    let rest = k.strip_prefix(prefix)?;
                    let (folder, _) = rest.split_once('/')?;
                    Some(format!("{prefix}{folder}/"))
                })
                .collect();
            out.dedup();
            Ok(out)
        }
    }
    /// The first key under `prefix`, if any (one short listing, whatever lies under it).
    fn first_key(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Option<String>, AwsError>> + Send {
        async move { Ok(self.list(prefix).await?.into_iter().next()) }
    }
}

#[cfg(feature = "s3")]
pub use self::s3::S3Store;

#[cfg(feature = "s3")]
mod s3 {
    use aws_sdk_s3::Client;
    use aws_sdk_s3::primitives::ByteStream;
    use aws_sdk_s3::types::ServerSideEncryption;

    use super::{Object, ObjectStore};
    use crate::error::{AwsError, classify};

    /// [`ObjectStore`] over aws-sdk-s3, for one bucket.
    #[derive(Debug, Clone)]
    pub struct S3Store {
        client: Client,
        bucket: String,
    }

    impl S3Store {
        /// The store of `bucket`.
        pub fn new(client: Client, bucket: impl Into<String>) -> S3Store {
            S3Store {
                client,
                bucket: bucket.into(),
            }
        }
        async fn put_tagged(
            &self,
            key: &str,
            bytes: Vec<u8>,
            content_type: &str,
            tagging: Option<&str>,
            sse: Option<ServerSideEncryption>,
        ) -> Result<Option<String>, AwsError> {
            let out = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .content_type(content_type)
                .set_tagging(tagging.map(str::to_owned))
                .set_server_side_encryption(sse)
                .body(ByteStream::from(bytes))
                .send()
                .await
                .map_err(|e| classify("S3", &e))?;
            Ok(out.version_id().map(str::to_owned))
        }

        /// Every key under `prefix` and, with a `delimiter`, the common prefixes ("folders")
        /// it groups keys into, both sorted, over every page (the SDK's paginator).
        async fn listing(
            &self,
            prefix: &str,
            delimiter: Option<&str>,
        ) -> Result<(Vec<String>, Vec<String>), AwsError> {
            let mut pages = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_delimiter(delimiter.map(str::to_owned))
                .into_paginator()
                .send();
            let (mut keys, mut folders) = (Vec::new(), Vec::new());
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| classify("S3", &e))?;
                keys.extend(
                    page.contents()
                        .iter()
                        .filter_map(|o| o.key().map(str::to_owned)),
                );
                folders.extend(
                    page.common_prefixes()
                        .iter()
                        .filter_map(|p| p.prefix().map(str::to_owned)),
                );
            }
            keys.sort();
            folders.sort();
            Ok((keys, folders))
        }
    }

    /// A tag set as S3's `x-amz-tagging` header takes it: URL query parameters, each key and
    /// value percent-encoded.
    pub(super) fn tagging(tags: &[(&str, &str)]) -> String {
        use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
        tags.iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    utf8_percent_encode(k, NON_ALPHANUMERIC),
                    utf8_percent_encode(v, NON_ALPHANUMERIC)
                )
            })
            .collect::<Vec<_>>()
            .join("&")
    }

    impl ObjectStore for S3Store {
        async fn get(&self, key: &str, version: Option<&str>) -> Result<Option<Object>, AwsError> {
            let out = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .set_version_id(version.map(str::to_owned))
                .send()
                .await;
            match out {
                Ok(o) => {
                    let version = o.version_id().map(str::to_owned);
                    let sse_s3 = o.server_side_encryption() == Some(&ServerSideEncryption::Aes256);
                    let bytes = o.body.collect().await.map_err(|e| AwsError::Unavailable {
                        service: "S3",
                        message: format!("reading s3://{}/{key}: {e}", self.bucket),
                    })?;
                    Ok(Some(Object {
                        bytes: bytes.to_vec(),
                        version,
                        sse_s3,
                    }))
                }
                Err(e) => {
                    let err = classify("S3", &e);
                    if matches!(err.code(), Some("NoSuchKey" | "NoSuchVersion" | "NotFound")) {
                        Ok(None)
                    } else {
                        Err(err)
                    }
                }
            }
        }

        async fn put(
            &self,
            key: &str,
            bytes: Vec<u8>,
            content_type: &str,
        ) -> Result<Option<String>, AwsError> {
            self.put_tagged(key, bytes, content_type, None, None).await
        }

        async fn put_with_tags(
            &self,
            key: &str,
            bytes: Vec<u8>,
            content_type: &str,
            tags: &[(&str, &str)],
        ) -> Result<Option<String>, AwsError> {
            let tagging = tagging(tags);
            self.put_tagged(key, bytes, content_type, Some(&tagging), None)
                .await
        }

        async fn tags(
            &self,
            key: &str,
            version: Option<&str>,
        ) -> Result<Vec<(String, String)>, AwsError> {
            let out = self
                .client
                .get_object_tagging()
                .bucket(&self.bucket)
                .key(key)
                .set_version_id(version.map(str::to_owned))
                .send()
                .await
                .map_err(|e| classify("S3", &e))?;
            Ok(out
                .tag_set()
                .iter()
                .map(|t| (t.key().to_owned(), t.value().to_owned()))
                .collect())
        }

        async fn put_asset(
            &self,
            key: &str,
            bytes: Vec<u8>,
            content_type: &str,
        ) -> Result<Option<String>, AwsError> {
            self.put_tagged(
                key,
                bytes,
                content_type,
                Some(super::RENDERED_ASSET_TAG),
                None,
            )
            .await
        }

        async fn put_node_object(
            &self,
            key: &str,
            bytes: Vec<u8>,
            content_type: &str,
            asset: bool,
        ) -> Result<Option<String>, AwsError> {
            let tag = asset.then_some(super::ASSET_TAG);
            self.put_tagged(
                key,
                bytes,
                content_type,
                tag,
                Some(ServerSideEncryption::Aes256),
            )
            .await
        }

        async fn put_if_absent(
            &self,
            key: &str,
            bytes: Vec<u8>,
            content_type: &str,
        ) -> Result<bool, AwsError> {
            let out = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .content_type(content_type)
                .if_none_match("*")
                .body(ByteStream::from(bytes))
                .send()
                .await;
            match out {
                Ok(_) => Ok(true),
                Err(e) => match classify("S3", &e) {
                    AwsError::Invalid { code, .. } if code == "PreconditionFailed" => Ok(false),
                    // A concurrent conditional write to the key: S3 asks to retry.
                    AwsError::Invalid { code, message, .. }
                        if code == "ConditionalRequestConflict" =>
                    {
                        Err(AwsError::Unavailable {
                            service: "S3",
                            message,
                        })
                    }
                    other => Err(other),
                },
            }
        }

        async fn list_folders(&self, prefix: &str) -> Result<Vec<String>, AwsError> {
            Ok(self.listing(prefix, Some("/")).await?.1)
        }

        async fn first_key(&self, prefix: &str) -> Result<Option<String>, AwsError> {
            let out = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .max_keys(1)
                .send()
                .await
                .map_err(|e| classify("S3", &e))?;
            Ok(out
                .contents()
                .first()
                .and_then(|o| o.key())
                .map(str::to_owned))
        }

        async fn list(&self, prefix: &str) -> Result<Vec<String>, AwsError> {
            Ok(self.listing(prefix, None).await?.0)
        }

        async fn delete(&self, key: &str) -> Result<(), AwsError> {
            self.client
                .delete_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| classify("S3", &e))?;
            Ok(())
        }
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn tag_sets_are_percent_encoded_query_parameters() {
            assert_eq!(
                super::tagging(&[("kubeline.io/approver", "AROAEXAMPLE:alice@example.com")]),
                "kubeline%2Eio%2Fapprover=AROAEXAMPLE%3Aalice%40example%2Ecom"
            );
            assert_eq!(super::tagging(&[("a", "1"), ("b", "x y")]), "a=1&b=x%20y");
            assert_eq!(super::tagging(&[]), "");
        }
    }
}
