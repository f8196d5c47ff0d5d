//! The names of a cluster's credential files and which of them are secret: shared by the
//! credential rules, the sealed store and the credentials generation of node configs (none of
//! which needs the PKI to know a file's name).

use std::collections::BTreeMap;

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
/// Its public key as a JSON Web Key Set: the service-account issuer's JWKS, which the pipeline
/// publishes for IAM roles for service accounts (`oidc`).
pub const SA_JWKS: &str = "service-account-jwks.json";
/// kube-apiserver's static token file.
pub const TOKENS: &str = "tokens.csv";
/// The token kubelets present to bootstrap their client certificates.
pub const BOOTSTRAP_TOKEN: &str = "kubelet-tls-bootstrap-token";
/// kube-apiserver's encryption-at-rest configuration.
pub const ENCRYPTION_CONFIG: &str = "encryption-config.yaml";

/// Whether a credential file is secret (stored encrypted, never shipped in plain).
pub fn is_secret(name: &str) -> bool {
    name.ends_with("-key.pem") || matches!(name, TOKENS | BOOTSTRAP_TOKEN | ENCRYPTION_CONFIG)
}
