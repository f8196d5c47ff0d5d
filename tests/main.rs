//! kubeline's integration tests, one module per concern, built as one test binary: every file
//! beside this one is a module here (run one with `cargo test -p kubeline-tests --test
//! integration <module>::`). Tests that hold a machine-wide resource take turns through it
//! (the etcd lab's loopback addresses: `kubeline_tests::etcd_lab::Lab`).

mod addons;
mod api_reach;
mod cloud_provider;
mod cni;
mod consistency;
mod contracts;
mod credentials;
mod egress;
mod etcd_backup;
mod etcd_members;
mod gpu;
mod infra;
mod invalid_configs;
mod kms_moto;
mod kube_aws_corpus;
mod kube_aws_keys;
mod kubelet_serving;
mod lambda_tls;
mod node_access;
mod node_boot;
mod node_credentials;
mod node_drain;
mod node_iam;
mod node_logs;
mod node_ready;
mod node_units;
mod packages;
mod schema_walker;
mod service_accounts;
mod tenancy_iam;
mod tidy;
mod validators;
