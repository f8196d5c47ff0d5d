//! The kube-aws corpus: cluster.yaml files as a team moving from kube-aws writes them
//! (tests/kube-aws-configs/), each accepted with the effects it states or refused with the
//! exact diagnostics it states; every supported kube-aws key (crates/kubeline-core/src/
//! kube_aws/keys.tsv) written in an accepted file; and every refused key a user can write,
//! inserted into a valid cluster, refused with its own answer.
//!
//! A corpus file's directives are comment lines:
//!
//! - `# expect: <diagnostic>`: one line of `kubeline validate`'s output
//!   (`cluster.yaml:LINE:COL: path: message; hint`, warnings with `warning: `). The file's
//!   diagnostics are exactly its `# expect:` lines, in order; a file with an expected error is
//!   refused, a file without is accepted.
//! - `# renders: <target> contains <text>` or `# renders: <target> lacks <text>`: only in
//!   accepted files, each of which states at least one; the rendered target contains (or does not contain) the text, which runs
//!   to the end of the line. Targets:
//!   - a rendered file (`stack-templates/etcd.json`, `manifest.json`, `kubeconfig`,
//!     `addons/kube-proxy.yaml`); JSON files are searched in compact form, without any
//!     whitespace between tokens (`"Tenancy":"dedicated"`);
//!   - `userdata/<group>.json:<what>`: in that node config, the file at the absolute path
//!     `<what>` (its text, or the URL it is downloaded from) or the systemd unit `<what>`
//!     (its text and drop-ins);
//!   - `credentials/<name>.pem`: the certificate `kubeline render credentials` issues for the
//!     cluster, as lines `subject: CN=...`, `DNS:<name>`, `IP:<address>`, `days: <lifetime>`;
//!   - `cluster`: the validated cluster as compact JSON, the `cluster` overridden templates
//!     read (for `customSettings`, which no built-in template reads).

#[path = "kube_aws_corpus/directives.rs"]
mod directives;
#[path = "kube_aws_corpus/generated.rs"]
mod generated;

use std::collections::{BTreeMap, BTreeSet};

use kubeline_core::kube_aws::{self, KeyStatus};
use kubeline_core::render::{self, Templates};
use kubeline_core::validate;
use kubeline_core::yaml::{self, Path, Pos};
use kubeline_tests::{parent_path, read_repo_file, repo_root, schema_accepts};
use serde_json::Value;

use directives::{CorpusFile, Output, corpus, parse_render};
use generated::{SKIPS_THE_RULES, answered, emit, errors, insert, minimal, plausible};

// ---------------------------------------------------------------------------------------------
// The corpus files and their directives (tests/kube_aws_corpus/directives.rs).

#[test]
fn every_kube_aws_config_is_accepted_with_its_effects_or_refused_as_stated() {
    let files = corpus();
    assert!(
        files.len() >= 8,
        "the corpus has {} files; it needs at least 8",
        files.len()
    );
    let mut failures = Vec::new();
    let mut effects = 0;
    for f in &files {
        let loaded = validate::load(&f.text);
        let got = loaded.diagnostics.render("cluster.yaml");
        let got: Vec<&str> = got.lines().collect();
        if got != f.expect {
            failures.push(format!(
                "{}: diagnostics differ\n  expected:\n    {}\n  got:\n    {}",
                f.name,
                f.expect.join("\n    "),
                got.join("\n    ")
            ));
            continue;
        }
        match (f.accepted(), loaded.cluster) {
            (true, Some(cluster)) => {
                if f.renders.is_empty() {
                    failures.push(format!("{}: accepted, but states no effect", f.name));
                }
                let rendered = match render::render(&cluster, &Templates::builtin()) {
                    Ok(r) => r,
                    Err(e) => {
                        failures.push(format!("{}: render failed: {e}", f.name));
                        continue;
                    }
                };
                if rendered.has_limit_errors() {
                    failures.push(format!("{}: {:?}", f.name, rendered.limits));
                }
                let mut out = Output {
                    cluster: &cluster,
                    rendered: &rendered,
                    credentials: None,
                };
                for r in &f.renders {
                    effects += 1;
                    if let Err(e) = out.check(r) {
                        failures.push(format!("{}:{}: {e}", f.name, r.line));
                    }
                }
            }
            (false, None) => {
                if !f.renders.is_empty() {
                    failures.push(format!("{}: refused, but states effects", f.name));
                }
            }
            (true, None) => failures.push(format!("{}: refused without an error", f.name)),
            (false, Some(_)) => failures.push(format!("{}: accepted despite errors", f.name)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(effects >= 100, "only {effects} rendered effects are stated");
    assert!(
        files.iter().filter(|f| f.accepted()).count() >= 6,
        "too few accepted files"
    );
    assert!(
        files.iter().filter(|f| !f.accepted()).count() >= 4,
        "too few refused files"
    );
}

/// The directive checker fails where it should: a wrong text, a missing target, `lacks` of
/// something present, an unknown verb.
#[test]
fn the_render_directives_fail_when_the_effect_is_absent() {
    let text = std::fs::read_to_string(repo_root().join("examples/minimal/cluster.yaml"))
        .expect("example");
    let cluster = validate::load(&text).cluster.expect("minimal is valid");
    let rendered = render::render(&cluster, &Templates::builtin()).expect("render");
    let mut out = Output {
        cluster: &cluster,
        rendered: &rendered,
        credentials: None,
    };
    let check = |out: &mut Output<'_>, r: &str| out.check(&parse_render(1, r).expect("parses"));
    assert_eq!(
        check(
            &mut out,
            "stack-templates/etcd.json contains \"InstanceType\":\"t3.medium\""
        ),
        Ok(())
    );
    assert_eq!(
        check(
            &mut out,
            "userdata/etcd.json:etcd-members.service lacks tenancy"
        ),
        Err("userdata/etcd.json has no file or unit etcd-members.service".into())
    );
    assert!(
        check(
            &mut out,
            "stack-templates/etcd.json contains \"InstanceType\":\"m7i.large\""
        )
        .is_err()
    );
    assert!(
        check(
            &mut out,
            "stack-templates/etcd.json lacks \"InstanceType\":\"t3.medium\""
        )
        .is_err()
    );
    assert!(check(&mut out, "stack-templates/none.json contains x").is_err());
    assert!(
        check(
            &mut out,
            "credentials/apiserver.pem contains DNS:minimal.k8s.example.com"
        )
        .is_ok()
    );
    assert!(
        check(
            &mut out,
            "credentials/apiserver.pem contains DNS:other.example.com"
        )
        .is_err()
    );
    assert!(check(&mut out, "cluster contains \"name\":\"minimal\"").is_ok());
    assert!(parse_render(1, "kubeconfig has x").is_err());
    assert!(parse_render(1, "kubeconfig contains ").is_err());
}

// ---------------------------------------------------------------------------------------------
// Coverage of the supported keys.

/// Every path a YAML document writes, as kube-aws's table spells them (`[]` for list items):
/// mapping keys at every depth, sections and leaves alike.
fn written_paths(value: &Value) -> BTreeSet<String> {
    fn walk(v: &Value, path: &Path, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let p = path.key(k);
                    out.insert(p.pattern());
                    walk(v, &p, out);
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(v, &path.index(i), out);
                }
            }
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    walk(value, &Path::root(), &mut out);
    out
}

/// Supported keys no accepted corpus file writes, each with the reason (none today: every
/// supported key is written; keep it that way, or say here why a key cannot be).
const NOT_WRITTEN: &[(&str, &str)] = &[];

/// The supported keys of the table.
fn supported() -> Vec<&'static str> {
    kube_aws::keys()
        .iter()
        .filter(|k| k.status == KeyStatus::Supported)
        .map(|k| k.path)
        .collect()
}

/// The supported keys none of `files` writes.
fn not_written<'a>(files: impl IntoIterator<Item = &'a CorpusFile>) -> Vec<&'static str> {
    let mut written = BTreeSet::new();
    for f in files {
        let doc = yaml::parse(&f.text).unwrap_or_else(|e| panic!("{}: {e}", f.name));
        written.extend(written_paths(&doc.value));
    }
    supported()
        .into_iter()
        .filter(|k| !written.contains(*k))
        .collect()
}

#[test]
fn every_supported_kube_aws_key_is_written_in_an_accepted_config() {
    let files = corpus();
    let accepted: Vec<&CorpusFile> = files.iter().filter(|f| f.accepted()).collect();
    assert!(
        supported().len() > 150,
        "{} supported keys",
        supported().len()
    );
    let exempt: BTreeMap<&str, &str> = NOT_WRITTEN.iter().copied().collect();
    let missing = not_written(accepted.iter().copied());
    let unexplained: Vec<&&str> = missing
        .iter()
        .filter(|k| !exempt.contains_key(**k))
        .collect();
    assert!(
        unexplained.is_empty(),
        "supported kube-aws keys no accepted file in tests/kube-aws-configs/ writes: {unexplained:#?}"
    );
    for (key, why) in NOT_WRITTEN {
        assert!(
            supported().contains(key),
            "{key} is exempted but is no supported key"
        );
        assert!(
            missing.contains(key),
            "{key} is written now: drop its exemption"
        );
        assert!(!why.trim().is_empty(), "{key}: say why it is exempted");
    }
    assert!(NOT_WRITTEN.len() <= 5, "too many exemptions");
    // Negative control: without the one accepted file that writes some key, that key is
    // missing (the check can fail), and the refused files alone leave most keys unwritten.
    let sole = accepted.iter().enumerate().find_map(|(i, f)| {
        let others = accepted
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, g)| *g);
        let lost: Vec<&str> = not_written(others)
            .into_iter()
            .filter(|k| !missing.contains(k))
            .collect();
        lost.first().map(|k| (f.name.clone(), (*k).to_owned()))
    });
    let (file, key) = sole.expect("some key is written by one accepted file only");
    assert!(!file.is_empty() && !key.is_empty());
    let refused_only = not_written(files.iter().filter(|f| !f.accepted()));
    assert!(
        refused_only.len() > supported().len() / 2,
        "the refused files write {} supported keys",
        supported().len() - refused_only.len()
    );
}

/// The walker names sections, leaves and list items' keys as the table does, and nothing else.
#[test]
fn the_path_walker_spells_paths_as_the_table_does() {
    let doc = yaml::parse(
        "a: 1\nworker:\n  nodePools:\n    - name: x\n      taints: [{key: k}]\n    - count: 2\nl: [1, 2]\n",
    )
    .expect("yaml");
    let got: Vec<String> = written_paths(&doc.value).into_iter().collect();
    assert_eq!(
        got,
        [
            "a",
            "l",
            "worker",
            "worker.nodePools",
            "worker.nodePools[].count",
            "worker.nodePools[].name",
            "worker.nodePools[].taints",
            "worker.nodePools[].taints[].key",
        ]
    );
    // A key the document does not write is not named.
    let minimal = written_paths(
        &yaml::parse(
            &std::fs::read_to_string(repo_root().join("examples/minimal/cluster.yaml"))
                .expect("example"),
        )
        .expect("yaml")
        .value,
    );
    assert!(minimal.contains("apiEndpoints[].loadBalancer.hostedZone.id"));
    assert!(!minimal.contains("etcd.tenancy"));
}

// ---------------------------------------------------------------------------------------------
// Every refused key a user can write, inserted into a valid cluster (tests/kube_aws_corpus/
// generated.rs).

#[test]
fn every_refused_key_a_user_can_write_is_refused_with_its_own_answer() {
    let schema: Value =
        serde_json::from_str(&read_repo_file("docs/cluster.schema.json")).expect("schema");
    let (base_text, _) = emit(&minimal());
    let (ok, base_errors, base_warnings) = errors(&base_text);
    assert!(ok && base_errors.is_empty(), "{base_errors:?}");
    let mut exercised = 0;
    let mut failures = Vec::new();
    let mut skipped = Vec::new();
    for k in kube_aws::keys() {
        let p = parent_path(k.path);
        if k.status != KeyStatus::Refused || !(p.is_empty() || schema_accepts(&schema, p)) {
            continue;
        }
        exercised += 1;
        let value = plausible(k.path);
        let mut doc = minimal();
        let at = insert(&mut doc, k.path, value.clone());
        let (text, keys) = emit(&doc);
        let mut reported = Vec::new();
        answered(&at, &value, &mut reported);
        if reported.is_empty() {
            reported.push(at.clone());
        }
        let mut expected: Vec<(Pos, String)> = reported
            .iter()
            .map(|q| {
                let r =
                    kube_aws::refusal(&q.pattern()).unwrap_or_else(|| panic!("{q}: no refusal"));
                assert!(
                    r.message
                        .starts_with("a kube-aws setting kubeline does not take: "),
                    "{q}: {}",
                    r.message
                );
                let pos = keys[q];
                (
                    pos,
                    format!("cluster.yaml:{pos}: {q}: {}; {}", r.message, r.hint),
                )
            })
            .collect();
        expected.sort();
        let expected: Vec<String> = expected.into_iter().map(|(_, l)| l).collect();
        let (accepted, got, warnings) = errors(&text);
        // The rules after the schema still run, and report what they reported without the
        // key (the warnings of the base) ...
        let rules_ran = warnings == base_warnings;
        // ... except where a known bug stops them (see SKIPS_THE_RULES).
        let known = SKIPS_THE_RULES.contains(&k.path);
        if known {
            skipped.push(k.path);
        }
        if known && rules_ran {
            failures.push(format!(
                "{}: the rules run now: remove it from SKIPS_THE_RULES",
                k.path
            ));
        }
        if accepted || got != expected || (!known && !rules_ran) {
            failures.push(format!(
                "{}: accepted {accepted}\n  expected:\n    {}\n  got:\n    {}\n  warnings:\n    {}\n  in:\n{text}",
                k.path,
                expected.join("\n    "),
                got.join("\n    "),
                warnings.join("\n    "),
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert_eq!(
        skipped, SKIPS_THE_RULES,
        "SKIPS_THE_RULES names keys that are not exercised"
    );
    assert!(exercised > 100, "only {exercised} refused keys exercised");
}

/// The same insertion of supported keys is accepted, of a key kube-aws never had is an
/// unknown key, and the emitter reproduces the example.
#[test]
fn inserting_a_supported_or_an_unknown_key_is_not_a_refusal() {
    use serde_json::json;
    let original = validate::load(&read_repo_file("examples/minimal/cluster.yaml"))
        .cluster
        .expect("minimal is valid");
    let (text, _) = emit(&minimal());
    let emitted = validate::load(&text)
        .cluster
        .expect("the emitted example is valid");
    assert_eq!(
        serde_json::to_value(&original).expect("json"),
        serde_json::to_value(&emitted).expect("json")
    );
    for (path, value) in [
        ("kubeProxy.ipvsMode.enabled", json!(true)),
        ("waitSignal.maxBatchSize", json!(1)),
        ("etcd.snapshot.automated", json!(true)),
        ("worker.nodePools[].tenancy", json!("dedicated")),
        (
            "controller.iam.role.managedPolicies",
            json!([{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}]),
        ),
        ("cloudWatchLogging.retentionInDays", json!(30)),
    ] {
        assert_eq!(
            kube_aws::key(path).map(|k| k.status),
            Some(KeyStatus::Supported),
            "{path}"
        );
        let mut doc = minimal();
        insert(&mut doc, path, value);
        let (text, _) = emit(&doc);
        let (accepted, errs, _) = errors(&text);
        assert!(accepted && errs.is_empty(), "{path}: {errs:?}\n{text}");
    }
    let mut doc = minimal();
    let at = insert(&mut doc, "worker.nodePools[].spotFleets", json!(true));
    let (text, keys) = emit(&doc);
    let (accepted, errs, _) = errors(&text);
    assert!(!accepted);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with(&format!("cluster.yaml:{}: {at}: unknown key; ", keys[&at])),
        "{errs:?}"
    );
    assert!(kube_aws::refusal("worker.nodePools[].spotFleets").is_none());
}
