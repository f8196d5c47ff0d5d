//! The plan and apply steps against CloudFormation answers moto cannot give (aws-smithy-mocks):
//! throttling that clears up, throttling that does not, a change set that fails to create, and
//! a stack that fails and rolls back, whose failing resources' reasons must reach the error;
//! ListExports read across its pages.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::config::retry::RetryConfig;
use aws_sdk_cloudformation::operation::create_change_set::CreateChangeSetOutput;
use aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput;
use aws_sdk_cloudformation::operation::describe_stack_events::DescribeStackEventsOutput;
use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksOutput;
use aws_sdk_cloudformation::types::{
    Change, ChangeAction, ChangeSetStatus, ExecutionStatus, ResourceChange, ResourceStatus, Stack,
    StackEvent, StackStatus,
};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use kubeline_aws::error::AwsError;
use kubeline_aws::stacks::CloudFormation;
use kubeline_aws::store::{Object, ObjectStore};
use kubeline_pipeline::steps::{self, RenderOutput, RenderedStack, Run};

/// An in-memory bucket.
#[derive(Default)]
struct MemStore(Mutex<BTreeMap<String, Vec<u8>>>);

impl ObjectStore for MemStore {
    async fn get(&self, key: &str, _: Option<&str>) -> Result<Option<Object>, AwsError> {
        Ok(self.0.lock().expect("lock").get(key).map(|b| Object {
            bytes: b.clone(),
            version: None,
            sse_s3: true,
        }))
    }
    async fn put(&self, key: &str, bytes: Vec<u8>, _: &str) -> Result<Option<String>, AwsError> {
        self.0.lock().expect("lock").insert(key.to_owned(), bytes);
        Ok(None)
    }
    async fn put_with_tags(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
        _: &[(&str, &str)],
    ) -> Result<Option<String>, AwsError> {
        self.put(key, bytes, content_type).await
    }
    async fn tags(&self, _: &str, _: Option<&str>) -> Result<Vec<(String, String)>, AwsError> {
        Ok(Vec::new())
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, AwsError> {
        Ok(self
            .0
            .lock()
            .expect("lock")
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect())
    }
    async fn delete(&self, key: &str) -> Result<(), AwsError> {
        self.0.lock().expect("lock").remove(key);
        Ok(())
    }
}

const TEMPLATE: &str =
    r#"{"Resources":{"Vpc":{"Type":"AWS::EC2::VPC","Properties":{"CidrBlock":"10.0.0.0/16"}}}}"#;

fn run() -> Run {
    Run {
        cluster: "demo".into(),
        run_id: "r1".into(),
        bucket: "b".into(),
        config_version: None,
        approval: kubeline_core::model::Approval::Auto,
        execution_arn: None,
        started_at: "2026-11-25T00:00:00Z".into(),
        upgrade: None,
    }
}

fn store_with_template() -> (MemStore, RenderOutput) {
    let store = MemStore::default();
    let key = "clusters/demo/assets/h/stack-templates/network.json".to_owned();
    store
        .0
        .lock()
        .expect("lock")
        .insert(key.clone(), TEMPLATE.as_bytes().to_vec());
    let rendered = RenderOutput {
        assets: "clusters/demo/assets/h/".into(),
        stacks: vec![RenderedStack {
            name: "demo-network".into(),
            template_key: key,
            depends_on: vec![],
            tags: BTreeMap::new(),
            needs_template_url: false,
            rollout_wave: None,
            parameters: vec![],
        }],
        addons: vec![],
    };
    (store, rendered)
}

fn cfn(rules: &[&Rule]) -> CloudFormation {
    let retry = RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(1));
    let client: Client = match rules {
        [a] => mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, [*a], |c| c
            .retry_config(retry.clone())),
        [a, b] => mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, [*a, *b], |c| c
            .retry_config(retry.clone())),
        [a, b, c2] => mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            [*a, *b, *c2],
            |c| c.retry_config(retry.clone())
        ),
        [a, b, c2, d] => mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            [*a, *b, *c2, *d],
            |c| c.retry_config(retry.clone())
        ),
        [a, b, c2, d, e] => mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            [*a, *b, *c2, *d, *e],
            |c| c.retry_config(retry.clone())
        ),
        _ => unreachable!("tests use one to five rules"),
    };
    CloudFormation::new(client)
}

fn query_error(code: &str, message: &str) -> Option<String> {
    Some(format!(
        "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>x</RequestId></ErrorResponse>"
    ))
}

fn no_stack() -> Rule {
    mock!(Client::describe_stacks)
        .sequence()
        .http_status(
            400,
            query_error(
                "ValidationError",
                "Stack with id demo-network does not exist",
            ),
        )
        .repeatedly()
        .build()
}

fn no_change_set_then(status: ChangeSetStatus, reason: Option<&'static str>) -> Rule {
    mock!(Client::describe_change_set)
        .sequence()
        .http_status(
            400,
            query_error(
                "ChangeSetNotFound",
                "ChangeSet [kubeline-r1-demo-network] does not exist",
            ),
        )
        .output(move || {
            DescribeChangeSetOutput::builder()
                .status(status.clone())
                .set_status_reason(reason.map(str::to_owned))
                .execution_status(ExecutionStatus::Available)
                .changes(
                    Change::builder()
                        .resource_change(
                            ResourceChange::builder()
                                .action(ChangeAction::Add)
                                .logical_resource_id("Vpc")
                                .resource_type("AWS::EC2::VPC")
                                .build(),
                        )
                        .build(),
                )
                .build()
        })
        .repeatedly()
        .build()
}

/// The run's record that it executed `demo-network`'s change set.
fn record_executed(store: &MemStore) {
    store.0.lock().expect("lock").insert(
        "clusters/demo/runs/r1/executed.json".into(),
        br#"["demo-network"]"#.to_vec(),
    );
}

/// DescribeStacks: `demo-network` exists in `status`.
fn stack_is(status: StackStatus) -> Rule {
    stack_of(Some("demo"), status)
}

/// The stack, tagged as `owner`'s (`None`: untagged).
fn stack_of(owner: Option<&'static str>, status: StackStatus) -> Rule {
    mock!(Client::describe_stacks).then_output(move || {
        let mut stack = Stack::builder()
            .stack_name("demo-network")
            .stack_status(status.clone())
            .creation_time(aws_sdk_cloudformation::primitives::DateTime::from_secs(0));
        if let Some(owner) = owner {
            stack = stack.tags(
                aws_sdk_cloudformation::types::Tag::builder()
                    .key("kubeline.io/cluster")
                    .value(owner)
                    .build(),
            );
        }
        DescribeStacksOutput::builder()
            .stacks(stack.build())
            .build()
    })
}

#[tokio::test]
async fn a_stack_of_another_cluster_is_never_planned_executed_or_deleted() {
    for owner in [Some("prod-node-pool-x"), None] {
        let (store, rendered) = store_with_template();
        let theirs = stack_of(owner, StackStatus::CreateComplete);
        let create = create_ok();
        let execute = mock!(Client::execute_change_set)
            .then_output(|| aws_sdk_cloudformation::operation::execute_change_set::ExecuteChangeSetOutput::builder().build());
        let delete = mock!(Client::delete_stack).then_output(|| {
            aws_sdk_cloudformation::operation::delete_stack::DeleteStackOutput::builder().build()
        });
        let cs = no_change_set_then(ChangeSetStatus::CreateComplete, None);
        let cfn = cfn(&[&theirs, &cs, &create, &execute, &delete]);
        let err = steps::plan(&store, &cfn, &run(), &rendered)
            .await
            .expect_err("not ours");
        assert_eq!(err.name.as_str(), "StackNotOwned", "{owner:?}");
        let want = match owner {
            Some(o) => format!("belongs to cluster {o}"),
            None => "has no kubeline.io/cluster tag".to_owned(),
        };
        assert!(err.cause.contains(&want), "{}", err.cause);
        let err = steps::apply(&store, &cfn, &run(), &rendered, &Default::default())
            .await
            .expect_err("not ours");
        assert_eq!(err.name.as_str(), "StackNotOwned");
        let plan = steps::DestroyPlan {
            run: run(),
            stacks: vec!["demo-network".into()],
        };
        let err = steps::destroy_advance(&store, &cfn, &plan)
            .await
            .expect_err("not ours");
        assert_eq!(err.name.as_str(), "StackNotOwned");
        assert_eq!(
            (create.num_calls(), execute.num_calls(), delete.num_calls()),
            (0, 0, 0),
            "{owner:?}: another cluster's stack was touched"
        );
    }
    // Control: the same stack tagged as this cluster's is planned.
    let (store, rendered) = store_with_template();
    let ours = stack_is(StackStatus::CreateComplete);
    let cs = no_change_set_then(ChangeSetStatus::CreateComplete, None);
    let create = create_ok();
    let cfn = cfn(&[&ours, &cs, &create]);
    steps::plan(&store, &cfn, &run(), &rendered)
        .await
        .expect("our own stack is planned");
    assert_eq!(create.num_calls(), 1);
}

fn create_ok() -> Rule {
    mock!(Client::create_change_set)
        .then_output(|| CreateChangeSetOutput::builder().id("cs-1").build())
}

#[tokio::test]
async fn throttling_is_retried_then_the_plan_is_made() {
    let (store, rendered) = store_with_template();
    let throttled_then_missing = mock!(Client::describe_stacks)
        .sequence()
        .http_status(400, query_error("Throttling", "Rate exceeded"))
        .times(2)
        .http_status(
            400,
            query_error(
                "ValidationError",
                "Stack with id demo-network does not exist",
            ),
        )
        .repeatedly()
        .build();
    let cs = no_change_set_then(ChangeSetStatus::CreateComplete, None);
    let create = create_ok();
    let cfn = cfn(&[&throttled_then_missing, &cs, &create]);
    let out = steps::plan(&store, &cfn, &run(), &rendered)
        .await
        .expect("plan");
    assert!(out.ready && out.has_changes);
    assert_eq!(create.num_calls(), 1);
    assert!(throttled_then_missing.num_calls() >= 3);
    let plan =
        String::from_utf8(store.0.lock().expect("lock")["clusters/demo/runs/r1/plan.json"].clone())
            .expect("utf8");
    assert!(plan.contains("AWS::EC2::VPC"), "{plan}");
}

#[tokio::test]
async fn persistent_throttling_is_a_transient_error_for_the_state_machine() {
    let (store, rendered) = store_with_template();
    let throttled = mock!(Client::describe_stacks)
        .sequence()
        .http_status(400, query_error("Throttling", "Rate exceeded"))
        .repeatedly()
        .build();
    let cfn = cfn(&[&throttled]);
    let err = steps::plan(&store, &cfn, &run(), &rendered)
        .await
        .expect_err("throttled");
    assert_eq!(err.name.as_str(), "Throttled");
    assert!(err.is_transient());
}

#[tokio::test]
async fn a_change_set_that_fails_to_create_names_the_reason() {
    let (store, rendered) = store_with_template();
    let missing = no_stack();
    let cs = no_change_set_then(
        ChangeSetStatus::Failed,
        Some(
            "Template format error: Unresolved resource dependencies [Subnet] in the Resources block of the template",
        ),
    );
    let create = create_ok();
    let cfn = cfn(&[&missing, &cs, &create]);
    let err = steps::plan(&store, &cfn, &run(), &rendered)
        .await
        .expect_err("failed");
    assert_eq!(err.name.as_str(), "ChangeSetFailed");
    assert!(
        err.cause
            .contains("Unresolved resource dependencies [Subnet]"),
        "{}",
        err.cause
    );
    assert!(!err.is_transient());
}

#[tokio::test]
async fn a_stack_that_fails_and_rolls_back_reports_the_failed_resources() {
    let (store, rendered) = store_with_template();
    // This run executed the stack's change set; CloudFormation then rolled it back.
    record_executed(&store);
    let rolled_back = stack_is(StackStatus::RollbackComplete);
    let events = mock!(Client::describe_stack_events).then_output(|| {
        DescribeStackEventsOutput::builder()
            .stack_events(
                StackEvent::builder()
                    .stack_id("s")
                    .event_id("e2")
                    .stack_name("demo-network")
                    .logical_resource_id("demo-network")
                    .resource_status(ResourceStatus::RollbackComplete)
                    .timestamp(aws_sdk_cloudformation::primitives::DateTime::from_secs(2))
                    .build(),
            )
            .stack_events(
                StackEvent::builder()
                    .stack_id("s")
                    .event_id("e1")
                    .stack_name("demo-network")
                    .logical_resource_id("NatGatewayA")
                    .resource_type("AWS::EC2::NatGateway")
                    .resource_status(ResourceStatus::CreateFailed)
                    .resource_status_reason("The maximum number of addresses has been reached. (Service: Ec2, Status Code: 400)")
                    .timestamp(aws_sdk_cloudformation::primitives::DateTime::from_secs(1))
                    .build(),
            )
            .build()
    });
    // The run executed the change set and CloudFormation rolled the create back.
    let executed = mock!(Client::describe_change_set).then_output(|| {
        DescribeChangeSetOutput::builder()
            .status(ChangeSetStatus::CreateComplete)
            .execution_status(ExecutionStatus::ExecuteFailed)
            .build()
    });
    let cfn = cfn(&[&rolled_back, &executed, &events]);
    let err = steps::apply(&store, &cfn, &run(), &rendered, &Default::default())
        .await
        .expect_err("rolled back");
    assert_eq!(err.name.as_str(), "StackFailed");
    assert!(
        err.cause.contains("demo-network is ROLLBACK_COMPLETE"),
        "{}",
        err.cause
    );
    assert!(
        err.cause.contains(
            "NatGatewayA (AWS::EC2::NatGateway): CREATE_FAILED: The maximum number of addresses"
        ),
        "{}",
        err.cause
    );
    assert!(
        !err.cause.contains("demo-network (AWS"),
        "the stack's own event is not a resource"
    );
}

#[tokio::test]
async fn drift_is_recorded_in_status_json_and_nothing_is_changed() {
    use aws_sdk_cloudformation::operation::describe_stack_drift_detection_status::DescribeStackDriftDetectionStatusOutput;
    use aws_sdk_cloudformation::operation::describe_stack_resource_drifts::DescribeStackResourceDriftsOutput;
    use aws_sdk_cloudformation::types::{
        DifferenceType, PropertyDifference, StackDriftDetectionStatus, StackDriftStatus,
        StackResourceDrift, StackResourceDriftStatus,
    };
    let store = MemStore::default();
    let status = serde_json::json!({
        "cluster": "demo", "phase": "succeeded", "runId": "r1",
        "stacks": [{"name": "kubeline-demo-network", "status": "CREATE_COMPLETE", "outputs": {}}],
        "startedAt": "2026-11-25T00:00:00Z", "updatedAt": "2026-11-25T00:00:00Z"
    });
    store.0.lock().expect("lock").insert(
        "clusters/demo/status.json".into(),
        status.to_string().into_bytes(),
    );
    let items = steps::drift_list(&store).await.expect("list");
    assert_eq!(items.len(), 1);
    let mut item = items[0].clone();
    item.detections
        .insert("kubeline-demo-network".into(), "det-1".into());

    let in_progress = mock!(Client::describe_stack_drift_detection_status)
        .sequence()
        .output(|| {
            DescribeStackDriftDetectionStatusOutput::builder()
                .stack_id("s")
                .stack_drift_detection_id("det-1")
                .detection_status(StackDriftDetectionStatus::DetectionInProgress)
                .timestamp(aws_sdk_cloudformation::primitives::DateTime::from_secs(0))
                .build()
        })
        .output(|| {
            DescribeStackDriftDetectionStatusOutput::builder()
                .stack_id("s")
                .stack_drift_detection_id("det-1")
                .detection_status(StackDriftDetectionStatus::DetectionComplete)
                .stack_drift_status(StackDriftStatus::Drifted)
                .timestamp(aws_sdk_cloudformation::primitives::DateTime::from_secs(0))
                .build()
        })
        .build();
    let drifts = mock!(Client::describe_stack_resource_drifts).then_output(|| {
        DescribeStackResourceDriftsOutput::builder()
            .stack_resource_drifts(
                StackResourceDrift::builder()
                    .stack_id("s")
                    .logical_resource_id("WorkerSecurityGroup")
                    .resource_type("AWS::EC2::SecurityGroup")
                    .stack_resource_drift_status(StackResourceDriftStatus::Modified)
                    .timestamp(aws_sdk_cloudformation::primitives::DateTime::from_secs(0))
                    .property_differences(
                        PropertyDifference::builder()
                            .property_path("/SecurityGroupIngress/2")
                            .expected_value("null")
                            .actual_value("{\"CidrIp\":\"0.0.0.0/0\",\"FromPort\":22}")
                            .difference_type(DifferenceType::Add)
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let cfn = cfn(&[&in_progress, &drifts]);
    let first = steps::drift_check(&store, &cfn, &item)
        .await
        .expect("check");
    assert!(!first.done);
    let second = steps::drift_check(&store, &cfn, &item)
        .await
        .expect("check");
    assert!(second.done);
    assert_eq!(second.drifted, 1);
    let status: serde_json::Value =
        serde_json::from_slice(&store.0.lock().expect("lock")["clusters/demo/status.json"])
            .expect("json");
    let recorded = &status["drift"]["drifted"]["kubeline-demo-network"][0];
    assert_eq!(recorded["logicalId"], "WorkerSecurityGroup");
    assert!(
        recorded["differences"][0]
            .as_str()
            .is_some_and(|d| d.contains("0.0.0.0/0"))
    );
    assert_eq!(
        status["phase"], "succeeded",
        "a drift check changes no phase"
    );
    let summary = steps::drift_summary(&[second]);
    let n = &summary.notification;
    assert!(n.contains("1 of 1 clusters drifted") && n.contains("WorkerSecurityGroup"));
}

/// A stack whose node group is being rolled: status.json shows the group's latest step each
/// round, and the chat hears when the group starts rolling, not at every step of it.
#[tokio::test]
async fn a_rolling_update_shows_each_groups_progress_in_status_json_and_chat() {
    let (store, rendered) = store_with_template();
    record_executed(&store);
    let plan = kubeline_core::pipeline::Plan {
        stacks: vec![kubeline_core::pipeline::StackChange {
            stack: "demo-network".into(),
            action: kubeline_core::pipeline::StackAction::Update,
            changes: vec![],
            change_set: Some("kubeline-r1-demo-network".into()),
        }],
        ..Default::default()
    };
    store.0.lock().expect("lock").insert(
        "clusters/demo/runs/r1/plan.json".into(),
        serde_json::to_vec(&plan).expect("json"),
    );

    let group_event = |id: &'static str, reason: &'static str, at: i64| {
        StackEvent::builder()
            .stack_id("s")
            .event_id(format!("e{at}"))
            .stack_name("demo-network")
            .logical_resource_id(id)
            .resource_type("AWS::AutoScaling::AutoScalingGroup")
            .resource_status(ResourceStatus::UpdateInProgress)
            .resource_status_reason(reason)
            .timestamp(aws_sdk_cloudformation::primitives::DateTime::from_secs(at))
            .build()
    };
    let status = |store: &MemStore| -> kubeline_core::pipeline::Status {
        serde_json::from_slice(&store.0.lock().expect("lock")["clusters/demo/status.json"])
            .expect("status")
    };

    // One apply round while the stack reports `events` (newest first).
    let round = async |events: Vec<(&'static str, i64)>| {
        let stacks = stack_is(StackStatus::UpdateInProgress);
        let events = mock!(Client::describe_stack_events).then_output(move || {
            let mut out = DescribeStackEventsOutput::builder();
            for (reason, at) in &events {
                out = out.stack_events(group_event("AutoScalingGroup", reason, *at));
            }
            out.build()
        });
        steps::apply(
            &store,
            &cfn(&[&stacks, &events]),
            &run(),
            &rendered,
            &Default::default(),
        )
        .await
        .expect("apply")
    };

    // Round 1: the rolling update began; the chat hears of it.
    let progress = round(vec![(
        "Rolling update initiated. Terminating 3 obsolete instance(s) in batches of 1",
        10,
    )])
    .await;
    assert!(!progress.done);
    let note = progress
        .notification
        .expect("the chat hears the rollout began");
    assert!(
        note.contains("rolling out") && note.contains("Rolling update initiated"),
        "{note}"
    );
    let rollout = status(&store).rollout;
    assert_eq!(rollout.len(), 1, "{rollout:?}");
    assert_eq!(
        (rollout[0].stack.as_str(), rollout[0].group.as_str()),
        ("demo-network", "AutoScalingGroup")
    );

    // Round 2: the next step of the same group: status.json follows, the chat is not told.
    let progress = round(vec![
        (
            "New instance(s) added to autoscaling group - Waiting on 1 resource signal(s)",
            20,
        ),
        ("Rolling update initiated", 10),
    ])
    .await;
    assert_eq!(progress.notification, None);
    let rollout = status(&store).rollout;
    assert!(
        rollout[0].reason.starts_with("New instance(s) added") && !rollout[0].at.is_empty(),
        "{rollout:?}"
    );
}

/// The installation's boundary reaches exactly the change sets whose templates declare the
/// parameter (a parameter a template lacks would fail the change set), and an installation
/// without one passes nothing, so the template's default (no boundary) applies.
#[tokio::test]
async fn the_node_role_boundary_goes_only_to_stacks_that_declare_it() {
    const BOUNDARY: &str = "arn:aws:iam::123456789012:policy/kubeline-node-role-boundary";
    let param = kubeline_core::pipeline::NODE_ROLE_BOUNDARY_PARAMETER;
    for (declared, configured, expected) in [
        (true, Some(BOUNDARY), Some(BOUNDARY)),
        (false, Some(BOUNDARY), None),
        (true, None, None),
        (true, Some(""), None),
    ] {
        let (store, mut rendered) = store_with_template();
        if declared {
            rendered.stacks[0].parameters = vec![param.to_owned()];
        }
        let missing = no_stack();
        let cs = no_change_set_then(ChangeSetStatus::CreateComplete, None);
        let create = mock!(Client::create_change_set)
            .match_requests(move |r| {
                let got: Vec<(Option<&str>, Option<&str>)> = r
                    .parameters()
                    .iter()
                    .map(|p| (p.parameter_key(), p.parameter_value()))
                    .collect();
                match expected {
                    Some(v) => got == [(Some(param), Some(v))],
                    None => got.is_empty(),
                }
            })
            .then_output(|| CreateChangeSetOutput::builder().id("cs-1").build());
        let cfn =
            cfn(&[&missing, &cs, &create]).with_parameter(param, configured.map(str::to_owned));
        steps::plan(&store, &cfn, &run(), &rendered)
            .await
            .unwrap_or_else(|e| panic!("{declared} {configured:?}: {e}"));
        assert_eq!(
            create.num_calls(),
            1,
            "{declared} {configured:?}: the request did not match"
        );
    }
}

/// `export_values` reads the pages of ListExports (AWS returns 100 exports a page) until it has
/// every name asked for, and keeps only those.
#[tokio::test]
async fn exports_are_found_on_any_page_of_list_exports() {
    use aws_sdk_cloudformation::operation::list_exports::ListExportsOutput;
    use aws_sdk_cloudformation::types::Export;
    use kubeline_aws::stacks::Stacks;
    let export = |name: &str, value: &str| Export::builder().name(name).value(value).build();
    let first = mock!(Client::list_exports)
        .match_requests(|r| r.next_token().is_none())
        .then_output(move || {
            ListExportsOutput::builder()
                .exports(export("corp-network-VpcId", "vpc-0123456789abcdef0"))
                .exports(export("corp-network-Unrelated", "x"))
                .next_token("page-2")
                .build()
        });
    let second = mock!(Client::list_exports)
        .match_requests(|r| r.next_token() == Some("page-2"))
        .then_output(move || {
            ListExportsOutput::builder()
                .exports(export("corp-network-SubnetA", "subnet-0123456789abcdef0"))
                .build()
        });
    let cfn = cfn(&[&first, &second]);
    let names = [
        "corp-network-VpcId".to_owned(),
        "corp-network-SubnetA".to_owned(),
        "corp-network-Missing".to_owned(),
    ];
    let values = cfn.export_values(&names).await.expect("exports");
    assert_eq!(
        values,
        BTreeMap::from([
            (
                "corp-network-SubnetA".to_owned(),
                "subnet-0123456789abcdef0".to_owned()
            ),
            (
                "corp-network-VpcId".to_owned(),
                "vpc-0123456789abcdef0".to_owned()
            ),
        ])
    );
    assert_eq!(first.num_calls(), 1);
    assert_eq!(second.num_calls(), 1, "the second page was read");
    // Once every name is found, no further page is read; nothing asked, nothing called.
    let found = cfn
        .export_values(&["corp-network-VpcId".to_owned()])
        .await
        .expect("exports");
    assert_eq!(found.len(), 1);
    assert_eq!((first.num_calls(), second.num_calls()), (2, 1));
    assert!(cfn.export_values(&[]).await.expect("none").is_empty());
    assert_eq!(first.num_calls(), 2);
}
