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

/// The object tag naming an approval file's writer: the caller's `aws:userid` (for a role
/// session `<role id>:<session name>`). The installation's bucket policy
/// (`ApprovalsNameTheirWriter`) refuses an approval file, or a re-tagging of one, whose tag is
/// not its writer's own id, so the tag is who wrote the decision; the file's `by` is only what
/// the writer says of themselves.
pub const APPROVER_TAG: &str = "kubeline.io/approver";

/// The approver an approval file's object tags name ([`APPROVER_TAG`]); the error says why an
/// untagged file is not a decision and how to write one.
pub fn approver_of<'a>(key: &str, tags: &'a [(String, String)]) -> Result<&'a str, String> {
    match tags.iter().find(|(k, _)| k == APPROVER_TAG) {
        Some((_, v)) if !v.is_empty() => Ok(v),
        _ => Err(format!(
            "{key} carries no {APPROVER_TAG} object tag naming its writer, so it is not a \
             decision (the installation's bucket policy refuses approvals without it); write \
             approvals with `kubeline approve` or `kubeline reject`, or put the object with \
             `--tagging {APPROVER_TAG}=<your aws:userid>` (`aws sts get-caller-identity` prints \
             it as UserId)"
        )),
    }
}

/// What a run's approval was (`runs/<id>/approval.json`): the decision, the approver the
/// bucket vouches for, and what the file said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRecord {
    /// Approve or reject.
    pub decision: Decision,
    /// The writer's `aws:userid`, from the file's [`APPROVER_TAG`].
    pub approver: String,
    /// Who the file says decided (the writer's own words).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The approval file.
    pub key: String,
    /// Its version (versioned buckets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl ApprovalRecord {
    /// Who decided, for causes and chat: the stated name with the vouched-for id.
    pub fn who(&self) -> String {
        match &self.by {
            Some(by) if by != &self.approver => format!("{by} ({})", self.approver),
            _ => self.approver.clone(),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// Object tags and the approver they name (`None`: not a decision).
    type Case<'a> = (&'a [(&'a str, &'a str)], Option<&'a str>);

    #[test]
    fn the_approver_is_the_tag_the_bucket_vouches_for() {
        let key = "clusters/a/approvals/r1.yaml";
        let cases: &[Case] = &[
            (
                &[(APPROVER_TAG, "AROAEXAMPLE:alice")],
                Some("AROAEXAMPLE:alice"),
            ),
            (
                &[("team", "x"), (APPROVER_TAG, "AIDAEXAMPLE")],
                Some("AIDAEXAMPLE"),
            ),
            // Untagged, empty, or a look-alike key: not a decision.
            (&[], None),
            (&[(APPROVER_TAG, "")], None),
            (&[("kubeline.io/Approver", "AIDAEXAMPLE")], None),
        ];
        for (list, expected) in cases {
            let t = tags(list);
            match (approver_of(key, &t), expected) {
                (Ok(got), Some(want)) => assert_eq!(got, *want, "{list:?}"),
                (Err(e), None) => {
                    assert!(e.starts_with(key), "{e}");
                    assert!(e.contains("kubeline approve"), "{e}");
                }
                (got, want) => panic!("{list:?}: got {got:?}, expected {want:?}"),
            }
        }
    }

    #[test]
    fn a_record_names_the_stated_name_with_the_vouched_for_id() {
        let mut r = ApprovalRecord {
            decision: Decision::Approve,
            approver: "AROAEXAMPLE:alice".into(),
            by: Some("alice".into()),
            comment: None,
            key: "clusters/a/approvals/r1.yaml".into(),
            version: None,
        };
        assert_eq!(r.who(), "alice (AROAEXAMPLE:alice)");
        r.by = None;
        assert_eq!(r.who(), "AROAEXAMPLE:alice");
        r.by = Some("AROAEXAMPLE:alice".into());
        assert_eq!(r.who(), "AROAEXAMPLE:alice");
        let json = serde_json::to_string(&r).expect("json");
        assert_eq!(
            serde_json::from_str::<ApprovalRecord>(&json).expect("parse"),
            r
        );
    }
}
