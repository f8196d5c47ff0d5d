//! The KMS port: data keys for envelope encryption and their decryption, bound to an
//! encryption context; [`AwsKms`] implements it with aws-sdk-kms.

use std::future::Future;

use kubeline_core::envelope::Context;
use zeroize::Zeroizing;

/// A fresh 256-bit data key: plaintext for local use, ciphertext to store.
#[derive(Debug)]
pub struct DataKey {
    /// The key in plain (zeroed on drop).
    pub plaintext: Zeroizing<Vec<u8>>,
    /// The key encrypted under the KMS key (KMS's CiphertextBlob).
    pub ciphertext: Vec<u8>,
    /// ARN of the KMS key that encrypted it.
    pub key_id: String,
}

/// Why a KMS call failed. [`KmsError::name`] gives the stable error name the state machine
/// uses in Retry/Catch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KmsError {
    /// Request rate exceeded even after the SDK's retries.
    #[error("KMS is throttling requests ({0}); the run retries later")]
    Throttled(String),
    /// The key is disabled or pending deletion.
    #[error(
        "KMS key {key} is disabled or pending deletion ({message}); enable it with `aws kms enable-key` or cancel its deletion"
    )]
    KeyDisabled {
        /// Key id.
        key: String,
        /// KMS's message.
        message: String,
    },
    /// The caller may not use the key.
    #[error(
        "access to KMS key {key} denied ({message}); allow kms:GenerateDataKey and kms:Decrypt with the encryption context in the key policy or role"
    )]
    AccessDenied {
        /// Key id.
        key: String,
        /// KMS's message.
        message: String,
    },
    /// No such key.
    #[error("KMS key {key} does not exist ({message}); check kmsKeyArn in cluster.yaml")]
    KeyNotFound {
        /// Key id.
        key: String,
        /// KMS's message.
        message: String,
    },
    /// The ciphertext is not for this key or context, or is damaged.
    #[error(
        "KMS cannot decrypt the data key of {asset} ({message}); the file was damaged or copied from another cluster or key"
    )]
    InvalidCiphertext {
        /// The asset being opened.
        asset: String,
        /// KMS's message.
        message: String,
    },
    /// Network, timeouts, KMS internal errors.
    #[error("KMS is unavailable ({0})")]
    Unavailable(String),
}

impl KmsError {
    /// Stable PascalCase name (Step Functions error name).
    pub fn name(&self) -> kubeline_core::errors::ErrorName {
        use kubeline_core::errors::ErrorName;
        match self {
            KmsError::Throttled(_) => ErrorName::Throttled,
            KmsError::KeyDisabled { .. } => ErrorName::KmsKeyDisabled,
            KmsError::AccessDenied { .. } => ErrorName::KmsAccessDenied,
            KmsError::KeyNotFound { .. } => ErrorName::KmsKeyNotFound,
            KmsError::InvalidCiphertext { .. } => ErrorName::KmsInvalidCiphertext,
            KmsError::Unavailable(_) => ErrorName::KmsUnavailable,
        }
    }

    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, KmsError::Throttled(_) | KmsError::Unavailable(_))
    }
}

/// Envelope-encryption operations on one KMS key.
pub trait Kms: Send + Sync {
    /// A new AES-256 data key under `key_id`, bound to `context`.
    fn generate_data_key(
        &self,
        key_id: &str,
        context: &Context,
    ) -> impl Future<Output = Result<DataKey, KmsError>> + Send;

    /// The plaintext of a data key encrypted under `key_id` with `context`.
    fn decrypt(
        &self,
        key_id: &str,
        ciphertext: &[u8],
        context: &Context,
    ) -> impl Future<Output = Result<Zeroizing<Vec<u8>>, KmsError>> + Send;
}

#[cfg(feature = "kms")]
pub use self::aws::AwsKms;

#[cfg(feature = "kms")]
mod aws {
    use aws_sdk_kms::Client;
    use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
    use aws_sdk_kms::primitives::Blob;
    use aws_sdk_kms::types::DataKeySpec;
    use kubeline_core::envelope::Context;
    use zeroize::Zeroizing;

    use super::{DataKey, Kms, KmsError};
    use crate::error::{AwsError, classify};

    /// [`Kms`] over aws-sdk-kms. Retries of throttling and transient errors are the SDK's
    /// (standard mode, with backoff); what still fails is mapped to [`KmsError`].
    #[derive(Debug, Clone)]
    pub struct AwsKms {
        client: Client,
    }

    impl AwsKms {
        /// Wraps a configured client.
        pub fn new(client: Client) -> AwsKms {
            AwsKms { client }
        }
    }

    /// The shared AWS classification, refined by KMS's own error codes.
    fn map_error<E, R>(err: SdkError<E, R>, key: &str, asset: &str) -> KmsError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let key = key.to_owned();
        match classify("KMS", &err) {
            AwsError::Throttled { message, .. } => KmsError::Throttled(message),
            AwsError::AccessDenied { message, .. } => KmsError::AccessDenied { key, message },
            AwsError::Unavailable { message, .. } => KmsError::Unavailable(message),
            AwsError::Invalid { code, message, .. } => match code.as_str() {
                "LimitExceededException" => KmsError::Throttled(message),
                "DisabledException" | "KMSInvalidStateException" | "KeyUnavailableException" => {
                    KmsError::KeyDisabled { key, message }
                }
                "InvalidSignatureException" => KmsError::AccessDenied { key, message },
                "NotFoundException" | "InvalidKeyUsageException" => {
                    KmsError::KeyNotFound { key, message }
                }
                "InvalidCiphertextException" | "IncorrectKeyException" => {
                    KmsError::InvalidCiphertext {
                        asset: asset.to_owned(),
                        message,
                    }
                }
                _ => KmsError::Unavailable(format!("{code}: {message}")),
            },
        }
    }

    impl Kms for AwsKms {
        async fn generate_data_key(
            &self,
            key_id: &str,
            context: &Context,
        ) -> Result<DataKey, KmsError> {
            let mut req = self
                .client
                .generate_data_key()
                .key_id(key_id)
                .key_spec(DataKeySpec::Aes256);
            for (k, v) in context.pairs() {
                req = req.encryption_context(k, v);
            }
            let out = req
                .send()
                .await
                .map_err(|e| map_error(e, key_id, &context.asset))?;
            let plaintext = out
                .plaintext()
                .map(|b| Zeroizing::new(b.as_ref().to_vec()))
                .ok_or_else(|| {
                    KmsError::Unavailable("GenerateDataKey returned no Plaintext".into())
                })?;
            let ciphertext = out
                .ciphertext_blob()
                .map(|b| b.as_ref().to_vec())
                .ok_or_else(|| {
                    KmsError::Unavailable("GenerateDataKey returned no CiphertextBlob".into())
                })?;
            Ok(DataKey {
                plaintext,
                ciphertext,
                key_id: out.key_id().unwrap_or(key_id).to_owned(),
            })
        }

        async fn decrypt(
            &self,
            key_id: &str,
            ciphertext: &[u8],
            context: &Context,
        ) -> Result<Zeroizing<Vec<u8>>, KmsError> {
            let mut req = self
                .client
                .decrypt()
                .key_id(key_id)
                .ciphertext_blob(Blob::new(ciphertext.to_vec()));
            for (k, v) in context.pairs() {
                req = req.encryption_context(k, v);
            }
            let out = req
                .send()
                .await
                .map_err(|e| map_error(e, key_id, &context.asset))?;
            out.plaintext()
                .map(|b| Zeroizing::new(b.as_ref().to_vec()))
                .ok_or_else(|| KmsError::Unavailable("Decrypt returned no Plaintext".into()))
        }
    }
}
