//! File-system side of the CLI: template overrides, atomic writes of rendered assets.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result};
use kubeline_core::render::{Rendered, Templates};

/// The built-in templates, overridden by any file under `templates/` next to cluster.yaml.
pub fn load_templates(config: &Path) -> Result<Templates> {
    let mut t = Templates::builtin();
    let dir = config.parent().unwrap_or(Path::new(".")).join("templates");
    if !dir.is_dir() {
        return Ok(t);
    }
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        let entries =
            std::fs::read_dir(&d).with_context(|| format!("cannot list {}", d.display()))?;
        for e in entries {
            let path = e?.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let name = path
                .strip_prefix(&dir)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            let src = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            t.set(&name, src)?;
        }
    }
    Ok(t)
}

/// Writes `bytes` to `path` through a temporary file and a rename, so a crash never leaves
/// a half-written file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.kubeline-tmp"));
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

/// Writes every rendered file under `dir`, reports what changed, and removes files that
/// kubeline rendered before but no longer renders (for example a deleted node pool).
pub fn write_rendered(dir: &Path, r: &Rendered) -> Result<Vec<String>> {
    let mut report = Vec::new();
    for (rel, bytes) in &r.files {
        let path = dir.join(rel);
        let old = std::fs::read(&path).ok();
        let status = match old {
            Some(o) if o == *bytes => continue,
            Some(_) => "updated",
            None => "created",
        };
        write_atomic(&path, bytes)?;
        report.push(format!("{status} {}", path.display()));
    }
    let wanted: BTreeSet<&str> = r.files.keys().map(String::as_str).collect();
    for sub in ["stack-templates", "userdata"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for e in entries.flatten() {
            let name = format!("{sub}/{}", e.file_name().to_string_lossy());
            if name.ends_with(".json") && !wanted.contains(name.as_str()) {
                std::fs::remove_file(e.path())
                    .with_context(|| format!("cannot remove stale {}", e.path().display()))?;
                report.push(format!("removed {}", e.path().display()));
            }
        }
    }
    Ok(report)
}
