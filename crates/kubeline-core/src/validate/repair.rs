//! Preparing the parsed tree before the rules run: YAML nulls read as empty lists and mappings
//! (guided by the schema), and structurally broken settings removed so that defaults apply.

use crate::yaml::Path;

/// A key written without a value (`sshAccessAllowedSourceCIDRs:`, i.e. YAML null) means
/// "none", as in kube-aws: wherever the schema expects a list or a mapping (and does not
/// accept null), a null mapping value becomes `[]` or `{}`, so the key reads as empty and any
/// defaults of a mapping apply. Done once on the whole tree, guided by the schema, so every
/// list- and map-typed key behaves the same. Null list items and a null document are kept.
pub(super) fn null_as_empty(value: &mut serde_json::Value) {
    use serde_json::Value;
    static SCHEMA: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    let schema = SCHEMA.get_or_init(crate::model::json_schema);
    fn resolve<'s>(root: &'s Value, mut node: &'s Value) -> &'s Value {
        for _ in 0..16 {
            let Some(r) = node.get("$ref").and_then(Value::as_str) else {
                break;
            };
            match root.pointer(r.trim_start_matches('#')) {
                Some(n) => node = n,
                None => break,
            }
        }
        // An optional value (`anyOf: [T, null]`): look into T.
        let branches = node.get("anyOf").or_else(|| node.get("oneOf"));
        if let Some(Value::Array(bs)) = branches {
            let non_null: Vec<&Value> = bs
                .iter()
                .filter(|b| b.get("type").and_then(Value::as_str) != Some("null"))
                .collect();
            if let [only] = non_null.as_slice() {
                return resolve(root, only);
            }
        }
        node
    }
    fn walk(root: &Value, schema: &Value, value: &mut Value) {
        let schema = resolve(root, schema);
        match value {
            Value::Object(map) => {
                let props = schema.get("properties");
                let extra = schema.get("additionalProperties").filter(|a| a.is_object());
                for (k, v) in map.iter_mut() {
                    let Some(child) = props.and_then(|p| p.get(k.as_str())).or(extra) else {
                        continue;
                    };
                    if v.is_null() {
                        // Only a plain `type: array|object`; `[T, null]` keeps its null.
                        match resolve(root, child).get("type").and_then(Value::as_str) {
                            Some("array") => *v = Value::Array(Vec::new()),
                            Some("object") => *v = Value::Object(serde_json::Map::new()),
                            _ => {}
                        }
                    }
                    walk(root, child, v);
                }
            }
            Value::Array(items) => {
                if let Some(item) = schema.get("items").filter(|i| i.is_object()) {
                    for v in items {
                        walk(root, item, v);
                    }
                }
            }
            _ => {}
        }
    }
    walk(schema, schema, value);
}

/// Removes the mapping keys at `paths`, and each mapping left empty by a removal (so a
/// section whose every key was refused, such as kube-aws's `kubernetes:` or `kubeAwsPlugins:`,
/// goes too and the rules still run; an absent mapping and an empty one read alike, since
/// `null_as_empty` makes them so). A path under one already removed is skipped. Gives up
/// (None) when a path ends in a list index.
pub(super) fn repair(value: &serde_json::Value, paths: &[Path]) -> Option<serde_json::Value> {
    use crate::yaml::Seg;
    let mut v = value.clone();
    for p in paths {
        let Some((Seg::Key(_), _)) = p.0.split_last() else {
            return None;
        };
        let mut end = p.0.len();
        while let Some((Seg::Key(last), parent)) = p.0[..end].split_last() {
            // A key under one already removed (a section and its keys both reported) is gone.
            let Some(node) = parent.iter().try_fold(&mut v, |node, seg| match seg {
                Seg::Key(k) => node.get_mut(k.as_str()),
                Seg::Index(i) => node.get_mut(*i),
            }) else {
                break;
            };
            let map = node.as_object_mut()?;
            map.remove(last);
            if !map.is_empty() || parent.is_empty() {
                break;
            }
            end -= 1;
        }
    }
    Some(v)
}
