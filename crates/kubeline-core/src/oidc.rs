//! IAM roles for service accounts: the cluster's service-account issuer published as an
//! OpenID Connect provider (a discovery document and a JWKS in the installation bucket, the
//! only objects anyone may read there), and the roles service accounts assume with the
//! tokens kube-apiserver signs. Facts and sources: docs/service-accounts.md.

use crate::addons::AddonName;
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

/// The service accounts of kubeline's own add-ons that call AWS, each with a role of its own
/// while the add-on is enabled (the instance roles carry none of their permissions).
pub const ADDON_SERVICE_ACCOUNTS: [(AddonName, &str, &str); 4] = [
    (
        AddonName::CloudControllerManager,
        "kube-system",
        "cloud-controller-manager",
    ),
    (
        AddonName::EbsCsiDriver,
        "kube-system",
        "ebs-csi-controller-sa",
    ),
    (
        AddonName::ClusterAutoscaler,
        "kube-system",
        "cluster-autoscaler",
    ),
    (
        AddonName::NodeTerminationHandler,
        "kube-system",
        "aws-node-termination-handler",
    ),
];

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
/// region; the CLI assumes the cluster's), on the bucket's regional endpoint.
pub fn issuer(cluster: &Cluster, bucket_region: &Region) -> Issuer {
    let keys = cluster.keys();
    let folder = cluster.s3.key(&keys.oidc());
    let folder = folder.trim_end_matches('/');
    let (bucket, region, suffix) = (
        &cluster.s3.bucket,
        bucket_region.as_str(),
        cluster.kms_key_arn.dns_suffix(),
    );
    // A bucket name with dots does not match S3's wildcard certificate in virtual-hosted
    // style; its issuer is path-style (the form of the pod identity webhook's self-hosted
    // guide).
    let host_path = if bucket.contains('.') {
        format!("s3.{region}.{suffix}/{bucket}/{folder}")
    } else {
        format!("{bucket}.s3.{region}.{suffix}/{folder}")
    };
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

/// The IAM role of a service account: `kubeline-<cluster>-sa-<8 hex digits of the SHA-256 of
/// "<namespace>/<name>">` (at most 45 characters; never a node role's name, whose last part is
/// `controller`, `etcd` or `pool-...`). Validation refuses two accounts whose digits collide.
pub fn role_name(cluster: &str, namespace: &str, name: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{namespace}/{name}").as_bytes());
    format!(
        "{}{cluster}-sa-{}",
        crate::cluster::STACK_PREFIX,
        hex::encode(&digest[..4])
    )
}

/// A role a service account assumes: one per enabled add-on of
/// [`ADDON_SERVICE_ACCOUNTS`], then one per `serviceAccounts[]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceAccountRoleSpec {
    /// The role's logical ID in the control-plane stack (`ServiceAccountRole` and the role
    /// name's 8 hex digits).
    pub logical_id: String,
    /// The role's name ([`role_name`]).
    pub role_name: String,
    /// The role's ARN (the value of `AWS_ROLE_ARN` in the pods).
    pub arn: String,
    /// The service account's namespace.
    pub namespace: String,
    /// The service account's name.
    pub name: String,
    /// The `sub` its tokens carry, the only one the role trusts.
    pub sub: String,
    /// The add-on whose policy the role has (none: a `serviceAccounts[]` entry).
    pub addon: Option<AddonName>,
    /// Managed policies attached (`serviceAccounts[].managedPolicies`).
    pub managed_policy_arns: Vec<String>,
}

/// Every service-account role of `cluster`, add-ons first.
pub fn roles(cluster: &Cluster) -> Vec<ServiceAccountRoleSpec> {
    let arn_of = |name: &str| {
        format!(
            "arn:{}:iam::{}:role/{name}",
            cluster.region.partition(),
            cluster.kms_key_arn.account()
        )
    };
    let spec = |namespace: &str, name: &str, addon, arns: Vec<String>| {
        let role_name = role_name(cluster.name.as_str(), namespace, name);
        ServiceAccountRoleSpec {
            logical_id: format!(
                "ServiceAccountRole{}",
                role_name.rsplit('-').next().unwrap_or_default()
            ),
            arn: arn_of(&role_name),
            role_name,
            namespace: namespace.into(),
            name: name.into(),
            sub: subject(namespace, name),
            addon,
            managed_policy_arns: arns,
        }
    };
    let addons = ADDON_SERVICE_ACCOUNTS
        .iter()
        .filter(|(addon, _, _)| cluster.addons.get(*addon).is_some())
        .map(|(addon, ns, name)| spec(ns, name, Some(*addon), Vec::new()));
    let own = cluster.service_accounts.iter().map(|sa| {
        spec(
            &sa.namespace,
            &sa.name,
            None,
            sa.managed_policy_arns.clone(),
        )
    });
    addons.chain(own).collect()
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
