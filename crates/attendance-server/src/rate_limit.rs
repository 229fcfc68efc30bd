//! Per-source rate limits on the vendors' push routes: each route (one
//! vendor's app, `/webhooks/{vendor}/{app}`) has its own budget, so a flood
//! on one app's route, a misbehaving retry loop or someone probing, never
//! starves another's. A request over the budget gets 429 with `Retry-After`
//! before its body is read: nothing was acknowledged, so the vendor delivers
//! it again later and nothing is lost.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Route keys are at most this long: paths are the client's to choose.
const MAX_KEY_BYTES: usize = 200;

/// The budget of every push route.
#[derive(Clone)]
pub(crate) struct RouteLimits {
    limiter: Arc<DefaultKeyedRateLimiter<String>>,
}

impl RouteLimits {
    /// `per_second` requests a second per route, with bursts of `burst`
    /// (at least one); `None` when `per_second` is 0 (no limit).
    pub(crate) fn new(per_second: u32, burst: u32) -> Option<RouteLimits> {
        let rate = NonZeroU32::new(per_second)?;
        let burst = NonZeroU32::new(burst).unwrap_or(rate);
        Some(RouteLimits {
            limiter: Arc::new(RateLimiter::keyed(
                Quota::per_second(rate).allow_burst(burst),
            )),
        })
    }

    /// Forgets routes idle long enough to be back at a full budget, so
    /// paths nobody configured cost no memory for long.
    pub(crate) async fn prune(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(60)) => {
                    self.limiter.retain_recent();
                    self.limiter.shrink_to_fit();
                }
                _ = stop.wait_for(|stop| *stop) => return,
            }
        }
    }
}

/// The middleware: 429 over the route's budget, the route otherwise.
pub(crate) async fn limit(
    State(limits): State<RouteLimits>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let mut key = path.to_owned();
    if key.len() > MAX_KEY_BYTES {
        let mut end = MAX_KEY_BYTES;
        while !key.is_char_boundary(end) {
            end -= 1;
        }
        key.truncate(end);
    }
    match limits.limiter.check_key(&key) {
        Ok(()) => next.run(request).await,
        Err(not_until) => {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let vendor = vendor_of(path);
            tracing::warn!(vendor, route = %key, outcome = "rate_limited", "webhook rejected");
            metrics::counter!(
                "attendance_hub_rejected_inputs_total",
                "vendor" => vendor,
                "channel" => "webhook",
                "reason" => "RATE_LIMITED"
            )
            .increment(1);
            let body = serde_json::json!({
                "error": {
                    "code": "RATE_LIMITED",
                    "message": "too many requests for this source; retry later"
                }
            });
            let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
            response
        }
    }
}

/// The vendor segment of `/webhooks/{vendor}/…`, as a metrics label.
fn vendor_of(path: &str) -> &'static str {
    match path.split('/').nth(2) {
        Some("feishu") => "feishu",
        Some("dingtalk") => "dingtalk",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::post;
    use axum::Router;
    use tower::ServiceExt;

    fn app(limits: RouteLimits) -> Router {
        Router::new()
            .route("/webhooks/feishu/{app}", post(|| async { "ok" }))
            .layer(axum::middleware::from_fn_with_state(limits, limit))
    }

    async fn post_to(app: &Router, path: &str) -> Response {
        let request = Request::post(path).body(Body::empty()).unwrap();
        app.clone().oneshot(request).await.unwrap()
    }

    #[tokio::test]
    async fn each_route_has_its_own_budget() {
        let app = app(RouteLimits::new(1, 2).unwrap());
        for _ in 0..2 {
            assert_eq!(
                post_to(&app, "/webhooks/feishu/a").await.status(),
                StatusCode::OK
            );
        }
        let refused = post_to(&app, "/webhooks/feishu/a").await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry_after: u64 = refused.headers()[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=2).contains(&retry_after), "{retry_after}");
        let body = axum::body::to_bytes(refused.into_body(), 1024)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["code"], "RATE_LIMITED");
        // Another app's route is untouched.
        assert_eq!(
            post_to(&app, "/webhooks/feishu/b").await.status(),
            StatusCode::OK
        );
    }

    #[test]
    fn zero_means_no_limit() {
        assert!(RouteLimits::new(0, 10).is_none());
    }
}
