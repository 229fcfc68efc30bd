//! One conformance suite for both backends: every test runs on a fresh SQLite
//! file and, when `HUB_TEST_POSTGRES_URL` is set, on a fresh PostgreSQL database
//! (without it, the `postgres::` cases are reported as ignored).

use std::time::Duration;

use attendance_core::testing::TestDatabase;
use attendance_core::{
    subscribe, ApprovalQuery, Cursor, PunchQuery, ShiftResultQuery, Start, Store, StoreError,
    StoreOptions, Subscription, SubscriptionFilter, SubscriptionOptions, TenantScope,
};
use attendance_proto::ingest::{Delivery, Fact, Recognition};
use attendance_proto::v1::{
    log_entry, subscribe_response, Approval, Channel, DayReconciled, LogEntry, LogEntryKind, Punch,
    ShiftResult, ShiftStatus, Source, Vendor,
};
use attendance_proto::Timestamp;

/// Runs each test body against every configured backend.
macro_rules! conformance {
    ($($name:ident => $body:expr;)*) => {
        mod sqlite {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = TestDatabase::sqlite();
                    ($body)(db).await;
                }
            )*
        }
        mod postgres {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(
                    not(hub_test_postgres),
                    ignore = "HUB_TEST_POSTGRES_URL unset: PostgreSQL case not run"
                )]
                async fn $name() {
                    ($body)(TestDatabase::postgres().await).await;
                }
            )*
        }
    };
}

async fn open(db: &TestDatabase) -> Store {
    Store::connect(StoreOptions::new(db.url()))
        .await
        .expect("store opens")
}

fn source(tenant: &str) -> Option<Source> {
    Some(Source {
        vendor: Vendor::Feishu as i32,
        app: "acme".into(),
        app_id: "cli_1".into(),
        tenant: tenant.into(),
    })
}

fn punch(tenant: &str, record: &str, employee: &str, seconds: i64) -> Punch {
    Punch {
        source: source(tenant),
        business_key: record.into(),
        record_id: record.into(),
        employee_id: employee.into(),
        check_time: Some(Timestamp { seconds, nanos: 0 }),
        raw_json: format!("{{\"record_id\":\"{record}\"}}"),
        ..Default::default()
    }
}

fn shift_result(tenant: &str, employee: &str, work_date: &str, status: ShiftStatus) -> ShiftResult {
    ShiftResult {
        source: source(tenant),
        business_key: format!("{employee}/{work_date}/1/on"),
        employee_id: employee.into(),
        work_date: work_date.into(),
        index: 1,
        status: status as i32,
        ..Default::default()
    }
}

fn delivery(event_id: &str, facts: Vec<Fact>) -> Delivery {
    Delivery {
        vendor: Vendor::Feishu,
        app: "acme".into(),
        tenant: "t1".into(),
        channel: Channel::Webhook,
        event_id: event_id.into(),
        event_type: "attendance.user_flow.created_v1".into(),
        raw_json: "{}".into(),
        recognition: Recognition::Translated,
        facts,
        jobs: Vec::new(),
    }
}

async fn all_entries(store: &Store) -> Vec<LogEntry> {
    store.read_after(Cursor::BEGINNING, 10_000).await.unwrap()
}

/// The next log entry of a subscription, skipping heartbeats.
async fn next_entry(rx: &mut Subscription) -> LogEntry {
    loop {
        let item = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("an item within 10 s")
            .expect("subscription open")
            .expect("no error");
        if let Some(subscribe_response::Item::Entry(entry)) = item.into_response().unwrap().item {
            return entry;
        }
    }
}

fn fast() -> SubscriptionOptions {
    SubscriptionOptions {
        heartbeat: Duration::from_millis(200),
        ..Default::default()
    }
}

conformance! {
    duplicate_delivery_stores_nothing_new => |db: TestDatabase| async move {
        let store = open(&db).await;
        let first = store.commit(delivery("e1", vec![Fact::Punch(punch("t1", "r1", "u1", 100))])).await.unwrap();
        assert_eq!((first.duplicate_delivery, first.appended), (false, 1));
        let again = store.commit(delivery("e1", vec![Fact::Punch(punch("t1", "r1", "u1", 100))])).await.unwrap();
        assert!(again.duplicate_delivery);
        assert_eq!(again.appended, 0);
        assert_eq!(all_entries(&store).await.len(), 1);
    };

    identical_fact_is_no_event_and_changed_fact_is_a_revision => |db: TestDatabase| async move {
        let store = open(&db).await;
        store.commit(delivery("e1", vec![Fact::Punch(punch("t1", "r1", "u1", 100))])).await.unwrap();
        // Same business key and content through another delivery (a pull, a second channel).
        let mut same = punch("t1", "r1", "u1", 100);
        same.raw_json = "{\"from\":\"pull\"}".into();
        let receipt = store.commit(delivery("e2", vec![Fact::Punch(same)])).await.unwrap();
        assert_eq!((receipt.appended, receipt.unchanged), (0, 1));
        let mut changed = punch("t1", "r1", "u1", 100);
        changed.comment = "corrected".into();
        let receipt = store.commit(delivery("e3", vec![Fact::Punch(changed)])).await.unwrap();
        assert_eq!(receipt.appended, 1);

        let entries = all_entries(&store).await;
        assert_eq!(entries.len(), 2);
        let revisions: Vec<i64> = entries.iter().map(|e| match &e.fact {
            Some(log_entry::Fact::Punch(p)) => p.revision,
            other => panic!("unexpected {other:?}"),
        }).collect();
        assert_eq!(revisions, vec![1, 2]);
        let listed = store.list_punches(&PunchQuery::default()).await.unwrap();
        assert_eq!(listed.items.len(), 1);
        assert_eq!(listed.items[0].revision, 2);
        assert_eq!(listed.items[0].comment, "corrected");
    };

    unknown_events_are_stored_raw_and_counted => |db: TestDatabase| async move {
        let store = open(&db).await;
        let mut unknown = delivery("e9", vec![]);
        unknown.recognition = Recognition::Unknown;
        unknown.event_type = "contact.user.created_v3".into();
        unknown.raw_json = "{\"schema\":\"2.0\"}".into();
        assert!(!store.commit(unknown.clone()).await.unwrap().duplicate_delivery);
        assert!(store.commit(unknown).await.unwrap().duplicate_delivery);
        let mut broken = delivery("e10", vec![]);
        broken.recognition = Recognition::Untranslatable("check_time is not a number".into());
        store.commit(broken).await.unwrap();
        let counts = store.delivery_counts().await.unwrap();
        assert_eq!((counts.unknown, counts.untranslatable, counts.translated), (1, 1, 0));
        assert!(all_entries(&store).await.is_empty());
    };

    punches_page_in_check_time_order_with_filter_bound_tokens => |db: TestDatabase| async move {
        let store = open(&db).await;
        for i in 0..5 {
            let p = punch("t1", &format!("r{i}"), "u1", 1000 - i * 10);
            store.commit(delivery(&format!("e{i}"), vec![Fact::Punch(p)])).await.unwrap();
        }
        store.commit(delivery("other", vec![Fact::Punch(punch("t2", "x", "u1", 1))])).await.unwrap();
        let mut query = PunchQuery { tenant: "t1".into(), page_size: 2, ..Default::default() };
        let mut seen = Vec::new();
        let mut pages = 0;
        loop {
            let page = store.list_punches(&query).await.unwrap();
            pages += 1;
            seen.extend(page.items.iter().map(|p| p.check_time.unwrap().seconds));
            if page.next_page_token.is_empty() { break; }
            query.page_token = page.next_page_token;
        }
        assert_eq!(pages, 3);
        assert_eq!(seen, vec![960, 970, 980, 990, 1000]);

        let first = store.list_punches(&PunchQuery { tenant: "t1".into(), page_size: 2, ..Default::default() }).await.unwrap();
        let foreign = store.list_punches(&PunchQuery { tenant: "t2".into(), page_token: first.next_page_token, ..Default::default() }).await;
        assert!(matches!(foreign, Err(StoreError::InvalidPageToken(_))));

        let window = store.list_punches(&PunchQuery { start_us: Some(970_000_000), end_us: Some(990_000_000), ..Default::default() }).await.unwrap();
        assert_eq!(window.items.len(), 2);
        let by_employee = store.list_punches(&PunchQuery { employee_id: "nobody".into(), ..Default::default() }).await.unwrap();
        assert!(by_employee.items.is_empty());
    };

    shift_results_filter_by_work_date_and_approvals_by_overlap => |db: TestDatabase| async move {
        let store = open(&db).await;
        let facts = vec![
            Fact::ShiftResult(shift_result("t1", "u1", "2021-03-09", ShiftStatus::Normal)),
            Fact::ShiftResult(shift_result("t1", "u1", "2021-03-10", ShiftStatus::Late)),
            Fact::ShiftResult(shift_result("t1", "u1", "2021-03-11", ShiftStatus::Normal)),
            Fact::Approval(Approval {
                source: source("t1"),
                business_key: "leave-1".into(),
                employee_id: "u1".into(),
                start_time: Some(Timestamp { seconds: 1000, nanos: 0 }),
                end_time: Some(Timestamp { seconds: 2000, nanos: 0 }),
                ..Default::default()
            }),
        ];
        store.commit(delivery("e1", facts)).await.unwrap();
        let results = store.list_shift_results(&ShiftResultQuery {
            work_date_from: "2021-03-10".into(), work_date_to: "2021-03-11".into(), ..Default::default()
        }).await.unwrap();
        let dates: Vec<_> = results.items.iter().map(|s| s.work_date.as_str()).collect();
        assert_eq!(dates, vec!["2021-03-10", "2021-03-11"]);
        assert_eq!(results.items[0].status, ShiftStatus::Late as i32);
        assert!(matches!(
            store.list_shift_results(&ShiftResultQuery { work_date_from: "10/03/2021".into(), ..Default::default() }).await,
            Err(StoreError::InvalidArgument { .. })
        ));
        let overlapping = store.list_approvals(&ApprovalQuery { start_us: Some(1_500_000_000), end_us: Some(3_000_000_000), ..Default::default() }).await.unwrap();
        assert_eq!(overlapping.items.len(), 1);
        let disjoint = store.list_approvals(&ApprovalQuery { start_us: Some(2_500_000_000), ..Default::default() }).await.unwrap();
        assert!(disjoint.items.is_empty());
    };

    a_tenant_scope_limits_every_list_query => |db: TestDatabase| async move {
        let store = open(&db).await;
        for tenant in ["t1", "t2", "t3"] {
            let facts = vec![
                // The same keys in every tenant: pages end their order with the tenant.
                Fact::Punch(punch(tenant, "r1", "u1", 100)),
                Fact::ShiftResult(shift_result(tenant, "u1", "2021-03-10", ShiftStatus::Normal)),
                Fact::Approval(Approval {
                    source: source(tenant),
                    business_key: "leave-1".into(),
                    employee_id: "u1".into(),
                    ..Default::default()
                }),
            ];
            store.commit(delivery(&format!("e-{tenant}"), facts)).await.unwrap();
        }
        let tenant_of = |source: &Option<Source>| source.as_ref().unwrap().tenant.clone();
        let two = TenantScope::Only(vec!["t1".into(), "t3".into()]);
        let punches = store.list_punches(&PunchQuery { scope: two.clone(), ..Default::default() }).await.unwrap();
        assert_eq!(punches.items.iter().map(|p| tenant_of(&p.source)).collect::<Vec<_>>(), ["t1", "t3"]);
        let results = store.list_shift_results(&ShiftResultQuery { scope: two.clone(), ..Default::default() }).await.unwrap();
        assert_eq!(results.items.iter().map(|s| tenant_of(&s.source)).collect::<Vec<_>>(), ["t1", "t3"]);
        let approvals = store.list_approvals(&ApprovalQuery { scope: two.clone(), ..Default::default() }).await.unwrap();
        assert_eq!(approvals.items.iter().map(|a| tenant_of(&a.source)).collect::<Vec<_>>(), ["t1", "t3"]);
        // A named tenant outside the scope reads nothing; an empty scope reads nothing.
        let outside = store.list_punches(&PunchQuery { tenant: "t2".into(), scope: two.clone(), ..Default::default() }).await.unwrap();
        assert!(outside.items.is_empty());
        let none = store.list_punches(&PunchQuery { scope: TenantScope::Only(Vec::new()), ..Default::default() }).await.unwrap();
        assert!(none.items.is_empty());
        // Page tokens are bound to the scope as to any other filter.
        let first = store.list_punches(&PunchQuery { scope: two.clone(), page_size: 1, ..Default::default() }).await.unwrap();
        let widened = store.list_punches(&PunchQuery { page_token: first.next_page_token.clone(), page_size: 1, ..Default::default() }).await;
        assert!(matches!(widened, Err(StoreError::InvalidPageToken(_))));
        let second = store.list_punches(&PunchQuery { scope: two, page_token: first.next_page_token, page_size: 1, ..Default::default() }).await.unwrap();
        assert_eq!(tenant_of(&second.items[0].source), "t3");
    };

    subscription_catches_up_then_follows_live_without_a_seam => |db: TestDatabase| async move {
        let store = open(&db).await;
        store.commit(delivery("e1", vec![Fact::Punch(punch("t1", "r1", "u1", 1))])).await.unwrap();
        let mut rx = subscribe(store.clone(), Start::Beginning, SubscriptionFilter::default(), fast()).await.unwrap();
        let first = next_entry(&mut rx).await;
        assert_eq!(first.kind, LogEntryKind::Punch as i32);
        store.commit(delivery("e2", vec![Fact::Punch(punch("t1", "r2", "u1", 2))])).await.unwrap();
        let second = next_entry(&mut rx).await;
        assert_eq!(second.employee_id, "u1");
        assert!(Cursor::decode(&second.cursor).unwrap() > Cursor::decode(&first.cursor).unwrap());

        // Resume after the first cursor: exactly the second entry, exclusive start.
        let mut resumed = subscribe(store.clone(), Start::After(Cursor::decode(&first.cursor).unwrap()), SubscriptionFilter::default(), fast()).await.unwrap();
        assert_eq!(next_entry(&mut resumed).await.cursor, second.cursor);

        // From now: only what is committed afterwards.
        let mut live = subscribe(store.clone(), Start::Now, SubscriptionFilter::default(), fast()).await.unwrap();
        store.commit(delivery("e3", vec![Fact::Punch(punch("t1", "r3", "u2", 3))])).await.unwrap();
        assert_eq!(next_entry(&mut live).await.employee_id, "u2");
    };

    subscription_filters_and_heartbeats_advance_the_cursor => |db: TestDatabase| async move {
        let store = open(&db).await;
        store.commit(delivery("e1", vec![Fact::Punch(punch("t1", "r1", "u1", 1))])).await.unwrap();
        let filter = SubscriptionFilter { tenants: vec!["nobody".into()], ..Default::default() };
        let mut rx = subscribe(store.clone(), Start::Beginning, filter, fast()).await.unwrap();
        let item = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().unwrap().unwrap();
        match item.into_response().unwrap().item {
            Some(subscribe_response::Item::Progress(progress)) => {
                assert_eq!(Cursor::decode(&progress.cursor).unwrap(), store.head().await.unwrap());
            }
            other => panic!("expected a heartbeat, got {other:?}"),
        }
        let kinds = SubscriptionFilter { kinds: vec![LogEntryKind::ShiftResult as i32], ..Default::default() };
        let mut only_results = subscribe(store.clone(), Start::Beginning, kinds, fast()).await.unwrap();
        store.commit(delivery("e2", vec![Fact::ShiftResult(shift_result("t1", "u1", "2021-03-10", ShiftStatus::Late))])).await.unwrap();
        assert_eq!(next_entry(&mut only_results).await.kind, LogEntryKind::ShiftResult as i32);
    };

    cursor_ahead_of_the_log_is_refused => |db: TestDatabase| async move {
        let store = open(&db).await;
        let ahead = Cursor::decode(&{
            store.commit(delivery("e1", vec![Fact::Punch(punch("t1", "r1", "u1", 1))])).await.unwrap();
            let head = store.head().await.unwrap();
            // A cursor one past the head, built through the public encoding.
            let text = head.encode();
            let mut seq = Cursor::decode(&text).unwrap().sequence();
            seq += 5;
            encode_sequence(seq)
        }).unwrap();
        let result = subscribe(store.clone(), Start::After(ahead), SubscriptionFilter::default(), fast()).await;
        assert!(matches!(result, Err(StoreError::CursorAhead { .. })));
    };

    concurrent_commits_form_a_gapless_log_read_exactly_once => |db: TestDatabase| async move {
        let store = open(&db).await;
        let mut rx = subscribe(store.clone(), Start::Beginning, SubscriptionFilter::default(), fast()).await.unwrap();
        let writers: Vec<_> = (0..4).map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..25 {
                    let p = punch("t1", &format!("w{w}-{i}"), "u1", i);
                    store.commit(delivery(&format!("w{w}-{i}"), vec![Fact::Punch(p)])).await.unwrap();
                }
            })
        }).collect();
        let mut keys = std::collections::BTreeSet::new();
        let mut last = Cursor::BEGINNING;
        for _ in 0..100 {
            let entry = next_entry(&mut rx).await;
            let cursor = Cursor::decode(&entry.cursor).unwrap();
            assert!(cursor > last, "cursors strictly increase");
            last = cursor;
            if let Some(log_entry::Fact::Punch(p)) = entry.fact { assert!(keys.insert(p.business_key)); }
        }
        for w in writers { w.await.unwrap(); }
        assert_eq!(keys.len(), 100);
        assert_eq!(all_entries(&store).await.len(), 100);
    };

    a_pull_that_says_less_keeps_what_the_push_said => |db: TestDatabase| async move {
        let store = open(&db).await;
        let mut pushed = shift_result("t1", "u1", "2021-03-10", ShiftStatus::Late);
        pushed.time_zone = "Asia/Shanghai".into();
        pushed.task_id = "task-1".into();
        pushed.previous_status = ShiftStatus::Normal as i32;
        store.commit(delivery("e1", vec![Fact::ShiftResult(pushed)])).await.unwrap();

        // The same status from a pull that knows no zone or task: no event.
        let pulled_same = shift_result("t1", "u1", "2021-03-10", ShiftStatus::Late);
        let receipt = store.commit(delivery("", vec![Fact::ShiftResult(pulled_same)])).await.unwrap();
        assert_eq!((receipt.appended, receipt.unchanged), (0, 1));

        // A changed status: a revision that keeps the zone and task and names the old status.
        let pulled_changed = shift_result("t1", "u1", "2021-03-10", ShiftStatus::Normal);
        assert_eq!(store.commit(delivery("", vec![Fact::ShiftResult(pulled_changed)])).await.unwrap().appended, 1);
        let current = store.list_shift_results(&ShiftResultQuery::default()).await.unwrap().items;
        assert_eq!(current.len(), 1);
        assert_eq!(current[0].revision, 2);
        assert_eq!(current[0].status, ShiftStatus::Normal as i32);
        assert_eq!(current[0].previous_status, ShiftStatus::Late as i32);
        assert_eq!(current[0].time_zone, "Asia/Shanghai");
        assert_eq!(current[0].task_id, "task-1");
    };

    a_day_is_signalled_once_unless_a_pass_changed_it => |db: TestDatabase| async move {
        let store = open(&db).await;
        assert_eq!(store.commit(delivery("", vec![day_reconciled("2021-03-10", 0)])).await.unwrap().appended, 1);
        assert_eq!(store.commit(delivery("", vec![day_reconciled("2021-03-10", 0)])).await.unwrap().appended, 0);
        assert_eq!(store.commit(delivery("", vec![day_reconciled("2021-03-10", 2)])).await.unwrap().appended, 1);
        assert_eq!(store.commit(delivery("", vec![day_reconciled("2021-03-11", 0)])).await.unwrap().appended, 1);
        let kinds: Vec<i32> = all_entries(&store).await.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, vec![LogEntryKind::DayReconciled as i32; 3]);
    };

    employees_seen_in_facts_are_known_per_app => |db: TestDatabase| async move {
        let store = open(&db).await;
        store.commit(delivery("e1", vec![
            Fact::Punch(punch("t1", "r1", "u2", 1)),
            Fact::Punch(punch("t1", "r2", "u1", 2)),
            Fact::Punch(punch("t2", "r3", "u1", 3)),
        ])).await.unwrap();
        let known = store.known_employees(Vendor::Feishu as i32, "acme").await.unwrap();
        let pairs: Vec<(String, String)> = known.into_iter().map(|k| (k.tenant, k.employee_id)).collect();
        assert_eq!(pairs, vec![
            ("t1".to_string(), "u1".to_string()),
            ("t1".to_string(), "u2".to_string()),
            ("t2".to_string(), "u1".to_string()),
        ]);
        assert!(store.known_employees(Vendor::Feishu as i32, "other").await.unwrap().is_empty());
    };

    vendor_calls_add_up_per_app_and_month => |db: TestDatabase| async move {
        let store = open(&db).await;
        store.add_vendor_calls(1, "acme", "2026-11", 3).await.unwrap();
        store.add_vendor_calls(1, "acme", "2026-11", 4).await.unwrap();
        store.add_vendor_calls(2, "dt", "2026-10", 1).await.unwrap();
        let calls = store.vendor_calls().await.unwrap();
        assert_eq!(calls.len(), 2);
        assert_eq!((calls[0].app.as_str(), calls[0].month.as_str(), calls[0].calls), ("acme", "2026-11", 7));
        assert_eq!(calls[1].calls, 1);
    };

    singleton_work_runs_once_at_a_time_across_handles => |db: TestDatabase| async move {
        let first = open(&db).await;
        let second = open(&db).await; // another replica on the same database
        let claim = first.try_singleton("reconcile/x").await.unwrap();
        assert!(claim.is_some());
        assert!(first.try_singleton("reconcile/x").await.unwrap().is_none(), "not twice in one process");
        if first.backend() == attendance_core::Backend::Postgres {
            assert!(second.try_singleton("reconcile/x").await.unwrap().is_none(), "not on another replica");
        }
        assert!(second.try_singleton("reconcile/y").await.unwrap().is_some(), "other work is free");
        drop(claim);
        // At once: the next pass right after one must not be refused.
        assert!(second.try_singleton("reconcile/x").await.unwrap().is_some(), "released when dropped");
    };

    committed_data_survives_reopening => |db: TestDatabase| async move {
        {
            let store = open(&db).await;
            store.commit(delivery("e1", vec![Fact::Punch(punch("t1", "r1", "u1", 1))])).await.unwrap();
            store.close().await;
        }
        let store = open(&db).await;
        assert_eq!(all_entries(&store).await.len(), 1);
        assert!(store.commit(delivery("e1", vec![])).await.unwrap().duplicate_delivery);
    };
}

fn day_reconciled(work_date: &str, differences: i64) -> Fact {
    Fact::DayReconciled(DayReconciled {
        source: source("t1"),
        work_date: work_date.into(),
        reconciled_time: Some(Timestamp {
            seconds: 5,
            nanos: 0,
        }),
        differences_applied: differences,
        employees_covered: 2,
        pass_id: format!("pass-{differences}"),
        time_zone: "Asia/Shanghai".into(),
        day_fingerprint: "f1".into(),
    })
}

/// The text form of a cursor at `seq`, as the hub would issue it.
fn encode_sequence(seq: i64) -> String {
    use base64::Engine;
    let mut bytes = vec![1u8];
    bytes.extend_from_slice(&seq.to_be_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

mod approvals;
mod cursors;
mod decisions;
mod jobs;
mod pages;
mod reconciled;
mod sources;
mod stored;
mod tail;
