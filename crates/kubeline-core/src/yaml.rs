//! YAML parsing into a JSON value plus the source location of every key and value.
//!
//! cluster.yaml is parsed once with serde-saphyr into a located tree. Structural checks
//! (unknown keys, types) and semantic checks then report problems at their exact
//! `line:column` without a second parse.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use serde_saphyr::Spanned;

/// A 1-based position in the source text; `line == 0` means unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// One segment of a path into the document.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Seg {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// A path into the document, displayed as `worker.nodePools[2].name`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Path(pub Vec<Seg>);

impl Path {
    /// The document root.
    pub fn root() -> Self {
        Path(Vec::new())
    }
    /// This path extended by a key.
    pub fn key(&self, k: &str) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Key(k.to_owned()));
        p
    }
    /// This path extended by an index.
    pub fn index(&self, i: usize) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }
    /// The path with every index written `[]`: `worker.nodePools[].name`, the form of
    /// kube-aws's key table ([`crate::kube_aws`]).
    pub fn pattern(&self) -> String {
        let mut out = String::new();
        for seg in &self.0 {
            match seg {
                Seg::Key(k) if out.is_empty() => out.push_str(k),
                Seg::Key(k) => {
                    out.push('.');
                    out.push_str(k);
                }
                Seg::Index(_) => out.push_str("[]"),
            }
        }
        out
    }
    /// Parses a JSON pointer such as `/worker/nodePools/0/name`.
    pub fn from_pointer(ptr: &str) -> Self {
        let mut segs = Vec::new();
        for raw in ptr.split('/').skip(1) {
            let s = raw.replace("~1", "/").replace("~0", "~");
            match s.parse::<usize>() {
                Ok(i) => segs.push(Seg::Index(i)),
                Err(_) => segs.push(Seg::Key(s)),
            }
        }
        Path(segs)
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(top level)");
        }
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => f.write_str(k)?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A parsed document: its value and where each part of it came from.
#[derive(Debug, Clone, Default)]
pub struct Located {
    /// The document as plain JSON data.
    pub value: Value,
    values: BTreeMap<Path, Pos>,
    keys: BTreeMap<Path, Pos>,
    /// Keys that appeared twice in one mapping (the later position).
    pub duplicate_keys: Vec<(Path, Pos)>,
}

impl Located {
    /// Where the value at `path` starts; falls back to its key, then to the nearest parent.
    pub fn value_pos(&self, path: &Path) -> Pos {
        let mut p = path.clone();
        loop {
            if let Some(pos) = self.values.get(&p).or_else(|| self.keys.get(&p)) {
                return *pos;
            }
            if p.0.is_empty() {
                return Pos { line: 1, column: 1 };
            }
            p.0.pop();
        }
    }
    /// Where the key naming `path` is written; falls back to the value position.
    pub fn key_pos(&self, path: &Path) -> Pos {
        self.keys
            .get(path)
            .copied()
            .unwrap_or_else(|| self.value_pos(path))
    }
}

/// Why a document could not be parsed at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{pos}: {message}")]
pub struct SyntaxError {
    /// Where the parser stopped.
    pub pos: Pos,
    /// The parser's explanation.
    pub message: String,
}

/// Parses YAML text into a located tree.
pub fn parse(text: &str) -> Result<Located, SyntaxError> {
    if text.trim().is_empty() {
        return Ok(Located {
            value: Value::Object(Map::new()),
            ..Default::default()
        });
    }
    let opts = serde_saphyr::options! {
        budget: serde_saphyr::budget! { max_depth: 64, max_nodes: 250_000 },
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::LastWins,
    };
    let root: Spanned<Node> = serde_saphyr::from_str_with_options(text, opts).map_err(|e| {
        let pos = e
            .location()
            .map(|l| Pos {
                line: l.line() as usize,
                column: l.column() as usize,
            })
            .unwrap_or(Pos { line: 1, column: 1 });
        SyntaxError {
            pos,
            message: first_line(&e.to_string()),
        }
    })?;
    let mut out = Located::default();
    out.value = flatten(root, &Path::root(), &mut out);
    Ok(out)
}

fn first_line(s: &str) -> String {
    let mut line = s.lines().next().unwrap_or("invalid YAML").trim();
    // serde-saphyr prefixes "error: line X column Y: "; the position is reported separately.
    line = line.strip_prefix("error: ").unwrap_or(line);
    if line.starts_with("line ")
        && let Some(i) = line.find(": ")
    {
        line = &line[i + 2..];
    }
    // serde-saphyr appends " at line X column Y"; the position is reported separately.
    match line.find(" at line ") {
        Some(i) => line[..i].to_owned(),
        None => line.to_owned(),
    }
}

fn to_pos(s: &Spanned<impl Sized>) -> Pos {
    Pos {
        line: s.referenced.line() as usize,
        column: s.referenced.column() as usize,
    }
}

fn flatten(node: Spanned<Node>, path: &Path, out: &mut Located) -> Value {
    out.values.insert(path.clone(), to_pos(&node));
    match node.value {
        Node::Null => Value::Null,
        Node::Bool(b) => Value::Bool(b),
        Node::Int(i) => Value::Number(i.into()),
        Node::UInt(u) => Value::Number(u.into()),
        Node::Float(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        Node::Str(s) => Value::String(s),
        Node::Seq(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, n)| flatten(n, &path.index(i), out))
                .collect(),
        ),
        Node::Map(entries) => {
            let mut map = Map::new();
            for (k, v) in entries {
                let child = path.key(&k.value);
                let kpos = to_pos(&k);
                if map.contains_key(&k.value) {
                    out.duplicate_keys.push((child.clone(), kpos));
                }
                out.keys.insert(child.clone(), kpos);
                let val = flatten(v, &child, out);
                map.insert(k.value, val);
            }
            Value::Object(map)
        }
    }
}

/// A YAML node of any shape, each child carrying its location.
enum Node {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(Spanned<String>, Spanned<Node>)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::UInt(v))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Node, E> {
        i64::try_from(v)
            .map(Node::Int)
            .or_else(|_| u64::try_from(v).map(Node::UInt))
            .map_err(|_| E::custom("integer out of range"))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Node, E> {
        u64::try_from(v)
            .map(Node::UInt)
            .map_err(|_| E::custom("integer out of range"))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, _v: &[u8]) -> Result<Node, E> {
        Err(E::custom("binary values are not supported"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(k) = map.next_key::<Spanned<KeyString>>()? {
            let v = map.next_value::<Spanned<Node>>()?;
            let key = Spanned {
                value: k.value.0,
                referenced: k.referenced,
                defined: k.defined,
            };
            entries.push((key, v));
        }
        Ok(Node::Map(entries))
    }
}

/// A mapping key; scalars of any type are accepted and kept as their text.
struct KeyString(String);

impl<'de> Deserialize<'de> for KeyString {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = KeyString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a scalar mapping key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyString, E> {
                Ok(KeyString(v.to_owned()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<KeyString, E> {
                Ok(KeyString("null".to_owned()))
            }
        }
        d.deserialize_string(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_positions_of_keys_and_values() {
        let doc = parse("a: 1\nb:\n  - x: true\n    y: [1, 2]\n").expect("parses");
        assert_eq!(doc.value["b"][0]["y"][1], 2);
        let p = Path::root().key("b").index(0).key("y");
        assert_eq!(doc.key_pos(&p), Pos { line: 4, column: 5 });
        assert_eq!(p.to_string(), "b[0].y");
    }

    #[test]
    fn reports_syntax_errors_with_position() {
        let err = parse("a: [1, 2\nb: 3\n").expect_err("unterminated flow sequence");
        assert!(err.pos.line >= 1, "{err}");
    }

    #[test]
    fn detects_duplicate_keys() {
        let doc = parse("a: 1\na: 2\n");
        match doc {
            Ok(d) => assert_eq!(d.duplicate_keys.len(), 1),
            Err(e) => assert!(e.message.to_lowercase().contains("duplicate"), "{e}"),
        }
    }
}
