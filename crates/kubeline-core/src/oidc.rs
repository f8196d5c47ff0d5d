//! IAM roles for service accounts: the cluster's service-account issuer published as an
//! OpenID Connect provider (a discovery document and a JWKS in the installation bucket, the
//! only objects anyone may read there), and the roles service accounts assume with the
//! tokens kube-apiserver signs. Facts and sources: docs/service-accounts.md.

use crate::cluster::Cluster;
use crate::types::Region;
use serde::Serialize;

/// The audience of the tokens pods present to STS (`AssumeRoleWithWebIdentity`), and the one
/// client ID of the IAM OIDC provider.
pub const AUDIENCE: &str = "sts.amazonaws.com";
/// The issuer kube-apiserver used before the issuer moved to the bucket: still accepted (its
/// second `--service-account-issuer`) and still the API audience, so the tokens pods already
/// hold keep working through the update.
pub const IN_CLUSTER_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// Where the projected token is mounted in the pods of kubeline's add-ons (the path the pod
/// identity webhook uses, so the SDKs' documentation applies word for word).
pub const TOKEN_DIR: &str = "/var/run/secrets/eks.amazonaws.com/serviceaccount";
/// The projected token's lifetime: kubelet renews it at 80 % of it.
pub const TOKEN_SECONDS: u32 = 86_400;

/// A cluster's service-account issuer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issuer {
    /// `https://<bucket>.s3.<bucket region>.<suffix>/<s3URI prefix/>clusters/<name>/oidc`.
    pub url: String,
    /// The URL without `https://`: the IAM provider's name and the prefix of its condition
    /// keys (`<host_path>:sub`, `<host_path>:aud`).
    pub host_path: String,
    /// The JWKS's URL (the discovery document's `jwks_uri`, kube-apiserver's
    /// `--service-account-jwks-uri`).
    pub jwks_url: String,
    /// Bucket key of the discovery document.
    pub discovery_key: String,
    /// Bucket key of the JWKS.
    pub jwks_key: String,
}

/// The issuer of `cluster`, served from its bucket in `bucket_region` (the installation's
/// region; the CLI assumes the cluster's). Virtual-hosted-style on the regional endpoint: the
/// form S3 documents for every bucket without dots (validation refuses dotted buckets).
pub fn issuer(cluster: &Cluster, bucket_region: &Region) -> Issuer {
    let keys = cluster.keys();
    let folder = cluster.s3.key(&keys.oidc());
    let folder = folder.trim_end_matches('/');
    let host_path = format!(
        "{}.s3.{}.{}/{folder}",
        cluster.s3.bucket,
        bucket_region.as_str(),
        cluster.kms_key_arn.dns_suffix()
    );
    Issuer {
        url: format!("https://{host_path}"),
        jwks_url: format!("https://{host_path}/keys.json"),
        host_path,
        discovery_key: cluster.s3.key(&keys.oidc_discovery()),
        jwks_key: cluster.s3.key(&keys.oidc_jwks()),
    }
}

/// The discovery document (OpenID Connect Discovery 1.0 §3, the fields kube-apiserver serves
/// at `/.well-known/openid-configuration`), for keys signing with `algorithms`.
pub fn discovery_document(issuer: &Issuer, algorithms: &[String]) -> String {
    let doc = serde_json::json!({
        "issuer": issuer.url,
        "jwks_uri": issuer.jwks_url,
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algorithms,
    });
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}

/// The signing algorithms of a JWKS's keys (`alg`), in order, without repeats; empty when the
/// text is not a JWKS.
pub fn jwks_algorithms(jwks: &str) -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct Set {
        keys: Vec<Key>,
    }
    #[derive(serde::Deserialize)]
    struct Key {
        alg: String,
    }
    let mut algs: Vec<String> = Vec::new();
    if let Ok(set) = serde_json::from_str::<Set>(jwks) {
        for k in set.keys {
            if !algs.contains(&k.alg) {
                algs.push(k.alg);
            }
        }
    }
    algs
}

/// The `sub` claim of a service account's tokens.
pub fn subject(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

#[cfg(feature = "pki")]
pub use jwks::{JwksError, jwks, key_id};

#[cfg(feature = "pki")]
mod jwks {
    //! The JWKS of the service-account key (RFC 7517/7518), with kube-apiserver's key ID.
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use sha2::{Digest, Sha256};
    use x509_parser::prelude::FromDer;
    use x509_parser::public_key::PublicKey;
    use x509_parser::x509::SubjectPublicKeyInfo;

    /// A public key that cannot be published as a JWK.
    #[derive(Debug, thiserror::Error, PartialEq, Eq)]
    #[error("the service-account public key {0}")]
    pub struct JwksError(String);

    /// kube-apiserver's key ID of a public key (`keyIDFromPublicKey`): the SHA-256 of its
    /// PKIX (SubjectPublicKeyInfo) DER, base64url without padding. Tokens carry it as `kid`.
    pub fn key_id(spki_der: &[u8]) -> String {
        B64.encode(Sha256::digest(spki_der))
    }

    /// The JWKS holding the public key of `spki_der` (an RSA or P-256 key), as published.
    pub fn jwks(spki_der: &[u8]) -> Result<String, JwksError> {
        let (rest, spki) = SubjectPublicKeyInfo::from_der(spki_der)
            .map_err(|e| JwksError(format!("is not a SubjectPublicKeyInfo ({e})")))?;
        if !rest.is_empty() {
            return Err(JwksError("has bytes after its DER".into()));
        }
        let kid = key_id(spki_der);
        let key = match spki
            .parsed()
            .map_err(|e| JwksError(format!("cannot be read ({e})")))?
        {
            PublicKey::RSA(rsa) => {
                let strip = |b: &[u8]| {
                    let i = b.iter().position(|&x| x != 0).unwrap_or(b.len());
                    B64.encode(&b[i..])
                };
                serde_json::json!({
                    "use": "sig", "kty": "RSA", "kid": kid, "alg": "RS256",
                    "n": strip(rsa.modulus), "e": strip(rsa.exponent),
                })
            }
            PublicKey::EC(point) => {
                let p256 = x509_parser::oid_registry::OID_EC_P256;
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok());
                let bytes = point.data();
                if curve != Some(p256) || bytes.len() != 65 || bytes[0] != 4 {
                    return Err(JwksError(
                        "is an EC key that is not an uncompressed P-256 point".into(),
                    ));
                }
                serde_json::json!({
                    "use": "sig", "kty": "EC", "kid": kid, "alg": "ES256", "crv": "P-256",
                    "x": B64.encode(&bytes[1..33]), "y": B64.encode(&bytes[33..]),
                })
            }
            _ => return Err(JwksError("is neither an RSA nor a P-256 key".into())),
        };
        let mut text = serde_json::to_string_pretty(&serde_json::json!({"keys": [key]}))
            .map_err(|e| JwksError(e.to_string()))?;
        text.push('\n');
        Ok(text)
    }
}
