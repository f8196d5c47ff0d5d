//! SDK clients from one shared configuration, with the settings kubeline needs everywhere
//! (S3 path-style addressing, which a loopback emulator endpoint requires).

pub use aws_types::SdkConfig;

/// An S3 client (path-style).
#[cfg(feature = "s3")]
pub fn s3(conf: &SdkConfig) -> aws_sdk_s3::Client {
    let c = aws_sdk_s3::config::Builder::from(conf)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(c)
}

/// A KMS client.
#[cfg(feature = "kms")]
pub fn kms(conf: &SdkConfig) -> aws_sdk_kms::Client {
    aws_sdk_kms::Client::new(conf)
}

/// A CloudFormation client.
#[cfg(feature = "cloudformation")]
pub fn cloudformation(conf: &SdkConfig) -> aws_sdk_cloudformation::Client {
    aws_sdk_cloudformation::Client::new(conf)
}

/// A Step Functions client.
#[cfg(feature = "sfn")]
pub fn sfn(conf: &SdkConfig) -> aws_sdk_sfn::Client {
    aws_sdk_sfn::Client::new(conf)
}

/// A Route53 client.
#[cfg(feature = "route53")]
pub fn route53(conf: &SdkConfig) -> aws_sdk_route53::Client {
    aws_sdk_route53::Client::new(conf)
}

/// A Resource Groups Tagging API client.
#[cfg(feature = "tagging")]
pub fn tagging(conf: &SdkConfig) -> aws_sdk_resourcegroupstagging::Client {
    aws_sdk_resourcegroupstagging::Client::new(conf)
}

/// An SNS client.
#[cfg(feature = "sns")]
pub fn sns(conf: &SdkConfig) -> aws_sdk_sns::Client {
    aws_sdk_sns::Client::new(conf)
}
