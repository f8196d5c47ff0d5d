//! Shared helpers of kubeline's integration tests: the examples, rendering, and locating the
//! external validators that `cargo xtask test` installs.

pub mod etcd_lab;
pub mod iam;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, Result, bail};
use kubeline_core::render::{self, Rendered, Templates};
use kubeline_core::validate;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The installation template (infra/template.yaml: JSON after its leading `#` comment lines).
pub fn installation_template() -> serde_json::Value {
    let path = repo_root().join("infra/template.yaml");
    let text = std::fs::read_to_string(&path).expect("infra/template.yaml");
    let json: String = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    serde_json::from_str(&json).expect("infra/template.yaml is JSON (JSON is YAML)")
}

/// Every example's name and cluster.yaml path, sorted.
pub fn examples() -> Vec<(String, PathBuf)> {
    let dir = repo_root().join("examples");
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().join("cluster.yaml").is_file())
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        e.path().join("cluster.yaml"),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Every example, and the sample cluster of `kubeline local demo` (`examples/cluster.yaml`,
/// named `demo`).
pub fn examples_and_demo() -> Vec<(String, PathBuf)> {
    let mut all = examples();
    all.push(("demo".into(), repo_root().join("examples/cluster.yaml")));
    all
}

/// Every node group of a cluster: controllers, etcd, then each pool.
pub fn node_groups(
    c: &kubeline_core::cluster::Cluster,
) -> Vec<kubeline_core::layout::NodeGroup<'_>> {
    use kubeline_core::layout::NodeGroup;
    let mut g = vec![NodeGroup::Controller, NodeGroup::Etcd];
    g.extend(c.node_pools.iter().map(|p| NodeGroup::Pool(&p.name)));
    g
}

/// Validates and renders one example with the built-in templates.
pub fn render_example(path: &Path) -> Result<(kubeline_core::cluster::Cluster, Rendered)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let loaded = validate::load(&text);
    let Some(cluster) = loaded.cluster else {
        bail!(
            "{} is invalid:\n{}",
            path.display(),
            loaded.diagnostics.render("cluster.yaml")
        );
    };
    let rendered = render::render(&cluster, &Templates::builtin())?;
    Ok((cluster, rendered))
}

/// Writes rendered files under `dir`.
pub fn write_files(dir: &Path, files: &BTreeMap<String, Vec<u8>>) -> Result<()> {
    for (rel, bytes) in files {
        let p = dir.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&p, bytes)?;
    }
    Ok(())
}

/// Finds an external tool: the project's `.tools/venv/bin` first, then PATH. A missing tool
/// fails the test with the command that installs it: tests are never skipped.
pub fn tool(name: &str) -> PathBuf {
    let venv = repo_root().join(".tools/venv/bin").join(name);
    if venv.is_file() {
        return venv;
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let p = dir.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "{name} is not installed: run `cargo xtask test` (it installs every tool the tests use)"
    );
}

/// Runs a command and returns its output.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// A decoded file of an Ignition config.
#[derive(Debug, Clone)]
pub struct IgnFile {
    /// Absolute path on the node.
    pub path: String,
    /// Mode.
    pub mode: u64,
    /// Inline text, when the file is a data URL.
    pub text: Option<String>,
    /// Remote source otherwise.
    pub source: String,
    /// Verification hash, if any.
    pub hash: Option<String>,
}

/// A decoded systemd unit of an Ignition config.
#[derive(Debug, Clone)]
pub struct IgnUnit {
    /// Unit name.
    pub name: String,
    /// Unit text.
    pub contents: Option<String>,
    /// Drop-in texts.
    pub dropins: Vec<String>,
}

/// Decodes an Ignition config's files and units.
pub fn decode_ignition(bytes: &[u8]) -> (Vec<IgnFile>, Vec<IgnUnit>, Vec<String>) {
    let v: serde_json::Value = serde_json::from_slice(bytes).expect("ignition is JSON");
    let files = v["storage"]["files"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| {
                    let source = f["contents"]["source"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    IgnFile {
                        path: f["path"].as_str().unwrap_or_default().to_owned(),
                        mode: f["mode"].as_u64().unwrap_or_default(),
                        text: kubeline_core::render::ignition::decode_data_url(&source),
                        source,
                        hash: f["contents"]["verification"]["hash"]
                            .as_str()
                            .map(str::to_owned),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let units = v["systemd"]["units"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|u| IgnUnit {
                    name: u["name"].as_str().unwrap_or_default().to_owned(),
                    contents: u["contents"].as_str().map(str::to_owned),
                    dropins: u["dropins"]
                        .as_array()
                        .map(|d| {
                            d.iter()
                                .filter_map(|x| x["contents"].as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    let dirs = v["storage"]["directories"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| d["path"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    (files, units, dirs)
}

/// Decodes standard base64 (EC2 userdata); invalid input gives an empty vector.
pub fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .unwrap_or_default()
}

/// A free TCP port on 127.0.0.1 (bound and released; good enough for test daemons).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// A background process that is killed when dropped.
#[derive(Debug)]
pub struct Daemon {
    child: std::process::Child,
    /// What it is, for messages.
    pub name: String,
    /// Where its output goes.
    pub log: PathBuf,
}

impl Daemon {
    /// Starts `cmd` with stdout and stderr appended to `log`.
    pub fn start(name: &str, cmd: &mut Command, log: &Path) -> Daemon {
        let out = std::fs::File::create(log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = cmd
            .stdout(out)
            .stderr(err)
            .stdin(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Daemon {
            child,
            name: name.to_owned(),
            log: log.to_path_buf(),
        }
    }

    /// Waits until `port` on 127.0.0.1 accepts connections; panics with the log otherwise.
    pub fn wait_for_port(&mut self, port: u16, timeout: std::time::Duration) {
        let start = std::time::Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited with {status}:\n{}", self.name, self.log_text());
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!(
            "{} did not listen on {port}:\n{}",
            self.name,
            self.log_text()
        );
    }

    /// Its output so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// moto (the AWS emulator) on 127.0.0.1, stopped when dropped.
#[derive(Debug)]
pub struct Moto {
    /// The server process.
    pub daemon: Daemon,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    _dir: tempfile::TempDir,
}

impl Moto {
    /// Starts `moto_server` from the project's tools on a free loopback port.
    pub fn start() -> Moto {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let mut daemon = Daemon::start(
            "moto_server",
            Command::new(tool("moto_server")).args(["-H", "127.0.0.1", "-p", &port.to_string()]),
            &dir.path().join("moto.log"),
        );
        daemon.wait_for_port(port, std::time::Duration::from_secs(30));
        Moto {
            daemon,
            endpoint: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        }
    }
}

/// Whether a command succeeded, and its stdout and stderr together.
pub fn outcome(out: &Output) -> (bool, String) {
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A fresh credential set for `cluster` with a generated CA, issued now.
pub fn generated_credentials(
    cluster: &kubeline_core::cluster::Cluster,
) -> kubeline_core::reconcile::Files {
    use kubeline_core::reconcile::{self, CaSource, Files, Options};
    reconcile::reconcile(
        cluster,
        &Files::new(),
        CaSource::Generate,
        &Options {
            now: time::OffsetDateTime::now_utc(),
            renew_within_days: reconcile::DEFAULT_RENEW_WITHIN_DAYS,
        },
    )
    .expect("credentials generate")
    .files
}

/// A unit file's `Key=value` settings in order, per section; continued lines are joined.
/// Keys may repeat (`ExecStartPre=`, `After=`), so each value list keeps every occurrence.
#[derive(Debug)]
pub struct UnitFile {
    sections: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

impl UnitFile {
    pub fn parse(text: &str) -> UnitFile {
        let mut sections: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
        let mut section = String::new();
        let mut pending = String::new();
        for raw in text.lines() {
            let line = raw.trim();
            if pending.is_empty() && (line.is_empty() || line.starts_with(['#', ';'])) {
                continue;
            }
            if let Some(rest) = line.strip_suffix('\\') {
                pending.push_str(rest);
                pending.push(' ');
                continue;
            }
            let full = std::mem::take(&mut pending) + line;
            if full.starts_with('[') && full.ends_with(']') {
                section = full[1..full.len() - 1].to_owned();
                sections.entry(section.clone()).or_default();
            } else if let Some((k, v)) = full.split_once('=') {
                sections
                    .entry(section.clone())
                    .or_default()
                    .entry(k.trim().to_owned())
                    .or_default()
                    .push(v.trim().to_owned());
            }
        }
        UnitFile { sections }
    }

    /// Every value of `key` in `section`, in order.
    pub fn values(&self, section: &str, key: &str) -> Vec<&str> {
        self.sections
            .get(section)
            .and_then(|s| s.get(key))
            .map(|v| v.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// The unit names of a list setting (`Requires=`, `After=`, `OnFailure=`...).
    pub fn names(&self, section: &str, key: &str) -> Vec<&str> {
        self.values(section, key)
            .into_iter()
            .flat_map(str::split_whitespace)
            .collect()
    }

    pub fn has(&self, section: &str, key: &str) -> bool {
        !self.values(section, key).is_empty()
    }
}

/// Every whitespace-separated word of `key` in `section` of a unit's text.
pub fn unit_words(text: &str, section: &str, key: &str) -> Vec<String> {
    UnitFile::parse(text)
        .names(section, key)
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// The text of an inline file of a node config.
pub fn inline_file<'a>(files: &'a [IgnFile], path: &str) -> Option<&'a str> {
    files
        .iter()
        .find(|f| f.path == path)
        .and_then(|f| f.text.as_deref())
}

/// Makes a test's shim executable.
pub fn make_executable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// Every IAM role of the rendered stacks, by `RoleName`, with its inline policy documents:
/// the roles kubeline creates, the externally managed roles it puts its node policy on
/// (`AWS::IAM::RolePolicy`), and for an existing instance profile the node policy its role
/// needs (the `NodePolicy` metadata), by the profile's name.
pub fn roles(rendered: &Rendered) -> Vec<(String, Vec<serde_json::Value>)> {
    let mut out: Vec<(String, Vec<serde_json::Value>)> = Vec::new();
    for (file, bytes) in &rendered.files {
        if !file.starts_with("stack-templates/") {
            continue;
        }
        let t: serde_json::Value = serde_json::from_slice(bytes).expect("stack JSON");
        for r in t["Resources"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|x| x.1)
        {
            let (name, docs) = match r["Type"].as_str() {
                Some("AWS::IAM::Role") => (
                    r["Properties"]["RoleName"].as_str().unwrap_or_default(),
                    r["Properties"]["Policies"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|p| p["PolicyDocument"].clone())
                        .collect(),
                ),
                Some("AWS::IAM::RolePolicy") => (
                    r["Properties"]["RoleName"].as_str().unwrap_or_default(),
                    vec![r["Properties"]["PolicyDocument"].clone()],
                ),
                Some("AWS::CloudFormation::WaitConditionHandle")
                    if r["Metadata"].get("kubeline.io/node-policy").is_some() =>
                {
                    let arn = r["Metadata"]["kubeline.io/instance-profile"]
                        .as_str()
                        .unwrap_or_default();
                    (
                        kubeline_core::cluster::profile_name_of_arn(arn),
                        vec![r["Metadata"]["kubeline.io/node-policy"].clone()],
                    )
                }
                _ => continue,
            };
            out.push((name.to_owned(), docs));
        }
    }
    out
}

/// The inline policy documents of the role named `name` in any rendered stack.
pub fn role_policies(rendered: &Rendered, name: &str) -> Vec<serde_json::Value> {
    roles(rendered)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, docs)| docs)
        .unwrap_or_else(|| panic!("no role {name} in any stack"))
}

/// A render's stacks by file stem (`network`, `etcd`, `control-plane`, `node-pool-NAME`).
pub fn stacks_of(rendered: &Rendered) -> BTreeMap<String, serde_json::Value> {
    rendered
        .files
        .iter()
        .filter_map(|(path, bytes)| {
            let stem = path
                .strip_prefix("stack-templates/")?
                .strip_suffix(".json")?;
            Some((
                stem.to_owned(),
                serde_json::from_slice(bytes).expect("stack JSON"),
            ))
        })
        .collect()
}

/// `PATH` with the test's shim directory `bin` first.
pub fn path_with(bin: &Path) -> String {
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// The text of the file at `path`, relative to the repository root; panics naming the path
/// when it cannot be read.
pub fn read_repo_file(path: &str) -> String {
    std::fs::read_to_string(repo_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The JSON Schema node `node` of `schema`, following `$ref` into `$defs` (or `definitions`)
/// until it is no reference.
pub fn resolve_schema_ref<'a>(
    schema: &'a serde_json::Value,
    node: &'a serde_json::Value,
) -> &'a serde_json::Value {
    match node.get("$ref").and_then(serde_json::Value::as_str) {
        Some(r) => {
            let name = r.rsplit('/').next().unwrap_or_default();
            let defs = schema.get("$defs").or_else(|| schema.get("definitions"));
            resolve_schema_ref(schema, &defs.expect("definitions")[name])
        }
        None => node,
    }
}

/// Whether the JSON Schema `schema` (docs/cluster.schema.json) accepts the dotted `path` as
/// kube-aws's key table spells it (`[]` for list items): following `properties`, `items`,
/// `$ref` and any branch of `anyOf`, `oneOf` or `allOf`.
pub fn schema_accepts(schema: &serde_json::Value, path: &str) -> bool {
    use serde_json::Value;
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
        let node = resolve_schema_ref(schema, node);
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

/// The parent of a dotted key path (`a.b[].c` → `a.b[]`), `""` at the top.
pub fn parent_path(path: &str) -> &str {
    path.rfind(['.', '[']).map_or("", |i| &path[..i])
}
