//! Retention: raw vendor documents (personal data, kept days) and log
//! entries (kept months) received before a cut are removed, in short
//! transactions of a bounded number of rows so a large first run never holds
//! the writer long. Facts and their current revision stay.
//!
//! Both remove a prefix: everything before the first row received at or
//! after the cut (ids and sequence numbers are handed out in commit order).
//! So the retained log is always one contiguous range, `removed_through`
//! moves in the same transaction as the rows it accounts for, and no scan
//! reads past the rows it removes.

use std::time::SystemTime;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Connection, PgConnection, SqliteConnection};

use crate::postgres::PostgresEngine;
use crate::sqlite::SqliteEngine;
use crate::time::micros_of;
use crate::{Cursor, Store, StoreError};

/// Rows one retention transaction removes at most.
const BATCH_ROWS: i64 = 10_000;

/// What one retention run removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Removed {
    pub raw_documents: u64,
    pub log_entries: u64,
    /// Resuming after this cursor serves every retained entry.
    pub oldest: Cursor,
}

/// What each engine removes, one bounded transaction at a time.
#[async_trait]
pub(crate) trait Retention {
    /// Removes up to `limit` raw documents of the prefix received before
    /// `before_us`, and the deliveries' references to them; how many.
    async fn remove_raw_documents(&self, before_us: i64, limit: i64) -> Result<u64, StoreError>;
    /// Removes up to `limit` log entries of the prefix received before
    /// `before_us` and moves `removed_through` past them; how many.
    async fn remove_log_entries(&self, before_us: i64, limit: i64) -> Result<u64, StoreError>;
}

// The highest id (seq) of the next batch: the `$2` lowest below the first
// row received at or after the cut `$1`.
const SQLITE_RAW_THROUGH: &str = "SELECT MAX(id) FROM (SELECT id FROM raw_documents \
     WHERE id < COALESCE((SELECT id FROM raw_documents WHERE received_at_us >= $1 \
     ORDER BY id LIMIT 1), 9223372036854775807) ORDER BY id LIMIT $2)";
const SQLITE_LOG_THROUGH: &str = "SELECT MAX(seq) FROM (SELECT seq FROM log \
     WHERE seq < COALESCE((SELECT seq FROM log WHERE received_at_us >= $1 \
     ORDER BY seq LIMIT 1), 9223372036854775807) ORDER BY seq LIMIT $2)";
const POSTGRES_RAW_THROUGH: &str = "SELECT MAX(id) FROM (SELECT id FROM raw_documents \
     WHERE id < COALESCE((SELECT id FROM raw_documents WHERE received_at >= $1 \
     ORDER BY id LIMIT 1), 9223372036854775807) ORDER BY id LIMIT $2) AS batch";
const POSTGRES_LOG_THROUGH: &str = "SELECT MAX(seq) FROM (SELECT seq FROM log \
     WHERE seq < COALESCE((SELECT seq FROM log WHERE received_at >= $1 \
     ORDER BY seq LIMIT 1), 9223372036854775807) ORDER BY seq LIMIT $2) AS batch";

// Log entries and facts keep their raw_id: neither table has an index on
// it (every commit would pay for one), ids are never handed out again, and
// every read joins raw documents with LEFT JOIN, so a removed document
// reads as absent. Deliveries are reached through their index.
const CLEAR_DELIVERIES: &str = "UPDATE deliveries SET raw_id = NULL WHERE raw_id <= $1";
const DELETE_RAW: &str = "DELETE FROM raw_documents WHERE id <= $1";
const DELETE_LOG: &str = "DELETE FROM log WHERE seq <= $1";
const MOVE_REMOVED_THROUGH: &str =
    "UPDATE log_meta SET removed_through = $1 WHERE removed_through < $1";

/// One batch on SQLite's writer connection: `through` finds the batch's
/// highest id, then `statements` (the first one's rows are the count) run
/// on it, inside `BEGIN IMMEDIATE` (the write lock taken before the first
/// read, as the committer does), rolled back on any error.
async fn sqlite_batch(
    conn: &mut SqliteConnection,
    through: &str,
    statements: [&str; 2],
    before_us: i64,
    limit: i64,
) -> Result<u64, StoreError> {
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    let result = async {
        let through: Option<i64> = sqlx::query_scalar(through)
            .bind(before_us)
            .bind(limit)
            .fetch_one(&mut *conn)
            .await?;
        let Some(through) = through else {
            return Ok(0);
        };
        let mut removed = 0;
        for (i, statement) in statements.into_iter().enumerate() {
            let done = sqlx::query(statement)
                .bind(through)
                .execute(&mut *conn)
                .await?;
            if i == 0 {
                removed = done.rows_affected();
            }
        }
        Ok::<u64, StoreError>(removed)
    }
    .await;
    match result {
        Ok(removed) => {
            sqlx::query("COMMIT").execute(&mut *conn).await?;
            Ok(removed)
        }
        Err(error) => {
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            Err(error)
        }
    }
}

/// One batch on PostgreSQL, as [`sqlite_batch`] does it, in a pooled
/// connection's transaction: retention never waits for the committer.
async fn postgres_batch(
    conn: &mut PgConnection,
    through: &str,
    statements: [&str; 2],
    before_us: i64,
    limit: i64,
) -> Result<u64, StoreError> {
    let mut tx = conn.begin().await?;
    let before = DateTime::<Utc>::from_timestamp_micros(before_us).unwrap_or_default();
    let through: Option<i64> = sqlx::query_scalar(through)
        .bind(before)
        .bind(limit)
        .fetch_one(&mut *tx)
        .await?;
    let Some(through) = through else {
        return Ok(0);
    };
    let mut removed = 0;
    for (i, statement) in statements.into_iter().enumerate() {
        let done = sqlx::query(statement)
            .bind(through)
            .execute(&mut *tx)
            .await?;
        if i == 0 {
            removed = done.rows_affected();
        }
    }
    tx.commit().await?;
    Ok(removed)
}

#[async_trait]
impl Retention for SqliteEngine {
    async fn remove_raw_documents(&self, before_us: i64, limit: i64) -> Result<u64, StoreError> {
        let mut writer = self.writer.lock().await;
        sqlite_batch(
            &mut writer,
            SQLITE_RAW_THROUGH,
            [DELETE_RAW, CLEAR_DELIVERIES],
            before_us,
            limit,
        )
        .await
    }

    async fn remove_log_entries(&self, before_us: i64, limit: i64) -> Result<u64, StoreError> {
        let mut writer = self.writer.lock().await;
        sqlite_batch(
            &mut writer,
            SQLITE_LOG_THROUGH,
            [DELETE_LOG, MOVE_REMOVED_THROUGH],
            before_us,
            limit,
        )
        .await
    }
}

#[async_trait]
impl Retention for PostgresEngine {
    async fn remove_raw_documents(&self, before_us: i64, limit: i64) -> Result<u64, StoreError> {
        let mut conn = self.reader.acquire().await?;
        postgres_batch(
            &mut conn,
            POSTGRES_RAW_THROUGH,
            [DELETE_RAW, CLEAR_DELIVERIES],
            before_us,
            limit,
        )
        .await
    }

    async fn remove_log_entries(&self, before_us: i64, limit: i64) -> Result<u64, StoreError> {
        let mut conn = self.reader.acquire().await?;
        postgres_batch(
            &mut conn,
            POSTGRES_LOG_THROUGH,
            [DELETE_LOG, MOVE_REMOVED_THROUGH],
            before_us,
            limit,
        )
        .await
    }
}

impl Store {
    /// Removes the raw documents received before `raw_before` (the facts
    /// parsed from them stay, without their raw JSON) and the log entries
    /// received before `log_before` (facts keep their current revision);
    /// `None` keeps that kind for ever. Runs in transactions of at most
    /// [`BATCH_ROWS`] rows each, so commits go on between them. A
    /// subscriber resuming from a removed position is refused with
    /// [`StoreError::CursorExpired`].
    pub async fn apply_retention(
        &self,
        raw_before: Option<SystemTime>,
        log_before: Option<SystemTime>,
    ) -> Result<Removed, StoreError> {
        let engine = &self.inner.engine;
        let mut raw_documents = 0;
        if let Some(before) = raw_before {
            loop {
                let removed = engine
                    .remove_raw_documents(micros_of(before), BATCH_ROWS)
                    .await?;
                raw_documents += removed;
                if removed < BATCH_ROWS as u64 {
                    break;
                }
            }
        }
        let mut log_entries = 0;
        if let Some(before) = log_before {
            loop {
                let removed = engine
                    .remove_log_entries(micros_of(before), BATCH_ROWS)
                    .await?;
                log_entries += removed;
                if removed < BATCH_ROWS as u64 {
                    break;
                }
            }
        }
        Ok(Removed {
            raw_documents,
            log_entries,
            oldest: self.oldest().await?,
        })
    }
}
