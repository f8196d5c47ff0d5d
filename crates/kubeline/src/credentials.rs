//! `render credentials`, `show certificates` and `rotate credentials`: the local credentials
//! directory (kube-aws's `credentials/`, plaintext, owner-only permissions) over the core's
//! reconcile rules.

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use kubeline_core::cluster::Cluster;
use kubeline_core::reconcile::{
    self, CaSource, Change, DEFAULT_RENEW_WITHIN_DAYS, Files, Options, Outcome,
};
use kubeline_core::validate;
use time::OffsetDateTime;

/// Environment variable holding the passphrase of an encrypted CA key.
pub const PASSPHRASE_ENV: &str = "KUBELINE_CA_KEY_PASSPHRASE";

#[derive(Debug, Args)]
pub struct Location {
    /// Path of cluster.yaml.
    #[arg(long, default_value = "cluster.yaml")]
    pub config: PathBuf,
    /// Credentials directory. Default: credentials/ next to cluster.yaml.
    #[arg(long)]
    pub credentials_dir: Option<PathBuf>,
}

impl Location {
    fn dir(&self) -> PathBuf {
        self.credentials_dir.clone().unwrap_or_else(|| {
            self.config
                .parent()
                .unwrap_or(Path::new("."))
                .join("credentials")
        })
    }
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub at: Location,
    /// Generate a CA when there is none (for trying kubeline; use your organisation's CA in
    /// production).
    #[arg(long, conflicts_with_all = ["ca_cert_path", "ca_key_path"])]
    pub generate_ca: bool,
    /// Your organisation's CA certificate (PEM).
    #[arg(long, requires = "ca_key_path")]
    pub ca_cert_path: Option<PathBuf>,
    /// Its private key: PEM PKCS#8, SEC1 or PKCS#1, or encrypted PKCS#8 with the passphrase
    /// in KUBELINE_CA_KEY_PASSPHRASE.
    #[arg(long, requires = "ca_cert_path")]
    pub ca_key_path: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub at: Location,
    /// Exit non-zero when a certificate is missing, unreadable, expired or expires within the
    /// renewal window.
    #[arg(long)]
    pub check: bool,
    /// Renewal window in days.
    #[arg(long, default_value_t = DEFAULT_RENEW_WITHIN_DAYS)]
    pub within_days: u32,
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    #[command(flatten)]
    pub at: Location,
    /// Renew certificates that expire within this many days.
    #[arg(long, default_value_t = DEFAULT_RENEW_WITHIN_DAYS)]
    pub within_days: u32,
    /// Advance the CA rotation by one stage (new CA trusted, then signing, then old CA removed).
    #[arg(long)]
    pub ca: bool,
}

fn load_cluster(config: &Path) -> Result<Option<Cluster>> {
    let text = std::fs::read_to_string(config)
        .with_context(|| format!("cannot read {}", config.display()))?;
    let name = config.display().to_string();
    let loaded = validate::load(&text);
    eprint!("{}", loaded.diagnostics.render(&name));
    if loaded.cluster.is_none() {
        eprintln!("{name}: invalid; no credentials were touched");
    }
    Ok(loaded.cluster)
}

/// Reads every regular file of the credentials directory (none when it does not exist).
pub fn read_dir(dir: &Path) -> Result<Files> {
    let mut files = Files::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(files),
        Err(e) => return Err(e).with_context(|| format!("cannot list {}", dir.display())),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !entry.file_type()?.is_file() {
            continue;
        }
        let bytes = std::fs::read(entry.path())
            .with_context(|| format!("cannot read {}", entry.path().display()))?;
        files.insert(name, bytes);
    }
    Ok(files)
}

/// Writes the changed files of `out` (secrets 0600, certificates 0644, directory 0700):
/// every new file is staged first, then all are renamed into place, then removals happen.
fn write_outcome(dir: &Path, out: &Outcome) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    set_mode(dir, 0o700)?;
    let mut staged = Vec::new();
    for e in &out.entries {
        if matches!(e.change, Change::Created | Change::Replaced(_)) {
            let bytes = out
                .files
                .get(&e.file)
                .with_context(|| format!("internal: {} has no content", e.file))?;
            let tmp = dir.join(format!(".{}.kubeline-tmp", e.file));
            {
                let mut f = std::fs::File::create(&tmp)
                    .with_context(|| format!("cannot write {}", tmp.display()))?;
                set_mode(
                    &tmp,
                    if reconcile::is_secret(&e.file) {
                        0o600
                    } else {
                        0o644
                    },
                )?;
                f.write_all(bytes)
                    .and_then(|()| f.sync_all())
                    .with_context(|| format!("cannot write {}", tmp.display()))?;
            }
            staged.push((tmp, dir.join(&e.file)));
        }
    }
    for (tmp, path) in staged {
        std::fs::rename(&tmp, &path)
            .with_context(|| format!("cannot replace {}", path.display()))?;
    }
    for e in &out.entries {
        if let Change::Removed(_) = e.change {
            let path = dir.join(&e.file);
            if path.exists() {
                std::fs::remove_file(&path)
                    .with_context(|| format!("cannot remove {}", path.display()))?;
            }
        }
    }
    Ok(())
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set permissions of {}", path.display()))
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) -> Result<()> {
    Ok(())
}

fn print_outcome(dir: &Path, out: &Outcome) {
    let (mut created, mut replaced, mut kept, mut removed) = (0, 0, 0, 0);
    for e in &out.entries {
        match &e.change {
            Change::Unchanged => kept += 1,
            Change::Created => {
                created += 1;
                println!("  created    {}", e.file);
            }
            Change::Replaced(why) => {
                replaced += 1;
                println!("  re-issued  {}: {why}", e.file);
            }
            Change::Removed(why) => {
                removed += 1;
                println!("  removed    {}: {why}", e.file);
            }
        }
    }
    println!(
        "{}: {created} created, {replaced} re-issued, {removed} removed, {kept} unchanged",
        dir.display()
    );
    for n in &out.notes {
        println!("note: {n}");
    }
}

fn fail(dir: &Path, e: &reconcile::CredentialsError) -> anyhow::Error {
    anyhow::anyhow!(
        "{}/{e}\n  fix: {}\nnothing in {} was changed",
        dir.display(),
        e.fix(),
        dir.display()
    )
}

pub fn render(a: RenderArgs) -> Result<bool> {
    let Some(cluster) = load_cluster(&a.at.config)? else {
        return Ok(false);
    };
    let dir = a.at.dir();
    let current = read_dir(&dir)?;
    let cert_text;
    let key_text;
    let passphrase = std::env::var(PASSPHRASE_ENV).ok();
    let source = match (&a.ca_cert_path, &a.ca_key_path) {
        (Some(c), Some(k)) => {
            cert_text = std::fs::read_to_string(c)
                .with_context(|| format!("cannot read --ca-cert-path {}", c.display()))?;
            key_text = std::fs::read_to_string(k)
                .with_context(|| format!("cannot read --ca-key-path {}", k.display()))?;
            CaSource::Import {
                cert_pem: &cert_text,
                key_pem: &key_text,
                passphrase: passphrase.as_deref(),
            }
        }
        _ if a.generate_ca => CaSource::Generate,
        _ => CaSource::Existing,
    };
    let opts = Options {
        now: OffsetDateTime::now_utc(),
        renew_within_days: DEFAULT_RENEW_WITHIN_DAYS,
    };
    let out = reconcile::reconcile(&cluster, &current, source, &opts).map_err(|e| {
        let e = fail(&dir, &e);
        match (&a.ca_cert_path, &a.ca_key_path) {
            (Some(c), Some(k)) => e.context(format!(
                "using the CA {} with key {}",
                c.display(),
                k.display()
            )),
            _ => e,
        }
    })?;
    write_outcome(&dir, &out)?;
    print_outcome(&dir, &out);
    if a.generate_ca
        && out
            .entries
            .iter()
            .any(|e| e.file == reconcile::CA_CERT && e.change == Change::Created)
    {
        println!(
            "warning: the generated CA is for trying kubeline, not for production; pass your \
             organisation's CA with --ca-cert-path/--ca-key-path"
        );
    }
    Ok(true)
}

pub fn rotate(a: RotateArgs) -> Result<bool> {
    let Some(cluster) = load_cluster(&a.at.config)? else {
        return Ok(false);
    };
    let dir = a.at.dir();
    let current = read_dir(&dir)?;
    let opts = Options {
        now: OffsetDateTime::now_utc(),
        renew_within_days: a.within_days,
    };
    if a.ca {
        let (out, stage) =
            reconcile::rotate_ca(&cluster, &current, &opts).map_err(|e| fail(&dir, &e))?;
        write_outcome(&dir, &out)?;
        print_outcome(&dir, &out);
        println!("CA rotation {}", stage.describe());
    } else {
        let out = reconcile::reconcile(&cluster, &current, CaSource::Existing, &opts)
            .map_err(|e| fail(&dir, &e))?;
        write_outcome(&dir, &out)?;
        print_outcome(&dir, &out);
        if !out.changed() {
            println!(
                "nothing expires within {} days; nothing to renew",
                a.within_days
            );
        }
    }
    Ok(true)
}

pub fn show(a: ShowArgs) -> Result<bool> {
    let Some(cluster) = load_cluster(&a.at.config)? else {
        return Ok(false);
    };
    let dir = a.at.dir();
    if !dir.is_dir() {
        bail!(
            "{} does not exist; create the credentials with `kubeline render credentials --generate-ca` or --ca-cert-path/--ca-key-path",
            dir.display()
        );
    }
    let files = read_dir(&dir)?;
    let now = OffsetDateTime::now_utc();
    let window = i64::from(a.within_days);
    let mut rows: Vec<[String; 7]> = Vec::new();
    let mut attention = 0;
    for row in reconcile::certificates(&cluster, &files) {
        match row.cert {
            Ok(c) => {
                let days = c.days_left(now);
                let status = if days < 0 {
                    "EXPIRED"
                } else if days <= window {
                    "RENEW"
                } else {
                    "ok"
                };
                if status != "ok" {
                    attention += 1;
                }
                let mut sans: Vec<String> = c.dns_names.clone();
                sans.extend(c.ip_addresses.iter().map(ToString::to_string));
                rows.push([
                    row.file,
                    c.subject,
                    c.issuer,
                    c.not_after.date().to_string(),
                    days.to_string(),
                    status.into(),
                    sans.join(","),
                ]);
            }
            Err(e) => {
                attention += 1;
                rows.push([
                    row.file,
                    format!("({e})"),
                    String::new(),
                    String::new(),
                    String::new(),
                    "MISSING".into(),
                    String::new(),
                ]);
            }
        }
    }
    let header = [
        "FILE",
        "SUBJECT",
        "ISSUER",
        "NOT AFTER",
        "DAYS",
        "STATUS",
        "SANS",
    ];
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (i, cell) in r.iter().enumerate().take(6) {
            widths[i] = widths[i].max(cell.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i < 6 {
                s.push_str(&format!("{c:<w$}  ", w = widths[i]));
            } else {
                s.push_str(c);
            }
        }
        println!("{}", s.trim_end());
    };
    line(header.to_vec());
    // Expired and near-expiry rows stand out on a terminal (red and yellow).
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    for r in &rows {
        let paint = match r[5].as_str() {
            "EXPIRED" | "MISSING" if color => "\x1b[31m",
            "RENEW" if color => "\x1b[33m",
            _ => "",
        };
        print!("{paint}");
        line(r.iter().map(String::as_str).collect());
        if !paint.is_empty() {
            print!("\x1b[0m");
        }
    }
    if attention > 0 {
        println!(
            "{attention} certificate(s) need attention (expired, missing or within {} days); renew with `kubeline rotate credentials --within-days {}`",
            a.within_days, a.within_days
        );
    }
    Ok(!(a.check && attention > 0))
}
