//! Semantic validation: turns a parsed [`ClusterConfig`] into a [`Cluster`], reporting every rule it breaks.
//!
//! The rules are grouped by the section of cluster.yaml they check, each in its own file, as
//! methods of one `Ctx` that collects the diagnostics: `repair` prepares the parsed tree,
//! `toplevel` checks the top-level keys and assembles the [`Cluster`], `network` the VPC and
//! subnets, `api_endpoints` the API load balancers, `controller`, `etcd` and `worker` the node
//! groups (with `instances`, `labels` and `extras` for what they share), `addons` the add-ons and
//! `settings` certificate lifetimes, extra SANs and the kubelet artifact.

mod addons;
mod api_endpoints;
mod controller;
mod etcd;
mod extras;
mod gpu;
mod instances;
mod labels;
pub mod limits;
mod network;
mod node_iam;
mod repair;
mod service_accounts;
mod settings;
mod toplevel;
mod worker;

use std::net::Ipv4Addr;
use std::str::FromStr;

use crate::check;
use crate::cluster::Cluster;
use crate::diag::{Diagnostic, Diagnostics, Severity};
use crate::model::ClusterConfig;
use crate::types::{Cidr, Invalid, check_aws_id};
use crate::yaml::{self, Located, Path};

use self::repair::{null_as_empty, repair};

/// Most source ranges per security group: AWS's default quota is 60 inbound rules per group
/// and kubeline's own rules need a few.
pub const MAX_SOURCE_CIDRS: usize = 50;

/// The outcome of loading a cluster.yaml.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The validated cluster, when there was no error.
    pub cluster: Option<Cluster>,
    /// The file as parsed (with defaults), when its shape was right.
    pub config: Option<ClusterConfig>,
    /// Every error and warning, sorted by position.
    pub diagnostics: Diagnostics,
}

/// Parses and validates cluster.yaml text: its shape against the JSON Schema (every problem at
/// once), then every rule of kubeline's. Never panics on any input.
#[cfg(feature = "schema")]
pub fn load(text: &str) -> Loaded {
    load_with(text, check::structure)
}

/// Parses and validates cluster.yaml text that [`load`] accepted before: a run's pinned copy,
/// written by the start step after `load`. Every rule of `load` but the JSON Schema's, which the
/// model's serde derives enforce as well (`deny_unknown_fields` everywhere, typed fields, enums,
/// bounds), so such a mistake still fails, with one error instead of one per problem. The
/// differences: serde also takes a list for a mapping (its fields by position) and a one-key
/// mapping for an enum value, which the schema refuses; hence only for copies `load` accepted. Keeps the schema validator out of every
/// function but validate. Never panics on any input.
pub fn reload(text: &str) -> Loaded {
    load_with(text, check::basics)
}

fn load_with(text: &str, structure: fn(&Located) -> Vec<Diagnostic>) -> Loaded {
    let mut doc = match yaml::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            return Loaded {
                cluster: None,
                config: None,
                diagnostics: Diagnostics(vec![Diagnostic {
                    severity: Severity::Error,
                    pos: e.pos,
                    path: Path::root(),
                    message: format!("invalid YAML: {}", e.message),
                    hint: "fix the YAML syntax at this position".into(),
                }]),
            };
        }
    };
    null_as_empty(&mut doc.value);
    // With structural errors, the semantic rules still run on the rest of the file: the broken
    // settings are dropped (so defaults apply) and findings under them are ignored.
    let mut diags = structure(&doc);
    let broken: Vec<Path> = diags.iter().map(|d| d.path.clone()).collect();
    let value = if broken.is_empty() {
        Some(doc.value.clone())
    } else {
        repair(&doc.value, &broken)
    };
    let config = match value.map(serde_json::from_value::<ClusterConfig>) {
        Some(Ok(config)) => Some(config),
        Some(Err(e)) if broken.is_empty() => {
            diags.push(Diagnostic {
                severity: Severity::Error,
                pos: doc.value_pos(&Path::root()),
                path: Path::root(),
                message: e.to_string(),
                hint: "see `kubeline schema` for the expected shape".into(),
            });
            None
        }
        _ => None,
    };
    let mut cluster = None;
    if let Some(config) = &config {
        let mut ctx = Ctx {
            doc: &doc,
            diags: Vec::new(),
        };
        cluster = ctx.cluster(config);
        diags.extend(ctx.diags.into_iter().filter(|d| {
            !broken
                .iter()
                .any(|b| d.path.0.starts_with(&b.0) || b.0.starts_with(&d.path.0))
        }));
    }
    let mut diagnostics = Diagnostics(diags);
    diagnostics.sort();
    let clean = !diagnostics.has_errors();
    Loaded {
        cluster: cluster.filter(|_| clean),
        config: config.filter(|_| broken.is_empty()),
        diagnostics,
    }
}

struct Ctx<'a> {
    doc: &'a Located,
    diags: Vec<Diagnostic>,
}

fn root() -> Path {
    Path::root()
}

impl Ctx<'_> {
    fn push(&mut self, severity: Severity, path: Path, message: String, hint: String) {
        let pos = self.doc.value_pos(&path);
        self.diags.push(Diagnostic {
            severity,
            pos,
            path,
            message,
            hint,
        });
    }

    fn err(&mut self, path: Path, message: impl Into<String>, hint: impl Into<String>) {
        self.push(Severity::Error, path, message.into(), hint.into());
    }

    fn warn(&mut self, path: Path, message: impl Into<String>, hint: impl Into<String>) {
        self.push(Severity::Warning, path, message.into(), hint.into());
    }

    /// Is `path` written in the file (rather than defaulted)?
    fn present(&self, path: &Path) -> bool {
        let mut v = &self.doc.value;
        for seg in &path.0 {
            let next = match seg {
                crate::yaml::Seg::Key(k) => v.get(k.as_str()),
                crate::yaml::Seg::Index(i) => v.get(*i),
            };
            match next {
                Some(n) => v = n,
                None => return false,
            }
        }
        true
    }

    fn invalid(&mut self, path: Path, e: Invalid) {
        self.err(path, e.reason, e.hint);
    }

    fn parse<T: FromStr<Err = Invalid>>(&mut self, path: Path, s: &str) -> Option<T> {
        match s.parse() {
            Ok(v) => Some(v),
            Err(e) => {
                self.invalid(path, e);
                None
            }
        }
    }

    fn id(&mut self, path: Path, s: &str, prefix: &str) -> Option<String> {
        match check_aws_id(s, prefix) {
            Ok(()) => Some(s.to_owned()),
            Err(e) => {
                self.invalid(path, e);
                None
            }
        }
    }

    fn cidrs(&mut self, path: Path, list: &[String]) -> Vec<Cidr> {
        list.iter()
            .enumerate()
            .filter_map(|(i, s)| self.parse(path.index(i), s))
            .collect()
    }

    fn ip(&mut self, path: Path, s: &str) -> Option<Ipv4Addr> {
        match s.parse() {
            Ok(ip) => Some(ip),
            Err(_) => {
                self.err(
                    path,
                    format!("{s:?} is not an IPv4 address"),
                    "write it as four numbers, e.g. 10.3.0.10",
                );
                None
            }
        }
    }
}
