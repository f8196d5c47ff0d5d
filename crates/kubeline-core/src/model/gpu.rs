//! kube-aws's `worker.nodePools[].gpu`: NVIDIA drivers, the container toolkit and the device
//! plugin on a pool of GPU instances (docs/gpu.md).

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

/// The driver series a GPU pool gets when `gpu.nvidia.version` is not set.
pub const DEFAULT_NVIDIA_DRIVER_SERIES: &str = "570";

/// GPU support of a node pool.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GpuConfig {
    /// NVIDIA GPUs.
    #[serde(default)]
    pub nvidia: NvidiaGpuConfig,
}

/// kube-aws's `gpu.nvidia`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NvidiaGpuConfig {
    /// Install the driver, the NVIDIA Container Toolkit and the device plugin (default false,
    /// as in kube-aws). Every instance type of the pool must carry NVIDIA GPUs.
    #[serde(default)]
    pub enabled: bool,
    /// Driver series: one of Flatcar's prebuilt NVIDIA driver extensions, `535`, `550` or
    /// `570` (the default). kube-aws took a point release such as `384.111`; Flatcar ships
    /// series, each at the release built with the Flatcar version the node boots.
    #[serde(default = "default_series", deserialize_with = "string_or_number")]
    #[schemars(with = "VersionText")]
    pub version: String,
}

impl Default for NvidiaGpuConfig {
    fn default() -> Self {
        NvidiaGpuConfig {
            enabled: false,
            version: default_series(),
        }
    }
}

/// How cluster.yaml may write `version`: text, or the number YAML reads `570` or `384.111` as.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum VersionText {
    Text(String),
    Number(f64),
}

fn default_series() -> String {
    DEFAULT_NVIDIA_DRIVER_SERIES.to_owned()
}

/// `version: 570` and `version: 384.111` are numbers to YAML; kube-aws's configs wrote them
/// unquoted, so take a number as the text it was written as.
fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Text {
        Str(String),
        Int(u64),
        Float(f64),
    }
    Ok(match Text::deserialize(d)? {
        Text::Str(s) => s,
        Text::Int(n) => n.to_string(),
        Text::Float(f) => f.to_string(),
    })
}
