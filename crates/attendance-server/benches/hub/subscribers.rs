//! Rows 10 and 11: subscribers at scale. Row 10 replays a long stored log
//! to a new subscriber, beside a raw sequential read of the same rows with
//! sqlx (the ceiling: the database's own read speed). Row 11 holds many
//! live subscribers on one hub while webhooks arrive at the paced rate:
//! deliveries per second beside the offered load, p99 delivery latency, and
//! the hub's resident memory per subscriber (`VmRSS` before and after they
//! attach).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use attendance_proto::v1::{subscribe_request, LogEntryView, SubscribeRequest};
use attendance_testkit::hub::resident_kib;
use futures::TryStreamExt;
use sqlx::{Connection, Row as _, SqliteConnection};

use crate::cpu::CpuWatch;
use crate::events::{self, Employees};
use crate::hubs::{webhook_config, RunningHub};
use crate::load::{self, Latencies};
use crate::report::{thousands, Figure, Row};
use crate::stamps::StampConnection;
use crate::{Bench, BenchResult};

/// Entries row 10 replays (`HUB_BENCH_REPLAY_EVENTS`).
fn replay_events() -> BenchResult<u64> {
    crate::variable("HUB_BENCH_REPLAY_EVENTS", 1_000_000)
}

/// Live subscribers of row 11 (`HUB_BENCH_SUBSCRIBERS`).
fn subscriber_count() -> BenchResult<usize> {
    crate::variable("HUB_BENCH_SUBSCRIBERS", 1_000)
}

/// Subscriptions per HTTP/2 connection (servers cap concurrent streams).
const STREAMS_PER_CONNECTION: usize = 100;

const EMPLOYEES: Employees = Employees {
    prefix: "sub",
    count: 1_000,
};

/// The ceiling: the same rows and columns the hub reads, in order, on one
/// connection of the bench's own with sqlx's defaults (a room for 2,048
/// rows, as the hub's readers have, makes this loop slower, not faster);
/// the rows read and their rate.
async fn raw_read(url: &str) -> BenchResult<(u64, f64)> {
    let mut db = SqliteConnection::connect(url)
        .await
        .map_err(|e| format!("open {url}: {e}"))?;
    let started = Instant::now();
    let mut rows = sqlx::query(
        "SELECT l.seq, l.tenant, l.vendor, l.kind, l.revision_kind, l.employee_id, \
         l.occurred_at_us, l.received_at_us, l.body, r.json FROM log l \
         LEFT JOIN raw_documents r ON r.id = l.raw_id ORDER BY l.seq",
    )
    .fetch(&mut db);
    let mut read = 0u64;
    while let Some(row) = rows
        .try_next()
        .await
        .map_err(|e| format!("raw read: {e}"))?
    {
        std::hint::black_box(row.get::<Vec<u8>, _>("body"));
        read += 1;
    }
    let rate = read as f64 / started.elapsed().as_secs_f64();
    drop(rows);
    db.close().await.ok();
    Ok((read, rate))
}

/// Row 10: a hub on SQLite whose log holds `replay_events()` entries (one
/// webhook's entry, copied in SQL: building them through webhooks would
/// take longer than the row), replayed from the beginning.
pub async fn replay(bench: &mut Bench) -> BenchResult<()> {
    let wanted = replay_events()?;
    let dir = tempfile::tempdir().map_err(|e| format!("temporary folder: {e}"))?;
    let url = format!("sqlite://{}", dir.path().join("replay.db").display());
    let hub = RunningHub::start(&webhook_config(&url)).await?;
    let pool = events::build(1, EMPLOYEES);
    let sent = load::paced(hub.http, &pool.requests, 1, 100.0, None).await;
    sent.failures.check("seed webhook")?;
    hub.process.terminate().await;

    let mut db = SqliteConnection::connect(&url)
        .await
        .map_err(|e| format!("open {url}: {e}"))?;
    let columns: Vec<String> =
        sqlx::query("SELECT name FROM pragma_table_info('log') WHERE name <> 'seq'")
            .fetch_all(&mut db)
            .await
            .map_err(|e| format!("log columns: {e}"))?
            .iter()
            .map(|row| row.get::<String, _>("name"))
            .collect();
    let columns = columns.join(", ");
    let copy = format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
         INSERT INTO log ({columns}) SELECT {columns} FROM log, n WHERE log.seq = (SELECT MIN(seq) FROM log)"
    );
    sqlx::query(&copy)
        .bind(wanted as i64 - 1)
        .execute(&mut db)
        .await
        .map_err(|e| format!("copy the entry: {e}"))?;

    db.close().await.ok();
    let (stored, before) = raw_read(&url).await?;

    let hub = RunningHub::start(&webhook_config(&url)).await?;
    let mut stream = StampConnection::open(&hub.process.grpc_addr)
        .await?
        .subscribe(SubscribeRequest {
            start: Some(subscribe_request::Start::FromBeginning(true)),
            filter: None,
            view: LogEntryView::Full.into(),
        })
        .await?;
    let started = Instant::now();
    let mut replayed = 0u64;
    while replayed < stored {
        let item = tokio::time::timeout(Duration::from_secs(60), stream.message())
            .await
            .map_err(|_| format!("replay stalled after {replayed} entries"))?
            .map_err(|e| format!("replay: {e}"))?
            .ok_or("the replay stream ended")?;
        if item.entry.is_some() {
            replayed += 1;
        }
    }
    let rate = replayed as f64 / started.elapsed().as_secs_f64();
    drop(stream);
    hub.process.terminate().await;
    // Read again once the hub has checkpointed the copy into the database
    // file: the higher of the two reads is the ceiling.
    let (_, after) = raw_read(&url).await?;
    let ceiling = before.max(after);
    bench.table.push(
        Row::new(
            "10",
            &format!("replay of {} stored events, new subscriber", thousands(replayed as f64)),
            Figure::PerSecond(rate),
        )
        .ceiling(Figure::PerSecond(ceiling))
        .note(format!(
            "ceiling: raw sequential read of the same rows with sqlx, the higher of one before ({}) and one after the replay ({}); targets ≥ 200,000/s and ≥ 50 % of it",
            thousands(before),
            thousands(after)
        )),
    );
    Ok(())
}

/// Entries one reader of row 11 received.
#[derive(Default)]
#[repr(align(64))]
struct Delivered(AtomicU64);

fn total(delivered: &[Delivered]) -> u64 {
    delivered.iter().map(|d| d.0.load(Ordering::Relaxed)).sum()
}

/// Row 11: live subscribers on one hub while webhooks arrive at the rate,
/// once receiving whole entries and once the basic view (no raw JSON).
pub async fn live(bench: &mut Bench) -> BenchResult<()> {
    live_with(bench, LogEntryView::Full).await?;
    live_with(bench, LogEntryView::Basic).await
}

async fn live_with(bench: &mut Bench, view: LogEntryView) -> BenchResult<()> {
    let label = match view {
        LogEntryView::Basic => "basic view",
        _ => "full entries",
    };
    let count = subscriber_count()?;
    let dir = tempfile::tempdir().map_err(|e| format!("temporary folder: {e}"))?;
    let url = format!("sqlite://{}", dir.path().join("live.db").display());
    let hub = RunningHub::start(&webhook_config(&url)).await?;
    let pid = hub.pid.ok_or("the hub's pid")?;
    // Settle first: one subscriber and one event, so the tail is live.
    let warmup = events::build(1, EMPLOYEES);
    load::paced(hub.http, &warmup.requests, 1, 100.0, None)
        .await
        .failures
        .check("warm-up")?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = resident_kib(pid);

    // One counter per reader, each on its own cache line: a shared one
    // would be a million contended increments a second in the bench itself.
    let delivered: Arc<Vec<Delivered>> =
        Arc::new((0..count).map(|_| Delivered::default()).collect());
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let (attached_tx, mut attached) = tokio::sync::mpsc::channel(count);
    let mut readers = Vec::new();
    let mut connection = None;
    for n in 0..count {
        if n % STREAMS_PER_CONNECTION == 0 {
            connection = Some(StampConnection::open(&hub.process.grpc_addr).await?);
        }
        let mut stream = connection
            .as_ref()
            .expect("a connection")
            .subscribe(SubscribeRequest {
                start: Some(subscribe_request::Start::FromNow(true)),
                filter: None,
                view: view.into(),
            })
            .await?;
        let (delivered, latencies, attached) =
            (delivered.clone(), latencies.clone(), attached_tx.clone());
        readers.push(tokio::spawn(async move {
            let _ = attached.send(()).await;
            let mut mine = Vec::new();
            while let Ok(Some(item)) = stream.message().await {
                if let Some(entry) = item.entry {
                    let received = entry.received_time.unwrap_or_default();
                    let accepted = SystemTime::UNIX_EPOCH
                        + Duration::new(received.seconds as u64, received.nanos as u32);
                    let late = SystemTime::now()
                        .duration_since(accepted)
                        .unwrap_or_default();
                    mine.push(load::micros(late));
                    delivered[n].0.fetch_add(1, Ordering::Relaxed);
                }
            }
            latencies.lock().expect("latencies").extend(mine);
            Ok::<(), String>(())
        }));
    }
    for _ in 0..count {
        attached
            .recv()
            .await
            .ok_or("a subscriber failed to attach")?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = resident_kib(pid);
    let per_subscriber_kib = after.saturating_sub(before) as f64 / count as f64;

    let pool = events::build(bench.settings.paced_events(), EMPLOYEES);
    let cpu = CpuWatch::start("hub", &[pid]);
    let started = Instant::now();
    let sent = load::paced(
        hub.http,
        &pool.requests,
        bench.settings.connections,
        bench.settings.rate,
        None,
    )
    .await;
    sent.failures.check("paced webhooks")?;
    let acks = sent.latencies();
    let expected = pool.len() as u64 * count as u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    while total(&delivered) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu.finish();
    let got = total(&delivered);
    drop(hub);
    for reader in readers {
        reader.await.map_err(|e| format!("reader: {e}"))??;
    }
    if got < expected {
        return Err(format!("{got} of {expected} deliveries arrived"));
    }
    let latencies = Latencies::new(std::mem::take(&mut *latencies.lock().expect("latencies")));
    let offered = bench.settings.rate * count as f64;
    bench.table.push(
        Row::new(
            "11",
            &format!("{count} live subscribers, {label}: deliveries"),
            Figure::PerSecond(got as f64 / elapsed),
        )
        .ceiling(Figure::PerSecond(offered))
        .note(format!(
            "ceiling: the offered load (paced rate × subscribers); {cpu}"
        )),
    );
    bench.table.push(
        Row::new(
            "11",
            &format!("{label}: p99 delivery latency (from the hub's receipt)"),
            Figure::Millis(latencies.percentile_ms(99.0)),
        )
        .ceiling(Figure::Millis(50.0))
        .note(format!(
            "ceiling: the 50 ms target; p50 {:.1} ms, p90 {:.1} ms; the webhooks' acks (the commit, \
             which a delivery follows): p50 {:.1} ms, p99 {:.1} ms",
            latencies.percentile_ms(50.0),
            latencies.percentile_ms(90.0),
            acks.percentile_ms(50.0),
            acks.percentile_ms(99.0)
        )),
    );
    bench.table.push(
        Row::new(
            "11",
            &format!("{label}: hub resident memory per subscriber (KiB)"),
            Figure::Text(format!("{per_subscriber_kib:.1} KiB")),
        )
        .note(format!("target ≤ 64 KiB; VmRSS {before} → {after} KiB")),
    );
    Ok(())
}
