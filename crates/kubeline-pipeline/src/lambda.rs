//! The Lambda side shared by every function's `main.rs`: the AWS config, the installation
//! bucket and settings from the environment, the logs (structured JSON in the format Lambda's
//! advanced logging controls expect, plus embedded-metric-format documents), and the runtime
//! loop that decodes a request, calls the handler in its span and maps a [`StepError`] to the
//! error name the state machine sees.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write as _;

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::field::{Field, Visit};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::StepError;
use crate::error::ErrorName;
use crate::telemetry::{self, METRICS_TARGET, Operation};

/// The environment variable naming the installation bucket.
pub const BUCKET_ENV: &str = "KUBELINE_BUCKET";

/// The shared AWS configuration (region, credentials, `AWS_ENDPOINT_URL`), with the SDK's
/// adaptive retry mode: a client that is throttled slows its own request rate (an apply of
/// many pools describes every stack each round, and CloudFormation's API limits are per
/// account).
///
/// The HTTPS client is built as the SDK builds its default one (hyper and rustls, the
/// system's trust roots, the connector settings and sleep of each client, a proxy from
/// `HTTPS_PROXY`/`NO_PROXY` as the SDK's current behavior version does), except that rustls'
/// crypto is ring instead of aws-lc-rs: that keeps aws-lc (its C library and tables) out of
/// every function but credentials, which needs it for RSA keys and so uses it for TLS too
/// (feature `tls-aws-lc`; docs/pipeline.md, "Function packages").
pub async fn aws_config() -> aws_config::SdkConfig {
    use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
    // Ring, unless the function links aws-lc anyway (credentials: `tls-aws-lc`); with both,
    // the connector's match on the mode would link both.
    #[cfg(feature = "tls-aws-lc")]
    const CRYPTO: CryptoMode = CryptoMode::AwsLc;
    #[cfg(all(feature = "tls-ring", not(feature = "tls-aws-lc")))]
    const CRYPTO: CryptoMode = CryptoMode::Ring;
    aws_config_with(CRYPTO).await
}

/// [`aws_config`] with the given TLS crypto (the tests try each function's).
pub async fn aws_config_with(
    crypto: aws_smithy_http_client::tls::rustls_provider::CryptoMode,
) -> aws_config::SdkConfig {
    use aws_smithy_http_client::tls::Provider;
    use aws_smithy_http_client::{ConnectorBuilder, proxy::ProxyConfig};
    let https = aws_smithy_http_client::Builder::new().build_with_connector_fn(
        move |settings, components| {
            let mut conn =
                ConnectorBuilder::default().tls_provider(Provider::Rustls(crypto.clone()));
            conn.set_connector_settings(settings.cloned());
            if let Some(components) = components {
                conn.set_sleep_impl(components.sleep_impl());
            }
            conn.set_proxy_config(Some(ProxyConfig::from_env()));
            conn.build()
        },
    );
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(https)
        .retry_config(aws_config::retry::RetryConfig::adaptive())
        .load()
        .await
}

/// The installation bucket, from `KUBELINE_BUCKET`.
pub fn bucket() -> Result<String, lambda_runtime::Error> {
    std::env::var(BUCKET_ENV).map_err(|_| format!("{BUCKET_ENV} is not set").into())
}

/// Whether the environment variable `name` is `true` (an installation parameter).
pub fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "true")
}

/// The text in the environment variable `name`, if set and not blank.
pub fn env_text(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The comma-separated list in the environment variable `name` (a CommaDelimitedList
/// parameter); unset or blank is empty.
pub fn env_list(name: &str) -> Vec<String> {
    env_text(name)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The number in the environment variable `name`, if set; an error names a bad value.
pub fn env_number(name: &str) -> Result<Option<u32>, lambda_runtime::Error> {
    match std::env::var(name) {
        Err(_) => Ok(None),
        Ok(v) => v
            .parse()
            .map(Some)
            .map_err(|_| format!("{name} is {v:?}, not a whole number").into()),
    }
}

/// The level of `AWS_LAMBDA_LOG_LEVEL` (Lambda's application log level: TRACE, DEBUG, INFO,
/// WARN, ERROR, FATAL; <https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html>).
pub fn level_of(value: Option<&str>) -> LevelFilter {
    match value.map(str::to_ascii_uppercase).as_deref() {
        Some("TRACE") => LevelFilter::TRACE,
        Some("DEBUG") => LevelFilter::DEBUG,
        Some("WARN") => LevelFilter::WARN,
        Some("ERROR" | "FATAL") => LevelFilter::ERROR,
        _ => LevelFilter::INFO,
    }
}

/// Collects an event's fields as JSON values.
#[derive(Debug, Default)]
struct Fields(BTreeMap<String, serde_json::Value>);

impl Visit for Fields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), format!("{value:?}").into());
    }
}

/// Writes every metric event as one embedded-metric-format line on stdout.
#[derive(Debug)]
struct Emf;

impl<S: tracing::Subscriber> Layer<S> for Emf {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != METRICS_TARGET {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let now_ms = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
        if let Some(doc) = telemetry::emf_document(&fields.0, now_ms) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{doc}");
        }
    }
}

/// Installs the logs: JSON lines (`timestamp`, `level`, `message`, the fields, and the step's
/// span: function, op, cluster, run id) when `AWS_LAMBDA_LOG_FORMAT` is `JSON`, text
/// otherwise; at `AWS_LAMBDA_LOG_LEVEL` (default INFO); metric events as EMF documents.
pub fn init_logs() {
    let level = level_of(std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref());
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let logs = Targets::new()
        .with_default(level)
        .with_target(METRICS_TARGET, LevelFilter::OFF);
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_target(false);
    let fmt = if json {
        fmt.json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed()
    } else {
        fmt.boxed()
    };
    let _ = tracing_subscriber::registry()
        .with(fmt.with_filter(logs))
        .with(Emf.with_filter(Targets::new().with_target(METRICS_TARGET, LevelFilter::INFO)))
        .try_init();
}

fn diagnostic(e: StepError) -> Diagnostic {
    Diagnostic {
        error_type: e.name.as_str().to_owned(),
        error_message: e.cause,
    }
}

/// Runs the Lambda loop of function `function`: each event is decoded as `Req` (a bad payload
/// is `RequestInvalid`) and passed to `handler` in the step's span.
pub async fn serve<Req, Res, F, Fut>(
    function: &'static str,
    handler: F,
) -> Result<(), lambda_runtime::Error>
where
    Req: DeserializeOwned + Operation + Send + 'static,
    Res: Serialize + Send + 'static,
    F: Fn(Req) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Res, StepError>> + Send,
{
    init_logs();
    let handler = &handler;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let req: Req = serde_json::from_value(event.payload).map_err(|e| {
                tracing::error!(function, error = "RequestInvalid", cause = %e, "bad request");
                diagnostic(StepError::new(
                    ErrorName::RequestInvalid,
                    format!("bad request: {e}"),
                ))
            })?;
            let ctx = telemetry::Context::of(function, &req);
            telemetry::traced(&ctx, handler(req))
                .await
                .map_err(diagnostic)
        },
    ))
    .await
}
