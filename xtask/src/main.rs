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
];

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = root();
    match args.first().map(String::as_str) {
        Some("test") => test(&root),
        Some("install-tools") => install_tools(&root),
        Some("bench") => run(Command::new(cargo()).current_dir(&root).args([
            "bench",
            "-p",
            "kubeline-core",
            "--bench",
            "render",
        ])),
        Some("fuzz") => fuzz(&root, args.get(1).map(String::as_str).unwrap_or("60")),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n\
                 test            install the validators, then fmt --check, clippy -D warnings, all tests\n\
                 install-tools   only install the validators (.tools/venv, apt packages)\n\
                 bench           criterion benchmarks of validation and rendering\n\
                 fuzz [SECONDS]  fuzz the cluster.yaml parser with cargo-fuzz (default 60 s)"
            );
            bail!("unknown or missing command")
        }
    }
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

fn test(root: &Path) -> Result<()> {
    install_tools(root)?;
    let venv_bin = root.join(".tools/venv/bin");
    let path = format!(
        "{}:{}",
        venv_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    run(Command::new(cargo())
        .current_dir(root)
        .args(["fmt", "--all", "--check"]))?;
    run(Command::new(cargo()).current_dir(root).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    run(Command::new(cargo())
        .current_dir(root)
        .env("PATH", path)
        .env("INSTA_UPDATE", "no")
        .args(["test", "--workspace", "--all-targets"]))?;
    eprintln!("xtask: every check passed");
    Ok(())
}

fn install_tools(root: &Path) -> Result<()> {
    install_python_tools(root)?;
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
    Ok(())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Creates `.tools/venv` and installs the pinned validators, only when the pins changed.
fn install_python_tools(root: &Path) -> Result<()> {
    let tools = root.join(".tools");
    let venv = tools.join("venv");
    let reqs = root.join("xtask/requirements.txt");
    let wanted =
        std::fs::read_to_string(&reqs).with_context(|| format!("read {}", reqs.display()))?;
    let stamp = venv.join(".kubeline-requirements");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str())
        && venv.join("bin/cfn-lint").is_file()
    {
        return Ok(());
    }
    std::fs::create_dir_all(&tools)?;
    if !venv.join("bin/python").is_file() {
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    let pip = venv.join("bin/pip");
    run(Command::new(&pip)
        .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
        .arg(&reqs))?;
    std::fs::write(&stamp, wanted)?;
    Ok(())
}

fn fuzz(root: &Path, seconds: &str) -> Result<()> {
    if !Command::new(cargo())
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        run(Command::new(cargo()).args(["install", "--locked", "cargo-fuzz"]))?;
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
