//! kubeline's development tasks: `cargo xtask test` installs every external tool the tests use
//! and runs fmt, clippy and the whole test suite; `bench` and `fuzz` run the performance and
//! robustness tools that are kept out of CI.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Debian packages the tests need: validators of what kubeline renders.
const APT_PACKAGES: &[(&str, &str)] = &[
    ("ignition-validate", "ignition"),
    ("shellcheck", "shellcheck"),
    ("kubectl", "kubernetes-client"),
    ("systemd-analyze", "systemd"),
    ("openssl", "openssl"),
    ("etcd", "etcd-server"),
    ("etcdctl", "etcd-client"),
    ("npm", "npm"),
    // Parses the node configs' containerd config (`containerd config dump`); no daemon runs.
    ("containerd", "containerd"),
];

/// npm packages the tests need, installed into .tools/node.
const NPM_PACKAGES: &[&str] = &["asl-validator@4.0.0"];

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = root();
    match args.first().map(String::as_str) {
        Some("test") => test(&root),
        Some("install-tools") => install_tools(&root),
        Some("bench") => {
            cargo_in(
                &root,
                &[
                    "bench",
                    "-p",
                    "kubeline-core",
                    "--bench",
                    "render",
                    "--bench",
                    "credentials",
                ],
            )?;
            cargo_in(
                &root,
                &["bench", "-p", "kubeline-pipeline", "--bench", "rollout"],
            )
        }
        Some("package") => package(
            &root,
            args.iter().any(|a| a == "--arm64"),
            args.iter().any(|a| a == "--together"),
        ),
        Some("bench-pipeline") => {
            bench_pipeline(&root, args.get(1).map(String::as_str).unwrap_or("3"))
        }
        Some("fuzz") => fuzz(&root, args.get(1).map(String::as_str).unwrap_or("60")),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n\
                 test            install the validators, then fmt --check, clippy -D warnings, all tests\n\
                 install-tools   only install the validators (.tools/venv, apt packages)\n\
                 bench           criterion benchmarks of validation, rendering and credential generation, and the\n\
                 apply rollout simulation (modelled apply time of 1, 10 and 30 pools)\n\
                 package [--arm64] [--together]  build every Lambda with cargo-lambda (release, zip), one build\n\
                 per function; print zip and binary sizes and init times (loopback Runtime API)\n\
                 bench-pipeline [RUNS]  `kubeline local demo` (release) RUNS times: duration and state transitions\n\
                 fuzz [SECONDS]  fuzz the cluster.yaml parser with cargo-fuzz (default 60 s)"
            );
            bail!("unknown or missing command")
        }
    }
}

/// The Lambda functions (one crate each under functions/).
const FUNCTIONS: &[&str] = &["validate", "credentials", "render", "apply", "destroy"];

/// Builds every function with cargo-lambda into target/lambda/<name>/bootstrap.zip.
fn package(root: &Path, arm64: bool, together: bool) -> Result<()> {
    install_venv(
        root,
        "deploy-venv",
        "xtask/deploy-requirements.txt",
        "bin/sam",
    )?;
    let bin = root.join(".tools/deploy-venv/bin");
    if arm64 {
        let installed = Command::new("rustup")
            .args(["target", "list", "--installed"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).contains("aarch64-unknown-linux-gnu"))
            .unwrap_or(false);
        if !installed {
            bail!(
                "--arm64 needs the Rust target aarch64-unknown-linux-gnu, which is not installed; \
                 install it with `rustup target add aarch64-unknown-linux-gnu` (a download) or \
                 package for x86_64 (the default) and deploy with Architecture=x86_64"
            );
        }
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let start = std::time::Instant::now();
    // One build per function: built together, cargo would unify their features and every
    // function would link the core's rendering and PKI.
    // (`--together` builds them in one cargo invocation, as kubeline did before, to compare.)
    let groups: Vec<Vec<&str>> = if together {
        vec![FUNCTIONS.to_vec()]
    } else {
        FUNCTIONS.iter().map(|f| vec![*f]).collect()
    };
    for group in groups {
        let mut cmd = Command::new(bin.join("cargo-lambda"));
        cmd.current_dir(root)
            .env("PATH", &path)
            .args([
                "lambda",
                "build",
                "--profile",
                "lambda",
                "--output-format",
                "zip",
            ])
            .arg(if arm64 { "--arm64" } else { "--x86-64" });
        for f in group {
            cmd.args(["--package", &format!("kubeline-fn-{f}")]);
        }
        run(&mut cmd)?;
    }
    println!("built in {:.0} s", start.elapsed().as_secs_f64());
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    for f in FUNCTIONS {
        let zip = target.join("lambda").join(f).join("bootstrap.zip");
        let size = std::fs::metadata(&zip)
            .with_context(|| format!("{} was not built", zip.display()))?
            .len();
        // The binary as Lambda unpacks it (python3's zipfile: no unzip tool needed).
        let unpacked = target.join("lambda").join(f).join("unpacked");
        let _ = std::fs::remove_dir_all(&unpacked);
        run(Command::new("python3")
            .args(["-m", "zipfile", "-e"])
            .arg(&zip)
            .arg(&unpacked))?;
        let bootstrap = unpacked.join("bootstrap");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(0o755))?;
        }
        let unzipped = std::fs::metadata(&bootstrap).map(|m| m.len()).unwrap_or(0);
        let init = if arm64 {
            "n/a (arm64)".to_owned()
        } else {
            let mut times: Vec<f64> = (0..9)
                .map(|_| init_time(&bootstrap, f).map(|d| d.as_secs_f64() * 1e3))
                .collect::<Result<_>>()?;
            times.sort_by(f64::total_cmp);
            format!("{:.1} ms (median of 9)", times[times.len() / 2])
        };
        println!(
            "{f:<12} zip {:>6.2} MB  binary {:>6.2} MB  init {init}  {}",
            size as f64 / 1e6,
            unzipped as f64 / 1e6,
            zip.display()
        );
    }
    Ok(())
}

/// The init time of a function's `bootstrap`: from process start to its first
/// `GET /2018-06-01/runtime/invocation/next`, which is where Lambda's Init phase ends
/// (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html), against a
/// stub Runtime API on loopback. The AWS settings point at loopback and are never used (no
/// invocation is served).
fn init_time(bootstrap: &Path, function: &str) -> Result<std::time::Duration> {
    use std::io::Read as _;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let start = std::time::Instant::now();
    let mut child = Command::new(bootstrap)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", format!("kubeline-{function}"))
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "local")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("KUBELINE_BUCKET", "kubeline-local")
        // What infra/template.yaml sets and a function refuses to start without.
        .env(
            "KUBELINE_TOPIC_ARN",
            "arn:aws:sns:eu-west-1:000000000000:kubeline-local",
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", bootstrap.display()))?;
    listener.set_nonblocking(true)?;
    let (mut conn, elapsed) = loop {
        match listener.accept() {
            Ok((c, _)) => break (c, start.elapsed()),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if let Some(status) = child.try_wait()? {
                    let mut why = String::new();
                    if let Some(mut err) = child.stderr.take() {
                        let _ = err.read_to_string(&mut why);
                    }
                    bail!(
                        "{function}: bootstrap exited ({status}) before asking for an invocation: {}",
                        why.trim()
                    );
                }
                if start.elapsed() > std::time::Duration::from_secs(10) {
                    let _ = child.kill();
                    bail!("{function}: no /next request within 10 s");
                }
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
            Err(e) => return Err(e.into()),
        }
    };
    conn.set_nonblocking(false)?;
    let mut buf = [0u8; 512];
    let n = conn.read(&mut buf).unwrap_or(0);
    let _ = child.kill();
    let _ = child.wait();
    let request = String::from_utf8_lossy(&buf[..n]);
    if !request.starts_with("GET /2018-06-01/runtime/invocation/next") {
        bail!("{function}: the first request was not /next: {request}");
    }
    Ok(elapsed)
}

/// Runs the README's main command (release build) `runs` times and prints its duration and the
/// state transitions of each apply run, then min, median and max.
fn bench_pipeline(root: &Path, runs: &str) -> Result<()> {
    let runs: usize = runs.parse().context("RUNS must be a number")?;
    install_tools(root)?;
    cargo_in(root, &["build", "--release", "-p", "kubeline"])?;
    let bin = root.join("target/release/kubeline");
    let mut times = Vec::new();
    let mut transitions = Vec::new();
    for i in 1..=runs {
        let start = std::time::Instant::now();
        let out = Command::new(&bin)
            .current_dir(root)
            .args(["local", "demo"])
            .output()
            .context("run kubeline local demo")?;
        let secs = start.elapsed().as_secs_f64();
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            bail!(
                "local demo failed:\n{text}{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let n: usize = text
            .split(" state transitions")
            .next()
            .and_then(|head| head.rsplit('(').next())
            .and_then(|n| n.trim().parse().ok())
            .context("the demo did not print its state transitions")?;
        println!("run {i}: {secs:.2} s wall clock (emulator start to stop), {n} state transitions");
        times.push(secs);
        transitions.push(n);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "kubeline local demo over {runs} runs: min {:.2} s, median {:.2} s, max {:.2} s; state transitions per apply run: {:?}",
        times[0],
        times[times.len() / 2],
        times[times.len() - 1],
        transitions
    );
    Ok(())
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Runs `cargo ARGS` in the workspace root.
fn cargo_in(root: &Path, args: &[&str]) -> Result<()> {
    run(Command::new(cargo()).current_dir(root).args(args))
}

fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: $ {cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool} >/dev/null 2>&1")])
        .status()
        .is_ok_and(|s| s.success())
}

/// The suite: every test, bench and example target of every member.
const TEST: &[&str] = &["test", "--workspace", "--all-targets"];

fn test(root: &Path) -> Result<()> {
    let mut phases = Phases::default();
    phases.time("install tools", || install_tools(root))?;
    let venv_bin = root.join(".tools/venv/bin");
    let path = format!(
        "{}:{}",
        venv_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    phases.time("fmt --check", || {
        cargo_in(root, &["fmt", "--all", "--check"])
    })?;
    phases.time("clippy", || {
        cargo_in(
            root,
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
        )
    })?;
    // Built first on its own, so the figures tell compiling from running.
    phases.time("build tests", || {
        cargo_in(root, &[TEST, &["--no-run", "--quiet"]].concat())
    })?;
    // Each function on its own, with only its features, as `cargo xtask package` builds it:
    // in the workspace build cargo unifies the features of every member, which hides code a
    // function's own features do not compile. These checks run at the lowest CPU priority
    // while the tests run, on the CPU the tests leave idle (they mostly wait on etcd, moto and
    // the validators); they start once cargo test runs its first binary, when it no longer
    // holds the build directory's lock (docs/testing.md).
    let mut checks: Option<std::thread::JoinHandle<Result<std::time::Duration>>> = None;
    let tests = phases.time("run tests (+ check each function)", || {
        let tests = run_tests(
            Command::new(cargo())
                .current_dir(root)
                .env("PATH", path)
                .env("INSTA_UPDATE", "no")
                // Four test threads on two cores: the integration tests mostly wait on the
                // processes they drive (etcd, moto, the validators); measured in docs/testing.md.
                .env(
                    "RUST_TEST_THREADS",
                    std::env::var("RUST_TEST_THREADS").unwrap_or_else(|_| "4".into()),
                )
                .args(TEST),
            || {
                let root = root.to_path_buf();
                checks = Some(std::thread::spawn(move || check_functions(&root, true)));
            },
        );
        // If no test binary ran, the checks run now, at normal priority.
        let took = match checks.take() {
            Some(handle) => handle
                .join()
                .map_err(|_| anyhow::anyhow!("the function checks panicked"))?,
            None => check_functions(root, false),
        };
        eprintln!(
            "xtask: check each function (alongside the tests) took {:.0} s",
            took?.as_secs_f64()
        );
        tests
    })?;
    let (passed, failed) = tests;
    phases.print();
    // One closing line for the whole suite (cargo prints one per test binary).
    println!("kubeline: {passed} passed, {failed} failed");
    if failed > 0 || passed == 0 {
        bail!("the test suite did not pass");
    }
    Ok(())
}

/// Wall-clock time of each phase of `cargo xtask test`, printed at the end (docs/testing.md
/// keeps the measured figures).
#[derive(Debug, Default)]
struct Phases(Vec<(&'static str, std::time::Duration)>);

impl Phases {
    fn time<T>(&mut self, name: &'static str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let start = std::time::Instant::now();
        let out = f();
        let took = start.elapsed();
        eprintln!("xtask: {name} took {:.0} s", took.as_secs_f64());
        self.0.push((name, took));
        out
    }

    fn print(&self) {
        println!("xtask: phase times");
        for (name, took) in &self.0 {
            println!("xtask:   {name:<20} {:>6.0} s", took.as_secs_f64());
        }
        let total: std::time::Duration = self.0.iter().map(|(_, t)| *t).sum();
        println!("xtask:   {:<20} {:>6.0} s", "total", total.as_secs_f64());
    }
}

/// `cargo check` of each function alone (see [`FUNCTIONS`]), under `nice -n 19` when
/// `niced`; how long they took.
fn check_functions(root: &Path, niced: bool) -> Result<std::time::Duration> {
    let start = std::time::Instant::now();
    for f in FUNCTIONS {
        let package = format!("kubeline-fn-{f}");
        let args = ["check", "--quiet", "--package", &package];
        if niced {
            run(Command::new("nice")
                .args(["-n", "19", &cargo()])
                .current_dir(root)
                .args(args))?;
        } else {
            cargo_in(root, &args)?;
        }
    }
    Ok(start.elapsed())
}

/// Runs cargo test, echoing its output, and adds up the `test result:` lines; `on_start`
/// runs once, when the first test binary starts (cargo has then released its build lock).
fn run_tests(cmd: &mut Command, on_start: impl FnOnce()) -> Result<(u64, u64)> {
    use std::io::{BufRead, BufReader};
    eprintln!("xtask: $ {cmd:?}");
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    let (mut passed, mut failed) = (0, 0);
    let mut on_start = Some(on_start);
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines() {
            let line = line?;
            println!("{line}");
            if line.starts_with("running ")
                && let Some(f) = on_start.take()
            {
                f();
            }
            if let Some(rest) = line.split("test result: ").nth(1) {
                passed += count(rest, " passed");
                failed += count(rest, " failed");
            }
        }
    }
    let status = child.wait()?;
    if !status.success() {
        println!("kubeline: {passed} passed, {} failed", failed.max(1));
        bail!("cargo test failed with {status}");
    }
    Ok((passed, failed))
}

/// The number before `label` in a `test result:` line (`ok. 5 passed; 0 failed; ...`).
fn count(line: &str, label: &str) -> u64 {
    line.split(';')
        .find(|part| part.contains(label))
        .and_then(|part| part.split_whitespace().rev().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn install_tools(root: &Path) -> Result<()> {
    install_python_tools(root)?;
    install_venv(
        root,
        "deploy-venv",
        "xtask/deploy-requirements.txt",
        "bin/sam",
    )?;
    let missing: Vec<&str> = APT_PACKAGES
        .iter()
        .filter(|(bin, _)| !have(bin))
        .map(|(_, pkg)| *pkg)
        .collect();
    if !missing.is_empty() {
        let sudo: &[&str] = if is_root() { &[] } else { &["sudo"] };
        let apt = |args: &[&str]| {
            let mut cmd = Command::new(sudo.first().copied().unwrap_or("apt-get"));
            if !sudo.is_empty() {
                cmd.arg("apt-get");
            }
            cmd.env("DEBIAN_FRONTEND", "noninteractive").args(args);
            cmd
        };
        run(&mut apt(&["update", "-qq"]))?;
        let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
        args.extend(missing.iter().copied());
        run(&mut apt(&args))?;
    }
    for (bin, pkg) in APT_PACKAGES {
        if !have(bin) {
            bail!("{bin} is still missing after installing the Debian package {pkg}");
        }
    }
    install_node_tools(root)
}

/// Installs the pinned npm packages into `.tools/node`, only when the pins changed.
fn install_node_tools(root: &Path) -> Result<()> {
    let dir = root.join(".tools/node");
    let wanted = NPM_PACKAGES.join("\n");
    let stamp = dir.join(".kubeline-packages");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str())
        && dir.join("node_modules/.bin/asl-validator").is_file()
    {
        return Ok(());
    }
    std::fs::create_dir_all(&dir)?;
    run(Command::new("npm")
        .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
        .arg(&dir)
        .args(NPM_PACKAGES))?;
    std::fs::write(&stamp, wanted)?;
    Ok(())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Creates `.tools/<name>` and installs the pins of `reqs`, only when they changed.
fn install_venv(root: &Path, name: &str, reqs: &str, marker: &str) -> Result<()> {
    let venv = root.join(".tools").join(name);
    let reqs = root.join(reqs);
    let wanted =
        std::fs::read_to_string(&reqs).with_context(|| format!("read {}", reqs.display()))?;
    let stamp = venv.join(".kubeline-requirements");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str())
        && venv.join(marker).is_file()
    {
        return Ok(());
    }
    std::fs::create_dir_all(root.join(".tools"))?;
    if !venv.join("bin/python").is_file() {
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    run(Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
        .arg(&reqs))?;
    std::fs::write(&stamp, wanted)?;
    Ok(())
}

/// Creates `.tools/venv` and installs the pinned validators, only when the pins changed.
fn install_python_tools(root: &Path) -> Result<()> {
    install_venv(root, "venv", "xtask/requirements.txt", "bin/cfn-lint")
}

fn fuzz(root: &Path, seconds: &str) -> Result<()> {
    if !Command::new(cargo())
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        run(Command::new(cargo()).args(["install", "--locked", "cargo-fuzz"]))?;
    }
    // Seed the corpus with every example and every invalid config, so the fuzzer starts from
    // real cluster.yaml files and reaches rendering, not only the YAML parser.
    let corpus = root.join("fuzz/corpus/cluster_yaml");
    std::fs::create_dir_all(&corpus)?;
    for dir in ["examples", "tests/invalid-configs"] {
        let mut stack = vec![root.join(dir)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d)
                .with_context(|| format!("list {}", d.display()))?
                .flatten()
            {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "yaml") {
                    let name = p
                        .strip_prefix(root)
                        .unwrap_or(&p)
                        .to_string_lossy()
                        .replace('/', "_");
                    std::fs::copy(&p, corpus.join(name))?;
                }
            }
        }
    }
    // cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP lets the stable toolchain accept them.
    run(Command::new(cargo())
        .current_dir(root)
        .env("RUSTC_BOOTSTRAP", "1")
        .args([
            "fuzz",
            "run",
            "cluster_yaml",
            "--",
            &format!("-max_total_time={seconds}"),
        ]))
}
