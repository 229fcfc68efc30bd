//! The one place where store and access errors become gRPC statuses, with
//! `google.rpc` details (`ErrorInfo`, `BadRequest`) that grpcurl users can
//! read. Internal details are logged, never echoed to clients.

use std::collections::HashMap;

use attendance_adapter_kit::cross_check::CheckError;
use attendance_adapter_kit::reconcile::ReconcileRequestError;
use attendance_core::StoreError;
use attendance_proto::ingest::SinkError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::access::AccessError;

const DOMAIN: &str = "attendance-hub";

fn with_info(code: Code, message: String, reason: &str, details: ErrorDetails) -> Status {
    with_metadata(code, message, reason, details, HashMap::new())
}

fn with_metadata(
    code: Code,
    message: String,
    reason: &str,
    details: ErrorDetails,
    metadata: HashMap<String, String>,
) -> Status {
    let mut details = details;
    details.set_error_info(reason, DOMAIN, metadata);
    Status::with_error_details(code, message, details)
}

fn bad_request(field: &str, reason: &str, message: String) -> Status {
    with_info(
        Code::InvalidArgument,
        message.clone(),
        reason,
        ErrorDetails::with_bad_request_violation(field, message),
    )
}

/// Maps a store error to the status a client sees.
pub(crate) fn status_of(error: StoreError) -> Status {
    match error {
        StoreError::InvalidCursor(reason) => bad_request(
            "after_cursor",
            "INVALID_CURSOR",
            format!("invalid cursor: {reason}"),
        ),
        StoreError::CursorAhead { .. } | StoreError::CursorUnknown { .. } => with_info(
            Code::FailedPrecondition,
            format!(
                "{error}; it was not issued by this hub's database as it is now: \
                 resuming would skip or repeat entries, so start again from the beginning \
                 and reconcile what you hold"
            ),
            "CURSOR_UNKNOWN",
            ErrorDetails::new(),
        ),
        StoreError::CursorExpired { oldest, .. } => with_metadata(
            Code::FailedPrecondition,
            format!(
                "{error}: resume after it (ErrorInfo metadata oldest_cursor) and \
                 reconcile the removed span through the list queries"
            ),
            "CURSOR_EXPIRED",
            ErrorDetails::new(),
            HashMap::from([("oldest_cursor".to_string(), oldest.encode())]),
        ),
        StoreError::InvalidPageToken(reason) => bad_request(
            "page_token",
            "INVALID_PAGE_TOKEN",
            format!("invalid page token: {reason}"),
        ),
        StoreError::InvalidArgument { field, reason } => {
            bad_request(field, "INVALID_ARGUMENT", format!("{field}: {reason}"))
        }
        StoreError::Closing => with_info(
            Code::Unavailable,
            "the hub is shutting down; resume from your last cursor".into(),
            "SHUTTING_DOWN",
            ErrorDetails::new(),
        ),
        StoreError::Database(_)
        | StoreError::Migration(_)
        | StoreError::Corrupt(_)
        | StoreError::UnsupportedUrl(_)
        | StoreError::Unreachable { .. }
        | StoreError::Committer(_) => {
            tracing::error!(%error, "storage failure");
            with_info(
                Code::Unavailable,
                "storage is unavailable; retry later".into(),
                "STORAGE_UNAVAILABLE",
                ErrorDetails::new(),
            )
        }
    }
}

/// A request field that fails validation before reaching the store.
pub(crate) fn invalid_field(field: &str, problem: &str) -> Status {
    bad_request(field, "INVALID_ARGUMENT", format!("{field}: {problem}"))
}

/// A reconciliation request refused before any pass ran.
pub(crate) fn reconcile_refused(error: ReconcileRequestError) -> Status {
    match error {
        ReconcileRequestError::Invalid { field, problem } => invalid_field(field, &problem),
        ReconcileRequestError::NotReconcilable(reason) => with_info(
            Code::FailedPrecondition,
            reason,
            "APP_NOT_RECONCILABLE",
            ErrorDetails::new(),
        ),
    }
}

/// Retention asked for while another replica (or the hourly run) applies it.
pub(crate) fn retention_running() -> Status {
    with_info(
        Code::Aborted,
        "retention is being applied elsewhere now; retry later".into(),
        "RETENTION_RUNNING",
        ErrorDetails::new(),
    )
}

/// Maps a failed commit of background work run on request (re-derivation):
/// the cause is logged; the client learns only that it may retry.
pub(crate) fn sink_status(error: SinkError) -> Status {
    tracing::error!(%error, "storage failure");
    with_info(
        Code::Unavailable,
        "storage is unavailable; what was committed stays, and a retry continues".into(),
        "STORAGE_UNAVAILABLE",
        ErrorDetails::new(),
    )
}

/// Maps a cross-check that could not run: a request field at fault, or the
/// hub's approvals unreadable (read only: nothing was changed).
pub(crate) fn check_status(error: CheckError) -> Status {
    match error {
        CheckError::Invalid { field, problem } => invalid_field(field, &problem),
        CheckError::Store(error) => {
            tracing::error!(%error, "storage failure");
            with_info(
                Code::Unavailable,
                "storage is unavailable; nothing was changed, retry later".into(),
                "STORAGE_UNAVAILABLE",
                ErrorDetails::new(),
            )
        }
    }
}

/// Maps a refused call: UNAUTHENTICATED without a known token,
/// PERMISSION_DENIED beyond the client's grant. `ErrorInfo.metadata` names
/// the client and what it may not use; nothing of any token is echoed.
impl From<AccessError> for Status {
    fn from(error: AccessError) -> Status {
        let denied = |reason, client: &str, key: &str, value: &str| {
            let metadata = HashMap::from([
                ("client".to_string(), client.to_string()),
                (key.to_string(), value.to_string()),
            ]);
            (Code::PermissionDenied, reason, metadata)
        };
        let (code, reason, metadata) = match &error {
            AccessError::TokenMissing => (Code::Unauthenticated, "TOKEN_MISSING", HashMap::new()),
            AccessError::TokenMalformed | AccessError::TokenInvalid => {
                (Code::Unauthenticated, "TOKEN_INVALID", HashMap::new())
            }
            AccessError::ServiceNotPermitted { client, service } => {
                denied("SERVICE_NOT_PERMITTED", client, "service", service)
            }
            AccessError::TenantNotPermitted { client, tenant } => {
                denied("TENANT_NOT_PERMITTED", client, "tenant", tenant)
            }
            AccessError::EveryTenantRequired { client } => {
                denied("TENANT_NOT_PERMITTED", client, "tenant", "*")
            }
        };
        tracing::warn!(reason, %error, "gRPC call refused");
        with_metadata(
            code,
            error.to_string(),
            reason,
            ErrorDetails::new(),
            metadata,
        )
    }
}
