//! Contracts between the state machines, the Lambdas and the sample events: every definition
//! passes asl-validator; every error name a Retry or Catch uses exists in the code; every
//! function a definition calls is a crate in functions/; the local runner replaces every
//! substitution; every file in events/ deserialises into its handler's input.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use kubeline_core::errors::ErrorName;
use kubeline_core::pipeline::{ROUTES, Route};
use kubeline_pipeline::steps::StartInput;
use kubeline_tests::{installation_template, outcome, repo_root, run};
use serde_json::Value;

fn definitions() -> Vec<(PathBuf, Value)> {
    let dir = repo_root().join("statemachine");
    let mut out: Vec<(PathBuf, Value)> = std::fs::read_dir(&dir)
        .expect("statemachine/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".asl.json"))
        .map(|p| {
            let v = serde_json::from_str(&std::fs::read_to_string(&p).expect("read"))
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        out.len(),
        5,
        "pipeline, destroy, restore, rotation and drift"
    );
    out
}

fn asl_validator() -> PathBuf {
    let p = repo_root().join(".tools/node/node_modules/.bin/asl-validator");
    assert!(
        p.is_file(),
        "asl-validator is not installed: run `cargo xtask test` (it installs every tool the tests use)"
    );
    p
}

#[test]
fn every_definition_passes_asl_validator() {
    for (path, _) in definitions() {
        let (ok, out) = outcome(&run(Command::new(asl_validator())
            .arg("--json-path")
            .arg(&path)));
        assert!(ok && out.contains("is valid"), "{}: {out}", path.display());
    }
    // Negative control: a transition to a state that does not exist.
    let tmp = tempfile::tempdir().expect("tmp");
    let bad = tmp.path().join("bad.asl.json");
    std::fs::write(
        &bad,
        r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"Missing"}}}"#,
    )
    .expect("write");
    let (ok, out) = outcome(&run(Command::new(asl_validator())
        .arg("--json-path")
        .arg(&bad)));
    assert!(!ok, "asl-validator accepted a dangling Next: {out}");
}

fn walk<'a>(v: &'a Value, f: &mut impl FnMut(&'a Value)) {
    f(v);
    match v {
        Value::Object(m) => m.values().for_each(|x| walk(x, f)),
        Value::Array(a) => a.iter().for_each(|x| walk(x, f)),
        _ => {}
    }
}

#[test]
fn every_error_name_in_retry_and_catch_exists_in_the_code() {
    let mut used = BTreeSet::new();
    for (_, def) in definitions() {
        for st in def["States"].as_object().expect("States").values() {
            for key in ["Retry", "Catch"] {
                for rule in st[key].as_array().into_iter().flatten() {
                    for name in rule["ErrorEquals"].as_array().into_iter().flatten() {
                        used.insert(name.as_str().unwrap_or_default().to_owned());
                    }
                }
            }
        }
    }
    let ours: Vec<&String> = used
        .iter()
        .filter(|n| !n.starts_with("States.") && !n.starts_with("Lambda."))
        .collect();
    assert!(ours.len() >= 5, "{used:?}");
    for name in ours {
        assert!(
            ErrorName::parse(name).is_some(),
            "{name} is used in a Retry/Catch but is no ErrorName: no step returns it"
        );
    }
    // And every transient name is retried somewhere.
    for name in ErrorName::ALL.iter().filter(|n| n.is_transient()) {
        assert!(used.contains(name.as_str()), "{name} is never retried");
    }
}

#[test]
fn every_called_function_is_a_crate_and_the_local_runner_fills_every_substitution() {
    for (path, def) in definitions() {
        let mut functions = BTreeSet::new();
        walk(&def, &mut |v| {
            if let Some(s) = v.as_str()
                && let Some(name) = s
                    .strip_prefix("${")
                    .and_then(|r| r.strip_suffix("FunctionArn}"))
            {
                functions.insert(name.to_lowercase());
            }
        });
        assert!(!functions.is_empty(), "{}", path.display());
        for f in &functions {
            assert!(
                repo_root()
                    .join("functions")
                    .join(f)
                    .join("Cargo.toml")
                    .is_file(),
                "{}: function {f} has no crate functions/{f}",
                path.display()
            );
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let local = kubeline::local::localise_definition(
            &text,
            "arn:aws:sns:eu-west-1:123456789012:t",
            "http://127.0.0.1/q",
        )
        .expect("localise");
        assert!(
            !local.contains("${"),
            "{}: an unfilled substitution",
            path.display()
        );
        assert!(
            !local.contains("lambda:invoke"),
            "{}: a Lambda task left",
            path.display()
        );
    }
}

/// Every state of a definition (Map iterators and Parallel branches included), by name.
fn states(machine: &Value, out: &mut Vec<(String, Value)>) {
    for (name, st) in machine["States"].as_object().expect("States") {
        out.push((name.clone(), st.clone()));
        for inner in ["Iterator", "ItemProcessor"] {
            if st.get(inner).is_some() {
                states(&st[inner], out);
            }
        }
        for b in st["Branches"].as_array().into_iter().flatten() {
            states(b, out);
        }
    }
}

#[test]
fn the_local_runner_waits_0_s_only_where_moto_s_cloudformation_has_already_finished() {
    let mut instant = BTreeSet::new();
    let mut kept = BTreeSet::new();
    for (path, _) in definitions() {
        let text = std::fs::read_to_string(&path).expect("read");
        let local = kubeline::local::localise_definition(&text, "arn:t", "http://127.0.0.1/q")
            .expect("localise");
        let mut all = Vec::new();
        states(&serde_json::from_str(&local).expect("JSON"), &mut all);
        for (name, st) in all.into_iter().filter(|(_, st)| st["Type"] == "Wait") {
            match st["Seconds"].as_u64() {
                Some(0) => instant.insert(name),
                Some(1) => kept.insert(name),
                other => panic!("{}: {name} waits {other:?}", path.display()),
            };
        }
    }
    let named: BTreeSet<String> = kubeline::local::CLOUDFORMATION_WAITS
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        instant, named,
        "every listed wait exists, and only those take 0 s"
    );
    // The waits for etcd members' reports (written by the nodes, here by the tests) keep 1 s.
    assert!(
        kept.contains("WaitForMembers") && kept.contains("WaitForSnapshot"),
        "{kept:?}"
    );
}

fn event_files(dir: &str) -> Vec<(String, Value)> {
    let d = repo_root().join("events").join(dir);
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&d)
        .unwrap_or_else(|e| panic!("{}: {e}", d.display()))
        .flatten()
        .map(|e| {
            let name = format!("events/{dir}/{}", e.file_name().to_string_lossy());
            let v = serde_json::from_str(&std::fs::read_to_string(e.path()).expect("read"))
                .unwrap_or_else(|err| panic!("{name}: {err}"));
            (name, v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!out.is_empty(), "events/{dir} is empty");
    out
}

fn decodes<T: serde::de::DeserializeOwned>(name: &str, v: &Value) {
    if let Err(e) = serde_json::from_value::<T>(v.clone()) {
        panic!("{name} does not deserialise into its handler's input: {e}");
    }
}

#[test]
fn every_sample_event_deserialises_into_its_handlers_input() {
    for (name, v) in event_files("eventbridge") {
        let input = StartInput::from_event_detail(&v["detail"], "run-1", None)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(input.key.starts_with("clusters/team-a/"), "{name}");
        assert_eq!(v["source"], "aws.s3", "{name}");
    }
    for (name, v) in event_files("validate") {
        decodes::<kubeline_fn_validate::Request>(&name, &v);
    }
    for (name, v) in event_files("credentials") {
        decodes::<kubeline_fn_credentials::Request>(&name, &v);
    }
    for (name, v) in event_files("render") {
        decodes::<kubeline_fn_render::Request>(&name, &v);
    }
    for (name, v) in event_files("apply") {
        decodes::<kubeline_fn_apply::Request>(&name, &v);
    }
    for (name, v) in event_files("destroy") {
        decodes::<kubeline_fn_destroy::Request>(&name, &v);
    }
    // Negative control: an unknown op is refused.
    let bad = serde_json::json!({"op": "explode"});
    assert!(serde_json::from_value::<kubeline_fn_apply::Request>(bad).is_err());
}

/// Every S3 rule of the template: (route it leads to, detail-type, key wildcard, input template).
fn template_rules() -> Vec<(Route, String, String, Option<String>)> {
    let t = installation_template();
    let mut out = Vec::new();
    let mut add = |route: Route, pattern: &Value, input: Option<&Value>| {
        assert_eq!(pattern["source"], serde_json::json!(["aws.s3"]));
        assert_eq!(
            pattern["detail"]["bucket"]["name"],
            serde_json::json!([{"Ref": "Bucket"}])
        );
        let kinds = pattern["detail-type"].as_array().expect("detail-type");
        let keys = pattern["detail"]["object"]["key"].as_array().expect("key");
        assert_eq!(
            (kinds.len(), keys.len()),
            (1, 1),
            "one kind and one key per rule: {pattern}"
        );
        out.push((
            route,
            kinds[0].as_str().unwrap_or_default().to_owned(),
            keys[0]["wildcard"].as_str().unwrap_or_default().to_owned(),
            input.and_then(Value::as_str).map(str::to_owned),
        ));
    };
    for (name, r) in t["Resources"].as_object().expect("Resources") {
        for (_, e) in r["Properties"]["Events"].as_object().into_iter().flatten() {
            if e["Type"] != "EventBridgeRule" {
                continue;
            }
            let route = match name.as_str() {
                "PipelineStateMachine" => Route::StartPipeline,
                "DestroyStateMachine" => Route::StartDestroy,
                "RestoreStateMachine" => Route::StartRestore,
                "ApplyFunction" => Route::Approval,
                "ValidateFunction" => Route::ConfigDeleted,
                other => panic!("{other} has an S3 rule the router does not know"),
            };
            let input = &e["Properties"]["InputTransformer"]["InputTemplate"];
            add(route, &e["Properties"]["Pattern"], Some(input));
        }
        // Every S3 rule is a function's or a state machine's event (no bare rule sends a
        // message the code did not build).
        assert_ne!(r["Type"], "AWS::Events::Rule", "{name}");
    }
    out
}

#[test]
fn the_installations_event_rules_are_the_routers() {
    let rules = template_rules();
    assert_eq!(rules.len(), ROUTES.len(), "{rules:?}");
    for r in ROUTES {
        let kind = r.kind.detail_type();
        let found = rules
            .iter()
            .find(|(route, k, w, _)| *route == r.route && k == kind && w == r.wildcard);
        assert!(
            found.is_some(),
            "{r:?} has no rule in infra/template.yaml: {rules:?}"
        );
    }
    // A deleted cluster.yaml goes to the validate function, which builds the chat message
    // like every other (the local runner calls the same op).
    let deleted = rules
        .iter()
        .find(|r| r.0 == Route::ConfigDeleted)
        .expect("rule");
    assert_eq!(
        deleted.3.as_deref(),
        Some(r#"{"op": "config-deleted", "key": <key>}"#)
    );
    let filled = r#"{"op": "config-deleted", "key": "clusters/a/cluster.yaml"}"#;
    assert!(serde_json::from_str::<kubeline_fn_validate::Request>(filled).is_ok());
    let approval = rules.iter().find(|r| r.0 == Route::Approval).expect("rule");
    assert_eq!(
        approval.3.as_deref(),
        Some(r#"{"op": "approval", "key": <key>}"#)
    );
}

#[test]
fn the_asl_validator_tool_is_the_pinned_one() {
    let (ok, out) = outcome(&run(Command::new(asl_validator()).arg("--version")));
    assert!(ok && out.trim() == "4.0.0", "{out}");
}

#[test]
fn each_function_links_only_the_core_features_it_uses() {
    // (function, the kubeline-pipeline features it enables)
    let table = [
        ("validate", vec!["lambda", "schema", "tls-ring"]),
        ("credentials", vec!["lambda", "pki", "tls-aws-lc"]),
        ("render", vec!["lambda", "render", "tls-ring"]),
        ("apply", vec!["lambda", "tls-ring"]),
        ("destroy", vec!["lambda", "schema", "tls-ring"]),
    ];
    for (f, want) in table {
        let path = repo_root().join("functions").join(f).join("Cargo.toml");
        let text = std::fs::read_to_string(&path).expect("Cargo.toml");
        let line = text
            .lines()
            .find(|l| l.starts_with("kubeline-pipeline"))
            .unwrap_or_else(|| panic!("{f}: no kubeline-pipeline dependency"));
        let features: Vec<&str> = line
            .split_once("features = [")
            .and_then(|(_, rest)| rest.split_once(']'))
            .map(|(list, _)| {
                list.split(',')
                    .map(|x| x.trim().trim_matches('"'))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(features, want, "{f}: {line}");
        let core = text.lines().find(|l| l.starts_with("kubeline-core"));
        if let Some(core) = core {
            assert!(
                !core.contains("render") || f == "render",
                "{f} links the core's rendering: {core}"
            );
        }
    }
    // The workspace dependency leaves the core's features off, so nothing enables them behind
    // a function's back.
    let root = std::fs::read_to_string(repo_root().join("Cargo.toml")).expect("Cargo.toml");
    for dep in ["kubeline-core", "kubeline-pipeline"] {
        let line = root
            .lines()
            .find(|l| l.starts_with(dep))
            .expect("workspace dependency");
        assert!(line.contains("default-features = false"), "{line}");
    }
}
