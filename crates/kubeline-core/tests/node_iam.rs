//! kube-aws's `iam` family on node groups: which role and instance profile each group's nodes
//! run with, and every name that could reach beyond the cluster refused with its fix
//! (docs/node-iam.md). Table-driven: cluster.yaml settings → identity or diagnostic.

use kubeline_core::cluster::{Cluster, NodeIdentity};
use kubeline_core::layout::{NodeGroup, node_role_name};
use kubeline_core::validate;

/// A small valid cluster `legacy` with a pool `web`; `groups` is appended (controller, etcd
/// and worker sections).
fn with(groups: &str) -> String {
    format!(
        "clusterName: legacy
s3URI: s3://kubeline-assets-123456789012/kubeline
region: eu-west-1
availabilityZone: eu-west-1a
kmsKeyArn: arn:aws:kms:eu-west-1:123456789012:key/1b3c5d7e-0000-4000-8000-000000000001
kubernetesArtifacts:
  kubeletHash: sha256:37f9093ed2b4669cccf5474718e43ec412833e1267c84b01e662df2c4e5d7aaa
apiEndpoints:
  - name: default
    dnsName: api.legacy.example.com
    loadBalancer: {{hostedZone: {{id: Z0123456789ABCDEFGHIJ}}}}
{groups}"
    )
}

/// `iam` (indented for a group section) of one group: `controller`, `etcd` or the pool.
fn group(which: &str, iam: &str) -> String {
    let indent = |n: usize| {
        iam.lines()
            .map(|l| format!("{}{l}\n", " ".repeat(n)))
            .collect::<String>()
    };
    match which {
        "pool" => with(&format!(
            "worker:\n  nodePools:\n    - name: web\n      iam:\n{}",
            indent(8)
        )),
        section => with(&format!("{section}:\n  iam:\n{}", indent(4))),
    }
}

fn load(text: &str) -> Result<Cluster, String> {
    let loaded = validate::load(text);
    let rendered = loaded.diagnostics.render("cluster.yaml");
    loaded.cluster.ok_or(rendered)
}

fn identity<'c>(c: &'c Cluster, which: &str) -> (&'c NodeIdentity, NodeGroup<'c>) {
    match which {
        "controller" => (&c.controller.extras.identity, NodeGroup::Controller),
        "etcd" => (&c.etcd.extras.identity, NodeGroup::Etcd),
        _ => (&c.node_pools[0].extras.identity, NodeGroup::Pool("web")),
    }
}

/// What a group's nodes run with: (role or profile name, kubeline creates the role, the
/// existing profile's ARN).
type Want = (&'static str, bool, Option<&'static str>);

#[test]
fn accepted_identities_name_only_the_cluster_s_own_roles() {
    const PROFILE: &str =
        "arn:aws:iam::123456789012:instance-profile/team/kubeline-legacy-web-nodes";
    let cases: &[(&str, &str, Want)] = &[
        // The default, and a group's own default name written out, change nothing.
        ("pool", "role: {}", ("kubeline-legacy-pool-web", true, None)),
        (
            "controller",
            "role: {name: controller}",
            ("kubeline-legacy-controller", true, None),
        ),
        (
            "etcd",
            "role: {name: kubeline-legacy-etcd, strictName: true}",
            ("kubeline-legacy-etcd", true, None),
        ),
        // kube-aws's stable name, under kubeline's prefix.
        (
            "pool",
            "role: {name: web-nodes}",
            ("kubeline-legacy-web-nodes", true, None),
        ),
        (
            "controller",
            "role: {name: kubeline-legacy-cp, strictName: true}",
            ("kubeline-legacy-cp", true, None),
        ),
        (
            "etcd",
            "role: {name: members-etcd}",
            ("kubeline-legacy-members-etcd", true, None),
        ),
        // A role managed elsewhere: verbatim, kubeline creates only the profile.
        (
            "pool",
            "role: {name: kubeline-legacy-web-ext, manageExternally: true}",
            ("kubeline-legacy-web-ext", false, None),
        ),
        (
            "etcd",
            "role: {name: kubeline-legacy-ext-etcd, manageExternally: true}",
            ("kubeline-legacy-ext-etcd", false, None),
        ),
        // IAM's longest role name, 64 characters.
        (
            "pool",
            "role: {name: abbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb}",
            (
                "kubeline-legacy-abbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
                true,
                None,
            ),
        ),
        // An existing instance profile, with a path.
        (
            "pool",
            "instanceProfile: {arn: \"arn:aws:iam::123456789012:instance-profile/team/kubeline-legacy-web-nodes\"}",
            ("kubeline-legacy-web-nodes", false, Some(PROFILE)),
        ),
    ];
    for (which, iam, (name, creates_role, arn)) in cases {
        let text = group(which, iam);
        let c = load(&text).unwrap_or_else(|e| panic!("{which} {iam}: rejected:\n{e}"));
        let (id, g) = identity(&c, which);
        assert_eq!(node_role_name(&c, g), *name, "{which} {iam}");
        assert_eq!(
            !id.external_role && id.instance_profile_arn.is_none(),
            *creates_role,
            "{which} {iam}: {id:?}"
        );
        assert_eq!(id.instance_profile_arn.as_deref(), *arn, "{which} {iam}");
    }
}

#[test]
fn names_beyond_the_cluster_or_kubeline_s_own_are_refused() {
    let cases: &[(&str, &str, &str)] = &[
        // kube-aws's own naming, and other clusters' prefixes.
        (
            "controller",
            "role: {name: legacy-eu-west-1-controller, strictName: true}",
            "controller.iam.role.name: \"legacy-eu-west-1-controller\" is not one of this cluster's role names: a strict name must start with kubeline-legacy-",
        ),
        (
            "pool",
            "role: {name: kubeline-legacy2-web, strictName: true}",
            "must start with kubeline-legacy-",
        ),
        (
            "pool",
            "role: {name: kubeline-other-web, manageExternally: true}",
            "an externally managed role must start with kubeline-legacy-",
        ),
        (
            "pool",
            "role: {name: Kubeline-legacy-web, strictName: true}",
            "must start with kubeline-legacy-",
        ),
        (
            "pool",
            "role: {name: kubeline-legacy-, strictName: true}",
            "must start with kubeline-legacy-",
        ),
        // kubeline's own names, regardless of case.
        (
            "pool",
            "role: {name: controller}",
            "worker.nodePools[0].iam.role.name: \"kubeline-legacy-controller\" is a name kubeline gives its own roles; pick another name, such as web-nodes",
        ),
        (
            "pool",
            "role: {name: pool-api}",
            "\"kubeline-legacy-pool-api\" is a name kubeline gives its own roles",
        ),
        (
            "pool",
            "role: {name: SA-reports-reader}",
            "is a name kubeline gives its own roles",
        ),
        (
            "controller",
            "role: {name: Controller}",
            "is a name kubeline gives its own roles",
        ),
        (
            "pool",
            "role: {name: kubeline-legacy-pool-web, manageExternally: true}",
            "is a name kubeline gives its own roles; pick another name, such as kubeline-legacy-web-nodes",
        ),
        // etcd's -etcd suffix: etcd's only.
        (
            "etcd",
            "role: {name: members}",
            "etcd.iam.role.name: \"kubeline-legacy-members\" does not end in -etcd",
        ),
        (
            "pool",
            "role: {name: web-etcd}",
            "ends in -etcd, which only etcd's role may",
        ),
        // Form and length.
        (
            "pool",
            "role: {name: \"web nodes\"}",
            "\"web nodes\" is not an IAM role name",
        ),
        (
            "pool",
            "role: {name: abbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb}",
            "has 65 characters; AWS allows 64",
        ),
        (
            "pool",
            "role: {strictName: true}",
            "worker.nodePools[0].iam.role.strictName: strictName takes iam.role.name verbatim, and there is none",
        ),
        (
            "pool",
            "role: {manageExternally: true}",
            "manageExternally takes iam.role.name verbatim, and there is none",
        ),
        (
            "pool",
            "role: {name: kubeline-legacy-w, manageExternally: true, managedPolicies: [{arn: \"arn:aws:iam::aws:policy/ReadOnlyAccess\"}]}",
            "iam.role.managedPolicies: kubeline attaches no managed policies to a role it does not manage",
        ),
        // Existing instance profiles.
        (
            "pool",
            "instanceProfile: {arn: \"arn:aws:iam::123456789012:instance-profile/legacy-web\"}",
            "worker.nodePools[0].iam.instanceProfile.arn: the instance profile \"legacy-web\" is not one of this cluster's",
        ),
        (
            "pool",
            "instanceProfile: {arn: \"arn:aws:iam::123456789012:instance-profile/kubeline-legacy-pool-web\"}",
            "\"kubeline-legacy-pool-web\" is a name kubeline gives its own instance profiles",
        ),
        (
            "pool",
            "instanceProfile: {arn: \"arn:aws-cn:iam::123456789012:instance-profile/kubeline-legacy-w\"}",
            "it does not start with arn:aws: (the cluster's partition)",
        ),
        (
            "pool",
            "instanceProfile: {arn: \"arn:aws:iam::1234:instance-profile/kubeline-legacy-w\"}",
            "its account is not 12 digits",
        ),
        (
            "pool",
            "instanceProfile: {arn: \"arn:aws:iam::123456789012:role/kubeline-legacy-w\"}",
            "it names no instance profile",
        ),
        (
            "pool",
            "instanceProfile: {arn: \"arn:aws:s3:::kubeline-legacy-w\"}",
            "is not an instance profile ARN",
        ),
        (
            "pool",
            "instanceProfile: {arn: \"kubeline-legacy-w\"}",
            "it has fewer than six colon-separated parts",
        ),
        (
            "pool",
            "instanceProfile: {arn: \"arn:aws:iam::123456789012:instance-profile/kubeline-legacy-w\"}\nrole: {name: web-nodes}",
            "worker.nodePools[0].iam.role: an existing instance profile brings its own role",
        ),
        (
            "pool",
            "instanceProfile: {arn: \"arn:aws:iam::123456789012:instance-profile/kubeline-legacy-w\"}\nrole: {managedPolicies: [{arn: \"arn:aws:iam::aws:policy/ReadOnlyAccess\"}]}",
            "kubeline attaches no managed policies to the role of an existing instance profile",
        ),
    ];
    for (which, iam, want) in cases {
        let text = group(which, iam);
        let got = load(&text)
            .err()
            .unwrap_or_else(|| panic!("{which} {iam}: accepted"));
        assert!(got.contains(want), "{which} {iam}:\n{got}\nwanted: {want}");
    }
}

#[test]
fn no_two_groups_share_a_role_or_instance_profile() {
    let profile = "instanceProfile: {arn: \"arn:aws:iam::123456789012:instance-profile/kubeline-legacy-shared\"}";
    let cases = [
        // Two pools, one name (and one only differing in case).
        (
            "worker:\n  nodePools:\n    - {name: a, iam: {role: {name: nodes}}}\n    - {name: b, iam: {role: {name: Nodes}}}\n",
            Some(
                "worker.nodePools[1].iam.role.name: the instance profile \"kubeline-legacy-Nodes\" is also worker.nodePools[0].iam's",
            ),
        ),
        // A pool using the controllers' externally managed role.
        (
            "controller:\n  iam: {role: {name: kubeline-legacy-cp, manageExternally: true}}\nworker:\n  nodePools:\n    - {name: a, iam: {role: {name: cp}}}\n",
            Some(
                "worker.nodePools[0].iam.role.name: the instance profile \"kubeline-legacy-cp\" is also controller.iam's",
            ),
        ),
        // Two groups on one existing profile.
        (
            &*format!(
                "controller:\n  iam: {{{profile}}}\nworker:\n  nodePools:\n    - {{name: a, iam: {{{profile}}}}}\n"
            ),
            Some(
                "worker.nodePools[0].iam.instanceProfile.arn: the instance profile \"kubeline-legacy-shared\" is also controller.iam's",
            ),
        ),
        // A role kubeline creates named like another group's existing profile.
        (
            &*format!(
                "controller:\n  iam: {{{profile}}}\nworker:\n  nodePools:\n    - {{name: a, iam: {{role: {{name: shared}}}}}}\n"
            ),
            Some(
                "worker.nodePools[0].iam.role.name: the instance profile \"kubeline-legacy-shared\" is also controller.iam's",
            ),
        ),
        // A role kubeline creates named like the profile around another group's external role.
        (
            "controller:\n  iam: {role: {name: kubeline-legacy-cp, manageExternally: true}}\nworker:\n  nodePools:\n    - {name: a, iam: {role: {name: cp-profile}}}\n",
            Some(
                "worker.nodePools[0].iam.role.name: the instance profile \"kubeline-legacy-cp-profile\" is also controller.iam's",
            ),
        ),
        // Negative control: distinct names.
        (
            "worker:\n  nodePools:\n    - {name: a, iam: {role: {name: a-nodes}}}\n    - {name: b, iam: {role: {name: b-nodes}}}\n",
            None,
        ),
    ];
    for (groups, want) in cases {
        let got = load(&with(groups));
        match want {
            Some(want) => {
                let got = got.err().unwrap_or_else(|| panic!("accepted:\n{groups}"));
                assert!(got.contains(want), "{groups}\n{got}\nwanted: {want}");
            }
            None => {
                got.unwrap_or_else(|e| panic!("{groups}: rejected:\n{e}"));
            }
        }
    }
}

#[test]
fn a_pool_named_like_etcd_is_refused() {
    for (name, refused) in [
        ("etcd", true),
        ("db-etcd", true),
        ("etcd-clients", false),
        ("myetcd", false),
    ] {
        let text = with(&format!("worker:\n  nodePools:\n    - name: {name}\n"));
        let got = load(&text);
        assert_eq!(got.is_err(), refused, "{name}: {:?}", got.err());
        if refused {
            assert!(
                got.err()
                    .unwrap_or_default()
                    .contains("worker.nodePools[0].name: the pool name"),
                "{name}"
            );
        }
    }
}
