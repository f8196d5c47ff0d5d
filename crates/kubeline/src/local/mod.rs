//! `kubeline local ...`: the whole pipeline on one machine against moto on 127.0.0.1. The real
//! state machine definitions run in moto's Step Functions; each Lambda task is swapped for an
//! `sqs:sendMessage.waitForTaskToken` task served by an in-process worker that calls the same
//! handler functions the Lambdas run. S3 events reach the pipeline through EventBridge and an
//! SQS queue, where a router does what the production EventBridge rules do.

mod emulator;
mod install;
mod worker;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use kubeline_aws::executions::{Executions, StepFunctions};
use kubeline_aws::stacks::{CloudFormation, Stacks};
use kubeline_core::pipeline::{ClusterKeys, Plan, Status};

pub use self::emulator::{Emulator, sdk_config_for};
pub use self::install::{
    CLOUDFORMATION_WAITS, FUNCTION_ARN_PREFIX, Installation, localise_definition,
};

/// Region of the local installation.
/// Shows the steps' log lines on stderr as the Lambdas write them (text, not JSON): every line
/// in its step's span (function, op, cluster, run id), at INFO and above.
pub fn show_logs() {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false);
    let filter = Targets::new()
        .with_default(LevelFilter::INFO)
        .with_target(
            kubeline_pipeline::telemetry::METRICS_TARGET,
            LevelFilter::OFF,
        )
        .with_target("aws", LevelFilter::WARN)
        .with_target("hyper", LevelFilter::WARN);
    let _ = tracing_subscriber::registry()
        .with(tracing_subscriber::Layer::with_filter(fmt, filter))
        .try_init();
}

pub const REGION: &str = "eu-west-1";
/// Bucket of the local installation.
pub const BUCKET: &str = "kubeline-local";

/// Placeholders in `examples/cluster.yaml` that the local installation fills in.
pub const PLACEHOLDER_KMS: &str =
    "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000";
/// The hosted zone placeholder.
pub const PLACEHOLDER_ZONE: &str = "Z00000000000000000000";

/// Where the project's tools live (`.tools/` in the working directory, or `KUBELINE_TOOLS`).
pub fn tools_dir() -> PathBuf {
    std::env::var_os("KUBELINE_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(".tools"))
}

/// A running local pipeline: the emulator, the installation and the worker and router tasks.
#[derive(Debug)]
pub struct LocalPipeline {
    /// The emulator (stopped on drop).
    pub emulator: Emulator,
    /// The installation's resources.
    pub install: Installation,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Executions started by the router: (cluster, execution ARN).
    pub started: tokio::sync::mpsc::UnboundedReceiver<(String, String)>,
}

impl LocalPipeline {
    /// Starts moto (installed under `tools` if missing), creates the installation with the
    /// state machines of `root/statemachine/`, and starts the worker and the router.
    pub async fn start(root: &Path, tools: &Path, quiet: bool) -> Result<LocalPipeline> {
        let emulator = Emulator::start(tools, quiet).await?;
        let conf = emulator.sdk_config().await;
        let install = Installation::create(&conf, root).await?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        // One set of clients serves both the task worker and the event router.
        let functions = worker::Functions::new(&conf, &install);
        let tasks = vec![
            tokio::spawn(worker::serve_tasks(
                conf.clone(),
                install.clone(),
                functions.clone(),
            )),
            tokio::spawn(worker::route_events(
                conf.clone(),
                install.clone(),
                functions,
                tx,
            )),
        ];
        Ok(LocalPipeline {
            emulator,
            install,
            tasks,
            started: rx,
        })
    }
}

impl Drop for LocalPipeline {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The local copy of a cluster.yaml: the installation's bucket, KMS key and hosted zone in place
/// of the example's placeholders.
pub fn localise(text: &str, install: &Installation) -> String {
    let mut out = text
        .replace(PLACEHOLDER_KMS, &install.kms_key_arn)
        .replace(PLACEHOLDER_ZONE, &install.zone_id);
    out = out
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("s3URI:") {
                format!("s3URI: s3://{}", install.bucket)
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    out.push('\n');
    out
}

/// Uploads `text` as the cluster.yaml of its cluster; returns the cluster name and the new
/// object version.
pub async fn upload(local: &LocalPipeline, text: &str) -> Result<(String, Option<String>)> {
    use kubeline_aws::store::ObjectStore as _;
    let loaded = kubeline_core::validate::load(text);
    let name = loaded
        .config
        .as_ref()
        .map(|c| c.cluster_name.clone())
        .context("the cluster.yaml has no readable clusterName")?;
    let conf = local.emulator.sdk_config().await;
    let store =
        kubeline_aws::store::S3Store::new(kubeline_aws::sdk::s3(&conf), &local.install.bucket);
    let version = store
        .put(
            &ClusterKeys::new(&name).config(),
            text.as_bytes().to_vec(),
            "application/yaml",
        )
        .await?;
    Ok((name, version))
}

/// Waits for the router to start the next run; returns (cluster, execution ARN).
pub async fn next_run(local: &mut LocalPipeline, within: Duration) -> Result<(String, String)> {
    tokio::time::timeout(within, local.started.recv())
        .await
        .with_context(|| {
            format!(
                "no run started within {} s (EventBridge → router)",
                within.as_secs()
            )
        })?
        .context("the router stopped")
}

/// Follows one execution, printing each state as it is entered; returns its final description
/// and the number of state transitions (states entered).
pub async fn follow(
    sfn: &StepFunctions,
    arn: &str,
    timeout: Duration,
) -> Result<(kubeline_aws::executions::ExecutionInfo, usize)> {
    let start = std::time::Instant::now();
    let mut seen = 0;
    let mut transitions = 0;
    loop {
        for e in sfn.history(arn, seen).await? {
            seen = seen.max(e.id);
            match (e.kind.as_str(), &e.state) {
                (k, Some(state)) if k.ends_with("StateEntered") => {
                    transitions += 1;
                    println!("  → {state}");
                }
                ("TaskFailed", _) | ("ExecutionFailed", _) => {
                    println!(
                        "  ✗ {}: {}",
                        e.error.as_deref().unwrap_or("error"),
                        first_line(e.cause.as_deref().unwrap_or(""))
                    );
                }
                _ => {}
            }
        }
        let info = sfn.describe_execution(arn).await?;
        if info.status != "RUNNING" {
            return Ok((info, transitions));
        }
        if start.elapsed() > timeout {
            bail!("the run did not finish within {} s", timeout.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// Reads and parses a JSON object of the bucket.
pub async fn read_json<T: serde::de::DeserializeOwned>(
    store: &kubeline_aws::store::S3Store,
    key: &str,
) -> Result<Option<T>> {
    use kubeline_aws::store::ObjectStore as _;
    match store.get(key, None).await? {
        None => Ok(None),
        Some(o) => Ok(Some(
            serde_json::from_slice(&o.bytes).with_context(|| format!("{key} is not valid JSON"))?,
        )),
    }
}

/// Prints a run's plan, status, stacks and notifications.
pub async fn report(local: &LocalPipeline, cluster: &str, run_id: &str) -> Result<Option<Status>> {
    let conf = local.emulator.sdk_config().await;
    let store =
        kubeline_aws::store::S3Store::new(kubeline_aws::sdk::s3(&conf), &local.install.bucket);
    let keys = ClusterKeys::new(cluster);
    if let Some(plan) = read_json::<Plan>(&store, &keys.run(run_id).plan()).await? {
        println!(
            "\nplan (s3://{}/{}):",
            local.install.bucket,
            keys.run(run_id).plan()
        );
        print!("{}", plan.table());
    }
    let status: Option<Status> = read_json(&store, &keys.status()).await?;
    if let Some(s) = &status {
        println!(
            "\nstatus.json (s3://{}/{}):",
            local.install.bucket,
            keys.status()
        );
        println!("{}", serde_json::to_string_pretty(s)?);
    }
    let cfn = CloudFormation::new(kubeline_aws::sdk::cloudformation(&conf));
    if let Some(s) = &status
        && !s.stacks.is_empty()
    {
        println!("\nstacks:");
        for st in &s.stacks {
            let live = cfn.describe_stack(&st.name).await?;
            println!(
                "  {:<32} {}",
                st.name,
                live.map(|i| i.status.to_string())
                    .unwrap_or_else(|| "NOT FOUND".into())
            );
        }
    }
    let notes = local.install.drain_notifications(&conf).await?;
    for n in notes {
        let v: serde_json::Value = serde_json::from_str(&n).unwrap_or_default();
        println!(
            "\nchat notification (SNS → SQS {}):\n  {}\n  {}",
            local.install.notifications_queue,
            v["content"]["title"].as_str().unwrap_or(&n),
            v["content"]["description"]
                .as_str()
                .unwrap_or("")
                .replace('\n', "\n  ")
        );
        for step in v["content"]["nextSteps"].as_array().into_iter().flatten() {
            println!("  next: {}", step.as_str().unwrap_or(""));
        }
    }
    Ok(status)
}
