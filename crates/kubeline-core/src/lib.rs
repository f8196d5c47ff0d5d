//! kubeline's pure core: the cluster.yaml model and its validation, the asset layout, and
//! rendering of CloudFormation stacks, Ignition node configs and kubeconfigs. No I/O, no async.
pub mod addons;
pub mod check;
pub mod cluster;
pub mod credentials;
pub mod diag;
pub mod envelope;
pub mod errors;
pub mod init;
pub mod layout;
pub mod model;
pub mod pipeline;
pub mod pki;
pub mod reconcile;
pub mod render;
pub mod types;
pub mod validate;
pub mod yaml;
