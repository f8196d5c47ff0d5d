//! The generated PKI against real tools: `openssl verify` and `openssl x509` on every
//! certificate (ECDSA and RSA sets), a real etcd on 127.0.0.1 with client-certificate auth,
//! kubectl with the rendered admin kubeconfig against an mTLS server presenting the apiserver
//! certificate, and bring-your-own CAs made by openssl (encrypted PKCS#8, SEC1, PKCS#1).
//! Each check also gets a certificate from a foreign CA, which must be refused.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use kubeline_core::cluster::Cluster;
use kubeline_core::credentials::{Authority, leaf_certificates};
use kubeline_core::reconcile::{self, CaSource, Files, Options};
use kubeline_tests::{
    Daemon, decode_ignition, free_port, generated_credentials, outcome, render_example, repo_root,
    run, tool,
};
use time::OffsetDateTime;

fn ha() -> Cluster {
    render_example(&repo_root().join("examples/ha/cluster.yaml"))
        .expect("ha example")
        .0
}

fn with_algorithm(alg: &str) -> Cluster {
    let text = std::fs::read_to_string(repo_root().join("examples/ha/cluster.yaml")).expect("read")
        + &format!("\ntlsKeyAlgorithm: {alg}\n");
    kubeline_core::validate::load(&text)
        .cluster
        .expect("valid with the algorithm")
}

fn opts() -> Options {
    Options {
        now: OffsetDateTime::now_utc(),
        renew_within_days: 30,
    }
}

fn generate(c: &Cluster) -> Files {
    generated_credentials(c)
}

fn write(dir: &Path, files: &Files) {
    std::fs::create_dir_all(dir).expect("mkdir");
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).expect("write");
    }
}

fn openssl(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = run(Command::new(tool("openssl")).current_dir(dir).args(args));
    outcome(&out)
}

/// The value lines under an `openssl x509 -ext` heading (`X509v3 Subject Alternative Name:`).
fn ext(text: &str, heading: &str) -> String {
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        if l.trim_start().starts_with(heading) {
            let depth = indent(l);
            return lines
                .take_while(|x| indent(x) > depth)
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" ");
        }
    }
    String::new()
}

#[test]
fn openssl_verifies_every_certificate_and_its_properties() {
    for alg in ["ecdsa-p256", "rsa-2048"] {
        let c = with_algorithm(alg);
        let dir = tempfile::tempdir().expect("tmp");
        let files = generate(&c);
        write(dir.path(), &files);
        let (_, ca_text) = openssl(dir.path(), &["x509", "-in", "ca.pem", "-noout", "-text"]);
        assert!(
            ext(&ca_text, "X509v3 Basic Constraints").contains("CA:TRUE"),
            "{ca_text}"
        );
        assert!(!ext(&ca_text, "X509v3 Subject Key Identifier").is_empty());
        for spec in leaf_certificates(&c) {
            let ca_file = spec.issuer.cert_file();
            let (_, issuer_text) =
                openssl(dir.path(), &["x509", "-in", ca_file, "-noout", "-text"]);
            assert!(
                ext(&issuer_text, "X509v3 Basic Constraints").contains("CA:TRUE"),
                "{ca_file}: {issuer_text}"
            );
            let ca_ski = ext(&issuer_text, "X509v3 Subject Key Identifier");
            assert!(!ca_ski.is_empty(), "{ca_file}");
            let pem = format!("{}.pem", spec.name);
            let purpose = if spec.usage.server() {
                "sslserver"
            } else {
                "sslclient"
            };
            let (ok, out) = openssl(
                dir.path(),
                &["verify", "-CAfile", ca_file, "-purpose", purpose, &pem],
            );
            assert!(ok && out.contains(": OK"), "{alg} {pem}: {out}");
            // ...and against no other of the cluster's CAs.
            for other in Authority::ALL.iter().filter(|a| **a != spec.issuer) {
                let (ok, out) =
                    openssl(dir.path(), &["verify", "-CAfile", other.cert_file(), &pem]);
                assert!(
                    !ok,
                    "{alg} {pem} verified against {}: {out}",
                    other.cert_file()
                );
            }

            let (_, text) = openssl(dir.path(), &["x509", "-in", &pem, "-noout", "-text"]);
            let mut want_sans: Vec<String> = spec
                .dns_names
                .iter()
                .map(|d| format!("DNS:{d}"))
                .chain(spec.ip_addresses.iter().map(|i| format!("IP Address:{i}")))
                .collect();
            let mut got_sans: Vec<String> = ext(&text, "X509v3 Subject Alternative Name")
                .split(", ")
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            want_sans.sort();
            got_sans.sort();
            assert_eq!(got_sans, want_sans, "{alg} {pem}");

            let eku = ext(&text, "X509v3 Extended Key Usage");
            assert_eq!(
                eku.contains("TLS Web Server Authentication"),
                spec.usage.server(),
                "{pem}: {eku}"
            );
            assert_eq!(
                eku.contains("TLS Web Client Authentication"),
                spec.usage.client(),
                "{pem}: {eku}"
            );
            assert!(ext(&text, "X509v3 Basic Constraints").contains("CA:FALSE"));
            let ku = ext(&text, "X509v3 Key Usage");
            assert!(ku.contains("Digital Signature"), "{pem}: {ku}");
            assert_eq!(
                ku.contains("Key Encipherment"),
                alg == "rsa-2048",
                "{pem}: {ku}"
            );
            assert!(!ku.contains("Certificate Sign"), "{pem}: {ku}");
            assert_eq!(
                ext(&text, "X509v3 Authority Key Identifier").trim_start_matches("keyid:"),
                ca_ski,
                "{pem}"
            );
            assert!(!ext(&text, "X509v3 Subject Key Identifier").is_empty());
            match alg {
                "rsa-2048" => assert!(text.contains("Public-Key: (2048 bit)"), "{pem}"),
                _ => assert!(text.contains("NIST CURVE: P-256"), "{pem}"),
            }
            let subject = text
                .lines()
                .find_map(|l| l.trim().strip_prefix("Subject: "))
                .unwrap_or_default()
                .to_owned();
            assert!(
                subject.contains(&format!("CN = {}", spec.common_name)),
                "{subject}"
            );
            if let Some(o) = spec.organization {
                assert!(subject.contains(&format!("O = {o}")), "{subject}");
            }
            // Lifetime: tlsCertDurationDays (365) from now, to the day.
            for (days, expect) in [(364, "will not expire"), (366, "will expire")] {
                let seconds = (days * 86400).to_string();
                let (_, end) = openssl(
                    dir.path(),
                    &["x509", "-in", &pem, "-noout", "-checkend", &seconds],
                );
                assert!(end.contains(expect), "{pem} after {days} days: {end}");
            }
            // The key belongs to the certificate.
            let key = format!("{}-key.pem", spec.name);
            let (_, a) = openssl(dir.path(), &["pkey", "-in", &key, "-pubout"]);
            let (_, b) = openssl(dir.path(), &["x509", "-in", &pem, "-noout", "-pubkey"]);
            assert_eq!(a, b, "{key} does not match {pem}");
        }
    }

    // Negative control: a certificate from another CA does not verify.
    let dir = tempfile::tempdir().expect("tmp");
    let ours = generate(&ha());
    let foreign = generate(&ha());
    write(dir.path(), &ours);
    std::fs::write(dir.path().join("foreign.pem"), &foreign["admin.pem"]).expect("write");
    let (ok, out) = openssl(dir.path(), &["verify", "-CAfile", "ca.pem", "foreign.pem"]);
    assert!(!ok, "a foreign certificate verified: {out}");
}

fn etcdctl(dir: &Path, port: u16, auth: &[&str], args: &[&str]) -> (bool, String) {
    etcdctl_within(dir, port, "5s", auth, args)
}

/// A call etcd is expected to refuse: etcdctl's gRPC client retries a refused handshake until
/// the command timeout, so 1 s instead of 5 (etcd's log shows the refusal itself).
fn refused(dir: &Path, port: u16, auth: &[&str], args: &[&str]) -> (bool, String) {
    etcdctl_within(dir, port, "1s", auth, args)
}

fn etcdctl_within(
    dir: &Path,
    port: u16,
    timeout: &str,
    auth: &[&str],
    args: &[&str],
) -> (bool, String) {
    let out = run(Command::new(tool("etcdctl"))
        .current_dir(dir)
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints=https://127.0.0.1:{port}"))
        .arg("--cacert=etcd-ca.pem")
        .arg("--dial-timeout=3s")
        .arg(format!("--command-timeout={timeout}"))
        .args(auth)
        .args(args));
    outcome(&out)
}

#[test]
fn a_real_etcd_accepts_the_client_certificate_and_refuses_others() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let c = ha();
    let creds = generate(&c);
    write(d, &creds);
    // etcd is started exactly as the etcd member's etcd-identity script configures it.
    let (_, rendered) =
        render_example(&repo_root().join("examples/ha/cluster.yaml")).expect("render");
    let (files, _, _) = decode_ignition(&rendered.files["userdata/etcd.json"]);
    let etcd_config = files
        .into_iter()
        .find(|f| f.path == "/opt/kubeline/bin/etcd-identity")
        .and_then(|f| f.text)
        .expect("etcd-identity in the etcd config");
    for var in ["ETCD_TRUSTED_CA_FILE", "ETCD_PEER_TRUSTED_CA_FILE"] {
        assert!(
            etcd_config.contains(&format!("{var}=/etc/etcd/ssl/etcd-ca.pem")),
            "{var} is not the etcd CA"
        );
    }
    // A client certificate from another CA, named like ours.
    let foreign = generate(&c);
    std::fs::write(d.join("foreign.pem"), &foreign["etcd-client.pem"]).expect("write");
    std::fs::write(d.join("foreign-key.pem"), &foreign["etcd-client-key.pem"]).expect("write");

    let (client, peer) = (free_port(), free_port());
    let mut etcd = Daemon::start(
        "etcd",
        Command::new(tool("etcd")).current_dir(d).args([
            "--name=m0",
            "--data-dir=data",
            &format!("--listen-client-urls=https://127.0.0.1:{client}"),
            &format!("--advertise-client-urls=https://127.0.0.1:{client}"),
            &format!("--listen-peer-urls=https://127.0.0.1:{peer}"),
            &format!("--initial-advertise-peer-urls=https://127.0.0.1:{peer}"),
            &format!("--initial-cluster=m0=https://127.0.0.1:{peer}"),
            "--cert-file=etcd.pem",
            "--key-file=etcd-key.pem",
            "--trusted-ca-file=etcd-ca.pem",
            "--client-cert-auth",
            "--peer-cert-file=etcd.pem",
            "--peer-key-file=etcd-key.pem",
            "--peer-trusted-ca-file=etcd-ca.pem",
            "--peer-client-cert-auth",
        ]),
        &d.join("etcd.log"),
    );
    etcd.wait_for_port(client, Duration::from_secs(30));

    let ours = ["--cert=etcd-client.pem", "--key=etcd-client-key.pem"];
    let mut healthy = false;
    for _ in 0..100 {
        if etcdctl(d, client, &ours, &["endpoint", "health"]).0 {
            healthy = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(healthy, "etcd never became healthy:\n{}", etcd.log_text());
    let (ok, out) = etcdctl(d, client, &ours, &["put", "/kubeline/probe", "ok"]);
    assert!(ok && out.contains("OK"), "{out}");
    let (ok, out) = etcdctl(
        d,
        client,
        &ours,
        &["get", "/kubeline/probe", "--print-value-only"],
    );
    assert!(ok && out.trim() == "ok", "{out}");

    // The apiserver's identity is etcd-client, and etcd's own certificate also works as a client
    // (members talk to each other with it).
    let members = ["--cert=etcd.pem", "--key=etcd-key.pem"];
    assert!(etcdctl(d, client, &members, &["get", "/kubeline/probe"]).0);

    let (ok, out) = refused(
        d,
        client,
        &["--cert=foreign.pem", "--key=foreign-key.pem"],
        &["get", "/kubeline/probe"],
    );
    assert!(!ok, "a foreign client certificate was accepted: {out}");
    // Certificates of the cluster CA are no etcd clients: not the admin's, not the scheduler's,
    // not the controller manager's (they all verify against ca.pem, so only the separate etcd CA
    // keeps them out).
    const REFUSED: &str =
        "failed to verify client certificate: x509: certificate signed by unknown authority";
    let mut before = etcd.log_text().matches(REFUSED).count();
    assert!(
        before > 0,
        "etcd logged no refusal of the foreign certificate"
    );
    for name in [
        "admin",
        "kube-scheduler",
        "kube-controller-manager",
        "apiserver",
    ] {
        let (cert, key) = (
            format!("--cert={name}.pem"),
            format!("--key={name}-key.pem"),
        );
        let (ok, out) = refused(d, client, &[&cert, &key], &["get", "/kubeline/probe"]);
        assert!(!ok, "{name}.pem was accepted by etcd: {out}");
        // etcd itself refused the handshake for the CA, and is still serving its real client.
        let after = etcd.log_text().matches(REFUSED).count();
        assert!(
            after > before,
            "etcd logged no refusal of {name}.pem:\n{}",
            etcd.log_text()
        );
        before = after;
        assert!(etcdctl(d, client, &ours, &["get", "/kubeline/probe"]).0);
        let (ok, out) = openssl(d, &["verify", "-CAfile", "ca.pem", &format!("{name}.pem")]);
        assert!(ok, "{name}.pem is a valid cluster certificate: {out}");
    }
    const NO_CERTIFICATE: &str = "client didn't provide a certificate";
    let before = etcd.log_text().matches(NO_CERTIFICATE).count();
    let (ok, out) = refused(d, client, &[], &["get", "/kubeline/probe"]);
    assert!(!ok, "a client without certificate was accepted: {out}");
    // Refused by etcd's handshake, not merely out of time.
    assert!(
        etcd.log_text().matches(NO_CERTIFICATE).count() > before,
        "etcd logged no refusal of the client without certificate:\n{}",
        etcd.log_text()
    );
    drop(etcd);
}

/// A small HTTPS server (Python's ssl module, on 127.0.0.1) presenting `cert`, requiring a
/// client certificate from `ca`, answering `/version` like kube-apiserver does.
fn mtls_server(dir: &Path, ca: &str, cert: &str, key: &str) -> (Daemon, u16) {
    const SERVER: &str = r#"
import http.server, ssl, sys
port, ca, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.split("?")[0] != "/version":
            self.send_error(404)
            return
        peer = self.connection.getpeercert()
        cn = [v for rdn in peer["subject"] for (k, v) in rdn if k == "commonName"][0]
        body = ('{"major":"1","minor":"33","gitVersion":"v1.33.3-kubeline-probe","platform":"client ' + cn + '"}').encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ctx.load_verify_locations(ca)
ctx.verify_mode = ssl.CERT_REQUIRED
srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
"#;
    let port = free_port();
    let mut server = Daemon::start(
        "mTLS server",
        Command::new(tool("python3")).current_dir(dir).args([
            "-c",
            SERVER,
            &port.to_string(),
            ca,
            cert,
            key,
        ]),
        &dir.join(format!("server-{port}.log")),
    );
    server.wait_for_port(port, Duration::from_secs(10));
    (server, port)
}

fn kubectl_version(dir: &Path, kubeconfig: &str, port: u16) -> (bool, String) {
    let out = run(Command::new(tool("kubectl")).current_dir(dir).args([
        "--kubeconfig",
        kubeconfig,
        "--server",
        &format!("https://127.0.0.1:{port}"),
        "version",
        "-o",
        "json",
    ]));
    outcome(&out)
}

#[test]
fn kubectl_with_the_rendered_kubeconfig_talks_mtls_to_the_apiserver_certificate() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let (c, rendered) =
        render_example(&repo_root().join("examples/ha/cluster.yaml")).expect("render");
    let creds = generate(&c);
    write(&d.join("credentials"), &creds);
    std::fs::write(d.join("kubeconfig"), &rendered.files["kubeconfig"]).expect("write");

    // The apiserver certificate names 127.0.0.1, so only the server URL is overridden.
    let (server, port) = mtls_server(
        d,
        "credentials/ca.pem",
        "credentials/apiserver.pem",
        "credentials/apiserver-key.pem",
    );
    let (ok, out) = kubectl_version(d, "kubeconfig", port);
    assert!(ok, "kubectl failed: {out}\n{}", server.log_text());
    assert!(out.contains("v1.33.3-kubeline-probe"), "{out}");
    assert!(
        out.contains("client kube-admin"),
        "the server saw the admin identity: {out}"
    );
    drop(server);

    // A kubeconfig whose client certificate comes from another CA is refused by the server.
    let foreign = generate(&c);
    let other = d.join("other");
    write(&other.join("credentials"), &creds);
    std::fs::write(other.join("credentials/admin.pem"), &foreign["admin.pem"]).expect("write");
    std::fs::write(
        other.join("credentials/admin-key.pem"),
        &foreign["admin-key.pem"],
    )
    .expect("write");
    std::fs::write(other.join("kubeconfig"), &rendered.files["kubeconfig"]).expect("write");
    let (server, port) = mtls_server(
        d,
        "credentials/ca.pem",
        "credentials/apiserver.pem",
        "credentials/apiserver-key.pem",
    );
    let (ok, out) = kubectl_version(&other, "kubeconfig", port);
    assert!(
        !ok && out.contains("unknown certificate authority"),
        "foreign client accepted: {out}"
    );
    drop(server);

    // A server presenting a certificate from another CA is refused by kubectl.
    write(&d.join("foreign"), &foreign);
    let (server, port) = mtls_server(
        d,
        "credentials/ca.pem",
        "foreign/apiserver.pem",
        "foreign/apiserver-key.pem",
    );
    let (ok, out) = kubectl_version(d, "kubeconfig", port);
    assert!(
        !ok && out.contains("certificate signed by unknown authority"),
        "foreign server accepted: {out}"
    );
    drop(server);
}

#[test]
fn bring_your_own_ca_made_by_openssl() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let c = ha();
    let gen_cases: [(&str, &[&str], &str); 3] = [
        (
            "encrypted PKCS#8 (EC)",
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-aes-256-cbc",
                "-pass",
                "pass:s3cret",
                "-out",
                "ca.key",
            ],
            "ENCRYPTED PRIVATE KEY",
        ),
        (
            "SEC1 (EC)",
            &[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                "ca.key",
            ],
            "EC PRIVATE KEY",
        ),
        (
            "PKCS#1 (RSA)",
            &["genrsa", "-traditional", "-out", "ca.key", "2048"],
            "RSA PRIVATE KEY",
        ),
    ];
    for (what, genkey, label) in gen_cases {
        let case = d.join(what.replace([' ', '#', '(', ')'], ""));
        std::fs::create_dir_all(&case).expect("mkdir");
        let (ok, out) = openssl(&case, genkey);
        assert!(ok, "{what}: {out}");
        let key = std::fs::read_to_string(case.join("ca.key")).expect("key");
        assert!(key.contains(&format!("BEGIN {label}")), "{what}: {key}");
        let (ok, out) = openssl(
            &case,
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                "ca.key",
                "-passin",
                "pass:s3cret",
                "-subj",
                "/O=Example Corp/CN=Example Corp Kubernetes CA",
                "-days",
                "1000",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
                "-out",
                "ca.crt",
            ],
        );
        assert!(ok, "{what}: {out}");
        let cert = std::fs::read_to_string(case.join("ca.crt")).expect("cert");
        let import = CaSource::Import {
            cert_pem: &cert,
            key_pem: &key,
            passphrase: Some("s3cret"),
        };
        let out = reconcile::reconcile(&c, &Files::new(), import, &opts())
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        write(&case.join("credentials"), &out.files);
        for spec in leaf_certificates(&c) {
            let ca_file = match spec.issuer {
                Authority::Cluster => "ca.crt".to_owned(),
                // The etcd and front-proxy CAs are kubeline's own, also with a BYO cluster CA.
                other => format!("credentials/{}", other.cert_file()),
            };
            let (ok, text) = openssl(
                &case,
                &[
                    "verify",
                    "-CAfile",
                    &ca_file,
                    &format!("credentials/{}.pem", spec.name),
                ],
            );
            assert!(
                ok,
                "{what}: {} does not verify against the organisation's CA: {text}",
                spec.name
            );
        }
        // The stored CA key opens without a passphrase and is the same key.
        let (_, a) = openssl(&case, &["pkey", "-in", "credentials/ca-key.pem", "-pubout"]);
        let (_, b) = openssl(&case, &["x509", "-in", "ca.crt", "-noout", "-pubkey"]);
        assert_eq!(a, b, "{what}");
    }

    // Encrypted keys: a missing or wrong passphrase is a clear error that writes nothing.
    let case = d.join("encryptedPKCS8EC");
    let key = std::fs::read_to_string(case.join("ca.key")).expect("key");
    let cert = std::fs::read_to_string(case.join("ca.crt")).expect("cert");
    for (pass, expect) in [
        (None, "KUBELINE_CA_KEY_PASSPHRASE is not set"),
        (Some("wrong"), "does not decrypt"),
    ] {
        let import = CaSource::Import {
            cert_pem: &cert,
            key_pem: &key,
            passphrase: pass,
        };
        let err = reconcile::reconcile(&c, &Files::new(), import, &opts()).expect_err("passphrase");
        assert!(err.to_string().contains(expect), "{err}");
        assert!(
            err.fix().contains("KUBELINE_CA_KEY_PASSPHRASE"),
            "{}",
            err.fix()
        );
    }
}
