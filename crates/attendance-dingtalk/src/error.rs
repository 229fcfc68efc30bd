//! Everything that can go wrong at this crate's two boundaries, DingTalk's
//! part of the HTTP callback (each error with the status DingTalk gets and a
//! stable code; what the kit's shell refuses is its
//! [`RouteError`](attendance_adapter_kit::error::RouteError)) and the Stream
//! frame parser.

use attendance_adapter_kit::error::Rejection;
use axum::http::StatusCode;

use crate::crypto::CryptoError;

/// Why an HTTP callback was not acknowledged.
///
/// The `Display` text is for logs. Clients only ever see its
/// [`Rejection`] code and public message, which name no secret, no
/// configuration and no internal error.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    #[error("the query lacks the signature, timestamp or nonce")]
    MissingSignature,
    #[error("the request signature does not match")]
    InvalidSignature,
    #[error("the decrypted owner key is not the app's client id or corp id")]
    OwnerMismatch,
    #[error("the body cannot be decrypted: {0}")]
    Undecryptable(CryptoError),
    #[error("the app's callback configuration is unusable: {0}")]
    Misconfigured(&'static str),
    #[error("the body is not a DingTalk callback: {0}")]
    Malformed(String),
    #[error("the decrypted event has no EventType")]
    MissingEventType,
}

impl Rejection for CallbackError {
    /// The HTTP status DingTalk receives. DingTalk keeps a failed push for
    /// the failed-push list and retries, which only helps for a fixed
    /// [`Misconfigured`](Self::Misconfigured).
    fn status(&self) -> StatusCode {
        match self {
            CallbackError::MissingSignature
            | CallbackError::InvalidSignature
            | CallbackError::OwnerMismatch => StatusCode::UNAUTHORIZED,
            CallbackError::Undecryptable(_)
            | CallbackError::Malformed(_)
            | CallbackError::MissingEventType => StatusCode::BAD_REQUEST,
            CallbackError::Misconfigured(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable, machine-readable code.
    fn code(&self) -> &'static str {
        match self {
            CallbackError::MissingSignature => "MISSING_SIGNATURE",
            CallbackError::InvalidSignature => "INVALID_SIGNATURE",
            CallbackError::OwnerMismatch => "OWNER_MISMATCH",
            CallbackError::Undecryptable(_) => "UNDECRYPTABLE",
            CallbackError::Misconfigured(_) => "MISCONFIGURED",
            CallbackError::Malformed(_) => "MALFORMED_BODY",
            CallbackError::MissingEventType => "MISSING_EVENT_TYPE",
        }
    }

    /// What the client is told.
    fn public_message(&self) -> &'static str {
        match self {
            CallbackError::MissingSignature => "the request must be signed",
            CallbackError::InvalidSignature => "signature mismatch",
            CallbackError::OwnerMismatch => "the event is not addressed to this app",
            CallbackError::Undecryptable(_) => "the body could not be decrypted",
            CallbackError::Misconfigured(_) => "the app is not configured correctly",
            CallbackError::Malformed(_) => "the body is not a valid DingTalk callback",
            CallbackError::MissingEventType => "the event has no event type",
        }
    }
}

/// Why a Stream frame could not be used. Without a frame there is no
/// `messageId` to acknowledge, so the caller logs and lets DingTalk redeliver.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("the frame is not a JSON object of the Stream protocol: {0}")]
    Malformed(String),
    #[error("the frame has no type")]
    MissingType,
    #[error("a {0} frame is not an EVENT")]
    NotAnEvent(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    // The shell's own refusals (unknown app 404, too large 413, not stored
    // 503) and the response every refusal gets (the code, never the cause)
    // are tested with `RouteError` in the kit.
    #[test]
    fn statuses_follow_the_boundary_contract() {
        let cases = [
            (CallbackError::MissingSignature, StatusCode::UNAUTHORIZED),
            (CallbackError::InvalidSignature, StatusCode::UNAUTHORIZED),
            (CallbackError::OwnerMismatch, StatusCode::UNAUTHORIZED),
            (
                CallbackError::Undecryptable(CryptoError::BadPadding),
                StatusCode::BAD_REQUEST,
            ),
            (
                CallbackError::Malformed("x".into()),
                StatusCode::BAD_REQUEST,
            ),
            (CallbackError::MissingEventType, StatusCode::BAD_REQUEST),
            (
                CallbackError::Misconfigured("aes key"),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        ];
        for (error, status) in cases {
            assert_eq!(error.status(), status, "{error}");
        }
    }
}
