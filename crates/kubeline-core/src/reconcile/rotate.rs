//! The three-stage CA rotation: add the new CA to the trust bundle, switch signing to it (and
//! re-issue every certificate), then drop the old CA.

use super::ca::{bundle_pem, load_ca};
use super::error::{file_err, text};
use super::{
    CA_CERT, CA_KEY, CA_NEXT_KEY, CaSource, Change, CredentialsError, Entry, Files, Options,
    Outcome, reconcile,
};
use crate::cluster::Cluster;
use crate::credentials::{Authority, CA_COMMON_NAME, leaf_certificates};
use crate::pki::{self, Key};

/// The stage a CA rotation reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaStage {
    /// Stage 1 of 3: a new CA was created and added to the trust bundle; nothing signs with it yet.
    TrustAdded,
    /// Stage 2 of 3: the new CA signs; every certificate was re-issued from it.
    SigningSwitched,
    /// Stage 3 of 3: the old CA left the trust bundle; the rotation is complete.
    OldRemoved,
}

impl CaStage {
    /// What the stage did and what comes next, for the report.
    pub fn describe(self) -> &'static str {
        match self {
            CaStage::TrustAdded => {
                "stage 1 of 3: a new CA joined the trust bundle (ca.pem holds both CAs); certificates \
                 are still issued by the old CA. Apply, let every node pick up the new ca.pem, then \
                 run `kubeline rotate credentials --ca` again."
            }
            CaStage::SigningSwitched => {
                "stage 2 of 3: the new CA now signs (first in ca.pem) and every certificate was \
                 re-issued from it; both CAs are still trusted. Apply, let every node pick up its new certificates, then run \
                 `kubeline rotate credentials --ca` again."
            }
            CaStage::OldRemoved => {
                "stage 3 of 3: the old CA left the trust bundle; the CA rotation is complete. Apply \
                 once more."
            }
        }
    }
}

/// Advances a CA rotation by one stage (see [`CaStage`]); leaf renewal rules apply as in
/// [`reconcile`].
pub fn rotate_ca(
    cluster: &Cluster,
    current: &Files,
    opts: &Options,
) -> Result<(Outcome, CaStage), CredentialsError> {
    let state = load_ca(current)?;
    let next = text(current, CA_NEXT_KEY)?;
    match (state.bundle.len(), next) {
        (1, None) => {
            let key = Key::generate(cluster.tls.key_algorithm).map_err(file_err(CA_NEXT_KEY))?;
            let name = format!("{CA_COMMON_NAME}-{}", opts.now.date());
            let pem = pki::self_signed_ca(&name, &key, cluster.tls.ca_duration_days, opts.now)
                .map_err(file_err(CA_CERT))?;
            let new = pki::parse_certificates(&pem)
                .map_err(file_err(CA_CERT))?
                .remove(0);
            let mut staged = current.clone();
            staged.insert(
                CA_CERT.into(),
                bundle_pem(&[state.signer.cert.clone(), new]),
            );
            staged.insert(CA_NEXT_KEY.into(), key.pem.into_bytes());
            let mut out = reconcile(cluster, &staged, CaSource::Existing, opts)?;
            relabel(
                &mut out,
                current,
                CA_CERT,
                "the new CA joined the trust bundle",
            );
            out.entries.push(Entry {
                file: CA_NEXT_KEY.into(),
                change: Change::Created,
            });
            Ok((out, CaStage::TrustAdded))
        }
        (2, Some(next_text)) => {
            let next_key = Key::from_pem(next_text, None).map_err(file_err(CA_NEXT_KEY))?;
            if !state.bundle.iter().any(|c| c.spki == next_key.spki()) {
                return Err(CredentialsError::Inconsistent {
                    file: CA_NEXT_KEY.into(),
                    message: format!("does not belong to any certificate in {CA_CERT}"),
                    fix: format!("restore the {CA_CERT} written by stage 1 of the CA rotation"),
                });
            }
            let mut staged = current.clone();
            staged.insert(CA_KEY.into(), next_key.pem.into_bytes());
            staged.remove(CA_NEXT_KEY);
            let mut out = reconcile(cluster, &staged, CaSource::Existing, opts)?;
            relabel(&mut out, current, CA_KEY, "the new CA signs from now on");
            relabel(
                &mut out,
                current,
                CA_CERT,
                "the new CA comes first (it signs); both CAs are still trusted",
            );
            for e in &mut out.entries {
                if let Change::Replaced(reason) = &mut e.change
                    && reason == "not issued by the current CA"
                {
                    *reason = "re-issued from the new CA".into();
                }
            }
            out.entries.push(Entry {
                file: CA_NEXT_KEY.into(),
                change: Change::Removed("it is ca-key.pem now".into()),
            });
            Ok((out, CaStage::SigningSwitched))
        }
        (2, None) => {
            let signer = &state.signer;
            let stale: Vec<String> = leaf_certificates(cluster)
                .iter()
                .filter(|s| s.issuer == Authority::Cluster)
                .map(|s| format!("{}.pem", s.name))
                .filter(|name| {
                    text(current, name)
                        .ok()
                        .flatten()
                        .and_then(|t| pki::parse_certificates(t).ok())
                        .is_none_or(|c| !c[0].issued_by(&signer.cert))
                })
                .collect();
            if !stale.is_empty() {
                return Err(CredentialsError::Inconsistent {
                    file: stale.join(", "),
                    message: "not yet issued by the new CA, so the old CA is still needed".into(),
                    fix: "run `kubeline render credentials` and apply before finishing the CA rotation".into(),
                });
            }
            let mut staged = current.clone();
            staged.insert(
                CA_CERT.into(),
                bundle_pem(std::slice::from_ref(&signer.cert)),
            );
            let mut out = reconcile(cluster, &staged, CaSource::Existing, opts)?;
            relabel(
                &mut out,
                current,
                CA_CERT,
                "the old CA left the trust bundle",
            );
            Ok((out, CaStage::OldRemoved))
        }
        (1, Some(_)) => Err(CredentialsError::Inconsistent {
            file: CA_NEXT_KEY.into(),
            message: format!("exists but {CA_CERT} holds only one CA"),
            fix: format!(
                "restore the two-CA {CA_CERT} from stage 1, or delete {CA_NEXT_KEY} to start over"
            ),
        }),
        (n, _) => Err(CredentialsError::Inconsistent {
            file: CA_CERT.into(),
            message: format!("holds {n} certificates; kubeline rotates between at most two CAs"),
            fix: "keep the current CA and at most one new one in ca.pem".into(),
        }),
    }
}

/// Reports `file` against the caller's original set (the staged set it was computed from hides
/// the change).
fn relabel(out: &mut Outcome, original: &Files, file: &str, reason: &str) {
    let change = match (original.get(file), out.files.get(file)) {
        (Some(a), Some(b)) if a == b => Change::Unchanged,
        (Some(_), Some(_)) => Change::Replaced(reason.into()),
        (None, Some(_)) => Change::Created,
        (_, None) => Change::Removed(reason.into()),
    };
    for e in &mut out.entries {
        if e.file == file {
            e.change = change.clone();
        }
    }
}
