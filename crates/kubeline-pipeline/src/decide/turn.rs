//! One run per cluster applies at a time: whether a new run may go, must wait, or supersedes
//! a run that waits for approval.

use kubeline_core::pipeline::{Phase, Status};

/// What the step must find out before deciding: the execution of the run that may hold the
/// turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder<'a> {
    /// Nobody holds it: go.
    Nobody,
    /// Run `run_id` (in `phase`) holds it if its execution `arn` is still running.
    Maybe {
        /// The holding run.
        run_id: &'a str,
        /// Where it is.
        phase: Phase,
        /// Its execution.
        arn: &'a str,
    },
}

/// Who may hold the turn, from status.json.
pub fn holder<'a>(previous: Option<&'a Status>, run_id: &str) -> Holder<'a> {
    match previous {
        Some(p) if p.run_id != run_id && !p.phase.is_final() => match &p.execution_arn {
            Some(arn) => Holder::Maybe {
                run_id: &p.run_id,
                phase: p.phase,
                arn,
            },
            None => Holder::Nobody,
        },
        _ => Holder::Nobody,
    }
}

/// The decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// This run goes.
    Go,
    /// The holder waits for approval: reject its plan as stale, then go.
    Supersede,
    /// The holder is applying: this run waits (`RunInProgress`, retried).
    Wait,
}

/// The decision, once the holder's execution is known to be `running` or not (a run that died
/// without recording its end holds nothing).
pub fn decide(holder: &Holder<'_>, running: bool) -> Turn {
    match holder {
        Holder::Nobody => Turn::Go,
        Holder::Maybe { .. } if !running => Turn::Go,
        Holder::Maybe {
            phase: Phase::AwaitingApproval,
            ..
        } => Turn::Supersede,
        Holder::Maybe { .. } => Turn::Wait,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(run_id: &str, phase: Phase, arn: Option<&str>) -> Status {
        serde_json::from_value(serde_json::json!({
            "cluster": "demo", "phase": phase, "runId": run_id, "executionArn": arn,
            "startedAt": "2026-12-02T10:00:00Z", "updatedAt": "2026-12-02T10:00:00Z",
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn who_holds_the_turn() {
        let applying = status("r0", Phase::Applying, Some("arn0"));
        let done = status("r0", Phase::Succeeded, Some("arn0"));
        let no_arn = status("r0", Phase::Applying, None);
        let own = status("r1", Phase::Applying, Some("arn1"));
        let table = [
            (None, Holder::Nobody),
            (Some(&done), Holder::Nobody),
            (Some(&no_arn), Holder::Nobody),
            (Some(&own), Holder::Nobody),
            (
                Some(&applying),
                Holder::Maybe {
                    run_id: "r0",
                    phase: Phase::Applying,
                    arn: "arn0",
                },
            ),
        ];
        for (prev, want) in table {
            assert_eq!(holder(prev, "r1"), want, "{prev:?}");
        }
    }

    #[test]
    fn the_turn_is_taken_waited_for_or_superseded() {
        let maybe = |phase| Holder::Maybe {
            run_id: "r0",
            phase,
            arn: "arn0",
        };
        let table = [
            (Holder::Nobody, true, Turn::Go),
            (maybe(Phase::Applying), false, Turn::Go),
            (maybe(Phase::Applying), true, Turn::Wait),
            (maybe(Phase::Planning), true, Turn::Wait),
            (maybe(Phase::Preparing), true, Turn::Wait),
            (maybe(Phase::Destroying), true, Turn::Wait),
            (maybe(Phase::AwaitingApproval), true, Turn::Supersede),
            (maybe(Phase::AwaitingApproval), false, Turn::Go),
        ];
        for (h, running, want) in table {
            assert_eq!(decide(&h, running), want, "{h:?} running={running}");
        }
    }
}
