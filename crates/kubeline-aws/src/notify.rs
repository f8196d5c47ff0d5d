//! The notification port (one SNS topic, chat format) and its SNS adapter.

use std::future::Future;

use crate::error::AwsError;

/// Publishes chat notifications.
pub trait Notifier: Send + Sync {
    /// Publishes `message` (the chat JSON) with a plain `subject`.
    fn publish(
        &self,
        subject: &str,
        message: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

#[cfg(feature = "sns")]
pub use self::sns::SnsNotifier;

#[cfg(feature = "sns")]
mod sns {
    use aws_sdk_sns::Client;

    use super::Notifier;
    use crate::error::{AwsError, classify};

    /// [`Notifier`] over aws-sdk-sns, for one topic.
    #[derive(Debug, Clone)]
    pub struct SnsNotifier {
        client: Client,
        topic_arn: String,
    }

    impl SnsNotifier {
        /// Publishes to `topic_arn`.
        pub fn new(client: Client, topic_arn: impl Into<String>) -> SnsNotifier {
            SnsNotifier {
                client,
                topic_arn: topic_arn.into(),
            }
        }
    }

    impl Notifier for SnsNotifier {
        async fn publish(&self, subject: &str, message: &str) -> Result<(), AwsError> {
            // SNS subjects: at most 100 ASCII characters.
            let subject: String = subject
                .chars()
                .filter(|c| c.is_ascii() && !c.is_ascii_control())
                .take(100)
                .collect();
            self.client
                .publish()
                .topic_arn(&self.topic_arn)
                .subject(subject)
                .message(message)
                .send()
                .await
                .map_err(|e| classify("SNS", &e))?;
            Ok(())
        }
    }
}
