//! Change sets as the plan and apply steps use them: the request for a stack, what a described
//! one means, and the error that names a failed stack's failed resources.

use kubeline_aws::stacks::{ChangeSetInfo, ChangeSetRequest, Stacks};
use kubeline_aws::store::ObjectStore;
use kubeline_core::errors::ErrorName;
use kubeline_core::pipeline::ResourceChange;
use serde::Deserialize;

use super::bucket::get_text;
use super::{RenderedStack, Run};
use crate::decide::ChangeSetView;
use crate::error::StepError;

/// The typed view of a described change set, for the decisions.
/// Refuses to touch an existing stack that is not `cluster`'s ([`kubeline_core::pipeline::check_owner`]).
pub(crate) fn owned(
    info: Option<&kubeline_aws::stacks::StackInfo>,
    cluster: &str,
) -> Result<(), StepError> {
    match info {
        Some(i) => kubeline_core::pipeline::check_owner(&i.name, &i.tags, cluster)
            .map_err(|e| StepError::new(ErrorName::StackNotOwned, e)),
        None => Ok(()),
    }
}

pub(crate) fn view(info: &ChangeSetInfo) -> ChangeSetView {
    ChangeSetView {
        status: info.status.clone(),
        reason: info.reason.clone(),
        execution: info.execution_status.clone(),
    }
}

/// The template of `s` (it must exist: the render uploaded it).
pub(crate) async fn template<S: ObjectStore>(
    store: &S,
    s: &RenderedStack,
) -> Result<String, StepError> {
    get_text(store, &s.template_key).await?.ok_or_else(|| {
        StepError::new(
            ErrorName::TemplateInvalid,
            format!("{} is missing", s.template_key),
        )
    })
}

/// The change set of this run for `s`: by body, or by S3 URL for a large template.
pub(crate) async fn request<S: ObjectStore>(
    store: &S,
    run: &Run,
    s: &RenderedStack,
    create: bool,
) -> Result<ChangeSetRequest, StepError> {
    let (template_body, template_url) = if s.needs_template_url {
        let url = format!("https://{}.s3.amazonaws.com/{}", run.bucket, s.template_key);
        (None, Some(url))
    } else {
        (Some(template(store, s).await?), None)
    };
    Ok(ChangeSetRequest {
        stack: s.name.clone(),
        name: run.change_set_name(&s.name),
        template_body,
        template_url,
        create,
        tags: s.tags.clone(),
        parameters: s.parameters.clone(),
    })
}

#[derive(Debug, Deserialize)]
struct Template {
    #[serde(rename = "Resources", default)]
    resources: std::collections::BTreeMap<String, TemplateResource>,
}

#[derive(Debug, Deserialize)]
struct TemplateResource {
    #[serde(rename = "Type", default)]
    kind: String,
}

/// A new stack planned from its template: every resource is added.
pub(crate) fn template_resources(body: &str) -> Vec<ResourceChange> {
    serde_json::from_str::<Template>(body)
        .map(|t| {
            t.resources
                .into_iter()
                .map(|(id, r)| ResourceChange {
                    action: "Add".into(),
                    logical_id: id,
                    resource_type: r.kind,
                    replacement: None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The cause naming a failed stack and up to five of its failed resources.
pub(crate) async fn stack_failure<C: Stacks>(cfn: &C, stack: &str, status: &str) -> String {
    let reasons = match cfn.failed_resources(stack).await {
        Ok(f) if !f.is_empty() => f
            .iter()
            .take(5)
            .map(|r| {
                format!(
                    "{} ({}): {}: {}",
                    r.logical_id, r.resource_type, r.status, r.reason
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        _ => "no failed resource events".into(),
    };
    format!("stack {stack} is {status}: {reasons}")
}

/// A change set that failed for `reason`.
pub(crate) fn change_set_failed(name: &str, stack: &str, reason: &str) -> StepError {
    StepError::new(
        ErrorName::ChangeSetFailed,
        format!("change set {name} of stack {stack} failed: {reason}"),
    )
}
