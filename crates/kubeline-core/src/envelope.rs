//! Envelope encryption of one secret file: AES-256-GCM under a KMS data key, bound to the
//! encryption context `cluster=<name>,asset=<file>`, with the SHA-256 fingerprint of the
//! plaintext, in a small line-based text format that a node can open with only the AWS CLI,
//! `openssl enc` and `sha256sum`.
//!
//! ```text
//! kubeline-envelope: 1
//! key-id: arn:aws:kms:eu-west-1:123456789012:key/...
//! context: cluster=demo,asset=etcd-key.pem
//! plaintext-sha256: <64 hex>
//! data-key: <base64 KMS ciphertext blob of the 256-bit data key>
//! iv: <24 hex: the 96-bit GCM nonce>
//! ciphertext: <base64 ciphertext followed by the 16-byte GCM tag>
//! ```
//!
//! GCM is CTR mode plus a tag, so a node decrypts with `openssl enc -d -aes-256-ctr` and the
//! counter block `iv || 00000002`, then checks the plaintext against `plaintext-sha256`
//! (openssl's command line cannot check GCM tags); kubeline itself always checks the tag.
//! The key id, context and fingerprint are authenticated as GCM additional data.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Suffix of a stored (sealed) secret: `NAME.enc`.
pub const ENC_SUFFIX: &str = ".enc";
/// Suffix of a secret's plaintext fingerprint: `NAME.fingerprint`.
pub const FINGERPRINT_SUFFIX: &str = ".fingerprint";

/// Format version written in the first line.
pub const VERSION: &str = "1";

/// The encryption context of a cluster's asset (also the GCM additional data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// Cluster name.
    pub cluster: String,
    /// Asset (file) name.
    pub asset: String,
}

impl Context {
    /// The context for `asset` of `cluster`.
    pub fn new(cluster: impl Into<String>, asset: impl Into<String>) -> Context {
        Context {
            cluster: cluster.into(),
            asset: asset.into(),
        }
    }
    /// The pairs as KMS takes them.
    pub fn pairs(&self) -> [(&'static str, &str); 2] {
        [("cluster", &self.cluster), ("asset", &self.asset)]
    }
    /// `cluster=NAME,asset=FILE`, the AWS CLI's `--encryption-context` spelling.
    pub fn to_cli(&self) -> String {
        format!("cluster={},asset={}", self.cluster, self.asset)
    }
}

/// Why an envelope could not be read or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Not an envelope, or a field is missing or malformed.
    #[error("not a kubeline envelope: {0}")]
    Malformed(String),
    /// Written for a different cluster or file (copied or swapped).
    #[error("the envelope belongs to {found}, not {expected}")]
    WrongContext {
        /// Context found.
        found: String,
        /// Context expected.
        expected: String,
    },
    /// The tag or the fingerprint does not match: tampered, truncated or the wrong data key.
    #[error("the ciphertext does not authenticate (tampered, truncated or a wrong data key)")]
    Integrity,
    /// The data key is not 256 bits.
    #[error("the data key must be 32 bytes, got {0}")]
    DataKeyLength(usize),
    /// Randomness unavailable.
    #[error("no randomness for the nonce")]
    Random,
}

/// A sealed secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// KMS key that encrypted the data key.
    pub key_id: String,
    /// Encryption context.
    pub context: Context,
    /// SHA-256 of the plaintext, hex.
    pub plaintext_sha256: String,
    /// KMS ciphertext blob of the data key.
    pub data_key: Vec<u8>,
    /// GCM nonce.
    pub iv: [u8; NONCE_LEN],
    /// Ciphertext with the tag appended.
    pub ciphertext: Vec<u8>,
}

/// SHA-256 of `bytes`, hex: the fingerprint stored next to every secret.
pub fn fingerprint(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The stored object of a secret's fingerprint (`NAME.fingerprint`): its plaintext's SHA-256
/// and a newline (what the credentials generation of node configs reads; never the secret).
pub fn fingerprint_object(plaintext: &[u8]) -> Vec<u8> {
    format!("{}\n", fingerprint(plaintext)).into_bytes()
}

fn aad(key_id: &str, context: &Context, sha: &str) -> Vec<u8> {
    format!(
        "kubeline-envelope:{VERSION}\nkey-id:{key_id}\ncontext:{}\nplaintext-sha256:{sha}\n",
        context.to_cli()
    )
    .into_bytes()
}

fn aead_key(data_key: &[u8]) -> Result<LessSafeKey, EnvelopeError> {
    let unbound = UnboundKey::new(&AES_256_GCM, data_key)
        .map_err(|_| EnvelopeError::DataKeyLength(data_key.len()))?;
    Ok(LessSafeKey::new(unbound))
}

impl Envelope {
    /// Encrypts `plaintext` with the plaintext `data_key` (32 bytes) that KMS returned together
    /// with its ciphertext blob `encrypted_data_key`.
    pub fn seal(
        plaintext: &[u8],
        data_key: &[u8],
        encrypted_data_key: Vec<u8>,
        key_id: &str,
        context: Context,
    ) -> Result<Envelope, EnvelopeError> {
        if data_key.len() != 32 {
            return Err(EnvelopeError::DataKeyLength(data_key.len()));
        }
        let key = aead_key(data_key)?;
        let mut iv = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut iv).map_err(|_| EnvelopeError::Random)?;
        let sha = fingerprint(plaintext);
        let mut buf = plaintext.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(iv),
            Aad::from(aad(key_id, &context, &sha)),
            &mut buf,
        )
        .map_err(|_| EnvelopeError::Integrity)?;
        Ok(Envelope {
            key_id: key_id.to_owned(),
            context,
            plaintext_sha256: sha,
            data_key: encrypted_data_key,
            iv,
            ciphertext: buf,
        })
    }

    /// Decrypts with the plaintext data key, checking the tag and the fingerprint.
    pub fn open(&self, data_key: &[u8]) -> Result<Zeroizing<Vec<u8>>, EnvelopeError> {
        let key = aead_key(data_key)?;
        let mut buf = Zeroizing::new(self.ciphertext.clone());
        let plain = key
            .open_in_place(
                Nonce::assume_unique_for_key(self.iv),
                Aad::from(aad(&self.key_id, &self.context, &self.plaintext_sha256)),
                &mut buf,
            )
            .map_err(|_| EnvelopeError::Integrity)?;
        let plain = Zeroizing::new(plain.to_vec());
        if fingerprint(&plain) != self.plaintext_sha256 {
            return Err(EnvelopeError::Integrity);
        }
        Ok(plain)
    }

    /// Checks that the envelope was written for `expected`.
    pub fn check_context(&self, expected: &Context) -> Result<(), EnvelopeError> {
        if &self.context == expected {
            Ok(())
        } else {
            Err(EnvelopeError::WrongContext {
                found: self.context.to_cli(),
                expected: expected.to_cli(),
            })
        }
    }

    /// The text form (see the module documentation).
    pub fn to_text(&self) -> String {
        format!(
            "kubeline-envelope: {VERSION}\nkey-id: {}\ncontext: {}\nplaintext-sha256: {}\n\
             data-key: {}\niv: {}\nciphertext: {}\n",
            self.key_id,
            self.context.to_cli(),
            self.plaintext_sha256,
            B64.encode(&self.data_key),
            hex::encode(self.iv),
            B64.encode(&self.ciphertext),
        )
    }

    /// Parses the text form.
    pub fn parse(text: &str) -> Result<Envelope, EnvelopeError> {
        let bad = |m: &str| EnvelopeError::Malformed(m.to_owned());
        let mut fields = std::collections::BTreeMap::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let (k, v) = line
                .split_once(": ")
                .ok_or_else(|| bad("a line without `name: value`"))?;
            fields.insert(k, v.trim());
        }
        let get = |k: &str| {
            fields
                .get(k)
                .copied()
                .ok_or_else(|| EnvelopeError::Malformed(format!("`{k}` missing")))
        };
        if get("kubeline-envelope")? != VERSION {
            return Err(bad("unknown format version"));
        }
        let context = get("context")?;
        let (cluster, asset) = context
            .strip_prefix("cluster=")
            .and_then(|r| r.split_once(",asset="))
            .ok_or_else(|| bad("`context` is not cluster=NAME,asset=FILE"))?;
        let sha = get("plaintext-sha256")?;
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("`plaintext-sha256` is not 64 hex digits"));
        }
        let iv_bytes = hex::decode(get("iv")?).map_err(|_| bad("`iv` is not hex"))?;
        let iv: [u8; NONCE_LEN] = iv_bytes
            .try_into()
            .map_err(|_| bad("`iv` is not 12 bytes"))?;
        let data_key = B64
            .decode(get("data-key")?)
            .map_err(|_| bad("`data-key` is not base64"))?;
        let ciphertext = B64
            .decode(get("ciphertext")?)
            .map_err(|_| bad("`ciphertext` is not base64"))?;
        if ciphertext.len() < 16 {
            return Err(bad("`ciphertext` is shorter than the GCM tag"));
        }
        Ok(Envelope {
            key_id: get("key-id")?.to_owned(),
            context: Context::new(cluster, asset),
            plaintext_sha256: sha.to_ascii_lowercase(),
            data_key,
            iv,
            ciphertext,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7u8; 32];

    fn sealed() -> Envelope {
        Envelope::seal(
            b"-----BEGIN PRIVATE KEY-----\nsecret\n",
            &KEY,
            b"blob".to_vec(),
            "arn:aws:kms:eu-west-1:123456789012:key/k",
            Context::new("demo", "etcd-key.pem"),
        )
        .expect("seal")
    }

    #[test]
    fn round_trip_through_text() {
        let env = sealed();
        let parsed = Envelope::parse(&env.to_text()).expect("parse");
        assert_eq!(parsed, env);
        assert_eq!(
            &*parsed.open(&KEY).expect("open"),
            b"-----BEGIN PRIVATE KEY-----\nsecret\n"
        );
        assert!(!env.to_text().contains("secret"));
    }

    #[test]
    fn nonces_differ_so_equal_plaintexts_give_different_ciphertexts() {
        assert_ne!(sealed().ciphertext, sealed().ciphertext);
    }

    #[test]
    fn tampering_is_detected() {
        let env = sealed();
        let mut flipped = env.clone();
        flipped.ciphertext[0] ^= 1;
        assert_eq!(flipped.open(&KEY), Err(EnvelopeError::Integrity));
        let mut moved = env.clone();
        moved.context = Context::new("demo", "admin-key.pem");
        assert_eq!(moved.open(&KEY), Err(EnvelopeError::Integrity));
        assert_eq!(env.open(&[8u8; 32]), Err(EnvelopeError::Integrity));
        assert!(matches!(
            env.check_context(&Context::new("other", "etcd-key.pem")),
            Err(EnvelopeError::WrongContext { .. })
        ));
    }

    #[test]
    fn malformed_text_is_an_error_not_a_panic() {
        for text in [
            "",
            "kubeline-envelope: 2\n",
            "garbage",
            "kubeline-envelope: 1\nkey-id: k\ncontext: x\n",
        ] {
            assert!(Envelope::parse(text).is_err(), "{text:?}");
        }
        let text = sealed().to_text().replace("iv: ", "iv: zz");
        assert!(Envelope::parse(&text).is_err());
    }
}
