//! kubeline's AWS adapters: one small port (trait) per AWS service kubeline uses, an
//! implementation over the AWS SDK for each, and the KMS-sealed credential store built on them.
//!
//! Handlers and the CLI depend on the traits, so tests substitute fakes or aws-smithy-mocks
//! clients; only binaries construct SDK clients.

pub mod dns;
pub mod error;
pub mod executions;
pub mod kms;
pub mod networks;
pub mod notify;
pub mod sdk;
pub mod sealed;
pub mod stacks;
pub mod store;
