//! Who owns `status.json`: the turn-taking rule between runs of one cluster.

use std::collections::BTreeMap;

use kubeline_core::pipeline::{Phase, Status};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The run that writes, as far as status.json is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Writer<'a> {
    /// Cluster name.
    pub cluster: &'a str,
    /// Run id.
    pub run_id: &'a str,
    /// When it started (RFC 3339).
    pub started_at: &'a str,
    /// Its execution.
    pub execution_arn: Option<&'a str>,
    /// Its pinned cluster.yaml version.
    pub config_version: Option<&'a str>,
}

/// What a run does with status.json.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Edit this status and write it.
    Write(Status),
    /// A newer run owns status.json (as it stands here); this run's record is in `runs/<id>/`
    /// only.
    NewerOwns(Status),
}

/// The status `writer` records in `phase` at `now`, from the `previous` status.json. A new run keeps what is known of the deployed
/// cluster (stacks, endpoint, certificates, add-ons, drift) and starts the rest afresh.
pub fn next(previous: Option<Status>, writer: &Writer<'_>, phase: Phase, now: &str) -> Next {
    let started = |t: &str| OffsetDateTime::parse(t, &Rfc3339).ok();
    if let Some(p) = &previous
        && p.run_id != writer.run_id
        && started(&p.started_at) > started(writer.started_at)
    {
        return Next::NewerOwns(p.clone());
    }
    let mut status = match previous {
        Some(s) if s.run_id == writer.run_id => s,
        other => Status {
            cluster: writer.cluster.to_owned(),
            phase,
            run_id: writer.run_id.to_owned(),
            execution_arn: writer.execution_arn.map(str::to_owned),
            config_version: writer.config_version.map(str::to_owned),
            stacks: other.as_ref().map(|s| s.stacks.clone()).unwrap_or_default(),
            api_endpoint: other.as_ref().and_then(|s| s.api_endpoint.clone()),
            certificates: other.as_ref().and_then(|s| s.certificates.clone()),
            plan: BTreeMap::new(),
            addons: other.as_ref().and_then(|s| s.addons.clone()),
            addon_changes: Vec::new(),
            rollout: Vec::new(),
            etcd_snapshot: None,
            etcd_restore: None,
            started_at: writer.started_at.to_owned(),
            updated_at: String::new(),
            last_error: None,
            drift: other.as_ref().and_then(|s| s.drift.clone()),
        },
    };
    status.phase = phase;
    status.updated_at = now.to_owned();
    Next::Write(status)
}

/// Whether a run that failed may record its failure in status.json (`previous`): when the
/// cluster has none, when it is this run's, or when the run it names has ended. A run whose
/// start failed (a stray key, an invalid file, a turn that never came) must not take
/// status.json from a run that is still applying: its record stays in `runs/<id>/`.
pub fn may_record_failure(previous: Option<&Status>, run_id: &str) -> bool {
    previous.is_none_or(|p| p.run_id == run_id || p.phase.is_final())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubeline_core::pipeline::StackState;

    fn blank(w: &Writer<'_>) -> Status {
        Status {
            cluster: w.cluster.to_owned(),
            phase: Phase::Preparing,
            run_id: w.run_id.to_owned(),
            execution_arn: None,
            config_version: None,
            stacks: Vec::new(),
            api_endpoint: None,
            certificates: None,
            plan: BTreeMap::new(),
            addons: None,
            addon_changes: Vec::new(),
            rollout: Vec::new(),
            etcd_snapshot: None,
            etcd_restore: None,
            started_at: w.started_at.to_owned(),
            updated_at: String::new(),
            last_error: None,
            drift: None,
        }
    }

    fn status(run_id: &str, started_at: &str, phase: Phase) -> Status {
        let mut s = blank(&Writer {
            cluster: "demo",
            run_id,
            started_at,
            execution_arn: None,
            config_version: None,
        });
        s.phase = phase;
        s.stacks = vec![StackState {
            name: "kubeline-demo-network".into(),
            status: "CREATE_COMPLETE".into(),
            outputs: BTreeMap::new(),
        }];
        s.api_endpoint = Some("api.example.com".into());
        s
    }

    fn writer(run_id: &'static str, started_at: &'static str) -> Writer<'static> {
        Writer {
            cluster: "demo",
            run_id,
            started_at,
            execution_arn: Some("arn:exec"),
            config_version: Some("v2"),
        }
    }

    const T1: &str = "2026-12-02T10:00:00Z";
    const T2: &str = "2026-12-02T11:00:00Z";

    #[test]
    fn the_newest_run_owns_status_json() {
        // (previous, writer, expect: Ok(run id written) / Err(run id that owns it))
        let table: Vec<(Option<Status>, Writer<'static>, Result<&str, &str>)> = vec![
            (None, writer("r1", T1), Ok("r1")),
            (
                Some(status("r1", T1, Phase::Planning)),
                writer("r1", T1),
                Ok("r1"),
            ),
            (
                Some(status("r0", T1, Phase::Succeeded)),
                writer("r1", T2),
                Ok("r1"),
            ),
            (
                Some(status("r2", T2, Phase::Preparing)),
                writer("r1", T1),
                Err("r2"),
            ),
            // Same start time: the later writer takes over (nothing says the other is newer).
            (
                Some(status("r2", T1, Phase::Preparing)),
                writer("r1", T1),
                Ok("r1"),
            ),
        ];
        for (prev, w, want) in table {
            let got = match next(prev, &w, Phase::Applying, T2) {
                Next::Write(s) => Ok(s.run_id),
                Next::NewerOwns(s) => Err(s.run_id),
            };
            let want = want.map(str::to_owned).map_err(str::to_owned);
            assert_eq!(got, want, "{w:?}");
        }
    }

    #[test]
    fn a_failed_run_records_its_failure_only_where_no_other_run_is_active() {
        let applying = status("r0", T1, Phase::Applying);
        let ended = status("r0", T1, Phase::Succeeded);
        let own = status("r1", T2, Phase::Planning);
        let table = [
            (None, true),
            (Some(&own), true),
            (Some(&ended), true),
            (Some(&applying), false),
        ];
        for (prev, want) in table {
            assert_eq!(may_record_failure(prev, "r1"), want, "{prev:?}");
        }
    }

    #[test]
    fn a_new_run_keeps_what_is_deployed_and_resets_the_rest() {
        let mut prev = status("r0", T1, Phase::Failed);
        prev.last_error = Some(kubeline_core::pipeline::RunError {
            error: "StackFailed".into(),
            cause: "x".into(),
        });
        prev.plan.insert("Add".into(), 3);
        let Next::Write(s) = next(Some(prev.clone()), &writer("r1", T2), Phase::Preparing, T2)
        else {
            panic!("r1 is the newer run");
        };
        assert_eq!(s.run_id, "r1");
        assert_eq!(s.stacks, prev.stacks);
        assert_eq!(s.api_endpoint, prev.api_endpoint);
        assert_eq!(s.last_error, None);
        assert!(s.plan.is_empty());
        assert_eq!(s.config_version.as_deref(), Some("v2"));
        assert_eq!((s.phase, s.updated_at.as_str()), (Phase::Preparing, T2));
        // The same run keeps its own fields.
        let mut own = s.clone();
        own.plan.insert("Add".into(), 1);
        let Next::Write(again) = next(Some(own), &writer("r1", T2), Phase::Applying, T2) else {
            panic!("r1 owns its status");
        };
        assert_eq!(again.plan["Add"], 1);
        assert_eq!(again.phase, Phase::Applying);
    }
}
