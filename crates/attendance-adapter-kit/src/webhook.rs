//! The route every vendor's push endpoint runs in. The shell does what is
//! the same for every vendor; the vendor ([`WebhookVendor`]) does what is
//! its own:
//!
//! ```text
//! POST {path with one {app} segment}
//!   app by name ──────────── unknown: 404, the body is never read
//!   body, limited ────────── too large: 413, refused while it streams in
//!   vendor.open ──────────── verify and translate; refused: the vendor's error
//!     ├─ Opened::Answer ──── a handshake: answered, nothing committed
//!     └─ Opened::Deliver ─── commit through the sink, the outcome logged
//!          not committed: 503, the vendor redelivers
//!          committed: vendor.answer, the acknowledgement
//! ```
//!
//! Every refusal has one shape (see [`crate::error`]) and one log line
//! (`outcome = "rejected"` with its code and status).

use std::collections::HashMap;
use std::sync::Arc;

use attendance_proto::ingest::{Delivery, DeliverySink};
use attendance_proto::v1::Vendor;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

use crate::error::{rejection_response, Rejection, RouteError};
use crate::outcome::{commit_logged, vendor_name};

/// A pushed request, its body read whole and within the limit.
pub struct Incoming<'a> {
    pub headers: &'a HeaderMap,
    /// The query carries DingTalk's signature.
    pub uri: &'a Uri,
    pub body: &'a [u8],
}

/// What the vendor made of a request it accepted.
pub enum Opened<P> {
    /// Answered as it is, with nothing committed (a URL verification).
    Answer(Response),
    /// To commit; once it is durably committed, [`WebhookVendor::answer`]
    /// gets `pending` (what the acknowledgement needs of the request).
    Deliver { delivery: Delivery, pending: P },
}

/// A vendor's part of its webhook.
pub trait WebhookVendor: Send + Sync + 'static {
    /// One configured app, as the vendor verifies its requests.
    type App: Send + Sync + 'static;
    /// What the acknowledgement needs of the request it acknowledges.
    type Pending: Send + 'static;
    /// Why the vendor refused a request.
    type Error: Rejection;

    const VENDOR: Vendor;

    /// The app's route segment.
    fn app_name(app: &Self::App) -> &str;

    /// Verifies and translates one request to `app`.
    fn open(
        &self,
        app: &Self::App,
        request: &Incoming<'_>,
    ) -> Result<Opened<Self::Pending>, Self::Error>;

    /// The acknowledgement of a delivery the sink has durably committed.
    fn answer(&self, app: &Self::App, pending: Self::Pending) -> Result<Response, Self::Error>;
}

struct Shell<V: WebhookVendor> {
    vendor: V,
    apps: HashMap<String, V::App>,
    sink: Arc<dyn DeliverySink>,
    body_limit: usize,
}

/// The webhook router: `POST path`, where `path` has one parameter segment
/// naming the app (e.g. `/webhooks/feishu/{app}`).
///
/// Apps are looked up by [`WebhookVendor::app_name`]; of duplicates the
/// last one wins. Bodies over `body_limit` bytes are refused with 413.
pub fn router<V: WebhookVendor>(
    path: &str,
    vendor: V,
    apps: impl IntoIterator<Item = V::App>,
    sink: Arc<dyn DeliverySink>,
    body_limit: usize,
) -> Router {
    let shell = Arc::new(Shell {
        vendor,
        apps: apps
            .into_iter()
            .map(|app| (V::app_name(&app).to_owned(), app))
            .collect(),
        sink,
        body_limit,
    });
    Router::new()
        .route(path, post(receive::<V>))
        .with_state(shell)
        // Replaces axum's 2 MB default; the limit is applied while the body
        // streams in, so an oversized push is never buffered whole.
        .layer(DefaultBodyLimit::max(body_limit))
}

async fn receive<V: WebhookVendor>(
    State(shell): State<Arc<Shell<V>>>,
    name: Result<Path<String>, PathRejection>,
    request: Request,
) -> Response {
    let vendor = vendor_name(V::VENDOR);
    let Ok(Path(name)) = name else {
        return RouteError::UnknownApp.into_response();
    };
    // The app is resolved before the body is read, so unknown routes cost
    // nothing however large the body is.
    let Some(app) = shell.apps.get(&name) else {
        tracing::warn!(vendor, app = %name, outcome = "unknown_app", "webhook rejected");
        input_rejected(vendor, RouteError::UnknownApp.code());
        return RouteError::UnknownApp.into_response();
    };
    let (headers, uri) = (request.headers().clone(), request.uri().clone());
    let body = match Bytes::from_request(request, &()).await {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            let limit = shell.body_limit;
            return reject(vendor, &name, &RouteError::BodyTooLarge { limit });
        }
        Err(_) => return reject(vendor, &name, &RouteError::BodyUnreadable),
    };
    let incoming = Incoming {
        headers: &headers,
        uri: &uri,
        body: &body,
    };
    let (delivery, pending) = match shell.vendor.open(app, &incoming) {
        Ok(Opened::Answer(response)) => return response,
        Ok(Opened::Deliver { delivery, pending }) => (delivery, pending),
        Err(error) => return reject(vendor, &name, &error),
    };
    if let Err(error) = commit_logged(shell.sink.as_ref(), delivery).await {
        return reject(vendor, &name, &RouteError::Sink(error));
    }
    match shell.vendor.answer(app, pending) {
        Ok(response) => response,
        Err(error) => reject(vendor, &name, &error),
    }
}

fn reject(vendor: &'static str, app: &str, error: &dyn Rejection) -> Response {
    tracing::warn!(
        vendor,
        app = %app,
        outcome = "rejected",
        code = error.code(),
        status = error.status().as_u16(),
        %error,
        "webhook rejected"
    );
    input_rejected(vendor, error.code());
    rejection_response(error)
}

/// Counts a refused push by its error code (the same code its answer
/// carries), so operators see bad signatures or oversized bodies pile up.
fn input_rejected(vendor: &'static str, reason: &'static str) {
    metrics::counter!(
        "attendance_hub_rejected_inputs_total",
        "vendor" => vendor,
        "channel" => "webhook",
        "reason" => reason
    )
    .increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{send, RecordingSink, Reply};
    use attendance_proto::ingest::Recognition;
    use attendance_proto::v1::Channel;
    use axum::body::Body;
    use axum::http::Request;
    use axum::Json;

    /// Accepts `ping` as a handshake and anything else as an event, and
    /// refuses bodies starting with `!`.
    struct Echo;

    #[derive(Debug, thiserror::Error)]
    #[error("refused: secret detail")]
    struct Refused;

    impl Rejection for Refused {
        fn status(&self) -> StatusCode {
            StatusCode::UNAUTHORIZED
        }
        fn code(&self) -> &'static str {
            "REFUSED"
        }
        fn public_message(&self) -> &'static str {
            "refused"
        }
    }

    impl WebhookVendor for Echo {
        type App = String;
        type Pending = String;
        type Error = Refused;
        const VENDOR: Vendor = Vendor::Feishu;

        fn app_name(app: &String) -> &str {
            app
        }

        fn open(&self, app: &String, request: &Incoming<'_>) -> Result<Opened<String>, Refused> {
            let text = String::from_utf8_lossy(request.body).into_owned();
            if text.starts_with('!') {
                return Err(Refused);
            }
            if text == "ping" {
                return Ok(Opened::Answer(Json("pong").into_response()));
            }
            let delivery = Delivery {
                vendor: Vendor::Feishu,
                app: app.clone(),
                tenant: String::new(),
                channel: Channel::Webhook,
                event_id: text.clone(),
                event_type: "test".into(),
                raw_json: "{}".into(),
                recognition: Recognition::Translated,
                facts: Vec::new(),
                jobs: Vec::new(),
            };
            Ok(Opened::Deliver {
                delivery,
                pending: text,
            })
        }

        fn answer(&self, _app: &String, pending: String) -> Result<Response, Refused> {
            Ok(Json(format!("stored {pending}")).into_response())
        }
    }

    async fn post(sink: &Arc<RecordingSink>, path: &str, body: &str) -> Reply {
        let router = router("/hooks/{app}", Echo, ["main".to_owned()], sink.clone(), 16);
        let request = Request::post(path)
            .body(Body::from(body.to_owned()))
            .unwrap();
        send(router, request).await
    }

    #[tokio::test]
    async fn an_event_is_answered_only_after_its_commit() {
        let sink = Arc::new(RecordingSink::default());
        let reply = post(&sink, "/hooks/main", "ev-1").await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.body, "stored ev-1");
        assert_eq!(sink.deliveries()[0].event_id, "ev-1");

        let failing = Arc::new(RecordingSink::failing());
        let reply = post(&failing, "/hooks/main", "ev-1").await;
        reply.assert_error(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE");
    }

    #[tokio::test]
    async fn a_handshake_is_answered_without_a_commit() {
        let sink = Arc::new(RecordingSink::default());
        let reply = post(&sink, "/hooks/main", "ping").await;
        assert_eq!(reply.body, "pong");
        assert!(sink.deliveries().is_empty());
    }

    #[tokio::test]
    async fn refusals_have_one_shape_and_commit_nothing() {
        let sink = Arc::new(RecordingSink::default());
        post(&sink, "/hooks/other", "ev-1")
            .await
            .assert_error(StatusCode::NOT_FOUND, "UNKNOWN_APP");
        post(&sink, "/hooks/main", "a body over sixteen bytes")
            .await
            .assert_error(StatusCode::PAYLOAD_TOO_LARGE, "BODY_TOO_LARGE");
        let refused = post(&sink, "/hooks/main", "!").await;
        refused.assert_error(StatusCode::UNAUTHORIZED, "REFUSED");
        assert!(!refused.body.to_string().contains("secret"));
        assert!(sink.deliveries().is_empty());
    }

    #[tokio::test]
    async fn only_post_is_served() {
        use tower::ServiceExt;
        let sink = Arc::new(RecordingSink::default());
        let response = router("/hooks/{app}", Echo, ["main".to_owned()], sink.clone(), 16)
            .oneshot(Request::get("/hooks/main").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert!(sink.deliveries().is_empty());
    }
}
