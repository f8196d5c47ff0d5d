//! The one router: which bucket events start which state machine or call which function. The
//! installation's EventBridge rules (infra/template.yaml) are checked against [`ROUTES`] by a
//! test, and the local runner routes with [`route`], so local and production cannot drift.
//!
//! EventBridge's `wildcard` matches `*` against zero or more characters, `/` included
//! (<https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html#eb-filtering-wildcard-matching>),
//! so a rule matches more keys than the layout's own: the steps check the exact key again, and
//! no record kubeline writes matches a rule ([`RunKeys`](super::RunKeys)).

use super::keys::ClusterKeys;

/// An S3 event's `detail-type` (EventBridge notifications of the bucket).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// `Object Created`.
    Created,
    /// `Object Deleted`.
    Deleted,
}

impl EventKind {
    /// The `detail-type` text.
    pub fn detail_type(self) -> &'static str {
        match self {
            EventKind::Created => "Object Created",
            EventKind::Deleted => "Object Deleted",
        }
    }

    /// The kind of a `detail-type`, if it is one kubeline routes.
    pub fn parse(detail_type: &str) -> Option<EventKind> {
        [EventKind::Created, EventKind::Deleted]
            .into_iter()
            .find(|k| k.detail_type() == detail_type)
    }
}

/// What an event leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Start the pipeline state machine (a cluster.yaml upload).
    StartPipeline,
    /// Start the destroy state machine (a destroy request).
    StartDestroy,
    /// Start the etcd restore state machine (a restore request).
    StartRestore,
    /// Call the apply function's `approval` op (an approval file).
    Approval,
    /// Tell the chat that deleting cluster.yaml destroys nothing.
    ConfigDeleted,
}

/// One EventBridge rule: events of `kind` whose object key matches `wildcard`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Where matching events go.
    pub route: Route,
    /// The event's `detail-type`.
    pub kind: EventKind,
    /// The `detail.object.key` wildcard pattern.
    pub wildcard: &'static str,
}

/// Every rule of an installation.
pub const ROUTES: &[Rule] = &[
    Rule {
        route: Route::StartPipeline,
        kind: EventKind::Created,
        wildcard: "clusters/*/cluster.yaml",
    },
    Rule {
        route: Route::StartDestroy,
        kind: EventKind::Created,
        wildcard: "clusters/*/destroy.yaml",
    },
    Rule {
        route: Route::StartRestore,
        kind: EventKind::Created,
        wildcard: "clusters/*/restore-etcd.yaml",
    },
    Rule {
        route: Route::Approval,
        kind: EventKind::Created,
        wildcard: "clusters/*/approvals/*.yaml",
    },
    Rule {
        route: Route::ConfigDeleted,
        kind: EventKind::Deleted,
        wildcard: "clusters/*/cluster.yaml",
    },
];

/// A bucket event, as far as routing needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketEvent {
    /// Its `detail-type`.
    pub kind: EventKind,
    /// `detail.object.key`.
    pub key: String,
}

/// Where EventBridge sends `event`: the first rule of [`ROUTES`] that matches it. EventBridge
/// fires every matching rule (`clusters/a/approvals/cluster.yaml` matches two); such keys are
/// not the layout's, and the steps refuse them ([`Route::is_exact`]).
pub fn route(event: &BucketEvent) -> Option<Route> {
    ROUTES
        .iter()
        .find(|r| r.kind == event.kind && wildcard_matches(r.wildcard, &event.key))
        .map(|r| r.route)
}

impl Route {
    /// Whether `key` is exactly the layout's key for this route (`clusters/<name>/cluster.yaml`,
    /// not a deeper key the wildcard also matches); the steps refuse any other.
    pub fn is_exact(self, key: &str) -> bool {
        let Some(cluster) = ClusterKeys::cluster_of(key) else {
            return false;
        };
        let keys = ClusterKeys::new(cluster);
        match self {
            Route::StartPipeline | Route::ConfigDeleted => key == keys.config(),
            Route::StartDestroy => key == keys.destroy(),
            Route::StartRestore => key == keys.restore_request(),
            Route::Approval => key
                .strip_prefix(&format!("{}approvals/", keys.prefix))
                .and_then(|f| f.strip_suffix(".yaml"))
                .is_some_and(|id| !id.is_empty() && !id.contains('/')),
        }
    }
}

/// EventBridge's wildcard match: `*` stands for any run of characters (including `/`), every
/// other character for itself.
pub fn wildcard_matches(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, rest) = match parts.split_first() {
        Some(p) => p,
        None => return text.is_empty(),
    };
    let Some(mut tail) = text.strip_prefix(first) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return tail.is_empty();
    };
    for part in middle {
        match tail.find(part) {
            Some(i) => tail = &tail[i + part.len()..],
            None => return false,
        }
    }
    tail.len() >= last.len() && tail.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(kind: EventKind, key: &str, expect: Option<(Route, bool)>) {
        let event = BucketEvent {
            kind,
            key: key.to_owned(),
        };
        let got = route(&event).map(|r| (r, r.is_exact(key)));
        assert_eq!(got, expect, "{kind:?} {key}");
    }

    #[test]
    fn events_route_as_the_rules_say() {
        use EventKind::{Created, Deleted};
        check(
            Created,
            "clusters/a/cluster.yaml",
            Some((Route::StartPipeline, true)),
        );
        check(
            Deleted,
            "clusters/a/cluster.yaml",
            Some((Route::ConfigDeleted, true)),
        );
        check(
            Created,
            "clusters/a/destroy.yaml",
            Some((Route::StartDestroy, true)),
        );
        check(Deleted, "clusters/a/destroy.yaml", None);
        check(
            Created,
            "clusters/a/restore-etcd.yaml",
            Some((Route::StartRestore, true)),
        );
        check(
            Created,
            "clusters/a/runs/r/restore-etcd.yaml",
            Some((Route::StartRestore, false)),
        );
        check(Created, "clusters/a/etcd-restore-request.env", None);
        check(Created, "clusters/a/etcd-restore/r/etcd0.healthy", None);
        check(
            Created,
            "clusters/a/approvals/r1.yaml",
            Some((Route::Approval, true)),
        );
        check(
            Created,
            "clusters/a/approvals/x/r1.yaml",
            Some((Route::Approval, false)),
        );
        // The wildcard matches deeper keys too: the steps refuse them.
        check(
            Created,
            "clusters/a/b/cluster.yaml",
            Some((Route::StartPipeline, false)),
        );
        check(Created, "clusters/a/status.json", None);
        check(Created, "clusters/a/cluster.yml", None);
        check(Created, "other/a/cluster.yaml", None);
        check(Created, "clusters/a/cluster.yaml.bak", None);
    }

    #[test]
    fn no_record_of_a_run_matches_a_rule() {
        let keys = ClusterKeys::new("a");
        let run = keys.run("a-20261202T000000Z-abcdef");
        let written = run.all().into_iter().chain([
            keys.status(),
            keys.pending_approval(),
            keys.assets("h"),
            keys.etcd_restore_request(),
            keys.version_claim("3sL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"),
            format!("{}etcd0.healthy", keys.etcd_restore_run_reports("r")),
            // Written by the etcd leader, not the pipeline: no run either.
            format!("{}20261202T000000Z-etcd0.db", keys.etcd_snapshots()),
        ]);
        for key in written {
            for kind in [EventKind::Created, EventKind::Deleted] {
                let event = BucketEvent {
                    kind,
                    key: key.clone(),
                };
                assert_eq!(route(&event), None, "{key} would start a run");
            }
        }
    }

    #[test]
    fn wildcards_match_like_eventbridge() {
        let table = [
            ("clusters/*/cluster.yaml", "clusters/a/cluster.yaml", true),
            (
                "clusters/*/cluster.yaml",
                "clusters/a/runs/r/cluster.yaml",
                true,
            ),
            ("clusters/*/cluster.yaml", "clusters//cluster.yaml", true),
            ("clusters/*/cluster.yaml", "clusters/cluster.yaml", false),
            (
                "clusters/*/approvals/*.yaml",
                "clusters/a/approvals/r.yaml",
                true,
            ),
            (
                "clusters/*/approvals/*.yaml",
                "clusters/a/approvals/.yml",
                false,
            ),
            ("*.png", "a.png", true),
            ("*a*a", "aa", true),
            ("*a*a", "a", false),
            ("abc", "abc", true),
            ("abc", "abcd", false),
        ];
        for (p, t, want) in table {
            assert_eq!(wildcard_matches(p, t), want, "{p} ~ {t}");
        }
    }
}
