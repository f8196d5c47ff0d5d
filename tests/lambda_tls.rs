//! The Lambdas' HTTPS client (`kubeline_pipeline::lambda::aws_config`: rustls with ring, or
//! with aws-lc in credentials, and the system's trust roots), with each crypto, against real TLS servers on 127.0.0.1 (`openssl s_server`): a server
//! whose certificate chains to a trusted root is reached and answers, and one signed by an
//! unknown authority is refused in the handshake (the negative control).
//!
//! The trust roots come from `SSL_CERT_FILE` (rustls-native-certs), which the client reads once
//! per process; the test therefore runs its client half in a child process of itself with that
//! variable set (the workspace forbids `unsafe`, which `std::env::set_var` needs).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use aws_sdk_s3::error::SdkError;
use kubeline_tests::{Daemon, free_port, outcome, run, tool};

/// Set in the child: the ports of the trusted and the untrusted server.
const CHILD: &str = "KUBELINE_TLS_TEST_PORTS";
/// The child's TLS crypto: `ring` or `aws-lc`.
const CRYPTO: &str = "KUBELINE_TLS_TEST_CRYPTO";

/// Runs `openssl` in `dir` with `args` (whitespace-separated; none holds a space).
fn openssl(dir: &Path, args: &str) {
    let (ok, text) = outcome(&run(Command::new(tool("openssl"))
        .current_dir(dir)
        .args(args.split_whitespace())));
    assert!(ok, "openssl {args}: {text}");
}

/// A CA (`<name>-ca.pem`) and a server certificate for `localhost` signed by it.
fn authority(dir: &Path, name: &str) {
    let ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
    openssl(
        dir,
        &format!(
            "req -x509 {ec} -days 1 -subj /CN={name}-ca -keyout {name}-ca.key -out {name}-ca.pem"
        ),
    );
    openssl(
        dir,
        &format!("req {ec} -subj /CN=localhost -keyout {name}.key -out {name}.csr"),
    );
    std::fs::write(
        dir.join(format!("{name}.ext")),
        "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext file");
    openssl(
        dir,
        &format!(
            "x509 -req -in {name}.csr -CA {name}-ca.pem -CAkey {name}-ca.key -CAcreateserial \
             -days 1 -extfile {name}.ext -out {name}.pem"
        ),
    );
}

/// `openssl s_server -www` on 127.0.0.1 with `name`'s certificate, once it accepts.
fn serve(dir: &Path, name: &str) -> (Daemon, u16) {
    let port = free_port();
    let mut daemon = Daemon::start(
        &format!("s_server ({name})"),
        Command::new(tool("openssl"))
            .current_dir(dir)
            .args(["s_server", "-www", "-accept", &format!("127.0.0.1:{port}")])
            .args([
                "-cert",
                &format!("{name}.pem"),
                "-key",
                &format!("{name}.key"),
            ]),
        &dir.join(format!("{name}.log")),
    );
    daemon.wait_for_port(port, Duration::from_secs(20));
    (daemon, port)
}

/// The client half: one S3 call through the Lambdas' configuration to each server.
async fn client(trusted: u16, untrusted: u16) {
    use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
    let crypto = match std::env::var(CRYPTO).as_deref() {
        Ok("ring") => CryptoMode::Ring,
        Ok("aws-lc") => CryptoMode::AwsLc,
        other => panic!("{CRYPTO} is {other:?}"),
    };
    let conf = kubeline_pipeline::lambda::aws_config_with(crypto).await;
    let call = |port: u16| {
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&conf)
                .endpoint_url(format!("https://localhost:{port}"))
                .build(),
        );
        async move { s3.list_buckets().send().await }
    };
    // s_server's status page is no ListBuckets answer: the call fails after the response
    // arrived, which it can only do over a completed handshake.
    match call(trusted).await {
        Err(SdkError::ResponseError(_) | SdkError::ServiceError(_)) => {}
        other => panic!("the trusted server was not reached over TLS: {other:?}"),
    }
    match call(untrusted).await {
        Err(SdkError::DispatchFailure(e)) => {
            let chain = format!("{:?}", e);
            assert!(
                chain.contains("UnknownIssuer") || chain.contains("certificate"),
                "refused for another reason: {chain}"
            );
        }
        other => panic!("a certificate from an unknown authority was accepted: {other:?}"),
    }
}

/// This test's name as the harness lists it (`lambda_tls::the_...`: the module path without
/// the crate), for the child to run only it.
fn this_test() -> String {
    let module = module_path!().split_once("::").map_or("", |(_, m)| m);
    format!("{module}::the_lambda_https_client_verifies_servers_with_ring_and_aws_lc")
}

#[test]
fn the_lambda_https_client_verifies_servers_with_ring_and_aws_lc() {
    if let Ok(ports) = std::env::var(CHILD) {
        let (a, b) = ports.split_once(',').expect("two ports");
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(client(a.parse().expect("port"), b.parse().expect("port")));
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    authority(dir.path(), "trusted");
    authority(dir.path(), "stranger");
    let (_trusted, tp) = serve(dir.path(), "trusted");
    let (_stranger, sp) = serve(dir.path(), "stranger");
    for crypto in ["ring", "aws-lc"] {
        let mut child = Command::new(std::env::current_exe().expect("test binary"));
        child
            .args(["--exact", &this_test(), "--nocapture"])
            .env(CHILD, format!("{tp},{sp}"))
            .env(CRYPTO, crypto)
            .env("SSL_CERT_FILE", dir.path().join("trusted-ca.pem"))
            .env("AWS_REGION", "eu-west-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true");
        // Nothing of this machine's AWS or proxy settings reaches the child.
        for var in [
            "SSL_CERT_DIR",
            "AWS_ENDPOINT_URL",
            "AWS_PROFILE",
            "HTTPS_PROXY",
            "https_proxy",
            "HTTP_PROXY",
            "http_proxy",
            "ALL_PROXY",
            "all_proxy",
        ] {
            child.env_remove(var);
        }
        let (ok, text) = outcome(&run(&mut child));
        assert!(ok, "client half with {crypto} failed:\n{text}");
        // The child ran the test (and not zero tests).
        assert!(text.contains("1 passed"), "the child ran no test:\n{text}");
    }
}
