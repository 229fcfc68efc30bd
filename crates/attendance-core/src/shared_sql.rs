//! The statements both engines run with the same SQL: operator queries
//! whose text and result shape do not depend on the engine (casts make the
//! column types agree), written once over sqlx's generic executor.

use attendance_proto::hub::TakenJob;
use sqlx::{Database, Executor, FromRow, IntoArguments};

use crate::records::{DeliveryCounts, KnownEmployee, SourceActivity, VendorCalls};
use crate::StoreError;

/// What every engine's sqlx driver offers for these statements.
pub(crate) trait Driver: Database
where
    for<'q> <Self as Database>::Arguments<'q>: IntoArguments<'q, Self>,
{
}

impl Driver for sqlx::Sqlite {}
impl Driver for sqlx::Postgres {}

pub(crate) async fn ping<'e, DB, E>(executor: E) -> Result<(), StoreError>
where
    DB: Driver,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    E: Executor<'e, Database = DB>,
{
    sqlx::query::<DB>("SELECT 1").execute(executor).await?;
    Ok(())
}

pub(crate) async fn delivery_counts<'e, DB, E>(executor: E) -> Result<DeliveryCounts, StoreError>
where
    DB: Driver,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    E: Executor<'e, Database = DB>,
    (String, i64, i64): for<'r> FromRow<'r, DB::Row>,
{
    let rows: Vec<(String, i64, i64)> = sqlx::query_as::<DB, (String, i64, i64)>(
        "SELECT recognition, CAST(COUNT(*) AS BIGINT), \
         CAST(COALESCE(SUM(superseded), 0) AS BIGINT) FROM deliveries GROUP BY recognition",
    )
    .fetch_all(executor)
    .await?;
    let mut counts = DeliveryCounts::default();
    for (recognition, n, superseded) in rows {
        counts.add(&recognition, n, superseded);
    }
    Ok(counts)
}

/// Retained deliveries per source; `newest_us` is the engine's expression
/// of the newest `received_at` in microseconds.
pub(crate) async fn source_activity<'e, DB, E>(
    executor: E,
    newest_us: &str,
) -> Result<Vec<SourceActivity>, StoreError>
where
    DB: Driver,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    E: Executor<'e, Database = DB>,
    (i64, String, i64, i64, i64): for<'r> FromRow<'r, DB::Row>,
{
    let sql = format!(
        "SELECT CAST(vendor AS BIGINT), app, CAST(channel AS BIGINT), CAST(COUNT(*) AS BIGINT), \
         {newest_us} FROM deliveries GROUP BY vendor, app, channel ORDER BY vendor, app, channel"
    );
    let rows: Vec<(i64, String, i64, i64, i64)> =
        sqlx::query_as::<DB, (i64, String, i64, i64, i64)>(&sql)
            .fetch_all(executor)
            .await?;
    Ok(rows
        .into_iter()
        .map(
            |(vendor, app, channel, deliveries, newest)| SourceActivity {
                vendor: i32::try_from(vendor).unwrap_or_default(),
                app,
                channel: i32::try_from(channel).unwrap_or_default(),
                deliveries,
                last_received_us: newest,
            },
        )
        .collect())
}

pub(crate) async fn known_employees<'e, DB, E>(
    executor: E,
    vendor: i32,
    app: &str,
) -> Result<Vec<KnownEmployee>, StoreError>
where
    DB: Driver,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    E: Executor<'e, Database = DB>,
    (String, String): for<'r> FromRow<'r, DB::Row>,
    i32: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let rows: Vec<(String, String)> = sqlx::query_as::<DB, (String, String)>(
        "SELECT tenant, employee_id FROM employees WHERE vendor = $1 AND app = $2 \
         ORDER BY tenant, employee_id",
    )
    .bind(vendor)
    .bind(app)
    .fetch_all(executor)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(tenant, employee_id)| KnownEmployee {
            tenant,
            employee_id,
        })
        .collect())
}

pub(crate) async fn add_vendor_calls<'e, DB, E>(
    executor: E,
    vendor: i32,
    app: &str,
    month: &str,
    calls: i64,
) -> Result<(), StoreError>
where
    DB: Driver,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    E: Executor<'e, Database = DB>,
    i32: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    sqlx::query::<DB>(
        "INSERT INTO vendor_calls (vendor, app, month, calls) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (vendor, app, month) DO UPDATE SET calls = vendor_calls.calls + excluded.calls",
    )
    .bind(vendor)
    .bind(app)
    .bind(month)
    .bind(calls)
    .execute(executor)
    .await?;
    Ok(())
}

pub(crate) async fn vendor_calls<'e, DB, E>(executor: E) -> Result<Vec<VendorCalls>, StoreError>
where
    DB: Driver,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    E: Executor<'e, Database = DB>,
    (i32, String, String, i64): for<'r> FromRow<'r, DB::Row>,
{
    let rows: Vec<(i32, String, String, i64)> = sqlx::query_as::<DB, (i32, String, String, i64)>(
        "SELECT CAST(vendor AS INTEGER), app, month, calls FROM vendor_calls \
         ORDER BY month DESC, vendor, app",
    )
    .fetch_all(executor)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(vendor, app, month, calls)| VendorCalls {
            vendor,
            app,
            month,
            calls,
        })
        .collect())
}

/// Rows of a `take_jobs` statement as jobs, oldest first.
pub(crate) fn taken(mut rows: Vec<(i64, String, String, i32)>) -> Vec<TakenJob> {
    rows.sort_by_key(|row| row.0);
    rows.into_iter()
        .map(|(id, key, payload, attempts)| TakenJob {
            id,
            key,
            payload,
            attempts,
        })
        .collect()
}
