//! The client verbs against an installation's bucket (a real one, or `kubeline local up` via
//! `AWS_ENDPOINT_URL`): `apply` uploads cluster.yaml and follows the run through status.json,
//! `status`, `approve`/`reject` write the approval file, `destroy` and `restore etcd` write the
//! confirmed request.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use kubeline_aws::store::{ObjectStore, S3Store};
use kubeline_core::pipeline::{APPROVER_TAG, ClusterKeys, Phase, Status};

/// Where the installation is.
#[derive(Debug, Args)]
pub struct Target {
    /// The installation bucket (or KUBELINE_BUCKET).
    #[arg(long, env = "KUBELINE_BUCKET")]
    pub bucket: String,
    /// Give up following after this many seconds.
    #[arg(long, default_value_t = 3600)]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Path of cluster.yaml.
    #[arg(long, default_value = "cluster.yaml")]
    pub config: PathBuf,
    #[command(flatten)]
    pub target: Target,
}

#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// Cluster name.
    pub cluster: String,
    #[command(flatten)]
    pub target: Target,
}

#[derive(Debug, Args)]
pub struct DecisionArgs {
    /// Cluster name.
    pub cluster: String,
    /// The run to decide on (default: the one waiting for approval).
    #[arg(long)]
    pub run: Option<String>,
    /// A comment for the record and the chat.
    #[arg(long)]
    pub comment: Option<String>,
    #[command(flatten)]
    pub target: Target,
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// Cluster name.
    pub cluster: String,
    /// Confirm: the cluster's stacks are deleted.
    #[arg(long)]
    pub yes: bool,
    #[command(flatten)]
    pub target: Target,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// Cluster name.
    pub cluster: String,
    /// The snapshot: its key (`clusters/<name>/etcd-snapshots/<time>-<member>.db`) or its file
    /// name (`<time>-<member>.db`).
    #[arg(long)]
    pub snapshot: String,
    /// Confirm: every change made after the snapshot is lost.
    #[arg(long)]
    pub yes: bool,
    #[command(flatten)]
    pub target: Target,
}

async fn store(bucket: &str) -> S3Store {
    let conf = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    S3Store::new(kubeline_aws::sdk::s3(&conf), bucket)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

async fn read_status(store: &S3Store, cluster: &str) -> Result<Option<Status>> {
    kubeline::local::read_json(store, &ClusterKeys::new(cluster).status()).await
}

/// The caller's `aws:userid` (STS GetCallerIdentity's UserId), which the bucket policy requires
/// an approval file's [`APPROVER_TAG`] to be.
async fn caller_user_id() -> Result<String> {
    let conf = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let me = aws_sdk_sts::Client::new(&conf)
        .get_caller_identity()
        .send()
        .await
        .context("cannot learn who you are (STS GetCallerIdentity), which an approval names")?;
    me.user_id()
        .map(str::to_owned)
        .context("STS GetCallerIdentity returned no UserId")
}

fn who() -> String {
    std::env::var("USER").unwrap_or_else(|_| "kubeline-cli".into())
}

/// Follows status.json until `accept` picks up the run and its phase is final; prints each
/// phase change. Returns the final status.
async fn follow(
    store: &S3Store,
    cluster: &str,
    timeout: Duration,
    accept: impl Fn(&Status) -> bool,
) -> Result<Status> {
    let start = Instant::now();
    let mut last: Option<(String, Phase)> = None;
    loop {
        if let Some(s) = read_status(store, cluster).await?
            && accept(&s)
        {
            let now = (s.run_id.clone(), s.phase);
            if last.as_ref() != Some(&now) {
                println!(
                    "[{:>5.0} s] {cluster}: run {} {:?}",
                    start.elapsed().as_secs_f64(),
                    s.run_id,
                    s.phase
                );
                last = Some(now);
            }
            if s.phase.is_final() || s.phase == Phase::AwaitingApproval {
                return Ok(s);
            }
        }
        if start.elapsed() > timeout {
            bail!(
                "no final status within {} s; `kubeline status {cluster}` shows where it is",
                timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

fn print_status(s: &Status) {
    println!("cluster:      {}", s.cluster);
    println!("phase:        {:?}", s.phase);
    println!("run:          {}", s.run_id);
    if let Some(v) = &s.config_version {
        println!("cluster.yaml: version {v}");
    }
    if let Some(api) = &s.api_endpoint {
        println!("API:          https://{api}");
    }
    if let Some(c) = &s.certificates {
        println!(
            "certificates: earliest expiry {} ({}, {} days left)",
            c.not_after, c.file, c.days_left
        );
    }
    for st in &s.stacks {
        println!("stack:        {:<32} {}", st.name, st.status);
    }
    for r in &s.rollout {
        println!(
            "rolling:      {} {} ({}): {}",
            r.stack, r.group, r.at, r.reason
        );
    }
    if let Some(r) = &s.etcd_restore {
        println!(
            "etcd restore: from {}: {}/{} members restored, {} healthy",
            r.snapshot,
            r.restored,
            r.members.len(),
            r.healthy
        );
    }
    if let Some(key) = &s.etcd_snapshot {
        println!("etcd backup:  {key} (taken before this run's changes)");
    }
    if let Some(e) = &s.last_error {
        println!("error:        {}: {}", e.error, e.cause);
    }
    println!("updated:      {}", s.updated_at);
}

fn ended_well(s: &Status) -> bool {
    matches!(
        s.phase,
        Phase::Succeeded
            | Phase::NoChanges
            | Phase::AwaitingApproval
            | Phase::Destroyed
            | Phase::Restored
    )
}

pub fn apply(a: ApplyArgs) -> Result<bool> {
    let text = std::fs::read_to_string(&a.config)
        .with_context(|| format!("cannot read {}", a.config.display()))?;
    let loaded = kubeline_core::validate::load(&text);
    let name = a.config.display().to_string();
    eprint!("{}", loaded.diagnostics.render(&name));
    let Some(cluster) = loaded.cluster else {
        eprintln!("{name}: invalid; nothing was uploaded");
        return Ok(false);
    };
    let cluster = cluster.name.to_string();
    runtime()?.block_on(async {
        let store = store(&a.target.bucket).await;
        let key = ClusterKeys::new(&cluster).config();
        let version = store
            .put(&key, text.into_bytes(), "application/yaml")
            .await?
            .context("the bucket is not versioned; kubeline needs versioning to pin each run's cluster.yaml")?;
        println!("uploaded s3://{}/{key} (version {version}); following the run…", a.target.bucket);
        let s = follow(&store, &cluster, Duration::from_secs(a.target.timeout), |s| {
            s.config_version.as_deref() == Some(version.as_str())
        })
        .await?;
        print_status(&s);
        if s.phase == Phase::AwaitingApproval {
            println!("waiting for approval: `kubeline approve {cluster}` or `kubeline reject {cluster}`");
        }
        Ok(ended_well(&s))
    })
}

pub fn status(a: ClusterArgs) -> Result<bool> {
    runtime()?.block_on(async {
        let store = store(&a.target.bucket).await;
        match read_status(&store, &a.cluster).await? {
            Some(s) => {
                print_status(&s);
                Ok(!matches!(s.phase, Phase::Failed))
            }
            None => bail!(
                "s3://{}/{} does not exist: no run of {} yet",
                a.target.bucket,
                ClusterKeys::new(&a.cluster).status(),
                a.cluster
            ),
        }
    })
}

pub fn decide(a: DecisionArgs, approve: bool) -> Result<bool> {
    runtime()?.block_on(async {
        let store = store(&a.target.bucket).await;
        let status = read_status(&store, &a.cluster).await?;
        let run = match (&a.run, &status) {
            (Some(r), _) => r.clone(),
            (None, Some(s)) if s.phase == Phase::AwaitingApproval => s.run_id.clone(),
            (None, Some(s)) => bail!(
                "{} is {:?} (run {}), not waiting for approval",
                a.cluster,
                s.phase,
                s.run_id
            ),
            (None, None) => bail!("{} has no run yet", a.cluster),
        };
        let mut text = format!(
            "decision: {}\nby: {}\n",
            if approve { "approve" } else { "reject" },
            who()
        );
        if let Some(c) = &a.comment {
            text.push_str(&format!("comment: {}\n", serde_json::to_string(c)?));
        }
        let key = ClusterKeys::new(&a.cluster).approval(&run);
        let me = caller_user_id().await?;
        store
            .put_with_tags(
                &key,
                text.into_bytes(),
                "application/yaml",
                &[(APPROVER_TAG, &me)],
            )
            .await?;
        println!("wrote s3://{}/{key}", a.target.bucket);
        if !approve {
            let s = follow(
                &store,
                &a.cluster,
                Duration::from_secs(a.target.timeout),
                |s| s.run_id == run,
            )
            .await?;
            print_status(&s);
            return Ok(s.phase == Phase::Rejected);
        }
        let s = follow(
            &store,
            &a.cluster,
            Duration::from_secs(a.target.timeout),
            |s| s.run_id == run && s.phase != Phase::AwaitingApproval,
        )
        .await?;
        print_status(&s);
        Ok(ended_well(&s))
    })
}

/// Writes a request (destroy, restore) and follows the run it starts to its end.
async fn request_and_follow(
    store: &S3Store,
    target: &Target,
    cluster: &str,
    key: &str,
    text: String,
    what: &str,
) -> Result<Status> {
    let before = read_status(store, cluster).await?.map(|s| s.run_id);
    store
        .put(key, text.into_bytes(), "application/yaml")
        .await?;
    println!("wrote s3://{}/{key}; following the {what}…", target.bucket);
    let s = follow(store, cluster, Duration::from_secs(target.timeout), |s| {
        Some(&s.run_id) != before.as_ref()
    })
    .await?;
    print_status(&s);
    Ok(s)
}

pub fn destroy(a: DestroyArgs) -> Result<bool> {
    if !a.yes {
        bail!(
            "destroying {} deletes every stack of the cluster; run again with --yes to confirm",
            a.cluster
        );
    }
    runtime()?.block_on(async {
        let store = store(&a.target.bucket).await;
        let key = ClusterKeys::new(&a.cluster).destroy();
        let text = format!("confirm: {}\nby: {}\n", a.cluster, who());
        let s = request_and_follow(&store, &a.target, &a.cluster, &key, text, "destroy").await?;
        Ok(s.phase == Phase::Destroyed)
    })
}

/// `kubeline restore etcd`: checks the snapshot exists, writes the confirmed restore request
/// and follows the restore run.
pub fn restore_etcd(a: RestoreArgs) -> Result<bool> {
    let keys = ClusterKeys::new(&a.cluster);
    let prefix = keys.etcd_snapshots();
    let snapshot = if a.snapshot.contains('/') {
        a.snapshot.clone()
    } else {
        format!("{prefix}{}", a.snapshot)
    };
    if !kubeline_core::pipeline::is_snapshot_key(&snapshot, &prefix) {
        bail!(
            "{snapshot} is not a snapshot of {} (a key {prefix}<time>-<member>.db); nothing was requested",
            a.cluster
        );
    }
    if !a.yes {
        bail!(
            "restoring {} from {snapshot} stops its control plane for minutes and loses every change made after the snapshot; run again with --yes to confirm",
            a.cluster
        );
    }
    runtime()?.block_on(async {
        let store = store(&a.target.bucket).await;
        if !store.list(&snapshot).await?.contains(&snapshot) {
            bail!(
                "s3://{}/{snapshot} does not exist; nothing was requested (`aws s3 ls s3://{}/{prefix}` lists the snapshots)",
                a.target.bucket,
                a.target.bucket
            );
        }
        let key = keys.restore_request();
        let text =
            kubeline_core::pipeline::restore_request_yaml(&a.cluster, &snapshot, Some(&who()));
        let s = request_and_follow(&store, &a.target, &a.cluster, &key, text, "restore").await?;
        Ok(s.phase == Phase::Restored)
    })
}
