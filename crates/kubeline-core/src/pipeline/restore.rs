//! The etcd restore a team asks for (`kubeline restore etcd`): the request it uploads, the
//! order the etcd members and controllers poll for, and when the wait for the members is over.
//!
//! Like the snapshot before a run, a restore is a pull model: the pipeline cannot reach etcd
//! and has no remote-command rights on instances. The restore run writes
//! `clusters/<name>/etcd-restore-request.env`; every controller that sees it stops its API
//! server, controller-manager and scheduler, and every etcd member stops etcd, rebuilds its data
//! from the one snapshot, starts etcd and reports under `etcd-restore/<run>/` (`restored`, then
//! `healthy` once the restored cluster has a quorum, or `failed`). The run ends when every member
//! named by the deployed etcd stack reports `healthy`; it deletes the order, and the controllers
//! start their control plane again.

use serde::{Deserialize, Serialize};

/// The etcd stack output naming the members that answer restore orders (comma-separated
/// member names): members rendered before restore orders existed have none, and a restore run
/// refuses to start rather than wait for them.
pub const RESTORE_ON_REQUEST_OUTPUT: &str = "EtcdRestoreOnRequest";

/// How long a restore run waits for every member to report `healthy`.
pub const RESTORE_WAIT_MINUTES: i64 = 30;

/// A member acts on an order only once it is this old, so that every controller (looking each
/// minute too) has stopped its API server first; the shell scripts use the same figure.
pub const RESTORE_HOLD_SECONDS: i64 = 120;

/// The request a team uploads (`clusters/<name>/restore-etcd.yaml`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreRequest {
    /// The cluster's name, repeated: a restore loses every change made after the snapshot.
    pub confirm: String,
    /// The snapshot's key, `clusters/<name>/etcd-snapshots/<time>-<member>.db`.
    pub snapshot: String,
    /// Who asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// The text of a restore request (what `kubeline restore etcd` uploads).
pub fn restore_request_yaml(cluster: &str, snapshot: &str, by: Option<&str>) -> String {
    let mut out = format!("confirm: {cluster}\nsnapshot: {snapshot}\n");
    if let Some(by) = by {
        out.push_str(&format!("by: {}\n", yaml_scalar(by)));
    }
    out
}

fn yaml_scalar(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// Checks a restore request for `cluster`: it must say `confirm: <cluster>` and name one of
/// this cluster's snapshots (`snapshots` is the folder, `clusters/<name>/etcd-snapshots/`).
/// The error says what to write instead.
pub fn check_restore(text: &str, cluster: &str, snapshots: &str) -> Result<RestoreRequest, String> {
    let hint = format!("write `confirm: {cluster}` and `snapshot: {snapshots}<time>-<member>.db`");
    let req: RestoreRequest = serde_saphyr::from_str(text).map_err(|e| {
        format!(
            "{}; {hint}",
            e.to_string().lines().next().unwrap_or_default()
        )
    })?;
    if req.confirm != cluster {
        return Err(format!(
            "the request confirms `{}`, not `{cluster}`; {hint}",
            req.confirm
        ));
    }
    if !is_snapshot_key(&req.snapshot, snapshots) {
        return Err(format!(
            "snapshot `{}` is not one of this cluster's snapshots (a key {snapshots}<time>-<member>.db; list them with `aws s3 ls s3://<bucket>/{snapshots}`)",
            req.snapshot
        ));
    }
    Ok(req)
}

/// Whether `key` names a snapshot directly under `prefix` in the shape the members write, in
/// the character set the restore script accepts.
pub fn is_snapshot_key(key: &str, prefix: &str) -> bool {
    key.strip_prefix(prefix).is_some_and(|name| {
        name.len() > ".db".len() + 16
            && name.ends_with(".db")
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            && name.get(..16).is_some_and(is_key_time)
    })
}

fn is_key_time(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() == 16
        && b[8] == b'T'
        && b[15] == b'Z'
        && b.iter()
            .enumerate()
            .all(|(i, c)| matches!(i, 8 | 15) || c.is_ascii_digit())
}

/// The members of the deployed etcd stack that answer restore orders, from its
/// [`RESTORE_ON_REQUEST_OUTPUT`] output (empty when the output is missing or names none).
pub fn restore_members(output: Option<&str>) -> Vec<String> {
    output
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The order the etcd members and controllers poll for
/// (`clusters/<name>/etcd-restore-request.env`), as `KEY=value` lines a shell script reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberRestoreRequest {
    /// The restore run.
    pub run_id: String,
    /// When it asked, `YYYYMMDDTHHMMSSZ`.
    pub requested_at: String,
    /// The snapshot every member restores from.
    pub snapshot: String,
    /// The members expected to report.
    pub members: Vec<String>,
}

impl MemberRestoreRequest {
    /// Reads the object's text back (`None` when it is not an order).
    pub fn parse(text: &str) -> Option<MemberRestoreRequest> {
        let field = |name: &str| super::snapshot::env_field(text, name);
        Some(MemberRestoreRequest {
            run_id: field("KUBELINE_RUN_ID")?,
            requested_at: field("KUBELINE_REQUESTED_AT")?,
            snapshot: field("KUBELINE_RESTORE_SNAPSHOT")?,
            members: restore_members(Some(&field("KUBELINE_RESTORE_MEMBERS")?)),
        })
    }

    /// The object's text.
    pub fn to_env(&self) -> String {
        format!(
            "KUBELINE_RUN_ID={}\nKUBELINE_REQUESTED_AT={}\nKUBELINE_RESTORE_SNAPSHOT={}\nKUBELINE_RESTORE_MEMBERS={}\n",
            self.run_id,
            self.requested_at,
            self.snapshot,
            self.members.join(",")
        )
    }
}

/// A member's report on a restore run, the last part of its key
/// (`etcd-restore/<run>/<member>.<state>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberReport {
    /// Its data is rebuilt from the snapshot and etcd is started.
    Restored,
    /// The restored cluster answers a linearizable health check through it.
    Healthy,
    /// Its restore failed; the object's text says why.
    Failed,
}

impl MemberReport {
    /// The key suffix.
    pub fn suffix(self) -> &'static str {
        match self {
            MemberReport::Restored => "restored",
            MemberReport::Healthy => "healthy",
            MemberReport::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Option<MemberReport> {
        [
            MemberReport::Restored,
            MemberReport::Healthy,
            MemberReport::Failed,
        ]
        .into_iter()
        .find(|r| r.suffix() == s)
    }
}

/// Where a restore run is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreWait {
    /// Not every member is healthy yet: how many have restored and how many are healthy.
    Waiting {
        /// Members that reported `restored` or `healthy`.
        restored: usize,
        /// Members that reported `healthy`.
        healthy: usize,
    },
    /// Every member is restored and healthy.
    Done,
    /// A member failed (its report's key, whose text says why).
    Failed {
        /// The member.
        member: String,
        /// Its report.
        report: String,
    },
    /// Not every member was healthy by the deadline: the ones that were not.
    TimedOut {
        /// Members without a `healthy` report.
        missing: Vec<String>,
    },
}

/// The restore run's state from the keys under its reports folder (`prefix`,
/// `etcd-restore/<run>/`): a failure first, then done when every member of `members` reports
/// `healthy`, else waiting until `now` is past `deadline` (`YYYYMMDDTHHMMSSZ`). Reports of
/// members the run does not expect are ignored.
pub fn restore_wait(
    prefix: &str,
    members: &[String],
    deadline: &str,
    now: &str,
    keys: &[String],
) -> RestoreWait {
    let reports: Vec<(&str, MemberReport, &String)> = keys
        .iter()
        .filter_map(|k| {
            let (member, state) = k.strip_prefix(prefix)?.rsplit_once('.')?;
            let report = MemberReport::parse(state)?;
            members
                .iter()
                .any(|m| m == member)
                .then_some((member, report, k))
        })
        .collect();
    if let Some((member, _, key)) = reports.iter().find(|(_, r, _)| *r == MemberReport::Failed) {
        return RestoreWait::Failed {
            member: (*member).to_owned(),
            report: (*key).clone(),
        };
    }
    let has = |m: &str, want: &[MemberReport]| {
        reports
            .iter()
            .any(|(member, r, _)| *member == m && want.contains(r))
    };
    let healthy = members
        .iter()
        .filter(|m| has(m, &[MemberReport::Healthy]))
        .count();
    if !members.is_empty() && healthy == members.len() {
        return RestoreWait::Done;
    }
    if now > deadline {
        return RestoreWait::TimedOut {
            missing: members
                .iter()
                .filter(|m| !has(m, &[MemberReport::Healthy]))
                .cloned()
                .collect(),
        };
    }
    RestoreWait::Waiting {
        restored: members
            .iter()
            .filter(|m| has(m, &[MemberReport::Restored, MemberReport::Healthy]))
            .count(),
        healthy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SNAPS: &str = "clusters/a/etcd-snapshots/";

    #[test]
    fn restore_requests_are_checked() {
        let key = "clusters/a/etcd-snapshots/20261202T010000Z-etcd0.db";
        let ok = |text: &str| check_restore(text, "a", SNAPS);
        let req = ok(&restore_request_yaml("a", key, Some("ops: \"x\""))).expect("a valid request");
        assert_eq!(req.snapshot, key);
        assert_eq!(req.by.as_deref(), Some("ops: \"x\""));
        // (request, a fragment of the error)
        let table = [
            ("confirm: b\nsnapshot: K\n", "confirms `b`, not `a`"),
            ("snapshot: K\n", "write `confirm: a`"),
            ("confirm: a\n", "write `confirm: a`"),
            ("confirm: a\nsnapshot: K\nforce: true\n", "unknown field"),
            (
                "confirm: a\nsnapshot: clusters/b/etcd-snapshots/20261202T010000Z-etcd0.db\n",
                "not one of this cluster's snapshots",
            ),
            (
                "confirm: a\nsnapshot: clusters/a/etcd-snapshots/x/20261202T010000Z-etcd0.db\n",
                "not one of",
            ),
            (
                "confirm: a\nsnapshot: clusters/a/etcd-snapshots/20261202T010000Z-etcd0.db.tmp\n",
                "not one of",
            ),
            (
                "confirm: a\nsnapshot: clusters/a/etcd-snapshots/20261202T010000Z-$(id).db\n",
                "not one of",
            ),
            (
                "confirm: a\nsnapshot: clusters/a/etcd-snapshots/latest-etcd0.db\n",
                "not one of",
            ),
            (
                "confirm: a\nsnapshot: clusters/a/etcd-snapshots/../a/etcd-snapshots/20261202T010000Z-etcd0.db\n",
                "not one of",
            ),
        ];
        for (text, want) in table {
            let text = text.replace('K', key);
            let err = ok(&text).expect_err("refused");
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn member_orders_round_trip() {
        let order = MemberRestoreRequest {
            run_id: "a-20261202T000000Z-abcdef".into(),
            requested_at: "20261202T000000Z".into(),
            snapshot: "clusters/a/etcd-snapshots/20261201T230000Z-etcd1.db".into(),
            members: vec!["etcd0".into(), "etcd1".into(), "etcd2".into()],
        };
        let text = order.to_env();
        assert!(text.contains("KUBELINE_RESTORE_MEMBERS=etcd0,etcd1,etcd2\n"));
        assert_eq!(MemberRestoreRequest::parse(&text), Some(order));
        assert_eq!(MemberRestoreRequest::parse("KUBELINE_RUN_ID=x\n"), None);
    }

    #[test]
    fn members_come_from_the_stack_output() {
        assert_eq!(restore_members(Some("etcd0, etcd1,etcd2")).len(), 3);
        assert!(restore_members(Some("")).is_empty());
        assert!(restore_members(None).is_empty());
    }

    #[test]
    fn the_wait_ends_when_every_member_is_healthy() {
        let p = "clusters/a/etcd-restore/r/";
        let members: Vec<String> = ["etcd0", "etcd1", "etcd2"].map(String::from).to_vec();
        let keys = |names: &[&str]| names.iter().map(|n| format!("{p}{n}")).collect::<Vec<_>>();
        let waiting = |restored, healthy| RestoreWait::Waiting { restored, healthy };
        // (reports, now, expected); the deadline is T1.
        type Case = (&'static [&'static str], &'static str, RestoreWait);
        let table: Vec<Case> = vec![
            (&[], "T0", waiting(0, 0)),
            (&["etcd0.restored"], "T0", waiting(1, 0)),
            (
                &["etcd0.restored", "etcd0.healthy", "etcd1.restored"],
                "T0",
                waiting(2, 1),
            ),
            (
                &["etcd0.healthy", "etcd1.healthy", "etcd2.healthy"],
                "T0",
                RestoreWait::Done,
            ),
            // Done even when the last look is past the deadline.
            (
                &["etcd0.healthy", "etcd1.healthy", "etcd2.healthy"],
                "T2",
                RestoreWait::Done,
            ),
            // A failure wins over everything.
            (
                &["etcd0.healthy", "etcd1.healthy", "etcd2.failed"],
                "T0",
                RestoreWait::Failed {
                    member: "etcd2".into(),
                    report: format!("{p}etcd2.failed"),
                },
            ),
            // Reports of members the run does not expect, and other names, count for nothing.
            (
                &[
                    "etcd0.healthy",
                    "etcd1.healthy",
                    "etcd9.healthy",
                    "etcd9.failed",
                    "etcd2.done",
                    "x/etcd2.healthy",
                ],
                "T0",
                waiting(2, 2),
            ),
            (
                &["etcd0.healthy", "etcd1.restored"],
                "T2",
                RestoreWait::TimedOut {
                    missing: vec!["etcd1".into(), "etcd2".into()],
                },
            ),
        ];
        for (reports, now, want) in table {
            assert_eq!(
                restore_wait(p, &members, "T1", now, &keys(reports)),
                want,
                "{reports:?} at {now}"
            );
        }
        // No members: never done.
        assert_eq!(restore_wait(p, &[], "T1", "T0", &[]), waiting(0, 0));
    }

    #[test]
    fn snapshot_keys_have_the_members_shape() {
        for (key, want) in [
            ("clusters/a/etcd-snapshots/20261202T010000Z-etcd0.db", true),
            (
                "clusters/a/etcd-snapshots/20261202T010000Z-local-stand-in.db",
                true,
            ),
            ("clusters/a/etcd-snapshots/2026120XT010000Z-etcd0.db", false),
            ("clusters/a/etcd-snapshots/20261202T010000Z.db", false),
            (
                "clusters/a/etcd-snapshots/20261202T010000Z-e tcd0.db",
                false,
            ),
        ] {
            assert_eq!(is_snapshot_key(key, SNAPS), want, "{key}");
        }
    }
}
