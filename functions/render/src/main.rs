//! The render Lambda: wires the AWS clients and serves [`kubeline_fn_render::handler`].

// The nested futures of the runtime loop need more than the default 128 levels.
#![recursion_limit = "256"]

use kubeline_aws::store::S3Store;
use kubeline_fn_render::{Ports, handler};
use kubeline_pipeline::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let conf = lambda::aws_config().await;
    let ports = Ports {
        store: S3Store::new(kubeline_aws::sdk::s3(&conf), lambda::bucket()?),
        bucket_region: conf.region().and_then(|r| r.as_ref().parse().ok()),
    };
    lambda::serve("render", move |req| {
        let ports = ports.clone();
        async move { handler(&ports, req).await }
    })
    .await
}
