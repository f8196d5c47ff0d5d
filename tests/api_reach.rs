//! Nodes reach the API by private address, whatever `apiAccessAllowedSourceCIDRs` says (see
//! docs/api-endpoints.md). For every example and the demo, the server of every kubeconfig in
//! every node config is followed through the rendered control-plane stack: its DNS record (or,
//! for a record kubeline does not write, the endpoint's outputs) names a load balancer, which
//! must be internal, listen on the server's port, forward to the controllers on a port their
//! security group admits from the load balancer's group, and whose security group admits the
//! node group's security group by reference (a reference matches private addresses only). The
//! apiserver certificate must name the host. Controllers use 127.0.0.1, and no one else does.
//! Negative controls: the same check on stacks broken on purpose must fail.

use std::collections::BTreeSet;

use kubeline_core::cluster::Cluster;
use kubeline_core::layout::NodeGroup;
use kubeline_core::render::Rendered;
use kubeline_tests::{
    decode_ignition, examples_and_demo, generated_credentials, node_groups, outcome,
    render_example, repo_root, run, tool,
};
use serde_json::{Value, json};

const CONTROL_PLANE: &str = "stack-templates/control-plane.json";

fn stack(rendered: &Rendered, file: &str) -> Value {
    let bytes = rendered
        .files
        .get(file)
        .unwrap_or_else(|| panic!("no {file} among {:?}", rendered.files.keys()));
    serde_json::from_slice(bytes).expect("stack is JSON")
}

/// The stack file of a node group.
fn stack_file(group: NodeGroup<'_>) -> String {
    match group {
        NodeGroup::Controller => CONTROL_PLANE.to_owned(),
        NodeGroup::Etcd => "stack-templates/etcd.json".to_owned(),
        NodeGroup::Pool(p) => format!("stack-templates/node-pool-{p}.json"),
    }
}

fn resources(stack: &Value) -> impl Iterator<Item = (&String, &Value)> {
    stack["Resources"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.iter())
}

fn of_type<'a>(stack: &'a Value, t: &'a str) -> impl Iterator<Item = (&'a String, &'a Value)> {
    resources(stack).filter(move |(_, r)| r["Type"] == t)
}

fn ref_of(v: &Value) -> Option<&str> {
    v.get("Ref").and_then(Value::as_str)
}

/// `{"Fn::GetAtt": [ID, ATTR]}` → ID, when ATTR is `attr`.
fn get_att<'a>(v: &'a Value, attr: &str) -> Option<&'a str> {
    match v.get("Fn::GetAtt")?.as_array()?.as_slice() {
        [id, a] if a == attr => id.as_str(),
        _ => None,
    }
}

fn port(v: &Value) -> Option<u16> {
    match v {
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Whether a security-group rule allows TCP to `p`.
fn covers(rule: &Value, p: u16) -> bool {
    let proto = rule["IpProtocol"].as_str().unwrap_or_default();
    if proto == "-1" {
        return true;
    }
    (proto == "tcp" || proto == "6")
        && port(&rule["FromPort"]).is_some_and(|f| f <= p)
        && port(&rule["ToPort"]).is_some_and(|t| p <= t)
}

/// Every ingress rule of a security group of the stack: inline, and separate
/// `AWS::EC2::SecurityGroupIngress` resources whose GroupId is `group` (a Ref to it, or the
/// same import).
fn ingress<'a>(stack: &'a Value, group: &Value) -> Vec<&'a Value> {
    let mut rules = Vec::new();
    if let Some(id) = ref_of(group)
        && let Some(sg) = stack["Resources"].get(id)
    {
        rules.extend(
            sg["Properties"]["SecurityGroupIngress"]
                .as_array()
                .into_iter()
                .flatten(),
        );
    }
    rules.extend(
        of_type(stack, "AWS::EC2::SecurityGroupIngress")
            .map(|(_, r)| &r["Properties"])
            .filter(|p| &p["GroupId"] == group),
    );
    rules
}

/// The security groups of a node group: those of its launch templates (directly or on an
/// explicit network interface) and of its pre-created network interfaces.
fn node_security_groups(stack: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for (_, lt) in of_type(stack, "AWS::EC2::LaunchTemplate") {
        let data = &lt["Properties"]["LaunchTemplateData"];
        out.extend(
            data["SecurityGroupIds"]
                .as_array()
                .into_iter()
                .flatten()
                .cloned(),
        );
        for ni in data["NetworkInterfaces"].as_array().into_iter().flatten() {
            out.extend(ni["Groups"].as_array().into_iter().flatten().cloned());
        }
    }
    for (_, ni) in of_type(stack, "AWS::EC2::NetworkInterface") {
        out.extend(
            ni["Properties"]["GroupSet"]
                .as_array()
                .into_iter()
                .flatten()
                .cloned(),
        );
    }
    out
}

/// The load balancer a host name resolves to: the alias target of the stack's record of that
/// name or, when kubeline does not write the record, the load balancer whose DNS name the
/// stack outputs next to the endpoint `https://HOST` (where the record must point).
fn load_balancer_of(cp: &Value, host: &str) -> Result<String, String> {
    let records: Vec<&Value> = of_type(cp, "AWS::Route53::RecordSet")
        .map(|(_, r)| &r["Properties"])
        .filter(|p| p["Name"].as_str().map(|n| n.trim_end_matches('.')) == Some(host))
        .collect();
    match records.as_slice() {
        [r] => {
            if r["Type"] != "A" {
                return Err(format!("the record of {host} is not an A alias: {r}"));
            }
            let dns = get_att(&r["AliasTarget"]["DNSName"], "DNSName");
            let zone = r["AliasTarget"]["HostedZoneId"]["Fn::GetAtt"][0].as_str();
            match dns {
                Some(lb) if zone == Some(lb) => Ok(lb.to_owned()),
                _ => Err(format!(
                    "the record of {host} is not an alias of a load balancer: {r}"
                )),
            }
        }
        [] => {
            let outputs = cp["Outputs"].as_object().ok_or("no outputs")?;
            let url = format!("https://{host}");
            let (key, _) = outputs
                .iter()
                .find(|(_, o)| o["Value"] == url.as_str())
                .ok_or_else(|| format!("no record and no endpoint output for {host}"))?;
            let stem = key
                .strip_suffix("Endpoint")
                .ok_or_else(|| format!("output {key} is not an endpoint"))?;
            get_att(
                &outputs
                    .get(&format!("{stem}LoadBalancerDNSName"))
                    .ok_or_else(|| format!("no {stem}LoadBalancerDNSName output"))?["Value"],
                "DNSName",
            )
            .map(str::to_owned)
            .ok_or_else(|| format!("{stem}LoadBalancerDNSName is not a load balancer's DNS name"))
        }
        _ => Err(format!("{} records of {host}", records.len())),
    }
}

/// Checks that `host:p` reaches the controllers through an internal load balancer that admits
/// a member of `node_groups` by security-group reference. Returns the load balancer's
/// logical ID and type.
fn check_reach(
    cp: &Value,
    host: &str,
    p: u16,
    node_groups: &[Value],
) -> Result<(String, String), String> {
    let lb_id = load_balancer_of(cp, host)?;
    let lb = cp["Resources"]
        .get(&lb_id)
        .ok_or_else(|| format!("{host}: no resource {lb_id}"))?;
    let props = &lb["Properties"];
    let kind = lb["Type"].as_str().unwrap_or_default().to_owned();
    if props["Scheme"] != "internal" {
        return Err(format!(
            "{host}: {lb_id} is not internal (Scheme {})",
            props["Scheme"]
        ));
    }

    // The controllers: the stack's Auto Scaling group and its launch template's groups.
    let (asg_id, asg) = of_type(cp, "AWS::AutoScaling::AutoScalingGroup")
        .next()
        .ok_or("no controller Auto Scaling group")?;
    let lt = ref_of(&asg["Properties"]["LaunchTemplate"]["LaunchTemplateId"])
        .and_then(|id| cp["Resources"].get(id))
        .ok_or_else(|| format!("{asg_id}: no launch template"))?;
    let controller_groups: Vec<Value> =
        node_security_groups(&json!({"Resources": {"LaunchTemplate": lt}}));
    let attached = |key: &str, id: &str| {
        asg["Properties"][key]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| ref_of(v) == Some(id)))
    };

    // The listener on the port, and the controllers' port it forwards to.
    let instance_port = match kind.as_str() {
        "AWS::ElasticLoadBalancingV2::LoadBalancer" => {
            if props["Type"] != "network" {
                return Err(format!("{host}: {lb_id} is not a network load balancer"));
            }
            let listener = of_type(cp, "AWS::ElasticLoadBalancingV2::Listener")
                .map(|(_, l)| &l["Properties"])
                .find(|l| {
                    ref_of(&l["LoadBalancerArn"]) == Some(lb_id.as_str())
                        && port(&l["Port"]) == Some(p)
                })
                .ok_or_else(|| format!("{host}: {lb_id} has no listener on {p}"))?;
            if listener["Protocol"] != "TCP" {
                return Err(format!(
                    "{host}: the listener on {p} is not TCP pass-through"
                ));
            }
            let tg_id = listener["DefaultActions"]
                .as_array()
                .and_then(|a| a.iter().find(|x| x["Type"] == "forward"))
                .and_then(|x| ref_of(&x["TargetGroupArn"]))
                .ok_or_else(|| format!("{host}: the listener on {p} forwards nowhere"))?;
            let tg = &cp["Resources"][tg_id]["Properties"];
            if tg["TargetType"] != "instance" || tg["Protocol"] != "TCP" {
                return Err(format!(
                    "{host}: {tg_id} is not a TCP instance target group"
                ));
            }
            if !attached("TargetGroupARNs", tg_id) {
                return Err(format!(
                    "{host}: {tg_id} is not the controllers' target group"
                ));
            }
            port(&tg["Port"]).ok_or_else(|| format!("{host}: {tg_id} has no port"))?
        }
        "AWS::ElasticLoadBalancing::LoadBalancer" => {
            let l = props["Listeners"]
                .as_array()
                .and_then(|a| a.iter().find(|l| port(&l["LoadBalancerPort"]) == Some(p)))
                .ok_or_else(|| format!("{host}: {lb_id} has no listener on {p}"))?;
            if l["Protocol"] != "TCP" {
                return Err(format!(
                    "{host}: the listener on {p} is not TCP pass-through"
                ));
            }
            if !attached("LoadBalancerNames", &lb_id) {
                return Err(format!(
                    "{host}: {lb_id} is not the controllers' load balancer"
                ));
            }
            port(&l["InstancePort"]).ok_or_else(|| format!("{host}: no instance port"))?
        }
        other => return Err(format!("{host}: {lb_id} is a {other}")),
    };

    // Its security group admits the node group by reference on the port, may send to the
    // controllers on their port, and the controllers admit it there.
    let lb_groups: Vec<&Value> = props["SecurityGroups"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    if lb_groups.is_empty() {
        return Err(format!("{host}: {lb_id} has no security group"));
    }
    let admits_nodes = lb_groups.iter().any(|g| {
        ingress(cp, g).iter().any(|r| {
            covers(r, p)
                && node_groups
                    .iter()
                    .any(|n| r.get("SourceSecurityGroupId") == Some(n))
        })
    });
    if !admits_nodes {
        return Err(format!(
            "{host}: the security groups of {lb_id} do not admit {node_groups:?} on {p}"
        ));
    }
    let reaches_controllers = lb_groups.iter().any(|g| {
        let sends = ref_of(g)
            .and_then(|id| cp["Resources"][id]["Properties"]["SecurityGroupEgress"].as_array())
            .is_none_or(|egress| {
                egress.iter().any(|r| {
                    covers(r, instance_port)
                        && (r["CidrIp"] == "0.0.0.0/0"
                            || controller_groups
                                .iter()
                                .any(|c| r.get("DestinationSecurityGroupId") == Some(c)))
                })
            });
        let admitted = controller_groups.iter().any(|c| {
            ingress(cp, c)
                .iter()
                .any(|r| covers(r, instance_port) && r.get("SourceSecurityGroupId") == Some(g))
        });
        sends && admitted
    });
    if !reaches_controllers {
        return Err(format!(
            "{host}: the controllers do not admit {lb_id}'s security group on {instance_port}"
        ));
    }
    Ok((lb_id, kind))
}

/// The servers of every kubeconfig (YAML with `clusters[].cluster.server`) of a node config.
fn kubeconfig_servers(rendered: &Rendered, group: NodeGroup<'_>) -> Vec<(String, String)> {
    let name = format!("userdata/{}.json", group.file_stem());
    let (files, _, _) = decode_ignition(&rendered.files[&name]);
    let mut out = Vec::new();
    for f in &files {
        let Some(text) = f.text.as_deref() else {
            continue;
        };
        let Ok(v) = serde_saphyr::from_str::<Value>(text) else {
            continue;
        };
        for c in v["clusters"].as_array().into_iter().flatten() {
            if let Some(s) = c["cluster"]["server"].as_str() {
                out.push((f.path.clone(), s.to_owned()));
            }
        }
    }
    out
}

/// `https://HOST[:PORT]` → (HOST, PORT).
fn host_port(server: &str) -> (String, u16) {
    let rest = server
        .strip_prefix("https://")
        .unwrap_or_else(|| panic!("{server} is not https"));
    let rest = rest.trim_end_matches('/');
    match rest.rsplit_once(':') {
        Some((h, p)) => (h.to_owned(), p.parse().expect("port")),
        None => (rest.to_owned(), 443),
    }
}

/// The DNS names of the apiserver certificate of a freshly generated set, read by openssl.
fn apiserver_dns_names(c: &Cluster) -> BTreeSet<String> {
    let dir = tempfile::tempdir().expect("tmp");
    let files = generated_credentials(c);
    std::fs::write(dir.path().join("apiserver.pem"), &files["apiserver.pem"]).expect("write");
    let (ok, text) = outcome(&run(std::process::Command::new(tool("openssl"))
        .current_dir(dir.path())
        .args([
            "x509",
            "-in",
            "apiserver.pem",
            "-noout",
            "-ext",
            "subjectAltName",
        ])));
    assert!(ok, "openssl: {text}");
    text.split([',', '\n'])
        .filter_map(|s| s.trim().strip_prefix("DNS:"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_node_kubeconfig_names_an_internal_endpoint_that_admits_its_nodes() {
    let mut checked = 0;
    let mut kinds = BTreeSet::new();
    let mut added = 0;
    let mut pools = 0;
    for (example, path) in examples_and_demo() {
        let (cluster, rendered) = render_example(&path).expect("render");
        pools += cluster.node_pools.len();
        let cp = stack(&rendered, CONTROL_PLANE);
        let sans = apiserver_dns_names(&cluster);
        if cluster.api_endpoints.iter().any(|e| e.added_for_nodes) {
            added += 1;
        }
        for group in node_groups(&cluster) {
            let servers = kubeconfig_servers(&rendered, group);
            let at = format!("{example}/{}", group.file_stem());
            if matches!(group, NodeGroup::Controller | NodeGroup::Pool(_)) {
                assert!(!servers.is_empty(), "{at}: no kubeconfig");
            }
            let node_sgs = node_security_groups(&stack(&rendered, &stack_file(group)));
            for (file, server) in servers {
                let (host, p) = host_port(&server);
                if group == NodeGroup::Controller {
                    assert_eq!(
                        host, "127.0.0.1",
                        "{at}:{file}: controllers use their own API server"
                    );
                    continue;
                }
                assert_ne!(
                    host, "127.0.0.1",
                    "{at}:{file}: only controllers use 127.0.0.1"
                );
                assert!(!node_sgs.is_empty(), "{at}: no security group");
                let (lb, kind) = check_reach(&cp, &host, p, &node_sgs)
                    .unwrap_or_else(|e| panic!("{at}:{file}: {e}"));
                assert!(
                    sans.contains(&host),
                    "{at}:{file}: {host} is not in the apiserver certificate {sans:?}"
                );
                // The endpoint is a private one of the cluster: the file's, or kubeline's.
                let e = cluster
                    .api_endpoints
                    .iter()
                    .find(|e| e.dns_name.as_str() == host)
                    .unwrap_or_else(|| panic!("{at}: {host} is no endpoint"));
                assert!(e.private, "{at}: {host}");
                assert_eq!(lb, format!("{}LoadBalancer", e.logical_id), "{at}");
                kinds.insert(kind);
                checked += 1;
            }
        }
        // Worker configs name no other endpoint.
        let node_host = cluster
            .api_endpoints
            .iter()
            .find(|e| e.private)
            .map(|e| e.dns_name.to_string());
        for group in node_groups(&cluster)
            .into_iter()
            .filter(|g| *g != NodeGroup::Controller)
        {
            let (files, _, _) =
                decode_ignition(&rendered.files[&format!("userdata/{}.json", group.file_stem())]);
            for e in &cluster.api_endpoints {
                if Some(e.dns_name.to_string()) == node_host {
                    continue;
                }
                let url = format!("https://{}", e.dns_name);
                for f in &files {
                    let text = f.text.as_deref().unwrap_or_default();
                    let named = text.match_indices(&url).any(|(i, _)| {
                        !text[i + url.len()..].starts_with(|c: char| {
                            c.is_ascii_alphanumeric() || c == '.' || c == '-'
                        })
                    });
                    assert!(
                        !named,
                        "{example}/{}:{}: names {url}",
                        group.file_stem(),
                        f.path
                    );
                }
            }
        }
    }
    assert!(
        pools >= 7 && checked >= pools,
        "checked {checked} kubeconfigs of {pools} pools"
    );
    assert!(added >= 4, "only {added} examples get the nodes endpoint");
    assert_eq!(
        kinds,
        BTreeSet::from([
            "AWS::ElasticLoadBalancing::LoadBalancer".to_owned(),
            "AWS::ElasticLoadBalancingV2::LoadBalancer".to_owned(),
        ]),
        "both load balancer types are covered"
    );
}

/// One way of breaking a control-plane stack.
type Breakage = Box<dyn Fn(&mut Value)>;

/// The checker rejects stacks broken on purpose, each in one way.
#[test]
fn the_check_fails_on_broken_stacks() {
    for (example, public_lb) in [
        ("ha", "PublicLoadBalancer"),
        ("spot-pool", "DefaultLoadBalancer"),
    ] {
        let (cluster, rendered) =
            render_example(&repo_root().join(format!("examples/{example}/cluster.yaml")))
                .expect("render");
        let cp = stack(&rendered, CONTROL_PLANE);
        let pool = &cluster.node_pools[0].name;
        let workers = node_security_groups(&stack(&rendered, &stack_file(NodeGroup::Pool(pool))));
        let nodes = cluster.api_endpoints.last().expect("endpoints");
        assert!(nodes.added_for_nodes, "{example}");
        let host = nodes.dns_name.to_string();
        check_reach(&cp, &host, 443, &workers).unwrap_or_else(|e| panic!("{example}: {e}"));

        let broken: Vec<(&str, Breakage)> = vec![
            (
                "the record points at the internet-facing load balancer",
                Box::new(move |s: &mut Value| {
                    let alias = &mut s["Resources"]["NodesRecordSet"]["Properties"]["AliasTarget"];
                    alias["DNSName"]["Fn::GetAtt"][0] = json!(public_lb);
                    alias["HostedZoneId"]["Fn::GetAtt"][0] = json!(public_lb);
                }),
            ),
            (
                "the load balancer is internet-facing",
                Box::new(|s: &mut Value| {
                    s["Resources"]["NodesLoadBalancer"]["Properties"]["Scheme"] =
                        json!("internet-facing");
                }),
            ),
            (
                "the load balancer's security group lacks the workers",
                Box::new(|s: &mut Value| {
                    let rules = s["Resources"]["NodesLoadBalancerSecurityGroup"]["Properties"]
                        ["SecurityGroupIngress"]
                        .as_array_mut()
                        .expect("rules");
                    rules.retain(|r| r["Description"] != "Workers");
                }),
            ),
            (
                "the workers are admitted by CIDR only",
                Box::new(|s: &mut Value| {
                    let rules = s["Resources"]["NodesLoadBalancerSecurityGroup"]["Properties"]
                        ["SecurityGroupIngress"]
                        .as_array_mut()
                        .expect("rules");
                    for r in rules.iter_mut().filter(|r| r["Description"] == "Workers") {
                        let m = r.as_object_mut().expect("rule");
                        m.remove("SourceSecurityGroupId");
                        m.insert("CidrIp".into(), json!("10.0.0.0/16"));
                    }
                }),
            ),
            (
                "no listener on 443",
                Box::new(|s: &mut Value| {
                    let r = &mut s["Resources"];
                    if r.get("NodesListener").is_some() {
                        r["NodesListener"]["Properties"]["Port"] = json!(6443);
                    } else {
                        r["NodesLoadBalancer"]["Properties"]["Listeners"][0]["LoadBalancerPort"] =
                            json!("6443");
                    }
                }),
            ),
            (
                "the controllers do not admit the load balancer",
                Box::new(|s: &mut Value| {
                    s["Resources"]
                        .as_object_mut()
                        .expect("resources")
                        .remove("NodesControllerIngress");
                }),
            ),
            (
                "the controllers are not behind it",
                Box::new(|s: &mut Value| {
                    let props = &mut s["Resources"]["AutoScalingGroup"]["Properties"];
                    for key in ["TargetGroupARNs", "LoadBalancerNames"] {
                        if let Some(a) = props[key].as_array_mut() {
                            a.retain(|v| !ref_of(v).is_some_and(|id| id.starts_with("Nodes")));
                        }
                    }
                }),
            ),
        ];
        for (what, edit) in broken {
            let mut s = cp.clone();
            edit(&mut s);
            assert_ne!(s, cp, "{example}: {what}: the edit changed nothing");
            let r = check_reach(&s, &host, 443, &workers);
            assert!(r.is_err(), "{example}: {what}: accepted {r:?}");
        }
        // A host without any record or output is refused too.
        assert!(check_reach(&cp, "nowhere.example.com", 443, &workers).is_err());
        // The public endpoint is refused: it is internet-facing.
        let public = cluster.api_endpoints[0].dns_name.to_string();
        let e = check_reach(&cp, &public, 443, &workers).expect_err(example);
        assert!(e.contains("not internal"), "{example}: {e}");
    }
}
