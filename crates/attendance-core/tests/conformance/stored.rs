//! Stored deliveries read back for re-derivation: scoped by vendor, app,
//! tenant and arrival time, paged in arrival order, with their verified JSON.

use std::time::SystemTime;

use attendance_proto::hub::{DeliveryScope, HubStore};

use super::*;

fn pushed(vendor: Vendor, app: &str, tenant: &str, event_id: &str) -> Delivery {
    let mut d = delivery(event_id, Vec::new());
    d.vendor = vendor;
    d.app = app.into();
    d.tenant = tenant.into();
    d.raw_json = format!("{{\"event\":\"{event_id}\"}}");
    d
}

fn scope(app: &str, tenant: &str) -> DeliveryScope {
    DeliveryScope {
        vendor: Vendor::Feishu,
        app: app.into(),
        tenant: tenant.into(),
        received_from: None,
        received_until: None,
    }
}

async fn event_ids(store: &Store, scope: &DeliveryScope, after: i64, limit: usize) -> Vec<String> {
    HubStore::stored_deliveries(store, scope, after, limit)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.event_id)
        .collect()
}

conformance! {
    stored_deliveries_come_back_in_arrival_order_within_their_scope => |db: TestDatabase| async move {
        let store = open(&db).await;
        let started = SystemTime::now() - Duration::from_secs(1);
        for d in [
            pushed(Vendor::Feishu, "acme", "t1", "f1"),
            pushed(Vendor::Feishu, "beta", "t1", "f2"),
            pushed(Vendor::Dingtalk, "acme", "t1", "d1"),
            pushed(Vendor::Feishu, "acme", "t2", "f3"),
        ] {
            store.commit(d).await.unwrap();
        }
        // A pull has no delivery to translate again.
        let mut pull = pushed(Vendor::Feishu, "acme", "t1", "");
        pull.facts = vec![Fact::Punch(punch("t1", "r1", "u1", 1))];
        store.commit(pull).await.unwrap();

        assert_eq!(event_ids(&store, &scope("", ""), 0, 10).await, vec!["f1", "f2", "f3"]);
        assert_eq!(event_ids(&store, &scope("acme", ""), 0, 10).await, vec!["f1", "f3"]);
        assert_eq!(event_ids(&store, &scope("", "t2"), 0, 10).await, vec!["f3"]);
        let first = HubStore::stored_deliveries(&store, &scope("", ""), 0, 1).await.unwrap();
        let [first] = first.try_into().expect("one per page");
        assert_eq!(first.raw_json, "{\"event\":\"f1\"}");
        assert_eq!(first.channel, Channel::Webhook);
        assert_eq!(first.event_type, "attendance.user_flow.created_v1");
        assert_eq!((first.app.as_str(), first.tenant.as_str()), ("acme", "t1"));
        assert!(first.received_at >= started);
        assert_eq!(event_ids(&store, &scope("", ""), first.position, 1).await, vec!["f2"]);

        let mut later = scope("", "");
        later.received_from = Some(SystemTime::now() + Duration::from_secs(3600));
        assert!(event_ids(&store, &later, 0, 10).await.is_empty());
        let mut earlier = scope("", "");
        earlier.received_until = Some(started);
        assert!(event_ids(&store, &earlier, 0, 10).await.is_empty());
        earlier.received_from = Some(started);
        earlier.received_until = Some(SystemTime::now() + Duration::from_secs(3600));
        assert_eq!(event_ids(&store, &earlier, 0, 10).await.len(), 3);
        HubStore::check_writable(&store).await.unwrap();
    };
}
