//! kubeline's pure core: the cluster.yaml model and its validation, the asset layout, and
//! rendering of CloudFormation stacks, Ignition node configs and kubeconfigs. No I/O, no async.
//! Features `render` (minijinja and the templates) and `pki` (certificates and the credential
//! rules) are on by default; a Lambda enables only what it uses.
pub mod addons;
pub mod arn;
pub mod check;
pub mod cluster;
pub mod credential_files;
#[cfg(feature = "pki")]
pub mod credentials;
pub mod diag;
pub mod envelope;
pub mod errors;
#[cfg(feature = "render")]
pub mod init;
pub mod kube_aws;
pub mod layout;
pub mod model;
pub mod oidc;
pub mod pipeline;
#[cfg(feature = "pki")]
pub mod pki;
pub mod policy;
#[cfg(feature = "pki")]
pub mod reconcile;
#[cfg(feature = "render")]
pub mod render;
pub mod types;
pub mod validate;
pub mod yaml;
