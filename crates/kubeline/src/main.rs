//! The `kubeline` command line: kube-aws's verbs (init, validate, render stack|credentials,
//! show certificates, rotate credentials, apply, status, destroy, restore etcd) plus approve/reject and the
//! local pipeline.

mod client;
mod credentials;
mod files;
mod local_cmd;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use kubeline_core::init::InitOptions;
use kubeline_core::reconcile;
use kubeline_core::render;
use kubeline_core::validate;

/// Kubernetes clusters on AWS from one cluster.yaml: the successor of kube-aws.
#[derive(Debug, Parser)]
#[command(name = "kubeline", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a commented cluster.yaml (kube-aws's init flags).
    Init(InitArgs),
    /// Check cluster.yaml and its rendered output, offline. Exits 0 only when there is no error.
    Validate(ValidateArgs),
    /// Render assets.
    #[command(subcommand)]
    Render(RenderCommand),
    /// Show assets.
    #[command(subcommand)]
    Show(ShowCommand),
    /// Renew credentials.
    #[command(subcommand)]
    Rotate(RotateCommand),
    /// Print the JSON Schema of cluster.yaml (for editor completion).
    Schema,
    /// Upload cluster.yaml to the installation bucket and follow the run.
    Apply(client::ApplyArgs),
    /// Show a cluster's status.json.
    Status(client::ClusterArgs),
    /// Approve the plan waiting for approval.
    Approve(client::DecisionArgs),
    /// Reject the plan waiting for approval.
    Reject(client::DecisionArgs),
    /// Request the cluster's destruction (confirmed) and follow it.
    Destroy(client::DestroyArgs),
    /// Restore from a backup (confirmed) and follow it.
    #[command(subcommand)]
    Restore(RestoreCommand),
    /// Run the whole pipeline on this machine against a local AWS emulator (moto, 127.0.0.1).
    #[command(subcommand)]
    Local(local_cmd::LocalCommand),
}

#[derive(Debug, Subcommand)]
enum RestoreCommand {
    /// Rebuild every etcd member from one snapshot (docs/etcd-backup.md).
    Etcd(client::RestoreArgs),
}

#[derive(Debug, Subcommand)]
enum ShowCommand {
    /// Table of every certificate: subject, issuer, expiry, days left, names.
    Certificates(credentials::ShowArgs),
}

#[derive(Debug, Subcommand)]
enum RotateCommand {
    /// Renew certificates expiring soon, or (--ca) advance a staged CA rotation.
    Credentials(credentials::RotateArgs),
}

#[derive(Debug, Args)]
struct InitArgs {
    /// Cluster name (a DNS label).
    #[arg(long)]
    cluster_name: String,
    /// AWS region.
    #[arg(long)]
    region: String,
    /// Availability zone of the default subnet.
    #[arg(long)]
    availability_zone: String,
    /// DNS name of the Kubernetes API.
    #[arg(long)]
    external_dns_name: String,
    /// KMS key ARN that encrypts credentials.
    #[arg(long)]
    kms_key_arn: String,
    /// s3://bucket[/prefix] for node configs and credentials.
    #[arg(long)]
    s3_uri: String,
    /// EC2 key pair name.
    #[arg(long)]
    key_name: Option<String>,
    /// Route53 hosted zone that gets the API's alias record.
    #[arg(long)]
    hosted_zone_id: Option<String>,
    /// Do not manage the API's DNS record.
    #[arg(long)]
    no_record_set: bool,
    /// Where to write.
    #[arg(long, default_value = "cluster.yaml")]
    output: PathBuf,
    /// Overwrite an existing file.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Args)]
struct ConfigArgs {
    /// Path of cluster.yaml.
    #[arg(long, default_value = "cluster.yaml")]
    config: PathBuf,
}

#[derive(Debug, Args)]
struct ValidateArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Treat warnings as errors.
    #[arg(long)]
    strict: bool,
}

#[derive(Debug, Subcommand)]
enum RenderCommand {
    /// Render CloudFormation stacks, Ignition node configs and the admin kubeconfig.
    Stack(RenderStackArgs),
    /// Create or update the cluster's TLS credentials, tokens and encryption key in credentials/.
    Credentials(credentials::RenderArgs),
}

#[derive(Debug, Args)]
struct RenderStackArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Directory to write stack-templates/, userdata/, kubeconfig and manifest.json into.
    /// Default: the directory of cluster.yaml.
    #[arg(long)]
    asset_dir: Option<PathBuf>,
    /// Credentials directory (from `render credentials`); node configs carry its credentials
    /// generation, as the pipeline's do. Default: credentials/ next to cluster.yaml, if any.
    #[arg(long)]
    credentials_dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Init(a) => init(a),
        Command::Validate(a) => validate_cmd(a),
        Command::Render(RenderCommand::Stack(a)) => render_stack(a),
        Command::Render(RenderCommand::Credentials(a)) => credentials::render(a),
        Command::Show(ShowCommand::Certificates(a)) => credentials::show(a),
        Command::Rotate(RotateCommand::Credentials(a)) => credentials::rotate(a),
        Command::Local(c) => local_cmd::run(c),
        Command::Apply(a) => client::apply(a),
        Command::Status(a) => client::status(a),
        Command::Approve(a) => client::decide(a, true),
        Command::Reject(a) => client::decide(a, false),
        Command::Destroy(a) => client::destroy(a),
        Command::Restore(RestoreCommand::Etcd(a)) => client::restore_etcd(a),
        Command::Schema => {
            // Canonical (sorted keys): the same bytes whatever serde_json features the build has.
            print!(
                "{}",
                String::from_utf8_lossy(&render::canonical_json(
                    &kubeline_core::model::json_schema()
                ))
            );
            Ok(true)
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init(a: InitArgs) -> Result<bool> {
    if a.output.exists() && !a.force {
        bail!(
            "{} already exists; pass --force to overwrite it",
            a.output.display()
        );
    }
    let opts = InitOptions {
        cluster_name: a.cluster_name,
        region: a.region,
        availability_zone: a.availability_zone,
        external_dns_name: a.external_dns_name,
        kms_key_arn: a.kms_key_arn,
        s3_uri: a.s3_uri,
        key_name: a.key_name,
        hosted_zone_id: a.hosted_zone_id,
        no_record_set: a.no_record_set,
    };
    let text = kubeline_core::init::cluster_yaml(&opts);
    let loaded = validate::load(&text);
    if loaded.diagnostics.has_errors() {
        eprint!(
            "{}",
            loaded.diagnostics.render(&a.output.display().to_string())
        );
        bail!(
            "the flags give an invalid cluster.yaml (nothing was written); fix the flags named above"
        );
    }
    files::write_atomic(&a.output, text.as_bytes())?;
    println!("wrote {}", a.output.display());
    println!("next: review it, then `kubeline validate` and `kubeline render stack`");
    Ok(true)
}

/// Loads, validates and renders (with `credentials`, the plaintext credential files, when
/// given); prints every finding. None when there is an error.
fn load_and_render(
    config: &Path,
    strict: bool,
    credentials: Option<&reconcile::Files>,
) -> Result<Option<render::Rendered>> {
    let text = std::fs::read_to_string(config)
        .with_context(|| format!("cannot read {}", config.display()))?;
    let name = config.display().to_string();
    let loaded = validate::load(&text);
    eprint!("{}", loaded.diagnostics.render(&name));
    let Some(cluster) = loaded.cluster else {
        let n = loaded.diagnostics.errors().count();
        eprintln!(
            "{name}: {n} error{} found; nothing was rendered",
            if n == 1 { "" } else { "s" }
        );
        return Ok(None);
    };
    let templates = files::load_templates(config)?;
    // The same credentials generation the pipeline computes from the bucket's sealed store,
    // and the service-account key's JWKS (the issuer's documents are rendered with it). The
    // issuer is served from the bucket in the cluster's region (the pipeline: the
    // installation's).
    let inputs = render::Inputs {
        credentials_generation: credentials
            .map(|c| render::credentials_generation(&render::stored_view(c)))
            .unwrap_or_default(),
        bucket_region: None,
        service_account_jwks: credentials
            .and_then(|c| c.get(kubeline_core::credential_files::SA_JWKS))
            .and_then(|b| String::from_utf8(b.clone()).ok()),
    };
    let rendered = render::render_with(&cluster, &templates, &inputs)?;
    for l in &rendered.limits {
        let tag = if l.error { "error" } else { "note" };
        eprintln!("{}: {tag}: {}", l.file, l.message);
    }
    if rendered.has_limit_errors() {
        return Ok(None);
    }
    let warnings = loaded.diagnostics.warnings().count();
    if strict && warnings > 0 {
        eprintln!("{name}: {warnings} warning(s) and --strict was given");
        return Ok(None);
    }
    Ok(Some(rendered))
}

fn validate_cmd(a: ValidateArgs) -> Result<bool> {
    let Some(rendered) = load_and_render(&a.config.config, a.strict, None)? else {
        return Ok(false);
    };
    println!(
        "{}: valid; renders {} stacks and {} node configs",
        a.config.config.display(),
        rendered.stacks.len(),
        rendered.uploads.len()
    );
    Ok(true)
}

fn render_stack(a: RenderStackArgs) -> Result<bool> {
    let config = &a.config.config;
    let dir = a.credentials_dir.clone().unwrap_or_else(|| {
        config
            .parent()
            .unwrap_or(Path::new("."))
            .join("credentials")
    });
    let creds = if dir.is_dir() {
        Some(credentials::read_dir(&dir)?)
    } else if a.credentials_dir.is_some() {
        bail!("{}: no such credentials directory", dir.display());
    } else {
        None
    };
    let Some(rendered) = load_and_render(config, false, creds.as_ref())? else {
        return Ok(false);
    };
    let dir = match a.asset_dir {
        Some(d) => d,
        None => config
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(".")),
    };
    let report = files::write_rendered(&dir, &rendered)?;
    for line in report {
        println!("{line}");
    }
    for s in &rendered.stacks {
        let via = if s.needs_template_url {
            " (by S3 URL)"
        } else {
            ""
        };
        println!(
            "stack {} <- stack-templates/{} ({} bytes){via}",
            s.name, s.template, s.size
        );
    }
    Ok(true)
}
