//! The secrets beside the certificates: the service-account key, the kubelet bootstrap token
//! and kube-apiserver's tokens.csv, and the encryption-at-rest configuration.

use super::error::{CredentialsError, file_err, text};
use super::report::Writer;
use super::{BOOTSTRAP_TOKEN, ENCRYPTION_CONFIG, Files, SA_JWKS, SA_KEY, SA_PUB, TOKENS};
use crate::cluster::Cluster;
use crate::pki::{self, Key};

/// The user the bootstrap token authenticates as, and its group (kube-aws's tokens.csv line).
const BOOTSTRAP_USER: &str = "kubelet-bootstrap";
const BOOTSTRAP_UID: &str = "10001";
const BOOTSTRAP_GROUP: &str = "system:kubelet-bootstrap";

pub(super) fn secrets(
    cluster: &Cluster,
    current: &Files,
    w: &mut Writer,
) -> Result<(), CredentialsError> {
    // Service-account key: never replaced automatically (that would invalidate every token).
    let sa = match text(current, SA_KEY)? {
        Some(t) => {
            let key = Key::from_pem(t, None).map_err(file_err(SA_KEY))?;
            if key.algorithm() != Some(cluster.tls.key_algorithm) {
                w.notes.push(format!(
                    "{SA_KEY} keeps its algorithm; replacing it would invalidate every service-account token"
                ));
            }
            key
        }
        None => Key::generate(cluster.tls.key_algorithm).map_err(file_err(SA_KEY))?,
    };
    w.put(SA_KEY, sa.pem.clone().into_bytes(), "");
    w.put(SA_PUB, sa.public_pem().into_bytes(), "derived from the key");
    let jwks = crate::oidc::jwks(&sa.spki()).map_err(|e| CredentialsError::Inconsistent {
        file: SA_KEY.into(),
        message: e.to_string(),
        fix: format!("replace {SA_KEY} with an RSA or ECDSA P-256 key"),
    })?;
    w.put(SA_JWKS, jwks.into_bytes(), "derived from the key");

    let token = match text(current, BOOTSTRAP_TOKEN)? {
        Some(t) if is_token(t.trim()) => t.trim().to_owned(),
        Some(_) => {
            return Err(CredentialsError::Inconsistent {
                file: BOOTSTRAP_TOKEN.into(),
                message: "is not a token of 16 to 64 letters and digits".into(),
                fix: format!("delete {BOOTSTRAP_TOKEN} and {TOKENS} to have both created anew"),
            });
        }
        None => hex::encode(pki::random_bytes::<16>().map_err(file_err(BOOTSTRAP_TOKEN))?),
    };
    w.put(BOOTSTRAP_TOKEN, format!("{token}\n").into_bytes(), "");
    let tokens = tokens_csv(text(current, TOKENS)?, &token);
    w.put(
        TOKENS,
        tokens.into_bytes(),
        "the kubelet bootstrap token changed",
    );

    match text(current, ENCRYPTION_CONFIG)? {
        Some(t) => {
            check_encryption_config(t)?;
            w.keep(ENCRYPTION_CONFIG);
        }
        None => {
            let key = pki::random_bytes::<32>().map_err(file_err(ENCRYPTION_CONFIG))?;
            w.put(ENCRYPTION_CONFIG, encryption_config(&key).into_bytes(), "");
        }
    }
    Ok(())
}

fn is_token(t: &str) -> bool {
    (16..=64).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// tokens.csv with the kubelet bootstrap line set to `token`; other lines (added by operators)
/// are kept in place.
fn tokens_csv(existing: Option<&str>, token: &str) -> String {
    let line = format!("{token},{BOOTSTRAP_USER},{BOOTSTRAP_UID},\"{BOOTSTRAP_GROUP}\"");
    let mut out = String::new();
    let mut placed = false;
    for l in existing.unwrap_or("").lines() {
        if l.split(',').nth(1) == Some(BOOTSTRAP_USER) {
            if !placed {
                out.push_str(&line);
                out.push('\n');
                placed = true;
            }
        } else if !l.trim().is_empty() {
            out.push_str(l);
            out.push('\n');
        }
    }
    if !placed {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn encryption_config(key: &[u8; 32]) -> String {
    use base64::Engine as _;
    let secret = base64::engine::general_purpose::STANDARD.encode(key);
    format!(
        "apiVersion: apiserver.config.k8s.io/v1\n\
         kind: EncryptionConfiguration\n\
         resources:\n  \
           - resources:\n      \
               - secrets\n    \
             providers:\n      \
               - secretbox:\n          \
                   keys:\n            \
                     - name: key1\n              \
                       secret: {secret}\n      \
               - identity: {{}}\n"
    )
}

fn check_encryption_config(text: &str) -> Result<(), CredentialsError> {
    let bad = |message: String| {
        CredentialsError::Inconsistent {
        file: ENCRYPTION_CONFIG.into(),
        message,
        fix: "restore it from a backup: replacing it would make every Secret stored in etcd unreadable".into(),
    }
    };
    let value: serde_json::Value = serde_saphyr::from_str(text).map_err(|e| {
        let msg = e.to_string();
        bad(format!(
            "not YAML ({})",
            msg.lines().next().unwrap_or_default()
        ))
    })?;
    if value.get("kind").and_then(|k| k.as_str()) != Some("EncryptionConfiguration") {
        return Err(bad("is not an EncryptionConfiguration (kind)".into()));
    }
    Ok(())
}
