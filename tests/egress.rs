//! Egress of every node group, read from the rendered stacks: each group's subnets are walked
//! to their route table and its default route (0.0.0.0/0), which must reach an internet
//! gateway or a NAT gateway. A group behind an internet gateway must get a public address:
//! every node group is an Auto Scaling group (each etcd member a group of one), and its
//! instances get one from the launch template's primary interface (`AssociatePublicIpAddress`)
//! or, without one, from the subnet's MapPublicIpOnLaunch. See docs/egress.md.
//!
//! The etcd data-volume script is run for real against a fake sysfs and /dev: it must format
//! the EBS data volume and never an instance-store disk.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use kubeline_core::cluster::Cluster;
use kubeline_tests::{decode_ignition, examples, render_example, run, stacks_of};
use serde_json::Value;

/// An example's stacks by file stem (`network`, `etcd`, `control-plane`, `node-pool-NAME`).
type Stacks = BTreeMap<String, Value>;

/// Where a subnet's default route leads.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Path0 {
    /// An internet gateway (created, or the existing one cluster.yaml names).
    Igw,
    /// A NAT gateway (created in a subnet routed to an internet gateway, or the existing one
    /// cluster.yaml names).
    Nat,
    /// A subnet or route table that exists outside kubeline: its path is the user's.
    User(String),
}

/// A subnet reference a node group uses, resolved through the network stack's exports.
enum SubnetRef {
    /// A subnet the network stack creates: its logical ID.
    Created(String),
    /// An existing subnet ID.
    Existing(String),
}

fn ref_of(v: &Value) -> Option<&str> {
    v.get("Ref").and_then(Value::as_str)
}

fn resources(stack: &Value) -> impl Iterator<Item = (&String, &Value)> {
    stack["Resources"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.iter())
}

fn resolve_subnet(network: &Value, v: &Value) -> Result<SubnetRef, String> {
    let export = v
        .get("Fn::ImportValue")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("subnet {v} is not an import of the network stack"))?;
    let out = network["Outputs"]
        .as_object()
        .and_then(|o| {
            o.values()
                .find(|o| o["Export"]["Name"].as_str() == Some(export))
        })
        .ok_or_else(|| format!("the network stack exports no {export}"))?;
    match (ref_of(&out["Value"]), out["Value"].as_str()) {
        (Some(logical), _) => Ok(SubnetRef::Created(logical.to_owned())),
        (None, Some(id)) => Ok(SubnetRef::Existing(id.to_owned())),
        _ => Err(format!("export {export} is neither a Ref nor an ID")),
    }
}

/// The cluster.yaml name of a subnet, for messages.
fn subnet_name(cluster: &Cluster, s: &SubnetRef) -> String {
    let found = cluster.subnets.iter().find(|c| match s {
        SubnetRef::Created(l) => &c.logical_id == l && c.existing_id.is_none(),
        SubnetRef::Existing(id) => c.existing_id.as_ref().and_then(|e| e.id()) == Some(id),
    });
    match (found, s) {
        (Some(c), SubnetRef::Created(l)) => format!("{} ({l})", c.name),
        (Some(c), SubnetRef::Existing(id)) => format!("{} ({id})", c.name),
        (None, SubnetRef::Created(l)) => l.clone(),
        (None, SubnetRef::Existing(id)) => id.clone(),
    }
}

/// Walks a subnet to its default route's target.
fn walk(cluster: &Cluster, network: &Value, s: &SubnetRef, depth: u8) -> Result<Path0, String> {
    let logical = match s {
        SubnetRef::Existing(id) => {
            // An existing subnet: its route table is not in any template, so the path is the
            // user's. What the test can and does check is that cluster.yaml declares this very
            // subnet (validation takes existing subnets as declared and does not look further).
            let declared = cluster
                .subnets
                .iter()
                .find(|c| c.existing_id.as_ref().and_then(|e| e.id()) == Some(id))
                .ok_or_else(|| format!("existing subnet {id} is not declared in cluster.yaml"))?;
            return Ok(Path0::User(format!(
                "existing subnet {} ({id}), declared {}",
                declared.name,
                if declared.private {
                    "private"
                } else {
                    "public"
                }
            )));
        }
        SubnetRef::Created(l) => l.as_str(),
    };
    let res = &network["Resources"];
    if res[logical]["Type"] != "AWS::EC2::Subnet" {
        return Err(format!("{logical} is not a subnet of the network stack"));
    }
    let rt = resources(network)
        .find(|(_, r)| {
            r["Type"] == "AWS::EC2::SubnetRouteTableAssociation"
                && ref_of(&r["Properties"]["SubnetId"]) == Some(logical)
        })
        .map(|(_, r)| r["Properties"]["RouteTableId"].clone())
        .ok_or_else(|| format!("no route table association for {logical}"))?;
    let rt = match (ref_of(&rt), rt.as_str()) {
        (Some(l), _) => l.to_owned(),
        (None, Some(id)) => {
            // An existing route table (routeTableId / routeTable.id): the user's path, which
            // cluster.yaml must name.
            let declared = cluster.vpc.route_table_id.as_deref() == Some(id)
                || cluster
                    .subnets
                    .iter()
                    .any(|c| c.route_table_id.as_ref().and_then(|e| e.id()) == Some(id));
            return if declared {
                Ok(Path0::User(format!("existing route table {id}")))
            } else {
                Err(format!(
                    "{logical} uses route table {id}, which cluster.yaml does not name"
                ))
            };
        }
        _ => return Err(format!("{logical}: route table {rt} unreadable")),
    };
    let route = resources(network)
        .find(|(_, r)| {
            r["Type"] == "AWS::EC2::Route"
                && ref_of(&r["Properties"]["RouteTableId"]) == Some(rt.as_str())
                && r["Properties"]["DestinationCidrBlock"] == "0.0.0.0/0"
        })
        .map(|(_, r)| &r["Properties"])
        .ok_or_else(|| format!("route table {rt} of {logical} has no default route"))?;
    if let Some(gw) = route.get("GatewayId") {
        return match (ref_of(gw), gw.as_str()) {
            (Some(l), _) if res[l]["Type"] == "AWS::EC2::InternetGateway" => Ok(Path0::Igw),
            (None, Some(id))
                if cluster
                    .vpc
                    .internet_gateway_id
                    .as_ref()
                    .and_then(|e| e.id())
                    == Some(id) =>
            {
                Ok(Path0::Igw)
            }
            _ => Err(format!(
                "default route of {rt} goes to {gw}, not an internet gateway"
            )),
        };
    }
    if let Some(nat) = route.get("NatGatewayId") {
        return match (ref_of(nat), nat.as_str()) {
            (Some(l), _) if res[l]["Type"] == "AWS::EC2::NatGateway" => {
                // A created NAT gateway needs an Elastic IP and a subnet routed to an IGW.
                let p = &res[l]["Properties"];
                let eip = p["AllocationId"]["Fn::GetAtt"][0].as_str().unwrap_or("");
                // Or the pre-allocated Elastic IP cluster.yaml names for the zone
                // (`natGateway.eipAllocationId`).
                let declared = p["AllocationId"].as_str().is_some_and(|id| {
                    cluster
                        .subnets
                        .iter()
                        .any(|s| s.nat_eip_allocation_id.as_deref() == Some(id))
                });
                if !declared && res[eip]["Type"] != "AWS::EC2::EIP" {
                    return Err(format!("NAT gateway {l} has no Elastic IP"));
                }
                let sub = resolve_local_subnet(&p["SubnetId"])
                    .ok_or_else(|| format!("NAT gateway {l}: subnet unreadable"))?;
                if depth > 0 {
                    return Err(format!("NAT gateway {l} routes through another NAT"));
                }
                match walk(cluster, network, &sub, depth + 1)? {
                    Path0::Igw | Path0::User(_) => Ok(Path0::Nat),
                    Path0::Nat => Err(format!("NAT gateway {l} is in a private subnet")),
                }
            }
            (None, Some(id))
                if cluster
                    .subnets
                    .iter()
                    .any(|c| c.nat_gateway_id.as_ref().and_then(|e| e.id()) == Some(id)) =>
            {
                Ok(Path0::Nat)
            }
            _ => Err(format!(
                "default route of {rt} goes to {nat}, not a NAT gateway"
            )),
        };
    }
    Err(format!(
        "default route of {rt} ({logical}) has neither an internet nor a NAT gateway"
    ))
}

/// A subnet in the network stack itself: a Ref (created) or an ID (existing).
fn resolve_local_subnet(v: &Value) -> Option<SubnetRef> {
    match (ref_of(v), v.as_str()) {
        (Some(l), _) => Some(SubnetRef::Created(l.to_owned())),
        (None, Some(id)) => Some(SubnetRef::Existing(id.to_owned())),
        _ => None,
    }
}

/// One node group's subnets and its launch template's data (how it gets a public address).
struct Group {
    name: String,
    subnets: Vec<Value>,
    launch_template: Value,
}

fn asg_launch_template<'a>(stack: &'a Value, asg: &Value) -> Option<&'a Value> {
    let p = &asg["Properties"];
    let spec = if p.get("LaunchTemplate").is_some() {
        &p["LaunchTemplate"]
    } else {
        &p["MixedInstancesPolicy"]["LaunchTemplate"]["LaunchTemplateSpecification"]
    };
    let l = ref_of(&spec["LaunchTemplateId"])?;
    let lt = &stack["Resources"][l];
    (lt["Type"] == "AWS::EC2::LaunchTemplate").then(|| &lt["Properties"]["LaunchTemplateData"])
}

fn groups(cluster: &Cluster, stacks: &Stacks) -> Result<Vec<Group>, String> {
    let mut out = Vec::new();
    let mut asg_stacks = vec![("controllers".to_owned(), "control-plane".to_owned())];
    for p in &cluster.node_pools {
        asg_stacks.push((
            format!("node pool {}", p.name),
            format!("node-pool-{}", p.name),
        ));
    }
    for (name, stem) in asg_stacks {
        let stack = stacks
            .get(&stem)
            .ok_or_else(|| format!("{name}: no {stem} stack"))?;
        let asgs: Vec<(&String, &Value)> = resources(stack)
            .filter(|(_, r)| r["Type"] == "AWS::AutoScaling::AutoScalingGroup")
            .collect();
        if asgs.len() != 1 {
            return Err(format!(
                "{name}: {} auto scaling groups in {stem}",
                asgs.len()
            ));
        }
        out.push(group(name, stack, asgs[0].1)?);
    }
    let etcd = stacks.get("etcd").ok_or("no etcd stack")?;
    let mut members = 0;
    for (l, r) in resources(etcd).filter(|(_, r)| r["Type"] == "AWS::AutoScaling::AutoScalingGroup")
    {
        out.push(group(format!("etcd member {l}"), etcd, r)?);
        members += 1;
    }
    if members != cluster.etcd.members.len() {
        return Err(format!(
            "{members} etcd member groups for {} members",
            cluster.etcd.members.len()
        ));
    }
    Ok(out)
}

fn group(name: String, stack: &Value, asg: &Value) -> Result<Group, String> {
    let lt = asg_launch_template(stack, asg)
        .ok_or_else(|| format!("{name}: the ASG has no launch template of its stack"))?;
    Ok(Group {
        name,
        subnets: asg["Properties"]["VPCZoneIdentifier"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
        launch_template: lt.clone(),
    })
}

/// `AssociatePublicIpAddress` of the launch template's primary interface, when it sets one.
fn primary_public_address(lt: &Value) -> Option<bool> {
    lt["NetworkInterfaces"]
        .as_array()?
        .iter()
        .find(|n| n["DeviceIndex"] == 0)?["AssociatePublicIpAddress"]
        .as_bool()
}

/// Whether a group in an internet-routed subnet gets a public address; the reason if not.
fn public_address(network: &Value, lt: &Value, subnet: &SubnetRef) -> Result<(), String> {
    match primary_public_address(lt) {
        Some(true) => return Ok(()),
        Some(false) => {
            return Err(
                "the launch template's network interface disables the public address".into(),
            );
        }
        None => {}
    }
    if let SubnetRef::Created(l) = subnet
        && network["Resources"][l]["Properties"]["MapPublicIpOnLaunch"] != true
    {
        return Err(format!("subnet {l} does not set MapPublicIpOnLaunch"));
    }
    Ok(())
}

/// Every group's egress: the checked lines, and the failures (naming example, group, subnet).
fn check(example: &str, cluster: &Cluster, stacks: &Stacks) -> (Vec<String>, Vec<String>) {
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    let Some(network) = stacks.get("network") else {
        return (ok, vec![format!("{example}: no network stack")]);
    };
    let groups = match groups(cluster, stacks) {
        Ok(g) => g,
        Err(e) => return (ok, vec![format!("{example}: {e}")]),
    };
    for g in &groups {
        if g.subnets.is_empty() {
            failed.push(format!("{example}: {}: no subnets", g.name));
        }
        for v in &g.subnets {
            let s = match resolve_subnet(network, v) {
                Ok(s) => s,
                Err(e) => {
                    failed.push(format!("{example}: {}: {e}", g.name));
                    continue;
                }
            };
            let sname = subnet_name(cluster, &s);
            let line = |what: &str| format!("{example}: {} in subnet {sname}: {what}", g.name);
            match walk(cluster, network, &s, 0) {
                Err(e) => failed.push(line(&format!("no path to the internet: {e}"))),
                Ok(Path0::Igw) => match public_address(network, &g.launch_template, &s) {
                    Ok(()) => ok.push(line("internet gateway, public address")),
                    Err(e) => failed.push(line(&format!(
                        "routed to an internet gateway without a public address: {e}"
                    ))),
                },
                Ok(Path0::Nat) => ok.push(line("NAT gateway")),
                Ok(Path0::User(why)) => {
                    // The path is the user's; what kubeline controls must match the declared
                    // kind: a launch template that sets the public address sets none for a
                    // declared-private subnet and one for a declared-public subnet.
                    let declared_private = cluster
                        .subnets
                        .iter()
                        .find(|c| match &s {
                            SubnetRef::Existing(id) => {
                                c.existing_id.as_ref().and_then(|e| e.id()) == Some(id)
                            }
                            SubnetRef::Created(l) => &c.logical_id == l,
                        })
                        .is_some_and(|c| c.private);
                    if let Some(has) = primary_public_address(&g.launch_template)
                        && has == declared_private
                    {
                        failed.push(line(&format!(
                            "{why}: public address {} for a {} subnet",
                            if has { "present" } else { "missing" },
                            if declared_private {
                                "private"
                            } else {
                                "public"
                            }
                        )));
                        continue;
                    }
                    ok.push(line(&format!("the user's path ({why})")));
                }
            }
        }
    }
    (ok, failed)
}

/// Every example, and the sample cluster of `kubeline local demo` (examples/cluster.yaml).
fn rendered_examples() -> Vec<(String, Cluster, Stacks)> {
    kubeline_tests::examples_and_demo()
        .into_iter()
        .map(|(name, path)| {
            let (cluster, rendered) = render_example(&path).expect("example renders");
            let stacks = stacks_of(&rendered);
            (name, cluster, stacks)
        })
        .collect()
}

#[test]
fn every_node_group_of_every_example_reaches_the_internet() {
    let mut all = Vec::new();
    let mut failures = Vec::new();
    for (name, cluster, stacks) in rendered_examples() {
        let (ok, failed) = check(&name, &cluster, &stacks);
        all.extend(ok);
        failures.extend(failed);
    }
    assert!(
        failures.is_empty(),
        "egress failures:\n{}",
        failures.join("\n")
    );
    let text = all.join("\n");
    println!("{text}");
    // Every kind of path is exercised: public etcd members (minimal), NAT (ha), the user's own
    // subnets (existing-vpc).
    for want in [
        "minimal: etcd member Member0AutoScalingGroup in subnet",
        "ha: controllers in subnet private-a",
        "existing-vpc: etcd member",
        "demo: etcd member Member0AutoScalingGroup in subnet",
    ] {
        assert!(text.contains(want), "{want:?} not checked:\n{text}");
    }
    assert!(text.contains("internet gateway, public address"), "{text}");
    assert!(text.contains("NAT gateway"), "{text}");
    assert!(text.contains("the user's path (existing subnet"), "{text}");
    let minimal_etcd = all
        .iter()
        .filter(|l| {
            l.starts_with("minimal: etcd member") && l.ends_with("internet gateway, public address")
        })
        .count();
    assert!(minimal_etcd >= 1, "{text}");
}

fn example(name: &str) -> (String, Cluster, Stacks) {
    rendered_examples()
        .into_iter()
        .find(|e| e.0 == name)
        .unwrap_or_else(|| panic!("no example {name}"))
}

#[test]
fn a_member_without_a_public_address_is_reported() {
    let (name, cluster, mut stacks) = example("minimal");
    assert!(check(&name, &cluster, &stacks).1.is_empty());
    let lt = &mut stacks.get_mut("etcd").expect("etcd")["Resources"]["Member0LaunchTemplate"]["Properties"]
        ["LaunchTemplateData"]["NetworkInterfaces"][0];
    assert_eq!(lt["AssociatePublicIpAddress"], true, "{lt}");
    lt["AssociatePublicIpAddress"] = Value::Bool(false);
    let failed = check(&name, &cluster, &stacks).1.join("\n");
    assert!(
        failed.contains("minimal: etcd member Member0AutoScalingGroup in subnet")
            && failed.contains("without a public address")
            && failed.contains("disables the public address"),
        "{failed}"
    );
}

#[test]
fn a_public_subnet_without_map_public_ip_is_reported() {
    let (name, cluster, mut stacks) = example("minimal");
    let network = stacks.get_mut("network").expect("network");
    let sub = cluster.subnets[cluster.controller.subnets[0]]
        .logical_id
        .clone();
    network["Resources"][&sub]["Properties"]["MapPublicIpOnLaunch"] = Value::Bool(false);
    let failed = check(&name, &cluster, &stacks).1.join("\n");
    assert!(
        failed.contains("minimal: controllers in subnet")
            && failed.contains("does not set MapPublicIpOnLaunch"),
        "{failed}"
    );
}

#[test]
fn a_default_route_to_nowhere_is_reported() {
    let (name, cluster, mut stacks) = example("ha");
    assert!(check(&name, &cluster, &stacks).1.is_empty());
    let network = stacks.get_mut("network").expect("network");
    let res = network["Resources"].as_object_mut().expect("resources");
    let mut broken = 0;
    for r in res.values_mut() {
        if r["Type"] == "AWS::EC2::Route"
            && r["Properties"]
                .as_object_mut()
                .and_then(|p| p.remove("NatGatewayId"))
                .is_some()
        {
            broken += 1;
        }
    }
    assert!(broken > 0, "ha has no NAT routes");
    let failed = check(&name, &cluster, &stacks).1.join("\n");
    for group in [
        "controllers",
        "node pool general",
        "etcd member Member0AutoScalingGroup",
    ] {
        assert!(
            failed.contains(&format!("ha: {group} in subnet private-"))
                && failed.contains("no path to the internet"),
            "{group} not reported:\n{failed}"
        );
    }
}

// ---- the etcd data-volume script ----

/// The format-etcd-data script as the etcd node config of an example writes it.
fn format_script() -> String {
    let (_, path) = examples()
        .into_iter()
        .find(|e| e.0 == "minimal")
        .expect("minimal example");
    let (_, rendered) = render_example(&path).expect("render");
    let (files, _, _) = decode_ignition(&rendered.files["userdata/etcd.json"]);
    files
        .into_iter()
        .find(|f| f.path.ends_with("/format-etcd-data"))
        .and_then(|f| f.text)
        .expect("the etcd node config writes format-etcd-data")
}

/// A fake machine: sysfs, /dev and shims for the tools the script runs.
struct Machine {
    dir: tempfile::TempDir,
}

impl Machine {
    /// A Nitro instance with its partitioned EBS root disk (nvme0n1) and the rendered script.
    fn nitro() -> (Machine, PathBuf) {
        let m = Machine::new();
        let script = m.path("format-etcd-data");
        std::fs::write(&script, format_script()).expect("write");
        m.nvme(
            "nvme0n1",
            EBS,
            "vol0123456789abcdef0",
            &["nvme0n1p1", "nvme0n1p9"],
        );
        (m, script)
    }

    fn new() -> Machine {
        let dir = tempfile::tempdir().expect("tmp");
        let m = Machine { dir };
        for d in ["sys/block", "dev/disk/by-label", "bin", "state"] {
            std::fs::create_dir_all(m.path(d)).expect("mkdir");
        }
        // The root file system is on nvme0n1 (partition 9; /usr is on partition 3).
        m.shim("findmnt", "echo /dev/nvme0n1p9\n");
        m.shim("lsblk", "printf 'nvme0n1p9 part\\nnvme0n1 disk\\n'\n");
        // blkid: a device has a file system once mkfs.ext4 made one (state/fs-NAME holds
        // its label).
        m.shim(
            "blkid",
            "dev=\"${!#}\"\nf=\"$FAKE_STATE/fs-${dev##*/}\"\n[[ -e \"$f\" ]] || exit 2\nif [[ \"$*\" == *LABEL* ]]; then cat \"$f\"; else echo \"$dev: TYPE=ext4\"; fi\n",
        );
        m.shim(
            "mkfs.ext4",
            "echo \"$*\" >> \"$FAKE_STATE/mkfs.log\"\ndev=\"${!#}\"\necho etcd-data > \"$FAKE_STATE/fs-${dev##*/}\"\n",
        );
        m.shim("udevadm", "exit 0\n");
        m
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn shim(&self, name: &str, body: &str) {
        let p = self.path(&format!("bin/{name}"));
        std::fs::write(&p, format!("#!/bin/bash\n{body}")).expect("write");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    /// An NVMe disk as sysfs shows it: the model and serial padded as the controller reports
    /// them, and a /dev node (a plain file: the script only looks for its presence).
    fn nvme(&self, name: &str, model: &str, serial: &str, partitions: &[&str]) {
        let sys = self.path(&format!("sys/block/{name}"));
        std::fs::create_dir_all(sys.join("device")).expect("mkdir");
        std::fs::write(sys.join("device/model"), format!("{model:<40}\n")).expect("write");
        std::fs::write(sys.join("device/serial"), format!("{serial:<20}\n")).expect("write");
        for p in partitions {
            std::fs::create_dir_all(sys.join(p)).expect("mkdir");
        }
        std::fs::write(self.path(&format!("dev/{name}")), "").expect("write");
    }

    fn run(&self, script: &Path) -> (bool, String) {
        let path = kubeline_tests::path_with(&self.path("bin"));
        let out = run(Command::new("bash")
            .arg(script)
            .env("PATH", path)
            .env("FAKE_STATE", self.path("state"))
            .env("KUBELINE_SYSFS", self.path("sys"))
            .env("KUBELINE_DEV", self.path("dev"))
            .env("KUBELINE_WAIT_TRIES", "3")
            .env("KUBELINE_WAIT_SECONDS", "0"));
        kubeline_tests::outcome(&out)
    }

    fn formatted(&self) -> String {
        std::fs::read_to_string(self.path("state/mkfs.log")).unwrap_or_default()
    }
}

const EBS: &str = "Amazon Elastic Block Store";
const INSTANCE_STORE: &str = "Amazon EC2 NVMe Instance Storage";

#[test]
fn the_etcd_data_volume_is_the_ebs_disk_not_the_instance_store() {
    let (m, script) = Machine::nitro();
    // Enumerated before the data volume, blank and without partitions: exactly what the old
    // "first non-root disk without partitions" rule picked.
    m.nvme("nvme1n1", INSTANCE_STORE, "AWS1F2E3D4C5B6A7980", &[]);
    m.nvme("nvme2n1", EBS, "vol0fedcba9876543210", &[]);
    let (ok, log) = m.run(&script);
    assert!(ok, "{log}");
    let dev = m.path("dev/nvme2n1");
    assert_eq!(
        m.formatted().trim(),
        format!("-q -L etcd-data {}", dev.display()),
        "{log}"
    );
    assert!(log.contains("vol-0fedcba9876543210"), "{log}");
    // A second run (a replaced instance whose volume is already etcd-data) formats nothing.
    let (ok, log) = m.run(&script);
    assert!(ok, "{log}");
    assert_eq!(m.formatted().lines().count(), 1, "{log}");
}

#[test]
fn only_instance_store_disks_fail_after_the_wait_without_formatting() {
    let (m, script) = Machine::nitro();
    m.nvme("nvme1n1", INSTANCE_STORE, "AWS1F2E3D4C5B6A7980", &[]);
    m.nvme("nvme2n1", INSTANCE_STORE, "AWS2F2E3D4C5B6A7981", &[]);
    let (ok, log) = m.run(&script);
    assert!(!ok, "the script succeeded without a data volume:\n{log}");
    assert!(log.contains("after 3 tries"), "{log}");
    assert_eq!(
        m.formatted(),
        "",
        "formatted an instance-store disk:\n{log}"
    );
}

#[test]
fn a_foreign_file_system_or_two_blank_volumes_are_never_formatted() {
    let (m, script) = Machine::nitro();
    m.nvme("nvme1n1", EBS, "vol0aaaaaaaaaaaaaaaa", &[]);
    std::fs::write(m.path("state/fs-nvme1n1"), "other\n").expect("write");
    let (ok, log) = m.run(&script);
    assert!(!ok && m.formatted().is_empty(), "{log}");
    m.nvme("nvme2n1", EBS, "vol0bbbbbbbbbbbbbbbb", &[]);
    m.nvme("nvme3n1", EBS, "vol0cccccccccccccccc", &[]);
    let (ok, log) = m.run(&script);
    assert!(!ok && m.formatted().is_empty(), "{log}");
    assert!(log.contains("not guessing"), "{log}");
}
