//! Day-reconciled signals: a later view of the day signals again, every
//! subscriber of the tenant receives them whatever its employee filter, and
//! the latest signal of each day is queryable by work-date range.

use attendance_core::ReconciledDaysQuery;

use super::*;

fn signal(tenant: &str, work_date: &str, pass: &str, fingerprint: &str) -> Fact {
    Fact::DayReconciled(DayReconciled {
        source: source(tenant),
        work_date: work_date.into(),
        reconciled_time: Some(Timestamp {
            seconds: 5,
            nanos: 0,
        }),
        differences_applied: 0,
        employees_covered: 3,
        pass_id: pass.into(),
        time_zone: "Asia/Shanghai".into(),
        day_fingerprint: fingerprint.into(),
    })
}

fn days(
    store: &Store,
    tenant: &str,
    from: &str,
    to: &str,
) -> impl std::future::Future<Output = Result<Vec<DayReconciled>, StoreError>> {
    let store = store.clone();
    let query = ReconciledDaysQuery {
        tenant: tenant.into(),
        vendor: 0,
        work_date_from: from.into(),
        work_date_to: to.into(),
    };
    async move { store.list_reconciled_days(&query).await }
}

conformance! {
    a_day_whose_vendor_view_changed_is_signalled_again_after_the_change => |db: TestDatabase| async move {
        let store = open(&db).await;
        assert_eq!(store.commit(delivery("", vec![signal("t1", "2021-03-10", "p1", "view-1")])).await.unwrap().appended, 1);
        // Another pass that saw the same day: nothing new, whatever its id.
        assert_eq!(store.commit(delivery("", vec![signal("t1", "2021-03-10", "p2", "view-1")])).await.unwrap().appended, 0);
        // A correction arrives by push; the next pass sees the changed day.
        store.commit(delivery("e1", vec![Fact::ShiftResult(shift_result("t1", "u1", "2021-03-10", ShiftStatus::Late))])).await.unwrap();
        assert_eq!(store.commit(delivery("", vec![signal("t1", "2021-03-10", "p3", "view-2")])).await.unwrap().appended, 1);
        let kinds: Vec<i32> = all_entries(&store).await.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, vec![
            LogEntryKind::DayReconciled as i32, LogEntryKind::ShiftResult as i32, LogEntryKind::DayReconciled as i32,
        ]);
        let latest = days(&store, "t1", "2021-03-10", "2021-03-10").await.unwrap();
        assert_eq!(latest.len(), 1);
        assert_eq!((latest[0].pass_id.as_str(), latest[0].employees_covered), ("p3", 3));
    };

    an_employee_filtered_subscriber_receives_its_tenants_day_signals => |db: TestDatabase| async move {
        let store = open(&db).await;
        let filter = SubscriptionFilter {
            tenants: vec!["t1".into()],
            employee_ids: vec!["u1".into()],
            ..Default::default()
        };
        let mut rx = subscribe(store.clone(), Start::Beginning, filter, fast()).await.unwrap();
        store.commit(delivery("e1", vec![Fact::Punch(punch("t1", "r1", "u2", 10))])).await.unwrap();
        store.commit(delivery("", vec![signal("t2", "2021-03-10", "p1", "v")])).await.unwrap();
        store.commit(delivery("e2", vec![Fact::Punch(punch("t1", "r2", "u1", 20))])).await.unwrap();
        store.commit(delivery("", vec![signal("t1", "2021-03-10", "p1", "v")])).await.unwrap();
        let first = next_entry(&mut rx).await;
        assert_eq!((first.kind, first.employee_id.as_str()), (LogEntryKind::Punch as i32, "u1"));
        let second = next_entry(&mut rx).await;
        assert_eq!(second.kind, LogEntryKind::DayReconciled as i32, "{second:?}");
        assert_eq!(second.source.unwrap().tenant, "t1", "another tenant's signal stays out");
        // A kinds filter still applies to signals.
        let punches_only = SubscriptionFilter {
            employee_ids: vec!["u1".into()],
            kinds: vec![LogEntryKind::Punch as i32],
            ..Default::default()
        };
        let rows = collect_now(&store, punches_only).await;
        assert_eq!(rows.iter().map(|e| e.kind).collect::<Vec<_>>(), vec![LogEntryKind::Punch as i32]);
    };

    reconciled_days_are_listed_by_work_date_within_a_tenant => |db: TestDatabase| async move {
        let store = open(&db).await;
        store.commit(delivery("", vec![
            signal("t1", "2021-03-11", "p1", "a"),
            signal("t1", "2021-03-09", "p1", "b"),
            signal("t2", "2021-03-10", "p1", "c"),
            signal("t1", "2021-04-01", "p1", "d"),
        ])).await.unwrap();
        let listed = days(&store, "t1", "2021-03-01", "2021-03-31").await.unwrap();
        let dates: Vec<&str> = listed.iter().map(|d| d.work_date.as_str()).collect();
        assert_eq!(dates, vec!["2021-03-09", "2021-03-11"]);
        for (from, to, field) in [
            ("", "2021-03-31", "work_date_from"),
            ("2021-03-31", "2021-03-01", "work_date_to"),
            ("2021-01-01", "2022-06-01", "work_date_to"),
            ("2021-3-1", "2021-03-31", "work_date_from"),
        ] {
            match days(&store, "t1", from, to).await {
                Err(StoreError::InvalidArgument { field: f, .. }) => assert_eq!(f, field, "{from}..{to}"),
                other => panic!("{from}..{to}: {other:?}"),
            }
        }
        assert!(matches!(days(&store, "", "2021-03-01", "2021-03-02").await, Err(StoreError::InvalidArgument { field: "tenant", .. })));
    };
}

/// Every entry `filter` admits now, read through a subscription.
async fn collect_now(store: &Store, filter: SubscriptionFilter) -> Vec<LogEntry> {
    let mut rx = subscribe(store.clone(), Start::Beginning, filter, fast())
        .await
        .unwrap();
    let mut entries = Vec::new();
    while let Some(Ok(item)) = rx.recv().await {
        match item.into_response().unwrap().item {
            Some(subscribe_response::Item::Entry(entry)) => entries.push(entry),
            _ => return entries, // a heartbeat: caught up
        }
    }
    entries
}
