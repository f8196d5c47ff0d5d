//! The sealed form of a credential set, as stored in S3 and read by nodes: certificates in
//! plain, every secret `NAME` as `NAME.enc` (an [`Envelope`]) next to `NAME.fingerprint`
//! (SHA-256 of the plaintext).
//!
//! Sealing keeps the stored bytes of every secret whose plaintext is unchanged, so re-running
//! the pipeline never rewrites ciphertext, and nothing downstream (node configs, launch
//! templates) changes or replaces nodes because of it (kube-aws issue #107).

use kubeline_core::credential_files::{Files, is_secret};
use kubeline_core::envelope::{Context, Envelope, EnvelopeError, fingerprint};

use crate::kms::{Kms, KmsError};

pub use kubeline_core::envelope::{ENC_SUFFIX, FINGERPRINT_SUFFIX};

/// Why sealing or opening failed.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// KMS refused or failed.
    #[error(transparent)]
    Kms(#[from] KmsError),
    /// A stored envelope is damaged, tampered with or belongs elsewhere.
    #[error("{file}: {source}")]
    Envelope {
        /// Stored file name.
        file: String,
        /// What is wrong.
        #[source]
        source: EnvelopeError,
    },
}

impl SealError {
    /// Stable PascalCase name (Step Functions error name).
    pub fn name(&self) -> kubeline_core::errors::ErrorName {
        use kubeline_core::errors::ErrorName;
        match self {
            SealError::Kms(e) => e.name(),
            SealError::Envelope { .. } => ErrorName::CredentialsTampered,
        }
    }
}

/// The stored form of `plain` for `cluster`, reusing `previous` stored bytes of every secret
/// whose plaintext, key and context are unchanged.
pub async fn seal<K: Kms>(
    kms: &K,
    key_id: &str,
    cluster: &str,
    plain: &Files,
    previous: &Files,
) -> Result<Files, SealError> {
    let mut stored = Files::new();
    for (name, bytes) in plain {
        if !is_secret(name) {
            stored.insert(name.clone(), bytes.clone());
            continue;
        }
        let enc_name = format!("{name}{ENC_SUFFIX}");
        let context = Context::new(cluster, name.as_str());
        let sha = fingerprint(bytes);
        let reusable = previous.get(&enc_name).filter(|old| {
            std::str::from_utf8(old)
                .ok()
                .and_then(|t| Envelope::parse(t).ok())
                .is_some_and(|e| {
                    e.plaintext_sha256 == sha && e.key_id == key_id && e.context == context
                })
        });
        let enc = match reusable {
            Some(old) => old.clone(),
            None => {
                let dk = kms.generate_data_key(key_id, &context).await?;
                Envelope::seal(bytes, &dk.plaintext, dk.ciphertext, &dk.key_id, context)
                    .map_err(|source| SealError::Envelope {
                        file: enc_name.clone(),
                        source,
                    })?
                    .to_text()
                    .into_bytes()
            }
        };
        stored.insert(enc_name, enc);
        // The object the credentials generation of node configs reads (never the secret).
        stored.insert(
            format!("{name}{FINGERPRINT_SUFFIX}"),
            kubeline_core::envelope::fingerprint_object(bytes),
        );
    }
    Ok(stored)
}

/// The plaintext set of a stored one (decrypting every `NAME.enc` through KMS).
pub async fn open<K: Kms>(kms: &K, cluster: &str, stored: &Files) -> Result<Files, SealError> {
    let mut plain = Files::new();
    for (name, bytes) in stored {
        if name.ends_with(FINGERPRINT_SUFFIX) {
            continue;
        }
        let Some(base) = name.strip_suffix(ENC_SUFFIX) else {
            plain.insert(name.clone(), bytes.clone());
            continue;
        };
        let err = |source| SealError::Envelope {
            file: name.clone(),
            source,
        };
        let text = std::str::from_utf8(bytes)
            .map_err(|_| err(EnvelopeError::Malformed("not text".into())))?;
        let env = Envelope::parse(text).map_err(err)?;
        let context = Context::new(cluster, base);
        env.check_context(&context).map_err(err)?;
        let data_key = kms.decrypt(&env.key_id, &env.data_key, &context).await?;
        let secret = env.open(&data_key).map_err(err)?;
        plain.insert(base.to_owned(), secret.to_vec());
    }
    Ok(plain)
}

/// Stored names of `plain` (what a store must hold after sealing it).
pub fn stored_names(plain: &Files) -> Vec<String> {
    let mut names = Vec::new();
    for name in plain.keys() {
        if is_secret(name) {
            names.push(format!("{name}{ENC_SUFFIX}"));
            names.push(format!("{name}{FINGERPRINT_SUFFIX}"));
        } else {
            names.push(name.clone());
        }
    }
    names.sort();
    names
}
