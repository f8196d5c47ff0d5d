//! The whole pipeline against moto through the local runner: the real state machine
//! definitions, the EventBridge routing, the worker calling the Lambda handlers. A fresh cluster
//! is created, the same upload again changes nothing, a config error fails and touches nothing,
//! destroy needs its confirmation; manual approval is rejected and approved; a newer upload
//! supersedes a plan waiting for approval and waits for a running apply.

use crate::support;

use std::path::Path;
use std::time::Duration;

use kubeline::local;
use kubeline_aws::executions::Executions;
use kubeline_aws::stacks::Stacks;
use kubeline_aws::store::ObjectStore;
use kubeline_core::pipeline::{ClusterKeys, Phase, Plan, StackAction};
use serde_json::Value;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_then_no_changes_then_a_config_error_then_destroy() {
    let mut e = env().await;
    let keys = ClusterKeys::new("demo");
    // The pool runs with a stable role name of its own (kube-aws's iam.role.name).
    let text = e.demo(|t| {
        t.replacen(
            "    - name: general\n",
            "    - name: general\n      iam:\n        role:\n          name: general-nodes\n",
            1,
        )
    });
    assert!(text.contains("name: general-nodes"));

    // A fresh cluster: every stack created, recorded and notified.
    let (arn, version) = e.upload(&text).await;
    let info = e.finish(&arn).await;
    assert_eq!(info.status, "SUCCEEDED", "{info:?}");
    let run = run_id(&arn);
    let status = e.status().await;
    assert_eq!(status.phase, Phase::Succeeded);
    assert_eq!(status.run_id, run);
    assert_eq!(status.config_version.as_deref(), Some(version.as_str()));
    assert_eq!(status.api_endpoint.as_deref(), Some("demo.k8s.example.com"));
    assert_eq!(
        status
            .stacks
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        STACKS
    );
    assert!(status.stacks.iter().all(|s| s.status == "CREATE_COMPLETE"));
    assert!(
        status
            .certificates
            .as_ref()
            .is_some_and(|c| c.days_left >= 364)
    );
    assert_eq!(e.stack_statuses().await, vec!["CREATE_COMPLETE"; 4]);
    let recorded = e
        .store
        .get(&keys.run(&run).config(), None)
        .await
        .expect("get")
        .expect("the run's cluster.yaml");
    assert_eq!(recorded.bytes, text.as_bytes());
    let plan: Plan = e.json(&keys.run(&run).plan()).await;
    assert!(plan.stacks.iter().all(|s| s.action == StackAction::Create));
    assert!(
        plan.stacks[0]
            .changes
            .iter()
            .any(|c| c.resource_type == "AWS::EC2::VPC")
    );
    let result: Value = e.json(&keys.run(&run).result()).await;
    assert_eq!(result["outcome"], "succeeded");
    // Rendered assets carry the lifecycle tag; the audit trail does not.
    let s3 = kubeline_aws::sdk::s3(&e.conf);
    let tags = |key: String| {
        let s3 = s3.clone();
        let bucket = e.local.install.bucket.clone();
        async move {
            s3.get_object_tagging()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .expect("tagging")
                .tag_set()
                .iter()
                .map(|t| format!("{}={}", t.key(), t.value()))
                .collect::<Vec<_>>()
        }
    };
    let asset = e
        .store
        .list(&format!("{}assets/", keys.prefix))
        .await
        .expect("list")
        .into_iter()
        .next()
        .expect("an asset");
    assert_eq!(tags(asset).await, ["kubeline-lifecycle=rendered-asset"]);
    assert!(tags(keys.run(&run).result()).await.is_empty());
    let creds = e.objects(&keys.credentials()).await;
    assert!(creds.iter().any(|(k, _)| k.ends_with("/ca.pem")));
    for (k, bytes) in &creds {
        let text = String::from_utf8_lossy(bytes);
        assert!(
            !text.contains("PRIVATE KEY"),
            "{k} holds a private key in plain"
        );
        if k.ends_with(".enc") {
            assert!(text.starts_with("kubeline-envelope: 1"), "{k}");
        }
    }
    let notes = e.wait_notifications(2).await;
    assert_eq!(
        titles(&notes),
        ["kubeline: demo plan ready", "kubeline: demo applied"]
    );

    // The steps logged the run: every step line carries the cluster, the run id and the op,
    // and no line holds a secret (each secret's plaintext, opened with the run's KMS key, is
    // searched for line by line) or any PEM block.
    let stored: kubeline_core::reconcile::Files = creds
        .iter()
        .map(|(k, b)| {
            (
                k.rsplit('/').next().unwrap_or_default().to_owned(),
                b.clone(),
            )
        })
        .collect();
    let kms = kubeline_aws::kms::AwsKms::new(kubeline_aws::sdk::kms(&e.conf));
    let plain = kubeline_aws::sealed::open(&kms, "demo", &stored)
        .await
        .expect("open the credentials");
    let lines = log_lines();
    let ours: Vec<&Value> = lines
        .iter()
        .filter(|l| l["span"]["run_id"] == run.as_str())
        .collect();
    for op in ["issue", "render", "plan", "apply"] {
        assert!(
            ours.iter().any(|l| l["span"]["op"] == op
                && l["span"]["cluster"] == "demo"
                && l["message"] == "finished"),
            "no finished {op} line of run {run}: {ours:?}"
        );
    }
    assert!(
        lines.iter().any(|l| l["message"] == "run ended"
            && l["run_id"] == run.as_str()
            && l["outcome"] == "succeeded"),
        "the run's end is logged"
    );
    let all = String::from_utf8_lossy(&logs().lock().expect("logs")).into_owned();
    assert!(!all.contains("-----BEGIN"), "a PEM block is logged");
    let mut secrets = 0;
    for (name, bytes) in &plain {
        if !kubeline_core::reconcile::is_secret(name) {
            continue;
        }
        secrets += 1;
        for piece in String::from_utf8_lossy(bytes).lines().map(str::trim) {
            if piece.len() >= 16 && !piece.starts_with("-----") {
                assert!(!all.contains(piece), "{name} is in the logs");
            }
        }
    }
    assert!(secrets >= 5, "the secrets were opened: {secrets}");

    // The CLI renders what the pipeline rendered: from the same cluster.yaml and the same
    // credentials in a credentials/ folder, the same node configs (their keys carry their
    // SHA-512) and the same stack templates.
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::create_dir(dir.path().join("credentials")).expect("mkdir");
    for (name, bytes) in &plain {
        std::fs::write(dir.path().join("credentials").join(name), bytes).expect("write");
    }
    std::fs::write(dir.path().join("cluster.yaml"), &text).expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubeline"))
        .args(["render", "stack", "--config"])
        .arg(dir.path().join("cluster.yaml"))
        .output()
        .expect("kubeline render stack");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).expect("manifest"))
            .expect("json");
    let rendered: kubeline_pipeline::steps::RenderOutput = e.json(&keys.run(&run).render()).await;
    let pipeline: Value = e.json(&rendered.manifest_key()).await;
    assert_eq!(cli["uploads"], pipeline["uploads"], "node configs differ");
    assert!(cli["uploads"].as_array().is_some_and(|u| u.len() >= 3));
    for s in &rendered.stacks {
        let file = s.template_key.rsplit('/').next().unwrap_or_default();
        let ours = std::fs::read(dir.path().join("stack-templates").join(file)).expect("template");
        let theirs = e
            .store
            .get(&s.template_key, None)
            .await
            .expect("get")
            .expect("template");
        assert_eq!(ours, theirs.bytes, "{file} differs");
    }
    assert!(
        notes
            .iter()
            .all(|n| n["metadata"]["threadId"] == "kubeline-demo")
    );

    // Objects nodes read are SSE-S3 (their roles hold no right on the bucket's KMS key); the
    // audit trail keeps the bucket's default.
    for (k, _) in &creds {
        assert!(is_sse_s3(&e.store, k).await, "{k} is not SSE-S3");
    }
    let configs = e
        .store
        .list(&format!("{}userdata/", keys.prefix))
        .await
        .expect("list");
    assert!(!configs.is_empty());
    for k in configs {
        assert!(is_sse_s3(&e.store, &k).await, "{k} is not SSE-S3");
    }
    assert!(!is_sse_s3(&e.store, &keys.run(&run).result()).await);
    // A credential stored before node objects were SSE-S3 is rewritten by the next run, with
    // the same bytes (so nothing else changes).
    let (legacy, legacy_bytes) = creds[0].clone();
    e.store
        .put(&legacy, legacy_bytes, "application/x-pem-file")
        .await
        .expect("put");
    assert!(!is_sse_s3(&e.store, &legacy).await);

    // The same cluster.yaml again: no changes, no stack touched, no credential rewritten.
    let (arn2, _) = e.upload(&text).await;
    assert_eq!(e.finish(&arn2).await.status, "SUCCEEDED");
    let status = e.status().await;
    assert_eq!(status.phase, Phase::NoChanges);
    let plan: Plan = e.json(&keys.run(&run_id(&arn2)).plan()).await;
    assert!(
        plan.stacks
            .iter()
            .all(|s| s.action == StackAction::NoChange),
        "{plan:?}"
    );
    assert_eq!(e.stack_statuses().await, vec!["CREATE_COMPLETE"; 4]);
    assert_eq!(
        e.objects(&keys.credentials()).await,
        creds,
        "credentials rewritten"
    );
    assert!(
        is_sse_s3(&e.store, &legacy).await,
        "the legacy credential was not migrated to SSE-S3"
    );
    assert_eq!(
        titles(&e.wait_notifications(1).await),
        ["kubeline: demo no changes"]
    );

    // Moving the running workers to another API endpoint in one run is refused before anything
    // changes (they would lose the API before the pools are replaced).
    let zone = text
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("id: "))
        .expect("the demo's hosted zone")
        .to_owned();
    let endpoint = |name: &str, dns: &str| {
        format!(
            "  - name: {name}\n    dnsName: {dns}\n    loadBalancer:\n      type: classic\n      private: true\n      hostedZone:\n        id: {zone}\n"
        )
    };
    let moved = text.replacen(
        "apiEndpoints:\n",
        &format!(
            "apiEndpoints:\n{}",
            endpoint("private", "private.demo.k8s.example.com")
        ),
        1,
    );
    e.put(&keys.config(), &moved).await;
    let (_, arn_moved) = local::next_run(&mut e.local, Duration::from_secs(60))
        .await
        .expect("run");
    let info = e.finish(&arn_moved).await;
    assert_eq!(info.error.as_deref(), Some("ConfigInvalid"), "{info:?}");
    let err = e.status().await.last_error.expect("last error");
    assert!(
        err.cause
            .contains("the workers reach the API at https://internal.demo.k8s.example.com")
            && err.cause.contains("Keep internal.demo.k8s.example.com"),
        "{}",
        err.cause
    );
    assert_eq!(e.stack_statuses().await, vec!["CREATE_COMPLETE"; 4]);
    assert_eq!(
        e.objects(&keys.credentials()).await,
        creds,
        "credentials changed"
    );
    assert_eq!(
        titles(&e.wait_notifications(1).await),
        ["kubeline: demo failed"]
    );
    // The way the refusal names: the endpoint kubeline added, declared, changes nothing.
    let kept = text.replacen(
        "worker:\n",
        &format!(
            "{}worker:\n",
            endpoint("nodes", "internal.demo.k8s.example.com")
        ),
        1,
    );
    e.put(&keys.config(), &kept).await;
    let (_, arn_kept) = local::next_run(&mut e.local, Duration::from_secs(60))
        .await
        .expect("run");
    let info = e.finish(&arn_kept).await;
    assert_eq!(
        info.status,
        "SUCCEEDED",
        "{:?}",
        e.status().await.last_error
    );
    assert_eq!(e.status().await.phase, Phase::NoChanges);
    assert_eq!(
        titles(&e.wait_notifications(1).await),
        ["kubeline: demo no changes"]
    );

    // The deployed add-on set is recorded; a new CoreDNS release is named in the plan.
    let deployed_addons = e.status().await.addons.expect("the deployed add-on set");
    assert!(
        deployed_addons
            .iter()
            .any(|a| a.name == "coredns" && a.version == "v1.12.0"),
        "{deployed_addons:?}"
    );
    let newer = format!("{kept}addons:\n  coreDns:\n    version: v1.12.2\n");
    e.put(&keys.config(), &newer).await;
    let (_, arn_addons) = local::next_run(&mut e.local, Duration::from_secs(60))
        .await
        .expect("run");
    let info = e.finish(&arn_addons).await;
    assert_eq!(
        info.status,
        "SUCCEEDED",
        "{:?}",
        e.status().await.last_error
    );
    let notes = e.wait_notifications(2).await;
    assert_eq!(
        titles(&notes),
        ["kubeline: demo plan ready", "kubeline: demo applied"]
    );
    assert!(
        notes[0]["content"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("add-ons: coredns v1.12.0 → v1.12.2")),
        "{}",
        notes[0]["content"]["description"]
    );
    let status = e.status().await;
    assert!(status.addon_changes.is_empty());
    assert!(
        status
            .addons
            .expect("addons")
            .iter()
            .any(|a| a.name == "coredns" && a.version == "v1.12.2")
    );

    // A Kubernetes upgrade, one minor version: planned and announced as one, applied control
    // plane first, and recorded in the control-plane stack; going back is refused at Start.
    assert!(newer.contains("kubernetesVersion: 1.33.3"));
    let upgraded = newer.replace("kubernetesVersion: 1.33.3", "kubernetesVersion: 1.34.2");
    e.put(&keys.config(), &upgraded).await;
    let (_, arn_up) = local::next_run(&mut e.local, Duration::from_secs(60))
        .await
        .expect("run");
    let info = e.finish(&arn_up).await;
    assert_eq!(
        info.status,
        "SUCCEEDED",
        "{:?}",
        e.status().await.last_error
    );
    let up_run = run_id(&arn_up);
    let plan: Plan = e.json(&keys.run(&up_run).plan()).await;
    let upgrade = plan.upgrade.clone().expect("the plan names the upgrade");
    assert_eq!(
        (upgrade.from.as_str(), upgrade.to.as_str()),
        ("1.33.3", "1.34.2")
    );
    assert!(
        upgrade.steps[0].starts_with("control plane 1.33.3 → 1.34.2"),
        "{upgrade:?}"
    );
    assert!(
        upgrade.steps[1].starts_with("node pool general: nodes replaced"),
        "{upgrade:?}"
    );
    // An etcd snapshot came first (the local runner stands in for the etcd leader): recorded
    // in the run and status.json, the request removed, and the plan says so.
    assert_eq!(
        plan.etcd_snapshot,
        kubeline_core::pipeline::PreRunSnapshot::Take
    );
    let snapshot: kubeline_pipeline::steps::SnapshotRecord =
        e.json(&keys.run(&up_run).etcd_snapshot()).await;
    assert!(
        snapshot.key.starts_with(&keys.etcd_snapshots())
            && snapshot.key.ends_with("-local-stand-in.db")
            && snapshot.key[keys.etcd_snapshots().len()..] >= *snapshot.requested_at,
        "{snapshot:?}"
    );
    assert_eq!(
        e.status().await.etcd_snapshot.as_deref(),
        Some(snapshot.key.as_str())
    );
    assert!(
        e.store
            .get(&keys.etcd_snapshot_request(), None)
            .await
            .expect("get")
            .is_none(),
        "the answered request stays"
    );
    let executed: Vec<String> = e.json(&keys.run(&up_run).executed()).await;
    let at = |stack: &str| executed.iter().position(|s| s == stack);
    assert!(
        at("kubeline-demo-control-plane").is_some()
            && at("kubeline-demo-control-plane") < at("kubeline-demo-node-pool-general"),
        "the control plane goes first: {executed:?}"
    );
    let notes = e.wait_notifications(2).await;
    assert!(
        notes[0]["content"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("Kubernetes upgrade 1.33.3 → 1.34.2, in this order:")
                && d.contains("Nodes replaced, in this order:\n1. kubeline-demo-control-plane: controllers replaced")
                && d.contains("kubeline-demo-node-pool-general: node pool general replaced")
                && d.contains("etcd snapshot first: the etcd leader uploads a snapshot")),
        "{}",
        notes[0]["content"]["description"]
    );
    let cp = e
        .status()
        .await
        .stacks
        .into_iter()
        .find(|s| s.name == "kubeline-demo-control-plane");
    assert_eq!(
        cp.and_then(|s| s.outputs.get("KubernetesVersion").cloned())
            .as_deref(),
        Some("1.34.2")
    );
    let deployed = e.stack_statuses().await;
    e.put(&keys.config(), &newer).await;
    let (_, arn_down) = local::next_run(&mut e.local, Duration::from_secs(60))
        .await
        .expect("run");
    let info = e.finish(&arn_down).await;
    assert_eq!(info.error.as_deref(), Some("ConfigInvalid"), "{info:?}");
    let err = e.status().await.last_error.expect("last error");
    assert!(
        err.cause.contains("runs Kubernetes 1.34.2")
            && err.cause.contains("does not support downgrading"),
        "{}",
        err.cause
    );
    assert!(
        e.store
            .get(&keys.run(&run_id(&arn_down)).plan(), None)
            .await
            .expect("get")
            .is_none(),
        "a refused run planned"
    );
    assert_eq!(e.stack_statuses().await, deployed);
    assert_eq!(
        titles(&e.wait_notifications(1).await),
        ["kubeline: demo failed"]
    );

    let on_vpn = Box::pin(a_pool_moves_endpoints_but_keeps_the_one_it_runs_on(
        &mut e, &zone, &upgraded,
    ))
    .await;
    Box::pin(a_pool_never_adopts_the_role_its_stack_created(
        &mut e, &on_vpn,
    ))
    .await;

    // A config error: the run fails with every problem named, nothing is applied.
    let bad = text.replace("count: 2", "count: zero");
    e.put(&keys.config(), &bad).await;
    let (_, arn3) = local::next_run(&mut e.local, Duration::from_secs(60))
        .await
        .expect("run");
    let info = e.finish(&arn3).await;
    assert_eq!(info.status, "FAILED");
    assert_eq!(info.error.as_deref(), Some("ConfigInvalid"));
    let status = e.status().await;
    assert_eq!(status.phase, Phase::Failed);
    let err = status.last_error.expect("last error");
    assert_eq!(err.error, "ConfigInvalid");
    assert!(err.cause.contains("count"), "{}", err.cause);
    assert_eq!(e.stack_statuses().await, deployed);
    let notes = e.wait_notifications(1).await;
    assert_eq!(titles(&notes), ["kubeline: demo failed"]);
    assert!(
        notes[0]["content"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("ConfigInvalid"))
    );

    // Deleting cluster.yaml destroys nothing; the validate function tells the chat how to
    // destroy, in the cluster's thread.
    e.store.delete(&keys.config()).await.expect("delete");
    let notes = e.wait_notifications(1).await;
    assert_eq!(titles(&notes), ["kubeline: demo cluster.yaml deleted"]);
    assert_eq!(notes[0]["metadata"]["threadId"], "kubeline-demo");
    assert!(
        notes[0]["content"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("`clusters/demo/cluster.yaml` was deleted")
                && d.contains("upload destroy.yaml next to it, saying `confirm: demo`")),
        "{}",
        notes[0]
    );
    assert_eq!(e.stack_statuses().await, deployed);

    // Destroy needs `confirm: demo`.
    e.put(&keys.destroy(), "confirm: prod\n").await;
    let (_, arn4) = local::next_run(&mut e.local, Duration::from_secs(60))
        .await
        .expect("run");
    let info = e.finish(&arn4).await;
    assert_eq!(
        info.error.as_deref(),
        Some("DestroyNotConfirmed"),
        "{info:?}"
    );
    assert_eq!(e.stack_statuses().await, deployed);
    e.put(&keys.destroy(), "confirm: demo\n").await;
    let (_, arn5) = local::next_run(&mut e.local, Duration::from_secs(60))
        .await
        .expect("run");
    let info = e.finish(&arn5).await;
    assert_eq!(
        info.status, "SUCCEEDED",
        "{:?} {:?}",
        info.error, info.cause
    );
    assert!(
        e.stack_statuses()
            .await
            .iter()
            .all(|s| s == "NONE" || s == "DELETE_COMPLETE")
    );
    assert_eq!(e.status().await.phase, Phase::Destroyed);
    let titles = titles(&e.wait_notifications(2).await);
    assert_eq!(
        titles,
        ["kubeline: demo failed", "kubeline: demo destroyed"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_approval_rejected_then_superseded_then_approved() {
    let mut e = env().await;
    let keys = ClusterKeys::new("demo");
    let text = e.demo(|t| t.replace("approval: auto", "approval: manual"));

    // Rejected: nothing is applied.
    let (arn, _) = e.upload(&text).await;
    e.wait_phase(Phase::AwaitingApproval).await;
    let notes = e.wait_notifications(1).await;
    assert_eq!(titles(&notes), ["kubeline: demo plan awaiting approval"]);
    let run = run_id(&arn);
    assert!(
        notes[0]["content"]["nextSteps"][0]
            .as_str()
            .is_some_and(|s| s.contains(&keys.approval(&run)))
    );
    // A file without its writer's tag (the bucket policy refuses such writes on AWS) is no
    // decision: the run keeps waiting.
    e.put(&keys.approval(&run), "decision: approve\nby: mallory\n")
        .await;
    let refused =
        kubeline_pipeline::steps::approval_request(&e.store, &e.sfn, &keys.approval(&run))
            .await
            .expect_err("an untagged approval is refused");
    assert_eq!(
        refused.name,
        kubeline_core::errors::ErrorName::RequestInvalid
    );
    assert!(
        refused
            .cause
            .contains("carries no kubeline.io/approver object tag"),
        "{refused:?}"
    );
    assert_eq!(e.status().await.phase, Phase::AwaitingApproval);
    assert!(e.objects(&keys.run(&run).approval()).await.is_empty());
    e.approve(
        &keys.approval(&run),
        "decision: reject\nby: alice\ncomment: not today\n",
        "AROAEXAMPLE:alice",
    )
    .await;
    let info = e.finish(&arn).await;
    assert_eq!(info.error.as_deref(), Some("PlanRejected"), "{info:?}");
    assert!(
        info.cause
            .as_deref()
            .is_some_and(|c| c.contains("rejected by alice (AROAEXAMPLE:alice): not today")),
        "{info:?}"
    );
    let record: kubeline_core::pipeline::ApprovalRecord =
        local::read_json(&e.store, &keys.run(&run).approval())
            .await
            .expect("read")
            .expect("the run's approval record");
    assert_eq!(record.approver, "AROAEXAMPLE:alice");
    assert_eq!(record.decision, kubeline_core::pipeline::Decision::Reject);
    assert_eq!(record.by.as_deref(), Some("alice"));
    let status = e.status().await;
    assert_eq!(status.phase, Phase::Rejected);
    // The rejected plan's change set and the empty stack it made are gone.
    assert!(
        e.stack_statuses()
            .await
            .iter()
            .all(|s| s == "NONE" || s == "DELETE_COMPLETE"),
        "{:?}",
        e.stack_statuses().await
    );

    // A newer upload supersedes a plan still waiting for approval.
    let (older, _) = e.upload(&text).await;
    e.wait_phase(Phase::AwaitingApproval).await;
    let (newer, _) = e.upload(&text).await;
    let info = e.finish(&older).await;
    assert_eq!(info.error.as_deref(), Some("PlanRejected"));
    assert!(info.cause.unwrap_or_default().contains("superseded"));
    let status = e.wait_phase(Phase::AwaitingApproval).await;
    assert_eq!(status.run_id, run_id(&newer));

    // Approved: applied.
    e.approve(
        &keys.approval(&run_id(&newer)),
        "decision: approve\nby: bob\n",
        "AIDABOB",
    )
    .await;
    assert_eq!(e.finish(&newer).await.status, "SUCCEEDED");
    assert_eq!(e.status().await.phase, Phase::Succeeded);
    assert_eq!(e.stack_statuses().await, vec!["CREATE_COMPLETE"; 4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_quick_uploads_never_apply_concurrently_and_the_newest_wins() {
    let mut e = env().await;
    let keys = ClusterKeys::new("demo");
    let text = e.demo(|t| t);
    let changed = text.replace("count: 2", "count: 3");
    local::upload(&e.local, &text).await.expect("upload 1");
    let (_, v2) = local::upload(&e.local, &changed).await.expect("upload 2");
    let v2 = v2.expect("versioned");
    // The events may arrive in either order; both runs start.
    let (_, a) = local::next_run(&mut e.local, Duration::from_secs(60))
        .await
        .expect("run");
    let (_, b) = local::next_run(&mut e.local, Duration::from_secs(60))
        .await
        .expect("run");
    let (ia, ib) = (e.finish(&a).await, e.finish(&b).await);
    let mut outcomes = Vec::new();
    for arn in [&a, &b] {
        let r: Value = e.json(&keys.run(&run_id(arn)).result()).await;
        outcomes.push(r["outcome"].as_str().unwrap_or_default().to_owned());
    }
    outcomes.sort();
    // The older upload either applied first (and the newer one updated after it) or was
    // superseded before it started; never two applies at once, never the older one last.
    assert!(
        outcomes == ["succeeded", "succeeded"] || outcomes == ["succeeded", "superseded"],
        "{outcomes:?} {ia:?} {ib:?}"
    );
    let status = e.status().await;
    assert_eq!(status.phase, Phase::Succeeded);
    assert_eq!(
        status.config_version.as_deref(),
        Some(v2.as_str()),
        "the newest upload wins"
    );
    let plan: Plan = e.json(&keys.run(&status.run_id).plan()).await;
    let pool = plan.stacks.last().expect("pool stack");
    assert!(
        pool.changes
            .iter()
            .any(|c| c.resource_type == "AWS::AutoScaling::AutoScalingGroup"),
        "{plan:?}"
    );
    // The older upload's run ended before waiting for the newer one's apply.
    assert!(outcomes.contains(&"superseded".to_owned()), "{outcomes:?}");
    // EventBridge delivers at least once: a second execution for the same upload ends at once,
    // changing nothing, and leaves status.json to the run that applied it.
    let info = e
        .replay(
            &e.local.install.pipeline_arn,
            "demo-replayed-event",
            &keys.config(),
            &v2,
        )
        .await;
    assert_eq!(info.error.as_deref(), Some("Superseded"), "{info:?}");
    assert!(
        info.cause
            .as_deref()
            .is_some_and(|c| c.contains(&format!("already handled by run {}", status.run_id))),
        "{info:?}"
    );
    assert_eq!(e.status().await.run_id, status.run_id);
    assert!(
        e.objects(&keys.run("demo-replayed-event").plan())
            .await
            .is_empty()
    );
}

/// Runs the `kubeline` binary against the local installation, as a user would against a real
/// one (standard AWS environment, `AWS_ENDPOINT_URL`).
async fn cli(e: &Env, dir: &Path, args: &[&str]) -> (bool, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kubeline"));
    cmd.current_dir(dir)
        .args(args)
        .env("AWS_ENDPOINT_URL", &e.local.emulator.endpoint)
        .env("AWS_REGION", local::REGION)
        .env("AWS_ACCESS_KEY_ID", "kubeline-local")
        .env("AWS_SECRET_ACCESS_KEY", "kubeline-local")
        .env("KUBELINE_BUCKET", &e.local.install.bucket)
        .env_remove("AWS_PROFILE");
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run kubeline"))
        .await
        .expect("join");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_verbs_drive_an_installation() {
    let e = env().await;
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    std::fs::write(
        d.join("cluster.yaml"),
        e.demo(|t| t.replace("approval: auto", "approval: manual")),
    )
    .expect("write");

    let (ok, out) = cli(&e, d, &["apply", "--timeout", "120"]).await;
    assert!(ok, "{out}");
    assert!(
        out.contains("AwaitingApproval") && out.contains("kubeline approve demo"),
        "{out}"
    );

    let (ok, out) = cli(&e, d, &["status", "demo"]).await;
    assert!(
        ok && out.contains("phase:        AwaitingApproval"),
        "{out}"
    );

    let (ok, out) = cli(
        &e,
        d,
        &[
            "approve",
            "demo",
            "--comment",
            "looks right",
            "--timeout",
            "120",
        ],
    )
    .await;
    assert!(ok, "{out}");
    assert!(
        out.contains("Succeeded") && out.contains("https://demo.k8s.example.com"),
        "{out}"
    );
    assert!(
        out.contains("kubeline-demo-node-pool-general") && out.contains("CREATE_COMPLETE"),
        "{out}"
    );

    // The approval names its writer, as the bucket policy requires: the caller's UserId.
    let approved = ClusterKeys::new("demo");
    let run = e.status().await.run_id;
    let me = aws_sdk_sts::Client::new(&e.conf)
        .get_caller_identity()
        .send()
        .await
        .expect("sts")
        .user_id
        .expect("user id");
    let tags = e
        .store
        .tags(&approved.approval(&run), None)
        .await
        .expect("tags");
    assert!(
        tags.contains(&(kubeline_core::pipeline::APPROVER_TAG.to_owned(), me.clone())),
        "{tags:?}"
    );
    let record: kubeline_core::pipeline::ApprovalRecord =
        local::read_json(&e.store, &approved.run(&run).approval())
            .await
            .expect("read")
            .expect("the run's approval record");
    assert_eq!(record.approver, me);
    assert_eq!(record.comment.as_deref(), Some("looks right"));

    // Nothing waits for approval now.
    let (ok, out) = cli(&e, d, &["reject", "demo"]).await;
    assert!(!ok && out.contains("not waiting for approval"), "{out}");

    // etcd restore: a bad or unconfirmed request is refused before anything is written...
    let keys = ClusterKeys::new("demo");
    let deployed = e.stack_statuses().await;
    let restore = |snapshot: &'static str, extra: &'static [&'static str]| {
        let mut args = vec!["restore", "etcd", "demo", "--snapshot", snapshot];
        args.extend(extra);
        args
    };
    let (ok, out) = cli(&e, d, &restore("latest.db", &["--yes"])).await;
    assert!(!ok && out.contains("is not a snapshot of demo"), "{out}");
    let snapshot = format!("{}20261201T000000Z-etcd0.db", keys.etcd_snapshots());
    e.put(&snapshot, "a stand-in for a snapshot").await;
    let (ok, out) = cli(&e, d, &restore("20261201T000000Z-etcd0.db", &[])).await;
    assert!(!ok && out.contains("--yes"), "{out}");
    let (ok, out) = cli(&e, d, &restore("20261201T000000Z-etcd1.db", &["--yes"])).await;
    assert!(!ok && out.contains("does not exist"), "{out}");
    assert!(e.objects(&keys.restore_request()).await.is_empty());
    // ...and a confirmed one is carried out: the order goes to the members (the local runner
    // answers for them), every member reports healthy, the order is withdrawn, no stack changes.
    let (ok, out) = cli(
        &e,
        d,
        &restore("20261201T000000Z-etcd0.db", &["--yes", "--timeout", "120"]),
    )
    .await;
    assert!(ok && out.contains("Restored"), "{out}");
    let s = e.status().await;
    assert_eq!(s.phase, Phase::Restored);
    let progress = s.etcd_restore.clone().expect("etcdRestore in status.json");
    assert_eq!(progress.snapshot, snapshot);
    assert!(!progress.members.is_empty());
    assert_eq!(
        (progress.restored, progress.healthy),
        (progress.members.len(), progress.members.len())
    );
    assert!(
        out.contains(&format!(
            "{n}/{n} members restored, {n} healthy",
            n = progress.members.len()
        )),
        "{out}"
    );
    let record: kubeline_pipeline::steps::RestoreRecord =
        e.json(&keys.run(&s.run_id).etcd_restore()).await;
    assert_eq!(record.order.snapshot, snapshot);
    assert_eq!(record.order.members, progress.members);
    assert_eq!(record.reports.len(), 2 * progress.members.len());
    let result: kubeline_core::pipeline::RunResult = e.json(&keys.run(&s.run_id).result()).await;
    assert_eq!(result.outcome, kubeline_core::pipeline::Outcome::Restored);
    assert!(e.objects(&keys.etcd_restore_request()).await.is_empty());
    assert!(e.objects(&keys.restore_request()).await.is_empty());
    assert_eq!(e.stack_statuses().await, deployed);
    // A replayed event of the carried-out request never restores a second time.
    assert!(
        !e.objects(&keys.run(&s.run_id).restore_request())
            .await
            .is_empty(),
        "the run kept a copy of its request"
    );
    let claims = e.objects(&format!("{}versions/", keys.prefix)).await;
    let claim = claims
        .iter()
        .find(|(_, body)| String::from_utf8_lossy(body).contains(&s.run_id))
        .map(|(k, _)| k.clone())
        .expect("the restore run claimed its request's version");
    let restore_version = claim
        .trim_start_matches(&format!("{}versions/", keys.prefix))
        .trim_end_matches(".json")
        .to_owned();
    let info = e
        .replay(
            &e.local.install.restore_arn,
            "demo-replayed-restore",
            &keys.restore_request(),
            &restore_version,
        )
        .await;
    assert_eq!(info.error.as_deref(), Some("Superseded"), "{info:?}");
    assert_eq!(e.status().await.phase, Phase::Restored);
    assert!(e.objects(&keys.etcd_restore_request()).await.is_empty());
    // A request that confirms another cluster fails and orders nothing.
    e.put(
        &keys.restore_request(),
        &format!("confirm: prod\nsnapshot: {snapshot}\n"),
    )
    .await;
    let s = e.wait_phase(Phase::Failed).await;
    let err = s.last_error.expect("last error");
    assert_eq!(err.error, "RestoreNotConfirmed");
    assert!(
        err.cause.contains("confirms `prod`, not `demo`"),
        "{}",
        err.cause
    );
    assert!(e.objects(&keys.etcd_restore_request()).await.is_empty());
    assert!(
        e.objects(&keys.etcd_restore_reports())
            .await
            .iter()
            .all(|(k, _)| k.contains(&record.order.run_id))
    );
    assert_eq!(e.stack_statuses().await, deployed);

    // A new cluster whose name extends this one's at a `-` is refused before anything exists:
    // its derived names could be this cluster's (`demo` with pool `x-network` and
    // `demo-node-pool-x` render the same network stack).
    let other = ClusterKeys::new("demo-node-pool-x");
    let text = e
        .demo(|t| t)
        .replace("clusterName: demo", "clusterName: demo-node-pool-x");
    assert!(text.contains("clusterName: demo-node-pool-x"));
    e.put(&other.config(), &text).await;
    let err = e
        .wait_phase_of("demo-node-pool-x", Phase::Failed)
        .await
        .last_error
        .expect("the run of demo-node-pool-x fails");
    assert_eq!(err.error, "ConfigInvalid");
    assert!(
        err.cause
            .contains("cluster `demo` would share derived names"),
        "{}",
        err.cause
    );
    assert!(
        e.cfn
            .describe_stack("kubeline-demo-node-pool-x-network")
            .await
            .expect("describe")
            .is_none()
    );

    let (ok, out) = cli(&e, d, &["destroy", "demo"]).await;
    assert!(!ok && out.contains("--yes"), "{out}");
    assert_eq!(e.stack_statuses().await, vec!["CREATE_COMPLETE"; 4]);
    let (ok, out) = cli(&e, d, &["destroy", "demo", "--yes", "--timeout", "120"]).await;
    assert!(ok && out.contains("Destroyed"), "{out}");
    assert!(
        e.stack_statuses()
            .await
            .iter()
            .all(|s| s == "NONE" || s == "DELETE_COMPLETE")
    );

    // An invalid cluster.yaml is refused before anything is uploaded.
    std::fs::write(d.join("bad.yaml"), "clusterName: demo\nregion: nowhere\n").expect("write");
    let (ok, out) = cli(&e, d, &["apply", "--config", "bad.yaml"]).await;
    assert!(!ok && out.contains("nothing was uploaded"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_rotation_renews_only_clusters_inside_the_window() {
    use kubeline_aws::kms::AwsKms;
    use kubeline_core::reconcile::{self, CaSource, Files, Options};
    let mut e = env().await;
    // One cluster through the pipeline, with 20-day certificates: inside the 30-day window.
    let due = e.demo(|t| t.replace("pipeline:", "tlsCertDurationDays: 20\npipeline:"));
    let (arn, _) = e.upload(&due).await;
    assert_eq!(e.finish(&arn).await.status, "SUCCEEDED");
    let before = e.objects("clusters/demo/credentials/apiserver.pem").await;
    e.notifications().await;

    // Nineteen more clusters whose certificates are fine (sealed with the installation's key).
    let kms = AwsKms::new(kubeline_aws::sdk::kms(&e.conf));
    for i in 1..20 {
        let text = e.demo(|t| t.replace("clusterName: demo", &format!("clusterName: c{i:02}")));
        let c = kubeline_core::validate::load(&text).cluster.expect("valid");
        let plain = reconcile::reconcile(
            &c,
            &Files::new(),
            CaSource::Generate,
            &Options {
                now: time::OffsetDateTime::now_utc(),
                renew_within_days: 30,
            },
        )
        .expect("credentials")
        .files;
        let stored = kubeline_aws::sealed::seal(
            &kms,
            &e.local.install.kms_key_arn,
            c.name.as_str(),
            &plain,
            &Files::new(),
        )
        .await
        .expect("seal");
        for (name, bytes) in stored {
            e.store
                .put(
                    &format!("clusters/c{i:02}/credentials/{name}"),
                    bytes,
                    "application/octet-stream",
                )
                .await
                .expect("put");
        }
    }

    let started = std::time::Instant::now();
    let arn = e
        .sfn
        .start_execution(&e.local.install.rotation_arn, "rotation-test", "{}")
        .await
        .expect("start rotation");
    let info = e.finish(&arn).await;
    let took = started.elapsed();
    assert_eq!(info.status, "SUCCEEDED", "{info:?}");
    eprintln!("rotation over 20 clusters took {:.1} s", took.as_secs_f64());
    let out: Value = serde_json::from_str(info.output.as_deref().unwrap_or("{}")).expect("output");
    let summary = &out["summary"]["value"];
    assert_eq!(summary["renewed"], serde_json::json!(["demo"]), "{summary}");
    assert_eq!(
        summary["fine"].as_array().map(Vec::len),
        Some(19),
        "{summary}"
    );
    assert_eq!(summary["failed"], serde_json::json!([]));
    let notes = e.notifications().await;
    assert!(
        titles(&notes)
            .contains(&"kubeline: certificate rotation: 1 renewed, 19 fine, 0 failed".to_owned()),
        "{:?}",
        titles(&notes)
    );

    // The renewal went through the pipeline like an upload: a new run re-issued the certificate.
    let (_, run) = local::next_run(&mut e.local, Duration::from_secs(60))
        .await
        .expect("rotation run");
    assert_eq!(e.finish(&run).await.status, "SUCCEEDED");
    let after = e.objects("clusters/demo/credentials/apiserver.pem").await;
    assert_ne!(before, after, "the certificate was not renewed");
    assert_eq!(e.status().await.run_id, run_id(&run));
    // New credentials change the node configs, so the apply replaces the nodes that use them.
    let plan: Plan = e
        .json(&ClusterKeys::new("demo").run(&run_id(&run)).plan())
        .await;
    let control_plane = plan
        .stacks
        .iter()
        .find(|s| s.stack == "kubeline-demo-control-plane")
        .expect("control plane in the plan");
    assert_eq!(control_plane.action, StackAction::Update, "{plan:?}");
    assert!(
        control_plane
            .changes
            .iter()
            .any(|c| c.resource_type == "AWS::EC2::LaunchTemplate"),
        "{plan:?}"
    );
}

/// The pool runs with a stable role name (kube-aws's `iam.role.name`, in the deployed
/// `named` config); handing that role over as an externally managed one is refused before
/// anything changes: CloudFormation would delete the
/// role the stack created under the running nodes (`pipeline::check_identity_change`).
async fn a_pool_never_adopts_the_role_its_stack_created(e: &mut Env, named: &str) {
    assert!(named.contains("          name: general-nodes\n"));
    let identity = |status: &kubeline_core::pipeline::Status| {
        status
            .stacks
            .iter()
            .find(|s| s.name == "kubeline-demo-node-pool-general")
            .and_then(|s| s.outputs.get("NodeIdentity").cloned())
    };
    assert_eq!(
        identity(&e.status().await).as_deref(),
        Some("created:kubeline-demo-general-nodes")
    );
    let deployed = e.stack_statuses().await;
    let adopted = named.replacen(
        "          name: general-nodes\n",
        "          name: kubeline-demo-general-nodes\n          manageExternally: true\n",
        1,
    );
    assert_ne!(adopted, named);
    let (arn, _) = e.upload(&adopted).await;
    let info = e.finish(&arn).await;
    assert_eq!(info.error.as_deref(), Some("ConfigInvalid"), "{info:?}");
    let err = e.status().await.last_error.expect("last error");
    assert!(
        err.cause.contains(
            "worker.nodePools[0].iam: the role kubeline-demo-general-nodes is the one this group's stack created"
        ),
        "{}",
        err.cause
    );
    assert_eq!(e.stack_statuses().await, deployed);
    assert_eq!(
        identity(&e.status().await).as_deref(),
        Some("created:kubeline-demo-general-nodes")
    );
    assert_eq!(
        titles(&e.wait_notifications(1).await),
        ["kubeline: demo failed"]
    );
}

/// A pool may move to another API endpoint in one run (its nodes are replaced, the old ones
/// keep theirs meanwhile), but the endpoint its running nodes use stays for that run. Starts
/// from the deployed `upgraded` config and returns the one it leaves deployed; boxed by its
/// caller (the whole scenario's future would not fit a test thread's stack).
async fn a_pool_moves_endpoints_but_keeps_the_one_it_runs_on(
    e: &mut Env,
    zone: &str,
    upgraded: &str,
) -> String {
    let endpoint = format!(
        "  - name: vpn\n    dnsName: vpn.demo.k8s.example.com\n    loadBalancer:\n      type: classic\n      private: true\n      hostedZone:\n        id: {zone}\n"
    );
    // Moved: the pool's stack names the new endpoint...
    let vpn = "https://vpn.demo.k8s.example.com";
    let on_vpn = upgraded
        .replacen("worker:\n", &format!("{}worker:\n", endpoint), 1)
        .replacen(
            "    - name: general\n",
            "    - name: general\n      apiEndpointName: vpn\n",
            1,
        );
    assert_ne!(on_vpn, upgraded);
    let (arn_vpn, _) = e.upload(&on_vpn).await;
    let info = e.finish(&arn_vpn).await;
    assert_eq!(
        info.status,
        "SUCCEEDED",
        "{:?}",
        e.status().await.last_error
    );
    let pool_endpoint = |status: &kubeline_core::pipeline::Status| {
        status
            .stacks
            .iter()
            .find(|s| s.name == "kubeline-demo-node-pool-general")
            .and_then(|s| s.outputs.get("NodeApiEndpoint").cloned())
    };
    assert_eq!(pool_endpoint(&e.status().await).as_deref(), Some(vpn));
    let _ = e.wait_notifications(1).await;
    // ...but removing the endpoint its running nodes use, in the same run, is refused before
    // anything changes.
    let deployed = e.stack_statuses().await;
    let (arn_off, _) = e.upload(upgraded).await;
    let info = e.finish(&arn_off).await;
    assert_eq!(info.error.as_deref(), Some("ConfigInvalid"), "{info:?}");
    let err = e.status().await.last_error.expect("last error");
    assert!(
        err.cause
            .contains("node pool \"general\" reaches the API at https://vpn.demo.k8s.example.com")
            && err
                .cause
                .contains("Keep the endpoint whose dnsName is vpn.demo.k8s.example.com"),
        "{}",
        err.cause
    );
    assert_eq!(e.stack_statuses().await, deployed);
    assert_eq!(pool_endpoint(&e.status().await).as_deref(), Some(vpn));
    assert_eq!(
        titles(&e.wait_notifications(1).await),
        ["kubeline: demo failed"]
    );
    on_vpn
}
