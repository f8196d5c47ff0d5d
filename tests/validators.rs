//! Every example's rendered output against the real validators: cfn-lint, checkov,
//! ignition-validate, kubernetes-validate, shellcheck and kubectl. Each validator also gets a
//! broken input, to prove the check can fail.

use std::path::{Path, PathBuf};
use std::process::Command;

use kubeline_tests::{
    IgnFile, IgnUnit, decode_ignition, examples, render_example, run, tool, write_files,
};

/// One example rendered to disk, with its node configs decoded.
struct Example {
    name: String,
    /// `MAJOR.MINOR.0` of its Kubernetes version, as kubernetes-validate takes it.
    version: String,
    dir: PathBuf,
    node_configs: Vec<NodeConfig>,
}

/// A rendered node config file and its decoded files and units.
struct NodeConfig {
    path: PathBuf,
    files: Vec<IgnFile>,
    units: Vec<IgnUnit>,
}

/// Renders every example into `dir/<example>/`.
fn render_all(dir: &Path) -> Vec<Example> {
    examples()
        .into_iter()
        .map(|(name, path)| {
            let (cluster, rendered) = render_example(&path).expect("example renders");
            let out = dir.join(&name);
            write_files(&out, &rendered.files).expect("write");
            let v = cluster.kubernetes_version;
            let node_configs = sorted_files(&out.join("userdata"))
                .into_iter()
                .map(|path| {
                    let (files, units, _) = decode_ignition(&std::fs::read(&path).expect("read"));
                    NodeConfig { path, files, units }
                })
                .collect();
            Example {
                name,
                version: format!("{}.{}.0", v.major, v.minor),
                dir: out,
                node_configs,
            }
        })
        .collect()
}

fn sorted_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

impl Example {
    /// Every inline file of every node config of this example.
    fn inline_files(&self) -> impl Iterator<Item = &IgnFile> {
        self.node_configs
            .iter()
            .flat_map(|n| n.files.iter())
            .filter(|f| f.text.is_some())
    }

    /// Writes an inline node file under `tmp` so a validator can read it.
    fn extract(&self, tmp: &Path, f: &IgnFile, suffix: &str) -> PathBuf {
        let p = tmp.join(format!(
            "{}-{}{suffix}",
            self.name,
            f.path.replace('/', "_")
        ));
        std::fs::write(&p, f.text.as_deref().unwrap_or_default()).expect("write");
        p
    }
}

fn stack_files(examples: &[Example]) -> Vec<PathBuf> {
    examples
        .iter()
        .flat_map(|e| sorted_files(&e.dir.join("stack-templates")))
        .collect()
}

#[test]
fn examples_are_five_or_more() {
    let names: Vec<String> = examples().into_iter().map(|e| e.0).collect();
    for want in [
        "minimal",
        "ha",
        "existing-vpc",
        "spot-pool",
        "two-endpoints",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "examples/{want} is missing: {names:?}"
        );
    }
}

#[test]
fn cfn_lint_passes_every_stack_without_errors_or_warnings() {
    let tmp = tempfile::tempdir().expect("tmp");
    let examples = render_all(tmp.path());
    let files = stack_files(&examples);
    assert!(
        files.len() >= 5 * 4,
        "expected at least 20 stacks, got {}",
        files.len()
    );
    let out = run(Command::new(tool("cfn-lint"))
        .arg("--format")
        .arg("parseable")
        .args(&files));
    let text = String::from_utf8_lossy(&out.stdout);
    // Exit code is a bitmask: 2 errors, 4 warnings, 8 informational. moto's validate_template
    // treats warnings as errors, so kubeline keeps both at zero.
    assert_eq!(
        out.status.code(),
        Some(0),
        "cfn-lint findings:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn cfn_lint_rejects_a_broken_template() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (_, rendered) = render_example(&examples()[0].1).expect("render");
    let mut v: serde_json::Value =
        serde_json::from_slice(&rendered.files["stack-templates/network.json"]).expect("json");
    v["Resources"]["ControllerSecurityGroup"]["Properties"]["NotAProperty"] = serde_json::json!(1);
    let f = tmp.path().join("broken.json");
    std::fs::write(&f, serde_json::to_vec(&v).expect("ser")).expect("write");
    let out = run(Command::new(tool("cfn-lint")).arg(&f));
    assert_eq!(
        out.status.code().unwrap_or(0) & 2,
        2,
        "cfn-lint accepted an unknown property"
    );
}

fn checkov(dir: &Path) -> serde_json::Value {
    checkov_framework("cloudformation", dir)
}

fn checkov_framework(framework: &str, dir: &Path) -> serde_json::Value {
    let out = run(Command::new(tool("checkov"))
        .args([
            "--framework",
            framework,
            "--skip-download",
            "--quiet",
            "--compact",
            "-o",
            "json",
            "-d",
        ])
        .arg(dir));
    let text = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "checkov printed no JSON ({e}):\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    // One report, or a list of reports (one per framework).
    match v {
        serde_json::Value::Array(mut a) if !a.is_empty() => a.remove(0),
        other => other,
    }
}

fn failed_ids(report: &serde_json::Value) -> Vec<String> {
    report["results"]["failed_checks"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| {
                    format!(
                        "{} {} ({})",
                        f["check_id"].as_str().unwrap_or("?"),
                        f["resource"].as_str().unwrap_or("?"),
                        f["file_path"].as_str().unwrap_or("?")
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn checkov_finds_no_failed_check_in_any_stack() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dirs = render_all(tmp.path());
    let report = checkov(tmp.path());
    let summary = &report["summary"];
    assert_eq!(
        summary["parsing_errors"], 0,
        "checkov could not parse some templates: {summary}"
    );
    assert!(
        summary["passed"].as_u64().unwrap_or(0) > 100,
        "checkov checked too little: {summary}"
    );
    assert!(
        summary["resource_count"].as_u64().unwrap_or(0) >= 20 * dirs.len() as u64,
        "{summary}"
    );
    let failed = failed_ids(&report);
    assert!(
        failed.is_empty(),
        "checkov failed checks:\n{}",
        failed.join("\n")
    );
}

/// Every add-on manifest of every example passes checkov's Kubernetes checks; a check that
/// cannot pass is skipped inline with its reason (`checkov.io/skipN: CKV_K8S_x=reason`).
#[test]
fn checkov_finds_no_failed_check_in_any_addon() {
    // checkov's Kubernetes runner skips hidden directories (tempdir's default `.tmp` prefix).
    let tmp = tempfile::Builder::new()
        .prefix("kubeline-addons")
        .tempdir()
        .expect("tmp");
    let dirs = render_all(tmp.path());
    let addons = tmp.path().join("addons-only");
    let mut files = 0;
    for ex in &dirs {
        for f in sorted_files(&ex.dir.join("addons")) {
            let to = addons.join(&ex.name);
            std::fs::create_dir_all(&to).expect("mkdir");
            std::fs::copy(&f, to.join(f.file_name().expect("name"))).expect("copy");
            files += 1;
        }
    }
    assert!(files >= 2 * dirs.len(), "only {files} add-on files");
    let report = checkov_framework("kubernetes", &addons);
    let summary = &report["summary"];
    assert_eq!(summary["parsing_errors"], 0, "{summary}");
    assert!(
        summary["passed"].as_u64().unwrap_or(0) > 100,
        "checkov checked too little: {summary}"
    );
    let failed = failed_ids(&report);
    assert!(
        failed.is_empty(),
        "checkov failed checks:\n{}",
        failed.join("\n")
    );
    // Every skip names its reason.
    for s in report["results"]["skipped_checks"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let why = s["suppress_comment"].as_str().unwrap_or_default();
        assert!(
            why.len() > 20,
            "{} skipped without a reason: {why:?}",
            s["check_id"]
        );
    }
}

#[test]
fn checkov_flags_open_ssh_imdsv1_unencrypted_ebs_and_wildcard_iam() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (_, rendered) = render_example(&examples()[0].1).expect("render");
    let mut v: serde_json::Value =
        serde_json::from_slice(&rendered.files["stack-templates/control-plane.json"])
            .expect("json");
    let r = &mut v["Resources"];
    r["OpenSsh"] = serde_json::json!({"Type": "AWS::EC2::SecurityGroup", "Properties": {"GroupDescription": "x", "SecurityGroupIngress": [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIp": "0.0.0.0/0"}]}});
    r["LaunchTemplate"]["Properties"]["LaunchTemplateData"]["MetadataOptions"]["HttpTokens"] =
        serde_json::json!("optional");
    r["Disk"] = serde_json::json!({"Type": "AWS::EC2::Volume", "Properties": {"AvailabilityZone": "eu-west-1a", "Size": 10, "Encrypted": false}});
    r["Role"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"] =
        serde_json::json!([{"Effect": "Allow", "Action": "*", "Resource": "*"}]);
    std::fs::write(
        tmp.path().join("insecure.json"),
        serde_json::to_vec_pretty(&v).expect("ser"),
    )
    .expect("write");
    let failed = failed_ids(&checkov(tmp.path())).join("\n");
    for id in ["CKV_AWS_24", "CKV_AWS_79", "CKV_AWS_3", "CKV_AWS_63"] {
        assert!(
            failed.contains(id),
            "checkov did not flag {id}; it flagged:\n{failed}"
        );
    }
}

#[test]
fn ignition_validate_accepts_every_node_config_and_the_stubs() {
    let tmp = tempfile::tempdir().expect("tmp");
    let examples = render_all(tmp.path());
    let mut n = 0;
    for ex in &examples {
        for node in &ex.node_configs {
            let out = run(Command::new(tool("ignition-validate")).arg(&node.path));
            assert!(
                out.status.success(),
                "{}: {}: {}{}",
                ex.name,
                node.path.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            n += 1;
        }
        // The userdata stubs embedded (base64) in the launch templates.
        for stack in sorted_files(&ex.dir.join("stack-templates")) {
            let v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&stack).expect("read")).expect("json");
            let resources = v["Resources"].as_object().cloned().unwrap_or_default();
            for lt in resources
                .values()
                .filter(|r| r["Type"] == "AWS::EC2::LaunchTemplate")
            {
                let ud = &lt["Properties"]["LaunchTemplateData"]["UserData"];
                let Some(b64) = ud.as_str() else { continue };
                let stub = kubeline_tests::base64_decode(b64);
                assert!(stub.len() < 16 * 1024, "userdata over 16 KB");
                let f = tmp.path().join(format!("{}-stub.json", ex.name));
                std::fs::write(&f, &stub).expect("write");
                let out = run(Command::new(tool("ignition-validate")).arg(&f));
                assert!(
                    out.status.success(),
                    "{} stub of {}: {}",
                    ex.name,
                    stack.display(),
                    String::from_utf8_lossy(&out.stderr)
                );
                n += 1;
            }
        }
    }
    assert!(n >= 5 * 6, "validated only {n} configs");
}

#[test]
fn ignition_validate_rejects_a_broken_config() {
    let tmp = tempfile::tempdir().expect("tmp");
    let f = tmp.path().join("bad.json");
    std::fs::write(&f, r#"{"ignition":{"version":"3.3.0"},"storage":{"files":[{"path":"relative/path","contents":{"source":"data:,x"}}]}}"#).expect("write");
    let out = run(Command::new(tool("ignition-validate")).arg(&f));
    assert!(
        !out.status.success(),
        "ignition-validate accepted a relative path"
    );
}

#[test]
fn kubernetes_validate_accepts_every_static_pod_and_addon() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut checked = 0;
    for ex in &render_all(tmp.path()) {
        let files: Vec<_> = ex
            .inline_files()
            .filter(|f| {
                f.path.ends_with(".yaml")
                    && (f.path.contains("/manifests/") || f.path.contains("/addons/"))
            })
            .collect();
        // One resource per YAML document (a document with a `kind:`).
        let resources: usize = files
            .iter()
            .map(|f| {
                f.text
                    .as_deref()
                    .unwrap_or("")
                    .split("\n---\n")
                    .filter(|d| d.lines().any(|l| l.starts_with("kind:")))
                    .count()
            })
            .sum();
        let manifests: Vec<PathBuf> = files
            .into_iter()
            .map(|f| ex.extract(tmp.path(), f, ""))
            .collect();
        assert!(
            manifests.len() >= 3,
            "{}: expected the control-plane static pods",
            ex.name
        );
        let out = run(Command::new(tool("kubernetes-validate"))
            .args(["-k", &ex.version, "--strict"])
            .args(&manifests));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "{}: kubernetes-validate:\n{text}",
            ex.name
        );
        assert_eq!(
            text.matches(" passed for resource ").count(),
            resources,
            "{}: not every resource was checked:\n{text}",
            ex.name
        );
        assert_eq!(
            text.matches("00-kubelet-bootstrap-rbac.yaml passed for resource clusterrolebinding/")
                .count(),
            4,
            "{}: the kubelet bootstrap and kubelet API RBAC was not checked:\n{text}",
            ex.name
        );
        checked += manifests.len();
    }
    assert!(checked >= 15);
}

#[test]
fn kubernetes_validate_rejects_an_unknown_pod_field() {
    let tmp = tempfile::tempdir().expect("tmp");
    let p = tmp.path().join("pod.yaml");
    std::fs::write(&p, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  containers:\n    - name: x\n      image: x\n      imagePullPolicyy: Always\n").expect("write");
    let out = run(Command::new(tool("kubernetes-validate"))
        .args(["-k", "1.34.0", "--strict"])
        .arg(&p));
    assert!(
        !out.status.success(),
        "kubernetes-validate --strict accepted a misspelt field"
    );
}

#[test]
fn shellcheck_passes_every_embedded_script() {
    let tmp = tempfile::tempdir().expect("tmp");
    let examples = render_all(tmp.path());
    let scripts: Vec<PathBuf> = examples
        .iter()
        .flat_map(|ex| {
            ex.inline_files()
                .filter(|f| {
                    f.text
                        .as_deref()
                        .is_some_and(|t| t.starts_with("#!/bin/bash"))
                })
                .map(|f| ex.extract(tmp.path(), f, ".sh"))
        })
        .collect();
    assert!(
        scripts.len() >= 5 * 3,
        "found only {} scripts",
        scripts.len()
    );
    let out = run(Command::new(tool("shellcheck"))
        .args(["--shell=bash", "--severity=style"])
        .args(&scripts));
    assert!(
        out.status.success(),
        "shellcheck:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // And it is a real check: a classic mistake is reported.
    let bad = tmp.path().join("bad.sh");
    std::fs::write(&bad, "#!/bin/bash\nrm -rf $DIR/*\n").expect("write");
    assert!(
        !run(Command::new(tool("shellcheck")).arg(&bad))
            .status
            .success()
    );
}

#[test]
fn kubectl_reads_every_kubeconfig() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut n = 0;
    for ex in &render_all(tmp.path()) {
        let mut configs = vec![ex.dir.join("kubeconfig")];
        configs.extend(
            ex.inline_files()
                .filter(|f| f.path.contains("/kubeconfig/"))
                .map(|f| ex.extract(tmp.path(), f, "")),
        );
        for p in configs {
            let out = run(Command::new(tool("kubectl"))
                .args(["config", "view", "-o", "json", "--kubeconfig"])
                .arg(&p));
            assert!(
                out.status.success(),
                "{}: {}",
                p.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("kubectl json");
            let server = v["clusters"][0]["cluster"]["server"]
                .as_str()
                .unwrap_or_default();
            assert!(
                server.starts_with("https://"),
                "{}: server {server:?}",
                p.display()
            );
            // A client certificate, or (the workers' bootstrap kubeconfig) the token file,
            // which kubectl must have understood to show it back.
            let user = &v["users"][0]["user"];
            let cert = user["client-certificate"]
                .as_str()
                .is_some_and(|c| c.ends_with(".pem"));
            let token = user["tokenFile"].as_str()
                == Some("/etc/kubernetes/ssl/kubelet-tls-bootstrap-token");
            assert!(cert || token, "{}: user {user}", p.display());
            n += 1;
        }
    }
    assert!(n >= 5 * 3);
}

/// Runs `systemd-analyze verify` on units in `dir`; returns its complaints, without the ones
/// about binaries that exist only on a Flatcar node.
fn systemd_verify(dir: &Path, unit: &str) -> String {
    let out = run(Command::new(tool("systemd-analyze"))
        .current_dir(dir)
        .args(["verify", &format!("./{unit}")]));
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .chain(String::from_utf8_lossy(&out.stdout).lines())
        .filter(|l| !l.contains("is not executable: No such file or directory"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn systemd_analyze_verifies_every_unit() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut n = 0;
    for ex in &render_all(tmp.path()) {
        for node in &ex.node_configs {
            let stem = node.path.file_name().unwrap_or_default().to_string_lossy();
            let units_dir = tmp.path().join(format!("units-{}-{stem}", ex.name));
            std::fs::create_dir_all(&units_dir).expect("mkdir");
            // Units Flatcar ships, which kubeline's units depend on.
            for shipped in [
                "docker.service",
                "containerd.service",
                "coreos-metadata.service",
            ] {
                std::fs::write(units_dir.join(shipped), "[Service]\nExecStart=/bin/true\n")
                    .expect("write");
            }
            let units: Vec<&IgnUnit> = node.units.iter().filter(|u| u.contents.is_some()).collect();
            for u in &units {
                std::fs::write(
                    units_dir.join(&u.name),
                    u.contents.as_deref().unwrap_or_default(),
                )
                .expect("write");
            }
            for u in &units {
                let complaints = systemd_verify(&units_dir, &u.name);
                assert!(
                    complaints.trim().is_empty(),
                    "{}/{}: {}: {complaints}",
                    ex.name,
                    node.path.display(),
                    u.name
                );
                n += 1;
            }
        }
    }
    assert!(n >= 5 * 6, "verified only {n} units");
    // A real check: an ordering cycle and a relative ExecStart are reported.
    let bad = tmp.path().join("bad");
    std::fs::create_dir_all(&bad).expect("mkdir");
    std::fs::write(
        bad.join("a.service"),
        "[Unit]\nAfter=b.service\nBefore=b.service\n[Service]\nExecStart=relative/bin\n",
    )
    .expect("write");
    std::fs::write(bad.join("b.service"), "[Service]\nExecStart=/bin/true\n").expect("write");
    assert!(
        !systemd_verify(&bad, "a.service").trim().is_empty(),
        "systemd-analyze accepted a broken unit"
    );
}
