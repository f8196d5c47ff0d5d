//! How many state transitions and Lambda invocations a pipeline run takes, measured on the
//! local emulator (moto, where every stack operation completes at once, so the counts are the
//! pipeline's own overhead, not CloudFormation's waiting): for clusters of 1, 4 and 8 node
//! pools of 3 nodes, the run that creates the cluster, a run that replaces one pool's nodes (a
//! new instance type) and a run that replaces every pool's. A Lambda invocation is the entry
//! of a Task state that calls a function (`FunctionName` in `statemachine/pipeline.asl.json`).
//! Run with `cargo bench -p kubeline --bench run_counts` (moto is installed under `.tools/`);
//! `cargo test --all-targets` (as `cargo xtask test` runs it) runs the 1-pool runs only.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use kubeline::local::{self, LocalPipeline};
use kubeline_aws::executions::{Executions, StepFunctions};
use serde_json::Value;

/// The states of the pipeline that invoke a function.
fn function_states() -> Result<BTreeSet<String>> {
    let asl: Value =
        serde_json::from_str(&std::fs::read_to_string("statemachine/pipeline.asl.json")?)?;
    Ok(asl["States"]
        .as_object()
        .context("States")?
        .iter()
        .filter(|(_, s)| s["Parameters"]["FunctionName"].is_string())
        .map(|(n, _)| n.clone())
        .collect())
}

fn cluster_yaml(base: &str, pools: usize, kind: impl Fn(usize) -> &'static str) -> String {
    let list: String = (0..pools)
        .map(|i| {
            format!(
                "    - name: pool{i}\n      count: 3\n      instanceType: {}\n",
                kind(i)
            )
        })
        .collect();
    base.replace("    - name: general\n      count: 2\n", &list)
}

/// (transitions, function invocations) of the next run, once it ends.
async fn measure(
    local: &mut LocalPipeline,
    sfn: &StepFunctions,
    functions: &BTreeSet<String>,
    text: &str,
) -> Result<(usize, usize)> {
    local::upload(local, text).await?;
    let (_, arn) = local::next_run(local, Duration::from_secs(60)).await?;
    loop {
        let info = sfn.describe_execution(&arn).await?;
        if info.status != "RUNNING" {
            if info.status != "SUCCEEDED" {
                bail!(
                    "the run ended {}: {:?} {:?}",
                    info.status,
                    info.error,
                    info.cause
                );
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let history = sfn.history(&arn, 0).await?;
    let entered: Vec<&str> = history
        .iter()
        .filter(|e| e.kind.ends_with("StateEntered"))
        .filter_map(|e| e.state.as_deref())
        .collect();
    let invocations = entered.iter().filter(|s| functions.contains(**s)).count();
    if !entered.contains(&"NotifyApplied") {
        bail!("the run applied nothing: {entered:?}");
    }
    Ok((entered.len(), invocations))
}

fn main() -> Result<()> {
    // The repository root: the state machines, examples and tools are found from there.
    std::env::set_current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let functions = function_states()?;
        let base = std::fs::read_to_string("examples/cluster.yaml")?;
        println!("| pools × 3 nodes | run | state transitions | Lambda invocations |");
        println!("|---|---|---|---|");
        // `cargo bench` passes --bench; `cargo test --all-targets` runs this binary without
        // it: then the smallest cluster only, which shows the measurement still runs.
        let sizes: &[usize] = if std::env::args().any(|a| a == "--bench") {
            &[1, 4, 8]
        } else {
            &[1]
        };
        for &pools in sizes {
            let mut local = LocalPipeline::start(Path::new("."), &local::tools_dir(), true).await?;
            let conf = local.emulator.sdk_config().await;
            let sfn = StepFunctions::new(kubeline_aws::sdk::sfn(&conf));
            let runs = [
                ("create", cluster_yaml(&base, pools, |_| "t3.medium")),
                (
                    "replace one pool",
                    cluster_yaml(
                        &base,
                        pools,
                        |i| if i == 0 { "t3.large" } else { "t3.medium" },
                    ),
                ),
                (
                    "replace every pool",
                    cluster_yaml(&base, pools, |_| "t3.xlarge"),
                ),
            ];
            for (what, text) in runs {
                let text = local::localise(&text, &local.install);
                let (t, i) = measure(&mut local, &sfn, &functions, &text).await?;
                println!("| {pools} | {what} | {t} | {i} |");
            }
        }
        Ok(())
    })
}
