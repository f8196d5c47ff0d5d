//! What operators see: every step runs in a `tracing` span that carries the function, the op,
//! the cluster and the run id; it logs how it ended (errors with their name and cause, never a
//! secret) and emits metric events that the Lambdas turn into CloudWatch embedded-metric-format
//! documents ([`emf_document`]), so run outcomes and step durations become metrics without an
//! API call. The local runner shows the same lines.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Instant;

use kubeline_core::pipeline::Outcome;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracing::Instrument;

use crate::error::StepError;

/// The `tracing` target of metric events.
pub const METRICS_TARGET: &str = "kubeline::metrics";
/// The CloudWatch namespace of kubeline's metrics.
pub const NAMESPACE: &str = "kubeline";

/// What a request is, for the logs: its op, and the run it belongs to when it has one.
pub trait Operation {
    /// The op (`plan`, `apply`, ...).
    fn op(&self) -> &'static str;
    /// The cluster and run id, when the request names a run.
    fn run(&self) -> Option<(&str, &str)> {
        None
    }
}

/// Which step a log line is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// The function (`apply`).
    pub function: &'static str,
    /// The op (`plan`).
    pub op: &'static str,
    /// The cluster (empty when the request names none).
    pub cluster: String,
    /// The run id (empty when the request names none).
    pub run_id: String,
}

impl Context {
    /// The context of request `req` to function `function`.
    pub fn of<R: Operation>(function: &'static str, req: &R) -> Context {
        let (cluster, run_id) = req.run().unwrap_or(("", ""));
        Context {
            function,
            op: req.op(),
            cluster: cluster.to_owned(),
            run_id: run_id.to_owned(),
        }
    }
}

/// Runs `step` in the span of `ctx` and logs how it ended.
pub async fn traced<T, F>(ctx: &Context, step: F) -> Result<T, StepError>
where
    F: Future<Output = Result<T, StepError>>,
{
    let (function, op) = (ctx.function, ctx.op);
    let span = tracing::info_span!(
        "step",
        function,
        op,
        cluster = ctx.cluster.as_str(),
        run_id = ctx.run_id.as_str()
    );
    async move {
        let start = Instant::now();
        tracing::info!("started");
        let out = step.await;
        let duration_ms = start.elapsed().as_millis() as u64;
        match &out {
            Ok(_) => tracing::info!(duration_ms, "finished"),
            Err(e) if e.is_transient() => {
                tracing::warn!(duration_ms, error = e.name.as_str(), cause = %e.cause, "will be retried")
            }
            Err(e) => {
                tracing::error!(duration_ms, error = e.name.as_str(), cause = %e.cause, "failed")
            }
        }
        let error = out.as_ref().err().map_or("", |e| e.name.as_str());
        tracing::info!(target: METRICS_TARGET, metric = "step", function, op, duration_ms, error, "step metrics");
        out
    }
    .instrument(span)
    .await
}

/// Records the end of run `run_id` of `cluster` (started at `started_at`) with `outcome`: a log
/// line and the run metrics.
pub fn run_ended(cluster: &str, run_id: &str, started_at: &str, outcome: Outcome) {
    let duration_s = OffsetDateTime::parse(started_at, &Rfc3339)
        .map(|t| (OffsetDateTime::now_utc() - t).whole_seconds().max(0) as u64)
        .unwrap_or(0);
    let outcome = serde_json::to_value(outcome)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    tracing::info!(
        cluster,
        run_id,
        outcome = outcome.as_str(),
        duration_s,
        "run ended"
    );
    tracing::info!(target: METRICS_TARGET, metric = "run", outcome = outcome.as_str(), duration_s, cluster, run_id, "run metrics");
}

/// The CloudWatch embedded-metric-format document of a metric event's `fields` at
/// `timestamp_ms` (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>):
/// step metrics (`Duration`, `Errors` by `Function` and `Op`) or run metrics (`Runs`,
/// `RunDuration` by `Outcome`). Other fields ride along as properties (searchable in Logs
/// Insights, not dimensions). The document carries `level` so Lambda's log-level filter
/// keeps it at INFO. `None` for an event that is not a metric event.
pub fn emf_document(fields: &BTreeMap<String, Value>, timestamp_ms: i64) -> Option<Value> {
    let (dimensions, metrics, values): (Vec<&str>, Value, Vec<(&str, Value)>) = match fields
        .get("metric")?
        .as_str()?
    {
        "step" => {
            let failed = fields
                .get("error")
                .and_then(Value::as_str)
                .is_some_and(|e| !e.is_empty());
            (
                vec!["Function", "Op"],
                json!([{"Name": "Duration", "Unit": "Milliseconds"}, {"Name": "Errors", "Unit": "Count"}]),
                vec![
                    ("Function", fields.get("function")?.clone()),
                    ("Op", fields.get("op")?.clone()),
                    ("Duration", fields.get("duration_ms")?.clone()),
                    ("Errors", json!(u8::from(failed))),
                ],
            )
        }
        "run" => (
            vec!["Outcome"],
            json!([{"Name": "Runs", "Unit": "Count"}, {"Name": "RunDuration", "Unit": "Seconds"}]),
            vec![
                ("Outcome", fields.get("outcome")?.clone()),
                ("Runs", json!(1)),
                ("RunDuration", fields.get("duration_s")?.clone()),
            ],
        ),
        _ => return None,
    };
    let mut doc = serde_json::Map::new();
    for (k, v) in fields {
        if k != "metric" && k != "message" {
            doc.insert(k.clone(), v.clone());
        }
    }
    for (k, v) in values {
        doc.insert(k.to_owned(), v);
    }
    doc.insert("level".into(), json!("INFO"));
    doc.insert(
        "message".into(),
        fields.get("message").cloned().unwrap_or(json!("metrics")),
    );
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dimensions],
                "Metrics": metrics,
            }],
        }),
    );
    Some(Value::Object(doc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(v: Value) -> BTreeMap<String, Value> {
        v.as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    #[test]
    fn step_metrics_follow_the_emf_specification() {
        let f = fields(json!({"metric": "step", "function": "apply", "op": "plan",
            "duration_ms": 120, "error": "StackBusy", "message": "step metrics"}));
        let doc = emf_document(&f, 1_700_000_000_000).unwrap_or_default();
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000_i64);
        assert_eq!(directive["Namespace"], "kubeline");
        assert_eq!(directive["Dimensions"], json!([["Function", "Op"]]));
        // Every dimension and metric named in the directive is a member of the document.
        for d in directive["Dimensions"][0].as_array().into_iter().flatten() {
            assert!(doc[d.as_str().unwrap_or_default()].is_string(), "{d}");
        }
        for m in directive["Metrics"].as_array().into_iter().flatten() {
            assert!(
                doc[m["Name"].as_str().unwrap_or_default()].is_number(),
                "{m}"
            );
        }
        assert_eq!(
            (doc["Duration"].clone(), doc["Errors"].clone()),
            (json!(120), json!(1))
        );
        assert_eq!(doc["level"], "INFO");
    }

    #[test]
    fn run_metrics_count_outcomes() {
        let f = fields(
            json!({"metric": "run", "outcome": "succeeded", "duration_s": 300,
            "cluster": "demo", "run_id": "r1"}),
        );
        let doc = emf_document(&f, 1).unwrap_or_default();
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Outcome"]])
        );
        assert_eq!(
            (doc["Runs"].clone(), doc["RunDuration"].clone()),
            (json!(1), json!(300))
        );
        // The cluster is a property, not a dimension (one metric per outcome, not per cluster).
        assert_eq!(doc["cluster"], "demo");
        let ok = fields(
            json!({"metric": "step", "function": "f", "op": "o", "duration_ms": 1, "error": ""}),
        );
        assert_eq!(emf_document(&ok, 1).unwrap_or_default()["Errors"], 0);
        assert_eq!(emf_document(&fields(json!({"message": "x"})), 1), None);
        assert_eq!(emf_document(&fields(json!({"metric": "run"})), 1), None);
    }
}
