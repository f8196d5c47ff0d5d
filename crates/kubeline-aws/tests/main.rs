//! The adapters' integration tests as one test binary: `kms_mocks`, `s3_mocks` and
//! `tagging_mocks` (requests and error mapping against aws-smithy-mocks), `sealed` (the sealed
//! store over an in-memory KMS).

mod kms_mocks;
mod s3_mocks;
mod sealed;
mod tagging_mocks;
