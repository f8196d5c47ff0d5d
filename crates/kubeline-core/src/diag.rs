//! Diagnostics: problems found in cluster.yaml, each with a location, a path and a fix.

use std::fmt;

use crate::yaml::{Path, Pos};

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The file is rejected.
    Error,
    /// The file is accepted, but the choice is risky (for example not highly available).
    Warning,
}

/// One finding in cluster.yaml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Where in the file.
    pub pos: Pos,
    /// Which setting.
    pub path: Path,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: String,
}

impl Diagnostic {
    /// Renders the finding as `FILE:LINE:COL: path: message; hint`.
    pub fn display_with<'a>(&'a self, file: &'a str) -> impl fmt::Display + 'a {
        struct D<'a>(&'a Diagnostic, &'a str);
        impl fmt::Display for D<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let d = self.0;
                let tag = match d.severity {
                    Severity::Error => "",
                    Severity::Warning => "warning: ",
                };
                write!(f, "{}:{}: {tag}{}: {}", self.1, d.pos, d.path, d.message)?;
                if !d.hint.is_empty() {
                    write!(f, "; {}", d.hint)?;
                }
                Ok(())
            }
        }
        D(self, file)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.display_with("cluster.yaml").fmt(f)
    }
}

/// All findings of one check, sorted by position.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Only the errors.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Error)
    }
    /// Only the warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Warning)
    }
    /// Is there any error?
    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }
    /// Sorts by position, errors first on equal positions, and drops exact duplicates.
    pub fn sort(&mut self) {
        self.0.sort_by(|a, b| {
            (a.pos, a.severity, &a.path, &a.message).cmp(&(b.pos, b.severity, &b.path, &b.message))
        });
        self.0.dedup();
    }
    /// Renders every finding on its own line with the given file name.
    pub fn render(&self, file: &str) -> String {
        let mut out = String::new();
        for d in &self.0 {
            out.push_str(&d.display_with(file).to_string());
            out.push('\n');
        }
        out
    }
}

/// The closest candidate to `word`, if any is close enough to be a likely misspelling.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&lower, &c.to_ascii_lowercase()), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}
