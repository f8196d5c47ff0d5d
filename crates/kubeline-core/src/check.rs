//! Structural checks of cluster.yaml against its JSON Schema: unknown keys, types, enums.
//!
//! The schema is generated from [`crate::model`] by schemars, so the model is the one
//! source of truth; every structural problem is reported at once, at its line and column.

use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{ValidationError, Validator};
use serde_json::Value;

use crate::diag::{Diagnostic, Severity, did_you_mean};
use crate::yaml::{Located, Path};

fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(crate::model::json_schema)
}

fn validator() -> Option<&'static Validator> {
    static V: OnceLock<Option<Validator>> = OnceLock::new();
    V.get_or_init(|| jsonschema::validator_for(schema()).ok())
        .as_ref()
}

/// Checks the document's shape; returns every problem found.
pub fn structure(doc: &Located) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (path, pos) in &doc.duplicate_keys {
        out.push(Diagnostic {
            severity: Severity::Error,
            pos: *pos,
            path: path.clone(),
            message: "key appears twice".into(),
            hint: "remove one of them".into(),
        });
    }
    if !doc.value.is_object() {
        out.push(Diagnostic {
            severity: Severity::Error,
            pos: doc.value_pos(&Path::root()),
            path: Path::root(),
            message: format!(
                "expected a mapping of settings, found {}",
                kind_of(&doc.value)
            ),
            hint: "start from `kubeline init`, which writes a valid cluster.yaml".into(),
        });
        return out;
    }
    let Some(v) = validator() else {
        return out;
    };
    for err in v.iter_errors(&doc.value) {
        convert(&err, doc, &mut out);
    }
    out
}

fn convert(err: &ValidationError<'_>, doc: &Located, out: &mut Vec<Diagnostic>) {
    let path = Path::from_pointer(err.instance_path().as_str());
    let instance = pointer(&doc.value, err.instance_path().as_str());
    let error = |pos, path: Path, message: String, hint: String| Diagnostic {
        severity: Severity::Error,
        pos,
        path,
        message,
        hint,
    };
    match err.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let allowed = allowed_keys(err);
            for key in unexpected {
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
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            out.push(error(
                doc.value_pos(&path),
                path.key(name),
                "required setting is missing".into(),
                format!("add `{name}:` here"),
            ));
        }
        ValidationErrorKind::Type { kind } => {
            let expected = match kind {
                TypeKind::Single(t) => article(&t.to_string()),
                TypeKind::Multiple(ts) => ts
                    .iter()
                    .filter(|t| t.to_string() != "null")
                    .map(|t| article(&t.to_string()))
                    .collect::<Vec<_>>()
                    .join(" or "),
            };
            out.push(error(
                doc.value_pos(&path),
                path,
                format!(
                    "expected {expected}, found {}",
                    kind_of(instance.unwrap_or(&Value::Null))
                ),
                "fix the value's type".into(),
            ));
        }
        ValidationErrorKind::Enum { options } => {
            out.push(error(
                doc.value_pos(&path),
                path,
                format!("{} is not allowed", show(instance)),
                format!("use one of {}", list(options)),
            ));
        }
        ValidationErrorKind::OneOfNotValid { context } | ValidationErrorKind::AnyOf { context } => {
            // Either an enum written as oneOf-of-consts, or an optional value (anyOf [T, null]).
            let consts: Vec<String> = context
                .iter()
                .flatten()
                .filter_map(|e| match e.kind() {
                    ValidationErrorKind::Constant { expected_value } => {
                        Some(show(Some(expected_value)))
                    }
                    _ => None,
                })
                .collect();
            if !consts.is_empty() {
                out.push(error(
                    doc.value_pos(&path),
                    path,
                    format!("{} is not allowed", show(instance)),
                    format!("use one of {}", consts.join(", ")),
                ));
            } else if let Some(branch) = context
                .iter()
                .find(|b| !b.iter().any(|e| is_null_type_error(e)))
            {
                for e in branch {
                    convert(e, doc, out);
                }
            }
        }
        ValidationErrorKind::Minimum { limit } => out.push(error(
            doc.value_pos(&path),
            path,
            format!("{} is less than {limit}", show(instance)),
            format!("use a value of at least {limit}"),
        )),
        ValidationErrorKind::Maximum { limit } => out.push(error(
            doc.value_pos(&path),
            path,
            format!("{} is more than {limit}", show(instance)),
            format!("use a value of at most {limit}"),
        )),
        _ => out.push(error(
            doc.value_pos(&path),
            path,
            err.to_string(),
            "see `kubeline schema` for the expected shape".into(),
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
    match value {
        Some(Value::Object(map)) => {
            for (k, v) in map {
                collect_answered(&path.key(k), Some(v), out);
            }
        }
        Some(Value::Array(items)) => {
            for (i, v) in items.iter().enumerate() {
                collect_answered(&path.index(i), Some(v), out);
            }
        }
        _ => {}
    }
}

fn is_null_type_error(e: &ValidationError<'_>) -> bool {
    matches!(e.kind(), ValidationErrorKind::Type { kind: TypeKind::Single(t) } if t.to_string() == "null")
}

/// The keys allowed by the object schema that raised an `additionalProperties` error.
fn allowed_keys(err: &ValidationError<'_>) -> Vec<String> {
    let sp = err.schema_path().as_str();
    let obj_ptr = sp.strip_suffix("/additionalProperties").unwrap_or(sp);
    let mut node = pointer(schema(), obj_ptr);
    // Follow a $ref to the definition when the path ends on one.
    if let Some(r) = node.and_then(|n| n.get("$ref")).and_then(Value::as_str) {
        node = pointer(schema(), r.trim_start_matches('#'));
    }
    node.and_then(|n| n.get("properties"))
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

fn pointer<'a>(v: &'a Value, ptr: &str) -> Option<&'a Value> {
    if ptr.is_empty() {
        Some(v)
    } else {
        v.pointer(ptr)
    }
}

fn article(t: &str) -> String {
    match t {
        "integer" => "an integer".into(),
        "object" => "a mapping".into(),
        "array" => "a list".into(),
        "boolean" => "true or false".into(),
        "string" => "a string".into(),
        "number" => "a number".into(),
        other => other.into(),
    }
}

/// Describes a JSON value's YAML kind for messages.
pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing (null)",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
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
