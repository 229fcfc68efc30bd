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
use sqlx::{
    Connection, Database, Executor, IntoArguments, PgConnection, Postgres, Sqlite, SqliteConnection,
};

use crate::engine::Retention;
use crate::postgres::PostgresEngine;
use crate::shared_sql::Driver;
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

// The next batch: the `$2` lowest ids (seqs) below the first row received
// at or after the cut `$1`, as its highest id and how many rows it has.
const SQLITE_RAW_BATCH: &str = "SELECT MAX(id), COUNT(*) FROM (SELECT id FROM raw_documents \
     WHERE id < COALESCE((SELECT id FROM raw_documents WHERE received_at_us >= $1 \
     ORDER BY id LIMIT 1), 9223372036854775807) ORDER BY id LIMIT $2)";
const SQLITE_LOG_BATCH: &str = "SELECT MAX(seq), COUNT(*) FROM (SELECT seq FROM log \
     WHERE seq < COALESCE((SELECT seq FROM log WHERE received_at_us >= $1 \
     ORDER BY seq LIMIT 1), 9223372036854775807) ORDER BY seq LIMIT $2)";
const POSTGRES_RAW_BATCH: &str = "SELECT MAX(id), COUNT(*) FROM (SELECT id FROM raw_documents \
     WHERE id < COALESCE((SELECT id FROM raw_documents WHERE received_at >= $1 \
     ORDER BY id LIMIT 1), 9223372036854775807) ORDER BY id LIMIT $2) AS batch";
const POSTGRES_LOG_BATCH: &str = "SELECT MAX(seq), COUNT(*) FROM (SELECT seq FROM log \
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

/// Removes the batch through `through` (its highest id or seq; `None`
/// when there is nothing to remove) with `statements`, in the caller's
/// transaction.
async fn remove_through<DB>(
    conn: &mut DB::Connection,
    through: Option<i64>,
    statements: [&str; 2],
) -> Result<(), StoreError>
where
    DB: Driver,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let Some(through) = through else {
        return Ok(());
    };
    for statement in statements {
        sqlx::query::<DB>(statement)
            .bind(through)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// One batch on SQLite's writer connection, inside `BEGIN IMMEDIATE` (the
/// write lock taken before the first read, as the committer does), rolled
/// back on any error or cancellation: `batch` finds it, `statements`
/// remove it.
async fn sqlite_batch(
    conn: &mut SqliteConnection,
    batch: &str,
    statements: [&str; 2],
    before_us: i64,
    limit: i64,
) -> Result<u64, StoreError> {
    // A transaction guard, not bare BEGIN/COMMIT: a retention call that is
    // cancelled (its client left, the hub stops) rolls back when dropped,
    // instead of leaving the shared writer inside an open transaction.
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let (through, rows): (Option<i64>, i64) = sqlx::query_as(batch)
        .bind(before_us)
        .bind(limit)
        .fetch_one(&mut *tx)
        .await?;
    remove_through::<Sqlite>(&mut tx, through, statements).await?;
    tx.commit().await?;
    Ok(rows as u64)
}

/// One batch on PostgreSQL, in a pooled connection's transaction:
/// retention never waits for the committer's connection.
async fn postgres_batch(
    conn: &mut PgConnection,
    batch: &str,
    statements: [&str; 2],
    before_us: i64,
    limit: i64,
) -> Result<u64, StoreError> {
    let mut tx = conn.begin().await?;
    let before = DateTime::<Utc>::from_timestamp_micros(before_us).unwrap_or_default();
    let (through, rows): (Option<i64>, i64) = sqlx::query_as(batch)
        .bind(before)
        .bind(limit)
        .fetch_one(&mut *tx)
        .await?;
    remove_through::<Postgres>(&mut tx, through, statements).await?;
    tx.commit().await?;
    Ok(rows as u64)
}

#[async_trait]
impl Retention for SqliteEngine {
    async fn remove_raw_documents(&self, before_us: i64, limit: i64) -> Result<u64, StoreError> {
        let mut writer = self.writer.lock().await;
        sqlite_batch(
            &mut writer,
            SQLITE_RAW_BATCH,
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
            SQLITE_LOG_BATCH,
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
            POSTGRES_RAW_BATCH,
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
            POSTGRES_LOG_BATCH,
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
