//! The store: one code path over SQLite (embedded default) and PostgreSQL
//! (several replicas on one database), through sqlx's `Any` driver with SQL
//! that both engines accept.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use attendance_proto::ingest::{Delivery, DeliverySink, Fact, Receipt, Recognition, SinkError};
use attendance_proto::v1::{log_entry, Approval, LogEntry, LogEntryKind, Punch, ShiftResult};
use prost::Message;
use sha2::{Digest, Sha256};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use tokio::sync::watch;

use crate::fact::{
    complete_from_previous, content_hash, decode, encode_with_revision, row_of, validate_work_date,
};
use crate::page::{page_size, PageToken};
use crate::time::{from_micros, now_micros, to_micros};
use crate::{ApprovalQuery, Cursor, Page, PunchQuery, ShiftResultQuery, StoreError};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

/// Serializes log appends on PostgreSQL so that sequence order is commit order:
/// a reader never sees seq N+1 before seq N commits, so it never skips a row.
const LOG_APPEND_LOCK: i64 = 0x4154_5448_5542; // "ATTHUB"
const NOTIFY_CHANNEL: &str = "attendance_log";

/// The database engine behind a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// How to open a store.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// `sqlite://FILE` or `postgres://...`.
    pub url: String,
    /// Connections for readers (PostgreSQL: for everything).
    pub max_connections: u32,
}

impl StoreOptions {
    pub fn new(url: impl Into<String>) -> Self {
        StoreOptions {
            url: url.into(),
            max_connections: 8,
        }
    }
}

/// How many deliveries the store holds, by what the adapter made of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeliveryCounts {
    pub translated: i64,
    pub unknown: i64,
    pub untranslatable: i64,
}

/// A handle to the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) backend: Backend,
    /// SQLite allows one writer: a single connection avoids SQLITE_BUSY
    /// upgrades. On PostgreSQL it is the same pool as `reader`.
    pub(crate) writer: AnyPool,
    pub(crate) reader: AnyPool,
    /// Bumped after every commit that appended to the log (here or, through
    /// LISTEN/NOTIFY, on another replica); subscribers wake on it.
    changes: watch::Sender<u64>,
    closing: watch::Sender<bool>,
    listener: Option<tokio::task::JoinHandle<()>>,
    /// Singleton work held in this process (SQLite has no advisory locks).
    pub(crate) local_singletons: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(listener) = self.listener.take() {
            listener.abort();
        }
    }
}

fn sqlite_url(url: &str) -> String {
    if url.contains("mode=") || url.contains(":memory:") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

async fn sqlite_pool(url: &str, max: u32) -> Result<AnyPool, StoreError> {
    let options = AnyConnectOptions::from_str(&sqlite_url(url))?;
    let pool = AnyPoolOptions::new()
        .max_connections(max)
        .after_connect(|conn, _| {
            Box::pin(async move {
                // WAL lets readers run beside the writer; FULL sync makes an
                // acknowledged commit survive power loss, not only a crash.
                for pragma in [
                    "PRAGMA journal_mode = WAL",
                    "PRAGMA synchronous = FULL",
                    "PRAGMA busy_timeout = 10000",
                ] {
                    sqlx::query(pragma).execute(&mut *conn).await?;
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await?;
    Ok(pool)
}

impl Store {
    /// Opens the database at `url` and applies the migrations.
    pub async fn connect(options: StoreOptions) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let url = options.url.as_str();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        };
        let (changes, _) = watch::channel(0u64);
        let (closing, _) = watch::channel(false);
        let (writer, reader, listener) = match backend {
            Backend::Sqlite => {
                let writer = sqlite_pool(url, 1).await?;
                SQLITE_MIGRATIONS.run(&writer).await?;
                let reader = sqlite_pool(url, options.max_connections.max(1)).await?;
                (writer, reader, None)
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(options.max_connections.max(2))
                    .connect(url)
                    .await?;
                POSTGRES_MIGRATIONS.run(&pool).await?;
                let listener = tokio::spawn(follow_notifications(url.to_string(), changes.clone()));
                (pool.clone(), pool, Some(listener))
            }
        };
        Ok(Store {
            inner: Arc::new(Inner {
                backend,
                writer,
                reader,
                changes,
                closing,
                listener,
                local_singletons: Default::default(),
            }),
        })
    }

    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// A receiver that changes whenever the log may have grown.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    /// A receiver that turns true when the hub begins to shut down.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.inner.closing.subscribe()
    }

    /// Ends every subscription; commits still work until `close`.
    pub fn begin_shutdown(&self) {
        self.inner.closing.send_replace(true);
    }

    /// Ends every subscription and closes the pools.
    pub async fn close(&self) {
        self.begin_shutdown();
        self.inner.writer.close().await;
        self.inner.reader.close().await;
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.inner.reader).await?;
        Ok(())
    }

    /// Durably commits a delivery: delivery dedup on the vendor event id, then
    /// for each fact a new revision unless the stored one says the same.
    /// Returns only after the transaction committed.
    pub async fn commit(&self, delivery: Delivery) -> Result<Receipt, StoreError> {
        let received_at_us = now_micros();
        let mut tx = self.inner.writer.begin().await?;
        if self.inner.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(LOG_APPEND_LOCK)
                .execute(&mut *tx)
                .await?;
        }
        let event_id =
            if delivery.event_id.is_empty() && delivery.recognition != Recognition::Translated {
                // Raw events must be kept even without an id; their content names them.
                format!(
                    "sha256:{}",
                    hex(&Sha256::digest(delivery.raw_json.as_bytes()))
                )
            } else {
                delivery.event_id.clone()
            };
        if !event_id.is_empty() {
            let (recognition, problem) = match &delivery.recognition {
                Recognition::Translated => ("translated", String::new()),
                Recognition::Unknown => ("unknown", String::new()),
                Recognition::Untranslatable(reason) => ("untranslatable", reason.clone()),
            };
            let inserted = sqlx::query(
                "INSERT INTO deliveries (vendor, event_id, app, tenant, channel, event_type, \
                 recognition, problem, raw_json, received_at_us) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (vendor, event_id) DO NOTHING",
            )
            .bind(i64::from(delivery.vendor as i32))
            .bind(&event_id)
            .bind(&delivery.app)
            .bind(&delivery.tenant)
            .bind(i64::from(delivery.channel as i32))
            .bind(&delivery.event_type)
            .bind(recognition)
            .bind(problem)
            .bind(&delivery.raw_json)
            .bind(received_at_us)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                tx.rollback().await?;
                return Ok(Receipt {
                    duplicate_delivery: true,
                    ..Receipt::default()
                });
            }
        }
        let mut receipt = Receipt::default();
        for mut fact in delivery.facts {
            let key = row_of(&fact);
            let current = sqlx::query(
                "SELECT revision, content_hash, body FROM facts \
                 WHERE kind = $1 AND vendor = $2 AND tenant = $3 AND business_key = $4",
            )
            .bind(key.kind as i64)
            .bind(i64::from(key.vendor))
            .bind(&key.tenant)
            .bind(&key.business_key)
            .fetch_optional(&mut *tx)
            .await?;
            let stored = match current {
                Some(current) => {
                    let old_body: Vec<u8> = current.try_get("body")?;
                    complete_from_previous(&mut fact, &old_body)?;
                    let stored_hash: Vec<u8> = current.try_get("content_hash")?;
                    Some((current.try_get::<i64, _>("revision")?, stored_hash))
                }
                None => None,
            };
            // Fingerprinted once, after completion: it is both the comparison
            // and what the facts row keeps.
            let hash = content_hash(&fact);
            let revision = match stored {
                Some((_, stored_hash)) if stored_hash == hash && !resignals(&fact) => {
                    receipt.unchanged += 1;
                    continue;
                }
                Some((revision, _)) => revision + 1,
                None => 1,
            };
            // After completion: a revert may have gained its employee.
            let row = row_of(&fact);
            if !row.employee_id.is_empty() {
                sqlx::query(
                    "INSERT INTO employees (vendor, app, tenant, employee_id, first_seen_us, last_seen_us) \
                     VALUES ($1, $2, $3, $4, $5, $5) \
                     ON CONFLICT (vendor, app, tenant, employee_id) DO UPDATE SET last_seen_us = excluded.last_seen_us",
                )
                .bind(i64::from(row.vendor))
                .bind(&row.app)
                .bind(&row.tenant)
                .bind(&row.employee_id)
                .bind(received_at_us)
                .execute(&mut *tx)
                .await?;
            }
            let fact_received_us = received_time(&fact).unwrap_or(received_at_us);
            let body = encode_with_revision(&mut fact, revision);
            let seq: i64 = sqlx::query(
                "INSERT INTO log (kind, vendor, app, tenant, employee_id, business_key, revision, \
                 occurred_at_us, received_at_us, body) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING seq",
            )
            .bind(row.kind as i64)
            .bind(i64::from(row.vendor))
            .bind(&row.app)
            .bind(&row.tenant)
            .bind(&row.employee_id)
            .bind(&row.business_key)
            .bind(revision)
            .bind(row.occurred_at_us)
            .bind(fact_received_us)
            .bind(&body)
            .fetch_one(&mut *tx)
            .await?
            .try_get("seq")?;
            sqlx::query(
                "INSERT INTO facts (kind, vendor, tenant, business_key, revision, content_hash, \
                 log_seq, employee_id, sort_key, start_at_us, end_at_us, work_date, body) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
                 ON CONFLICT (kind, vendor, tenant, business_key) DO UPDATE SET \
                 revision = excluded.revision, content_hash = excluded.content_hash, \
                 log_seq = excluded.log_seq, employee_id = excluded.employee_id, \
                 sort_key = excluded.sort_key, start_at_us = excluded.start_at_us, \
                 end_at_us = excluded.end_at_us, work_date = excluded.work_date, body = excluded.body",
            )
            .bind(row.kind as i64)
            .bind(i64::from(row.vendor))
            .bind(&row.tenant)
            .bind(&row.business_key)
            .bind(revision)
            .bind(&hash)
            .bind(seq)
            .bind(&row.employee_id)
            .bind(&row.sort_key)
            .bind(row.start_at_us)
            .bind(row.end_at_us)
            .bind(&row.work_date)
            .bind(&body)
            .execute(&mut *tx)
            .await?;
            receipt.appended += 1;
        }
        if receipt.appended > 0 && self.inner.backend == Backend::Postgres {
            // Delivered only on commit; it wakes subscribers on other replicas.
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(NOTIFY_CHANNEL)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        if receipt.appended > 0 {
            self.inner.changes.send_modify(|g| *g = g.wrapping_add(1));
        }
        Ok(receipt)
    }

    /// The cursor of the newest entry (`Cursor::BEGINNING` when the log is empty).
    pub async fn head(&self) -> Result<Cursor, StoreError> {
        let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS head FROM log")
            .fetch_one(&self.inner.reader)
            .await?;
        Ok(Cursor(row.try_get("head")?))
    }

    /// Up to `limit` entries after `after` (exclusive), in log order.
    pub async fn read_after(&self, after: Cursor, limit: i64) -> Result<Vec<LogEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, kind, employee_id, occurred_at_us, received_at_us, body \
             FROM log WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after.0)
        .bind(limit)
        .fetch_all(&self.inner.reader)
        .await?;
        rows.iter().map(log_entry_of).collect()
    }

    /// How many deliveries were stored, by recognition.
    pub async fn delivery_counts(&self) -> Result<DeliveryCounts, StoreError> {
        let rows =
            sqlx::query("SELECT recognition, COUNT(*) AS n FROM deliveries GROUP BY recognition")
                .fetch_all(&self.inner.reader)
                .await?;
        let mut counts = DeliveryCounts::default();
        for row in rows {
            let n: i64 = row.try_get("n")?;
            match row.try_get::<String, _>("recognition")?.as_str() {
                "translated" => counts.translated = n,
                "unknown" => counts.unknown = n,
                _ => counts.untranslatable += n,
            }
        }
        Ok(counts)
    }

    /// Current revisions of punches, in check-time order.
    pub async fn list_punches(&self, q: &PunchQuery) -> Result<Page<Punch>, StoreError> {
        let mut list = ListSql::new(LogEntryKind::Punch, &q.tenant, &q.employee_id, q.vendor);
        if let Some(start) = q.start_us {
            list.condition("start_at_us >= ", Bind::Int(start));
        }
        if let Some(end) = q.end_us {
            list.condition("start_at_us < ", Bind::Int(end));
        }
        self.list(list, q.page_size, &q.page_token).await
    }

    /// Current revisions of shift results, in work-date order.
    pub async fn list_shift_results(
        &self,
        q: &ShiftResultQuery,
    ) -> Result<Page<ShiftResult>, StoreError> {
        validate_work_date("work_date_from", &q.work_date_from)?;
        validate_work_date("work_date_to", &q.work_date_to)?;
        let mut list = ListSql::new(
            LogEntryKind::ShiftResult,
            &q.tenant,
            &q.employee_id,
            q.vendor,
        );
        if !q.work_date_from.is_empty() {
            list.condition("work_date >= ", Bind::Text(q.work_date_from.clone()));
        }
        if !q.work_date_to.is_empty() {
            list.condition("work_date <= ", Bind::Text(q.work_date_to.clone()));
        }
        self.list(list, q.page_size, &q.page_token).await
    }

    /// Current revisions of approvals overlapping the window, in start order.
    pub async fn list_approvals(&self, q: &ApprovalQuery) -> Result<Page<Approval>, StoreError> {
        let mut list = ListSql::new(LogEntryKind::Approval, &q.tenant, &q.employee_id, q.vendor);
        if let Some(start) = q.start_us {
            list.condition("end_at_us >= ", Bind::Int(start));
        }
        if let Some(end) = q.end_us {
            list.condition("start_at_us < ", Bind::Int(end));
        }
        self.list(list, q.page_size, &q.page_token).await
    }

    async fn list<T: Message + Default>(
        &self,
        mut list: ListSql,
        requested_size: i32,
        page_token: &str,
    ) -> Result<Page<T>, StoreError> {
        let size = page_size(requested_size)?;
        let filter = list.fingerprint.clone();
        if let Some(after) = PageToken::decode(page_token, &filter)? {
            let n = list.binds.len();
            list.sql.push_str(&format!(
                " AND (sort_key, vendor, business_key) > (${}, ${}, ${})",
                n + 1,
                n + 2,
                n + 3
            ));
            list.binds.push(Bind::Text(after.sort_key));
            list.binds.push(Bind::Int(after.vendor));
            list.binds.push(Bind::Text(after.business_key));
        }
        list.sql.push_str(&format!(
            " ORDER BY sort_key, vendor, business_key LIMIT ${}",
            list.binds.len() + 1
        ));
        list.binds.push(Bind::Int(size + 1));
        let mut query = sqlx::query(&list.sql);
        for bind in &list.binds {
            query = match bind {
                Bind::Int(v) => query.bind(*v),
                Bind::Text(v) => query.bind(v.clone()),
            };
        }
        let rows = query.fetch_all(&self.inner.reader).await?;
        let more = rows.len() as i64 > size;
        let mut items = Vec::with_capacity(rows.len());
        let mut last = None;
        for row in rows.iter().take(size as usize) {
            let body: Vec<u8> = row.try_get("body")?;
            items.push(T::decode(body.as_slice()).map_err(|e| StoreError::Corrupt(e.to_string()))?);
            last = Some(PageToken {
                sort_key: row.try_get("sort_key")?,
                vendor: row.try_get("vendor")?,
                business_key: row.try_get("business_key")?,
            });
        }
        let next_page_token = match (more, last) {
            (true, Some(last)) => last.encode(&filter),
            _ => String::new(),
        };
        Ok(Page {
            items,
            next_page_token,
        })
    }
}

enum Bind {
    Int(i64),
    Text(String),
}

/// A list query under construction: conditions with numbered parameters, and
/// a fingerprint of the filter that page tokens are bound to.
struct ListSql {
    sql: String,
    binds: Vec<Bind>,
    fingerprint: String,
}

impl ListSql {
    fn new(kind: LogEntryKind, tenant: &str, employee_id: &str, vendor: i32) -> ListSql {
        let mut list = ListSql {
            sql: "SELECT body, sort_key, vendor, business_key FROM facts WHERE kind = $1".into(),
            binds: vec![Bind::Int(kind as i64)],
            fingerprint: format!("kind={}", kind as i64),
        };
        if !tenant.is_empty() {
            list.condition("tenant = ", Bind::Text(tenant.to_string()));
        }
        if !employee_id.is_empty() {
            list.condition("employee_id = ", Bind::Text(employee_id.to_string()));
        }
        if vendor != 0 {
            list.condition("vendor = ", Bind::Int(i64::from(vendor)));
        }
        list
    }

    fn condition(&mut self, lhs: &str, bind: Bind) {
        let value = match &bind {
            Bind::Int(v) => v.to_string(),
            Bind::Text(v) => format!("{v:?}"),
        };
        self.fingerprint.push_str(&format!("|{lhs}{value}"));
        self.sql
            .push_str(&format!(" AND {lhs}${}", self.binds.len() + 1));
        self.binds.push(bind);
    }
}

/// A reconciliation pass that applied differences to a day signals it again,
/// even though the signal itself says nothing new.
fn resignals(fact: &Fact) -> bool {
    matches!(fact, Fact::DayReconciled(d) if d.differences_applied > 0)
}

fn received_time(fact: &Fact) -> Option<i64> {
    let provenance = match fact {
        Fact::Punch(p) => p.provenance.as_ref(),
        Fact::ShiftResult(s) => s.provenance.as_ref(),
        Fact::Approval(a) => a.provenance.as_ref(),
        Fact::DayReconciled(_) => None,
    };
    provenance
        .and_then(|p| p.received_time.as_ref())
        .map(to_micros)
}

fn log_entry_of(row: &AnyRow) -> Result<LogEntry, StoreError> {
    let seq: i64 = row.try_get("seq")?;
    let kind: i64 = row.try_get("kind")?;
    let body: Vec<u8> = row.try_get("body")?;
    let fact = decode(kind, &body)?;
    let source = match &fact {
        log_entry::Fact::Punch(p) => p.source.clone(),
        log_entry::Fact::ShiftResult(s) => s.source.clone(),
        log_entry::Fact::Approval(a) => a.source.clone(),
        log_entry::Fact::DayReconciled(d) => d.source.clone(),
    };
    Ok(LogEntry {
        cursor: Cursor(seq).encode(),
        kind: kind as i32,
        source,
        employee_id: row.try_get("employee_id")?,
        occurred_time: Some(from_micros(row.try_get("occurred_at_us")?)),
        received_time: Some(from_micros(row.try_get("received_at_us")?)),
        fact: Some(fact),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Wakes local subscribers when another replica commits. The notification
/// carries nothing that matters: subscribers always read the table.
async fn follow_notifications(url: String, changes: watch::Sender<u64>) {
    loop {
        match sqlx::postgres::PgListener::connect(&url).await {
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

#[async_trait::async_trait]
impl DeliverySink for Store {
    async fn commit(&self, delivery: Delivery) -> Result<Receipt, SinkError> {
        Store::commit(self, delivery).await.map_err(|error| {
            tracing::error!(%error, "commit failed");
            SinkError::Unavailable(error.to_string())
        })
    }
}
