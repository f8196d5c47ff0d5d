//! The certificate authorities: loading a CA (or trust bundle) from the set, generating one,
//! importing the organisation's CA, keeping the etcd and front-proxy CAs, and the signer of each.

use super::error::{file_err, text};
use super::report::Writer;
use super::{CredentialsError, Files, Options};
use crate::cluster::Cluster;
use crate::credentials::Authority;
use crate::pki::{self, CertInfo, Key, Signer};

/// The CA state of a set: trust bundle and the signer within it.
#[derive(Debug)]
pub(super) struct CaState {
    pub(super) bundle: Vec<CertInfo>,
    pub(super) signer: Signer,
}

pub(super) fn load_ca(files: &Files) -> Result<CaState, CredentialsError> {
    load_authority(files, Authority::Cluster)
}

/// Loads the CA `a` from the set (its certificate or bundle, and the key that signs).
fn load_authority(files: &Files, a: Authority) -> Result<CaState, CredentialsError> {
    let (cert_file, key_file) = (a.cert_file(), a.key_file());
    let Some(cert_text) = text(files, cert_file)? else {
        return Err(match a {
            Authority::Cluster => CredentialsError::NoCa,
            _ => CredentialsError::Inconsistent {
                file: cert_file.into(),
                message: format!("missing while {key_file} exists"),
                fix: recreate_fix(a),
            },
        });
    };
    let bundle = pki::parse_certificates(cert_text).map_err(file_err(cert_file))?;
    let Some(key_text) = text(files, key_file)? else {
        return Err(CredentialsError::Inconsistent {
            file: key_file.into(),
            message: "missing, so nothing can be issued".into(),
            fix: match a {
                Authority::Cluster => {
                    format!("restore {key_file} from your backup of the credentials")
                }
                _ => recreate_fix(a),
            },
        });
    };
    let key = Key::from_pem(key_text, None).map_err(file_err(key_file))?;
    let spki = key.spki();
    let Some(cert) = bundle.iter().find(|c| c.spki == spki).cloned() else {
        return Err(CredentialsError::Inconsistent {
            file: key_file.into(),
            message: format!("does not belong to any certificate in {cert_file}"),
            fix: format!("restore the matching {cert_file} and {key_file} pair"),
        });
    };
    Ok(CaState {
        bundle,
        signer: Signer { cert, key },
    })
}

/// How to recover a lost etcd or front-proxy CA.
fn recreate_fix(a: Authority) -> String {
    format!(
        "restore {} and {} from your backup, or delete both to have {} created anew (the \
         certificates it issues are re-issued)",
        a.cert_file(),
        a.key_file(),
        a.describe()
    )
}

/// A new self-signed CA `a` with the cluster's key algorithm and CA lifetime.
pub(super) fn generate_ca(
    cluster: &Cluster,
    a: Authority,
    opts: &Options,
) -> Result<CaState, CredentialsError> {
    let key = Key::generate(cluster.tls.key_algorithm).map_err(file_err(a.key_file()))?;
    let pem = pki::self_signed_ca(
        a.common_name(),
        &key,
        cluster.tls.ca_duration_days,
        opts.now,
    )
    .map_err(file_err(a.cert_file()))?;
    let cert = pki::parse_certificates(&pem)
        .map_err(file_err(a.cert_file()))?
        .remove(0);
    Ok(CaState {
        bundle: vec![cert.clone()],
        signer: Signer { cert, key },
    })
}

/// The etcd or front-proxy CA: kept when the set has it, generated when it has neither file
/// (whatever the cluster CA's source: a bring-your-own CA is the cluster CA only).
pub(super) fn own_ca(
    cluster: &Cluster,
    current: &Files,
    a: Authority,
    opts: &Options,
    w: &mut Writer,
) -> Result<Signer, CredentialsError> {
    let state = if current.contains_key(a.cert_file()) || current.contains_key(a.key_file()) {
        load_authority(current, a)?
    } else {
        generate_ca(cluster, a, opts)?
    };
    w.put(
        a.cert_file(),
        bundle_pem(&signer_first(&state)),
        "a different CA",
    );
    w.put(
        a.key_file(),
        state.signer.key.pem.clone().into_bytes(),
        "a different CA key",
    );
    let days = state.signer.cert.days_left(opts.now);
    if days <= i64::from(opts.renew_within_days) {
        w.notes.push(format!(
            "{} ({}) expires in {days} days; `kubeline rotate credentials --ca` rotates the \
             cluster CA only: replace it by deleting {} and {} and running `kubeline render \
             credentials` (its certificates are re-issued; etcd members and controllers must \
             then be rolled together)",
            a.cert_file(),
            a.describe(),
            a.cert_file(),
            a.key_file()
        ));
    }
    Ok(state.signer)
}

/// The signer of each CA.
pub(super) struct Signers<'a> {
    pub(super) cluster: &'a Signer,
    pub(super) etcd: &'a Signer,
    pub(super) front_proxy: &'a Signer,
}

impl Signers<'_> {
    pub(super) fn of(&self, a: Authority) -> &Signer {
        match a {
            Authority::Cluster => self.cluster,
            Authority::Etcd => self.etcd,
            Authority::FrontProxy => self.front_proxy,
        }
    }
}

pub(super) fn bundle_pem(bundle: &[CertInfo]) -> Vec<u8> {
    bundle
        .iter()
        .map(|c| pki::pem_encode("CERTIFICATE", &c.der))
        .collect::<String>()
        .into_bytes()
}

/// The trust bundle with the signing CA first: kube-controller-manager's signer and the
/// controllers' `openssl x509 -CA` take the first certificate of ca.pem as the one that
/// matches ca-key.pem.
pub(super) fn signer_first(state: &CaState) -> Vec<CertInfo> {
    let mut out = vec![state.signer.cert.clone()];
    out.extend(
        state
            .bundle
            .iter()
            .filter(|c| c.der != state.signer.cert.der)
            .cloned(),
    );
    out
}

pub(super) fn import_ca(
    cert_pem: &str,
    key_pem: &str,
    passphrase: Option<&str>,
    opts: &Options,
) -> Result<CaState, CredentialsError> {
    const CERT_ARG: &str = "--ca-cert-path";
    const KEY_ARG: &str = "--ca-key-path";
    let cert = pki::parse_certificates(cert_pem)
        .map_err(file_err(CERT_ARG))?
        .remove(0);
    let key = Key::from_pem(key_pem, passphrase).map_err(file_err(KEY_ARG))?;
    if !cert.is_ca {
        return Err(CredentialsError::Inconsistent {
            file: CERT_ARG.into(),
            message: format!("`{}` is not a CA certificate (basicConstraints CA:FALSE or missing)", cert.subject),
            fix: "pass the certificate of a CA (basicConstraints=critical,CA:TRUE, keyUsage keyCertSign)".into(),
        });
    }
    if cert.spki != key.spki() {
        return Err(CredentialsError::Inconsistent {
            file: KEY_ARG.into(),
            message: "the key does not belong to the certificate given with --ca-cert-path".into(),
            fix: "pass the CA certificate and its own key".into(),
        });
    }
    if cert.not_after <= opts.now {
        return Err(CredentialsError::Inconsistent {
            file: CERT_ARG.into(),
            message: format!("the CA expired on {}", cert.not_after.date()),
            fix: "pass a CA certificate that is still valid".into(),
        });
    }
    Ok(CaState {
        bundle: vec![cert.clone()],
        signer: Signer { cert, key },
    })
}
