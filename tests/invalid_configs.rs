//! The invalid-config corpus: each file under tests/invalid-configs/ states, in `# expect:`
//! lines, every diagnostic it must produce (location, path, message and fix). A file passes
//! when its errors are exactly the expected ones. No input may panic.

use kubeline_core::validate;
use kubeline_tests::repo_root;

#[test]
fn every_invalid_config_reports_exactly_its_expected_errors() {
    let dir = repo_root().join("tests/invalid-configs");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 40,
        "the corpus has {} files; the issue asks for at least 40",
        files.len()
    );
    let mut failures = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read");
        let expected: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .collect();
        assert!(!expected.is_empty(), "{}: no `# expect:` line", f.display());
        let loaded = validate::load(&text);
        assert!(loaded.cluster.is_none(), "{}: was accepted", f.display());
        let rendered = loaded.diagnostics.render("cluster.yaml");
        let got: Vec<&str> = rendered
            .lines()
            .filter(|l| !l.contains(": warning: "))
            .collect();
        let exp: Vec<&str> = expected
            .iter()
            .copied()
            .filter(|l| !l.contains(": warning: "))
            .collect();
        let warnings_missing: Vec<&&str> = expected
            .iter()
            .filter(|l| l.contains(": warning: ") && !rendered.lines().any(|g| g == **l))
            .collect();
        if got != exp || !warnings_missing.is_empty() {
            failures.push(format!(
                "{}:\n  expected:\n    {}\n  got:\n    {}",
                f.display(),
                expected.join("\n    "),
                rendered.trim_end().replace('\n', "\n    ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The steps after start re-read the run's pinned cluster.yaml with `validate::reload`, which
/// leaves out the JSON Schema check (so only the validate function carries the validator) and
/// relies on the model's serde derives for the shape. It must accept exactly what `load`
/// accepts, with the same cluster: every example is accepted alike, and every file of this
/// corpus and every structural mistake below (the schema's rules: unknown keys, types, enums,
/// bounds) is refused by both.
#[test]
fn reload_accepts_exactly_what_load_accepts() {
    let root = repo_root();
    let examples: Vec<_> = kubeline_tests::examples_and_demo()
        .into_iter()
        .map(|(_, f)| f)
        .collect();
    assert!(examples.len() >= 5, "{examples:?}");
    for f in &examples {
        let text = std::fs::read_to_string(f).expect("read");
        let (loaded, reloaded) = (validate::load(&text), validate::reload(&text));
        let (Some(a), Some(b)) = (loaded.cluster, reloaded.cluster) else {
            panic!(
                "{}: load {} / reload {}",
                f.display(),
                loaded.diagnostics.render("cluster.yaml"),
                reloaded.diagnostics.render("cluster.yaml")
            );
        };
        assert_eq!(
            serde_json::to_value(&a).expect("json"),
            serde_json::to_value(&b).expect("json"),
            "{}",
            f.display()
        );
    }
    let refused = |text: &str, what: &str| {
        assert!(
            validate::load(text).cluster.is_none(),
            "load accepted {what}"
        );
        assert!(
            validate::reload(text).cluster.is_none(),
            "reload accepted {what}"
        );
    };
    for e in std::fs::read_dir(root.join("tests/invalid-configs"))
        .expect("corpus")
        .flatten()
    {
        let text = std::fs::read_to_string(e.path()).expect("read");
        refused(&text, &e.path().display().to_string());
    }
    let minimal =
        std::fs::read_to_string(root.join("examples/minimal/cluster.yaml")).expect("read");
    let count = "      count: 2";
    let mutations = [
        (
            "clusterName: minimal",
            "clusterName: minimal\nclusterNmae: x",
        ),
        (count, "      count: two"),
        (count, "      count: -1"),
        (count, "      count: 2.5"),
        (count, "      count: 99999999999"),
        (count, "      count: 2\n      privat: true"),
        (
            "        id: Z0123456789ABCDEFGHIJ",
            "        id: [Z0123456789ABCDEFGHIJ]",
        ),
        (
            "    loadBalancer:",
            "    loadBalancer:\n      type: application",
        ),
        ("kmsKeyArn:", "kmsKeyArn: {}\nold: "),
        (
            "region: eu-west-1",
            "region: eu-west-1\ncontroller:\n  tenancy: host",
        ),
        (
            "region: eu-west-1",
            "region: eu-west-1\netcd:\n  count: \"3\"",
        ),
        ("region: eu-west-1", "region: eu-west-1\nworker: 3\nold:"),
    ];
    for (from, to) in mutations {
        assert!(minimal.contains(from), "{from}");
        refused(&minimal.replacen(from, to, 1), to);
    }
    // The differences: serde also takes a list for a mapping (its fields by position), which
    // the schema refuses. That is why only a copy `load` accepted is reloaded.
    let positional = minimal.replacen(count, "      count: 2\n      autoScalingGroup: [1]", 1);
    assert!(validate::load(&positional).cluster.is_none());
    assert!(validate::reload(&positional).cluster.is_some());
    // And serde takes a one-key mapping for a plain enum value.
    let tagged = minimal.replacen(
        "    loadBalancer:",
        "    loadBalancer:\n      type: {network: ~}",
        1,
    );
    assert!(validate::load(&tagged).cluster.is_none());
    assert!(validate::reload(&tagged).cluster.is_some());
}
