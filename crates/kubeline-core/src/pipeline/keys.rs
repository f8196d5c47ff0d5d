//! The bucket layout of an installation: every key kubeline reads or writes is built here.

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
    /// The service-account issuer's folder (IAM roles for service accounts): its two
    /// documents below are the only objects of the bucket anyone may read
    /// ([`crate::oidc`]).
    pub fn oidc(&self) -> String {
        format!("{}oidc/", self.prefix)
    }
    /// The issuer's OpenID Connect discovery document.
    pub fn oidc_discovery(&self) -> String {
        format!("{}oidc/.well-known/openid-configuration", self.prefix)
    }
    /// The issuer's JSON Web Key Set (the service-account key's public half).
    pub fn oidc_jwks(&self) -> String {
        format!("{}oidc/keys.json", self.prefix)
    }
    /// The cluster's current status.
    pub fn status(&self) -> String {
        format!("{}status.json", self.prefix)
    }
    /// A run's audit folder (never overwritten) and the records in it.
    pub fn run(&self, run_id: &str) -> RunKeys {
        RunKeys {
            prefix: format!("{}runs/{run_id}/", self.prefix),
        }
    }
    /// The approval a run waits for: its task token, until a decision arrives.
    pub fn pending_approval(&self) -> String {
        format!("{}pending-approval.json", self.prefix)
    }
    /// An approval request for a run.
    pub fn approval(&self, run_id: &str) -> String {
        format!("{}approvals/{run_id}.yaml", self.prefix)
    }
    /// The claim of the run that handles one uploaded version of cluster.yaml (its run id),
    /// written once: a second execution for the same upload (EventBridge delivers at least
    /// once) ends at once.
    pub fn version_claim(&self, version: &str) -> String {
        format!("{}versions/{version}.json", self.prefix)
    }
    /// The destroy request.
    pub fn destroy(&self) -> String {
        format!("{}destroy.yaml", self.prefix)
    }
    /// The etcd restore request a team uploads (`kubeline restore etcd`;
    /// [`RestoreRequest`](super::RestoreRequest)).
    pub fn restore_request(&self) -> String {
        format!("{}restore-etcd.yaml", self.prefix)
    }
    /// The restore order the etcd members and controllers poll for
    /// ([`MemberRestoreRequest`](super::MemberRestoreRequest)), while a restore run lasts.
    pub fn etcd_restore_request(&self) -> String {
        format!("{}etcd-restore-request.env", self.prefix)
    }
    /// The etcd members' reports on restore runs: `<run-id>/<member>.<restored|healthy|failed>`.
    pub fn etcd_restore_reports(&self) -> String {
        format!("{}etcd-restore/", self.prefix)
    }
    /// The reports of one restore run.
    pub fn etcd_restore_run_reports(&self, run_id: &str) -> String {
        format!("{}etcd-restore/{run_id}/", self.prefix)
    }
    /// etcd snapshots, written by the cluster's etcd leader (`<UTC time>-<member>.db`).
    pub fn etcd_snapshots(&self) -> String {
        format!("{}etcd-snapshots/", self.prefix)
    }
    /// The snapshot request the etcd members poll for ([`SnapshotRequest`](super::SnapshotRequest)).
    pub fn etcd_snapshot_request(&self) -> String {
        format!("{}etcd-snapshot-request.env", self.prefix)
    }
}

/// The records of one run under `clusters/<name>/runs/<run-id>/`, written once each. No name
/// ends in `/cluster.yaml`, `/destroy.yaml`, `/restore-etcd.yaml` or `.yaml` under `approvals/`, so no write here
/// matches a bucket rule and starts another run (EventBridge's `*` also matches `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunKeys {
    prefix: String,
}

impl RunKeys {
    /// `clusters/<name>/runs/<run-id>/`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
    /// The pinned cluster.yaml the run applies (a copy of the uploaded version).
    pub fn config(&self) -> String {
        format!("{}config.yaml", self.prefix)
    }
    /// The destroy request the run carried out (a copy).
    pub fn destroy_request(&self) -> String {
        format!("{}destroy-request.yaml", self.prefix)
    }
    /// The etcd restore request the run carried out (a copy).
    pub fn restore_request(&self) -> String {
        format!("{}restore-request.yaml", self.prefix)
    }
    /// What an etcd restore run restored: the snapshot, the members and their reports.
    pub fn etcd_restore(&self) -> String {
        format!("{}etcd-restore.json", self.prefix)
    }
    /// The run: who, what, approval mode ([`Run`](super::Run) in the pipeline).
    pub fn run(&self) -> String {
        format!("{}run.json", self.prefix)
    }
    /// Where the render put the templates, and the stacks in apply order.
    pub fn render(&self) -> String {
        format!("{}render.json", self.prefix)
    }
    /// Every change set's changes.
    pub fn plan(&self) -> String {
        format!("{}plan.json", self.prefix)
    }
    /// The stacks whose change sets this run executed.
    pub fn executed(&self) -> String {
        format!("{}executed.json", self.prefix)
    }
    /// The etcd snapshot taken before the run's changes (its key and the request time).
    pub fn etcd_snapshot(&self) -> String {
        format!("{}etcd-snapshot.json", self.prefix)
    }
    /// How the run ended ([`RunResult`](super::RunResult)).
    pub fn result(&self) -> String {
        format!("{}result.json", self.prefix)
    }
    /// The exports Start resolved and checked ([`CheckedExports`](crate::policy::CheckedExports));
    /// apply compares them with ListExports before it executes a change set.
    pub fn exports(&self) -> String {
        format!("{}exports.json", self.prefix)
    }
    /// The approval that decided the run ([`ApprovalRecord`](super::ApprovalRecord)): the
    /// decision and the approver the bucket vouches for.
    pub fn approval(&self) -> String {
        format!("{}approval.json", self.prefix)
    }
    /// Every record (the router's test checks that none matches a bucket rule).
    #[cfg(test)]
    pub(crate) fn all(&self) -> [String; 12] {
        [
            self.config(),
            self.destroy_request(),
            self.restore_request(),
            self.etcd_restore(),
            self.run(),
            self.render(),
            self.plan(),
            self.executed(),
            self.etcd_snapshot(),
            self.result(),
            self.exports(),
            self.approval(),
        ]
    }
}
