//! The credentials generation of node configs: a digest per node role of the credentials that
//! role receives, so a node config (and its instances) changes exactly when they do. Computed
//! here from the credential files, so the CLI (plaintext `credentials/`) and the pipeline (the
//! bucket's sealed store) render byte-identical node configs for the same credentials.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::credential_files::{Files, is_secret};
use crate::envelope::{FINGERPRINT_SUFFIX, fingerprint_object};
use crate::layout::{NodeRole, node_credentials};

/// The generation of each node role (`controller`, `etcd`, `worker`) from the stored form of
/// the credentials: public files as they are, each secret as its `NAME.fingerprint` object (no
/// secret is needed). A missing file counts as empty.
pub fn credentials_generation(stored: &Files) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for role in [NodeRole::Controller, NodeRole::Etcd, NodeRole::Worker] {
        let creds = node_credentials(role);
        let mut h = Sha256::new();
        let names = creds.public.iter().map(|n| (*n).to_owned()).chain(
            creds
                .secret
                .iter()
                .map(|n| format!("{n}{FINGERPRINT_SUFFIX}")),
        );
        for name in names {
            let bytes = stored.get(&name).map(Vec::as_slice).unwrap_or_default();
            h.update(name.as_bytes());
            h.update([0]);
            h.update(bytes);
            h.update([0]);
        }
        out.insert(
            super::role_name(role).to_owned(),
            hex::encode(&h.finalize()[..16]),
        );
    }
    out
}

/// The stored form's view of plaintext credentials (a `credentials/` folder): public files as
/// they are and a fingerprint object per secret, which is what [`credentials_generation`] reads.
pub fn stored_view(plain: &Files) -> Files {
    plain
        .iter()
        .map(|(name, bytes)| {
            if is_secret(name) {
                (
                    format!("{name}{FINGERPRINT_SUFFIX}"),
                    fingerprint_object(bytes),
                )
            } else {
                (name.clone(), bytes.clone())
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain() -> Files {
        Files::from([
            ("ca.pem".to_owned(), b"CA".to_vec()),
            ("ca-key.pem".to_owned(), b"SECRET".to_vec()),
            ("worker.pem".to_owned(), b"W".to_vec()),
        ])
    }

    #[test]
    fn the_stored_and_the_plain_form_give_one_generation() {
        let stored = Files::from([
            ("ca.pem".to_owned(), b"CA".to_vec()),
            (
                "ca-key.pem.fingerprint".to_owned(),
                format!("{}\n", crate::envelope::fingerprint(b"SECRET")).into_bytes(),
            ),
            ("ca-key.pem.enc".to_owned(), b"ciphertext".to_vec()),
            ("worker.pem".to_owned(), b"W".to_vec()),
        ]);
        assert_eq!(
            credentials_generation(&stored),
            credentials_generation(&stored_view(&plain()))
        );
        assert!(
            !stored_view(&plain()).contains_key("ca-key.pem"),
            "no secret in the view"
        );
    }

    #[test]
    fn a_role_changes_only_with_its_own_credentials() {
        let before = credentials_generation(&stored_view(&plain()));
        let mut p = plain();
        p.insert("ca-key.pem".into(), b"ROTATED".to_vec());
        let after = credentials_generation(&stored_view(&p));
        // Only controllers hold the CA key.
        assert_ne!(before["controller"], after["controller"]);
        assert_eq!(before["worker"], after["worker"]);
        assert_eq!(before["etcd"], after["etcd"]);
        let mut p = plain();
        p.insert("ca.pem".into(), b"NEW CA".to_vec());
        let after = credentials_generation(&stored_view(&p));
        // Controllers and workers trust the cluster CA; etcd members only the etcd CA.
        assert_ne!(before["controller"], after["controller"]);
        assert_ne!(before["worker"], after["worker"]);
        assert_eq!(before["etcd"], after["etcd"]);
    }
}
