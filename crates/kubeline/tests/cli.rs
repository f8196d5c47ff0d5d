//! The `kubeline` binary end to end: init, validate, render stack and schema, in temp dirs.

use std::path::Path;
use std::process::{Command, Output};

fn kubeline(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubeline"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run kubeline")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const INIT: &[&str] = &[
    "init",
    "--cluster-name",
    "team-a",
    "--region",
    "eu-west-1",
    "--availability-zone",
    "eu-west-1a",
    "--external-dns-name",
    "api.team-a.example.com",
    "--kms-key-arn",
    "arn:aws:kms:eu-west-1:123456789012:key/0000-1111",
    "--s3-uri",
    "s3://my-kubeline-bucket/assets",
    "--hosted-zone-id",
    "Z0123456789ABCDEFGHIJ",
];

#[test]
fn init_validate_render_round_trip() {
    let tmp = tempfile::tempdir().expect("tmp");
    let d = tmp.path();
    let o = kubeline(d, INIT);
    assert!(o.status.success(), "{}", text(&o));
    assert!(d.join("cluster.yaml").is_file());

    let o = kubeline(d, INIT);
    assert!(!o.status.success(), "init overwrote without --force");
    assert!(text(&o).contains("--force"), "{}", text(&o));
    let mut forced = INIT.to_vec();
    forced.push("--force");
    assert!(kubeline(d, &forced).status.success());

    let o = kubeline(d, &["validate"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("valid; renders 4 stacks and 3 node configs"),
        "{}",
        text(&o)
    );
    let o = kubeline(d, &["validate", "--strict"]);
    assert!(
        !o.status.success(),
        "--strict must fail on the kubeletHash warning: {}",
        text(&o)
    );

    let o = kubeline(d, &["render", "stack"]);
    assert!(o.status.success(), "{}", text(&o));
    for f in [
        "stack-templates/network.json",
        "stack-templates/etcd.json",
        "stack-templates/control-plane.json",
        "stack-templates/node-pool-general.json",
        "userdata/controller.json",
        "userdata/etcd.json",
        "userdata/worker-general.json",
        "kubeconfig",
        "manifest.json",
    ] {
        assert!(d.join(f).is_file(), "{f} missing");
    }
    // Re-rendering an unchanged config rewrites nothing.
    let o = kubeline(d, &["render", "stack"]);
    assert!(
        !text(&o).contains("created") && !text(&o).contains("updated"),
        "{}",
        text(&o)
    );

    // Renaming the pool removes the stale pool stack and node config.
    let cfg = std::fs::read_to_string(d.join("cluster.yaml"))
        .expect("read")
        .replace("- name: general", "- name: apps");
    std::fs::write(d.join("cluster.yaml"), cfg).expect("write");
    let o = kubeline(d, &["render", "stack"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!d.join("stack-templates/node-pool-general.json").exists());
    assert!(!d.join("userdata/worker-general.json").exists());
    assert!(d.join("stack-templates/node-pool-apps.json").is_file());
    assert!(text(&o).contains("removed"), "{}", text(&o));
}

#[test]
fn init_with_invalid_flags_writes_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut args = INIT.to_vec();
    args[2] = "Team.A";
    let o = kubeline(tmp.path(), &args);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("clusterName: \"Team.A\" contains a dot"),
        "{}",
        text(&o)
    );
    assert!(!tmp.path().join("cluster.yaml").exists());
}

#[test]
fn invalid_config_renders_nothing_and_names_every_error() {
    let tmp = tempfile::tempdir().expect("tmp");
    let d = tmp.path();
    assert!(kubeline(d, INIT).status.success());
    let cfg = std::fs::read_to_string(d.join("cluster.yaml"))
        .expect("read")
        .replace("count: 3", "count: 2")
        .replace("releaseChannel: stable", "releaseChanel: stable");
    std::fs::write(d.join("cluster.yaml"), cfg).expect("write");
    let o = kubeline(d, &["render", "stack"]);
    assert_eq!(o.status.code(), Some(1));
    let t = text(&o);
    assert!(
        t.contains("cluster.yaml:")
            && t.contains("releaseChanel: unknown key; did you mean `releaseChannel`?"),
        "{t}"
    );
    assert!(
        t.contains("etcd.count: etcd needs an odd number of members, not 2"),
        "{t}"
    );
    assert!(t.contains("2 errors found; nothing was rendered"), "{t}");
    assert!(
        !d.join("stack-templates").exists(),
        "something was rendered"
    );
}

#[test]
fn templates_folder_overrides_built_in_templates() {
    let tmp = tempfile::tempdir().expect("tmp");
    let d = tmp.path();
    assert!(kubeline(d, INIT).status.success());
    std::fs::create_dir_all(d.join("templates/userdata")).expect("mkdir");
    std::fs::write(d.join("templates/userdata/worker.yaml.j2"), "files: []\nunits:\n  - name: custom.service\n    enabled: true\n    contents: |\n      [Service]\n      ExecStart=/usr/bin/true\n").expect("write");
    let o = kubeline(d, &["render", "stack"]);
    assert!(o.status.success(), "{}", text(&o));
    let worker = std::fs::read_to_string(d.join("userdata/worker-general.json")).expect("read");
    assert!(worker.contains("custom.service"));
    let manifest = std::fs::read_to_string(d.join("manifest.json")).expect("read");
    assert!(
        manifest.contains("userdata/worker.yaml.j2"),
        "manifest records the override"
    );

    std::fs::write(d.join("templates/userdata/wrker.yaml.j2"), "x").expect("write");
    let o = kubeline(d, &["render", "stack"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("templates/userdata/wrker.yaml.j2: no built-in template has this name"),
        "{}",
        text(&o)
    );
}

#[test]
fn schema_is_json_schema_of_cluster_yaml() {
    let tmp = tempfile::tempdir().expect("tmp");
    let o = kubeline(tmp.path(), &["schema"]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["title"], "kubeline cluster.yaml");
    for key in [
        "clusterName",
        "s3URI",
        "apiEndpoints",
        "worker",
        "sshAccessAllowedSourceCIDRs",
    ] {
        assert!(
            v["properties"].get(key).is_some(),
            "{key} missing from schema"
        );
    }
    assert_eq!(v["additionalProperties"], false);
}

#[test]
fn missing_config_is_a_clear_error() {
    let tmp = tempfile::tempdir().expect("tmp");
    let o = kubeline(tmp.path(), &["validate"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("cannot read cluster.yaml"),
        "{}",
        text(&o)
    );
}

fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        std::fs::read(e.path()).expect("read"),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl is installed by `cargo xtask test`");
    assert!(o.status.success(), "openssl {args:?}: {}", text(&o));
}

#[test]
fn render_credentials_generates_reports_and_is_idempotent() {
    let tmp = tempfile::tempdir().expect("tmp");
    let d = tmp.path();
    assert!(kubeline(d, INIT).status.success());

    // No CA and no flag: a clear error, nothing written.
    let o = kubeline(d, &["render", "credentials"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("--generate-ca"), "{}", text(&o));
    assert!(!d.join("credentials").exists());

    let o = kubeline(d, &["render", "credentials", "--generate-ca"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains("28 created, 0 re-issued, 0 removed, 0 unchanged"),
        "{out}"
    );
    assert!(out.contains("not for production"), "{out}");
    let creds = d.join("credentials");
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |n: &str| {
            std::fs::metadata(creds.join(n))
                .expect("file")
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("ca-key.pem"), 0o600);
        assert_eq!(mode("tokens.csv"), 0o600);
        assert_eq!(mode("ca.pem"), 0o644);
        assert_eq!(mode("service-account-jwks.json"), 0o644);
        assert_eq!(
            std::fs::metadata(&creds).expect("dir").permissions().mode() & 0o777,
            0o700
        );
    }
    let before = snapshot(&creds);
    let o = kubeline(d, &["render", "credentials"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("0 created, 0 re-issued, 0 removed, 28 unchanged"));
    assert_eq!(snapshot(&creds), before, "a re-run changed bytes");

    // A new API name: only apiserver.pem is re-issued, and the report says why.
    let config = std::fs::read_to_string(d.join("cluster.yaml")).expect("read");
    std::fs::write(
        d.join("cluster.yaml"),
        format!(
            "{config}\ncustomApiServerSettings:\n  additionalDnsSans: [k8s.team-a.example.org]\n"
        ),
    )
    .expect("write");
    let o = kubeline(d, &["render", "credentials"]);
    let out = text(&o);
    assert!(
        out.contains("re-issued  apiserver.pem: names changed (+k8s.team-a.example.org)"),
        "{out}"
    );
    assert!(out.contains("0 created, 1 re-issued"), "{out}");

    // A damaged CA key: refused, nothing changed.
    let after = snapshot(&creds);
    std::fs::write(creds.join("ca-key.pem"), "not a key").expect("write");
    let o = kubeline(d, &["render", "credentials"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("credentials/ca-key.pem: "),
        "{}",
        text(&o)
    );
    let mut expected = after.clone();
    for (n, b) in &mut expected {
        if n == "ca-key.pem" {
            *b = b"not a key".to_vec();
        }
    }
    assert_eq!(snapshot(&creds), expected);
}

#[test]
fn show_certificates_check_and_rotate() {
    let tmp = tempfile::tempdir().expect("tmp");
    let d = tmp.path();
    assert!(kubeline(d, INIT).status.success());
    // Certificates of 20 days are always inside the default 30-day renewal window.
    let config = std::fs::read_to_string(d.join("cluster.yaml")).expect("read");
    std::fs::write(
        d.join("cluster.yaml"),
        config.replace("tlsCertDurationDays: 365", "tlsCertDurationDays: 20"),
    )
    .expect("write");
    assert!(
        kubeline(d, &["render", "credentials", "--generate-ca"])
            .status
            .success()
    );

    let o = kubeline(d, &["show", "certificates"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("CN=kube-admin, O=system:masters"), "{out}");
    assert!(out.contains("api.team-a.example.com"), "{out}");
    assert!(out.contains("RENEW"), "{out}");
    // The etcd and front-proxy CAs have rows of their own, before the leaves.
    let files: Vec<&str> = out
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        files.get(..3),
        Some(&["ca.pem", "etcd-ca.pem", "front-proxy-ca.pem"][..]),
        "{out}"
    );
    assert!(
        out.contains("CN=etcd-ca") && out.contains("CN=front-proxy-ca"),
        "{out}"
    );
    let o = kubeline(d, &["show", "certificates", "--check"]);
    assert!(
        !o.status.success(),
        "--check passed with certificates in the window"
    );
    assert!(
        text(&o).contains("8 certificate(s) need attention"),
        "{}",
        text(&o)
    );
    let o = kubeline(
        d,
        &["show", "certificates", "--check", "--within-days", "10"],
    );
    assert!(o.status.success(), "{}", text(&o));

    // rotate renews exactly the certificates inside its window.
    let o = kubeline(d, &["rotate", "credentials", "--within-days", "10"]);
    assert!(text(&o).contains("nothing to renew"), "{}", text(&o));
    let o = kubeline(d, &["rotate", "credentials", "--within-days", "25"]);
    assert!(text(&o).contains("0 created, 8 re-issued"), "{}", text(&o));

    // CA rotation: three stages, then nothing left to do.
    for stage in ["stage 1 of 3", "stage 2 of 3", "stage 3 of 3"] {
        let o = kubeline(d, &["rotate", "credentials", "--ca", "--within-days", "5"]);
        assert!(o.status.success(), "{}", text(&o));
        assert!(text(&o).contains(stage), "{}", text(&o));
    }
}

#[test]
fn bring_your_own_encrypted_ca_uses_the_passphrase_variable() {
    let tmp = tempfile::tempdir().expect("tmp");
    let d = tmp.path();
    assert!(kubeline(d, INIT).status.success());
    openssl(
        d,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-aes-256-cbc",
            "-pass",
            "pass:correct horse",
            "-out",
            "org-ca.key",
        ],
    );
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "org-ca.key",
            "-passin",
            "pass:correct horse",
            "-subj",
            "/CN=Org CA",
            "-days",
            "900",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-out",
            "org-ca.pem",
        ],
    );
    let byo = [
        "render",
        "credentials",
        "--ca-cert-path",
        "org-ca.pem",
        "--ca-key-path",
        "org-ca.key",
    ];
    let run = |pass: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kubeline"));
        cmd.current_dir(d)
            .args(byo)
            .env_remove("KUBELINE_CA_KEY_PASSPHRASE");
        if let Some(p) = pass {
            cmd.env("KUBELINE_CA_KEY_PASSPHRASE", p);
        }
        cmd.output().expect("run")
    };
    let o = run(None);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("KUBELINE_CA_KEY_PASSPHRASE is not set"),
        "{}",
        text(&o)
    );
    assert!(!d.join("credentials").exists(), "a failed run wrote files");
    let o = run(Some("wrong"));
    assert!(!o.status.success());
    assert!(text(&o).contains("does not decrypt"), "{}", text(&o));
    let o = run(Some("correct horse"));
    assert!(o.status.success(), "{}", text(&o));
    openssl(
        d,
        &[
            "verify",
            "-CAfile",
            "org-ca.pem",
            "credentials/apiserver.pem",
            "credentials/admin.pem",
        ],
    );
    // Both flags are needed together, and they exclude --generate-ca.
    let o = kubeline(
        d,
        &["render", "credentials", "--ca-cert-path", "org-ca.pem"],
    );
    assert!(
        !o.status.success() && text(&o).contains("--ca-key-path"),
        "{}",
        text(&o)
    );
}
