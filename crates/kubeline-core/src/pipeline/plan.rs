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
}

impl Plan {
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
