//! The networks port (the tags of the existing VPCs, subnets, gateways, route tables, Elastic
//! IPs and security groups a cluster names, which the installation policy checks) and its
//! adapter over the Resource Groups Tagging API.

use std::collections::BTreeMap;
use std::future::Future;

use crate::error::AwsError;

/// Tags of each resource, by resource id.
pub type TagsById = BTreeMap<String, BTreeMap<String, String>>;

/// The EC2 resource types (as in their ARNs, `arn:aws:ec2:<region>:<account>:<type>/<id>`)
/// whose tags the policy reads: every kind of resource `policy::existing_network` returns.
pub const RESOURCE_TYPES: [&str; 7] = [
    "ec2:vpc",
    "ec2:subnet",
    "ec2:security-group",
    "ec2:internet-gateway",
    "ec2:route-table",
    "ec2:natgateway",
    "ec2:elastic-ip",
];

/// Tag lookups of existing network resources.
pub trait Networks: Send + Sync {
    /// The tags of each of `ids` that carries at least one of `wanted` (key, value); an id
    /// without any of them, or that does not exist, has no entry.
    fn tags_of(
        &self,
        ids: &[String],
        wanted: &[(String, String)],
    ) -> impl Future<Output = Result<TagsById, AwsError>> + Send;
}

/// The resource id at the end of an EC2 ARN (`…:vpc/vpc-0abc` → `vpc-0abc`).
pub fn id_of_arn(arn: &str) -> &str {
    arn.rsplit_once('/').map_or(arn, |(_, id)| id)
}

#[cfg(feature = "tagging")]
pub use self::sdk::Tagging;

#[cfg(feature = "tagging")]
mod sdk {
    use aws_sdk_resourcegroupstagging::Client;
    use aws_sdk_resourcegroupstagging::types::TagFilter;

    use super::{Networks, RESOURCE_TYPES, TagsById, id_of_arn};
    use crate::error::{AwsError, classify};

    /// [`Networks`] over aws-sdk-resourcegroupstagging: one paginated `GetResources` per wanted
    /// tag, filtered by that tag and by [`RESOURCE_TYPES`], so the answer holds only resources
    /// given to the cluster or its team (never every tagged resource of the account).
    /// `GetResources` returns resources however they were tagged, of every resource type
    /// (<https://docs.aws.amazon.com/resourcegroupstagging/latest/APIReference/API_GetResources.html>,
    /// <https://docs.aws.amazon.com/resourcegroupstagging/latest/APIReference/supported-services.html>).
    #[derive(Debug, Clone)]
    pub struct Tagging {
        client: Client,
    }

    impl Tagging {
        /// Wraps a configured client.
        pub fn new(client: Client) -> Tagging {
            Tagging { client }
        }
    }

    impl Networks for Tagging {
        async fn tags_of(
            &self,
            ids: &[String],
            wanted: &[(String, String)],
        ) -> Result<TagsById, AwsError> {
            let mut out = TagsById::new();
            if ids.is_empty() {
                return Ok(out);
            }
            for (key, value) in wanted {
                let filter = TagFilter::builder().key(key).values(value).build();
                let mut pages = self
                    .client
                    .get_resources()
                    .tag_filters(filter)
                    .set_resource_type_filters(Some(
                        RESOURCE_TYPES.iter().map(|t| (*t).to_owned()).collect(),
                    ))
                    .resources_per_page(100)
                    .into_paginator()
                    .send();
                while let Some(page) = pages.next().await {
                    let page = page.map_err(|e| classify("Resource Groups Tagging", &e))?;
                    for mapping in page.resource_tag_mapping_list() {
                        let Some(id) = mapping.resource_arn().map(id_of_arn) else {
                            continue;
                        };
                        if !ids.iter().any(|i| i == id) {
                            continue;
                        }
                        let tags = out.entry(id.to_owned()).or_default();
                        for t in mapping.tags() {
                            tags.insert(t.key().to_owned(), t.value().to_owned());
                        }
                    }
                }
            }
            Ok(out)
        }
    }
}
