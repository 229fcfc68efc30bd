//! The one shape every webhook refusal takes: an HTTP status and a JSON body
//! `{"error": {"code", "message"}}` naming a stable code and a public
//! message, never the internal cause, a secret or the configuration.

use attendance_proto::ingest::SinkError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// An error a webhook answers with. The `Display` text is for logs only;
/// the client sees [`code`](Self::code) and [`public_message`](Self::public_message).
pub trait Rejection: std::error::Error + Send + Sync + 'static {
    /// The HTTP status the vendor receives (anything but 2xx makes it retry).
    fn status(&self) -> StatusCode;
    /// A stable, machine-readable code operators can search for.
    fn code(&self) -> &'static str;
    /// What the client is told.
    fn public_message(&self) -> &'static str;
}

/// The response for `rejection`: how the shell answers every refusal.
pub fn rejection_response(rejection: &dyn Rejection) -> Response {
    let body = serde_json::json!({
        "error": { "code": rejection.code(), "message": rejection.public_message() }
    });
    (rejection.status(), Json(body)).into_response()
}

/// Why the webhook route refused a request before the vendor saw it, or
/// could not store what the vendor accepted.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("no app with webhooks is configured under this name")]
    UnknownApp,
    #[error("the body is larger than the {limit}-byte limit")]
    BodyTooLarge { limit: usize },
    #[error("the body could not be read")]
    BodyUnreadable,
    #[error("the delivery could not be committed: {0}")]
    Sink(#[from] SinkError),
}

impl Rejection for RouteError {
    /// Only [`Sink`](RouteError::Sink) is worth the vendor's retry.
    fn status(&self) -> StatusCode {
        match self {
            RouteError::UnknownApp => StatusCode::NOT_FOUND,
            RouteError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            RouteError::BodyUnreadable => StatusCode::BAD_REQUEST,
            RouteError::Sink(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            RouteError::UnknownApp => "UNKNOWN_APP",
            RouteError::BodyTooLarge { .. } => "BODY_TOO_LARGE",
            RouteError::BodyUnreadable => "BODY_UNREADABLE",
            RouteError::Sink(_) => "UNAVAILABLE",
        }
    }

    fn public_message(&self) -> &'static str {
        match self {
            RouteError::UnknownApp => "no such app",
            RouteError::BodyTooLarge { .. } => "the body is too large",
            RouteError::BodyUnreadable => "the body could not be read",
            RouteError::Sink(_) => "the event could not be stored, retry later",
        }
    }
}

impl IntoResponse for RouteError {
    fn into_response(self) -> Response {
        rejection_response(&self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_boundary_contract() {
        assert_eq!(RouteError::UnknownApp.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            RouteError::BodyTooLarge { limit: 1 }.status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(RouteError::BodyUnreadable.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            RouteError::Sink(SinkError::Unavailable("db down".into())).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[tokio::test]
    async fn the_response_names_the_code_but_not_the_internal_cause() {
        let error = RouteError::Sink(SinkError::Unavailable("postgres://secret@db".into()));
        let response = error.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["error"]["code"], "UNAVAILABLE");
        assert!(body["error"]["message"].is_string());
        assert!(!String::from_utf8_lossy(&bytes).contains("secret"));
    }
}
