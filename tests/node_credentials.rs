//! The node side of the credential contract, run for real: the fetch-credentials script from a
//! rendered node config installs every certificate and opens every sealed secret with the
//! AWS CLI (a `docker` shim standing in for the aws-cli container, S3 and KMS), `openssl enc`
//! and `sha256sum`, giving back exactly the plaintext kubeline sealed. A tampered envelope and
//! one copied from another file are refused at once; throttled or failing AWS calls and image
//! pulls are retried with bounded backoff, and the failure path marks the instance Unhealthy.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use kubeline_aws::kms::{DataKey, Kms, KmsError};
use kubeline_aws::sealed;
use kubeline_core::envelope::Context;
use kubeline_core::layout::{NodeRole, node_credentials};
use kubeline_core::reconcile::{self, Files, Options};
use kubeline_tests::{
    decode_ignition, generated_credentials, make_executable, outcome, render_example, repo_root,
    run,
};
use zeroize::Zeroizing;

/// A KMS whose ciphertext blob is `fake-kms|CONTEXT|BASE64(KEY)`: the shim can "decrypt" it
/// while still checking the encryption context, as KMS does.
struct ShimKms;

impl Kms for ShimKms {
    async fn generate_data_key(
        &self,
        key_id: &str,
        context: &Context,
    ) -> Result<DataKey, KmsError> {
        let key = kubeline_core::pki::random_bytes::<32>()
            .expect("random")
            .to_vec();
        let blob = format!(
            "fake-kms|{}|{}",
            context.to_cli(),
            base64::engine::general_purpose::STANDARD.encode(&key)
        );
        Ok(DataKey {
            plaintext: Zeroizing::new(key),
            ciphertext: blob.into_bytes(),
            key_id: key_id.to_owned(),
        })
    }

    async fn decrypt(
        &self,
        _: &str,
        _: &[u8],
        _: &Context,
    ) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        unreachable!("nodes decrypt, not kubeline, in this test")
    }
}

/// Stands in for `docker pull IMAGE` and `docker run ... amazon/aws-cli ARGS`: `s3 cp` copies
/// from $FAKE_S3, `kms decrypt` checks the context and prints the data key as base64, and
/// `autoscaling set-instance-health` answers $ASG_ERROR (when set) as an error. Every call is
/// logged to $SHIM_LOG; the first $FAIL_PULL pulls, $FAIL_S3 copies and $FAIL_KMS decrypts fail
/// the way a throttled registry or AWS API does.
const DOCKER_SHIM: &str = r#"#!/bin/bash
set -euo pipefail
# Logs call KIND (and ARGS) and fails it when it is among the first LIMIT calls of KIND.
call() {
  local kind="$1" limit="$2" n
  shift 2
  echo "${kind} $*" >>"${SHIM_LOG}"
  n="$(grep -c "^${kind} " "${SHIM_LOG}")"
  if ((n <= limit)); then
    echo "An error occurred (ThrottlingException) when calling the ${kind} operation (reached max retries: 2): Rate exceeded" >&2
    exit 254
  fi
}
if [[ "$1" == pull ]]; then
  call pull "${FAIL_PULL:-0}" "${@: -1}"
  echo "${@: -1}"
  exit 0
fi
[[ "$1" == run ]] || { echo "shim: only docker pull and docker run" >&2; exit 2; }
shift
work=""
while [[ "$1" == --* ]]; do
  case "$1" in
    --volume) work="${2%%:/work}"; shift 2 ;;
    --rm) shift ;;
    *) shift 2 ;;
  esac
done
shift # image
case "$1 $2" in
  "s3 cp")
    src="${@: -2:1}"; dst="${@: -1}"
    call s3 "${FAIL_S3:-0}" "${src##*/}"
    cp "${FAKE_S3}/${src##*/}" "${work}${dst#/work}" ;;
  "kms decrypt")
    blob="" ; ctx=""
    while [[ $# -gt 0 ]]; do
      case "$1" in
        --ciphertext-blob) blob="${2#fileb:///work}"; shift 2 ;;
        --encryption-context) ctx="$2"; shift 2 ;;
        *) shift ;;
      esac
    done
    call kms "${FAIL_KMS:-0}" "${blob#/}"
    IFS='|' read -r tag bctx key <"${work}${blob}" || true # no trailing newline
    [[ "${tag}" == fake-kms && "${bctx}" == "${ctx}" ]] || { echo "An error occurred (InvalidCiphertextException) when calling the Decrypt operation:" >&2; exit 254; }
    echo "${key}" ;;
  "autoscaling set-instance-health")
    call autoscaling 0 "${@:2}"
    if [[ -n "${ASG_ERROR:-}" ]]; then echo "${ASG_ERROR}" >&2; exit 254; fi ;;
  *) echo "shim: unexpected $*" >&2; exit 2 ;;
esac
"#;

/// Stands in for `curl` against IMDSv2: a token for the PUT, the instance id for a GET that
/// carries it.
const CURL_SHIM: &str = r#"#!/bin/bash
set -euo pipefail
args="$*"
case "${args}" in
  *"--request PUT"*"X-aws-ec2-metadata-token-ttl-seconds: 300"*/latest/api/token) echo -n imds-token ;;
  *"X-aws-ec2-metadata-token: imds-token"*/latest/meta-data/instance-id) echo -n i-0123456789abcdef0 ;;
  *) echo "curl: (22) The requested URL returned error: 401" >&2; exit 22 ;;
esac
"#;

fn script_of(config: &[u8]) -> String {
    let (files, _, _) = decode_ignition(config);
    files
        .into_iter()
        .find(|f| f.path == "/opt/kubeline/bin/fetch-credentials")
        .and_then(|f| f.text)
        .expect("fetch-credentials in the node config")
}

struct Node {
    dir: tempfile::TempDir,
}

impl Node {
    /// Lays out the S3 objects, the shim and the script (DEST and the tmpfs moved into the
    /// sandbox; nothing else changed).
    fn new(script: &str, stored: &Files) -> Node {
        let dir = tempfile::tempdir().expect("tmp");
        let d = dir.path();
        for sub in ["s3", "bin", "dest", "run"] {
            std::fs::create_dir_all(d.join(sub)).expect("mkdir");
        }
        for (name, bytes) in stored {
            std::fs::write(d.join("s3").join(name), bytes).expect("write");
        }
        for (name, text) in [("docker", DOCKER_SHIM), ("curl", CURL_SHIM)] {
            let shim = d.join("bin").join(name);
            std::fs::write(&shim, text).expect("write");
            make_executable(&shim);
        }
        let script = script
            .replace(
                "readonly DEST='/etc/kubernetes/ssl'",
                &format!("readonly DEST='{}'", d.join("dest").display()),
            )
            .replace("-p /run ", &format!("-p '{}' ", d.join("run").display()));
        std::fs::write(d.join("fetch-credentials"), script).expect("write");
        Node { dir }
    }

    fn run(&self) -> (bool, String) {
        self.run_with(&[], &[])
    }

    /// Runs the script with ARGS and extra environment ENV (the shim's failures, the retry
    /// settings); the retries wait no time unless ENV sets KUBELINE_RETRY_DELAY.
    fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
        let d = self.dir.path();
        let path = kubeline_tests::path_with(&d.join("bin"));
        let out = run(Command::new("bash")
            .arg(d.join("fetch-credentials"))
            .args(args)
            .env("PATH", path)
            .env("FAKE_S3", d.join("s3"))
            .env("SHIM_LOG", d.join("calls"))
            .env("KUBELINE_RETRY_DELAY", "0")
            .envs(env.iter().copied()));
        outcome(&out)
    }

    /// The shim's calls so far, `KIND ARGS` each.
    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// How many calls of KIND (`pull`, `s3`, `kms`, `autoscaling`) the shim got.
    fn count(&self, kind: &str) -> usize {
        self.calls()
            .iter()
            .filter(|c| c.starts_with(&format!("{kind} ")))
            .count()
    }

    fn installed(&self) -> BTreeMap<String, Vec<u8>> {
        std::fs::read_dir(self.dir.path().join("dest"))
            .expect("dest")
            .flatten()
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).expect("read"),
                )
            })
            .collect()
    }
}

/// The ha example's controller script and its credentials, plain and sealed.
async fn sealed_controller() -> (String, Files, Files) {
    let (cluster, rendered) =
        render_example(&repo_root().join("examples/ha/cluster.yaml")).expect("render");
    let plain = generated_credentials(&cluster);
    let key = cluster.kms_key_arn.to_string();
    let name = cluster.name.to_string();
    let stored = sealed::seal(&ShimKms, &key, &name, &plain, &Files::new())
        .await
        .expect("seal");
    let script = script_of(&rendered.files["userdata/controller.json"]);
    (script, plain, stored)
}

/// Every credential a controller gets, sorted.
fn controller_files() -> Vec<&'static str> {
    let wanted = node_credentials(NodeRole::Controller);
    let mut names: Vec<&str> = wanted
        .public
        .iter()
        .chain(&wanted.secret)
        .copied()
        .collect();
    names.sort_unstable();
    names
}

/// The node installed exactly the controller's credentials, byte for byte as sealed.
fn assert_installed_all(node: &Node, plain: &Files) {
    let installed = node.installed();
    assert_eq!(
        installed.keys().map(String::as_str).collect::<Vec<_>>(),
        controller_files()
    );
    for (file, bytes) in &installed {
        assert_eq!(
            bytes, &plain[file],
            "{file} differs from what kubeline sealed"
        );
    }
}

/// Every call the shim got was made once: nothing was retried.
fn assert_no_retries(node: &Node, out: &str) {
    let calls = node.calls();
    let unique: std::collections::BTreeSet<&String> = calls.iter().collect();
    assert_eq!(unique.len(), calls.len(), "retried: {calls:?}\n{out}");
    assert!(!out.contains("; retrying in"), "{out}");
}

/// Replaces `file`'s envelope in `stored` by `f` applied to it.
fn tamper(
    stored: &Files,
    file: &str,
    f: impl FnOnce(&mut kubeline_core::envelope::Envelope),
) -> Files {
    let mut out = stored.clone();
    let text = String::from_utf8(stored[file].clone()).expect("utf8");
    let mut env = kubeline_core::envelope::Envelope::parse(&text).expect("parse");
    f(&mut env);
    out.insert(file.into(), env.to_text().into_bytes());
    out
}

#[tokio::test]
async fn the_node_script_opens_every_sealed_secret() {
    let (script, plain, stored) = sealed_controller().await;

    let node = Node::new(&script, &stored);
    let (ok, out) = node.run();
    assert!(ok, "fetch-credentials failed:\n{out}");
    assert_installed_all(&node, &plain);
    // Controllers get the CA key (kube-controller-manager signs kubelet certificates).
    assert!(node.installed().contains_key("ca-key.pem"));
    // One pull, one copy per file, one decrypt per secret.
    let wanted = node_credentials(NodeRole::Controller);
    assert_eq!(node.count("pull"), 1);
    assert_eq!(node.count("s3"), wanted.public.len() + wanted.secret.len());
    assert_eq!(node.count("kms"), wanted.secret.len());
    assert_no_retries(&node, &out);

    // One flipped ciphertext byte: the fingerprint check stops the node, at once.
    let tampered = tamper(&stored, "apiserver-key.pem.enc", |env| {
        env.ciphertext[5] ^= 0x01;
    });
    let node = Node::new(&script, &tampered);
    let (ok, out) = node.run();
    assert!(
        !ok && out.contains("apiserver-key.pem does not match its fingerprint"),
        "{out}"
    );
    assert_no_retries(&node, &out);
    assert!(!node.installed().contains_key("apiserver-key.pem"));

    // Another file's envelope in its place: refused by the context check, before KMS.
    let mut swapped = stored.clone();
    swapped.insert(
        "apiserver-key.pem.enc".into(),
        stored["tokens.csv.enc"].clone(),
    );
    let node = Node::new(&script, &swapped);
    let (ok, out) = node.run();
    assert!(!ok && out.contains("belongs to cluster="), "{out}");
    assert_no_retries(&node, &out);
    assert!(
        !node
            .calls()
            .contains(&"kms apiserver-key.pem.key".to_owned()),
        "{:?}",
        node.calls()
    );

    // Another file's data key in an otherwise intact envelope: KMS refuses it under this
    // file's context, and that is not retried either.
    let foreign_key = kubeline_core::envelope::Envelope::parse(
        std::str::from_utf8(&stored["tokens.csv.enc"]).expect("utf8"),
    )
    .expect("parse")
    .data_key;
    let rekeyed = tamper(&stored, "apiserver-key.pem.enc", |env| {
        env.data_key = foreign_key;
    });
    let node = Node::new(&script, &rekeyed);
    let (ok, out) = node.run_with(&[], &[("KUBELINE_RETRY_ATTEMPTS", "5")]);
    assert!(
        !ok && out.contains("InvalidCiphertextException")
            && out.contains(
                "aws kms decrypt (apiserver-key.pem) failed with an error retrying cannot fix"
            ),
        "{out}"
    );
    assert_no_retries(&node, &out);
}

#[tokio::test]
async fn the_node_script_rides_out_throttling_and_failed_pulls() {
    let (script, plain, stored) = sealed_controller().await;
    let node = Node::new(&script, &stored);
    // The first pull, the first two copies and the first decrypt fail; real (1s, 2s) backoff.
    let (ok, out) = node.run_with(
        &[],
        &[
            ("FAIL_PULL", "1"),
            ("FAIL_S3", "2"),
            ("FAIL_KMS", "1"),
            ("KUBELINE_RETRY_ATTEMPTS", "5"),
            ("KUBELINE_RETRY_DELAY", "1"),
        ],
    );
    assert!(ok, "fetch-credentials failed:\n{out}");
    assert_installed_all(&node, &plain);
    let wanted = node_credentials(NodeRole::Controller);
    assert_eq!(node.count("pull"), 2, "{out}");
    assert_eq!(
        node.count("s3"),
        wanted.public.len() + wanted.secret.len() + 2,
        "{out}"
    );
    assert_eq!(node.count("kms"), wanted.secret.len() + 1, "{out}");
    let first = wanted.public[0];
    for line in [
        format!("kubeline: aws s3 cp {first} failed (attempt 1 of 5); retrying in 1"),
        format!("kubeline: aws s3 cp {first} failed (attempt 2 of 5); retrying in "),
        "kubeline: docker pull ".to_owned(),
        "kubeline: aws kms decrypt (".to_owned(),
        "ThrottlingException".to_owned(),
    ] {
        assert!(out.contains(&line), "no {line:?} in:\n{out}");
    }
}

#[tokio::test]
async fn the_node_script_gives_up_after_its_attempts() {
    let (script, _, stored) = sealed_controller().await;
    let node = Node::new(&script, &stored);
    let (ok, out) = node.run_with(
        &[],
        &[("FAIL_S3", "1000"), ("KUBELINE_RETRY_ATTEMPTS", "4")],
    );
    let first = node_credentials(NodeRole::Controller).public[0];
    assert!(
        !ok && out.contains(&format!(
            "kubeline: aws s3 cp {first} failed 4 times; giving up"
        )),
        "{out}"
    );
    assert_eq!(node.count("s3"), 4, "{:?}", node.calls());
    assert_eq!(node.count("kms"), 0);
    assert!(node.installed().is_empty());
    // A pull that never works gives up the same way, before any AWS call.
    let node = Node::new(&script, &stored);
    let (ok, out) = node.run_with(
        &[],
        &[("FAIL_PULL", "1000"), ("KUBELINE_RETRY_ATTEMPTS", "3")],
    );
    assert!(!ok && out.contains("failed 3 times; giving up"), "{out}");
    assert_eq!((node.count("pull"), node.count("s3")), (3, 0));
    // Nonsense retry settings are refused rather than misread.
    let (ok, out) = Node::new(&script, &stored).run_with(&[], &[("KUBELINE_RETRY_ATTEMPTS", "0")]);
    assert!(!ok && out.contains("KUBELINE_RETRY_ATTEMPTS"), "{out}");
}

#[tokio::test]
async fn a_failed_node_marks_itself_unhealthy() {
    let (script, _, stored) = sealed_controller().await;
    let node = Node::new(&script, &stored);
    let (ok, out) = node.run_with(
        &["mark-unhealthy"],
        &[
            ("MONITOR_UNIT", "kubeline-credentials.service"),
            ("MONITOR_SERVICE_RESULT", "exit-code"),
        ],
    );
    assert!(ok, "{out}");
    assert_eq!(
        node.calls(),
        vec![
            "autoscaling set-instance-health --instance-id i-0123456789abcdef0 --health-status Unhealthy \
             --no-should-respect-grace-period"
        ]
    );
    assert!(
        out.contains("kubeline-credentials.service failed (exit-code)")
            && out.contains("instance i-0123456789abcdef0 is marked Unhealthy"),
        "{out}"
    );
    assert!(
        node.installed().is_empty(),
        "the failure path fetches nothing"
    );

    // The other outcomes, as a table: environment → (exit ok, a line of the output, how many
    // SetInstanceHealth calls).
    const VALIDATION: &str = "An error occurred (ValidationError) when calling the SetInstanceHealth operation: \
         Instance Id not found - No managed instance found for instance ID: i-0123456789abcdef0";
    const THROTTLED: &str = "An error occurred (Throttling) when calling the SetInstanceHealth operation: Rate exceeded";
    /// (case, environment, exit ok, a line of the output, SetInstanceHealth calls).
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], bool, &'a str, usize);
    let cases: [Case; 4] = [
        // Not in an Auto Scaling group: the refusal is logged once, the unit fails with it.
        (
            "no group",
            &[("ASG_ERROR", VALIDATION)],
            false,
            "could not mark instance i-0123456789abcdef0 Unhealthy",
            1,
        ),
        // Throttled: retried.
        (
            "throttled",
            &[("ASG_ERROR", THROTTLED), ("KUBELINE_RETRY_ATTEMPTS", "3")],
            false,
            "failed 3 times; giving up",
            3,
        ),
        // A permanent failure (not 75, retries exhausted) replaces nothing: a new instance
        // would fail the same way, and the group would churn instances forever.
        (
            "permanent",
            &[
                ("MONITOR_UNIT", "kubeline-credentials.service"),
                ("MONITOR_SERVICE_RESULT", "exit-code"),
                ("MONITOR_EXIT_STATUS", "1"),
            ],
            false,
            "the failure is permanent",
            0,
        ),
        // Retries exhausted (75): replaced.
        (
            "retries exhausted",
            &[
                ("MONITOR_SERVICE_RESULT", "exit-code"),
                ("MONITOR_EXIT_STATUS", "75"),
            ],
            true,
            "is marked Unhealthy",
            1,
        ),
    ];
    for (what, env, want_ok, line, calls) in cases {
        let node = Node::new(&script, &stored);
        let (ok, out) = node.run_with(&["mark-unhealthy"], env);
        assert!(ok == want_ok && out.contains(line), "{what}: {out}");
        assert_eq!(node.count("autoscaling"), calls, "{what}: {out}");
    }
}

/// Stands in for `curl` against IMDSv2 on a controller: a token for the PUT, the private IPv4
/// and private DNS name for a GET that carries it.
const IMDS_CURL_SHIM: &str = r#"#!/bin/bash
set -euo pipefail
args="$*"
case "${args}" in
  *"--request PUT"*"X-aws-ec2-metadata-token-ttl-seconds: 60"*/latest/api/token) echo -n imds-token ;;
  *"X-aws-ec2-metadata-token: imds-token"*/latest/meta-data/local-ipv4) echo -n 10.0.1.23 ;;
  *"X-aws-ec2-metadata-token: imds-token"*/latest/meta-data/local-hostname) echo -n ip-10-0-1-23.eu-west-1.compute.internal ;;
  *"X-aws-ec2-metadata-token: imds-token"*/latest/meta-data/hostname) echo -n Ip-10-0-1-5.eu-west-1.compute.internal ;;
  *) echo "curl: (22) The requested URL returned error: 401" >&2; exit 22 ;;
esac
"#;

/// Runs the controllers' kubelet-identity script against `creds` (its /etc/kubernetes/ssl),
/// with IMDSv2 (a `curl` shim) answering the host name `Ip-10-0-1-5.eu-west-1.compute.internal`
/// (the node name, as the kubelet registers it), 10.0.1.23 and
/// `ip-10-0-1-23.eu-west-1.compute.internal`; the machine's own `hostname` is not consulted
/// (there is no shim for it); returns the issued certificates' directory.
fn issue_kubelet_identity(script: &str, creds: &Files) -> (tempfile::TempDir, bool, String) {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    for sub in ["ssl", "pki", "bin", "run"] {
        std::fs::create_dir_all(d.join(sub)).expect("mkdir");
    }
    for (name, bytes) in creds {
        std::fs::write(d.join("ssl").join(name), bytes).expect("write");
    }
    let curl = d.join("bin/curl");
    std::fs::write(&curl, IMDS_CURL_SHIM).expect("write");
    make_executable(&curl);
    let script = script
        .replace(
            "readonly SSL='/etc/kubernetes/ssl'",
            &format!("readonly SSL='{}'", d.join("ssl").display()),
        )
        .replace(
            "readonly PKI='/var/lib/kubelet/pki'",
            &format!("readonly PKI='{}'", d.join("pki").display()),
        )
        .replace("-p /run ", &format!("-p '{}' ", d.join("run").display()));
    std::fs::write(d.join("kubelet-identity"), script).expect("write");
    let out = run(Command::new("bash")
        .arg(d.join("kubelet-identity"))
        .env("PATH", kubeline_tests::path_with(&d.join("bin"))));
    let (ok, text) = outcome(&out);
    (dir, ok, text)
}

#[test]
fn controllers_issue_their_kubelet_identity_from_the_ca() {
    let (cluster, rendered) =
        render_example(&repo_root().join("examples/ha/cluster.yaml")).expect("render");
    let (files, _, _) = decode_ignition(&rendered.files["userdata/controller.json"]);
    let script = kubeline_tests::inline_file(&files, "/opt/kubeline/bin/kubelet-identity")
        .expect("kubelet-identity in the controller config")
        .to_owned();
    let opts = Options {
        now: time::OffsetDateTime::now_utc(),
        renew_within_days: 30,
    };
    let creds = generated_credentials(&cluster);
    // Also in the middle of a CA rotation, when ca.pem holds two CAs and the new one signs.
    let (stage1, _) = reconcile::rotate_ca(&cluster, &creds, &opts).expect("stage 1");
    let (stage2, _) = reconcile::rotate_ca(&cluster, &stage1.files, &opts).expect("stage 2");
    for (what, set) in [("one CA", &creds), ("CA rotation stage 2", &stage2.files)] {
        let (dir, ok, out) = issue_kubelet_identity(&script, set);
        assert!(ok, "{what}: kubelet-identity failed:\n{out}");
        assert!(
            out.contains("system:node:ip-10-0-1-5.eu-west-1.compute.internal"),
            "{what}: {out}"
        );
        let pem = std::fs::read_to_string(dir.path().join("pki/kubelet-client.pem")).expect("cert");
        let cert = kubeline_core::pki::parse_certificates(&pem)
            .expect("parse")
            .remove(0);
        assert_eq!(
            cert.common_name.as_deref(),
            Some("system:node:ip-10-0-1-5.eu-west-1.compute.internal")
        );
        assert_eq!(cert.organizations, vec!["system:nodes"]);
        assert!(
            cert.client_auth && !cert.server_auth && !cert.is_ca,
            "{what}"
        );
        let ca = kubeline_core::pki::parse_certificates(
            std::str::from_utf8(&set["ca.pem"]).expect("utf8"),
        )
        .expect("ca")
        .remove(0);
        assert!(cert.issued_by(&ca), "{what}: not issued by the signing CA");
        // openssl counts from the moment it signs, a little after `opts.now`.
        assert!((364..=365).contains(&cert.days_left(opts.now)), "{what}");
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join("pki/kubelet-client-key.pem"))
            .expect("key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{what}");
        assert_serving_certificate(what, dir.path(), set);
        // kube-controller-manager's signing certificate: exactly one, the signer (ca.pem's
        // first), also when ca.pem is a bundle mid-rotation.
        let signer = std::fs::read_to_string(dir.path().join("ssl/ca-signer.pem")).expect("signer");
        let certs = kubeline_core::pki::parse_certificates(&signer).expect("parse");
        assert_eq!(certs.len(), 1, "{what}: {signer}");
        assert!(
            cert.issued_by(&certs[0]),
            "{what}: the signer is not ca.pem's first"
        );
    }
}

/// The serving certificate kubelet-identity issued in `dir`: for the node's hostname, private
/// DNS name and private IPv4, server auth only, valid for TLS servers under the signing CA
/// (checked with openssl itself), and its key private.
fn assert_serving_certificate(what: &str, dir: &Path, set: &Files) {
    use std::os::unix::fs::PermissionsExt as _;
    let cert = dir.join("pki/kubelet-serving.pem");
    let ca = dir.join("ssl/ca.pem");
    let openssl = |args: &[&str]| {
        let (ok, out) = outcome(&run(Command::new("openssl").args(args)));
        assert!(ok, "{what}: openssl {args:?}:\n{out}");
        out
    };
    let cert_arg = cert.to_str().expect("utf8");
    let sans = openssl(&["x509", "-in", cert_arg, "-noout", "-ext", "subjectAltName"]);
    for san in [
        "DNS:ip-10-0-1-5.eu-west-1.compute.internal",
        "DNS:ip-10-0-1-23.eu-west-1.compute.internal",
        "IP Address:10.0.1.23",
    ] {
        assert!(sans.contains(san), "{what}: no {san} in\n{sans}");
    }
    assert_eq!(
        sans.matches(", ").count(),
        2,
        "{what}: other names in\n{sans}"
    );
    let eku = openssl(&[
        "x509",
        "-in",
        cert_arg,
        "-noout",
        "-ext",
        "extendedKeyUsage",
    ]);
    assert!(
        eku.contains("TLS Web Server Authentication") && !eku.contains("Client"),
        "{what}: {eku}"
    );
    let subject = openssl(&[
        "x509", "-in", cert_arg, "-noout", "-subject", "-nameopt", "RFC2253",
    ]);
    assert!(
        subject.contains("CN=system:node:ip-10-0-1-5.eu-west-1.compute.internal,O=system:nodes"),
        "{what}: {subject}"
    );
    let verified = openssl(&[
        "verify",
        "-CAfile",
        ca.to_str().expect("utf8"),
        "-purpose",
        "sslserver",
        cert_arg,
    ]);
    assert!(verified.contains(": OK"), "{what}: {verified}");
    // The key belongs to the certificate.
    let key = dir.join("pki/kubelet-serving-key.pem");
    let from_key = openssl(&["pkey", "-in", key.to_str().expect("utf8"), "-pubout"]);
    let from_cert = openssl(&["x509", "-in", cert_arg, "-noout", "-pubkey"]);
    assert_eq!(from_key, from_cert, "{what}: key and certificate differ");
    let mode = std::fs::metadata(&key).expect("key").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{what}");
    let parsed =
        kubeline_core::pki::parse_certificates(&std::fs::read_to_string(&cert).expect("cert"))
            .expect("parse")
            .remove(0);
    assert!(
        parsed.server_auth && !parsed.client_auth && !parsed.is_ca,
        "{what}"
    );
    let signer =
        kubeline_core::pki::parse_certificates(std::str::from_utf8(&set["ca.pem"]).expect("utf8"))
            .expect("ca")
            .remove(0);
    assert!(
        parsed.issued_by(&signer),
        "{what}: not issued by the signing CA"
    );
}

#[test]
fn a_controller_that_cannot_read_imds_issues_no_identity() {
    let (cluster, rendered) =
        render_example(&repo_root().join("examples/ha/cluster.yaml")).expect("render");
    let (files, _, _) = decode_ignition(&rendered.files["userdata/controller.json"]);
    let script = kubeline_tests::inline_file(&files, "/opt/kubeline/bin/kubelet-identity")
        .expect("kubelet-identity in the controller config")
        .to_owned();
    // An IMDS answer that is not an address is refused before it reaches the certificate.
    let broken = script.replace(
        "readonly IMDS='http://169.254.169.254/latest'",
        "readonly IMDS='http://169.254.169.254/broken'",
    );
    let (dir, ok, out) = issue_kubelet_identity(&broken, &generated_credentials(&cluster));
    assert!(!ok, "{out}");
    assert!(!dir.path().join("pki/kubelet-serving.pem").exists());
}

#[test]
fn an_rsa_cluster_s_controllers_issue_rsa_serving_certificates() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("cluster.yaml");
    let text = std::fs::read_to_string(repo_root().join("examples/ha/cluster.yaml")).expect("read")
        + "\ntlsKeyAlgorithm: rsa-2048\n";
    std::fs::write(&path, text).expect("write");
    let (cluster, rendered) = render_example(&path).expect("render");
    let (files, _, _) = decode_ignition(&rendered.files["userdata/controller.json"]);
    let script = kubeline_tests::inline_file(&files, "/opt/kubeline/bin/kubelet-identity")
        .expect("kubelet-identity in the controller config")
        .to_owned();
    let creds = generated_credentials(&cluster);
    let (node, ok, out) = issue_kubelet_identity(&script, &creds);
    assert!(ok, "kubelet-identity failed:\n{out}");
    assert_serving_certificate("rsa-2048", node.path(), &creds);
    let cert = node.path().join("pki/kubelet-serving.pem");
    let (ok, text) = outcome(&run(Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(&cert)));
    assert!(ok, "{text}");
    assert!(text.contains("Public-Key: (2048 bit)"), "{text}");
    assert!(
        text.contains("Digital Signature, Key Encipherment"),
        "{text}"
    );
}
