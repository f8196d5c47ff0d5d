//! Consistency of the rendered node configs: every file a unit, script, manifest or kubeconfig
//! refers to is written by the same node config or installed by its credentials unit; every
//! credential a node receives is used; userdata stubs point at the exact full config.

use std::collections::BTreeSet;

use kubeline_core::layout::{NodeGroup, node_credentials};
use kubeline_tests::{decode_ignition, examples, render_example};

const SCOPES: [&str; 5] = [
    "/etc/kubernetes/",
    "/etc/etcd/",
    "/etc/kubeline/",
    "/etc/containerd/",
    "/opt/",
];

/// Paths under the scopes kubeline owns that appear in `text`.
fn referenced_paths(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for scope in SCOPES {
        let mut rest = text;
        while let Some(i) = rest.find(scope) {
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-')))
                .unwrap_or(tail.len());
            let p = tail[..end].trim_end_matches(['.', '/']);
            // Only absolute paths (not the tail of a longer path such as /usr/opt/...).
            let before = &rest[..i];
            if !before.ends_with(|c: char| c.is_ascii_alphanumeric() || c == '/' || c == '.') {
                out.push(p.to_owned());
            }
            rest = &tail[end.max(1)..];
        }
    }
    out
}

#[test]
fn every_referenced_file_is_written_and_every_credential_is_used() {
    let mut checked = 0;
    for (example, path) in kubeline_tests::examples_and_demo() {
        let (cluster, rendered) = render_example(&path).expect("render");
        for group in kubeline_tests::node_groups(&cluster) {
            let name = &format!("userdata/{}.json", group.file_stem());
            let bytes = rendered
                .files
                .get(name)
                .expect("every node group has a node config");
            let (files, units, dirs) = decode_ignition(bytes);
            let creds = node_credentials(group.role());
            let mut provided: BTreeSet<String> = BTreeSet::new();
            for f in &files {
                provided.insert(f.path.clone());
                let mut p = std::path::Path::new(&f.path);
                while let Some(parent) = p.parent() {
                    provided.insert(parent.to_string_lossy().into_owned());
                    p = parent;
                }
            }
            provided.extend(dirs.iter().cloned());
            // Written at boot by the controllers' kubelet-identity script (the signing CA alone,
            // for kube-controller-manager), never shipped.
            if files.iter().any(|f| {
                f.path == "/opt/kubeline/bin/kubelet-identity"
                    && f.text
                        .as_deref()
                        .is_some_and(|t| t.contains("\"${SSL}/ca-signer.pem\""))
            }) {
                provided.insert("/etc/kubernetes/ssl/ca-signer.pem".to_owned());
            }
            provided.insert(creds.dest.to_owned());
            for c in creds.public.iter().chain(&creds.secret) {
                provided.insert(format!("{}/{c}", creds.dest));
            }
            let mut texts: Vec<(String, String)> = Vec::new();
            for u in &units {
                if let Some(c) = &u.contents {
                    // Directories a unit creates itself.
                    for line in c.lines().filter(|l| l.contains("mkdir -p")) {
                        provided.extend(referenced_paths(line));
                    }
                    texts.push((format!("unit {}", u.name), c.clone()));
                }
                for d in &u.dropins {
                    texts.push((format!("drop-in of {}", u.name), d.clone()));
                }
            }
            for f in &files {
                if let Some(t) = &f.text {
                    texts.push((f.path.clone(), t.clone()));
                }
            }
            let mut used = BTreeSet::new();
            for (what, text) in &texts {
                for p in referenced_paths(text) {
                    assert!(
                        provided.contains(&p),
                        "{example}/{name}: {what} refers to {p}, which nothing on the node writes"
                    );
                    used.insert(p);
                    checked += 1;
                }
            }
            for c in creds.public.iter().chain(&creds.secret) {
                let p = format!("{}/{c}", creds.dest);
                assert!(
                    used.contains(&p),
                    "{example}/{name}: credential {p} is shipped but never used"
                );
            }
            // The CA key reaches controllers (kube-controller-manager signs kubelet client
            // certificates) and never an etcd member or a worker.
            let gets_ca_key =
                creds.secret.contains(&"ca-key.pem") || creds.public.contains(&"ca-key.pem");
            assert_eq!(
                gets_ca_key,
                group == NodeGroup::Controller,
                "{example}/{name}: the CA key goes to controllers only"
            );
            for f in files.iter().filter(|f| f.text.is_none()) {
                assert!(
                    f.source.starts_with("https://"),
                    "{example}/{name}: {} comes from {}",
                    f.path,
                    f.source
                );
            }
        }
    }
    assert!(checked > 100, "too few references checked: {checked}");
}

#[test]
fn userdata_stubs_name_the_exact_full_config() {
    for (example, path) in examples() {
        let (cluster, rendered) = render_example(&path).expect("render");
        assert!(!rendered.uploads.is_empty());
        for up in &rendered.uploads {
            let bytes = &rendered.files[&up.file];
            assert_eq!(
                kubeline_core::render::sha512_hex(bytes),
                up.sha512,
                "{example}: {}",
                up.file
            );
            assert!(
                up.key.starts_with(&cluster.s3_cluster_prefix()),
                "{example}: {}",
                up.key
            );
            assert!(
                up.key.contains(&up.sha512[..16]),
                "{example}: key is not content-addressed: {}",
                up.key
            );
            // The stub embedding this source and hash is in exactly one launch template (one
            // per member for etcd: each member's group of one has its own).
            let source = format!("s3://{}/{}", cluster.s3.bucket, up.key);
            let n: usize = rendered
                .files
                .iter()
                .filter(|(n, _)| n.starts_with("stack-templates/"))
                .map(|(_, b)| {
                    let v: serde_json::Value = serde_json::from_slice(b).expect("json");
                    let resources = v["Resources"].as_object().cloned().unwrap_or_default();
                    resources
                        .values()
                        .filter(|r| r["Type"] == "AWS::EC2::LaunchTemplate")
                        .filter(|r| {
                            let ud = r["Properties"]["LaunchTemplateData"]["UserData"]
                                .as_str()
                                .unwrap_or_default();
                            let stub = String::from_utf8(kubeline_tests::base64_decode(ud))
                                .unwrap_or_default();
                            stub.contains(&source)
                                && stub.contains(&format!("sha512-{}", up.sha512))
                        })
                        .count()
                })
                .sum();
            let wanted = if up.file == "userdata/etcd.json" {
                cluster.etcd.members.len()
            } else {
                1
            };
            assert_eq!(
                n, wanted,
                "{example}: {} is referenced by {n} launch templates",
                up.file
            );
        }
    }
}

#[test]
fn no_secret_material_is_rendered() {
    for (example, path) in examples() {
        let (_, rendered) = render_example(&path).expect("render");
        for (name, bytes) in &rendered.files {
            let text = String::from_utf8_lossy(bytes);
            for needle in [
                "PRIVATE KEY",
                "BEGIN CERTIFICATE",
                "aws_secret_access_key",
                "AWS_SECRET_ACCESS_KEY",
            ] {
                assert!(!text.contains(needle), "{example}/{name} contains {needle}");
            }
        }
    }
}
