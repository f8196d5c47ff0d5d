//! The local installation: the versioned bucket with EventBridge notifications, a KMS key, a
//! hosted zone, the SNS topic with an SQS subscription that shows notifications, the task and
//! event queues, the EventBridge rule, and both state machines deployed from `statemachine/`
//! with their Lambda tasks swapped for queue tasks served by the in-process worker.

use std::path::Path;

use anyhow::{Context, Result};
use aws_config::SdkConfig;
use serde_json::{Value, json};

use super::{BUCKET, REGION};

/// ARN prefix the definitions' `${...FunctionArn}` substitutions get locally.
pub const FUNCTION_ARN_PREFIX: &str = "arn:aws:lambda:eu-west-1:123456789012:function:kubeline-";

/// The resources of a local installation.
#[derive(Debug, Clone)]
pub struct Installation {
    /// Bucket.
    pub bucket: String,
    /// KMS key ARN.
    pub kms_key_arn: String,
    /// Hosted zone id.
    pub zone_id: String,
    /// SNS topic ARN.
    pub topic_arn: String,
    /// Queue subscribed to the topic.
    pub notifications_queue: String,
    /// Queue of the swapped Lambda tasks.
    pub tasks_queue: String,
    /// Queue of the EventBridge rule's S3 events.
    pub events_queue: String,
    /// Pipeline state machine.
    pub pipeline_arn: String,
    /// Destroy state machine.
    pub destroy_arn: String,
    /// The etcd restore state machine.
    pub restore_arn: String,
    /// Daily certificate rotation state machine.
    pub rotation_arn: String,
}

async fn queue(sqs: &aws_sdk_sqs::Client, name: &str) -> Result<(String, String)> {
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .with_context(|| format!("create queue {name}"))?
        .queue_url
        .context("queue url")?;
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await?
        .attributes
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .cloned()
        })
        .context("queue arn")?;
    Ok((url, arn))
}

/// The Wait states whose next state polls CloudFormation. moto finishes change sets, stack
/// operations and drift detections within the call that starts them, so locally these waits
/// take 0 s (a production apply of four stacks passes WaitForStacks seven times); every other
/// wait (for etcd members' reports) keeps 1 s. A test checks each name is a Wait state.
pub const CLOUDFORMATION_WAITS: [&str; 4] = [
    "WaitForChangeSets",
    "WaitForStacks",
    "WaitForDeletes",
    "WaitForDetection",
];

/// Turns a production definition into the local one: substitutions filled in, every Lambda
/// task sent to `tasks_queue` instead (same flow, Retry and Catch), retry intervals shortened
/// to 1 s, waits to 1 s ([`CLOUDFORMATION_WAITS`]: 0 s).
pub fn localise_definition(definition: &str, topic_arn: &str, tasks_queue: &str) -> Result<String> {
    let mut text = definition.replace("${NotificationTopicArn}", topic_arn);
    for f in ["Validate", "Credentials", "Render", "Apply", "Destroy"] {
        text = text.replace(
            &format!("${{{f}FunctionArn}}"),
            &format!("{FUNCTION_ARN_PREFIX}{}", f.to_lowercase()),
        );
    }
    let mut v: Value =
        serde_json::from_str(&text).context("state machine definition is not JSON")?;
    localise_states(&mut v, tasks_queue)?;
    Ok(serde_json::to_string(&v)?)
}

/// Swaps Lambda tasks and shortens waits and retries in `machine["States"]`, and in the states
/// of every Map iterator and Parallel branch inside it.
fn localise_states(machine: &mut Value, tasks_queue: &str) -> Result<()> {
    let states = machine
        .get_mut("States")
        .and_then(Value::as_object_mut)
        .context("definition has no States")?;
    for (name, st) in states.iter_mut() {
        let resource = st["Resource"].as_str().unwrap_or_default().to_owned();
        if resource.starts_with("arn:aws:states:::lambda:invoke") {
            let callback = resource == "arn:aws:states:::lambda:invoke";
            let function = st["Parameters"]["FunctionName"]
                .as_str()
                .and_then(|a| a.strip_prefix(FUNCTION_ARN_PREFIX))
                .context("a Lambda task without a kubeline function")?
                .to_owned();
            let payload = st["Parameters"]["Payload"].clone();
            st["Resource"] = json!("arn:aws:states:::sqs:sendMessage.waitForTaskToken");
            st["Parameters"] = json!({
                "QueueUrl": tasks_queue,
                "MessageBody": {
                    "function": function,
                    "callback": callback,
                    "payload": payload,
                    "taskToken.$": "$$.Task.Token",
                },
            });
        }
        if st["Type"] == "Wait" {
            let on_cloudformation = CLOUDFORMATION_WAITS.contains(&name.as_str());
            st["Seconds"] = json!(if on_cloudformation { 0 } else { 1 });
        }
        if let Some(retries) = st.get_mut("Retry").and_then(Value::as_array_mut) {
            for r in retries {
                r["IntervalSeconds"] = json!(1);
                r["BackoffRate"] = json!(1.0);
            }
        }
        for inner in ["Iterator", "ItemProcessor"] {
            if let Some(m) = st.get_mut(inner) {
                localise_states(m, tasks_queue)?;
            }
        }
        if let Some(branches) = st.get_mut("Branches").and_then(Value::as_array_mut) {
            for b in branches {
                localise_states(b, tasks_queue)?;
            }
        }
    }
    Ok(())
}

impl Installation {
    /// Creates every resource and deploys `statemachine/*.asl.json` from `root`.
    pub async fn create(conf: &SdkConfig, root: &Path) -> Result<Installation> {
        let s3 = kubeline_aws::sdk::s3(conf);
        s3.create_bucket()
            .bucket(BUCKET)
            .create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(REGION))
                    .build(),
            )
            .send()
            .await
            .context("create bucket")?;
        s3.put_bucket_versioning()
            .bucket(BUCKET)
            .versioning_configuration(
                aws_sdk_s3::types::VersioningConfiguration::builder()
                    .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .context("bucket versioning")?;
        s3.put_bucket_notification_configuration()
            .bucket(BUCKET)
            .notification_configuration(
                aws_sdk_s3::types::NotificationConfiguration::builder()
                    .event_bridge_configuration(
                        aws_sdk_s3::types::EventBridgeConfiguration::builder().build(),
                    )
                    .build(),
            )
            .send()
            .await
            .context("bucket notifications to EventBridge")?;

        let kms = aws_sdk_kms::Client::new(conf);
        let kms_key_arn = kms
            .create_key()
            .description("kubeline local installation")
            .send()
            .await
            .context("create KMS key")?
            .key_metadata
            .and_then(|m| m.arn)
            .context("KMS key ARN")?;

        let r53 = aws_sdk_route53::Client::new(conf);
        let zone_id = r53
            .create_hosted_zone()
            .name("example.com")
            .caller_reference(format!("kubeline-local-{}", std::process::id()))
            .send()
            .await
            .context("create hosted zone")?
            .hosted_zone
            .map(|z| z.id.trim_start_matches("/hostedzone/").to_owned())
            .context("hosted zone id")?;

        let sqs = aws_sdk_sqs::Client::new(conf);
        let (notifications_queue, notifications_arn) =
            queue(&sqs, "kubeline-notifications").await?;
        let (tasks_queue, _) = queue(&sqs, "kubeline-tasks").await?;
        let (events_queue, events_arn) = queue(&sqs, "kubeline-events").await?;

        let sns = aws_sdk_sns::Client::new(conf);
        let topic_arn = sns
            .create_topic()
            .name("kubeline-notifications")
            .send()
            .await
            .context("create topic")?
            .topic_arn
            .context("topic arn")?;
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(&notifications_arn)
            .attributes("RawMessageDelivery", "true")
            .send()
            .await
            .context("subscribe the notifications queue")?;

        let eb = aws_sdk_eventbridge::Client::new(conf);
        let pattern = json!({
            "source": ["aws.s3"],
            "detail-type": ["Object Created", "Object Deleted"],
            "detail": {"bucket": {"name": [BUCKET]}, "object": {"key": [{"prefix": "clusters/"}]}},
        });
        eb.put_rule()
            .name("kubeline-cluster-objects")
            .event_pattern(pattern.to_string())
            .send()
            .await
            .context("EventBridge rule")?;
        eb.put_targets()
            .rule("kubeline-cluster-objects")
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("local-router")
                    .arn(events_arn)
                    .build()?,
            )
            .send()
            .await
            .context("EventBridge target")?;

        let sfn = aws_sdk_sfn::Client::new(conf);
        let mut arns: Vec<String> = Vec::new();
        // The drift machine is deployed too (moto parses it), though moto cannot run its
        // DetectStackDrift calls; its ARN is not kept.
        for name in ["pipeline", "destroy", "rotation", "drift", "restore"] {
            let path = root.join(format!("statemachine/{name}.asl.json"));
            let text = std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "cannot read {} (run from the repository root)",
                    path.display()
                )
            })?;
            let definition = localise_definition(&text, &topic_arn, &tasks_queue)?;
            let arn = sfn
                .create_state_machine()
                .name(format!("kubeline-{name}"))
                .definition(definition)
                .role_arn("arn:aws:iam::123456789012:role/kubeline-local")
                .send()
                .await
                .with_context(|| format!("deploy the {name} state machine"))?
                .state_machine_arn;
            arns.push(arn);
        }
        Ok(Installation {
            bucket: BUCKET.into(),
            kms_key_arn,
            zone_id,
            topic_arn,
            notifications_queue,
            tasks_queue,
            events_queue,
            rotation_arn: arns.get(2).cloned().context("rotation arn")?,
            destroy_arn: arns.get(1).cloned().context("destroy arn")?,
            restore_arn: arns.get(4).cloned().context("restore arn")?,
            pipeline_arn: arns.first().cloned().context("pipeline arn")?,
        })
    }

    /// Takes every notification that arrived so far (chat JSON texts).
    pub async fn drain_notifications(&self, conf: &SdkConfig) -> Result<Vec<String>> {
        let sqs = aws_sdk_sqs::Client::new(conf);
        let mut out = Vec::new();
        loop {
            let msgs = sqs
                .receive_message()
                .queue_url(&self.notifications_queue)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .send()
                .await?
                .messages
                .unwrap_or_default();
            if msgs.is_empty() {
                return Ok(out);
            }
            for m in msgs {
                if let Some(body) = m.body {
                    out.push(body);
                }
                if let Some(h) = m.receipt_handle {
                    sqs.delete_message()
                        .queue_url(&self.notifications_queue)
                        .receipt_handle(h)
                        .send()
                        .await?;
                }
            }
        }
    }
}
