//! Everything that can go wrong at the webhook boundary, each with the HTTP
//! status Feishu gets and a stable code operators can search for.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::crypto::CryptoError;

/// Why a webhook request was not acknowledged.
///
/// The `Display` text is for logs. Clients only ever see [`code`](Self::code)
/// and [`public_message`](Self::public_message), which name no secret, no
/// configuration and no internal error.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("no Feishu app is configured under this name")]
    UnknownApp,
    #[error("the verification token does not match")]
    InvalidToken,
    #[error("the request signature does not match")]
    InvalidSignature,
    #[error("the request is not signed, and only a URL verification may be unsigned")]
    MissingSignature,
    #[error("the body cannot be decrypted: {0}")]
    Undecryptable(#[from] CryptoError),
    #[error("the body is encrypted but the app has no encrypt key configured")]
    NoEncryptKey,
    #[error("the body is not a Feishu envelope: {0}")]
    Malformed(String),
    #[error("the envelope has no event id")]
    MissingEventId,
    #[error("the envelope has no event type")]
    MissingEventType,
    #[error("the body is larger than the {limit}-byte limit")]
    BodyTooLarge { limit: usize },
    #[error("the body could not be read")]
    BodyUnreadable,
    #[error("the delivery could not be committed: {0}")]
    Sink(#[from] attendance_proto::ingest::SinkError),
}

impl WebhookError {
    /// The HTTP status Feishu receives. Anything but 200 makes Feishu retry
    /// (15 s, 5 min, 1 h, 6 h), which only helps for [`Sink`](Self::Sink).
    pub fn status(&self) -> StatusCode {
        match self {
            WebhookError::UnknownApp => StatusCode::NOT_FOUND,
            WebhookError::InvalidToken
            | WebhookError::InvalidSignature
            | WebhookError::MissingSignature => StatusCode::UNAUTHORIZED,
            WebhookError::Undecryptable(_)
            | WebhookError::NoEncryptKey
            | WebhookError::Malformed(_)
            | WebhookError::MissingEventId
            | WebhookError::MissingEventType
            | WebhookError::BodyUnreadable => StatusCode::BAD_REQUEST,
            WebhookError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            WebhookError::Sink(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            WebhookError::UnknownApp => "UNKNOWN_APP",
            WebhookError::InvalidToken => "INVALID_TOKEN",
            WebhookError::InvalidSignature => "INVALID_SIGNATURE",
            WebhookError::MissingSignature => "MISSING_SIGNATURE",
            // Both mean "cannot decrypt"; which one is an operator's concern
            // and goes to the log, not to whoever sent the request.
            WebhookError::Undecryptable(_) | WebhookError::NoEncryptKey => "UNDECRYPTABLE",
            WebhookError::Malformed(_) => "MALFORMED_BODY",
            WebhookError::MissingEventId => "MISSING_EVENT_ID",
            WebhookError::MissingEventType => "MISSING_EVENT_TYPE",
            WebhookError::BodyTooLarge { .. } => "BODY_TOO_LARGE",
            WebhookError::BodyUnreadable => "BODY_UNREADABLE",
            WebhookError::Sink(_) => "UNAVAILABLE",
        }
    }

    /// What the client is told.
    pub fn public_message(&self) -> &'static str {
        match self {
            WebhookError::UnknownApp => "no such app",
            WebhookError::InvalidToken => "verification token mismatch",
            WebhookError::InvalidSignature => "signature mismatch",
            WebhookError::MissingSignature => "the request must be signed",
            WebhookError::Undecryptable(_) | WebhookError::NoEncryptKey => {
                "the body could not be decrypted"
            }
            WebhookError::Malformed(_) => "the body is not a valid Feishu event",
            WebhookError::MissingEventId => "the event has no event id",
            WebhookError::MissingEventType => "the event has no event type",
            WebhookError::BodyTooLarge { .. } => "the body is too large",
            WebhookError::BodyUnreadable => "the body could not be read",
            WebhookError::Sink(_) => "the event could not be stored, retry later",
        }
    }
}

impl IntoResponse for WebhookError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": { "code": self.code(), "message": self.public_message() }
        });
        (self.status(), Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use attendance_proto::ingest::SinkError;

    #[test]
    fn statuses_follow_the_boundary_contract() {
        assert_eq!(WebhookError::UnknownApp.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            WebhookError::InvalidToken.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            WebhookError::InvalidSignature.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            WebhookError::MissingSignature.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            WebhookError::Undecryptable(CryptoError::BadPadding).status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            WebhookError::MissingEventId.status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            WebhookError::BodyTooLarge { limit: 1 }.status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(
            WebhookError::Sink(SinkError::Unavailable("db down".into())).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[tokio::test]
    async fn the_response_names_the_code_but_not_the_internal_cause() {
        let error = WebhookError::Sink(SinkError::Unavailable("postgres://secret@db".into()));
        let response = error.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["error"]["code"], "UNAVAILABLE");
        assert!(!String::from_utf8_lossy(&bytes).contains("secret"));
    }
}
