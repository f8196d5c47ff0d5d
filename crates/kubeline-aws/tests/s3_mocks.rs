//! The S3 adapter's writes against aws-smithy-mocks: objects nodes read (node configs and
//! credentials) are sent with SSE-S3 (`x-amz-server-side-encryption: AES256`), everything else
//! without an encryption header, so it takes the bucket's SSE-KMS default. moto accepts both and
//! cannot show which one a node's role could read.

use aws_sdk_s3::Client;
use aws_sdk_s3::operation::put_object::{PutObjectInput, PutObjectOutput};
use aws_sdk_s3::types::ServerSideEncryption;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use kubeline_aws::store::{ASSET_TAG, ObjectStore, S3Store};

fn store(check: fn(&PutObjectInput) -> bool) -> S3Store {
    let rule = mock!(Client::put_object)
        .match_requests(check)
        .then_output(|| PutObjectOutput::builder().version_id("v1").build());
    // Any other request is refused, as S3 refuses what a bucket policy denies.
    let refuse = mock!(Client::put_object)
        .sequence()
        .http_status(
            403,
            Some("<Error><Code>AccessDenied</Code><Message>denied</Message></Error>".into()),
        )
        .repeatedly()
        .build();
    let client: Client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&rule, &refuse]);
    S3Store::new(client, "inst")
}

#[tokio::test]
async fn node_configs_are_written_sse_s3_and_tagged_as_assets() {
    let s = store(|r| {
        r.server_side_encryption() == Some(&ServerSideEncryption::Aes256)
            && r.tagging() == Some(ASSET_TAG)
            && r.key() == Some("clusters/a/userdata/etcd-0123456789abcdef.json")
    });
    let v = s
        .put_node_object(
            "clusters/a/userdata/etcd-0123456789abcdef.json",
            b"{}".to_vec(),
            "application/json",
            true,
        )
        .await
        .expect("the mock accepts only an SSE-S3, tagged write");
    assert_eq!(v.as_deref(), Some("v1"));
}

#[tokio::test]
async fn credentials_are_written_sse_s3_untagged() {
    let s = store(|r| {
        r.server_side_encryption() == Some(&ServerSideEncryption::Aes256) && r.tagging().is_none()
    });
    s.put_node_object(
        "clusters/a/credentials/ca.pem",
        b"pem".to_vec(),
        "application/x-pem-file",
        false,
    )
    .await
    .expect("SSE-S3, untagged");
}

#[tokio::test]
async fn other_objects_keep_the_bucket_default() {
    let s = store(|r| r.server_side_encryption().is_none());
    s.put("clusters/a/status.json", b"{}".to_vec(), "application/json")
        .await
        .expect("no encryption header: the bucket's SSE-KMS default applies");
    // Negative control: the same store refuses (the mock matches nothing) an SSE-S3 write.
    let strict = store(|r| r.server_side_encryption().is_none());
    assert!(
        strict
            .put_node_object("k", b"x".to_vec(), "text/plain", false)
            .await
            .is_err()
    );
}
