//! A run's plan: every stack's change set, the add-on changes, and the plan table.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What one resource change in a change set does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceChange {
    /// Add, Modify, Remove, Import, Dynamic.
    pub action: String,
    /// Logical ID in the template.
    pub logical_id: String,
    /// CloudFormation type.
    pub resource_type: String,
    /// For Modify: True, False or Conditional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
}

/// What happens to one stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StackAction {
    /// The stack is created.
    Create,
    /// The stack is updated.
    Update,
    /// Nothing changes.
    NoChange,
}

/// The plan of one stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StackChange {
    /// Stack name.
    pub stack: String,
    /// What happens to it.
    pub action: StackAction,
    /// The change set's changes (for a stack created after its dependencies, the template's
    /// resources as `Add`).
    pub changes: Vec<ResourceChange>,
    /// The change set, when one was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_set: Option<String>,
}

/// One add-on at one version (`manifest.json`'s `addons`, status.json's deployed set).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AddonVersion {
    /// The add-on (`coredns`).
    pub name: String,
    /// Its version (`v1.12.1`).
    pub version: String,
}

/// How one add-on changes in a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddonChange {
    /// The add-on.
    pub name: String,
    /// Its deployed version; `None` when it is added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Its new version; `None` when it is removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

impl std::fmt::Display for AddonChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.from, &self.to) {
            (Some(a), Some(b)) => write!(f, "{} {a} → {b}", self.name),
            (None, Some(b)) => write!(f, "{} {b} added", self.name),
            (Some(a), None) => write!(f, "{} {a} removed", self.name),
            (None, None) => write!(f, "{}", self.name),
        }
    }
}

/// What changes between the deployed add-on set and the rendered one, by name. `deployed` is
/// `None` for a cluster whose deployed set is unknown (a new cluster, or one last applied by a
/// kubeline that recorded none): then nothing is reported as changed.
pub fn addon_changes(
    deployed: Option<&[AddonVersion]>,
    rendered: &[AddonVersion],
) -> Vec<AddonChange> {
    let Some(deployed) = deployed else {
        return Vec::new();
    };
    let old: BTreeMap<&str, &str> = deployed
        .iter()
        .map(|a| (a.name.as_str(), a.version.as_str()))
        .collect();
    let new: BTreeMap<&str, &str> = rendered
        .iter()
        .map(|a| (a.name.as_str(), a.version.as_str()))
        .collect();
    let mut names: Vec<&str> = old.keys().chain(new.keys()).copied().collect();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .filter(|n| old.get(n) != new.get(n))
        .map(|n| AddonChange {
            name: n.to_owned(),
            from: old.get(n).map(|v| (*v).to_owned()),
            to: new.get(n).map(|v| (*v).to_owned()),
        })
        .collect()
}

/// A run's plan: every stack in apply order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// Stacks in apply order.
    pub stacks: Vec<StackChange>,
    /// The add-on set this run deploys.
    #[serde(default)]
    pub addons: Vec<AddonVersion>,
    /// How it differs from the deployed one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addon_changes: Vec<AddonChange>,
    /// The Kubernetes version change this run makes, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<super::Upgrade>,
    /// The etcd snapshot the run takes before its changes.
    #[serde(default, skip_serializing_if = "is_not_needed")]
    pub etcd_snapshot: super::PreRunSnapshot,
}

fn is_not_needed(s: &super::PreRunSnapshot) -> bool {
    *s == super::PreRunSnapshot::NotNeeded
}

impl Plan {
    /// Which node groups the updates replace, in apply order: a group's instances are replaced
    /// when its launch template changes (a new version; or the template or group itself is
    /// replaced). etcd members go one at a time, each after the previous reported healthy;
    /// controllers and pools in batches, each node drained first and each batch waiting for
    /// its new nodes to be ready (waitSignal). Stacks being created replace nothing.
    pub fn node_replacements(&self) -> Vec<String> {
        let mut out = Vec::new();
        for s in self
            .stacks
            .iter()
            .filter(|s| s.action == StackAction::Update)
        {
            let rolled: Vec<&ResourceChange> = s
                .changes
                .iter()
                .filter(|c| {
                    (c.resource_type == "AWS::EC2::LaunchTemplate"
                        && matches!(c.action.as_str(), "Modify" | "Add"))
                        || (c.resource_type == "AWS::AutoScaling::AutoScalingGroup"
                            && c.replacement.as_deref() == Some("True"))
                })
                .collect();
            if rolled.is_empty() {
                continue;
            }
            let members: Vec<&str> = rolled
                .iter()
                .filter_map(|c| {
                    c.logical_id
                        .strip_prefix("Member")
                        .and_then(|r| r.strip_suffix("LaunchTemplate"))
                })
                .collect();
            let line = if !members.is_empty() {
                format!(
                    "{}: etcd members {} replaced one at a time, each after the previous one reports healthy (the cluster keeps its quorum)",
                    s.stack,
                    members
                        .iter()
                        .map(|m| format!("etcd{m}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            } else if let Some(pool) = s.stack.split_once("-node-pool-").map(|(_, p)| p) {
                format!(
                    "{}: node pool {pool} replaced in batches after the control plane, each node drained first, each batch waiting for its new nodes to be Ready",
                    s.stack
                )
            } else if s.stack.ends_with("-control-plane") {
                format!(
                    "{}: controllers replaced in batches, each drained first, each batch waiting for its new controllers' API servers and Nodes to be ready",
                    s.stack
                )
            } else {
                format!("{}: its instances are replaced", s.stack)
            };
            out.push(line);
        }
        out
    }

    /// Whether anything changes.
    pub fn has_changes(&self) -> bool {
        self.stacks
            .iter()
            .any(|s| s.action != StackAction::NoChange)
    }

    /// Counts of resource actions over all stacks, e.g. `{"Add": 12, "Modify": 1}`.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for s in &self.stacks {
            for c in &s.changes {
                *out.entry(c.action.clone()).or_insert(0) += 1;
            }
        }
        out
    }

    /// A short Markdown table: one row per stack (replacements called out).
    pub fn table(&self) -> String {
        let mut t = String::from(
            "| stack | action | add | modify | remove | replace |\n|---|---|---|---|---|---|\n",
        );
        for s in &self.stacks {
            let n = |a: &str| s.changes.iter().filter(|c| c.action == a).count();
            let replace = s
                .changes
                .iter()
                .filter(|c| c.replacement.as_deref() == Some("True"))
                .count();
            let action = match s.action {
                StackAction::Create => "create",
                StackAction::Update => "update",
                StackAction::NoChange => "no change",
            };
            t.push_str(&format!(
                "| {} | {action} | {} | {} | {} | {replace} |\n",
                s.stack,
                n("Add"),
                n("Modify"),
                n("Remove")
            ));
        }
        if !self.addon_changes.is_empty() {
            let changes: Vec<String> = self.addon_changes.iter().map(|c| c.to_string()).collect();
            t.push_str(&format!("\nadd-ons: {}\n", changes.join(", ")));
        }
        let nodes = self.node_replacements();
        if !nodes.is_empty() {
            t.push_str("\nNodes replaced, in this order:\n");
            for (i, line) in nodes.iter().enumerate() {
                t.push_str(&format!("{}. {line}\n", i + 1));
            }
        }
        if let Some(line) = self.etcd_snapshot.line() {
            t.push_str(&format!("\n{line}\n"));
        }
        if let Some(u) = &self.upgrade {
            t.push_str(&format!(
                "\nKubernetes upgrade {} → {}, in this order:\n",
                u.from, u.to
            ));
            for (i, step) in u.steps.iter().enumerate() {
                t.push_str(&format!("{}. {step}\n", i + 1));
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(action: &str, logical_id: &str, resource_type: &str) -> ResourceChange {
        ResourceChange {
            action: action.into(),
            logical_id: logical_id.into(),
            resource_type: resource_type.into(),
            replacement: None,
        }
    }

    fn stack(name: &str, action: StackAction, changes: Vec<ResourceChange>) -> StackChange {
        StackChange {
            stack: name.into(),
            action,
            changes,
            change_set: None,
        }
    }

    /// (stacks → the replacement lines' beginnings), in apply order.
    #[test]
    fn the_plan_says_which_nodes_are_replaced_and_in_what_order() {
        let lt = |id: &str| change("Modify", id, "AWS::EC2::LaunchTemplate");
        let sg = change("Modify", "Ingress", "AWS::EC2::SecurityGroupIngress");
        let cases: Vec<(Vec<StackChange>, Vec<&str>)> = vec![
            (vec![], vec![]),
            // A security-group change replaces no node.
            (
                vec![stack(
                    "kubeline-a-network",
                    StackAction::Update,
                    vec![sg.clone()],
                )],
                vec![],
            ),
            // A new stack's launch templates are additions, not replacements.
            (
                vec![stack(
                    "kubeline-a-node-pool-x",
                    StackAction::Create,
                    vec![change("Add", "LaunchTemplate", "AWS::EC2::LaunchTemplate")],
                )],
                vec![],
            ),
            (
                vec![
                    stack("kubeline-a-network", StackAction::Update, vec![sg]),
                    stack(
                        "kubeline-a-etcd",
                        StackAction::Update,
                        vec![lt("Member0LaunchTemplate"), lt("Member2LaunchTemplate")],
                    ),
                    stack(
                        "kubeline-a-control-plane",
                        StackAction::Update,
                        vec![lt("LaunchTemplate")],
                    ),
                    stack("kubeline-a-node-pool-x", StackAction::NoChange, vec![]),
                    stack(
                        "kubeline-a-node-pool-etcd",
                        StackAction::Update,
                        vec![lt("LaunchTemplate")],
                    ),
                ],
                vec![
                    "kubeline-a-etcd: etcd members etcd0, etcd2 replaced one at a time",
                    "kubeline-a-control-plane: controllers replaced in batches, each drained first",
                    "kubeline-a-node-pool-etcd: node pool etcd replaced in batches after the control plane",
                ],
            ),
            // A group replaced outright (a property that forces it) rolls too.
            (
                vec![stack(
                    "kubeline-a-node-pool-y",
                    StackAction::Update,
                    vec![ResourceChange {
                        replacement: Some("True".into()),
                        ..change(
                            "Modify",
                            "AutoScalingGroup",
                            "AWS::AutoScaling::AutoScalingGroup",
                        )
                    }],
                )],
                vec!["kubeline-a-node-pool-y: node pool y replaced"],
            ),
        ];
        for (stacks, want) in cases {
            let plan = Plan {
                stacks,
                ..Plan::default()
            };
            let got = plan.node_replacements();
            assert_eq!(got.len(), want.len(), "{got:?}");
            for (g, w) in got.iter().zip(&want) {
                assert!(g.starts_with(w), "{g:?} vs {w:?}");
            }
            if !want.is_empty() {
                assert!(plan.table().contains("Nodes replaced, in this order:\n1. "));
            }
        }
    }
}
