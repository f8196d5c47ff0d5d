//! `serviceAccounts`: the service accounts that get IAM roles of their own (IAM roles for
//! service accounts; [`crate::oidc`]).

use super::limits::MAX_SERVICE_ACCOUNTS;
use super::{Ctx, root};
use crate::cluster::ServiceAccountRole;
use crate::model::ServiceAccountConfig;
use crate::oidc;
use crate::yaml::Path;

impl Ctx<'_> {
    pub(super) fn service_accounts(
        &mut self,
        cluster: Option<&str>,
        list: &[ServiceAccountConfig],
        partition: &str,
    ) -> Vec<ServiceAccountRole> {
        let path = root().key("serviceAccounts");
        if list.len() > MAX_SERVICE_ACCOUNTS {
            self.err(
                path.clone(),
                format!(
                    "{} service accounts with roles; at most {MAX_SERVICE_ACCOUNTS} per cluster",
                    list.len()
                ),
                "give service accounts that need the same access one account (docs/quotas.md)",
            );
        }
        let mut out: Vec<ServiceAccountRole> = Vec::new();
        for (i, sa) in list.iter().enumerate() {
            let p = path.index(i);
            let mut ok = self.sa_name(p.key("namespace"), &sa.namespace, true);
            ok &= self.sa_name(p.key("name"), &sa.name, false);
            if let Some((addon, _, _)) = oidc::ADDON_SERVICE_ACCOUNTS
                .iter()
                .find(|(_, ns, n)| *ns == sa.namespace && *n == sa.name)
            {
                self.err(
                    p.key("name"),
                    format!(
                        "{}/{} is the {} add-on's, which kubeline gives a role of its own",
                        sa.namespace,
                        sa.name,
                        addon.as_str()
                    ),
                    "use a service account of your own",
                );
                ok = false;
            }
            if out
                .iter()
                .any(|o| o.namespace == sa.namespace && o.name == sa.name)
            {
                self.err(
                    p.key("name"),
                    format!("{}/{} is listed twice", sa.namespace, sa.name),
                    "keep one entry and merge its managedPolicies",
                );
                ok = false;
            }
            let policies_path = p.key("managedPolicies");
            let arns =
                self.managed_policies(policies_path.clone(), &sa.managed_policies, partition);
            if sa.managed_policies.is_empty() {
                self.err(
                    policies_path,
                    "no managed policies: the role would grant nothing",
                    "list the policies the service account needs, e.g. - arn: arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
                );
                ok = false;
            }
            let Some(cluster) = cluster else { continue };
            let role_name = oidc::role_name(cluster, &sa.namespace, &sa.name);
            if let Some(o) = out.iter().find(|o| o.role_name == role_name) {
                self.err(
                    p.key("name"),
                    format!(
                        "{}/{} and {}/{} would share role {role_name} (the same 8 hex digits of their SHA-256)",
                        sa.namespace, sa.name, o.namespace, o.name
                    ),
                    "rename one of the two service accounts",
                );
                ok = false;
            }
            if ok {
                out.push(ServiceAccountRole {
                    namespace: sa.namespace.clone(),
                    name: sa.name.clone(),
                    role_name,
                    managed_policy_arns: arns,
                });
            }
        }
        out
    }

    /// A namespace (a DNS label, RFC 1123) or a service account name (a DNS subdomain name).
    fn sa_name(&mut self, path: Path, value: &str, label: bool) -> bool {
        let (max, what, dots) = if label {
            (63, "a namespace", false)
        } else {
            (253, "a service account name", true)
        };
        let parts_ok = value.split('.').all(|part| {
            !part.is_empty()
                && part.len() <= 63
                && part.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && part.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        });
        if value.is_empty() || value.len() > max || !parts_ok || (!dots && value.contains('.')) {
            self.err(
                path,
                format!("{value:?} is not {what}"),
                if label {
                    "use at most 63 lower-case letters, digits and -, starting and ending with a letter or digit"
                } else {
                    "use lower-case letters, digits, - and ., each dot-separated part starting and ending with a letter or digit"
                },
            );
            return false;
        }
        true
    }
}
