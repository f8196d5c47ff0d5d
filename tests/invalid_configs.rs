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
