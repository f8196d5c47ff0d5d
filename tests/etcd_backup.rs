//! etcd snapshots and restore, proven with what really runs: three real etcd processes on
//! loopback addresses run the rendered etcd-snapshot and etcd-restore scripts (etcd's tools
//! for real behind a `docker` shim, S3 behind a small stand-in that keeps objects in a
//! directory and refuses what the bucket policy refuses). Only the leader uploads; the object
//! S3 receives is a snapshot `etcdctl snapshot status` accepts, encrypted with the cluster's
//! key and tagged for its retention; a wiped cluster restored from it has every key of the
//! snapshot (and none written after it), as one new, healthy cluster; a member without a
//! quorum uploads nothing. The pipeline's restore order is carried out by the same three
//! members (`etcd-restore --requested`, etcd stopped and started through a `systemctl` shim the
//! test serves): each restores and reports, the restored cluster is one new healthy cluster
//! with the snapshot's keys, nothing is done twice, and every refusal or failure leaves etcd
//! running; the controllers' hold moves the control plane's manifests out and back. (The lab
//! tests take turns: the members hold fixed loopback addresses.) Also: the timer's schedules
//! (systemd's own calendar parser), the etcd, controller and worker roles' rights on snapshots,
//! orders and reports (policy evaluation with negative controls), and the installation
//! bucket's retention rules.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kubeline_core::layout::NodeGroup;
use kubeline_core::model::SnapshotInterval;
use kubeline_tests::etcd_lab::{Lab, loopback_cluster, node_file};
use kubeline_tests::iam::{Decision, Pseudo, Request, evaluate};
use kubeline_tests::{
    installation_template, make_executable, outcome, render_example, repo_root, role_policies, run,
    tool,
};
use serde_json::Value;

/// The AWS CLI's S3 calls the scripts make, against objects in `$S3_DIR/<bucket>/<key>` (the
/// call's flags beside each object, in `<key>.call`). Like the installation's bucket policy, it
/// refuses uploads under `etcd-snapshots/` that are not SSE-KMS; like the etcd role's policy,
/// restore reports (under `etcd-restore/`) that are not SSE-S3.
const AWS_SHIM: &str = r#"#!/usr/bin/env python3
import json, os, shutil, sys
args = sys.argv[1:]
root = os.environ["S3_DIR"]
with open(os.path.join(root, "calls.log"), "a") as log:
    log.write(json.dumps(args) + "\n")
def flag(name):
    return args[args.index(name) + 1] if name in args else None
def fail(code, message):
    print(f"An error occurred ({code}) when calling the operation: {message}", file=sys.stderr)
    sys.exit(254)
if args[:2] == ["s3api", "list-objects-v2"]:
    base = os.path.join(root, flag("--bucket"))
    prefix = flag("--prefix")
    keys = []
    for d, _, files in os.walk(base):
        for f in files:
            key = os.path.relpath(os.path.join(d, f), base)
            if key.startswith(prefix) and not key.endswith(".call"):
                keys.append(key)
    after = flag("--start-after")
    if after is not None:
        keys = [k for k in keys if k > after]
    assert flag("--query") == "Contents[0].Key" and flag("--max-items") == "1"
    print(sorted(keys)[0] if keys else "None")
elif args[:2] == ["s3api", "put-object"]:
    key = flag("--key")
    if "/etcd-snapshots/" in key and flag("--server-side-encryption") != "aws:kms":
        fail("AccessDenied", "Access Denied")
    if "/etcd-restore/" in key and flag("--server-side-encryption") != "AES256":
        fail("AccessDenied", "Access Denied")
    path = os.path.join(root, flag("--bucket"), key)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    shutil.copyfile(flag("--body"), path)
    with open(path + ".call", "w") as f:
        json.dump(args, f)
    print('{"ETag": "\\"x\\""}')
elif args[:2] == ["s3api", "get-object"]:
    path = os.path.join(root, flag("--bucket"), flag("--key"))
    if not os.path.isfile(path):
        fail("NoSuchKey", "The specified key does not exist.")
    shutil.copyfile(path, args[-1])
    print("{}")
else:
    fail("InvalidAction", "the S3 stand-in knows no " + " ".join(args[:2]))
"#;

struct Backup {
    lab: Lab,
    snapshot: PathBuf,
    restore: PathBuf,
    aws: PathBuf,
    s3: PathBuf,
}

impl Backup {
    fn new() -> Backup {
        let lab = Lab::new();
        let c = loopback_cluster();
        let d = lab.dir.path().to_path_buf();
        let snapshot = d.join("etcd-snapshot");
        let restore = d.join("etcd-restore");
        std::fs::write(&snapshot, node_file(&c, "/opt/kubeline/bin/etcd-snapshot")).expect("w");
        std::fs::write(&restore, node_file(&c, "/opt/kubeline/bin/etcd-restore")).expect("w");
        let aws = d.join("aws-shim");
        std::fs::write(&aws, AWS_SHIM).expect("w");
        make_executable(&aws);
        let s3 = d.join("s3");
        std::fs::create_dir_all(s3.join(&c.s3.bucket)).expect("mkdir");
        Backup {
            lab,
            snapshot,
            restore,
            aws,
            s3,
        }
    }

    fn env(&self) -> [(&'static str, &Path); 2] {
        [("AWS_SHIM", &self.aws), ("S3_DIR", &self.s3)]
    }

    fn snapshot(&self, i: usize, args: &[&str]) -> (bool, String) {
        self.lab.run_as(i, &self.snapshot, args, &self.env())
    }

    fn restore(&self, i: usize, key: &str) -> (bool, String) {
        self.lab.run_as(i, &self.restore, &[key], &self.env())
    }

    /// One look of member I's etcd-restore-request.timer, its systemctl calls served.
    fn requested(&mut self, i: usize) -> (bool, String) {
        let env = [
            ("AWS_SHIM", self.aws.as_path()),
            ("S3_DIR", self.s3.as_path()),
        ];
        self.lab
            .run_serving(i, &self.restore, &["--requested"], &env)
    }

    /// Writes the restore order as the pipeline does.
    fn order(&self, run: &str, age: time::Duration, snapshot: &str, members: &[String]) {
        let c = loopback_cluster();
        let order = kubeline_core::pipeline::MemberRestoreRequest {
            run_id: run.into(),
            requested_at: kubeline_core::pipeline::key_time(time::OffsetDateTime::now_utc() - age),
            snapshot: snapshot.into(),
            members: members.to_vec(),
        };
        let path = self.object_path(&c.s3.key(&c.keys().etcd_restore_request()));
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, order.to_env()).expect("order");
    }

    /// The text of an object.
    fn text(&self, key: &str) -> String {
        std::fs::read_to_string(self.object_path(key)).unwrap_or_else(|e| panic!("{key}: {e}"))
    }

    /// The objects S3 holds, by key.
    fn objects(&self) -> Vec<String> {
        let bucket = self.s3.join(loopback_cluster().s3.bucket);
        let mut keys = Vec::new();
        let mut dirs = vec![bucket.clone()];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).expect("ls") {
                let p = e.expect("entry").path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_none_or(|x| x != "call") {
                    let key = p.strip_prefix(&bucket).expect("in bucket");
                    keys.push(key.display().to_string());
                }
            }
        }
        keys.sort();
        keys
    }

    fn object_path(&self, key: &str) -> PathBuf {
        self.s3.join(loopback_cluster().s3.bucket).join(key)
    }

    /// The CLI arguments the object was uploaded with.
    fn upload_args(&self, key: &str) -> Vec<String> {
        let p = self.object_path(key).with_extension("db.call");
        serde_json::from_str(&std::fs::read_to_string(p).expect("call")).expect("json")
    }

    fn start_all(&mut self) {
        let runs: Vec<(bool, String)> = std::thread::scope(|s| {
            let lab = &self.lab;
            let handles: Vec<_> = (0..3).map(|i| s.spawn(move || lab.identity(i))).collect();
            handles.into_iter().map(|h| h.join().expect("id")).collect()
        });
        for (i, (ok, out)) in runs.iter().enumerate() {
            assert!(ok, "member {i}: {out}");
        }
        for i in 0..3 {
            self.lab.start(i);
        }
        for i in 0..3 {
            self.lab.wait_healthy(i);
        }
    }

    fn field(&self, i: usize, name: &str) -> String {
        let (ok, out) = self.lab.etcdctl(i, &["endpoint", "status", "-w", "fields"]);
        assert!(ok, "{out}");
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("\"{name}\" : ")))
            .unwrap_or_else(|| panic!("no {name} in {out}"))
            .to_owned()
    }
}

fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let at = args.iter().position(|a| a == name)?;
    args.get(at + 1).map(String::as_str)
}

#[test]
fn the_leader_snapshots_to_s3_and_a_wiped_cluster_is_restored_from_it() {
    let mut b = Backup::new();
    let c = loopback_cluster();
    let prefix = c.etcd_snapshot_prefix();
    b.start_all();
    for k in 0..50 {
        let (ok, out) = b.lab.etcdctl(
            k % 3,
            &["put", &format!("/registry/k{k}"), &format!("v{k}")],
        );
        assert!(ok, "{out}");
    }
    let old_cluster_id = b.field(0, "ClusterID");

    // Every member's timer fires; only the leader takes and uploads a snapshot.
    let runs: Vec<(bool, String)> = (0..3).map(|i| b.snapshot(i, &[])).collect();
    let uploaded: Vec<usize> = (0..3)
        .filter(|&i| runs[i].1.contains("uploaded snapshot"))
        .collect();
    assert_eq!(uploaded.len(), 1, "{runs:#?}");
    let leader = uploaded[0];
    for (i, (ok, out)) in runs.iter().enumerate() {
        assert!(ok, "member {i}: {out}");
        if i != leader {
            assert!(out.contains("is not the leader"), "member {i}: {out}");
        }
    }
    let objects = b.objects();
    assert_eq!(objects.len(), 1, "{objects:?}");
    let key = objects[0].clone();
    let leader_name = &b.lab.members[leader].0;
    assert!(
        key.starts_with(&prefix) && key.ends_with(&format!("-{leader_name}.db")),
        "{key}"
    );
    // What S3 received is a snapshot etcd accepts, with the keys written before it.
    let (ok, out) = outcome(&run(std::process::Command::new(tool("etcdctl"))
        .env("ETCDCTL_API", "3")
        .args(["snapshot", "status", "-w", "json"])
        .arg(b.object_path(&key))));
    assert!(ok, "{out}");
    let status: Value = serde_json::from_str(out.lines().next().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {out}"));
    assert!(status["totalKey"].as_u64().unwrap_or(0) >= 50, "{status}");
    // Encrypted with the cluster's own key, no Bucket Key (the KMS rights are bound to the
    // object's ARN), an integrity checksum, and the first of the day kept as a daily.
    let args = b.upload_args(&key);
    assert_eq!(flag(&args, "--server-side-encryption"), Some("aws:kms"));
    assert_eq!(
        flag(&args, "--ssekms-key-id"),
        Some(c.kms_key_arn.as_str()),
        "{args:?}"
    );
    assert!(
        args.iter().any(|a| a == "--no-bucket-key-enabled"),
        "{args:?}"
    );
    assert_eq!(flag(&args, "--checksum-algorithm"), Some("SHA256"));
    assert_eq!(
        flag(&args, "--tagging"),
        Some("kubeline-lifecycle=etcd-snapshot-daily")
    );

    // The next snapshot of the day is an hourly one; a forced snapshot on a follower works
    // (the runbook's manual snapshot).
    std::thread::sleep(Duration::from_millis(1100));
    let follower = (leader + 1) % 3;
    let (ok, out) = b.snapshot(follower, &["--force"]);
    assert!(ok && out.contains("uploaded snapshot"), "{out}");
    let second: Vec<String> = b.objects().into_iter().filter(|k| *k != key).collect();
    assert_eq!(second.len(), 1, "{second:?}");
    assert_eq!(
        flag(&b.upload_args(&second[0]), "--tagging"),
        Some("kubeline-lifecycle=etcd-snapshot-hourly")
    );

    // The pipeline's request before a change. No request: nobody does anything.
    let before = b.objects();
    for i in 0..3 {
        let (ok, out) = b.snapshot(i, &["--requested"]);
        assert!(ok && !out.contains("uploaded"), "member {i}: {out}");
    }
    assert_eq!(b.objects(), before);
    // A request (as the pipeline writes it): the leader answers with a snapshot the pipeline's
    // wait accepts, the others record it as answered; nobody answers twice.
    std::thread::sleep(Duration::from_millis(1100));
    let compact = kubeline_core::pipeline::key_time;
    let asked = compact(time::OffsetDateTime::now_utc());
    let request_key = c.s3.key(&c.keys().etcd_snapshot_request());
    let request = kubeline_core::pipeline::SnapshotRequest {
        run_id: "lab-20261203T000000Z-abcdef".into(),
        requested_at: asked.clone(),
    };
    std::fs::write(b.object_path(&request_key), request.to_env()).expect("request");
    let before_request = b.objects();
    let deadline = "99991231T235959Z";
    let wait = |objects: &[String]| {
        kubeline_core::pipeline::snapshot_wait(&prefix, &asked, deadline, &asked, objects)
    };
    assert_eq!(
        wait(&b.objects()),
        kubeline_core::pipeline::SnapshotWait::Waiting,
        "the earlier snapshots predate the request"
    );
    // The followers look first: not the leader, and they record nothing (were leadership to
    // move to one of them, it would take the snapshot at its next look).
    let followers: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    let answered_file = |i: usize| {
        b.lab
            .root(i)
            .join("var/lib/kubeline/etcd-snapshot-requests-answered")
    };
    for &i in &followers {
        let (ok, out) = b.snapshot(i, &["--requested"]);
        assert!(
            ok && out.contains("asks for a snapshot") && out.contains("is not the leader"),
            "member {i}: {out}"
        );
        assert!(
            !answered_file(i).exists(),
            "member {i} recorded a request it did not answer"
        );
    }
    assert_eq!(b.objects(), before_request);
    let (ok, out) = b.snapshot(leader, &["--requested"]);
    assert!(
        ok && out.contains("uploaded snapshot") && out.contains("for run lab-"),
        "{out}"
    );
    // Once the snapshot exists, the followers see that it answers the request.
    for &i in &followers {
        let (ok, out) = b.snapshot(i, &["--requested"]);
        assert!(ok && out.contains("is answered by"), "member {i}: {out}");
    }
    let kubeline_core::pipeline::SnapshotWait::Taken(requested_key) = wait(&b.objects()) else {
        panic!("no snapshot after the request: {:?}", b.objects());
    };
    assert!(
        flag(&b.upload_args(&requested_key), "--metadata")
            .is_some_and(|m| m.ends_with(",kubeline-run=lab-20261203T000000Z-abcdef")),
        "{:?}",
        b.upload_args(&requested_key)
    );
    let after_answer = b.objects();
    for i in 0..3 {
        let (ok, out) = b.snapshot(i, &["--requested"]);
        assert!(
            ok && !out.contains("uploaded"),
            "member {i} answered twice: {out}"
        );
    }
    assert_eq!(b.objects(), after_answer);
    // A request older than 30 minutes (found by a member that just booted) is ignored, and
    // one that is not a request is refused.
    let stale = kubeline_core::pipeline::SnapshotRequest {
        run_id: "lab-stale".into(),
        requested_at: compact(time::OffsetDateTime::now_utc() - time::Duration::minutes(31)),
    };
    std::fs::write(b.object_path(&request_key), stale.to_env()).expect("request");
    let (ok, out) = b.snapshot(leader, &["--requested"]);
    assert!(
        ok && out.contains("ignored") && !out.contains("uploaded"),
        "{out}"
    );
    std::fs::write(
        b.object_path(&request_key),
        "KUBELINE_RUN_ID=$(reboot)\nKUBELINE_REQUESTED_AT=now\n",
    )
    .expect("request");
    let (ok, out) = b.snapshot(leader, &["--requested"]);
    assert!(!ok && out.contains("is not a snapshot request"), "{out}");
    std::fs::remove_file(b.object_path(&request_key)).expect("rm");
    assert!(b.objects().iter().all(|k| after_answer.contains(k)));

    // Written after the snapshot: gone after the restore.
    let (ok, out) = b.lab.etcdctl(0, &["put", "/registry/after", "x"]);
    assert!(ok, "{out}");

    // A restore refuses to run under a live member, and touches nothing.
    let (ok, out) = b.restore(0, &key);
    assert!(!ok && out.contains("is running"), "{out}");
    assert!(
        !b.lab
            .root(0)
            .join("var/lib/etcd/kubeline-restored")
            .exists()
    );

    // Disaster: every member stopped, two of them lose their data.
    for i in 0..3 {
        b.lab.stop(i);
    }
    for i in 1..3 {
        let data = b.lab.root(i).join("var/lib/etcd");
        std::fs::remove_dir_all(&data).expect("wipe");
        std::fs::create_dir_all(&data).expect("mkdir");
    }
    // Keys that are not this cluster's snapshots are refused before anything is fetched.
    for bad in [
        "clusters/other/etcd-snapshots/20260101T000000Z-etcd0.db".to_owned(),
        format!("{prefix}../credentials/ca-key.pem.enc"),
        format!("{prefix}x.txt"),
    ] {
        let (ok, out) = b.restore(1, &bad);
        assert!(
            !ok && out.contains("is not a snapshot of cluster"),
            "{bad}: {out}"
        );
    }
    // A missing snapshot fails at once (no retries), an object that is no snapshot is refused.
    let (ok, out) = b.restore(1, &format!("{prefix}20200101T000000Z-etcd0.db"));
    assert!(
        !ok && out.contains("NoSuchKey") && !out.contains("retrying in"),
        "{out}"
    );
    let junk = format!("{prefix}20200101T000000Z-junk.db");
    std::fs::write(b.object_path(&junk), b"not a snapshot").expect("w");
    let (ok, out) = b.restore(1, &junk);
    assert!(!ok, "{out}");
    assert!(
        !b.lab.root(1).join("var/lib/etcd/member").exists(),
        "a failed restore left data: {out}"
    );

    // The runbook: restore every member from the same snapshot, then start them.
    for i in 0..3 {
        let (ok, out) = b.restore(i, &key);
        assert!(ok && out.contains("restored from"), "member {i}: {out}");
    }
    let kept: Vec<_> = std::fs::read_dir(b.lab.root(0).join("var/lib/etcd"))
        .expect("ls")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("member.before-restore-"))
        .collect();
    assert_eq!(kept.len(), 1, "member 0's previous data was not kept");
    b.start_all();
    for i in 0..3 {
        for k in [0, 17, 49] {
            let (ok, out) = b.lab.etcdctl(
                i,
                &["get", &format!("/registry/k{k}"), "--print-value-only"],
            );
            assert!(
                ok && out.trim() == format!("v{k}"),
                "member {i} k{k}: {out}"
            );
        }
        let (ok, out) = b.lab.etcdctl(i, &["get", "/registry/after"]);
        assert!(
            ok && out.trim().is_empty(),
            "written after the snapshot: {out}"
        );
    }
    let (started, unstarted) = b.lab.member_list(0);
    assert_eq!((started.len(), unstarted), (3, 0), "{started:?}");
    // One new cluster (a new token), not the old one resumed.
    assert_ne!(b.field(0, "ClusterID"), old_cluster_id);
    assert_eq!(b.field(1, "ClusterID"), b.field(2, "ClusterID"));
    let (ok, out) = b.lab.etcdctl(2, &["put", "/registry/new", "y"]);
    assert!(ok, "{out}");

    // A member cut off from its quorum takes no snapshot, even when forced.
    let before = b.objects();
    b.lab.stop(1);
    b.lab.stop(2);
    let (ok, out) = b.snapshot(0, &["--force"]);
    assert!(!ok && out.contains("no snapshot taken"), "{out}");
    assert_eq!(b.objects(), before);
}

/// The CLI arguments of any upload (`<key>.call`).
fn call_args(b: &Backup, key: &str) -> Vec<String> {
    let mut p = b.object_path(key).into_os_string();
    p.push(".call");
    serde_json::from_str(&std::fs::read_to_string(p).expect("call")).expect("json")
}

/// A look that does nothing: succeeds (or fails, `ok`), says `says`, uploads nothing and
/// neither stops nor starts anything.
fn look_does_nothing(b: &mut Backup, i: usize, ok: bool, says: &str) -> String {
    let objects = b.objects();
    let calls = b.lab.systemctl_calls(i);
    let (success, out) = b.requested(i);
    assert!(success == ok && out.contains(says), "member {i}: {out}");
    assert_eq!(b.objects(), objects, "member {i} uploaded: {out}");
    assert_eq!(b.lab.systemctl_calls(i), calls, "member {i}: {out}");
    assert!(b.lab.is_started(i), "member {i} is stopped: {out}");
    out
}

/// The pipeline's restore order, carried out by three real members: refusals and failures
/// leave etcd running (with its old data), an order is acted on once it is RESTORE_HOLD_SECONDS
/// old and not when stale, each member restores and reports `restored`, then `healthy` once
/// the new cluster has its quorum, and then does nothing more; a second run from the same
/// snapshot forms another new cluster.
#[test]
fn etcd_members_carry_out_the_pipeline_s_restore_order() {
    let mut b = Backup::new();
    b.lab.install_systemctl();
    let c = loopback_cluster();
    let prefix = c.etcd_snapshot_prefix();
    let reports = c.s3.key(&c.keys().etcd_restore_reports());
    let order_key = c.s3.key(&c.keys().etcd_restore_request());
    let members: Vec<String> = b.lab.members.iter().map(|m| m.0.clone()).collect();
    // The script waits as long as the pipeline's contract says.
    let script = node_file(&c, "/opt/kubeline/bin/etcd-restore");
    assert!(
        script.contains(&format!(
            "readonly HOLD_SECONDS={}\n",
            kubeline_core::pipeline::RESTORE_HOLD_SECONDS
        )),
        "the restore script's hold is not RESTORE_HOLD_SECONDS"
    );
    let minutes = time::Duration::minutes;
    b.start_all();
    for k in 0..20 {
        let (ok, out) = b
            .lab
            .etcdctl(k % 3, &["put", &format!("/registry/k{k}"), "v"]);
        assert!(ok, "{out}");
    }
    for i in 0..3 {
        let (ok, out) = b.snapshot(i, &[]);
        assert!(ok, "member {i}: {out}");
    }
    let snapshots = b.objects();
    assert_eq!(snapshots.len(), 1, "{snapshots:?}");
    let snapshot = snapshots[0].clone();
    let (ok, out) = b.lab.etcdctl(0, &["put", "/registry/after", "x"]);
    assert!(ok, "{out}");
    let old_cluster = b.field(0, "ClusterID");

    // No order; an order younger than the hold; a stale one (a crashed run's); one that is
    // not an order.
    for i in 0..3 {
        look_does_nothing(&mut b, i, true, "");
    }
    b.order(
        "lab-young",
        time::Duration::seconds(10),
        &snapshot,
        &members,
    );
    for i in 0..3 {
        look_does_nothing(&mut b, i, true, "acts once the order is 120s old");
    }
    b.order("lab-stale", minutes(61), &snapshot, &members);
    look_does_nothing(&mut b, 0, true, "older than 3600s; ignored");
    let order_path = b.object_path(&order_key);
    std::fs::write(
        &order_path,
        "KUBELINE_RUN_ID=$(reboot)\nKUBELINE_REQUESTED_AT=20200101T000000Z\n",
    )
    .expect("w");
    look_does_nothing(&mut b, 0, false, "is not a restore order");

    // Refused before anything is stopped, and reported: another cluster's snapshot, another
    // member list. A refused run is not tried again.
    b.order(
        "lab-other-cluster",
        minutes(5),
        "clusters/other/etcd-snapshots/20260101T000000Z-etcd0.db",
        &members,
    );
    let calls = b.lab.systemctl_calls(0);
    let (ok, out) = b.requested(0);
    assert!(!ok && out.contains("is not a snapshot of cluster"), "{out}");
    assert_eq!(b.lab.systemctl_calls(0), calls, "{out}");
    let failed = format!("{reports}lab-other-cluster/{}.failed", members[0]);
    assert!(
        b.text(&failed).contains("clusters/other/"),
        "{}",
        b.text(&failed)
    );
    assert_eq!(
        flag(&call_args(&b, &failed), "--server-side-encryption"),
        Some("AES256")
    );
    look_does_nothing(&mut b, 0, true, "does not try it again");
    b.order("lab-two-members", minutes(5), &snapshot, &members[..2]);
    let (ok, out) = b.requested(1);
    assert!(!ok && out.contains("orders a restore of members"), "{out}");
    assert!(b.lab.systemctl_calls(1).is_empty(), "{out}");
    assert!(
        b.objects()
            .contains(&format!("{reports}lab-two-members/{}.failed", members[1]))
    );

    // A failed download: reported with the reason, and the member runs again with its old
    // data, in the old cluster. Not tried again.
    b.order(
        "lab-missing",
        minutes(5),
        &format!("{prefix}20200101T000000Z-etcd0.db"),
        &members,
    );
    let (ok, out) = b.requested(0);
    assert!(!ok, "{out}");
    let failed = format!("{reports}lab-missing/{}.failed", members[0]);
    assert!(b.objects().contains(&failed), "{out}");
    let why = b.text(&failed);
    assert!(
        why.contains("NoSuchKey") && why.contains("its previous data"),
        "{why}"
    );
    assert_eq!(
        b.lab.systemctl_calls(0),
        [
            "stop etcd-snapshot.timer",
            "stop etcd-snapshot-request.timer",
            "stop etcd-member.service",
            "start --no-block etcd-member.service",
            "start etcd-snapshot.timer",
            "start etcd-snapshot-request.timer",
        ],
        "{out}"
    );
    assert!(b.lab.is_started(0));
    b.lab.wait_healthy(0);
    let (ok, out) = b
        .lab
        .etcdctl(0, &["get", "/registry/after", "--print-value-only"]);
    assert!(ok && out.trim() == "x", "member 0 lost its data: {out}");
    assert_eq!(b.field(0, "ClusterID"), old_cluster);
    look_does_nothing(&mut b, 0, true, "does not try it again");

    // The order. Each member, in turn, restores and reports; etcd is started without waiting
    // (the first restored member has no quorum yet).
    let restore_once = |b: &mut Backup, run: &str| -> String {
        b.order(run, minutes(3), &snapshot, &members);
        let mut tokens = Vec::new();
        for i in 0..3 {
            let (ok, out) = b.requested(i);
            assert!(
                ok && out.contains("restored from") && out.contains("reported restored"),
                "member {i}: {out}"
            );
            let calls = b.lab.systemctl_calls(i);
            assert!(
                calls.ends_with(&[
                    "stop etcd-member.service".to_owned(),
                    "start --no-block etcd-member.service".to_owned(),
                    "start etcd-snapshot.timer".to_owned(),
                    "start etcd-snapshot-request.timer".to_owned()
                ]),
                "member {i}: {calls:?}"
            );
            assert!(b.lab.is_started(i));
            let marker =
                std::fs::read_to_string(b.lab.root(i).join("var/lib/etcd/kubeline-restored"))
                    .expect("marker");
            assert!(marker.contains(&format!("run={run}\n")), "{marker}");
            tokens.push(
                marker
                    .lines()
                    .find(|l| l.starts_with("token="))
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
        assert!(tokens.iter().all(|t| *t == tokens[0]), "{tokens:?}");
        // Every member's revision jumps by the same amount: the order's request time in
        // seconds times 100,000, so a later restore always jumps further.
        let bumps: Vec<u64> = (0..3)
            .map(|i| {
                std::fs::read_to_string(b.lab.root(i).join("etcdutl-bumps"))
                    .expect("the restore bumped the revision")
                    .lines()
                    .last()
                    .and_then(|l| l.parse().ok())
                    .expect("a number")
            })
            .collect();
        let now = time::OffsetDateTime::now_utc().unix_timestamp() as u64;
        assert!(
            bumps.iter().all(|x| *x == bumps[0])
                && bumps[0].is_multiple_of(100_000)
                && (now - 300) * 100_000 <= bumps[0]
                && bumps[0] <= now * 100_000,
            "{bumps:?}"
        );
        // The pipeline waits: every member restored, none healthy yet.
        let run_reports = c.s3.key(&c.keys().etcd_restore_run_reports(run));
        let keys: Vec<String> = b
            .objects()
            .into_iter()
            .filter(|k| k.starts_with(&run_reports))
            .collect();
        assert_eq!(
            kubeline_core::pipeline::restore_wait(
                &run_reports,
                &members,
                "99991231T235959Z",
                "20000101T000000Z",
                &keys
            ),
            kubeline_core::pipeline::RestoreWait::Waiting {
                restored: 3,
                healthy: 0
            },
            "{keys:?}"
        );
        // The next look of each member finds the new cluster healthy.
        for i in 0..3 {
            b.lab.wait_healthy(i);
        }
        for i in 0..3 {
            let calls = b.lab.systemctl_calls(i);
            let (ok, out) = b.requested(i);
            assert!(ok && out.contains("reported healthy"), "member {i}: {out}");
            assert_eq!(b.lab.systemctl_calls(i), calls, "member {i}: {out}");
        }
        let keys: Vec<String> = b
            .objects()
            .into_iter()
            .filter(|k| k.starts_with(&run_reports))
            .collect();
        assert_eq!(
            kubeline_core::pipeline::restore_wait(
                &run_reports,
                &members,
                "99991231T235959Z",
                "20000101T000000Z",
                &keys
            ),
            kubeline_core::pipeline::RestoreWait::Done,
            "{keys:?}"
        );
        for k in &keys {
            assert_eq!(
                flag(&call_args(b, k), "--server-side-encryption"),
                Some("AES256"),
                "{k}"
            );
        }
        // And then nothing: no second restore, no report twice.
        for i in 0..3 {
            look_does_nothing(b, i, true, "nothing to do");
        }
        tokens[0].clone()
    };
    let first_token = restore_once(&mut b, "lab-restore-1");
    for i in 0..3 {
        let (ok, out) = b
            .lab
            .etcdctl(i, &["get", "/registry/k19", "--print-value-only"]);
        assert!(ok && out.trim() == "v", "member {i}: {out}");
        let (ok, out) = b.lab.etcdctl(i, &["get", "/registry/after"]);
        assert!(
            ok && out.trim().is_empty(),
            "written after the snapshot: {out}"
        );
    }
    let (started, unstarted) = b.lab.member_list(0);
    assert_eq!((started.len(), unstarted), (3, 0), "{started:?}");
    let first_cluster = b.field(0, "ClusterID");
    assert_ne!(first_cluster, old_cluster);
    let leaders: Vec<String> = (0..3).map(|i| b.field(i, "Leader")).collect();
    assert!(
        leaders.iter().all(|l| *l == leaders[0] && l != "0"),
        "{leaders:?}"
    );
    let (ok, out) = b.lab.etcdctl(1, &["put", "/registry/between", "y"]);
    assert!(ok, "{out}");

    // A second run from the same snapshot forms another new cluster (the token has the run).
    let second_token = restore_once(&mut b, "lab-restore-2");
    assert_ne!(first_token, second_token);
    assert_ne!(b.field(0, "ClusterID"), first_cluster);
    let (ok, out) = b.lab.etcdctl(2, &["get", "/registry/between"]);
    assert!(ok && out.trim().is_empty(), "{out}");

    // The run ends: the order goes, and the members do nothing.
    std::fs::remove_file(&order_path).expect("rm");
    for i in 0..3 {
        look_does_nothing(&mut b, i, true, "");
    }

    // A crash or reboot in the middle of a data swap: member 2's instance went down with the
    // swap announced (the new data beside the old, etcd-member.service skipped while the
    // announcement stands). Its first look finishes the swap and starts etcd, which rejoins.
    b.lab.stop(2);
    let data = b.lab.root(2).join("var/lib/etcd");
    std::fs::create_dir_all(data.join("restore.new")).expect("mkdir");
    let (ok, out) = outcome(&run(std::process::Command::new(tool("cp"))
        .arg("-a")
        .arg(data.join("member"))
        .arg(data.join("restore.new/member"))));
    assert!(ok, "{out}");
    std::fs::write(
        data.join("kubeline-restoring"),
        format!(
            "snapshot={snapshot}\nprevious={}\n",
            data.join("member.before-restore-crash").display()
        ),
    )
    .expect("announce");
    let (ok, out) = b.requested(2);
    assert!(
        ok && out.contains("finished a data swap that a crash or reboot interrupted"),
        "{out}"
    );
    assert!(
        b.lab
            .systemctl_calls(2)
            .ends_with(&["start --no-block etcd-member.service".to_owned()]),
        "{:?}",
        b.lab.systemctl_calls(2)
    );
    assert!(b.lab.is_started(2));
    b.lab.wait_healthy(2);
    assert!(!data.join("kubeline-restoring").exists());
    assert!(data.join("kubeline-restored").is_file());
    assert!(data.join("member.before-restore-crash/snap").is_dir());
}

/// `docker run [options] IMAGE ARGS...` for the controller's hold: the AWS CLI image runs
/// `$AWS_SHIM`.
const CLI_ONLY_DOCKER_SHIM: &str = r#"#!/bin/bash
while [[ $# -gt 0 && "$1" != public.ecr.aws/aws-cli/* ]]; do shift; done
[[ $# -gt 0 ]] || { echo "docker shim: not an AWS CLI run" >&2; exit 2; }
shift
exec "${AWS_SHIM:?}" "$@"
"#;

/// A controller's hold on its control plane while a restore order stands: the three static
/// pod manifests move out (and nothing else), a second look changes nothing, and they move
/// back when the order is gone or stale; a fresh order of another run keeps the hold; a
/// manifest put back by hand while held is never lost.
#[test]
fn controllers_hold_their_control_plane_while_a_restore_order_stands() {
    let (c, rendered) = render_example(&repo_root().join("examples/ha/cluster.yaml")).expect("r");
    let (files, units, _) =
        kubeline_tests::decode_ignition(&rendered.files["userdata/controller.json"]);
    let script_text = kubeline_tests::inline_file(&files, "/opt/kubeline/bin/control-plane-hold")
        .expect("the hold script")
        .to_owned();
    let timer = units
        .iter()
        .find(|u| u.name == "kubeline-control-plane-hold.timer")
        .and_then(|u| u.contents.clone())
        .expect("the hold timer");
    assert!(timer.contains("OnUnitInactiveSec=1min"), "{timer}");
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let script = d.join("control-plane-hold");
    std::fs::write(&script, &script_text).expect("w");
    std::fs::create_dir_all(d.join("bin")).expect("mkdir");
    std::fs::write(d.join("bin/docker"), CLI_ONLY_DOCKER_SHIM).expect("w");
    make_executable(&d.join("bin/docker"));
    std::fs::write(d.join("aws-shim"), AWS_SHIM).expect("w");
    make_executable(&d.join("aws-shim"));
    let s3 = d.join("s3");
    std::fs::create_dir_all(s3.join(&c.s3.bucket)).expect("mkdir");
    let root = d.join("root");
    let manifests = root.join("etc/kubernetes/manifests");
    let held = root.join("etc/kubernetes/held-for-etcd-restore");
    std::fs::create_dir_all(&manifests).expect("mkdir");
    let components = [
        "kube-apiserver.yaml",
        "kube-controller-manager.yaml",
        "kube-scheduler.yaml",
    ];
    for m in components {
        std::fs::write(manifests.join(m), format!("# {m}\n")).expect("w");
    }
    // Another static pod of the node stays where it is.
    std::fs::write(manifests.join("other.yaml"), "# other\n").expect("w");
    let order_path = s3
        .join(&c.s3.bucket)
        .join(c.s3.key(&c.keys().etcd_restore_request()));
    std::fs::create_dir_all(order_path.parent().expect("parent")).expect("mkdir");
    let order = |run: &str, age: time::Duration| {
        let order = kubeline_core::pipeline::MemberRestoreRequest {
            run_id: run.into(),
            requested_at: kubeline_core::pipeline::key_time(time::OffsetDateTime::now_utc() - age),
            snapshot: format!("{}20260101T000000Z-etcd0.db", c.etcd_snapshot_prefix()),
            members: vec!["etcd0".into(), "etcd1".into(), "etcd2".into()],
        };
        std::fs::write(&order_path, order.to_env()).expect("order");
    };
    let look = || {
        outcome(&run(std::process::Command::new(tool("bash"))
            .arg(&script)
            .env("PATH", kubeline_tests::path_with(&d.join("bin")))
            .env("KUBELINE_ROOT", &root)
            .env("AWS_SHIM", d.join("aws-shim"))
            .env("S3_DIR", &s3)))
    };
    let names = |dir: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .map(|r| {
                r.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    let all_back = || {
        assert_eq!(
            names(&manifests),
            [
                "kube-apiserver.yaml",
                "kube-controller-manager.yaml",
                "kube-scheduler.yaml",
                "other.yaml"
            ]
        );
        assert!(names(&held).is_empty(), "{:?}", names(&held));
        for m in components {
            assert_eq!(
                std::fs::read_to_string(manifests.join(m)).expect("r"),
                format!("# {m}\n")
            );
        }
    };

    // No order: nothing moves, and nothing is said.
    let (ok, out) = look();
    assert!(ok && out.trim().is_empty(), "{out}");
    all_back();
    // An order (even one the members do not act on yet): the control plane stops at once.
    order("lab-restore-1", time::Duration::seconds(5));
    let (ok, out) = look();
    assert!(
        ok && out.contains("stopped kube-apiserver kube-controller-manager kube-scheduler"),
        "{out}"
    );
    assert_eq!(names(&manifests), ["other.yaml"]);
    assert_eq!(
        names(&held),
        [
            "kube-apiserver.yaml",
            "kube-controller-manager.yaml",
            "kube-scheduler.yaml",
            "run"
        ]
    );
    assert_eq!(
        std::fs::read_to_string(held.join("run")).expect("r"),
        "lab-restore-1\n"
    );
    // A second look changes nothing.
    let (ok, out) = look();
    assert!(ok && out.trim().is_empty(), "{out}");
    assert_eq!(names(&manifests), ["other.yaml"]);
    // The order is gone: everything back, as it was.
    std::fs::remove_file(&order_path).expect("rm");
    let (ok, out) = look();
    assert!(
        ok && out.contains("no etcd restore order") && out.contains("runs again"),
        "{out}"
    );
    all_back();
    let (ok, out) = look();
    assert!(ok && out.trim().is_empty(), "{out}");
    all_back();

    // A fresh order of another run keeps the hold; a stale one releases it.
    order("lab-restore-2", time::Duration::minutes(3));
    assert!(look().0);
    order("lab-restore-3", time::Duration::minutes(1));
    let (ok, out) = look();
    assert!(ok && out.contains("lab-restore-3"), "{out}");
    assert_eq!(names(&manifests), ["other.yaml"]);
    assert_eq!(
        std::fs::read_to_string(held.join("run")).expect("r"),
        "lab-restore-3\n"
    );
    order("lab-restore-3", time::Duration::minutes(61));
    let (ok, out) = look();
    assert!(ok && out.contains("older than 3600s"), "{out}");
    all_back();

    // A manifest put back by hand while held: the same one is one manifest; a different one
    // is held and the older copy kept; on release, one put back by hand stays and the held
    // copy is kept beside.
    order("lab-restore-4", time::Duration::minutes(3));
    assert!(look().0);
    std::fs::write(
        manifests.join("kube-scheduler.yaml"),
        "# kube-scheduler.yaml\n",
    )
    .expect("w");
    std::fs::write(manifests.join("kube-apiserver.yaml"), "# edited\n").expect("w");
    let (ok, out) = look();
    assert!(ok && out.contains("differs"), "{out}");
    assert_eq!(names(&manifests), ["other.yaml"]);
    let held_names = names(&held);
    assert!(
        held_names
            .iter()
            .any(|n| n.starts_with("kube-apiserver.yaml.older-")),
        "{held_names:?}"
    );
    assert_eq!(
        std::fs::read_to_string(held.join("kube-apiserver.yaml")).expect("r"),
        "# edited\n"
    );
    std::fs::write(
        manifests.join("kube-controller-manager.yaml"),
        "# by hand\n",
    )
    .expect("w");
    std::fs::write(&order_path, "KUBELINE_RUN_ID=$(reboot)\n").expect("w");
    // Not an order: the hold ends (and the look fails, so it shows).
    let (ok, out) = look();
    assert!(!ok && out.contains("is not an etcd restore order"), "{out}");
    assert_eq!(
        std::fs::read_to_string(manifests.join("kube-apiserver.yaml")).expect("r"),
        "# edited\n"
    );
    assert_eq!(
        std::fs::read_to_string(manifests.join("kube-controller-manager.yaml")).expect("r"),
        "# by hand\n"
    );
    let kept = names(&held);
    assert!(
        kept.iter()
            .any(|n| n.starts_with("kube-controller-manager.yaml.not-restored-")),
        "{kept:?}"
    );
    assert!(
        kept.iter()
            .any(|n| n.starts_with("kube-apiserver.yaml.older-")),
        "{kept:?}"
    );
    assert!(manifests.join("kube-scheduler.yaml").is_file());
}

/// `systemctl` runs the timer at the times systemd's own calendar parser computes: every
/// interval from midnight UTC, so the first snapshot of every day is at 00:00.
#[test]
fn the_snapshot_timer_fires_every_interval_from_midnight_utc() {
    for interval in SnapshotInterval::ALL {
        let out = run(std::process::Command::new(tool("systemd-analyze"))
            .env("TZ", "UTC")
            .args([
                "calendar",
                "--iterations=3",
                "--base-time=2026-01-01 00:00:00 UTC",
            ])
            .arg(interval.on_calendar()));
        let (ok, text) = outcome(&out);
        assert!(ok, "{}: {text}", interval.on_calendar());
        let times: Vec<&str> = text
            .lines()
            .filter_map(|l| {
                let l = l.trim();
                l.strip_prefix("Next elapse:")
                    .or_else(|| l.strip_prefix("Iter. #2:"))
                    .or_else(|| l.strip_prefix("Iter. #3:"))
            })
            .map(|s| s.trim())
            .collect();
        assert_eq!(times.len(), 3, "{text}");
        let minutes: Vec<u32> = times.iter().map(|t| minutes_of_day(t)).collect();
        let step = interval.minutes() % 1440;
        assert_eq!(minutes[0], step, "{interval:?}: {times:?}");
        assert_eq!(minutes[1], (2 * step) % 1440, "{interval:?}: {times:?}");
    }
}

/// Minutes since midnight of systemd's `Thu 2026-01-01 01:00:00 UTC`.
fn minutes_of_day(t: &str) -> u32 {
    let hms = t.split_whitespace().nth(2).unwrap_or_else(|| panic!("{t}"));
    let mut parts = hms.split(':').map(|p| p.parse::<u32>().expect("number"));
    parts.next().unwrap_or(0) * 60 + parts.next().unwrap_or(0)
}

#[test]
fn the_timer_and_scripts_follow_etcd_snapshot_settings() {
    let c = loopback_cluster();
    let text = node_file(&c, "/opt/kubeline/bin/etcd-snapshot");
    assert!(text.contains(&c.etcd_snapshot_prefix()));
    // Turned off: no snapshot script or timer (restore stays available), and a warning.
    let dir = tempfile::tempdir().expect("tmp");
    let yaml = std::fs::read_to_string(repo_root().join("examples/ha/cluster.yaml")).expect("r");
    let yaml = yaml.replacen("etcd:\n", "etcd:\n  snapshot:\n    automated: false\n", 1);
    let path = dir.path().join("cluster.yaml");
    std::fs::write(&path, &yaml).expect("w");
    let (off, rendered) = render_example(&path).expect("render");
    assert!(off.etcd.snapshots.is_none(), "{yaml}");
    let (files, units, _) = kubeline_tests::decode_ignition(&rendered.files["userdata/etcd.json"]);
    assert!(
        !files
            .iter()
            .any(|f| f.path == "/opt/kubeline/bin/etcd-snapshot")
    );
    assert!(
        files
            .iter()
            .any(|f| f.path == "/opt/kubeline/bin/etcd-restore")
    );
    assert!(!units.iter().any(|u| u.name.starts_with("etcd-snapshot")));
    // Restore orders are still answered (a manual snapshot can be restored), with no snapshot
    // timer to stop, and the stack says so.
    for unit in ["etcd-restore-request.service", "etcd-restore-request.timer"] {
        assert!(units.iter().any(|u| u.name == unit), "{unit}");
    }
    let restore = kubeline_tests::inline_file(&files, "/opt/kubeline/bin/etcd-restore").expect("r");
    assert!(
        restore.contains("readonly TIMERS=()\n"),
        "the timers of a cluster without snapshots"
    );
    let outputs = &kubeline_tests::stacks_of(&rendered)["etcd"]["Outputs"];
    assert_eq!(
        outputs[kubeline_core::pipeline::RESTORE_ON_REQUEST_OUTPUT]["Value"],
        off.etcd
            .members
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>()
            .join(",")
    );
    assert!(outputs[kubeline_core::pipeline::SNAPSHOT_ON_REQUEST_OUTPUT].is_null());
    let warnings = kubeline_core::validate::load(&yaml)
        .diagnostics
        .render("cluster.yaml");
    assert!(
        warnings.contains("etcd.snapshot.automated") && warnings.contains("lost etcd quorum"),
        "{warnings}"
    );
}

/// The etcd role reads and writes its own cluster's snapshots and nothing else; the KMS key
/// only through S3, for those objects. Every allow has a negative control.
#[test]
fn the_etcd_role_may_touch_only_its_own_cluster_s_snapshots() {
    let (c, rendered) = render_example(&repo_root().join("examples/ha/cluster.yaml")).expect("r");
    let pseudo = Pseudo::default();
    let bucket = &c.s3.bucket;
    let prefix = c.etcd_snapshot_prefix();
    let own = format!("arn:aws:s3:::{bucket}/{prefix}20260101T000000Z-etcd0.db");
    let other = format!("arn:aws:s3:::{bucket}/clusters/other/etcd-snapshots/x.db");
    let creds = format!("arn:aws:s3:::{bucket}/{}", c.keys().credentials());
    let request_key = c.s3.key(&c.keys().etcd_snapshot_request());
    let request = format!("arn:aws:s3:::{bucket}/{request_key}");
    let region = c.region.as_str();
    let kms = |ctx: &str, via: &str, action: &str| {
        Request::new(action, c.kms_key_arn.as_str())
            .with("kms:ViaService", via)
            .with("kms:EncryptionContext:aws:s3:arn", ctx)
    };
    let via_s3 = format!("s3.{region}.amazonaws.com");
    let etcd = role_policies(
        &rendered,
        &kubeline_core::layout::node_role_name(&c, NodeGroup::Etcd),
    );
    let etcd: Vec<&Value> = etcd.iter().collect();
    let pool = &c.node_pools[0].name;
    let worker = role_policies(
        &rendered,
        &kubeline_core::layout::node_role_name(&c, NodeGroup::Pool(pool)),
    );
    let worker: Vec<&Value> = worker.iter().collect();
    let cases: Vec<(Request, Decision)> = vec![
        (Request::new("s3:PutObject", &own), Decision::Allow),
        (Request::new("s3:PutObjectTagging", &own), Decision::Allow),
        (Request::new("s3:GetObject", &own), Decision::Allow),
        (Request::new("s3:PutObject", &other), Decision::ImplicitDeny),
        (Request::new("s3:GetObject", &other), Decision::ImplicitDeny),
        (
            Request::new("s3:PutObject", &format!("{creds}ca.pem")),
            Decision::ImplicitDeny,
        ),
        (
            Request::new("s3:DeleteObject", &own),
            Decision::ImplicitDeny,
        ),
        (
            Request::new("s3:ListBucket", &format!("arn:aws:s3:::{bucket}"))
                .with("s3:prefix", &format!("{prefix}20260101T")),
            Decision::Allow,
        ),
        (
            Request::new("s3:ListBucket", &format!("arn:aws:s3:::{bucket}"))
                .with("s3:prefix", "clusters/"),
            Decision::ImplicitDeny,
        ),
        // The pipeline's snapshot request: read and listed by its exact key, never written.
        (Request::new("s3:GetObject", &request), Decision::Allow),
        (
            Request::new("s3:PutObject", &request),
            Decision::ImplicitDeny,
        ),
        (
            Request::new(
                "s3:GetObject",
                &format!("arn:aws:s3:::{bucket}/clusters/other/etcd-snapshot-request.env"),
            ),
            Decision::ImplicitDeny,
        ),
        (
            Request::new("s3:ListBucket", &format!("arn:aws:s3:::{bucket}"))
                .with("s3:prefix", &request_key),
            Decision::Allow,
        ),
        (
            Request::new("s3:ListBucket", &format!("arn:aws:s3:::{bucket}"))
                .with("s3:prefix", &format!("{}etcd-snapshot", c.keys().prefix)),
            Decision::ImplicitDeny,
        ),
        (
            Request::new("s3:ListBucket", &format!("arn:aws:s3:::{bucket}"))
                .with("s3:prefix", "clusters/other/etcd-snapshot-request.env"),
            Decision::ImplicitDeny,
        ),
        (kms(&own, &via_s3, "kms:GenerateDataKey"), Decision::Allow),
        (kms(&own, &via_s3, "kms:Decrypt"), Decision::Allow),
        (
            kms(&other, &via_s3, "kms:GenerateDataKey"),
            Decision::ImplicitDeny,
        ),
        (
            kms(&own, "ec2.eu-west-1.amazonaws.com", "kms:GenerateDataKey"),
            Decision::ImplicitDeny,
        ),
        (kms(&own, &via_s3, "kms:Encrypt"), Decision::ImplicitDeny),
    ];
    for (req, want) in &cases {
        assert_eq!(evaluate(&pseudo, &etcd, req), *want, "etcd role: {req:?}");
        // Workers may do none of it.
        assert_ne!(
            evaluate(&pseudo, &worker, req),
            Decision::Allow,
            "worker role: {req:?}"
        );
    }
}

/// The restore order: the etcd role lists and reads it and writes its members' reports (SSE-S3,
/// this cluster's folder, only `<run>/<member>.<state>`); the controller role lists and reads
/// it; neither writes it, and workers may do none of it. Every allow has a negative control.
#[test]
fn only_etcd_members_report_on_restore_orders_and_controllers_only_read_them() {
    let (c, rendered) = render_example(&repo_root().join("examples/ha/cluster.yaml")).expect("r");
    let pseudo = Pseudo::default();
    let bucket = &c.s3.bucket;
    let bucket_arn = format!("arn:aws:s3:::{bucket}");
    let order_key = c.s3.key(&c.keys().etcd_restore_request());
    let order = format!("{bucket_arn}/{order_key}");
    let reports = c.s3.key(&c.keys().etcd_restore_reports());
    let member = &c.etcd.members[0].name;
    let report = |run: &str, name: &str| format!("{bucket_arn}/{reports}{run}/{name}");
    let put = |arn: &str, sse: &str| {
        Request::new("s3:PutObject", arn).with("s3:x-amz-server-side-encryption", sse)
    };
    let list = |prefix: &str| Request::new("s3:ListBucket", &bucket_arn).with("s3:prefix", prefix);
    let other_reports = report("r1", member).replace(&format!("/{}/", c.name), "/other/");
    assert_ne!(other_reports, report("r1", member));
    let policies = |group: NodeGroup<'_>| {
        role_policies(&rendered, &kubeline_core::layout::node_role_name(&c, group))
    };
    let etcd = policies(NodeGroup::Etcd);
    let controller = policies(NodeGroup::Controller);
    let worker = policies(NodeGroup::Pool(&c.node_pools[0].name));
    let (etcd, controller, worker): (Vec<&Value>, Vec<&Value>, Vec<&Value>) = (
        etcd.iter().collect(),
        controller.iter().collect(),
        worker.iter().collect(),
    );
    let allow = Decision::Allow;
    let deny = Decision::ImplicitDeny;
    // (request, etcd role, controller role); workers: never allowed.
    let cases: Vec<(Request, Decision, Decision)> = vec![
        // The order: listed by its exact key and read by both, written by neither.
        (list(&order_key), allow, allow),
        (Request::new("s3:GetObject", &order), allow, allow),
        (put(&order, "AES256"), deny, deny),
        (Request::new("s3:DeleteObject", &order), deny, deny),
        (
            list(&format!("{}etcd-restore", c.keys().prefix)),
            deny,
            deny,
        ),
        (list(&reports), deny, deny),
        (list("clusters/other/etcd-restore-request.env"), deny, deny),
        (
            Request::new(
                "s3:GetObject",
                &format!("{bucket_arn}/clusters/other/etcd-restore-request.env"),
            ),
            deny,
            deny,
        ),
        // Reports: the members' own states, SSE-S3, this cluster's folder only.
        (
            put(&report("r1", &format!("{member}.restored")), "AES256"),
            allow,
            deny,
        ),
        (
            put(&report("r1", &format!("{member}.healthy")), "AES256"),
            allow,
            deny,
        ),
        (
            put(&report("r1", &format!("{member}.failed")), "AES256"),
            allow,
            deny,
        ),
        (
            put(&report("r1", &format!("{member}.restored")), "aws:kms"),
            deny,
            deny,
        ),
        (
            Request::new("s3:PutObject", &report("r1", &format!("{member}.restored"))),
            deny,
            deny,
        ),
        (
            put(&report("r1", &format!("{member}.done")), "AES256"),
            deny,
            deny,
        ),
        (put(&report("r1", "etcd9.healthy"), "AES256"), deny, deny),
        (
            put(&format!("{other_reports}.healthy"), "AES256"),
            deny,
            deny,
        ),
        (
            put(&format!("{bucket_arn}/{reports}x.txt"), "AES256"),
            deny,
            deny,
        ),
        (
            put(
                &format!("{bucket_arn}/{}cluster.yaml", c.keys().prefix),
                "AES256",
            ),
            deny,
            deny,
        ),
        (
            put(
                &format!("{bucket_arn}/{}restore-etcd.yaml", c.keys().prefix),
                "AES256",
            ),
            deny,
            deny,
        ),
        (
            Request::new("s3:GetObject", &report("r1", &format!("{member}.failed"))),
            deny,
            deny,
        ),
    ];
    for (req, want_etcd, want_controller) in &cases {
        assert_eq!(
            evaluate(&pseudo, &etcd, req),
            *want_etcd,
            "etcd role: {req:?}"
        );
        assert_eq!(
            evaluate(&pseudo, &controller, req),
            *want_controller,
            "controller role: {req:?}"
        );
        assert_ne!(
            evaluate(&pseudo, &worker, req),
            allow,
            "worker role: {req:?}"
        );
    }
}

/// The installation bucket keeps hourly and daily snapshots for their own number of days
/// (parameters), old versions of both expire too, and an upload under etcd-snapshots/ that is
/// not SSE-KMS is refused.
#[test]
fn the_installation_keeps_snapshots_for_their_retention_and_only_encrypted() {
    let t = installation_template();
    let params = &t["Parameters"];
    let rules = t["Resources"]["Bucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
        .as_array()
        .expect("rules");
    for (kind, param, default) in [
        ("hourly", "EtcdHourlySnapshotRetentionDays", 7),
        ("daily", "EtcdDailySnapshotRetentionDays", 31),
    ] {
        assert_eq!(params[param]["Default"], default, "{param}");
        let rule = rules
            .iter()
            .find(|r| {
                r["TagFilters"].as_array().is_some_and(|f| {
                    f.iter()
                        .any(|t| t["Value"] == format!("etcd-snapshot-{kind}"))
                })
            })
            .unwrap_or_else(|| panic!("no rule for {kind} snapshots"));
        assert_eq!(rule["Status"], "Enabled");
        assert_eq!(rule["TagFilters"][0]["Key"], "kubeline-lifecycle");
        assert_eq!(rule["ExpirationInDays"]["Ref"], param, "{rule}");
        assert!(
            rule["NoncurrentVersionExpiration"]["NoncurrentDays"].is_number(),
            "{rule}"
        );
    }
    let policy = &t["Resources"]["BucketPolicy"]["Properties"]["PolicyDocument"];
    let mut pseudo = Pseudo::default();
    pseudo
        .refs
        .insert("Bucket".into(), "kubeline-123456789012-eu-west-1".into());
    pseudo
        .refs
        .insert("AWS::StackName".into(), "kubeline".into());
    let key = "arn:aws:s3:::kubeline-123456789012-eu-west-1/clusters/a/etcd-snapshots/x.db";
    // As the cluster's etcd members write them (only they may: the bucket policy).
    let put = |sse: &str| {
        Request::new("s3:PutObject", key)
            .with("s3:x-amz-server-side-encryption", sse)
            .with(
                "aws:PrincipalArn",
                "arn:aws:iam::123456789012:role/kubeline-a-etcd",
            )
    };
    assert_eq!(
        evaluate(&pseudo, &[policy], &put("AES256")),
        Decision::ExplicitDeny
    );
    assert_ne!(
        evaluate(&pseudo, &[policy], &put("aws:kms")),
        Decision::ExplicitDeny
    );
}
