//! kubeline's CLI as a library: the local pipeline (moto, the installation, the in-process
//! worker and router) that `kubeline local ...` and the integration tests drive.

pub mod local;
