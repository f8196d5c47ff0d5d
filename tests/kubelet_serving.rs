//! Kubelet serving certificates, which the API server verifies (--kubelet-certificate-authority)
//! when it connects to a kubelet for `kubectl logs`, `exec` and metrics. Workers bootstrap
//! theirs (serverTLSBootstrap, a `kubernetes.io/kubelet-serving` CSR); controllers issue theirs
//! at boot with kubelet-identity (run for real in node_credentials.rs). The controllers'
//! approver is run for real here, a `docker` shim standing in for the kubectl container: it
//! approves a request only for the requesting node's own addresses, with real CSRs made by
//! openssl.

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use kubeline_core::layout::NodeGroup;
use kubeline_tests::{decode_ignition, examples, inline_file, outcome, render_example, run};
use serde_json::Value;

const KUBELET_CONFIG: &str = "/etc/kubernetes/kubelet-config.yaml";
const APPROVER: &str = "/opt/kubeline/bin/csr-approver";

#[test]
fn workers_bootstrap_their_serving_certificate_and_controllers_issue_theirs() {
    let mut workers = 0;
    for (example, path) in examples() {
        let (cluster, rendered) = render_example(&path).expect("render");
        let groups = [NodeGroup::Controller]
            .into_iter()
            .chain(cluster.node_pools.iter().map(|p| NodeGroup::Pool(&p.name)));
        for group in groups {
            let name = format!("userdata/{}.json", group.file_stem());
            let (files, units, _) = decode_ignition(&rendered.files[&name]);
            let text = inline_file(&files, KUBELET_CONFIG)
                .unwrap_or_else(|| panic!("{example}/{name}: no {KUBELET_CONFIG}"));
            let config: Value = serde_saphyr::from_str(text).expect("kubelet config is YAML");
            if group == NodeGroup::Controller {
                assert_eq!(config["serverTLSBootstrap"], false, "{example}/{name}");
                assert_eq!(
                    config["tlsCertFile"], "/var/lib/kubelet/pki/kubelet-serving.pem",
                    "{example}/{name}"
                );
                assert_eq!(
                    config["tlsPrivateKeyFile"], "/var/lib/kubelet/pki/kubelet-serving-key.pem",
                    "{example}/{name}"
                );
                let identity = inline_file(&files, "/opt/kubeline/bin/kubelet-identity")
                    .unwrap_or_else(|| panic!("{example}/{name}: no kubelet-identity"));
                for written in [
                    r#""${PKI}/kubelet-serving.pem""#,
                    r#""${PKI}/kubelet-serving-key.pem""#,
                ] {
                    assert!(
                        identity.contains(&format!(" {written}\n")),
                        "{example}/{name}: kubelet-identity does not write {written}"
                    );
                }
                assert!(
                    inline_file(&files, APPROVER).is_some(),
                    "{example}/{name}: no {APPROVER}"
                );
                let timer = units
                    .iter()
                    .find(|u| u.name == "kubeline-csr-approver.timer")
                    .and_then(|u| u.contents.as_deref())
                    .unwrap_or_else(|| panic!("{example}/{name}: no approver timer"));
                assert!(timer.contains("OnUnitActiveSec=30"), "{timer}");
            } else {
                assert_eq!(config["serverTLSBootstrap"], true, "{example}/{name}");
                assert_eq!(config["rotateCertificates"], true, "{example}/{name}");
                for key in ["tlsCertFile", "tlsPrivateKeyFile"] {
                    assert!(config.get(key).is_none(), "{example}/{name}: {key} is set");
                }
                assert!(inline_file(&files, APPROVER).is_none(), "{example}/{name}");
                workers += 1;
            }
        }
    }
    assert!(workers >= 5, "checked only {workers} worker configs");
}

/// Stands in for `docker run ... kubectl --kubeconfig=... ARGS`: canned CSR and Node lists
/// (kubectl's JSONPath output, written by the test) and a record of every approval.
const DOCKER_SHIM: &str = r#"#!/bin/bash
set -euo pipefail
[[ "$1" == run ]] || { echo "shim: unexpected docker $*" >&2; exit 2; }
while [[ "$1" != --kubeconfig=/etc/kubernetes/kubeconfig/kube-addons.yaml ]]; do shift; done
shift
case "$1 $2" in
  "get certificatesigningrequests") cat "${FAKE}/csrs" ;;
  "get nodes") cat "${FAKE}/nodes" ;;
  "certificate approve") echo "certificate approve $3" >>"${FAKE}/approved" ;;
  *) echo "shim: unexpected kubectl $*" >&2; exit 2 ;;
esac
"#;

const N1: &str = "ip-10-0-1-23.eu-west-1.compute.internal";
const N2: &str = "ip-10-0-2-9.eu-west-1.compute.internal";

/// A real certificate request made by openssl: base64 of its PEM, as in `spec.request`.
fn request(dir: &Path, subject: &str, sans: &str, rsa: bool) -> String {
    let csr = dir.join("req.pem");
    let key = dir.join("req-key.pem");
    let mut cmd = Command::new("openssl");
    cmd.args(["req", "-new", "-nodes", "-newkey"])
        .arg(if rsa { "rsa:2048" } else { "ec" });
    if !rsa {
        cmd.args(["-pkeyopt", "ec_paramgen_curve:P-256"]);
    }
    cmd.arg("-keyout")
        .arg(&key)
        .args(["-subj", subject])
        .arg("-out")
        .arg(&csr);
    if !sans.is_empty() {
        cmd.args(["-addext", &format!("subjectAltName={sans}")]);
    }
    let (ok, out) = outcome(&run(&mut cmd));
    assert!(ok, "openssl req: {out}");
    base64::engine::general_purpose::STANDARD.encode(std::fs::read(&csr).expect("csr"))
}

/// One line of the approver's CSR listing (kubectl's JSONPath output, fields separated by `|`).
struct Csr {
    name: &'static str,
    signer: &'static str,
    user: String,
    groups: &'static str,
    usages: &'static str,
    conditions: &'static str,
    request: String,
}

fn pending(name: &'static str, node: &str, request: String) -> Csr {
    Csr {
        name,
        signer: "kubernetes.io/kubelet-serving",
        user: format!("system:node:{node}"),
        groups: "system:nodes system:authenticated",
        usages: "digital signature,server auth,",
        conditions: "",
        request,
    }
}

fn approver_script() -> String {
    let (_, rendered) =
        render_example(&kubeline_tests::repo_root().join("examples/ha/cluster.yaml"))
            .expect("render");
    let (files, _, _) = decode_ignition(&rendered.files["userdata/controller.json"]);
    inline_file(&files, APPROVER)
        .expect("the approver in the controller config")
        .to_owned()
}

/// Runs the rendered approver in a sandbox against the CSR listing `csrs` and the Node listing
/// `nodes` (none when empty); returns whether it succeeded, its output and the approvals it made.
fn run_approver(csrs: &[Csr], nodes: &str) -> (bool, String, String) {
    let tmp = tempfile::tempdir().expect("tmp");
    let d = tmp.path();
    for sub in ["bin", "fake", "run"] {
        std::fs::create_dir_all(d.join(sub)).expect("mkdir");
    }
    let shim = d.join("bin/docker");
    std::fs::write(&shim, DOCKER_SHIM).expect("write");
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let script =
        approver_script().replace("-p /run ", &format!("-p '{}' ", d.join("run").display()));
    std::fs::write(d.join("csr-approver"), script).expect("write");
    let listing: String = csrs
        .iter()
        .map(|c| {
            format!(
                "{}|{}|{}|{}|{}|{}|{}\n",
                c.name, c.signer, c.user, c.groups, c.usages, c.conditions, c.request
            )
        })
        .collect();
    std::fs::write(d.join("fake/csrs"), listing).expect("write");
    // Without a Node listing the shim fails `get nodes`, and so the run.
    if !nodes.is_empty() {
        std::fs::write(d.join("fake/nodes"), nodes).expect("write");
    }
    let path = kubeline_tests::path_with(&d.join("bin"));
    let (ok, out) = outcome(&run(Command::new("bash")
        .arg(d.join("csr-approver"))
        .env("PATH", path)
        .env("FAKE", d.join("fake"))));
    let approved = std::fs::read_to_string(d.join("fake/approved")).unwrap_or_default();
    (ok, out, approved)
}

#[test]
fn the_approver_approves_only_a_node_s_own_addresses() {
    let tmp = tempfile::tempdir().expect("tmp");
    let req = tmp.path();
    let own = |cn: &str, sans: &str| {
        request(
            req,
            &format!("/O=system:nodes/CN=system:node:{cn}"),
            sans,
            false,
        )
    };
    let n1_sans = format!("DNS:{N1},IP:10.0.1.23");
    let csrs = vec![
        pending("good", N1, own(N1, &n1_sans)),
        Csr {
            usages: "digital signature,key encipherment,server auth,",
            request: request(
                req,
                &format!("/O=system:nodes/CN=system:node:{N2}"),
                &format!("DNS:{N2},IP:10.0.2.9"),
                true,
            ),
            ..pending("good-rsa", N2, String::new())
        },
        // A node with a public address: the cloud-controller-manager lists its ExternalIP,
        // and the kubelet asks for it too.
        pending(
            "good-external",
            N2,
            own(N2, &format!("DNS:{N2},IP:10.0.2.9,IP:203.0.113.9")),
        ),
        pending("extra-ip", N1, own(N1, &format!("{n1_sans},IP:10.0.9.9"))),
        pending(
            "other-node-name",
            N1,
            own(N1, &format!("{n1_sans},DNS:{N2}")),
        ),
        pending(
            "other-node-ip",
            N1,
            own(N1, &format!("{n1_sans},IP:10.0.2.9")),
        ),
        pending(
            "other-subject",
            N1,
            own(N2, &format!("DNS:{N2},IP:10.0.2.9")),
        ),
        pending(
            "email",
            N1,
            own(N1, &format!("{n1_sans},email:a@example.com")),
        ),
        pending("no-names", N1, own(N1, "")),
        pending("unknown-node", "ip-10-0-3-3.eu-west-1.compute.internal", {
            let n = "ip-10-0-3-3.eu-west-1.compute.internal";
            own(n, &format!("DNS:{n},IP:10.0.3.3"))
        }),
        Csr {
            signer: "kubernetes.io/kube-apiserver-client-kubelet",
            ..pending("client-signer", N1, own(N1, &n1_sans))
        },
        Csr {
            usages: "digital signature,server auth,client auth,",
            ..pending("client-usage", N1, own(N1, &n1_sans))
        },
        Csr {
            user: "system:serviceaccount:default:builder".into(),
            groups: "system:serviceaccounts system:authenticated",
            ..pending("not-a-node", N1, own(N1, &n1_sans))
        },
        Csr {
            groups: "system:authenticated",
            ..pending("not-in-system-nodes", N1, own(N1, &n1_sans))
        },
        Csr {
            conditions: "Approved",
            ..pending("already-approved", N1, own(N1, &n1_sans))
        },
        Csr {
            conditions: "Denied",
            ..pending("denied", N1, own(N1, &n1_sans))
        },
    ];
    let nodes = format!(
        "{N1}\tInternalIP=10.0.1.23\tHostname={N1}\n\
         {N2}\tInternalIP=10.0.2.9\tExternalIP=203.0.113.9\tHostname={N2}\n"
    );
    let (ok, out, approved) = run_approver(&csrs, &nodes);
    assert!(ok, "the approver failed:\n{out}");
    assert_eq!(
        approved,
        "certificate approve good\ncertificate approve good-rsa\ncertificate approve good-external\n",
        "{out}"
    );
    // Every refusal says why.
    for (name, why) in [
        ("extra-ip", "10.0.9.9 is not an address of Node"),
        (
            "other-node-name",
            &format!("{N2} is not an address of Node {N1}"),
        ),
        ("other-node-ip", "10.0.2.9 is not an address of Node"),
        ("other-subject", "does not match"),
        ("email", "neither a DNS name nor an IPv4 address"),
        ("no-names", "names no address"),
        ("unknown-node", "has no addresses"),
        ("client-usage", "usages"),
        ("not-a-node", "not a node"),
        ("not-in-system-nodes", "is not in system:nodes"),
    ] {
        let prefix = format!("kubeline: leaving {name} pending: ");
        let line = out
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("{name} is not refused:\n{out}"));
        assert!(line.contains(why), "{name}: no '{why}' in {line}");
    }
    for done in ["client-signer", "already-approved", "denied"] {
        assert!(!out.contains(&format!("leaving {done} pending")), "{out}");
    }
}

#[test]
fn the_approver_refuses_an_address_another_node_also_claims() {
    let tmp = tempfile::tempdir().expect("tmp");
    let req = request(
        tmp.path(),
        &format!("/O=system:nodes/CN=system:node:{N2}"),
        &format!("DNS:{N2},IP:10.0.1.23"),
        false,
    );
    // N2 claims N1's address in its own Node status.
    let nodes = format!(
        "{N1}\tInternalIP=10.0.1.23\tHostname={N1}\n{N2}\tInternalIP=10.0.1.23\tHostname={N2}\n"
    );
    let (ok, out, approved) = run_approver(&[pending("impostor", N2, req)], &nodes);
    assert!(ok, "{out}");
    assert!(approved.is_empty(), "{out}");
    assert!(
        out.contains("10.0.1.23 is also an address of another Node"),
        "{out}"
    );
}

#[test]
fn the_approver_lists_no_nodes_when_nothing_is_pending() {
    let tmp = tempfile::tempdir().expect("tmp");
    let good = request(
        tmp.path(),
        &format!("/O=system:nodes/CN=system:node:{N1}"),
        &format!("DNS:{N1},IP:10.0.1.23"),
        false,
    );
    let done = Csr {
        conditions: "Approved",
        ..pending("done", N1, good)
    };
    // No Node listing: `get nodes` would fail the run.
    let (ok, out, approved) = run_approver(&[done], "");
    assert!(ok && out.is_empty() && approved.is_empty(), "{out}");
}
