//! What each Lambda package links, read from `cargo tree` as `cargo xtask package` builds it
//! (one function at a time, so no other function's features leak in): the HTTPS client is
//! rustls with ring (with aws-lc in credentials, which links it anyway), never the SDK's
//! default client, `idna` has no Unicode back end,
//! and no function carries a general JSON Schema validator.
//! These choices keep the packages small (docs/pipeline.md, "Function packages"); a workspace
//! dependency that turns the SDK's default client back on fails here, not in a size table.

use std::process::Command;

use kubeline_tests::{repo_root, run};

/// The functions, as `functions/` holds them (the list `cargo xtask package` builds).
fn functions() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo_root().join("functions"))
        .expect("functions/")
        .flatten()
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The `<crate> feature "<name>"` and `<crate> v<version>` lines of one package's tree, as a
/// build of that package alone resolves them.
fn features(package: &str) -> Vec<String> {
    let out = run(Command::new(env!("CARGO"))
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
        .arg(package));
    assert!(
        out.status.success(),
        "cargo tree for {package}: {}",
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
fn every_function_uses_one_tls_crypto_and_no_default_https_client() {
    let functions = functions();
    assert!(!functions.is_empty(), "no function under functions/");
    for f in &functions {
        let tree = features(&format!("kubeline-fn-{f}"));
        let has = |line: &str| tree.iter().any(|l| l == line);
        // One TLS crypto per function: ring, except credentials, which links aws-lc for its
        // RSA keys anyway (with both, the connector's match on the mode would link both).
        let (crypto, other) = if f == "credentials" {
            (["aws_lc_rs", "rustls-aws-lc"], ["ring", "rustls-ring"])
        } else {
            (["ring", "rustls-ring"], ["aws_lc_rs", "rustls-aws-lc"])
        };
        assert!(
            has(&format!(r#"rustls feature "{}""#, crypto[0])),
            "{f}: rustls without {}",
            crypto[0]
        );
        assert!(
            has(&format!(
                r#"aws-smithy-http-client feature "{}""#,
                crypto[1]
            )),
            "{f}: the SDK's HTTPS client without {}",
            crypto[1]
        );
        for banned in [
            format!(r#"rustls feature "{}""#, other[0]),
            format!(r#"aws-smithy-http-client feature "{}""#, other[1]),
        ] {
            assert!(!has(&banned), "{f} links {banned}");
        }
        for banned in [
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
        // cluster.yaml's schema is checked by kubeline's own walker (only in validate; the
        // others re-read the pinned copy with `validate::reload`); jsonschema, with its two
        // regex engines, is the tests' reference validator only.
        assert!(
            !tree
                .iter()
                .any(|l| l.starts_with("jsonschema v") || l.starts_with("fancy-regex v")),
            "{f} links jsonschema"
        );
    }
}

/// The negative control: the CLI, which talks to AWS from a workstation, keeps the SDK's
/// default HTTPS client, so the check above can see that feature when it is there.
#[test]
fn the_cli_keeps_the_default_https_client() {
    let tree = features("kubeline");
    assert!(
        tree.iter()
            .any(|l| l == r#"aws-smithy-runtime feature "default-https-client""#)
    );
    assert!(tree.iter().any(|l| l == r#"rustls feature "aws_lc_rs""#));
    // ... and the tests crate links jsonschema, so the check above can see it.
    assert!(
        features("kubeline-tests")
            .iter()
            .any(|l| l.starts_with("jsonschema v"))
    );
}
