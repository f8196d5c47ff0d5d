//! `kubeline local demo` and `kubeline local up`: start the local pipeline, upload a
//! cluster.yaml, follow the run state by state, and report plan, status, stacks and the chat
//! notifications.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use kubeline_aws::executions::StepFunctions;
use kubeline_core::pipeline::ClusterKeys;

use kubeline::local::{self, LocalPipeline};

#[derive(Debug, Subcommand)]
pub enum LocalCommand {
    /// Start the emulator, upload a sample cluster.yaml, follow the run, report, stop.
    Demo(DemoArgs),
    /// Keep a local pipeline running (until Ctrl-C) and print how to use it.
    Up(UpArgs),
    /// Run the daily certificate rotation now on the running `kubeline local up` (its schedule
    /// never fires locally).
    Rotate,
}

/// Where `local up` tells later commands how to reach it.
fn up_file() -> std::path::PathBuf {
    local::tools_dir().join("local-up.json")
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The cluster.yaml to upload (its KMS key, hosted zone and bucket are replaced by the
    /// local installation's).
    #[arg(long, default_value = "examples/cluster.yaml")]
    pub config: PathBuf,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
    /// Show every step's log lines (what the Lambdas log in CloudWatch).
    #[arg(long)]
    pub verbose: bool,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Show every step's log lines (what the Lambdas log in CloudWatch).
    #[arg(long)]
    pub verbose: bool,
}

pub fn run(cmd: LocalCommand) -> Result<bool> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        match cmd {
            LocalCommand::Demo(a) => demo(a).await,
            LocalCommand::Up(a) => up(a).await,
            LocalCommand::Rotate => rotate().await,
        }
    })
}

async fn demo(a: DemoArgs) -> Result<bool> {
    if a.verbose {
        local::show_logs();
    }
    let text = std::fs::read_to_string(&a.config)
        .with_context(|| format!("cannot read {}", a.config.display()))?;
    let started = std::time::Instant::now();
    println!("starting the local AWS emulator (moto on 127.0.0.1)…");
    let mut local =
        LocalPipeline::start(std::path::Path::new("."), &local::tools_dir(), false).await?;
    println!(
        "local installation ready at {}: bucket {}, state machine {}",
        local.emulator.endpoint, local.install.bucket, local.install.pipeline_arn
    );
    let text = local::localise(&text, &local.install);
    let (cluster, version) = local::upload(&local, &text).await?;
    println!(
        "uploaded s3://{}/{} (version {})",
        local.install.bucket,
        ClusterKeys::new(&cluster).config(),
        version.as_deref().unwrap_or("-")
    );
    let (_, arn) = local::next_run(&mut local, Duration::from_secs(60)).await?;
    let run_id = arn.rsplit(':').next().unwrap_or_default().to_owned();
    println!("run {run_id} started by the upload; following it:");
    let conf = local.emulator.sdk_config().await;
    let sfn = StepFunctions::new(kubeline_aws::sdk::sfn(&conf));
    let (info, transitions) = local::follow(&sfn, &arn, Duration::from_secs(a.timeout)).await?;
    let status = local::report(&local, &cluster, &run_id).await?;
    println!(
        "\nrun {} {} in {:.1} s ({transitions} state transitions); stopping the emulator",
        run_id,
        info.status.to_lowercase(),
        started.elapsed().as_secs_f64()
    );
    drop(local);
    if info.status != "SUCCEEDED" {
        bail!(
            "the run ended {}: {}: {}",
            info.status,
            info.error.unwrap_or_default(),
            info.cause.unwrap_or_default()
        );
    }
    if status.is_none() {
        bail!("the run succeeded but wrote no status.json");
    }
    Ok(true)
}

async fn up(a: UpArgs) -> Result<bool> {
    if a.verbose {
        local::show_logs();
    }
    let local = LocalPipeline::start(std::path::Path::new("."), &local::tools_dir(), false).await?;
    println!(
        "kubeline local pipeline running on {}",
        local.emulator.endpoint
    );
    println!("  bucket:        {}", local.install.bucket);
    println!("  KMS key:       {}", local.install.kms_key_arn);
    println!("  hosted zone:   {}", local.install.zone_id);
    println!("  notifications: {}", local.install.notifications_queue);
    println!("Use it with:");
    println!(
        "  export AWS_ENDPOINT_URL={} AWS_REGION={} AWS_ACCESS_KEY_ID=kubeline-local AWS_SECRET_ACCESS_KEY=kubeline-local",
        local.emulator.endpoint,
        local::REGION
    );
    println!(
        "  aws s3 cp cluster.yaml s3://{}/clusters/<name>/cluster.yaml",
        local.install.bucket
    );
    println!("  rotation now:  kubeline local rotate");
    println!("Ctrl-C stops it.");
    let state = serde_json::json!({
        "endpoint": local.emulator.endpoint,
        "rotationArn": local.install.rotation_arn,
    });
    std::fs::write(up_file(), state.to_string())
        .with_context(|| format!("cannot write {}", up_file().display()))?;
    tokio::signal::ctrl_c().await.ok();
    let _ = std::fs::remove_file(up_file());
    drop(local);
    Ok(true)
}

async fn rotate() -> Result<bool> {
    let text = std::fs::read_to_string(up_file()).with_context(|| {
        format!(
            "{} not found: start the local pipeline with `kubeline local up` in another terminal",
            up_file().display()
        )
    })?;
    let state: serde_json::Value = serde_json::from_str(&text)?;
    let endpoint = state["endpoint"].as_str().context("endpoint")?;
    let machine = state["rotationArn"].as_str().context("rotationArn")?;
    let conf = local::sdk_config_for(endpoint).await;
    let sfn = StepFunctions::new(kubeline_aws::sdk::sfn(&conf));
    use kubeline_aws::executions::Executions as _;
    let name = format!(
        "rotation-{}",
        time::OffsetDateTime::now_utc().unix_timestamp()
    );
    let arn = sfn.start_execution(machine, &name, "{}").await?;
    println!("rotation {name} started; following it:");
    let (info, _) = local::follow(&sfn, &arn, Duration::from_secs(600)).await?;
    let out: serde_json::Value =
        serde_json::from_str(info.output.as_deref().unwrap_or("{}")).unwrap_or_default();
    let s = &out["summary"]["value"];
    println!(
        "renewed: {}\nfine:    {}\nfailed:  {}",
        s["renewed"], s["fine"], s["failed"]
    );
    Ok(info.status == "SUCCEEDED")
}
