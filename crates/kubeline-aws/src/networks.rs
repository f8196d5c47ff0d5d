//! The networks port (the tags of existing VPCs and subnets, which the installation policy
//! checks) and its EC2 adapter.

use std::collections::BTreeMap;
use std::future::Future;

use crate::error::AwsError;

/// Tags of each resource, by resource id.
pub type TagsById = BTreeMap<String, BTreeMap<String, String>>;

/// EC2 lookups.
pub trait Networks: Send + Sync {
    /// The tags of each of `ids` (VPCs, subnets); an id without tags, or that does not exist,
    /// has no entry.
    fn tags_of(&self, ids: &[String]) -> impl Future<Output = Result<TagsById, AwsError>> + Send;
}

#[cfg(feature = "ec2")]
pub use self::sdk::Ec2;

#[cfg(feature = "ec2")]
mod sdk {
    use aws_sdk_ec2::Client;
    use aws_sdk_ec2::types::Filter;

    use super::{Networks, TagsById};
    use crate::error::{AwsError, classify};

    /// [`Networks`] over aws-sdk-ec2: one paginated `DescribeTags` filtered by resource id
    /// (<https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeTags.html>).
    #[derive(Debug, Clone)]
    pub struct Ec2 {
        client: Client,
    }

    impl Ec2 {
        /// Wraps a configured client.
        pub fn new(client: Client) -> Ec2 {
            Ec2 { client }
        }
    }

    impl Networks for Ec2 {
        async fn tags_of(&self, ids: &[String]) -> Result<TagsById, AwsError> {
            let mut out = TagsById::new();
            if ids.is_empty() {
                return Ok(out);
            }
            let filter = Filter::builder()
                .name("resource-id")
                .set_values(Some(ids.to_vec()))
                .build();
            let mut pages = self
                .client
                .describe_tags()
                .filters(filter)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| classify("EC2", &e))?;
                for t in page.tags() {
                    if let (Some(id), Some(k)) = (t.resource_id(), t.key()) {
                        out.entry(id.to_owned())
                            .or_default()
                            .insert(k.to_owned(), t.value().unwrap_or_default().to_owned());
                    }
                }
            }
            Ok(out)
        }
    }
}
