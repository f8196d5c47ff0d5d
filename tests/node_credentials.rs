//! The node side of the credential contract, run for real: the fetch-credentials script from a
//! rendered node config installs every certificate and opens every sealed secret with the
//! AWS CLI (a `docker` shim standing in for the aws-cli container, S3 and KMS), `openssl enc`
//! and `sha256sum`, giving back exactly the plaintext kubeline sealed. A tampered envelope and
//! one copied from another file are refused.

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
    decode_ignition, generated_credentials, outcome, render_example, repo_root, run,
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

/// Stands in for `docker run ... amazon/aws-cli ARGS`: `s3 cp` copies from $FAKE_S3 and
/// `kms decrypt` checks the context and prints the data key as base64.
const DOCKER_SHIM: &str = r#"#!/bin/bash
set -euo pipefail
[[ "$1" == run ]] || { echo "shim: only docker run" >&2; exit 2; }
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
    IFS='|' read -r tag bctx key <"${work}${blob}" || true # no trailing newline
    [[ "${tag}" == fake-kms && "${bctx}" == "${ctx}" ]] || { echo "InvalidCiphertextException" >&2; exit 254; }
    echo "${key}" ;;
  *) echo "shim: unexpected $*" >&2; exit 2 ;;
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
        let shim = d.join("bin/docker");
        std::fs::write(&shim, DOCKER_SHIM).expect("write");
        make_executable(&shim);
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
        let d = self.dir.path();
        let path = format!(
            "{}:{}",
            d.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = run(Command::new("bash")
            .arg(d.join("fetch-credentials"))
            .env("PATH", path)
            .env("FAKE_S3", d.join("s3")));
        outcome(&out)
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

fn make_executable(p: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

#[tokio::test]
async fn the_node_script_opens_every_sealed_secret() {
    let (cluster, rendered) =
        render_example(&repo_root().join("examples/ha/cluster.yaml")).expect("render");
    let plain = generated_credentials(&cluster);
    let key = cluster.kms_key_arn.to_string();
    let name = cluster.name.to_string();
    let stored = sealed::seal(&ShimKms, &key, &name, &plain, &Files::new())
        .await
        .expect("seal");
    let script = script_of(&rendered.files["userdata/controller.json"]);

    let node = Node::new(&script, &stored);
    let (ok, out) = node.run();
    assert!(ok, "fetch-credentials failed:\n{out}");
    let installed = node.installed();
    let wanted = node_credentials(NodeRole::Controller);
    let mut names: Vec<&str> = wanted
        .public
        .iter()
        .chain(&wanted.secret)
        .copied()
        .collect();
    names.sort_unstable();
    assert_eq!(
        installed.keys().map(String::as_str).collect::<Vec<_>>(),
        names
    );
    for (file, bytes) in &installed {
        assert_eq!(
            bytes, &plain[file],
            "{file} differs from what kubeline sealed"
        );
    }
    // Controllers get the CA key (kube-controller-manager signs kubelet certificates).
    assert!(installed.contains_key("ca-key.pem"));

    // One flipped ciphertext byte: the fingerprint check stops the node.
    let mut tampered = stored.clone();
    let text = String::from_utf8(stored["apiserver-key.pem.enc"].clone()).expect("utf8");
    let mut env = kubeline_core::envelope::Envelope::parse(&text).expect("parse");
    env.ciphertext[5] ^= 0x01;
    tampered.insert("apiserver-key.pem.enc".into(), env.to_text().into_bytes());
    let (ok, out) = Node::new(&script, &tampered).run();
    assert!(
        !ok && out.contains("apiserver-key.pem does not match its fingerprint"),
        "{out}"
    );

    // Another file's envelope in its place: refused by the context check.
    let mut swapped = stored.clone();
    swapped.insert(
        "apiserver-key.pem.enc".into(),
        stored["tokens.csv.enc"].clone(),
    );
    let (ok, out) = Node::new(&script, &swapped).run();
    assert!(!ok && out.contains("belongs to cluster="), "{out}");
}

/// Runs the controllers' kubelet-identity script against `creds` (its /etc/kubernetes/ssl),
/// with `hostname` answering `Ip-10-0-1-5.eu-west-1.compute.internal`; returns the issued
/// certificate's directory.
fn issue_kubelet_identity(script: &str, creds: &Files) -> (tempfile::TempDir, bool, String) {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    for sub in ["ssl", "pki", "bin", "run"] {
        std::fs::create_dir_all(d.join(sub)).expect("mkdir");
    }
    for (name, bytes) in creds {
        std::fs::write(d.join("ssl").join(name), bytes).expect("write");
    }
    let shim = d.join("bin/hostname");
    std::fs::write(
        &shim,
        "#!/bin/sh\necho Ip-10-0-1-5.eu-west-1.compute.internal\n",
    )
    .expect("write");
    make_executable(&shim);
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
    let out = run(Command::new("bash").arg(d.join("kubelet-identity")).env(
        "PATH",
        format!(
            "{}:{}",
            d.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        ),
    ));
    let (ok, text) = outcome(&out);
    (dir, ok, text)
}

#[test]
fn controllers_issue_their_kubelet_identity_from_the_ca() {
    let (cluster, rendered) =
        render_example(&repo_root().join("examples/ha/cluster.yaml")).expect("render");
    let (files, _, _) = decode_ignition(&rendered.files["userdata/controller.json"]);
    let script = files
        .into_iter()
        .find(|f| f.path == "/opt/kubeline/bin/kubelet-identity")
        .and_then(|f| f.text)
        .expect("kubelet-identity in the controller config");
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
        assert_eq!(cert.days_left(opts.now), 364, "{what}");
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join("pki/kubelet-client-key.pem"))
            .expect("key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{what}");
    }
}
