//! The apply reconciler's decision: from every stack's observed state, every move that is
//! ready now. Change sets whose dependencies (and rollout wave) are settled execute together,
//! at most `max_parallel` operations at a time; one failure stops new moves, and the run fails
//! once nothing it started is still in progress, naming every failing stack.

use std::collections::BTreeSet;

use kubeline_core::pipeline::cfn::StackStatus;

use super::{ChangeSetState, ChangeSetView};

/// One stack as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackView<'a> {
    /// Stack name.
    pub name: &'a str,
    /// The stacks it imports from.
    pub depends_on: &'a [String],
    /// Its rollout wave (node pools): it moves only when every stack of an earlier wave has
    /// settled. `None` for stacks outside the pools' rollout.
    pub wave: Option<u32>,
    /// Its status (`None`: it does not exist).
    pub status: Option<StackStatus>,
    /// This run's change set for it.
    pub change_set: Option<ChangeSetView>,
    /// This run executed its change set (its record, `executed.json`).
    pub executed: bool,
    /// The plan holds a change set of this run for it (an update or a create planned with
    /// its dependencies in place).
    pub planned: bool,
}

/// A move the step makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    /// Create the CREATE change set of a new stack whose dependencies now exist.
    CreateChangeSet,
    /// Execute the change set.
    Execute,
    /// Delete an empty change set (nothing changes).
    DeleteEmptyChangeSet,
}

/// Why a stack failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Its operation ended in this status.
    Stack(StackStatus),
    /// Its change set failed for this reason.
    ChangeSet(String),
}

/// What the apply does now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decision {
    /// Moves, in apply order.
    pub moves: Vec<(String, Move)>,
    /// Stacks with an operation in progress.
    pub in_progress: Vec<String>,
    /// Stacks that failed.
    pub failed: Vec<(String, Failure)>,
    /// Every stack is settled: the apply is done.
    pub done: bool,
}

impl Decision {
    /// The run has failed: something failed and nothing it started still runs.
    pub fn has_failed(&self) -> bool {
        !self.failed.is_empty() && self.in_progress.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Settled,
    InProgress,
    Failed(Failure),
    NeedsChangeSet,
    Pending,
    Empty,
    Ready,
}

fn state(s: &StackView<'_>) -> State {
    let cs = s.change_set.as_ref().map(ChangeSetView::state);
    if s.status.as_ref().is_some_and(StackStatus::in_progress)
        || cs == Some(ChangeSetState::Executing)
    {
        return State::InProgress;
    }
    let executed = s.executed
        || matches!(
            cs,
            Some(ChangeSetState::Executed | ChangeSetState::ExecuteFailed)
        );
    if executed {
        return match (&s.status, &cs) {
            (_, Some(ChangeSetState::ExecuteFailed)) => State::Failed(Failure::Stack(
                s.status.clone().unwrap_or(StackStatus::DeleteComplete),
            )),
            // Right after ExecuteChangeSet the stack may still show its old status (or only
            // the change set's placeholder): CloudFormation has not started yet.
            (Some(StackStatus::ReviewInProgress), _) | (_, Some(ChangeSetState::Ready)) => {
                State::InProgress
            }
            (Some(st), _) if st.is_complete() => State::Settled,
            (Some(st), _) => State::Failed(Failure::Stack(st.clone())),
            (None, _) => State::Failed(Failure::Stack(StackStatus::DeleteComplete)),
        };
    }
    let exists = s.status.as_ref().is_some_and(StackStatus::takes_update);
    match cs {
        None if exists && s.planned => State::Failed(Failure::ChangeSet(
            "the change set this run planned is gone (executed or deleted outside the run); upload cluster.yaml again to plan afresh".into(),
        )),
        None if exists => State::Settled, // planned as no change
        None => State::NeedsChangeSet,
        Some(ChangeSetState::Pending) => State::Pending,
        Some(ChangeSetState::Empty) => State::Empty,
        Some(ChangeSetState::Failed(r)) => State::Failed(Failure::ChangeSet(r)),
        Some(ChangeSetState::Obsolete) => State::Failed(Failure::ChangeSet(
            "the stack changed after the plan (its change set is obsolete); upload cluster.yaml again to plan afresh".into(),
        )),
        Some(ChangeSetState::Ready) => State::Ready,
        // Handled above.
        Some(
            ChangeSetState::Executing | ChangeSetState::Executed | ChangeSetState::ExecuteFailed,
        ) => State::InProgress,
    }
}

/// Every move that is ready for `stacks` (in apply order), with at most `max_parallel` stack
/// operations in progress at once (at least one).
pub fn decide(stacks: &[StackView<'_>], max_parallel: usize) -> Decision {
    let states: Vec<State> = stacks.iter().map(state).collect();
    let settled: BTreeSet<&str> = stacks
        .iter()
        .zip(&states)
        .filter(|(_, st)| matches!(st, State::Settled | State::Empty))
        .map(|(s, _)| s.name)
        .collect();
    let known: BTreeSet<&str> = stacks.iter().map(|s| s.name).collect();
    let deps_settled = |s: &StackView<'_>| {
        s.depends_on
            .iter()
            .all(|d| settled.contains(d.as_str()) || !known.contains(d.as_str()))
    };
    let wave_open = |s: &StackView<'_>| match s.wave {
        None => true,
        Some(w) => stacks
            .iter()
            .zip(&states)
            .filter(|(o, _)| o.wave.is_some_and(|ow| ow < w))
            .all(|(o, _)| settled.contains(o.name)),
    };
    let mut d = Decision::default();
    for (s, st) in stacks.iter().zip(&states) {
        match st {
            State::InProgress => d.in_progress.push(s.name.to_owned()),
            State::Failed(f) => d.failed.push((s.name.to_owned(), f.clone())),
            _ => {}
        }
    }
    let mut slots = max_parallel.max(1).saturating_sub(d.in_progress.len());
    let mut unsettled = 0;
    for (s, st) in stacks.iter().zip(&states) {
        if !matches!(st, State::Settled | State::Empty) {
            unsettled += 1;
        }
        if !d.failed.is_empty() {
            continue; // a failure stops every new move
        }
        let ready = deps_settled(s) && wave_open(s);
        match st {
            State::Empty => d
                .moves
                .push((s.name.to_owned(), Move::DeleteEmptyChangeSet)),
            State::NeedsChangeSet if ready => {
                d.moves.push((s.name.to_owned(), Move::CreateChangeSet))
            }
            State::Ready if ready && slots > 0 => {
                slots -= 1;
                d.moves.push((s.name.to_owned(), Move::Execute));
            }
            _ => {}
        }
    }
    d.done = unsettled == 0;
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubeline_core::pipeline::cfn::ChangeSetStatus as C;
    use kubeline_core::pipeline::cfn::ExecutionStatus as E;
    use kubeline_core::pipeline::cfn::StackStatus as S;

    /// A stack in the shorthand the tables use: `-` absent, `new` a REVIEW_IN_PROGRESS stack,
    /// `ok` complete, `busy` updating, `bad` UPDATE_ROLLBACK_COMPLETE; change set `-` none,
    /// `pend`, `ready`, `empty`, `fail`, `obsolete`, and executed ones `running`, `done`,
    /// `xfail`; `x` recorded as executed by this run. A stack with a change set was planned.
    fn view<'a>(name: &'a str, deps: &'a [String], wave: Option<u32>, spec: &str) -> StackView<'a> {
        let mut parts = spec.split_whitespace();
        let status = match parts.next().unwrap_or("-") {
            "new" => Some(S::ReviewInProgress),
            "ok" => Some(S::UpdateComplete),
            "busy" => Some(S::UpdateInProgress),
            "bad" => Some(S::UpdateRollbackComplete),
            _ => None,
        };
        let cs = |status, reason: &str| {
            Some(ChangeSetView {
                status,
                reason: Some(reason.to_owned()),
                execution: None,
            })
        };
        let change_set = match parts.next().unwrap_or("-") {
            "pend" => cs(C::CreatePending, ""),
            "ready" => cs(C::CreateComplete, ""),
            "empty" => cs(C::Failed, "No updates are to be performed."),
            "fail" => cs(C::Failed, "Template error"),
            "obsolete" => Some(ChangeSetView {
                status: C::CreateComplete,
                reason: None,
                execution: Some(E::Obsolete),
            }),
            "done" => Some(ChangeSetView {
                status: C::CreateComplete,
                reason: None,
                execution: Some(E::ExecuteComplete),
            }),
            "running" => Some(ChangeSetView {
                status: C::CreateComplete,
                reason: None,
                execution: Some(E::ExecuteInProgress),
            }),
            "xfail" => Some(ChangeSetView {
                status: C::CreateComplete,
                reason: None,
                execution: Some(E::ExecuteFailed),
            }),
            _ => None,
        };
        let executed = parts.next() == Some("x");
        StackView {
            name,
            depends_on: deps,
            wave,
            status,
            planned: change_set.is_some(),
            change_set,
            executed,
        }
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    /// Network, control plane (on network) and three pools (on both), with pool waves.
    fn cluster<'a>(
        deps: &'a [Vec<String>; 5],
        specs: [&str; 5],
        waves: [Option<u32>; 3],
    ) -> Vec<StackView<'a>> {
        let n = ["net", "cp", "p1", "p2", "p3"];
        (0..5)
            .map(|i| {
                view(
                    n[i],
                    &deps[i],
                    if i >= 2 { waves[i - 2] } else { None },
                    specs[i],
                )
            })
            .collect()
    }

    fn deps() -> [Vec<String>; 5] {
        [
            vec![],
            names(&["net"]),
            names(&["net", "cp"]),
            names(&["net", "cp"]),
            names(&["net", "cp"]),
        ]
    }

    fn check(specs: [&str; 5], waves: [Option<u32>; 3], max: usize, expect: &str) {
        let deps = deps();
        let d = decide(&cluster(&deps, specs, waves), max);
        let mut got: Vec<String> = d.moves.iter().map(|(s, m)| format!("{m:?}:{s}")).collect();
        if !d.in_progress.is_empty() {
            got.push(format!("busy:{}", d.in_progress.join(",")));
        }
        if !d.failed.is_empty() {
            let f: Vec<&str> = d.failed.iter().map(|(s, _)| s.as_str()).collect();
            got.push(format!("failed:{}", f.join(",")));
        }
        if d.has_failed() {
            got.push("FAIL".into());
        }
        if d.done {
            got.push("done".into());
        }
        assert_eq!(got.join(" "), expect, "{specs:?} waves={waves:?} max={max}");
    }

    const PAR: [Option<u32>; 3] = [Some(0), Some(0), Some(0)];
    const SEQ: [Option<u32>; 3] = [Some(0), Some(1), Some(2)];
    const AZ: [Option<u32>; 3] = [Some(0), Some(0), Some(1)];

    #[test]
    fn updates_roll_pools_together_after_the_control_plane() {
        let all_ready = ["ok ready", "ok ready", "ok ready", "ok ready", "ok ready"];
        check(all_ready, PAR, 10, "Execute:net");
        let net_done = ["ok done x", "ok ready", "ok ready", "ok ready", "ok ready"];
        check(net_done, PAR, 10, "Execute:cp");
        let cp_busy = [
            "ok done x",
            "busy running x",
            "ok ready",
            "ok ready",
            "ok ready",
        ];
        check(cp_busy, PAR, 10, "busy:cp");
        let cp_done = ["ok done x", "ok done x", "ok ready", "ok ready", "ok ready"];
        check(cp_done, PAR, 10, "Execute:p1 Execute:p2 Execute:p3");
        check(cp_done, PAR, 2, "Execute:p1 Execute:p2");
        let p_busy = [
            "ok done x",
            "ok done x",
            "busy running x",
            "busy running x",
            "ok ready",
        ];
        check(p_busy, PAR, 2, "busy:p1,p2");
        check(p_busy, PAR, 3, "Execute:p3 busy:p1,p2");
        let all_done = [
            "ok done x",
            "ok done x",
            "ok done x",
            "ok done x",
            "ok done x",
        ];
        check(all_done, PAR, 10, "done");
    }

    #[test]
    fn rollout_strategies_gate_the_pools() {
        let cp_done = ["ok done x", "ok done x", "ok ready", "ok ready", "ok ready"];
        check(cp_done, SEQ, 10, "Execute:p1");
        check(cp_done, AZ, 10, "Execute:p1 Execute:p2");
        let p1_busy = [
            "ok done x",
            "ok done x",
            "busy running x",
            "ok ready",
            "ok ready",
        ];
        check(p1_busy, SEQ, 10, "busy:p1");
        check(p1_busy, AZ, 10, "Execute:p2 busy:p1");
        let p1_done = [
            "ok done x",
            "ok done x",
            "ok done x",
            "ok ready",
            "ok ready",
        ];
        check(p1_done, SEQ, 10, "Execute:p2");
        check(p1_done, AZ, 10, "Execute:p2");
        // A pool with nothing to change is settled at once and does not hold the next wave.
        let p1_same = ["ok - ", "ok - ", "ok empty", "ok ready", "ok ready"];
        check(p1_same, SEQ, 10, "DeleteEmptyChangeSet:p1 Execute:p2");
    }

    #[test]
    fn creates_wait_for_their_dependencies_to_exist() {
        // A new cluster: the plan made the network's change set; the others wait for it.
        let fresh = ["new ready", "- -", "- -", "- -", "- -"];
        check(fresh, PAR, 10, "Execute:net");
        let net_busy = ["busy running x", "- -", "- -", "- -", "- -"];
        check(net_busy, PAR, 10, "busy:net");
        let net_done = ["ok done x", "- -", "- -", "- -", "- -"];
        check(net_done, PAR, 10, "CreateChangeSet:cp");
        let cp_pending = ["ok done x", "new pend", "- -", "- -", "- -"];
        check(cp_pending, PAR, 10, "");
        let cp_done = ["ok done x", "ok done x", "- -", "- -", "- -"];
        check(
            cp_done,
            PAR,
            10,
            "CreateChangeSet:p1 CreateChangeSet:p2 CreateChangeSet:p3",
        );
    }

    #[test]
    fn a_failure_stops_new_moves_and_names_every_failing_stack() {
        let one_failed = [
            "ok done x",
            "ok done x",
            "bad done x",
            "busy running x",
            "ok ready",
        ];
        check(one_failed, PAR, 10, "busy:p2 failed:p1");
        let both_failed = [
            "ok done x",
            "ok done x",
            "bad done x",
            "bad done x",
            "ok ready",
        ];
        check(both_failed, PAR, 10, "failed:p1,p2 FAIL");
        let cs_failed = ["ok done x", "ok done x", "ok fail", "ok ready", "ok ready"];
        check(cs_failed, PAR, 10, "failed:p1 FAIL");
        // A stack another operation changes is waited for, not failed.
        let foreign = ["busy -", "ok -", "ok -", "ok -", "ok -"];
        check(foreign, PAR, 10, "busy:net");
    }

    #[test]
    fn executions_are_read_from_the_change_set_too() {
        // The record of an execution was lost (a retried round): the change set says it ran.
        let lost = ["ok done", "ok running", "ok ready", "ok ready", "ok ready"];
        check(lost, PAR, 10, "busy:cp");
        let lost_done = ["ok done", "ok done", "ok ready", "ok ready", "ok ready"];
        check(lost_done, PAR, 10, "Execute:p1 Execute:p2 Execute:p3");
        // Just executed: the stack still shows its old status or the placeholder.
        let window = ["ok ready x", "- -", "- -", "- -", "- -"];
        check(window, PAR, 10, "busy:net");
        let placeholder = ["new ready x", "- -", "- -", "- -", "- -"];
        check(placeholder, PAR, 10, "busy:net");
        // A failed execution, an obsolete plan, a planned change set that vanished.
        let failed = ["ok xfail", "ok ready", "ok ready", "ok ready", "ok ready"];
        check(failed, PAR, 10, "failed:net FAIL");
        let obsolete = [
            "ok obsolete",
            "ok ready",
            "ok ready",
            "ok ready",
            "ok ready",
        ];
        check(obsolete, PAR, 10, "failed:net FAIL");
        let deps = deps();
        let mut gone = cluster(&deps, ["ok -", "ok -", "ok -", "ok -", "ok -"], PAR);
        gone[2].planned = true;
        let d = decide(&gone, 10);
        assert!(d.has_failed() && d.failed[0].0 == "p1", "{d:?}");
    }

    #[test]
    fn nothing_to_change_is_done_at_once() {
        let same = ["ok -", "ok -", "ok empty", "ok -", "ok -"];
        check(same, PAR, 10, "DeleteEmptyChangeSet:p1 done");
        // At least one operation runs even with a zero limit.
        let cp_done = ["ok done x", "ok done x", "ok ready", "ok -", "ok -"];
        check(cp_done, PAR, 0, "Execute:p1");
    }
}
