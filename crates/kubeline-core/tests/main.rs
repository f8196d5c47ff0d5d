//! The core's integration tests as one test binary (one link for all): `config` (the model,
//! the schema and validation), `credentials` (the credential rules), `node_iam` (node groups'
//! IAM identities), `policy` (the installation policy) and `render` (the examples' snapshots).

mod config;
mod credentials;
mod node_iam;
mod policy;
mod render;
