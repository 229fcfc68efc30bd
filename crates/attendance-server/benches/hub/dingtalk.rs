//! Row 9: DingTalk Stream EVENT frames per second, from the first frame the
//! fake gateway sends to the last `SUCCESS` ack (which the hub sends only
//! after the commit). The ceiling is a client in this process that registers
//! and connects the way the hub does and acks every frame at once, on a fake
//! gateway of its own.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use attendance_testkit::fake_dingtalk::{
    FakeDingTalk, FakeGateway, CLIENT_ID, CLIENT_SECRET, CORP_ID,
};
use attendance_testkit::fake_dingtalk_api::FakeDingTalkApi;
use attendance_testkit::TestDatabase;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::cpu::{CpuUse, CpuWatch};
use crate::hubs::{dingtalk_config, RunningHub};
use crate::report::{thousands, Figure, Row};
use crate::{Bench, BenchResult};

const EVENT_TYPE: &str = "attendance_check_record";
/// Punches come from this many employees (several hundred).
const EMPLOYEES: u64 = 500;
/// Events of the calibration round, which also warms the path up.
const WARMUP_EVENTS: usize = 1_000;
/// Punch instants: one second apart from 2024-04-01T00:00:00Z on.
const CHECK_TIME_BASE_MS: i64 = 1_711_929_600_000;
/// Long enough that the fake never redelivers during a run: the measure is
/// of first deliveries, not of the fake's retry timer.
const NO_REDELIVERY: Duration = Duration::from_secs(600);
/// No ack for this long, with frames unacknowledged, is a lost event.
const STALL: Duration = Duration::from_secs(30);

static NEXT_SERIAL: AtomicU64 = AtomicU64::new(0);

/// The `data` of distinct punches: their own bizId, employee and instant.
fn punches(count: usize) -> Vec<String> {
    let first = NEXT_SERIAL.fetch_add(count as u64, Ordering::Relaxed);
    (first..first + count as u64)
        .map(|serial| {
            json!({"dataList": [{
                "address": "中国科学院物理研究所(浙江海外高层次人才创新园东)",
                "corpId": CORP_ID,
                "checkTime": CHECK_TIME_BASE_MS + serial as i64 * 1000,
                "locationResult": "Normal",
                "groupId": "4C63AB12",
                "latitude": 30.285230848524307,
                "bizId": format!("BENCH{serial:012}"),
                "locationMethod": "MAP",
                "userId": format!("dt{:05}", serial % EMPLOYEES),
                "deviceSN": "160xxxxx6KN0294",
                "checkByUser": true,
                "longitude": 120.01713514539931
            }]})
            .to_string()
        })
        .collect()
}

/// One round: how long until every frame was acked `SUCCESS`, and how long
/// the fake's own send loop took.
struct Round {
    events: usize,
    elapsed: Duration,
    send_loop: Duration,
}

impl Round {
    fn per_second(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }
}

/// Sends every punch, keeping at most `window` of them unacknowledged (a
/// gateway pushes as events happen; a flood of thousands at once would only
/// meet the hub's bound on events in flight, which leaves the excess for
/// redelivery), until `duration` has passed or all were sent, then waits
/// until every punch sent is acknowledged `SUCCESS`.
async fn round(
    fake: &FakeDingTalk,
    data: &[String],
    window: usize,
    duration: Duration,
) -> BenchResult<Round> {
    let acked_before = fake.events_acknowledged();
    let started = Instant::now();
    let mut send_loop = Duration::ZERO;
    let mut sent = 0;
    let mut last = data.len();
    loop {
        let acked = fake.events_acknowledged() - acked_before;
        if acked == last {
            break;
        }
        if started.elapsed() >= duration {
            last = sent;
        }
        let open = sent - acked;
        if open < window && sent < last {
            let burst = (window - open).min(last - sent);
            let sending = Instant::now();
            for punch in &data[sent..sent + burst] {
                fake.send_event(EVENT_TYPE, punch);
            }
            send_loop += sending.elapsed();
            sent += burst;
        }
        // Woken by the fake on its next change; a lost event is an error,
        // a slow one is only slow.
        let next_ack = fake.wait_for("an ack", |fake| {
            (fake.events_acknowledged() - acked_before > acked).then_some(())
        });
        if tokio::time::timeout(STALL, next_ack).await.is_err() {
            return Err(format!(
                "{} of {sent} events sent were never acknowledged SUCCESS (no ack for {} s)",
                sent - acked,
                STALL.as_secs()
            ));
        }
    }
    Ok(Round {
        events: last,
        elapsed: started.elapsed(),
        send_loop,
    })
}

/// A calibration round, then a round of the bench's duration with punches
/// built for three times the calibrated pace, with the CPU of `pids` (the
/// hub, if any) watched during it.
async fn measure(bench: &Bench, fake: &FakeDingTalk, pids: &[u32]) -> BenchResult<(Round, CpuUse)> {
    let settings = &bench.settings;
    let window = settings.stream_window;
    let warmup = round(fake, &punches(WARMUP_EVENTS), window, Duration::MAX).await?;
    let size = (warmup.per_second() * settings.duration().as_secs_f64() * 3.0) as usize;
    let size = size.clamp(WARMUP_EVENTS, settings.max_events);
    let data = punches(size);
    let cpu = CpuWatch::start("hub", pids);
    let measured = round(fake, &data, window, settings.duration()).await?;
    let cpu = cpu.finish();
    let refused = fake.acks().iter().filter(|ack| !ack.is_success()).count();
    if refused > 0 {
        return Err(format!("{refused} frame(s) were acked other than SUCCESS"));
    }
    Ok((measured, cpu))
}

#[derive(Deserialize)]
struct Frame {
    #[serde(rename = "type")]
    kind: String,
    headers: FrameHeaders,
    #[serde(default)]
    data: String,
}

#[derive(Deserialize)]
struct FrameHeaders {
    #[serde(rename = "messageId")]
    message_id: String,
}

#[derive(Deserialize)]
struct OpenAnswer {
    endpoint: String,
    ticket: String,
}

/// Registers and connects as the hub does, then acks every EVENT `SUCCESS`
/// and echoes every SYSTEM frame, doing nothing else.
async fn no_work_client(base_url: &str) -> BenchResult<tokio::task::JoinHandle<()>> {
    let open: OpenAnswer = reqwest::Client::new()
        .post(format!("{base_url}/v1.0/gateway/connections/open"))
        .header("accept", "application/json")
        .json(&json!({
            "clientId": CLIENT_ID,
            "clientSecret": CLIENT_SECRET,
            "subscriptions": [{"type": "EVENT", "topic": "*"}],
            "ua": "attendance-hub-bench/ceiling",
            "localIp": "127.0.0.1",
        }))
        .send()
        .await
        .map_err(|e| format!("connections/open: {e}"))?
        .json()
        .await
        .map_err(|e| format!("connections/open answer: {e}"))?;
    let url = format!("{}?ticket={}", open.endpoint, open.ticket);
    let (socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .map_err(|e| format!("the ceiling client's WebSocket: {e}"))?;
    let (mut sink, mut stream) = socket.split();
    Ok(tokio::spawn(async move {
        while let Some(Ok(message)) = stream.next().await {
            let Message::Text(text) = message else {
                continue;
            };
            let Ok(frame) = serde_json::from_str::<Frame>(text.as_str()) else {
                continue;
            };
            let data = match frame.kind.as_str() {
                "EVENT" => r#"{"status":"SUCCESS","message":"success"}"#.to_string(),
                "SYSTEM" => frame.data,
                _ => continue,
            };
            let reply = json!({
                "code": 200,
                "headers": {"contentType": "application/json", "messageId": frame.headers.message_id},
                "message": "OK",
                "data": data,
            });
            if sink.send(Message::text(reply.to_string())).await.is_err() {
                break;
            }
        }
    }))
}

async fn wait_for_connection(fake: &FakeDingTalk) -> BenchResult<()> {
    let started = Instant::now();
    while fake.live_connections() == 0 {
        if started.elapsed() > Duration::from_secs(60) {
            return Err("nothing connected to the fake DingTalk within 60 s".into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

pub async fn run(bench: &mut Bench) -> BenchResult<()> {
    // The ceiling, on a fake of its own so that neither run inherits the
    // other's events.
    let fake = FakeDingTalk::start().await;
    fake.set_redelivery_delay(NO_REDELIVERY);
    let client = no_work_client(fake.base_url()).await?;
    wait_for_connection(&fake).await?;
    let (ceiling, ceiling_cpu) = measure(bench, &fake, &[]).await?;
    client.abort();
    drop(fake);

    // The fake open APIs beside the gateway: every committed punch queues a
    // pull of that employee's day, as in production.
    let api = FakeDingTalkApi::new(CLIENT_ID, CLIENT_SECRET);
    api.set_corp_id(CORP_ID);
    let fake = FakeDingTalk::start_with(api.router()).await;
    fake.set_redelivery_delay(NO_REDELIVERY);
    let db = TestDatabase::sqlite();
    let hub = RunningHub::start(&dingtalk_config(db.url(), fake.base_url())).await?;
    wait_for_connection(&fake).await?;
    let (measured, cpu) = measure(bench, &fake, &hub.pids())
        .await
        .map_err(|e| format!("{e}\nthe hub's log ends with:\n{}", hub.log_tail()))?;

    bench.table.push(
        Row::new(
            "9",
            "DingTalk Stream EVENT frames acked SUCCESS, SQLite",
            Figure::PerSecond(measured.per_second()),
        )
        .ceiling(Figure::PerSecond(ceiling.per_second()))
        .note(format!(
            "{} distinct punches ({EMPLOYEES} employees) in {:.1} s, at most {} unacked at a time, each acked after its commit and queuing a day pull; \
             ceiling: a no-work Stream client on its own fake, so the fake gateway is what bounds it ({} frames in {:.1} s, the fake's send loop {:.1} s of it, bench process {:.2} cores); {cpu}",
            thousands(measured.events as f64),
            measured.elapsed.as_secs_f64(),
            bench.settings.stream_window,
            thousands(ceiling.events as f64),
            ceiling.elapsed.as_secs_f64(),
            ceiling.send_loop.as_secs_f64(),
            ceiling_cpu.bench,
        )),
    );
    Ok(())
}
