//! Three real etcd processes on loopback addresses (127.0.0.11-13), configured and driven by
//! the rendered etcd scripts, for the tests of member replacement, snapshots and restore.
//! etcd's tools and the AWS CLI run behind a `docker` shim standing in for their images.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use kubeline_core::cluster::Cluster;
use kubeline_core::render::{self, Templates};

use crate::{
    Daemon, decode_ignition, generated_credentials, make_executable, outcome, render_example,
    repo_root, run, tool,
};

/// The ha example with its three members on 127.0.0.11-13 (loopback, so real processes can
/// hold their addresses; the certificates name them as they would the members' interfaces).
pub fn loopback_cluster() -> Cluster {
    let (mut c, _) = render_example(&repo_root().join("examples/ha/cluster.yaml")).expect("ha");
    assert_eq!(c.etcd.members.len(), 3);
    for (i, m) in c.etcd.members.iter_mut().enumerate() {
        m.private_ip = std::net::Ipv4Addr::new(127, 0, 0, 11 + i as u8);
    }
    c
}

/// A file of the rendered etcd node config.
pub fn node_file(c: &Cluster, path: &str) -> String {
    let rendered = render::render(c, &Templates::builtin()).expect("render");
    let (files, _, _) = decode_ignition(&rendered.files["userdata/etcd.json"]);
    files
        .into_iter()
        .find(|f| f.path == path)
        .and_then(|f| f.text)
        .unwrap_or_else(|| panic!("{path} in the etcd node config"))
}

/// `ip` answers with the member's address.
const IP_SHIM: &str = r#"#!/bin/bash
echo "1: lo    inet ${FAKE_IP}/8 scope host lo\       valid_lft forever preferred_lft forever"
"#;
/// `docker run [options] IMAGE COMMAND...`: the etcd images' etcdctl and etcdutl run the real
/// etcdctl (this machine's etcd 3.4, whose `snapshot status|restore` subcommands take the same
/// arguments as etcdutl's, except `--bump-revision N --mark-compacted`, which 3.4 lacks and the
/// shim drops after checking they are there, logging the jump to `$KUBELINE_ROOT/etcdutl-bumps`),
/// the image's /etc/etcd/ssl mount being the test's; the AWS CLI image runs `$AWS_SHIM` with the
/// CLI's arguments. The scripts' probes (`--command-timeout=10s`) run with 3 s: a stopped member
/// on loopback refuses the connection at once, yet etcdctl's gRPC client retries until the
/// command timeout, so each probe of a stopped member would cost the lab 10 s; a running member
/// here answers in milliseconds. (Snapshot saves keep their own 300 s.)
const DOCKER_SHIM: &str = r#"#!/bin/bash
args=()
tool=""
for a in "$@"; do
  if [[ -n "${tool}" ]]; then
    a="${a//\/etc\/etcd\/ssl/${CERTS}}"
    [[ "${a}" != --command-timeout=10s ]] || a=--command-timeout=3s
    args+=("${a}")
    continue
  fi
  case "${a}" in
    /usr/local/bin/etcdctl | /usr/local/bin/etcdutl) tool="${a##*/}" ;;
    public.ecr.aws/aws-cli/*) tool=aws ;;
  esac
done
if [[ "${tool}" == etcdutl && "${args[*]}" == "snapshot restore "* ]]; then
  kept=()
  bumped=""
  for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[i]}" in
      --bump-revision) bumped="${args[i + 1]}"; i=$((i + 1)) ;;
      --mark-compacted) bumped="${bumped}+compacted" ;;
      *) kept+=("${args[i]}") ;;
    esac
  done
  [[ "${bumped}" =~ ^[1-9][0-9]{8,}\+compacted$ ]] || { echo "docker shim: the restore bumps no revision: $*" >&2; exit 2; }
  echo "${bumped%+compacted}" >>"${KUBELINE_ROOT:-/tmp}/etcdutl-bumps"
  args=("${kept[@]}")
fi
case "${tool}" in
  etcdctl | etcdutl) ETCDCTL_API=3 exec "${ETCDCTL_BIN}" "${args[@]}" ;;
  aws) exec "${AWS_SHIM:?the test set no AWS shim}" "${args[@]}" ;;
  *) echo "docker shim: not an etcd or AWS CLI run: $*" >&2; exit 2 ;;
esac
"#;

/// Three etcd members on loopback addresses, each with its own root (`m0`, `m1`, `m2`) under
/// one temporary directory, the rendered etcd scripts and the shims on PATH.
#[derive(Debug)]
pub struct Lab {
    /// The running members (first: they stop before their directories go).
    daemons: BTreeMap<usize, Daemon>,
    /// The temporary directory.
    pub dir: tempfile::TempDir,
    identity: PathBuf,
    /// Member names and addresses, in order.
    pub members: Vec<(String, String)>,
    /// This lab's turn on the loopback addresses (last: released after the daemons stop).
    _turn: MutexGuard<'static, ()>,
}

/// The labs take turns: their members hold the same loopback addresses, and every test of the
/// integration binary shares this process.
static TURN: Mutex<()> = Mutex::new(());

impl Default for Lab {
    fn default() -> Self {
        Lab::new()
    }
}

impl Lab {
    /// Waits for the loopback addresses (another test's lab may hold them), then sets up
    /// three members' files.
    pub fn new() -> Lab {
        let turn = TURN
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let c = loopback_cluster();
        let dir = tempfile::tempdir().expect("tmp");
        let d = dir.path();
        let creds = generated_credentials(&c);
        std::fs::create_dir_all(d.join("ssl")).expect("mkdir");
        for f in ["etcd-ca.pem", "etcd.pem", "etcd-key.pem"] {
            std::fs::write(d.join("ssl").join(f), &creds[f]).expect("write");
        }
        std::fs::create_dir_all(d.join("bin")).expect("mkdir");
        for (name, text) in [("ip", IP_SHIM), ("docker", DOCKER_SHIM)] {
            std::fs::write(d.join("bin").join(name), text).expect("write");
            make_executable(&d.join("bin").join(name));
        }
        let identity = d.join("etcd-identity");
        std::fs::write(&identity, node_file(&c, "/opt/kubeline/bin/etcd-identity")).expect("w");
        let list = node_file(&c, "/etc/kubeline/etcd-members");
        let members: Vec<(String, String)> = list
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(n, ip)| (n.to_owned(), ip.to_owned()))
            .collect();
        assert_eq!(members.len(), 3, "{list}");
        for (i, _) in members.iter().enumerate() {
            let root = d.join(format!("m{i}"));
            std::fs::create_dir_all(root.join("etc/kubeline")).expect("mkdir");
            std::fs::create_dir_all(root.join("var/lib/etcd")).expect("mkdir");
            std::fs::write(root.join("etc/kubeline/etcd-members"), &list).expect("write");
        }
        Lab {
            dir,
            identity,
            members,
            daemons: BTreeMap::new(),
            _turn: turn,
        }
    }

    pub fn root(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("m{i}"))
    }

    /// Runs the rendered etcd-identity script as member I's instance would.
    pub fn identity(&self, i: usize) -> (bool, String) {
        self.run_as(i, &self.identity, &[], &[])
    }

    /// Runs SCRIPT with ARGS and ENV as member I's instance would: its files under the
    /// member's root, the shims on PATH.
    pub fn run_as(
        &self,
        i: usize,
        script: &Path,
        args: &[&str],
        env: &[(&str, &Path)],
    ) -> (bool, String) {
        let d = self.dir.path();
        let path = crate::path_with(&d.join("bin"));
        let mut cmd = Command::new(tool("bash"));
        cmd.arg(script)
            .args(args)
            .env("PATH", path)
            .env("KUBELINE_ROOT", self.root(i))
            .env("FAKE_IP", &self.members[i].1)
            .env("CERTS", d.join("ssl"))
            .env("ETCDCTL_BIN", tool("etcdctl"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        outcome(&run(&mut cmd))
    }

    /// The settings the script wrote for member I.
    pub fn env(&self, i: usize) -> BTreeMap<String, String> {
        let text =
            std::fs::read_to_string(self.root(i).join("run/kubeline/etcd.env")).expect("etcd.env");
        text.lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    /// Starts member I's etcd with the script's settings, as etcd-member.service does with
    /// `docker run --env-file`, the image's /var/lib/etcd and /etc/etcd/ssl being the test's.
    /// The extra listener on 127.0.0.1:2379 (for the member's own tools) is left out: three
    /// members on one machine cannot share it.
    pub fn start(&mut self, i: usize) {
        let data = self.root(i).join("var/lib/etcd");
        let ssl = self.dir.path().join("ssl");
        let mut cmd = Command::new(tool("etcd"));
        cmd.env_clear();
        for (k, v) in self.env(i) {
            let v = v
                .replace("/var/lib/etcd", &data.display().to_string())
                .replace("/etc/etcd/ssl", &ssl.display().to_string());
            let v = if k == "ETCD_LISTEN_CLIENT_URLS" {
                v.split(',')
                    .filter(|u| !u.contains("//127.0.0.1:"))
                    .collect::<Vec<_>>()
                    .join(",")
            } else {
                v
            };
            cmd.env(k, v);
        }
        let log = self.dir.path().join(format!("etcd{i}.log"));
        self.daemons
            .insert(i, Daemon::start(&format!("etcd{i}"), &mut cmd, &log));
    }

    pub fn stop(&mut self, i: usize) {
        drop(self.daemons.remove(&i));
    }

    pub fn etcdctl(&self, i: usize, args: &[&str]) -> (bool, String) {
        self.etcdctl_within(i, "5s", args)
    }

    /// `etcdctl` with command timeout TIMEOUT (a check of a member that is not up yet fails
    /// only when it runs out: etcdctl's gRPC client retries a refused connection until then).
    fn etcdctl_within(&self, i: usize, timeout: &str, args: &[&str]) -> (bool, String) {
        let ssl = self.dir.path().join("ssl");
        outcome(&run(Command::new(tool("etcdctl"))
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints=https://{}:2379", self.members[i].1))
            .arg(format!("--cacert={}", ssl.join("etcd-ca.pem").display()))
            .arg(format!("--cert={}", ssl.join("etcd.pem").display()))
            .arg(format!("--key={}", ssl.join("etcd-key.pem").display()))
            .arg("--dial-timeout=3s")
            .arg(format!("--command-timeout={timeout}"))
            .args(args)))
    }

    pub fn wait_healthy(&self, i: usize) {
        // A deadline, not a count: each failed check can take the dial timeout.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            if self.etcdctl_within(i, "2s", &["endpoint", "health"]).0 {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "member {i} never became healthy:\n{}",
            self.daemons
                .get(&i)
                .map(|d| d.log_text())
                .unwrap_or_default()
        );
    }

    /// `ID NAME` of every started member, and how many are unstarted.
    pub fn member_list(&self, via: usize) -> (BTreeMap<String, String>, usize) {
        let (ok, out) = self.etcdctl(via, &["member", "list"]);
        assert!(ok, "{out}");
        let mut started = BTreeMap::new();
        let mut unstarted = 0;
        for line in out.lines().filter(|l| l.contains("https://")) {
            let f: Vec<&str> = line.split(", ").collect();
            if f[1] == "started" {
                started.insert(f[2].to_owned(), f[0].to_owned());
            } else {
                unstarted += 1;
            }
        }
        (started, unstarted)
    }
}

/// `systemctl [--no-block] start|stop UNIT...` for the scripts that stop and start etcd (the
/// restore order): every call is logged to `$KUBELINE_ROOT/systemctl.log`; a start or stop of
/// etcd-member.service is asked of the test through `$KUBELINE_ROOT/systemctl.request`, and
/// the shim returns once the test has done it (removed the file; [`Lab::run_serving`]). Other
/// units (the snapshot timers) are only logged.
const SYSTEMCTL_SHIM: &str = r#"#!/bin/bash
set -euo pipefail
echo "$*" >>"${KUBELINE_ROOT}/systemctl.log"
verb=""
units=()
for a in "$@"; do
  case "${a}" in
    --*) ;;
    *) if [[ -z "${verb}" ]]; then verb="${a}"; else units+=("${a}"); fi ;;
  esac
done
for u in "${units[@]}"; do
  [[ "${u}" == etcd-member.service ]] || continue
  case "${verb}" in
    start | stop) ;;
    *) echo "systemctl shim: ${verb} ${u} is not served" >&2; exit 1 ;;
  esac
  request="${KUBELINE_ROOT}/systemctl.request"
  printf '%s\n' "${verb}" >"${request}.new"
  mv "${request}.new" "${request}"
  for ((i = 0; i < 1200; i++)); do
    [[ -e "${request}" ]] || exit 0
    sleep 0.05
  done
  echo "systemctl shim: nobody served ${verb} ${u}" >&2
  exit 1
done
"#;

impl Lab {
    /// Puts the `systemctl` shim on the scripts' PATH (see [`Lab::run_serving`]).
    pub fn install_systemctl(&self) {
        let p = self.dir.path().join("bin/systemctl");
        std::fs::write(&p, SYSTEMCTL_SHIM).expect("write");
        make_executable(&p);
    }

    /// Whether the lab runs member I's etcd.
    pub fn is_started(&self, i: usize) -> bool {
        self.daemons.contains_key(&i)
    }

    /// The `systemctl` calls member I's scripts made, in order.
    pub fn systemctl_calls(&self, i: usize) -> Vec<String> {
        std::fs::read_to_string(self.root(i).join("systemctl.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Like [`Lab::run_as`], serving the script's `systemctl start|stop etcd-member.service`
    /// (the shim of [`Lab::install_systemctl`]) as systemd would: stop stops member I's etcd;
    /// start runs etcd-identity (the unit's ExecStartPre) and starts it with its settings.
    pub fn run_serving(
        &mut self,
        i: usize,
        script: &Path,
        args: &[&str],
        env: &[(&str, &Path)],
    ) -> (bool, String) {
        let d = self.dir.path().to_path_buf();
        let out_path = d.join(format!("run-m{i}.out"));
        let out = std::fs::File::create(&out_path).expect("output file");
        let mut cmd = Command::new(tool("bash"));
        cmd.arg(script)
            .args(args)
            .env("PATH", crate::path_with(&d.join("bin")))
            .env("KUBELINE_ROOT", self.root(i))
            .env("FAKE_IP", &self.members[i].1)
            .env("CERTS", d.join("ssl"))
            .env("ETCDCTL_BIN", tool("etcdctl"))
            .stdin(std::process::Stdio::null())
            .stdout(out.try_clone().expect("output file"))
            .stderr(out);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        let request = self.root(i).join("systemctl.request");
        let deadline = std::time::Instant::now() + Duration::from_secs(300);
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if let Ok(verb) = std::fs::read_to_string(&request) {
                match verb.trim() {
                    "stop" => self.stop(i),
                    "start" => {
                        let (ok, out) = self.identity(i);
                        assert!(ok, "etcd-identity of member {i}: {out}");
                        self.start(i);
                    }
                    other => panic!("systemctl shim asked to {other:?}"),
                }
                std::fs::remove_file(&request).expect("served");
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{} ran for 300 s:\n{}",
                    script.display(),
                    std::fs::read_to_string(&out_path).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let text = std::fs::read_to_string(&out_path).unwrap_or_default();
        (status.success(), text)
    }
}
