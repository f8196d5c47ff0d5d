//! The DNS port (does a hosted zone exist) and its Route53 adapter.

use std::future::Future;

use crate::error::AwsError;

/// Route53 lookups.
pub trait Dns: Send + Sync {
    /// Whether hosted zone `id` exists.
    fn hosted_zone_exists(&self, id: &str) -> impl Future<Output = Result<bool, AwsError>> + Send;
}

#[cfg(feature = "route53")]
pub use self::r53::Route53;

#[cfg(feature = "route53")]
mod r53 {
    use aws_sdk_route53::Client;

    use super::Dns;
    use crate::error::{AwsError, classify};

    /// [`Dns`] over aws-sdk-route53.
    #[derive(Debug, Clone)]
    pub struct Route53 {
        client: Client,
    }

    impl Route53 {
        /// Wraps a configured client.
        pub fn new(client: Client) -> Route53 {
            Route53 { client }
        }
    }

    impl Dns for Route53 {
        async fn hosted_zone_exists(&self, id: &str) -> Result<bool, AwsError> {
            match self.client.get_hosted_zone().id(id).send().await {
                Ok(_) => Ok(true),
                Err(e) => {
                    let err = classify("Route53", &e);
                    if matches!(err.code(), Some("NoSuchHostedZone")) {
                        Ok(false)
                    } else {
                        Err(err)
                    }
                }
            }
        }
    }
}
