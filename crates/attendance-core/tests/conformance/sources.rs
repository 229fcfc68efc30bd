//! Source activity: retained deliveries counted per vendor, app and channel,
//! with the newest one's receipt time, alike on both engines.

use attendance_core::SourceActivity;

use super::*;

fn from(app: &str, channel: Channel, event_id: &str) -> Delivery {
    let mut d = delivery(
        event_id,
        vec![Fact::Punch(punch("t1", event_id, "u1", 100))],
    );
    d.app = app.into();
    d.channel = channel;
    d
}

conformance! {
    deliveries_are_counted_per_source_with_the_newest_receipt => |db: TestDatabase| async move {
        let store = open(&db).await;
        assert!(store.source_activity().await.unwrap().is_empty());
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros() as i64;
        store.commit(from("acme", Channel::Webhook, "e1")).await.unwrap();
        store.commit(from("acme", Channel::Webhook, "e2")).await.unwrap();
        store.commit(from("acme", Channel::LongConnection, "e3")).await.unwrap();
        store.commit(from("beta", Channel::Pull, "e4")).await.unwrap();
        // A duplicate adds nothing.
        store.commit(from("acme", Channel::Webhook, "e1")).await.unwrap();

        let sources = store.source_activity().await.unwrap();
        let counts: Vec<(String, i32, i64)> = sources
            .iter()
            .map(|s: &SourceActivity| (s.app.clone(), s.channel, s.deliveries))
            .collect();
        assert_eq!(
            counts,
            [
                ("acme".to_owned(), Channel::Webhook as i32, 2),
                ("acme".to_owned(), Channel::LongConnection as i32, 1),
                ("beta".to_owned(), Channel::Pull as i32, 1),
            ]
        );
        for source in &sources {
            assert_eq!(source.vendor, Vendor::Feishu as i32);
            assert!(source.last_received_us >= before, "{source:?}");
        }
    };
}
