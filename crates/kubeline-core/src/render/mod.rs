//! Rendering: minijinja templates to CloudFormation stacks, Ignition node configs and a kubeconfig.
//!
//! Output is parsed back and re-serialised canonically (sorted keys, two-space indent), so the
//! same cluster always renders to byte-identical files and a broken template is caught here,
//! named, instead of at deploy time.

pub mod addons;
mod generation;
pub mod ignition;
mod network;
mod output;
pub mod shell;

pub use self::generation::{credentials_generation, stored_view};
pub use self::output::{
    LimitFinding, RESOURCE_LIMIT, Rendered, StackPlan, TEMPLATE_BODY_LIMIT, TEMPLATE_URL_LIMIT,
    USERDATA_LIMIT, Upload, canonical_json, compact_canonical_json, sha512_hex,
};
pub use crate::envelope::fingerprint_object;

use std::collections::{BTreeMap, BTreeSet};

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde_json::{Value, json};

use self::network::network_context;
use self::output::Output;
use crate::addons::AddonName;
use crate::cluster::{Cluster, STACK_PREFIX};
use crate::layout::{self, NodeGroup};
use crate::oidc;

/// How long the node drainer drains one node (its NODE_TERMINATION_GRACE_PERIOD), seconds.
pub const DRAIN_TIMEOUT_SECONDS: u32 = 300;
/// The termination lifecycle hook's heartbeat timeout: the drain, the queue's delivery and the
/// drainer's own restart, after which the instance terminates undrained (`CONTINUE`).
pub const DRAIN_HOOK_HEARTBEAT_SECONDS: u32 = 600;
/// The drainer's health endpoint on the controllers' host network.
pub const DRAIN_PROBES_PORT: u32 = 8087;

/// Images nodes pull (pinned tags).
pub const AWS_CLI_IMAGE: &str = "public.ecr.aws/aws-cli/aws-cli:2.27.50";
/// Fluent Bit, which ships the nodes' journals with `cloudWatchLogging` (its systemd input and
/// cloudwatch_logs output; the image is built with both: dockerfiles/Dockerfile of v5.1.1).
pub const FLUENT_BIT_IMAGE: &str = "cr.fluentbit.io/fluent/fluent-bit:5.1.1";

/// The NVIDIA Container Toolkit as a Flatcar system extension (flatcar/sysext-bakery's
/// nvidia-runtime, the release Flatcar's NVIDIA guide names), merged on GPU pools' nodes.
pub const NVIDIA_RUNTIME_SYSEXT: &str =
    "https://extensions.flatcar.org/extensions/nvidia-runtime-v1.18.1-x86-64.raw";

macro_rules! builtin {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../templates/", $name)))),*]
    };
}

/// The templates compiled into kubeline.
const BUILTIN: &[(&str, &str)] = builtin![
    "stack-templates/_macros.j2",
    "stack-templates/network.json.j2",
    "stack-templates/etcd.json.j2",
    "stack-templates/control-plane.json.j2",
    "stack-templates/node-pool.json.j2",
    "userdata/_node.j2",
    "userdata/_os.j2",
    "userdata/_cni.j2",
    "userdata/controller.yaml.j2",
    "userdata/etcd.yaml.j2",
    "userdata/worker.yaml.j2",
    "userdata/manifests/kubelet-config.yaml.j2",
    "userdata/manifests/kube-apiserver.yaml.j2",
    "userdata/manifests/kube-controller-manager.yaml.j2",
    "userdata/manifests/kube-scheduler.yaml.j2",
    "userdata/manifests/kubelet-bootstrap-rbac.yaml.j2",
    "userdata/scripts/_retry.sh.j2",
    "userdata/scripts/_aws.sh.j2",
    "userdata/scripts/_imds.sh.j2",
    "userdata/scripts/_etcdctl.sh.j2",
    "userdata/scripts/_signal.sh.j2",
    "userdata/scripts/_etcdutl.sh.j2",
    "userdata/scripts/fetch-credentials.sh.j2",
    "userdata/scripts/kubelet-identity.sh.j2",
    "userdata/scripts/csr-approver.sh.j2",
    "userdata/scripts/etcd-attach.sh.j2",
    "userdata/scripts/etcd-identity.sh.j2",
    "userdata/scripts/etcd-ready.sh.j2",
    "userdata/scripts/node-ready.sh.j2",
    "userdata/scripts/_etcd_member.sh.j2",
    "userdata/scripts/etcd-snapshot.sh.j2",
    "userdata/scripts/etcd-restore.sh.j2",
    "userdata/scripts/format-etcd-data.sh.j2",
    "kubeconfig.j2",
    "addons/kube-proxy.yaml.j2",
    "addons/flannel.yaml.j2",
    "addons/cloud-controller-manager.yaml.j2",
    "addons/coredns.yaml.j2",
    "addons/metrics-server.yaml.j2",
    "addons/cluster-autoscaler.yaml.j2",
    "addons/aws-ebs-csi-driver.yaml.j2",
    "addons/aws-node-termination-handler.yaml.j2",
    "addons/nvidia-device-plugin.yaml.j2",
    "addons/_irsa.j2",
    "userdata/scripts/addons-apply.sh.j2",
];

/// Why rendering failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// An override names a template kubeline does not have.
    #[error("templates/{name}: no built-in template has this name; overridable templates: {known}")]
    UnknownTemplate {
        /// The override's name.
        name: String,
        /// The names that exist.
        known: String,
    },
    /// A template failed to render.
    #[error("template {name}: {message}")]
    Template {
        /// Template name.
        name: String,
        /// minijinja's explanation, with the line.
        message: String,
    },
    /// A template rendered something that is not valid JSON/YAML.
    #[error(
        "template {name} produced invalid {format} at line {line}, column {column}: {message}\n  | {excerpt}"
    )]
    InvalidOutput {
        /// Template name.
        name: String,
        /// "JSON" or "YAML".
        format: &'static str,
        /// Line in the rendered output.
        line: usize,
        /// Column in the rendered output.
        column: usize,
        /// Parser message.
        message: String,
        /// The rendered line at fault.
        excerpt: String,
    },
    /// A node config template rendered a structure kubeline cannot compile.
    #[error("template {name}: {message}")]
    NodeConfig {
        /// Template name.
        name: String,
        /// What is wrong.
        message: String,
    },
}

/// The set of templates used for rendering: the built-in ones, some possibly overridden.
#[derive(Debug, Clone)]
pub struct Templates {
    sources: BTreeMap<String, String>,
    overridden: BTreeSet<String>,
}

impl Default for Templates {
    fn default() -> Self {
        Self::builtin()
    }
}

impl Templates {
    /// The built-in templates.
    pub fn builtin() -> Self {
        Templates {
            sources: BUILTIN
                .iter()
                .map(|(n, s)| ((*n).to_owned(), (*s).to_owned()))
                .collect(),
            overridden: BTreeSet::new(),
        }
    }
    /// Names of every template that can be overridden.
    pub fn names() -> impl Iterator<Item = &'static str> {
        BUILTIN.iter().map(|(n, _)| *n)
    }
    /// Replaces the built-in template `name` (a path such as `userdata/worker.yaml.j2`).
    pub fn set(&mut self, name: &str, source: String) -> Result<(), RenderError> {
        if !self.sources.contains_key(name) {
            return Err(RenderError::UnknownTemplate {
                name: name.to_owned(),
                known: Self::names().collect::<Vec<_>>().join(", "),
            });
        }
        self.sources.insert(name.to_owned(), source);
        self.overridden.insert(name.to_owned());
        Ok(())
    }
    /// Templates replaced by the user.
    pub fn overridden(&self) -> impl Iterator<Item = &str> {
        self.overridden.iter().map(String::as_str)
    }
    /// The source of a template.
    pub fn source(&self, name: &str) -> Option<&str> {
        self.sources.get(name).map(String::as_str)
    }

    fn environment(&self) -> Result<Environment<'_>, RenderError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| AutoEscape::None);
        env.add_filter("sh", shell::filter);
        env.add_filter("short_hash", short_hash);
        for (name, src) in &self.sources {
            env.add_template(name.as_str(), src.as_str())
                .map_err(|e| template_error(name, &e))?;
        }
        Ok(env)
    }
}

struct Renderer<'a> {
    cluster: &'a Cluster,
    env: Environment<'a>,
    /// The context every template shares (the cluster among it), converted once: each render
    /// layers its own context over it without copying it, so rendering stays linear in the
    /// number of node pools.
    base: minijinja::Value,
}

impl Renderer<'_> {
    fn render(&self, name: &str, extra: Value) -> Result<String, RenderError> {
        // The last map that has a key wins: this template's context over the shared one.
        let ctx = minijinja::value::merge_maps([
            self.base.clone(),
            minijinja::Value::from(minijinja::value::Serde(&extra)),
        ]);
        let tmpl = self
            .env
            .get_template(name)
            .map_err(|e| template_error(name, &e))?;
        tmpl.render(ctx).map_err(|e| template_error(name, &e))
    }

    fn json(&self, name: &str, extra: Value) -> Result<Value, RenderError> {
        let text = self.render(name, extra)?;
        serde_json::from_str(&text).map_err(|e| RenderError::InvalidOutput {
            name: name.to_owned(),
            format: "JSON",
            line: e.line(),
            column: e.column(),
            message: e
                .to_string()
                .split(" at line")
                .next()
                .unwrap_or_default()
                .to_owned(),
            excerpt: line_of(&text, e.line()),
        })
    }

    /// Renders a YAML template and parses it as `T`.
    fn yaml<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
        extra: Value,
    ) -> Result<(String, T), RenderError> {
        let text = self.render(name, extra)?;
        match serde_saphyr::from_str(&text) {
            Ok(v) => Ok((text, v)),
            Err(e) => {
                let (line, column) = e
                    .location()
                    .map(|l| (l.line() as usize, l.column() as usize))
                    .unwrap_or((0, 0));
                Err(RenderError::InvalidOutput {
                    name: name.to_owned(),
                    format: "YAML",
                    line,
                    column,
                    message: e.to_string().lines().next().unwrap_or_default().to_owned(),
                    excerpt: line_of(&text, line),
                })
            }
        }
    }

    /// Renders a node config template and compiles it to Ignition.
    fn node_config(&self, name: &str, extra: Value) -> Result<Value, RenderError> {
        let (_, cfg) = self.yaml::<ignition::NodeConfig>(name, extra)?;
        ignition::compile(&cfg).map_err(|message| RenderError::NodeConfig {
            name: name.to_owned(),
            message,
        })
    }

    /// The template context of a node group's IAM role. `signal_stack` names the stack whose
    /// Auto Scaling groups the role's instances signal (`cloudformation:SignalResource`): every
    /// role its own stack, etcd always (its members' health), the controllers and each pool
    /// while their `waitSignal` is on; none otherwise.
    fn role(&self, group: NodeGroup<'_>) -> Value {
        let c = self.cluster;
        let signal_stack = match group {
            NodeGroup::Etcd => Some(c.stack_name("etcd")),
            NodeGroup::Controller => c
                .controller
                .wait_signal
                .then(|| c.stack_name("control-plane")),
            NodeGroup::Pool(name) => c
                .node_pools
                .iter()
                .any(|p| p.name == name && p.wait_signal)
                .then(|| c.stack_name(&format!("node-pool-{name}"))),
        };
        let extras = layout::group_extras(c, group);
        let identity = extras.map(|e| &e.identity);
        json!({
            "kind": group.kind(),
            "extras": extras,
            "iam_name": layout::node_role_name(c, group),
            "profile_name": layout::node_profile_name(c, group),
            "identity_output": crate::pipeline::StackIdentity::of(c, group).output(),
            "external_role": identity.is_some_and(|i| i.external_role),
            "instance_profile_arn": identity.and_then(|i| i.instance_profile_arn.as_deref()),
            "s3_read": layout::readable_keys(self.cluster, group),
            "secrets": layout::node_credentials(group.role()).secret,
            "asg_group_tag": group.asg_group_tag(&self.cluster.name),
            "etcd_stack": (group == NodeGroup::Etcd).then(|| self.cluster.stack_name("etcd")),
            "signal_stack": signal_stack,
        })
    }
}

/// The first 8 hex digits of the SHA-256 of `text` (of its canonical JSON when it is JSON, so
/// layout does not count): a resource's logical ID that changes whenever its content does.
fn short_hash(text: String) -> String {
    use sha2::Digest;
    // Keys sorted explicitly: serde_json's map order depends on its features, which a
    // workspace build may unify differently.
    let canonical = serde_json::from_str::<Value>(&text)
        .map(|v| output::compact_canonical_json(&v))
        .unwrap_or_else(|_| text.into_bytes());
    let digest = sha2::Sha256::digest(&canonical);
    hex::encode(digest).chars().take(8).collect()
}

/// Taints as the kubelet's `--register-with-taints` takes them: `key=value:Effect`.
fn taint_flags(taints: &[crate::cluster::Taint]) -> Vec<String> {
    taints
        .iter()
        .map(|t| format!("{}={}:{}", t.key, t.value, t.effect.as_str()))
        .collect()
}

fn line_of(text: &str, line: usize) -> String {
    text.lines()
        .nth(line.saturating_sub(1))
        .unwrap_or_default()
        .to_owned()
}

fn template_error(name: &str, e: &minijinja::Error) -> RenderError {
    let mut message = e.to_string();
    if let (Some(n), Some(line)) = (e.name(), e.line())
        && n != name
    {
        message = format!("{message} (in {n} line {line})");
    }
    RenderError::Template {
        name: name.to_owned(),
        message,
    }
}

fn labels(m: &BTreeMap<String, String>) -> Vec<String> {
    m.iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// Renders every file of the cluster with the given templates.
pub fn render(cluster: &Cluster, templates: &Templates) -> Result<Rendered, RenderError> {
    render_with(cluster, templates, &Inputs::default())
}

/// What a render takes besides the cluster and the templates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inputs {
    /// A digest of the credentials each node role receives (`controller`, `etcd`, `worker`).
    /// Node configs carry it, so new credentials (a renewal, a CA rotation stage) change the
    /// node configs and the next apply replaces the nodes that use them; unchanged credentials
    /// change nothing. Absent: `none`.
    pub credentials_generation: BTreeMap<String, String>,
    /// The region of the bucket the service-account issuer is served from (the installation's,
    /// in the pipeline). Absent: the cluster's region.
    pub bucket_region: Option<crate::types::Region>,
    /// The service-account key's JWKS (the credentials' `service-account-jwks.json`). Given,
    /// the issuer's discovery document and JWKS are rendered to be published.
    pub service_account_jwks: Option<String>,
}

impl Inputs {
    fn generation(&self, role: layout::NodeRole) -> String {
        self.credentials_generation
            .get(role_name(role))
            .cloned()
            .unwrap_or_else(|| "none".into())
    }
}

/// The name of a node role in [`Inputs::credentials_generation`].
pub fn role_name(role: layout::NodeRole) -> &'static str {
    match role {
        layout::NodeRole::Controller => "controller",
        layout::NodeRole::Etcd => "etcd",
        layout::NodeRole::Worker => "worker",
    }
}

/// Whether etcdutl of etcd `version` has `snapshot restore --bump-revision --mark-compacted`
/// (3.5.10 and later, and 3.6): a restored keyspace then never goes back in revision, so the
/// API servers' watches and informers do not miss or replay changes (etcd-io/etcd#16028,
/// kubernetes/kubernetes#118501).
fn etcd_restore_bumps_revision(version: &str) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor, patch) = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    (major, minor, patch) >= (3, 5, 10)
}

/// Each pool's rollout wave under `worker.nodePoolRollingStrategy`, in pool order: all 0
/// (Parallel), the pool's position (Sequential), or the index of its zone in the order zones
/// first appear (AvailabilityZone; validation keeps every such pool in one zone).
fn rollout_waves(c: &Cluster) -> Vec<u32> {
    use crate::model::RollingStrategy;
    let wave = |i: usize| u32::try_from(i).unwrap_or(u32::MAX);
    let mut zones: Vec<&str> = Vec::new();
    c.node_pools
        .iter()
        .enumerate()
        .map(|(i, p)| match c.node_pool_rolling {
            RollingStrategy::Parallel => 0,
            RollingStrategy::Sequential => wave(i),
            RollingStrategy::AvailabilityZone => {
                let zone = p
                    .subnets
                    .first()
                    .and_then(|s| c.subnets.get(*s))
                    .map_or("", |s| s.availability_zone.as_str());
                let at = zones.iter().position(|z| *z == zone).unwrap_or_else(|| {
                    zones.push(zone);
                    zones.len() - 1
                });
                wave(at)
            }
        })
        .collect()
}

/// Like [`render`], with [`Inputs`].
pub fn render_with(
    cluster: &Cluster,
    templates: &Templates,
    inputs: &Inputs,
) -> Result<Rendered, RenderError> {
    let c = cluster;
    let etcd_endpoints = c
        .etcd
        .members
        .iter()
        .map(|m| format!("https://{}:2379", m.private_ip))
        .collect::<Vec<_>>()
        .join(",");
    let kubelet_url = |v: &crate::types::KubeVersion| {
        format!(
            "{}/v{v}/bin/linux/amd64/kubelet",
            c.kubelet_artifact.base_url
        )
    };
    // Node drains (the AWS Node Termination Handler add-on): the queue of the control-plane
    // stack and the termination lifecycle hook of every controller and pool group.
    let drain_name = format!("{STACK_PREFIX}{}-node-drain", c.name);
    let drain = json!({
        "enabled": c.addons.get(AddonName::NodeTerminationHandler).is_some(),
        "queue_name": drain_name,
        "hook_name": drain_name,
        "queue_url": format!(
            "https://sqs.{}.{}/{}/{drain_name}",
            c.region,
            c.kms_key_arn.dns_suffix(),
            c.kms_key_arn.account()
        ),
        "timeout_seconds": DRAIN_TIMEOUT_SECONDS,
        "heartbeat_seconds": DRAIN_HOOK_HEARTBEAT_SECONDS,
        "probes_port": DRAIN_PROBES_PORT,
    });
    // IAM roles for service accounts: the issuer, and the roles of the add-ons and of
    // `serviceAccounts` (docs/service-accounts.md).
    let issuer = oidc::issuer(c, inputs.bucket_region.as_ref().unwrap_or(&c.region));
    let sa_roles = oidc::roles(c);
    let addon_role_arns: BTreeMap<&str, &str> = sa_roles
        .iter()
        .filter_map(|r| r.addon.map(|a| (a.as_str(), r.arn.as_str())))
        .collect();
    let service_accounts = json!({
        "issuer": issuer,
        "in_cluster_issuer": oidc::IN_CLUSTER_ISSUER,
        "audience": oidc::AUDIENCE,
        "token_dir": oidc::TOKEN_DIR,
        "token_seconds": oidc::TOKEN_SECONDS,
        "roles": sa_roles,
        "addon_role_arns": addon_role_arns,
    });
    let base = json!({
        "service_accounts": service_accounts,
        "drain": drain,
        "cluster": c,
        "s3": {"bucket": c.s3.bucket, "cluster_prefix": c.s3_cluster_prefix(), "etcd_snapshot_prefix": c.etcd_snapshot_prefix(), "etcd_snapshot_request": c.s3.key(&c.keys().etcd_snapshot_request()), "etcd_restore_request": c.s3.key(&c.keys().etcd_restore_request()), "etcd_restore_reports": c.s3.key(&c.keys().etcd_restore_reports())},
        "etcd_endpoints": etcd_endpoints,
        "lint_metadata": {
            "cfn-lint": {"config": {"ignore_checks": ["W3010"]}},
            "kubeline": {"W3010": "Availability zones are concrete by design: kubeline renders zones and CIDRs itself so every stack is reviewable and deterministic"},
        },
        // Every image a node pulls, from the registry mirror when cluster.yaml names one.
        "images": {
            "aws_cli": c.addons.image(AWS_CLI_IMAGE),
            "fluent_bit": c.addons.image(FLUENT_BIT_IMAGE),
            "etcd": c.addons.image(&format!("registry.k8s.io/etcd:{}-0", c.etcd.version)),
            // etcdutl (snapshot status and restore) is not in Kubernetes' etcd image (its
            // cluster/images/etcd Makefile installs etcd and etcdctl only); etcd's own release
            // image carries all three.
            "etcd_tools": c.addons.image(&format!("gcr.io/etcd-development/etcd:v{}", c.etcd.version)),
            "kubectl": c.addons.image(&format!("registry.k8s.io/kubectl:v{}", c.kubernetes_version)),
            "pause": c.addons.image("registry.k8s.io/pause:3.10"),
            "kube_apiserver": c.addons.image(&format!("registry.k8s.io/kube-apiserver:v{}", c.kubernetes_version)),
            "kube_controller_manager": c.addons.image(&format!("registry.k8s.io/kube-controller-manager:v{}", c.kubernetes_version)),
            "kube_scheduler": c.addons.image(&format!("registry.k8s.io/kube-scheduler:v{}", c.kubernetes_version)),
        },
    });
    let r = Renderer {
        cluster: c,
        env: templates.environment()?,
        base: minijinja::Value::from(minijinja::value::Serde(&base)),
    };
    let mut out = Output::default();
    let network = c.stack_name("network");
    let etcd_stack = c.stack_name("etcd");
    let control_plane = c.stack_name("control-plane");

    // Network first: every other stack imports its exports.
    let net = r.json("stack-templates/network.json.j2", network_context(c))?;
    out.stack(c, "network", &net, vec![]);

    // etcd, then the control plane that uses it, then the pools that join it. Each node group
    // gets its node config (uploaded content-addressed) and a stack whose launch template
    // carries the userdata stub pointing at that config. The controllers' node config is
    // stored first, which keeps the manifest's upload order: controller, etcd, pools.
    // The add-ons, applied from the controllers: rendered, checked and inventoried first.
    let mut rendered_addons = Vec::new();
    for addon in &c.addons.enabled {
        let template = addon.name.template();
        let text = r.render(
            &template,
            json!({
                "addon": addon,
                "img": addons::images(&c.addons, addon),
                "node_api_endpoint": c.node_api_endpoint(),
            }),
        )?;
        let objects =
            addons::inventory(addon.name, &text).map_err(|message| RenderError::Template {
                name: template.clone(),
                message,
            })?;
        out.files.insert(
            format!("addons/{}.yaml", addon.name),
            text.clone().into_bytes(),
        );
        rendered_addons.push(addons::RenderedAddon {
            addon: addon.clone(),
            text,
            objects,
        });
    }
    let addon_files: Vec<Value> = rendered_addons
        .iter()
        .enumerate()
        .map(|(i, a)| {
            json!({
                "path": format!("/etc/kubernetes/addons/{:02}-{}.yaml", i + 10, a.addon.name),
                "text": a.text,
            })
        })
        .collect();

    let controller = NodeGroup::Controller;
    let ign = r.node_config(
        "userdata/controller.yaml.j2",
        json!({
            "credentials_generation": inputs.generation(controller.role()),
            "node_group": controller.kind(),
            "creds": layout::node_credentials(controller.role()),
            "replaceable": true,
            "node_labels": labels(&c.controller.node_labels),
            "extra_taints": taint_flags(&c.controller.taints),
            "kubelet_url": kubelet_url(&c.kubernetes_version),
            "kubelet_hash": c.kubelet_artifact.hash,
            "addon_files": addon_files,
            "addon_inventory": addons::inventory_file(&rendered_addons),
            "addon_prune_resources": addons::prune_resources(),
            // The stack node-ready signals (null: the group waits for no signal).
            "signal_stack": r.role(controller)["signal_stack"],
        }),
    )?;
    let controller_userdata = out.node_config(c, controller, &ign);

    let group = NodeGroup::Etcd;
    let ign = r.node_config(
        "userdata/etcd.yaml.j2",
        json!({
            "credentials_generation": inputs.generation(group.role()),
            "node_group": group.kind(),
            "creds": layout::node_credentials(group.role()),
            "replaceable": true,
            "etcd_stack": etcd_stack,
            "snapshots": c.etcd.snapshots,
            "restore_bumps_revision": etcd_restore_bumps_revision(&c.etcd.version),
        }),
    )?;
    let userdata = out.node_config(c, group, &ign);
    let stack = r.json(
        "stack-templates/etcd.json.j2",
        json!({
            "role": r.role(group),
            "userdata": userdata,
            "snapshots": c.etcd.snapshots,
            "snapshot_output": crate::pipeline::SNAPSHOT_ON_REQUEST_OUTPUT,
            "restore_output": crate::pipeline::RESTORE_ON_REQUEST_OUTPUT,
            "etcd_member_names": c.etcd.members.iter().map(|m| m.name.clone()).collect::<Vec<_>>().join(","),
        }),
    )?;
    out.stack(c, "etcd", &stack, vec![network.clone()]);

    let stack = r.json(
        "stack-templates/control-plane.json.j2",
        json!({"role": r.role(controller), "userdata": controller_userdata, "node_api_endpoint": c.node_api_endpoint()}),
    )?;
    out.stack(
        c,
        "control-plane",
        &stack,
        vec![network.clone(), etcd_stack],
    );

    for (p, wave) in c.node_pools.iter().zip(rollout_waves(c)) {
        let group = NodeGroup::Pool(&p.name);
        let endpoint = c.pool_api_endpoint(p);
        let ign = r.node_config(
            "userdata/worker.yaml.j2",
            json!({
                "credentials_generation": inputs.generation(group.role()),
                "node_group": group.kind(),
                "creds": layout::node_credentials(group.role()),
                "replaceable": true,
                "pool": p,
                "nvidia_runtime_url": NVIDIA_RUNTIME_SYSEXT,
                "node_labels": labels(&p.node_labels),
                "taints": taint_flags(&p.taints),
                "kubelet_url": kubelet_url(&p.kubernetes_version),
                "kubelet_hash": p.kubelet_hash,
                "api_server_url": endpoint,
                "signal_stack": r.role(group)["signal_stack"],
            }),
        )?;
        let userdata = out.node_config(c, group, &ign);
        let stack = r.json(
            "stack-templates/node-pool.json.j2",
            json!({"pool": p, "role": r.role(group), "userdata": userdata, "node_api_endpoint": endpoint}),
        )?;
        out.stack(
            c,
            &format!("node-pool-{}", p.name),
            &stack,
            vec![network.clone(), control_plane.clone()],
        );
        if let Some(last) = out.stacks.last_mut() {
            last.rollout_wave = Some(wave);
        }
    }

    // The service-account issuer's documents, when the key's JWKS is given.
    if let Some(jwks) = &inputs.service_account_jwks {
        let algorithms = oidc::jwks_algorithms(jwks);
        if algorithms.is_empty() {
            return Err(RenderError::Template {
                name: crate::credential_files::SA_JWKS.into(),
                message: "is not a JWKS with signing keys; delete it and run the credentials step to derive it again".into(),
            });
        }
        out.publish(
            "oidc/openid-configuration.json",
            &issuer.discovery_key,
            oidc::discovery_document(&issuer, &algorithms).into_bytes(),
        );
        out.publish(
            "oidc/keys.json",
            &issuer.jwks_key,
            jwks.clone().into_bytes(),
        );
    }

    // The admin kubeconfig: checked to be YAML, written as rendered.
    let (kubeconfig, _) = r.yaml::<Value>(
        "kubeconfig.j2",
        json!({"admin_api_endpoint": c.admin_api_endpoint()}),
    )?;
    out.files
        .insert("kubeconfig".into(), kubeconfig.into_bytes());

    let manifest = json!({
        "cluster": c.name,
        "region": c.region,
        "kubernetesVersion": c.kubernetes_version,
        "stacks": out.stacks,
        "uploads": out.uploads,
        "published": out.published,
        "overriddenTemplates": templates.overridden().collect::<Vec<_>>(),
        "addons": rendered_addons,
    });
    out.files
        .insert("manifest.json".into(), canonical_json(&manifest));
    Ok(Rendered {
        files: out.files,
        stacks: out.stacks,
        uploads: out.uploads,
        published: out.published,
        limits: out.limits,
    })
}

#[cfg(test)]
mod tests {
    use super::etcd_restore_bumps_revision;

    #[test]
    fn restores_bump_the_revision_where_etcdutl_can() {
        for (version, bumps) in [
            ("3.5.9", false),
            ("3.5.10", true),
            ("3.5.21", true),
            ("3.6.0", true),
            ("3.4.30", false),
            ("garbage", false),
        ] {
            assert_eq!(etcd_restore_bumps_revision(version), bumps, "{version}");
        }
    }
}
