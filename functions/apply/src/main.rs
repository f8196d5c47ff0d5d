//! The apply Lambda: wires the AWS clients and serves [`kubeline_fn_apply::handler`].

// The nested futures of the runtime loop need more than the default 128 levels.
#![recursion_limit = "256"]

use kubeline_aws::executions::StepFunctions;
use kubeline_aws::stacks::CloudFormation;
use kubeline_aws::store::S3Store;
use kubeline_fn_apply::{Ports, handler};
use kubeline_pipeline::lambda;
use kubeline_pipeline::steps::ApplySettings;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let conf = lambda::aws_config().await;
    let ports = Ports {
        store: S3Store::new(kubeline_aws::sdk::s3(&conf), lambda::bucket()?),
        cfn: CloudFormation::new(kubeline_aws::sdk::cloudformation(&conf))
            .with_service_role(std::env::var("KUBELINE_CFN_ROLE_ARN").ok())
            .with_parameter(
                kubeline_core::pipeline::NODE_ROLE_BOUNDARY_PARAMETER,
                lambda::env_text("KUBELINE_NODE_ROLE_BOUNDARY_ARN"),
            )
            .with_parameter(
                kubeline_core::pipeline::SERVICE_ACCOUNT_ROLE_BOUNDARY_PARAMETER,
                lambda::env_text("KUBELINE_SERVICE_ACCOUNT_ROLE_BOUNDARY_ARN"),
            ),
        sfn: StepFunctions::new(kubeline_aws::sdk::sfn(&conf)),
    };
    let settings = ApplySettings {
        max_parallel_stacks: lambda::env_number("KUBELINE_MAX_PARALLEL_STACKS")?
            .map_or(ApplySettings::default().max_parallel_stacks, |n| n as usize),
    };
    lambda::serve("apply", move |req| {
        let ports = ports.clone();
        async move { handler(&ports, &settings, req).await }
    })
    .await
}
