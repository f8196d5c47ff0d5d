//! What kube-aws let a node group add to what kubeline creates for it: taints, EC2 tenancy,
//! existing security groups, managed policies on its role, and (pools) existing load
//! balancers and target groups (docs/kube-aws.md).

use std::collections::BTreeSet;

use super::Ctx;
use super::labels::{label_key, label_value};
use super::node_iam::Owner;
use crate::arn::{ArnFields, iam_name_chars, is_account_id};
use crate::cluster::{GroupExtras, Taint};
use crate::model::{
    ArnRef, NodeIamConfig, PoolLoadBalancerConfig, PoolTargetGroupConfig, TaintEffect, Tenancy,
};
use crate::yaml::Path;

/// Most existing security groups per node: EC2 allows 5 per network interface by default and
/// each group has one of kubeline's own (kube-aws's limit too).
pub const MAX_EXTRA_SECURITY_GROUPS: usize = 4;

/// Most managed policies per role: IAM's default quota (10; raisable to 20).
pub const MAX_MANAGED_POLICIES: usize = 10;

/// The taint kubeline itself puts on every controller.
pub const CONTROL_PLANE_TAINT_KEY: &str = "node-role.kubernetes.io/control-plane";

impl Ctx<'_> {
    /// A group's taints: valid keys, values and effects, no key and effect given twice, and
    /// (on controllers) not kubeline's own control-plane taint.
    pub(super) fn taints(
        &mut self,
        path: Path,
        taints: &[crate::model::Taint],
        controller: bool,
    ) -> Vec<Taint> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        for (t, taint) in taints.iter().enumerate() {
            let tp = path.index(t);
            if let Err(m) = label_key(&taint.key) {
                self.err(
                    tp.key("key"),
                    format!("taint key {:?} {m}", taint.key),
                    "use [prefix/]name like dedicated or example.com/gpu",
                );
            }
            if controller && taint.key == CONTROL_PLANE_TAINT_KEY && taint.effect == "NoSchedule" {
                self.err(
                    tp.key("key"),
                    format!(
                        "kubeline sets the taint {CONTROL_PLANE_TAINT_KEY}:NoSchedule on every controller itself"
                    ),
                    "remove this taint",
                );
            }
            if !taint.value.is_empty() && !label_value(&taint.value) {
                self.err(
                    tp.key("value"),
                    format!("taint value {:?} is not valid", taint.value),
                    "use up to 63 of A-Z a-z 0-9 - _ .",
                );
            }
            let effect = match taint.effect.as_str() {
                "NoSchedule" => TaintEffect::NoSchedule,
                "PreferNoSchedule" => TaintEffect::PreferNoSchedule,
                "NoExecute" => TaintEffect::NoExecute,
                other => {
                    let hint = match crate::diag::did_you_mean(
                        other,
                        ["NoSchedule", "PreferNoSchedule", "NoExecute"],
                    ) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => "use NoSchedule, PreferNoSchedule or NoExecute".into(),
                    };
                    self.err(
                        tp.key("effect"),
                        format!("{other:?} is not a taint effect"),
                        hint,
                    );
                    continue;
                }
            };
            if !seen.insert((taint.key.clone(), effect.as_str())) {
                self.err(
                    tp,
                    format!(
                        "taint {}:{} is given twice (the API server refuses a Node with both)",
                        taint.key,
                        effect.as_str()
                    ),
                    "keep one of them",
                );
                continue;
            }
            out.push(Taint {
                key: taint.key.clone(),
                value: taint.value.clone(),
                effect,
            });
        }
        out
    }

    /// A group's tenancy, existing security groups (each list under its own key; together at
    /// most [`MAX_EXTRA_SECURITY_GROUPS`], none twice), managed policies and IAM identity.
    pub(super) fn group_extras(
        &mut self,
        path: &Path,
        tenancy: Tenancy,
        security_groups: &[(Path, &[String])],
        iam: &NodeIamConfig,
        owner: Owner<'_>,
    ) -> GroupExtras {
        let (has_vpc, partition) = (owner.has_vpc, owner.partition);
        let mut ids: Vec<String> = Vec::new();
        let mut keys: Vec<String> = Vec::new();
        for (list_path, list) in security_groups {
            for (i, id) in list.iter().enumerate() {
                let p = list_path.index(i);
                let Some(id) = self.id(p.clone(), id, "sg-") else {
                    continue;
                };
                if ids.contains(&id) {
                    self.err(p, format!("security group {id} is given twice"), "keep one");
                    continue;
                }
                if !has_vpc && ids.is_empty() {
                    self.err(
                        p.clone(),
                        format!("{id} is an existing security group, and kubeline creates this cluster's VPC: a node can carry only groups of its own VPC"),
                        "set vpc.id to the VPC the groups belong to, or remove them",
                    );
                }
                ids.push(id);
                keys.push(p.to_string());
            }
        }
        if ids.len() > MAX_EXTRA_SECURITY_GROUPS {
            let first = security_groups
                .iter()
                .find(|(_, l)| !l.is_empty())
                .map_or_else(|| path.key("securityGroupIds"), |(p, _)| p.clone());
            self.err(
                first,
                format!(
                    "{} existing security groups for one node group; at most {MAX_EXTRA_SECURITY_GROUPS} fit",
                    ids.len()
                ),
                "EC2 allows 5 security groups per network interface by default and kubeline attaches one: merge the rules into fewer groups",
            );
        }
        let arns = self.managed_policies(
            path.key("iam").key("role").key("managedPolicies"),
            &iam.role.managed_policies,
            partition,
        );
        let identity = self.node_identity(path, owner, iam);
        GroupExtras {
            tenancy,
            security_group_ids: ids,
            security_group_keys: keys,
            managed_policy_arns: arns,
            identity,
        }
    }

    /// Managed policy ARNs for one role (at most [`MAX_MANAGED_POLICIES`], none twice, in the
    /// cluster's partition): the valid ones, in order.
    pub(super) fn managed_policies(
        &mut self,
        policies_path: Path,
        list: &[ArnRef],
        partition: &str,
    ) -> Vec<String> {
        let mut arns: Vec<String> = Vec::new();
        for (i, p) in list.iter().enumerate() {
            let ap = policies_path.index(i).key("arn");
            if let Err(why) = managed_policy_arn(&p.arn, partition) {
                self.err(
                    ap,
                    format!("{:?} is not a managed policy ARN: {why}", p.arn),
                    "write arn:aws:iam::123456789012:policy/NAME or arn:aws:iam::aws:policy/NAME",
                );
                continue;
            }
            if arns.contains(&p.arn) {
                self.err(ap, format!("{} is given twice", p.arn), "keep one");
                continue;
            }
            arns.push(p.arn.clone());
        }
        if arns.len() > MAX_MANAGED_POLICIES {
            self.err(
                policies_path,
                format!(
                    "{} managed policies on one role; IAM allows {MAX_MANAGED_POLICIES} by default",
                    arns.len()
                ),
                "combine them into fewer customer managed policies",
            );
        }
        arns
    }

    /// A pool's existing Classic Load Balancers and target groups (only when `enabled`, as
    /// kube-aws did; a list given without it is warned about).
    pub(super) fn attachments(
        &mut self,
        path: &Path,
        lb: &PoolLoadBalancerConfig,
        tg: &PoolTargetGroupConfig,
        region: Option<&str>,
        has_vpc: bool,
    ) -> (Vec<String>, Vec<String>) {
        for (on, key, groups) in [
            (lb.enabled, "loadBalancer", &lb.security_group_ids),
            (tg.enabled, "targetGroup", &tg.security_group_ids),
        ] {
            if on && !has_vpc {
                self.err(
                    path.key(key).key("enabled"),
                    "an existing load balancer or target group takes only instances of its own VPC, and kubeline creates this cluster's VPC",
                    "set vpc.id to the load balancer's VPC, or remove the attachment",
                );
            }
            if !on && !groups.is_empty() {
                self.warn(
                    path.key(key).key("securityGroupIds"),
                    format!("these security groups are not attached: {key}.enabled is false"),
                    format!("set {key}.enabled: true, or remove securityGroupIds"),
                );
            }
        }
        let mut names = Vec::new();
        let lb_path = path.key("loadBalancer");
        if !lb.enabled && !lb.names.is_empty() {
            self.warn(
                lb_path.key("names"),
                "the pool is not attached to these load balancers: loadBalancer.enabled is false",
                "set loadBalancer.enabled: true, or remove names",
            );
        }
        if lb.enabled {
            if lb.names.is_empty() {
                self.err(
                    lb_path.key("names"),
                    "loadBalancer.enabled needs the names of the load balancers",
                    "list the Classic Load Balancers' names",
                );
            }
            for (i, n) in lb.names.iter().enumerate() {
                if !classic_lb_name(n) {
                    self.err(
                        lb_path.key("names").index(i),
                        format!("{n:?} is not a Classic Load Balancer name"),
                        "use up to 32 letters, digits and hyphens, not starting or ending with a hyphen",
                    );
                } else if names.contains(n) {
                    self.err(
                        lb_path.key("names").index(i),
                        format!("{n} is given twice"),
                        "keep one",
                    );
                } else {
                    names.push(n.clone());
                }
            }
        }
        let mut arns = Vec::new();
        let tg_path = path.key("targetGroup");
        if !tg.enabled && !tg.arns.is_empty() {
            self.warn(
                tg_path.key("arns"),
                "the pool is not attached to these target groups: targetGroup.enabled is false",
                "set targetGroup.enabled: true, or remove arns",
            );
        }
        if tg.enabled {
            if tg.arns.is_empty() {
                self.err(
                    tg_path.key("arns"),
                    "targetGroup.enabled needs the ARNs of the target groups",
                    "list the target groups' ARNs",
                );
            }
            for (i, a) in tg.arns.iter().enumerate() {
                let ap = tg_path.key("arns").index(i);
                match target_group_arn(a) {
                    Err(why) => self.err(
                        ap,
                        format!("{a:?} is not a target group ARN: {why}"),
                        "write arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID",
                    ),
                    Ok(r) if region.is_some_and(|own| own != r) => self.err(
                        ap,
                        format!(
                            "target group {a} is in {r}, the cluster in {}",
                            region.unwrap_or_default()
                        ),
                        "an Auto Scaling group attaches only target groups of its own Region",
                    ),
                    Ok(_) if arns.contains(a) => {
                        self.err(ap, format!("{a} is given twice"), "keep one");
                    }
                    Ok(_) => arns.push(a.clone()),
                }
            }
        }
        (names, arns)
    }
}

/// `arn:PARTITION:iam::ACCOUNT|aws:policy/[PATH/]NAME`.
fn managed_policy_arn(arn: &str, own_partition: &str) -> Result<(), &'static str> {
    let Some(f) = ArnFields::split(arn) else {
        return Err("it has fewer than six colon-separated parts");
    };
    if !f.known_partition() {
        return Err("it does not start with arn:aws:, arn:aws-cn: or arn:aws-us-gov:");
    }
    if f.partition != own_partition {
        return Err("it is in another partition than the cluster's Region");
    }
    if f.service != "iam" || !f.region.is_empty() {
        return Err("it is not an IAM ARN (arn:aws:iam::...)");
    }
    if f.account != "aws" && !is_account_id(f.account) {
        return Err("the account is neither 12 digits nor `aws`");
    }
    let Some(rest) = f.resource.strip_prefix("policy/") else {
        return Err("it names no policy (policy/NAME)");
    };
    let name = rest.rsplit('/').next().unwrap_or_default();
    let path_ok = rest
        .split('/')
        .all(|seg| seg.is_empty() || iam_name_chars(seg));
    if !iam_name_chars(name) || name.len() > 128 || arn.len() > 2048 || !path_ok {
        return Err("the policy name may hold only letters, digits and +=,.@_-");
    }
    Ok(())
}

/// `arn:PARTITION:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID`; the Region.
fn target_group_arn(arn: &str) -> Result<&str, &'static str> {
    let Some(f) = ArnFields::split(arn) else {
        return Err("it has fewer than six colon-separated parts");
    };
    if !f.known_partition() {
        return Err("it does not start with arn:aws:, arn:aws-cn: or arn:aws-us-gov:");
    }
    if f.service != "elasticloadbalancing" {
        return Err("it is not an Elastic Load Balancing ARN");
    }
    if !is_account_id(f.account) {
        return Err("the account is not 12 digits");
    }
    let region = f.region;
    let segs: Vec<&str> = f.resource.split('/').collect();
    let [kind, name, id] = segs[..] else {
        return Err("it names no target group (targetgroup/NAME/ID)");
    };
    let region_ok = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if kind != "targetgroup" || !region_ok || !classic_lb_name(name) || id.len() != 16 {
        return Err("it names no target group (targetgroup/NAME/ID)");
    }
    if !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("its ID is not 16 hex digits");
    }
    Ok(region)
}

/// A Classic Load Balancer (or target group) name: 1–32 letters, digits and hyphens, no
/// hyphen at either end.
fn classic_lb_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 32
        && !n.starts_with('-')
        && !n.ends_with('-')
        && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn managed_policy_arns() {
        for (arn, ok) in [
            ("arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore", true),
            ("arn:aws:iam::123456789012:policy/team/node-extra", true),
            ("arn:aws-cn:iam::123456789012:policy/x", false),
            ("arn:aws:iam::123456789012:role/x", false),
            ("arn:aws:s3:::bucket", false),
            ("arn:aws:iam:eu-west-1:123456789012:policy/x", false),
            ("arn:aws:iam::12345:policy/x", false),
            ("arn:aws:iam::aws:policy/", false),
            ("arn:aws:iam::aws:policy/a b", false),
            ("{{resolve:ssm:x}}", false),
        ] {
            assert_eq!(managed_policy_arn(arn, "aws").is_ok(), ok, "{arn}");
        }
    }

    #[test]
    fn target_group_arns() {
        let good =
            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123456789abcdef";
        assert_eq!(target_group_arn(good), Ok("eu-west-1"));
        for bad in [
            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/web/0123456789abcdef",
            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123",
            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/-web/0123456789abcdef",
            "arn:aws:elasticloadbalancing::123456789012:targetgroup/web/0123456789abcdef",
            "arn:aws:iam::123456789012:targetgroup/web/0123456789abcdef",
        ] {
            assert!(target_group_arn(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn classic_load_balancer_names() {
        for (n, ok) in [
            ("web", true),
            ("web-1", true),
            ("-web", false),
            ("web-", false),
            ("web_1", false),
            ("", false),
        ] {
            assert_eq!(classic_lb_name(n), ok, "{n}");
        }
        assert!(!classic_lb_name(&"a".repeat(33)));
    }
}
