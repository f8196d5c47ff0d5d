//! Keeping a cluster's credential files in step with its cluster.yaml: create what is missing,
//! keep every valid file byte-identical, re-issue only certificates whose subject, names or
//! usages changed or that expire within the renewal window, and rotate the CA in safe stages.
//!
//! Works on an in-memory file set (kube-aws's names, plaintext), so the CLI's `credentials/`
//! directory and the pipeline's KMS-sealed S3 store share the same rules.
//!
//! [`reconcile`] (here) drives one run; the rules live by concern: `ca` loads, generates and
//! imports the CAs, `leaves` issues the leaf certificates, `secrets` keeps the service-account
//! key, the tokens and the encryption config, `rotate` advances a CA rotation, `listing` reads
//! the certificates of a set back, `report` accumulates the new set and what changed, and
//! `error` says why a run failed.

mod ca;
mod error;
mod leaves;
mod listing;
mod report;
mod rotate;
mod secrets;

use time::OffsetDateTime;

use crate::cluster::Cluster;
use crate::credentials::{Authority, leaf_certificates};

pub use self::error::CredentialsError;
pub use self::listing::{CertRow, certificates, earliest_certificate};
pub use self::report::{Change, Entry, Outcome};
pub use self::rotate::{CaStage, rotate_ca};

use self::ca::{Signers, bundle_pem, generate_ca, import_ca, load_ca, own_ca, signer_first};
use self::leaves::issue_leaves;
use self::report::Writer;
use self::secrets::secrets;

pub use crate::credential_files::*;

/// Every file name a complete set has (outside a CA rotation), in a stable order.
pub fn expected_files(cluster: &Cluster) -> Vec<String> {
    let mut names = Vec::new();
    for a in Authority::ALL {
        names.push(a.cert_file().to_owned());
        names.push(a.key_file().to_owned());
    }
    for spec in leaf_certificates(cluster) {
        names.push(format!("{}.pem", spec.name));
        names.push(format!("{}-key.pem", spec.name));
    }
    names.extend(
        [
            SA_KEY,
            SA_PUB,
            SA_JWKS,
            TOKENS,
            BOOTSTRAP_TOKEN,
            ENCRYPTION_CONFIG,
        ]
        .map(str::to_owned),
    );
    names
}

/// Where the CA comes from.
#[derive(Debug, Clone, Copy)]
pub enum CaSource<'a> {
    /// The CA already in the set (an error if there is none).
    Existing,
    /// Generate a CA when the set has none (kept when it has one).
    Generate,
    /// The organisation's CA: certificate and key PEM, passphrase for an encrypted key.
    Import {
        /// CA certificate PEM.
        cert_pem: &'a str,
        /// CA key PEM.
        key_pem: &'a str,
        /// Passphrase of an `ENCRYPTED PRIVATE KEY`.
        passphrase: Option<&'a str>,
    },
}

/// Clock and renewal window.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// The current time.
    pub now: OffsetDateTime,
    /// Certificates expiring within this many days are renewed.
    pub renew_within_days: u32,
}

/// Default renewal window in days.
pub const DEFAULT_RENEW_WITHIN_DAYS: u32 = 30;

/// Brings the credential set up to date with the cluster (the `render credentials` and
/// `rotate credentials` rules).
pub fn reconcile(
    cluster: &Cluster,
    current: &Files,
    ca: CaSource<'_>,
    opts: &Options,
) -> Result<Outcome, CredentialsError> {
    let mut w = Writer::new(current);
    let state = match ca {
        CaSource::Existing => load_ca(current)?,
        CaSource::Generate => {
            if current.contains_key(CA_CERT) {
                w.notes.push(format!(
                    "kept the existing CA in {CA_CERT}; replace it with `kubeline rotate credentials --ca`"
                ));
                load_ca(current)?
            } else {
                generate_ca(cluster, Authority::Cluster, opts)?
            }
        }
        CaSource::Import {
            cert_pem,
            key_pem,
            passphrase,
        } => import_ca(cert_pem, key_pem, passphrase, opts)?,
    };
    w.put(CA_CERT, bundle_pem(&signer_first(&state)), "a different CA");
    w.put(
        CA_KEY,
        state.signer.key.pem.clone().into_bytes(),
        "a different CA key",
    );
    let ca_days = state.signer.cert.days_left(opts.now);
    if ca_days <= i64::from(opts.renew_within_days) {
        w.notes.push(format!(
            "the CA expires in {ca_days} days: start a CA rotation with `kubeline rotate credentials --ca`"
        ));
    }
    let etcd = own_ca(cluster, current, Authority::Etcd, opts, &mut w)?;
    let front_proxy = own_ca(cluster, current, Authority::FrontProxy, opts, &mut w)?;
    let signers = Signers {
        cluster: &state.signer,
        etcd: &etcd,
        front_proxy: &front_proxy,
    };
    issue_leaves(cluster, current, &signers, opts, &mut w)?;
    secrets(cluster, current, &mut w)?;
    Ok(w.finish())
}
