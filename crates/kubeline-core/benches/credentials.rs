//! Benchmark: generating a cluster's whole credential set (three CAs, eight certificates, the
//! service-account key, tokens, encryption key) with ECDSA P-256 and with RSA-2048, and, in
//! the same run for comparison, `openssl genrsa 2048` for as many keys as the RSA set holds.

use std::process::Command;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use kubeline_core::reconcile::{self, CaSource, Files, Options};
use kubeline_core::validate::load;

fn cluster(alg: &str) -> kubeline_core::cluster::Cluster {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/ha/cluster.yaml"
    ))
    .unwrap_or_default()
        + &format!("\ntlsKeyAlgorithm: {alg}\n");
    load(&text).cluster.expect("valid example")
}

fn generate(c: &kubeline_core::cluster::Cluster) -> Files {
    let opts = Options {
        now: time::OffsetDateTime::now_utc(),
        renew_within_days: 30,
    };
    reconcile::reconcile(c, &Files::new(), CaSource::Generate, &opts)
        .expect("generate")
        .files
}

fn benches(c: &mut Criterion) {
    let ecdsa = cluster("ecdsa-p256");
    let rsa = cluster("rsa-2048");
    // Three CAs (cluster, etcd, front proxy) + 8 certificates + service-account key.
    let keys = generate(&rsa)
        .keys()
        .filter(|n| n.ends_with("-key.pem"))
        .count();
    assert_eq!(keys, 12);
    let mut g = c.benchmark_group("credentials");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("whole set, ecdsa-p256", |b| b.iter(|| generate(&ecdsa)));
    g.bench_function("whole set, rsa-2048", |b| b.iter(|| generate(&rsa)));
    let dir = std::env::temp_dir();
    g.bench_function(format!("openssl genrsa 2048 x{keys}"), |b| {
        b.iter(|| {
            for _ in 0..keys {
                let out = Command::new("openssl")
                    .args(["genrsa", "-out"])
                    .arg(dir.join("kubeline-bench-genrsa.pem"))
                    .arg("2048")
                    .output()
                    .expect("openssl is installed by `cargo xtask install-tools`");
                assert!(out.status.success());
            }
        })
    });
    g.finish();
}

criterion_group!(credentials, benches);
criterion_main!(credentials);
