//! Reading a set's certificates back: the one that expires first, and the rows of
//! `show certificates`.

use super::error::text;
use super::{Files, is_secret};
use crate::cluster::Cluster;
use crate::credentials::{Authority, leaf_certificates};
use crate::pki::{self, CertInfo};

/// The certificate of the set that expires first (bundles included), with its file.
pub fn earliest_certificate(files: &Files) -> Option<(String, CertInfo)> {
    files
        .iter()
        .filter(|(name, _)| name.ends_with(".pem") && !is_secret(name))
        .filter_map(|(name, bytes)| {
            let certs = pki::parse_certificates(std::str::from_utf8(bytes).ok()?).ok()?;
            Some(certs.into_iter().map(move |c| (name.clone(), c)))
        })
        .flatten()
        .min_by_key(|(_, c)| c.not_after)
}

/// One row of `show certificates`.
#[derive(Debug, Clone)]
pub struct CertRow {
    /// File name (a bundle gives one row per certificate).
    pub file: String,
    /// The certificate, or why it could not be read.
    pub cert: Result<CertInfo, String>,
}

/// Every certificate of a set: the CAs first (the cluster CA bundle, the etcd CA, the
/// front-proxy CA), then the leaves in plan order.
pub fn certificates(cluster: &Cluster, files: &Files) -> Vec<CertRow> {
    let mut names: Vec<String> = Authority::ALL
        .iter()
        .map(|a| a.cert_file().to_owned())
        .collect();
    names.extend(
        leaf_certificates(cluster)
            .iter()
            .map(|s| format!("{}.pem", s.name)),
    );
    let mut rows = Vec::new();
    for name in names {
        match text(files, &name) {
            Ok(Some(t)) => match pki::parse_certificates(t) {
                Ok(certs) => rows.extend(certs.into_iter().map(|c| CertRow {
                    file: name.clone(),
                    cert: Ok(c),
                })),
                Err(e) => rows.push(CertRow {
                    file: name,
                    cert: Err(e.to_string()),
                }),
            },
            Ok(None) => rows.push(CertRow {
                file: name,
                cert: Err("missing".into()),
            }),
            Err(e) => rows.push(CertRow {
                file: name,
                cert: Err(e.to_string()),
            }),
        }
    }
    rows
}
