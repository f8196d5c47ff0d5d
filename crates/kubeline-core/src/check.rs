//! Structural checks of cluster.yaml: duplicate keys and a top level that is a mapping here,
//! and (feature `schema`) every rule of its JSON Schema in [`schema`]: unknown keys, types, enums.
//!
//! The schema is generated from [`crate::model`] by schemars, so the model is the one
//! source of truth; every structural problem is reported at once, at its line and column.
//! Only the validate function checks an upload against the schema; the later steps re-read the
//! run's pinned copy, which passed it, with [`basics`] and serde's `deny_unknown_fields` model
//! (see [`crate::validate::reload`]), so their packages carry no schema validator.

#[cfg(feature = "schema")]
mod schema;

use serde_json::Value;

use crate::diag::{Diagnostic, Severity};
use crate::yaml::{Located, Path};

#[cfg(feature = "schema")]
pub use self::schema::{KEYWORDS, is_valid, structure};

/// The checks that need no schema: keys written twice, and a top level that is not a mapping
/// (then nothing else is checked).
pub fn basics(doc: &Located) -> Vec<Diagnostic> {
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
    }
    out
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
