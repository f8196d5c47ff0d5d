//! The installation policy, table-driven: each rule with the hostile cluster.yaml it refuses
//! (and the message), the compliant one it lets through, and the policy file's own errors.

use std::collections::BTreeMap;

use kubeline_core::cluster::Cluster;
use kubeline_core::policy::{self, ExistingNetworks, Installation};
use kubeline_core::validate;

const KEY: &str = "arn:aws:kms:eu-west-1:123456789012:key/installation";

fn cluster(name: &str, extra: &str) -> Cluster {
    let text = format!(
        "clusterName: {name}\ns3URI: s3://kubeline-assets\nregion: eu-west-1\n\
availabilityZone: eu-west-1a\nkmsKeyArn: {KEY}\n{extra}"
    );
    let l = validate::load(&text);
    l.cluster
        .unwrap_or_else(|| panic!("{}", l.diagnostics.render("cluster.yaml")))
}

fn endpoint(dns: &str, zone: &str) -> String {
    format!(
        "apiEndpoints:\n  - name: public\n    dnsName: {dns}\n    loadBalancer: {{hostedZone: {{id: {zone}}}}}\n"
    )
}

fn installation(policy: &str) -> Installation {
    Installation {
        policy: policy::parse(policy).expect("policy"),
        hosted_zone_ids: vec!["Z0TEAMZONE".into(), "Z0OTHER".into()],
        kms_key_arn: Some(KEY.into()),
    }
}

/// `(cluster.yaml extra, installation.yaml, expected "path setting" of every violation)`.
#[test]
fn each_rule_refuses_what_it_names_and_passes_the_rest() {
    let ok = endpoint("api.demo.k8s.example.com", "Z0TEAMZONE");
    let pools = |n: usize, max: u32| {
        let mut s = String::from("worker:\n  nodePools:\n");
        for i in 0..n {
            s += &format!(
                "    - name: p{i}\n      instanceType: m7i.large\n      autoScalingGroup: {{minSize: 1, maxSize: {max}}}\n"
            );
        }
        s
    };
    let extras = [
        "vpc: {id: vpc-0123456789abcdef0}",
        "internetGateway: {id: igw-0123456789abcdef0}",
        "controller: {securityGroupIds: [sg-0123456789abcdef0]}",
        "worker:",
        "  nodePools:",
        "    - name: web",
        "      securityGroupIds: [sg-0123456789abcdef1]",
        "      iam: {role: {managedPolicies: [{arn: arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy}]}}",
        "      loadBalancer: {enabled: true, names: [legacy-web]}",
        "      targetGroup: {enabled: true, arns: [arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123456789abcdef]}",
        "",
    ]
    .join("\n");
    let cases: Vec<(String, &str, Vec<&str>)> = vec![
        (ok.clone(), "", vec![]),
        (ok.clone(), "dns: {baseDomain: k8s.example.com}", vec![]),
        (
            endpoint("demo.k8s.example.com", "Z0OTHER"),
            "dns: {baseDomain: k8s.example.com.}",
            vec![],
        ),
        // Another cluster's name, and a name outside the base domain.
        (
            endpoint("api.prod.k8s.example.com", "Z0TEAMZONE"),
            "dns: {baseDomain: k8s.example.com}",
            vec!["apiEndpoints[0].dnsName dns.baseDomain"],
        ),
        (
            endpoint("xdemo.k8s.example.com", "Z0TEAMZONE"),
            "dns: {baseDomain: k8s.example.com}",
            vec!["apiEndpoints[0].dnsName dns.baseDomain"],
        ),
        // A zone the installation does not give its clusters.
        (
            endpoint("api.demo.k8s.example.com", "Z0SOMEONEELSE"),
            "",
            vec!["apiEndpoints[0].loadBalancer.hostedZone.id HostedZoneIds"],
        ),
        // Existing networks refused outright.
        (
            format!(
                "{ok}vpc: {{id: vpc-0123456789abcdef0}}\nrouteTableId: rtb-0123456789abcdef0\nsubnets:\n  - name: a\n    availabilityZone: eu-west-1a\n    instanceCIDR: 10.0.0.0/24\n    id: subnet-0123456789abcdef0\n"
            ),
            "network: {existing: refused}",
            vec![
                "vpc.id network.existing",
                "routeTableId network.existing",
                "subnets[0].id network.existing",
            ],
        ),
        (
            format!("{ok}{}", pools(3, 2)),
            "quotas: {maxNodePools: 3, maxNodesPerPool: 2, maxNodes: 11}",
            vec![],
        ),
        (
            format!("{ok}{}", pools(4, 3)),
            "quotas: {maxNodePools: 3, maxNodesPerPool: 2, maxNodes: 11}",
            vec![
                "worker.nodePools quotas.maxNodePools",
                "worker.nodePools[0].autoScalingGroup.maxSize quotas.maxNodesPerPool",
                "worker.nodePools[1].autoScalingGroup.maxSize quotas.maxNodesPerPool",
                "worker.nodePools[2].autoScalingGroup.maxSize quotas.maxNodesPerPool",
                "worker.nodePools[3].autoScalingGroup.maxSize quotas.maxNodesPerPool",
                "worker.nodePools quotas.maxNodes",
            ],
        ),
        (
            format!(
                "{ok}controller: {{instanceType: m7i.large}}\netcd: {{instanceType: t3.medium}}\n{}",
                pools(1, 1)
            ),
            "quotas: {instanceFamilies: [m7i, t3]}",
            vec![],
        ),
        (
            format!(
                "{ok}controller: {{instanceType: p5.48xlarge}}\netcd: {{instanceType: t3.medium}}\n{}",
                pools(1, 1)
            ),
            "quotas: {instanceFamilies: [m7i, t3]}",
            vec!["controller.instanceType quotas.instanceFamilies"],
        ),
        // Networks from another stack's exports: refused with existing networks; under
        // `tagged` Start resolves them and checks their tags (not a pure rule).
        (
            format!(
                "{ok}vpc: {{idFromStackOutput: net-VpcId}}\ninternetGateway: {{idFromStackOutput: net-Igw}}\n"
            ),
            "network: {existing: refused}",
            vec![
                "vpc.idFromStackOutput network.existing",
                "internetGateway.idFromStackOutput network.existing",
            ],
        ),
        (
            format!(
                "{ok}vpc: {{idFromStackOutput: net-VpcId}}\ninternetGateway: {{idFromStackOutput: net-Igw}}\n"
            ),
            "",
            vec![],
        ),
        (
            format!(
                "{ok}vpc: {{idFromStackOutput: net-VpcId}}\ninternetGateway: {{idFromStackOutput: net-Igw}}\n"
            ),
            "network: {existing: any}",
            vec![],
        ),
        // kube-aws's extras: managed policies only from the policy's list (none by default);
        // existing security groups refused with existing networks; existing load balancers
        // and target groups only where any existing resource is allowed.
        (
            format!("{ok}{extras}"),
            "network: {existing: any}\niam: {managedPolicyArns: [arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy]}",
            vec![],
        ),
        (
            format!("{ok}{extras}"),
            "network: {existing: any}",
            vec!["worker.nodePools[0].iam.role.managedPolicies[0].arn iam.managedPolicyArns"],
        ),
        (
            format!("{ok}{extras}"),
            "network: {existing: refused}\niam: {managedPolicyArns: [arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy]}",
            vec![
                "vpc.id network.existing",
                "internetGateway.id network.existing",
                "controller.securityGroupIds[0] network.existing",
                "worker.nodePools[0].securityGroupIds[0] network.existing",
                "worker.nodePools[0].loadBalancer.names network.existing",
                "worker.nodePools[0].targetGroup.arns network.existing",
            ],
        ),
        (
            format!("{ok}{extras}"),
            "iam: {managedPolicyArns: [arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy]}",
            vec![
                "worker.nodePools[0].loadBalancer.names network.existing",
                "worker.nodePools[0].targetGroup.arns network.existing",
            ],
        ),
    ];
    // kube-aws's node IAM settings: roles kubeline does not create only where the platform
    // team allows them, and an instance profile of another account never.
    let identities = "controller:\n  iam: {role: {name: kubeline-demo-cp, manageExternally: true}}\n\
etcd:\n  iam: {instanceProfile: {arn: \"arn:aws:iam::123456789012:instance-profile/kubeline-demo-members\"}}\n\
worker:\n  nodePools:\n    - {name: web, iam: {role: {name: web-nodes}}}\n";
    let cases = cases.into_iter().chain([
        (
            format!("{ok}{identities}"),
            "",
            vec![
                "controller.iam.role.manageExternally iam.existingRoles",
                "etcd.iam.instanceProfile.arn iam.existingRoles",
            ],
        ),
        (format!("{ok}{identities}"), "iam: {existingRoles: true}", vec![]),
        (
            format!(
                "{ok}{}",
                identities.replace("aws:iam::123456789012", "aws:iam::210987654321")
            ),
            "iam: {existingRoles: true}",
            vec!["etcd.iam.instanceProfile.arn iam.existingRoles"],
        ),
        // A stable role name kubeline creates needs no permission.
        (
            format!("{ok}worker:\n  nodePools:\n    - {{name: web, iam: {{role: {{name: web-nodes}}}}}}\n"),
            "",
            vec![],
        ),
    ]);
    for (extra, file, expected) in cases {
        let got: Vec<String> = policy::check(&cluster("demo", &extra), &installation(file))
            .iter()
            .map(|v| format!("{} {}", v.path, v.setting))
            .collect();
        assert_eq!(
            got, expected,
            "cluster.yaml extra:\n{extra}\ninstallation.yaml: {file}"
        );
    }
    // An installation without a policy file takes kube-aws's extras as they are.
    let local = Installation::without_policy(vec!["Z0TEAMZONE".into()], Some(KEY.into()));
    assert!(policy::check(&cluster("demo", &format!("{ok}{extras}")), &local).is_empty());
}

#[test]
fn the_messages_name_the_rule_and_the_fix() {
    let c = cluster("demo", &endpoint("api.prod.k8s.example.com", "Z0NOTOURS"));
    let v = policy::check(&c, &installation("dns: {baseDomain: k8s.example.com}"));
    let text: Vec<String> = v.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        [
            "apiEndpoints[0].loadBalancer.hostedZone.id: hosted zone Z0NOTOURS is not one this installation's clusters may use; use one of Z0TEAMZONE, Z0OTHER (installation setting `HostedZoneIds`)",
            "apiEndpoints[0].dnsName: `api.prod.k8s.example.com` is outside this cluster's domain; use `demo.k8s.example.com` or a name ending in `.demo.k8s.example.com` (installation setting `dns.baseDomain`)",
        ]
    );
}

#[test]
fn only_the_installations_key_or_an_allowed_one() {
    let other = "arn:aws:kms:eu-west-1:123456789012:key/other-team";
    let extra = endpoint("api.demo.k8s.example.com", "Z0TEAMZONE");
    let text = format!(
        "clusterName: demo\ns3URI: s3://kubeline-assets\nregion: eu-west-1\navailabilityZone: eu-west-1a\nkmsKeyArn: {other}\n{extra}"
    );
    let c = validate::load(&text).cluster.expect("cluster");
    let refused = policy::check(&c, &installation(""));
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].path, "kmsKeyArn");
    assert!(
        refused[0].rule.ends_with(&format!("use {KEY}")),
        "{}",
        refused[0]
    );
    let allowed = installation(&format!("kms: {{allowedKeyArns: [{other}]}}"));
    assert!(policy::check(&c, &allowed).is_empty());
    // Another account's key, even when allowed, is one the nodes' boundary refuses.
    let foreign = "arn:aws:kms:eu-west-1:999999999999:key/theirs";
    let text = text.replace(other, foreign);
    let c = validate::load(&text).cluster.expect("cluster");
    let refused = policy::check(
        &c,
        &installation(&format!("kms: {{allowedKeyArns: [{foreign}]}}")),
    );
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0]
            .rule
            .contains("not in this installation's account and Region"),
        "{}",
        refused[0]
    );
    // Outside AWS (no installation key known) any key passes.
    let local = Installation::without_policy(Vec::new(), None);
    assert!(policy::check(&c, &local).is_empty());
}

#[test]
fn existing_networks_must_be_given_to_the_cluster_or_its_team() {
    let p = policy::parse("tenants: {payments: [pay-*, billing]}").expect("policy");
    assert_eq!(p.network.existing, ExistingNetworks::Tagged);
    assert_eq!(policy::tenant_of(&p, "pay-prod"), Some("payments"));
    assert_eq!(policy::tenant_of(&p, "billing"), Some("payments"));
    assert_eq!(policy::tenant_of(&p, "billing-2"), None);
    let tags = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    let cases = [
        (
            tags(&[("kubeline.io/cluster", "pay-prod")]),
            "pay-prod",
            None,
            true,
        ),
        (
            tags(&[("kubeline.io/cluster", "pay-dev")]),
            "pay-prod",
            None,
            false,
        ),
        (
            tags(&[("kubeline.io/tenant", "payments")]),
            "pay-prod",
            Some("payments"),
            true,
        ),
        (
            tags(&[("kubeline.io/tenant", "payments")]),
            "search",
            Some("search"),
            false,
        ),
        (
            tags(&[("kubeline.io/tenant", "payments")]),
            "search",
            None,
            false,
        ),
        (
            tags(&[("Name", "pay-prod")]),
            "pay-prod",
            Some("payments"),
            false,
        ),
    ];
    for (t, cluster, tenant, expected) in cases {
        assert_eq!(
            policy::network_is_given(&t, cluster, tenant),
            expected,
            "{t:?} for {cluster} of {tenant:?}"
        );
        // The networks port asks AWS only for resources carrying one of these tags: the
        // filter must give exactly what the rule gives.
        let by_filter = policy::giving_tags(cluster, tenant)
            .iter()
            .any(|(k, v)| t.get(k) == Some(v));
        assert_eq!(
            by_filter, expected,
            "filter: {t:?} for {cluster} of {tenant:?}"
        );
    }
    // Without a policy file, any existing network (kubeline's behaviour before policies).
    assert_eq!(
        Installation::without_policy(Vec::new(), None)
            .policy
            .network
            .existing,
        ExistingNetworks::Any
    );
}

#[test]
fn the_hosted_zone_parameter_matches_exactly_as_iam_does() {
    // IAM compares the zone ARN built from the parameter, so `/hostedzone/Z...` there would
    // let Start pass a zone the service role cannot change: Start compares exactly too.
    let mut inst = installation("");
    inst.hosted_zone_ids = vec!["/hostedzone/Z0TEAMZONE".into()];
    let c = cluster("demo", &endpoint("api.demo.k8s.example.com", "Z0TEAMZONE"));
    assert_eq!(policy::check(&c, &inst).len(), 1);
}

#[test]
fn a_cluster_two_teams_claim_is_refused_and_patterns_cannot_claim_everything() {
    let p = policy::parse("tenants: {payments: [pay-*], platform: [pay-core]}").expect("policy");
    assert_eq!(policy::tenants_of(&p, "pay-core"), ["payments", "platform"]);
    assert_eq!(policy::tenant_of(&p, "pay-core"), None);
    let inst = Installation {
        policy: p,
        ..installation("")
    };
    let c = cluster(
        "pay-core",
        &endpoint("api.pay-core.k8s.example.com", "Z0TEAMZONE"),
    );
    let v = policy::check(&c, &inst);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(
        (v[0].path.as_str(), v[0].setting),
        ("clusterName", "tenants")
    );
    for bad in [
        "tenants: {all: ['*']}",
        "tenants: {a: [pay*]}",
        "tenants: {a: ['Pay-*']}",
    ] {
        let e = policy::parse(bad).expect_err(bad);
        assert!(
            e.contains("neither a cluster name nor a prefix followed by `-*`"),
            "{bad}: {e}"
        );
    }
}

#[test]
fn a_policy_file_with_an_unknown_or_mistyped_setting_is_refused() {
    assert_eq!(policy::parse("").expect("empty"), Default::default());
    for (text, says) in [
        ("dns: {baseDomian: x}", "baseDomian"),
        ("quotas: {maxNodePools: many}", "maxNodePools"),
        ("network: {existing: sometimes}", "sometimes"),
    ] {
        let e = policy::parse(text).expect_err(text);
        assert!(e.starts_with("installation.yaml: "), "{e}");
        assert!(e.contains(says), "{text}: {e}");
    }
}

/// Gateways and route tables are existing networks too: each is listed with its key, so Start
/// checks its tags (`tagged`) or refuses it (`refused`).
#[test]
fn existing_gateways_and_route_tables_are_checked_like_vpcs() {
    let text = "clusterName: demo
s3URI: s3://kubeline-assets-123456789012/kubeline
region: eu-west-1
kmsKeyArn: arn:aws:kms:eu-west-1:123456789012:key/1b3c5d7e-0000-4000-8000-000000000001
vpc: {id: vpc-0a1b2c3d4e5f67890}
internetGateway: {id: igw-0a1b2c3d4e5f67890}
subnets:
  - {name: public-a, availabilityZone: eu-west-1a, instanceCIDR: 10.0.0.0/24}
  - name: private-a
    availabilityZone: eu-west-1a
    instanceCIDR: 10.0.10.0/24
    private: true
    natGateway: {id: nat-0a1b2c3d4e5f67890}
  - name: private-b
    availabilityZone: eu-west-1b
    instanceCIDR: 10.0.11.0/24
    private: true
    routeTable: {id: rtb-0a1b2c3d4e5f67890}
apiEndpoints:
  - name: default
    dnsName: api.demo.example.com
    loadBalancer: {hostedZone: {id: Z0123456789ABCDEFGHIJ}}
";
    let loaded = validate::load(text);
    let c = loaded
        .cluster
        .unwrap_or_else(|| panic!("{}", loaded.diagnostics.render("cluster.yaml")));
    let named: Vec<(String, String)> = policy::existing_network(&c)
        .into_iter()
        .map(|(k, v)| (k, v.to_owned()))
        .collect();
    let want = [
        ("vpc.id", "vpc-0a1b2c3d4e5f67890"),
        ("internetGateway.id", "igw-0a1b2c3d4e5f67890"),
        ("subnets[1].natGateway.id", "nat-0a1b2c3d4e5f67890"),
        ("subnets[2].routeTable.id", "rtb-0a1b2c3d4e5f67890"),
    ];
    assert_eq!(
        named,
        want.map(|(k, v)| (k.to_owned(), v.to_owned())).to_vec()
    );
    // Under `refused` each is refused, with its key.
    let refused = policy::check(&c, &installation("network: {existing: refused}\n"));
    for (key, _) in want {
        assert!(
            refused.iter().any(|v| v.to_string().starts_with(key)),
            "{key} not refused: {refused:?}"
        );
    }
}

/// Apply's re-check of the exports Start checked: `(ListExports now, the sentences)`.
#[test]
fn an_export_that_changed_since_start_is_named() {
    let checked = policy::CheckedExports {
        values: BTreeMap::from([
            ("net-VpcId".to_owned(), "vpc-0aaa".to_owned()),
            ("net-SubnetA".to_owned(), "subnet-0aaa".to_owned()),
        ]),
    };
    let now = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    let cases: [(BTreeMap<String, String>, Vec<&str>); 4] = [
        (
            now(&[("net-VpcId", "vpc-0aaa"), ("net-SubnetA", "subnet-0aaa")]),
            vec![],
        ),
        (
            now(&[("net-VpcId", "vpc-0aaa"), ("net-SubnetA", "subnet-0bbb")]),
            vec!["the export net-SubnetA now names subnet-0bbb, not the subnet-0aaa Start checked"],
        ),
        (
            now(&[("net-SubnetA", "subnet-0aaa")]),
            vec!["the export net-VpcId (which named vpc-0aaa at Start) no longer exists"],
        ),
        (
            now(&[("net-VpcId", "vpc-0bbb"), ("net-SubnetA", "subnet-0bbb")]),
            vec![
                "the export net-SubnetA now names subnet-0bbb, not the subnet-0aaa Start checked",
                "the export net-VpcId now names vpc-0bbb, not the vpc-0aaa Start checked",
            ],
        ),
    ];
    for (now, want) in cases {
        assert_eq!(policy::changed_exports(&checked, &now), want, "{now:?}");
    }
}

/// Start's network decisions under `tagged`, table-driven: exports resolved (a missing one
/// refused), and each named resource refused unless its tags give it to the cluster or team.
#[test]
fn exports_resolve_and_untagged_resources_are_refused() {
    let values = BTreeMap::from([("net-VpcId".to_owned(), "vpc-0aaa".to_owned())]);
    let exported = [
        ("vpc.idFromStackOutput".to_owned(), "net-VpcId"),
        ("internetGateway.idFromStackOutput".to_owned(), "net-Igw"),
    ];
    let (named, checked, missing) = policy::resolve_exports(&exported, &values);
    assert_eq!(
        named,
        vec![policy::NamedResource {
            path: "vpc.idFromStackOutput".into(),
            id: "vpc-0aaa".into(),
            export: Some("net-VpcId".into()),
        }]
    );
    assert_eq!(checked.values, values);
    assert_eq!(
        missing,
        vec![
            "internetGateway.idFromStackOutput: no stack of this Region and account exports net-Igw; name another export (aws cloudformation list-exports) or give the resource's id (installation setting `network.existing`)"
        ]
    );

    let resource = |path: &str, id: &str| policy::NamedResource {
        path: path.into(),
        id: id.into(),
        export: None,
    };
    let tagged = |k: &str, v: &str| BTreeMap::from([(k.to_owned(), v.to_owned())]);
    let tags = BTreeMap::from([
        (
            "vpc-0aaa".to_owned(),
            tagged("kubeline.io/tenant", "payments"),
        ),
        (
            "subnet-0bbb".to_owned(),
            tagged("kubeline.io/cluster", "search"),
        ),
        ("sg-0ccc".to_owned(), tagged("kubeline.io/cluster", "demo")),
    ]);
    // (resource, tenant, refusal or None).
    let cases = [
        (named[0].clone(), Some("payments"), None),
        (
            named[0].clone(),
            None,
            Some(
                "vpc.idFromStackOutput: vpc-0aaa (the value of the export net-VpcId) is not tagged `kubeline.io/cluster=demo` (or does not exist); ask the installation's admins to tag it for this cluster, or give a CIDR so the cluster creates its own (installation setting `network.existing`)",
            ),
        ),
        (
            resource("subnets[0].id", "subnet-0bbb"),
            Some("payments"),
            Some(
                "subnets[0].id: subnet-0bbb is not tagged `kubeline.io/cluster=demo` or `kubeline.io/tenant=payments` (or does not exist); ask the installation's admins to tag it for this cluster, or give a CIDR so the cluster creates its own (installation setting `network.existing`)",
            ),
        ),
        (resource("etcd.securityGroupIds[0]", "sg-0ccc"), None, None),
        (
            resource("subnets[0].routeTable.id", "rtb-0ddd"),
            None,
            Some(
                "subnets[0].routeTable.id: rtb-0ddd is not tagged `kubeline.io/cluster=demo` (or does not exist); ask the installation's admins to tag it for this cluster, or remove it so the cluster creates its own (installation setting `network.existing`)",
            ),
        ),
    ];
    for (r, tenant, want) in cases {
        let got = policy::untagged(std::slice::from_ref(&r), &tags, "demo", tenant);
        assert_eq!(
            got,
            want.into_iter().map(str::to_owned).collect::<Vec<_>>(),
            "{r:?}"
        );
    }
}
