//! The etcd snapshot a run takes before it changes etcd or the control plane: whether the plan
//! needs one, the request the etcd members poll for, and when the wait for it is over.
//!
//! The pipeline cannot reach etcd (its functions run outside the cluster's VPC) and is given no
//! remote-command rights on instances. It writes a request object; every etcd member polls for
//! it each minute (`etcd-snapshot-request.timer`) and the leader answers with an ordinary
//! snapshot under `etcd-snapshots/`. Any snapshot whose key (`<UTC time>-<member>.db`, keys
//! sort by time) is not older than the request's time is a snapshot taken before this run
//! changed anything, because the run changes nothing until it has one.

use serde::{Deserialize, Serialize};

use super::plan::{StackAction, StackChange};

/// The etcd stack output saying its members answer snapshot requests (members rendered before
/// the poller existed do not, and the run must not wait for them).
pub const SNAPSHOT_ON_REQUEST_OUTPUT: &str = "EtcdSnapshotOnRequest";

/// How long a run waits for the requested snapshot before it fails (a member polls each
/// minute; a snapshot of etcd's default 2 GiB quota uploads in well under this).
pub const SNAPSHOT_WAIT_MINUTES: i64 = 15;

/// What a plan does about an etcd snapshot before its changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum PreRunSnapshot {
    /// Neither etcd nor the control plane changes.
    #[default]
    NotNeeded,
    /// The run waits for a fresh snapshot before it executes any change set.
    Take,
    /// The change needs one but none can be taken; the plan says why.
    Unavailable {
        /// Why, for the plan and chat.
        reason: String,
    },
}

impl PreRunSnapshot {
    /// Whether the run waits for a snapshot.
    pub fn is_take(&self) -> bool {
        matches!(self, PreRunSnapshot::Take)
    }

    /// The plan's line about it (none when not needed).
    pub fn line(&self) -> Option<String> {
        match self {
            PreRunSnapshot::NotNeeded => None,
            PreRunSnapshot::Take => Some(format!(
                "etcd snapshot first: the etcd leader uploads a snapshot to etcd-snapshots/ before any stack changes; the run fails, changing nothing, if none arrives within {SNAPSHOT_WAIT_MINUTES} minutes"
            )),
            PreRunSnapshot::Unavailable { reason } => {
                Some(format!("no etcd snapshot before this change: {reason}"))
            }
        }
    }
}

/// Whether a plan changing `stacks` needs a snapshot first: when it updates the etcd stack or
/// the control-plane stack (creating them changes no existing data). It is taken when the
/// deployed members can answer (`deployed_etcd_answers`: the deployed etcd stack reports
/// [`SNAPSHOT_ON_REQUEST_OUTPUT`]), whatever the new cluster.yaml says about schedules: the
/// members that hold the data are the deployed ones.
pub fn pre_run_snapshot(
    stacks: &[StackChange],
    etcd_stack: &str,
    control_plane_stack: &str,
    deployed_etcd_answers: bool,
) -> PreRunSnapshot {
    let changes_data = stacks.iter().any(|s| {
        s.action == StackAction::Update && (s.stack == etcd_stack || s.stack == control_plane_stack)
    });
    if !changes_data {
        PreRunSnapshot::NotNeeded
    } else if !deployed_etcd_answers {
        PreRunSnapshot::Unavailable {
            reason: format!(
                "the deployed etcd members do not answer snapshot requests ({etcd_stack} has no {SNAPSHOT_ON_REQUEST_OUTPUT} output: etcd.snapshot.automated is false, or they predate the feature and this run installs it); take a snapshot by hand first if you need one (docs/etcd-backup.md)"
            ),
        }
    } else {
        PreRunSnapshot::Take
    }
}

/// The request the etcd members poll for (`clusters/<name>/etcd-snapshot-request.env`), as
/// `KEY=value` lines a shell script reads without a JSON parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotRequest {
    /// The run that asks.
    pub run_id: String,
    /// When it asked, `YYYYMMDDTHHMMSSZ` (the snapshot keys' time format).
    pub requested_at: String,
}

impl SnapshotRequest {
    /// Reads the object's text back (`None` when it is not a request).
    pub fn parse(text: &str) -> Option<SnapshotRequest> {
        Some(SnapshotRequest {
            run_id: env_field(text, "KUBELINE_RUN_ID")?,
            requested_at: env_field(text, "KUBELINE_REQUESTED_AT")?,
        })
    }

    /// The object's text.
    pub fn to_env(&self) -> String {
        format!(
            "KUBELINE_RUN_ID={}\nKUBELINE_REQUESTED_AT={}\n",
            self.run_id, self.requested_at
        )
    }
}

/// The value of `NAME=value` line `name` of an env-style request object.
pub(crate) fn env_field(text: &str, name: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
        .map(str::to_owned)
}

/// `t` in the snapshot keys' (and run ids') time format, `YYYYMMDDTHHMMSSZ`, in UTC: the
/// format `etcd-snapshot` writes with `date -u +%Y%m%dT%H%M%SZ`, which compares as text.
pub fn key_time(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The listing prefixes that can hold a snapshot taken between `requested_at` and `now` (both
/// `YYYYMMDDTHHMMSSZ`): the request's UTC day and, past midnight, today's.
pub fn snapshot_listings(prefix: &str, requested_at: &str, now: &str) -> Vec<String> {
    let day = |t: &str| format!("{prefix}{}", t.get(..8).unwrap_or(t));
    let mut out = vec![day(requested_at)];
    if day(now) != out[0] {
        out.push(day(now));
    }
    out
}

/// Where the wait for a requested snapshot is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotWait {
    /// This snapshot (its key) was taken after the request.
    Taken(String),
    /// None yet; look again after a wait.
    Waiting,
    /// None by the deadline.
    TimedOut,
}

/// The first snapshot under `prefix` whose time is not before `requested_at`, else whether
/// `now` is past `deadline` (all three `YYYYMMDDTHHMMSSZ`, which compare as text).
pub fn snapshot_wait(
    prefix: &str,
    requested_at: &str,
    deadline: &str,
    now: &str,
    keys: &[String],
) -> SnapshotWait {
    let mut taken: Vec<&String> = keys
        .iter()
        .filter(|k| {
            k.strip_prefix(prefix).is_some_and(|name| {
                name.ends_with(".db")
                    && !name.contains('/')
                    && name.get(..16).is_some_and(|t| t >= requested_at)
            })
        })
        .collect();
    taken.sort();
    match taken.first() {
        Some(k) => SnapshotWait::Taken((*k).clone()),
        None if now > deadline => SnapshotWait::TimedOut,
        None => SnapshotWait::Waiting,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(name: &str, action: StackAction) -> StackChange {
        StackChange {
            stack: name.into(),
            action,
            changes: vec![],
            change_set: None,
        }
    }

    #[test]
    fn a_snapshot_comes_first_when_etcd_or_the_control_plane_is_updated() {
        use StackAction::{Create, NoChange, Update};
        // (stacks, deployed members answer) → Take / NotNeeded / Unavailable.
        type Case = (Vec<(&'static str, StackAction)>, bool, &'static str);
        let cases: Vec<Case> = vec![
            (vec![], true, "not"),
            (
                vec![("a-network", Update), ("a-node-pool-x", Update)],
                true,
                "not",
            ),
            // A new cluster: nothing to lose.
            (
                vec![("a-etcd", Create), ("a-control-plane", Create)],
                false,
                "not",
            ),
            (
                vec![("a-etcd", NoChange), ("a-control-plane", Update)],
                true,
                "take",
            ),
            (vec![("a-etcd", Update)], true, "take"),
            (vec![("a-control-plane", Update)], false, "do not answer"),
        ];
        for (stacks, answers, want) in cases {
            let stacks: Vec<StackChange> = stacks.into_iter().map(|(n, a)| stack(n, a)).collect();
            let got = pre_run_snapshot(&stacks, "a-etcd", "a-control-plane", answers);
            match (want, &got) {
                ("not", PreRunSnapshot::NotNeeded) | ("take", PreRunSnapshot::Take) => {}
                (w, PreRunSnapshot::Unavailable { reason }) if reason.contains(w) => {}
                _ => panic!("{stacks:?} {answers}: {got:?}, wanted {want}"),
            }
            assert_eq!(got.line().is_some(), want != "not");
        }
    }

    #[test]
    fn times_convert_to_the_keys_format() {
        let at = |secs: i64, nanos: u32, east_hours: i8| {
            let utc = time::OffsetDateTime::from_unix_timestamp(secs).expect("time")
                + time::Duration::nanoseconds(i64::from(nanos));
            utc.to_offset(time::UtcOffset::from_hms(east_hours, 0, 0).expect("offset"))
        };
        let cases = [
            (at(1_796_276_400, 0, 0), "20261203T054000Z"),
            (at(1_796_276_400, 999_000_000, 0), "20261203T054000Z"),
            // Another offset is converted to UTC first (06:40+01:00, 00:30+01:00 on New Year).
            (at(1_796_276_400, 0, 1), "20261203T054000Z"),
            (at(1_767_223_800, 0, 1), "20251231T233000Z"),
        ];
        for (input, want) in cases {
            assert_eq!(key_time(input), want, "{input}");
        }
    }

    #[test]
    fn the_wait_ends_at_the_first_snapshot_after_the_request_or_the_deadline() {
        let p = "clusters/a/etcd-snapshots/";
        let k = |n: &str| format!("{p}{n}");
        let req = "20261203T054000Z";
        let deadline = "20261203T055500Z";
        let cases: Vec<(Vec<String>, &str, SnapshotWait)> = vec![
            (vec![], "20261203T054100Z", SnapshotWait::Waiting),
            (vec![], "20261203T055501Z", SnapshotWait::TimedOut),
            // The hourly snapshot before the request does not count.
            (
                vec![k("20261203T050000Z-etcd0.db")],
                "20261203T054100Z",
                SnapshotWait::Waiting,
            ),
            // One taken in the request's second counts; the earliest after it is the one.
            (
                vec![
                    k("20261203T050000Z-etcd0.db"),
                    k("20261203T054200Z-etcd1.db"),
                    k("20261203T054000Z-etcd2.db"),
                ],
                "20261203T054300Z",
                SnapshotWait::Taken(k("20261203T054000Z-etcd2.db")),
            ),
            // Found even after the deadline (a slow upload is still a snapshot).
            (
                vec![k("20261203T055000Z-etcd0.db")],
                "20261203T060000Z",
                SnapshotWait::Taken(k("20261203T055000Z-etcd0.db")),
            ),
            // Not a snapshot: other names, other folders, other clusters.
            (
                vec![
                    k("20261203T054500Z-etcd0.db.tmp"),
                    k("x/20261203T054500Z-etcd0.db"),
                    "clusters/b/etcd-snapshots/20261203T054500Z-etcd0.db".into(),
                ],
                "20261203T054600Z",
                SnapshotWait::Waiting,
            ),
        ];
        for (keys, now, want) in cases {
            assert_eq!(
                snapshot_wait(p, req, deadline, now, &keys),
                want,
                "{keys:?} {now}"
            );
        }
    }

    #[test]
    fn listings_cover_the_request_day_and_today() {
        let p = "clusters/a/etcd-snapshots/";
        assert_eq!(
            snapshot_listings(p, "20261203T054000Z", "20261203T055000Z"),
            [format!("{p}20261203")]
        );
        assert_eq!(
            snapshot_listings(p, "20261203T235900Z", "20261204T000500Z"),
            [format!("{p}20261203"), format!("{p}20261204")]
        );
    }

    #[test]
    fn the_request_reads_as_shell_assignments() {
        let r = SnapshotRequest {
            run_id: "a-20261203T054000Z-abcdef".into(),
            requested_at: "20261203T054000Z".into(),
        };
        assert_eq!(
            r.to_env(),
            "KUBELINE_RUN_ID=a-20261203T054000Z-abcdef\nKUBELINE_REQUESTED_AT=20261203T054000Z\n"
        );
        assert_eq!(SnapshotRequest::parse(&r.to_env()), Some(r));
        assert_eq!(SnapshotRequest::parse("KUBELINE_RUN_ID=x\n"), None);
        assert_eq!(SnapshotRequest::parse(""), None);
    }
}
