//! docs/kube-aws.md, the table "kube-aws key → kubeline", is complete and true: it has one row
//! per key of kube-aws's last cluster.yaml template (the list stored in
//! `tests/data/kube-aws-keys.txt`), in the same order, and a key is marked *supported*
//! exactly when kubeline's schema (docs/cluster.schema.json) accepts that path.

use kubeline_tests::repo_root;
use serde_json::Value;

fn read(path: &str) -> String {
    std::fs::read_to_string(repo_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The schema node at `ref_or_node`, following `$ref` into `$defs`.
fn resolve<'a>(schema: &'a Value, node: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.rsplit('/').next().unwrap_or_default();
            let defs = schema.get("$defs").or_else(|| schema.get("definitions"));
            resolve(schema, &defs.expect("definitions")[name])
        }
        None => node,
    }
}

/// Whether the schema accepts the dotted `path` (`[]` for list items).
fn accepts(schema: &Value, path: &str) -> bool {
    let mut segments = Vec::new();
    for part in path.split('.') {
        match part.strip_suffix("[]") {
            Some(name) => {
                segments.push(name.to_owned());
                segments.push("[]".to_owned());
            }
            None => segments.push(part.to_owned()),
        }
    }
    fn walk(schema: &Value, node: &Value, segs: &[String]) -> bool {
        let node = resolve(schema, node);
        let Some((first, rest)) = segs.split_first() else {
            return true;
        };
        // Options and unions: any branch that accepts the rest.
        for key in ["anyOf", "oneOf", "allOf"] {
            if let Some(branches) = node.get(key).and_then(Value::as_array)
                && branches.iter().any(|b| walk(schema, b, segs))
            {
                return true;
            }
        }
        let next = if first == "[]" {
            node.get("items")
        } else {
            node.get("properties").and_then(|p| p.get(first))
        };
        next.is_some_and(|n| walk(schema, n, rest))
    }
    walk(schema, schema, &segments)
}

#[test]
fn the_kube_aws_table_has_every_key_and_tells_the_truth() {
    let keys: Vec<String> = read("tests/data/kube-aws-keys.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    assert!(keys.len() > 600, "only {} keys", keys.len());
    let schema: Value = serde_json::from_str(&read("docs/cluster.schema.json")).expect("schema");
    let doc = read("docs/kube-aws.md");
    let rows: Vec<(String, String)> = doc
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let key = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((key.to_owned(), (*cells.get(2)?).to_owned()))
        })
        .collect();
    let table_keys: Vec<&String> = rows.iter().map(|(k, _)| k).collect();
    assert_eq!(
        table_keys,
        keys.iter().collect::<Vec<_>>(),
        "docs/kube-aws.md must list every key of tests/data/kube-aws-keys.txt, in order"
    );
    let mut supported = 0;
    for (key, status) in &rows {
        let accepted = accepts(&schema, key);
        match status.as_str() {
            "supported" => assert!(
                accepted,
                "{key} is marked supported but the schema refuses it"
            ),
            "missing" => assert!(
                !accepted,
                "{key} is accepted by the schema: mark it supported"
            ),
            other => panic!("{key}: unknown status {other:?}"),
        }
        supported += usize::from(accepted);
    }
    assert!(supported >= 100, "{supported} supported keys");
    // Negative controls for the schema walk.
    assert!(accepts(
        &schema,
        "worker.nodePools[].autoScalingGroup.minSize"
    ));
    assert!(!accepts(
        &schema,
        "worker.nodePools[].spotFleet.targetCapacity"
    ));
    assert!(!accepts(&schema, "clusterName.x"));
}
