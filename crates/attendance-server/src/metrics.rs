//! `GET /metrics` in Prometheus' text format. The store, the adapter kit and
//! the server record through the `metrics` facade; this module installs the
//! process's recorder once, sets the histograms' buckets, and at each scrape
//! adds what only the database knows (this month's vendor calls, shared by
//! every replica).

use std::sync::OnceLock;
use std::time::Duration;

use attendance_core::Store;
use attendance_proto::labels::vendor_name;
use attendance_proto::v1::Vendor;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// The process's recorder: installed by the first hub, shared by any later
/// one (tests start several in one process).
pub(crate) fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| match install() {
            Ok(handle) => Some(handle),
            Err(error) => {
                tracing::warn!(%error, "metrics recorder not installed; /metrics answers 503");
                None
            }
        })
        .as_ref()
}

fn install() -> Result<PrometheusHandle, String> {
    let buckets = |builder: PrometheusBuilder, name: &str, values: &[f64]| {
        builder
            .set_buckets_for_metric(Matcher::Full(name.to_owned()), values)
            .map_err(|e| e.to_string())
    };
    let builder = PrometheusBuilder::new();
    let builder = buckets(
        builder,
        "attendance_hub_commit_seconds",
        &[
            0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        ],
    )?;
    let builder = buckets(
        builder,
        "attendance_hub_commit_batch_deliveries",
        &[
            1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
        ],
    )?;
    let builder = buckets(
        builder,
        "attendance_hub_subscriber_catch_up_lag_entries",
        &[0.0, 10.0, 100.0, 1_000.0, 10_000.0, 100_000.0, 1_000_000.0],
    )?;
    builder.install_recorder().map_err(|e| e.to_string())
}

/// Drains the histograms' samples into their buckets now and then, so an
/// unscraped hub does not hold them.
pub(crate) async fn upkeep(mut stop: tokio::sync::watch::Receiver<bool>) {
    let Some(handle) = handle() else { return };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5)) => handle.run_upkeep(),
            _ = stop.wait_for(|stop| *stop) => return,
        }
    }
}

/// The scrape: every recorded series, then this month's vendor calls.
pub(crate) async fn scrape(State(store): State<Store>) -> Response {
    let Some(handle) = handle() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "metrics are not recorded").into_response();
    };
    handle.run_upkeep();
    let mut text = handle.render();
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    match store.vendor_calls().await {
        Ok(calls) => {
            text.push_str(
                "# HELP attendance_hub_vendor_calls_this_month Calls each app made to its vendor's API this month (UTC), across replicas.\n\
                 # TYPE attendance_hub_vendor_calls_this_month gauge\n",
            );
            for row in calls.iter().filter(|row| row.month == month) {
                let vendor = Vendor::try_from(row.vendor).unwrap_or(Vendor::Unspecified);
                text.push_str(&format!(
                    "attendance_hub_vendor_calls_this_month{{vendor=\"{}\",app=\"{}\"}} {}\n",
                    vendor_name(vendor),
                    escape(&row.app),
                    row.calls
                ));
            }
        }
        Err(error) => tracing::warn!(%error, "vendor calls not read for /metrics"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// A label value as the text format wants it.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Whether a vendor connection is up (1) or not (0), per section and app.
pub(crate) fn connection_up(section: &str, app: &str, up: bool) {
    metrics::gauge!(
        "attendance_hub_vendor_connection_up",
        "connection" => section.to_owned(),
        "app" => app.to_owned()
    )
    .set(if up { 1.0 } else { 0.0 });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
