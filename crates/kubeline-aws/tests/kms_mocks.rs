//! The KMS adapter against aws-smithy-mocks: the requests it sends (key, AES-256, encryption
//! context), throttling retried by the SDK then success, and what moto cannot show: persistent
//! throttling, a disabled key, access denied, a wrong ciphertext, KMS internal errors, each
//! mapped to its stable error name.

use std::time::Duration;

use aws_sdk_kms::Client;
use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::operation::decrypt::DecryptOutput;
use aws_sdk_kms::operation::generate_data_key::GenerateDataKeyOutput;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use kubeline_aws::kms::{AwsKms, Kms, KmsError};
use kubeline_core::envelope::Context;

const KEY: &str = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn client(rules: &[&Rule]) -> AwsKms {
    let client: Client = match rules {
        [a] => mock_client!(aws_sdk_kms, RuleMode::Sequential, [*a], |c| c
            .retry_config(fast_retries())),
        [a, b] => mock_client!(aws_sdk_kms, RuleMode::Sequential, [*a, *b], |c| c
            .retry_config(fast_retries())),
        _ => unreachable!("tests use one or two rules"),
    };
    AwsKms::new(client)
}

fn fast_retries() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(1))
}

fn error_body(kind: &str, message: &str) -> Option<String> {
    Some(format!(r#"{{"__type":"{kind}","message":"{message}"}}"#))
}

/// A rule answering every call with the error `kind` (HTTP `status`).
fn always_failing_generate(status: u16, kind: &str, message: &str) -> Rule {
    mock!(Client::generate_data_key)
        .sequence()
        .http_status(status, error_body(kind, message))
        .repeatedly()
        .build()
}

fn context() -> Context {
    Context::new("demo", "etcd-key.pem")
}

fn data_key_output() -> GenerateDataKeyOutput {
    GenerateDataKeyOutput::builder()
        .key_id(KEY)
        .plaintext(Blob::new(vec![9u8; 32]))
        .ciphertext_blob(Blob::new(b"encrypted-data-key".to_vec()))
        .build()
}

#[tokio::test]
async fn generate_data_key_sends_key_spec_and_context() {
    let rule = mock!(Client::generate_data_key)
        .match_requests(|r| {
            let ctx = r.encryption_context().cloned().unwrap_or_default();
            r.key_id() == Some(KEY)
                && r.key_spec() == Some(&DataKeySpec::Aes256)
                && ctx.get("cluster").map(String::as_str) == Some("demo")
                && ctx.get("asset").map(String::as_str) == Some("etcd-key.pem")
                && ctx.len() == 2
        })
        .then_output(data_key_output);
    let kms = client(&[&rule]);
    let dk = kms
        .generate_data_key(KEY, &context())
        .await
        .expect("data key");
    assert_eq!(dk.plaintext.as_slice(), &[9u8; 32]);
    assert_eq!(dk.ciphertext, b"encrypted-data-key");
    assert_eq!(dk.key_id, KEY);
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn throttling_is_retried_then_succeeds() {
    let rule = mock!(Client::generate_data_key)
        .sequence()
        .http_status(400, error_body("ThrottlingException", "Rate exceeded"))
        .times(2)
        .output(data_key_output)
        .build();
    let kms = client(&[&rule]);
    kms.generate_data_key(KEY, &context())
        .await
        .expect("third attempt succeeds");
    assert_eq!(rule.num_calls(), 3);
}

#[tokio::test]
async fn persistent_throttling_is_reported_as_throttled() {
    let rule = always_failing_generate(400, "ThrottlingException", "Rate exceeded");
    let kms = client(&[&rule]);
    let err = kms
        .generate_data_key(KEY, &context())
        .await
        .expect_err("throttled");
    assert!(matches!(err, KmsError::Throttled(_)), "{err:?}");
    assert_eq!(err.name().as_str(), "Throttled");
    assert!(err.is_transient());
    assert_eq!(rule.num_calls(), 3, "the SDK's three attempts");
}

#[tokio::test]
async fn a_disabled_key_is_not_retried_and_says_how_to_fix() {
    let rule = always_failing_generate(400, "DisabledException", "is disabled.");
    let kms = client(&[&rule]);
    let err = kms
        .generate_data_key(KEY, &context())
        .await
        .expect_err("disabled");
    assert_eq!(err.name().as_str(), "KmsKeyDisabled");
    assert!(!err.is_transient());
    assert!(err.to_string().contains("enable-key"), "{err}");
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn access_denied_names_the_key_and_the_permissions() {
    let rule = mock!(Client::decrypt)
        .sequence()
        .http_status(
            400,
            error_body(
                "AccessDeniedException",
                "User: arn:aws:sts::123456789012:assumed-role/x is not authorized to perform: kms:Decrypt",
            ),
        )
        .repeatedly()
        .build();
    let kms = client(&[&rule]);
    let err = kms
        .decrypt(KEY, b"blob", &context())
        .await
        .expect_err("denied");
    assert_eq!(err.name().as_str(), "KmsAccessDenied");
    let text = err.to_string();
    assert!(text.contains(KEY) && text.contains("kms:Decrypt"), "{text}");
}

#[tokio::test]
async fn decrypt_passes_the_context_and_maps_a_wrong_ciphertext() {
    let ok = mock!(Client::decrypt)
        .match_requests(|r| {
            r.key_id() == Some(KEY)
                && r.ciphertext_blob().map(|b| b.as_ref()) == Some(b"blob".as_slice())
                && r.encryption_context()
                    .and_then(|c| c.get("asset"))
                    .map(String::as_str)
                    == Some("etcd-key.pem")
        })
        .then_output(|| {
            DecryptOutput::builder()
                .key_id(KEY)
                .plaintext(Blob::new(vec![1u8; 32]))
                .build()
        });
    let bad = mock!(Client::decrypt)
        .sequence()
        .http_status(400, error_body("InvalidCiphertextException", ""))
        .build();
    let kms = client(&[&ok, &bad]);
    let plain = kms
        .decrypt(KEY, b"blob", &context())
        .await
        .expect("decrypt");
    assert_eq!(plain.as_slice(), &[1u8; 32]);
    let err = kms
        .decrypt(KEY, b"other", &context())
        .await
        .expect_err("wrong ciphertext");
    assert_eq!(err.name().as_str(), "KmsInvalidCiphertext");
    assert!(err.to_string().contains("etcd-key.pem"), "{err}");
}

#[tokio::test]
async fn internal_errors_are_retried_and_then_reported_as_unavailable() {
    let rule = always_failing_generate(500, "KMSInternalException", "internal");
    let kms = client(&[&rule]);
    let err = kms
        .generate_data_key(KEY, &context())
        .await
        .expect_err("internal");
    assert_eq!(err.name().as_str(), "KmsUnavailable");
    assert!(err.is_transient());
    assert_eq!(rule.num_calls(), 3);
}
