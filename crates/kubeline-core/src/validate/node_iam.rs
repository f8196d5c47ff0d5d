//! A node group's IAM identity: kube-aws's `iam.role.name`, `strictName`, `manageExternally`
//! and `iam.instanceProfile.arn`, kept within the cluster's own `kubeline-<cluster>-` names.
//!
//! The installation's CloudFormation role creates, changes and passes to EC2 only
//! `kubeline-*` roles and instance profiles, and a cluster's names all start with
//! `kubeline-<cluster>-` (no two clusters of an installation have names where one extends the
//! other at a `-`: `pipeline::shorter_names`, so no two share that prefix). A name of any
//! other form would fail at apply, and a name under another cluster's prefix would run this
//! cluster's nodes with that cluster's rights; both are refused here. Within the prefix, the
//! parts kubeline gives its own roles (`controller`, `etcd`, `pool-*`, `sa-*`) stay its own,
//! and only etcd's role ends in `-etcd` (the bucket policy lets `kubeline-*-etcd` roles write
//! etcd snapshots; docs/node-iam.md).

use super::{Ctx, root};
use crate::arn::{ArnFields, iam_name_chars, is_account_id};
use crate::cluster::{
    Controller, Etcd, NodeIdentity, NodePool, STACK_PREFIX, external_profile_name,
};
use crate::layout::NodeGroup;
use crate::model::NodeIamConfig;
use crate::yaml::Path;

/// IAM's longest role and instance profile name.
const MAX_NAME: usize = 64;

/// The suffix the installation's bucket policy gives etcd members' roles.
const ETCD_SUFFIX: &str = "-etcd";

/// The node group whose IAM identity is being checked, and what its checks need to know.
#[derive(Debug, Clone, Copy)]
pub(super) struct Owner<'a> {
    /// The group.
    pub group: NodeGroup<'a>,
    /// The cluster's name.
    pub cluster: &'a str,
    /// The cluster's AWS partition (`aws`, `aws-cn`, `aws-us-gov`).
    pub partition: &'a str,
    /// Whether the cluster uses an existing VPC (`vpc.id`).
    pub has_vpc: bool,
}

/// A name of the group's own to suggest (after `kubeline-<cluster>-`).
fn example(group: NodeGroup<'_>) -> String {
    match group {
        NodeGroup::Controller => "control-plane".into(),
        NodeGroup::Etcd => format!("members{ETCD_SUFFIX}"),
        NodeGroup::Pool(p) => format!("{p}-nodes"),
    }
}

/// Whether `part` (a name after `kubeline-<cluster>-`) is one kubeline gives its own roles.
/// IAM names are unique regardless of case, so case does not count.
fn reserved(part: &str) -> bool {
    let part = part.to_ascii_lowercase();
    matches!(part.as_str(), "controller" | "etcd")
        || part.starts_with("pool-")
        || part.starts_with("sa-")
}

/// `arn:PARTITION:iam::ACCOUNT:instance-profile/[PATH/]NAME`: the name, or why not.
fn instance_profile_name<'a>(arn: &'a str, own_partition: &str) -> Result<&'a str, String> {
    let Some(f) = ArnFields::split(arn) else {
        return Err("it has fewer than six colon-separated parts".into());
    };
    if f.scheme != "arn" || f.partition != own_partition {
        return Err(format!(
            "it does not start with arn:{own_partition}: (the cluster's partition)"
        ));
    }
    if f.service != "iam" || !f.region.is_empty() {
        return Err(format!(
            "it is not an IAM ARN (arn:{own_partition}:iam::ACCOUNT:...)"
        ));
    }
    if !is_account_id(f.account) {
        return Err("its account is not 12 digits".into());
    }
    let Some(rest) = f.resource.strip_prefix("instance-profile/") else {
        return Err("it names no instance profile (instance-profile/NAME)".into());
    };
    let (path, name) = rest.rsplit_once('/').unwrap_or(("", rest));
    if !iam_name_chars(name)
        || name.len() > 128
        || !(path.is_empty() || path.split('/').all(iam_name_chars))
    {
        return Err("its name or path holds characters IAM does not allow".into());
    }
    Ok(name)
}

impl Ctx<'_> {
    /// The identity of `owner`'s nodes from its `iam` at `path` (the group's section);
    /// errors name the key.
    pub(super) fn node_identity(
        &mut self,
        path: &Path,
        owner: Owner<'_>,
        iam: &NodeIamConfig,
    ) -> NodeIdentity {
        let prefix = format!("{STACK_PREFIX}{}-", owner.cluster);
        let kind = owner.group.kind();
        let is_etcd = owner.group == NodeGroup::Etcd;
        let role = &iam.role;
        let rp = path.key("iam").key("role");
        if let Some(profile) = &iam.instance_profile {
            let ap = path.key("iam").key("instanceProfile").key("arn");
            if role.name.is_some() || role.strict_name || role.manage_externally {
                self.err(
                    rp.clone(),
                    "an existing instance profile brings its own role, so kubeline creates and names none",
                    "remove iam.role's name, strictName and manageExternally, or iam.instanceProfile",
                );
            }
            if !role.managed_policies.is_empty() {
                self.err(
                    rp.key("managedPolicies"),
                    "kubeline attaches no managed policies to the role of an existing instance profile",
                    "attach them to that role yourself, or remove iam.instanceProfile",
                );
            }
            let name = match instance_profile_name(&profile.arn, owner.partition) {
                Ok(name) => name,
                Err(why) => {
                    self.err(
                        ap,
                        format!("{:?} is not an instance profile ARN: {why}", profile.arn),
                        format!(
                            "write arn:{}:iam::123456789012:instance-profile/{prefix}NAME",
                            owner.partition
                        ),
                    );
                    return NodeIdentity::default();
                }
            };
            match name.strip_prefix(&prefix) {
                Some(part) if !part.is_empty() && !reserved(part) => {}
                Some(part) if !part.is_empty() => self.err(
                    ap,
                    format!("{name:?} is a name kubeline gives its own instance profiles"),
                    format!("create the profile under another name, such as {prefix}{kind}-existing"),
                ),
                _ => self.err(
                    ap,
                    format!("the instance profile {name:?} is not one of this cluster's: nodes run only with profiles named {prefix}..., so no cluster runs its nodes with another's rights"),
                    format!("create the profile as {prefix}NAME around a role named kubeline-... (the only roles the installation passes to EC2; docs/node-iam.md)"),
                ),
            }
            return NodeIdentity {
                instance_profile_arn: Some(profile.arn.clone()),
                ..NodeIdentity::default()
            };
        }
        if role.manage_externally && !role.managed_policies.is_empty() {
            self.err(
                rp.key("managedPolicies"),
                "kubeline attaches no managed policies to a role it does not manage",
                "attach them to the role yourself, or remove manageExternally",
            );
        }
        let Some(name) = role.name.as_deref() else {
            for (on, key) in [
                (role.strict_name, "strictName"),
                (role.manage_externally, "manageExternally"),
            ] {
                if on {
                    self.err(
                        rp.key(key),
                        format!("{key} takes iam.role.name verbatim, and there is none"),
                        format!("add iam.role.name ({prefix}NAME), or remove {key}"),
                    );
                }
            }
            return NodeIdentity::default();
        };
        let np = rp.key("name");
        if !iam_name_chars(name) {
            self.err(
                np,
                format!("{name:?} is not an IAM role name"),
                "use letters, digits and + = , . @ _ -",
            );
            return NodeIdentity::default();
        }
        let verbatim = role.strict_name || role.manage_externally;
        let full = if verbatim {
            name.to_owned()
        } else {
            format!("{prefix}{name}")
        };
        if full.len() > MAX_NAME {
            self.err(
                np,
                format!(
                    "the IAM role name {full:?} has {} characters; AWS allows {MAX_NAME}",
                    full.len()
                ),
                "shorten it",
            );
            return NodeIdentity::default();
        }
        let Some(part) = full.strip_prefix(&prefix).filter(|p| !p.is_empty()) else {
            let (what, hint) = if role.manage_externally {
                (
                    "an externally managed role",
                    format!("name the role {prefix}NAME"),
                )
            } else {
                (
                    "a strict name",
                    format!("write {prefix}NAME, or remove strictName and kubeline adds {prefix}"),
                )
            };
            self.err(
                np,
                format!("{name:?} is not one of this cluster's role names: {what} must start with {prefix} (kubeline creates and passes to EC2 only kubeline-* roles, and a cluster only its own)"),
                hint,
            );
            return NodeIdentity::default();
        };
        if reserved(part) && (role.manage_externally || part != kind.as_str()) {
            self.err(
                np,
                format!("{full:?} is a name kubeline gives its own roles"),
                format!(
                    "pick another name, such as {}{}",
                    if verbatim { prefix.as_str() } else { "" },
                    example(owner.group)
                ),
            );
            return NodeIdentity::default();
        }
        if is_etcd != full.ends_with(ETCD_SUFFIX) {
            let (message, hint) = if is_etcd {
                (
                    format!(
                        "{full:?} does not end in {ETCD_SUFFIX}: the installation's bucket lets only kubeline-*-etcd roles write etcd snapshots, so members under this role could take none"
                    ),
                    format!(
                        "end the name in {ETCD_SUFFIX}, such as {}{}",
                        if verbatim { prefix.as_str() } else { "" },
                        example(owner.group)
                    ),
                )
            } else {
                (
                    format!(
                        "{full:?} ends in {ETCD_SUFFIX}, which only etcd's role may: the installation's bucket lets kubeline-*-etcd roles write etcd snapshots"
                    ),
                    format!("pick a name that does not end in {ETCD_SUFFIX}"),
                )
            };
            self.err(np, message, hint);
            return NodeIdentity::default();
        }
        NodeIdentity {
            role_name: (part != kind).then_some(full),
            external_role: role.manage_externally,
            instance_profile_arn: None,
        }
    }

    /// No two node groups of the cluster run with one role or instance profile.
    pub(super) fn distinct_node_identities(
        &mut self,
        controller: Option<&Controller>,
        etcd: Option<&Etcd>,
        pools: Option<&[NodePool]>,
    ) {
        let mut groups = Vec::new();
        if let Some(c) = controller {
            groups.push((iam_path(NodeGroup::Controller, 0), &c.extras.identity));
        }
        if let Some(e) = etcd {
            groups.push((iam_path(NodeGroup::Etcd, 0), &e.extras.identity));
        }
        for (i, p) in pools.unwrap_or_default().iter().enumerate() {
            groups.push((iam_path(NodeGroup::Pool(&p.name), i), &p.extras.identity));
        }
        self.distinct_identities(&groups);
    }

    /// No two node groups run with one role or instance profile: `groups` holds each group's
    /// `iam` path and identity. A shared role would give each group the other's credentials.
    fn distinct_identities(&mut self, groups: &[(Path, &NodeIdentity)]) {
        // The role and profile names a group's identity takes (an externally managed role's
        // profile is `<role>-profile`).
        let names = |id: &NodeIdentity| -> Vec<String> {
            let Some(name) = id.name() else {
                return Vec::new();
            };
            let mut out = vec![name.to_owned()];
            if id.external_role {
                out.push(external_profile_name(name));
            }
            out
        };
        for (i, (path, id)) in groups.iter().enumerate() {
            let own = names(id);
            // IAM names are unique regardless of case.
            let clash = groups[..i].iter().find_map(|(first, o)| {
                let theirs = names(o);
                own.iter()
                    .find(|n| theirs.iter().any(|t| t.eq_ignore_ascii_case(n)))
                    .map(|n| (first, n.clone()))
            });
            if let Some((first, name)) = clash {
                let at = if id.instance_profile_arn.is_some() {
                    path.key("instanceProfile").key("arn")
                } else {
                    path.key("role").key("name")
                };
                self.err(
                    at,
                    format!("the instance profile {name:?} is also {first}'s: each node group runs with a role of its own, so no group gets another's credentials"),
                    "give this group a role and instance profile of its own",
                );
            }
        }
    }
}

/// The `iam` path of the controllers, etcd or a pool (`pool_index`: the pool's index).
fn iam_path(group: NodeGroup<'_>, pool_index: usize) -> Path {
    let p = match group {
        NodeGroup::Controller => root().key("controller"),
        NodeGroup::Etcd => root().key("etcd"),
        NodeGroup::Pool(_) => root().key("worker").key("nodePools").index(pool_index),
    };
    p.key("iam")
}
