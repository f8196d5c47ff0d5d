//! Whether a node group may move from the IAM identity its running stack has to the one
//! rendered: a move CloudFormation would carry out by deleting what the new identity uses, or
//! by creating a name IAM already holds, is refused before anything changes.
//!
//! Each node stack reports its group's identity in its `NodeIdentity` output
//! ([`StackIdentity::output`]). A change of identity adds the new resources first and deletes
//! the old ones in the cleanup phase (CloudFormation User Guide, "Update behaviors of stack
//! resources"), and IAM names are unique regardless of case (IAM User Guide, "IAM and AWS STS
//! quotas"). So three moves break a running group: adopting as "existing" a role or profile
//! the stack created (cleanup deletes it under the running nodes), creating a name that
//! exists outside the stack (EntityAlreadyExists), and renaming by case only (the new name is
//! the old one to IAM).

use crate::cluster::{Cluster, external_profile_name, profile_name_of_arn};
use crate::layout::{self, NodeGroup};

/// The node stacks' output naming their group's identity.
pub const NODE_IDENTITY_OUTPUT: &str = "NodeIdentity";

/// Which role and instance profile a node group runs with, and which of them its stack owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackIdentity {
    /// The stack creates the role and the profile, both of this name.
    Created(String),
    /// The role exists outside kubeline; the stack creates the profile `<role>-profile`.
    External(String),
    /// An existing instance profile (its ARN); the stack creates neither.
    Profile(String),
}

/// An IAM resource a stack creates or uses: a role or an instance profile, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Role,
    Profile,
}

impl StackIdentity {
    /// The identity `cluster` renders for `group`.
    pub fn of(cluster: &Cluster, group: NodeGroup<'_>) -> StackIdentity {
        let extras = layout::group_extras(cluster, group).map(|e| &e.identity);
        let role = layout::node_role_name(cluster, group);
        match extras {
            Some(i) if i.instance_profile_arn.is_some() => {
                StackIdentity::Profile(i.instance_profile_arn.clone().unwrap_or_default())
            }
            Some(i) if i.external_role => StackIdentity::External(role),
            _ => StackIdentity::Created(role),
        }
    }

    /// The `NodeIdentity` output's value: `created:NAME`, `external:ROLE`, `profile:ARN`.
    pub fn output(&self) -> String {
        match self {
            StackIdentity::Created(n) => format!("created:{n}"),
            StackIdentity::External(n) => format!("external:{n}"),
            StackIdentity::Profile(a) => format!("profile:{a}"),
        }
    }

    /// Reads an output value; `None` for anything else.
    pub fn parse(output: &str) -> Option<StackIdentity> {
        let (mode, name) = output.split_once(':')?;
        match mode {
            "created" => Some(StackIdentity::Created(name.to_owned())),
            "external" => Some(StackIdentity::External(name.to_owned())),
            "profile" => Some(StackIdentity::Profile(name.to_owned())),
            _ => None,
        }
    }

    /// What the stack creates.
    fn creates(&self) -> Vec<(Kind, String)> {
        match self {
            StackIdentity::Created(n) => vec![(Kind::Role, n.clone()), (Kind::Profile, n.clone())],
            StackIdentity::External(r) => {
                vec![(Kind::Profile, external_profile_name(r))]
            }
            StackIdentity::Profile(_) => Vec::new(),
        }
    }

    /// What the group uses without the stack creating it.
    fn uses(&self) -> Vec<(Kind, String)> {
        match self {
            StackIdentity::Created(_) => Vec::new(),
            StackIdentity::External(r) => vec![(Kind::Role, r.clone())],
            StackIdentity::Profile(arn) => {
                vec![(Kind::Profile, profile_name_of_arn(arn).to_owned())]
            }
        }
    }
}

fn what(kind: Kind) -> &'static str {
    match kind {
        Kind::Role => "role",
        Kind::Profile => "instance profile",
    }
}

/// Whether `group` (its cluster.yaml path, for the message) may move from the identity in its
/// running stack's output (`None`: a new stack, or one from before the output) to `rendered`.
pub fn check_identity_change(
    group: &str,
    deployed: Option<&str>,
    rendered: &StackIdentity,
) -> Result<(), String> {
    let Some(old) = deployed.and_then(StackIdentity::parse) else {
        return Ok(());
    };
    let same =
        |a: &(Kind, String), b: &(Kind, String)| a.0 == b.0 && a.1.eq_ignore_ascii_case(&b.1);
    for used in rendered.uses() {
        if old.creates().iter().any(|c| same(c, &used)) {
            return Err(format!(
                "{group}.iam: the {} {} is the one this group's stack created; used as an existing one, CloudFormation would delete it under the running nodes once the update is done. Keep it as kubeline's (remove manageExternally or instanceProfile), or hand the group an existing {} of another name",
                what(used.0),
                used.1,
                what(used.0)
            ));
        }
    }
    for new in rendered.creates() {
        let old_created = old.creates();
        if old_created.contains(&new) {
            continue; // the same resource, kept
        }
        if let Some(prev) = old_created.iter().find(|c| same(c, &new)) {
            return Err(format!(
                "{group}.iam.role.name: {} changes only in case (from {}); IAM names ignore case, so CloudFormation cannot create the new {} before it deletes the old one. Keep {}, or pick another name",
                new.1,
                prev.1,
                what(new.0),
                prev.1
            ));
        }
        if old.uses().iter().any(|u| same(u, &new)) {
            return Err(format!(
                "{group}.iam.role.name: the {} {} exists outside this stack (the group used it as an existing one), so kubeline cannot create one of that name. Pick another name, or keep it existing",
                what(new.0),
                new.1
            ));
        }
    }
    Ok(())
}

/// One node group's identity in its running stack and in the render.
#[derive(Debug, Clone, Copy)]
pub struct IdentityMove<'a> {
    /// Its cluster.yaml path (`controller`, `etcd`, `worker.nodePools[N]`), or for a pool that
    /// is gone from cluster.yaml its stack's name.
    pub group: &'a str,
    /// The running stack's `NodeIdentity` output, if any.
    pub deployed: Option<&'a str>,
    /// The rendered identity; `None` when the stack goes (a pool removed from cluster.yaml).
    pub rendered: Option<&'a StackIdentity>,
}

/// Every group's move ([`check_identity_change`]), and across groups: no group uses as
/// existing a role or profile another group's stack created and stops creating in this run
/// (that stack's cleanup or deletion would delete it under the nodes), and none creates a name
/// another group's running stack holds unless that stack keeps it (names swap in two runs).
pub fn check_identity_moves(moves: &[IdentityMove<'_>]) -> Result<(), String> {
    for m in moves {
        if let Some(rendered) = m.rendered {
            check_identity_change(m.group, m.deployed, rendered)?;
        }
    }
    let same =
        |a: &(Kind, String), b: &(Kind, String)| a.0 == b.0 && a.1.eq_ignore_ascii_case(&b.1);
    let deployed = |m: &IdentityMove<'_>| m.deployed.and_then(StackIdentity::parse);
    for (i, a) in moves.iter().enumerate() {
        let Some(rendered) = a.rendered else { continue };
        for (j, b) in moves.iter().enumerate() {
            let Some(old) = deployed(b).filter(|_| i != j) else {
                continue;
            };
            let kept = b.rendered.map(StackIdentity::creates).unwrap_or_default();
            for used in rendered.uses() {
                if old
                    .creates()
                    .iter()
                    .any(|c| same(c, &used) && !kept.contains(c))
                {
                    return Err(format!(
                        "{}.iam: the {} {} is one {}'s stack created and stops creating in this run, so CloudFormation would delete it under {}'s nodes. Hand over a role or profile of another name",
                        a.group,
                        what(used.0),
                        used.1,
                        b.group,
                        a.group
                    ));
                }
            }
            for new in rendered.creates() {
                let mut held = old.creates().into_iter().chain(old.uses());
                if let Some(h) = held.find(|h| same(h, &new))
                    && !kept.contains(&h)
                {
                    return Err(format!(
                        "{}.iam.role.name: the {} {} is still {}'s in its running stack (IAM names ignore case), and CloudFormation creates new names before it deletes old ones. Move the name in two runs: first give {} another, then take it",
                        a.group,
                        what(new.0),
                        h.1,
                        b.group,
                        b.group
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::StackIdentity::{Created, External, Profile};
    use super::*;

    const ARN: &str = "arn:aws:iam::123456789012:instance-profile/team/kubeline-c-x";

    #[test]
    fn outputs_read_back() {
        for id in [
            Created("kubeline-c-pool-a".into()),
            External("kubeline-c-ext".into()),
            Profile(ARN.into()),
        ] {
            assert_eq!(StackIdentity::parse(&id.output()), Some(id));
        }
        assert_eq!(StackIdentity::parse("kubeline-c-x"), None);
        assert_eq!(StackIdentity::parse("other:x"), None);
    }

    #[test]
    fn moves_that_would_delete_or_collide_are_refused() {
        let created = |n: &str| Created(n.into()).output();
        let external = |n: &str| External(n.into()).output();
        let profile = |n: &str| Profile(n.into()).output();
        // (deployed output, rendered, error containing)
        let cases: Vec<(Option<String>, StackIdentity, Option<&str>)> = vec![
            // New stacks, and stacks from before the output: nothing to compare.
            (None, External("kubeline-c-x".into()), None),
            (
                Some("https://api".into()),
                External("kubeline-c-x".into()),
                None,
            ),
            // Unchanged, and plain renames.
            (
                Some(created("kubeline-c-x")),
                Created("kubeline-c-x".into()),
                None,
            ),
            (
                Some(created("kubeline-c-x")),
                Created("kubeline-c-y".into()),
                None,
            ),
            (
                Some(external("kubeline-c-x")),
                External("kubeline-c-x".into()),
                None,
            ),
            (Some(profile(ARN)), Profile(ARN.into()), None),
            // Adopting what the stack created: deleted in cleanup.
            (
                Some(created("kubeline-c-x")),
                External("kubeline-c-X".into()),
                Some("the role kubeline-c-X is the one this group's stack created"),
            ),
            (
                Some(created("kubeline-c-x")),
                Profile(ARN.into()),
                Some("the instance profile kubeline-c-x is the one this group's stack created"),
            ),
            (
                Some(external("kubeline-c-r")),
                Profile("arn:aws:iam::123456789012:instance-profile/kubeline-c-r-profile".into()),
                Some("the instance profile kubeline-c-r-profile is the one"),
            ),
            // A role or profile the group used as existing, then created by kubeline.
            (
                Some(external("kubeline-c-x")),
                Created("kubeline-c-x".into()),
                Some("the role kubeline-c-x exists outside this stack"),
            ),
            (
                Some(profile(ARN)),
                Created("kubeline-c-x".into()),
                Some("the instance profile kubeline-c-x exists outside this stack"),
            ),
            // Case-only renames.
            (
                Some(created("kubeline-c-web")),
                Created("kubeline-c-Web".into()),
                Some("kubeline-c-Web changes only in case (from kubeline-c-web)"),
            ),
            (
                Some(external("kubeline-c-web")),
                External("kubeline-c-WEB".into()),
                Some("changes only in case"),
            ),
            // Moving away from an existing identity to a new name is fine.
            (Some(profile(ARN)), Created("kubeline-c-y".into()), None),
            (
                Some(external("kubeline-c-x")),
                Created("kubeline-c-y".into()),
                None,
            ),
            (
                Some(created("kubeline-c-x")),
                External("kubeline-c-other".into()),
                None,
            ),
        ];
        for (deployed, rendered, want) in cases {
            let got = check_identity_change("worker.nodePools[0]", deployed.as_deref(), &rendered);
            match want {
                None => assert_eq!(got, Ok(()), "{deployed:?} -> {rendered:?}"),
                Some(w) => {
                    let e = got.expect_err(&format!("{deployed:?} -> {rendered:?}"));
                    assert!(e.contains(w), "{e}\nwanted: {w}");
                    assert!(e.starts_with("worker.nodePools[0].iam"), "{e}");
                }
            }
        }
    }

    #[test]
    fn no_group_takes_or_creates_what_another_group_s_stack_holds() {
        let a_created = Created("kubeline-c-a".into()).output();
        let b_external = External("kubeline-c-b".into()).output();
        let ext_a = External("kubeline-c-A".into());
        let created_a = Created("kubeline-c-a".into());
        let created_b = Created("kubeline-c-b".into());
        let created_x = Created("kubeline-c-x".into());
        let etcd_b = Created("kubeline-c-b".into()).output();
        let ext_y = External("kubeline-c-y".into());
        let ext_b = External("kubeline-c-b".into());
        fn mv<'a>(
            group: &'a str,
            deployed: &'a str,
            rendered: Option<&'a StackIdentity>,
        ) -> IdentityMove<'a> {
            IdentityMove {
                group,
                deployed: Some(deployed),
                rendered,
            }
        }
        // (moves, error containing)
        let cases: Vec<(Vec<IdentityMove<'_>>, Option<&str>)> = vec![
            // Pool 1 adopts the role pool 0's stack created, while pool 0 renames or goes.
            (
                vec![
                    mv("worker.nodePools[0]", &a_created, Some(&created_x)),
                    mv("worker.nodePools[1]", &b_external, Some(&ext_a)),
                ],
                Some(
                    "worker.nodePools[1].iam: the role kubeline-c-A is one worker.nodePools[0]'s stack created and stops creating",
                ),
            ),
            (
                vec![
                    mv("kubeline-c-node-pool-old", &a_created, None),
                    mv("worker.nodePools[0]", &b_external, Some(&ext_a)),
                ],
                Some("is one kubeline-c-node-pool-old's stack created"),
            ),
            // Two groups swap names in one run.
            (
                vec![
                    mv("controller", &a_created, Some(&created_b)),
                    mv("etcd", &etcd_b, Some(&created_a)),
                ],
                Some(
                    "controller.iam.role.name: the role kubeline-c-b is still etcd's in its running stack",
                ),
            ),
            // Creating the name another group uses as existing.
            (
                vec![
                    mv("controller", &a_created, Some(&created_b)),
                    mv("etcd", &b_external, Some(&ext_y)),
                ],
                Some("the role kubeline-c-b is still etcd's"),
            ),
            // Negative controls: each keeps its own, or takes a free name.
            (
                vec![
                    mv("controller", &a_created, Some(&created_a)),
                    mv("etcd", &b_external, Some(&ext_b)),
                ],
                None,
            ),
            (
                vec![
                    mv("controller", &a_created, Some(&created_x)),
                    mv("kubeline-c-node-pool-old", &b_external, None),
                ],
                None,
            ),
        ];
        for (moves, want) in cases {
            let got = check_identity_moves(&moves);
            match want {
                None => assert_eq!(got, Ok(()), "{moves:?}"),
                Some(w) => {
                    let e = got.expect_err(&format!("{moves:?}"));
                    assert!(e.contains(w), "{e}\nwanted: {w}");
                }
            }
        }
    }
}
