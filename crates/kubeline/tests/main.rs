//! The `kubeline` crate's integration tests as one test binary (one link; the moto pipelines
//! and the CLI runs share one pool of test threads): `cli` drives the binary, `pipeline` and
//! `tenancy` whole local pipelines on moto, with what they share in `support`.

mod cli;
mod pipeline;
mod support;
mod tenancy;
