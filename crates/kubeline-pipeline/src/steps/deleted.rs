//! A deleted cluster.yaml: nothing is destroyed (deleting the file is no confirmation), and the
//! chat is told how to destroy the cluster.

use kubeline_aws::notify::Notifier;
use kubeline_core::pipeline::{Chat, ClusterKeys, Route};
use kubeline_core::types::ClusterName;
use serde::{Deserialize, Serialize};

use crate::error::StepError;

/// What the step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigDeletedOutput {
    /// Whether the chat was told. A key that is no cluster's cluster.yaml (a deeper key the
    /// rule's wildcard matched, or a folder that is not a valid cluster name, which no run
    /// could have created) is ignored.
    pub notified: bool,
}

/// The cluster whose cluster.yaml `key` is, if it is exactly one's.
pub fn deleted_cluster(key: &str) -> Option<ClusterName> {
    if !Route::ConfigDeleted.is_exact(key) {
        return None;
    }
    ClusterKeys::cluster_of(key)?.parse().ok()
}

/// Tells the chat that `key` was deleted and nothing was destroyed.
pub async fn config_deleted<N: Notifier>(
    chat: &N,
    key: &str,
) -> Result<ConfigDeletedOutput, StepError> {
    let Some(cluster) = deleted_cluster(key) else {
        return Ok(ConfigDeletedOutput { notified: false });
    };
    chat.publish(Chat::config_deleted(&cluster).to_json().to_string())
        .await?;
    Ok(ConfigDeletedOutput { notified: true })
}

#[cfg(test)]
mod tests {
    use super::deleted_cluster;

    #[test]
    fn only_a_clusters_own_config_is_one() {
        for (key, expected) in [
            ("clusters/demo/cluster.yaml", Some("demo")),
            ("clusters/demo/x/cluster.yaml", None),
            ("clusters/[x](https://evil.example)/cluster.yaml", None),
            ("clusters/@here/cluster.yaml", None),
            ("clusters/Demo/cluster.yaml", None),
            ("clusters//cluster.yaml", None),
            ("other/demo/cluster.yaml", None),
        ] {
            assert_eq!(
                deleted_cluster(key).as_ref().map(|c| c.as_str()),
                expected,
                "{key}"
            );
        }
    }
}
