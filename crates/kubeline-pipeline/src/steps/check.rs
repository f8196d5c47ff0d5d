//! Check: CloudFormation's ValidateTemplate on every stack, and the hosted zones of managed
//! DNS records must exist.

use kubeline_aws::dns::Dns;
use kubeline_aws::stacks::Stacks;
use kubeline_aws::store::ObjectStore;
use kubeline_core::errors::ErrorName;
use serde::{Deserialize, Serialize};

use super::bucket::{get_text, load_cluster};
use super::{RenderOutput, Run};
use crate::error::StepError;

/// What [`check_templates`] checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckOutput {
    /// Templates CloudFormation validated (those passed by URL are checked at change-set time).
    pub validated: usize,
}

/// Step 4: CloudFormation's ValidateTemplate on every stack, and the hosted zones of managed
/// DNS records must exist.
pub async fn check_templates<S: ObjectStore, C: Stacks, D: Dns>(
    store: &S,
    cfn: &C,
    dns: &D,
    run: &Run,
    rendered: &RenderOutput,
) -> Result<CheckOutput, StepError> {
    let cluster = load_cluster(store, run).await?;
    let mut validated = 0;
    for s in &rendered.stacks {
        if s.needs_template_url {
            continue;
        }
        let body = get_text(store, &s.template_key).await?.ok_or_else(|| {
            StepError::new(
                ErrorName::TemplateInvalid,
                format!("{} is missing", s.template_key),
            )
        })?;
        cfn.validate_template(&body).await.map_err(|e| {
            if e.is_transient() {
                StepError::from(e)
            } else {
                StepError::new(ErrorName::TemplateInvalid, format!("{}: {e}", s.name))
            }
        })?;
        validated += 1;
    }
    for ep in &cluster.api_endpoints {
        if let (true, Some(zone)) = (ep.record_set_managed, ep.hosted_zone_id.as_deref())
            && !dns.hosted_zone_exists(zone).await?
        {
            return Err(StepError::new(
                ErrorName::HostedZoneMissing,
                format!(
                    "apiEndpoints `{}`: hosted zone {zone} does not exist; create it or set recordSetManaged: false",
                    ep.name
                ),
            ));
        }
    }
    Ok(CheckOutput { validated })
}
