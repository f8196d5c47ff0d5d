//! Chat notifications in the Amazon Q Developer in chat applications custom-notification shape.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::plan::Plan;
use super::status::{RunError, Status};

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

/// Text kubeline did not write (values quoted from cluster.yaml, approval comments, names,
/// AWS status reasons), made inert for client-markdown: a code span, or a fenced block when it
/// has several lines. Chat clients render no link, mention or formatting inside code, and a
/// backtick in the text cannot close it (it becomes `'`).
pub fn literal(text: &str) -> String {
    let text = text.trim();
    if text.is_empty() {
        return "(none)".into();
    }
    let text = text.replace('`', "'");
    if text.contains('\n') {
        format!("\n```\n{text}\n```\n")
    } else {
        format!("`{text}`")
    }
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

    /// The node groups being rolled changed (a group started or finished).
    pub fn rollout(cluster: &str, run_id: &str, rollout: &[super::RolloutProgress]) -> Chat {
        let mut c = Chat::base(cluster, run_id, "rolling out", "RolloutProgress");
        c.description = if rollout.is_empty() {
            "No node group is being replaced now; the apply goes on.".into()
        } else {
            let mut d = String::from("| stack | group | since | step |\n|---|---|---|---|\n");
            for r in rollout {
                d.push_str(&format!(
                    "| {} | {} | {} | {} |\n",
                    r.stack,
                    r.group,
                    r.at,
                    literal(&r.reason.replace('|', "/"))
                ));
            }
            d
        };
        c.next_steps = vec![format!(
            "`kubeline status {cluster}` shows each group's latest step"
        )];
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
        c.description = format!("**{}**: {}", error.error, literal(&error.cause));
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
            by.map(literal).unwrap_or_else(|| "an approver".into()),
            comment
                .map(|m| format!(": {}", literal(m)))
                .unwrap_or_default()
        );
        c
    }

    /// A newer upload replaced the run's cluster.yaml before it started.
    pub fn superseded(cluster: &str, run_id: &str, why: &str) -> Chat {
        let mut c = Chat::base(cluster, run_id, "run superseded", "Superseded");
        c.description = format!("{}. Nothing was applied by this run.", literal(why));
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

    /// A cluster's cluster.yaml was deleted: nothing is destroyed, and the team is told how to
    /// destroy. The validate function sends it for a deleted `clusters/<name>/cluster.yaml`
    /// whose `<name>` is a valid cluster name (any other key is no cluster's), so no text in it
    /// is the uploader's but a DNS label; the key is still quoted as a literal.
    pub fn config_deleted(cluster: &crate::types::ClusterName) -> Chat {
        let name = cluster.as_str();
        let key = super::ClusterKeys::new(name).config();
        let mut c = Chat::base(name, "", "cluster.yaml deleted", "ConfigDeleted");
        c.description = format!(
            "{} was deleted; nothing was destroyed. To delete the cluster, upload destroy.yaml next to it, saying `confirm: {name}`.",
            literal(&key)
        );
        c.summary = format!("{name}: cluster.yaml deleted; nothing destroyed");
        c.context.remove("runId");
        c.context.insert("key".into(), key);
        c
    }

    /// The cluster was destroyed.
    pub fn destroyed(cluster: &str, run_id: &str, stacks: &[String]) -> Chat {
        let mut c = Chat::base(cluster, run_id, "destroyed", "Destroyed");
        c.description = format!("Deleted stacks: {}", stacks.join(", "));
        c
    }

    /// An etcd restore started: the control plane stops while every member is rebuilt.
    pub fn restore_started(
        cluster: &str,
        run_id: &str,
        snapshot: &str,
        members: &[String],
    ) -> Chat {
        let mut c = Chat::base(
            cluster,
            run_id,
            "etcd restore started",
            "EtcdRestoreStarted",
        );
        c.description = format!(
            "Restoring etcd members {} from `{snapshot}`. Every change made after the snapshot is lost. The API servers, controller-managers and schedulers stop within a minute and start again once every member is healthy.",
            members.join(", ")
        );
        c.next_steps = vec![format!(
            "Follow it in clusters/{cluster}/status.json (etcdRestore); on a member, `journalctl -u etcd-restore-request.service`"
        )];
        c
    }

    /// etcd was restored and every member is healthy.
    pub fn restored(cluster: &str, run_id: &str, snapshot: &str) -> Chat {
        let mut c = Chat::base(cluster, run_id, "etcd restored", "EtcdRestored");
        c.description = format!(
            "Every etcd member is restored from `{snapshot}` and healthy. The controllers start their API server, controller-manager and scheduler again within a minute."
        );
        c.next_steps = vec![
            "Check the cluster: `kubectl get nodes` and your workloads; objects created after the snapshot are gone".into(),
            "On each etcd member, delete /var/lib/etcd/member.before-restore-* once the restore is verified".into(),
        ];
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

#[cfg(test)]
mod tests {
    #[test]
    fn a_deleted_config_is_told_in_the_clusters_thread() {
        let name: crate::types::ClusterName = "demo".parse().expect("name");
        let c = super::Chat::config_deleted(&name);
        assert_eq!(c.title, "kubeline: demo cluster.yaml deleted");
        assert_eq!(c.thread_id, "kubeline-demo");
        assert_eq!(c.event_type, "ConfigDeleted");
        assert!(
            c.description
                .starts_with("`clusters/demo/cluster.yaml` was deleted; nothing was destroyed."),
            "{}",
            c.description
        );
        assert_eq!(c.context["key"], "clusters/demo/cluster.yaml");
        assert!(!c.context.contains_key("runId"));
    }

    use super::*;

    #[test]
    fn text_from_users_is_inert_markdown() {
        // (text, rendered)
        let table = [
            ("plain", "`plain`"),
            (
                "[click](https://evil.example) <!channel> **bold**",
                "`[click](https://evil.example) <!channel> **bold**`",
            ),
            ("a `code` break-out", "`a 'code' break-out`"),
            ("", "(none)"),
            ("line 1\nline ```2```", "\n```\nline 1\nline '''2'''\n```\n"),
        ];
        for (text, want) in table {
            assert_eq!(literal(text), want, "{text}");
        }
    }

    #[test]
    fn approval_comments_and_causes_reach_the_chat_as_code() {
        let c = Chat::rejected(
            "a",
            "r",
            Some("<@U123>"),
            Some("see [this](https://x.example)"),
        );
        assert_eq!(
            c.description,
            "Rejected by `<@U123>`: `see [this](https://x.example)`; nothing was applied."
        );
        let c = Chat::failed(
            "a",
            "r",
            &RunError {
                error: "ConfigInvalid".into(),
                cause: "cluster.yaml:3:1: stackTags.x: \"`@here`\"".into(),
            },
        );
        assert_eq!(
            c.description,
            "**ConfigInvalid**: `cluster.yaml:3:1: stackTags.x: \"'@here'\"`"
        );
    }
}
