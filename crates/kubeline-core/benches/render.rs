//! Benchmarks: validate+render of the HA example and of a 50-node-pool cluster.

use criterion::{Criterion, criterion_group, criterion_main};
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
    let mut pools = String::new();
    for i in 0..49 {
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

criterion_group!(render_benches, benches);
criterion_main!(render_benches);
