//! Which log this is and what of it is retained: the log id created at
//! migration (cursors carry a tag of it), the head with its entry's stamp,
//! and the checks a cursor passes before anyone resumes from it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::cursor::LogTag;
use crate::engine::{LogBounds, LogIdentity};
use crate::postgres::PostgresEngine;
use crate::sqlite::SqliteEngine;
use crate::{Cursor, Store, StoreError};

const LOG_ID: &str = "SELECT log_id FROM log_meta";

#[async_trait]
impl LogIdentity for SqliteEngine {
    async fn log_id(&self) -> Result<String, StoreError> {
        Ok(sqlx::query_scalar(LOG_ID).fetch_one(&self.reader).await?)
    }

    async fn bounds(&self) -> Result<LogBounds, StoreError> {
        let (removed_through, seq, stamp): (i64, Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT m.removed_through, l.seq, l.received_at_us FROM log_meta m \
             LEFT JOIN (SELECT seq, received_at_us FROM log ORDER BY seq DESC LIMIT 1) l ON 1",
        )
        .fetch_one(&self.reader)
        .await?;
        Ok(LogBounds::of(removed_through, seq.zip(stamp)))
    }

    async fn stamp_at(&self, seq: i64) -> Result<Option<i64>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT received_at_us FROM log WHERE seq = $1")
                .bind(seq)
                .fetch_optional(&self.reader)
                .await?,
        )
    }
}

#[async_trait]
impl LogIdentity for PostgresEngine {
    async fn log_id(&self) -> Result<String, StoreError> {
        Ok(sqlx::query_scalar(LOG_ID).fetch_one(&self.reader).await?)
    }

    async fn bounds(&self) -> Result<LogBounds, StoreError> {
        let (removed_through, seq, at): (i64, Option<i64>, Option<DateTime<Utc>>) = sqlx::query_as(
            "SELECT m.removed_through, l.seq, l.received_at FROM log_meta m \
                 LEFT JOIN (SELECT seq, received_at FROM log ORDER BY seq DESC LIMIT 1) l ON true",
        )
        .fetch_one(&self.reader)
        .await?;
        Ok(LogBounds::of(
            removed_through,
            seq.zip(at.map(|at| at.timestamp_micros())),
        ))
    }

    async fn stamp_at(&self, seq: i64) -> Result<Option<i64>, StoreError> {
        let at: Option<DateTime<Utc>> =
            sqlx::query_scalar("SELECT received_at FROM log WHERE seq = $1")
                .bind(seq)
                .fetch_optional(&self.reader)
                .await?;
        Ok(at.map(|at| at.timestamp_micros()))
    }
}

impl Store {
    pub(crate) fn log_tag(&self) -> LogTag {
        self.inner.log_tag
    }

    pub(crate) async fn bounds(&self) -> Result<LogBounds, StoreError> {
        self.inner.engine.bounds().await
    }

    /// The cursor of the newest entry (`Cursor::BEGINNING`'s position when
    /// the log is empty).
    pub async fn head(&self) -> Result<Cursor, StoreError> {
        let bounds = self.bounds().await?;
        Ok(Cursor::new(self.log_tag(), bounds.head, bounds.head_stamp))
    }

    /// The position before the oldest retained entry: resuming after it
    /// serves every entry the log still holds.
    pub async fn oldest(&self) -> Result<Cursor, StoreError> {
        Ok(self.oldest_of(&self.bounds().await?))
    }

    pub(crate) fn oldest_of(&self, bounds: &LogBounds) -> Cursor {
        Cursor::new(self.log_tag(), bounds.removed_through, 0)
    }

    /// The refusal of a read that started after `cursor` when retention
    /// has since removed entries after it.
    pub(crate) fn expired(&self, cursor: Cursor, bounds: &LogBounds) -> Option<StoreError> {
        (cursor.seq < bounds.removed_through).then(|| StoreError::CursorExpired {
            cursor: cursor.seq,
            oldest: self.oldest_of(bounds),
        })
    }

    /// Checks that resuming after `cursor` continues this log exactly: it
    /// was issued by this log (its tag), is not ahead of it, names no
    /// position retention removed, and the entry it names is still the one
    /// it was issued for (a restored or failed-over database reuses
    /// positions once new writes pass them). Returns the cursor as this
    /// log issues it.
    pub async fn check_resume(&self, cursor: Cursor) -> Result<Cursor, StoreError> {
        if cursor.tag.is_some_and(|tag| tag != self.log_tag()) {
            return Err(StoreError::CursorUnknown {
                cursor: cursor.seq,
                reason: "it was issued by another database",
            });
        }
        let bounds = self.bounds().await?;
        if cursor.seq > bounds.head {
            return Err(StoreError::CursorAhead {
                cursor: cursor.seq,
                head: bounds.head,
            });
        }
        if let Some(expired) = self.expired(cursor, &bounds) {
            return Err(expired);
        }
        let mut stamp = 0;
        if cursor.tag.is_some() && cursor.stamp != 0 && cursor.seq > bounds.removed_through {
            if self.inner.engine.stamp_at(cursor.seq).await? != Some(cursor.stamp) {
                return Err(StoreError::CursorUnknown {
                    cursor: cursor.seq,
                    reason: "the entry it names is not in this log \
                             (a restored or failed-over database)",
                });
            }
            stamp = cursor.stamp;
        }
        Ok(Cursor::new(self.log_tag(), cursor.seq, stamp))
    }
}
