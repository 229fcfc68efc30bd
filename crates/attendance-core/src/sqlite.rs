//! The SQLite engine, the embedded default: one writer connection (SQLite
//! takes one writer at a time), readers beside it in WAL mode, and every
//! commit synced (`synchronous = FULL`) so an acknowledged event survives a
//! power cut. Batches are written with multi-row statements in a few
//! power-of-two sizes, so the statement cache keeps every shape prepared.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use attendance_proto::ingest::Receipt;
use attendance_proto::v1::LogEntryKind;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{Connection, QueryBuilder, Row, Sqlite};
use tokio::sync::{watch, Mutex};

use crate::batch::{apply, Batch, DeliveryRow, Opened, StoredFact, Wanted, WriteTx, Writes};
use crate::engine::{chunk_len, Claim, Condition, Engine, ListSpec, ListedRow, LogRead};
use crate::fact::Identity;
use crate::filter::SubscriptionFilter;
use crate::records::{Backend, DeliveryCounts, KnownEmployee, SourceActivity, VendorCalls};
use crate::shared_sql::{self, taken};
use crate::StoreError;
use attendance_proto::hub::{DeliveryScope, StoredDelivery, TakenJob};

static MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/sqlite");

/// Rows per multi-row statement at most: well under SQLite's 32,766
/// parameters for the widest table.
const MAX_ROWS: usize = 256;

pub(crate) struct SqliteEngine {
    /// The one writer connection, owned rather than pooled: the committer
    /// takes it for every batch, and a pool's checkout and return cost more
    /// than the batch's own statements.
    pub(crate) writer: Mutex<SqliteConnection>,
    pub(crate) reader: SqlitePool,
}

fn options(url: &str) -> Result<SqliteConnectOptions, StoreError> {
    Ok(SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        // WAL lets readers run beside the writer; FULL sync makes an
        // acknowledged commit survive power loss, not only a crash.
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(10))
        // A batch's RETURNING rows and the row lists its statements join
        // against are temporary tables; on disk each one would be a file
        // created, written and deleted per statement.
        .pragma("temp_store", "memory")
        .statement_cache_capacity(512))
}

/// WAL pages the writer lets accumulate before it checkpoints on its own:
/// only a backstop, in case the checkpointer falls behind.
const WRITER_CHECKPOINT_PAGES: &str = "4000";
/// The writer's page cache: 64 MiB (negative is KiB, as SQLite counts it).
const WRITER_CACHE_KIB: &str = "-65536";
/// Rows a reader's query may queue before its thread waits: more than a
/// subscription's catch-up read (1,024 entries).
const READER_ROW_BUFFER: usize = 2_048;
/// The least time between two checkpoints.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

impl SqliteEngine {
    /// Opens the database and starts its checkpointer, which ends with
    /// `changes` (the store's commit signal).
    pub(crate) async fn connect(
        url: &str,
        max_connections: u32,
        changes: watch::Receiver<u64>,
    ) -> Result<(Self, tokio::task::JoinHandle<()>), StoreError> {
        // Copying the WAL into the database (and syncing it) is left to the
        // checkpointer's own connection, so a commit never waits for it.
        let mut writer = SqliteConnection::connect_with(
            &options(url)?
                .pragma("wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)
                // The pages every batch touches (index roots and tails, the
                // employees' index leaves) stay in the writer's own cache
                // instead of being read back from the OS for every batch.
                .pragma("cache_size", WRITER_CACHE_KIB),
        )
        .await?;
        MIGRATIONS.run(&mut writer).await?;
        let checkpointer = SqliteConnection::connect_with(&options(url)?).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            // Rows cross from the connection's thread one channel send each;
            // room for a whole catch-up read lets that thread run a query
            // through instead of parking every 50 rows until the reader
            // drains them.
            .connect_with(options(url)?.row_buffer_size(READER_ROW_BUFFER))
            .await?;
        let checkpoints = tokio::spawn(checkpoint(checkpointer, changes));
        Ok((
            SqliteEngine {
                writer: Mutex::new(writer),
                reader,
            },
            checkpoints,
        ))
    }
}

/// Checkpoints the WAL after commits, at most every [`CHECKPOINT_EVERY`].
/// PASSIVE never blocks the writer or the readers; once a checkpoint has
/// copied everything, the writer starts the WAL over.
async fn checkpoint(mut conn: SqliteConnection, mut changes: watch::Receiver<u64>) {
    while changes.changed().await.is_ok() {
        if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&mut conn)
            .await
        {
            tracing::warn!(%error, "WAL checkpoint failed; the next commit tries again");
        }
        tokio::time::sleep(CHECKPOINT_EVERY).await;
    }
}

/// Appends one statement per chunk of [`chunk_len`] rows of `rows` to
/// `builder` (`head VALUES (…), … tail;`), binding each row with `push`.
/// Parameters are positional, so any number of statements share one query.
fn push_rows<'a, R, F>(
    builder: &mut QueryBuilder<'a, Sqlite>,
    rows: &'a [R],
    head: &str,
    tail: &str,
    mut push: F,
) where
    F: FnMut(sqlx::query_builder::Separated<'_, 'a, Sqlite, &'static str>, &'a R),
{
    let mut rest = rows;
    while !rest.is_empty() {
        let (chunk, more) = rest.split_at(chunk_len(rest.len(), MAX_ROWS));
        rest = more;
        builder.push(head);
        builder.push_values(chunk, &mut push);
        builder.push(tail);
        builder.push(";\n");
    }
}

fn identity_of(row: &SqliteRow, key_column: &str) -> Result<Identity, StoreError> {
    Ok(Identity {
        kind: row.try_get::<i64, _>("kind")? as i16,
        vendor: row.try_get::<i64, _>("vendor")? as i16,
        tenant: row.try_get("tenant")?,
        business_key: row.try_get(key_column)?,
    })
}

fn stored_fact(row: &SqliteRow, key_column: &str) -> Result<StoredFact, StoreError> {
    Ok(StoredFact {
        identity: identity_of(row, key_column)?,
        revision: row.try_get("revision")?,
        content_hash: row.try_get("content_hash")?,
        payroll_hash: row.try_get("payroll_hash")?,
        version: row.try_get("version_us")?,
        body: row.try_get("body")?,
    })
}

/// The writer connection during one batch. Each phase is one query of
/// several statements, so a batch costs two round trips to the
/// connection's thread (three when an alias points outside what was read)
/// instead of one per statement; the transaction is begun and committed by
/// plain `BEGIN IMMEDIATE` and `COMMIT` statements inside them, and rolled
/// back by [`SqliteEngine::commit_batch`] on any error.
struct Write<'c> {
    conn: &'c mut SqliteConnection,
    /// The log's AUTOINCREMENT high-water mark, read when the batch opened
    /// (the transaction holds SQLite's one write lock, so nobody moves it).
    last_seq: i64,
}

const SEQUENCE_OF: &str = "COALESCE((SELECT seq FROM sqlite_sequence WHERE name = ";

#[async_trait]
impl WriteTx for Write<'_> {
    async fn open(
        &mut self,
        deliveries: &[&DeliveryRow],
        raw_count: usize,
        wanted: &Wanted<'_>,
    ) -> Result<Opened, StoreError> {
        // Raw documents take the ids after the high-water mark; a delivery's
        // raw id is computed from it in SQL, in the same round trip.
        let ids = wanted(None);
        let mut builder: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
            "BEGIN IMMEDIATE;\nSELECT 'marks' AS what, {SEQUENCE_OF}'raw_documents'), 0) AS raw, \
             {SEQUENCE_OF}'log'), 0) AS seq;\n"
        ));
        push_rows(
            &mut builder,
            deliveries,
            "INSERT INTO deliveries (vendor, event_id, app, tenant, channel, event_type, \
             recognition, problem, received_at_us, raw_id) ",
            " ON CONFLICT (vendor, event_id) DO NOTHING \
             RETURNING 'delivery' AS what, vendor, event_id",
            |mut b, row| {
                b.push_bind(row.vendor)
                    .push_bind(row.event_id.as_str())
                    .push_bind(row.app.as_str())
                    .push_bind(row.tenant.as_str())
                    .push_bind(row.channel)
                    .push_bind(row.event_type.as_str())
                    .push_bind(row.recognition)
                    .push_bind(row.problem.as_str())
                    .push_bind(row.received_at_us);
                match row.raw {
                    Some(index) => b
                        .push(format!("{SEQUENCE_OF}'raw_documents'), 0) + "))
                        .push_bind_unseparated(index as i64 + 1),
                    None => b.push("NULL"),
                };
            },
        );
        // Aliases and stored facts of every key the facts may meet.
        push_rows(
            &mut builder,
            &ids,
            "WITH q(kind, vendor, tenant, k) AS (",
            ") SELECT 'alias' AS what, k.kind, k.vendor, k.tenant, k.match_key AS k, \
             k.business_key AS owner, NULL AS revision, NULL AS content_hash, \
             NULL AS payroll_hash, NULL AS version_us, NULL AS body \
             FROM q CROSS JOIN fact_keys k ON k.kind = q.kind AND k.vendor = q.vendor \
             AND k.tenant = q.tenant AND k.match_key = q.k \
             UNION ALL SELECT 'fact', f.kind, f.vendor, f.tenant, f.business_key, NULL, \
             f.revision, f.content_hash, f.payroll_hash, f.version_us, f.body \
             FROM q CROSS JOIN facts f ON f.kind = q.kind AND f.vendor = q.vendor \
             AND f.tenant = q.tenant AND f.business_key = q.k",
            |mut b, id| {
                b.push_bind(id.kind)
                    .push_bind(id.vendor)
                    .push_bind(id.tenant.as_str())
                    .push_bind(id.business_key.as_str());
            },
        );
        let rows = builder.build().fetch_all(&mut *self.conn).await?;
        let mut opened = Opened::default();
        for row in &rows {
            match row.try_get::<String, _>("what")?.as_str() {
                "marks" => {
                    let raw: i64 = row.try_get("raw")?;
                    opened.raw_ids = (1..=raw_count as i64).map(|i| raw + i).collect();
                    self.last_seq = row.try_get("seq")?;
                }
                "delivery" => {
                    opened.inserted.insert((
                        row.try_get::<i64, _>("vendor")? as i16,
                        row.try_get("event_id")?,
                    ));
                }
                "alias" => opened
                    .aliases
                    .push((identity_of(row, "k")?, row.try_get("owner")?)),
                _ => opened.facts.push(stored_fact(row, "k")?),
            }
        }
        Ok(opened)
    }

    async fn load_facts(&mut self, ids: &[Identity]) -> Result<Vec<StoredFact>, StoreError> {
        let mut builder: QueryBuilder<Sqlite> = QueryBuilder::new("");
        push_rows(
            &mut builder,
            ids,
            "WITH q(kind, vendor, tenant, k) AS (",
            ") SELECT f.kind, f.vendor, f.tenant, f.business_key, f.revision, \
             f.content_hash, f.payroll_hash, f.version_us, f.body \
             FROM q CROSS JOIN facts f ON f.kind = q.kind AND f.vendor = q.vendor \
             AND f.tenant = q.tenant AND f.business_key = q.k",
            |mut b, id| {
                b.push_bind(id.kind)
                    .push_bind(id.vendor)
                    .push_bind(id.tenant.as_str())
                    .push_bind(id.business_key.as_str());
            },
        );
        let rows = builder.build().fetch_all(&mut *self.conn).await?;
        rows.iter()
            .map(|row| stored_fact(row, "business_key"))
            .collect()
    }

    async fn allocate_seqs(&mut self, n: usize) -> Result<Vec<i64>, StoreError> {
        let seqs = (1..=n as i64).map(|i| self.last_seq + i).collect();
        self.last_seq += n as i64;
        Ok(seqs)
    }

    async fn finish(&mut self, writes: &Writes<'_>) -> Result<(), StoreError> {
        let mut builder: QueryBuilder<Sqlite> = QueryBuilder::new("");
        push_rows(
            &mut builder,
            &writes.raws,
            "INSERT INTO raw_documents (id, received_at_us, json) ",
            "",
            |mut b, (id, at, json)| {
                b.push_bind(*id).push_bind(*at).push_bind(*json);
            },
        );
        push_rows(
            &mut builder,
            &writes.log,
            "INSERT INTO log (seq, kind, vendor, app, tenant, employee_id, business_key, \
             revision, revision_kind, occurred_at_us, received_at_us, raw_id, body) ",
            "",
            |mut b, row| {
                b.push_bind(row.seq)
                    .push_bind(row.kind)
                    .push_bind(row.vendor)
                    .push_bind(row.app.as_str())
                    .push_bind(row.tenant.as_str())
                    .push_bind(row.employee_id.as_str())
                    .push_bind(row.business_key.as_str())
                    .push_bind(row.revision)
                    .push_bind(row.revision_kind)
                    .push_bind(row.occurred_at_us)
                    .push_bind(row.received_at_us)
                    .push_bind(row.raw_id)
                    .push_bind(row.body.as_slice());
            },
        );
        push_rows(
            &mut builder,
            &writes.facts,
            "INSERT INTO facts (kind, vendor, tenant, business_key, revision, content_hash, \
             payroll_hash, version_us, log_seq, employee_id, sort_key, start_at_us, end_at_us, \
             work_date, raw_id, body) ",
            " ON CONFLICT (kind, vendor, tenant, business_key) DO UPDATE SET \
             revision = excluded.revision, content_hash = excluded.content_hash, \
             payroll_hash = excluded.payroll_hash, version_us = excluded.version_us, \
             log_seq = excluded.log_seq, employee_id = excluded.employee_id, \
             sort_key = excluded.sort_key, start_at_us = excluded.start_at_us, \
             end_at_us = excluded.end_at_us, work_date = excluded.work_date, \
             raw_id = excluded.raw_id, body = excluded.body",
            |mut b, row| {
                b.push_bind(row.identity.kind)
                    .push_bind(row.identity.vendor)
                    .push_bind(row.identity.tenant.as_str())
                    .push_bind(row.identity.business_key.as_str())
                    .push_bind(row.revision)
                    .push_bind(row.content_hash.as_slice())
                    .push_bind(row.payroll_hash.as_slice())
                    .push_bind(row.version)
                    .push_bind(row.log_seq)
                    .push_bind(row.employee_id.as_str())
                    .push_bind(row.sort_key.as_str())
                    .push_bind(row.start_at_us)
                    .push_bind(row.end_at_us)
                    .push_bind(row.work_date.as_str())
                    .push_bind(row.raw_id)
                    .push_bind(row.body.as_slice());
            },
        );
        push_rows(
            &mut builder,
            &writes.versions,
            "UPDATE facts SET version_us = q.column5 FROM (",
            ") AS q WHERE facts.kind = q.column1 AND facts.vendor = q.column2 \
             AND facts.tenant = q.column3 AND facts.business_key = q.column4",
            |mut b, (id, version)| {
                b.push_bind(id.kind)
                    .push_bind(id.vendor)
                    .push_bind(id.tenant.as_str())
                    .push_bind(id.business_key.as_str())
                    .push_bind(*version);
            },
        );
        push_rows(
            &mut builder,
            &writes.keys,
            "INSERT INTO fact_keys (kind, vendor, tenant, match_key, business_key) ",
            " ON CONFLICT (kind, vendor, tenant, match_key) DO NOTHING",
            |mut b, (key, owner)| {
                b.push_bind(key.kind)
                    .push_bind(key.vendor)
                    .push_bind(key.tenant.as_str())
                    .push_bind(key.business_key.as_str())
                    .push_bind(owner.as_str());
            },
        );
        push_rows(
            &mut builder,
            &writes.employees,
            "INSERT INTO employees (vendor, app, tenant, employee_id, first_seen_us, last_seen_us) ",
            // Seen within the hour: the row stays as it is, so a busy
            // employee's every punch does not rewrite it.
            " ON CONFLICT (vendor, app, tenant, employee_id) DO UPDATE SET \
             last_seen_us = excluded.last_seen_us \
             WHERE excluded.last_seen_us > employees.last_seen_us + 3600000000",
            |mut b, row| {
                b.push_bind(row.vendor)
                    .push_bind(row.app.as_str())
                    .push_bind(row.tenant.as_str())
                    .push_bind(row.employee_id.as_str())
                    .push_bind(row.at_us)
                    .push_bind(row.at_us);
            },
        );
        push_rows(
            &mut builder,
            &writes.superseded,
            "UPDATE deliveries SET superseded = superseded + q.column3 FROM (",
            ") AS q WHERE deliveries.vendor = q.column1 AND deliveries.event_id = q.column2",
            |mut b, (vendor, event_id, n)| {
                b.push_bind(*vendor)
                    .push_bind(event_id.as_str())
                    .push_bind(*n);
            },
        );
        push_rows(
            &mut builder,
            &writes.jobs,
            "INSERT INTO jobs (queue, job_key, payload, available_at_us) ",
            // A job with this key already waits: it will do the same work.
            " ON CONFLICT (queue, job_key) DO NOTHING",
            |mut b, job| {
                b.push_bind(job.queue.as_str())
                    .push_bind(job.key.as_str())
                    .push_bind(job.payload.as_str())
                    .push_bind(writes.jobs_due_us);
            },
        );
        builder.push("COMMIT");
        builder.build().execute(&mut *self.conn).await?;
        Ok(())
    }
}

/// Appends `column IN (…)` for a non-empty list.
fn push_in<'a, T>(builder: &mut QueryBuilder<'a, Sqlite>, column: &str, values: &'a [T])
where
    T: 'a + sqlx::Encode<'a, Sqlite> + sqlx::Type<Sqlite>,
{
    if values.is_empty() {
        return;
    }
    builder.push(format!(" AND {column} IN ("));
    let mut list = builder.separated(", ");
    for value in values {
        list.push_bind(value);
    }
    builder.push(")");
}

#[async_trait]
impl Engine for SqliteEngine {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn commit_batch(&self, batch: &mut Batch) -> Result<Vec<Receipt>, StoreError> {
        let mut conn = self.writer.lock().await;
        let result = apply(
            &mut Write {
                conn: &mut conn,
                last_seq: 0,
            },
            batch,
        )
        .await;
        if result.is_err() {
            // Whatever failed, the transaction (if it began) is undone; a
            // failing ROLLBACK means there was none.
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
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
        let mut builder: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT l.seq, l.tenant, l.vendor, l.kind, l.revision_kind, l.employee_id, l.occurred_at_us, \
             l.received_at_us, l.body, r.json FROM log l \
             LEFT JOIN raw_documents r ON r.id = l.raw_id WHERE l.seq > ",
        );
        builder
            .push_bind(after)
            .push(" AND l.seq <= ")
            .push_bind(up_to);
        push_in(&mut builder, "l.tenant", &filter.tenants);
        push_in(&mut builder, "l.vendor", &filter.vendors);
        push_in(&mut builder, "l.kind", &filter.kinds);
        if !filter.employee_ids.is_empty() {
            // A day signal speaks for the whole tenant: an employee filter
            // never hides it (the tenant filter still applies).
            builder.push(format!(
                " AND (l.kind = {} OR l.employee_id IN (",
                LogEntryKind::DayReconciled as i32
            ));
            let mut list = builder.separated(", ");
            for employee in &filter.employee_ids {
                list.push_bind(employee);
            }
            builder.push("))");
        }
        if filter.exclude_enrichments {
            builder.push(" AND l.revision_kind <> 3");
        }
        builder.push(" ORDER BY l.seq LIMIT ").push_bind(limit);
        let rows = builder.build().fetch_all(&self.reader).await?;
        rows.iter()
            .map(|row| {
                Ok(LogRead {
                    seq: row.try_get("seq")?,
                    tenant: row.try_get("tenant")?,
                    vendor: row.try_get::<i64, _>("vendor")? as i16,
                    kind: row.try_get::<i64, _>("kind")? as i16,
                    revision_kind: row.try_get::<i64, _>("revision_kind")? as i16,
                    employee_id: row.try_get("employee_id")?,
                    occurred_at_us: row.try_get("occurred_at_us")?,
                    received_at_us: row.try_get("received_at_us")?,
                    body: row.try_get("body")?,
                    raw: row.try_get("json")?,
                })
            })
            .collect()
    }

    async fn list(&self, spec: &ListSpec) -> Result<Vec<ListedRow>, StoreError> {
        let mut builder: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT f.body, f.sort_key, f.vendor, f.business_key, f.tenant, r.json FROM facts f \
             LEFT JOIN raw_documents r ON r.id = f.raw_id WHERE f.kind = ",
        );
        builder.push_bind(spec.kind as i64);
        for condition in &spec.conditions {
            match condition {
                Condition::Tenant(v) => builder.push(" AND f.tenant = ").push_bind(v.clone()),
                // `IN ()` is not SQL: no tenant matches nothing.
                Condition::TenantIn(v) if v.is_empty() => builder.push(" AND 0 = 1"),
                Condition::TenantIn(v) => {
                    builder.push(" AND f.tenant IN (");
                    let mut tenants = builder.separated(", ");
                    for tenant in v {
                        tenants.push_bind(tenant.clone());
                    }
                    builder.push(")")
                }
                Condition::Employee(v) => {
                    builder.push(" AND f.employee_id = ").push_bind(v.clone())
                }
                Condition::Vendor(v) => builder.push(" AND f.vendor = ").push_bind(*v),
                Condition::StartsFrom(us) => builder.push(" AND f.start_at_us >= ").push_bind(*us),
                Condition::StartsBefore(us) => builder.push(" AND f.start_at_us < ").push_bind(*us),
                Condition::EndsFrom(us) => builder.push(" AND f.end_at_us >= ").push_bind(*us),
                Condition::WorkDateFrom(d) => {
                    builder.push(" AND f.work_date >= ").push_bind(d.clone())
                }
                Condition::WorkDateTo(d) => {
                    builder.push(" AND f.work_date <= ").push_bind(d.clone())
                }
            };
        }
        if let Some(after) = &spec.after {
            builder
                .push(" AND (f.sort_key, f.vendor, f.business_key, f.tenant) > (")
                .push_bind(after.sort_key.clone())
                .push(", ")
                .push_bind(after.vendor)
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
                    vendor: row.try_get("vendor")?,
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
        shared_sql::source_activity(&self.reader, "MAX(received_at_us)").await
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
        shared_sql::add_vendor_calls(&mut *self.writer.lock().await, vendor, app, month, calls)
            .await
    }

    async fn vendor_calls(&self) -> Result<Vec<VendorCalls>, StoreError> {
        shared_sql::vendor_calls(&self.reader).await
    }

    async fn claim(&self, _name: &str) -> Result<Option<Claim>, StoreError> {
        Ok(Some(Box::new(())))
    }

    async fn take_jobs(
        &self,
        queue: &str,
        max: usize,
        now_us: i64,
        lease_until_us: i64,
    ) -> Result<Vec<TakenJob>, StoreError> {
        let rows: Vec<(i64, String, String, i32)> = sqlx::query_as(
            "UPDATE jobs SET available_at_us = $1, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM jobs WHERE queue = $2 AND available_at_us <= $3 \
             ORDER BY id LIMIT $4) RETURNING id, job_key, payload, attempts",
        )
        .bind(lease_until_us)
        .bind(queue)
        .bind(now_us)
        .bind(max as i64)
        .fetch_all(&mut *self.writer.lock().await)
        .await?;
        Ok(taken(rows))
    }

    async fn finish_job(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM jobs WHERE id = $1")
            .bind(id)
            .execute(&mut *self.writer.lock().await)
            .await?;
        Ok(())
    }

    async fn retry_job(&self, id: i64, due_us: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE jobs SET available_at_us = $1 WHERE id = $2")
            .bind(due_us)
            .bind(id)
            .execute(&mut *self.writer.lock().await)
            .await?;
        Ok(())
    }

    async fn stored_deliveries(
        &self,
        scope: &DeliveryScope,
        after: i64,
        limit: usize,
    ) -> Result<Vec<StoredDelivery>, StoreError> {
        crate::stored::page(&self.reader, crate::stored::SQLITE, scope, after, limit).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        shared_sql::ping(&self.reader).await
    }

    async fn close(&self) {
        self.reader.close().await;
    }
}
