//! The chat port (publish one notification to the installation's topic) and its SNS adapter.
//! Run notifications are published by the state machines; a function publishes only what no
//! run carries (a deleted cluster.yaml).

use std::future::Future;

use crate::error::AwsError;

/// The installation's chat topic.
pub trait Notifier: Send + Sync {
    /// Publishes `message` (an Amazon Q Developer custom notification, as JSON text).
    fn publish(&self, message: String) -> impl Future<Output = Result<(), AwsError>> + Send;
}

#[cfg(feature = "sns")]
pub use self::sdk::Sns;

#[cfg(feature = "sns")]
mod sdk {
    use aws_sdk_sns::Client;

    use super::Notifier;
    use crate::error::{AwsError, classify};

    /// [`Notifier`] over aws-sdk-sns, publishing to one topic.
    #[derive(Debug, Clone)]
    pub struct Sns {
        client: Client,
        topic_arn: String,
    }

    impl Sns {
        /// Publishes to `topic_arn` with a configured client.
        pub fn new(client: Client, topic_arn: impl Into<String>) -> Sns {
            Sns {
                client,
                topic_arn: topic_arn.into(),
            }
        }
    }

    impl Notifier for Sns {
        async fn publish(&self, message: String) -> Result<(), AwsError> {
            self.client
                .publish()
                .topic_arn(&self.topic_arn)
                .message(message)
                .send()
                .await
                .map_err(|e| classify("SNS", &e))?;
            Ok(())
        }
    }
}
