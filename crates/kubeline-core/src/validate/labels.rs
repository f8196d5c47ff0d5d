//! Kubernetes label rules: node labels, and the label key and value checks that taints share.

use std::collections::BTreeMap;

use super::Ctx;
use crate::types::{DnsName, is_dns_label};
use crate::yaml::Path;

impl Ctx<'_> {
    pub(super) fn labels(&mut self, path: Path, labels: &BTreeMap<String, String>) {
        for (k, v) in labels {
            let p = path.key(k);
            if let Err(m) = label_key(k) {
                self.err(
                    p.clone(),
                    format!("label key {k:?} {m}"),
                    "use [prefix/]name with name of up to 63 of A-Z a-z 0-9 - _ .",
                );
            }
            if !label_value(v) {
                self.err(
                    p,
                    format!("label value {v:?} is not a valid Kubernetes label value"),
                    "use up to 63 of A-Z a-z 0-9 - _ ., starting and ending alphanumeric",
                );
            }
        }
    }
}

/// Checks a Kubernetes label key (`[prefix/]name`).
pub(super) fn label_key(k: &str) -> Result<(), &'static str> {
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    if let Some(p) = prefix
        && (p.is_empty() || p.len() > 253 || p.parse::<DnsName>().is_err() && !is_dns_label(p))
    {
        return Err("has an invalid prefix (a DNS subdomain is expected)");
    }
    if name.is_empty() || !label_value(name) {
        return Err("has an invalid name");
    }
    Ok(())
}

/// Checks a Kubernetes label value.
pub(super) fn label_value(v: &str) -> bool {
    v.is_empty()
        || (v.len() <= 63
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && v.starts_with(|c: char| c.is_ascii_alphanumeric())
            && v.ends_with(|c: char| c.is_ascii_alphanumeric()))
}
