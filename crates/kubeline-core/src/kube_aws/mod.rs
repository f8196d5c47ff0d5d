//! kube-aws's cluster.yaml keys and kubeline's answer to each: supported with kube-aws's
//! meaning, or refused with what to write instead.
//!
//! The table (`keys.tsv`, one row per key of kube-aws v0.16.4's `cluster.yaml.tmpl`) is the
//! one source of docs/kube-aws.md and of the refusal messages [`crate::check`] gives when a
//! migrating team's cluster.yaml still carries a key kubeline does not take.

use std::sync::OnceLock;

/// What kubeline does with a kube-aws key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    /// Accepted at the same path, with kube-aws's meaning (the note gives differences).
    Supported,
    /// Not accepted; the note says what kube-aws did and what to write instead.
    Refused,
}

/// One key of kube-aws's cluster.yaml.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KubeAwsKey {
    /// Dotted path, `[]` for list items: `worker.nodePools[].spotFleet`.
    pub path: &'static str,
    /// kubeline's answer.
    pub status: KeyStatus,
    /// What the key did in kube-aws.
    pub what: &'static str,
    /// What to write instead (`none (...)` when nothing replaces it), if this row says.
    pub now: Option<&'static str>,
}

const TABLE: &str = include_str!("keys.tsv");

/// Every kube-aws key, in the template's order.
pub fn keys() -> &'static [KubeAwsKey] {
    static KEYS: OnceLock<Vec<KubeAwsKey>> = OnceLock::new();
    KEYS.get_or_init(|| TABLE.lines().filter_map(parse_row).collect())
}

fn parse_row(line: &'static str) -> Option<KubeAwsKey> {
    if line.starts_with('#') {
        return None;
    }
    let mut cells = line.splitn(3, '\t');
    let path = cells.next()?;
    let status = match cells.next()? {
        "supported" => KeyStatus::Supported,
        "refused" => KeyStatus::Refused,
        _ => return None,
    };
    let note = cells.next()?;
    let (what, now) = match note.split_once("; Now: ") {
        Some((what, now)) => (what, Some(now)),
        None => (note, None),
    };
    Some(KubeAwsKey {
        path,
        status,
        what,
        now,
    })
}

/// The row of `path` (dotted, `[]` for list items), if kube-aws had that key.
pub fn key(path: &str) -> Option<&'static KubeAwsKey> {
    keys().iter().find(|k| k.path == path)
}

/// The row's note as docs/kube-aws.md prints it.
pub fn note(key: &KubeAwsKey) -> String {
    match key.now {
        Some(now) => format!("{}; Now: {now}", key.what),
        None => key.what.to_owned(),
    }
}

/// Why kubeline refuses a kube-aws key the user wrote, and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The diagnostic's message.
    pub message: String,
    /// The diagnostic's hint.
    pub hint: String,
    /// The replacement this hint names (`none (...)` included), if any row in the key's
    /// ancestry gives one.
    pub instead: Option<&'static str>,
}

/// The refusal of the kube-aws key at `path`, or `None` when kube-aws had no such key (or
/// kubeline supports it). A row without its own "Now:" takes its nearest ancestor's.
pub fn refusal(path: &str) -> Option<Refusal> {
    let row = key(path).filter(|k| k.status == KeyStatus::Refused)?;
    let now = row.now.or_else(|| {
        ancestors(path)
            .filter_map(key)
            .find_map(|k| k.now.filter(|_| k.status == KeyStatus::Refused))
    });
    let hint = match now {
        Some(now) if now.starts_with("none") => match now.strip_prefix("none").map(str::trim) {
            Some(why) if !why.is_empty() => {
                format!("remove it; kubeline has no replacement {why}")
            }
            _ => "remove it; kubeline has no replacement".to_owned(),
        },
        Some(now) if now.starts_with("see ") => format!("remove it; {now} in docs/kube-aws.md"),
        Some(now) => format!("remove it; instead: {now}"),
        None => "remove it; docs/kube-aws.md lists what replaces each kube-aws key".to_owned(),
    };
    Some(Refusal {
        message: format!("a kube-aws setting kubeline does not take: {}", row.what),
        hint,
        instead: now,
    })
}

/// Whether the row names its own replacement (or its own "none"), rather than being a
/// section (`Now: see ...`) whose keys have their own answers, or saying nothing.
pub fn has_own_answer(path: &str) -> bool {
    key(path).is_some_and(|k| {
        k.status == KeyStatus::Refused && k.now.is_some_and(|now| !now.starts_with("see "))
    })
}

/// `a.b[].c` → `a.b[]`, `a.b`, `a`.
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    let mut rest = path;
    std::iter::from_fn(move || {
        let cut = rest.rfind(['.', '['])?;
        rest = &rest[..cut];
        Some(rest)
    })
    .filter(|p| !p.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestors_walk_up_dotted_and_list_paths() {
        let got: Vec<&str> = ancestors("worker.nodePools[].spotFleet.spotPrice").collect();
        assert_eq!(
            got,
            [
                "worker.nodePools[].spotFleet",
                "worker.nodePools[]",
                "worker.nodePools",
                "worker"
            ]
        );
    }
}
