//! The report of a run: what happened to each file ([`Change`], [`Entry`]), the [`Outcome`],
//! and the writer that accumulates the new file set.

use super::Files;

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Kept byte-identical.
    Unchanged,
    /// Did not exist; created.
    Created,
    /// Replaced, for the reason given.
    Replaced(String),
    /// Removed, for the reason given.
    Removed(String),
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// File name.
    pub file: String,
    /// What happened.
    pub change: Change,
}

/// The new file set and what changed.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Every file, including ones kubeline does not manage (kept as they were).
    pub files: Files,
    /// One entry per managed file, in a stable order.
    pub entries: Vec<Entry>,
    /// Things the operator should know (near-expiry CA, algorithm changes not applied, ...).
    pub notes: Vec<String>,
}

impl Outcome {
    /// Whether any file changed.
    pub fn changed(&self) -> bool {
        self.entries.iter().any(|e| e.change != Change::Unchanged)
    }
}

/// Accumulates the new file set and the report.
pub(super) struct Writer {
    files: Files,
    old: Files,
    entries: Vec<Entry>,
    pub(super) notes: Vec<String>,
}

impl Writer {
    pub(super) fn new(current: &Files) -> Writer {
        Writer {
            files: current.clone(),
            old: current.clone(),
            entries: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Sets `name`; unchanged when the bytes are equal, else created or replaced for `reason`.
    pub(super) fn put(&mut self, name: &str, bytes: Vec<u8>, reason: &str) {
        let change = match self.old.get(name) {
            Some(old) if *old == bytes => Change::Unchanged,
            Some(_) => Change::Replaced(reason.to_owned()),
            None => Change::Created,
        };
        self.files.insert(name.to_owned(), bytes);
        self.entries.push(Entry {
            file: name.to_owned(),
            change,
        });
    }

    pub(super) fn replace(&mut self, name: &str, bytes: Vec<u8>, reason: String) {
        let existed = self.old.contains_key(name);
        self.files.insert(name.to_owned(), bytes);
        self.entries.push(Entry {
            file: name.to_owned(),
            change: if existed {
                Change::Replaced(reason)
            } else {
                Change::Created
            },
        });
    }

    pub(super) fn keep(&mut self, name: &str) {
        self.entries.push(Entry {
            file: name.to_owned(),
            change: Change::Unchanged,
        });
    }

    pub(super) fn finish(self) -> Outcome {
        Outcome {
            files: self.files,
            entries: self.entries,
            notes: self.notes,
        }
    }
}
