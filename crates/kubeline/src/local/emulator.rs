//! The local AWS emulator: moto installed into the project's tools folder on first use,
//! started on a free port of 127.0.0.1 with kubeline's launcher, stopped when dropped.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use aws_config::{BehaviorVersion, Region};

/// The moto release kubeline is tested with (also pinned in xtask/requirements.txt).
pub const MOTO: &str = "moto[server]==5.2.5";

const LAUNCHER: &str = include_str!("moto_launcher.py");

/// A running moto server.
#[derive(Debug)]
pub struct Emulator {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    launcher: std::path::PathBuf,
}

fn python(tools: &Path) -> std::path::PathBuf {
    tools.join("venv/bin/python")
}

/// Installs moto into `tools/venv` unless it is there.
pub fn ensure_moto(tools: &Path, quiet: bool) -> Result<()> {
    let py = python(tools);
    let have = py.is_file()
        && Command::new(&py)
            .args(["-c", "import moto, flask"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if have {
        return Ok(());
    }
    if !quiet {
        eprintln!(
            "installing {MOTO} into {} (first run only)…",
            tools.join("venv").display()
        );
    }
    std::fs::create_dir_all(tools).with_context(|| format!("cannot create {}", tools.display()))?;
    if !py.is_file() {
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(tools.join("venv"))
            .status()
            .context("python3 is needed for the local AWS emulator (moto); install python3 and python3-venv")?;
        if !ok.success() {
            bail!(
                "`python3 -m venv {}` failed; install python3-venv",
                tools.join("venv").display()
            );
        }
    }
    let ok = Command::new(tools.join("venv/bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check", MOTO])
        .status()
        .context("cannot run pip")?;
    if !ok.success() {
        bail!("pip could not install {MOTO}");
    }
    Ok(())
}

impl Emulator {
    /// Installs moto if needed and starts it on a free loopback port.
    pub async fn start(tools: &Path, quiet: bool) -> Result<Emulator> {
        ensure_moto(tools, quiet)?;
        let launcher = tools.join("kubeline-moto-launcher.py");
        std::fs::write(&launcher, LAUNCHER)
            .with_context(|| format!("cannot write {}", launcher.display()))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut child = Command::new(python(tools))
            .arg(&launcher)
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start the moto launcher")?;
        let start = Instant::now();
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            if let Some(status) = child.try_wait()? {
                bail!("the local AWS emulator exited with {status} before listening");
            }
            if start.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                bail!("the local AWS emulator did not listen on 127.0.0.1:{port} within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(Emulator {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            launcher,
        })
    }

    /// AWS configuration pointing every client at the emulator (fixed test credentials).
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        sdk_config_for(&self.endpoint).await
    }
}

/// AWS configuration for an emulator at `endpoint` (fixed local credentials and region).
pub async fn sdk_config_for(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(super::REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "kubeline-local",
            "kubeline-local",
            None,
            None,
            "kubeline-local",
        ))
        .load()
        .await
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.launcher);
    }
}
