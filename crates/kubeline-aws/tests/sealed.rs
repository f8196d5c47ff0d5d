//! The sealed store with an in-memory KMS: secrets never stored in plain, certificates stored
//! as they are, unchanged secrets keep their exact ciphertext (no KMS call), changed ones are
//! re-sealed, and a swapped or tampered envelope is refused.

use std::collections::BTreeMap;
use std::sync::Mutex;

use kubeline_aws::kms::{DataKey, Kms, KmsError};
use kubeline_aws::sealed::{self, SealError};
use kubeline_core::envelope::Context;
use kubeline_core::reconcile::Files;
use zeroize::Zeroizing;

const KEY: &str = "arn:aws:kms:eu-west-1:123456789012:key/k";

/// Data keys by blob: (context, plaintext key).
type KeyStore = BTreeMap<Vec<u8>, (String, Vec<u8>)>;

/// A KMS that "encrypts" a data key by remembering it under a counter, bound to its context.
#[derive(Default)]
struct FakeKms {
    keys: Mutex<KeyStore>,
    generated: Mutex<usize>,
}

impl Kms for FakeKms {
    async fn generate_data_key(
        &self,
        key_id: &str,
        context: &Context,
    ) -> Result<DataKey, KmsError> {
        let mut n = self.generated.lock().expect("lock");
        *n += 1;
        let plaintext = vec![u8::try_from(*n % 251).expect("small"); 32];
        let blob = format!("blob-{n}").into_bytes();
        self.keys
            .lock()
            .expect("lock")
            .insert(blob.clone(), (context.to_cli(), plaintext.clone()));
        Ok(DataKey {
            plaintext: Zeroizing::new(plaintext),
            ciphertext: blob,
            key_id: key_id.to_owned(),
        })
    }

    async fn decrypt(
        &self,
        _key_id: &str,
        ciphertext: &[u8],
        context: &Context,
    ) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        match self.keys.lock().expect("lock").get(ciphertext) {
            Some((ctx, key)) if *ctx == context.to_cli() => Ok(Zeroizing::new(key.clone())),
            _ => Err(KmsError::InvalidCiphertext {
                asset: context.asset.clone(),
                message: "no such blob for this context".into(),
            }),
        }
    }
}

fn plain() -> Files {
    let mut f = Files::new();
    f.insert(
        "ca.pem".into(),
        b"-----BEGIN CERTIFICATE-----\nca\n".to_vec(),
    );
    f.insert(
        "etcd-key.pem".into(),
        b"-----BEGIN PRIVATE KEY-----\nsecret-etcd\n".to_vec(),
    );
    f.insert(
        "tokens.csv".into(),
        b"tok,kubelet-bootstrap,10001,\"g\"\n".to_vec(),
    );
    f
}

#[tokio::test]
async fn seals_secrets_only_and_opens_them_again() {
    let kms = FakeKms::default();
    let stored = sealed::seal(&kms, KEY, "demo", &plain(), &Files::new())
        .await
        .expect("seal");
    assert_eq!(
        stored.keys().cloned().collect::<Vec<_>>(),
        sealed::stored_names(&plain())
    );
    assert_eq!(stored["ca.pem"], plain()["ca.pem"]);
    for (name, bytes) in &stored {
        let text = String::from_utf8_lossy(bytes);
        assert!(
            !text.contains("secret-etcd") && !text.contains("tok,"),
            "{name} holds plaintext"
        );
    }
    assert_eq!(
        String::from_utf8_lossy(&stored["etcd-key.pem.fingerprint"]).trim(),
        kubeline_core::envelope::fingerprint(&plain()["etcd-key.pem"])
    );
    let opened = sealed::open(&kms, "demo", &stored).await.expect("open");
    assert_eq!(opened, plain());
}

#[tokio::test]
async fn unchanged_secrets_keep_their_ciphertext_and_changed_ones_are_resealed() {
    let kms = FakeKms::default();
    let first = sealed::seal(&kms, KEY, "demo", &plain(), &Files::new())
        .await
        .expect("seal");
    assert_eq!(*kms.generated.lock().expect("lock"), 2);
    let again = sealed::seal(&kms, KEY, "demo", &plain(), &first)
        .await
        .expect("reseal");
    assert_eq!(again, first, "byte-identical");
    assert_eq!(*kms.generated.lock().expect("lock"), 2, "no KMS call");

    let mut changed = plain();
    changed.insert(
        "tokens.csv".into(),
        b"new,kubelet-bootstrap,10001,\"g\"\n".to_vec(),
    );
    let third = sealed::seal(&kms, KEY, "demo", &changed, &first)
        .await
        .expect("reseal");
    assert_eq!(third["etcd-key.pem.enc"], first["etcd-key.pem.enc"]);
    assert_ne!(third["tokens.csv.enc"], first["tokens.csv.enc"]);
    assert_eq!(*kms.generated.lock().expect("lock"), 3);

    // Another KMS key: everything is re-sealed under it.
    let moved = sealed::seal(
        &kms,
        "arn:aws:kms:eu-west-1:123456789012:key/other",
        "demo",
        &plain(),
        &first,
    )
    .await
    .expect("new key");
    assert_ne!(moved["etcd-key.pem.enc"], first["etcd-key.pem.enc"]);
}

#[tokio::test]
async fn swapped_or_tampered_envelopes_are_refused() {
    let kms = FakeKms::default();
    let stored = sealed::seal(&kms, KEY, "demo", &plain(), &Files::new())
        .await
        .expect("seal");

    // tokens.csv's envelope put in place of etcd-key.pem's.
    let mut swapped = stored.clone();
    swapped.insert("etcd-key.pem.enc".into(), stored["tokens.csv.enc"].clone());
    let err = sealed::open(&kms, "demo", &swapped)
        .await
        .expect_err("swap");
    assert!(matches!(err, SealError::Envelope { .. }), "{err:?}");
    assert_eq!(err.name().as_str(), "CredentialsTampered");
    assert!(err.to_string().starts_with("etcd-key.pem.enc: "), "{err}");

    // Another cluster's store.
    let err = sealed::open(&kms, "other", &stored)
        .await
        .expect_err("cluster");
    assert!(err.to_string().contains("cluster=demo"), "{err}");

    // A flipped ciphertext byte.
    let text = String::from_utf8(stored["etcd-key.pem.enc"].clone()).expect("utf8");
    let mut env = kubeline_core::envelope::Envelope::parse(&text).expect("parse");
    env.ciphertext[3] ^= 0x40;
    let mut tampered = stored.clone();
    tampered.insert("etcd-key.pem.enc".into(), env.to_text().into_bytes());
    let err = sealed::open(&kms, "demo", &tampered)
        .await
        .expect_err("tamper");
    assert!(err.to_string().contains("does not authenticate"), "{err}");
}
