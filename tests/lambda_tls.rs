//! The Lambdas' HTTPS client (`kubeline_pipeline::lambda::aws_config`, rustls with ring, the
//! system's trust roots) against real TLS servers on 127.0.0.1 (`openssl s_server`): a server
//! whose certificate chains to a trusted root is reached and answers, and one signed by an
//! unknown authority is refused in the handshake (the negative control).
//!
//! The trust roots come from `SSL_CERT_FILE` (rustls-native-certs), which the client reads once
//! per process; the test therefore runs its client half in a child process of itself with that
//! variable set (the workspace forbids `unsafe`, which `std::env::set_var` needs).

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::error::SdkError;

/// Set in the child: the ports of the trusted and the untrusted server.
const CHILD: &str = "KUBELINE_TLS_TEST_PORTS";

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`<name>-ca.pem`) and a server certificate for `localhost` signed by it.
fn authority(dir: &Path, name: &str) {
    let ca = format!("{name}-ca");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
            "-subj",
            &format!("/CN={ca}"),
            "-keyout",
            &format!("{ca}.key"),
            "-out",
            &format!("{ca}.pem"),
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
        ],
    );
    std::fs::write(
        dir.join(format!("{name}.ext")),
        "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext file");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

/// `openssl s_server -www` on 127.0.0.1 with `name`'s certificate, once it accepts.
fn serve(dir: &Path, name: &str) -> (Child, u16) {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = Command::new("openssl")
        .current_dir(dir)
        .args(["s_server", "-www", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .args([
            "-cert",
            &format!("{name}.pem"),
            "-key",
            &format!("{name}.key"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("s_server starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "s_server did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, port)
}

/// The client half: one S3 call through the Lambdas' configuration to each server.
async fn client(trusted: u16, untrusted: u16) {
    let conf = kubeline_pipeline::lambda::aws_config().await;
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

#[test]
fn the_lambda_https_client_verifies_servers_with_ring() {
    if let Ok(ports) = std::env::var(CHILD) {
        let (a, b) = ports.split_once(',').expect("two ports");
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(client(a.parse().expect("port"), b.parse().expect("port")));
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    authority(dir.path(), "trusted");
    authority(dir.path(), "stranger");
    let (mut trusted, tp) = serve(dir.path(), "trusted");
    let (mut stranger, sp) = serve(dir.path(), "stranger");
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "the_lambda_https_client_verifies_servers_with_ring",
            "--nocapture",
        ])
        .env(CHILD, format!("{tp},{sp}"))
        .env("SSL_CERT_FILE", dir.path().join("trusted-ca.pem"))
        .env_remove("SSL_CERT_DIR")
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy")
        .output()
        .expect("child test runs");
    let _ = trusted.kill();
    let _ = stranger.kill();
    let _ = trusted.wait();
    let _ = stranger.wait();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "client half failed:\n{text}");
    // The child ran the test (and not zero tests).
    assert!(text.contains("1 passed"), "the child ran no test:\n{text}");
}
