//! Benchmarks: validate+render of the HA example and of a 50-node-pool cluster, and render
//! time against the number of node pools (10, 50 and 100, the cap): criterion reports the time
//! per pool (throughput in elements), which stays roughly constant because the shared
//! template context is built once.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kubeline_core::render::{Templates, render};
use kubeline_core::validate::load;

fn ha() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/ha/cluster.yaml"
    ))
    .unwrap_or_default()
}

fn fifty_pools() -> String {
    pools(49)
}

/// The HA example with `extra` more node pools.
fn pools(extra: usize) -> String {
    let mut pools = String::new();
    for i in 0..extra {
        pools.push_str(&format!(
            "    - name: pool{i}\n      count: 2\n      nodeLabels:\n        pool: p{i}\n"
        ));
    }
    ha().replacen("  nodePools:\n", &format!("  nodePools:\n{pools}"), 1)
}

fn validate_and_render(text: &str) -> usize {
    let cluster = load(text).cluster.expect("valid example");
    render(&cluster, &Templates::builtin())
        .expect("renders")
        .files
        .len()
}

fn benches(c: &mut Criterion) {
    let ha = ha();
    let big = fifty_pools();
    assert_eq!(
        validate_and_render(&big),
        53 + 52 + 2 + 7,
        "53 stacks, 52 node configs, kubeconfig, manifest, 7 add-ons"
    );
    c.bench_function("validate+render ha example", |b| {
        b.iter(|| validate_and_render(&ha))
    });
    c.bench_function("validate+render 50 node pools", |b| {
        b.iter(|| validate_and_render(&big))
    });
    c.bench_function("validate only ha example", |b| {
        b.iter(|| load(&ha).cluster.is_some())
    });
}

fn scale(c: &mut Criterion) {
    let mut g = c.benchmark_group("render by node pools");
    g.sample_size(10);
    for n in [10, 50, kubeline_core::validate::limits::MAX_NODE_POOLS] {
        let text = pools(n - 1);
        let cluster = load(&text).cluster.expect("valid");
        assert_eq!(cluster.node_pools.len(), n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &cluster, |b, cluster| {
            b.iter(|| {
                render(cluster, &Templates::builtin())
                    .expect("renders")
                    .files
                    .len()
            })
        });
    }
    g.finish();
}

criterion_group!(render_benches, benches, scale);
criterion_main!(render_benches);
