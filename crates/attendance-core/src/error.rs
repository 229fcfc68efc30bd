//! Errors at the store boundary; the server maps each variant once to a gRPC
//! code or an HTTP status.

use crate::Cursor;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// The scheme only: the rest of the URL may hold a password.
    #[error("unsupported storage url scheme {0:?}: expected sqlite:// or postgres://")]
    UnsupportedUrl(String),
    /// The database could not be reached or refused the hub at startup.
    #[error("cannot connect to PostgreSQL at {host}:{port}: {cause}")]
    Unreachable {
        host: String,
        port: u16,
        cause: String,
    },
    #[error("stored row is corrupt: {0}")]
    Corrupt(String),
    #[error("invalid cursor: {0}")]
    InvalidCursor(String),
    /// The cursor points past the end of this log: it was issued by another
    /// database, or the log was reset. Never silently restart elsewhere.
    #[error("cursor {cursor} is ahead of this hub's log (head {head})")]
    CursorAhead { cursor: i64, head: i64 },
    /// The cursor was issued by another log: another database, or a
    /// restored or failed-over one whose entry at its position differs.
    /// Resuming would silently skip or repeat entries.
    #[error("cursor {cursor} is unknown to this hub's log: {reason}")]
    CursorUnknown { cursor: i64, reason: &'static str },
    /// Retention removed the entries after the cursor; resuming after
    /// `oldest` serves every entry still retained.
    #[error("cursor {cursor} names entries retention removed; the oldest cursor served is {}", oldest.encode())]
    CursorExpired { cursor: i64, oldest: Cursor },
    #[error("invalid page token: {0}")]
    InvalidPageToken(String),
    #[error("the hub is shutting down")]
    Closing,
    #[error("cannot start the committer: {0}")]
    Committer(std::io::Error),
    #[error("invalid argument {field}: {reason}")]
    InvalidArgument { field: &'static str, reason: String },
}
