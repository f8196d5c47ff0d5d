//! The corpus files of tests/kube-aws-configs/ and their directives (`# expect:` and
//! `# renders:` lines, described in the test's module doc), and the checker of a `# renders:`
//! line against what an accepted file rendered.

use kubeline_core::render::Rendered;
use kubeline_tests::{decode_ignition, generated_credentials, repo_root};
use serde_json::Value;

/// One corpus file.
pub(crate) struct CorpusFile {
    pub(crate) name: String,
    pub(crate) text: String,
    pub(crate) expect: Vec<String>,
    pub(crate) renders: Vec<Render>,
}

/// One `# renders:` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Render {
    pub(crate) line: usize,
    pub(crate) target: String,
    pub(crate) present: bool,
    pub(crate) text: String,
}

impl CorpusFile {
    pub(crate) fn accepted(&self) -> bool {
        !self.expect.iter().any(|l| !l.contains(": warning: "))
    }
}

pub(crate) fn corpus() -> Vec<CorpusFile> {
    let dir = repo_root().join("tests/kube-aws-configs");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).expect("read corpus file");
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let renders = text
                .lines()
                .enumerate()
                .filter_map(|(i, l)| l.strip_prefix("# renders: ").map(|r| (i + 1, r)))
                .map(|(line, r)| {
                    parse_render(line, r).unwrap_or_else(|e| panic!("{name}:{line}: {e}"))
                })
                .collect();
            CorpusFile {
                expect: text
                    .lines()
                    .filter_map(|l| l.strip_prefix("# expect: "))
                    .map(str::to_owned)
                    .collect(),
                renders,
                name,
                text,
            }
        })
        .collect()
}

/// `<target> contains|lacks <text>`.
pub(crate) fn parse_render(line: usize, r: &str) -> Result<Render, String> {
    let (target, rest) = r
        .split_once(' ')
        .ok_or("expected `<target> contains|lacks <text>`")?;
    let (verb, text) = rest
        .split_once(' ')
        .ok_or("expected `contains` or `lacks` and a text")?;
    let present = match verb {
        "contains" => true,
        "lacks" => false,
        other => return Err(format!("unknown verb {other:?}: use contains or lacks")),
    };
    if text.trim().is_empty() {
        return Err("empty text".into());
    }
    Ok(Render {
        line,
        target: target.to_owned(),
        present,
        text: text.to_owned(),
    })
}

/// What one accepted file rendered, with the text of each target computed once.
pub(crate) struct Output<'a> {
    pub(crate) cluster: &'a kubeline_core::cluster::Cluster,
    pub(crate) rendered: &'a Rendered,
    pub(crate) credentials: Option<kubeline_core::reconcile::Files>,
}

impl Output<'_> {
    /// The searchable text of `target`.
    fn text(&mut self, target: &str) -> Result<String, String> {
        if target == "cluster" {
            return serde_json::to_string(self.cluster).map_err(|e| e.to_string());
        }
        if let Some(name) = target.strip_prefix("credentials/") {
            let files = self
                .credentials
                .get_or_insert_with(|| generated_credentials(self.cluster));
            let Some(bytes) = files.get(name) else {
                return Err(format!("no credential file {name}"));
            };
            return Ok(certificate_text(&String::from_utf8_lossy(bytes)));
        }
        if let Some((file, what)) = target.split_once(':') {
            let bytes = self
                .rendered
                .files
                .get(file)
                .ok_or_else(|| format!("no rendered file {file}"))?;
            let (files, units, _) = decode_ignition(bytes);
            if let Some(f) = files.iter().find(|f| f.path == what) {
                // A remote file: its source, and the checksum Ignition verifies it with.
                return Ok(f.text.clone().unwrap_or_else(|| match &f.hash {
                    Some(h) => format!("{}\nhash: {h}", f.source),
                    None => f.source.clone(),
                }));
            }
            if let Some(u) = units.iter().find(|u| u.name == what) {
                let mut t = u.contents.clone().unwrap_or_default();
                for d in &u.dropins {
                    t.push('\n');
                    t.push_str(d);
                }
                return Ok(t);
            }
            return Err(format!("{file} has no file or unit {what}"));
        }
        let bytes = self
            .rendered
            .files
            .get(target)
            .ok_or_else(|| format!("no rendered file {target}"))?;
        if target.ends_with(".json") {
            let v: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
            return serde_json::to_string(&v).map_err(|e| e.to_string());
        }
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }

    /// Checks one `# renders:` line.
    pub(crate) fn check(&mut self, r: &Render) -> Result<(), String> {
        let text = self.text(&r.target)?;
        if text.contains(&r.text) == r.present {
            return Ok(());
        }
        let around = excerpt(&text, &r.text);
        Err(format!(
            "{} {} {:?}; it has:\n{around}",
            r.target,
            if r.present {
                "does not contain"
            } else {
                "contains"
            },
            r.text
        ))
    }
}

/// A certificate as `subject:`, `DNS:`, `IP:` and `days:` lines.
fn certificate_text(pem: &str) -> String {
    let Ok(certs) = kubeline_core::pki::parse_certificates(pem) else {
        return String::new();
    };
    let mut out = String::new();
    for c in certs {
        out.push_str(&format!("subject: {}\n", c.subject));
        for d in &c.dns_names {
            out.push_str(&format!("DNS:{d}\n"));
        }
        for ip in &c.ip_addresses {
            out.push_str(&format!("IP:{ip}\n"));
        }
        out.push_str(&format!(
            "days: {}\n",
            (c.not_after - c.not_before).whole_days()
        ));
    }
    out
}

/// Where the first word of `needle` appears in `hay` (the text around it), or its start.
fn excerpt(hay: &str, needle: &str) -> String {
    let word: String = needle.chars().take(12).collect();
    let at = hay.find(&word).unwrap_or(0);
    let mut start = at.saturating_sub(300);
    while !hay.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (at + 900).min(hay.len());
    while !hay.is_char_boundary(end) {
        end -= 1;
    }
    hay[start..end].to_owned()
}
