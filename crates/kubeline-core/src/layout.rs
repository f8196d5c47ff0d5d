//! Where a cluster's assets live: S3 keys of node configs and credentials, and which
//! credentials each node role receives (with kube-aws's file names).

use crate::cluster::{Cluster, GroupExtras};
use crate::types::ClusterName;

/// A node role, which decides the credentials a node receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeRole {
    /// Control-plane node.
    Controller,
    /// etcd member.
    Etcd,
    /// Worker of a node pool.
    Worker,
}

/// A group of nodes sharing one node config, launch template and IAM role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeGroup<'a> {
    /// The controllers.
    Controller,
    /// The etcd members.
    Etcd,
    /// The workers of the named node pool.
    Pool(&'a str),
}

impl NodeGroup<'_> {
    /// The role, which decides the credentials.
    pub fn role(self) -> NodeRole {
        match self {
            NodeGroup::Controller => NodeRole::Controller,
            NodeGroup::Etcd => NodeRole::Etcd,
            NodeGroup::Pool(_) => NodeRole::Worker,
        }
    }
    /// Short name used in resource names and descriptions: `controller`, `etcd`, `pool-NAME`.
    pub fn kind(self) -> String {
        match self {
            NodeGroup::Controller => "controller".into(),
            NodeGroup::Etcd => "etcd".into(),
            NodeGroup::Pool(p) => format!("pool-{p}"),
        }
    }
    /// File stem of the node config: `controller`, `etcd`, `worker-NAME`.
    pub fn file_stem(self) -> String {
        match self {
            NodeGroup::Pool(p) => format!("worker-{p}"),
            other => other.kind(),
        }
    }
    /// The value of the `kubeline.io/node-group` tag on the group's Auto Scaling group
    /// (`CLUSTER/controller`, `CLUSTER/etcd`, `CLUSTER/pool-NAME`; every etcd member's group of
    /// one carries `CLUSTER/etcd`), unique in the account since cluster names hold no `/`. A
    /// node may mark instances unhealthy only in the groups carrying its own value.
    pub fn asg_group_tag(self, cluster: &ClusterName) -> String {
        format!("{cluster}/{}", self.kind())
    }
    /// Name of the IAM role and instance profile (`kubeline-CLUSTER-KIND`, at most 64 characters
    /// in AWS).
    pub fn iam_role_name(self, cluster: &ClusterName) -> String {
        format!("{}{cluster}-{}", crate::cluster::STACK_PREFIX, self.kind())
    }
}

/// The credentials a node role installs, and where.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NodeCredentials {
    /// Directory on the node.
    pub dest: &'static str,
    /// Certificates, stored in plain.
    pub public: Vec<&'static str>,
    /// Secrets, stored KMS-encrypted as `NAME.enc`.
    pub secret: Vec<&'static str>,
}

/// The credentials of `role`. The cluster CA key goes to controllers only, never to etcd
/// members or workers; the etcd and front-proxy CA keys go to no node (nothing signs with them
/// at boot). Only controllers (the API server) hold an etcd client certificate.
pub fn node_credentials(role: NodeRole) -> NodeCredentials {
    match role {
        NodeRole::Controller => NodeCredentials {
            dest: "/etc/kubernetes/ssl",
            public: vec![
                "ca.pem",
                // kube-apiserver's --etcd-cafile and --requestheader-client-ca-file.
                "etcd-ca.pem",
                "front-proxy-ca.pem",
                "apiserver.pem",
                "apiserver-aggregator.pem",
                "etcd-client.pem",
                "kube-controller-manager.pem",
                "kube-scheduler.pem",
                "kube-addons.pem",
            ],
            secret: vec![
                // kube-controller-manager signs kubelet client certificates, and each
                // controller issues its own kubelet's identity at boot.
                "ca-key.pem",
                "apiserver-key.pem",
                "apiserver-aggregator-key.pem",
                "etcd-client-key.pem",
                "kube-controller-manager-key.pem",
                "kube-scheduler-key.pem",
                "kube-addons-key.pem",
                "service-account-key.pem",
                "tokens.csv",
                "encryption-config.yaml",
            ],
        },
        NodeRole::Etcd => NodeCredentials {
            dest: "/etc/etcd/ssl",
            // etcd trusts its own CA only, for clients and peers.
            public: vec!["etcd-ca.pem", "etcd.pem"],
            secret: vec!["etcd-key.pem"],
        },
        NodeRole::Worker => NodeCredentials {
            dest: "/etc/kubernetes/ssl",
            // Workers bootstrap both their client and serving certificates with the token.
            public: vec!["ca.pem"],
            secret: vec!["kubelet-tls-bootstrap-token"],
        },
    }
}

/// S3 key of a credential file (`.enc` appended for secrets).
pub fn credential_key(cluster: &Cluster, name: &str, secret: bool) -> String {
    let suffix = if secret {
        crate::envelope::ENC_SUFFIX
    } else {
        ""
    };
    format!(
        "{}{name}{suffix}",
        cluster.s3.key(&cluster.keys().credentials())
    )
}

/// How many hex characters of the node config's SHA-512 its S3 key carries.
pub const USERDATA_HASH_CHARS: usize = 16;

/// S3 key of a full node config, content-addressed so that it changes only with its content.
pub fn userdata_key(cluster: &Cluster, file_stem: &str, sha512_hex: &str) -> String {
    let short = sha512_hex.get(..USERDATA_HASH_CHARS).unwrap_or(sha512_hex);
    format!(
        "{}userdata/{file_stem}-{short}.json",
        cluster.s3_cluster_prefix()
    )
}

/// The S3 keys a node group may read: its own node configs and its role's credentials.
pub fn readable_keys(cluster: &Cluster, group: NodeGroup<'_>) -> Vec<String> {
    let creds = node_credentials(group.role());
    // Exactly USERDATA_HASH_CHARS wildcards (`?` matches one character in IAM), not `*`: pool
    // `a` must not read the node configs of pool `a-b`.
    let mut keys = vec![format!(
        "{}userdata/{}-{}.json",
        cluster.s3_cluster_prefix(),
        group.file_stem(),
        "?".repeat(USERDATA_HASH_CHARS)
    )];
    keys.extend(
        creds
            .public
            .iter()
            .map(|n| credential_key(cluster, n, false)),
    );
    keys.extend(
        creds
            .secret
            .iter()
            .map(|n| credential_key(cluster, n, true)),
    );
    keys
}

/// A node group's tenancy, extra security groups, managed policies and IAM identity (`None`
/// for a pool the cluster does not have).
pub fn group_extras<'c>(cluster: &'c Cluster, group: NodeGroup<'_>) -> Option<&'c GroupExtras> {
    match group {
        NodeGroup::Etcd => Some(&cluster.etcd.extras),
        NodeGroup::Controller => Some(&cluster.controller.extras),
        NodeGroup::Pool(name) => cluster
            .node_pools
            .iter()
            .find(|p| p.name == name)
            .map(|p| &p.extras),
    }
}

/// Name of the role and instance profile a node group's nodes run with: its `iam.role.name`
/// (as validated: prefixed, or verbatim), else `kubeline-<cluster>-<kind>`. For an existing
/// instance profile (`iam.instanceProfile.arn`) the profile's name; kubeline does not know
/// the name of its role.
pub fn node_role_name(cluster: &Cluster, group: NodeGroup<'_>) -> String {
    group_extras(cluster, group)
        .and_then(|e| e.identity.name())
        .map_or_else(|| group.iam_role_name(&cluster.name), str::to_owned)
}

/// Name of the instance profile a node group's nodes run with: the role's
/// ([`node_role_name`]), but for an externally managed role the profile kubeline creates
/// around it, `<role>-profile` (the role's owner may already have a profile of the role's
/// name: the IAM console creates one with every EC2 role).
pub fn node_profile_name(cluster: &Cluster, group: NodeGroup<'_>) -> String {
    let name = node_role_name(cluster, group);
    match group_extras(cluster, group) {
        Some(e) if e.identity.external_role => crate::cluster::external_profile_name(&name),
        _ => name,
    }
}
