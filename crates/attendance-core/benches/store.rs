//! Store benchmark: prints delivery commits per second (sequential and with
//! concurrent writers), duplicate-delivery answers per second, and how fast a
//! subscriber catches up, on SQLite and (with `HUB_TEST_POSTGRES_URL`) PostgreSQL.
//! Run: `cargo bench -p attendance-core --bench store`.

use std::time::{Duration, Instant};

use attendance_core::testing::TestDatabase;
use attendance_core::{
    subscribe, Start, Store, StoreOptions, SubscriptionFilter, SubscriptionOptions,
};
use attendance_proto::frame::SubscribeFrame;
use attendance_proto::ingest::{Delivery, Fact, Recognition};
use attendance_proto::v1::{subscribe_response, Channel, Punch, Source, Vendor};
use attendance_proto::Timestamp;

const SEQUENTIAL: usize = 2_000;
const WRITERS: usize = 8;
const PER_WRITER: usize = 250;

fn delivery(id: &str) -> Delivery {
    let punch = Punch {
        source: Some(Source {
            vendor: Vendor::Feishu as i32,
            app: "bench".into(),
            app_id: "cli_bench".into(),
            tenant: "t1".into(),
        }),
        business_key: id.into(),
        record_id: id.into(),
        employee_id: format!("u{}", id.len() % 50),
        check_time: Some(Timestamp {
            seconds: 1_615_381_916,
            nanos: 0,
        }),
        raw_json: format!("{{\"record_id\":\"{id}\",\"pad\":\"{}\"}}", "x".repeat(600)),
        ..Default::default()
    };
    Delivery {
        vendor: Vendor::Feishu,
        app: "bench".into(),
        tenant: "t1".into(),
        channel: Channel::Webhook,
        event_id: id.into(),
        event_type: "attendance.user_flow.created_v1".into(),
        raw_json: "{}".into(),
        recognition: Recognition::Translated,
        facts: vec![Fact::Punch(punch)],
        jobs: Vec::new(),
    }
}

fn rate(n: usize, elapsed: Duration) -> String {
    format!(
        "{:>9.0}/s ({n} in {:.2} s)",
        n as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    )
}

async fn bench(name: &str, db: &TestDatabase) {
    let store = Store::connect(StoreOptions::new(db.url()))
        .await
        .expect("store opens");

    let started = Instant::now();
    for i in 0..SEQUENTIAL {
        store
            .commit(delivery(&format!("s{i}")))
            .await
            .expect("commit");
    }
    println!(
        "{name:<10} sequential commits     {}",
        rate(SEQUENTIAL, started.elapsed())
    );

    let started = Instant::now();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..PER_WRITER {
                    store
                        .commit(delivery(&format!("w{w}-{i}")))
                        .await
                        .expect("commit");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("writer");
    }
    println!(
        "{name:<10} {WRITERS} concurrent writers  {}",
        rate(WRITERS * PER_WRITER, started.elapsed())
    );

    let started = Instant::now();
    for i in 0..SEQUENTIAL {
        let receipt = store
            .commit(delivery(&format!("s{i}")))
            .await
            .expect("commit");
        assert!(receipt.duplicate_delivery);
    }
    println!(
        "{name:<10} duplicate deliveries   {}",
        rate(SEQUENTIAL, started.elapsed())
    );

    let total = SEQUENTIAL + WRITERS * PER_WRITER;
    let started = Instant::now();
    let mut rx = subscribe(
        store.clone(),
        Start::Beginning,
        SubscriptionFilter::default(),
        SubscriptionOptions::default(),
    )
    .await
    .expect("subscribe");
    let mut seen = 0;
    while seen < total {
        match rx.recv().await.expect("open").expect("ok") {
            SubscribeFrame::Entry(_) => seen += 1,
            SubscribeFrame::Response(response) => {
                if let Some(subscribe_response::Item::Entry(_)) = response.item {
                    seen += 1;
                }
            }
        }
    }
    println!(
        "{name:<10} subscriber catch-up    {}",
        rate(total, started.elapsed())
    );
    store.close().await;
}

#[tokio::main]
async fn main() {
    let sqlite = TestDatabase::sqlite();
    bench("sqlite", &sqlite).await;
    match TestDatabase::postgres_if_configured().await {
        Some(postgres) => bench("postgres", &postgres).await,
        None => println!("postgres   skipped: set HUB_TEST_POSTGRES_URL to measure it"),
    }
}
