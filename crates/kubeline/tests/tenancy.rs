//! The installation policy end to end on moto through the local runner: a hostile
//! cluster.yaml (another hosted zone, a name outside its domain, a VPC, an internet gateway and
//! a security group that are not its own)
//! fails at Start with every rule named and nothing created; a broken installation.yaml fails
//! every run; another stack's exports are resolved and their resources checked like ids; a
//! VPC and subnet (exported by the platform team's stack) and a security group tagged for the
//! cluster's team pass; a stack of the cluster's name that another cluster owns is never
//! touched; the Tagging adapter answers every kind of network resource on moto.

use crate::support;

use kubeline_aws::store::ObjectStore;
use kubeline_core::pipeline::{ClusterKeys, Phase};
use support::*;

fn tagged_network(e: &Env, tags: &[(&str, &str)]) -> (String, String) {
    let vpc = created(
        &e.local.emulator.endpoint,
        "create_vpc",
        serde_json::json!({"CidrBlock": "10.1.0.0/16"}),
        "/Vpc/VpcId",
    );
    let subnet = created(
        &e.local.emulator.endpoint,
        "create_subnet",
        serde_json::json!({"VpcId": vpc, "CidrBlock": "10.1.0.0/24", "AvailabilityZone": "eu-west-1a"}),
        "/Subnet/SubnetId",
    );
    if !tags.is_empty() {
        tag(e, &[&vpc, &subnet], tags);
    }
    (vpc, subnet)
}

/// A security group in `vpc` with `tags` (kube-aws's `securityGroupIds` name such groups).
fn tagged_group(e: &Env, vpc: &str, name: &str, tags: &[(&str, &str)]) -> String {
    let sg = created(
        &e.local.emulator.endpoint,
        "create_security_group",
        serde_json::json!({"GroupName": name, "Description": "glue group", "VpcId": vpc}),
        "/GroupId",
    );
    tag(e, &[&sg], tags);
    sg
}

/// A stack (not a cluster's) that exports each `(key, value)` as `<name>-<key>`, as a platform
/// team's network stack would export its VPC and subnets.
async fn exporting_stack(e: &Env, name: &str, outputs: &[(&str, &str)]) {
    let outputs: serde_json::Map<String, serde_json::Value> = outputs
        .iter()
        .map(|(k, v)| {
            let output = serde_json::json!({"Value": v, "Export": {"Name": format!("{name}-{k}")}});
            ((*k).to_owned(), output)
        })
        .collect();
    let template = serde_json::json!({
        "Resources": {"Marker": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": outputs,
    });
    aws_sdk_cloudformation::Client::new(&e.conf)
        .create_stack()
        .stack_name(name)
        .template_body(template.to_string())
        .send()
        .await
        .expect("create the exporting stack");
}

/// Deletes the exporting stack `name` (nothing imports its exports yet) and creates it again
/// with `outputs`: how its owner re-points an export (moto's UpdateStack keeps old exports).
async fn replace_exporting_stack(e: &Env, name: &str, outputs: &[(&str, &str)]) {
    aws_sdk_cloudformation::Client::new(&e.conf)
        .delete_stack()
        .stack_name(name)
        .send()
        .await
        .expect("delete the exporting stack");
    exporting_stack(e, name, outputs).await;
}

/// The demo in a VPC and subnet taken from the exports `<stack>-VpcId` and `<stack>-SubnetA`.
fn in_exported_network(text: &str, stack: &str) -> String {
    format!(
        "{text}\nvpc: {{idFromStackOutput: {stack}-VpcId}}\nsubnets:\n  - name: a\n    availabilityZone: eu-west-1a\n    instanceCIDR: 10.1.0.0/24\n    idFromStackOutput: {stack}-SubnetA\n"
    )
}

fn in_network(text: &str, vpc: &str, subnet: &str) -> String {
    format!(
        "{text}\nvpc: {{id: {vpc}}}\nsubnets:\n  - name: a\n    availabilityZone: eu-west-1a\n    instanceCIDR: 10.1.0.0/24\n    id: {subnet}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_installation_policy_refuses_a_hostile_cluster_before_anything_changes() {
    let mut e = env().await;
    let keys = ClusterKeys::new("demo");
    e.put(
        "installation.yaml",
        "dns: {baseDomain: k8s.example.com}\ntenants: {payments: [demo, pay-*]}\n",
    )
    .await;
    let r53 = aws_sdk_route53::Client::new(&e.conf);
    let corporate = r53
        .create_hosted_zone()
        .name("corp.example.com")
        .caller_reference("tenancy-test")
        .send()
        .await
        .expect("zone")
        .hosted_zone
        .map(|z| z.id.trim_start_matches("/hostedzone/").to_owned())
        .expect("zone id");
    let (other_vpc, other_subnet) = tagged_network(&e, &[("kubeline.io/cluster", "search-prod")]);
    let other_group = tagged_group(
        &e,
        &other_vpc,
        "search-prod-glue",
        &[("kubeline.io/cluster", "search-prod")],
    );
    // Another cluster's internet gateway, attached to its VPC.
    let other_igw = created(
        &e.local.emulator.endpoint,
        "create_internet_gateway",
        serde_json::json!({}),
        "/InternetGateway/InternetGatewayId",
    );
    ec2(
        &e,
        "attach_internet_gateway",
        serde_json::json!({"InternetGatewayId": other_igw, "VpcId": other_vpc}),
    );
    tag(&e, &[&other_igw], &[("kubeline.io/cluster", "search-prod")]);

    // Another team's zone and name, and another cluster's VPC: every rule named at once.
    let own_zone = e.local.install.zone_id.clone();
    let hostile = e.demo(|t| {
        in_network(
            &t.replace(&own_zone, &corporate)
                .replace("demo.k8s.example.com", "api.corp.example.com"),
            &other_vpc,
            &other_subnet,
        ) + &format!(
            "internetGateway: {{id: {other_igw}}}\netcd:\n  securityGroupIds: [{other_group}]\n"
        )
    });
    let (arn, _) = e.upload(&hostile).await;
    let info = e.finish(&arn).await;
    assert_eq!(info.error.as_deref(), Some("PolicyRefused"), "{info:?}");
    let cause = e.status().await.last_error.expect("last error").cause;
    for says in [
        "apiEndpoints[0].loadBalancer.hostedZone.id: hosted zone",
        "(installation setting `HostedZoneIds`)",
        "apiEndpoints[0].dnsName: `api.corp.example.com` is outside this cluster's domain; use `demo.k8s.example.com`",
        &format!(
            "vpc.id: {other_vpc} is not tagged `kubeline.io/cluster=demo` or `kubeline.io/tenant=payments`"
        ),
        &format!("subnets[0].id: {other_subnet} is not tagged"),
        // Another cluster's security group on this cluster's etcd members.
        &format!("etcd.securityGroupIds[0]: {other_group} is not tagged"),
        // ...and its internet gateway.
        &format!(
            "internetGateway.id: {other_igw} is not tagged `kubeline.io/cluster=demo` or `kubeline.io/tenant=payments` (or does not exist); ask the installation's admins to tag it for this cluster, or remove it so the cluster creates its own"
        ),
    ] {
        assert!(cause.contains(says), "{says:?} missing from:\n{cause}");
    }
    assert_eq!(e.stack_statuses().await, vec!["NONE"; 4]);
    assert!(e.objects(&keys.credentials()).await.is_empty());

    // A broken policy file fails every run, naming the file.
    e.put("installation.yaml", "dns: {baseDomian: k8s.example.com}\n")
        .await;
    let (arn, _) = e.upload(&e.demo(|t| t)).await;
    let info = e.finish(&arn).await;
    assert_eq!(info.error.as_deref(), Some("PolicyInvalid"), "{info:?}");
    let cause = e.status().await.last_error.expect("last error").cause;
    assert!(
        cause.starts_with("installation.yaml: ") && cause.contains("baseDomian"),
        "{cause}"
    );
    assert_eq!(e.stack_statuses().await, vec!["NONE"; 4]);

    // Exports are resolved and their resources checked like ids: another cluster's VPC and
    // subnet behind an export are refused, and so is an export nothing makes.
    e.put(
        "installation.yaml",
        "dns: {baseDomain: k8s.example.com}\ntenants: {payments: [demo, pay-*]}\n",
    )
    .await;
    exporting_stack(
        &e,
        "corp-network",
        &[("VpcId", &other_vpc), ("SubnetA", &other_subnet)],
    )
    .await;
    let (arn, _) = e
        .upload(&e.demo(|t| {
            in_exported_network(&t, "corp-network")
                + "internetGateway: {idFromStackOutput: corp-network-IgwId}\n"
        }))
        .await;
    let info = e.finish(&arn).await;
    assert_eq!(info.error.as_deref(), Some("PolicyRefused"), "{info:?}");
    let cause = e.status().await.last_error.expect("last error").cause;
    for says in [
        format!(
            "vpc.idFromStackOutput: {other_vpc} (the value of the export corp-network-VpcId) is not tagged `kubeline.io/cluster=demo` or `kubeline.io/tenant=payments`"
        ),
        format!(
            "subnets[0].idFromStackOutput: {other_subnet} (the value of the export corp-network-SubnetA) is not tagged `kubeline.io/cluster=demo` or `kubeline.io/tenant=payments` (or does not exist); ask the installation's admins to tag it for this cluster, or give a CIDR so the cluster creates its own (installation setting `network.existing`)"
        ),
        "internetGateway.idFromStackOutput: no stack of this Region and account exports corp-network-IgwId; name another export (aws cloudformation list-exports) or give the resource's id (installation setting `network.existing`)".into(),
    ] {
        assert!(cause.contains(&says), "{says:?} missing from:\n{cause}");
    }
    assert_eq!(e.stack_statuses().await, vec!["NONE"; 4]);

    // The team's own network, tagged for the team, passes Start and the cluster is created;
    // its subnet comes from the platform team's export.
    let (vpc, subnet) = tagged_network(&e, &[("kubeline.io/tenant", "payments")]);
    let group = tagged_group(
        &e,
        &vpc,
        "payments-glue",
        &[("kubeline.io/tenant", "payments")],
    );
    exporting_stack(
        &e,
        "payments-network",
        &[("VpcId", &vpc), ("SubnetA", &subnet)],
    )
    .await;
    let text = e.demo(|t| {
        in_exported_network(&t, "payments-network")
            + &format!("etcd:\n  securityGroupIds: [{group}]\n")
    });

    // Until the network stack imports it, the export's own stack may re-point it: an export
    // changed between Start and the apply stops the run before any change set executes.
    let (arn, _) = e
        .upload(&text.replace("approval: auto", "approval: manual"))
        .await;
    e.wait_phase(Phase::AwaitingApproval).await;
    replace_exporting_stack(
        &e,
        "payments-network",
        &[("VpcId", &vpc), ("SubnetA", &other_subnet)],
    )
    .await;
    e.approve(
        &keys.approval(&run_id(&arn)),
        "decision: approve\nby: bob\n",
        "AIDABOB",
    )
    .await;
    let info = e.finish(&arn).await;
    assert_eq!(info.error.as_deref(), Some("PolicyRefused"), "{info:?}");
    let cause = e.status().await.last_error.expect("last error").cause;
    assert!(
        cause.contains(&format!(
            "the export payments-network-SubnetA now names {other_subnet}, not the {subnet} Start checked (until the network stack imports an export, its own stack may change it); nothing more of run {} was executed",
            run_id(&arn)
        )),
        "{cause}"
    );
    assert!(
        !e.stack_statuses()
            .await
            .iter()
            .any(|s| s.ends_with("_COMPLETE") && s != "DELETE_COMPLETE"),
        "{:?}",
        e.stack_statuses().await
    );

    // The export points at the team's subnet again: the upload is applied.
    replace_exporting_stack(
        &e,
        "payments-network",
        &[("VpcId", &vpc), ("SubnetA", &subnet)],
    )
    .await;
    let (arn, _) = e.upload(&text).await;
    let info = e.finish(&arn).await;
    assert_eq!(info.status, "SUCCEEDED", "{info:?}");
    assert!(
        e.store
            .get(&keys.status(), None)
            .await
            .expect("get")
            .is_some()
    );
}

/// A stack with one of the cluster's stack names, tagged as another cluster's (a collision
/// from before the name rules, or a planted one): the run fails loudly at the plan, and that
/// stack is neither changed nor deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_another_cluster_owns_is_never_touched() {
    let mut e = env().await;
    let cfn = aws_sdk_cloudformation::Client::new(&e.conf);
    let theirs = "kubeline-demo-network";
    let template = r#"{"Resources": {"Marker": {"Type": "AWS::SNS::Topic"}}}"#;
    cfn.create_stack()
        .stack_name(theirs)
        .template_body(template)
        .tags(
            aws_sdk_cloudformation::types::Tag::builder()
                .key("kubeline.io/cluster")
                .value("demo-old")
                .build(),
        )
        .send()
        .await
        .expect("their stack");
    let (arn, _) = e.upload(&e.demo(|t| t)).await;
    let info = e.finish(&arn).await;
    assert_eq!(info.error.as_deref(), Some("StackNotOwned"), "{info:?}");
    let cause = e.status().await.last_error.expect("last error").cause;
    assert!(
        cause.contains(theirs) && cause.contains("demo-old"),
        "{cause}"
    );
    let stacks = cfn
        .describe_stacks()
        .stack_name(theirs)
        .send()
        .await
        .expect("describe");
    let stack = stacks.stacks().first().expect("their stack is still there");
    assert_eq!(
        stack.stack_status().map(|s| s.as_str()),
        Some("CREATE_COMPLETE")
    );
    let changes = cfn
        .list_change_sets()
        .stack_name(theirs)
        .send()
        .await
        .expect("change sets");
    assert!(changes.summaries().is_empty(), "{:?}", changes.summaries());
}

/// The Tagging adapter on moto, for each kind of network resource a cluster may name: what is
/// tagged for the cluster or its team is answered with all its tags; another cluster's, an
/// untagged and a nonexistent resource are not. (moto 5.2.5 keeps no Elastic IPs in its
/// tagging index, so those are shown by the adapter's mock tests only.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tagging_adapter_answers_every_network_resource_given_to_the_cluster_or_its_team() {
    use kubeline_aws::networks::{Networks, Tagging};
    let emu = kubeline::local::Emulator::start(&root().join(".tools"), true)
        .await
        .expect("moto");
    let at = emu.endpoint.as_str();
    let id = |action: &str, params: serde_json::Value, pointer: &str| {
        created(at, action, params, pointer)
    };
    let vpc = id(
        "create_vpc",
        serde_json::json!({"CidrBlock": "10.3.0.0/16"}),
        "/Vpc/VpcId",
    );
    let bare_vpc = id(
        "create_vpc",
        serde_json::json!({"CidrBlock": "10.4.0.0/16"}),
        "/Vpc/VpcId",
    );
    let subnet = id(
        "create_subnet",
        serde_json::json!({"VpcId": vpc, "CidrBlock": "10.3.0.0/24"}),
        "/Subnet/SubnetId",
    );
    let sg = id(
        "create_security_group",
        serde_json::json!({"GroupName": "glue", "Description": "glue", "VpcId": vpc}),
        "/GroupId",
    );
    let igw = id(
        "create_internet_gateway",
        serde_json::json!({}),
        "/InternetGateway/InternetGatewayId",
    );
    let rtb = id(
        "create_route_table",
        serde_json::json!({"VpcId": vpc}),
        "/RouteTable/RouteTableId",
    );
    let eip = id(
        "allocate_address",
        serde_json::json!({"Domain": "vpc"}),
        "/AllocationId",
    );
    let nat = id(
        "create_nat_gateway",
        serde_json::json!({"SubnetId": subnet, "AllocationId": eip}),
        "/NatGateway/NatGatewayId",
    );
    tag_at(at, &[&vpc, &igw, &nat], &[("kubeline.io/cluster", "demo")]);
    tag_at(
        at,
        &[&subnet, &rtb],
        &[("kubeline.io/tenant", "payments"), ("Name", "shared")],
    );
    // Another cluster's group, with this cluster's name in another key.
    tag_at(
        at,
        &[&sg],
        &[("kubeline.io/cluster", "search-prod"), ("Name", "demo")],
    );
    let missing = "vpc-0123456789abcdef0".to_owned();
    let asked = vec![
        vpc.clone(),
        bare_vpc,
        subnet.clone(),
        sg,
        igw.clone(),
        rtb.clone(),
        nat.clone(),
        missing,
    ];
    let net = Tagging::new(kubeline_aws::sdk::tagging(&emu.sdk_config().await));
    let got = net
        .tags_of(
            &asked,
            &kubeline_core::policy::giving_tags("demo", Some("payments")),
        )
        .await
        .expect("tags");
    let mut want = vec![vpc, subnet.clone(), igw, rtb, nat];
    want.sort();
    assert_eq!(got.keys().cloned().collect::<Vec<_>>(), want, "{got:?}");
    assert_eq!(got[&subnet]["Name"], "shared", "every tag of the resource");
    // Without a team, the team's resources are not the cluster's.
    let alone = net
        .tags_of(&asked, &kubeline_core::policy::giving_tags("demo", None))
        .await
        .expect("tags");
    assert!(!alone.contains_key(&subnet), "{alone:?}");
    assert_eq!(alone.len(), 3, "{alone:?}");
}
