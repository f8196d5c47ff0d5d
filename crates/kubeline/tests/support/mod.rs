//! What the tests that drive a whole local pipeline share: a pipeline on moto with clients
//! to inspect it, and the waits and reads they use.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use kubeline::local::{self, LocalPipeline};
use kubeline_aws::executions::{ExecutionInfo, Executions, StepFunctions};
use kubeline_aws::stacks::{CloudFormation, Stacks};
use kubeline_aws::store::{ObjectStore, S3Store};
use kubeline_core::pipeline::{ClusterKeys, Phase, Status};
use serde_json::Value;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub const STACKS: [&str; 4] = [
    "kubeline-demo-network",
    "kubeline-demo-etcd",
    "kubeline-demo-control-plane",
    "kubeline-demo-node-pool-general",
];

pub struct Env {
    pub local: LocalPipeline,
    pub store: S3Store,
    pub cfn: CloudFormation,
    pub sfn: StepFunctions,
    pub conf: aws_config::SdkConfig,
}

/// Every log line the steps write in this test binary, as the Lambdas write them (JSON).
pub fn logs() -> &'static std::sync::Mutex<Vec<u8>> {
    static LOGS: std::sync::OnceLock<std::sync::Mutex<Vec<u8>>> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        #[derive(Clone, Copy)]
        struct Capture;
        impl std::io::Write for Capture {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                logs().lock().expect("logs").extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let _ = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_writer(move || Capture)
            .with_max_level(tracing::Level::INFO)
            .try_init();
        std::sync::Mutex::new(Vec::new())
    })
}

pub fn log_lines() -> Vec<Value> {
    let text = String::from_utf8(logs().lock().expect("logs").clone()).expect("UTF-8 logs");
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

pub async fn env() -> Env {
    let _ = logs();
    let local = LocalPipeline::start(&root(), &root().join(".tools"), true)
        .await
        .expect("local pipeline");
    let conf = local.emulator.sdk_config().await;
    Env {
        store: S3Store::new(kubeline_aws::sdk::s3(&conf), &local.install.bucket),
        cfn: CloudFormation::new(kubeline_aws::sdk::cloudformation(&conf)),
        sfn: StepFunctions::new(kubeline_aws::sdk::sfn(&conf)),
        conf,
        local,
    }
}

impl Env {
    pub fn demo(&self, edit: impl FnOnce(String) -> String) -> String {
        let text = std::fs::read_to_string(root().join("examples/cluster.yaml")).expect("example");
        edit(local::localise(&text, &self.local.install))
    }

    pub async fn put(&self, key: &str, text: &str) -> Option<String> {
        self.store
            .put(key, text.as_bytes().to_vec(), "application/yaml")
            .await
            .expect("put")
    }

    /// Writes an approval file as `kubeline approve` does: tagged with its writer's id.
    pub async fn approve(&self, key: &str, text: &str, approver: &str) -> Option<String> {
        self.store
            .put_with_tags(
                key,
                text.as_bytes().to_vec(),
                "application/yaml",
                &[(kubeline_core::pipeline::APPROVER_TAG, approver)],
            )
            .await
            .expect("put approval")
    }

    /// Uploads a cluster.yaml and returns the run it starts.
    pub async fn upload(&mut self, text: &str) -> (String, String) {
        let (_, version) = local::upload(&self.local, text).await.expect("upload");
        let (_, arn) = local::next_run(&mut self.local, Duration::from_secs(60))
            .await
            .expect("a run starts");
        (arn, version.expect("versioned bucket"))
    }

    pub async fn finish(&self, arn: &str) -> ExecutionInfo {
        for _ in 0..600 {
            let info = self.sfn.describe_execution(arn).await.expect("describe");
            if info.status != "RUNNING" {
                return info;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("{arn} did not finish in 120 s");
    }

    /// Starts `machine` again for the upload of `key` at `version`, as a second delivery of its
    /// EventBridge event would, and waits for the execution to end.
    pub async fn replay(
        &self,
        machine: &str,
        name: &str,
        key: &str,
        version: &str,
    ) -> ExecutionInfo {
        let event = serde_json::json!({"detail": {
            "bucket": {"name": self.local.install.bucket},
            "object": {"key": key, "version-id": version},
        }});
        let arn = self
            .sfn
            .start_execution(machine, name, &event.to_string())
            .await
            .expect("start");
        self.finish(&arn).await
    }

    pub async fn json<T: serde::de::DeserializeOwned>(&self, key: &str) -> T {
        local::read_json(&self.store, key)
            .await
            .expect("read")
            .unwrap_or_else(|| panic!("{key} missing"))
    }

    pub async fn status(&self) -> Status {
        self.json(&ClusterKeys::new("demo").status()).await
    }

    pub async fn wait_phase(&self, phase: Phase) -> Status {
        self.wait_phase_of("demo", phase).await
    }

    pub async fn wait_phase_of(&self, cluster: &str, phase: Phase) -> Status {
        for _ in 0..600 {
            if let Some(s) =
                local::read_json::<Status>(&self.store, &ClusterKeys::new(cluster).status())
                    .await
                    .expect("read")
                && s.phase == phase
            {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("status.json of {cluster} never reached {phase:?}");
    }

    pub async fn stack_statuses(&self) -> Vec<String> {
        let mut out = Vec::new();
        for s in STACKS {
            out.push(
                self.cfn
                    .describe_stack(s)
                    .await
                    .expect("describe")
                    .map(|i| i.status.to_string())
                    .unwrap_or_else(|| "NONE".into()),
            );
        }
        out
    }

    /// Waits until `n` notifications arrived (SNS delivery is asynchronous) and returns them.
    pub async fn wait_notifications(&self, n: usize) -> Vec<Value> {
        let mut all = Vec::new();
        for _ in 0..300 {
            all.extend(self.notifications().await);
            if all.len() >= n {
                return all;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("only {} of {n} notifications arrived: {all:?}", all.len());
    }

    pub async fn notifications(&self) -> Vec<Value> {
        let texts = self
            .local
            .install
            .drain_notifications(&self.conf)
            .await
            .expect("drain");
        for t in &texts {
            assert!(
                !t.contains("PRIVATE KEY"),
                "a secret in a notification: {t}"
            );
        }
        texts
            .iter()
            .map(|t| serde_json::from_str(t).expect("chat JSON"))
            .collect()
    }

    pub async fn objects(&self, prefix: &str) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for k in self.store.list(prefix).await.expect("list") {
            let bytes = self
                .store
                .get(&k, None)
                .await
                .expect("get")
                .expect("object")
                .bytes;
            out.push((k, bytes));
        }
        out
    }
}

/// Whether `key` is stored with SSE-S3.
pub async fn is_sse_s3(store: &impl ObjectStore, key: &str) -> bool {
    store
        .get(key, None)
        .await
        .expect("get")
        .unwrap_or_else(|| panic!("{key} exists"))
        .sse_s3
}

pub fn run_id(arn: &str) -> String {
    arn.rsplit(':').next().unwrap_or_default().to_owned()
}

pub fn titles(notes: &[Value]) -> Vec<String> {
    notes
        .iter()
        .map(|n| {
            n["content"]["title"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

/// boto3's EC2 client: the tests create in moto the network resources a platform team owns
/// (kubeline itself reads only their tags, through the Resource Groups Tagging API).
const EC2_CALL: &str = "import boto3, json, sys\n\
r = getattr(boto3.client('ec2'), sys.argv[1])(**json.loads(sys.argv[2]))\n\
r.pop('ResponseMetadata', None)\n\
print(json.dumps(r, default=str))\n";

/// One EC2 call in the emulator, by boto3's method name (`create_vpc`) and its parameters;
/// the response without its metadata.
pub fn ec2(e: &Env, action: &str, params: Value) -> Value {
    ec2_at(&e.local.emulator.endpoint, action, params)
}

/// [`ec2`] against the emulator at `endpoint`.
pub fn ec2_at(endpoint: &str, action: &str, params: Value) -> Value {
    let out = std::process::Command::new(root().join(".tools/venv/bin/python"))
        .args(["-c", EC2_CALL, action, &params.to_string()])
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "kubeline-local")
        .env("AWS_SECRET_ACCESS_KEY", "kubeline-local")
        .env("AWS_DEFAULT_REGION", local::REGION)
        .output()
        .expect("run boto3");
    assert!(
        out.status.success(),
        "EC2 {action} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("boto3's answer is JSON")
}

/// The id an EC2 call in the emulator at `endpoint` answers at `pointer` (`/Vpc/VpcId` of
/// `create_vpc`).
pub fn created(endpoint: &str, action: &str, params: Value, pointer: &str) -> String {
    let v = ec2_at(endpoint, action, params);
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no {pointer} in {v}"))
        .to_owned()
}

/// Tags `resources` with `tags` in the emulator.
pub fn tag(e: &Env, resources: &[&str], tags: &[(&str, &str)]) {
    tag_at(&e.local.emulator.endpoint, resources, tags);
}

/// [`tag`] against the emulator at `endpoint`.
pub fn tag_at(endpoint: &str, resources: &[&str], tags: &[(&str, &str)]) {
    let tags: Vec<Value> = tags
        .iter()
        .map(|(k, v)| serde_json::json!({"Key": k, "Value": v}))
        .collect();
    ec2_at(
        endpoint,
        "create_tags",
        serde_json::json!({"Resources": resources, "Tags": tags}),
    );
}
