//! kubeline's pure core: cluster.yaml model and validation, rendering. No I/O.
pub mod check;
pub mod cluster;
pub mod diag;
pub mod model;
pub mod types;
pub mod validate;
pub mod yaml;
