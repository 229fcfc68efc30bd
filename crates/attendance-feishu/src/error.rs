//! Everything Feishu's part of the webhook can refuse, each with the HTTP
//! status Feishu gets and a stable code operators can search for. What the
//! kit's shell refuses (unknown app, body size, commit) is its
//! [`RouteError`](attendance_adapter_kit::error::RouteError).

use attendance_adapter_kit::error::Rejection;
use axum::http::StatusCode;

use crate::crypto::CryptoError;

/// Why a webhook request was not acknowledged.
///
/// The `Display` text is for logs. Clients only ever see its
/// [`Rejection`] code and public message, which name no secret, no
/// configuration and no internal error.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
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
    #[error("the event names another app than the route's")]
    ForeignApp,
}

impl WebhookError {
    /// The code, for the long connection's log lines (no trait import).
    pub fn code(&self) -> &'static str {
        Rejection::code(self)
    }
}

impl Rejection for WebhookError {
    /// The HTTP status Feishu receives. Anything but 200 makes Feishu retry
    /// (15 s, 5 min, 1 h, 6 h), which helps with none of these.
    fn status(&self) -> StatusCode {
        match self {
            WebhookError::InvalidToken
            | WebhookError::InvalidSignature
            | WebhookError::MissingSignature => StatusCode::UNAUTHORIZED,
            // Authenticated, but not for this route: retrying cannot help.
            WebhookError::ForeignApp => StatusCode::FORBIDDEN,
            WebhookError::Undecryptable(_)
            | WebhookError::NoEncryptKey
            | WebhookError::Malformed(_)
            | WebhookError::MissingEventId
            | WebhookError::MissingEventType => StatusCode::BAD_REQUEST,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            WebhookError::InvalidToken => "INVALID_TOKEN",
            WebhookError::InvalidSignature => "INVALID_SIGNATURE",
            WebhookError::MissingSignature => "MISSING_SIGNATURE",
            // Both mean "cannot decrypt"; which one is an operator's concern
            // and goes to the log, not to whoever sent the request.
            WebhookError::Undecryptable(_) | WebhookError::NoEncryptKey => "UNDECRYPTABLE",
            WebhookError::Malformed(_) => "MALFORMED_BODY",
            WebhookError::MissingEventId => "MISSING_EVENT_ID",
            WebhookError::MissingEventType => "MISSING_EVENT_TYPE",
            WebhookError::ForeignApp => "APP_MISMATCH",
        }
    }

    /// What the client is told.
    fn public_message(&self) -> &'static str {
        match self {
            WebhookError::InvalidToken => "verification token mismatch",
            WebhookError::InvalidSignature => "signature mismatch",
            WebhookError::MissingSignature => "the request must be signed",
            WebhookError::Undecryptable(_) | WebhookError::NoEncryptKey => {
                "the body could not be decrypted"
            }
            WebhookError::Malformed(_) => "the body is not a valid Feishu event",
            WebhookError::MissingEventId => "the event has no event id",
            WebhookError::MissingEventType => "the event has no event type",
            WebhookError::ForeignApp => "the event belongs to another app than this route's",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The shell's own refusals (unknown app 404, too large 413, not stored
    // 503) and the response every refusal gets (the code, never the cause)
    // are tested with `RouteError` in the kit.
    #[test]
    fn statuses_follow_the_boundary_contract() {
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
    }
}
