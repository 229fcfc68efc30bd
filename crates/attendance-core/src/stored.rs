//! Stored deliveries read back for re-derivation: each pushed delivery's
//! verified vendor JSON with how and when it arrived, in arrival order
//! (raw document ids are handed out in commit order on both engines).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use attendance_proto::hub::{DeliveryScope, StoredDelivery};
use attendance_proto::v1::{Channel, Vendor};
use sqlx::{Database, Executor, FromRow, IntoArguments};

use crate::shared_sql::Driver;
use crate::StoreError;

/// The page query on SQLite (`?N` parameters, microsecond columns).
pub(crate) const SQLITE: &str = "SELECT d.raw_id, d.vendor, d.app, d.tenant, d.channel, \
     d.event_id, d.event_type, r.json, d.received_at_us \
     FROM deliveries d JOIN raw_documents r ON r.id = d.raw_id \
     WHERE d.raw_id > ?1 AND d.vendor = ?2 AND (?3 = '' OR d.app = ?3) \
     AND (?4 = '' OR d.tenant = ?4) \
     AND (?5 IS NULL OR d.received_at_us >= ?5) AND (?6 IS NULL OR d.received_at_us < ?6) \
     ORDER BY d.raw_id LIMIT ?7";

/// The page query on PostgreSQL (instants as `TIMESTAMPTZ`, enums `SMALLINT`).
pub(crate) const POSTGRES: &str = "SELECT d.raw_id, CAST(d.vendor AS BIGINT), d.app, d.tenant, \
     CAST(d.channel AS BIGINT), d.event_id, d.event_type, r.json, \
     CAST(EXTRACT(EPOCH FROM d.received_at) * 1000000 AS BIGINT) \
     FROM deliveries d JOIN raw_documents r ON r.id = d.raw_id \
     WHERE d.raw_id > $1 AND d.vendor = CAST($2 AS SMALLINT) AND ($3 = '' OR d.app = $3) \
     AND ($4 = '' OR d.tenant = $4) \
     AND (CAST($5 AS BIGINT) IS NULL OR d.received_at >= to_timestamp(CAST($5 AS BIGINT) / 1000000.0)) \
     AND (CAST($6 AS BIGINT) IS NULL OR d.received_at < to_timestamp(CAST($6 AS BIGINT) / 1000000.0)) \
     ORDER BY d.raw_id LIMIT $7";

type Row = (i64, i64, String, String, i64, String, String, String, i64);

fn micros(at: SystemTime) -> i64 {
    match at.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_micros()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_micros()).unwrap_or(i64::MAX),
    }
}

fn instant(us: i64) -> SystemTime {
    if us >= 0 {
        UNIX_EPOCH + Duration::from_micros(us as u64)
    } else {
        UNIX_EPOCH - Duration::from_micros(us.unsigned_abs())
    }
}

/// One page of `scope` after `after`, with the engine's `sql`.
pub(crate) async fn page<'e, DB, E>(
    executor: E,
    sql: &'static str,
    scope: &DeliveryScope,
    after: i64,
    limit: usize,
) -> Result<Vec<StoredDelivery>, StoreError>
where
    DB: Driver,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    E: Executor<'e, Database = DB>,
    Row: for<'r> FromRow<'r, DB::Row>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let rows: Vec<Row> = sqlx::query_as::<DB, Row>(sql)
        .bind(after)
        .bind(scope.vendor as i64)
        .bind(scope.app.as_str())
        .bind(scope.tenant.as_str())
        .bind(scope.received_from.map(micros))
        .bind(scope.received_until.map(micros))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(executor)
        .await?;
    Ok(rows
        .into_iter()
        .map(
            |(position, vendor, app, tenant, channel, event_id, event_type, raw_json, received)| {
                StoredDelivery {
                    position,
                    vendor: i32::try_from(vendor)
                        .ok()
                        .and_then(|v| Vendor::try_from(v).ok())
                        .unwrap_or(Vendor::Unspecified),
                    app,
                    tenant,
                    channel: i32::try_from(channel)
                        .ok()
                        .and_then(|c| Channel::try_from(c).ok())
                        .unwrap_or(Channel::Unspecified),
                    event_id,
                    event_type,
                    raw_json,
                    received_at: instant(received),
                }
            },
        )
        .collect())
}
