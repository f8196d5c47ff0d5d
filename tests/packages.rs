//! What each Lambda package links, read from `cargo tree` as `cargo xtask package` builds it
//! (one function at a time, so no other function's features leak in): the HTTPS client is
//! rustls with ring and never the SDK's default (aws-lc-rs), and `idna` has no Unicode back end.
//! These choices keep the packages small (docs/pipeline.md, "Function packages"); a workspace
//! dependency that turns the SDK's default client back on fails here, not in a size table.

use std::process::Command;

use kubeline_tests::repo_root;

const FUNCTIONS: &[&str] = &["validate", "credentials", "render", "apply", "destroy"];

/// The `<crate> feature "<name>"` lines and `<crate> v<version>` lines of one function's tree.
fn features(function: &str) -> Vec<String> {
    let out = Command::new(env!("CARGO"))
        .current_dir(repo_root())
        .args([
            "tree",
            "--offline",
            "-e",
            "features,normal",
            "--prefix",
            "none",
            "-p",
        ])
        .arg(format!("kubeline-fn-{function}"))
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree for {function}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim_end_matches(" (*)").to_owned())
        .collect();
    lines.sort();
    lines.dedup();
    lines
}

#[test]
fn every_function_uses_rustls_with_ring_and_no_default_https_client() {
    for f in FUNCTIONS {
        let tree = features(f);
        let has = |line: &str| tree.iter().any(|l| l == line);
        assert!(has(r#"rustls feature "ring""#), "{f}: rustls without ring");
        assert!(
            has(r#"aws-smithy-http-client feature "rustls-ring""#),
            "{f}: the SDK's HTTPS client without ring"
        );
        for banned in [
            r#"rustls feature "aws_lc_rs""#,
            r#"aws-smithy-http-client feature "rustls-aws-lc""#,
            r#"aws-smithy-runtime feature "default-https-client""#,
            r#"aws-config feature "default-https-client""#,
        ] {
            assert!(!has(banned), "{f} links {banned}");
        }
        assert!(
            has("idna_adapter v1.0.0"),
            "{f}: idna with a Unicode back end"
        );
        assert!(
            !tree.iter().any(|l| l.starts_with("icu_normalizer ")),
            "{f} links ICU4X"
        );
    }
}

/// The negative control: the CLI, which talks to AWS from a workstation, keeps the SDK's
/// default HTTPS client, so the check above can see that feature when it is there.
#[test]
fn the_cli_keeps_the_default_https_client() {
    let out = Command::new(env!("CARGO"))
        .current_dir(repo_root())
        .args([
            "tree",
            "--offline",
            "-e",
            "features,normal",
            "--prefix",
            "none",
            "-p",
            "kubeline",
        ])
        .output()
        .expect("cargo tree runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains(r#"aws-smithy-runtime feature "default-https-client""#));
    assert!(text.contains(r#"rustls feature "aws_lc_rs""#));
}
