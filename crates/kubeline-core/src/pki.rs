//! X.509 building blocks for the cluster PKI: generating and importing keys (PKCS#8, SEC1,
//! PKCS#1, encrypted PKCS#8), issuing CA and leaf certificates with rcgen, and reading
//! certificates back (subject, names, usages, lifetime) with x509-parser.
//!
//! Nothing here panics on user input: every certificate or key that comes from a file is parsed
//! into a `Result`. Randomness (keys, serials) comes from the operating system through aws-lc-rs.

use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256, PublicKeyData,
    RsaKeySize, SanType, SerialNumber,
};
use time::{Duration, OffsetDateTime};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::credentials::CertSpec;
use crate::model::KeyAlgorithm;

/// Why a key or certificate could not be used. The caller adds the file name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PemError {
    /// Not PEM, or no block of the expected kind.
    #[error("{0}")]
    Malformed(String),
    /// The key is encrypted and no passphrase was given.
    #[error(
        "the key is encrypted (ENCRYPTED PRIVATE KEY) and KUBELINE_CA_KEY_PASSPHRASE is not set"
    )]
    PassphraseMissing,
    /// The passphrase does not decrypt the key.
    #[error("the passphrase in KUBELINE_CA_KEY_PASSPHRASE does not decrypt the key")]
    PassphraseWrong,
    /// Key generation or signing failed in the crypto library.
    #[error("crypto library error: {0}")]
    Crypto(String),
}

/// A private key together with its PEM text as stored in `credentials/`.
#[derive(Debug)]
pub struct Key {
    /// The key, ready to sign.
    pub pair: KeyPair,
    /// PEM text as written to the key file (PKCS#8 for generated keys; an imported key keeps its
    /// format unless it was encrypted, then it is stored as decrypted PKCS#8).
    pub pem: String,
}

impl Key {
    /// A new random key.
    pub fn generate(alg: KeyAlgorithm) -> Result<Key, PemError> {
        let pair = match alg {
            KeyAlgorithm::EcdsaP256 => KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256),
            KeyAlgorithm::Rsa2048 => KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048),
        }
        .map_err(|e| PemError::Crypto(e.to_string()))?;
        let pem = pair.serialize_pem();
        Ok(Key { pair, pem })
    }

    /// Parses a PEM private key: `PRIVATE KEY` (PKCS#8), `EC PRIVATE KEY` (SEC1),
    /// `RSA PRIVATE KEY` (PKCS#1) or `ENCRYPTED PRIVATE KEY` (PKCS#8, needs `passphrase`).
    pub fn from_pem(text: &str, passphrase: Option<&str>) -> Result<Key, PemError> {
        let blocks = pem::parse_many(text)
            .map_err(|e| PemError::Malformed(format!("not a PEM file ({e})")))?;
        let Some(block) = blocks.iter().find(|b| b.tag().ends_with("PRIVATE KEY")) else {
            return Err(PemError::Malformed(
                "no PRIVATE KEY block (expected PKCS#8, SEC1 or PKCS#1 PEM)".into(),
            ));
        };
        let (der, stored) = match block.tag() {
            "ENCRYPTED PRIVATE KEY" => {
                let pass = passphrase.ok_or(PemError::PassphraseMissing)?;
                let info = pkcs8::EncryptedPrivateKeyInfoRef::try_from(block.contents())
                    .map_err(|e| PemError::Malformed(format!("bad encrypted PKCS#8 ({e})")))?;
                let doc = info
                    .decrypt(pass.as_bytes())
                    .map_err(|_| PemError::PassphraseWrong)?;
                let der = doc.as_bytes().to_vec();
                let stored = pem_encode("PRIVATE KEY", &der);
                (der, stored)
            }
            "PRIVATE KEY" | "EC PRIVATE KEY" | "RSA PRIVATE KEY" => (
                block.contents().to_vec(),
                pem_encode(block.tag(), block.contents()),
            ),
            other => {
                return Err(PemError::Malformed(format!(
                    "unsupported key block `{other}`; convert it with `openssl pkcs8 -topk8`"
                )));
            }
        };
        let key_der = match block.tag() {
            "EC PRIVATE KEY" => rustls_pki_types::PrivateKeyDer::Sec1(der.into()),
            "RSA PRIVATE KEY" => rustls_pki_types::PrivateKeyDer::Pkcs1(der.into()),
            _ => rustls_pki_types::PrivateKeyDer::Pkcs8(der.into()),
        };
        let pair = KeyPair::try_from(&key_der).map_err(|e| {
            PemError::Malformed(format!(
                "the key cannot be used ({e}); supported are ECDSA P-256/P-384 and RSA"
            ))
        })?;
        Ok(Key { pair, pem: stored })
    }

    /// The algorithm of this key, if it is one kubeline generates.
    pub fn algorithm(&self) -> Option<KeyAlgorithm> {
        let alg = self.pair.algorithm();
        if alg == &PKCS_ECDSA_P256_SHA256 {
            Some(KeyAlgorithm::EcdsaP256)
        } else if alg == &PKCS_RSA_SHA256 && self.pair.public_key_raw().len() < 300 {
            // 2048-bit modulus: DER RSAPublicKey is 270 bytes (4096-bit keys are 526).
            Some(KeyAlgorithm::Rsa2048)
        } else {
            None
        }
    }

    /// DER SubjectPublicKeyInfo, to match a key with a certificate.
    pub fn spki(&self) -> Vec<u8> {
        self.pair.subject_public_key_info()
    }

    /// The public key as PEM (`PUBLIC KEY`).
    pub fn public_pem(&self) -> String {
        self.pair.public_key_pem()
    }
}

/// What `show certificates` and the reconciler need to know about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Subject as one line (`CN=kube-admin, O=system:masters`).
    pub subject: String,
    /// Subject common name.
    pub common_name: Option<String>,
    /// Subject organisations.
    pub organizations: Vec<String>,
    /// Issuer as one line.
    pub issuer: String,
    /// DNS names.
    pub dns_names: Vec<String>,
    /// IP addresses.
    pub ip_addresses: Vec<IpAddr>,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// Serial number, hex.
    pub serial: String,
    /// Basic constraints CA flag.
    pub is_ca: bool,
    /// Server-auth extended key usage.
    pub server_auth: bool,
    /// Client-auth extended key usage.
    pub client_auth: bool,
    /// DER SubjectPublicKeyInfo.
    pub spki: Vec<u8>,
    /// The DER certificate.
    pub der: Vec<u8>,
}

impl CertInfo {
    /// Whole days from `now` until expiry (negative once expired).
    pub fn days_left(&self, now: OffsetDateTime) -> i64 {
        (self.not_after - now).whole_days()
    }

    /// Whether `issuer`'s key signed this certificate (and the issuer names match).
    pub fn issued_by(&self, issuer: &CertInfo) -> bool {
        if self.issuer != issuer.subject {
            return false;
        }
        let (Ok((_, me)), Ok((_, ca))) = (
            X509Certificate::from_der(&self.der),
            X509Certificate::from_der(&issuer.der),
        ) else {
            return false;
        };
        me.verify_signature(Some(ca.public_key())).is_ok()
    }
}

/// Parses every certificate of a PEM file (a bundle has several).
pub fn parse_certificates(text: &str) -> Result<Vec<CertInfo>, PemError> {
    let blocks =
        pem::parse_many(text).map_err(|e| PemError::Malformed(format!("not a PEM file ({e})")))?;
    let certs: Vec<CertInfo> = blocks
        .iter()
        .filter(|b| b.tag() == "CERTIFICATE")
        .map(|b| inspect(b.contents()))
        .collect::<Result<_, _>>()?;
    if certs.is_empty() {
        return Err(PemError::Malformed("no CERTIFICATE block".into()));
    }
    Ok(certs)
}

/// Reads one DER certificate.
pub fn inspect(der: &[u8]) -> Result<CertInfo, PemError> {
    let (_, x) = X509Certificate::from_der(der)
        .map_err(|e| PemError::Malformed(format!("not an X.509 certificate ({e})")))?;
    let bad =
        |e: x509_parser::error::X509Error| PemError::Malformed(format!("bad extension ({e})"));
    let mut dns_names = Vec::new();
    let mut ip_addresses = Vec::new();
    if let Some(san) = x.subject_alternative_name().map_err(bad)? {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => dns_names.push((*d).to_owned()),
                GeneralName::IPAddress(b) => {
                    if let Ok(v4) = <[u8; 4]>::try_from(*b) {
                        ip_addresses.push(IpAddr::from(v4));
                    } else if let Ok(v6) = <[u8; 16]>::try_from(*b) {
                        ip_addresses.push(IpAddr::from(v6));
                    }
                }
                _ => {}
            }
        }
    }
    let (server_auth, client_auth) = match x.extended_key_usage().map_err(bad)? {
        Some(eku) => (eku.value.server_auth, eku.value.client_auth),
        None => (false, false),
    };
    let text_of = |attr: &x509_parser::x509::AttributeTypeAndValue<'_>| {
        attr.as_str().map(str::to_owned).unwrap_or_default()
    };
    Ok(CertInfo {
        subject: x.subject().to_string(),
        common_name: x.subject().iter_common_name().next().map(text_of),
        organizations: x.subject().iter_organization().map(text_of).collect(),
        issuer: x.issuer().to_string(),
        dns_names,
        ip_addresses,
        not_before: x.validity().not_before.to_datetime(),
        not_after: x.validity().not_after.to_datetime(),
        serial: x.raw_serial_as_string(),
        is_ca: x.is_ca(),
        server_auth,
        client_auth,
        spki: x.public_key().raw.to_vec(),
        der: der.to_vec(),
    })
}

/// PEM with LF line endings on every platform (the files are read on Linux nodes).
pub fn pem_encode(tag: &str, der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new(tag, der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// A CA able to sign: its certificate and key.
#[derive(Debug)]
pub struct Signer {
    /// The CA certificate.
    pub cert: CertInfo,
    /// The CA key.
    pub key: Key,
}

/// Tolerated clock skew between the machine issuing and the nodes (not-before is backdated).
const SKEW: Duration = Duration::minutes(5);

/// A self-signed CA certificate for `key`, valid `days` from `now`.
pub fn self_signed_ca(
    common_name: &str,
    key: &Key,
    days: u32,
    now: OffsetDateTime,
) -> Result<String, PemError> {
    let mut params = base_params(common_name, None, now, days, None)?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params
        .self_signed(&key.pair)
        .map_err(|e| PemError::Crypto(e.to_string()))?;
    Ok(cert.pem())
}

/// Issues the certificate `spec` for `key`, signed by `ca`. The lifetime never outlasts the CA.
pub fn issue(
    spec: &CertSpec,
    key: &Key,
    ca: &Signer,
    now: OffsetDateTime,
) -> Result<String, PemError> {
    let mut params = base_params(
        &spec.common_name,
        spec.organization,
        now,
        spec.validity_days,
        Some(ca.cert.not_after),
    )?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.use_authority_key_identifier_extension = true;
    params.key_usages = match key.algorithm() {
        Some(KeyAlgorithm::Rsa2048) | None => vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ],
        Some(KeyAlgorithm::EcdsaP256) => vec![KeyUsagePurpose::DigitalSignature],
    };
    if spec.usage.server() {
        params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ServerAuth);
    }
    if spec.usage.client() {
        params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ClientAuth);
    }
    for dns in &spec.dns_names {
        let name = dns
            .clone()
            .try_into()
            .map_err(|_| PemError::Malformed(format!("`{dns}` is not a valid DNS name")))?;
        params.subject_alt_names.push(SanType::DnsName(name));
    }
    params
        .subject_alt_names
        .extend(spec.ip_addresses.iter().map(|ip| SanType::IpAddress(*ip)));
    let issuer = Issuer::from_ca_cert_der(&ca.cert.der.clone().into(), &ca.key.pair)
        .map_err(|e| PemError::Crypto(e.to_string()))?;
    let cert = params
        .signed_by(&key.pair, &issuer)
        .map_err(|e| PemError::Crypto(e.to_string()))?;
    Ok(cert.pem())
}

fn base_params(
    common_name: &str,
    organization: Option<&str>,
    now: OffsetDateTime,
    days: u32,
    cap: Option<OffsetDateTime>,
) -> Result<CertificateParams, PemError> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    if let Some(o) = organization {
        dn.push(DnType::OrganizationName, o);
    }
    params.distinguished_name = dn;
    params.not_before = now - SKEW;
    let end = now
        .checked_add(Duration::days(i64::from(days)))
        .ok_or_else(|| PemError::Malformed(format!("a lifetime of {days} days is too long")))?;
    params.not_after = match cap {
        Some(cap) if cap < end => cap,
        _ => end,
    };
    params.serial_number = Some(random_serial()?);
    Ok(params)
}

/// A random positive 128-bit serial number (RFC 5280: unique per CA, at most 20 bytes).
fn random_serial() -> Result<SerialNumber, PemError> {
    let mut bytes = random_bytes::<16>()?;
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    Ok(SerialNumber::from_slice(&bytes))
}

/// `N` random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], PemError> {
    let mut out = [0u8; N];
    aws_lc_rs::rand::fill(&mut out).map_err(|_| PemError::Crypto("no randomness".into()))?;
    Ok(out)
}

/// Whether an existing certificate still matches its plan (subject, names, usages).
/// Returns the first difference, in words.
pub fn mismatch(spec: &CertSpec, cert: &CertInfo) -> Option<String> {
    if cert.common_name.as_deref() != Some(spec.common_name.as_str()) {
        return Some(format!(
            "subject CN is {:?}, the plan says {}",
            cert.common_name.as_deref().unwrap_or(""),
            spec.common_name
        ));
    }
    let orgs: Vec<&str> = spec.organization.into_iter().collect();
    if cert.organizations != orgs {
        return Some(format!(
            "subject O is {:?}, the plan says {:?}",
            cert.organizations, orgs
        ));
    }
    let missing_dns: Vec<&String> = spec
        .dns_names
        .iter()
        .filter(|d| !cert.dns_names.contains(d))
        .collect();
    let extra_dns: Vec<&String> = cert
        .dns_names
        .iter()
        .filter(|d| !spec.dns_names.contains(d))
        .collect();
    let missing_ip: Vec<&IpAddr> = spec
        .ip_addresses
        .iter()
        .filter(|i| !cert.ip_addresses.contains(i))
        .collect();
    let extra_ip: Vec<&IpAddr> = cert
        .ip_addresses
        .iter()
        .filter(|i| !spec.ip_addresses.contains(i))
        .collect();
    if !(missing_dns.is_empty()
        && extra_dns.is_empty()
        && missing_ip.is_empty()
        && extra_ip.is_empty())
    {
        let mut parts = Vec::new();
        for d in missing_dns {
            parts.push(format!("+{d}"));
        }
        for i in missing_ip {
            parts.push(format!("+{i}"));
        }
        for d in extra_dns {
            parts.push(format!("-{d}"));
        }
        for i in extra_ip {
            parts.push(format!("-{i}"));
        }
        return Some(format!("names changed ({})", parts.join(", ")));
    }
    let want = (spec.usage.server(), spec.usage.client());
    if (cert.server_auth, cert.client_auth) != want {
        return Some(format!(
            "key usage is {}, the plan says {}",
            usage_words(cert.server_auth, cert.client_auth),
            usage_words(want.0, want.1)
        ));
    }
    None
}

fn usage_words(server: bool, client: bool) -> &'static str {
    match (server, client) {
        (true, true) => "server+client",
        (true, false) => "server",
        (false, true) => "client",
        (false, false) => "none",
    }
}
