//! The credentials Lambda: wires the AWS clients and serves [`kubeline_fn_credentials::handler`].

// The nested futures of the runtime loop need more than the default 128 levels.
#![recursion_limit = "256"]

use kubeline_aws::kms::AwsKms;
use kubeline_aws::store::S3Store;
use kubeline_fn_credentials::{Ports, Settings, handler};
use kubeline_pipeline::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let conf = lambda::aws_config().await;
    let ports = Ports {
        store: S3Store::new(kubeline_aws::sdk::s3(&conf), lambda::bucket()?),
        kms: AwsKms::new(kubeline_aws::sdk::kms(&conf)),
    };
    let settings = Settings {
        renew_within_days: lambda::env_number("KUBELINE_RENEW_WITHIN_DAYS")?
            .unwrap_or(kubeline_core::reconcile::DEFAULT_RENEW_WITHIN_DAYS),
    };
    lambda::serve("credentials", move |req| {
        let ports = ports.clone();
        async move { handler(&ports, &settings, req).await }
    })
    .await
}
