//! cluster.yaml's schema is checked by kubeline's own walker of the keywords the model's
//! schema uses (`check::structure`), not by a general validator, to keep the validate
//! function's package small. This compares the walker's verdict with the jsonschema crate's
//! (the reference validator, used here only) on the examples, the invalid-config corpus and
//! thousands of single-value mutations of each example, and fails when the schema starts
//! using a keyword the walker does not know.

use kubeline_core::check;
use kubeline_tests::repo_root;
use serde_json::{Value, json};

fn schema() -> Value {
    kubeline_core::model::json_schema()
}

#[test]
fn the_schema_uses_only_keywords_the_walker_knows() {
    fn keywords(node: &Value, out: &mut Vec<String>) {
        if let Value::Object(map) = node {
            for (k, v) in map {
                out.push(k.clone());
                match k.as_str() {
                    "properties" | "$defs" => {
                        for s in v.as_object().into_iter().flat_map(|m| m.values()) {
                            keywords(s, out);
                        }
                    }
                    "items" | "additionalProperties" => keywords(v, out),
                    "oneOf" | "anyOf" => {
                        for s in v.as_array().into_iter().flatten() {
                            keywords(s, out);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    let mut used = Vec::new();
    keywords(&schema(), &mut used);
    assert!(used.len() > 100, "{}", used.len());
    let unknown: Vec<&String> = used
        .iter()
        .filter(|k| !check::KEYWORDS.contains(&k.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "keywords the walker does not evaluate: {unknown:?}"
    );
    // Control: a keyword outside the subset is seen.
    let mut more = Vec::new();
    keywords(&json!({"properties": {"a": {"pattern": "x"}}}), &mut more);
    assert!(more.iter().any(|k| !check::KEYWORDS.contains(&k.as_str())));
}

/// Every value in `v` replaced by each of a set of wrong or odd values, one at a time, every
/// mapping given an unknown key, and every key removed.
fn mutations(v: &Value) -> Vec<Value> {
    let odd = [
        Value::Null,
        json!(1),
        json!(-1),
        json!(2.5),
        json!(-0.5),
        json!(3.0),
        json!(99_999_999_999u64),
        json!("text"),
        json!(true),
        json!([]),
        json!([1]),
        json!({}),
        json!({"zz": 1}),
    ];
    let mut out = Vec::new();
    fn paths(v: &Value, at: &mut Vec<String>, out: &mut Vec<String>) {
        out.push(at.join("/"));
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    at.push(k.replace('~', "~0").replace('/', "~1"));
                    paths(x, at, out);
                    at.pop();
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    at.push(i.to_string());
                    paths(x, at, out);
                    at.pop();
                }
            }
            _ => {}
        }
    }
    let mut all = Vec::new();
    paths(v, &mut Vec::new(), &mut all);
    for p in all.iter().filter(|p| !p.is_empty()) {
        let ptr = format!("/{p}");
        for o in &odd {
            let mut m = v.clone();
            if let Some(slot) = m.pointer_mut(&ptr) {
                *slot = o.clone();
                out.push(m);
            }
        }
        let mut m = v.clone();
        if let Some(Value::Object(map)) = m.pointer_mut(&ptr) {
            map.insert("notAKey".into(), json!(1));
            out.push(m);
        }
        // Without the key (a required setting missing, or a default taking its place).
        let (parent, key) = ptr.rsplit_once('/').expect("a pointer");
        let mut m = v.clone();
        if let Some(Value::Object(map)) = m.pointer_mut(parent)
            && map
                .remove(&key.replace("~1", "/").replace("~0", "~"))
                .is_some()
        {
            out.push(m);
        }
    }
    out
}

#[test]
fn the_walker_agrees_with_a_general_validator() {
    let reference = jsonschema::validator_for(&schema()).expect("the schema compiles");
    let root = repo_root();
    let mut docs: Vec<Value> = Vec::new();
    for (_, f) in kubeline_tests::examples_and_demo() {
        let text = std::fs::read_to_string(&f).expect("read");
        let doc = kubeline_core::yaml::parse(&text).expect("yaml").value;
        assert!(check::is_valid(&doc), "{}", f.display());
        docs.extend(mutations(&doc));
        docs.push(doc);
    }
    for e in std::fs::read_dir(root.join("tests/invalid-configs"))
        .expect("corpus")
        .flatten()
    {
        let text = std::fs::read_to_string(e.path()).expect("read");
        if let Ok(doc) = kubeline_core::yaml::parse(&text) {
            docs.push(doc.value);
        }
    }
    assert!(docs.len() > 3000, "{}", docs.len());
    let (mut valid, mut invalid) = (0, 0);
    for d in &docs {
        let want = reference.is_valid(d);
        assert_eq!(
            check::is_valid(d),
            want,
            "walker and jsonschema disagree on\n{d:#}"
        );
        if want { valid += 1 } else { invalid += 1 }
    }
    // Both verdicts occur often, so the comparison means something either way.
    assert!(
        valid > 500 && invalid > 1000,
        "{valid} valid, {invalid} invalid"
    );
}
