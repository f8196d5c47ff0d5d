//! The requests teams upload besides cluster.yaml: approval files and destroy requests.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRequest {
    /// `approve` or `reject`.
    pub decision: Decision,
    /// Who decided.
    #[serde(default)]
    pub by: Option<String>,
    /// Why.
    #[serde(default)]
    pub comment: Option<String>,
}

/// An approval decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Apply the plan.
    Approve,
    /// Do not apply it.
    Reject,
}

/// Parses an approval file; the error says what to write instead.
pub fn parse_approval(text: &str) -> Result<ApprovalRequest, String> {
    serde_saphyr::from_str::<ApprovalRequest>(text).map_err(|e| {
        format!(
            "{}; write `decision: approve` or `decision: reject` (optional: `by`, `comment`)",
            e.to_string().lines().next().unwrap_or_default()
        )
    })
}

/// A destroy request (`clusters/<name>/destroy.yaml`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct DestroyRequest {
    confirm: String,
    #[serde(default)]
    #[allow(dead_code)]
    by: Option<String>,
}

/// Checks a destroy request for `cluster`: it must say `confirm: <cluster>`.
pub fn check_destroy(text: &str, cluster: &str) -> Result<(), String> {
    let req: DestroyRequest = serde_saphyr::from_str(text).map_err(|e| {
        format!(
            "{}; write `confirm: {cluster}`",
            e.to_string().lines().next().unwrap_or_default()
        )
    })?;
    if req.confirm == cluster {
        Ok(())
    } else {
        Err(format!(
            "the request confirms `{}`, not `{cluster}`; write `confirm: {cluster}` to destroy this cluster",
            req.confirm
        ))
    }
}
