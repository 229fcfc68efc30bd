//! The Feishu webhook rows: the no-work ceiling (1), ingest on SQLite (2),
//! PostgreSQL (3) and two replicas on one PostgreSQL database with the
//! gapless check (4), duplicate deliveries (5), paced ack latency (6) and
//! webhook-to-subscriber latency (7).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::ops::Range;
use std::time::{Duration, Instant};

use attendance_core::Cursor;
use attendance_proto::v1::{
    log_entry, subscribe_request, subscribe_response, GetIngestStatsRequest, SubscribeResponse,
};
use attendance_testkit::TestDatabase;
use tonic::Streaming;

use crate::ceiling::CeilingServer;
use crate::cpu::{CpuUse, CpuWatch};
use crate::events::{self, Employees, EventPool};
use crate::hubs::{webhook_config, RunningHub};
use crate::load::{self, ClosedOutcome, Latencies};
use crate::report::{thousands, Figure, Row};
use crate::{Bench, BenchResult};

/// Webhook punches come from this many employees (several hundred).
pub const PUSH_EMPLOYEES: Employees = Employees {
    prefix: "bench",
    count: 500,
};
/// The ceiling's requests are sent round and round: it does not care.
const CEILING_POOL: usize = 20_000;
/// Warm-up pools per hub: enough for the default warm-up at full speed (the
/// first seconds of a new database run slower than its steady state).
const WARMUP_POOL: usize = 200_000;
/// Stand-in for the ceiling's rate when row 1 did not run.
const ASSUMED_CEILING: f64 = 30_000.0;
/// A subscriber that sees no entry for this long has seen everything it will.
const SUBSCRIBER_IDLE: Duration = Duration::from_secs(10);

/// Row 1: the no-work server under the same load generator.
pub async fn http_ceiling(bench: &mut Bench, ceiling: &CeilingServer) -> BenchResult<()> {
    let settings = &bench.settings;
    let pool = events::build(CEILING_POOL, PUSH_EMPLOYEES);
    let connections = settings.connections;
    load::closed_loop(
        ceiling.addr,
        &pool.requests,
        0..pool.len(),
        connections,
        settings.warmup(),
        true,
    )
    .await
    .failures
    .check("ceiling warm-up")?;
    let cpu = CpuWatch::start("server", &ceiling.pid.into_iter().collect::<Vec<_>>());
    let outcome = load::closed_loop(
        ceiling.addr,
        &pool.requests,
        0..pool.len(),
        connections,
        settings.duration(),
        true,
    )
    .await;
    let cpu = cpu.finish();
    outcome.failures.check("ceiling")?;
    let rate = outcome.per_second();
    bench.http_ceiling = Some(rate);
    bench.table.push(
        Row::new(
            "1",
            &format!(
                "HTTP ceiling: no-work axum server, {} conns",
                bench.settings.connections
            ),
            Figure::PerSecond(rate),
        )
        .note(format!(
            "{}; {} B bodies; {cpu}",
            closed_summary(&outcome),
            pool.body_bytes
        )),
    );
    Ok(())
}

fn closed_summary(outcome: &ClosedOutcome) -> String {
    format!(
        "{} answers in {:.1} s, {}",
        thousands(outcome.completed as f64),
        outcome.elapsed.as_secs_f64(),
        outcome.latencies.summary()
    )
}

/// One target of an ingest run and what it acknowledged.
pub struct Target {
    pub addr: SocketAddr,
    pub warmup: EventPool,
    pub warmup_acked: usize,
    pub pool: EventPool,
    pub outcome: Option<ClosedOutcome>,
}

impl Target {
    /// Events this target acknowledged, warm-up included.
    pub fn acked(&self) -> usize {
        self.warmup_acked + self.outcome.as_ref().map_or(0, |o| o.taken)
    }

    /// The serials every acknowledged event of this target has.
    pub fn acked_serials(&self) -> [Range<u64>; 2] {
        let acked = self.outcome.as_ref().map_or(0, |o| o.taken);
        [
            self.warmup.serials(self.warmup_acked),
            self.pool.serials(acked),
        ]
    }
}

/// An ingest measurement over one or more hubs at once.
pub struct Ingest {
    pub targets: Vec<Target>,
    pub elapsed: Duration,
    pub cpu: CpuUse,
}

impl Ingest {
    pub fn per_second(&self) -> f64 {
        self.completed() as f64 / self.elapsed.as_secs_f64()
    }

    pub fn completed(&self) -> usize {
        self.targets
            .iter()
            .filter_map(|t| t.outcome.as_ref())
            .map(|o| o.completed)
            .sum()
    }

    pub fn latencies(&self) -> Latencies {
        let mut all = Vec::new();
        for outcome in self.targets.iter().filter_map(|t| t.outcome.as_ref()) {
            all.extend(outcome.latencies.samples());
        }
        Latencies::new(all)
    }

    pub fn note(&self, connections: usize) -> String {
        let exhausted = self
            .targets
            .iter()
            .filter_map(|t| t.outcome.as_ref().map(|o| (o, t.pool.len())))
            .any(|(o, len)| o.taken >= len);
        let per_event = self.cpu.server_writes / self.per_second();
        format!(
            "{} events in {:.1} s ({} distinct employees, {} B bodies, {connections} conns{}), ack {}; {}{}",
            thousands(self.completed() as f64),
            self.elapsed.as_secs_f64(),
            PUSH_EMPLOYEES.count,
            self.targets[0].pool.body_bytes,
            if exhausted { ", pre-built events ran out before the time did" } else { "" },
            self.latencies().summary(),
            self.cpu,
            if per_event >= 1e3 { format!(" ({:.0} KB by the hub an event)", per_event / 1e3) } else { String::new() }
        )
    }
}

/// Pushes distinct events to every hub at once, `connections` each: a
/// warm-up that also calibrates how many events to pre-build, then the
/// timed phase. Every answer must be 200.
pub async fn ingest(
    bench: &Bench,
    hubs: &[&RunningHub],
    connections: usize,
) -> BenchResult<Ingest> {
    let settings = &bench.settings;
    let ceiling = bench.http_ceiling.unwrap_or(ASSUMED_CEILING);
    let mut targets = Vec::new();
    for hub in hubs {
        targets.push(Target {
            addr: hub.http,
            warmup: events::build(WARMUP_POOL.min(settings.max_events), PUSH_EMPLOYEES),
            warmup_acked: 0,
            pool: events::build(0, PUSH_EMPLOYEES),
            outcome: None,
        });
    }
    // Two halves of warm-up: the first takes the cold start, the second
    // tells the pace to pre-build events for.
    let half = settings.warmup() / 2;
    let mut calibration = (0, Duration::ZERO);
    for _ in 0..2 {
        let started = Instant::now();
        let warmups = futures::future::join_all(targets.iter().map(|t| {
            load::closed_loop(
                t.addr,
                &t.warmup.requests,
                t.warmup_acked..t.warmup.len(),
                connections,
                half,
                false,
            )
        }))
        .await;
        let mut completed = 0;
        for (target, warmup) in targets.iter_mut().zip(warmups) {
            warmup.failures.check("warm-up")?;
            target.warmup_acked = warmup.taken;
            completed += warmup.completed;
        }
        calibration = (completed, started.elapsed());
    }
    // Enough events for three times the warm-up's pace (a busy machine
    // makes paces wander), but never more than the no-work server could take.
    let ceiling_per_target = ceiling * 1.2 / targets.len() as f64;
    let per_target_rate = match calibration {
        // Without a warm-up, only the ceiling bounds the pace.
        (0, _) => ceiling_per_target,
        (completed, elapsed) => {
            completed as f64 / elapsed.as_secs_f64().max(1e-3) / targets.len() as f64
        }
    };
    let seconds = settings.duration().as_secs_f64();
    let size = (per_target_rate * 3.0).min(ceiling_per_target) * seconds;
    let size = (size as usize)
        .max(1_000)
        .min(settings.max_events / targets.len());
    for target in &mut targets {
        target.pool = events::build(size, PUSH_EMPLOYEES);
    }
    let pids: Vec<u32> = hubs.iter().flat_map(|h| h.pids()).collect();
    let cpu = CpuWatch::start("hub", &pids);
    let started = Instant::now();
    let outcomes = futures::future::join_all(targets.iter().map(|t| {
        load::closed_loop(
            t.addr,
            &t.pool.requests,
            0..t.pool.len(),
            connections,
            settings.duration(),
            false,
        )
    }))
    .await;
    let elapsed = started.elapsed();
    let cpu = cpu.finish();
    for (target, outcome) in targets.iter_mut().zip(outcomes) {
        outcome.failures.check("ingest")?;
        target.outcome = Some(outcome);
    }
    Ok(Ingest {
        targets,
        elapsed,
        cpu,
    })
}

/// Fails unless the hub stored exactly `acked` deliveries: an event answered
/// 200 and not stored would be lost.
async fn check_stored(hub: &RunningHub, acked: usize) -> BenchResult<i64> {
    let stored = deliveries(hub).await?;
    if stored != acked as i64 {
        return Err(format!(
            "{acked} distinct events were acknowledged but the hub counts {stored} deliveries"
        ));
    }
    Ok(stored)
}

/// `deliveries_translated` as the hub counts it.
async fn deliveries(hub: &RunningHub) -> BenchResult<i64> {
    let mut admin = hub.admin().await?;
    let stats = admin
        .get_ingest_stats(GetIngestStatsRequest {})
        .await
        .map_err(|e| format!("GetIngestStats: {e}"))?
        .into_inner();
    Ok(stats.deliveries_translated)
}

/// Rows 2, 5, 6 and 7, on one hub with a fresh SQLite file.
pub async fn sqlite(bench: &mut Bench, ceiling: &CeilingServer) -> BenchResult<()> {
    let db = TestDatabase::sqlite();
    let hub = RunningHub::start(&webhook_config(db.url())).await?;
    let result = sqlite_rows(bench, ceiling, &hub).await;
    result.map_err(|e| format!("{e}\nthe hub's log ends with:\n{}", hub.log_tail()))
}

async fn sqlite_rows(
    bench: &mut Bench,
    ceiling: &CeilingServer,
    hub: &RunningHub,
) -> BenchResult<()> {
    // Row 5 sends row 2's committed events again, so it needs row 2.
    if bench.wants(2) || bench.wants(5) {
        let connections = bench.settings.connections;
        let ingest = ingest(bench, &[hub], connections).await?;
        let target = &ingest.targets[0];
        let stored = check_stored(hub, target.acked()).await?;
        let mut row = Row::new(
            "2",
            &format!("Feishu webhook ingest, SQLite, {connections} conns"),
            Figure::PerSecond(ingest.per_second()),
        )
        .note(ingest.note(connections));
        if let Some(rate) = bench.http_ceiling {
            row = row.ceiling(Figure::PerSecond(rate));
        }
        bench.table.push(row);
        if bench.wants(5) {
            duplicates(bench, hub, target, stored).await?;
        }
    }
    if bench.wants(6) {
        paced_acks(bench, ceiling, hub).await?;
    }
    if bench.wants(7) {
        subscriber_latency(bench, hub).await?;
    }
    Ok(())
}

/// Row 5: already-committed events again, at full speed.
async fn duplicates(
    bench: &mut Bench,
    hub: &RunningHub,
    target: &Target,
    stored: i64,
) -> BenchResult<()> {
    let settings = &bench.settings;
    let committed = target.outcome.as_ref().map_or(0, |o| o.taken);
    if committed == 0 {
        return Err("row 2 committed nothing to send again".into());
    }
    let cpu = CpuWatch::start("hub", &hub.pids());
    let outcome = load::closed_loop(
        hub.http,
        &target.pool.requests,
        0..committed,
        settings.connections,
        settings.duration(),
        true,
    )
    .await;
    let cpu = cpu.finish();
    outcome.failures.check("duplicates")?;
    let after = deliveries(hub).await?;
    if after != stored {
        return Err(format!(
            "duplicates changed the delivery count from {stored} to {after}"
        ));
    }
    let mut row = Row::new(
        "5",
        &format!(
            "duplicate deliveries, SQLite, {} conns",
            bench.settings.connections
        ),
        Figure::PerSecond(outcome.per_second()),
    )
    .note(format!(
        "{} of row 2's {} committed events, sent round; nothing new stored; {cpu}",
        closed_summary(&outcome),
        thousands(committed as f64)
    ));
    if let Some(rate) = bench.http_ceiling {
        row = row.ceiling(Figure::PerSecond(rate));
    }
    bench.table.push(row);
    Ok(())
}

/// Row 6: ack latency at a fixed pace, the no-work server first.
async fn paced_acks(
    bench: &mut Bench,
    ceiling: &CeilingServer,
    hub: &RunningHub,
) -> BenchResult<()> {
    let settings = &bench.settings;
    let pool = events::build(settings.paced_events(), PUSH_EMPLOYEES);
    let baseline = load::paced(
        ceiling.addr,
        &pool.requests,
        settings.connections,
        settings.rate,
        None,
    )
    .await;
    baseline.failures.check("paced ceiling")?;
    let cpu = CpuWatch::start("hub", &hub.pids());
    let outcome = load::paced(
        hub.http,
        &pool.requests,
        settings.connections,
        settings.rate,
        None,
    )
    .await;
    let cpu = cpu.finish();
    outcome.failures.check("paced ingest")?;
    let (hub_latency, ceiling_latency) = (outcome.latencies(), baseline.latencies());
    let pace = format!("{}/s", thousands(settings.rate));
    let note = format!(
        "{} events, open loop, from the scheduled send; ceiling: the same events to the no-work server; {cpu}",
        thousands(hub_latency.len() as f64)
    );
    for (percent, label) in [(50.0, "p50"), (99.0, "p99")] {
        bench.table.push(
            Row::new(
                &format!("6 {label}"),
                &format!("webhook ack latency {label} at {pace}, SQLite"),
                Figure::Millis(hub_latency.percentile_ms(percent)),
            )
            .ceiling(Figure::Millis(ceiling_latency.percentile_ms(percent)))
            .note(if percent == 50.0 {
                note.clone()
            } else {
                String::new()
            }),
        );
    }
    Ok(())
}

/// Row 7: from the scheduled send of each webhook to its entry reaching a
/// live subscriber.
async fn subscriber_latency(bench: &mut Bench, hub: &RunningHub) -> BenchResult<()> {
    let settings = &bench.settings;
    let mut stream = hub
        .subscribe(subscribe_request::Start::FromNow(true))
        .await?;
    // The first heartbeat proves the subscription is live before anything is sent.
    wait_for_heartbeat(&mut stream).await?;
    let pool = events::build(settings.paced_events(), PUSH_EMPLOYEES);
    let expected = pool.len();
    let collector = tokio::spawn(collect_receipts(stream, pool.clone()));
    let cpu = CpuWatch::start("hub", &hub.pids());
    let outcome = load::paced(
        hub.http,
        &pool.requests,
        settings.connections,
        settings.rate,
        None,
    )
    .await;
    outcome.failures.check("paced ingest")?;
    let receipts = collector
        .await
        .map_err(|e| format!("the subscriber task failed: {e}"))??;
    let cpu = cpu.finish();
    let lost = receipts.iter().filter(|r| r.is_none()).count();
    if lost > 0 {
        return Err(format!(
            "{lost} of {expected} acknowledged events never reached the live subscriber"
        ));
    }
    let latencies = Latencies::new(
        receipts
            .iter()
            .enumerate()
            .filter_map(|(i, at)| {
                at.map(|at| load::micros(at.saturating_duration_since(outcome.scheduled(i))))
            })
            .collect(),
    );
    let acks = outcome.latencies();
    let pace = format!("{}/s", thousands(settings.rate));
    for (percent, label) in [(50.0, "p50"), (99.0, "p99")] {
        bench.table.push(
            Row::new(
                &format!("7 {label}"),
                &format!("webhook → live Subscribe {label} at {pace}, SQLite"),
                Figure::Millis(latencies.percentile_ms(percent)),
            )
            .ceiling(Figure::Millis(acks.percentile_ms(percent)))
            .note(if percent == 50.0 {
                format!(
                    "{} events, each matched on its record_id; ceiling: the ack latency of the same events; {cpu}",
                    thousands(expected as f64)
                )
            } else {
                String::new()
            }),
        );
    }
    Ok(())
}

/// Waits for the stream's first progress heartbeat.
async fn wait_for_heartbeat(stream: &mut Streaming<SubscribeResponse>) -> BenchResult<()> {
    loop {
        let item = tokio::time::timeout(SUBSCRIBER_IDLE, stream.message())
            .await
            .map_err(|_| "no heartbeat from a new subscription".to_string())?
            .map_err(|e| format!("Subscribe: {e}"))?
            .ok_or("the subscription ended")?;
        if let Some(subscribe_response::Item::Progress(_)) = item.item {
            return Ok(());
        }
    }
}

/// When each event of `pool` reached the subscriber (`None`: never), until
/// all have or none came for [`SUBSCRIBER_IDLE`].
async fn collect_receipts(
    mut stream: Streaming<SubscribeResponse>,
    pool: EventPool,
) -> BenchResult<Vec<Option<Instant>>> {
    let mut receipts = vec![None; pool.len()];
    let mut received = 0;
    let mut last_entry = Instant::now();
    while received < pool.len() && last_entry.elapsed() < SUBSCRIBER_IDLE {
        let Ok(item) = tokio::time::timeout(SUBSCRIBER_IDLE, stream.message()).await else {
            break;
        };
        let item = item
            .map_err(|e| format!("Subscribe: {e}"))?
            .ok_or("the subscription ended")?;
        let at = Instant::now();
        let Some(subscribe_response::Item::Entry(entry)) = item.item else {
            continue;
        };
        last_entry = at;
        let Some(log_entry::Fact::Punch(punch)) = entry.fact else {
            continue;
        };
        if let Some(index) = pool.index_of(&punch.record_id) {
            if receipts[index].replace(at).is_some() {
                return Err(format!(
                    "punch {} reached the subscriber twice",
                    punch.record_id
                ));
            }
            received += 1;
        }
    }
    Ok(receipts)
}

/// Row 3 (one hub) and row 4 (two replicas on one database, then the
/// gapless check) on fresh PostgreSQL databases.
pub async fn postgres(bench: &mut Bench) -> BenchResult<()> {
    if bench.wants(3) {
        let db = postgres_database().await?;
        let hub = RunningHub::start(&webhook_config(db.url())).await?;
        let connections = bench.settings.connections;
        let ingest = ingest(bench, &[&hub], connections)
            .await
            .map_err(|e| format!("{e}\nthe hub's log ends with:\n{}", hub.log_tail()))?;
        check_stored(&hub, ingest.targets[0].acked()).await?;
        let rate = ingest.per_second();
        bench.pg_single = Some(rate);
        let mut row = Row::new(
            "3",
            &format!(
                "Feishu webhook ingest, PostgreSQL, {} conns",
                bench.settings.connections
            ),
            Figure::PerSecond(rate),
        )
        .note(ingest.note(connections));
        if let Some(ceiling) = bench.http_ceiling {
            row = row.ceiling(Figure::PerSecond(ceiling));
        }
        bench.table.push(row);
    }
    if bench.wants(4) {
        let db = postgres_database().await?;
        let config = webhook_config(db.url());
        let first = RunningHub::start(&config).await?;
        let second = RunningHub::start(&config).await?;
        let each = (bench.settings.connections / 2).max(1);
        let ingest = ingest(bench, &[&first, &second], each).await?;
        let expected: Vec<Range<u64>> = ingest
            .targets
            .iter()
            .flat_map(|t| t.acked_serials())
            .collect();
        let checked = verify_gapless(&first, &expected).await.map_err(|e| {
            format!(
                "{e}\nreplica 1's log ends with:\n{}\nreplica 2's log ends with:\n{}",
                first.log_tail(),
                second.log_tail()
            )
        })?;
        let mut row = Row::new(
            "4",
            &format!("2 replicas on one PostgreSQL database, {each} conns each"),
            Figure::PerSecond(ingest.per_second()),
        )
        .note(format!(
            "combined; {}; ceiling: row 3 (one replica); gapless: {checked}",
            ingest.note(each)
        ));
        if let Some(single) = bench.pg_single {
            row = row.ceiling(Figure::PerSecond(single));
        }
        bench.table.push(row);
    }
    Ok(())
}

async fn postgres_database() -> BenchResult<TestDatabase> {
    TestDatabase::postgres_if_configured()
        .await
        .ok_or_else(|| "HUB_TEST_POSTGRES_URL is unset".to_string())
}

/// Reads the whole log from the beginning on `hub` and checks that every
/// acknowledged event (`expected` serials) is there exactly once, with
/// cursors strictly increasing in order of receipt.
async fn verify_gapless(hub: &RunningHub, expected: &[Range<u64>]) -> BenchResult<String> {
    let total: u64 = expected.iter().map(|r| r.end - r.start).sum();
    let mut stream = hub
        .subscribe(subscribe_request::Start::FromBeginning(true))
        .await?;
    let mut seen: HashSet<u64> = HashSet::with_capacity(total as usize);
    let (mut entries, mut others, mut idle_heartbeats) = (0u64, 0u64, 0);
    let mut last_cursor: Option<i64> = None;
    let started = Instant::now();
    loop {
        let item = tokio::time::timeout(SUBSCRIBER_IDLE, stream.message())
            .await
            .map_err(|_| format!("the log went quiet after {entries} entries"))?
            .map_err(|e| format!("Subscribe: {e}"))?
            .ok_or("the subscription ended")?;
        let entry = match item.item {
            Some(subscribe_response::Item::Entry(entry)) => entry,
            Some(subscribe_response::Item::Progress(_)) => {
                // A heartbeat comes only once the stream is idle: caught up.
                // A few more are waited for if something is still missing.
                idle_heartbeats += 1;
                if seen.len() as u64 >= total || idle_heartbeats >= 3 {
                    break;
                }
                continue;
            }
            None => continue,
        };
        idle_heartbeats = 0;
        entries += 1;
        let sequence = Cursor::decode(&entry.cursor)
            .map_err(|e| format!("entry {entries}: cursor {:?}: {e}", entry.cursor))?
            .sequence();
        if last_cursor.is_some_and(|last| sequence <= last) {
            return Err(format!(
                "entry {entries}: cursor {} does not follow {}",
                sequence,
                last_cursor.unwrap_or_default()
            ));
        }
        last_cursor = Some(sequence);
        let Some(log_entry::Fact::Punch(punch)) = entry.fact else {
            others += 1;
            continue;
        };
        let serial = events::serial_of(&punch.record_id)
            .filter(|s| expected.iter().any(|r| r.contains(s)))
            .ok_or_else(|| format!("a punch nobody acknowledged: {}", punch.record_id))?;
        if !seen.insert(serial) {
            return Err(format!("punch {} is in the log twice", punch.record_id));
        }
    }
    if seen.len() as u64 != total {
        return Err(format!(
            "{total} distinct events were acknowledged by the two replicas, the log holds {}",
            seen.len()
        ));
    }
    Ok(format!(
        "{} acknowledged = {} punches in the log, each once, cursors strictly increasing{} (read in {:.1} s)",
        thousands(total as f64),
        thousands(seen.len() as f64),
        if others > 0 { format!(", {others} other entries") } else { String::new() },
        started.elapsed().as_secs_f64()
    ))
}
