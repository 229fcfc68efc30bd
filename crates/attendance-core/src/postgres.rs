//! The PostgreSQL engine, for several hub replicas on one database. Each
//! batch is a handful of statements over arrays (`UNNEST`, `= ANY`) whatever
//! its size; one advisory transaction lock per batch makes sequence order
//! commit order across replicas (so readers never skip a row), and one
//! `NOTIFY` per batch wakes the other replicas' subscribers.

use std::time::Duration;

use async_trait::async_trait;
use attendance_proto::ingest::Receipt;
use attendance_proto::v1::LogEntryKind;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnection, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{Connection, Postgres, QueryBuilder, Row};
use tokio::sync::{watch, Mutex};

use crate::batch::{apply, Batch, DeliveryRow, Opened, StoredFact, Wanted, WriteTx, Writes};
use crate::engine::{Claim, Condition, Engine, ListSpec, ListedRow, LogRead};
use crate::fact::Identity;
use crate::filter::SubscriptionFilter;
use crate::pg_connect::{first_connection, unreachable};
use crate::records::{Backend, DeliveryCounts, KnownEmployee, SourceActivity, VendorCalls};
use crate::shared_sql::{self, taken};
use crate::StoreError;
use attendance_proto::hub::{DeliveryScope, StoredDelivery, TakenJob};

static MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/postgres");

/// Serializes fact decisions and log appends across replicas, so that
/// sequence order is commit order: a reader never sees seq N+1 before seq N
/// commits, so it never skips a row. Advisory locks are shared by every
/// database of a server, so the key names this database: hubs on other
/// databases of the same server never wait for this one.
const LOG_APPEND_LOCK: &str =
    "SELECT pg_advisory_xact_lock(hashtextextended(current_database() || '/log-append', 0))";
pub(crate) const NOTIFY_CHANNEL: &str = "attendance_log";

pub(crate) struct PostgresEngine {
    url: String,
    /// The committer's connection, owned rather than pooled (a pool's
    /// checkout and return cost more than a batch's statements), and apart
    /// from the readers so that a burst of queries never delays a commit.
    /// `None` after it failed: the next batch connects again.
    writer: Mutex<Option<PgConnection>>,
    pub(crate) reader: PgPool,
}

fn instant(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

fn micros(row: &PgRow, column: &str) -> Result<i64, StoreError> {
    Ok(row.try_get::<DateTime<Utc>, _>(column)?.timestamp_micros())
}

fn date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

impl PostgresEngine {
    pub(crate) async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        // The first connection says whether the database is there at all,
        // quickly and in one clear error; the pool connects the same way.
        let (options, mut migrator) = first_connection(url).await?;
        MIGRATIONS.run(&mut migrator).await?;
        migrator.close().await?;
        // The pool keeps sqlx's acquire timeout: once serving, a caller may
        // wait longer than a first connection for a busy pool.
        let reader = PgPoolOptions::new()
            .max_connections(max_connections.max(2))
            .connect_with(options.clone())
            .await
            .map_err(|error| unreachable(url, Some(&options), &error))?;
        Ok(PostgresEngine {
            url: url.to_owned(),
            // Connected by the first batch, on the committer's own runtime.
            writer: Mutex::new(None),
            reader,
        })
    }
}

/// The committer's connection. Every statement it runs looks rows up by key
/// in batches of arrays; the planner cannot see how short those arrays are,
/// and on a table it has not analyzed yet it would scan the table once per
/// batch. Off for this session only: index lookups, always.
async fn writer_connection(url: &str) -> Result<PgConnection, StoreError> {
    let mut conn = PgConnection::connect(url).await?;
    sqlx::query(
        "SELECT set_config('enable_seqscan', 'off', false), \
         set_config('enable_hashjoin', 'off', false), \
         set_config('enable_mergejoin', 'off', false)",
    )
    .execute(&mut conn)
    .await?;
    Ok(conn)
}

/// Wakes local subscribers when any replica commits. The notification
/// carries nothing that matters: subscribers always read the table.
pub(crate) async fn follow_notifications(url: String, changes: watch::Sender<u64>) {
    loop {
        match PgListener::connect(&url).await {
            Ok(mut listener) => {
                if let Err(error) = listener.listen(NOTIFY_CHANNEL).await {
                    tracing::warn!(%error, "LISTEN failed; retrying");
                } else {
                    // Anything committed while we were not listening is read now.
                    changes.send_modify(|g| *g = g.wrapping_add(1));
                    loop {
                        match listener.recv().await {
                            Ok(_) => changes.send_modify(|g| *g = g.wrapping_add(1)),
                            Err(error) => {
                                tracing::warn!(%error, "notification listener lost its connection");
                                break;
                            }
                        }
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "cannot connect the notification listener"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn allocate(
    conn: &mut PgConnection,
    sequence: &str,
    n: usize,
) -> Result<Vec<i64>, StoreError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut ids: Vec<i64> =
        sqlx::query_scalar("SELECT nextval($1::regclass) FROM generate_series(1, $2)")
            .bind(sequence)
            .bind(n as i64)
            .fetch_all(conn)
            .await?;
    ids.sort_unstable();
    Ok(ids)
}

/// The four identity columns as arrays, for `UNNEST`.
struct IdentityArrays {
    kinds: Vec<i16>,
    vendors: Vec<i16>,
    tenants: Vec<String>,
    keys: Vec<String>,
}

impl IdentityArrays {
    fn of<'a>(ids: impl Iterator<Item = &'a Identity>) -> IdentityArrays {
        let mut arrays = IdentityArrays {
            kinds: Vec::new(),
            vendors: Vec::new(),
            tenants: Vec::new(),
            keys: Vec::new(),
        };
        for id in ids {
            arrays.kinds.push(id.kind);
            arrays.vendors.push(id.vendor);
            arrays.tenants.push(id.tenant.clone());
            arrays.keys.push(id.business_key.clone());
        }
        arrays
    }
}

fn identity_of(row: &PgRow, key_column: &str) -> Result<Identity, StoreError> {
    Ok(Identity {
        kind: row.try_get("kind")?,
        vendor: row.try_get("vendor")?,
        tenant: row.try_get("tenant")?,
        business_key: row.try_get(key_column)?,
    })
}

fn stored_fact(row: &PgRow, key_column: &str) -> Result<StoredFact, StoreError> {
    Ok(StoredFact {
        identity: identity_of(row, key_column)?,
        revision: row.try_get("revision")?,
        content_hash: row.try_get("content_hash")?,
        payroll_hash: row.try_get("payroll_hash")?,
        version: row
            .try_get::<Option<DateTime<Utc>>, _>("version")?
            .map(|t| t.timestamp_micros()),
        body: row.try_get("body")?,
    })
}

/// Every write of a batch in one statement (data-modifying CTEs over
/// arrays); an empty array writes nothing. The identities the facts upsert
/// and the version update touch are disjoint, so no row is changed twice.
const WRITE_BATCH: &str = "WITH \
    raws AS (INSERT INTO raw_documents (id, received_at, json) \
        SELECT * FROM UNNEST($1::int8[], $2::timestamptz[], $3::text[])), \
    log AS (INSERT INTO log (seq, kind, vendor, app, tenant, employee_id, business_key, \
        revision, revision_kind, occurred_at, received_at, raw_id, body) \
        SELECT * FROM UNNEST($4::int8[], $5::smallint[], $6::smallint[], $7::text[], \
        $8::text[], $9::text[], $10::text[], $11::int8[], $12::smallint[], \
        $13::timestamptz[], $14::timestamptz[], $15::int8[], $16::bytea[])), \
    facts AS (INSERT INTO facts (kind, vendor, tenant, business_key, revision, content_hash, \
        payroll_hash, version, log_seq, employee_id, sort_key, start_at, end_at, \
        work_date, raw_id, body) \
        SELECT * FROM UNNEST($17::smallint[], $18::smallint[], $19::text[], $20::text[], \
        $21::int8[], $22::bytea[], $23::bytea[], $24::timestamptz[], $25::int8[], \
        $26::text[], $27::text[], $28::timestamptz[], $29::timestamptz[], $30::date[], \
        $31::int8[], $32::bytea[]) \
        ON CONFLICT (kind, vendor, tenant, business_key) DO UPDATE SET \
        revision = excluded.revision, content_hash = excluded.content_hash, \
        payroll_hash = excluded.payroll_hash, version = excluded.version, \
        log_seq = excluded.log_seq, employee_id = excluded.employee_id, \
        sort_key = excluded.sort_key, start_at = excluded.start_at, \
        end_at = excluded.end_at, work_date = excluded.work_date, \
        raw_id = excluded.raw_id, body = excluded.body), \
    versions AS (UPDATE facts f SET version = q.version \
        FROM UNNEST($33::smallint[], $34::smallint[], $35::text[], $36::text[], \
        $37::timestamptz[]) AS q(kind, vendor, tenant, business_key, version) \
        WHERE f.kind = q.kind AND f.vendor = q.vendor AND f.tenant = q.tenant \
        AND f.business_key = q.business_key), \
    keys AS (INSERT INTO fact_keys (kind, vendor, tenant, match_key, business_key) \
        SELECT * FROM UNNEST($38::smallint[], $39::smallint[], $40::text[], $41::text[], \
        $42::text[]) ON CONFLICT (kind, vendor, tenant, match_key) DO NOTHING), \
    employees AS (INSERT INTO employees (vendor, app, tenant, employee_id, first_seen, last_seen) \
        SELECT v, a, t, e, s, s FROM UNNEST($43::smallint[], $44::text[], $45::text[], \
        $46::text[], $47::timestamptz[]) AS q(v, a, t, e, s) \
        ON CONFLICT (vendor, app, tenant, employee_id) DO UPDATE SET \
        last_seen = excluded.last_seen \
        WHERE excluded.last_seen > employees.last_seen + interval '1 hour'), \
    superseded AS (UPDATE deliveries d SET superseded = d.superseded + q.n \
        FROM UNNEST($48::smallint[], $49::text[], $50::int4[]) AS q(vendor, event_id, n) \
        WHERE d.vendor = q.vendor AND d.event_id = q.event_id), \
    jobs AS (INSERT INTO jobs (queue, job_key, payload, available_at) \
        SELECT q, k, p, $56 FROM UNNEST($53::text[], $54::text[], $55::text[]) AS u(q, k, p) \
        ON CONFLICT (queue, job_key) DO NOTHING) \
    SELECT pg_notify($51, '') WHERE $52";

/// The writer connection during one batch: it begins the transaction in
/// [`WriteTx::open`] and commits it in [`WriteTx::finish`];
/// [`PostgresEngine::commit_batch`] rolls it back on any error.
struct Write<'c> {
    conn: &'c mut PgConnection,
}

#[async_trait]
impl WriteTx for Write<'_> {
    async fn open(
        &mut self,
        deliveries: &[&DeliveryRow],
        raw_count: usize,
        wanted: &Wanted<'_>,
    ) -> Result<Opened, StoreError> {
        sqlx::query("BEGIN").execute(&mut *self.conn).await?;
        let raw_ids = allocate(self.conn, "raw_documents_id_seq", raw_count).await?;
        let mut opened = Opened::default();
        if !deliveries.is_empty() {
            let inserted = sqlx::query(
                "INSERT INTO deliveries (vendor, event_id, app, tenant, channel, event_type, \
                 recognition, problem, received_at, raw_id) \
                 SELECT * FROM UNNEST($1::smallint[], $2::text[], $3::text[], $4::text[], \
                 $5::smallint[], $6::text[], $7::text[], $8::text[], $9::timestamptz[], \
                 $10::int8[]) \
                 ON CONFLICT (vendor, event_id) DO NOTHING RETURNING vendor, event_id",
            )
            .bind(deliveries.iter().map(|r| r.vendor).collect::<Vec<_>>())
            .bind(
                deliveries
                    .iter()
                    .map(|r| r.event_id.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                deliveries
                    .iter()
                    .map(|r| r.app.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                deliveries
                    .iter()
                    .map(|r| r.tenant.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(deliveries.iter().map(|r| r.channel).collect::<Vec<_>>())
            .bind(
                deliveries
                    .iter()
                    .map(|r| r.event_type.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(deliveries.iter().map(|r| r.recognition).collect::<Vec<_>>())
            .bind(
                deliveries
                    .iter()
                    .map(|r| r.problem.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                deliveries
                    .iter()
                    .map(|r| instant(r.received_at_us))
                    .collect::<Vec<_>>(),
            )
            .bind(
                deliveries
                    .iter()
                    .map(|r| r.raw.map(|i| raw_ids[i]))
                    .collect::<Vec<_>>(),
            )
            .fetch_all(&mut *self.conn)
            .await?;
            for row in &inserted {
                opened
                    .inserted
                    .insert((row.try_get("vendor")?, row.try_get("event_id")?));
            }
        }
        opened.raw_ids = raw_ids;
        let ids = wanted(Some(&opened.inserted));
        if ids.is_empty() {
            // Only duplicates, or deliveries without facts: no need to wait
            // for the append lock.
            return Ok(opened);
        }
        sqlx::query(LOG_APPEND_LOCK)
            .execute(&mut *self.conn)
            .await?;
        // Read after the lock, in a statement of its own, so its snapshot
        // sees every batch committed before this one took the lock.
        let arrays = IdentityArrays::of(ids.iter());
        let rows = sqlx::query(
            "WITH q AS (SELECT * FROM UNNEST($1::smallint[], $2::smallint[], $3::text[], \
             $4::text[]) AS q(kind, vendor, tenant, k)) \
             SELECT false AS fact, k.kind, k.vendor, k.tenant, k.match_key AS k, \
             k.business_key AS owner, NULL::int8 AS revision, NULL::bytea AS content_hash, \
             NULL::bytea AS payroll_hash, NULL::timestamptz AS version, NULL::bytea AS body \
             FROM q JOIN fact_keys k ON k.kind = q.kind AND k.vendor = q.vendor \
             AND k.tenant = q.tenant AND k.match_key = q.k \
             UNION ALL SELECT true, f.kind, f.vendor, f.tenant, f.business_key, NULL, \
             f.revision, f.content_hash, f.payroll_hash, f.version, f.body \
             FROM q JOIN facts f ON f.kind = q.kind AND f.vendor = q.vendor \
             AND f.tenant = q.tenant AND f.business_key = q.k",
        )
        .bind(arrays.kinds)
        .bind(arrays.vendors)
        .bind(arrays.tenants)
        .bind(arrays.keys)
        .fetch_all(&mut *self.conn)
        .await?;
        for row in &rows {
            if row.try_get::<bool, _>("fact")? {
                opened.facts.push(stored_fact(row, "k")?);
            } else {
                opened
                    .aliases
                    .push((identity_of(row, "k")?, row.try_get("owner")?));
            }
        }
        Ok(opened)
    }

    async fn load_facts(&mut self, ids: &[Identity]) -> Result<Vec<StoredFact>, StoreError> {
        let arrays = IdentityArrays::of(ids.iter());
        let rows = sqlx::query(
            "SELECT f.kind, f.vendor, f.tenant, f.business_key, f.revision, f.content_hash, \
             f.payroll_hash, f.version, f.body \
             FROM UNNEST($1::smallint[], $2::smallint[], $3::text[], $4::text[]) \
             AS q(kind, vendor, tenant, business_key) \
             JOIN facts f ON f.kind = q.kind AND f.vendor = q.vendor \
             AND f.tenant = q.tenant AND f.business_key = q.business_key",
        )
        .bind(arrays.kinds)
        .bind(arrays.vendors)
        .bind(arrays.tenants)
        .bind(arrays.keys)
        .fetch_all(&mut *self.conn)
        .await?;
        rows.iter()
            .map(|row| stored_fact(row, "business_key"))
            .collect()
    }

    async fn allocate_seqs(&mut self, n: usize) -> Result<Vec<i64>, StoreError> {
        allocate(self.conn, "log_seq_seq", n).await
    }

    async fn finish(&mut self, writes: &Writes<'_>) -> Result<(), StoreError> {
        let facts = IdentityArrays::of(writes.facts.iter().map(|r| &r.identity));
        let versions = IdentityArrays::of(writes.versions.iter().map(|(id, _)| id));
        let keys = IdentityArrays::of(writes.keys.iter().map(|(id, _)| id));
        let (raws, log, rows) = (&writes.raws, &writes.log, &writes.facts);
        sqlx::query(WRITE_BATCH)
            .bind(raws.iter().map(|r| r.0).collect::<Vec<_>>())
            .bind(raws.iter().map(|r| instant(r.1)).collect::<Vec<_>>())
            .bind(raws.iter().map(|r| r.2).collect::<Vec<_>>())
            .bind(log.iter().map(|r| r.seq).collect::<Vec<_>>())
            .bind(log.iter().map(|r| r.kind).collect::<Vec<_>>())
            .bind(log.iter().map(|r| r.vendor).collect::<Vec<_>>())
            .bind(log.iter().map(|r| r.app.as_str()).collect::<Vec<_>>())
            .bind(log.iter().map(|r| r.tenant.as_str()).collect::<Vec<_>>())
            .bind(
                log.iter()
                    .map(|r| r.employee_id.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                log.iter()
                    .map(|r| r.business_key.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(log.iter().map(|r| r.revision).collect::<Vec<_>>())
            .bind(log.iter().map(|r| r.revision_kind).collect::<Vec<_>>())
            .bind(
                log.iter()
                    .map(|r| instant(r.occurred_at_us))
                    .collect::<Vec<_>>(),
            )
            .bind(
                log.iter()
                    .map(|r| instant(r.received_at_us))
                    .collect::<Vec<_>>(),
            )
            .bind(log.iter().map(|r| r.raw_id).collect::<Vec<_>>())
            .bind(log.iter().map(|r| r.body.as_slice()).collect::<Vec<_>>())
            .bind(facts.kinds)
            .bind(facts.vendors)
            .bind(facts.tenants)
            .bind(facts.keys)
            .bind(rows.iter().map(|r| r.revision).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|r| r.content_hash.as_slice())
                    .collect::<Vec<_>>(),
            )
            .bind(
                rows.iter()
                    .map(|r| r.payroll_hash.as_slice())
                    .collect::<Vec<_>>(),
            )
            .bind(
                rows.iter()
                    .map(|r| r.version.map(instant))
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|r| r.log_seq).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|r| r.employee_id.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|r| r.sort_key.as_str()).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|r| instant(r.start_at_us))
                    .collect::<Vec<_>>(),
            )
            .bind(
                rows.iter()
                    .map(|r| instant(r.end_at_us))
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|r| date(&r.work_date)).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.raw_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.body.as_slice()).collect::<Vec<_>>())
            .bind(versions.kinds)
            .bind(versions.vendors)
            .bind(versions.tenants)
            .bind(versions.keys)
            .bind(
                writes
                    .versions
                    .iter()
                    .map(|(_, v)| instant(*v))
                    .collect::<Vec<_>>(),
            )
            .bind(keys.kinds)
            .bind(keys.vendors)
            .bind(keys.tenants)
            .bind(keys.keys)
            .bind(
                writes
                    .keys
                    .iter()
                    .map(|(_, owner)| owner.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                writes
                    .employees
                    .iter()
                    .map(|r| r.vendor)
                    .collect::<Vec<_>>(),
            )
            .bind(
                writes
                    .employees
                    .iter()
                    .map(|r| r.app.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                writes
                    .employees
                    .iter()
                    .map(|r| r.tenant.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                writes
                    .employees
                    .iter()
                    .map(|r| r.employee_id.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                writes
                    .employees
                    .iter()
                    .map(|r| instant(r.at_us))
                    .collect::<Vec<_>>(),
            )
            .bind(writes.superseded.iter().map(|r| r.0).collect::<Vec<_>>())
            .bind(
                writes
                    .superseded
                    .iter()
                    .map(|r| r.1.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                writes
                    .superseded
                    .iter()
                    .map(|r| r.2 as i32)
                    .collect::<Vec<_>>(),
            )
            // Delivered only on commit: it wakes subscribers on other replicas.
            .bind(NOTIFY_CHANNEL)
            .bind(writes.appends())
            .bind(
                writes
                    .jobs
                    .iter()
                    .map(|j| j.queue.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                writes
                    .jobs
                    .iter()
                    .map(|j| j.key.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                writes
                    .jobs
                    .iter()
                    .map(|j| j.payload.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(instant(writes.jobs_due_us))
            .execute(&mut *self.conn)
            .await?;
        sqlx::query("COMMIT").execute(&mut *self.conn).await?;
        Ok(())
    }
}

/// How often, and how far apart, a refused claim is asked again (about a
/// second in all).
const CLAIM_ATTEMPTS: u32 = 20;
const CLAIM_RETRY_PAUSE: Duration = Duration::from_millis(50);

/// Holds a session advisory lock; closing the connection (never returning
/// it to the pool) is what releases the lock when the claim is dropped.
struct AdvisoryClaim(Option<PoolConnection<Postgres>>);

impl Drop for AdvisoryClaim {
    fn drop(&mut self) {
        if let Some(connection) = self.0.take() {
            drop(connection.detach());
        }
    }
}

#[async_trait]
impl Engine for PostgresEngine {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn commit_batch(&self, batch: &mut Batch) -> Result<Vec<Receipt>, StoreError> {
        let mut writer = self.writer.lock().await;
        if writer.is_none() {
            *writer = Some(writer_connection(&self.url).await?);
        }
        let conn = writer.as_mut().expect("connected above");
        let result = apply(&mut Write { conn }, batch).await;
        if let Err(error) = &result {
            // An error the server reported leaves the connection usable once
            // the transaction is rolled back; any other may have broken it,
            // and a fresh one costs one connect where a broken one fails
            // every later batch.
            let reported = matches!(error, StoreError::Database(sqlx::Error::Database(_)));
            let rolled_back = sqlx::query("ROLLBACK").execute(&mut *conn).await.is_ok();
            if !(reported && rolled_back) {
                if let Some(conn) = writer.take() {
                    let _ = conn.close().await;
                }
            }
        }
        result
    }

    async fn read_log(
        &self,
        after: i64,
        up_to: i64,
        limit: i64,
        filter: &SubscriptionFilter,
    ) -> Result<Vec<LogRead>, StoreError> {
        let rows = sqlx::query(
            "SELECT l.seq, l.tenant, l.vendor, l.kind, l.revision_kind, l.employee_id, l.occurred_at, \
             l.received_at, l.body, r.json FROM log l \
             LEFT JOIN raw_documents r ON r.id = l.raw_id \
             WHERE l.seq > $1 AND l.seq <= $2 \
             AND (cardinality($3::text[]) = 0 OR l.tenant = ANY($3)) \
             AND (cardinality($4::smallint[]) = 0 OR l.vendor = ANY($4)) \
             AND (cardinality($5::smallint[]) = 0 OR l.kind = ANY($5)) \
             AND (cardinality($6::text[]) = 0 OR l.employee_id = ANY($6) OR l.kind = $9) \
             AND (NOT $7 OR l.revision_kind <> 3) \
             ORDER BY l.seq LIMIT $8",
        )
        .bind(after)
        .bind(up_to)
        .bind(&filter.tenants)
        .bind(filter.vendors.iter().map(|v| *v as i16).collect::<Vec<_>>())
        .bind(filter.kinds.iter().map(|k| *k as i16).collect::<Vec<_>>())
        .bind(&filter.employee_ids)
        .bind(filter.exclude_enrichments)
        .bind(limit)
        // A day signal speaks for the whole tenant: an employee filter never
        // hides it (the tenant filter still applies).
        .bind(LogEntryKind::DayReconciled as i16)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(LogRead {
                    seq: row.try_get("seq")?,
                    tenant: row.try_get("tenant")?,
                    vendor: row.try_get("vendor")?,
                    kind: row.try_get("kind")?,
                    revision_kind: row.try_get("revision_kind")?,
                    employee_id: row.try_get("employee_id")?,
                    occurred_at_us: micros(row, "occurred_at")?,
                    received_at_us: micros(row, "received_at")?,
                    body: row.try_get("body")?,
                    raw: row.try_get("json")?,
                })
            })
            .collect()
    }

    async fn list(&self, spec: &ListSpec) -> Result<Vec<ListedRow>, StoreError> {
        let mut builder: QueryBuilder<Postgres> = QueryBuilder::new(
            "SELECT f.body, f.sort_key, f.vendor, f.business_key, f.tenant, r.json FROM facts f \
             LEFT JOIN raw_documents r ON r.id = f.raw_id WHERE f.kind = ",
        );
        builder.push_bind(spec.kind as i16);
        for condition in &spec.conditions {
            match condition {
                Condition::Tenant(v) => builder.push(" AND f.tenant = ").push_bind(v.clone()),
                // `= ANY` of an empty array is false: no tenant matches nothing.
                Condition::TenantIn(v) => builder
                    .push(" AND f.tenant = ANY(")
                    .push_bind(v.clone())
                    .push(")"),
                Condition::Employee(v) => {
                    builder.push(" AND f.employee_id = ").push_bind(v.clone())
                }
                Condition::Vendor(v) => builder.push(" AND f.vendor = ").push_bind(*v as i16),
                Condition::StartsFrom(us) => {
                    builder.push(" AND f.start_at >= ").push_bind(instant(*us))
                }
                Condition::StartsBefore(us) => {
                    builder.push(" AND f.start_at < ").push_bind(instant(*us))
                }
                Condition::EndsFrom(us) => {
                    builder.push(" AND f.end_at >= ").push_bind(instant(*us))
                }
                Condition::WorkDateFrom(d) => {
                    builder.push(" AND f.work_date >= ").push_bind(date(d))
                }
                Condition::WorkDateTo(d) => builder.push(" AND f.work_date <= ").push_bind(date(d)),
            };
        }
        if let Some(after) = &spec.after {
            builder
                .push(" AND (f.sort_key, f.vendor, f.business_key, f.tenant) > (")
                .push_bind(after.sort_key.clone())
                .push(", ")
                .push_bind(after.vendor as i16)
                .push(", ")
                .push_bind(after.business_key.clone())
                .push(", ")
                .push_bind(after.tenant.clone())
                .push(")");
        }
        builder
            // The tenant last makes the order total (a scope may span tenants
            // whose rows share every other value); `facts_by_sort_key` has it.
            .push(" ORDER BY f.sort_key, f.vendor, f.business_key, f.tenant LIMIT ")
            .push_bind(spec.limit);
        let rows = builder.build().fetch_all(&self.reader).await?;
        rows.iter()
            .map(|row| {
                Ok(ListedRow {
                    body: row.try_get("body")?,
                    raw: row.try_get("json")?,
                    sort_key: row.try_get("sort_key")?,
                    vendor: i64::from(row.try_get::<i16, _>("vendor")?),
                    business_key: row.try_get("business_key")?,
                    tenant: row.try_get("tenant")?,
                })
            })
            .collect()
    }

    async fn delivery_counts(&self) -> Result<DeliveryCounts, StoreError> {
        shared_sql::delivery_counts(&self.reader).await
    }

    async fn source_activity(&self) -> Result<Vec<SourceActivity>, StoreError> {
        shared_sql::source_activity(
            &self.reader,
            "CAST(EXTRACT(EPOCH FROM MAX(received_at)) * 1000000 AS BIGINT)",
        )
        .await
    }

    async fn known_employees(
        &self,
        vendor: i32,
        app: &str,
    ) -> Result<Vec<KnownEmployee>, StoreError> {
        shared_sql::known_employees(&self.reader, vendor, app).await
    }

    async fn add_vendor_calls(
        &self,
        vendor: i32,
        app: &str,
        month: &str,
        calls: i64,
    ) -> Result<(), StoreError> {
        shared_sql::add_vendor_calls(&self.reader, vendor, app, month, calls).await
    }

    async fn vendor_calls(&self) -> Result<Vec<VendorCalls>, StoreError> {
        shared_sql::vendor_calls(&self.reader).await
    }

    async fn claim(&self, name: &str) -> Result<Option<Claim>, StoreError> {
        let mut connection = self.reader.acquire().await?;
        // A claim just dropped is released when the server sees its
        // connection close, a moment later: a refusal is asked again for a
        // short while before it stands, so a pass run right after another
        // is not told one is running.
        for attempt in 0..CLAIM_ATTEMPTS {
            // Keyed by database and name: every replica of this database
            // agrees, and other databases of the server never contend.
            let granted: bool = sqlx::query_scalar(
                "SELECT pg_try_advisory_lock(hashtextextended(current_database() || '/' || $1, 0))",
            )
            .bind(name)
            .fetch_one(&mut *connection)
            .await?;
            if granted {
                return Ok(Some(Box::new(AdvisoryClaim(Some(connection))) as Claim));
            }
            if attempt + 1 < CLAIM_ATTEMPTS {
                tokio::time::sleep(CLAIM_RETRY_PAUSE).await;
            }
        }
        Ok(None)
    }

    async fn take_jobs(
        &self,
        queue: &str,
        max: usize,
        now_us: i64,
        lease_until_us: i64,
    ) -> Result<Vec<TakenJob>, StoreError> {
        // SKIP LOCKED: replicas asking at once take different jobs.
        let rows: Vec<(i64, String, String, i32)> = sqlx::query_as(
            "UPDATE jobs SET available_at = $1, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM jobs WHERE queue = $2 AND available_at <= $3 \
             ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED) \
             RETURNING id, job_key, payload, attempts",
        )
        .bind(instant(lease_until_us))
        .bind(queue)
        .bind(instant(now_us))
        .bind(max as i64)
        .fetch_all(&self.reader)
        .await?;
        Ok(taken(rows))
    }

    async fn finish_job(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM jobs WHERE id = $1")
            .bind(id)
            .execute(&self.reader)
            .await?;
        Ok(())
    }

    async fn retry_job(&self, id: i64, due_us: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE jobs SET available_at = $1 WHERE id = $2")
            .bind(instant(due_us))
            .bind(id)
            .execute(&self.reader)
            .await?;
        Ok(())
    }

    async fn stored_deliveries(
        &self,
        scope: &DeliveryScope,
        after: i64,
        limit: usize,
    ) -> Result<Vec<StoredDelivery>, StoreError> {
        crate::stored::page(&self.reader, crate::stored::POSTGRES, scope, after, limit).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        shared_sql::ping(&self.reader).await
    }

    async fn close(&self) {
        if let Some(conn) = self.writer.lock().await.take() {
            let _ = conn.close().await;
        }
        self.reader.close().await;
    }
}
