//! Leaf certificates: keeping each one of the plan that is still valid, and issuing (with a new
//! key when needed) the ones that are missing, mismatched or about to expire.

use super::ca::Signers;
use super::error::{CredentialsError, file_err, text};
use super::report::Writer;
use super::{Files, Options};
use crate::cluster::Cluster;
use crate::credentials::{Authority, CertSpec, leaf_certificates};
use crate::pki::{self, Key, Signer};

pub(super) fn issue_leaves(
    cluster: &Cluster,
    current: &Files,
    signers: &Signers<'_>,
    opts: &Options,
    w: &mut Writer,
) -> Result<(), CredentialsError> {
    let alg = cluster.tls.key_algorithm;
    for spec in leaf_certificates(cluster) {
        let signer = signers.of(spec.issuer);
        let cert_name = format!("{}.pem", spec.name);
        let key_name = format!("{}-key.pem", spec.name);
        let (key, key_reason) = match text(current, &key_name) {
            Ok(Some(t)) => match Key::from_pem(t, None) {
                Ok(k) if k.algorithm() == Some(alg) => (k, None),
                Ok(_) => (
                    Key::generate(alg).map_err(file_err(&key_name))?,
                    Some(format!("the key algorithm is now {}", alg.as_str())),
                ),
                Err(e) => (
                    Key::generate(alg).map_err(file_err(&key_name))?,
                    Some(format!("the old key was unreadable ({e})")),
                ),
            },
            Ok(None) => (Key::generate(alg).map_err(file_err(&key_name))?, None),
            Err(e) => (
                Key::generate(alg).map_err(file_err(&key_name))?,
                Some(e.to_string()),
            ),
        };
        let verdict = match (text(current, &cert_name), &key_reason) {
            (_, Some(reason)) => Some(format!("new key: {reason}")),
            (Ok(None), None) => Some(String::new()),
            (Err(e), None) => Some(e.to_string()),
            (Ok(Some(t)), None) => check_leaf(&spec, t, &key, signer, opts),
        };
        w.put(
            &key_name,
            key.pem.clone().into_bytes(),
            key_reason.as_deref().unwrap_or(""),
        );
        match verdict {
            None => w.keep(&cert_name),
            Some(reason) => {
                let pem =
                    pki::issue(&spec, &key, signer, opts.now).map_err(file_err(&cert_name))?;
                w.replace(&cert_name, pem.into_bytes(), reason);
            }
        }
    }
    Ok(())
}

/// Why an existing certificate must be re-issued, or `None` to keep it.
fn check_leaf(
    spec: &CertSpec,
    cert_text: &str,
    key: &Key,
    signer: &Signer,
    opts: &Options,
) -> Option<String> {
    let cert = match pki::parse_certificates(cert_text) {
        Ok(mut certs) => certs.remove(0),
        Err(e) => return Some(format!("unreadable ({e})")),
    };
    if cert.spki != key.spki() {
        return Some(format!("does not match {}-key.pem", spec.name));
    }
    if !cert.issued_by(&signer.cert) {
        return Some(match spec.issuer {
            Authority::Cluster => "not issued by the current CA".into(),
            other => format!("not issued by {} ({})", other.describe(), other.cert_file()),
        });
    }
    if let Some(why) = pki::mismatch(spec, &cert) {
        return Some(why);
    }
    let days = cert.days_left(opts.now);
    if days <= i64::from(opts.renew_within_days) {
        return Some(format!(
            "expires in {days} days (renewal window {} days)",
            opts.renew_within_days
        ));
    }
    None
}
