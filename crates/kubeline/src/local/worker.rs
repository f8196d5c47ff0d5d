//! The in-process stand-ins for Lambda and EventBridge targets: the worker answers the state
//! machines' queue tasks by calling the functions' handlers (the same code the Lambdas run);
//! the router starts executions for uploads and hands approval files to the apply handler.

use aws_config::SdkConfig;
use kubeline_aws::dns::Route53;
use kubeline_aws::executions::{Executions, StepFunctions};
use kubeline_aws::kms::AwsKms;
use kubeline_aws::networks::Tagging;
use kubeline_aws::notify::Sns;
use kubeline_aws::stacks::CloudFormation;
use kubeline_aws::store::S3Store;
use kubeline_core::pipeline::{BucketEvent, ClusterKeys, EventKind, MemberReport, Route, route};
use kubeline_pipeline::steps::ApplySettings;
use kubeline_pipeline::telemetry::{Context, Operation, traced};
use kubeline_pipeline::{ErrorName, StepError};
use serde_json::{Value, json};

use super::Installation;

/// Every function's ports, over the emulator's clients.
#[derive(Debug, Clone)]
pub struct Functions {
    validate:
        kubeline_fn_validate::Ports<S3Store, CloudFormation, Route53, StepFunctions, Tagging, Sns>,
    validate_settings: kubeline_fn_validate::Settings,
    credentials: kubeline_fn_credentials::Ports<S3Store, AwsKms>,
    credentials_settings: kubeline_fn_credentials::Settings,
    apply_settings: ApplySettings,
    render: kubeline_fn_render::Ports<S3Store>,
    apply: kubeline_fn_apply::Ports<S3Store, CloudFormation, StepFunctions>,
    destroy: kubeline_fn_destroy::Ports<S3Store, CloudFormation, StepFunctions>,
}

impl Functions {
    /// The ports of every function, with the settings a deployed installation of
    /// `install` gives them (its hosted zone and KMS key are the only ones clusters may use).
    pub fn new(conf: &SdkConfig, install: &Installation) -> Functions {
        let store = S3Store::new(kubeline_aws::sdk::s3(conf), &install.bucket);
        let cfn = CloudFormation::new(kubeline_aws::sdk::cloudformation(conf));
        let sfn = StepFunctions::new(kubeline_aws::sdk::sfn(conf));
        Functions {
            validate: kubeline_fn_validate::Ports {
                store: store.clone(),
                cfn: cfn.clone(),
                dns: Route53::new(kubeline_aws::sdk::route53(conf)),
                sfn: sfn.clone(),
                net: Tagging::new(kubeline_aws::sdk::tagging(conf)),
                chat: Sns::new(kubeline_aws::sdk::sns(conf), &install.topic_arn),
            },
            validate_settings: kubeline_fn_validate::Settings {
                require_approval: false,
                hosted_zone_ids: vec![install.zone_id.clone()],
                kms_key_arn: Some(install.kms_key_arn.clone()),
            },
            credentials: kubeline_fn_credentials::Ports {
                store: store.clone(),
                kms: AwsKms::new(kubeline_aws::sdk::kms(conf)),
            },
            credentials_settings: kubeline_fn_credentials::Settings {
                renew_within_days: kubeline_core::reconcile::DEFAULT_RENEW_WITHIN_DAYS,
            },
            apply_settings: ApplySettings::default(),
            render: kubeline_fn_render::Ports {
                store: store.clone(),
                bucket_region: super::REGION.parse().ok(),
            },
            apply: kubeline_fn_apply::Ports {
                store: store.clone(),
                cfn: cfn.clone(),
                sfn: sfn.clone(),
            },
            destroy: kubeline_fn_destroy::Ports { store, cfn, sfn },
        }
    }

    /// Calls function `name` with `payload`, as Lambda would.
    pub async fn invoke(&self, name: &str, payload: Value) -> Result<Value, StepError> {
        fn decode<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, StepError> {
            serde_json::from_value(v)
                .map_err(|e| StepError::new(ErrorName::RequestInvalid, format!("bad request: {e}")))
        }
        // Each call runs in the step's span, as in the Lambdas (`kubeline local --verbose`).
        async fn call<R: Operation, T: serde::Serialize>(
            function: &'static str,
            req: R,
            run: impl AsyncFnOnce(R) -> Result<T, StepError>,
        ) -> Result<Value, StepError> {
            let ctx = Context::of(function, &req);
            kubeline_pipeline::to_json(traced(&ctx, run(req)).await?)
        }
        match name {
            "validate" => {
                call("validate", decode(payload)?, async |r| {
                    kubeline_fn_validate::handler(&self.validate, &self.validate_settings, r).await
                })
                .await
            }
            "credentials" => {
                call("credentials", decode(payload)?, async |r| {
                    kubeline_fn_credentials::handler(
                        &self.credentials,
                        &self.credentials_settings,
                        r,
                    )
                    .await
                })
                .await
            }
            "render" => {
                call("render", decode(payload)?, async |r| {
                    kubeline_fn_render::handler(&self.render, r).await
                })
                .await
            }
            "apply" => {
                call("apply", decode(payload)?, async |r| {
                    kubeline_fn_apply::handler(&self.apply, &self.apply_settings, r).await
                })
                .await
            }
            "destroy" => {
                call("destroy", decode(payload)?, async |r| {
                    kubeline_fn_destroy::handler(&self.destroy, r).await
                })
                .await
            }
            other => Err(StepError::new(
                ErrorName::RequestInvalid,
                format!("no function named {other}"),
            )),
        }
    }
}

async fn receive(sqs: &aws_sdk_sqs::Client, queue: &str) -> Vec<aws_sdk_sqs::types::Message> {
    match sqs
        .receive_message()
        .queue_url(queue)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
    {
        Ok(out) => out.messages.unwrap_or_default(),
        Err(_) => {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            vec![]
        }
    }
}

async fn delete(sqs: &aws_sdk_sqs::Client, queue: &str, m: &aws_sdk_sqs::types::Message) {
    if let Some(h) = m.receipt_handle() {
        let _ = sqs
            .delete_message()
            .queue_url(queue)
            .receipt_handle(h)
            .send()
            .await;
    }
}

/// Serves the state machines' tasks until aborted.
pub async fn serve_tasks(conf: SdkConfig, install: Installation, functions: Functions) {
    let sqs = aws_sdk_sqs::Client::new(&conf);
    let sfn = StepFunctions::new(kubeline_aws::sdk::sfn(&conf));
    loop {
        for m in receive(&sqs, &install.tasks_queue).await {
            delete(&sqs, &install.tasks_queue, &m).await;
            let body: Value = serde_json::from_str(m.body().unwrap_or("{}")).unwrap_or_default();
            let token = body["taskToken"].as_str().unwrap_or_default().to_owned();
            let function = body["function"].as_str().unwrap_or_default().to_owned();
            let callback = body["callback"].as_bool().unwrap_or(true);
            let result = functions.invoke(&function, body["payload"].clone()).await;
            let sent = match result {
                Ok(v) if callback => {
                    sfn.send_task_success(&token, &json!({"Payload": v}).to_string())
                        .await
                }
                Ok(_) => Ok(()), // the task waits for its own callback (approval)
                Err(e) => {
                    sfn.send_task_failure(&token, e.name.as_str(), &e.cause)
                        .await
                }
            };
            if let Err(e) = sent {
                eprintln!("kubeline local: could not answer a {function} task: {e}");
            }
        }
    }
}

/// No etcd runs on the emulator, so the local runner answers a run's etcd snapshot request
/// the way the cluster's leader would (an object under `etcd-snapshots/` whose key's time is
/// after the request), with a text that says it is a stand-in, not a snapshot.
async fn stand_in_for_the_etcd_leader(s3: &aws_sdk_s3::Client, key: &str) {
    let Some(cluster) = ClusterKeys::cluster_of(key) else {
        return;
    };
    let keys = ClusterKeys::new(cluster);
    if key != keys.etcd_snapshot_request() {
        return;
    }
    let snapshot = format!("{}{}-local-stand-in.db", keys.etcd_snapshots(), utc_stamp());
    let body = "kubeline local: no etcd runs on the emulator; this object stands in for the leader's answer to the snapshot request\n";
    if let Err(e) = s3
        .put_object()
        .bucket(super::BUCKET)
        .key(&snapshot)
        .body(body.as_bytes().to_vec().into())
        .send()
        .await
    {
        eprintln!("kubeline local: could not answer the etcd snapshot request {key}: {e}");
    }
}

/// No etcd runs on the emulator, so the local runner answers a restore order the way every
/// member named in it would once its restored cluster is healthy: a `restored` and a `healthy`
/// report each, whose text says they are stand-ins.
async fn stand_in_for_the_etcd_members(s3: &aws_sdk_s3::Client, key: &str) {
    let Some(cluster) = ClusterKeys::cluster_of(key) else {
        return;
    };
    let keys = ClusterKeys::new(cluster);
    if key != keys.etcd_restore_request() {
        return;
    }
    let order = match s3.get_object().bucket(super::BUCKET).key(key).send().await {
        Ok(o) => o.body.collect().await.map(|b| b.into_bytes().to_vec()),
        Err(e) => {
            eprintln!("kubeline local: cannot read the etcd restore order {key}: {e}");
            return;
        }
    };
    let Some(order) = order
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|t| kubeline_core::pipeline::MemberRestoreRequest::parse(&t))
    else {
        eprintln!("kubeline local: {key} is not an etcd restore order");
        return;
    };
    let reports = keys.etcd_restore_run_reports(&order.run_id);
    for member in &order.members {
        for state in [MemberReport::Restored, MemberReport::Healthy] {
            let report = format!("{reports}{member}.{}", state.suffix());
            let body = format!(
                "kubeline local: no etcd runs on the emulator; this stands in for member {member}'s report\n"
            );
            if let Err(e) = s3
                .put_object()
                .bucket(super::BUCKET)
                .key(&report)
                .body(body.into_bytes().into())
                .send()
                .await
            {
                eprintln!("kubeline local: could not write {report}: {e}");
            }
        }
    }
}

/// A run id for an upload of `cluster`: `<cluster>-<UTC time>-<random>`.
pub fn run_id(cluster: &str) -> String {
    let rand = kubeline_core::pki::random_bytes::<3>()
        .map(hex_of)
        .unwrap_or_default();
    format!("{cluster}-{}-{rand}", utc_stamp())
}

/// Now, `YYYYMMDDTHHMMSSZ` (the run ids' and etcd snapshot keys' format).
fn utc_stamp() -> String {
    kubeline_core::pipeline::key_time(time::OffsetDateTime::now_utc())
}

fn hex_of(b: [u8; 3]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Does what the production EventBridge rules do, until aborted: cluster.yaml uploads start
/// the pipeline, destroy.yaml uploads start the destroy state machine, approval files go to the
/// apply function, and a deleted cluster.yaml is reported (and destroys nothing).
pub async fn route_events(
    conf: SdkConfig,
    install: Installation,
    functions: Functions,
    started: tokio::sync::mpsc::UnboundedSender<(String, String)>,
) {
    let sqs = aws_sdk_sqs::Client::new(&conf);
    let sfn = StepFunctions::new(kubeline_aws::sdk::sfn(&conf));
    let s3 = kubeline_aws::sdk::s3(&conf);
    loop {
        for m in receive(&sqs, &install.events_queue).await {
            delete(&sqs, &install.events_queue, &m).await;
            let body = m.body().unwrap_or("{}");
            let event: Value = serde_json::from_str(body).unwrap_or_default();
            let key = event["detail"]["object"]["key"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let Some(kind) = event["detail-type"].as_str().and_then(EventKind::parse) else {
                continue;
            };
            if kind == EventKind::Created {
                stand_in_for_the_etcd_leader(&s3, &key).await;
                stand_in_for_the_etcd_members(&s3, &key).await;
            }
            // The same rules as production's (infra/template.yaml is checked against them).
            let Some(target) = route(&BucketEvent {
                kind,
                key: key.clone(),
            }) else {
                continue;
            };
            let cluster = ClusterKeys::cluster_of(&key)
                .unwrap_or("unknown")
                .to_owned();
            let machine = match target {
                Route::StartPipeline => Some(&install.pipeline_arn),
                Route::StartDestroy => Some(&install.destroy_arn),
                Route::StartRestore => Some(&install.restore_arn),
                Route::Approval | Route::ConfigDeleted => None,
            };
            if let Some(machine) = machine {
                let name = run_id(&cluster);
                match sfn.start_execution(machine, &name, body).await {
                    Ok(arn) => {
                        let _ = started.send((cluster, arn));
                    }
                    Err(e) => eprintln!("kubeline local: cannot start a run for {key}: {e}"),
                }
            } else if target == Route::Approval {
                let out = functions
                    .invoke("apply", json!({"op": "approval", "key": key}))
                    .await;
                if let Err(e) = out {
                    eprintln!("kubeline local: approval {key}: {e}");
                }
            } else {
                // The same function production's rule calls (infra/template.yaml).
                let out = functions
                    .invoke("validate", json!({"op": "config-deleted", "key": key}))
                    .await;
                if let Err(e) = out {
                    eprintln!("kubeline local: deleted {key}: {e}");
                }
            }
        }
    }
}
