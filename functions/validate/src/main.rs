//! The validate Lambda: wires the AWS clients and serves [`kubeline_fn_validate::handler`].

// The nested futures of the runtime loop need more than the default 128 levels.
#![recursion_limit = "256"]

use kubeline_aws::dns::Route53;
use kubeline_aws::executions::StepFunctions;
use kubeline_aws::networks::Tagging;
use kubeline_aws::notify::Sns;
use kubeline_aws::stacks::CloudFormation;
use kubeline_aws::store::S3Store;
use kubeline_fn_validate::{Ports, Settings, handler};
use kubeline_pipeline::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let conf = lambda::aws_config().await;
    let ports = Ports {
        store: S3Store::new(kubeline_aws::sdk::s3(&conf), lambda::bucket()?),
        cfn: CloudFormation::new(kubeline_aws::sdk::cloudformation(&conf)),
        dns: Route53::new(kubeline_aws::sdk::route53(&conf)),
        sfn: StepFunctions::new(kubeline_aws::sdk::sfn(&conf)),
        net: Tagging::new(kubeline_aws::sdk::tagging(&conf)),
        chat: Sns::new(
            kubeline_aws::sdk::sns(&conf),
            lambda::env_text("KUBELINE_TOPIC_ARN").ok_or("KUBELINE_TOPIC_ARN is not set")?,
        ),
    };
    let settings = std::sync::Arc::new(Settings {
        require_approval: lambda::env_flag("KUBELINE_REQUIRE_APPROVAL"),
        hosted_zone_ids: lambda::env_list("KUBELINE_HOSTED_ZONE_IDS"),
        kms_key_arn: lambda::env_text("KUBELINE_KMS_KEY_ARN"),
    });
    lambda::serve("validate", move |req| {
        let ports = ports.clone();
        let settings = settings.clone();
        async move { handler(&ports, &settings, req).await }
    })
    .await
}
