//! kube-aws's keys and kubeline's answers: the core's table (`kube_aws/keys.tsv`) has one row
//! per key of kube-aws's last cluster.yaml template (the list stored in
//! `tests/data/kube-aws-keys.txt`), in the same order; docs/kube-aws.md prints exactly that
//! table; a key is *supported* exactly when kubeline's schema (docs/cluster.schema.json)
//! accepts that path; and every refused key a user can write gets a replacement.

use kubeline_core::kube_aws::{self, KeyStatus};
use kubeline_tests::{parent_path, read_repo_file, repo_root, schema_accepts};
use serde_json::Value;

/// The table of docs/kube-aws.md as kubeline's own key table prints it.
fn table_from_core() -> Vec<String> {
    kube_aws::keys()
        .iter()
        .map(|k| {
            let status = match k.status {
                KeyStatus::Supported => "supported",
                KeyStatus::Refused => "refused",
            };
            format!("| `{}` | {status} | {} |", k.path, kube_aws::note(k))
        })
        .collect()
}

#[test]
fn the_kube_aws_table_has_every_key_and_tells_the_truth() {
    let keys: Vec<String> = read_repo_file("tests/data/kube-aws-keys.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    assert!(keys.len() > 600, "only {} keys", keys.len());
    let core: Vec<&str> = kube_aws::keys().iter().map(|k| k.path).collect();
    assert_eq!(
        core,
        keys.iter().map(String::as_str).collect::<Vec<_>>(),
        "crates/kubeline-core/src/kube_aws/keys.tsv must have one row per key of \
         tests/data/kube-aws-keys.txt, in order"
    );
    // docs/kube-aws.md prints exactly the core's table (regenerate with
    // `KUBELINE_BLESS=1 cargo test -p kubeline-tests --test integration kube_aws_keys::`).
    let doc = read_repo_file("docs/kube-aws.md");
    let doc_rows: Vec<&str> = doc.lines().filter(|l| l.starts_with("| `")).collect();
    let expected = table_from_core();
    if doc_rows != expected && std::env::var_os("KUBELINE_BLESS").is_some() {
        let lines: Vec<&str> = doc.lines().collect();
        let first = lines
            .iter()
            .position(|l| l.starts_with("| `"))
            .expect("a table");
        let last = lines
            .iter()
            .rposition(|l| l.starts_with("| `"))
            .expect("a table");
        let mut out: Vec<String> = lines[..first].iter().map(|l| (*l).to_owned()).collect();
        out.extend(expected.iter().cloned());
        out.extend(lines[last + 1..].iter().map(|l| (*l).to_owned()));
        std::fs::write(repo_root().join("docs/kube-aws.md"), out.join("\n") + "\n")
            .expect("write docs");
        return;
    }
    assert_eq!(
        doc_rows, expected,
        "docs/kube-aws.md's table differs from kubeline-core's kube_aws/keys.tsv"
    );
    let schema: Value =
        serde_json::from_str(&read_repo_file("docs/cluster.schema.json")).expect("schema");
    let mut supported = 0;
    for k in kube_aws::keys() {
        let accepted = schema_accepts(&schema, k.path);
        match k.status {
            KeyStatus::Supported => assert!(
                accepted,
                "{} is marked supported but the schema refuses it",
                k.path
            ),
            KeyStatus::Refused => assert!(
                !accepted,
                "{} is accepted by the schema: mark it supported",
                k.path
            ),
        }
        supported += usize::from(accepted);
    }
    assert!(supported >= 100, "{supported} supported keys");
    // Negative controls for the schema walk.
    assert!(schema_accepts(
        &schema,
        "worker.nodePools[].autoScalingGroup.minSize"
    ));
    assert!(!schema_accepts(
        &schema,
        "worker.nodePools[].spotFleet.targetCapacity"
    ));
    assert!(!schema_accepts(&schema, "clusterName.x"));
}

#[test]
fn every_refused_key_a_user_can_write_names_what_replaces_it() {
    let schema: Value =
        serde_json::from_str(&read_repo_file("docs/cluster.schema.json")).expect("schema");
    let mut reachable = 0;
    for k in kube_aws::keys() {
        let p = parent_path(k.path);
        // Only a refused key under an accepted parent is reported; deeper ones go with it.
        if k.status != KeyStatus::Refused || !(p.is_empty() || schema_accepts(&schema, p)) {
            continue;
        }
        reachable += 1;
        let refusal = kube_aws::refusal(k.path).expect("a refusal");
        assert!(
            refusal.instead.is_some(),
            "{}: its row (or an ancestor's) must say what to write instead (\"; Now: ...\")",
            k.path
        );
    }
    assert!(reachable > 50, "{reachable}");
    // Negative controls: supported and unknown paths are not refused.
    assert!(kube_aws::refusal("clusterName").is_none());
    assert!(kube_aws::refusal("notAKubeAwsKey").is_none());
}

/// Whether a row's "Now:" answer that says nothing replaces the key (`none ...`, or
/// `none in kubeline ...`) gives its reason in parentheses, as keys.tsv's header asks:
/// `none (kube-dns is gone: CoreDNS only)`. Answers that name a replacement pass.
fn none_gives_its_reason(now: &str) -> bool {
    let now = now.trim();
    let Some(rest) = now.strip_prefix("none") else {
        return true;
    };
    let rest = rest.trim_start();
    let rest = rest
        .strip_prefix("in kubeline")
        .unwrap_or(rest)
        .trim_start();
    rest.strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .is_some_and(|why| !why.trim().is_empty())
}

#[test]
fn every_none_says_why_nothing_replaces_the_key() {
    let mut nones = 0;
    for k in kube_aws::keys() {
        // A "Now:" the parser did not split off (a typo of the separator) hides in `what`.
        assert!(
            !k.what.to_lowercase().contains("now:"),
            "{}: write the answer as \"; Now: ...\" (keys.tsv): {}",
            k.path,
            k.what
        );
        let Some(now) = k.now else { continue };
        nones += usize::from(now.trim_start().starts_with("none"));
        assert!(
            none_gives_its_reason(now),
            "{}: \"Now: {now}\" needs its reason in parentheses, \"Now: none (why)\" \
             (crates/kubeline-core/src/kube_aws/keys.tsv)",
            k.path
        );
    }
    assert!(nones > 30, "only {nones} rows say none");
    // Negative controls on synthetic answers.
    for bare in [
        "none",
        "none ",
        "none ()",
        "none (  )",
        "none in kubeline",
        "none (why",
    ] {
        assert!(!none_gives_its_reason(bare), "{bare:?} passed");
    }
    for good in [
        "none (kube-dns is gone: CoreDNS only)",
        "none in kubeline (bake into the AMI)",
        "addons.coreDns.version",
        "see the kubelet.* keys",
    ] {
        assert!(none_gives_its_reason(good), "{good:?} failed");
    }
}
