//! Tidy checks of the source tree: every Rust module starts with a `//!` line saying what it is for.

use kubeline_tests::repo_root;

fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if p.is_dir() && !matches!(name.as_str(), "target" | ".tools" | "snapshots" | ".git") {
            rust_files(&p, out);
        } else if name.ends_with(".rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_module_starts_with_a_doc_line() {
    let root = repo_root();
    let mut files = Vec::new();
    for d in ["crates", "tests", "xtask", "fuzz"] {
        rust_files(&root.join(d), &mut files);
    }
    assert!(files.len() > 15, "found only {} files", files.len());
    let missing: Vec<String> = files
        .iter()
        .filter(|f| {
            !std::fs::read_to_string(f)
                .unwrap_or_default()
                .starts_with("//!")
        })
        .map(|f| f.strip_prefix(&root).unwrap_or(f).display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "modules without a `//!` first line: {missing:?}"
    );
}
