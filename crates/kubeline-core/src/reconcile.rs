//! Keeping a cluster's credential files in step with its cluster.yaml: create what is missing,
//! keep every valid file byte-identical, re-issue only certificates whose subject, names or
//! usages changed or that expire within the renewal window, and rotate the CA in safe stages.
//!
//! Works on an in-memory file set (kube-aws's names, plaintext), so the CLI's `credentials/`
//! directory and the pipeline's KMS-sealed S3 store share the same rules.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::cluster::Cluster;
use crate::credentials::{Authority, CA_COMMON_NAME, CertSpec, leaf_certificates};
use crate::pki::{self, CertInfo, Key, PemError, Signer};

/// Credential files by name (kube-aws's names), plaintext.
pub type Files = BTreeMap<String, Vec<u8>>;

/// The CA certificate, or during a CA rotation the trust bundle of the old and the new CA.
pub const CA_CERT: &str = "ca.pem";
/// The key of the CA that signs.
pub const CA_KEY: &str = "ca-key.pem";
/// The new CA's key while a CA rotation waits for the trust bundle to reach every node.
pub const CA_NEXT_KEY: &str = "ca-next-key.pem";
/// The etcd CA's certificate (etcd's trusted CA for clients and peers).
pub const ETCD_CA_CERT: &str = "etcd-ca.pem";
/// The etcd CA's key (never leaves the credential set).
pub const ETCD_CA_KEY: &str = "etcd-ca-key.pem";
/// The front-proxy CA's certificate (kube-apiserver's `--requestheader-client-ca-file`).
pub const FRONT_PROXY_CA_CERT: &str = "front-proxy-ca.pem";
/// The front-proxy CA's key (never leaves the credential set).
pub const FRONT_PROXY_CA_KEY: &str = "front-proxy-ca-key.pem";
/// Service-account token signing key.
pub const SA_KEY: &str = "service-account-key.pem";
/// Its public key (for verifiers outside the cluster).
pub const SA_PUB: &str = "service-account-pub.pem";
/// kube-apiserver's static token file.
pub const TOKENS: &str = "tokens.csv";
/// The token kubelets present to bootstrap their client certificates.
pub const BOOTSTRAP_TOKEN: &str = "kubelet-tls-bootstrap-token";
/// kube-apiserver's encryption-at-rest configuration.
pub const ENCRYPTION_CONFIG: &str = "encryption-config.yaml";

/// The user the bootstrap token authenticates as, and its group (kube-aws's tokens.csv line).
const BOOTSTRAP_USER: &str = "kubelet-bootstrap";
const BOOTSTRAP_UID: &str = "10001";
const BOOTSTRAP_GROUP: &str = "system:kubelet-bootstrap";

/// Whether a credential file is secret (stored encrypted, never shipped in plain).
pub fn is_secret(name: &str) -> bool {
    name.ends_with("-key.pem") || matches!(name, TOKENS | BOOTSTRAP_TOKEN | ENCRYPTION_CONFIG)
}

/// Every file name a complete set has (outside a CA rotation), in a stable order.
pub fn expected_files(cluster: &Cluster) -> Vec<String> {
    let mut names = Vec::new();
    for a in Authority::ALL {
        names.push(a.cert_file().to_owned());
        names.push(a.key_file().to_owned());
    }
    for spec in leaf_certificates(cluster) {
        names.push(format!("{}.pem", spec.name));
        names.push(format!("{}-key.pem", spec.name));
    }
    names.extend([SA_KEY, SA_PUB, TOKENS, BOOTSTRAP_TOKEN, ENCRYPTION_CONFIG].map(str::to_owned));
    names
}

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Kept byte-identical.
    Unchanged,
    /// Did not exist; created.
    Created,
    /// Replaced, for the reason given.
    Replaced(String),
    /// Removed, for the reason given.
    Removed(String),
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// File name.
    pub file: String,
    /// What happened.
    pub change: Change,
}

/// The new file set and what changed.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Every file, including ones kubeline does not manage (kept as they were).
    pub files: Files,
    /// One entry per managed file, in a stable order.
    pub entries: Vec<Entry>,
    /// Things the operator should know (near-expiry CA, algorithm changes not applied, ...).
    pub notes: Vec<String>,
}

impl Outcome {
    /// Whether any file changed.
    pub fn changed(&self) -> bool {
        self.entries.iter().any(|e| e.change != Change::Unchanged)
    }
}

/// Where the CA comes from.
#[derive(Debug, Clone, Copy)]
pub enum CaSource<'a> {
    /// The CA already in the set (an error if there is none).
    Existing,
    /// Generate a CA when the set has none (kept when it has one).
    Generate,
    /// The organisation's CA: certificate and key PEM, passphrase for an encrypted key.
    Import {
        /// CA certificate PEM.
        cert_pem: &'a str,
        /// CA key PEM.
        key_pem: &'a str,
        /// Passphrase of an `ENCRYPTED PRIVATE KEY`.
        passphrase: Option<&'a str>,
    },
}

/// Clock and renewal window.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// The current time.
    pub now: OffsetDateTime,
    /// Certificates expiring within this many days are renewed.
    pub renew_within_days: u32,
}

/// Default renewal window in days.
pub const DEFAULT_RENEW_WITHIN_DAYS: u32 = 30;

/// Why credentials could not be brought up to date. Nothing is changed when this is returned.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// No CA and none requested.
    #[error("{CA_CERT} does not exist yet, so there is no CA to issue from")]
    NoCa,
    /// A file is unreadable or unusable.
    #[error("{file}: {source}")]
    File {
        /// The file (credential name or a path given by the user).
        file: String,
        /// What is wrong.
        #[source]
        source: PemError,
    },
    /// Files that contradict each other or the request.
    #[error("{file}: {message}")]
    Inconsistent {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
        /// How to fix it.
        fix: String,
    },
}

impl CredentialsError {
    /// How to fix it, in one sentence.
    pub fn fix(&self) -> String {
        match self {
            CredentialsError::NoCa => "run `kubeline render credentials --generate-ca` (a CA for \
                trying kubeline, not for production) or pass your organisation's CA with \
                --ca-cert-path and --ca-key-path"
                .into(),
            CredentialsError::File { source, .. } => match source {
                PemError::PassphraseMissing | PemError::PassphraseWrong => {
                    "export KUBELINE_CA_KEY_PASSPHRASE with the key's passphrase".into()
                }
                _ => "restore the file from a backup, or delete it to have it created anew \
                      (only for files that are not the CA)"
                    .into(),
            },
            CredentialsError::Inconsistent { fix, .. } => fix.clone(),
        }
    }

    /// Stable PascalCase name for the pipeline's Retry/Catch.
    pub fn name(&self) -> &'static str {
        match self {
            CredentialsError::NoCa => "CredentialsNoCa",
            CredentialsError::File { .. } | CredentialsError::Inconsistent { .. } => {
                "CredentialsInvalid"
            }
        }
    }
}

fn file_err(file: &str) -> impl FnOnce(PemError) -> CredentialsError + '_ {
    move |source| CredentialsError::File {
        file: file.to_owned(),
        source,
    }
}

fn text<'a>(files: &'a Files, name: &str) -> Result<Option<&'a str>, CredentialsError> {
    match files.get(name) {
        None => Ok(None),
        Some(bytes) => std::str::from_utf8(bytes)
            .map(Some)
            .map_err(|_| CredentialsError::File {
                file: name.to_owned(),
                source: PemError::Malformed("not UTF-8 text".into()),
            }),
    }
}

/// The CA state of a set: trust bundle and the signer within it.
#[derive(Debug)]
struct CaState {
    bundle: Vec<CertInfo>,
    signer: Signer,
}

fn load_ca(files: &Files) -> Result<CaState, CredentialsError> {
    load_authority(files, Authority::Cluster)
}

/// Loads the CA `a` from the set (its certificate or bundle, and the key that signs).
fn load_authority(files: &Files, a: Authority) -> Result<CaState, CredentialsError> {
    let (cert_file, key_file) = (a.cert_file(), a.key_file());
    let Some(cert_text) = text(files, cert_file)? else {
        return Err(match a {
            Authority::Cluster => CredentialsError::NoCa,
            _ => CredentialsError::Inconsistent {
                file: cert_file.into(),
                message: format!("missing while {key_file} exists"),
                fix: recreate_fix(a),
            },
        });
    };
    let bundle = pki::parse_certificates(cert_text).map_err(file_err(cert_file))?;
    let Some(key_text) = text(files, key_file)? else {
        return Err(CredentialsError::Inconsistent {
            file: key_file.into(),
            message: "missing, so nothing can be issued".into(),
            fix: match a {
                Authority::Cluster => {
                    format!("restore {key_file} from your backup of the credentials")
                }
                _ => recreate_fix(a),
            },
        });
    };
    let key = Key::from_pem(key_text, None).map_err(file_err(key_file))?;
    let spki = key.spki();
    let Some(cert) = bundle.iter().find(|c| c.spki == spki).cloned() else {
        return Err(CredentialsError::Inconsistent {
            file: key_file.into(),
            message: format!("does not belong to any certificate in {cert_file}"),
            fix: format!("restore the matching {cert_file} and {key_file} pair"),
        });
    };
    Ok(CaState {
        bundle,
        signer: Signer { cert, key },
    })
}

/// How to recover a lost etcd or front-proxy CA.
fn recreate_fix(a: Authority) -> String {
    format!(
        "restore {} and {} from your backup, or delete both to have {} created anew (the \
         certificates it issues are re-issued)",
        a.cert_file(),
        a.key_file(),
        a.describe()
    )
}

/// A new self-signed CA `a` with the cluster's key algorithm and CA lifetime.
fn generate_ca(
    cluster: &Cluster,
    a: Authority,
    opts: &Options,
) -> Result<CaState, CredentialsError> {
    let key = Key::generate(cluster.tls.key_algorithm).map_err(file_err(a.key_file()))?;
    let pem = pki::self_signed_ca(
        a.common_name(),
        &key,
        cluster.tls.ca_duration_days,
        opts.now,
    )
    .map_err(file_err(a.cert_file()))?;
    let cert = pki::parse_certificates(&pem)
        .map_err(file_err(a.cert_file()))?
        .remove(0);
    Ok(CaState {
        bundle: vec![cert.clone()],
        signer: Signer { cert, key },
    })
}

/// The etcd or front-proxy CA: kept when the set has it, generated when it has neither file
/// (whatever the cluster CA's source: a bring-your-own CA is the cluster CA only).
fn own_ca(
    cluster: &Cluster,
    current: &Files,
    a: Authority,
    opts: &Options,
    w: &mut Writer,
) -> Result<Signer, CredentialsError> {
    let state = if current.contains_key(a.cert_file()) || current.contains_key(a.key_file()) {
        load_authority(current, a)?
    } else {
        generate_ca(cluster, a, opts)?
    };
    w.put(
        a.cert_file(),
        bundle_pem(&signer_first(&state)),
        "a different CA",
    );
    w.put(
        a.key_file(),
        state.signer.key.pem.clone().into_bytes(),
        "a different CA key",
    );
    let days = state.signer.cert.days_left(opts.now);
    if days <= i64::from(opts.renew_within_days) {
        w.notes.push(format!(
            "{} ({}) expires in {days} days; `kubeline rotate credentials --ca` rotates the \
             cluster CA only: replace it by deleting {} and {} and running `kubeline render \
             credentials` (its certificates are re-issued; etcd members and controllers must \
             then be rolled together)",
            a.cert_file(),
            a.describe(),
            a.cert_file(),
            a.key_file()
        ));
    }
    Ok(state.signer)
}

/// The signer of each CA.
struct Signers<'a> {
    cluster: &'a Signer,
    etcd: &'a Signer,
    front_proxy: &'a Signer,
}

impl Signers<'_> {
    fn of(&self, a: Authority) -> &Signer {
        match a {
            Authority::Cluster => self.cluster,
            Authority::Etcd => self.etcd,
            Authority::FrontProxy => self.front_proxy,
        }
    }
}

fn bundle_pem(bundle: &[CertInfo]) -> Vec<u8> {
    bundle
        .iter()
        .map(|c| pki::pem_encode("CERTIFICATE", &c.der))
        .collect::<String>()
        .into_bytes()
}

/// The trust bundle with the signing CA first: kube-controller-manager's signer and the
/// controllers' `openssl x509 -CA` take the first certificate of ca.pem as the one that
/// matches ca-key.pem.
fn signer_first(state: &CaState) -> Vec<CertInfo> {
    let mut out = vec![state.signer.cert.clone()];
    out.extend(
        state
            .bundle
            .iter()
            .filter(|c| c.der != state.signer.cert.der)
            .cloned(),
    );
    out
}

/// Brings the credential set up to date with the cluster (the `render credentials` and
/// `rotate credentials` rules).
pub fn reconcile(
    cluster: &Cluster,
    current: &Files,
    ca: CaSource<'_>,
    opts: &Options,
) -> Result<Outcome, CredentialsError> {
    let mut w = Writer::new(current);
    let state = match ca {
        CaSource::Existing => load_ca(current)?,
        CaSource::Generate => {
            if current.contains_key(CA_CERT) {
                w.notes.push(format!(
                    "kept the existing CA in {CA_CERT}; replace it with `kubeline rotate credentials --ca`"
                ));
                load_ca(current)?
            } else {
                generate_ca(cluster, Authority::Cluster, opts)?
            }
        }
        CaSource::Import {
            cert_pem,
            key_pem,
            passphrase,
        } => import_ca(cert_pem, key_pem, passphrase, opts)?,
    };
    w.put(CA_CERT, bundle_pem(&signer_first(&state)), "a different CA");
    w.put(
        CA_KEY,
        state.signer.key.pem.clone().into_bytes(),
        "a different CA key",
    );
    let ca_days = state.signer.cert.days_left(opts.now);
    if ca_days <= i64::from(opts.renew_within_days) {
        w.notes.push(format!(
            "the CA expires in {ca_days} days: start a CA rotation with `kubeline rotate credentials --ca`"
        ));
    }
    let etcd = own_ca(cluster, current, Authority::Etcd, opts, &mut w)?;
    let front_proxy = own_ca(cluster, current, Authority::FrontProxy, opts, &mut w)?;
    let signers = Signers {
        cluster: &state.signer,
        etcd: &etcd,
        front_proxy: &front_proxy,
    };
    issue_leaves(cluster, current, &signers, opts, &mut w)?;
    secrets(cluster, current, &mut w)?;
    Ok(w.finish())
}

fn import_ca(
    cert_pem: &str,
    key_pem: &str,
    passphrase: Option<&str>,
    opts: &Options,
) -> Result<CaState, CredentialsError> {
    const CERT_ARG: &str = "--ca-cert-path";
    const KEY_ARG: &str = "--ca-key-path";
    let cert = pki::parse_certificates(cert_pem)
        .map_err(file_err(CERT_ARG))?
        .remove(0);
    let key = Key::from_pem(key_pem, passphrase).map_err(file_err(KEY_ARG))?;
    if !cert.is_ca {
        return Err(CredentialsError::Inconsistent {
            file: CERT_ARG.into(),
            message: format!("`{}` is not a CA certificate (basicConstraints CA:FALSE or missing)", cert.subject),
            fix: "pass the certificate of a CA (basicConstraints=critical,CA:TRUE, keyUsage keyCertSign)".into(),
        });
    }
    if cert.spki != key.spki() {
        return Err(CredentialsError::Inconsistent {
            file: KEY_ARG.into(),
            message: "the key does not belong to the certificate given with --ca-cert-path".into(),
            fix: "pass the CA certificate and its own key".into(),
        });
    }
    if cert.not_after <= opts.now {
        return Err(CredentialsError::Inconsistent {
            file: CERT_ARG.into(),
            message: format!("the CA expired on {}", cert.not_after.date()),
            fix: "pass a CA certificate that is still valid".into(),
        });
    }
    Ok(CaState {
        bundle: vec![cert.clone()],
        signer: Signer { cert, key },
    })
}

fn issue_leaves(
    cluster: &Cluster,
    current: &Files,
    signers: &Signers<'_>,
    opts: &Options,
    w: &mut Writer,
) -> Result<(), CredentialsError> {
    let alg = cluster.tls.key_algorithm;
    for spec in leaf_certificates(cluster) {
        let signer = signers.of(spec.issuer);
        let cert_name = format!("{}.pem", spec.name);
        let key_name = format!("{}-key.pem", spec.name);
        let (key, key_reason) = match text(current, &key_name) {
            Ok(Some(t)) => match Key::from_pem(t, None) {
                Ok(k) if k.algorithm() == Some(alg) => (k, None),
                Ok(_) => (
                    Key::generate(alg).map_err(file_err(&key_name))?,
                    Some(format!("the key algorithm is now {}", alg.as_str())),
                ),
                Err(e) => (
                    Key::generate(alg).map_err(file_err(&key_name))?,
                    Some(format!("the old key was unreadable ({e})")),
                ),
            },
            Ok(None) => (Key::generate(alg).map_err(file_err(&key_name))?, None),
            Err(e) => (
                Key::generate(alg).map_err(file_err(&key_name))?,
                Some(e.to_string()),
            ),
        };
        let verdict = match (text(current, &cert_name), &key_reason) {
            (_, Some(reason)) => Some(format!("new key: {reason}")),
            (Ok(None), None) => Some(String::new()),
            (Err(e), None) => Some(e.to_string()),
            (Ok(Some(t)), None) => check_leaf(&spec, t, &key, signer, opts),
        };
        w.put(
            &key_name,
            key.pem.clone().into_bytes(),
            key_reason.as_deref().unwrap_or(""),
        );
        match verdict {
            None => w.keep(&cert_name),
            Some(reason) => {
                let pem =
                    pki::issue(&spec, &key, signer, opts.now).map_err(file_err(&cert_name))?;
                w.replace(&cert_name, pem.into_bytes(), reason);
            }
        }
    }
    Ok(())
}

/// Why an existing certificate must be re-issued, or `None` to keep it.
fn check_leaf(
    spec: &CertSpec,
    cert_text: &str,
    key: &Key,
    signer: &Signer,
    opts: &Options,
) -> Option<String> {
    let cert = match pki::parse_certificates(cert_text) {
        Ok(mut certs) => certs.remove(0),
        Err(e) => return Some(format!("unreadable ({e})")),
    };
    if cert.spki != key.spki() {
        return Some(format!("does not match {}-key.pem", spec.name));
    }
    if !cert.issued_by(&signer.cert) {
        return Some(match spec.issuer {
            Authority::Cluster => "not issued by the current CA".into(),
            other => format!("not issued by {} ({})", other.describe(), other.cert_file()),
        });
    }
    if let Some(why) = pki::mismatch(spec, &cert) {
        return Some(why);
    }
    let days = cert.days_left(opts.now);
    if days <= i64::from(opts.renew_within_days) {
        return Some(format!(
            "expires in {days} days (renewal window {} days)",
            opts.renew_within_days
        ));
    }
    None
}

fn secrets(cluster: &Cluster, current: &Files, w: &mut Writer) -> Result<(), CredentialsError> {
    // Service-account key: never replaced automatically (that would invalidate every token).
    let sa = match text(current, SA_KEY)? {
        Some(t) => {
            let key = Key::from_pem(t, None).map_err(file_err(SA_KEY))?;
            if key.algorithm() != Some(cluster.tls.key_algorithm) {
                w.notes.push(format!(
                    "{SA_KEY} keeps its algorithm; replacing it would invalidate every service-account token"
                ));
            }
            key
        }
        None => Key::generate(cluster.tls.key_algorithm).map_err(file_err(SA_KEY))?,
    };
    w.put(SA_KEY, sa.pem.clone().into_bytes(), "");
    w.put(SA_PUB, sa.public_pem().into_bytes(), "derived from the key");

    let token = match text(current, BOOTSTRAP_TOKEN)? {
        Some(t) if is_token(t.trim()) => t.trim().to_owned(),
        Some(_) => {
            return Err(CredentialsError::Inconsistent {
                file: BOOTSTRAP_TOKEN.into(),
                message: "is not a token of 16 to 64 letters and digits".into(),
                fix: format!("delete {BOOTSTRAP_TOKEN} and {TOKENS} to have both created anew"),
            });
        }
        None => hex::encode(pki::random_bytes::<16>().map_err(file_err(BOOTSTRAP_TOKEN))?),
    };
    w.put(BOOTSTRAP_TOKEN, format!("{token}\n").into_bytes(), "");
    let tokens = tokens_csv(text(current, TOKENS)?, &token);
    w.put(
        TOKENS,
        tokens.into_bytes(),
        "the kubelet bootstrap token changed",
    );

    match text(current, ENCRYPTION_CONFIG)? {
        Some(t) => {
            check_encryption_config(t)?;
            w.keep(ENCRYPTION_CONFIG);
        }
        None => {
            let key = pki::random_bytes::<32>().map_err(file_err(ENCRYPTION_CONFIG))?;
            w.put(ENCRYPTION_CONFIG, encryption_config(&key).into_bytes(), "");
        }
    }
    Ok(())
}

fn is_token(t: &str) -> bool {
    (16..=64).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// tokens.csv with the kubelet bootstrap line set to `token`; other lines (added by operators)
/// are kept in place.
fn tokens_csv(existing: Option<&str>, token: &str) -> String {
    let line = format!("{token},{BOOTSTRAP_USER},{BOOTSTRAP_UID},\"{BOOTSTRAP_GROUP}\"");
    let mut out = String::new();
    let mut placed = false;
    for l in existing.unwrap_or("").lines() {
        if l.split(',').nth(1) == Some(BOOTSTRAP_USER) {
            if !placed {
                out.push_str(&line);
                out.push('\n');
                placed = true;
            }
        } else if !l.trim().is_empty() {
            out.push_str(l);
            out.push('\n');
        }
    }
    if !placed {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn encryption_config(key: &[u8; 32]) -> String {
    use base64::Engine as _;
    let secret = base64::engine::general_purpose::STANDARD.encode(key);
    format!(
        "apiVersion: apiserver.config.k8s.io/v1\n\
         kind: EncryptionConfiguration\n\
         resources:\n  \
           - resources:\n      \
               - secrets\n    \
             providers:\n      \
               - secretbox:\n          \
                   keys:\n            \
                     - name: key1\n              \
                       secret: {secret}\n      \
               - identity: {{}}\n"
    )
}

fn check_encryption_config(text: &str) -> Result<(), CredentialsError> {
    let bad = |message: String| {
        CredentialsError::Inconsistent {
        file: ENCRYPTION_CONFIG.into(),
        message,
        fix: "restore it from a backup: replacing it would make every Secret stored in etcd unreadable".into(),
    }
    };
    let value: serde_json::Value = serde_saphyr::from_str(text).map_err(|e| {
        let msg = e.to_string();
        bad(format!(
            "not YAML ({})",
            msg.lines().next().unwrap_or_default()
        ))
    })?;
    if value.get("kind").and_then(|k| k.as_str()) != Some("EncryptionConfiguration") {
        return Err(bad("is not an EncryptionConfiguration (kind)".into()));
    }
    Ok(())
}

/// Accumulates the new file set and the report.
struct Writer {
    files: Files,
    old: Files,
    entries: Vec<Entry>,
    notes: Vec<String>,
}

impl Writer {
    fn new(current: &Files) -> Writer {
        Writer {
            files: current.clone(),
            old: current.clone(),
            entries: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Sets `name`; unchanged when the bytes are equal, else created or replaced for `reason`.
    fn put(&mut self, name: &str, bytes: Vec<u8>, reason: &str) {
        let change = match self.old.get(name) {
            Some(old) if *old == bytes => Change::Unchanged,
            Some(_) => Change::Replaced(reason.to_owned()),
            None => Change::Created,
        };
        self.files.insert(name.to_owned(), bytes);
        self.entries.push(Entry {
            file: name.to_owned(),
            change,
        });
    }

    fn replace(&mut self, name: &str, bytes: Vec<u8>, reason: String) {
        let existed = self.old.contains_key(name);
        self.files.insert(name.to_owned(), bytes);
        self.entries.push(Entry {
            file: name.to_owned(),
            change: if existed {
                Change::Replaced(reason)
            } else {
                Change::Created
            },
        });
    }

    fn keep(&mut self, name: &str) {
        self.entries.push(Entry {
            file: name.to_owned(),
            change: Change::Unchanged,
        });
    }

    fn finish(self) -> Outcome {
        Outcome {
            files: self.files,
            entries: self.entries,
            notes: self.notes,
        }
    }
}

/// The stage a CA rotation reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaStage {
    /// Stage 1 of 3: a new CA was created and added to the trust bundle; nothing signs with it yet.
    TrustAdded,
    /// Stage 2 of 3: the new CA signs; every certificate was re-issued from it.
    SigningSwitched,
    /// Stage 3 of 3: the old CA left the trust bundle; the rotation is complete.
    OldRemoved,
}

impl CaStage {
    /// What the stage did and what comes next, for the report.
    pub fn describe(self) -> &'static str {
        match self {
            CaStage::TrustAdded => {
                "stage 1 of 3: a new CA joined the trust bundle (ca.pem holds both CAs); certificates \
                 are still issued by the old CA. Apply, let every node pick up the new ca.pem, then \
                 run `kubeline rotate credentials --ca` again."
            }
            CaStage::SigningSwitched => {
                "stage 2 of 3: the new CA now signs (first in ca.pem) and every certificate was \
                 re-issued from it; both CAs are still trusted. Apply, let every node pick up its new certificates, then run \
                 `kubeline rotate credentials --ca` again."
            }
            CaStage::OldRemoved => {
                "stage 3 of 3: the old CA left the trust bundle; the CA rotation is complete. Apply \
                 once more."
            }
        }
    }
}

/// Advances a CA rotation by one stage (see [`CaStage`]); leaf renewal rules apply as in
/// [`reconcile`].
pub fn rotate_ca(
    cluster: &Cluster,
    current: &Files,
    opts: &Options,
) -> Result<(Outcome, CaStage), CredentialsError> {
    let state = load_ca(current)?;
    let next = text(current, CA_NEXT_KEY)?;
    match (state.bundle.len(), next) {
        (1, None) => {
            let key = Key::generate(cluster.tls.key_algorithm).map_err(file_err(CA_NEXT_KEY))?;
            let name = format!("{CA_COMMON_NAME}-{}", opts.now.date());
            let pem = pki::self_signed_ca(&name, &key, cluster.tls.ca_duration_days, opts.now)
                .map_err(file_err(CA_CERT))?;
            let new = pki::parse_certificates(&pem)
                .map_err(file_err(CA_CERT))?
                .remove(0);
            let mut staged = current.clone();
            staged.insert(
                CA_CERT.into(),
                bundle_pem(&[state.signer.cert.clone(), new]),
            );
            staged.insert(CA_NEXT_KEY.into(), key.pem.into_bytes());
            let mut out = reconcile(cluster, &staged, CaSource::Existing, opts)?;
            relabel(
                &mut out,
                current,
                CA_CERT,
                "the new CA joined the trust bundle",
            );
            out.entries.push(Entry {
                file: CA_NEXT_KEY.into(),
                change: Change::Created,
            });
            Ok((out, CaStage::TrustAdded))
        }
        (2, Some(next_text)) => {
            let next_key = Key::from_pem(next_text, None).map_err(file_err(CA_NEXT_KEY))?;
            if !state.bundle.iter().any(|c| c.spki == next_key.spki()) {
                return Err(CredentialsError::Inconsistent {
                    file: CA_NEXT_KEY.into(),
                    message: format!("does not belong to any certificate in {CA_CERT}"),
                    fix: format!("restore the {CA_CERT} written by stage 1 of the CA rotation"),
                });
            }
            let mut staged = current.clone();
            staged.insert(CA_KEY.into(), next_key.pem.into_bytes());
            staged.remove(CA_NEXT_KEY);
            let mut out = reconcile(cluster, &staged, CaSource::Existing, opts)?;
            relabel(&mut out, current, CA_KEY, "the new CA signs from now on");
            relabel(
                &mut out,
                current,
                CA_CERT,
                "the new CA comes first (it signs); both CAs are still trusted",
            );
            for e in &mut out.entries {
                if let Change::Replaced(reason) = &mut e.change
                    && reason == "not issued by the current CA"
                {
                    *reason = "re-issued from the new CA".into();
                }
            }
            out.entries.push(Entry {
                file: CA_NEXT_KEY.into(),
                change: Change::Removed("it is ca-key.pem now".into()),
            });
            Ok((out, CaStage::SigningSwitched))
        }
        (2, None) => {
            let signer = &state.signer;
            let stale: Vec<String> = leaf_certificates(cluster)
                .iter()
                .filter(|s| s.issuer == Authority::Cluster)
                .map(|s| format!("{}.pem", s.name))
                .filter(|name| {
                    text(current, name)
                        .ok()
                        .flatten()
                        .and_then(|t| pki::parse_certificates(t).ok())
                        .is_none_or(|c| !c[0].issued_by(&signer.cert))
                })
                .collect();
            if !stale.is_empty() {
                return Err(CredentialsError::Inconsistent {
                    file: stale.join(", "),
                    message: "not yet issued by the new CA, so the old CA is still needed".into(),
                    fix: "run `kubeline render credentials` and apply before finishing the CA rotation".into(),
                });
            }
            let mut staged = current.clone();
            staged.insert(
                CA_CERT.into(),
                bundle_pem(std::slice::from_ref(&signer.cert)),
            );
            let mut out = reconcile(cluster, &staged, CaSource::Existing, opts)?;
            relabel(
                &mut out,
                current,
                CA_CERT,
                "the old CA left the trust bundle",
            );
            Ok((out, CaStage::OldRemoved))
        }
        (1, Some(_)) => Err(CredentialsError::Inconsistent {
            file: CA_NEXT_KEY.into(),
            message: format!("exists but {CA_CERT} holds only one CA"),
            fix: format!(
                "restore the two-CA {CA_CERT} from stage 1, or delete {CA_NEXT_KEY} to start over"
            ),
        }),
        (n, _) => Err(CredentialsError::Inconsistent {
            file: CA_CERT.into(),
            message: format!("holds {n} certificates; kubeline rotates between at most two CAs"),
            fix: "keep the current CA and at most one new one in ca.pem".into(),
        }),
    }
}

/// Reports `file` against the caller's original set (the staged set it was computed from hides
/// the change).
fn relabel(out: &mut Outcome, original: &Files, file: &str, reason: &str) {
    let change = match (original.get(file), out.files.get(file)) {
        (Some(a), Some(b)) if a == b => Change::Unchanged,
        (Some(_), Some(_)) => Change::Replaced(reason.into()),
        (None, Some(_)) => Change::Created,
        (_, None) => Change::Removed(reason.into()),
    };
    for e in &mut out.entries {
        if e.file == file {
            e.change = change.clone();
        }
    }
}

/// The certificate of the set that expires first (bundles included), with its file.
pub fn earliest_certificate(files: &Files) -> Option<(String, CertInfo)> {
    files
        .iter()
        .filter(|(name, _)| name.ends_with(".pem") && !is_secret(name))
        .filter_map(|(name, bytes)| {
            let certs = pki::parse_certificates(std::str::from_utf8(bytes).ok()?).ok()?;
            Some(certs.into_iter().map(move |c| (name.clone(), c)))
        })
        .flatten()
        .min_by_key(|(_, c)| c.not_after)
}

/// One row of `show certificates`.
#[derive(Debug, Clone)]
pub struct CertRow {
    /// File name (a bundle gives one row per certificate).
    pub file: String,
    /// The certificate, or why it could not be read.
    pub cert: Result<CertInfo, String>,
}

/// Every certificate of a set: the CAs first (the cluster CA bundle, the etcd CA, the
/// front-proxy CA), then the leaves in plan order.
pub fn certificates(cluster: &Cluster, files: &Files) -> Vec<CertRow> {
    let mut names: Vec<String> = Authority::ALL
        .iter()
        .map(|a| a.cert_file().to_owned())
        .collect();
    names.extend(
        leaf_certificates(cluster)
            .iter()
            .map(|s| format!("{}.pem", s.name)),
    );
    let mut rows = Vec::new();
    for name in names {
        match text(files, &name) {
            Ok(Some(t)) => match pki::parse_certificates(t) {
                Ok(certs) => rows.extend(certs.into_iter().map(|c| CertRow {
                    file: name.clone(),
                    cert: Ok(c),
                })),
                Err(e) => rows.push(CertRow {
                    file: name,
                    cert: Err(e.to_string()),
                }),
            },
            Ok(None) => rows.push(CertRow {
                file: name,
                cert: Err("missing".into()),
            }),
            Err(e) => rows.push(CertRow {
                file: name,
                cert: Err(e.to_string()),
            }),
        }
    }
    rows
}
