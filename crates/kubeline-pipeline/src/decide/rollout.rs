//! Rollout progress: which node groups of the stacks being updated are being rolled, from the
//! stacks' resource events, and whether the chat should hear of it.

use std::collections::BTreeSet;

use kubeline_aws::stacks::ResourceEvent;
use kubeline_core::pipeline::RolloutProgress;

/// The resource type of every node group (controllers, etcd members, pools).
const GROUP: &str = "AWS::AutoScaling::AutoScalingGroup";

/// The groups of `stack` whose newest event (`events` are newest first) says they are in
/// progress, in logical-ID order.
pub fn groups_in_progress(stack: &str, events: &[ResourceEvent]) -> Vec<RolloutProgress> {
    let mut seen = BTreeSet::new();
    let mut out: Vec<RolloutProgress> = events
        .iter()
        .filter(|e| e.resource_type == GROUP && seen.insert(e.logical_id.as_str()))
        .filter(|e| e.status.ends_with("_IN_PROGRESS"))
        .map(|e| RolloutProgress {
            stack: stack.to_owned(),
            group: e.logical_id.clone(),
            status: e.status.clone(),
            reason: e.reason.clone(),
            at: e.timestamp.clone(),
        })
        .collect();
    out.sort_by(|a, b| a.group.cmp(&b.group));
    out
}

/// Whether the chat hears of the rollout: when a group started or finished rolling (not at
/// every step of one, which would be a message per instance).
pub fn announce(previous: &[RolloutProgress], now: &[RolloutProgress]) -> bool {
    let groups = |r: &[RolloutProgress]| -> BTreeSet<(String, String)> {
        r.iter()
            .map(|p| (p.stack.clone(), p.group.clone()))
            .collect()
    };
    groups(previous) != groups(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, kind: &str, status: &str, reason: &str) -> ResourceEvent {
        ResourceEvent {
            logical_id: id.into(),
            resource_type: kind.into(),
            status: status.into(),
            reason: reason.into(),
            timestamp: "2026-12-03T06:00:00Z".into(),
        }
    }

    #[test]
    fn only_groups_whose_newest_event_is_in_progress_are_rolling() {
        let lt = "AWS::EC2::LaunchTemplate";
        // (events newest first → rolling groups and their step)
        type Case = (Vec<ResourceEvent>, Vec<(&'static str, &'static str)>);
        let cases: Vec<Case> = vec![
            (vec![], vec![]),
            // A launch template in progress is no rollout.
            (
                vec![event("LaunchTemplate", lt, "UPDATE_IN_PROGRESS", "")],
                vec![],
            ),
            (
                vec![
                    event(
                        "AutoScalingGroup",
                        GROUP,
                        "UPDATE_IN_PROGRESS",
                        "New instance(s) added to autoscaling group - Waiting on 1 resource signal(s)",
                    ),
                    event(
                        "AutoScalingGroup",
                        GROUP,
                        "UPDATE_IN_PROGRESS",
                        "Rolling update initiated",
                    ),
                    event("LaunchTemplate", lt, "UPDATE_COMPLETE", ""),
                ],
                vec![("AutoScalingGroup", "New instance(s) added")],
            ),
            // A group whose newest event is complete is done, even after in-progress ones.
            (
                vec![
                    event(
                        "Member1AutoScalingGroup",
                        GROUP,
                        "UPDATE_IN_PROGRESS",
                        "Received SUCCESS signal",
                    ),
                    event("Member0AutoScalingGroup", GROUP, "UPDATE_COMPLETE", ""),
                    event(
                        "Member0AutoScalingGroup",
                        GROUP,
                        "UPDATE_IN_PROGRESS",
                        "Rolling update initiated",
                    ),
                ],
                vec![("Member1AutoScalingGroup", "Received SUCCESS")],
            ),
            // A failed group is not rolling (the apply's failure path reports it).
            (
                vec![event(
                    "AutoScalingGroup",
                    GROUP,
                    "UPDATE_FAILED",
                    "Received 1 FAILURE signal(s)",
                )],
                vec![],
            ),
        ];
        for (events, want) in cases {
            let got = groups_in_progress("s", &events);
            let got: Vec<(&str, &str)> = got
                .iter()
                .map(|p| (p.group.as_str(), p.reason.as_str()))
                .collect();
            assert_eq!(got.len(), want.len(), "{events:?}");
            for ((g, r), (wg, wr)) in got.iter().zip(&want) {
                assert_eq!(g, wg);
                assert!(r.starts_with(wr), "{r}");
            }
        }
    }

    #[test]
    fn the_chat_hears_when_a_group_starts_or_finishes_not_at_every_step() {
        let p = |group: &str, reason: &str| RolloutProgress {
            stack: "s".into(),
            group: group.into(),
            status: "UPDATE_IN_PROGRESS".into(),
            reason: reason.into(),
            at: String::new(),
        };
        let cases = [
            (vec![], vec![], false),
            (vec![], vec![p("A", "x")], true),
            (vec![p("A", "x")], vec![p("A", "y")], false),
            (vec![p("A", "x")], vec![p("A", "x"), p("B", "x")], true),
            (vec![p("A", "x")], vec![], true),
        ];
        for (before, now, want) in cases {
            assert_eq!(announce(&before, &now), want, "{before:?} → {now:?}");
        }
    }
}
