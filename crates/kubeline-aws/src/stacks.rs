//! The CloudFormation port (stacks, change sets, events, template checks) and its adapter.

use std::collections::BTreeMap;
use std::future::Future;

use kubeline_core::pipeline::cfn::{
    ChangeSetStatus, DriftDetectionStatus, ExecutionStatus, StackDriftStatus, StackStatus,
};
use kubeline_core::pipeline::{DriftedResource, ResourceChange};

use crate::error::AwsError;

/// A stack as described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackInfo {
    /// Name.
    pub name: String,
    /// Status.
    pub status: StackStatus,
    /// Status reason.
    pub reason: Option<String>,
    /// Outputs.
    pub outputs: BTreeMap<String, String>,
    /// Termination protection.
    pub termination_protection: bool,
    /// Stack tags (`kubeline.io/cluster` names the cluster that owns it).
    pub tags: BTreeMap<String, String>,
}

/// A change set to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSetRequest {
    /// Stack.
    pub stack: String,
    /// Change set name.
    pub name: String,
    /// Template body (up to 51,200 bytes).
    pub template_body: Option<String>,
    /// Template URL (S3), for larger templates.
    pub template_url: Option<String>,
    /// CREATE (new stack) or UPDATE.
    pub create: bool,
    /// Stack tags.
    pub tags: BTreeMap<String, String>,
    /// The installation-supplied parameters its template declares; the adapter gives each
    /// the value it was configured with ([`CloudFormation::with_parameter`]), and leaves a
    /// parameter it has no value for at the template's default.
    pub parameters: Vec<String>,
}

/// A change set as described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSetInfo {
    /// Status.
    pub status: ChangeSetStatus,
    /// Why it failed.
    pub reason: Option<String>,
    /// Whether it can be (or was) executed.
    pub execution_status: Option<ExecutionStatus>,
    /// Its resource changes.
    pub changes: Vec<ResourceChange>,
}

/// An event of a stack's resource (not of the stack itself), from the stack events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceEvent {
    /// Logical ID.
    pub logical_id: String,
    /// Type.
    pub resource_type: String,
    /// Status, e.g. `CREATE_FAILED`.
    pub status: String,
    /// Reason.
    pub reason: String,
    /// When, RFC 3339 (empty when CloudFormation gives none).
    pub timestamp: String,
}

/// A drift detection as described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriftDetection {
    /// Where the detection is.
    pub status: DriftDetectionStatus,
    /// Once complete, whether the stack drifted.
    pub stack_drift_status: Option<StackDriftStatus>,
    /// Why detection failed.
    pub reason: Option<String>,
}

/// CloudFormation.
pub trait Stacks: Send + Sync {
    /// The stack, or `None` when it does not exist.
    fn describe_stack(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<StackInfo>, AwsError>> + Send;
    /// Creates a change set; returns its id.
    fn create_change_set(
        &self,
        req: &ChangeSetRequest,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;
    /// Describes a change set, or `None` when it (or its stack) does not exist.
    fn describe_change_set(
        &self,
        stack: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<ChangeSetInfo>, AwsError>> + Send;
    /// Executes a change set.
    fn execute_change_set(
        &self,
        stack: &str,
        name: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Deletes a change set.
    fn delete_change_set(
        &self,
        stack: &str,
        name: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Starts deleting a stack.
    fn delete_stack(&self, name: &str) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// The stack's latest resource events (the first page, about 100), newest first.
    fn resource_events(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Vec<ResourceEvent>, AwsError>> + Send;
    /// The resources that failed in the stack's latest operation, newest first.
    fn failed_resources(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Vec<ResourceEvent>, AwsError>> + Send {
        async move {
            Ok(self
                .resource_events(name)
                .await?
                .into_iter()
                .filter(|e| e.status.ends_with("_FAILED"))
                .collect())
        }
    }
    /// Checks a template with CloudFormation.
    fn validate_template(&self, body: &str) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Starts drift detection of a stack; returns the detection id.
    fn detect_drift(&self, stack: &str) -> impl Future<Output = Result<String, AwsError>> + Send;
    /// Describes a drift detection.
    fn drift_detection(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<DriftDetection, AwsError>> + Send;
    /// The stack's resources that are modified or deleted.
    fn drifted_resources(
        &self,
        stack: &str,
    ) -> impl Future<Output = Result<Vec<DriftedResource>, AwsError>> + Send;
    /// The value of each of `names` that some stack of this Region and account exports; a name
    /// nothing exports has no entry.
    fn export_values(
        &self,
        names: &[String],
    ) -> impl Future<Output = Result<BTreeMap<String, String>, AwsError>> + Send;
}

#[cfg(feature = "cloudformation")]
pub use self::cfn::CloudFormation;

#[cfg(feature = "cloudformation")]
mod cfn {
    use aws_sdk_cloudformation::Client;
    use std::collections::BTreeMap;

    use aws_sdk_cloudformation::types::{Capability, ChangeSetType, Parameter, Tag};
    use kubeline_core::pipeline::ResourceChange;

    use aws_sdk_cloudformation::types::StackResourceDriftStatus;

    use kubeline_core::pipeline::DriftedResource;

    use super::{
        ChangeSetInfo, ChangeSetRequest, ChangeSetStatus, DriftDetection, DriftDetectionStatus,
        ExecutionStatus, ResourceEvent, StackDriftStatus, StackInfo, StackStatus, Stacks,
    };
    use crate::error::{AwsError, classify};

    /// [`Stacks`] over aws-sdk-cloudformation.
    #[derive(Debug, Clone)]
    pub struct CloudFormation {
        client: Client,
        role_arn: Option<String>,
        parameters: BTreeMap<String, String>,
    }

    impl CloudFormation {
        /// Wraps a configured client.
        pub fn new(client: Client) -> CloudFormation {
            CloudFormation {
                client,
                role_arn: None,
                parameters: BTreeMap::new(),
            }
        }

        /// Creates and deletes stacks through this CloudFormation service role, so that the
        /// caller needs no rights on the resources themselves (only iam:PassRole on it).
        pub fn with_service_role(mut self, role_arn: Option<String>) -> CloudFormation {
            self.role_arn = role_arn.filter(|r| !r.is_empty());
            self
        }

        /// Gives template parameter `name` the installation's `value` in every change set
        /// whose request names it (an unset or empty value is not passed: the template's
        /// default applies).
        pub fn with_parameter(mut self, name: &str, value: Option<String>) -> CloudFormation {
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                self.parameters.insert(name.to_owned(), v);
            }
            self
        }
    }

    const SERVICE: &str = "CloudFormation";

    impl Stacks for CloudFormation {
        async fn describe_stack(&self, name: &str) -> Result<Option<StackInfo>, AwsError> {
            let out = match self.client.describe_stacks().stack_name(name).send().await {
                Ok(o) => o,
                Err(e) => {
                    let err = classify(SERVICE, &e);
                    if let AwsError::Invalid { message, .. } = &err
                        && message.contains("does not exist")
                    {
                        return Ok(None);
                    }
                    return Err(err);
                }
            };
            let Some(s) = out.stacks().first() else {
                return Ok(None);
            };
            Ok(Some(StackInfo {
                name: s.stack_name().unwrap_or(name).to_owned(),
                status: StackStatus::parse(s.stack_status().map(|x| x.as_str()).unwrap_or("")),
                reason: s.stack_status_reason().map(str::to_owned),
                outputs: s
                    .outputs()
                    .iter()
                    .filter_map(|o| {
                        Some((
                            o.output_key()?.to_owned(),
                            o.output_value().unwrap_or("").to_owned(),
                        ))
                    })
                    .collect(),
                termination_protection: s.enable_termination_protection().unwrap_or(false),
                tags: s
                    .tags()
                    .iter()
                    .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
                    .collect(),
            }))
        }

        async fn create_change_set(&self, req: &ChangeSetRequest) -> Result<String, AwsError> {
            let mut call = self
                .client
                .create_change_set()
                .stack_name(&req.stack)
                .change_set_name(&req.name)
                .change_set_type(if req.create {
                    ChangeSetType::Create
                } else {
                    ChangeSetType::Update
                })
                .capabilities(Capability::CapabilityNamedIam)
                .set_role_arn(self.role_arn.clone())
                .set_template_body(req.template_body.clone())
                .set_template_url(req.template_url.clone());
            for (k, v) in &req.tags {
                call = call.tags(Tag::builder().key(k).value(v).build());
            }
            for name in &req.parameters {
                if let Some(v) = self.parameters.get(name) {
                    call = call.parameters(
                        Parameter::builder()
                            .parameter_key(name)
                            .parameter_value(v)
                            .build(),
                    );
                }
            }
            let out = call.send().await.map_err(|e| classify(SERVICE, &e))?;
            Ok(out.id().unwrap_or(&req.name).to_owned())
        }

        async fn describe_change_set(
            &self,
            stack: &str,
            name: &str,
        ) -> Result<Option<ChangeSetInfo>, AwsError> {
            let mut changes = Vec::new();
            let mut token = None;
            let mut last;
            loop {
                let out = match self
                    .client
                    .describe_change_set()
                    .stack_name(stack)
                    .change_set_name(name)
                    .set_next_token(token)
                    .send()
                    .await
                {
                    Ok(out) => out,
                    Err(e) => {
                        let err = classify(SERVICE, &e);
                        // ChangeSetNotFound; ValidationError when the stack itself is missing.
                        if matches!(err.code(), Some("ChangeSetNotFound" | "ValidationError")) {
                            return Ok(None);
                        }
                        return Err(err);
                    }
                };
                for c in out.changes() {
                    if let Some(rc) = c.resource_change() {
                        changes.push(ResourceChange {
                            action: rc
                                .action()
                                .map(|a| a.as_str().to_owned())
                                .unwrap_or_default(),
                            logical_id: rc.logical_resource_id().unwrap_or_default().to_owned(),
                            resource_type: rc.resource_type().unwrap_or_default().to_owned(),
                            replacement: rc.replacement().map(|r| r.as_str().to_owned()),
                        });
                    }
                }
                token = out.next_token().map(str::to_owned);
                last = out;
                if token.is_none() {
                    break;
                }
            }
            Ok(Some(ChangeSetInfo {
                status: ChangeSetStatus::parse(last.status().map(|s| s.as_str()).unwrap_or("")),
                reason: last.status_reason().map(str::to_owned),
                execution_status: last
                    .execution_status()
                    .map(|s| ExecutionStatus::parse(s.as_str())),
                changes,
            }))
        }

        async fn execute_change_set(&self, stack: &str, name: &str) -> Result<(), AwsError> {
            self.client
                .execute_change_set()
                .stack_name(stack)
                .change_set_name(name)
                .send()
                .await
                .map_err(|e| classify(SERVICE, &e))?;
            Ok(())
        }

        async fn delete_change_set(&self, stack: &str, name: &str) -> Result<(), AwsError> {
            self.client
                .delete_change_set()
                .stack_name(stack)
                .change_set_name(name)
                .send()
                .await
                .map_err(|e| classify(SERVICE, &e))?;
            Ok(())
        }

        async fn delete_stack(&self, name: &str) -> Result<(), AwsError> {
            self.client
                .delete_stack()
                .stack_name(name)
                .set_role_arn(self.role_arn.clone())
                .send()
                .await
                .map_err(|e| classify(SERVICE, &e))?;
            Ok(())
        }

        async fn resource_events(&self, name: &str) -> Result<Vec<ResourceEvent>, AwsError> {
            let out = self
                .client
                .describe_stack_events()
                .stack_name(name)
                .send()
                .await
                .map_err(|e| classify(SERVICE, &e))?;
            Ok(out
                .stack_events()
                .iter()
                .filter(|e| e.logical_resource_id() != Some(name))
                .map(|e| ResourceEvent {
                    logical_id: e.logical_resource_id().unwrap_or_default().to_owned(),
                    resource_type: e.resource_type().unwrap_or_default().to_owned(),
                    status: e
                        .resource_status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                    reason: e.resource_status_reason().unwrap_or_default().to_owned(),
                    timestamp: e
                        .timestamp()
                        .and_then(|t| {
                            t.fmt(aws_sdk_cloudformation::primitives::DateTimeFormat::DateTime)
                                .ok()
                        })
                        .unwrap_or_default(),
                })
                .collect())
        }

        async fn validate_template(&self, body: &str) -> Result<(), AwsError> {
            self.client
                .validate_template()
                .template_body(body)
                .send()
                .await
                .map_err(|e| classify(SERVICE, &e))?;
            Ok(())
        }

        async fn detect_drift(&self, stack: &str) -> Result<String, AwsError> {
            let out = self
                .client
                .detect_stack_drift()
                .stack_name(stack)
                .send()
                .await
                .map_err(|e| classify(SERVICE, &e))?;
            Ok(out
                .stack_drift_detection_id()
                .unwrap_or_default()
                .to_owned())
        }

        async fn drift_detection(&self, id: &str) -> Result<DriftDetection, AwsError> {
            let out = self
                .client
                .describe_stack_drift_detection_status()
                .stack_drift_detection_id(id)
                .send()
                .await
                .map_err(|e| classify(SERVICE, &e))?;
            Ok(DriftDetection {
                status: DriftDetectionStatus::parse(
                    out.detection_status().map(|s| s.as_str()).unwrap_or(""),
                ),
                stack_drift_status: out
                    .stack_drift_status()
                    .map(|s| StackDriftStatus::parse(s.as_str())),
                reason: out.detection_status_reason().map(str::to_owned),
            })
        }

        async fn drifted_resources(&self, stack: &str) -> Result<Vec<DriftedResource>, AwsError> {
            let out = self
                .client
                .describe_stack_resource_drifts()
                .stack_name(stack)
                .stack_resource_drift_status_filters(StackResourceDriftStatus::Modified)
                .stack_resource_drift_status_filters(StackResourceDriftStatus::Deleted)
                .send()
                .await
                .map_err(|e| classify(SERVICE, &e))?;
            Ok(out
                .stack_resource_drifts()
                .iter()
                .map(|d| DriftedResource {
                    logical_id: d.logical_resource_id().unwrap_or_default().to_owned(),
                    resource_type: d.resource_type().unwrap_or_default().to_owned(),
                    drift_status: d
                        .stack_resource_drift_status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                    differences: d
                        .property_differences()
                        .iter()
                        .map(|p| {
                            format!(
                                "{}: {} → {}",
                                p.property_path().unwrap_or_default(),
                                p.expected_value().unwrap_or_default(),
                                p.actual_value().unwrap_or_default()
                            )
                        })
                        .collect(),
                })
                .collect())
        }

        /// `ListExports`, page by page until every name is found
        /// (<https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ListExports.html>:
        /// 100 exports a page).
        async fn export_values(
            &self,
            names: &[String],
        ) -> Result<BTreeMap<String, String>, AwsError> {
            let wanted: std::collections::BTreeSet<&str> =
                names.iter().map(String::as_str).collect();
            let mut out = BTreeMap::new();
            let mut pages = self.client.list_exports().into_paginator().send();
            while out.len() < wanted.len() {
                let Some(page) = pages.next().await else {
                    break;
                };
                let page = page.map_err(|e| classify(SERVICE, &e))?;
                for e in page.exports() {
                    if let (Some(name), Some(value)) = (e.name(), e.value())
                        && wanted.contains(name)
                    {
                        out.insert(name.to_owned(), value.to_owned());
                    }
                }
            }
            Ok(out)
        }
    }
}
