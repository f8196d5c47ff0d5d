//! The destroy Lambda: wires the AWS clients and serves [`kubeline_fn_destroy::handler`].

// The nested futures of the runtime loop need more than the default 128 levels.
#![recursion_limit = "256"]

use kubeline_aws::executions::StepFunctions;
use kubeline_aws::stacks::CloudFormation;
use kubeline_aws::store::S3Store;
use kubeline_fn_destroy::{Ports, handler};
use kubeline_pipeline::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let conf = lambda::aws_config().await;
    let ports = Ports {
        store: S3Store::new(kubeline_aws::sdk::s3(&conf), lambda::bucket()?),
        cfn: CloudFormation::new(kubeline_aws::sdk::cloudformation(&conf))
            .with_service_role(std::env::var("KUBELINE_CFN_ROLE_ARN").ok()),
        sfn: StepFunctions::new(kubeline_aws::sdk::sfn(&conf)),
    };
    lambda::serve("destroy", move |req| {
        let ports = ports.clone();
        async move { handler(&ports, req).await }
    })
    .await
}
