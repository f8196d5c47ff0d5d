//! The JSON Schema half of the structural checks (feature `schema`): cluster.yaml against the
//! schema schemars generates from [`crate::model`], every problem at once, with kube-aws's
//! refused keys answered and near-miss keys suggested.
//!
//! The schema is kubeline's own and uses a small set of keywords (`type`, `properties`,
//! `additionalProperties`, `required`, `items`, `const`, `oneOf`, `anyOf`, `$ref` to `$defs`,
//! `minimum`; `enum` and `maximum` too, unused today; with `format`, `default`, `description` and `title` as annotations), so it is
//! evaluated here by a walker of that subset instead of a general validator, which would be
//! most of the validate function's package (docs/pipeline.md, "Function packages").
//! [`KEYWORDS`] is the subset: a test fails when the model's schema uses any other keyword,
//! and another compares the walker's verdict with the jsonschema crate's on thousands of
//! documents (tests/schema_walker.rs).

use std::sync::OnceLock;

use serde_json::{Map, Value};

use super::kind_of;
use crate::diag::{Diagnostic, Severity, did_you_mean};
use crate::yaml::{Located, Path};

/// Every keyword the walker understands; `format`, `default`, `description`, `title` and
/// `$schema` are annotations (draft 2020-12 does not assert `format` by default).
pub const KEYWORDS: &[&str] = &[
    "type",
    "properties",
    "additionalProperties",
    "required",
    "items",
    "const",
    "enum",
    "oneOf",
    "anyOf",
    "$ref",
    "$defs",
    "minimum",
    "maximum",
    "format",
    "default",
    "description",
    "title",
    "$schema",
];

/// How deep `$ref`s may chain into each other before the walker gives up on a node (the
/// model's schema nests a few levels; a cycle without a value to descend into stops here).
const MAX_REFS: usize = 16;

fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(crate::model::json_schema)
}

/// Checks the document's shape against the schema; returns every problem found.
pub fn structure(doc: &Located) -> Vec<Diagnostic> {
    let mut out = super::basics(doc);
    if !doc.value.is_object() {
        return out;
    }
    let mut problems = Vec::new();
    walk(schema(), &doc.value, &Path::root(), 0, &mut problems);
    for p in &problems {
        convert(p, doc, &mut out);
    }
    out
}

/// Whether `value` satisfies the model's schema (the walker's verdict alone, for tests that
/// compare it with a general validator's).
pub fn is_valid(value: &Value) -> bool {
    let mut problems = Vec::new();
    walk(schema(), value, &Path::root(), 0, &mut problems);
    problems.is_empty()
}

/// One rule of the schema a value breaks, at its path.
#[derive(Debug)]
enum Problem {
    /// Keys the object's schema does not allow, with the keys it does.
    Unknown {
        path: Path,
        keys: Vec<String>,
        allowed: Vec<String>,
    },
    Required {
        path: Path,
        name: String,
    },
    Type {
        path: Path,
        expected: Vec<String>,
    },
    Const {
        path: Path,
        expected: Value,
    },
    Enum {
        path: Path,
        options: Value,
    },
    /// No branch of a `oneOf`/`anyOf` matched: each branch's problems.
    NoBranch {
        path: Path,
        branches: Vec<Vec<Problem>>,
    },
    /// More than one branch of a `oneOf` matched.
    Ambiguous {
        path: Path,
    },
    Minimum {
        path: Path,
        limit: Value,
    },
    Maximum {
        path: Path,
        limit: Value,
    },
}

/// The schema `$ref` points to (`#/...` in the model's schema), if it resolves.
fn target(reference: &str) -> Option<&'static Value> {
    let ptr = reference.strip_prefix('#')?;
    if ptr.is_empty() {
        Some(schema())
    } else {
        schema().pointer(ptr)
    }
}

fn type_matches(name: &str, v: &Value) -> bool {
    match name {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "string" => v.is_string(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        "number" => v.is_number(),
        // A number with no fractional part is an integer (JSON Schema 2020-12, section 4.2.2).
        "integer" => match v {
            Value::Number(n) => {
                n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            _ => false,
        },
        _ => false,
    }
}

/// Compares two JSON numbers by value (an integer limit against a float instance and back).
fn below(v: &Value, limit: &Value) -> Option<bool> {
    let (a, b) = (v.as_f64()?, limit.as_f64()?);
    Some(a < b)
}

fn walk(node: &Value, value: &Value, path: &Path, refs: usize, out: &mut Vec<Problem>) {
    let Some(node) = node.as_object() else {
        // `true` allows anything; `false` nothing (not used by the model's schema).
        if node == &Value::Bool(false) {
            out.push(Problem::Type {
                path: path.clone(),
                expected: Vec::new(),
            });
        }
        return;
    };
    if let Some(r) = node.get("$ref").and_then(Value::as_str)
        && refs < MAX_REFS
        && let Some(t) = target(r)
    {
        walk(t, value, path, refs + 1, out);
    }
    if let Some(t) = node.get("type") {
        let names: Vec<String> = match t {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        };
        if !names.iter().any(|n| type_matches(n, value)) {
            out.push(Problem::Type {
                path: path.clone(),
                expected: names,
            });
        }
    }
    if let Some(c) = node.get("const")
        && c != value
    {
        out.push(Problem::Const {
            path: path.clone(),
            expected: c.clone(),
        });
    }
    if let Some(options) = node.get("enum")
        && !options.as_array().is_some_and(|o| o.contains(value))
    {
        out.push(Problem::Enum {
            path: path.clone(),
            options: options.clone(),
        });
    }
    match value {
        Value::Object(map) => object(node, map, path, out),
        Value::Array(items) => {
            if let Some(item) = node.get("items") {
                for (i, v) in items.iter().enumerate() {
                    walk(item, v, &path.index(i), 0, out);
                }
            }
        }
        Value::Number(_) => {
            if let Some(l) = node.get("minimum")
                && below(value, l) == Some(true)
            {
                out.push(Problem::Minimum {
                    path: path.clone(),
                    limit: l.clone(),
                });
            }
            if let Some(l) = node.get("maximum")
                && below(l, value) == Some(true)
            {
                out.push(Problem::Maximum {
                    path: path.clone(),
                    limit: l.clone(),
                });
            }
        }
        _ => {}
    }
    for (keyword, one) in [("anyOf", false), ("oneOf", true)] {
        let Some(branches) = node.get(keyword).and_then(Value::as_array) else {
            continue;
        };
        let results: Vec<Vec<Problem>> = branches
            .iter()
            .map(|b| {
                let mut p = Vec::new();
                walk(b, value, path, refs, &mut p);
                p
            })
            .collect();
        let matched = results.iter().filter(|p| p.is_empty()).count();
        if matched == 0 {
            out.push(Problem::NoBranch {
                path: path.clone(),
                branches: results,
            });
        } else if one && matched > 1 {
            out.push(Problem::Ambiguous { path: path.clone() });
        }
    }
}

fn object(
    node: &Map<String, Value>,
    map: &Map<String, Value>,
    path: &Path,
    out: &mut Vec<Problem>,
) {
    let empty = Map::new();
    let props = node
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut unknown = Vec::new();
    for (k, v) in map {
        match props.get(k) {
            Some(s) => walk(s, v, &path.key(k), 0, out),
            None => match node.get("additionalProperties") {
                Some(Value::Bool(false)) => unknown.push(k.clone()),
                Some(s @ Value::Object(_)) => walk(s, v, &path.key(k), 0, out),
                _ => {}
            },
        }
    }
    if !unknown.is_empty() {
        out.push(Problem::Unknown {
            path: path.clone(),
            keys: unknown,
            allowed: props.keys().cloned().collect(),
        });
    }
    for name in node
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !map.contains_key(name) {
            out.push(Problem::Required {
                path: path.clone(),
                name: name.to_owned(),
            });
        }
    }
}

fn error(pos: crate::yaml::Pos, path: Path, message: String, hint: String) -> Diagnostic {
    Diagnostic {
        severity: Severity::Error,
        pos,
        path,
        message,
        hint,
    }
}

fn convert(problem: &Problem, doc: &Located, out: &mut Vec<Diagnostic>) {
    match problem {
        Problem::Unknown {
            path,
            keys,
            allowed,
        } => {
            let instance = pointer(&doc.value, path);
            for key in keys {
                let p = path.key(key);
                if kube_aws_refusals(doc, &p, instance.and_then(|v| v.get(key)), out) {
                    continue;
                }
                let hint = match did_you_mean(key, allowed.iter().map(String::as_str)) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None if allowed.is_empty() => "remove it".to_owned(),
                    None => format!("remove it; known keys here: {}", allowed.join(", ")),
                };
                out.push(error(doc.key_pos(&p), p, "unknown key".into(), hint));
            }
        }
        Problem::Required { path, name } => out.push(error(
            doc.value_pos(path),
            path.key(name),
            "required setting is missing".into(),
            format!("add `{name}:` here"),
        )),
        Problem::Type { path, expected } => {
            let expected = expected
                .iter()
                .filter(|t| expected.len() == 1 || *t != "null")
                .map(|t| article(t))
                .collect::<Vec<_>>()
                .join(" or ");
            let found = kind_of(pointer(&doc.value, path).unwrap_or(&Value::Null));
            out.push(error(
                doc.value_pos(path),
                path.clone(),
                format!("expected {expected}, found {found}"),
                "fix the value's type".into(),
            ));
        }
        Problem::Enum { path, options } => out.push(error(
            doc.value_pos(path),
            path.clone(),
            format!("{} is not allowed", show(pointer(&doc.value, path))),
            format!("use one of {}", list(options)),
        )),
        Problem::Const { path, expected } => out.push(error(
            doc.value_pos(path),
            path.clone(),
            format!("{} is not allowed", show(pointer(&doc.value, path))),
            format!("use {}", show(Some(expected))),
        )),
        Problem::NoBranch { path, branches } => {
            // Either an enum written as oneOf-of-consts, or an optional value (anyOf [T, null]).
            let consts: Vec<String> = branches
                .iter()
                .flatten()
                .filter_map(|p| match p {
                    Problem::Const { expected, .. } => Some(show(Some(expected))),
                    _ => None,
                })
                .collect();
            if !consts.is_empty() {
                out.push(error(
                    doc.value_pos(path),
                    path.clone(),
                    format!("{} is not allowed", show(pointer(&doc.value, path))),
                    format!("use one of {}", consts.join(", ")),
                ));
            } else if let Some(branch) = branches.iter().find(|b| !b.iter().any(is_null_type)) {
                for p in branch {
                    convert(p, doc, out);
                }
            }
        }
        Problem::Ambiguous { path } => out.push(error(
            doc.value_pos(path),
            path.clone(),
            "the value matches more than one of the allowed shapes".into(),
            "see `kubeline schema` for the expected shape".into(),
        )),
        Problem::Minimum { path, limit } => out.push(error(
            doc.value_pos(path),
            path.clone(),
            format!("{} is less than {limit}", show(pointer(&doc.value, path))),
            format!("use a value of at least {limit}"),
        )),
        Problem::Maximum { path, limit } => out.push(error(
            doc.value_pos(path),
            path.clone(),
            format!("{} is more than {limit}", show(pointer(&doc.value, path))),
            format!("use a value of at most {limit}"),
        )),
    }
}

/// Reports a kube-aws key the user carried over: the outermost keys under `path` (itself
/// included) whose rows name their own replacement, or else `path` with its nearest
/// ancestor's answer.
/// Returns false when `path` is not a refused kube-aws key.
fn kube_aws_refusals(
    doc: &Located,
    path: &Path,
    value: Option<&Value>,
    out: &mut Vec<Diagnostic>,
) -> bool {
    let Some(refusal) = crate::kube_aws::refusal(&path.pattern()) else {
        return false;
    };
    let mut answered = Vec::new();
    collect_answered(path, value, &mut answered);
    if answered.is_empty() {
        answered.push((path.clone(), refusal));
    }
    for (p, r) in answered {
        out.push(Diagnostic {
            severity: Severity::Error,
            pos: doc.key_pos(&p),
            path: p,
            message: r.message,
            hint: r.hint,
        });
    }
    true
}

/// The outermost keys under `path` that name their own replacement; where some keys of a
/// mapping or list do and others do not, those others too (with their nearest ancestor's
/// answer), so every refused key is reported and removed before the rules run.
fn collect_answered(
    path: &Path,
    value: Option<&Value>,
    out: &mut Vec<(Path, crate::kube_aws::Refusal)>,
) {
    let pattern = path.pattern();
    if crate::kube_aws::has_own_answer(&pattern)
        && let Some(r) = crate::kube_aws::refusal(&pattern)
    {
        out.push((path.clone(), r));
        return;
    }
    let children: Vec<(Path, &Value)> = match value {
        Some(Value::Object(map)) => map.iter().map(|(k, v)| (path.key(k), v)).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (path.index(i), v))
            .collect(),
        _ => Vec::new(),
    };
    let found: Vec<Vec<(Path, crate::kube_aws::Refusal)>> = children
        .iter()
        .map(|(p, v)| {
            let mut o = Vec::new();
            collect_answered(p, Some(v), &mut o);
            o
        })
        .collect();
    if found.iter().all(Vec::is_empty) {
        return;
    }
    for ((p, _), f) in children.iter().zip(found) {
        if f.is_empty() {
            if let Some(r) = crate::kube_aws::refusal(&p.pattern()) {
                out.push((p.clone(), r));
            }
        } else {
            out.extend(f);
        }
    }
}

fn is_null_type(p: &Problem) -> bool {
    matches!(p, Problem::Type { expected, .. } if expected.len() == 1 && expected[0] == "null")
}

/// The value at `path` in the document.
fn pointer<'a>(v: &'a Value, path: &Path) -> Option<&'a Value> {
    let mut v = v;
    for seg in &path.0 {
        v = match seg {
            crate::yaml::Seg::Key(k) => v.get(k.as_str())?,
            crate::yaml::Seg::Index(i) => v.get(*i)?,
        };
    }
    Some(v)
}

fn article(t: &str) -> String {
    match t {
        "integer" => "an integer".into(),
        "object" => "a mapping".into(),
        "array" => "a list".into(),
        "boolean" => "true or false".into(),
        "string" => "a string".into(),
        "number" => "a number".into(),
        "null" => "nothing (null)".into(),
        other => other.into(),
    }
}

fn show(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => format!("{s:?}"),
        Some(other) => other.to_string(),
        None => "the value".into(),
    }
}

fn list(options: &Value) -> String {
    options
        .as_array()
        .map(|a| {
            a.iter()
                .map(|o| show(Some(o)))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}
