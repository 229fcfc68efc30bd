//! The shared tail: live subscribers filter the ring in memory exactly as
//! the database filters a read, and a subscriber that falls behind a small
//! ring reads the store, then rejoins the tail, with no gap and no repeat.

use attendance_core::{EntryView, TailLimits};

use super::*;

/// A store whose shared tail keeps only `entries` entries.
async fn open_with_tail(db: &TestDatabase, entries: usize) -> Store {
    Store::connect(StoreOptions {
        tail: TailLimits {
            entries,
            ..TailLimits::default()
        },
        ..StoreOptions::new(db.url())
    })
    .await
    .expect("store opens")
}

/// Punch `n`: tenants alternate, employees cycle through three.
fn numbered(n: usize) -> Delivery {
    let tenant = if n.is_multiple_of(2) { "t1" } else { "t2" };
    let employee = format!("u{}", n % 3);
    let mut d = delivery(
        &format!("e{n}"),
        vec![Fact::Punch(punch(
            tenant,
            &format!("r{n}"),
            &employee,
            100 + n as i64,
        ))],
    );
    d.tenant = tenant.into();
    d
}

/// The next `count` entries of a subscription.
async fn take(rx: &mut Subscription, count: usize) -> Vec<String> {
    let mut cursors = Vec::new();
    while cursors.len() < count {
        cursors.push(next_entry(rx).await.cursor);
    }
    cursors
}

conformance! {
    live_subscribers_filter_the_tail_as_the_database_filters_a_read => |db: TestDatabase| async move {
        let store = open(&db).await;
        let filters = [
            SubscriptionFilter::default(),
            SubscriptionFilter { tenants: vec!["t2".into()], ..Default::default() },
            SubscriptionFilter { employee_ids: vec!["u1".into()], ..Default::default() },
            SubscriptionFilter { kinds: vec![LogEntryKind::Punch as i32], vendors: vec![Vendor::Feishu as i32], ..Default::default() },
        ];
        let mut live = Vec::new();
        for filter in &filters {
            live.push(subscribe(store.clone(), Start::Now, filter.clone(), fast()).await.unwrap());
        }
        for n in 0..30 {
            store.commit(numbered(n)).await.unwrap();
        }
        // A second handle without a tail: its catch-up filters in SQL.
        let untailed = open_with_tail(&db, 0).await;
        for (filter, rx) in filters.iter().zip(live.iter_mut()) {
            // What a catch-up from the beginning reads with the filter in SQL.
            let mut replay = subscribe(untailed.clone(), Start::Beginning, filter.clone(), fast()).await.unwrap();
            let expected_len = match (filter.tenants.len(), filter.employee_ids.len()) {
                (0, 0) => 30,
                (1, _) => 15,
                _ => 10,
            };
            let expected = take(&mut replay, expected_len).await;
            assert_eq!(take(rx, expected_len).await, expected);
        }
        // Nothing more matched: the next item of each is a heartbeat.
        for rx in live.iter_mut() {
            let item = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().unwrap().unwrap();
            assert!(matches!(item.into_response().unwrap().item, Some(subscribe_response::Item::Progress(_))));
        }
    };

    the_basic_view_leaves_out_raw_json_from_the_tail_and_from_the_store => |db: TestDatabase| async move {
        let store = open(&db).await;
        let basic = SubscriptionOptions { view: EntryView::Basic, ..fast() };
        let mut live_full = subscribe(store.clone(), Start::Now, SubscriptionFilter::default(), fast()).await.unwrap();
        let mut live_basic = subscribe(store.clone(), Start::Now, SubscriptionFilter::default(), basic.clone()).await.unwrap();
        for n in 0..3 {
            store.commit(numbered(n)).await.unwrap();
        }
        let untailed = open_with_tail(&db, 0).await;
        let mut read_full = subscribe(untailed.clone(), Start::Beginning, SubscriptionFilter::default(), fast()).await.unwrap();
        let mut read_basic = subscribe(untailed.clone(), Start::Beginning, SubscriptionFilter::default(), basic).await.unwrap();
        for n in 0..3 {
            let mut full = next_entry(&mut live_full).await;
            assert_eq!(next_entry(&mut read_full).await, full);
            let Some(log_entry::Fact::Punch(punch)) = &mut full.fact else { panic!("a punch") };
            assert_eq!(punch.raw_json, format!("{{\"record_id\":\"r{n}\"}}"));
            punch.raw_json.clear();
            // The same entry, byte for byte, but for its raw JSON.
            assert_eq!(next_entry(&mut live_basic).await, full);
            assert_eq!(next_entry(&mut read_basic).await, full);
        }
    };

    a_subscriber_behind_a_small_tail_reads_the_store_and_rejoins_without_gap => |db: TestDatabase| async move {
        let store = open_with_tail(&db, 4).await;
        // Small batches and a one-item queue: nothing but the tail or the
        // store holds what it has not read yet.
        let tight = SubscriptionOptions { batch: 2, buffer: 1, ..fast() };
        let mut lagging = subscribe(store.clone(), Start::Now, SubscriptionFilter::default(), tight).await.unwrap();
        let mut keeping_up = subscribe(store.clone(), Start::Now, SubscriptionFilter::default(), fast()).await.unwrap();
        let mut seen = Vec::new();
        // Far more than the tail holds arrive while `lagging` reads nothing.
        for n in 0..40 {
            store.commit(numbered(n)).await.unwrap();
            seen.extend(take(&mut keeping_up, 1).await);
        }
        let mut received = take(&mut lagging, 40).await;
        // Back at the tail: what arrives now comes from the ring.
        for n in 40..50 {
            store.commit(numbered(n)).await.unwrap();
            received.extend(take(&mut lagging, 1).await);
            seen.extend(take(&mut keeping_up, 1).await);
        }
        let log: Vec<String> = all_entries(&store).await.into_iter().map(|e| e.cursor).collect();
        assert_eq!(received, log);
        assert_eq!(seen, log);
    };
}
