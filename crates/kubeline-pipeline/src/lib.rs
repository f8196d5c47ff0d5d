//! kubeline's pipeline steps: what each Lambda does for one run of one cluster, written over
//! the AWS ports so that the Lambdas (production) and the local runner (moto) execute the same
//! code. Every step is idempotent and short: waiting happens in the state machine's Wait/Choice
//! loops, never here. Decisions are pure ([`decide`]); errors carry the stable names the state
//! machine's Retry/Catch use.

pub mod decide;
pub mod error;
#[cfg(feature = "lambda")]
pub mod lambda;
#[cfg(all(
    feature = "lambda",
    not(any(feature = "tls-ring", feature = "tls-aws-lc"))
))]
compile_error!("feature `lambda` needs a TLS crypto: enable `tls-ring` (or `tls-aws-lc`)");
pub mod steps;
pub mod telemetry;

pub use error::{ErrorName, StepError, to_json};
