//! Compiles kubeline's node-config format (files, directories, systemd units; Butane-like YAML)
//! into an Ignition 3.3.0 config, and builds the small userdata stub that replaces itself with it.

use base64::Engine;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use serde_json::{Value, json};

/// The Ignition spec version kubeline writes (Debian's ignition-validate accepts 3.0 to 3.3).
pub const IGNITION_VERSION: &str = "3.3.0";

/// A node config as written in the userdata templates.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Files to write.
    #[serde(default)]
    pub files: Vec<FileSpec>,
    /// Directories to create.
    #[serde(default)]
    pub directories: Vec<DirSpec>,
    /// systemd units.
    #[serde(default)]
    pub units: Vec<UnitSpec>,
}

/// A file: inline contents, or a remote source with an optional SHA-512.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// Absolute path.
    pub path: String,
    /// Octal mode as a string, e.g. "0644".
    pub mode: String,
    /// Inline contents.
    #[serde(default)]
    pub contents: Option<String>,
    /// Remote URL.
    #[serde(default)]
    pub source: Option<String>,
    /// Ignition hash of the remote file (`sha256-<hex>` or `sha512-<hex>`).
    #[serde(default)]
    pub hash: Option<String>,
}

/// A directory.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirSpec {
    /// Absolute path.
    pub path: String,
    /// Octal mode as a string.
    pub mode: String,
}

/// A systemd unit.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitSpec {
    /// Unit name.
    pub name: String,
    /// Enable it.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Mask it (for units the OS ships that must never run).
    #[serde(default)]
    pub mask: Option<bool>,
    /// Unit file text (absent for units the OS ships).
    #[serde(default)]
    pub contents: Option<String>,
    /// Drop-ins.
    #[serde(default)]
    pub dropins: Vec<DropinSpec>,
}

/// A unit drop-in.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropinSpec {
    /// File name (`*.conf`).
    pub name: String,
    /// Text.
    pub contents: String,
}

// RFC 2397 data URLs: keep unreserved characters and a few safe ones readable.
const DATA_URL: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/')
    .remove(b':')
    .remove(b'=');

fn mode(m: &str, path: &str) -> Result<u32, String> {
    let v = u32::from_str_radix(m.trim_start_matches("0o"), 8)
        .map_err(|_| format!("{path}: mode {m:?} is not octal (write \"0644\")"))?;
    if v > 0o7777 {
        return Err(format!("{path}: mode {m:?} is out of range"));
    }
    Ok(v)
}

/// Compiles a node config into an Ignition config.
pub fn compile(cfg: &NodeConfig) -> Result<Value, String> {
    let mut files = Vec::new();
    for f in &cfg.files {
        if !f.path.starts_with('/') {
            return Err(format!("{}: file paths must be absolute", f.path));
        }
        let contents = match (&f.contents, &f.source) {
            (Some(text), None) => {
                json!({"source": format!("data:,{}", utf8_percent_encode(text, DATA_URL))})
            }
            (None, Some(url)) => {
                let mut c = json!({"source": url});
                if let Some(h) = &f.hash {
                    c["verification"] = json!({"hash": h});
                }
                c
            }
            _ => {
                return Err(format!(
                    "{}: give exactly one of contents and source",
                    f.path
                ));
            }
        };
        files.push(json!({
            "path": f.path,
            "mode": mode(&f.mode, &f.path)?,
            "overwrite": true,
            "contents": contents,
        }));
    }
    let mut dirs = Vec::new();
    for d in &cfg.directories {
        if !d.path.starts_with('/') {
            return Err(format!("{}: directory paths must be absolute", d.path));
        }
        dirs.push(json!({"path": d.path, "mode": mode(&d.mode, &d.path)?, "overwrite": true}));
    }
    let mut units = Vec::new();
    for u in &cfg.units {
        let mut unit = json!({"name": u.name});
        if let Some(e) = u.enabled {
            unit["enabled"] = json!(e);
        }
        if let Some(m) = u.mask {
            unit["mask"] = json!(m);
        }
        if let Some(c) = &u.contents {
            unit["contents"] = json!(c);
        }
        if !u.dropins.is_empty() {
            unit["dropins"] = Value::Array(
                u.dropins
                    .iter()
                    .map(|d| json!({"name": d.name, "contents": d.contents}))
                    .collect(),
            );
        }
        units.push(unit);
    }
    let mut paths: Vec<&str> = cfg.files.iter().map(|f| f.path.as_str()).collect();
    paths.sort_unstable();
    if let Some(w) = paths.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!("{}: the file is written twice", w[0]));
    }
    let mut names: Vec<&str> = cfg.units.iter().map(|u| u.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!("{}: the unit is defined twice", w[0]));
    }
    Ok(json!({
        "ignition": {"version": IGNITION_VERSION},
        "storage": {"files": files, "directories": dirs},
        "systemd": {"units": units},
    }))
}

/// The userdata stub: an Ignition config that replaces itself with the full config at
/// `source`, verified by its SHA-512.
pub fn stub(source: &str, sha512_hex: &str) -> Value {
    json!({
        "ignition": {
            "version": IGNITION_VERSION,
            "config": {"replace": {"source": source, "verification": {"hash": format!("sha512-{sha512_hex}")}}}
        }
    })
}

/// Base64 of `bytes`, as EC2 userdata in launch templates.
pub fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes a data URL written by [`compile`] (for tests and consistency checks).
pub fn decode_data_url(url: &str) -> Option<String> {
    let rest = url.strip_prefix("data:,")?;
    percent_encoding::percent_decode_str(rest)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}
