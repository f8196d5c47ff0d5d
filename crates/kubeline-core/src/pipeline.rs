//! The pipeline's records and messages, pure: the bucket layout of an installation, a run's
//! plan (every change set's changes), `status.json`, approval and destroy requests, and the
//! chat notifications (the Amazon Q Developer in chat applications JSON shape).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Keys of one cluster in the installation bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterKeys {
    /// `clusters/<name>/`.
    pub prefix: String,
}

impl ClusterKeys {
    /// The keys of cluster `name`.
    pub fn new(name: &str) -> ClusterKeys {
        ClusterKeys {
            prefix: format!("clusters/{name}/"),
        }
    }
    /// The cluster name of a key under `clusters/<name>/`, if any.
    pub fn cluster_of(key: &str) -> Option<&str> {
        let rest = key.strip_prefix("clusters/")?;
        let (name, _) = rest.split_once('/')?;
        (!name.is_empty()).then_some(name)
    }
    /// Uploaded by teams.
    pub fn config(&self) -> String {
        format!("{}cluster.yaml", self.prefix)
    }
    /// Credentials folder (sealed secrets, fingerprints, public certificates).
    pub fn credentials(&self) -> String {
        format!("{}credentials/", self.prefix)
    }
    /// Rendered stack templates of one render, content-addressed.
    pub fn assets(&self, content_hash: &str) -> String {
        format!("{}assets/{content_hash}/", self.prefix)
    }
    /// The cluster's current status.
    pub fn status(&self) -> String {
        format!("{}status.json", self.prefix)
    }
    /// A run's audit folder (never overwritten).
    pub fn run(&self, run_id: &str) -> String {
        format!("{}runs/{run_id}/", self.prefix)
    }
    /// An approval request for a run.
    pub fn approval(&self, run_id: &str) -> String {
        format!("{}approvals/{run_id}.yaml", self.prefix)
    }
    /// The destroy request.
    pub fn destroy(&self) -> String {
        format!("{}destroy.yaml", self.prefix)
    }
}

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
        t
    }
}

/// Where a cluster's run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Checking cluster.yaml, issuing credentials, rendering, checking templates.
    Preparing,
    /// Creating change sets.
    Planning,
    /// Waiting for an approval file.
    AwaitingApproval,
    /// Executing change sets.
    Applying,
    /// Every stack is up to date.
    Succeeded,
    /// The plan had no changes; nothing was touched.
    NoChanges,
    /// The run failed; see `lastError`.
    Failed,
    /// The plan was rejected.
    Rejected,
    /// Deleting stacks.
    Destroying,
    /// Every stack is deleted.
    Destroyed,
}

impl Phase {
    /// Whether a run in this phase has ended.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Phase::Succeeded
                | Phase::NoChanges
                | Phase::Failed
                | Phase::Rejected
                | Phase::Destroyed
        )
    }
}

/// One stack in `status.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StackState {
    /// Stack name.
    pub name: String,
    /// CloudFormation status (`CREATE_COMPLETE`, ...), or `NOT_CREATED`.
    pub status: String,
    /// Its outputs.
    #[serde(default)]
    pub outputs: BTreeMap<String, String>,
}

/// The error that ended a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunError {
    /// Stable error name (the state machine's).
    pub error: String,
    /// What happened and how to fix it.
    pub cause: String,
}

/// The earliest-expiring certificate, for `status.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateSummary {
    /// Its file.
    pub file: String,
    /// Its end, RFC 3339.
    pub not_after: String,
    /// Days left.
    pub days_left: i64,
}

/// A resource that differs from its template (CloudFormation drift detection).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftedResource {
    /// Logical ID.
    pub logical_id: String,
    /// Type.
    pub resource_type: String,
    /// `MODIFIED` or `DELETED`.
    pub drift_status: String,
    /// The differing properties (`path: expected → actual`).
    pub differences: Vec<String>,
}

/// The last drift check of a cluster's stacks, in `status.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftReport {
    /// When it was checked (RFC 3339).
    pub checked_at: String,
    /// Drifted resources by stack (empty: everything is in sync).
    pub drifted: BTreeMap<String, Vec<DriftedResource>>,
}

/// `clusters/<name>/status.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// Cluster name.
    pub cluster: String,
    /// Where the run is.
    pub phase: Phase,
    /// The run (its execution name).
    pub run_id: String,
    /// The Step Functions execution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_arn: Option<String>,
    /// The cluster.yaml object version the run was started for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_version: Option<String>,
    /// Stacks in apply order.
    #[serde(default)]
    pub stacks: Vec<StackState>,
    /// The API endpoint (DNS name), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_endpoint: Option<String>,
    /// Earliest certificate expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificates: Option<CertificateSummary>,
    /// Counts of the plan's resource actions.
    #[serde(default)]
    pub plan: BTreeMap<String, usize>,
    /// The add-on set of the last successful apply (`None` before the first one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addons: Option<Vec<AddonVersion>>,
    /// How the running plan changes it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addon_changes: Vec<AddonChange>,
    /// When the run started (RFC 3339).
    pub started_at: String,
    /// When this status was written (RFC 3339).
    pub updated_at: String,
    /// What ended the run, if it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<RunError>,
    /// The last daily drift check (nothing is changed because of it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<DriftReport>,
}

/// An approval request (`clusters/<name>/approvals/<run-id>.yaml`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRequest {
    /// `approve` or `reject`.
    pub decision: Decision,
    /// Who decided.
    #[serde(default)]
    pub by: Option<String>,
    /// Why.
    #[serde(default)]
    pub comment: Option<String>,
}

/// An approval decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Apply the plan.
    Approve,
    /// Do not apply it.
    Reject,
}

/// Parses an approval file; the error says what to write instead.
pub fn parse_approval(text: &str) -> Result<ApprovalRequest, String> {
    serde_saphyr::from_str::<ApprovalRequest>(text).map_err(|e| {
        format!(
            "{}; write `decision: approve` or `decision: reject` (optional: `by`, `comment`)",
            e.to_string().lines().next().unwrap_or_default()
        )
    })
}

/// A destroy request (`clusters/<name>/destroy.yaml`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct DestroyRequest {
    confirm: String,
    #[serde(default)]
    #[allow(dead_code)]
    by: Option<String>,
}

/// Checks a destroy request for `cluster`: it must say `confirm: <cluster>`.
pub fn check_destroy(text: &str, cluster: &str) -> Result<(), String> {
    let req: DestroyRequest = serde_saphyr::from_str(text).map_err(|e| {
        format!(
            "{}; write `confirm: {cluster}`",
            e.to_string().lines().next().unwrap_or_default()
        )
    })?;
    if req.confirm == cluster {
        Ok(())
    } else {
        Err(format!(
            "the request confirms `{}`, not `{cluster}`; write `confirm: {cluster}` to destroy this cluster",
            req.confirm
        ))
    }
}

/// A chat notification (Amazon Q Developer in chat applications custom notification).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chat {
    /// Title: cluster and outcome.
    pub title: String,
    /// Markdown body: the change table or the error.
    pub description: String,
    /// What to do next.
    pub next_steps: Vec<String>,
    /// Keywords (cluster, outcome).
    pub keywords: Vec<String>,
    /// Thread per cluster.
    pub thread_id: String,
    /// One-line summary.
    pub summary: String,
    /// Event type.
    pub event_type: String,
    /// Related ARNs.
    pub related: Vec<String>,
    /// Extra context.
    pub context: BTreeMap<String, String>,
}

impl Chat {
    fn base(cluster: &str, run_id: &str, outcome: &str, event: &str) -> Chat {
        let mut context = BTreeMap::new();
        context.insert("cluster".into(), cluster.to_owned());
        context.insert("runId".into(), run_id.to_owned());
        Chat {
            title: format!("kubeline: {cluster} {outcome}"),
            description: String::new(),
            next_steps: vec![],
            keywords: vec![cluster.to_owned(), outcome.to_owned()],
            thread_id: format!("kubeline-{cluster}"),
            summary: format!("{cluster}: {outcome}"),
            event_type: event.to_owned(),
            related: vec![],
            context,
        }
    }

    /// The plan is ready; when `approval` names the approval key, the run waits for it.
    pub fn plan(cluster: &str, run_id: &str, plan: &Plan, approval_key: Option<&str>) -> Chat {
        let outcome = if approval_key.is_some() {
            "plan awaiting approval"
        } else {
            "plan ready"
        };
        let mut c = Chat::base(cluster, run_id, outcome, "PlanReady");
        c.description = plan.table();
        c.next_steps = match approval_key {
            Some(key) => vec![
                format!(
                    "Approve: upload `decision: approve` to s3://<bucket>/{key} (or `kubeline approve {cluster}`)"
                ),
                format!(
                    "Reject: upload `decision: reject` to the same key (or `kubeline reject {cluster}`)"
                ),
            ],
            None => vec!["Applying now; a notification follows when it is done.".into()],
        };
        c
    }

    /// The run ended without changes.
    pub fn no_changes(cluster: &str, run_id: &str) -> Chat {
        let mut c = Chat::base(cluster, run_id, "no changes", "NoChanges");
        c.description = "cluster.yaml renders to what is deployed; no stack was touched.".into();
        c
    }

    /// The run applied every stack.
    pub fn succeeded(cluster: &str, run_id: &str, status: &Status) -> Chat {
        let mut c = Chat::base(cluster, run_id, "applied", "Succeeded");
        let mut d = String::from("| stack | status |\n|---|---|\n");
        for s in &status.stacks {
            d.push_str(&format!("| {} | {} |\n", s.name, s.status));
        }
        if let Some(api) = &status.api_endpoint {
            d.push_str(&format!("\nAPI: `https://{api}`\n"));
        }
        c.description = d;
        c.next_steps = vec![format!(
            "`kubeline status {cluster}` shows stacks and certificates"
        )];
        c
    }

    /// The run failed.
    pub fn failed(cluster: &str, run_id: &str, error: &RunError) -> Chat {
        let mut c = Chat::base(cluster, run_id, "failed", "Failed");
        c.description = format!("**{}**: {}", error.error, error.cause);
        c.next_steps = vec![format!(
            "Fix cluster.yaml and upload it again; details in clusters/{cluster}/runs/{run_id}/"
        )];
        c
    }

    /// The plan was rejected.
    pub fn rejected(cluster: &str, run_id: &str, by: Option<&str>, comment: Option<&str>) -> Chat {
        let mut c = Chat::base(cluster, run_id, "plan rejected", "Rejected");
        c.description = format!(
            "Rejected by {}{}; nothing was applied.",
            by.unwrap_or("an approver"),
            comment.map(|m| format!(": {m}")).unwrap_or_default()
        );
        c
    }

    /// A newer upload replaced the run's cluster.yaml before it started.
    pub fn superseded(cluster: &str, run_id: &str, why: &str) -> Chat {
        let mut c = Chat::base(cluster, run_id, "run superseded", "Superseded");
        c.description = format!("{why}. Nothing was applied by this run.");
        c
    }

    /// A daily report over every cluster (rotation, drift): its own thread, `title` as the
    /// summary.
    pub fn daily(thread: &str, event: &str, title: String, description: String) -> Chat {
        let mut c = Chat::base("all", "daily", thread, event);
        c.title = title.clone();
        c.summary = title;
        c.thread_id = format!("kubeline-{thread}");
        c.keywords = vec![thread.to_owned()];
        c.description = description;
        c
    }

    /// cluster.yaml was deleted: nothing is destroyed, and the chat is told how to destroy.
    pub fn config_deleted(cluster: &str) -> Chat {
        let mut c = Chat::base(cluster, "-", "cluster.yaml deleted", "ConfigDeleted");
        c.title = format!("kubeline: {cluster} cluster.yaml deleted");
        c.description = format!(
            "clusters/{cluster}/cluster.yaml was deleted; nothing was destroyed. To delete the cluster, upload clusters/{cluster}/destroy.yaml with `confirm: {cluster}`."
        );
        c
    }

    /// The cluster was destroyed.
    pub fn destroyed(cluster: &str, run_id: &str, stacks: &[String]) -> Chat {
        let mut c = Chat::base(cluster, run_id, "destroyed", "Destroyed");
        c.description = format!("Deleted stacks: {}", stacks.join(", "));
        c
    }

    /// The SNS message body.
    pub fn to_json(&self) -> Value {
        json!({
            "version": "1.0",
            "source": "custom",
            "id": format!("{}-{}", self.thread_id, self.event_type),
            "content": {
                "textType": "client-markdown",
                "title": self.title,
                "description": self.description,
                "nextSteps": self.next_steps,
                "keywords": self.keywords,
            },
            "metadata": {
                "threadId": self.thread_id,
                "summary": self.summary,
                "eventType": self.event_type,
                "relatedResources": self.related,
                "additionalContext": self.context,
            },
        })
    }
}

/// The control-plane stack output that names the API endpoint the workers use.
pub const NODE_API_ENDPOINT_OUTPUT: &str = "NodeApiEndpoint";

/// Whether a run may move the workers from the API endpoint `deployed` (the running cluster's
/// `NodeApiEndpoint` output; `None` for a new cluster or one deployed before the output existed)
/// to `rendered`. Moving them in one run would cut running workers off: the control-plane stack
/// (its load balancer, record and the API server's certificate names) changes before the node
/// pools are replaced. The error says how to keep the endpoint.
pub fn check_node_endpoint(deployed: Option<&str>, rendered: &str) -> Result<(), String> {
    match deployed {
        Some(old) if !old.is_empty() && old != rendered => {
            let host = old.trim_start_matches("https://");
            Err(format!(
                "apiEndpoints: the workers reach the API at {old}, and this cluster.yaml moves them to {rendered} in one run: CloudFormation would change the control plane (and drop {host} from the load balancers, DNS records or certificate) before the node pools are replaced, and running workers would lose the API. Keep {host} as the endpoint nodes use: list it in apiEndpoints first among the private ones, or, if kubeline added it, as `{{name: {nodes}, dnsName: {host}, loadBalancer: {{private: true, ...}}}}` with the type, hostedZone and subnets of the one kubeline added (the plan then shows no change)",
                nodes = crate::cluster::NODES_ENDPOINT,
            ))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan {
            stacks: vec![
                StackChange {
                    stack: "demo-network".into(),
                    action: StackAction::Update,
                    changes: vec![
                        ResourceChange {
                            action: "Modify".into(),
                            logical_id: "Vpc".into(),
                            resource_type: "AWS::EC2::VPC".into(),
                            replacement: Some("True".into()),
                        },
                        ResourceChange {
                            action: "Add".into(),
                            logical_id: "SubnetB".into(),
                            resource_type: "AWS::EC2::Subnet".into(),
                            replacement: None,
                        },
                    ],
                    change_set: Some("cs".into()),
                },
                StackChange {
                    stack: "demo-etcd".into(),
                    action: StackAction::NoChange,
                    changes: vec![],
                    change_set: None,
                },
            ],
            ..Plan::default()
        }
    }

    #[test]
    fn keys_follow_the_bucket_layout() {
        let k = ClusterKeys::new("demo");
        assert_eq!(k.config(), "clusters/demo/cluster.yaml");
        assert_eq!(k.approval("r1"), "clusters/demo/approvals/r1.yaml");
        assert_eq!(k.run("r1"), "clusters/demo/runs/r1/");
        assert_eq!(
            ClusterKeys::cluster_of("clusters/demo/destroy.yaml"),
            Some("demo")
        );
        assert_eq!(ClusterKeys::cluster_of("other/demo/x"), None);
        assert_eq!(ClusterKeys::cluster_of("clusters//x"), None);
    }

    #[test]
    fn plan_table_and_counts() {
        let p = plan();
        assert!(p.has_changes());
        assert_eq!(p.counts()["Modify"], 1);
        let t = p.table();
        assert!(
            t.contains("| demo-network | update | 1 | 1 | 0 | 1 |"),
            "{t}"
        );
        assert!(
            t.contains("| demo-etcd | no change | 0 | 0 | 0 | 0 |"),
            "{t}"
        );
        let none = Plan {
            stacks: vec![p.stacks[1].clone()],
            ..Plan::default()
        };
        assert!(!none.has_changes());
    }

    #[test]
    fn chat_messages_have_the_chatbot_shape() {
        let c = Chat::plan(
            "demo",
            "run-1",
            &plan(),
            Some("clusters/demo/approvals/run-1.yaml"),
        );
        let v = c.to_json();
        assert_eq!(v["version"], "1.0");
        assert_eq!(v["source"], "custom");
        assert_eq!(v["content"]["textType"], "client-markdown");
        assert_eq!(v["metadata"]["threadId"], "kubeline-demo");
        assert!(
            v["content"]["title"]
                .as_str()
                .is_some_and(|t| t.contains("demo"))
        );
        assert!(
            v["content"]["nextSteps"][0]
                .as_str()
                .is_some_and(|s| s.contains("approvals/run-1.yaml"))
        );
        let f = Chat::failed(
            "demo",
            "run-1",
            &RunError {
                error: "ConfigInvalid".into(),
                cause: "cluster.yaml:3:1: x".into(),
            },
        );
        assert!(
            f.to_json()["content"]["description"]
                .as_str()
                .is_some_and(|d| d.contains("ConfigInvalid"))
        );
    }

    #[test]
    fn requests_are_checked() {
        assert_eq!(
            parse_approval("decision: approve\nby: alice\n")
                .expect("ok")
                .decision,
            Decision::Approve
        );
        assert!(parse_approval("decision: maybe\n").is_err());
        assert!(parse_approval("approve: true\n").is_err());
        assert!(check_destroy("confirm: demo\n", "demo").is_ok());
        let e = check_destroy("confirm: prod\n", "demo").expect_err("wrong");
        assert!(e.contains("confirm: demo"), "{e}");
        assert!(check_destroy("yes\n", "demo").is_err());
    }

    #[test]
    fn status_round_trips() {
        let s = Status {
            cluster: "demo".into(),
            phase: Phase::AwaitingApproval,
            run_id: "r".into(),
            execution_arn: None,
            config_version: Some("v1".into()),
            stacks: vec![],
            api_endpoint: None,
            certificates: None,
            plan: BTreeMap::new(),
            addons: Some(vec![AddonVersion {
                name: "coredns".into(),
                version: "v1.12.1".into(),
            }]),
            addon_changes: vec![],
            started_at: "2026-11-25T00:00:00Z".into(),
            updated_at: "2026-11-25T00:00:00Z".into(),
            last_error: None,
            drift: None,
        };
        let text = serde_json::to_string(&s).expect("json");
        assert!(text.contains("\"phase\":\"awaiting-approval\""), "{text}");
        assert_eq!(serde_json::from_str::<Status>(&text).expect("back"), s);
    }

    #[test]
    fn the_workers_endpoint_never_moves_in_one_run() {
        let a = "https://internal.api.example.com";
        let b = "https://private.example.com";
        for (deployed, rendered, ok) in [
            (None, a, true),
            (Some(""), a, true),
            (Some(a), a, true),
            (Some(a), b, false),
            (Some(b), a, false),
        ] {
            let got = check_node_endpoint(deployed, rendered);
            assert_eq!(got.is_ok(), ok, "{deployed:?} -> {rendered}: {got:?}");
            if let Err(e) = got {
                let host = deployed.unwrap_or_default().trim_start_matches("https://");
                assert!(e.contains(&format!("Keep {host} as the endpoint")), "{e}");
            }
        }
    }

    #[test]
    fn add_on_changes_name_what_moved() {
        let v = |n: &str, ver: &str| AddonVersion {
            name: n.into(),
            version: ver.into(),
        };
        let set = [v("coredns", "v1.12.1"), v("flannel", "v0.28.9")];
        for (deployed, rendered, want) in [
            (None, vec![v("coredns", "v1.12.1")], vec![]),
            (Some(set.to_vec()), set.to_vec(), vec![]),
            (
                Some(set.to_vec()),
                vec![v("coredns", "v1.12.2"), v("flannel", "v0.28.9")],
                vec!["coredns v1.12.1 → v1.12.2"],
            ),
            (
                Some(set.to_vec()),
                vec![v("coredns", "v1.12.1"), v("kube-proxy", "v1.34.2")],
                vec!["flannel v0.28.9 removed", "kube-proxy v1.34.2 added"],
            ),
        ] {
            let got: Vec<String> = addon_changes(deployed.as_deref(), &rendered)
                .iter()
                .map(ToString::to_string)
                .collect();
            assert_eq!(got, want, "{deployed:?} -> {rendered:?}");
        }
        let plan = Plan {
            addon_changes: addon_changes(Some(&set), &[v("coredns", "v1.12.2")]),
            ..Plan::default()
        };
        assert!(
            plan.table()
                .contains("add-ons: coredns v1.12.1 → v1.12.2, flannel v0.28.9 removed"),
            "{}",
            plan.table()
        );
    }
}
