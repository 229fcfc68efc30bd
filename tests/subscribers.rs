//! Subscribers at scale, end to end: two replicas on one PostgreSQL taking
//! webhooks at once, one killed mid-run, its subscribers resuming on the
//! other from their last cursor; and a subscriber that reads one item per
//! second while thousands arrive, which costs the hub bounded memory and,
//! once it speeds up, misses nothing.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use attendance_proto::v1::{log_entry, subscribe_request, subscribe_response, LogEntry};
use attendance_testkit::feishu::FeishuWebhookSender;
use attendance_testkit::hub::HubProcess;
use attendance_testkit::TestDatabase;
use tokio::sync::{watch, Mutex};

mod support;
use support::*;

fn config(db: &TestDatabase) -> String {
    format!("{}\n{}", server_and_storage(db), seed_apps())
}

/// The seed punch as event `n` of `writer`, with its own event and record
/// id, and `padding` characters of comment (so entries have a known bulk).
fn punch(writer: u32, n: u32, padding: usize) -> String {
    FLOW_JSON
        .replace(
            "41fae5c12837ead344eced982fbde395",
            &format!("fanout-{writer}-{n:08}"),
        )
        .replace("6938012269578125316", &format!("69380{writer}{n:08}"))
        .replace(
            r#""comment": """#,
            &format!(r#""comment": "{}""#, "c".repeat(padding)),
        )
}

fn record_id(entry: &LogEntry) -> Option<String> {
    match &entry.fact {
        Some(log_entry::Fact::Punch(punch)) => Some(punch.business_key.clone()),
        _ => None,
    }
}

fn cursors(entries: &[LogEntry]) -> Vec<String> {
    entries.iter().map(|entry| entry.cursor.clone()).collect()
}

/// A payroll client: follows `hubs[0]` from the beginning and, whenever its
/// stream fails, resumes on the next hub from the last cursor it received
/// (an entry's or a heartbeat's). Stops once it received the entry `last`
/// names; returns every entry it received, in order.
async fn follow_with_failover(
    hubs: Vec<String>,
    mut last: watch::Receiver<Option<String>>,
) -> Vec<LogEntry> {
    let mut received: Vec<LogEntry> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut hub = 0;
    loop {
        let start = match &cursor {
            None => subscribe_request::Start::FromBeginning(true),
            Some(cursor) => subscribe_request::Start::AfterCursor(cursor.clone()),
        };
        let opened = async {
            let mut client =
                attendance_proto::v1::attendance_service_client::AttendanceServiceClient::connect(
                    hubs[hub].clone(),
                )
                .await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(
                client
                    .subscribe(attendance_proto::v1::SubscribeRequest {
                        start: Some(start),
                        ..attendance_proto::v1::SubscribeRequest::default()
                    })
                    .await?
                    .into_inner(),
            )
        }
        .await;
        let mut stream = match opened {
            Ok(stream) => stream,
            Err(_) => {
                hub = (hub + 1) % hubs.len();
                continue;
            }
        };
        loop {
            let item = tokio::time::timeout(WAIT, stream.message())
                .await
                .expect("an item or heartbeat in time");
            let Ok(Some(item)) = item else {
                break; // the replica went away: resume elsewhere
            };
            match item.item {
                Some(subscribe_response::Item::Entry(entry)) => {
                    cursor = Some(entry.cursor.clone());
                    received.push(entry);
                }
                Some(subscribe_response::Item::Progress(progress)) => {
                    cursor = Some(progress.cursor);
                }
                None => panic!("empty item"),
            }
            let done = last
                .borrow_and_update()
                .as_ref()
                .is_some_and(|last| received.last().is_some_and(|entry| &entry.cursor == last));
            if done {
                return received;
            }
        }
        hub = (hub + 1) % hubs.len();
    }
}

/// Posts `count` punches through `sender`; returns the record ids the hub
/// acknowledged (answered 200). Stops at the first refused connection: the
/// replica is gone.
async fn post_punches(sender: FeishuWebhookSender, writer: u32, count: u32) -> Vec<String> {
    let mut acknowledged = Vec::new();
    for n in 0..count {
        match sender.try_post_plain(&punch(writer, n, 0)).await {
            Ok(answer) if answer.status == 200 => acknowledged.push(format!("69380{writer}{n:08}")),
            Ok(answer) => panic!("webhook refused: {}", answer.status),
            Err(_) => break,
        }
    }
    acknowledged
}

// Under `postgres::` so the PostgreSQL step of `.ci/run` (filtered on it) runs it.
mod failover {
    mod postgres {
        use super::super::*;

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        #[cfg_attr(
            not(hub_test_postgres),
            ignore = "HUB_TEST_POSTGRES_URL unset: PostgreSQL case not run"
        )]
        async fn two_replicas_one_killed_subscribers_resume_on_the_other_exactly_once_in_order() {
            let db = TestDatabase::postgres().await;
            let dir_a = tempfile::tempdir().unwrap();
            let dir_b = tempfile::tempdir().unwrap();
            let hub_a = HubProcess::start(binary(), dir_a.path(), &config(&db)).await;
            let hub_b = HubProcess::start(binary(), dir_b.path(), &config(&db)).await;
            let (a, b) = (hub_a.grpc_url(), hub_b.grpc_url());

            let (last_tx, last_rx) = watch::channel(None);
            let mut subscribers = Vec::new();
            for order in [vec![a.clone(), b.clone()], vec![b.clone(), a.clone()]] {
                for _ in 0..2 {
                    subscribers.push(tokio::spawn(follow_with_failover(
                        order.clone(),
                        last_rx.clone(),
                    )));
                }
            }

            const PER_WRITER: u32 = 300;
            let writer_a = tokio::spawn(post_punches(
                FeishuWebhookSender::new(&hub_a.http_url(), "flows", None),
                1,
                PER_WRITER,
            ));
            let writer_b = tokio::spawn(post_punches(
                FeishuWebhookSender::new(&hub_b.http_url(), "flows", None),
                2,
                PER_WRITER,
            ));

            // Mid-run: once both replicas committed some of their share, A crashes.
            let hub_a = Arc::new(Mutex::new(Some(hub_a)));
            tokio::time::timeout(WAIT, async {
                while db
                    .integers("SELECT COUNT(*) FROM log WHERE $1 = ''", "")
                    .await
                    .first()
                    .copied()
                    .unwrap_or(0)
                    < i64::from(PER_WRITER) / 2
                {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
            .await
            .expect("the replicas commit");
            hub_a.lock().await.take().unwrap().kill().await;

            let acknowledged_a = writer_a.await.unwrap();
            let acknowledged_b = writer_b.await.unwrap();
            assert!(
                (acknowledged_a.len() as u32) < PER_WRITER,
                "A was killed mid-run"
            );
            assert_eq!(acknowledged_b.len() as u32, PER_WRITER);

            let log = everything(&hub_b).await;
            let stored: HashSet<String> = log.iter().filter_map(record_id).collect();
            for id in acknowledged_a.iter().chain(&acknowledged_b) {
                assert!(stored.contains(id), "acknowledged punch {id} is in the log");
            }
            last_tx.send_replace(Some(log.last().expect("a log").cursor.clone()));

            for subscriber in subscribers {
                let received = tokio::time::timeout(WAIT, subscriber)
                    .await
                    .expect("every subscriber reaches the head")
                    .unwrap();
                // The whole log, each entry once, in the log's order: nothing lost
                // or repeated at the failover.
                assert_eq!(cursors(&received), cursors(&log));
            }
        }
    }
}

/// Punches posted while the slow subscriber reads, and their comment's bulk:
/// held in full by the hub they would be tens of MiB, far past the bound.
const SLOW_CASE_PUNCHES: u32 = 4_000;
const SLOW_CASE_PADDING: usize = 8 * 1024;
/// What the hub may grow by while the slow subscriber lags (allocator
/// arenas, recent-delivery memory), well below what buffering the backlog
/// for it would take.
const SLOW_CASE_GROWTH_LIMIT_KIB: u64 = 16 * 1024;

/// Posts `count` padded punches from `tasks` concurrent senders.
async fn post_padded(hub: &HubProcess, writer: u32, first: u32, count: u32, tasks: u32) {
    let mut senders = Vec::new();
    for task in 0..tasks {
        let sender = FeishuWebhookSender::new(&hub.http_url(), "flows", None);
        senders.push(tokio::spawn(async move {
            let mut n = first + task;
            while n < first + count {
                let answer = sender
                    .post_plain(&punch(writer, n, SLOW_CASE_PADDING))
                    .await;
                assert_eq!(answer.status, 200);
                n += tasks;
            }
        }));
    }
    for sender in senders {
        sender.await.unwrap();
    }
}

on_both_backends! {
    a_slow_subscriber_costs_bounded_memory_and_misses_nothing_once_it_speeds_up => |db: TestDatabase| async move {
        let dir = tempfile::tempdir().unwrap();
        let hub = HubProcess::start(binary(), dir.path(), &config(&db)).await;
        // Warm up with as much again and a subscriber that keeps up, so the
        // shared tail, the SQLite writer's page cache and the allocator's
        // arenas are at their working size before the baseline: what grows
        // afterwards is what the slow subscriber costs.
        let mut keeping_up = open_stream(&hub, Some(subscribe_request::Start::FromNow(true))).await;
        let drain = tokio::spawn(async move { while let Ok(Some(_)) = keeping_up.message().await {} });
        post_padded(&hub, 3, 0, SLOW_CASE_PUNCHES, 4).await;
        let head = everything(&hub).await.last().unwrap().cursor.clone();
        let baseline = hub.resident_kib();

        let mut stream = open_stream(&hub, Some(subscribe_request::Start::AfterCursor(head.clone()))).await;
        let (fast_tx, mut fast) = watch::channel(false);
        let reader = tokio::spawn(async move {
            let mut received = Vec::new();
            loop {
                if !*fast.borrow_and_update() {
                    // One item per second while the backlog grows.
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = fast.changed() => {}
                    }
                }
                let item = tokio::time::timeout(WAIT, stream.message())
                    .await
                    .expect("an item in time")
                    .expect("stream healthy")
                    .expect("stream open");
                if let Some(subscribe_response::Item::Entry(entry)) = item.item {
                    received.push(entry);
                    if received.len() as u32 == SLOW_CASE_PUNCHES {
                        return received;
                    }
                }
            }
        });

        post_padded(&hub, 4, 0, SLOW_CASE_PUNCHES, 4).await;
        let grown = hub.resident_kib().saturating_sub(baseline);
        eprintln!("hub resident memory grew by {grown} KiB while the subscriber lagged");
        assert!(
            grown <= SLOW_CASE_GROWTH_LIMIT_KIB,
            "the hub grew by {grown} KiB behind a slow subscriber"
        );

        fast_tx.send_replace(true);
        let received = tokio::time::timeout(WAIT, reader).await.expect("caught up").unwrap();
        let log = everything(&hub).await;
        let after_head: Vec<LogEntry> = log
            .into_iter()
            .skip_while(|entry| entry.cursor != head)
            .skip(1)
            .collect();
        assert_eq!(after_head.len() as u32, SLOW_CASE_PUNCHES);
        assert_eq!(cursors(&received), cursors(&after_head));
        drain.abort();
    };
}
